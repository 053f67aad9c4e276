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

import contextlib
import importlib
import ipaddress
import threading
import unicodedata
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeVar

from overcast.compute.base import (
    Node,
    NodeAuth,
    NodeAuthPassword,
    NodeAuthSSHKey,
    NodeDriver,
    NodeDriverAsync,
    NodeImage,
    NodeLocation,
    NodeSize,
    NodeState,
)
from overcast.errors import (
    AlreadyExists,
    ImageNotFound,
    InvalidCredentials,
    InvalidInput,
    LocationNotFound,
    NodeNotFound,
    NotFound,
    NotSupported,
    OutcomeUnknown,
    OvercastError,
    ProviderError,
    TransportError,
)
from overcast.runtime.effects import Call, Emit, Guarded, Iter, Op
from overcast.runtime.operation import aio, iterator, operation
from overcast.runtime.ops import create_once
from overcast.runtime.redact import Secret, redact_text, redact_url

__all__ = ["SIZES", "LibvirtNodeDriver", "LibvirtNodeDriverAsync"]

T = TypeVar("T")

#: The node sizes every libvirt host offers: (vCPUs, RAM in MiB).
SIZES: Final[tuple[tuple[int, int], ...]] = ((1, 512), (2, 2048), (4, 4096))
#: The id of the one location: the hypervisor the driver is connected to.
LOCATION_ID: Final = "hypervisor"
#: The XML namespace of the driver's entry in a domain's ``<metadata>``.
METADATA_NS: Final = "urn:overcast:compute:libvirt:1"
#: Volume names of the disks the driver makes for its nodes start with this.
DISK_PREFIX: Final = "overcast-disk-"
#: Longest node name accepted: a file name on most hosts (libvirt names files after domains).
MAX_NAME_LENGTH: Final = 255
_INSTALL_HINT: Final = "pip install 'overcast[libvirt]'"

# virDomainState values.
_STATES: Final[dict[int, NodeState]] = {
    0: NodeState.UNKNOWN,  # NOSTATE
    1: NodeState.RUNNING,  # RUNNING
    2: NodeState.RUNNING,  # BLOCKED (waiting on a resource, still up)
    3: NodeState.PAUSED,  # PAUSED
    4: NodeState.STOPPED,  # SHUTDOWN (being shut down)
    5: NodeState.STOPPED,  # SHUTOFF
    6: NodeState.ERROR,  # CRASHED
    7: NodeState.SUSPENDED,  # PMSUSPENDED
}
_STATE_NAMES: Final = (
    "nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended"
)
_DOMAIN_TYPES: Final = ("kvm", "qemu", "test")  # preferred first, when the host offers several
# virErrorNumber values the driver tells apart.
_ERR_NO_SUPPORT: Final = 3
_ERR_NO_CONNECT: Final = 5
_ERR_INVALID_ARG: Final = 8
_ERR_OPERATION_FAILED: Final = 9
_ERR_NO_DOMAIN: Final = 42
_ERR_AUTH_FAILED: Final = 45
_ERR_NO_STORAGE_POOL: Final = 49
_ERR_NO_STORAGE_VOL: Final = 50
_ERR_OPERATION_INVALID: Final = 55
_ERR_AUTH_CANCELLED: Final = 79
_ERR_STORAGE_VOL_EXIST: Final = 90
_ERR_AUTH_UNAVAILABLE: Final = 94
_AUTH_ERRORS: Final = frozenset({_ERR_AUTH_FAILED, _ERR_AUTH_CANCELLED, _ERR_AUTH_UNAVAILABLE})
# virErrorDomain values of the RPC layer: the connection to the daemon failed.
_FROM_REMOTE: Final = 13
_FROM_RPC: Final = 7
# Names that share values with virErrorNumber but are error levels.
_NOT_ERROR_NUMBERS: Final = frozenset({"VIR_ERR_NONE", "VIR_ERR_WARNING", "VIR_ERR_ERROR"})

ET.register_namespace("overcast", METADATA_NS)

_libvirt_module: Any = None
_import_lock = threading.Lock()


def _libvirt() -> Any:
    """The ``libvirt`` module, imported on first use (in a worker thread when async)."""
    global _libvirt_module
    if _libvirt_module is None:
        with _import_lock:
            if _libvirt_module is None:
                try:
                    _libvirt_module = importlib.import_module("libvirt")
                except ImportError as exc:
                    raise NotSupported(
                        f"the libvirt driver needs libvirt-python: {_INSTALL_HINT}",
                        driver="libvirt",
                    ) from exc
    return _libvirt_module


