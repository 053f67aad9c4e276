"""Names and values no request can carry, on every HTTP DNS driver, both modes.

A zone id, a record name or a TXT value with a lone surrogate (text with no
UTF-8 form) is refused as :class:`~overcast.errors.InvalidInput` before any
request, or, where a driver takes a malformed zone id for a zone that cannot
exist, as :class:`~overcast.errors.ZoneNotFound`; never as a
``UnicodeEncodeError`` from the depths of URL encoding. Each driver runs on a
:class:`~overcast.testing.Script` that expects nothing: a request sent fails
the test.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordSet
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers.azure import AzureDNSDriver
from overcast.dns.drivers.cloudflare import CloudflareDNSDriver
from overcast.dns.drivers.digitalocean import DigitalOceanDNSDriver
from overcast.dns.drivers.google import GoogleDNSDriver
from overcast.dns.drivers.linode import LinodeDNSDriver
from overcast.dns.drivers.powerdns import PowerDNSDriver
from overcast.dns.drivers.rackspace import RackspaceDNSDriver
from overcast.dns.drivers.route53 import Route53DNSDriver
from overcast.errors import InvalidInput
from overcast.errors import RecordNotFound
from overcast.errors import ZoneNotFound
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

#: A name with a lone surrogate (as os.fsdecode makes of a byte that is not UTF-8).
BAD = "bad\udc80name"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@functools.cache
def _private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _google(**options: Any) -> DNSDriver:
    info = {"type": "service_account", "client_email": "dns@p.iam.example",
            "private_key": _private_key(), "token_uri": "https://oauth2.example/token"}
    return GoogleDNSDriver(project="p", credentials_info=info, **options)


#: Each driver, the id of a zone it could hold, and what a malformed zone id is to it.
DRIVERS: dict[str, tuple[Callable[..., DNSDriver], str, type[Exception]]] = {
    "azure": (lambda **o: AzureDNSDriver("c", "s", tenant_id="t", subscription_id="s",
                                         resource_group="rg", **o), "example.com", InvalidInput),
    "cloudflare": (lambda **o: CloudflareDNSDriver("tok", **o), "0" * 32, InvalidInput),
    "digitalocean": (lambda **o: DigitalOceanDNSDriver("tok", **o), "example.com",
                     InvalidInput),
    "google": (_google, "example-com", InvalidInput),
    "linode": (lambda **o: LinodeDNSDriver("tok", **o), "42", ZoneNotFound),
    "powerdns": (lambda **o: PowerDNSDriver("key", **o), "example.com.", InvalidInput),
    "rackspace": (lambda **o: RackspaceDNSDriver("user", "key", **o), "42", ZoneNotFound),
    "route53": (lambda **o: Route53DNSDriver("AKID", "secret", **o), "Z1", ZoneNotFound),
}


@pytest.fixture(params=sorted(DRIVERS))
def setup(request: pytest.FixtureRequest) -> tuple[DNSDriver, Script, str, type[Exception]]:
    make, zone_id, malformed = DRIVERS[request.param]
    script = Script()
    return make(**script.options()), script, zone_id, malformed


def test_a_zone_id_with_a_lone_surrogate_sends_nothing(
    setup: tuple[DNSDriver, Script, str, type[Exception]], mode: str
) -> None:
    driver, script, _, malformed = setup
    zone = Zone(BAD, f"{BAD}.example.", ZoneType.MASTER.value, None, driver)
    for name, args in (("get_zone", (BAD,)), ("delete_zone", (zone,)),
                       ("list_record_sets", (zone,)), ("get_record_set", (BAD, "www:A")),
                       ("export_zone_to_bind_format", (BAD,))):
        with pytest.raises(malformed):
            call(mode, driver, name, *args)
    assert script.received == []


def test_a_record_name_or_text_with_a_lone_surrogate_sends_nothing(
    setup: tuple[DNSDriver, Script, str, type[Exception]], mode: str
) -> None:
    driver, script, zone_id, _ = setup
    zone = Zone(zone_id, "example.com.", ZoneType.MASTER.value, None, driver)
    with pytest.raises(InvalidInput, match="surrogate"):
        call(mode, driver, "create_record_set", "txt", zone, "TXT", "caf\ud800")
    with pytest.raises(InvalidInput):
        call(mode, driver, "create_record_set", BAD, zone, "A", "192.0.2.1")
    record = RecordSet(f"{BAD}:A", BAD, "A", "192.0.2.1", zone, driver)
    # Route 53 reads a name it could not hold as a set that is not there.
    missing = RecordNotFound if isinstance(driver, Route53DNSDriver) else InvalidInput
    with pytest.raises(missing):
        call(mode, driver, "delete_record_set", record)
    with pytest.raises(InvalidInput):
        call(mode, driver, "update_record_set", record, None, None, "192.0.2.2")
    assert script.received == []
