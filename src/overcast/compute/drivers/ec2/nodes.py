"""EC2 instances (nodes), instance types (sizes) and availability zones (locations)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final
from xml.etree.ElementTree import Element

from overcast.compute.base import NodeSpec
from overcast.compute.base import PowerChange
from overcast.compute.drivers.ec2.api import MAX_TAG_VALUE
from overcast.compute.drivers.ec2.api import TOKEN_TAG
from overcast.compute.drivers.ec2.api import EC2Api
from overcast.compute.drivers.ec2.api import Params
from overcast.compute.drivers.ec2.api import boolean
from overcast.compute.drivers.ec2.api import child_text
from overcast.compute.drivers.ec2.api import filters
from overcast.compute.drivers.ec2.api import integer
from overcast.compute.drivers.ec2.api import items
from overcast.compute.drivers.ec2.api import moment
from overcast.compute.drivers.ec2.api import named
from overcast.compute.drivers.ec2.api import numbered
from overcast.compute.drivers.ec2.api import return_value
from overcast.compute.drivers.ec2.api import set_items
from overcast.compute.drivers.ec2.api import tag_set
from overcast.compute.drivers.ec2.api import tag_spec
from overcast.compute.drivers.ec2.api import text
from overcast.compute.drivers.ec2.api import token_filter
from overcast.compute.models import Node
from overcast.compute.models import NodeAuth
from overcast.compute.models import NodeAuthSSHKey
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.compute.models import NodeSize
from overcast.compute.models import NodeState
from overcast.errors import InvalidInput
from overcast.errors import KeyPairAlreadyExists
from overcast.errors import KeyPairNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import SizeNotFound
from overcast.pricing import price_date
from overcast.pricing import size_prices
from overcast.runtime.effects import Call
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import pure

__all__ = ["EC2Nodes"]

MAX_USER_DATA: Final = 16 * 1024
_PERFORMANCE: Final = re.compile(r"(\d+)(?:\.\d+)? (?:Gigabit|Megabit)")

_NODE_STATES: Final = {
    "pending": NodeState.PENDING,
    "running": NodeState.RUNNING,
    "shutting-down": NodeState.STOPPING,
    "terminated": NodeState.TERMINATED,
    "stopping": NodeState.STOPPING,
    "stopped": NodeState.STOPPED,
}
#: The EC2 action that makes each power change.
_POWER_ACTIONS: Final[Mapping[PowerChange, str]] = {
    "reboot": "RebootInstances",
    "start": "StartInstances",
    "stop": "StopInstances",
}
#: Country of each region group (the first part of a region name).
_COUNTRIES: Final = {
    "us": "US", "ca": "CA", "sa": "BR", "mx": "MX", "af": "ZA", "il": "IL",
    "cn": "CN", "me": None, "ap": None, "eu": None,
}
_REGION_COUNTRIES: Final = {
    "eu-west-1": "IE", "eu-west-2": "GB", "eu-west-3": "FR", "eu-central-1": "DE",
    "eu-central-2": "CH", "eu-north-1": "SE", "eu-south-1": "IT", "eu-south-2": "ES",
    "ap-northeast-1": "JP", "ap-northeast-2": "KR", "ap-northeast-3": "JP",
    "ap-southeast-1": "SG", "ap-southeast-2": "AU", "ap-southeast-3": "ID",
    "ap-southeast-4": "AU", "ap-southeast-5": "MY", "ap-south-1": "IN", "ap-south-2": "IN",
    "ap-east-1": "HK", "me-south-1": "BH", "me-central-1": "AE",
}


def _extensions(options: Mapping[str, Any]) -> Params:
    """RunInstances parameters of Libcloud's other ``create_node`` keywords."""
    params: Params = []
    if options["ex_terminate_on_shutdown"]:
        params.append(("InstanceInitiatedShutdownBehavior", "terminate"))
    if options["ex_spot"]:
        params.append(("InstanceMarketOptions.MarketType", "spot"))
        if options["ex_spot_max_price"] is not None:
            params.append(("InstanceMarketOptions.SpotOptions.MaxPrice",
                           str(options["ex_spot_max_price"])))
    profile = options["ex_iamprofile"]
    if profile:
        kind = "Arn" if profile.startswith("arn:aws:iam:") else "Name"
        params.append((f"IamInstanceProfile.{kind}", profile))
    if options["ex_ebs_optimized"]:
        params.append(("EbsOptimized", "true"))
    if options["ex_placement_group"]:
        params.append(("Placement.GroupName", options["ex_placement_group"]))
    for number, mapping in enumerate(options["ex_blockdevicemappings"] or (), 1):
        for key, value in mapping.items():
            if isinstance(value, Mapping):
                params += [(f"BlockDeviceMapping.{number}.{key}.{k}", _param(v))
                           for k, v in value.items()]
            else:
                params.append((f"BlockDeviceMapping.{number}.{key}", _param(value)))
    return params


