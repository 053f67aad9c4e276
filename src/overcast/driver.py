"""The base of every driver: runtime options, runners, capabilities, closing.

A driver holds only configuration (credentials, endpoint, options). Its two
runners, and their connection pools, are made on first use, so a constructor
never touches the network and one driver instance serves many threads and
tasks at once.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Final
from typing import Generic
from typing import TypedDict
from typing import TypeVar
from typing import cast

from overcast._version import __version__
from overcast.errors import InvalidInput
from overcast.extras import require
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import aio
from overcast.runtime.operation import declared_parts
from overcast.runtime.operation import operations_of
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RetryPolicy
from overcast.runtime.policy import RuntimeConfig
from overcast.runtime.redact import Secret
from overcast.runtime.transports.base import DEFAULT_POOL_SIZE
from overcast.runtime.transports.base import AsyncTransport
from overcast.runtime.transports.base import SyncTransport
from overcast.runtime.transports.base import Timeouts

if TYPE_CHECKING:
    from typing import Self

    from overcast.runtime.runner import AsyncRunner
    from overcast.runtime.runner import SyncRunner

__all__ = ["AsyncView", "BaseDriver", "RuntimeOptions"]

D = TypeVar("D", bound="BaseDriver")

#: The transports a driver can be given by name: the extra that brings the
#: library (``None``: a core dependency) and the class in ``overcast.runtime.transports``.
SYNC_TRANSPORTS: Final[Mapping[str, tuple[str | None, str]]] = {
    "pycurl": (None, "pycurl:PycurlTransport"),
    "urllib3": ("urllib3", "urllib3:Urllib3Transport"),
    "httpx": ("httpx", "httpx:HttpxSyncTransport"),
}
ASYNC_TRANSPORTS: Final[Mapping[str, tuple[str | None, str]]] = {
    "pycurl": (None, "pycurl_async:PycurlAsyncTransport"),
    "aiohttp": (None, "aiohttp:AiohttpTransport"),
    "httpx": ("httpx", "httpx:HttpxAsyncTransport"),
}


class RuntimeOptions(TypedDict, total=False):
    """Keyword options every driver accepts (``**options`` in constructors).

    * ``timeout``: seconds, or a :class:`Timeouts` (connect, read, total).
    * ``retry``: a :class:`RetryPolicy`.
    * ``hooks``: :class:`Hooks` for request/response events.
    * ``pool_size``: connections per host (and concurrent requests per host).
    * ``verify``: TLS verification: True, False, or a CA bundle path.
    * ``sync_transport``: ``"pycurl"`` (default), ``"urllib3"`` or ``"httpx"``, or a
      factory.
    * ``async_transport``: ``"pycurl"`` (libcurl's multi interface, default on
      asyncio), ``"aiohttp"`` or ``"httpx"`` (default on trio), or a factory.
    * ``unix_socket``: send every request over this UNIX socket (a local
      engine's API); the URL's host then only fills the Host header.
    * ``client_cert``: a TLS client certificate, a PEM file holding certificate
      and key or ``(certificate file, key file)``.
    * ``proxy``: a forward proxy for every request (``http://host:port``);
      without it, ``HTTPS_PROXY``/``HTTP_PROXY`` name one. Hosts in ``NO_PROXY``
      are reached directly either way.
    """

    timeout: float | Timeouts
    retry: RetryPolicy
    hooks: Hooks
    pool_size: int
    verify: bool | str
    sync_transport: str | Any
    async_transport: str | Any
    unix_socket: str
    client_cert: str | tuple[str, str]
    proxy: str


def _proxy_secrets(proxy: str | None) -> tuple[Secret, ...]:
    """The password of a ``proxy=`` URL (``http://user:password@host:port``),
    to keep out of any text."""
    if not proxy or "@" not in proxy:
        return ()
    from urllib.parse import unquote
    from urllib.parse import urlsplit

    password = urlsplit(proxy).password
    return (Secret(password), Secret(unquote(password))) if password else ()


class BaseDriver:
    """Common base of the drivers of every area.

    Subclasses set ``name`` (the registry name) and ``area``, store their
    credentials as :class:`~overcast.runtime.redact.Secret` and pass
    ``**options`` on to this constructor. They may override :meth:`_sign` (called
    on every attempt of every request) and :meth:`_secrets`.
    """

    name: ClassVar[str] = "base"
    area: ClassVar[str] = ""
    #: The async view class that types this driver's operations (set by each
    #: area's base class; a driver adds one only to type its ``ex_`` operations,
    #: which are served in any case, see :meth:`_view_class`).
    async_view: ClassVar[type[AsyncView[Any]]]
    _derived_view: ClassVar[type[AsyncView[Any]]]

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(RuntimeOptions.__annotations__)
        if unknown:
            raise InvalidInput(f"unknown option(s): {', '.join(sorted(unknown))}", driver=self)
        timeout = options.get("timeout")
        if timeout is None:
            timeouts = Timeouts()
        elif isinstance(timeout, Timeouts):
            timeouts = timeout
        elif isinstance(timeout, int | float) and timeout > 0:
            timeouts = Timeouts(connect=float(timeout), read=float(timeout))
        else:
            raise InvalidInput(f"timeout must be positive seconds or Timeouts: {timeout!r}")
        pool_size = options.get("pool_size", DEFAULT_POOL_SIZE)
        if not isinstance(pool_size, int) or pool_size < 1:
            raise InvalidInput(f"pool_size must be a positive integer: {pool_size!r}")
        proxy = options.get("proxy")
        if proxy is not None and (
            not isinstance(proxy, str) or not proxy.startswith(("http://", "https://"))
        ):
            raise InvalidInput(f"proxy must be an http:// or https:// URL: {proxy!r}")
        self._options = options
        self._timeouts = timeouts
        self._lock = threading.Lock()
        self._sync: SyncRunner | None = None
        self._async: AsyncRunner | None = None
        self._companions: list[BaseDriver] = []
        self.aio: AsyncView[Any] = type(self)._view_class()(self)

    # -- hooks for subclasses ---------------------------------------------------

    def _sign(self, request: Request, now: float) -> Request:
        """Sign one attempt of a request (default: unchanged)."""
        return request

    def _refresh(self, now: float) -> Op[None] | None:
        """Before a signed request: ``None`` when the credentials the signer uses
        are fresh at ``now``, else an operation that renews them (default: none,
        credentials that never expire)."""
        return None

    def _is_throttled(self, response: Response) -> bool:
        """Whether an error response means "slow down" although it is not a 429
        (default: no). The runtime then retries it like a 429, any method."""
        return False

    def _secrets(self) -> tuple[Secret, ...]:
        """The credential values to keep out of any text (default: every
        :class:`Secret` attribute of the driver)."""
        return tuple(v for v in vars(self).values() if isinstance(v, Secret))

    def _repr_fields(self) -> dict[str, object]:
        """Fields shown by ``repr`` (never credentials)."""
        return {}

    # -- runtime ----------------------------------------------------------------

    def _config(self) -> RuntimeConfig:
        options = self._options
        return RuntimeConfig(
            driver_name=self.name,
            timeouts=self._timeouts,
            retry=options.get("retry") or RetryPolicy(),
            hooks=options.get("hooks") or Hooks(),
            signer=self._sign,
            throttled=self._is_throttled,
            user_agent=f"overcast/{__version__}",
            pool_size=options.get("pool_size", DEFAULT_POOL_SIZE),
            verify=options.get("verify", True),
            secrets=self._secrets() + _proxy_secrets(options.get("proxy")),
            unix_socket=options.get("unix_socket"),
            client_cert=options.get("client_cert"),
            proxy=options.get("proxy"),
            refresh=None if type(self)._refresh is BaseDriver._refresh else self._refresh,
        )

    @property
    def _sync_runner(self) -> SyncRunner:
        runner = self._sync
        if runner is None:
            with self._lock:
                if self._sync is None:
                    # The runners (anyio, processes, resumption) load with the first
                    # call, not with the driver's import: a CLI or a script that
                    # only builds a driver starts faster.
                    from overcast.runtime.runner import SyncRunner

                    config = self._config()
                    self._sync = SyncRunner(config, lambda: self._make_sync_transport(config))
                runner = self._sync
        return runner

    @property
    def _async_runner(self) -> AsyncRunner:
        runner = self._async
        if runner is None:
            with self._lock:
                if self._async is None:
                    from overcast.runtime.runner import AsyncRunner

                    config = self._config()
                    self._async = AsyncRunner(config, lambda: self._make_async_transport(config))
                runner = self._async
        return runner

    def _make_sync_transport(self, config: RuntimeConfig) -> SyncTransport:
        transport: SyncTransport = self._make_transport(
            SYNC_TRANSPORTS, self._options.get("sync_transport", "pycurl"), config, "sync"
        )
        return transport

    def _make_async_transport(self, config: RuntimeConfig) -> AsyncTransport:
        import sniffio

        choice = self._options.get("async_transport")
        if choice is None:
            choice = "httpx" if sniffio.current_async_library() == "trio" else "pycurl"
        transport: AsyncTransport = self._make_transport(ASYNC_TRANSPORTS, choice, config,
                                                         "async")
        return transport

    def _make_transport(self, table: Mapping[str, tuple[str | None, str]], choice: Any,
                        config: RuntimeConfig, mode: str) -> Any:
        """A transport from ``table`` (name -> (extra, "module:Class")), or from a
        factory the caller gave instead of a name."""
        if callable(choice):
            return choice()
        if choice not in table:
            raise InvalidInput(
                f"unknown {mode} transport {choice!r}; choose from {', '.join(table)}",
                driver=self,
            )
        extra, target = table[choice]
        if extra is not None:  # the library is named after its extra
            require(extra, extra, what=f"the {choice} transport")
        module, _, name = target.partition(":")
        factory = getattr(importlib.import_module(f"overcast.runtime.transports.{module}"), name)
        # Passed only when set, so a transport without them is called as before.
        local: dict[str, Any] = {}
        if config.unix_socket is not None:
            local["unix_socket"] = config.unix_socket
        if config.client_cert is not None:
            local["client_cert"] = config.client_cert
        if config.proxy is not None:
            local["proxy"] = config.proxy
        return factory(pool_size=config.pool_size, verify=config.verify,
                       user_agent=config.user_agent, min_rate=config.timeouts.min_rate, **local)

    @classmethod
    def _view_class(cls) -> type[AsyncView[Any]]:
        """The async view of this class: its declared one (which types the area's
        operations), extended with any operation it does not declare, such as a
        driver's ``ex_`` operations. Made once per class."""
        view: type[AsyncView[Any]] | None = cls.__dict__.get("_derived_view")
        if view is None:
            declared = cls.async_view
            known = {name for klass in declared.__mro__ for name in vars(klass)}
            missing = {
                name: aio(cast(Any, op))
                for name, op in operations_of(cls).items()
                if name not in known
            }
            view = declared
            if missing:
                view = type(f"{cls.__name__}Async", (declared,), {"__slots__": (), **missing})
            cls._derived_view = view
        return view

    # -- capabilities -----------------------------------------------------------

    @classmethod
    def operations(cls) -> dict[str, bool]:
        """Every operation of this driver's area and whether this driver supports it."""
        return {name: cls._supports(name) for name in sorted(operations_of(cls))}

    @classmethod
    def _supports(cls, name: str, _seen: frozenset[str] = frozenset()) -> bool:
        """Whether the operation or hook ``name`` is implemented, with every part
        it ``@requires``."""
        op = operations_of(cls).get(name)
        if op is not None:
            unsupported, parts = op.unsupported, op.requires
        else:  # a hook: a plain method a base-class flow is built on
            hook = getattr(cls, name, None)
            if not name.startswith("_") or not callable(hook):
                return False
            unsupported, parts = declared_parts(hook)
        if unsupported:
            return False
        return all(cls._supports(dep, _seen | {name}) for dep in parts if dep not in _seen)

    def supports(self, operation: str) -> bool:
        """Whether this driver implements ``operation`` (a method name).

        >>> driver.supports("create_volume")  # doctest: +SKIP
        False
        """
        return self._supports(operation)

    # -- lifetime ---------------------------------------------------------------

    def _adopt(self, companion: BaseDriver) -> None:
        """Close ``companion`` (a driver this one made for its own use, such as
        a metadata client) whenever this one is closed, sync or async."""
        with self._lock:
            self._companions.append(companion)

    def close(self) -> None:
        """Close the sync connection pool. The driver stays usable (it reopens)."""
        with self._lock:
            runner = self._sync
            companions = list(self._companions)
        if runner is not None:
            runner.close()
        for companion in companions:
            companion.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        fields = " ".join(f"{k}={v!r}" for k, v in self._repr_fields().items())
        return f"<{type(self).__name__} {fields}>" if fields else f"<{type(self).__name__}>"


class AsyncView(Generic[D]):
    """The async face of a driver: ``driver.aio``.

    Each area declares its view with every operation typed
    (``list_containers = aio(StorageDriver.list_containers)``); the view runs the
    operations of the driver it wraps on that driver's async runner.
    """

    __slots__ = ("driver",)

    def __init__(self, driver: D) -> None:
        self.driver = driver

    def supports(self, operation: str) -> bool:
        """Whether the driver implements ``operation``."""
        return self.driver.supports(operation)

    async def aclose(self) -> None:
        """Close the async connection pool of the current event loop."""
        runner = self.driver._async
        if runner is not None:
            await runner.aclose()
        for companion in list(self.driver._companions):
            await companion.aio.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<async view of {self.driver!r}>"


# A driver class that declares no view of its own gets the bare one.
BaseDriver.async_view = AsyncView
