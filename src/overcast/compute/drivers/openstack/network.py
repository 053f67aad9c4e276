"""Neutron floating IPs (``ex_`` operations): allocate, attach to a server's
port, detach, release."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import ClassVar
from urllib.parse import quote

from overcast.compute.drivers.openstack.api import OpenStackApi
from overcast.compute.models import Node
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import NotFound
from overcast.models import Model
from overcast.runtime.effects import Op
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import find_first

__all__ = ["FloatingIPNotFound", "NetworkNotFound", "OpenStackFloatingIP", "OpenStackNetwork"]

_FLOATING_FIELDS = ("id", "floating_ip_address", "floating_network_id", "port_id",
                    "fixed_ip_address", "status")


class NetworkNotFound(NotFound):
    """No Neutron network with this name or id."""

    kind = "network"


class FloatingIPNotFound(NotFound):
    """No floating IP with this id or address."""

    kind = "floating IP"


@dataclass(slots=True, eq=False)
class OpenStackFloatingIP(Model[OpenStackApi]):
    """A Neutron floating IP; ``port_id`` is set while it is associated. Equal
    when ``id`` is, whichever driver read it."""

    _kind: ClassVar[str] = "floating IP"
    _driver_in_identity: ClassVar[bool] = False

    id: str
    ip_address: str
    floating_network_id: str
    port_id: str | None = None
    fixed_ip_address: str | None = None
    status: str | None = None
    driver: OpenStackApi | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)


def _ipv4(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).version == 4
    except ValueError:
        return False


class OpenStackNetwork(OpenStackApi):
    """Floating IPs."""

    def _to_floating_ip(self, data: Mapping[str, Any]) -> OpenStackFloatingIP:
        return OpenStackFloatingIP(
            id=str(data["id"]),
            ip_address=str(data.get("floating_ip_address") or ""),
            floating_network_id=str(data.get("floating_network_id") or ""),
            port_id=data.get("port_id"),
            fixed_ip_address=data.get("fixed_ip_address"),
            status=data.get("status"),
            driver=self,
            extra={k: v for k, v in data.items() if k not in _FLOATING_FIELDS},
        )

    @operation
    def ex_list_floating_ips(self) -> Op[list[OpenStackFloatingIP]]:
        """List the project's floating IPs (``GET /v2.0/floatingips``, every page)."""
        return (yield from collect(self._pages(
            "network:/v2.0/floatingips", "floatingips", self._to_floating_ip,
            links="floatingips_links",
        )))

    def _network_id(self, network: str) -> Op[str]:
        """The id of the network named (or identified by) ``network``."""
        data = yield from self._json("GET", "network:/v2.0/networks", params=[("name", network)])
        named = data.get("networks") or []
        if len(named) > 1:
            raise InvalidInput(f"several networks are named {network!r}: give its id",
                               driver=self)
        if named:
            return str(named[0]["id"])
        data = yield from self._json("GET", f"network:/v2.0/networks/{quote(network, safe='')}",
                                     what=network, missing=NetworkNotFound)
        return str(data["network"]["id"])

    @operation
    def ex_create_floating_ip(
        self, network: str, *, ex_description: str | None = None
    ) -> Op[OpenStackFloatingIP]:
        """Allocate a floating IP from the external ``network`` (a name or id)."""
        if not isinstance(network, str) or not network:
            raise InvalidInput("network must be a network name or id", driver=self)
        network_id = yield from self._network_id(network)

        def described(token: str) -> str:
            # The description carries the request token: Neutron has no metadata.
            tag = f"overcast:{token}"
            return f"{ex_description} ({tag})" if ex_description else tag

        def send(token: str) -> Op[OpenStackFloatingIP]:
            body = {"floatingip": {"floating_network_id": network_id,
                                   "description": described(token)}}
            data = yield from self._json("POST", "network:/v2.0/floatingips", json=body)
            return self._to_floating_ip(data["floatingip"])

        def find(token: str) -> Op[OpenStackFloatingIP | None]:
            description = described(token)
            found = self._pages("network:/v2.0/floatingips", "floatingips",
                                self._to_floating_ip, links="floatingips_links",
                                params=[("description", description)])
            return (yield from find_first(
                found, lambda ip: ip.extra.get("description") == description
            ))

        return (yield from self._create(send, find))

    def _floating_ip(self, ip: OpenStackFloatingIP | str) -> Op[OpenStackFloatingIP]:
        """``ip`` itself, or the floating IP with that address."""
        if isinstance(ip, OpenStackFloatingIP):
            return ip
        if not isinstance(ip, str) or not ip:
            raise InvalidInput("ip must be an OpenStackFloatingIP or an address", driver=self)
        data = yield from self._json("GET", "network:/v2.0/floatingips",
                                     params=[("floating_ip_address", ip)])
        found = data.get("floatingips") or []
        if not found:
            raise FloatingIPNotFound(ip, driver=self)
        return self._to_floating_ip(found[0])

    def _floating_path(self, ip: OpenStackFloatingIP) -> str:
        return f"network:/v2.0/floatingips/{quote(ip.id, safe='')}"

    def _update_floating_ip(
        self, ip: OpenStackFloatingIP, changes: Mapping[str, Any]
    ) -> Op[OpenStackFloatingIP]:
        data = yield from self._json("PUT", self._floating_path(ip),
                                     json={"floatingip": dict(changes)},
                                     what=ip.ip_address or ip.id, missing=FloatingIPNotFound)
        return self._to_floating_ip(data["floatingip"])

    @operation
    def ex_attach_floating_ip(self, node: Node, ip: OpenStackFloatingIP | str) -> Op[bool]:
        """Associate a floating IP (or its address) with the server's first port
        that has an IPv4 address (``PUT /v2.0/floatingips/{id}`` with its ``port_id``)."""
        node_id = self._expect(node, Node, "node").id
        floating = yield from self._floating_ip(ip)
        data = yield from self._json("GET", "network:/v2.0/ports",
                                     params=[("device_id", node_id)])
        for port in data.get("ports") or []:
            for fixed in port.get("fixed_ips") or ():
                address = str(fixed.get("ip_address") or "")
                if _ipv4(address):
                    yield from self._update_floating_ip(
                        floating, {"port_id": port["id"], "fixed_ip_address": address}
                    )
                    return True
        raise NodeNotFound(node_id, f"server {node_id!r} has no port with an IPv4 address",
                           driver=self)

    @operation
    def ex_detach_floating_ip(self, ip: OpenStackFloatingIP | str) -> Op[bool]:
        """Disassociate a floating IP from its port (it stays allocated)."""
        floating = yield from self._floating_ip(ip)
        yield from self._update_floating_ip(floating, {"port_id": None})
        return True

    @operation
    def ex_delete_floating_ip(self, ip: OpenStackFloatingIP | str) -> Op[bool]:
        """Release a floating IP (``DELETE /v2.0/floatingips/{id}``)."""
        floating = yield from self._floating_ip(ip)
        return (yield from self._delete(self._floating_path(floating),
                                        floating.ip_address or floating.id, FloatingIPNotFound))
