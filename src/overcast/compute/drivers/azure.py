"""Azure virtual machines on managed disks, through Azure Resource Manager.

``AzureNodeDriver(tenant_id, subscription_id, key, secret)`` keeps Apache
Libcloud's ``AzureNodeDriver`` positions: ``key`` is an application (client)
id and ``secret`` its client secret (the client-credentials flow). Given no
key, the driver takes tokens from the machine's managed identity (Azure IMDS,
``metadata_endpoint=``), and the subscription and resource group from its
instance metadata; nothing is probed until a call needs it. ARM plumbing
(tokens, ``api-version``, ``nextLink`` pages, long-running operations) is
:class:`overcast.providers.azure.ArmApi`.

Resources (``{rg}`` is ``/subscriptions/{sub}/resourceGroups/{group}``):

* VMs: ``Microsoft.Compute/virtualMachines`` (api-version 2024-07-01). A
  create is ``PUT {rg}/.../virtualMachines/{name}`` with ``If-None-Match: *``
  (412 if one exists, so a retried create never makes a second VM), tagged
  with a request token so a lost answer is settled by looking the VM up. It
  answers 201 with ``Azure-AsyncOperation``; ``create_node`` returns the VM
  as answered (pending) and :meth:`wait_until_running` waits. Before it,
  ``create_node`` makes the VM's NIC (``{name}-nic``) and, with
  ``ex_public_ip=True``, a public IP (``{name}-ip``), each with
  ``If-None-Match: *``; if the create fails, they are deleted again.
  ``start``, ``restart``, ``deallocate`` and ``powerOff`` are POSTs answering
  202, followed to their end.
* ``list_nodes`` joins four paged listings: VMs, their statuses
  (``?statusOnly=true``), NICs and public IPs, so it sends one request per
  page of each, never one per VM (Libcloud's sends up to 1+3N a page).
* Sizes: ``{sub}/.../locations/{loc}/vmSizes``; ``price`` is US dollars per
  hour from the bundled snapshot (:mod:`overcast.pricing.azure`,
  ``extra["price_date"]``), None when unknown.
* Images: marketplace images as :class:`AzureImage`
  (``publisher:offer:sku:version``, Libcloud's URN), listed by walking
  publishers, offers, SKUs and versions (give ``ex_publisher`` and the rest
  to walk less).
* Volumes are managed disks (``Microsoft.Compute/disks``, 2024-03-02),
  attached by adding a data disk to the VM (``PATCH``); snapshots are
  ``Microsoft.Compute/snapshots`` copied from a disk.
* Networks, subnets, NICs, public IPs (``Microsoft.Network``, 2024-05-01),
  resource groups and locations through ``ex_`` operations.

Long-running operations follow ``Azure-AsyncOperation``, else ``Location``,
pausing ``Retry-After`` seconds (the runtime's ``Sleep``), within
``wait_timeout``.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar

from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeSpec
from overcast.compute.base import PowerChange
from overcast.compute.base import request_token
from overcast.compute.models import Node
from overcast.compute.models import NodeAuth
from overcast.compute.models import NodeAuthPassword
from overcast.compute.models import NodeAuthSSHKey
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.compute.models import NodeSize
from overcast.compute.models import NodeState
from overcast.compute.models import StorageVolume
from overcast.compute.models import StorageVolumeState
from overcast.compute.models import VolumeSnapshot
from overcast.compute.models import VolumeSnapshotState
from overcast.compute.values import moment
from overcast.errors import AlreadyExists
from overcast.errors import ImageNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import LocationNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import SnapshotNotFound
from overcast.errors import VolumeNotFound
from overcast.pricing import azure as azure_prices
from overcast.providers.azure import AUTH_CODES
from overcast.providers.azure import ArmApi
from overcast.providers.azure import segment
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import When
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.operation import alias
from overcast.runtime.operation import iterator
from overcast.runtime.operation import listing
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.ops import or_none
from overcast.runtime.options import libcloud_endpoint
from overcast.runtime.redact import Secret

__all__ = ["AzureIPAddress", "AzureImage", "AzureNetwork", "AzureNic", "AzureNodeDriver",
           "AzureResourceGroup", "AzureSubnet"]

T = TypeVar("T")

COMPUTE_API: Final = "2024-07-01"
DISK_API: Final = "2024-03-02"
NETWORK_API: Final = "2024-05-01"
RESOURCES_API: Final = "2021-04-01"
SUBSCRIPTIONS_API: Final = "2022-12-01"
#: The tag holding a create's request token.
TOKEN_TAG: Final = "overcast-token"
_VM: Final = "/providers/Microsoft.Compute/virtualMachines"
_NET: Final = "/providers/Microsoft.Network"
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
#: The VM action of each power change (``stop_node(ex_deallocate=False)`` is ``powerOff``).
_POWER_ACTIONS: Final[Mapping[PowerChange, str]] = {
    "reboot": "restart", "start": "start", "stop": "deallocate"}
_POWER: Final = {
    "PowerState/running": NodeState.RUNNING,
    "PowerState/starting": NodeState.PENDING,
    "PowerState/deallocated": NodeState.STOPPED,
    "PowerState/deallocating": NodeState.PENDING,
    "PowerState/stopped": NodeState.STOPPED,
    "PowerState/stopping": NodeState.PENDING,
}
_PROVISIONING: Final = {
    "creating": NodeState.PENDING,
    "deleting": NodeState.TERMINATED,
    "failed": NodeState.ERROR,
    "updating": NodeState.UPDATING,
}


# -- models of Libcloud's Azure driver ----------------------------------------------------


class AzureImage(NodeImage):
    """A marketplace image (Apache Libcloud's ``AzureImage``): ``id`` is the
    URN ``publisher:offer:sku:version``, ``name`` the same with spaces."""

    __slots__ = ("location", "offer", "publisher", "sku", "version")

    def __init__(self, version: str, sku: str, offer: str, publisher: str,
                 location: str | None, driver: AzureNodeDriver | None) -> None:
        self.publisher = publisher
        self.offer = offer
        self.sku = sku
        self.version = version
        self.location = location
        super().__init__(f"{publisher}:{offer}:{sku}:{version}",
                         f"{publisher} {offer} {sku} {version}", driver,
                         {"publisher": publisher, "offer": offer, "sku": sku,
                          "version": version, "location": location})


class _Resource:
    """An ARM resource of Libcloud's shape: ``id``, ``name``, ``extra`` (the
    resource's ``properties``) and, where it has one, ``location``."""

    __slots__ = ("extra", "id", "location", "name")

    def __init__(self, id: str, name: str, location: str | None,
                 extra: dict[str, Any]) -> None:
        self.id = id
        self.name = name
        self.location = location
        self.extra = extra

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: id={self.id}, name={self.name}>"


class AzureResourceGroup(_Resource):
    """A resource group (Libcloud's ``AzureResourceGroup(id, name, location, extra)``)."""


class AzureNetwork(_Resource):
    """A virtual network (Libcloud's ``AzureNetwork(id, name, location, extra)``)."""


class AzureNic(_Resource):
    """A network interface (Libcloud's ``AzureNic(id, name, location, extra)``)."""


class AzureSubnet(_Resource):
    """A subnet of a virtual network (Libcloud's ``AzureSubnet(id, name, extra)``)."""

    def __init__(self, id: str, name: str, extra: dict[str, Any]) -> None:
        super().__init__(id, name, None, extra)


class AzureIPAddress(_Resource):
    """A public IP address resource (Libcloud's ``AzureIPAddress(id, name, extra)``;
    the address is ``extra["ipAddress"]``)."""

    def __init__(self, id: str, name: str, extra: dict[str, Any]) -> None:
        super().__init__(id, name, None, extra)


# -- helpers --------------------------------------------------------------------------------


def _key(resource_id: object) -> str:
    """ARM ids compare without regard to case."""
    return str(resource_id or "").lower()


def _group_of(resource_id: str) -> str | None:
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    if "resourcegroups" in lowered:
        at = lowered.index("resourcegroups") + 1
        return parts[at] if at < len(parts) else None
    return None


def _state(statuses: Iterable[Mapping[str, Any]], provisioning: str | None) -> NodeState:
    """A VM's state from its instance view statuses (Libcloud's reading)."""
    state = NodeState.UNKNOWN
    codes = [str(s.get("code") or "") for s in statuses]
    for code in codes:
        if code.startswith("ProvisioningState/"):
            word = code.split("/", 1)[1].lower()
            if word.startswith("failed"):
                return NodeState.ERROR
            if word in _PROVISIONING:
                return _PROVISIONING[word]
    for code in codes:
        if code in _POWER:
            state = _POWER[code]
    if state is NodeState.UNKNOWN and provisioning:
        return _PROVISIONING.get(provisioning.lower(), NodeState.UNKNOWN)
    return state


class AzureNodeDriver(ArmApi, NodeDriver):
    """Azure virtual machines, managed disks and snapshots (Azure Resource Manager).

    ``tenant_id``, ``subscription_id``, ``key`` (application id) and
    ``secret`` (client secret) are Apache Libcloud's positions; ``secure``,
    ``host`` and ``port`` its way to name another endpoint (``endpoint=`` is
    overcast's), ``api_version`` is refused unless None (each resource
    provider has its own, fixed here), ``region`` the default location.
    Without ``key`` and ``secret``: ``credential`` (any object with
    ``get_token(*scopes)``, such as azure-identity's), else the environment's
    service principal (``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID`` and
    ``AZURE_CLIENT_SECRET`` or ``AZURE_CLIENT_CERTIFICATE_PATH``;
    ``AZURE_SUBSCRIPTION_ID``), else a managed identity (Azure IMDS at
    ``metadata_endpoint``), which gives the tokens and the default
    subscription, resource group and location. ``resource_group`` is where nodes, NICs,
    IPs and disks are made unless a call names another
    (``ex_resource_group``).
    """

    name: ClassVar[str] = "azure"
    label: ClassVar[str] = "Azure"
    api_version: ClassVar[str] = COMPUTE_API
    max_name_length: ClassVar[int] = 64
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(InvalidCredentials, code=AUTH_CODES),
        When(NotFound, status=404, code=("ResourceNotFound", "NotFound")),
        When(ProviderError, status=404),  # ResourceGroupNotFound, SubscriptionNotFound
        When(AlreadyExists, status=412),  # If-None-Match: * on one that exists
        When(AlreadyExists, status=409, says="already exists"),
        When(InvalidInput, status=400, code=("InvalidParameter", "BadRequest",
                                             "InvalidRequestContent",
                                             "InvalidResourceName")),
    )

    def __init__(self, tenant_id: str | None = None, subscription_id: str | None = None,
                 key: str | None = None, secret: str | Secret | None = None,
                 secure: bool = True, host: str | None = None, port: int | None = None,
                 api_version: str | None = None, region: str | None = None, *,
                 resource_group: str | None = None, endpoint: str | None = None,
                 authority: str | None = None, metadata_endpoint: str | None = None,
                 identity_client_id: str | None = None, poll_interval: float = 5.0,
                 wait_timeout: float = 1800.0, credential: Any = None,
                 **options: Any) -> None:
        super().__init__(**options)
        if api_version is not None:
            raise InvalidInput("api_version is fixed per resource provider by this driver; "
                               "leave it None", driver=self)
        self._use_arm(
            tenant_id=tenant_id, client_id=key, client_secret=secret,
            subscription_id=subscription_id, resource_group=resource_group,
            endpoint=libcloud_endpoint(endpoint, host, port, secure, driver=self),
            authority=authority, metadata_endpoint=metadata_endpoint,
            identity_client_id=identity_client_id, poll_interval=poll_interval,
            wait_timeout=wait_timeout, credential=credential)
        if region is not None and (not isinstance(region, str) or not region.strip()):
            raise InvalidInput(f"region must be a location name: {region!r}", driver=self)
        self.region = region

    def _repr_fields(self) -> dict[str, object]:
        return {"subscription_id": self.subscription_id, "resource_group": self.resource_group}

    def _api_version(self, path: str) -> str:
        if f"{_NET}/" in path:
            return NETWORK_API
        if "/providers/Microsoft.Compute/disks" in path or \
                "/providers/Microsoft.Compute/snapshots" in path:
            return DISK_API
        if "/providers/Microsoft.Compute/" in path:
            return COMPUTE_API
        if path.endswith("/locations"):
            return SUBSCRIPTIONS_API
        return RESOURCES_API

    # -- placement ---------------------------------------------------------------------

    def _location(self, location: NodeLocation | None) -> Op[str]:
        """The location to use: ``location``, else the driver's region, else the
        machine's (managed identity); InvalidInput when there is none."""
        if location is not None:
            return self._expect(location, NodeLocation, "location").id
        if self.region:
            return self.region
        if self._identity is not None:
            found = yield from self._identity.instance()
            if found.location:
                return found.location
        raise InvalidInput("no location: give one, or the driver's region=", driver=self)

    def _resource_path(self, value: object, provider_path: str, what: str,
                       resource_group: str | None = None) -> Op[str]:
        """The ARM path of a resource given by id (``/subscriptions/...``) or by
        name (in ``resource_group`` or the driver's)."""
        if isinstance(value, str) and value.startswith("/subscriptions/"):
            if "//" in value or ".." in value:
                raise InvalidInput(f"{what} is not an ARM resource id: {value!r}", driver=self)
            return value
        name = segment(value, what, self)
        group = yield from self._group_path(resource_group)
        return f"{group}{provider_path}/{name}"

    # -- nodes -------------------------------------------------------------------------

    def _ip_addresses(self, nic_ids: Iterable[str], nics: Mapping[str, Mapping[str, Any]],
                      ips: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[str]]:
        public: list[str] = []
        private: list[str] = []
        for nic_id in nic_ids:
            nic = nics.get(_key(nic_id))
            if nic is None:
                continue
            for config in (nic.get("properties") or {}).get("ipConfigurations") or []:
                props = config.get("properties") or {}
                if props.get("privateIPAddress"):
                    private.append(str(props["privateIPAddress"]))
                ref = props.get("publicIPAddress") or {}
                address = ((ips.get(_key(ref.get("id"))) or {}).get("properties") or {}).get(
                    "ipAddress")
                if address:
                    public.append(str(address))
        return public, private

    def _to_node(self, data: Mapping[str, Any], statuses: Iterable[Mapping[str, Any]] | None,
                 nics: Mapping[str, Mapping[str, Any]],
                 ips: Mapping[str, Mapping[str, Any]]) -> Node:
        props = data.get("properties") or {}
        view = props.get("instanceView") or {}
        nic_ids = [str(n.get("id")) for n in
                   (props.get("networkProfile") or {}).get("networkInterfaces") or []]
        public, private = self._ip_addresses(nic_ids, nics, ips)
        found_statuses = list(statuses if statuses is not None else view.get("statuses") or [])
        provisioning = props.get("provisioningState")
        state = _state(found_statuses, provisioning)
        size_name = (props.get("hardwareProfile") or {}).get("vmSize")
        reference = (props.get("storageProfile") or {}).get("imageReference") or {}
        image = None
        if reference.get("publisher"):
            image = AzureImage(str(reference.get("version") or "latest"), str(reference["sku"]),
                               str(reference["offer"]), str(reference["publisher"]),
                               data.get("location"), self)
        extra = dict(data)
        extra.update(resource_group=_group_of(str(data.get("id") or "")),
                     provisioning_state=provisioning, nics=nic_ids,
                     statuses=[s.get("code") for s in found_statuses],
                     tags=dict(data.get("tags") or {}), vm_size=size_name)
        return Node(
            id=str(data["id"]), name=str(data.get("name") or ""), state=state,
            public_ips=public, private_ips=private, driver=self, image=image,
            size=NodeSize(str(size_name), str(size_name), 0, 0, driver=self)
            if size_name else None,
            extra=extra, created_at=moment(props.get("timeCreated")),
        )

    def _by_id(self, items: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
        return {_key(item.get("id")): item for item in items}

    def _listing_scope(self, resource_group: str | None) -> Op[str]:
        """The subscription (every resource group) or one resource group."""
        if resource_group is None:
            return (yield from self._subscription_path())
        return (yield from self._group_path(resource_group))

    @iterator
    def iterate_nodes(self, ex_resource_group: str | None = None, ex_fetch_nic: bool = True,
                      ex_fetch_power_state: bool = True) -> Iter[Node]:
        """Iterate over the VMs of the subscription (or of ``ex_resource_group``).

        Fetched first, together: the VMs' statuses (``statusOnly=true``), and
        the NICs and public IPs that give their addresses, each a paged
        listing; then the VMs, page by page. ``ex_fetch_nic=False`` leaves
        the addresses out, ``ex_fetch_power_state=False`` the statuses (the
        state is then read from the provisioning state), as in Libcloud."""
        scope = yield from self._listing_scope(ex_resource_group)
        vms = f"{scope}{_VM}"
        wanted: list[Op[list[dict[str, Any]]]] = []
        if ex_fetch_power_state:
            wanted.append(collect(self._arm_pages(vms, dict, params={"statusOnly": "true"})))
        if ex_fetch_nic:
            wanted.append(collect(self._arm_pages(f"{scope}{_NET}/networkInterfaces", dict)))
            wanted.append(collect(self._arm_pages(f"{scope}{_NET}/publicIPAddresses", dict)))
        found: list[list[dict[str, Any]]] = (yield Parallel(wanted)) if wanted else []
        statuses: dict[str, Mapping[str, Any]] = {}
        nics: dict[str, Mapping[str, Any]] = {}
        ips: dict[str, Mapping[str, Any]] = {}
        if ex_fetch_power_state:
            statuses = self._by_id(found.pop(0))
        if ex_fetch_nic:
            nics, ips = self._by_id(found[0]), self._by_id(found[1])

        def convert(data: dict[str, Any]) -> Node:
            status: Iterable[Mapping[str, Any]] | None = []
            if ex_fetch_power_state:
                view = ((statuses.get(_key(data.get("id"))) or {}).get("properties") or {}
                        ).get("instanceView") or {}
                status = view.get("statuses") or []
            return self._to_node(data, status, nics, ips)

        yield from self._arm_pages(vms, convert)

    list_nodes = listing(iterate_nodes, "List the VMs of the subscription (or of "
                                        "``ex_resource_group``): four paged listings joined.")

    def _node_path(self, node: Node | str) -> Op[str]:
        node_id = node.id if isinstance(node, Node) else node
        return (yield from self._resource_path(node_id, _VM, "node id"))

    def _fetch_node(self, path: str, what: str) -> Op[Node]:
        data = yield from self._json("GET", path, params={"$expand": "instanceView"},
                                     what=what, missing=NodeNotFound)
        nic_ids = [str(n.get("id")) for n in ((data.get("properties") or {}).get(
            "networkProfile") or {}).get("networkInterfaces") or []]
        nics = yield from self._fetch_all(nic_ids)
        ip_ids = [str(((c.get("properties") or {}).get("publicIPAddress") or {}).get("id"))
                  for nic in nics.values()
                  for c in (nic.get("properties") or {}).get("ipConfigurations") or []
                  if ((c.get("properties") or {}).get("publicIPAddress") or {}).get("id")]
        ips = yield from self._fetch_all(ip_ids)
        return self._to_node(data, None, nics, ips)

    def _fetch_all(self, ids: list[str]) -> Op[dict[str, Mapping[str, Any]]]:
        """Resources by id (those that exist), fetched together."""
        if not ids:
            return {}
        found: list[dict[str, Any] | None] = yield Parallel(
            [or_none(self._json("GET", self._check_id(i)), NotFound) for i in ids])
        return {_key(i): f for i, f in zip(ids, found, strict=True) if f is not None}

    def _check_id(self, resource_id: str) -> str:
        if not resource_id.startswith("/subscriptions/") or ".." in resource_id:
            raise ProviderError(f"not an ARM resource id: {resource_id[:100]!r}", driver=self)
        return resource_id

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """Get a VM by ARM id (or by name, in the driver's resource group), with
        its status and addresses; NodeNotFound if there is none."""
        path = yield from self._node_path(node_id)
        return (yield from self._fetch_node(path, str(node_id)))

    @operation
    def ex_get_node(self, id: str) -> Op[Node]:
        """Apache Libcloud's name for :meth:`get_node`."""
        found: Node = yield from self.get_node.op(id)
        return found

    @operation
    def create_node(self, name: str, size: NodeSize, image: NodeImage,
                    location: NodeLocation | None = None, auth: NodeAuth | None = None, *,
                    ex_resource_group: str | None = None, ex_user_name: str = "azureuser",
                    ex_network: AzureNetwork | str | None = None,
                    ex_subnet: AzureSubnet | str | None = None,
                    ex_nic: AzureNic | str | None = None, ex_public_ip: bool = False,
                    ex_tags: Mapping[str, str] | None = None, ex_customdata: str = "",
                    ex_disk_size: int | None = None,
                    ex_storage_account_type: str = "Standard_LRS",
                    ex_os_disk_delete: bool = False,
                    ex_use_managed_disks: bool = True) -> Op[Node]:
        """Create a VM on a managed OS disk and return it (pending).

        ``image`` is an :class:`AzureImage` (or a custom image whose id is an
        ARM id); ``auth`` an SSH public key (installed in
        ``/home/{ex_user_name}/.ssh/authorized_keys``) or a password, as
        Azure needs one. The VM's NIC is ``ex_nic``, or made here as
        ``{name}-nic`` in ``ex_subnet`` (default ``"default"``) of
        ``ex_network``; ``ex_public_ip=True`` gives that NIC a new public IP
        ``{name}-ip``. If the create fails, the NIC and IP made here are
        deleted. ``ex_customdata`` is cloud-init data (sent base64-encoded),
        ``ex_tags`` the VM's tags, ``ex_disk_size`` the OS disk in GiB,
        ``ex_storage_account_type`` its SKU, ``ex_os_disk_delete`` whether
        Azure deletes it with the VM. Unmanaged (VHD) disks are gone from
        Azure: ``ex_use_managed_disks=False`` is NotSupported.

        Libcloud's fourth positional parameter is ``auth`` and its fifth
        ``ex_resource_group``; here they are ``location`` and ``auth``
        (Libcloud's order would put a NodeAuth where a location goes, which
        is refused with InvalidInput before anything is sent).
        """
        spec = self._check_node(self._node_spec(name, size, image, location, auth, {
            "ex_resource_group": ex_resource_group, "ex_user_name": ex_user_name,
            "ex_network": ex_network, "ex_subnet": ex_subnet, "ex_nic": ex_nic,
            "ex_public_ip": ex_public_ip, "ex_tags": ex_tags, "ex_customdata": ex_customdata,
            "ex_disk_size": ex_disk_size, "ex_storage_account_type": ex_storage_account_type,
            "ex_os_disk_delete": ex_os_disk_delete,
            "ex_use_managed_disks": ex_use_managed_disks}))
        made: list[str] = []
        token = request_token()
        node: Node = yield Guarded(self._make_node(spec, token, made),
                                   lambda exc: self._undo(made))
        return node

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        """Azure's rules: a host name; an auth; the ``ex_`` options' types."""
        opts = spec.options
        if not set(spec.name) <= _NAME_CHARS or spec.name[0] in "-." or \
                spec.name[-1] in "-." or spec.name.isdigit():
            raise InvalidInput(f"an Azure VM name is letters, digits, '-' and '.', not "
                               f"starting or ending with '-' or '.': {spec.name!r}", driver=self)
        if not opts["ex_use_managed_disks"]:
            raise NotSupported("unmanaged (VHD) OS disks stopped booting on Azure on "
                               "2025-09-30: nodes use managed disks", driver=self)
        if spec.auth is None:
            raise InvalidInput("Azure needs auth: a NodeAuthSSHKey or a NodeAuthPassword",
                               driver=self)
        if not isinstance(opts["ex_user_name"], str) or not opts["ex_user_name"].strip():
            raise InvalidInput("ex_user_name must be a user name", driver=self)
        if opts["ex_nic"] is None and opts["ex_network"] is None:
            raise InvalidInput("give ex_network (with ex_subnet) or ex_nic", driver=self)
        tags = opts["ex_tags"] or {}
        if not isinstance(tags, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise InvalidInput("ex_tags must map strings to strings", driver=self)
        if not isinstance(opts["ex_customdata"], str):
            raise InvalidInput("ex_customdata must be a string", driver=self)
        disk = opts["ex_disk_size"]
        if disk is not None and (isinstance(disk, bool) or not isinstance(disk, int) or disk < 1):
            raise InvalidInput(f"ex_disk_size must be a positive number of GiB: {disk!r}",
                               driver=self)
        image = spec.image
        if not isinstance(image, AzureImage) and not image.id.startswith("/subscriptions/"):
            raise InvalidInput(f"image must be an AzureImage or a custom image's ARM id: "
                               f"{image.id!r}", driver=self)
        return spec.but(ex_tags=dict(tags))

    def _make_node(self, spec: NodeSpec, token: str, made: list[str]) -> Op[Node]:
        opts = spec.options
        location = yield from self._location(spec.location)
        group = opts["ex_resource_group"]
        nic_id: str
        nics: dict[str, Mapping[str, Any]] = {}
        ips: dict[str, Mapping[str, Any]] = {}
        if opts["ex_nic"] is not None:
            nic_ref = opts["ex_nic"]
            nic_id = yield from self._resource_path(
                nic_ref.id if isinstance(nic_ref, AzureNic) else nic_ref,
                f"{_NET}/networkInterfaces", "ex_nic", group)
        else:
            subnet = yield from self._subnet_id(opts["ex_network"], opts["ex_subnet"], group)
            public = None
            if opts["ex_public_ip"]:
                ip = yield from self._new_resource(
                    f"{_NET}/publicIPAddresses", f"{spec.name}-ip", group, token,
                    {"location": location, "sku": {"name": "Standard"},
                     "properties": {"publicIPAllocationMethod": "Static"}}, made)
                public = ip["id"]
                ips[_key(public)] = ip
            nic = yield from self._new_resource(
                f"{_NET}/networkInterfaces", f"{spec.name}-nic", group, token,
                self._nic_body(location, subnet, public), made)
            nic_id = str(nic["id"])
            nics[_key(nic_id)] = nic
        path = yield from self._resource_path(spec.name, _VM, "name", group)
        body = self._vm_body(spec, location, nic_id, token)

        def send() -> Op[Node]:
            data = yield from self._json("PUT", path, json=body, headers={"If-None-Match": "*"},
                                         idempotent=False, what=spec.name,
                                         exists=AlreadyExists)
            return self._to_node(data, None, nics, ips)

        def find() -> Op[Node | None]:
            data = yield from or_none(self._json("GET", path), NotFound)
            if data is None or (data.get("tags") or {}).get(TOKEN_TAG) != token:
                return None
            return self._to_node(data, None, nics, ips)

        return (yield from create_once(send, find))

    def _nic_body(self, location: str, subnet: str, public: str | None) -> dict[str, Any]:
        config: dict[str, Any] = {"subnet": {"id": subnet},
                                  "privateIPAllocationMethod": "Dynamic"}
        if public:
            config["publicIPAddress"] = {"id": public}
        return {"location": location,
                "properties": {"ipConfigurations": [{"name": "ipconfig1",
                                                     "properties": config}]}}

    def _vm_body(self, spec: NodeSpec, location: str, nic_id: str,
                 token: str) -> dict[str, Any]:
        opts = spec.options
        user = opts["ex_user_name"]
        image = spec.image
        if isinstance(image, AzureImage):
            reference: dict[str, Any] = {"publisher": image.publisher, "offer": image.offer,
                                         "sku": image.sku, "version": image.version}
        else:
            reference = {"id": image.id}
        os_disk: dict[str, Any] = {
            "createOption": "FromImage",
            "managedDisk": {"storageAccountType": opts["ex_storage_account_type"]},
            "deleteOption": "Delete" if opts["ex_os_disk_delete"] else "Detach",
        }
        if opts["ex_disk_size"] is not None:
            os_disk["diskSizeGB"] = opts["ex_disk_size"]
        profile: dict[str, Any] = {"computerName": spec.name, "adminUsername": user}
        if isinstance(spec.auth, NodeAuthSSHKey):
            profile["linuxConfiguration"] = {
                "disablePasswordAuthentication": True,
                "ssh": {"publicKeys": [{"path": f"/home/{user}/.ssh/authorized_keys",
                                        "keyData": spec.auth.pubkey.strip()}]},
            }
        elif isinstance(spec.auth, NodeAuthPassword):
            profile["adminPassword"] = spec.auth.password.reveal()
            profile["linuxConfiguration"] = {"disablePasswordAuthentication": False}
        if opts["ex_customdata"]:
            profile["customData"] = base64.b64encode(
                opts["ex_customdata"].encode("utf-8")).decode("ascii")
        return {
            "location": location,
            "tags": {**opts["ex_tags"], TOKEN_TAG: token},
            "properties": {
                "hardwareProfile": {"vmSize": spec.size.id},
                "storageProfile": {"imageReference": reference, "osDisk": os_disk},
                "osProfile": profile,
                "networkProfile": {"networkInterfaces": [{"id": nic_id,
                                                          "properties": {"primary": True}}]},
            },
        }

    def _subnet_id(self, network: AzureNetwork | str | None, subnet: AzureSubnet | str | None,
                   group: str | None) -> Op[str]:
        if isinstance(subnet, AzureSubnet):
            return subnet.id
        if isinstance(subnet, str) and subnet.startswith("/subscriptions/"):
            return (yield from self._resource_path(subnet, "", "ex_subnet"))
        net = network.id if isinstance(network, AzureNetwork) else network
        net_path = yield from self._resource_path(net, f"{_NET}/virtualNetworks", "ex_network",
                                                  group)
        return f"{net_path}/subnets/{segment(subnet or 'default', 'ex_subnet', self)}"

    def _new_resource(self, provider_path: str, name: str, group: str | None, token: str,
                      body: dict[str, Any], made: list[str]) -> Op[dict[str, Any]]:
        """Create ``name`` under ``provider_path`` in ``group`` (:meth:`_put_tagged`),
        noting its path in ``made`` once it exists."""
        path = yield from self._resource_path(name, provider_path, "name", group)
        return (yield from self._put_tagged(path, body, name, token, made))

    def _undo(self, made: list[str]) -> Op[None]:
        """Delete what a failed create made, newest first (the NIC before its IP)."""
        for path in reversed(made):
            yield from self._quietly_delete(path)

    def _action(self, node: Node, action: str) -> Op[bool]:
        path = yield from self._node_path(self._expect(node, Node, "node"))
        resp = yield from self._send("POST", f"{path}/{action}", what=node.id,
                                     missing=NodeNotFound, idempotent=True)
        yield from self._settle(resp, f"{action} of {node.name}")
        return True

    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        """``POST .../restart``, ``.../start`` (a stopped or deallocated VM) or
        ``.../deallocate``, waiting until it is done."""
        return self._action(node, _POWER_ACTIONS[change])

    @operation
    def stop_node(self, node: Node, ex_deallocate: bool = True) -> Op[bool]:
        """Stop a VM, waiting until done: deallocate it (no compute billed; Libcloud's
        default), or with ``ex_deallocate=False`` power it off (still billed)."""
        if ex_deallocate:
            return (yield from self._power_node(node, "stop"))
        return (yield from self._action(node, "powerOff"))

    ex_start_node = alias(NodeDriver.start_node, "Apache Libcloud's name for :meth:`start_node`.")

    @operation
    def ex_stop_node(self, node: Node, deallocate: bool = True) -> Op[bool]:
        """Apache Libcloud's name for :meth:`stop_node`."""
        return (yield from self.stop_node.op(node, ex_deallocate=deallocate))

    @operation
    def destroy_node(self, node: Node, ex_destroy_nic: bool = True, ex_destroy_vhd: bool = True,
                     ex_poll_qty: int = 10, ex_poll_wait: int = 10,
                     ex_destroy_os_disk: bool = True, *,
                     ex_destroy_public_ip: bool = True) -> Op[bool]:
        """Delete a VM, waiting until it is gone, then (as Libcloud's options
        say) its NICs (``ex_destroy_nic``), their public IPs
        (``ex_destroy_public_ip``, overcast's) and its managed OS disk
        (``ex_destroy_os_disk``). ``ex_destroy_vhd`` (unmanaged disks) and
        ``ex_poll_qty``/``ex_poll_wait`` (Libcloud's NIC retries) have nothing
        to do here: deletions are followed to their end instead."""
        path = yield from self._node_path(self._expect(node, Node, "node"))
        data = yield from self._json("GET", path, what=node.id, missing=NodeNotFound)
        props = data.get("properties") or {}
        nic_ids = [str(n.get("id")) for n in
                   (props.get("networkProfile") or {}).get("networkInterfaces") or []]
        os_disk = (((props.get("storageProfile") or {}).get("osDisk") or {}).get(
            "managedDisk") or {}).get("id")
        yield from self._arm_delete(path, node.id, NodeNotFound)
        if ex_destroy_nic:
            nics = yield from self._fetch_all(nic_ids)
            for nic_id in nic_ids:
                yield from self._quietly_delete(nic_id)
                if not ex_destroy_public_ip:
                    continue
                for config in ((nics.get(_key(nic_id)) or {}).get("properties") or {}).get(
                        "ipConfigurations") or []:
                    ip_id = ((config.get("properties") or {}).get("publicIPAddress") or {}).get(
                        "id")
                    if ip_id:
                        yield from self._quietly_delete(str(ip_id))
        if ex_destroy_os_disk and os_disk:
            yield from self._quietly_delete(str(os_disk))
        return True

    def _quietly_delete(self, resource_id: str) -> Op[None]:
        """Delete a resource that may already be gone."""
        with contextlib.suppress(NotFound):
            yield from self._arm_delete(self._check_id(resource_id), resource_id)

    # -- sizes, images, locations ------------------------------------------------------

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """Iterate over the VM sizes of ``location`` (default: the driver's),
        priced from the bundled snapshot (US dollars per hour, None when
        unknown; the snapshot's date in ``extra["price_date"]``)."""
        where = yield from self._location(location)
        scope = yield from self._subscription_path()
        path = f"{scope}/providers/Microsoft.Compute/locations/{segment(where, 'location', self)}"
        raw = yield from collect(self._arm_pages(f"{path}/vmSizes", dict,
                                                 missing=LocationNotFound, what=where))
        prices: dict[str, float | None]
        date: str | None
        prices, date = yield Call(_prices_of, [str(r.get("name")) for r in raw], where)
        for data in raw:
            name = str(data.get("name"))
            yield Emit(NodeSize(
                id=name, name=name, ram=int(data.get("memoryInMB") or 0),
                disk=int(data.get("resourceDiskSizeInMB") or 0) // 1024, bandwidth=None,
                price=prices.get(name), driver=self,
                extra={"numberOfCores": data.get("numberOfCores"),
                       "osDiskSizeInMB": data.get("osDiskSizeInMB"),
                       "maxDataDiskCount": data.get("maxDataDiskCount"),
                       "location": where, "price_date": date},
            ))

    def _images_path(self, where: str) -> Op[str]:
        scope = yield from self._subscription_path()
        return (f"{scope}/providers/Microsoft.Compute/locations/"
                f"{segment(where, 'location', self)}/publishers")

    def _names(self, path: str) -> Op[list[str]]:
        """The ``name`` of each entry of a marketplace listing (a JSON array)."""
        data = yield from self._json("GET", path, what=path.rsplit("/", 1)[-1],
                                     missing=ImageNotFound)
        return [str(item.get("name")) for item in data or [] if isinstance(item, dict)]

    @iterator
    def iterate_images(self, location: NodeLocation | None = None,
                       ex_publisher: str | None = None, ex_offer: str | None = None,
                       ex_sku: str | None = None, ex_version: str | None = None) -> Iter[NodeImage]:
        """Iterate over the marketplace images of ``location`` (default: the
        driver's), walking publishers, offers, SKUs and versions; each ``ex_``
        given narrows the walk to it (as Libcloud)."""
        where = yield from self._location(location)
        base = yield from self._images_path(where)
        publishers = [ex_publisher] if ex_publisher else (yield from self._names(base))
        for publisher in publishers:
            offers_path = f"{base}/{segment(publisher, 'publisher', self)}/artifacttypes/" \
                          "vmimage/offers"
            offers = [ex_offer] if ex_offer else (yield from self._names(offers_path))
            for offer in offers:
                skus_path = f"{offers_path}/{segment(offer, 'offer', self)}/skus"
                skus = [ex_sku] if ex_sku else (yield from self._names(skus_path))
                for sku in skus:
                    versions = [ex_version] if ex_version else (yield from self._names(
                        f"{skus_path}/{segment(sku, 'sku', self)}/versions"))
                    for version in versions:
                        yield Emit(AzureImage(version, sku, offer, publisher, where, self))

    list_images = listing(iterate_images, "List the marketplace images of ``location`` "
                                          "(narrowed by the ``ex_`` filters).")

    @operation
    def get_image(self, image_id: str, location: NodeLocation | None = None) -> Op[NodeImage]:
        """A marketplace image by URN (``publisher:offer:sku:version``; the
        version may be ``latest``), checked in ``location``; ImageNotFound if
        the marketplace has none."""
        parts = image_id.split(":") if isinstance(image_id, str) else []
        if len(parts) != 4 or not all(p and "/" not in p for p in parts):
            raise ImageNotFound(str(image_id), f"image not found: {image_id!r} (an Azure "
                                "marketplace image is publisher:offer:sku:version)", driver=self)
        publisher, offer, sku, version = parts
        where = yield from self._location(location)
        base = yield from self._images_path(where)
        versions = (f"{base}/{segment(publisher, 'publisher', self)}/artifacttypes/vmimage/"
                    f"offers/{segment(offer, 'offer', self)}/skus/{segment(sku, 'sku', self)}"
                    "/versions")
        if version.lower() == "latest":
            if not (yield from self._names(versions)):
                raise ImageNotFound(image_id, driver=self)
        else:
            yield from self._json("GET", f"{versions}/{segment(version, 'version', self)}",
                                  what=image_id, missing=ImageNotFound)
        return AzureImage(version, sku, offer, publisher, where, self)

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """Iterate over the subscription's regions (``GET {sub}/locations``)."""
        scope = yield from self._subscription_path()

        def convert(data: dict[str, Any]) -> NodeLocation | None:
            meta = data.get("metadata") or {}
            if meta.get("regionType", "Physical") != "Physical":
                return None
            return NodeLocation(id=str(data["name"]),
                                name=str(data.get("displayName") or data["name"]),
                                country=None, driver=self,
                                extra={"regionalDisplayName": data.get("regionalDisplayName"),
                                       "geography": meta.get("geography"),
                                       "pairedRegion": meta.get("pairedRegion")})

        yield from self._arm_pages(f"{scope}/locations", convert)

    # -- volumes and snapshots ---------------------------------------------------------

    def _to_volume(self, data: Mapping[str, Any]) -> StorageVolume:
        props = data.get("properties") or {}
        state = str(props.get("diskState") or "")
        return StorageVolume(
            id=str(data["id"]), name=data.get("name"), size=int(props.get("diskSizeGB") or 0),
            driver=self,
            state={"Attached": StorageVolumeState.INUSE,
                   "Unattached": StorageVolumeState.AVAILABLE,
                   "Reserved": StorageVolumeState.INUSE}.get(state, StorageVolumeState.UNKNOWN)
            if props.get("provisioningState", "Succeeded") == "Succeeded"
            else StorageVolumeState.CREATING,
            extra={**dict(data), "location": data.get("location"),
                   "managed_by": data.get("managedBy"),
                   "resource_group": _group_of(str(data.get("id") or ""))},
        )

    @iterator
    def iterate_volumes(self, ex_resource_group: str | None = None) -> Iter[StorageVolume]:
        """Iterate over the managed disks of the subscription (or of ``ex_resource_group``)."""
        scope = yield from self._listing_scope(ex_resource_group)
        yield from self._arm_pages(f"{scope}/providers/Microsoft.Compute/disks", self._to_volume)

    list_volumes = listing(iterate_volumes, "List the managed disks of the subscription "
                                            "(or of ``ex_resource_group``).")

    @operation
    def get_volume(self, volume_id: str) -> Op[StorageVolume]:
        """A managed disk by ARM id (or name, in the driver's resource group)."""
        path = yield from self._resource_path(volume_id, "/providers/Microsoft.Compute/disks",
                                              "volume id")
        data = yield from self._json("GET", path, what=str(volume_id), missing=VolumeNotFound)
        return self._to_volume(data)

    @operation
    def ex_get_volume(self, id: str) -> Op[StorageVolume]:
        """Apache Libcloud's name for :meth:`get_volume`."""
        return (yield from self.get_volume.op(id))

    def _put_tagged(self, path: str, body: dict[str, Any], name: str, token: str | None = None,
                    made: list[str] | None = None) -> Op[dict[str, Any]]:
        """Create a resource once: ``If-None-Match: *``, a token tag to find it
        by when the answer is lost; followed to the end, then read back. Its
        path goes in ``made`` as soon as it exists (what a failed create undoes)."""
        token = token or request_token()
        noted = made if made is not None else []
        tagged = {**body, "tags": {**(body.get("tags") or {}), TOKEN_TAG: token}}

        def send() -> Op[bool]:
            resp = yield from self._send("PUT", path, json=tagged,
                                         headers={"If-None-Match": "*"}, idempotent=False,
                                         what=name, exists=AlreadyExists)
            noted.append(path)
            yield from self._settle(resp, f"creating {name}")
            return True

        def find() -> Op[bool | None]:
            data = yield from or_none(self._json("GET", path), NotFound)
            if data is None or (data.get("tags") or {}).get(TOKEN_TAG) != token:
                return None
            noted.append(path)
            return True

        yield from create_once(send, find)
        data: dict[str, Any] = yield from self._json("GET", path, what=name)
        return data

    @operation
    def create_volume(self, size: int, name: str, location: NodeLocation | None = None,
                      snapshot: VolumeSnapshot | None = None,
                      ex_resource_group: str | None = None, ex_sku_name: str | None = None,
                      ex_tags: Mapping[str, str] | None = None) -> Op[StorageVolume]:
        """Create an empty managed disk of ``size`` GiB (or a copy of
        ``snapshot``) in ``location`` (default: the driver's), waiting until
        it is made. ``ex_sku_name`` is its SKU (default ``Standard_LRS``)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInput(f"size must be a positive number of GiB: {size!r}", driver=self)
        segment(name, "name", self)
        source = None if snapshot is None else self._expect(snapshot, VolumeSnapshot,
                                                            "snapshot").id
        where = yield from self._location(location)
        path = yield from self._resource_path(name, "/providers/Microsoft.Compute/disks", "name",
                                              ex_resource_group)
        creation: dict[str, Any] = {"createOption": "Empty"} if source is None else \
            {"createOption": "Copy", "sourceResourceId": source}
        data = yield from self._put_tagged(path, {
            "location": where, "tags": dict(ex_tags or {}),
            "sku": {"name": ex_sku_name or "Standard_LRS"},
            "properties": {"creationData": creation, "diskSizeGB": size}}, name)
        return self._to_volume(data)

    @operation
    def destroy_volume(self, volume: StorageVolume) -> Op[bool]:
        """Delete a managed disk (it must be detached), waiting until it is gone."""
        vol = self._expect(volume, StorageVolume, "volume")
        return (yield from self._destroy(vol.id, "disks", VolumeNotFound))

    def _data_disks(self, vm_path: str, what: str) -> Op[list[dict[str, Any]]]:
        data = yield from self._json("GET", vm_path, what=what, missing=NodeNotFound)
        disks = ((data.get("properties") or {}).get("storageProfile") or {}).get("dataDisks")
        return [dict(d) for d in disks or []]

    def _set_data_disks(self, vm_path: str, disks: list[dict[str, Any]], what: str) -> Op[bool]:
        resp = yield from self._send("PATCH", vm_path, json={
            "properties": {"storageProfile": {"dataDisks": disks}}}, what=what,
            missing=NodeNotFound, idempotent=True)
        yield from self._settle(resp, f"updating the disks of {what}")
        return True

    @operation
    def attach_volume(self, node: Node, volume: StorageVolume, device: str | None = None, *,
                      ex_lun: int | None = None) -> Op[bool]:
        """Attach a managed disk to a VM as a data disk (at ``ex_lun``, else the
        first free LUN), waiting until done. Azure names devices itself:
        ``device`` is ignored."""
        vol = self._expect(volume, StorageVolume, "volume")
        vm_path = yield from self._node_path(self._expect(node, Node, "node"))
        disks = yield from self._data_disks(vm_path, node.id)
        used = {d.get("lun") for d in disks}
        lun = ex_lun if ex_lun is not None else next(n for n in range(64) if n not in used)
        if lun in used:
            raise InvalidInput(f"LUN {lun} is taken on {node.name}", driver=self)
        disks.append({"lun": lun, "createOption": "Attach", "managedDisk": {"id": vol.id}})
        return (yield from self._set_data_disks(vm_path, disks, node.id))

    @operation
    def detach_volume(self, volume: StorageVolume, ex_node: Node | None = None) -> Op[bool]:
        """Detach a managed disk from its VM (``ex_node``, else the one that
        manages it), waiting until done; InvalidInput if it is attached to none."""
        vol = yield from self.get_volume.op(self._expect(volume, StorageVolume, "volume").id)
        owner = ex_node.id if ex_node is not None else vol.extra.get("managed_by")
        if not owner:
            raise InvalidInput(f"volume {vol.name} is attached to no VM", driver=self)
        vm_path = yield from self._node_path(str(owner))
        disks = yield from self._data_disks(vm_path, str(owner))
        kept = [d for d in disks if _key((d.get("managedDisk") or {}).get("id")) != _key(vol.id)]
        if len(kept) == len(disks):
            raise InvalidInput(f"volume {vol.name} is not attached to {owner}", driver=self)
        return (yield from self._set_data_disks(vm_path, kept, str(owner)))

    def _to_snapshot(self, data: Mapping[str, Any]) -> VolumeSnapshot:
        props = data.get("properties") or {}
        return VolumeSnapshot(
            id=str(data["id"]), driver=self, size=int(props.get("diskSizeGB") or 0) or None,
            extra={**dict(data), "location": data.get("location"),
                   "source_id": (props.get("creationData") or {}).get("sourceResourceId")},
            created=moment(props.get("timeCreated")),
            state=VolumeSnapshotState.AVAILABLE if props.get("provisioningState",
                                                             "Succeeded") == "Succeeded"
            else VolumeSnapshotState.CREATING,
            name=data.get("name"),
        )

    @iterator
    def iterate_volume_snapshots(self, volume: StorageVolume) -> Iter[VolumeSnapshot]:
        """Iterate over the snapshots copied from a managed disk (the
        subscription's snapshots, filtered by source)."""
        vol = self._expect(volume, StorageVolume, "volume")
        scope = yield from self._subscription_path()

        def convert(data: dict[str, Any]) -> VolumeSnapshot | None:
            snap = self._to_snapshot(data)
            return snap if _key(snap.extra["source_id"]) == _key(vol.id) else None

        yield from self._arm_pages(f"{scope}/providers/Microsoft.Compute/snapshots", convert)

    @operation
    def get_volume_snapshot(self, snapshot_id: str) -> Op[VolumeSnapshot]:
        """A snapshot by ARM id (or name, in the driver's resource group)."""
        path = yield from self._resource_path(snapshot_id,
                                              "/providers/Microsoft.Compute/snapshots",
                                              "snapshot id")
        data = yield from self._json("GET", path, what=str(snapshot_id),
                                     missing=SnapshotNotFound)
        return self._to_snapshot(data)

    @operation
    def ex_get_snapshot(self, id: str) -> Op[VolumeSnapshot]:
        """Apache Libcloud's name for :meth:`get_volume_snapshot`."""
        return (yield from self.get_volume_snapshot.op(id))

    @operation
    def create_volume_snapshot(self, volume: StorageVolume, name: str | None = None,
                               location: NodeLocation | None = None,
                               ex_resource_group: str | None = None,
                               ex_tags: Mapping[str, str] | None = None) -> Op[VolumeSnapshot]:
        """Snapshot a managed disk (a full copy), waiting until it is made;
        ``name`` defaults to the disk's with ``-snapshot``."""
        vol = self._expect(volume, StorageVolume, "volume")
        label = name or f"{vol.name or 'disk'}-snapshot"
        segment(label, "name", self)
        where = location.id if location is not None else (
            vol.extra.get("location") or (yield from self._location(None)))
        path = yield from self._resource_path(label, "/providers/Microsoft.Compute/snapshots",
                                              "name", ex_resource_group)
        data = yield from self._put_tagged(path, {
            "location": where, "tags": dict(ex_tags or {}),
            "properties": {"creationData": {"createOption": "Copy",
                                            "sourceResourceId": vol.id}}}, label)
        return self._to_snapshot(data)

    @operation
    def destroy_volume_snapshot(self, snapshot: VolumeSnapshot) -> Op[bool]:
        """Delete a snapshot, waiting until it is gone."""
        snap = self._expect(snapshot, VolumeSnapshot, "snapshot")
        return (yield from self._destroy(snap.id, "snapshots", SnapshotNotFound))

    def _destroy(self, resource_id: str, kind: str, missing: type[NotFound]) -> Op[bool]:
        """Delete a disk or snapshot (``kind``) by id or name, waiting until it is gone."""
        path = yield from self._resource_path(resource_id, f"/providers/Microsoft.Compute/{kind}",
                                              missing.kind + " id")
        yield from self._arm_delete(path, resource_id, missing)
        return True

    # -- networking and resource groups (ex_) --------------------------------------------

    def _resources(self, path: str, make: Callable[[dict[str, Any]], T]) -> Op[list[T]]:
        return (yield from collect(self._arm_pages(path, make)))

    @staticmethod
    def _parts(data: Mapping[str, Any]) -> tuple[str, str, str | None, dict[str, Any]]:
        return (str(data.get("id")), str(data.get("name")), data.get("location"),
                dict(data.get("properties") or {}))

    @operation
    def ex_list_resource_groups(self) -> Op[list[AzureResourceGroup]]:
        """The subscription's resource groups."""
        scope = yield from self._subscription_path()
        return (yield from self._resources(f"{scope}/resourcegroups",
                                           lambda d: AzureResourceGroup(*self._parts(d))))

    @operation
    def ex_list_networks(self) -> Op[list[AzureNetwork]]:
        """The subscription's virtual networks."""
        scope = yield from self._subscription_path()
        return (yield from self._resources(f"{scope}{_NET}/virtualNetworks",
                                           lambda d: AzureNetwork(*self._parts(d))))

    @operation
    def ex_list_subnets(self, network: AzureNetwork | str) -> Op[list[AzureSubnet]]:
        """The subnets of a virtual network (an :class:`AzureNetwork` or its ARM id)."""
        net = network.id if isinstance(network, AzureNetwork) else network
        path = yield from self._resource_path(net, f"{_NET}/virtualNetworks", "network")

        def make(data: dict[str, Any]) -> AzureSubnet:
            found = self._parts(data)
            return AzureSubnet(found[0], found[1], found[3])

        return (yield from self._resources(f"{path}/subnets", make))

    def _to_nic(self, data: dict[str, Any]) -> AzureNic:
        return AzureNic(*self._parts(data))

    def _to_ip(self, data: dict[str, Any]) -> AzureIPAddress:
        found = self._parts(data)
        return AzureIPAddress(found[0], found[1], found[3])

    @operation
    def ex_list_nics(self, resource_group: str | None = None) -> Op[list[AzureNic]]:
        """The network interfaces of the subscription (or of ``resource_group``)."""
        scope = yield from self._listing_scope(resource_group)
        return (yield from self._resources(f"{scope}{_NET}/networkInterfaces", self._to_nic))

    @operation
    def ex_list_public_ips(self, resource_group: str) -> Op[list[AzureIPAddress]]:
        """The public IP addresses of ``resource_group``."""
        scope = yield from self._group_path(resource_group)
        return (yield from self._resources(f"{scope}{_NET}/publicIPAddresses", self._to_ip))

    @operation
    def ex_get_nic(self, id: str) -> Op[AzureNic]:
        """A network interface by ARM id."""
        data = yield from self._json("GET", self._check_input_id(id, "nic id"), what=id)
        return self._to_nic(data)

    @operation
    def ex_get_public_ip(self, id: str) -> Op[AzureIPAddress]:
        """A public IP address resource by ARM id."""
        data = yield from self._json("GET", self._check_input_id(id, "public IP id"), what=id)
        return self._to_ip(data)

    def _check_input_id(self, value: object, what: str) -> str:
        if not isinstance(value, str) or not value.startswith("/subscriptions/") or \
                ".." in value:
            raise InvalidInput(f"{what} must be an ARM resource id: {value!r}", driver=self)
        return value

    @operation
    def ex_create_public_ip(self, name: str, resource_group: str,
                            location: NodeLocation | None = None,
                            public_ip_allocation_method: str | None = None
                            ) -> Op[AzureIPAddress]:
        """Create a public IP address (Standard SKU; ``Static`` unless
        ``public_ip_allocation_method`` says ``Dynamic``), waiting until made."""
        method = public_ip_allocation_method or "Static"
        if method not in ("Static", "Dynamic"):
            raise InvalidInput(f"public_ip_allocation_method is Static or Dynamic: {method!r}",
                               driver=self)
        where = yield from self._location(location)
        data = yield from self._new_resource(
            f"{_NET}/publicIPAddresses", name, resource_group, request_token(),
            {"location": where, "sku": {"name": "Standard" if method == "Static" else "Basic"},
             "properties": {"publicIPAllocationMethod": method}}, [])
        return self._to_ip(data)

    @operation
    def ex_create_network_interface(self, name: str, subnet: AzureSubnet | str,
                                    resource_group: str, location: NodeLocation | None = None,
                                    public_ip: AzureIPAddress | str | None = None
                                    ) -> Op[AzureNic]:
        """Create a network interface in ``subnet`` (with ``public_ip``, if
        given), waiting until it is made."""
        subnet_id = subnet.id if isinstance(subnet, AzureSubnet) else \
            self._check_input_id(subnet, "subnet")
        ip_id = public_ip.id if isinstance(public_ip, AzureIPAddress) else (
            None if public_ip is None else self._check_input_id(public_ip, "public_ip"))
        where = yield from self._location(location)
        data = yield from self._new_resource(
            f"{_NET}/networkInterfaces", name, resource_group, request_token(),
            self._nic_body(where, subnet_id, ip_id), [])
        return self._to_nic(data)

    @operation
    def ex_destroy_nic(self, nic: AzureNic) -> Op[bool]:
        """Delete a network interface (not attached to a VM), waiting until gone."""
        nic_id = nic.id if isinstance(nic, AzureNic) else nic
        yield from self._arm_delete(self._check_input_id(nic_id, "nic"), str(nic_id))
        return True

    @operation
    def ex_delete_public_ip(self, public_ip: AzureIPAddress) -> Op[bool]:
        """Delete a public IP address (not attached), waiting until gone."""
        ip_id = public_ip.id if isinstance(public_ip, AzureIPAddress) else public_ip
        yield from self._arm_delete(self._check_input_id(ip_id, "public_ip"), str(ip_id))
        return True


def _prices_of(names: list[str], location: str) -> tuple[dict[str, float | None], str | None]:
    """Prices of the sizes ``names`` in ``location``, and the snapshot's date
    (reads the snapshot on first use)."""
    return ({name: azure_prices.size_price(name, location) for name in names},
            azure_prices.price_date())
