"""The libvirt side of the driver: the library, imported on first use; the one
connection; libvirt's errors mapped onto overcast's; and the blocking helpers
the operations run through ``Call`` effects (in worker threads when async).
They hand back plain values (:class:`_Domain`, :class:`_Volume`), never
libvirt objects."""

from __future__ import annotations

import contextlib
import threading
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar

from overcast.compute.base import NodeDriver
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.compute.models import NodeSize
from overcast.compute.models import NodeState
from overcast.errors import AlreadyExists
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import OutcomeUnknown
from overcast.errors import OvercastError
from overcast.errors import ProviderError
from overcast.errors import TransportError
from overcast.extras import require
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.options import check_page_size
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_text
from overcast.runtime.redact import redact_url

__all__ = [
    "DISK_PREFIX",
    "LOCATION_ID",
    "METADATA_NS",
    "SIZES",
    "LibvirtHost",
]

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
                _libvirt_module = require("libvirt", "libvirt", what="the libvirt driver",
                                          package="libvirt-python", driver="libvirt")
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


# -- the connection and the blocking helpers ----------------------------------------------


class LibvirtHost(NodeDriver):
    """The connection to one hypervisor and the blocking calls made on it (the
    base of :class:`~overcast.compute.drivers.libvirt.LibvirtNodeDriver`)."""

    name: ClassVar[str] = "libvirt"

    def __init__(self, uri: str = "qemu:///system", key: str | None = None,
                 secret: str | Secret | None = None, *, page_size: int = 100,
                 **options: Any) -> None:
        super().__init__(**options)
        if not isinstance(uri, str) or not uri or any(ch.isspace() for ch in uri):
            raise InvalidInput(f"uri must be a libvirt connection URI: {uri!r}", driver=self)
        if key is not None and not isinstance(key, str):
            raise InvalidInput("key must be a user name (a string)", driver=self)
        self.page_size = check_page_size(page_size, driver=self)
        self.uri = uri
        self.key = key
        self.secret: Secret | None = Secret(secret) if secret else None
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

    def _send(self, fn: Callable[..., T], *args: Any, missing: Callable[[], NotFound] | None = None,
              idempotent: bool = True) -> Op[T]:
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

    def _domain_xml(self, *, name: str, token: str, size: NodeSize, vcpus: int, image: NodeImage,
                    disk: _Volume, owned: bool, host: _Host, network: str | None) -> str:
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