def _is_libvirt_error(exc: BaseException) -> bool:
    module = _libvirt_module
    return module is not None and isinstance(exc, module.libvirtError)


_error_names: dict[int, str] = {}


def _error_name(code: int) -> str:
    """``VIR_ERR_NO_DOMAIN`` for 42: the provider error code overcast reports."""
    if not _error_names and _libvirt_module is not None:
        for name, value in vars(_libvirt_module).items():
            if (name.startswith("VIR_ERR_") and name not in _NOT_ERROR_NUMBERS
                    and isinstance(value, int)):
                _error_names.setdefault(value, name)
    return _error_names.get(code, str(code))


# -- what the worker threads hand back ----------------------------------------------


@dataclass(slots=True)
class _Domain:
    """A domain as the worker thread read it: plain values, no libvirt objects."""

    uuid: str
    name: str
    state: int
    reason: int
    libvirt_id: int
    domain_type: str
    vcpus: int
    memory_mib: int
    addresses: list[str] = field(default_factory=list)
    macs: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    disks: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Volume:
    """A storage volume as the worker thread read it."""

    key: str
    name: str
    path: str
    pool: str
    capacity: int
    allocation: int
    format: str | None
    type: int


@dataclass(slots=True)
class _Host:
    """What ``create_node`` needs to know of the hypervisor, read once per connection."""

    domain_type: str
    arch: str
    os_type: str


def _text(element: ET.Element | None, default: str = "", *, strip: bool = True) -> str:
    if element is None or not element.text:
        return default
    return element.text.strip() if strip else element.text


def _memory_mib(element: ET.Element | None) -> int:
    if element is None or not element.text:
        return 0
    factors = {"b": 1 / 1024**2, "bytes": 1 / 1024**2, "k": 1 / 1024, "kib": 1 / 1024,
               "kb": 1000 / 1024**2, "m": 1, "mib": 1, "mb": 1000**2 / 1024**2,
               "g": 1024, "gib": 1024, "gb": 1000**3 / 1024**2}
    unit = element.get("unit", "KiB").lower()
    return int(int(element.text.strip()) * factors.get(unit, 1 / 1024))


def _parse_domain(xml: str) -> dict[str, Any]:
    """The parts of a domain's XML the driver reports."""
    root = ET.fromstring(xml)
    disks = []
    for disk in root.iterfind("./devices/disk"):
        source = disk.find("source")
        entry = {"device": disk.get("device", "disk"), "type": disk.get("type", "")}
        if source is not None:
            for attr in ("file", "dev", "pool", "volume", "name"):
                if source.get(attr):
                    entry[attr] = source.get(attr, "")
        target = disk.find("target")
        if target is not None and target.get("dev"):
            entry["target"] = target.get("dev", "")
        disks.append(entry)
    macs, networks = [], []
    for interface in root.iterfind("./devices/interface"):
        mac = interface.find("mac")
        if mac is not None and mac.get("address"):
            macs.append(mac.get("address", "").lower())
        source = interface.find("source")
        if source is not None and (source.get("network") or source.get("bridge")):
            networks.append(source.get("network") or source.get("bridge") or "")
    metadata: dict[str, str] = {}
    entry_el = root.find(f"./metadata/{{{METADATA_NS}}}node")
    if entry_el is not None:
        for child in entry_el:
            metadata[child.tag.rpartition("}")[2]] = _text(child, strip=False)
    return {
        "name": _text(root.find("name"), strip=False),  # libvirt keeps spaces in names
        "uuid": _text(root.find("uuid")),
        "domain_type": root.get("type", ""),
        "vcpus": int(_text(root.find("vcpu"), "0") or 0),
        "memory_mib": _memory_mib(root.find("memory")),
        "disks": disks,
        "macs": macs,
        "networks": networks,
        "metadata": metadata,
    }


