"""EC2 Elastic IP addresses, with Apache Libcloud's ``ex_`` methods and model."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

from overcast.compute.drivers.ec2.api import EC2Api
from overcast.compute.drivers.ec2.api import Params
from overcast.compute.drivers.ec2.api import items
from overcast.compute.drivers.ec2.api import return_value
from overcast.compute.drivers.ec2.api import text
from overcast.compute.models import Node
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.runtime.effects import Op
from overcast.runtime.operation import operation

__all__ = ["EC2Addresses", "ElasticIP"]

#: Libcloud's ``extra`` keys of an address and the answer's element for each.
_EXTRA = {
    "allocation_id": "allocationId",
    "association_id": "associationId",
    "interface_id": "networkInterfaceId",
    "owner_id": "networkInterfaceOwnerId",
    "private_ip": "privateIp",
}


class ElasticIP:
    """An Elastic IP address (Apache Libcloud's ``ElasticIP``): ``ip``, ``domain``
    (``"standard"`` for EC2-Classic, ``"vpc"``), the ``instance_id`` it is
    associated with (or None) and ``extra`` (``allocation_id``,
    ``association_id``, ``interface_id``, ``owner_id``, ``private_ip``)."""

    __slots__ = ("domain", "extra", "instance_id", "ip")

    def __init__(self, ip: str, domain: str | None, instance_id: str | None,
                 extra: dict[str, Any] | None = None) -> None:
        self.ip = ip
        self.domain = domain
        self.instance_id = instance_id
        self.extra: dict[str, Any] = extra or {}

    def __repr__(self) -> str:
        return (f"<ElasticIP: ip={self.ip}, domain={self.domain}, "
                f"instance_id={self.instance_id}>")


def _to_address(item: Element) -> ElasticIP:
    extra = {key: text(item, tag) for key, tag in _EXTRA.items()}
    return ElasticIP(text(item, "publicIp") or "", text(item, "domain"),
                     text(item, "instanceId") or None, extra=extra)


class EC2Addresses(EC2Api):
    """Elastic IPs: allocate, associate, disassociate, release, describe."""

    def _address_ref(self, elastic_ip: object, domain: str | None, key: str,
                     param: str) -> Params:
        """``PublicIp`` (no domain) or the VPC id ``param`` from ``extra[key]``
        (``domain="vpc"``), as Libcloud chooses; InvalidInput otherwise."""
        if not isinstance(elastic_ip, ElasticIP):
            raise InvalidInput(f"elastic_ip must be an ElasticIP: {elastic_ip!r}", driver=self)
        if domain is None:
            return [("PublicIp", elastic_ip.ip)]
        if domain != "vpc":
            raise InvalidInput(f"domain can only be 'vpc': {domain!r}", driver=self)
        value = elastic_ip.extra.get(key)
        if not value:
            raise InvalidInput(f"the address has no {key} (extra[{key!r}])", driver=self)
        return [(param, str(value))]

    @operation
    def ex_allocate_address(self, domain: str = "standard") -> Op[ElasticIP]:
        """Allocate an Elastic IP (``AllocateAddress``; ``domain="vpc"`` for a
        VPC address). Not reconciled when its answer is lost (the address has
        no name or tag to find it by): that is :class:`OutcomeUnknown`."""
        if domain not in ("standard", "vpc"):
            raise InvalidInput(f"domain must be 'standard' or 'vpc': {domain!r}", driver=self)
        params: Params = [("Domain", "vpc")] if domain == "vpc" else []
        root = yield from self._query("AllocateAddress", params)
        address = _to_address(root)
        if not address.ip:
            raise ProviderError("AllocateAddress answered without an address", driver=self)
        return address

    @operation
    def ex_release_address(self, elastic_ip: ElasticIP, domain: str | None = None) -> Op[bool]:
        """Release an address (``ReleaseAddress``) by its IP, or by its
        allocation id with ``domain="vpc"``."""
        params = self._address_ref(elastic_ip, domain, "allocation_id", "AllocationId")
        root = yield from self._query("ReleaseAddress", params, idempotent=True,
                                      what=elastic_ip.ip)
        return return_value(root)

    @operation
    def ex_describe_all_addresses(self, only_associated: bool = False) -> Op[list[ElasticIP]]:
        """Every Elastic IP of the region (``DescribeAddresses``); with
        ``only_associated``, those associated with an instance."""
        root = yield from self._query("DescribeAddresses", read=True)
        found = [_to_address(item) for item in items(root, "addressesSet")]
        return [a for a in found if a.instance_id] if only_associated else found

    @operation
    def ex_associate_address_with_node(self, node: Node, elastic_ip: ElasticIP,
                                       domain: str | None = None) -> Op[str | None]:
        """Associate an address with ``node`` (``AssociateAddress``) by its IP,
        or by its allocation id with ``domain="vpc"``; the association id
        (None where EC2 gives none)."""
        node_id = self._expect(node, Node, "node").id
        params = [("InstanceId", node_id),
                  *self._address_ref(elastic_ip, domain, "allocation_id", "AllocationId")]
        root = yield from self._query("AssociateAddress", params, idempotent=True, what=node_id)
        return text(root, "associationId")

    @operation
    def ex_disassociate_address(self, elastic_ip: ElasticIP,
                                domain: str | None = None) -> Op[bool]:
        """Disassociate an address (``DisassociateAddress``) by its IP, or by
        its association id with ``domain="vpc"``."""
        params = self._address_ref(elastic_ip, domain, "association_id", "AssociationId")
        root = yield from self._query("DisassociateAddress", params, idempotent=True,
                                      what=elastic_ip.ip)
        return return_value(root)
