"""What a DNS driver factory hands the DNS conformance suite."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from overcast.dns.base import DNSDriver
from overcast.dns.base import Zone


@dataclass
class DNSTarget:
    """A DNS driver under test, and how to reach the DNS server behind it.

    * ``driver``: the driver, pointed at a real server or a fixture server.
    * ``new_zone(domain)``: makes an empty zone for a test. By default
      ``driver.create_zone(domain)``; drivers that cannot create zones (RFC 2136)
      give a function that configures one on the server and returns
      ``driver.get_zone(domain)``.
    * ``drop_zone(zone)``: removes a zone after a test (default:
      ``driver.delete_zone(zone)``).
    * ``resolver``: ``(host, port)`` of a DNS server that answers for the zones,
      or ``None`` for API-only fixtures. The suite then queries every record it
      creates there (with dnspython) and checks the answer.
    * ``before_query(zone)``: called before those queries (for example, to make
      a server reload zone files written by the driver).
    * ``requests``: a list the factory's driver hooks append each HTTP request
      to (``Hooks(on_request=[target.requests.append])``), so the suite can
      check that invalid input sends nothing; ``None`` for non-HTTP drivers.
    * ``domain_suffix``: the parent domain under which test zones are made.
    """

    driver: DNSDriver
    new_zone: Callable[[str], Zone] | None = None
    drop_zone: Callable[[Zone], object] | None = None
    resolver: tuple[str, int] | None = None
    before_query: Callable[[Zone], object] | None = None
    requests: list[object] | None = field(default=None)
    domain_suffix: str = "example.test."

    def make_zone(self, domain: str) -> Zone:
        """An empty zone for ``domain``."""
        if self.new_zone is not None:
            return self.new_zone(domain)
        return self.driver.create_zone(domain)

    def remove_zone(self, zone: Zone) -> None:
        """Remove a zone made by :meth:`make_zone`."""
        if self.drop_zone is not None:
            self.drop_zone(zone)
        else:
            self.driver.delete_zone(zone)
