"""Amazon Elastic Load Balancing v2: Application (``alb``) and Network
(``nlb``) Load Balancers (the Query API 2015-12-01).

How the API maps onto overcast's model:

* A balancer's id is its ARN. ``create_balancer`` makes, as one operation,
  the balancer, a target group of the same name, the members' registrations
  and a listener on ``port`` forwarding to the group. If a step fails, what
  was made is removed again (a :class:`~overcast.runtime.effects.Guarded`
  step); a create whose answer is lost is looked up by name, so a retry never
  makes a second balancer. :meth:`destroy_balancer` removes the balancer
  (its listeners go with it) and the target groups it forwarded to.
* ``port`` and ``extra["protocol"]`` are the first listener's, read by
  :meth:`get_balancer` and ``create_balancer`` (a listing does not read
  listeners: its balancers have ``port`` ``None``). ``extra`` holds the DNS
  name, scheme, VPC, zones, state code, listeners and the target group's ARN.
  The state is ``active`` (RUNNING), ``provisioning`` (PENDING) or else ERROR.
* Members are the targets of that group: an EC2 instance by id (a node), or
  an IP address (``ex_target_type="ip"``). Their health comes from
  ``DescribeTargetHealth``: ``healthy``, ``unhealthy``, ``draining``;
  ``unused`` (a stopped instance, say) is unhealthy; ``initial`` and
  ``unavailable`` are unknown; the provider's word is ``extra["status"]``.
  A target being drained after it was detached is no longer listed.
* Every listing follows ``NextMarker`` (Libcloud's driver reads one page).
* Listeners, rules and target groups are ``ex_`` operations.
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
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
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
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.redact import Secret

__all__ = ["ApplicationLBDriver", "ElbV2Driver", "NetworkLBDriver"]

#: ``DescribeTargetHealth``'s states in overcast's vocabulary.
HEALTH: Final = {"healthy": Health.HEALTHY, "unhealthy": Health.UNHEALTHY,
                 "draining": Health.DRAINING, "unused": Health.UNHEALTHY,
                 "initial": Health.UNKNOWN, "unavailable": Health.UNKNOWN}
STATES: Final = {"active": State.RUNNING, "provisioning": State.PENDING,
                 "active_impaired": State.ERROR, "failed": State.ERROR}
#: The target group attribute an ALB's algorithm is set by.
ALB_ALGORITHMS: Final = {Algorithm.ROUND_ROBIN: "round_robin",
                         Algorithm.LEAST_CONNECTIONS: "least_outstanding_requests"}


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _listener(item: Element) -> dict[str, Any]:
    forwards = [text(action, "TargetGroupArn") for action in member_list(item, "DefaultActions")
                if text(action, "Type") == "forward"]
    return {"arn": text(item, "ListenerArn"), "port": _number(text(item, "Port")),
            "protocol": (text(item, "Protocol") or "").lower(),
            "target_group_arns": [arn for arn in forwards if arn]}


def _target_group(item: Element) -> dict[str, Any]:
    return {"arn": text(item, "TargetGroupArn"), "name": text(item, "TargetGroupName"),
            "protocol": (text(item, "Protocol") or "").lower(),
            "port": _number(text(item, "Port")), "target_type": text(item, "TargetType"),
            "vpc_id": text(item, "VpcId"),
            "balancer_arns": [m.text or "" for m in member_list(item, "LoadBalancerArns")]}


class ElbV2Driver(ElbQueryApi):
    """What the ``alb`` and ``nlb`` drivers share (ELBv2, API 2015-12-01).

    As :class:`~overcast.loadbalancer.aws.ElbQueryApi`, plus ``subnets``: the
    subnets new balancers are placed in unless ``create_balancer`` names its
    own (``ex_subnets``; AWS wants two in different zones for an ALB).
    """

    api_version: ClassVar[str] = "2015-12-01"
    #: ``application`` or ``network``: the balancers this driver makes and lists.
    balancer_type: ClassVar[str] = ""

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 region: str | None = None, token: str | Secret | None = None, *,
                 subnets: Sequence[str] = (), **options: Any) -> None:
        self.subnets = tuple(subnets)
        super().__init__(key, secret, region, token, **options)

    # -- reading answers -------------------------------------------------------------------

    def _to_balancer(self, item: Element) -> LoadBalancer | None:
        if text(item, "Type") != self.balancer_type:
            return None
        arn = text(item, "LoadBalancerArn") or ""
        code = text(item, "State", "Code") or ""
        extra: dict[str, Any] = {
            "dns_name": text(item, "DNSName"), "type": self.balancer_type,
            "scheme": text(item, "Scheme"), "vpc_id": text(item, "VpcId"), "status": code,
            "zones": [text(zone, "ZoneName") for zone in member_list(item, "AvailabilityZones")],
        }
        return LoadBalancer(arn, text(item, "LoadBalancerName") or "",
                            STATES.get(code, State.UNKNOWN), None, None, self, extra)

    def _to_member(self, balancer: LoadBalancer, item: Element) -> Member:
        target = text(item, "Target", "Id") or ""
        status = text(item, "TargetHealth", "State") or "unknown"
        by_ip = target[:1].isdigit() or ":" in target
        extra = {"health": HEALTH.get(status, Health.UNKNOWN), "status": status,
                 "reason": text(item, "TargetHealth", "Reason"),
                 "description": text(item, "TargetHealth", "Description")}
        return Member(target, target if by_ip else None, _number(text(item, "Target", "Port")),
                      balancer, extra)

    # -- balancers -------------------------------------------------------------------------

    @iterator
    def iterate_balancers(self) -> Iter[LoadBalancer]:
        """Every balancer of this driver's type in the region, page by page
        (their ``port`` is ``None``: listeners are read by ``get_balancer``)."""
        yield from self._pages("DescribeLoadBalancers", [], "LoadBalancers", self._to_balancer)

    def _described(self, params: Params, what: str) -> Op[LoadBalancer | None]:
        result = yield from self._read("DescribeLoadBalancers", params, what=what,
                                       missing=BalancerNotFound)
        for item in member_list(result, "LoadBalancers"):
            return self._to_balancer(item)
        return None

    @operation
    def get_balancer(self, balancer_id: str) -> Op[LoadBalancer]:
        """The balancer with ARN ``balancer_id``, with its listeners;
        BalancerNotFound if there is none (of this driver's type)."""
        if not isinstance(balancer_id, str) or not balancer_id.startswith("arn:"):
            raise BalancerNotFound(str(balancer_id), driver=self)
        found = yield from self._described([("LoadBalancerArns.member.1", balancer_id)],
                                           balancer_id)
        if found is None:
            raise BalancerNotFound(balancer_id, driver=self)
        listeners = yield from collect(self.ex_iterate_listeners.op(found))
        found.extra["listeners"] = listeners
        if listeners:
            found.port = listeners[0]["port"]
            found.extra["protocol"] = listeners[0]["protocol"]
            groups = listeners[0]["target_group_arns"]
            found.extra["target_group_arn"] = groups[0] if groups else None
        return found

    def _by_name(self, name: str) -> Op[LoadBalancer | None]:
        try:
            found = yield from self._described([("Names.member.1", name)], name)
        except BalancerNotFound:
            return None
        return None if found is None else (yield from self.get_balancer.op(found.id))

    def _check_name(self, name: object) -> str:
        """A balancer's (and its target group's) name: 1 to 32 letters,
        digits and inner hyphens, not beginning with ``internal-``."""
        if (not isinstance(name, str) or not 0 < len(name) <= 32 or name[0] == "-"
                or name[-1] == "-" or not name.replace("-", "").isalnum() or not name.isascii()
                or name.startswith("internal-")):
            raise InvalidInput(f"a balancer name is 1 to 32 letters, digits and inner hyphens: "
                               f"{name!r}", driver=self)
        return name

    @operation
    def create_balancer(self, name: str, port: int, protocol: str | None = None,
                        algorithm: Algorithm = Algorithm.ROUND_ROBIN,
                        members: Sequence[Member] = (), *,
                        ex_subnets: Sequence[str] | None = None,
                        ex_security_groups: Sequence[str] = (), ex_scheme: str | None = None,
                        ex_target_port: int | None = None,
                        ex_target_type: str | None = None) -> Op[LoadBalancer]:
        """Create the balancer, a target group (targets on ``ex_target_port``,
        default ``port``; ``ex_target_type`` ``instance`` or ``ip``, default:
        ``ip`` when every member is given by IP only), register ``members``
        and add a listener on ``port`` forwarding to it: all or nothing."""
        self._check_name(name)
        wanted_protocol = self._check_protocol(protocol or self.protocols[0])
        self._check_port(port)
        target_port = port if ex_target_port is None else self._check_port(
            ex_target_port, "ex_target_port")
        chosen = self._check_algorithm(algorithm)
        wanted = self._check_members(members)
        target_type = ex_target_type or (
            "ip" if wanted and all(not m.id for m in wanted) else "instance")
        if target_type not in ("instance", "ip"):
            raise InvalidInput(f"ex_target_type is instance or ip: {target_type!r}", driver=self)
        subnets = list(ex_subnets if ex_subnets is not None else self.subnets)
        if not subnets:
            raise InvalidInput("a balancer needs subnets: pass ex_subnets= or the driver's "
                               "subnets=", driver=self)
        params: Params = [("Name", name), ("Type", self.balancer_type)]
        params += [(f"Subnets.member.{n}", s) for n, s in enumerate(subnets, 1)]
        params += [(f"SecurityGroups.member.{n}", g) for n, g in enumerate(ex_security_groups, 1)]
        if ex_scheme is not None:
            params.append(("Scheme", ex_scheme))

        def send() -> Op[LoadBalancer]:
            result = yield from self._query("CreateLoadBalancer", params, what=name)
            made = [b for item in member_list(result, "LoadBalancers")
                    if (b := self._to_balancer(item)) is not None]
            if not made:
                raise BalancerNotFound(name, driver=self)
            return made[0]

        balancer = yield from create_once(send, lambda: self._by_name(name))
        if balancer.extra.get("listeners"):  # found made by an earlier attempt: complete
            return balancer
        made_groups: list[str] = []

        def build() -> Op[LoadBalancer]:
            group = yield from self.ex_create_target_group.op(
                name, target_port, wanted_protocol, vpc_id=balancer.extra["vpc_id"],
                target_type=target_type)
            made_groups.append(group["arn"])
            if self.balancer_type == "application":
                yield from self._set_algorithm(group["arn"], chosen)
            if wanted:
                yield from self._register(group["arn"], wanted, target_port)
            yield from self.ex_create_listener.op(balancer, port, wanted_protocol, group["arn"])
            return (yield from self.get_balancer.op(balancer.id))

        def undo(_: BaseException) -> Op[None]:
            yield from self._query("DeleteLoadBalancer", [("LoadBalancerArn", balancer.id)],
                                   idempotent=True, what=name)
            for arn in made_groups:
                yield from self._delete_group(arn)

        finished: LoadBalancer = yield Guarded(build(), undo)
        return finished

    def _first(self, made: list[dict[str, Any]], action: str) -> dict[str, Any]:
        """What a create answered; a ProviderError if it described nothing."""
        if not made:
            raise ProviderError(f"{action} answered without describing what it made",
                                driver=self)
        return made[0]

    def _set_algorithm(self, group_arn: str, algorithm: Algorithm) -> Op[None]:
        yield from self._query("ModifyTargetGroupAttributes", [
            ("TargetGroupArn", group_arn),
            ("Attributes.member.1.Key", "load_balancing.algorithm.type"),
            ("Attributes.member.1.Value", ALB_ALGORITHMS[algorithm])],
            idempotent=True, what=group_arn)

    def _delete_group(self, arn: str) -> Op[None]:
        yield from self._query("DeleteTargetGroup", [("TargetGroupArn", arn)], idempotent=True,
                               what=arn)

    @operation
    def destroy_balancer(self, balancer: LoadBalancer) -> Op[bool]:
        """Delete the balancer, its listeners and the target groups it forwards
        to; BalancerNotFound if it does not exist."""
        current = yield from self.get_balancer.op(balancer.id)
        groups = {arn for listener in current.extra["listeners"]
                  for arn in listener["target_group_arns"]}
        yield from self._query("DeleteLoadBalancer", [("LoadBalancerArn", current.id)],
                               idempotent=True, what=current.id, missing=BalancerNotFound)
        for arn in sorted(groups):
            yield from self._delete_group(arn)
        return True

    @operation
    def update_balancer(self, balancer: LoadBalancer, *, name: str | None = None,
                        algorithm: Algorithm | None = None, protocol: str | None = None,
                        port: int | None = None) -> Op[LoadBalancer]:
        """Change the first listener's port or protocol, or (ALB) the
        algorithm of its target group; a balancer cannot be renamed."""
        if name is not None and name != balancer.name:
            raise NotSupported("an ELBv2 balancer cannot be renamed", driver=self)
        chosen = None if algorithm is None else self._check_algorithm(algorithm)
        params: Params = []
        if protocol is not None:
            params.append(("Protocol", self._check_protocol(protocol).upper()))
        if port is not None:
            params.append(("Port", str(self._check_port(port))))
        current = yield from self.get_balancer.op(balancer.id)
        if params and current.extra["listeners"]:
            arn = current.extra["listeners"][0]["arn"]
            yield from self._query("ModifyListener", [("ListenerArn", arn), *params],
                                   idempotent=True, what=arn)
        group = current.extra.get("target_group_arn")
        if chosen is not None and group and self.balancer_type == "application":
            yield from self._set_algorithm(group, chosen)
        return (yield from self.get_balancer.op(current.id))

    # -- members ---------------------------------------------------------------------------

    def _group_of(self, balancer: LoadBalancer) -> Op[str]:
        """The ARN of the target group a balancer's members are in."""
        arn = balancer.extra.get("target_group_arn")
        if arn:
            return str(arn)
        current = yield from self.get_balancer.op(balancer.id)
        arn = current.extra.get("target_group_arn")
        if not arn:
            raise NotFound(f"{balancer.id} forwards to no target group", driver=self)
        balancer.extra["target_group_arn"] = arn
        return str(arn)

    def _register(self, group_arn: str, wanted: Sequence[Member], port: int | None) -> Op[None]:
        targets = [{"Id": m.id or m.ip or "", "Port": str(m.port or port)} if (m.port or port)
                   else {"Id": m.id or m.ip or ""} for m in wanted]
        yield from self._query("RegisterTargets", [("TargetGroupArn", group_arn),
                                                   *member_params("Targets", targets)],
                               idempotent=True, what=group_arn)

    @operation
    def balancer_attach_member(self, balancer: LoadBalancer, member: Member) -> Op[Member]:
        """Register a target: an instance by ``member.id``, else an IP address
        (the target group's type decides which it takes)."""
        self._check_member(member)
        group = yield from self._group_of(balancer)
        yield from self._register(group, [member], member.port or balancer.port)
        return Member(member.id or member.ip, member.ip, member.port or balancer.port, balancer,
                      dict(member.extra))

    @operation
    def balancer_detach_member(self, balancer: LoadBalancer, member: Member) -> Op[bool]:
        """Deregister a target; MemberNotFound if it is not registered."""
        group = yield from self._group_of(balancer)
        current = yield from collect(self.balancer_iterate_members.op(balancer))
        found = next((m for m in current if m.id in (member.id, member.ip)), None)
        if found is None:
            raise MemberNotFound(str(member.id or member.ip), driver=self)
        target = {"Id": found.id or ""} | ({"Port": str(found.port)} if found.port else {})
        yield from self._query("DeregisterTargets", [("TargetGroupArn", group),
                                                     *member_params("Targets", [target])],
                               idempotent=True, what=group)
        return True

    @iterator
    def balancer_iterate_members(self, balancer: LoadBalancer) -> Iter[Member]:
        """The targets of the balancer's group with their health (``DescribeTargetHealth``)."""
        group = yield from self._group_of(balancer)
        result = yield from self._read("DescribeTargetHealth", [("TargetGroupArn", group)],
                                       what=group)
        for item in member_list(result, "TargetHealthDescriptions"):
            if (text(item, "TargetHealth", "State") or "") != "draining":
                yield Emit(self._to_member(balancer, item))

    # -- listeners, rules and target groups ----------------------------------------------------

    @iterator
    def ex_iterate_listeners(self, balancer: LoadBalancer) -> Iter[dict[str, Any]]:
        """The balancer's listeners (``arn``, ``port``, ``protocol``,
        ``target_group_arns``), page by page."""
        yield from self._pages("DescribeListeners", [("LoadBalancerArn", balancer.id)],
                               "Listeners", _listener, missing=BalancerNotFound)

    @operation
    def ex_list_listeners(self, balancer: LoadBalancer) -> Op[list[dict[str, Any]]]:
        """List a balancer's listeners."""
        return (yield from collect(self.ex_iterate_listeners.op(balancer)))

    @operation
    def ex_create_listener(self, balancer: LoadBalancer, port: int, protocol: str,
                           target_group_arn: str) -> Op[dict[str, Any]]:
        """Add a listener on ``port`` forwarding to a target group."""
        params: Params = [
            ("LoadBalancerArn", balancer.id),
            ("Protocol", self._check_protocol(protocol).upper()),
            ("Port", str(self._check_port(port))),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", target_group_arn)]
        result = yield from self._query("CreateListener", params, what=balancer.id,
                                        missing=BalancerNotFound)
        return self._first([_listener(item) for item in member_list(result, "Listeners")],
                           "CreateListener")

    @operation
    def ex_delete_listener(self, listener_arn: str) -> Op[bool]:
        """Delete a listener by ARN."""
        yield from self._query("DeleteListener", [("ListenerArn", listener_arn)],
                               idempotent=True, what=listener_arn)
        return True

    @iterator
    def ex_iterate_rules(self, listener_arn: str) -> Iter[dict[str, Any]]:
        """A listener's rules (``arn``, ``priority``, ``default``, ``target_group_arns``)."""

        def rule(item: Element) -> dict[str, Any]:
            forwards = [text(a, "TargetGroupArn") for a in member_list(item, "Actions")]
            return {"arn": text(item, "RuleArn"), "priority": text(item, "Priority"),
                    "default": text(item, "IsDefault") == "true",
                    "target_group_arns": [arn for arn in forwards if arn]}

        yield from self._pages("DescribeRules", [("ListenerArn", listener_arn)], "Rules", rule)

    @operation
    def ex_list_rules(self, listener_arn: str) -> Op[list[dict[str, Any]]]:
        """List a listener's rules."""
        return (yield from collect(self.ex_iterate_rules.op(listener_arn)))

    @iterator
    def ex_iterate_target_groups(self, balancer: LoadBalancer | None = None
                                 ) -> Iter[dict[str, Any]]:
        """Target groups (``arn``, ``name``, ``protocol``, ``port``,
        ``target_type``, ``vpc_id``, ``balancer_arns``): all of the region,
        or those of ``balancer``; page by page."""
        params: Params = [] if balancer is None else [("LoadBalancerArn", balancer.id)]
        yield from self._pages("DescribeTargetGroups", params, "TargetGroups", _target_group,
                               missing=BalancerNotFound)

    @operation
    def ex_list_target_groups(self, balancer: LoadBalancer | None = None
                              ) -> Op[list[dict[str, Any]]]:
        """List target groups (all of the region, or a balancer's)."""
        return (yield from collect(self.ex_iterate_target_groups.op(balancer)))

    @operation
    def ex_create_target_group(self, name: str, port: int, protocol: str, *, vpc_id: str,
                               target_type: str = "instance") -> Op[dict[str, Any]]:
        """Create a target group in ``vpc_id``; its description."""
        params: Params = [("Name", self._check_name(name)),
                          ("Protocol", self._check_protocol(protocol).upper()),
                          ("Port", str(self._check_port(port))), ("VpcId", vpc_id),
                          ("TargetType", target_type)]
        result = yield from self._query("CreateTargetGroup", params, what=name)
        return self._first([_target_group(item) for item in member_list(result, "TargetGroups")],
                           "CreateTargetGroup")

    @operation
    def ex_delete_target_group(self, target_group_arn: str) -> Op[bool]:
        """Delete a target group by ARN."""
        yield from self._delete_group(target_group_arn)
        return True


class ApplicationLBDriver(ElbV2Driver):
    """Application Load Balancers (HTTP): round robin or least outstanding
    requests (``LEAST_CONNECTIONS``), set on the target group."""

    name: ClassVar[str] = "alb"
    label: ClassVar[str] = "ALB"
    balancer_type: ClassVar[str] = "application"
    protocols: ClassVar[tuple[str, ...]] = ("http",)
    algorithms: ClassVar[tuple[Algorithm, ...]] = (Algorithm.ROUND_ROBIN,
                                                   Algorithm.LEAST_CONNECTIONS)


class NetworkLBDriver(ElbV2Driver):
    """Network Load Balancers (TCP, UDP): connections are spread by a hash of
    their flow, the one choice, which overcast names ``ROUND_ROBIN``."""

    name: ClassVar[str] = "nlb"
    label: ClassVar[str] = "NLB"
    balancer_type: ClassVar[str] = "network"
    protocols: ClassVar[tuple[str, ...]] = ("tcp", "udp")
    algorithms: ClassVar[tuple[Algorithm, ...]] = (Algorithm.ROUND_ROBIN,)
