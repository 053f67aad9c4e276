"""An example third-party overcast driver: Nimbus DNS (a made-up JSON API).

``driver.py`` is the driver, ``server.py`` a fixture server of the API,
``test_driver.py`` the driver's unit tests on overcast's scripted transport;
overcast's DNS conformance suite also runs against it. See
``docs/writing-a-driver.md``.
"""

from nimbus_dns.driver import NimbusDNSDriver

__all__ = ["NimbusDNSDriver"]
