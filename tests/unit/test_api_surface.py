"""The public API, pinned: async views, Apache Libcloud compatibility, the support matrix."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from overcast.registry import AREAS
from overcast.registry import available
from overcast.registry import get_driver
from overcast.runtime.operation import AsyncIteratorMethod
from overcast.runtime.operation import AsyncMethod
from overcast.runtime.operation import AsyncStreamMethod
from overcast.runtime.operation import IteratorOperation
from overcast.runtime.operation import Operation
from overcast.runtime.operation import StreamOperation
from overcast.runtime.operation import _AsyncMember
from overcast.runtime.operation import operations_of
from overcast.support import base_driver
from overcast.support import support_matrix

LIBCLOUD_BASES = {
    "compute": "libcloud.compute.base:NodeDriver",
    "storage": "libcloud.storage.base:StorageDriver",
    "dns": "libcloud.dns.base:DNSDriver",
    "loadbalancer": "libcloud.loadbalancer.base:Driver",
    "container": "libcloud.container.base:ContainerDriver",
    "backup": "libcloud.backup.base:BackupDriver",
}


def _view_members(view: type) -> set[str]:
    return {
        name
        for klass in view.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, _AsyncMember)
    }


def all_driver_classes() -> list[type]:
    classes = [base_driver(area) for area in AREAS]
    classes += [get_driver(area, name) for area in AREAS for name in available(area)]
    return classes


@pytest.mark.parametrize("area", AREAS)
def test_every_operation_of_an_area_has_a_typed_twin_on_its_view(area: str) -> None:
    """The area's view declares (so types) every operation of the area's base class."""
    cls = base_driver(area)
    ops = operations_of(cls)
    missing = set(ops) - _view_members(cls.async_view)
    assert not missing, f"{cls.async_view.__name__} lacks {sorted(missing)}"


@pytest.mark.parametrize("cls", all_driver_classes(), ids=lambda c: c.__name__)
def test_every_operation_has_an_async_twin(cls: type) -> None:
    """Every operation of every driver, its ``ex_`` ones included, is on
    ``driver.aio`` (the area's view, extended for the class), as the right kind
    of member; and each is typed through its own ``driver.op.aio`` face."""
    view = cls._view_class()
    kinds = {IteratorOperation: AsyncIteratorMethod, StreamOperation: AsyncStreamMethod,
             Operation: AsyncMethod}
    for name, op in operations_of(cls).items():
        twin = inspect.getattr_static(view, name)
        assert isinstance(twin, kinds[type(op)]), f"{cls.__name__}.{name}: {type(twin)}"
        assert twin.operation.name == name
        bound = inspect.getattr_static(type(op.__get__(object(), cls)), "aio")
        assert callable(bound), f"{cls.__name__}.{name} has no aio face"


@pytest.mark.parametrize("cls", all_driver_classes(), ids=lambda c: c.__name__)
def test_every_public_operation_is_documented(cls: type) -> None:
    for name, op in operations_of(cls).items():
        assert inspect.getdoc(op.fn), f"{cls.__name__}.{name} has no docstring"


@pytest.mark.parametrize("area", AREAS)
def test_libcloud_names_and_positional_parameters_are_kept(area: str) -> None:
    """Where Apache Libcloud 3.x has a method, ours has its name and, in order,
    its positional parameters, so Libcloud users port code by changing imports."""
    module, _, name = LIBCLOUD_BASES[area].partition(":")
    try:
        theirs_cls = getattr(importlib.import_module(module), name)
    except ImportError:  # pragma: no cover - apache-libcloud is a test dependency
        pytest.fail("apache-libcloud is needed for this test (pip install '.[test]')")
    ours_cls = base_driver(area)
    ours_ops = operations_of(ours_cls)
    checked = 0
    for method, theirs in inspect.getmembers(theirs_cls, inspect.isfunction):
        if method.startswith("_") or method.startswith("ex_") or method not in ours_ops:
            continue
        their_params = [
            p.name for p in list(inspect.signature(theirs).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        our_params = [
            p.name for p in list(inspect.signature(ours_ops[method].fn).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        assert our_params[: len(their_params)] == their_params, (
            f"{area}.{method}: Libcloud {their_params}, overcast {our_params}"
        )
        checked += 1
    assert checked >= 5, f"only {checked} Libcloud methods matched in {area}"


def test_support_matrix_doc_is_current() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "support-matrix.md"
    assert doc.read_text() == support_matrix(), (
        "docs/support-matrix.md is stale: run `python -m overcast.support > docs/support-matrix.md`"
    )
