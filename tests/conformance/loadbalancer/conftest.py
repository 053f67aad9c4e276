"""Every load balancer driver the conformance suite runs against.

A driver joins by adding ``name: "module:function"`` to ``FACTORIES``; the
function takes pytest's ``request`` and ``tmp_path`` and returns a
:class:`servers.lb_target.LBTarget`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.lb_target import LBTarget

FACTORIES: dict[str, str] = {
    "alb": "servers.lb_aws:alb_target",
    "elb": "servers.lb_aws:elb_target",
    "haproxy": "servers.haproxy:lb_target",
    "nlb": "servers.lb_aws:nlb_target",
    "openstack": "servers.lb_octavia:lb_target",
    "rackspace": "servers.lb_rackspace:lb_target",
}


def _factory(name: str) -> Callable[[pytest.FixtureRequest, Path], LBTarget]:
    module, _, function = FACTORIES[name].partition(":")
    factory: Callable[[pytest.FixtureRequest, Path], LBTarget] = getattr(
        importlib.import_module(module), function
    )
    return factory


@pytest.fixture(params=sorted(FACTORIES))
def lb_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LBTarget]:
    """A driver of each kind, closed (with the drivers it needed) after the test."""
    target = _factory(request.param)(request, tmp_path)
    try:
        with target.driver:
            yield target
    finally:
        for other in target.close:
            other.close()
