"""EC2 security groups (``ex_`` operations): list, create, allow ingress, delete."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import ClassVar
from xml.etree.ElementTree import Element

from overcast.compute.drivers.ec2.api import CONTROL
from overcast.compute.drivers.ec2.api import TOKEN_TAG
from overcast.compute.drivers.ec2.api import EC2Api
from overcast.compute.drivers.ec2.api import Params
from overcast.compute.drivers.ec2.api import SecurityGroupNotFound
from overcast.compute.drivers.ec2.api import filters as filter_params
from overcast.compute.drivers.ec2.api import integer
from overcast.compute.drivers.ec2.api import items
from overcast.compute.drivers.ec2.api import return_value
from overcast.compute.drivers.ec2.api import tag_spec
from overcast.compute.drivers.ec2.api import tags
from overcast.compute.drivers.ec2.api import text
from overcast.errors import AlreadyExists
from overcast.errors import InvalidInput
from overcast.models import Model
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import find_first

__all__ = ["EC2SecurityGroups", "SecurityGroup"]


@dataclass(slots=True, eq=False)
class SecurityGroup(Model[EC2Api]):
    """An EC2 security group.

    ``ingress_rules`` and ``egress_rules`` are dicts with ``protocol``,
    ``from_port``, ``to_port``, ``cidr_ips`` and ``group_ids``. Equal when
    ``id`` and driver are.
    """

    _kind: ClassVar[str] = "security group"

    id: str
    name: str
    description: str | None = None
    vpc_id: str | None = None
    owner_id: str | None = None
    ingress_rules: list[dict[str, Any]] = field(default_factory=list)
    egress_rules: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    driver: EC2Api | None = field(default=None, repr=False)


def _rules(item: Element, set_name: str) -> list[dict[str, Any]]:
    return [
        {
            "protocol": text(rule, "ipProtocol"),
            "from_port": integer(text(rule, "fromPort")),
            "to_port": integer(text(rule, "toPort")),
            "cidr_ips": [text(r, "cidrIp") for r in items(rule, "ipRanges")],
            "group_ids": [text(g, "groupId") for g in items(rule, "groups")],
        }
        for rule in items(item, set_name)
    ]


class EC2SecurityGroups(EC2Api):
    """Security groups."""

    def _to_group(self, item: Element) -> SecurityGroup:
        return SecurityGroup(
            text(item, "groupId") or "",
            text(item, "groupName") or "",
            text(item, "groupDescription"),
            text(item, "vpcId"),
            text(item, "ownerId"),
            _rules(item, "ipPermissions"),
            _rules(item, "ipPermissionsEgress"),
            tags(item),
            driver=self,
        )

    def _groups(self, params: Params) -> Iter[SecurityGroup]:
        return self._pages("DescribeSecurityGroups", params, "securityGroupInfo",
                           lambda item: [self._to_group(item)])

    def _group_id(self, group: SecurityGroup | str) -> str:
        value = group.id if isinstance(group, SecurityGroup) else group
        return self._check_id(value, SecurityGroupNotFound)

    @operation
    def ex_list_security_groups(
        self, filters: Mapping[str, str | Sequence[str]] | None = None
    ) -> Op[list[SecurityGroup]]:
        """The security groups of the region (``DescribeSecurityGroups``, every
        page), narrowed by ``filters`` (``{"group-name": "web"}``) if given."""
        return (yield from collect(self._groups(filter_params(filters))))

    @operation
    def ex_create_security_group(
        self, name: str, description: str, vpc_id: str | None = None
    ) -> Op[SecurityGroup]:
        """Create a security group (``CreateSecurityGroup``) in ``vpc_id`` (default:
        the default VPC); :class:`~overcast.errors.AlreadyExists` if the name is taken."""
        group_name = self._check_tag_value("security group name", name)
        if group_name.lower().startswith("sg-"):
            raise InvalidInput(f"a security group name may not start with sg-: {name!r}",
                               driver=self)
        about = self._check_tag_value("security group description", description)
        params: Params = [("GroupName", group_name), ("GroupDescription", about)]
        if vpc_id is not None:
            params.append(("VpcId", self._check_ref("vpc_id", vpc_id)))

        def send(token: str) -> Op[SecurityGroup]:
            root = yield from self._query(
                "CreateSecurityGroup", [*params, *tag_spec("security-group", {TOKEN_TAG: token})],
                what=group_name,
            )
            return SecurityGroup(text(root, "groupId") or "", group_name, about, vpc_id,
                                 tags={TOKEN_TAG: token}, driver=self)

        return (yield from self._create_tagged(send, self._groups))

    @operation
    def ex_authorize_security_group_ingress(self, group: SecurityGroup | str, from_port: int,
                                            to_port: int, cidr_ips: Sequence[str] = ("0.0.0.0/0",),
                                            protocol: str = "tcp") -> Op[bool]:
        """Allow inbound ``protocol`` traffic on ports ``from_port``-``to_port``
        from ``cidr_ips`` (``AuthorizeSecurityGroupIngress``).
        :class:`~overcast.errors.AlreadyExists` if the rule is there already."""
        group_id = self._group_id(group)
        for port in (from_port, to_port):
            if isinstance(port, bool) or not isinstance(port, int) or not -1 <= port <= 65535:
                raise InvalidInput(f"ports are integers from -1 to 65535: {port!r}", driver=self)
        if not isinstance(protocol, str) or not protocol or CONTROL.search(protocol):
            raise InvalidInput(f"invalid protocol: {protocol!r}", driver=self)
        cidrs = [cidr_ips] if isinstance(cidr_ips, str) else list(cidr_ips)
        if not cidrs or not all(isinstance(c, str) and "/" in c for c in cidrs):
            raise InvalidInput(f"cidr_ips must be CIDR blocks: {cidr_ips!r}", driver=self)
        params: Params = [
            ("GroupId", group_id),
            ("IpPermissions.1.IpProtocol", protocol),
            ("IpPermissions.1.FromPort", str(from_port)),
            ("IpPermissions.1.ToPort", str(to_port)),
        ]
        for i, cidr in enumerate(cidrs, 1):
            params.append((f"IpPermissions.1.IpRanges.{i}.CidrIp", cidr))

        def send() -> Op[bool]:
            root = yield from self._query("AuthorizeSecurityGroupIngress", params, what=group_id)
            return return_value(root)

        def resend() -> Op[bool | None]:
            # Sent once more: a rule that is there already means the lost one took effect.
            try:
                return (yield from send())
            except AlreadyExists:
                return True

        return (yield from self._settled(send, resend))

    @operation
    def ex_delete_security_group(self, group: SecurityGroup | str) -> Op[bool]:
        """Delete a security group (``DeleteSecurityGroup``)."""
        group_id = self._group_id(group)

        def exists() -> Op[bool]:
            found = yield from find_first(self._groups(filter_params({"group-id": group_id})),
                                          lambda _: True)
            return found is not None

        return (yield from self._remove(
            "DeleteSecurityGroup", [("GroupId", group_id)], group_id, exists
        ))