def _bandwidth(performance: str | None) -> int | None:
    """``NodeSize.bandwidth`` as Libcloud's EC2 table gives it: the whole number
    of the network performance (``"Up to 10 Gigabit"`` 10, ``"12500 Megabit"``
    12500, ``"Up to 12.5 Gigabit"`` 12); None for words (``"Moderate"``)."""
    found = _PERFORMANCE.search(performance or "")
    return int(found.group(1)) if found else None


def _param(value: object) -> str:
    """A query value as EC2 reads it (booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


class EC2Nodes(EC2Api):
    """Instances, instance types and availability zones."""

    max_name_length: ClassVar[int] = MAX_TAG_VALUE  # the name is the Name tag
    auth_kinds: ClassVar[tuple[type[NodeAuthSSHKey], ...]] = (NodeAuthSSHKey,)
    auth_hint: ClassVar[str] = "; use NodeAuthSSHKey or ex_keyname"

    # -- locations -------------------------------------------------------------------------

    def _to_location(self, item: Element) -> NodeLocation:
        zone = text(item, "zoneName") or ""
        region = text(item, "regionName") or self.region
        country = _REGION_COUNTRIES.get(region) or _COUNTRIES.get(region.split("-", 1)[0])
        return NodeLocation(
            zone,
            zone,
            country,
            driver=self,
            extra={
                "zone_id": text(item, "zoneId"),
                "region": region,
                "state": text(item, "zoneState"),
                "zone_type": text(item, "zoneType"),
            },
        )

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """The availability zones of the driver's region (``DescribeAvailabilityZones``)."""
        yield from self._pages(
            "DescribeAvailabilityZones", [], "availabilityZoneInfo",
            lambda item: [self._to_location(item)], paged=False,
        )

    # -- sizes -----------------------------------------------------------------------------

    def _prices(self) -> Op[tuple[dict[str, float], str | None]]:
        """Linux on-demand prices of the region's instance types and their
        date, from :mod:`overcast.pricing` (``pricing=``: a file of Libcloud's
        format instead; read in a worker thread), none with ``pricing=False``
        (never 0 for an unknown price)."""
        if self.pricing is False:
            return {}, None
        path = None if self.pricing is True else os.fspath(self.pricing)
        prices: tuple[dict[str, float], str | None] = yield Call(_region_prices, self.region,
                                                                 path)
        return prices

    def _to_size(self, item: Element,
                 prices: tuple[Mapping[str, float], str | None] | None = None) -> NodeSize:
        type_name = text(item, "instanceType") or ""
        ram = integer(text(item, "memoryInfo", "sizeInMiB")) or 0
        disk = integer(text(item, "instanceStorageInfo", "totalSizeInGB")) or 0
        extra: dict[str, Any] = {
            "vcpus": integer(text(item, "vCpuInfo", "defaultVCpus")),
            "cores": integer(text(item, "vCpuInfo", "defaultCores")),
            "architectures": [
                (a.text or "").strip()
                for a in items(item, "processorInfo", "supportedArchitectures")
            ],
            "network_performance": text(item, "networkInfo", "networkPerformance"),
            "current_generation": boolean(text(item, "currentGeneration")),
            "free_tier_eligible": boolean(text(item, "freeTierEligible")),
            "instance_storage": boolean(text(item, "instanceStorageSupported")),
            "hypervisor": text(item, "hypervisor"),
        }
        table, extra["price_date"] = prices or ({}, None)
        price = table.get(type_name)
        bandwidth = _bandwidth(extra["network_performance"])
        return NodeSize(type_name, type_name, ram, disk, bandwidth, price, driver=self,
                        extra=extra)

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """The instance types of the region (``DescribeInstanceTypes``, page by
        page); with ``location``, only those offered in that availability zone."""
        offered: set[str] | None = None
        if location is not None:
            zone = self._expect(location, NodeLocation, "location").id
            names = yield from collect(self._pages(
                "DescribeInstanceTypeOfferings",
                [("LocationType", "availability-zone"), *filters({"location": zone})],
                "instanceTypeOfferingSet",
                lambda item: [text(item, "instanceType") or ""],
            ))
            offered = set(names)
        wanted = offered
        prices = yield from self._prices()

        def convert(item: Element) -> list[NodeSize]:
            size = self._to_size(item, prices)
            return [size] if wanted is None or size.id in wanted else []

        yield from self._pages("DescribeInstanceTypes", [], "instanceTypeSet", convert)

    @operation
    def get_size(self, size_id: str) -> Op[NodeSize]:
        """An instance type by name (``t3.micro``); :class:`SizeNotFound` if there is none."""
        prices = yield from self._prices()
        return (yield from self._described(
            "DescribeInstanceTypes", size_id, lambda item: [self._to_size(item, prices)],
            SizeNotFound,
            id_param="InstanceType", set_name="instanceTypeSet",
        ))

    # -- nodes -----------------------------------------------------------------------------

    def _to_node(self, item: Element, reservation: Element | None = None,
                 owner: tuple[str | None, str | None] | None = None) -> Node:
        """A node of an instance ``item``; ``owner`` is the reservation's id and
        owner id when its caller has read them once for all its instances."""
        # One pass over the item's ~40 children, then dictionary lookups: a
        # listing reads ~25 fields of each of hundreds of items, and scanning
        # the children once per field cost more than parsing the XML.
        found = named(item)
        instance_id = child_text(found, "instanceId") or ""
        tagged = tag_set(found.get("tagSet"))
        state = named(found.get("instanceState"))
        state_name = child_text(state, "name") or ""
        public = [ip for ip in [child_text(found, "ipAddress")] if ip]
        private = [ip for ip in [child_text(found, "privateIpAddress")] if ip]
        ipv6 = [
            text(address, "ipv6Address") or ""
            for interface in set_items(found.get("networkInterfaceSet"))
            for address in items(interface, "ipv6AddressesSet")
        ]
        groups = [
            {"group_id": text(g, "groupId"), "group_name": text(g, "groupName")}
            for g in set_items(found.get("groupSet"))
        ]
        launch_time = child_text(found, "launchTime")
        extra: dict[str, Any] = {
            "instance_type": child_text(found, "instanceType"),
            "image_id": child_text(found, "imageId"),
            "availability_zone": text(found.get("placement"), "availabilityZone"),
            "key_name": child_text(found, "keyName"),
            "launch_time": launch_time,
            "state": state_name,
            "state_code": integer(child_text(state, "code")),
            "private_dns": child_text(found, "privateDnsName"),
            "public_dns": child_text(found, "dnsName"),
            "subnet_id": child_text(found, "subnetId"),
            "vpc_id": child_text(found, "vpcId"),
            "architecture": child_text(found, "architecture"),
            "platform": child_text(found, "platform"),
            "root_device_type": child_text(found, "rootDeviceType"),
            "root_device_name": child_text(found, "rootDeviceName"),
            "block_device_mapping": [
                {"device_name": text(m, "deviceName"), "volume_id": text(m, "ebs", "volumeId")}
                for m in set_items(found.get("blockDeviceMapping"))
            ],
            "security_groups": groups,
            "ipv6_addresses": [a for a in ipv6 if a],
            "client_token": child_text(found, "clientToken"),
            "tags": tagged,
        }
        if reservation is not None:
            if owner is None:
                owner = (text(reservation, "reservationId"), text(reservation, "ownerId"))
            extra["reservation_id"], extra["owner_id"] = owner
        return Node(
            instance_id,
            tagged.get("Name") or instance_id,
            _NODE_STATES.get(state_name, NodeState.UNKNOWN),
            public,
            private,
            driver=self,
            extra=extra,
            created_at=moment(launch_time),
        )

    def _reservation_nodes(self, reservation: Element) -> list[Node]:
        owner = (text(reservation, "reservationId"), text(reservation, "ownerId"))
        return [self._to_node(item, reservation, owner)
                for item in items(reservation, "instancesSet")]

    def _nodes(self, params: Params) -> Iter[Node]:
        return self._pages("DescribeInstances", params, "reservationSet", self._reservation_nodes)

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        """Every instance of the region, terminated ones included while EC2
        still lists them (``DescribeInstances``, ``page_size`` reservations a page)."""
        yield from self._nodes([])

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """An instance by id; :class:`~overcast.errors.NodeNotFound` if there is none."""
        return (yield from self._described(
            "DescribeInstances", node_id, self._reservation_nodes, NodeNotFound,
            id_param="InstanceId", set_name="reservationSet",
        ))

    @operation
    def create_node(self, name: str, size: NodeSize, image: NodeImage,
                    location: NodeLocation | None = None, auth: NodeAuth | None = None, *,
                    ex_keyname: str | None = None, ex_security_groups: Sequence[str] | None = None,
                    ex_security_group_ids: Sequence[str] | None = None,
                    ex_subnet_id: str | None = None, ex_userdata: str | bytes | None = None,
                    ex_tags: Mapping[str, str] | None = None,
                    ex_securitygroup: str | Sequence[str] | None = None,
                    ex_metadata: Mapping[str, str] | None = None, ex_mincount: int = 1,
                    ex_maxcount: int = 1, ex_clienttoken: str | None = None,
                    ex_blockdevicemappings: Sequence[Mapping[str, Any]] | None = None,
                    ex_iamprofile: str | None = None, ex_ebs_optimized: bool | None = None,
                    ex_subnet: Any = None, ex_placement_group: str | None = None,
                    ex_assign_public_ip: bool = False, ex_terminate_on_shutdown: bool = False,
                    ex_spot: bool = False, ex_spot_max_price: float | None = None) -> Op[Node]:
        """Launch one instance (``RunInstances``); returned at once, ``pending``.

        ``name`` becomes the ``Name`` tag. ``location`` is an availability zone
        (default: EC2 picks). ``auth`` (:class:`NodeAuthSSHKey`) installs a
        public key through a key pair named after it, imported if needed;
        ``ex_keyname`` names an existing key pair instead. Passwords are not
        supported. ``ex_security_groups`` are group names (default VPC),
        ``ex_security_group_ids`` group ids, ``ex_subnet_id`` the subnet,
        ``ex_userdata`` the user data (at most 16 KiB) and ``ex_tags`` more tags.

        Apache Libcloud's keywords work as there: ``ex_securitygroup`` (a name
        or names, its older spelling of ``ex_security_groups``), ``ex_metadata``
        (tags), ``ex_iamprofile`` (a profile name or ARN),
        ``ex_blockdevicemappings`` (dicts such as ``{"DeviceName": "/dev/sda1",
        "Ebs": {"VolumeSize": 20}}``), ``ex_subnet`` (a subnet or its id),
        ``ex_assign_public_ip`` (through a network interface in the subnet),
        ``ex_ebs_optimized``, ``ex_placement_group``,
        ``ex_terminate_on_shutdown``, ``ex_spot`` and ``ex_spot_max_price``.
        One node per call: ``ex_mincount``/``ex_maxcount`` other than 1 and
        ``ex_clienttoken`` are NotSupported (the driver sends its own token).
        """
        return (yield from self._create_node(
            name, size, image, location, auth, ex_keyname=ex_keyname,
            ex_security_groups=ex_security_groups, ex_security_group_ids=ex_security_group_ids,
            ex_subnet_id=ex_subnet_id, ex_userdata=ex_userdata, ex_tags=ex_tags,
            ex_securitygroup=ex_securitygroup, ex_metadata=ex_metadata, ex_mincount=ex_mincount,
            ex_maxcount=ex_maxcount, ex_clienttoken=ex_clienttoken,
            ex_blockdevicemappings=ex_blockdevicemappings, ex_iamprofile=ex_iamprofile,
            ex_ebs_optimized=ex_ebs_optimized, ex_subnet=ex_subnet,
            ex_placement_group=ex_placement_group, ex_assign_public_ip=ex_assign_public_ip,
            ex_terminate_on_shutdown=ex_terminate_on_shutdown, ex_spot=ex_spot,
            ex_spot_max_price=ex_spot_max_price,
        ))

    def _libcloud_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Libcloud's spellings folded into overcast's options, checked: the
        older group keyword, tags as metadata, a subnet object."""
        if options["ex_mincount"] != 1 or options["ex_maxcount"] != 1:
            raise NotSupported("create_node makes one node: call it once per node "
                               "(ex_mincount/ex_maxcount)", driver=self)
        if options["ex_clienttoken"] is not None:
            raise NotSupported("ex_clienttoken: every create carries the driver's own "
                               "ClientToken (create_node is made once)", driver=self)
        folded = dict(options)
        legacy = options["ex_securitygroup"]
        if legacy is not None:
            if options["ex_security_groups"]:
                raise InvalidInput("give ex_security_groups or ex_securitygroup, not both",
                                   driver=self)
            folded["ex_security_groups"] = [legacy] if isinstance(legacy, str) else list(legacy)
        if options["ex_metadata"]:
            folded["ex_tags"] = {**options["ex_metadata"], **(options["ex_tags"] or {})}
        subnet = options["ex_subnet"]
        if subnet is not None:
            if options["ex_subnet_id"] is not None:
                raise InvalidInput("give ex_subnet or ex_subnet_id, not both", driver=self)
            folded["ex_subnet_id"] = subnet if isinstance(subnet, str) else getattr(
                subnet, "id", subnet)
        if options["ex_assign_public_ip"] and folded["ex_subnet_id"] is None:
            raise InvalidInput("ex_assign_public_ip needs ex_subnet", driver=self)
        profile = options["ex_iamprofile"]
        if profile is not None and (not isinstance(profile, str) or not profile):
            raise InvalidInput(f"ex_iamprofile must be a name or ARN: {profile!r}", driver=self)
        mappings = options["ex_blockdevicemappings"]
        if mappings is not None and (not isinstance(mappings, list | tuple) or not all(
                isinstance(m, Mapping) for m in mappings)):
            raise InvalidInput("ex_blockdevicemappings must be a list of dicts", driver=self)
        return folded

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        """The ``ex_`` options: a key pair name (not with ``auth``), tags, user data
        (as bytes), security groups and a subnet id."""
        options = self._libcloud_options(spec.options)
        spec = spec.but(**options)
        if spec.auth is not None and options["ex_keyname"] is not None:
            raise InvalidInput("give auth or ex_keyname, not both", driver=self)
        if options["ex_keyname"] is not None:
            self._check_key_name(options["ex_keyname"])
        tagged: dict[str, str] = {}
        for key, value in (options["ex_tags"] or {}).items():
            if not isinstance(key, str) or not key or len(key) > 128 or key.startswith("aws:"):
                raise InvalidInput(f"invalid tag key: {key!r}", driver=self)
            tagged[key] = self._check_tag_value(f"tag {key!r}", value, empty=True)
        for group in [*(options["ex_security_groups"] or ()),
                      *(options["ex_security_group_ids"] or ())]:
            if not isinstance(group, str) or not group:
                raise InvalidInput(f"invalid security group: {group!r}", driver=self)
        if options["ex_subnet_id"] is not None:
            self._check_ref("ex_subnet_id", options["ex_subnet_id"])
        return spec.but(ex_tags=tagged, ex_userdata=self._user_data(options["ex_userdata"]))

    def _user_data(self, value: object) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, str | bytes):
            raise InvalidInput("ex_userdata must be str or bytes", driver=self)
        data = value.encode("utf-8") if isinstance(value, str) else value
        if len(data) > MAX_USER_DATA:
            raise InvalidInput(
                f"ex_userdata is larger than {MAX_USER_DATA} bytes: {len(data)}", driver=self
            )
        return data

    def _prepare_node(self, spec: NodeSpec) -> Op[NodeSpec]:
        """With ``auth``, the key pair holding its public key (imported if needed)."""
        if isinstance(spec.auth, NodeAuthSSHKey):
            return self._key_for(spec)
        return pure(spec)

    def _key_for(self, spec: NodeSpec) -> Op[NodeSpec]:
        """``spec`` naming a key pair that holds ``auth.pubkey``, imported if needed
        (named ``overcast-<hash of the key>``, so the same key is imported once)."""
        assert isinstance(spec.auth, NodeAuthSSHKey)
        pubkey = spec.auth.pubkey.strip() if isinstance(spec.auth.pubkey, str) else ""
        parts = pubkey.split()
        if len(parts) < 2:
            raise InvalidInput("auth.pubkey must be an OpenSSH public key", driver=self)
        name = "overcast-" + hashlib.sha256(parts[1].encode("ascii", "replace")).hexdigest()[:24]
        try:
            yield from self.get_key_pair.op(name)
        except KeyPairNotFound:
            # Imported meanwhile by someone else: the same key, so that is fine.
            with contextlib.suppress(KeyPairAlreadyExists):
                yield from self.import_key_pair_from_string.op(name, pubkey)
        return spec.but(ex_keyname=name)

    def _send_node(self, spec: NodeSpec, token: str) -> Op[Node]:
        """``RunInstances`` with ``token`` as its ``ClientToken`` and token tag."""
        options = spec.options
        params: Params = [
            ("ImageId", spec.image.id),
            ("InstanceType", spec.size.id),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("ClientToken", token),
        ]
        if spec.location is not None:
            params.append(("Placement.AvailabilityZone", spec.location.id))
        if options["ex_keyname"] is not None:
            params.append(("KeyName", options["ex_keyname"]))
        params.extend(numbered("SecurityGroup", options["ex_security_groups"] or ()))
        # A public address needs an explicit interface, which then holds the
        # subnet and group ids (as Libcloud sends them).
        where = "NetworkInterface.1." if options["ex_assign_public_ip"] else ""
        if where:
            params += [(where + "AssociatePublicIpAddress", "true"),
                       (where + "DeleteOnTermination", "true"), (where + "DeviceIndex", "0")]
        params.extend(numbered(where + "SecurityGroupId", options["ex_security_group_ids"] or ()))
        if options["ex_subnet_id"] is not None:
            params.append((where + "SubnetId", options["ex_subnet_id"]))
        params.extend(_extensions(options))
        if options["ex_userdata"] is not None:
            params.append(("UserData", base64.b64encode(options["ex_userdata"]).decode("ascii")))
        tagged = {**options["ex_tags"], "Name": spec.name, TOKEN_TAG: token}
        params.extend(tag_spec("instance", tagged))
        root = yield from self._query("RunInstances", params, what=spec.image.id)
        nodes = self._reservation_nodes(root)
        if not nodes:
            raise ProviderError("RunInstances answered without an instance", driver=self)
        node = nodes[0]
        node.name = spec.name
        node.extra["tags"] = {**tagged, **node.extra["tags"]}
        return node

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        """The instance tagged with ``token`` (moto ignores ``ClientToken``)."""
        found = yield from collect(self._nodes(token_filter(token)))
        return found[0] if found else None

    def _instance_action(self, action: str, node: Node) -> Op[bool]:
        node_id = self._check_id(self._expect(node, Node, "node").id, NodeNotFound)
        root = yield from self._query(
            action, numbered("InstanceId", [node_id]), idempotent=True, what=node_id
        )
        return return_value(root)

    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        """Reboot an instance (``RebootInstances``), start a stopped (EBS-backed)
        one (``StartInstances``) or stop one without terminating it
        (``StopInstances``)."""
        return (yield from self._instance_action(_POWER_ACTIONS[change], node))

    @operation
    def destroy_node(self, node: Node) -> Op[bool]:
        """Terminate an instance (``TerminateInstances``; safe to repeat)."""
        return (yield from self._instance_action("TerminateInstances", node))


def _region_prices(region: str, path: str | None) -> tuple[dict[str, float], str | None]:
    """The ``ec2_linux`` prices of ``region`` and their date (a worker thread's work)."""
    return (size_prices("compute", "ec2_linux", region, path),
            price_date("compute", "ec2_linux", path))
