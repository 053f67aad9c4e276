"""Every backup driver the conformance suite runs against.

A driver joins by adding ``name: "module:function"`` to ``FACTORIES``; the
function takes pytest's ``tmp_path`` (and its ``request``, if it has a parameter of
that name) and returns a subject: the driver, and
what the contract needs from the provider (something to back up, a place to
restore to, a way to change and to read what is there, and a count of what
was sent or run).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

FACTORIES: dict[str, str] = {
    "ebs": "servers.backup_ebs:make_subject",
    "openstack": "servers.backup_cinder:make_subject",
    "restic": "servers.backup_restic:make_subject",
}


@pytest.fixture(params=sorted(FACTORIES))
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A driver of each kind on a provider of its own."""
    module, _, function = FACTORIES[request.param].partition(":")
    factory = getattr(importlib.import_module(module), function)
    if "request" in inspect.signature(factory).parameters:  # a server started per process
        return factory(tmp_path, request=request)
    return factory(tmp_path)
