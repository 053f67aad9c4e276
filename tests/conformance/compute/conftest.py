"""Every compute driver the conformance suite runs against.

A driver joins by adding ``name: "module:function"`` to ``FACTORIES``; the
function takes pytest's ``request`` and ``tmp_path`` and returns a
:class:`servers.compute_target.ComputeTarget`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.compute_target import ComputeTarget

FACTORIES: dict[str, str] = {
    "azure": "servers.compute_azure:make_target",
    "cloudstack": "servers.compute_cloudstack:make_target",
    "digitalocean": "servers.compute_digitalocean:make_target",
    "ec2": "servers.compute_ec2:make_target",
    "gce": "servers.compute_gce:make_target",
    "libvirt": "servers.compute_libvirt:make_target",
    "linode": "servers.compute_linode:make_target",
    "openstack": "servers.compute_openstack:make_target",
    "vultr": "servers.compute_vultr:make_target",
}


def _factory(name: str) -> Callable[[pytest.FixtureRequest, Path], ComputeTarget]:
    module, _, function = FACTORIES[name].partition(":")
    factory: Callable[[pytest.FixtureRequest, Path], ComputeTarget] = getattr(
        importlib.import_module(module), function
    )
    return factory


@pytest.fixture(params=sorted(FACTORIES))
def compute_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ComputeTarget]:
    """A driver of each kind, closed after the test."""
    target = _factory(request.param)(request, tmp_path)
    with target.driver:
        yield target
