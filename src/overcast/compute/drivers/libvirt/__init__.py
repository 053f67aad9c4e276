"""libvirt: virtual machines (domains) on a KVM/QEMU, Xen, ... host, through libvirt-python.

``LibvirtNodeDriver(uri="qemu:///system")`` manages the domains of one
hypervisor connection. libvirt-python (``pip install 'overcast[libvirt]'``) is
a blocking C library: every call to it runs through a ``Call`` effect, so in
async mode it runs in a worker thread and the event loop never blocks. The
module is imported, and the connection opened, on first use; the driver keeps
that one connection (libvirt connections are thread-safe) until
:meth:`LibvirtNodeDriver.close`.

How overcast's model maps onto libvirt:

* A :class:`~overcast.compute.base.Node` is a domain. Its id is the domain's
  UUID; its state comes from ``virDomainGetState`` (running and blocked are
  ``RUNNING``, paused is ``PAUSED``, being shut down and shut off are
  ``STOPPED``, crashed is ``ERROR``, suspended to memory/disk (pmsuspended)
  is ``SUSPENDED``). Addresses come from ``virDomainInterfaceAddresses``
  (the network's DHCP leases, else the host's ARP table): private
  (RFC 1918, link-local, ...) ones go to ``private_ips``, global ones to
  ``public_ips``. A domain whose hypervisor reports none has no address, and
  ``wait_until_running`` waits for one. The built-in test hypervisor
  (``test:///default``) reports a made-up address on its ``default`` network
  for every interface, which is what the tests wait for.
* A :class:`~overcast.compute.base.NodeSize` is one of a few fixed vCPU/RAM
  pairs (:data:`SIZES`, ids like ``"2-2048"``); its disk is the image's.
* A :class:`~overcast.compute.base.NodeImage` is a storage volume in an active
  storage pool; its id is the volume's key (its path, for a directory pool).
  Volumes holding the disks of nodes this driver made (``overcast-disk-...``)
  are not listed as images.
* There is one :class:`~overcast.compute.base.NodeLocation`: the hypervisor
  (id ``"hypervisor"``).
* ``create_node`` clones the image volume into a new volume in the same pool
  (``virStorageVolCreateXMLFrom``; ``ex_clone_disk=False`` attaches the image
  volume itself instead), then defines and starts a domain built with
  ElementTree (so any name is escaped properly), with the size's vCPUs and
  memory, the disk, and an interface on the libvirt network ``ex_network``;
  its domain type is the host's best (KVM, then QEMU, ...) unless
  ``ex_domain_type`` names one.
  The domain's UUID is made by the driver and doubles as the create's
  idempotency token; it is also written into the domain's ``<metadata>``
  with the size, the image and the disk the driver made. ``destroy_node``
  powers the domain off, undefines it, and deletes that disk.
* libvirt cannot put a password or an SSH key into a guest, so
  ``create_node(auth=...)`` raises :class:`~overcast.errors.NotSupported`
  (use an image that is set up for access, e.g. with cloud-init).

libvirt lists everything at once; ``iterate_nodes`` still describes and emits
the domains ``page_size`` at a time. Key pairs, volumes and snapshots are not
supported.

Note that libvirt-python prints every error to stderr unless the program
registers its own handler (``libvirt.registerErrorHandler``); the driver does
not change that process-wide setting.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from typing import ClassVar
from typing import TypeVar

from overcast.compute.base import NodeDriverAsync
from overcast.compute.base import NodeSpec
from overcast.compute.base import PowerChange
from overcast.compute.drivers.libvirt.host import _STATE_NAMES
from overcast.compute.drivers.libvirt.host import _STATES
from overcast.compute.drivers.libvirt.host import DISK_PREFIX
from overcast.compute.drivers.libvirt.host import LOCATION_ID
from overcast.compute.drivers.libvirt.host import MAX_NAME_LENGTH
from overcast.compute.drivers.libvirt.host import METADATA_NS
from overcast.compute.drivers.libvirt.host import SIZES
from overcast.compute.drivers.libvirt.host import LibvirtHost
from overcast.compute.drivers.libvirt.host import _check_name
from overcast.compute.drivers.libvirt.host import _Domain
from overcast.compute.drivers.libvirt.host import _size_id
from overcast.compute.drivers.libvirt.host import _Volume
from overcast.compute.models import Node
from overcast.compute.models import NodeAuth
from overcast.compute.models import NodeAuthPassword
from overcast.compute.models import NodeAuthSSHKey
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.compute.models import NodeSize
from overcast.compute.models import NodeState
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import LocationNotFound
from overcast.errors import NodeNotFound
from overcast.errors import NotFound
from overcast.errors import OutcomeUnknown
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import aio
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate

__all__ = [
    "DISK_PREFIX",
    "LOCATION_ID",
    "METADATA_NS",
    "SIZES",
    "LibvirtNodeDriver",
    "NodeDriverAsync",
    "NotFound", "aio",
]

T = TypeVar("T")


class LibvirtNodeDriver(LibvirtHost):
    """Domains (virtual machines) of one libvirt hypervisor connection.

    ``uri`` is a libvirt connection URI: ``qemu:///system`` (the default),
    ``qemu:///session``, ``qemu+ssh://user@host/system``, ``test:///default``
    (libvirt's built-in test hypervisor, no daemon needed), ... ``key`` and
    ``secret`` are a user name and password for connections whose daemon asks
    for them (SASL); without them libvirt uses its own defaults (local socket
    permissions, SSH keys). ``page_size`` is how many domains a listing
    describes and emits per step. Constructing the driver does not touch
    libvirt: the library is imported and the connection opened on first use,
    then kept until :meth:`close`.
    """

    name: ClassVar[str] = "libvirt"
    max_name_length: ClassVar[int] = MAX_NAME_LENGTH
    auth_kinds: ClassVar[tuple[type[NodeAuthSSHKey] | type[NodeAuthPassword], ...]] = ()
    auth_hint: ClassVar[str] = (
        "; use an image prepared for access (e.g. with cloud-init) and auth=None"
    )

    # -- models ----------------------------------------------------------------------------

    def _to_size(self, vcpus: int, ram: int) -> NodeSize:
        return NodeSize(
            id=_size_id(vcpus, ram),
            name=f"{vcpus} vCPU, {ram} MiB",
            ram=ram,
            disk=0,
            driver=self,
            extra={"vcpus": vcpus},
        )

    def _to_image(self, volume: _Volume) -> NodeImage:
        return NodeImage(
            id=volume.key,
            name=volume.name,
            driver=self,
            extra={
                "pool": volume.pool,
                "path": volume.path,
                "capacity": volume.capacity,
                "allocation": volume.allocation,
                "format": volume.format,
            },
        )

    def _to_node(self, dom: _Domain) -> Node:
        public: list[str] = []
        private: list[str] = []
        for address in dom.addresses:
            try:
                ip = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                continue
            (public if ip.is_global else private).append(address)
        meta = dom.metadata
        size = self._to_size(dom.vcpus, dom.memory_mib) if dom.vcpus else None
        image = None
        if meta.get("image"):
            image = NodeImage(id=meta["image"], name=meta["image"].rsplit("/", 1)[-1],
                              driver=self)
        state_name = _STATE_NAMES[dom.state] if 0 <= dom.state < len(_STATE_NAMES) else "?"
        return Node(
            id=dom.uuid,
            name=dom.name,
            state=_STATES.get(dom.state, NodeState.UNKNOWN),
            public_ips=public,
            private_ips=private,
            driver=self,
            size=size,
            image=image,
            extra={
                "uuid": dom.uuid,
                "domain_id": dom.libvirt_id if dom.libvirt_id >= 0 else None,
                "libvirt_state": state_name,
                "state_reason": dom.reason,
                "domain_type": dom.domain_type,
                "vcpus": dom.vcpus,
                "memory": dom.memory_mib,
                "mac_addresses": dom.macs,
                "networks": dom.networks,
                "disks": dom.disks,
                "location": LOCATION_ID,
                "overcast": dict(meta),
            },
        )

    # -- nodes ------------------------------------------------------------------------------

    def _in_pages(self, count: int, read: Callable[[int], Op[list[T]]], what: str) -> Iter[T]:
        """The items of ``count`` pages, page ``n`` read by ``read(n - 1)`` when
        the consumer gets to it (libvirt lists everything at once; what is
        described, one page at a time, is the costly part)."""
        if count == 0:
            return

        def fetch(page: Cursor | None) -> Op[Page[T]]:
            number = int(page or 1)
            return Page.number((yield from read(number - 1)), number, pages=count)

        yield from paginate(fetch, first=1, what=what, driver=self)

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        """Iterate over every domain (running or not), ``page_size`` described at a time."""
        domains = yield from self._send(self._list_domains)
        size = self.page_size

        def describe(index: int) -> Op[list[Node]]:
            page = yield from self._send(self._describe_many,
                                         domains[index * size:(index + 1) * size])
            return [self._to_node(dom) for dom in page]

        yield from self._in_pages(-(-len(domains) // size), describe, "libvirt domains")

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """Get a domain by UUID; :class:`NodeNotFound` if there is none."""
        try:
            canonical = str(uuid.UUID(node_id)) if isinstance(node_id, str) else None
        except ValueError:
            canonical = None
        if canonical is None:
            raise NodeNotFound(str(node_id), driver=self)
        dom = yield from self._send(
            self._describe_uuid, canonical, missing=lambda: NodeNotFound(node_id, driver=self)
        )
        return self._to_node(dom)

    @operation
    def create_node(self, name: str, size: NodeSize, image: NodeImage,
                    location: NodeLocation | None = None, auth: NodeAuth | None = None, *,
                    ex_network: str | None = "default", ex_clone_disk: bool = True,
                    ex_domain_type: str | None = None) -> Op[Node]:
        """Define and start a domain named ``name`` with ``size``'s vCPUs and RAM.

        Its disk is a copy of the ``image`` volume made in the image's pool
        (``ex_clone_disk=False``: the image volume itself, shared with
        whatever else uses it); ``destroy_node`` deletes that copy. Its one
        network interface is on the libvirt network ``ex_network`` (``None``:
        no interface). ``ex_domain_type`` picks the libvirt domain type
        (``"qemu"`` for emulation where KVM is offered but unusable; default:
        the host's best, KVM first). ``auth`` is not supported: libvirt cannot put
        credentials into a guest. A name already used by another domain
        raises :class:`~overcast.errors.AlreadyExists`.

        The request token is the domain's UUID (made by the driver): a create
        whose outcome is unknown looks the domain up by it.
        """
        return (yield from self._create_node(
            name, size, image, location, auth, ex_network=ex_network,
            ex_clone_disk=ex_clone_disk, ex_domain_type=ex_domain_type,
        ))

    def _check_node(self, spec: NodeSpec) -> NodeSpec:
        """Names libvirt refuses, the size's RAM and vCPUs (``vcpus`` added to
        the options), the one location, the network and domain type."""
        _check_name(spec.name, self)
        if not isinstance(spec.size.ram, int) or spec.size.ram < 1:
            raise InvalidInput(f"size.ram must be a positive number of MiB: {spec.size.ram!r}",
                               driver=self)
        vcpus = spec.size.extra.get("vcpus", 1)
        if not isinstance(vcpus, int) or isinstance(vcpus, bool) or vcpus < 1:
            raise InvalidInput(f"size.extra['vcpus'] must be a positive integer: {vcpus!r}",
                               driver=self)
        if spec.location is not None and spec.location.id != LOCATION_ID:
            raise LocationNotFound(spec.location.id, driver=self)
        network = spec.options["ex_network"]
        if network is not None and (not isinstance(network, str) or not network):
            raise InvalidInput(f"ex_network must be a network name or None: {network!r}",
                               driver=self)
        kind = spec.options["ex_domain_type"]
        if kind is not None and (not isinstance(kind, str) or not kind):
            raise InvalidInput(f"ex_domain_type must be a libvirt domain type: {kind!r}",
                               driver=self)
        return spec.but(vcpus=vcpus)

    def _send_node(self, spec: NodeSpec, token: str) -> Op[Node]:
        """One attempt: the disk, then the domain, whose UUID is ``token`` (the
        disk is deleted again if the domain cannot be made)."""
        domain_uuid = str(uuid.UUID(token))
        options = spec.options
        clone = bool(options["ex_clone_disk"])
        image = spec.image
        host = yield from self._send(self._host_info, options["ex_domain_type"])
        if clone:
            disk = yield from self._send(
                self._clone_volume, image.id, f"{DISK_PREFIX}{domain_uuid}",
                missing=lambda: ImageNotFound(image.id, driver=self), idempotent=False,
            )
        else:
            disk = yield from self._send(
                self._volume, image.id, missing=lambda: ImageNotFound(image.id, driver=self)
            )
        xml = self._domain_xml(name=spec.name, token=domain_uuid, size=spec.size,
                               vcpus=options["vcpus"], image=image, disk=disk, owned=clone,
                               host=host, network=options["ex_network"])

        def define() -> Op[_Domain]:
            return self._send(self._define_and_start, xml, idempotent=False)

        def undo(exc: BaseException) -> Op[None]:
            if clone and not isinstance(exc, OutcomeUnknown):  # else the domain may use it
                yield from self._send(self._delete_volume, disk.key)

        dom: _Domain = yield Guarded(define(), undo)
        return self._to_node(dom)

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        """The domain whose UUID is ``token``, if an attempt defined it."""
        found = yield from self._send(self._find_uuid, str(uuid.UUID(token)))
        return None if found is None else self._to_node(found)

    def _power_node(self, node: Node, change: PowerChange) -> Op[bool]:
        """Reboot a domain (power-cycle it where the hypervisor cannot reboot);
        start a shut-off one (resume a paused or wake a suspended one); or ask a
        running one to shut down (ACPI), True once asked.

        A stopped guest shuts down in its own time (``state`` is ``STOPPED``
        when it has); a guest that ignores ACPI keeps running. A domain already
        shut off is left as it is.
        """
        steps = {"reboot": self._reboot, "start": self._start, "stop": self._stop}
        return self._on_domain(steps[change], node)

    @operation
    def destroy_node(self, node: Node) -> Op[bool]:
        """Power a domain off, undefine it, and delete the disk ``create_node`` made for it."""
        return (yield from self._on_domain(self._destroy, node))

    @operation
    def ex_create_image_volume(
        self, name: str, size_mib: int, *, pool: str = "default-pool", format: str = "qcow2"
    ) -> Op[NodeImage]:
        """Create an empty volume in a storage pool, to boot nodes from (an image).

        An empty disk is what a hypervisor without network installs needs for a
        first node (libvirt's ``test:///default`` has no volumes at all).
        """
        _check_name(name, self)
        if isinstance(size_mib, bool) or not isinstance(size_mib, int) or size_mib < 1:
            raise InvalidInput(f"size_mib must be a positive integer: {size_mib!r}", driver=self)
        if format not in ("qcow2", "raw"):
            raise InvalidInput(f"format must be 'qcow2' or 'raw': {format!r}", driver=self)
        volume = yield from self._send(self._create_image_volume, pool, name, size_mib, format)
        return self._to_image(volume)

    @operation
    def ex_suspend_node(self, node: Node) -> Op[bool]:
        """Pause a running domain (its state becomes ``PAUSED``)."""
        return (yield from self._on_domain(self._suspend, node))

    @operation
    def ex_resume_node(self, node: Node) -> Op[bool]:
        """Resume a paused domain."""
        return (yield from self._on_domain(self._resume, node))

    def _on_domain(self, action: Callable[[str], None], node: Node) -> Op[bool]:
        """Run ``action`` (a blocking helper) on the node's domain; NodeNotFound
        if the domain is gone."""
        node_id = self._expect(node, Node, "node").id
        yield from self._send(action, node_id, missing=lambda: NodeNotFound(node_id, driver=self))
        return True

    # -- sizes, images, locations ------------------------------------------------------------

    @iterator
    def iterate_sizes(self, location: NodeLocation | None = None) -> Iter[NodeSize]:
        """The fixed sizes of :data:`SIZES` (the same in every location)."""
        for vcpus, ram in SIZES:
            yield Emit(self._to_size(vcpus, ram))

    @iterator
    def iterate_images(self, location: NodeLocation | None = None) -> Iter[NodeImage]:
        """The volumes of every active storage pool, one pool at a time (node disks
        made by this driver left out)."""
        pools = yield from self._send(self._list_pools)

        def volumes(index: int) -> Op[list[NodeImage]]:
            found = yield from self._send(self._pool_volumes, pools[index])
            return [self._to_image(v) for v in found if not v.name.startswith(DISK_PREFIX)]

        yield from self._in_pages(len(pools), volumes, "libvirt storage pools")

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """Get a storage volume by key (or path); :class:`ImageNotFound` if there is none."""
        if not isinstance(image_id, str) or not image_id:
            raise ImageNotFound(str(image_id), driver=self)
        volume = yield from self._send(
            self._volume, image_id, missing=lambda: ImageNotFound(image_id, driver=self)
        )
        return self._to_image(volume)

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """The one location: the hypervisor (named by its host name)."""
        location = yield from self._send(self._location)
        yield Emit(location)

