"""``@operation``: one generator method gives a sync method and an async one.

Three kinds of operation, by what the generator produces:

* :func:`operation` — returns a value. ``driver.x(...)`` runs it on the sync
  runner; ``await driver.aio.x(...)`` on the async runner.
* :func:`iterator` — emits items (``yield Emit(item)``) page by page.
  ``driver.x(...)`` is a sync iterator, ``driver.aio.x(...)`` an async iterator;
  both stream without loading every page first.
* :func:`stream` — returns a :class:`~overcast.runtime.streams.ByteStream`.
  ``driver.x(...)`` runs the operation and returns an iterator of chunks;
  ``driver.aio.x(...)`` returns an async iterator at once and starts the
  request on first iteration.

Inside another operation, call the raw generator with ``.op(...)``:
``container = yield from self.get_container.op(name)``.

An async view class states each operation with its real signature:
``list_containers = aio(StorageDriver.list_containers)``. A test checks that
every view is complete.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any
from typing import Concatenate
from typing import Generic
from typing import ParamSpec
from typing import Protocol
from typing import TypeVar
from typing import cast
from typing import overload

from overcast.errors import NotSupported
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.streams import ByteStream

if TYPE_CHECKING:
    from typing import Self

    from overcast.runtime.runner import AsyncRunner
    from overcast.runtime.runner import SyncRunner

__all__ = [
    "AsyncIteratorMethod",
    "AsyncMethod",
    "AsyncStreamMethod",
    "IteratorOperation",
    "Operation",
    "Standalone",
    "StreamOperation",
    "aio",
    "alias",
    "iterator",
    "listing",
    "not_supported",
    "operation",
    "requires",
    "standalone",
    "stream",
]

S = TypeVar("S")
P = ParamSpec("P")
T = TypeVar("T")
G = TypeVar("G")
F = TypeVar("F", bound=Callable[..., Any])


class _HasRunners(Protocol):
    """What an operation needs of the object it is bound to."""

    @property
    def _sync_runner(self) -> SyncRunner: ...

    @property
    def _async_runner(self) -> AsyncRunner: ...


_UNSUPPORTED = "__overcast_unsupported__"
_REQUIRES = "__overcast_requires__"
_ALIAS = "__overcast_alias__"


def not_supported(fn: F) -> F:
    """Mark a base-class operation, or a hook a base-class flow is built on, as
    not implemented by this driver.

    Calling it raises :class:`~overcast.errors.NotSupported` at once, before any
    request; ``driver.supports(name)`` reports False, and so does it for every
    operation that ``@requires`` it.
    """

    @functools.wraps(fn)
    def raiser(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotSupported(
            f"{type(self).__name__} does not support {fn.__name__}()", driver=self
        )

    setattr(raiser, _UNSUPPORTED, True)
    return raiser  # type: ignore[return-value]


def requires(*names: str) -> Callable[[F], F]:
    """Declare the operations or hooks (``_``-prefixed methods) a generic base
    implementation is built from.

    ``driver.supports()`` is then True only if all of them are supported, and
    calling it without them raises NotSupported before any effect.
    """

    def mark(fn: F) -> F:
        setattr(fn, _REQUIRES, names)
        return fn

    return mark


@functools.cache
def _missing_parts(cls: Any, name: str) -> bool:
    supports: Callable[[str], bool] = getattr(cls, "_supports")  # noqa: B009
    return not supports(name)


def declared_parts(fn: Callable[..., Any]) -> tuple[bool, tuple[str, ...]]:
    """``(unsupported, requires)`` as :func:`not_supported` and :func:`requires`
    marked ``fn`` (an operation's function or a hook)."""
    return bool(getattr(fn, _UNSUPPORTED, False)), tuple(getattr(fn, _REQUIRES, ()))


def _check_parts(fn: Callable[..., Any], driver: Any) -> None:
    """Raise NotSupported, before any effect, for a generic operation whose parts
    (``@requires``) this driver lacks."""
    cls: Any = type(driver)
    if getattr(fn, _REQUIRES, None) and _missing_parts(cls, fn.__name__):
        raise NotSupported(
            f"{type(driver).__name__} does not support {fn.__name__}()", driver=driver
        )


class _OperationBase(Generic[S, P, T]):
    """A generator function on a driver class, with its metadata."""

    kind = "value"

    def __init__(self, fn: Callable[Concatenate[S, P], Any]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self.__name__ = fn.__name__
        self.__qualname__ = getattr(fn, "__qualname__", fn.__name__)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        if getattr(self.fn, _ALIAS, False):
            # An alias's forwarder learns its name here: NotSupported messages
            # and the ``@requires`` check look the operation up by it.
            self.fn.__name__ = self.__name__ = name
            self.fn.__qualname__ = self.__qualname__ = f"{owner.__qualname__}.{name}"

    @property
    def unsupported(self) -> bool:
        """True if this is the base class's "not supported" placeholder."""
        return bool(getattr(self.fn, _UNSUPPORTED, False))

    @property
    def requires(self) -> tuple[str, ...]:
        """Operations this generic implementation is built from."""
        names: tuple[str, ...] = getattr(self.fn, _REQUIRES, ())
        return names

    def __repr__(self) -> str:
        return f"<{self.kind} operation {self.__qualname__}>"


class _Bound(Generic[P, G]):
    """An operation bound to a driver (``G``: the generator its function returns)."""

    __slots__ = ("_driver", "_fn")

    def __init__(self, fn: Callable[..., G], driver: Any) -> None:
        self._fn = fn
        self._driver = driver

    def op(self, *args: P.args, **kwargs: P.kwargs) -> G:
        """The raw generator, to ``yield from`` inside another operation (checked
        first: NotSupported if a part this operation is built on is missing)."""
        _check_parts(self._fn, self._driver)
        return self._fn(self._driver, *args, **kwargs)

    @property
    def _runners(self) -> _HasRunners:
        runners: _HasRunners = self._driver
        return runners

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self._fn.__doc__


class BoundOperation(_Bound[P, "Op[T]"]):
    """A value operation bound to a driver: call it to run it synchronously,
    ``await op.aio(...)`` to run it on the async runner."""

    __slots__ = ()

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._runners._sync_runner.run(self.op(*args, **kwargs))

    async def aio(self, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the operation in the current event loop."""
        result: T = await self._runners._async_runner.run(self.op(*args, **kwargs))
        return result


class BoundIterator(_Bound[P, "Iter[T]"]):
    """An iterator operation bound to a driver: call it for a sync iterator,
    ``op.aio(...)`` for an async one."""

    __slots__ = ()

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return self._runners._sync_runner.iterate(self.op(*args, **kwargs))

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        """The items, page by page, in the current event loop."""
        return self._runners._async_runner.iterate(self.op(*args, **kwargs))


class BoundStream(_Bound[P, "Op[ByteStream]"]):
    """A stream operation bound to a driver: call it for an iterator of chunks,
    ``op.aio(...)`` for an async iterator that starts on first iteration."""

    __slots__ = ()

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Iterator[bytes]:
        return self._runners._sync_runner.stream(self.op(*args, **kwargs))

    def aio(self, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[bytes]:
        """The chunks, in the current event loop."""
        return self._runners._async_runner.stream(self.op(*args, **kwargs))


class Operation(_OperationBase[S, P, T]):
    """A value operation; see :func:`operation`."""

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: S, owner: type) -> BoundOperation[P, T]: ...
    def __get__(self, obj: S | None, owner: type) -> Self | BoundOperation[P, T]:
        return self if obj is None else BoundOperation(self.fn, obj)


class IteratorOperation(_OperationBase[S, P, T]):
    """An iterator operation; see :func:`iterator`."""

    kind = "iterator"

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: S, owner: type) -> BoundIterator[P, T]: ...
    def __get__(self, obj: S | None, owner: type) -> Self | BoundIterator[P, T]:
        return self if obj is None else BoundIterator(self.fn, obj)


class StreamOperation(_OperationBase[S, P, ByteStream]):
    """A stream operation; see :func:`stream`."""

    kind = "stream"

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: S, owner: type) -> BoundStream[P]: ...
    def __get__(self, obj: S | None, owner: type) -> Self | BoundStream[P]:
        return self if obj is None else BoundStream(self.fn, obj)


def operation(fn: Callable[Concatenate[S, P], Op[T]]) -> Operation[S, P, T]:
    """Make a generator method a value operation (sync and async)."""
    return Operation(fn)


def iterator(fn: Callable[Concatenate[S, P], Iter[T]]) -> IteratorOperation[S, P, T]:
    """Make a generator method that emits items an iterator operation."""
    return IteratorOperation(fn)


def stream(fn: Callable[Concatenate[S, P], Op[ByteStream]]) -> StreamOperation[S, P]:
    """Make a generator method that returns a byte stream a stream operation."""
    return StreamOperation(fn)


def listing(source: IteratorOperation[S, P, T], doc: str) -> Operation[S, P, list[T]]:
    """The ``list_x`` of an ``iterate_x``: a value operation, with the same
    parameters, that gathers every item of the driver's own ``iterate_x`` (so a
    driver implements the iterator and gets the list)::

        list_zones = listing(iterate_zones, "List every zone of the account.")
    """
    from overcast.runtime.ops import collect

    name = source.name

    def gather(driver: Any, /, *args: Any, **kwargs: Any) -> Op[list[T]]:
        items: list[T] = yield from collect(getattr(driver, name).op(*args, **kwargs))
        return items

    signature = inspect.signature(source.fn)
    gather.__signature__ = signature.replace(  # type: ignore[attr-defined]
        return_annotation=f"Op[list[{_item_type(signature)}]]"
    )
    gather.__name__ = gather.__qualname__ = f"list{name.removeprefix('iterate')}"
    gather.__doc__ = doc
    setattr(gather, _REQUIRES, (name,))
    made: Operation[S, P, list[T]] = Operation(cast(Any, gather))
    return made


def alias(target: Operation[S, P, T], doc: str) -> Operation[S, P, T]:
    """Another name for a value operation, with the same parameters, that runs
    the driver's own ``target`` (an override of it in a subclass included) and
    is supported exactly when ``target`` is::

        ex_start_node = alias(NodeDriver.start_node, "Apache Libcloud's name for ...")
    """
    name = target.name

    def forward(driver: Any, /, *args: Any, **kwargs: Any) -> Op[T]:
        result: T = yield from getattr(driver, name).op(*args, **kwargs)
        return result

    forward.__signature__ = inspect.signature(target.fn)  # type: ignore[attr-defined]
    forward.__doc__ = doc
    setattr(forward, _REQUIRES, (name,))
    setattr(forward, _ALIAS, True)
    made: Operation[S, P, T] = Operation(cast(Any, forward))
    return made


def _item_type(signature: inspect.Signature) -> str:
    annotation = str(signature.return_annotation)
    return annotation.removeprefix("Iter[").removesuffix("]") if annotation else "Any"


# -- the async side ------------------------------------------------------------


class _AsyncMember:
    """A member of an async view class: the ``aio`` face of the operation of the
    same name on the view's driver (the driver's class's own, so a subclass's
    implementation runs)."""

    def __init__(self, op: _OperationBase[Any, Any, Any]) -> None:
        self.operation = op
        self.__doc__ = op.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _face(self, view: Any) -> Any:
        return getattr(view.driver, self.operation.name).aio


class AsyncMethod(_AsyncMember, Generic[P, T]):
    """``await view.x(...)``: a value operation on the async runner."""

    def __get__(self, view: Any, owner: type) -> Callable[P, Awaitable[T]]:
        face: Callable[P, Awaitable[T]] = self._face(view)
        return face


class AsyncIteratorMethod(_AsyncMember, Generic[P, T]):
    """``async for item in view.x(...)``: an iterator operation, async."""

    def __get__(self, view: Any, owner: type) -> Callable[P, AsyncIterator[T]]:
        face: Callable[P, AsyncIterator[T]] = self._face(view)
        return face


class AsyncStreamMethod(_AsyncMember, Generic[P]):
    """``async for chunk in view.x(...)``: a stream that starts on first iteration."""

    def __get__(self, view: Any, owner: type) -> Callable[P, AsyncIterator[bytes]]:
        face: Callable[P, AsyncIterator[bytes]] = self._face(view)
        return face


@overload
def aio(op: IteratorOperation[Any, P, T]) -> AsyncIteratorMethod[P, T]: ...
@overload
def aio(op: StreamOperation[Any, P]) -> AsyncStreamMethod[P]: ...
@overload
def aio(op: Operation[Any, P, T]) -> AsyncMethod[P, T]: ...
def aio(
    op: Operation[Any, P, T] | IteratorOperation[Any, P, T] | StreamOperation[Any, P],
) -> AsyncMethod[P, T] | AsyncIteratorMethod[P, T] | AsyncStreamMethod[P]:
    """Declare the async twin of an operation on an async view class.

    The twin runs the operation the driver's class defines under the same name,
    so a subclass's implementation is used.
    """
    if isinstance(op, IteratorOperation):
        return AsyncIteratorMethod(op)
    if isinstance(op, StreamOperation):
        return AsyncStreamMethod(op)
    return AsyncMethod(op)


def operations_of(cls: type) -> dict[str, _OperationBase[Any, Any, Any]]:
    """Every operation a driver class has, by name (its own and inherited)."""
    found: dict[str, _OperationBase[Any, Any, Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, _OperationBase):
                found[name] = value
            elif name in found:
                del found[name]
    return found


# -- operations that belong to no driver ---------------------------------------------


class Standalone(Generic[P, T]):
    """An operation that is not a method of one driver (see :func:`standalone`)."""

    def __init__(self, fn: Callable[P, Op[T]]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__module__ = fn.__module__
        self.__wrapped__ = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run it to completion in this thread (``Parallel`` uses threads)."""
        sync_runner, _ = _free_runners()
        return sync_runner.run(self.fn(*args, **kwargs))

    async def run_async(self, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run it in the current event loop (asyncio or trio)."""
        _, async_runner = _free_runners()
        result: T = await async_runner.run(self.fn(*args, **kwargs))
        return result

    def op(self, *args: P.args, **kwargs: P.kwargs) -> Op[T]:
        """The raw generator, to ``yield from`` inside another operation."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<standalone operation {self.__qualname__}>"


def standalone(fn: Callable[P, Op[T]]) -> Standalone[P, T]:
    """Make a generator function that works across drivers an operation of its own.

    It yields :class:`~overcast.runtime.effects.Delegate` to run a sub-operation
    on a driver (with that driver's signer, pools and policy), and any effect
    that needs no driver (``Call``, ``Parallel``, ``Sleep``, ...). ``f(...)`` runs
    it synchronously and ``await f.run_async(...)`` in an event loop: one body,
    both faces, like a driver operation. A ``Request`` yielded directly is an
    error: requests belong to a driver.
    """
    return Standalone(fn)


_free: tuple[SyncRunner, AsyncRunner] | None = None


def _free_runners() -> tuple[SyncRunner, AsyncRunner]:
    """The runners of standalone operations: no signer and no transport."""
    global _free
    if _free is None:
        from overcast.runtime.policy import RuntimeConfig
        from overcast.runtime.runner import AsyncRunner
        from overcast.runtime.runner import SyncRunner

        config = RuntimeConfig(driver_name="overcast")
        _free = (SyncRunner(config, _no_transport), AsyncRunner(config, _no_transport))
    return _free


def _no_transport() -> Any:
    raise TypeError(
        "a standalone operation sends requests through a driver: yield Delegate(driver, op)"
    )
