"""Rackspace Cloud Load Balancers (API v1.0), authenticated by Rackspace
Identity v2.0 (:mod:`overcast.auth.rackspace`).

How the API maps onto overcast's model:

* A balancer's id is Rackspace's (a number, as text); ``ip`` is its first
  virtual IP, ``port`` and ``extra["protocol"]`` its own. The state is
  ``ACTIVE`` (RUNNING), ``BUILD``/``PENDING_*`` (PENDING), ``ERROR``/
  ``SUSPENDED`` (ERROR) or ``DELETED``.
* Members are nodes: ``id`` Rackspace's node id, ``ip`` its address. Their
  ``extra["condition"]`` is the node's condition (ENABLED, DISABLED,
  DRAINING), settable with :meth:`RackspaceLBDriver.ex_set_member_condition`;
  their health comes from the node's ``status`` (ONLINE healthy, OFFLINE
  unhealthy) and condition (disabled, draining).
* A balancer refuses changes (422, "considered immutable") while it is
  ``BUILD`` or ``PENDING_*``: the driver waits for ``ACTIVE`` before each
  change (polling within the operation's deadline) and waits out a 422 once
  more, then raises :class:`~overcast.loadbalancer.base.BalancerImmutable`.
* Listings page by ``limit`` and ``marker``; a create whose answer is lost is
  found by name, never made twice.
* Apache Libcloud's Rackspace driver takes ``create_balancer(name, members,
  protocol, port, algorithm)``; overcast keeps the base order ``(name, port,
  protocol, algorithm, members)`` and refuses a list in second position
  (InvalidInput), rather than guess.
* The health monitor is :meth:`RackspaceLBDriver.ex_configure_health_monitor`.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final
from urllib.parse import parse_qsl

from overcast.auth.rackspace import DEFAULT_AUTH_URL
from overcast.auth.rackspace import RackspaceIdentity
from overcast.errors import AlreadyExists
from overcast.errors import BalancerNotFound
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotFound
from overcast.errors import RateLimited
from overcast.loadbalancer.base import Algorithm
from overcast.loadbalancer.base import BalancerImmutable
from overcast.loadbalancer.base import Health
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import LoadBalancerDriver
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import MemberCondition
from overcast.loadbalancer.base import State
from overcast.loadbalancer.busy import WaitsUntilActive
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import When
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import create_once
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret

__all__ = ["RackspaceLBDriver"]

ALGORITHMS: Final = {a: a.name for a in (
    Algorithm.RANDOM, Algorithm.ROUND_ROBIN, Algorithm.LEAST_CONNECTIONS,
    Algorithm.WEIGHTED_ROUND_ROBIN, Algorithm.WEIGHTED_LEAST_CONNECTIONS)}
_STATES: Final = {"ACTIVE": State.RUNNING, "BUILD": State.PENDING,
                  "PENDING_UPDATE": State.PENDING, "PENDING_DELETE": State.PENDING,
                  "ERROR": State.ERROR, "SUSPENDED": State.ERROR, "DELETED": State.DELETED}

ERRORS: Final = ErrorMap(
    When(BalancerImmutable, status=422, says="immutable"),
    When(AlreadyExists, status=409),
    When(InvalidInput, status=400),
    When(RateLimited, status=413),
    When(NotFound, status=404),
    defaults=False,
)


class RackspaceLBDriver(WaitsUntilActive, LoadBalancerDriver):
    """Rackspace Cloud Load Balancers.

    ``key`` is the Rackspace user name and ``secret`` its API key; ``region``
    (``dfw``, ``ord``, ``iad``, ``lon``, ``syd``, ``hkg``) picks the catalog's
    endpoint, ``endpoint`` overrides it; ``auth_url`` is Identity's.
    ``poll_interval`` is the pause between two looks at a balancer that is not
    ``ACTIVE`` yet, ``wait_timeout`` how long it may stay so. No request is
    made here.
    """

    name: ClassVar[str] = "rackspace"
    label: ClassVar[str] = "Rackspace Cloud Load Balancers"
    errors: ClassVar[ErrorMap] = ERRORS
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    failed_states: ClassVar[frozenset[str]] = frozenset({"ERROR", "SUSPENDED", "DELETED"})
    protocols: ClassVar[tuple[str, ...]] = ("http", "https", "tcp", "udp", "tcp_client_first",
                                            "mysql", "ftp", "smtp", "imapv4", "pop3", "ldap")
    algorithms: ClassVar[tuple[Algorithm, ...]] = tuple(ALGORITHMS)

    def __init__(self, key: str, secret: str | Secret, *, region: str = "dfw",
                 auth_url: str = DEFAULT_AUTH_URL, endpoint: str | None = None,
                 page_size: int = 100, poll_interval: float = 1.0, wait_timeout: float = 600.0,
                 **options: Any) -> None:
        super().__init__(**options)
        if poll_interval <= 0 or wait_timeout <= 0:
            raise InvalidInput("poll_interval and wait_timeout must be positive", driver=self)
        self.region = region
        self.page_size = check_page_size(page_size, maximum=100, driver=self)
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.identity = RackspaceIdentity(
            key, secret, services=("cloudLoadBalancers", "rax:load-balancer"), region=region,
            auth_url=check_endpoint(auth_url, option="auth_url", driver=self),
            endpoint=check_endpoint(endpoint, driver=self) if endpoint else None, owner=self)

    def _repr_fields(self) -> dict[str, object]:
        return {"username": self.identity.username, "region": self.region}

    def _secrets(self) -> tuple[Secret, ...]:
        return self.identity.secrets()

    # -- requests ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        """A path below the endpoint the token's catalog names (resolved when sent)."""
        return path

    def _transmit(self, request: Request) -> Op[Response]:
        """Send with Identity's token below the service's endpoint."""
        return (yield from self.identity.exchange(request))

    def _fault(self, resp: Response) -> Fault:
        """``{"code", "message"}``, or wrapped in its kind (``{"itemNotFound": {...}}``)."""
        try:
            data = resp.json()
        except ValueError:
            return super()._fault(resp)
        if isinstance(data, Mapping) and len(data) == 1 and isinstance(
                next(iter(data.values())), Mapping):
            data = {**next(iter(data.values())), "kind": str(next(iter(data)))}
        if not isinstance(data, Mapping):
            return super()._fault(resp)
        found = str(data.get("kind") or "")
        kind = found or None
        details = data.get("details") or ""
        message = " ".join(str(part) for part in (data.get("message"), details) if part)
        return Fault(resp.status, kind, message, None, frozenset({kind}) if kind else frozenset())

    def _describe(self, balancer_id: str) -> Op[dict[str, Any]]:
        data = yield from self._json("GET", f"/loadbalancers/{balancer_id}", what=balancer_id,
                                     missing=BalancerNotFound)
        return dict((data or {}).get("loadBalancer") or {})

    # -- reading ----------------------------------------------------------------------------

    def _to_balancer(self, item: Mapping[str, Any]) -> LoadBalancer:
        ips = [v.get("address") for v in item.get("virtualIps") or () if v.get("address")]
        algorithm = str(item.get("algorithm") or "")
        extra = {"status": item.get("status"), "protocol": str(item.get("protocol") or "").lower(),
                 "algorithm": Algorithm[algorithm] if algorithm in Algorithm.__members__
                 else algorithm, "virtual_ips": ips, "node_count": item.get("nodeCount"),
                 "health_monitor": item.get("healthMonitor")}
        return LoadBalancer(str(item.get("id")), str(item.get("name") or ""),
                            _STATES.get(str(item.get("status")), State.UNKNOWN),
                            ips[0] if ips else None, item.get("port"), self, extra)

    def _to_member(self, balancer: LoadBalancer, item: Mapping[str, Any]) -> Member:
        condition = str(item.get("condition") or "ENABLED")
        status = str(item.get("status") or "")
        health = {"DISABLED": Health.DISABLED, "DRAINING": Health.DRAINING}.get(
            condition, {"ONLINE": Health.HEALTHY, "OFFLINE": Health.UNHEALTHY}.get(
                status, Health.UNKNOWN))
        return Member(str(item.get("id")), item.get("address"), item.get("port"), balancer,
                      {"health": health, "status": status, "weight": item.get("weight"),
                       "condition": MemberCondition[condition]
                       if condition in MemberCondition.__members__ else condition})

    def _pages(self, path: str, key: str, convert: Any) -> Iter[Any]:
        def fetch(marker: Cursor | None) -> Op[Page[Any]]:
            query = [("limit", str(self.page_size))]
            if marker is not None:
                query.append(("marker", str(marker)))
            data = (yield from self._json("GET", path, params=query)) or {}
            found = data.get(key) or []
            following = None
            for link in data.get("links") or ():
                href = str(link.get("href") or "")
                if link.get("rel") == "next" and "?" in href:
                    following = dict(parse_qsl(href.split("?", 1)[1])).get("marker")
            return Page.marker([convert(item) for item in found],
                               bool(found) and following is not None, next_marker=following)

        yield from paginate(fetch, what=f"Rackspace GET {path}", driver=self)

    @iterator
    def iterate_balancers(self) -> Iter[LoadBalancer]:
        """Every balancer of the account in the region, page by page."""
        yield from self._pages("/loadbalancers", "loadBalancers", self._to_balancer)

    @operation
    def get_balancer(self, balancer_id: str) -> Op[LoadBalancer]:
        """A balancer by id; BalancerNotFound if there is none."""
        if not isinstance(balancer_id, str) or not balancer_id.isdigit():
            raise BalancerNotFound(str(balancer_id), driver=self)
        return self._to_balancer((yield from self._describe(balancer_id)))

    # -- balancers --------------------------------------------------------------------------

    def _node(self, member: Member, port: int | None) -> dict[str, Any]:
        self._check_member(member)
        if not member.ip:
            raise InvalidInput(f"a Rackspace node needs an IP address: {member!r}", driver=self)
        condition = MemberCondition(member.extra.get("condition", MemberCondition.ENABLED))
        node: dict[str, Any] = {"address": member.ip, "port": member.port or port,
                                "condition": condition.name}
        if "weight" in member.extra:
            node["weight"] = member.extra["weight"]
        return node

    @operation
    def create_balancer(self, name: str, port: int, protocol: str = "http",
                        algorithm: Algorithm = Algorithm.ROUND_ROBIN,
                        members: Sequence[Member] = (), *,
                        ex_virtual_ip_type: str = "PUBLIC") -> Op[LoadBalancer]:
        """Create a balancer with its nodes (the ``BUILD`` is waited out).

        A list in second position is Apache Libcloud's Rackspace order
        ``(name, members, protocol, port, algorithm)``: InvalidInput, since
        overcast keeps ``(name, port, protocol, algorithm, members)``.
        """
        given: object = port
        if isinstance(given, list | tuple):
            raise InvalidInput("create_balancer takes (name, port, protocol, algorithm, "
                               "members): Libcloud's Rackspace order, with the members second, "
                               "is not kept", driver=self)
        if not isinstance(name, str) or not 0 < len(name) <= 128:
            raise InvalidInput(f"a balancer name is 1 to 128 characters: {name!r}", driver=self)
        self._check_port(port)
        wanted_protocol = self._check_protocol(protocol).upper()
        chosen = self._check_algorithm(algorithm)
        nodes = [self._node(m, port) for m in self._check_members(members)]
        if ex_virtual_ip_type not in ("PUBLIC", "SERVICENET"):
            raise InvalidInput(f"ex_virtual_ip_type is PUBLIC or SERVICENET: "
                               f"{ex_virtual_ip_type!r}", driver=self)
        body = {"loadBalancer": {"name": name, "port": port, "protocol": wanted_protocol,
                                 "algorithm": ALGORITHMS[chosen], "nodes": nodes,
                                 "virtualIps": [{"type": ex_virtual_ip_type}]}}

        def send() -> Op[LoadBalancer]:
            data = yield from self._json("POST", "/loadbalancers", json=body, what=name)
            return self._to_balancer((data or {}).get("loadBalancer") or {})

        def find() -> Op[LoadBalancer | None]:
            found = yield from self._json("GET", "/loadbalancers", params=[("name", name)])
            listed = (found or {}).get("loadBalancers") or []
            return self._to_balancer(listed[0]) if listed else None

        made = yield from create_once(send, find)

        def settle() -> Op[LoadBalancer]:
            return self._to_balancer((yield from self._active(made.id)))

        def undo(_: BaseException) -> Op[None]:
            yield from self._send("DELETE", f"/loadbalancers/{made.id}", ok=(404, 422))

        settled: LoadBalancer = yield Guarded(settle(), undo)
        return settled

    @operation
    def destroy_balancer(self, balancer: LoadBalancer) -> Op[bool]:
        """Delete a balancer; BalancerNotFound if it does not exist."""
        yield from self._change(balancer.id, "DELETE", f"/loadbalancers/{balancer.id}",
                                what=balancer.id, missing=BalancerNotFound)
        return True

    @operation
    def update_balancer(self, balancer: LoadBalancer, *, name: str | None = None,
                        algorithm: Algorithm | None = None, protocol: str | None = None,
                        port: int | None = None) -> Op[LoadBalancer]:
        """Change a balancer's name, algorithm, protocol or port (one PUT)."""
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if algorithm is not None:
            changes["algorithm"] = ALGORITHMS[self._check_algorithm(algorithm)]
        if protocol is not None:
            changes["protocol"] = self._check_protocol(protocol).upper()
        if port is not None:
            changes["port"] = self._check_port(port)
        if changes:
            yield from self._change(balancer.id, "PUT", f"/loadbalancers/{balancer.id}",
                                    json={"loadBalancer": changes}, what=balancer.id,
                                    missing=BalancerNotFound)
        return self._to_balancer((yield from self._active(balancer.id)))

    # -- members ---------------------------------------------------------------------------

    @operation
    def balancer_attach_member(self, balancer: LoadBalancer, member: Member) -> Op[Member]:
        """Add a node (``extra["condition"]`` and ``extra["weight"]`` are kept)."""
        node = self._node(member, balancer.port)
        data = yield from self._change(balancer.id, "POST", f"/loadbalancers/{balancer.id}/nodes",
                                       json={"nodes": [node]}, what=balancer.id,
                                       missing=BalancerNotFound)
        made = self._to_member(balancer, ((data or {}).get("nodes") or [node])[0])
        made.extra = {**member.extra, **made.extra}
        return made

    @operation
    def balancer_detach_member(self, balancer: LoadBalancer, member: Member) -> Op[bool]:
        """Remove a node by id; MemberNotFound if it is not one."""
        yield from self._change(balancer.id, "DELETE",
                                f"/loadbalancers/{balancer.id}/nodes/{member.id}",
                                what=str(member.id), missing=MemberNotFound)
        return True

    @iterator
    def balancer_iterate_members(self, balancer: LoadBalancer) -> Iter[Member]:
        """The balancer's nodes with their condition and health."""
        data = yield from self._json("GET", f"/loadbalancers/{balancer.id}/nodes",
                                     what=balancer.id, missing=BalancerNotFound)
        for item in (data or {}).get("nodes") or ():
            yield Emit(self._to_member(balancer, item))

    @operation
    def ex_set_member_condition(self, balancer: LoadBalancer, member: Member,
                                condition: MemberCondition) -> Op[Member]:
        """Enable, drain or disable a node."""
        wanted = MemberCondition(condition)
        yield from self._change(balancer.id, "PUT",
                                f"/loadbalancers/{balancer.id}/nodes/{member.id}",
                                json={"node": {"condition": wanted.name}}, what=str(member.id),
                                missing=MemberNotFound)
        return Member(member.id, member.ip, member.port, balancer,
                      {**member.extra, "condition": wanted})

    @operation
    def ex_configure_health_monitor(self, balancer: LoadBalancer, kind: str = "CONNECT", *,
                                    delay: int = 10, timeout: int = 5, attempts: int = 2,
                                    path: str = "/") -> Op[dict[str, Any]]:
        """Set how the balancer checks its nodes (``kind``: CONNECT, HTTP or
        HTTPS); the monitor as sent."""
        if kind not in ("CONNECT", "HTTP", "HTTPS"):
            raise InvalidInput(f"a health monitor is CONNECT, HTTP or HTTPS: {kind!r}",
                               driver=self)
        for what, value in (("delay", delay), ("timeout", timeout), ("attempts", attempts)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{what} must be a positive whole number: {value!r}",
                                   driver=self)
        monitor: dict[str, Any] = {"type": kind, "delay": delay, "timeout": timeout,
                                   "attemptsBeforeDeactivation": attempts}
        if kind != "CONNECT":
            monitor["path"] = path
        yield from self._change(balancer.id, "PUT",
                                f"/loadbalancers/{balancer.id}/healthmonitor",
                                json={"healthMonitor": monitor}, what=balancer.id,
                                missing=BalancerNotFound)
        return monitor
