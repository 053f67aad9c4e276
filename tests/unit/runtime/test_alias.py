"""``alias``: an operation's second name runs the driver's own operation, has
its parameters, and is supported exactly when that operation is."""

from __future__ import annotations

import inspect
from typing import ClassVar

import pytest

from overcast.compute.base import Node
from overcast.compute.base import NodeDriver
from overcast.errors import NotSupported
from overcast.runtime.effects import Op
from overcast.runtime.operation import alias
from overcast.runtime.operation import operation
from overcast.runtime.ops import pure
from overcast.testing import MODES
from overcast.testing import call


class Starts(NodeDriver):
    """A compute driver with ``start_node`` and two other names for it."""

    name: ClassVar[str] = "starts"

    @operation
    def start_node(self, node: Node) -> Op[bool]:
        """Start a node."""
        return (yield from pure(node.name == "ok"))

    ex_start = alias(start_node, "Another name for :meth:`start_node`.")
    ex_stop_too = alias(NodeDriver.stop_node, "Another name for :meth:`stop_node`.")


class StartsOtherwise(Starts):
    """An override of the aliased operation, in a subclass."""

    name: ClassVar[str] = "starts-otherwise"

    @operation
    def start_node(self, node: Node) -> Op[bool]:
        """Start a node another way."""
        return (yield from pure(node.name == "other"))


def _node(name: str) -> Node:
    return Node("n1", name, "running", [], [], None)


@pytest.mark.parametrize("mode", MODES)
def test_an_alias_runs_the_drivers_own_operation(mode: str) -> None:
    assert call(mode, Starts(), "ex_start", _node("ok")) is True
    assert call(mode, StartsOtherwise(), "ex_start", _node("other")) is True
    assert call(mode, StartsOtherwise(), "ex_start", _node("ok")) is False


def test_an_alias_has_the_parameters_of_its_operation_and_its_own_name_and_doc() -> None:
    assert inspect.signature(Starts.ex_start.fn) == inspect.signature(Starts.start_node.fn)
    assert Starts.ex_start.name == Starts.ex_start.__name__ == "ex_start"
    assert Starts.ex_start.__qualname__ == "Starts.ex_start"
    assert Starts.ex_start.__doc__ == "Another name for :meth:`start_node`."


def test_an_alias_is_supported_exactly_when_its_operation_is() -> None:
    assert Starts().supports("ex_start")
    assert not Starts().supports("ex_stop_too")
    with pytest.raises(NotSupported, match=r"Starts does not support ex_stop_too\(\)"):
        Starts().ex_stop_too(_node("ok"))
