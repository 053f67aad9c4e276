"""What every model shares: identity, and the driver that made it.

Models are slotted dataclasses (values with a few convenience methods such as
``node.reboot()`` or ``zone.delete()``, which call the driver they came from).
Two models are equal when they are of the same class, have the same identity
(their id, unless the model says otherwise) and came from the same driver
instance.
"""

from __future__ import annotations

from typing import Any
from typing import ClassVar
from typing import Generic
from typing import TypeVar

from overcast.errors import InvalidInput

__all__ = ["Model"]

D = TypeVar("D")


class Model(Generic[D]):
    """Base of the models of every area (``D``: the area's driver class).

    A model sets :attr:`_kind` (its name in messages) and overrides
    :meth:`_identity` when its id alone does not identify it.
    """

    __slots__ = ()
    #: What the model is called in messages ("node", "zone", ...).
    _kind: ClassVar[str] = "resource"
    #: Whether two models from different driver instances can be equal.
    _driver_in_identity: ClassVar[bool] = True
    driver: D | None

    def _identity(self) -> tuple[object, ...]:
        """What makes two models of this class the same (default: the id)."""
        ident: object = getattr(self, "id")  # noqa: B009 - every default model has one
        return (ident,)

    def _label(self) -> object:
        """How messages name this model (default: the first part of its identity)."""
        return self._identity()[0]

    def _driver(self) -> D:
        """The driver this model came from; InvalidInput if it has none."""
        if self.driver is None:
            raise InvalidInput(f"{self._kind} {self._label()!r} is not bound to a driver")
        return self.driver

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return False
        twin: Any = other
        same_driver = not self._driver_in_identity or self.driver is twin.driver
        return same_driver and bool(self._identity() == twin._identity())

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self._identity()))