def _check_name(name: object, driver: Any) -> str:
    """A node name libvirt accepts, or :class:`InvalidInput`."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"a node name must be a non-empty string: {name!r}", driver=driver)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"a node name is at most {MAX_NAME_LENGTH} characters: {len(name)} given",
            driver=driver,
        )
    if "/" in name:
        raise InvalidInput(f"a libvirt domain name cannot contain '/': {name!r}", driver=driver)
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in name):
        raise InvalidInput(
            f"a node name cannot contain control or unassigned characters: {name!r}",
            driver=driver,
        )
    return name


def _size_id(vcpus: int, ram: int) -> str:
    return f"{vcpus}-{ram}"


# -- the driver ---------------------------------------------------------------------------


class LibvirtNodeDriver(NodeDriver):
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
    aio: LibvirtNodeDriverAsync

    def __init__(
        self,
        uri: str = "qemu:///system",
        key: str | None = None,
        secret: str | Secret | None = None,
        *,
        page_size: int = 100,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not isinstance(uri, str) or not uri or any(ch.isspace() for ch in uri):
            raise InvalidInput(f"uri must be a libvirt connection URI: {uri!r}", driver=self)
        if key is not None and not isinstance(key, str):
            raise InvalidInput("key must be a user name (a string)", driver=self)
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            raise InvalidInput(f"page_size must be a positive integer: {page_size!r}", driver=self)
        self.uri = uri
        self.key = key
        self.secret: Secret | None = Secret(secret) if secret else None
        self.page_size = page_size
        self._connection: Any = None
        self._host: _Host | None = None
        self._undefine_flags: int | None = None  # the undefine flags the hypervisor accepted
        self._conn_lock = threading.Lock()

    def _repr_fields(self) -> dict[str, object]:
        return {"uri": redact_url(self.uri)}

    # -- the connection (these run in worker threads) -------------------------------------

    def _conn(self) -> Any:
        """The driver's one libvirt connection, opened on first use."""
        conn = self._connection
        if conn is not None:
            return conn
        with self._conn_lock:
            if self._connection is None:
                self._connection = self._open()
            return self._connection

    def _open(self) -> Any:
        lv = _libvirt()
        try:
            if self.key is None and self.secret is None:
                return lv.open(self.uri)
            wanted = [lv.VIR_CRED_AUTHNAME, lv.VIR_CRED_ECHOPROMPT,
                      lv.VIR_CRED_PASSPHRASE, lv.VIR_CRED_NOECHOPROMPT]
            return lv.openAuth(self.uri, [wanted, self._answer_credentials, None], 0)
        except lv.libvirtError as exc:
            code = exc.get_error_code()
            message = self._message(exc)
            if code in _AUTH_ERRORS:
                raise InvalidCredentials(
                    f"libvirt refused the credentials for {redact_url(self.uri)}: {message}",
                    driver=self,
                ) from None
            raise TransportError(
                f"cannot connect to libvirt at {redact_url(self.uri)}: {message}", driver=self
            ) from None

    def _answer_credentials(self, credentials: list[list[Any]], _data: object) -> int:
        lv = _libvirt()
        for credential in credentials:
            if credential[0] in (lv.VIR_CRED_AUTHNAME, lv.VIR_CRED_ECHOPROMPT):
                if self.key is None:
                    return -1
                credential[4] = self.key
            elif credential[0] in (lv.VIR_CRED_PASSPHRASE, lv.VIR_CRED_NOECHOPROMPT):
                if self.secret is None:
                    return -1
                credential[4] = self.secret.reveal()
            else:
                return -1
        return 0

    def close(self) -> None:
        """Close the libvirt connection (the next operation opens a new one).

        On ``test:///default`` the test hypervisor's state lives as long as any
        connection of the process to it is open, so closing the last one resets it.
        """
        with self._conn_lock:
            conn, self._connection, self._host = self._connection, None, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a dead connection is closed anyway
                conn.close()
        super().close()

    def _message(self, exc: BaseException) -> str:
        getter = getattr(exc, "get_error_message", None)
        text = getter() if callable(getter) else None
        return redact_text(str(text or exc), self._secrets())

    # -- calling libvirt from operations ------------------------------------------------------

    def _call(
        self,
        fn: Callable[..., T],
        *args: Any,
        missing: Callable[[], NotFound] | None = None,
        idempotent: bool = True,
    ) -> Op[T]:
        """Run ``fn(*args)`` (which calls libvirt) in a ``Call``; map libvirt's errors.

        ``missing`` makes the not-found error for "no such domain / volume";
        a broken connection during a non-idempotent call is
        :class:`OutcomeUnknown`.
        """
        try:
            result: T = yield Call(fn, *args)
        except OvercastError:
            raise
        except Exception as exc:
            if not _is_libvirt_error(exc):
                raise
            error = self._map_error(exc, missing, idempotent)
        else:
            return result
        if isinstance(error, OutcomeUnknown | TransportError):
            yield Call(self._drop_connection)
        raise error

    def _map_error(
        self, exc: Any, missing: Callable[[], NotFound] | None, idempotent: bool
    ) -> OvercastError:
        code: int = exc.get_error_code() or 0
        origin: int = exc.get_error_domain() or 0
        message = self._message(exc)
        if code in (_ERR_NO_DOMAIN, _ERR_NO_STORAGE_VOL, _ERR_NO_STORAGE_POOL) and missing:
            return missing()
        if code in _AUTH_ERRORS:
            return InvalidCredentials(message, driver=self)
        if code == _ERR_NO_SUPPORT:
            return NotSupported(f"the hypervisor does not support this: {message}", driver=self)
        if origin in (_FROM_REMOTE, _FROM_RPC) or code == _ERR_NO_CONNECT:
            if not idempotent:
                return OutcomeUnknown(
                    f"the libvirt connection failed during a create: {message}", driver=self
                )
            return TransportError(f"the libvirt connection failed: {message}", driver=self)
        if code == _ERR_OPERATION_FAILED and "already exists" in message:
            return AlreadyExists(message=message, driver=self)
        return ProviderError(message, code=_error_name(code), driver=self)

    def _drop_connection(self) -> None:
        """Forget a broken connection, so the next operation opens a new one."""
        with self._conn_lock:
            conn = self._connection
            if conn is not None:
                try:
                    alive = conn.isAlive()
                except Exception:  # a broken connection cannot answer
                    alive = False
                if not alive:
                    self._connection, self._host = None, None

    # -- blocking helpers (run in worker threads) ------------------------------------------

    def _list_domains(self) -> list[Any]:
        return list(self._conn().listAllDomains(0))

    def _domain(self, node_id: str) -> Any:
        return self._conn().lookupByUUIDString(node_id)

    def _describe(self, dom: Any) -> _Domain:
        lv = _libvirt()
        state, reason = dom.state(0)
        parsed = _parse_domain(dom.XMLDesc(0))
        addresses: list[str] = []
        if dom.isActive():
            sources = (lv.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
                       lv.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP)
            for source in sources:
                try:
                    found = dom.interfaceAddresses(source, 0) or {}
                except lv.libvirtError:
                    continue
                for interface in found.values():
                    for address in interface.get("addrs") or ():
                        if address.get("addr") and address["addr"] not in addresses:
                            addresses.append(address["addr"])
                if addresses:
                    break
        return _Domain(
            uuid=parsed["uuid"] or dom.UUIDString(),
            name=parsed["name"] or dom.name(),
            state=state,
            reason=reason,
            libvirt_id=dom.ID(),
            domain_type=parsed["domain_type"],
            vcpus=parsed["vcpus"],
            memory_mib=parsed["memory_mib"],
            addresses=addresses,
            macs=parsed["macs"],
            networks=parsed["networks"],
            disks=parsed["disks"],
            metadata=parsed["metadata"],
        )

    def _describe_many(self, domains: Sequence[Any]) -> list[_Domain]:
        lv = _libvirt()
        described = []
        for dom in domains:
            try:
                described.append(self._describe(dom))
            except lv.libvirtError as exc:
                if exc.get_error_code() != _ERR_NO_DOMAIN:
                    raise  # a domain undefined since the listing is skipped; others are errors
        return described

    def _describe_uuid(self, node_id: str) -> _Domain:
        return self._describe(self._domain(node_id))

    def _find_uuid(self, node_id: str) -> _Domain | None:
        try:
            return self._describe_uuid(node_id)
        except _libvirt().libvirtError as exc:
            if exc.get_error_code() == _ERR_NO_DOMAIN:
                return None
            raise

    def _read_volume(self, vol: Any, pool: Any | None = None) -> _Volume:
        pool = pool if pool is not None else vol.storagePoolLookupByVolume()
        kind, capacity, allocation = vol.info()
        fmt = ET.fromstring(vol.XMLDesc(0)).find("./target/format")
        return _Volume(
            key=vol.key(),
            name=vol.name(),
            path=vol.path(),
            pool=pool.name(),
            capacity=capacity,
            allocation=allocation,
            format=fmt.get("type") if fmt is not None else None,
            type=kind,
        )

    def _list_pools(self) -> list[Any]:
        return [pool for pool in self._conn().listAllStoragePools(0) if pool.isActive()]

    def _pool_volumes(self, pool: Any) -> list[_Volume]:
        lv = _libvirt()
        volumes: list[_Volume] = []
        try:
            listed = pool.listAllVolumes(0)
        except lv.libvirtError as exc:
            if exc.get_error_code() in (_ERR_NO_STORAGE_POOL, _ERR_OPERATION_INVALID):
                return volumes  # the pool was removed or stopped since the listing
            raise
        for vol in listed:
            try:
                volumes.append(self._read_volume(vol, pool))
            except lv.libvirtError as exc:
                if exc.get_error_code() != _ERR_NO_STORAGE_VOL:
                    raise
        return volumes

    def _create_image_volume(self, pool_name: str, name: str, mib: int, fmt: str) -> _Volume:
        pool = self._conn().storagePoolLookupByName(pool_name)
        volume = ET.Element("volume")
        ET.SubElement(volume, "name").text = name
        ET.SubElement(volume, "capacity", unit="MiB").text = str(mib)
        ET.SubElement(ET.SubElement(volume, "target"), "format", type=fmt)
        return self._read_volume(pool.createXML(ET.tostring(volume, encoding="unicode"), 0), pool)

    def _volume(self, key: str) -> _Volume:
        conn = self._conn()
        try:
            vol = conn.storageVolLookupByKey(key)
        except _libvirt().libvirtError as exc:
            if exc.get_error_code() != _ERR_NO_STORAGE_VOL or not key.startswith("/"):
                raise
            vol = conn.storageVolLookupByPath(key)
        return self._read_volume(vol)

    def _host_info(self, domain_type: str | None = None) -> _Host:
        """The domain type, architecture and OS type new domains get: the host's
        best (KVM, then QEMU, ...; its own architecture; full virtualisation), or
        the best of ``domain_type``."""
        host = self._host
        if host is not None and domain_type in (None, host.domain_type):
            return host
        caps = ET.fromstring(self._conn().getCapabilities())
        host_arch = _text(caps.find("./host/cpu/arch"))
        choices: list[tuple[int, int, str, str, str]] = []
        for guest in caps.iterfind("./guest"):
            os_type = _text(guest.find("os_type"))
            arch_el = guest.find("arch")
            if arch_el is None:
                continue
            arch = arch_el.get("name", "")
            for dom in arch_el.iterfind("domain"):
                kind = dom.get("type", "")
                rank = _DOMAIN_TYPES.index(kind) if kind in _DOMAIN_TYPES else len(_DOMAIN_TYPES)
                choices.append((0 if os_type == "hvm" else 1, 0 if arch == host_arch else 1,
                                f"{rank:02d}{kind}", arch, os_type))
        if domain_type is not None:
            offered = sorted({choice[2][2:] for choice in choices})
            choices = [choice for choice in choices if choice[2][2:] == domain_type]
            if not choices:
                raise InvalidInput(
                    f"the hypervisor offers no domain type {domain_type!r}; it offers: "
                    f"{', '.join(offered) or 'none'}",
                    driver=self,
                )
        if not choices:
            raise NotSupported("the hypervisor offers no guest type to create", driver=self)
        best = min(choices)
        host = _Host(domain_type=best[2][2:], arch=best[3], os_type=best[4])
        if domain_type is None:
            self._host = host
        return host

    def _clone_volume(self, image_key: str, name: str) -> _Volume:
        """Copy the image volume into a new volume ``name`` in its pool (or reuse
        ``name`` if a previous attempt of the same create made it)."""
        lv = _libvirt()
        conn = self._conn()
        source = conn.storageVolLookupByKey(image_key)
        pool = source.storagePoolLookupByVolume()
        volume = ET.Element("volume")
        ET.SubElement(volume, "name").text = name
        ET.SubElement(volume, "capacity", unit="bytes").text = str(source.info()[1])
        fmt = ET.fromstring(source.XMLDesc(0)).find("./target/format")
        if fmt is not None and fmt.get("type"):
            target = ET.SubElement(volume, "target")
            ET.SubElement(target, "format", type=fmt.get("type", ""))
        try:
            clone = pool.createXMLFrom(ET.tostring(volume, encoding="unicode"), source, 0)
        except lv.libvirtError as exc:
            code = exc.get_error_code()
            exists = code == _ERR_STORAGE_VOL_EXIST or (
                code == _ERR_OPERATION_FAILED and "exist" in str(exc))
            if not exists:
                raise
            clone = pool.storageVolLookupByName(name)  # made by an earlier attempt
        return self._read_volume(clone, pool)

    def _delete_volume(self, key: str) -> None:
        """Delete a node disk the driver made (a volume named ``overcast-disk-...``)."""
        lv = _libvirt()
        try:
            vol = self._conn().storageVolLookupByKey(key)
            if vol.name().startswith(DISK_PREFIX):  # never an image or someone else's volume
                vol.delete(0)
        except lv.libvirtError as exc:
            if exc.get_error_code() != _ERR_NO_STORAGE_VOL:
                raise

    def _define_and_start(self, xml: str) -> _Domain:
        """Define the domain and start it; undefine it again if it cannot start."""
        conn = self._conn()
        dom = conn.defineXML(xml)
        try:
            dom.create()
        except Exception:
            with contextlib.suppress(Exception):
                dom.undefine()
            raise
        return self._describe(dom)

    def _reboot(self, node_id: str) -> None:
        lv = _libvirt()
        dom = self._domain(node_id)
        try:
            dom.reboot(0)
        except lv.libvirtError as exc:
            if exc.get_error_code() != _ERR_NO_SUPPORT:
                raise
            dom.destroy()  # the hypervisor cannot reboot: power-cycle instead
            dom.create()

    def _start(self, node_id: str) -> None:
        lv = _libvirt()
        dom = self._domain(node_id)
        state = dom.state(0)[0]
        if state == lv.VIR_DOMAIN_PAUSED:
            dom.resume()
        elif state == lv.VIR_DOMAIN_PMSUSPENDED:
            dom.pMWakeup(0)
        elif not dom.isActive():
            dom.create()

    def _stop(self, node_id: str) -> None:
        dom = self._domain(node_id)
        if dom.isActive():
            dom.shutdown()

    def _suspend(self, node_id: str) -> None:
        self._domain(node_id).suspend()

    def _resume(self, node_id: str) -> None:
        self._domain(node_id).resume()

    def _destroy(self, node_id: str) -> None:
        lv = _libvirt()
        dom = self._domain(node_id)
        owned = _parse_domain(dom.XMLDesc(0))["metadata"].get("disk")
        if dom.isActive():
            try:
                dom.destroy()
            except lv.libvirtError as exc:
                if exc.get_error_code() != _ERR_OPERATION_INVALID:
                    raise  # "domain is not running": it stopped meanwhile
        basic = lv.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | lv.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        full = basic | lv.VIR_DOMAIN_UNDEFINE_NVRAM | lv.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
        # Try the flags that also remove a domain's NVRAM and checkpoints, then fewer
        # (the test hypervisor knows only the basic ones), then none (old hypervisors);
        # remember what this connection accepted.
        limit = full if self._undefine_flags is None else self._undefine_flags
        candidates = [f for f in (full, basic) if f <= limit]
        for flags in [*candidates, None]:
            try:
                if flags is None:
                    dom.undefine()
                else:
                    dom.undefineFlags(flags)
            except lv.libvirtError as exc:
                if flags is None or exc.get_error_code() not in (_ERR_INVALID_ARG,
                                                                  _ERR_NO_SUPPORT):
                    raise
                continue
            self._undefine_flags = flags if flags is not None else 0
            break
        if owned:
            self._delete_volume(owned)

    def _location(self) -> NodeLocation:
        conn = self._conn()
        try:
            hostname = conn.getHostname()
        except _libvirt().libvirtError:
            hostname = "hypervisor"
        return NodeLocation(
            id=LOCATION_ID,
            name=hostname,
            driver=self,
            extra={"uri": redact_url(conn.getURI()), "type": conn.getType()},
        )

    # -- models --------------------------------------------------------------------------

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

    def _node_id(self, node: Node) -> str:
        if not isinstance(node, Node):
            raise InvalidInput(f"node must be a Node: {type(node).__name__}", driver=self)
        return node.id

    def _domain_xml(
        self,
        *,
        name: str,
        token: str,
        size: NodeSize,
        vcpus: int,
        image: NodeImage,
        disk: _Volume,
        owned: bool,
        host: _Host,
        network: str | None,
    ) -> str:
        """The domain's XML, built with ElementTree (every value is escaped)."""
        qemu = host.domain_type in ("kvm", "qemu")
        domain = ET.Element("domain", type=host.domain_type)
        ET.SubElement(domain, "name").text = name
        ET.SubElement(domain, "uuid").text = token
        metadata = ET.SubElement(domain, "metadata")
        entry = ET.SubElement(metadata, f"{{{METADATA_NS}}}node")
        for key, value in (("token", token), ("size", size.id), ("image", image.id),
                           ("disk", disk.key if owned else "")):
            if value:
                ET.SubElement(entry, f"{{{METADATA_NS}}}{key}").text = value
        ET.SubElement(domain, "memory", unit="MiB").text = str(size.ram)
        ET.SubElement(domain, "vcpu").text = str(vcpus)
        os_el = ET.SubElement(domain, "os")
        ET.SubElement(os_el, "type", arch=host.arch).text = host.os_type
        ET.SubElement(os_el, "boot", dev="hd")
        features = ET.SubElement(domain, "features")
        ET.SubElement(features, "acpi")
        ET.SubElement(features, "apic")
        devices = ET.SubElement(domain, "devices")
        disk_el = ET.SubElement(devices, "disk", type="volume", device="disk")
        if qemu:
            ET.SubElement(disk_el, "driver", name="qemu", type=disk.format or "raw")
        ET.SubElement(disk_el, "source", pool=disk.pool, volume=disk.name)
        ET.SubElement(disk_el, "target", dev="vda", bus="virtio")
        if network:
            interface = ET.SubElement(devices, "interface", type="network")
            ET.SubElement(interface, "source", network=network)
            ET.SubElement(interface, "model", type="virtio")
        ET.SubElement(devices, "serial", type="pty")
        ET.SubElement(devices, "console", type="pty")
        return ET.tostring(domain, encoding="unicode")

    # -- nodes ------------------------------------------------------------------------------

    @iterator
    def iterate_nodes(self) -> Iter[Node]:
        """Iterate over every domain (running or not), ``page_size`` described at a time."""
        domains = yield from self._call(self._list_domains)
        for start in range(0, len(domains), self.page_size):
            page = yield from self._call(self._describe_many, domains[start:start + self.page_size])
            for dom in page:
                yield Emit(self._to_node(dom))

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """Get a domain by UUID; :class:`NodeNotFound` if there is none."""
        try:
            canonical = str(uuid.UUID(node_id)) if isinstance(node_id, str) else None
        except ValueError:
            canonical = None
        if canonical is None:
            raise NodeNotFound(str(node_id), driver=self)
        dom = yield from self._call(
            self._describe_uuid, canonical, missing=lambda: NodeNotFound(node_id, driver=self)
        )
        return self._to_node(dom)

    @operation
    def create_node(
        self,
        name: str,
        size: NodeSize,
        image: NodeImage,
        location: NodeLocation | None = None,
        auth: NodeAuth | None = None,
        *,
        ex_network: str | None = "default",
        ex_clone_disk: bool = True,
        ex_domain_type: str | None = None,
    ) -> Op[Node]:
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
        """
        _check_name(name, self)
        if not isinstance(size, NodeSize):
            raise InvalidInput(f"size must be a NodeSize: {type(size).__name__}", driver=self)
        if not isinstance(image, NodeImage):
            raise InvalidInput(f"image must be a NodeImage: {type(image).__name__}", driver=self)
        if not isinstance(size.ram, int) or size.ram < 1:
            raise InvalidInput(f"size.ram must be a positive number of MiB: {size.ram!r}",
                               driver=self)
        vcpus = size.extra.get("vcpus", 1)
        if not isinstance(vcpus, int) or isinstance(vcpus, bool) or vcpus < 1:
            raise InvalidInput(f"size.extra['vcpus'] must be a positive integer: {vcpus!r}",
                               driver=self)
        if location is not None:
            if not isinstance(location, NodeLocation):
                raise InvalidInput(
                    f"location must be a NodeLocation: {type(location).__name__}", driver=self
                )
            if location.id != LOCATION_ID:
                raise LocationNotFound(location.id, driver=self)
        if auth is not None:
            if not isinstance(auth, NodeAuthSSHKey | NodeAuthPassword):
                raise InvalidInput(
                    f"auth must be a NodeAuthSSHKey or a NodeAuthPassword: {type(auth).__name__}",
                    driver=self,
                )
            raise NotSupported(
                "libvirt cannot install a password or SSH key in a guest; use an image "
                "prepared for access (e.g. with cloud-init) and auth=None",
                driver=self,
            )
        if ex_network is not None and (not isinstance(ex_network, str) or not ex_network):
            raise InvalidInput(f"ex_network must be a network name or None: {ex_network!r}",
                               driver=self)
        if ex_domain_type is not None and (not isinstance(ex_domain_type, str)
                                           or not ex_domain_type):
            raise InvalidInput(f"ex_domain_type must be a libvirt domain type: "
                               f"{ex_domain_type!r}", driver=self)
        token = str(uuid.uuid4())

        def send() -> Op[Node]:
            return self._create_domain(
                name, token, size, vcpus, image, ex_network, ex_clone_disk, ex_domain_type
            )

        def find() -> Op[Node | None]:
            found = yield from self._call(self._find_uuid, token)
            return None if found is None else self._to_node(found)

        return (yield from create_once(send, find))

    def _create_domain(
        self,
        name: str,
        token: str,
        size: NodeSize,
        vcpus: int,
        image: NodeImage,
        network: str | None,
        clone: bool,
        domain_type: str | None,
    ) -> Op[Node]:
        """One attempt of ``create_node``: the disk, then the domain (the disk is
        deleted again if the domain cannot be made)."""
        host = yield from self._call(self._host_info, domain_type)
        if clone:
            disk = yield from self._call(
                self._clone_volume, image.id, f"{DISK_PREFIX}{token}",
                missing=lambda: ImageNotFound(image.id, driver=self), idempotent=False,
            )
        else:
            disk = yield from self._call(
                self._volume, image.id, missing=lambda: ImageNotFound(image.id, driver=self)
            )
        xml = self._domain_xml(name=name, token=token, size=size, vcpus=vcpus, image=image,
                               disk=disk, owned=clone, host=host, network=network)

        def define() -> Op[_Domain]:
            return self._call(self._define_and_start, xml, idempotent=False)

        def undo(exc: BaseException) -> Op[None]:
            if clone and not isinstance(exc, OutcomeUnknown):  # else the domain may use it
                yield from self._call(self._delete_volume, disk.key)

        dom: _Domain = yield Guarded(define(), undo)
        return self._to_node(dom)

    @operation
    def reboot_node(self, node: Node) -> Op[bool]:
        """Reboot a domain (power-cycle it where the hypervisor cannot reboot)."""
        node_id = self._node_id(node)
        yield from self._call(self._reboot, node_id, missing=self._not_found(node_id))
        return True

    @operation
    def start_node(self, node: Node) -> Op[bool]:
        """Start a shut-off domain (resume a paused or wake a suspended one)."""
        node_id = self._node_id(node)
        yield from self._call(self._start, node_id, missing=self._not_found(node_id))
        return True

    @operation
    def stop_node(self, node: Node) -> Op[bool]:
        """Ask a running domain to shut down (ACPI); True once asked.

        The guest shuts down in its own time (``state`` is ``STOPPED`` when it
        has); a guest that ignores ACPI keeps running. A domain already shut
        off is left as it is.
        """
        node_id = self._node_id(node)
        yield from self._call(self._stop, node_id, missing=self._not_found(node_id))
        return True

    @operation
    def destroy_node(self, node: Node) -> Op[bool]:
        """Power a domain off, undefine it, and delete the disk ``create_node`` made for it."""
        node_id = self._node_id(node)
        yield from self._call(self._destroy, node_id, missing=self._not_found(node_id))
        return True

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
        volume = yield from self._call(self._create_image_volume, pool, name, size_mib, format)
        return self._to_image(volume)

    @operation
    def ex_suspend_node(self, node: Node) -> Op[bool]:
        """Pause a running domain (its state becomes ``PAUSED``)."""
        node_id = self._node_id(node)
        yield from self._call(self._suspend, node_id, missing=self._not_found(node_id))
        return True

    @operation
    def ex_resume_node(self, node: Node) -> Op[bool]:
        """Resume a paused domain."""
        node_id = self._node_id(node)
        yield from self._call(self._resume, node_id, missing=self._not_found(node_id))
        return True

    def _not_found(self, node_id: str) -> Callable[[], NotFound]:
        return lambda: NodeNotFound(node_id, driver=self)

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
        pools = yield from self._call(self._list_pools)
        for pool in pools:
            volumes = yield from self._call(self._pool_volumes, pool)
            for volume in volumes:
                if not volume.name.startswith(DISK_PREFIX):
                    yield Emit(self._to_image(volume))

    @operation
    def get_image(self, image_id: str) -> Op[NodeImage]:
        """Get a storage volume by key (or path); :class:`ImageNotFound` if there is none."""
        if not isinstance(image_id, str) or not image_id:
            raise ImageNotFound(str(image_id), driver=self)
        volume = yield from self._call(
            self._volume, image_id, missing=lambda: ImageNotFound(image_id, driver=self)
        )
        return self._to_image(volume)

    @iterator
    def iterate_locations(self) -> Iter[NodeLocation]:
        """The one location: the hypervisor (named by its host name)."""
        location = yield from self._call(self._location)
        yield Emit(location)


class LibvirtNodeDriverAsync(NodeDriverAsync):
    """``driver.aio`` of :class:`LibvirtNodeDriver`: the base operations and the ``ex_`` ones."""

    ex_create_image_volume = aio(LibvirtNodeDriver.ex_create_image_volume)
    ex_suspend_node = aio(LibvirtNodeDriver.ex_suspend_node)
    ex_resume_node = aio(LibvirtNodeDriver.ex_resume_node)


LibvirtNodeDriver.async_view = LibvirtNodeDriverAsync
