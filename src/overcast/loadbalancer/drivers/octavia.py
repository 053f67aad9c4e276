"""OpenStack Octavia (the Load Balancer API v2) on Keystone v3.

How the API maps onto overcast's model:

* A balancer is an Octavia load balancer with one listener (``port``,
  ``protocol``) whose default pool (``algorithm``) holds the members; its
  ``ip`` is the VIP. ``create_balancer`` makes the balancer on the driver's
  ``vip_subnet_id`` (or ``ex_vip_subnet_id``), then the listener, the pool and
  the members, as one operation: if a step fails the balancer is deleted with
  everything under it (``cascade``). A create whose answer is lost is found by
  its name, never made twice.
* Octavia refuses every change (409) while a balancer is ``PENDING_*``: the
  driver waits for ``ACTIVE`` before each step (polling with a pause, within
  the operation's deadline); a 409 that still comes is waited out once more,
  then raised as :class:`~overcast.loadbalancer.base.BalancerImmutable`.
* ``port`` and ``extra["protocol"]`` are the listener's, read by
  :meth:`get_balancer` (a listing does not read listeners: ``port`` is
  ``None`` there). The state is ``ACTIVE`` (RUNNING), ``PENDING_*`` (PENDING),
  ``ERROR`` or ``DELETED``.
* Members' health is their ``operating_status``: ``ONLINE`` and
  ``NO_MONITOR`` healthy, ``OFFLINE`` unhealthy (disabled when
  ``admin_state_up`` is false), ``ERROR`` and ``DEGRADED`` unhealthy,
  ``DRAINING`` draining; ``extra["status"]`` is Octavia's word.
* Every listing pages by ``limit`` and ``marker`` (the ``*_links`` ``next``),
  through :class:`~overcast.auth.openstack.OpenStackService`'s pager.
* Listeners and pools are listed with ``ex_`` operations; health monitors are
  :meth:`OctaviaLBDriver.ex_create_health_monitor`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar

from overcast.auth.openstack import OpenStackService
from overcast.errors import AlreadyExists
from overcast.errors import BalancerNotFound
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotFound
from overcast.errors import NotSupported
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
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Response
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.options import check_page_size
from overcast.runtime.redact import Secret

__all__ = ["OctaviaLBDriver"]

T = TypeVar("T")

API: Final = "load-balancer:/v2/lbaas"
#: Octavia's ``lb_algorithm`` of each algorithm offered.
ALGORITHMS: Final = {Algorithm.ROUND_ROBIN: "ROUND_ROBIN",
                     Algorithm.LEAST_CONNECTIONS: "LEAST_CONNECTIONS",
                     Algorithm.PERSISTENT_IP: "SOURCE_IP"}
_FROM_OCTAVIA: Final = {value: key for key, value in ALGORITHMS.items()}
HEALTH: Final = {"ONLINE": Health.HEALTHY, "NO_MONITOR": Health.HEALTHY,
                 "OFFLINE": Health.UNHEALTHY, "ERROR": Health.UNHEALTHY,
                 "DEGRADED": Health.UNHEALTHY, "DRAINING": Health.DRAINING}

ERRORS: Final = ErrorMap(
    When(BalancerImmutable, status=409, says="immutable"),
    When(AlreadyExists, status=409, says="already exists"),
    When(InvalidInput, status=400),
    When(RateLimited, status=429),
    When(NotFound, status=404),
    defaults=False,
)


def _state(status: object) -> State:
    text = str(status or "")
    if text == "ACTIVE":
        return State.RUNNING
    if text.startswith("PENDING"):
        return State.PENDING
    return {"ERROR": State.ERROR, "DELETED": State.DELETED}.get(text, State.UNKNOWN)


class OctaviaLBDriver(OpenStackService, WaitsUntilActive, LoadBalancerDriver):
    """OpenStack Octavia, the Load Balancer API v2, authenticated by Keystone v3.

    ``key``/``secret`` are the user name and password; ``auth_url``,
    ``project``, ``user_domain``, ``project_domain``, ``region`` and
    ``interface`` as for the OpenStack compute driver (Libcloud's
    ``ex_force_auth_url``, ``ex_tenant_name``, ``ex_domain_name`` and
    ``ex_force_service_region`` too: the Keystone plumbing is
    :class:`~overcast.auth.openstack.OpenStackService`). ``vip_subnet_id`` is
    the subnet new balancers get their VIP on (``ex_vip_subnet_id`` overrides
    it); ``poll_interval`` is the pause between two looks at a balancer that
    is not ``ACTIVE`` yet, ``wait_timeout`` how long it may stay so.
    """

    name: ClassVar[str] = "openstack"
    label: ClassVar[str] = "Octavia"
    errors: ClassVar[ErrorMap] = ERRORS
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    request_id_headers: ClassVar[tuple[str, ...]] = ("X-Openstack-Request-Id",)
    status_key: ClassVar[str] = "provisioning_status"
    protocols: ClassVar[tuple[str, ...]] = ("http", "tcp", "https", "udp")
    algorithms: ClassVar[tuple[Algorithm, ...]] = tuple(ALGORITHMS)

    def __init__(self, key: str | None, secret: str | Secret | None = None, *,
                 auth_url: str | None = None, project: str | None = None,
                 project_id: str | None = None,
                 user_domain: str = "Default", project_domain: str = "Default",
                 region: str | None = None, interface: str = "public",
                 vip_subnet_id: str | None = None, page_size: int = 100,
                 poll_interval: float = 1.0, wait_timeout: float = 600.0,
                 **options: Any) -> None:
        self._connect(key, secret, {"load-balancer": ("load-balancer",)}, options,
                      auth_url=auth_url, project=project, project_id=project_id,
                      user_domain=user_domain, project_domain=project_domain, region=region,
                      interface=interface)
        super().__init__(**options)
        self.page_size = check_page_size(page_size, maximum=1000, driver=self)
        if poll_interval <= 0 or wait_timeout <= 0:
            raise InvalidInput("poll_interval and wait_timeout must be positive", driver=self)
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.vip_subnet_id = vip_subnet_id

    def _repr_fields(self) -> dict[str, object]:
        return {"auth_url": self.auth_url, "region": self.region}

    def _secrets(self) -> tuple[Secret, ...]:
        return self.session.credentials.secrets()

    # -- requests ---------------------------------------------------------------------------

    def _fault(self, resp: Response) -> Fault:
        """Octavia's ``{"faultcode", "faultstring"}`` (else the common shapes)."""
        try:
            data = resp.json()
        except ValueError:
            data = None
        if isinstance(data, Mapping) and "faultstring" in data:
            request_id = next((resp.headers[h] for h in self.request_id_headers
                               if h in resp.headers), None)
            code = str(data.get("faultcode") or "") or None
            return Fault(resp.status, code, str(data["faultstring"]), request_id,
                         frozenset({code}) if code else frozenset())
        return super()._fault(resp)

    def _listing(self, path: str, key: str, convert: Callable[[dict[str, Any]], T], *,
                 params: Sequence[tuple[str, str]] = (),
                 missing: type[NotFound] | None = None) -> Iter[T]:
        """Every item of an Octavia collection, page by page (``limit`` and
        ``marker``, the next page's from ``<key>_links``)."""
        yield from self._pages(f"{API}{path}", key, convert, links=f"{key}_links",
                               params=params, missing=missing)

    # -- waiting for ACTIVE -------------------------------------------------------------------

    def _describe(self, balancer_id: str) -> Op[dict[str, Any]]:
        data = yield from self._json("GET", f"{API}/loadbalancers/{balancer_id}",
                                     what=balancer_id, missing=BalancerNotFound)
        return dict((data or {}).get("loadbalancer") or {})

    def _step(self, balancer_id: str, method: str, path: str, *, key: str | None = None,
              json: Any = None, what: str = "", missing: type[NotFound] = NotFound,
              ) -> Op[dict[str, Any]]:
        """A change below a balancer once it is ``ACTIVE``; the ``key`` object
        of the answer (``{}`` without one)."""
        data = yield from self._change(balancer_id, method, f"{API}{path}", json=json,
                                       what=what, missing=missing)
        return dict((data or {}).get(key) or {}) if key else {}

    # -- reading ----------------------------------------------------------------------------

    def _to_balancer(self, item: Mapping[str, Any]) -> LoadBalancer:
        extra = {"provisioning_status": item.get("provisioning_status"),
                 "operating_status": item.get("operating_status"),
                 "vip_subnet_id": item.get("vip_subnet_id"),
                 "listener_ids": [entry.get("id") for entry in item.get("listeners") or ()],
                 "pool_ids": [entry.get("id") for entry in item.get("pools") or ()]}
        return LoadBalancer(str(item.get("id")), str(item.get("name") or ""),
                            _state(item.get("provisioning_status")),
                            item.get("vip_address"), None, self, extra)

    def _to_member(self, balancer: LoadBalancer, item: Mapping[str, Any]) -> Member:
        status = str(item.get("operating_status") or "")
        enabled = item.get("admin_state_up", True)
        weight = item.get("weight", 1)
        health = HEALTH.get(status, Health.UNKNOWN) if enabled else Health.DISABLED
        condition = (MemberCondition.DISABLED if not enabled else
                     MemberCondition.DRAINING if weight == 0 else MemberCondition.ENABLED)
        return Member(str(item.get("id")), item.get("address"), item.get("protocol_port"),
                      balancer, {"health": health, "status": status, "weight": weight,
                                 "condition": condition, "name": item.get("name")})

    @iterator
    def iterate_balancers(self) -> Iter[LoadBalancer]:
        """Every balancer of the project, page by page (``port`` ``None``)."""
        yield from self._listing("/loadbalancers", "loadbalancers", self._to_balancer)

    @operation
    def get_balancer(self, balancer_id: str) -> Op[LoadBalancer]:
        """A balancer with its listener's port and protocol; BalancerNotFound if absent."""
        if not isinstance(balancer_id, str) or not balancer_id or "/" in balancer_id:
            raise BalancerNotFound(str(balancer_id), driver=self)
        balancer = self._to_balancer((yield from self._describe(balancer_id)))
        listeners = balancer.extra["listener_ids"]
        if listeners:
            data = yield from self._json("GET", f"{API}/listeners/{listeners[0]}")
            listener = (data or {}).get("listener") or {}
            balancer.port = listener.get("protocol_port")
            balancer.extra["protocol"] = str(listener.get("protocol") or "").lower()
        pools = balancer.extra["pool_ids"]
        if pools:
            data = yield from self._json("GET", f"{API}/pools/{pools[0]}")
            algorithm = str(((data or {}).get("pool") or {}).get("lb_algorithm") or "")
            balancer.extra["algorithm"] = _FROM_OCTAVIA.get(algorithm, algorithm)
        return balancer

    # -- balancers --------------------------------------------------------------------------

    @operation
    def create_balancer(self, name: str, port: int, protocol: str = "http",
                        algorithm: Algorithm = Algorithm.ROUND_ROBIN,
                        members: Sequence[Member] = (), *,
                        ex_vip_subnet_id: str | None = None) -> Op[LoadBalancer]:
        """Create the balancer, its listener on ``port``, its pool and its
        members, waiting for ``ACTIVE`` between steps: all or nothing."""
        if not isinstance(name, str) or not name or len(name) > 255:
            raise InvalidInput(f"a balancer name is 1 to 255 characters: {name!r}", driver=self)
        self._check_port(port)
        wanted_protocol = self._check_protocol(protocol).upper()
        chosen = self._check_algorithm(algorithm)
        wanted = self._check_members(members)
        for member in wanted:
            if not member.ip:
                raise InvalidInput(f"an Octavia member needs an IP address: {member!r}",
                                   driver=self)
        subnet = ex_vip_subnet_id or self.vip_subnet_id
        if not subnet:
            raise InvalidInput("a balancer needs a VIP subnet: pass ex_vip_subnet_id= or the "
                               "driver's vip_subnet_id=", driver=self)

        def send() -> Op[dict[str, Any]]:
            data = yield from self._json("POST", f"{API}/loadbalancers", json={
                "loadbalancer": {"name": name, "vip_subnet_id": subnet}})
            return dict((data or {}).get("loadbalancer") or {})

        def find() -> Op[dict[str, Any] | None]:
            data = yield from self._json("GET", f"{API}/loadbalancers",
                                         params=[("name", name)])
            found = (data or {}).get("loadbalancers") or []
            return dict(found[0]) if found else None

        made = yield from create_once(send, find)
        balancer_id = str(made["id"])

        def build() -> Op[LoadBalancer]:
            listener = yield from self._step(
                balancer_id, "POST", "/listeners", key="listener", json={"listener": {
                    "loadbalancer_id": balancer_id, "protocol": wanted_protocol,
                    "protocol_port": port, "name": name}})
            yield from self._step(balancer_id, "POST", "/pools", key="pool", json={"pool": {
                "listener_id": listener["id"], "protocol": wanted_protocol,
                "lb_algorithm": ALGORITHMS[chosen], "name": name}})
            balancer = yield from self.get_balancer.op(balancer_id)
            for member in wanted:
                yield from self._add_member(balancer, member)
            yield from self._active(balancer_id)
            return (yield from self.get_balancer.op(balancer_id))

        def undo(_: BaseException) -> Op[None]:
            yield from self._send("DELETE", f"{API}/loadbalancers/{balancer_id}",
                                  params=[("cascade", "true")], ok=(404, 409))

        finished: LoadBalancer = yield Guarded(build(), undo)
        return finished

    @operation
    def destroy_balancer(self, balancer: LoadBalancer) -> Op[bool]:
        """Delete a balancer with everything under it (``cascade``)."""
        yield from self._step(balancer.id, "DELETE", f"/loadbalancers/{balancer.id}?"
                                "cascade=true", what=balancer.id, missing=BalancerNotFound)
        return True

    @operation
    def update_balancer(self, balancer: LoadBalancer, *, name: str | None = None,
                        algorithm: Algorithm | None = None, protocol: str | None = None,
                        port: int | None = None) -> Op[LoadBalancer]:
        """Rename the balancer, move its listener's port, change its pool's
        algorithm (a listener's protocol cannot change: NotSupported)."""
        chosen = None if algorithm is None else self._check_algorithm(algorithm)
        if port is not None:
            self._check_port(port)
        current = yield from self.get_balancer.op(balancer.id)
        if protocol is not None and self._check_protocol(protocol) != current.extra.get(
                "protocol"):
            raise NotSupported("an Octavia listener's protocol cannot change", driver=self)
        if name is not None and name != current.name:
            yield from self._step(current.id, "PUT", f"/loadbalancers/{current.id}",
                                    json={"loadbalancer": {"name": name}})
        if port is not None and port != current.port and current.extra["listener_ids"]:
            listener = current.extra["listener_ids"][0]
            yield from self._step(current.id, "PUT", f"/listeners/{listener}",
                                    json={"listener": {"protocol_port": port}})
        if chosen is not None and current.extra["pool_ids"]:
            pool = current.extra["pool_ids"][0]
            yield from self._step(current.id, "PUT", f"/pools/{pool}",
                                    json={"pool": {"lb_algorithm": ALGORITHMS[chosen]}})
        yield from self._active(current.id)
        return (yield from self.get_balancer.op(current.id))

    # -- members ---------------------------------------------------------------------------

    def _pool(self, balancer: LoadBalancer) -> Op[str]:
        pools = balancer.extra.get("pool_ids")
        if not pools:
            pools = (yield from self.get_balancer.op(balancer.id)).extra["pool_ids"]
        if not pools:
            raise NotFound(f"balancer {balancer.id} has no pool", driver=self)
        return str(pools[0])

    def _add_member(self, balancer: LoadBalancer, member: Member) -> Op[Member]:
        pool = yield from self._pool(balancer)
        body: dict[str, Any] = {"address": member.ip,
                                "protocol_port": member.port or balancer.port,
                                "weight": member.extra.get("weight", 1)}
        if member.id:
            body["name"] = member.id
        made = yield from self._step(balancer.id, "POST", f"/pools/{pool}/members",
                                       key="member", json={"member": body})
        return self._to_member(balancer, made)

    @operation
    def balancer_attach_member(self, balancer: LoadBalancer, member: Member) -> Op[Member]:
        """Add a member to the balancer's pool (by IP; ``member.id`` becomes
        its name); the member as Octavia made it (its id is Octavia's)."""
        self._check_member(member)
        if not member.ip:
            raise InvalidInput(f"an Octavia member needs an IP address: {member!r}",
                               driver=self)
        made = yield from self._add_member(balancer, member)
        made.extra = {**member.extra, **made.extra}
        return made

    @operation
    def balancer_detach_member(self, balancer: LoadBalancer, member: Member) -> Op[bool]:
        """Remove a member by its Octavia id; MemberNotFound if it is not one."""
        pool = yield from self._pool(balancer)
        yield from self._step(balancer.id, "DELETE", f"/pools/{pool}/members/{member.id}",
                                what=str(member.id), missing=MemberNotFound)
        return True

    @iterator
    def balancer_iterate_members(self, balancer: LoadBalancer) -> Iter[Member]:
        """The members of the balancer's pool with their health, page by page."""
        pool = yield from self._pool(balancer)
        yield from self._listing(f"/pools/{pool}/members", "members",
                               lambda item: self._to_member(balancer, item))

    # -- listeners, pools, health monitors --------------------------------------------------------

    @iterator
    def ex_iterate_listeners(self, balancer: LoadBalancer) -> Iter[dict[str, Any]]:
        """The balancer's listeners (Octavia's descriptions), page by page."""
        yield from self._listing("/listeners", "listeners", dict,
                               params=[("loadbalancer_id", balancer.id)])

    @operation
    def ex_list_listeners(self, balancer: LoadBalancer) -> Op[list[dict[str, Any]]]:
        """List the balancer's listeners."""
        return (yield from collect(self.ex_iterate_listeners.op(balancer)))

    @iterator
    def ex_iterate_pools(self, balancer: LoadBalancer) -> Iter[dict[str, Any]]:
        """The balancer's pools (Octavia's descriptions), page by page."""
        yield from self._listing("/pools", "pools", dict, params=[("loadbalancer_id", balancer.id)])

    @operation
    def ex_list_pools(self, balancer: LoadBalancer) -> Op[list[dict[str, Any]]]:
        """List the balancer's pools."""
        return (yield from collect(self.ex_iterate_pools.op(balancer)))

    @operation
    def ex_create_health_monitor(self, balancer: LoadBalancer, kind: str = "HTTP", *,
                                 delay: int = 5, timeout: int = 3, max_retries: int = 3,
                                 url_path: str = "/") -> Op[dict[str, Any]]:
        """Check the balancer's pool members (``kind``: HTTP, HTTPS, TCP,
        PING, UDP-CONNECT); the monitor as Octavia made it."""
        if kind not in ("HTTP", "HTTPS", "TCP", "PING", "UDP-CONNECT", "TLS-HELLO"):
            raise InvalidInput(f"unknown health monitor type {kind!r}", driver=self)
        for what, value in (("delay", delay), ("timeout", timeout),
                            ("max_retries", max_retries)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{what} must be a positive whole number: {value!r}",
                                   driver=self)
        pool = yield from self._pool(balancer)
        body: dict[str, Any] = {"pool_id": pool, "type": kind, "delay": delay,
                                "timeout": timeout, "max_retries": max_retries}
        if kind.startswith("HTTP"):
            body["url_path"] = url_path
        return (yield from self._step(balancer.id, "POST", "/healthmonitors",
                                        key="healthmonitor", json={"healthmonitor": body}))
