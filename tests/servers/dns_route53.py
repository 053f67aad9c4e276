"""The Route 53 DNS driver pointed at a real moto server (one per test process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overcast.dns.drivers.route53 import Route53DNSDriver
from overcast.runtime.policy import Hooks
from servers.dns_target import DNSTarget
from servers.moto_server import moto_server

#: Any credentials work with moto (it does not check signatures).
ACCESS_KEY = "AKIDOVERCASTTEST"
SECRET_KEY = "overcast-moto-secret-key-do-not-log"


def make_driver(request: pytest.FixtureRequest, **kwargs: Any) -> Route53DNSDriver:
    """A driver for this process's moto server; ``kwargs`` go to the constructor."""
    server = moto_server(request)
    kwargs.setdefault("timeout", 30)
    return Route53DNSDriver(ACCESS_KEY, SECRET_KEY, endpoint=server.url, **kwargs)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """The contract's target: Route 53 on moto, API only (no DNS server answers)."""
    requests: list[object] = []
    # Small pages, so the contract's 12-record listing crosses several of them.
    driver = make_driver(
        request, record_page_size=5, page_size=5, hooks=Hooks(on_request=[requests.append])
    )
    return DNSTarget(driver=driver, requests=requests, domain_suffix="example.test.")
