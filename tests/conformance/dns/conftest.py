"""Every DNS driver the conformance suite runs against.

A driver joins by adding ``name: "module:function"`` to ``FACTORIES``; the
function takes pytest's ``request`` and ``tmp_path`` and returns a
:class:`servers.dns_target.DNSTarget` pointed at a real server started by a
session fixture (or at a fixture server written from the provider's API
reference, for providers with no server that runs here).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.dns_target import DNSTarget

FACTORIES: dict[str, str] = {
    "azure": "servers.dns_azure:make_target",
    "cloudflare": "servers.dns_cloudflare:make_target",
    "digitalocean": "servers.dns_digitalocean:make_target",
    "google": "servers.dns_google:make_target",
    "linode": "servers.dns_linode:make_target",
    "nimbus-example": "servers.dns_nimbus:make_target",
    "powerdns": "servers.dns_powerdns:make_target",
    "rackspace": "servers.dns_rackspace:make_target",
    "rfc2136": "servers.dns_bind:make_target",
    "route53": "servers.dns_route53:make_target",
    "zonefile": "servers.dns_zonefile:make_target",
}


def _factory(name: str) -> Callable[[pytest.FixtureRequest, Path], DNSTarget]:
    module, _, function = FACTORIES[name].partition(":")
    factory: Callable[[pytest.FixtureRequest, Path], DNSTarget] = getattr(
        importlib.import_module(module), function
    )
    return factory


@pytest.fixture(params=sorted(FACTORIES))
def dns_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DNSTarget]:
    """A driver of each kind, closed after the test."""
    target = _factory(request.param)(request, tmp_path)
    with target.driver:
        yield target
