"""Amazon Elastic Load Balancing, classic (the Query API 2012-06-01).

How the API maps onto overcast's model:

* A balancer's id is its name (classic balancers have no other id); its
  ``port`` is its first listener's, ``ip`` is ``None`` (a balancer is reached
  by ``extra["dns_name"]``); ``extra`` holds the listeners, zones, subnets,
  VPC, the instance port and the health check. Classic balancers have no state:
  one that is listed is ``RUNNING``.
* Members are EC2 instances, attached by instance id (a member given only by
  IP is :class:`~overcast.errors.InvalidInput`, before anything is sent),
  on the instance port of the balancer. Their health comes from
  ``DescribeInstanceHealth`` (``InService``: healthy, ``OutOfService``:
  unhealthy, ``Unknown``: unknown; the provider's word in ``extra["status"]``).
* Listings follow ``NextMarker`` page by page (Libcloud's driver reads the
  first page only). ``DescribeLoadBalancers`` takes up to 400 a page.
* ``DeleteLoadBalancer`` and ``DeregisterInstancesFromLoadBalancer`` succeed
  on AWS for what does not exist; the driver looks first, so a missing balancer
  is :class:`~overcast.errors.BalancerNotFound` and a missing member
  :class:`~overcast.errors.MemberNotFound`.
* ``create_balancer`` makes the balancer and registers its members as one
  operation: if the registration fails, the balancer is deleted again. A
  create whose answer is lost is looked up by name, never sent twice.
* The health check is :meth:`ElasticLBDriver.ex_configure_health_check`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final
from xml.etree.ElementTree import Element

from overcast.errors import BalancerNotFound
from overcast.errors import InvalidInput
from overcast.errors import MemberNotFound
from overcast.errors import NotSupported
from overcast.loadbalancer.aws import ElbQueryApi
from overcast.loadbalancer.aws import Params
from overcast.loadbalancer.aws import member_params
from overcast.loadbalancer.aws import members as member_list
from overcast.loadbalancer.aws import text
from overcast.loadbalancer.base import Algorithm
from overcast.loadbalancer.base import Health
from overcast.loadbalancer.base import LoadBalancer
from overcast.loadbalancer.base import Member
from overcast.loadbalancer.base import State
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import create_once
from overcast.runtime.ops import or_none

__all__ = ["ElasticLBDriver"]

#: ``DescribeInstanceHealth``'s states in overcast's vocabulary.
HEALTH: Final = {"InService": Health.HEALTHY, "OutOfService": Health.UNHEALTHY,
                 "Unknown": Health.UNKNOWN}


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


class ElasticLBDriver(ElbQueryApi):
    """Amazon Elastic Load Balancing, classic balancers (API 2012-06-01).

    ``ElasticLBDriver(key, secret, region)`` as in Libcloud; see
    :class:`~overcast.loadbalancer.aws.ElbQueryApi` for the options.
    """

    name: ClassVar[str] = "elb"
    label: ClassVar[str] = "ELB"
    api_version: ClassVar[str] = "2012-06-01"
    protocols: ClassVar[tuple[str, ...]] = ("http", "tcp")
    algorithms: ClassVar[tuple[Algorithm, ...]] = (Algorithm.ROUND_ROBIN,)

    # -- reading answers -------------------------------------------------------------------

    def _to_balancer(self, item: Element) -> LoadBalancer:
        listeners = [
            {"protocol": (text(entry, "Listener", "Protocol") or "").lower(),
             "port": _number(text(entry, "Listener", "LoadBalancerPort")),
             "instance_protocol": (text(entry, "Listener", "InstanceProtocol") or "").lower(),
             "instance_port": _number(text(entry, "Listener", "InstancePort"))}
            for entry in member_list(item, "ListenerDescriptions")
        ]
        first: dict[str, Any] = listeners[0] if listeners else {}
        name = text(item, "LoadBalancerName") or ""
        check = {key: text(item, "HealthCheck", key) for key in
                 ("Target", "Interval", "Timeout", "UnhealthyThreshold", "HealthyThreshold")}
        extra: dict[str, Any] = {
            "dns_name": text(item, "DNSName"),
            "listeners": listeners,
            "protocol": first.get("protocol"),
            "instance_port": first.get("instance_port"),
            "zones": [entry.text or "" for entry in member_list(item, "AvailabilityZones")],
            "subnets": [entry.text or "" for entry in member_list(item, "Subnets")],
            "vpc_id": text(item, "VPCId"),
            "scheme": text(item, "Scheme"),
            "instance_ids": [text(entry, "InstanceId") or ""
                             for entry in member_list(item, "Instances")],
            "health_check": {k: v for k, v in check.items() if v is not None},
            "algorithm": Algorithm.ROUND_ROBIN,
        }
        return LoadBalancer(name, name, State.RUNNING, None, first.get("port"), self, extra)

    def _to_member(self, balancer: LoadBalancer, item: Element) -> Member:
        instance_id = text(item, "InstanceId") or ""
        status = text(item, "State") or "Unknown"
        extra = {"health": HEALTH.get(status, Health.UNKNOWN), "status": status,
                 "reason": text(item, "ReasonCode"), "description": text(item, "Description")}
        return Member(instance_id, None, balancer.extra.get("instance_port"), balancer, extra)

    # -- balancers -------------------------------------------------------------------------

    @iterator
    def iterate_balancers(self) -> Iter[LoadBalancer]:
        """Every classic balancer of the region, page by page (``NextMarker``)."""
        yield from self._pages("DescribeLoadBalancers", [], "LoadBalancerDescriptions",
                               self._to_balancer)

    def _check_name(self, name: object) -> str:
        """A classic balancer's name: 1 to 32 letters, digits and hyphens, no
        hyphen at either end."""
        if (not isinstance(name, str) or not 0 < len(name) <= 32 or name[0] == "-"
                or name[-1] == "-" or not name.replace("-", "").isalnum() or not name.isascii()):
            raise InvalidInput(f"an ELB name is 1 to 32 letters, digits and inner hyphens: "
                               f"{name!r}", driver=self)
        return name

    @operation
    def get_balancer(self, balancer_id: str) -> Op[LoadBalancer]:
        """The classic balancer named ``balancer_id``; BalancerNotFound if none."""
        if not isinstance(balancer_id, str) or not balancer_id:
            raise InvalidInput(f"a balancer id must be a name: {balancer_id!r}", driver=self)
        result = yield from self._read("DescribeLoadBalancers",
                                       [("LoadBalancerNames.member.1", balancer_id)],
                                       what=balancer_id, missing=BalancerNotFound)
        for item in member_list(result, "LoadBalancerDescriptions"):
            return self._to_balancer(item)
        raise BalancerNotFound(balancer_id, driver=self)

    @operation
    def create_balancer(self, name: str, port: int, protocol: str = "http",
                        algorithm: Algorithm = Algorithm.ROUND_ROBIN,
                        members: Sequence[Member] = (), *, ex_instance_port: int | None = None,
                        ex_zones: Sequence[str] | None = None,
                        ex_subnets: Sequence[str] | None = None,
                        ex_security_groups: Sequence[str] = ()) -> Op[LoadBalancer]:
        """Create a classic balancer listening on ``port`` and forwarding to
        ``ex_instance_port`` (default: ``port``) of its ``members`` (EC2
        instances by id), in ``ex_zones`` (default: the region's zone ``a``)
        or ``ex_subnets`` of a VPC. If registering the members fails, the
        balancer is deleted again."""
        self._check_name(name)
        listener = self._listener(protocol, port, ex_instance_port)
        self._check_algorithm(algorithm)
        wanted = self._check_members(members, by_id=True)
        params: Params = member_params("Listeners", [listener])
        params.append(("LoadBalancerName", name))
        if ex_subnets:
            params += [(f"Subnets.member.{n}", s) for n, s in enumerate(ex_subnets, 1)]
        else:
            zones = ex_zones or [f"{self.region}a"]
            params += [(f"AvailabilityZones.member.{n}", z) for n, z in enumerate(zones, 1)]
        params += [(f"SecurityGroups.member.{n}", g) for n, g in enumerate(ex_security_groups, 1)]

        def send() -> Op[LoadBalancer]:
            yield from self._query("CreateLoadBalancer", params, what=name)
            return (yield from self.get_balancer.op(name))

        def find() -> Op[LoadBalancer | None]:
            return (yield from or_none(self.get_balancer.op(name), BalancerNotFound))

        balancer = yield from create_once(send, find)
        if not wanted:
            return balancer

        def register() -> Op[LoadBalancer]:
            yield from self._register(name, wanted)
            return (yield from self.get_balancer.op(name))

        def undo(_: BaseException) -> Op[None]:
            yield from self._query("DeleteLoadBalancer", [("LoadBalancerName", name)],
                                   idempotent=True, what=name)

        made: LoadBalancer = yield Guarded(register(), undo)
        return made

    def _listener(self, protocol: object, port: object,
                  instance_port: object | None) -> dict[str, str]:
        """A ``Listeners.member`` entry, checked."""
        wanted = self._check_protocol(protocol).upper()
        front = self._check_port(port)
        back = front if instance_port is None else self._check_port(instance_port,
                                                                     "ex_instance_port")
        return {"Protocol": wanted, "LoadBalancerPort": str(front),
                "InstanceProtocol": wanted, "InstancePort": str(back)}

    @operation
    def destroy_balancer(self, balancer: LoadBalancer) -> Op[bool]:
        """Delete a classic balancer; BalancerNotFound if it does not exist."""
        yield from self.get_balancer.op(balancer.id)
        yield from self._query("DeleteLoadBalancer", [("LoadBalancerName", balancer.id)],
                               idempotent=True, what=balancer.id)
        return True

    @operation
    def update_balancer(self, balancer: LoadBalancer, *, name: str | None = None,
                        algorithm: Algorithm | None = None, protocol: str | None = None,
                        port: int | None = None) -> Op[LoadBalancer]:
        """Change the protocol or port of a classic balancer's first listener
        (it is replaced); a classic balancer cannot be renamed (NotSupported)
        and balances round robin only."""
        if name is not None and name != balancer.name:
            raise NotSupported("a classic ELB balancer cannot be renamed", driver=self)
        if algorithm is not None:
            self._check_algorithm(algorithm)
        if protocol is not None:
            self._check_protocol(protocol)
        if port is not None:
            self._check_port(port)
        current = yield from self.get_balancer.op(balancer.id)
        if protocol is None and port is None:
            return current
        listener = self._listener(protocol or current.extra["protocol"],
                                  port if port is not None else current.port,
                                  current.extra.get("instance_port"))
        if current.port is not None:
            yield from self._query("DeleteLoadBalancerListeners",
                                   [("LoadBalancerName", current.id),
                                    ("LoadBalancerPorts.member.1", str(current.port))],
                                   idempotent=True, what=current.id, missing=BalancerNotFound)
        yield from self._query("CreateLoadBalancerListeners",
                               [("LoadBalancerName", current.id),
                                *member_params("Listeners", [listener])],
                               idempotent=True, what=current.id, missing=BalancerNotFound)
        return (yield from self.get_balancer.op(current.id))

    # -- members ---------------------------------------------------------------------------

    def _register(self, name: str, wanted: Sequence[Member]) -> Op[None]:
        yield from self._query(
            "RegisterInstancesWithLoadBalancer",
            [("LoadBalancerName", name),
             *member_params("Instances", [{"InstanceId": m.id or ""} for m in wanted])],
            idempotent=True, what=name, missing=BalancerNotFound)

    @operation
    def balancer_attach_member(self, balancer: LoadBalancer, member: Member) -> Op[Member]:
        """Register an EC2 instance (``member.id``) with a classic balancer."""
        self._check_member(member, by_id=True)
        yield from self._register(balancer.id, [member])
        port = balancer.extra.get("instance_port", member.port)
        return Member(member.id, member.ip, port, balancer, dict(member.extra))

    @operation
    def balancer_detach_member(self, balancer: LoadBalancer, member: Member) -> Op[bool]:
        """Deregister an instance; MemberNotFound if it is not registered."""
        current = yield from self.get_balancer.op(balancer.id)
        if member.id not in current.extra["instance_ids"]:
            raise MemberNotFound(str(member.id), driver=self)
        yield from self._query(
            "DeregisterInstancesFromLoadBalancer",
            [("LoadBalancerName", balancer.id),
             ("Instances.member.1.InstanceId", str(member.id))],
            idempotent=True, what=balancer.id, missing=BalancerNotFound)
        return True

    @iterator
    def balancer_iterate_members(self, balancer: LoadBalancer) -> Iter[Member]:
        """The registered instances with their health (``DescribeInstanceHealth``)."""
        result = yield from self._read("DescribeInstanceHealth",
                                       [("LoadBalancerName", balancer.id)],
                                       what=balancer.id, missing=BalancerNotFound)
        for item in member_list(result, "InstanceStates"):
            yield Emit(self._to_member(balancer, item))

    # -- health check ----------------------------------------------------------------------

    @operation
    def ex_configure_health_check(self, balancer: LoadBalancer, target: str = "TCP:80", *,
                                  interval: int = 30, timeout: int = 5,
                                  unhealthy_threshold: int = 2,
                                  healthy_threshold: int = 10) -> Op[dict[str, str]]:
        """Set how the balancer checks its instances (``target`` as
        ``HTTP:8080/health`` or ``TCP:8080``); the check as now configured."""
        if not isinstance(target, str) or ":" not in target:
            raise InvalidInput(f"a health check target is PROTOCOL:PORT[/path]: {target!r}",
                               driver=self)
        numbers = {"Interval": interval, "Timeout": timeout,
                   "UnhealthyThreshold": unhealthy_threshold,
                   "HealthyThreshold": healthy_threshold}
        for key, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{key} must be a positive whole number: {value!r}",
                                   driver=self)
        params: Params = [("LoadBalancerName", balancer.id), ("HealthCheck.Target", target)]
        params += [(f"HealthCheck.{key}", str(value)) for key, value in numbers.items()]
        result = yield from self._query("ConfigureHealthCheck", params, idempotent=True,
                                        what=balancer.id, missing=BalancerNotFound)
        keys = ("Target", *numbers)
        found = {key: text(result, "HealthCheck", key) for key in keys}
        return {key: value for key, value in found.items() if value}
