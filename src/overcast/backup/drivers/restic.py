"""Backups with restic: the restic program is the engine, this driver drives it.

A :class:`ResticBackupDriver` works on one restic repository: a local
directory or any backend restic reaches by URL (``s3:http://host:port/bucket/
prefix`` for S3 and S3-compatible stores), made (``restic init``) on first use.

* **Targets** are what is backed up: a path on this machine
  (:meth:`~ResticBackupDriver.create_target`), a path on a compute node
  (:meth:`~ResticBackupDriver.create_target_from_node`: restic runs on the node
  over SSH, host keys checked, against the same repository URL), or an object
  storage container (:meth:`~ResticBackupDriver.create_target_from_storage_container`:
  its objects are staged in a directory by checked downloads, and restored by
  uploads into any driver's container). The targets are kept in the repository
  itself (an encrypted snapshot tagged ``overcast-registry``), so every machine
  that opens the repository sees them; each target's snapshots are tagged with
  its id.
* **Jobs** run ``restic backup --json``; progress comes from its status lines.
  By default :meth:`~ResticBackupDriver.create_target_job` returns once the
  backup is done; ``extra={"wait": False}`` returns the running job at once
  (``extra={"on_progress": f}`` hears each percentage). Cancelling sends SIGINT,
  on which restic removes its lock. Suspend and resume are not supported.
* **Recovery points** are the target's snapshots (``restic snapshots --json``),
  filtered by tag and date.

The password and the S3 keys are :class:`~overcast.runtime.redact.Secret`\\ s,
handed to restic by its environment here and by a mode-0600 file on a node,
never on a command line.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import tempfile
import threading
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import cast

from overcast.backup.base import BackupDriver
from overcast.backup.base import BackupTarget
from overcast.backup.base import BackupTargetJob
from overcast.backup.base import BackupTargetJobStatusType
from overcast.backup.base import BackupTargetRecoveryPoint
from overcast.backup.base import BackupTargetType
from overcast.backup.drivers import files
from overcast.compute.base import NodeLike
from overcast.errors import BackupJobNotFound
from overcast.errors import BackupTargetNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RecoveryPointNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Delegate
from overcast.runtime.effects import Effect
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Parallel
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import or_none
from overcast.runtime.ops import pure
from overcast.runtime.process import Completed
from overcast.runtime.process import ProcessHandle
from overcast.runtime.process import Run
from overcast.runtime.process import Start
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_text

if TYPE_CHECKING:
    from overcast.compute.ssh import KeyFiles
    from overcast.storage.base import Container as StorageContainer

__all__ = ["ResticBackupDriver"]

#: The tag of the snapshots that hold the target registry.
REGISTRY_TAG = "overcast-registry"
REGISTRY_FILE = "overcast-targets.json"
#: restic's exit status after SIGINT (128 + 2), and the signal's own.
_INTERRUPTED = (130, -2)
_PATH_KINDS = (BackupTargetType.FILESYSTEM, BackupTargetType.VIRTUAL,
               BackupTargetType.PHYSICAL)
_NO_REPOSITORY = "Is there a repository at the following location?"
_FRACTION = re.compile(r"\.(\d+)")


def _parse_time(text: str) -> datetime:
    """restic's RFC 3339 time (nanoseconds; Python keeps microseconds)."""
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _check_absolute(path: object, what: str, driver: object) -> str:
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise InvalidInput(f"{what} must be an absolute path: {path!r}", driver=driver)
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/")


@dataclass
class _Job:
    """What the driver knows of one job it started (a backup or a restore)."""

    id: str
    target_id: str
    kind: str
    status: BackupTargetJobStatusType
    progress: int | None = 0
    handle: ProcessHandle | None = None
    snapshot_id: str | None = None
    error: str | None = None
    on_progress: Callable[[int], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hear(self, line: str) -> None:
        """Read one line of ``restic backup --json`` (from the reader thread)."""
        try:
            message = json.loads(line)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if message.get("message_type") == "status":
            percent = int(float(message.get("percent_done") or 0) * 100)
            with self.lock:
                self.progress = min(percent, 99)
            if self.on_progress is not None:
                self.on_progress(percent)
        elif message.get("message_type") == "summary":
            with self.lock:
                self.snapshot_id = str(message.get("snapshot_id") or "") or None

    def settle(self) -> None:
        """Read the status of a job that ran in the background."""
        handle = self.handle
        if handle is None or self.status is not BackupTargetJobStatusType.RUNNING:
            return
        code = handle.returncode
        if code is None:
            return
        with self.lock:
            if code == 0:
                self.status, self.progress = BackupTargetJobStatusType.COMPLETED, 100
            elif code in _INTERRUPTED:
                self.status = BackupTargetJobStatusType.CANCELLED
            else:
                self.status = BackupTargetJobStatusType.FAILED


class ResticBackupDriver(BackupDriver):
    """restic repositories as a backup service (see the module's documentation).

    ``repository`` is a local directory (absolute path) or a restic repository
    URL (``s3:http://127.0.0.1:8333/bucket/prefix``, ``sftp:...``, ``rest:...``);
    ``password`` opens it; ``key`` and ``secret`` are the S3 access key and
    secret. The repository is made on first use unless ``create=False``.

    ``restic`` is the program to run (here and on nodes); ``staging_dir`` is
    where container targets are staged (default: the system's temporary
    directory). For node targets: ``ssh_username``, ``ssh_port``, ``ssh_key``
    (paths or a key's text), ``ssh_known_hosts`` and ``ssh_timeout``, as
    :meth:`~overcast.compute.base.NodeDriver.deploy_node` takes them; host keys
    are always checked.
    """

    name: ClassVar[str] = "restic"
    target_types = (BackupTargetType.FILESYSTEM, BackupTargetType.VIRTUAL,
                    BackupTargetType.PHYSICAL, BackupTargetType.OBJECT)

    def __init__(self, repository: str, password: str | Secret, key: str | None = None,
                 secret: str | Secret | None = None, *, create: bool = True,
                 restic: str = "restic", staging_dir: str | None = None,
                 ssh_username: str = "root", ssh_port: int = 22,
                 ssh_key: KeyFiles | None = None,
                 ssh_known_hosts: str | os.PathLike[str] | None = None,
                 ssh_timeout: float = 30, **options: Any) -> None:
        super().__init__(**options)
        if not isinstance(repository, str) or not repository or "\0" in repository:
            raise InvalidInput(f"a restic repository is needed: {repository!r}", driver=self)
        if ":" not in repository.partition("/")[0]:
            repository = _check_absolute(repository, "a local repository", self)
        if not password:
            raise InvalidInput("a restic repository needs a password", driver=self)
        if (key is None) != (secret is None):
            raise InvalidInput("give both key and secret, or neither", driver=self)
        self.repository = repository
        self.password = Secret(password)
        self.key = key
        self.secret = None if secret is None else Secret(secret)
        self.create = create
        self.restic = restic
        self.staging_dir = staging_dir or os.path.join(tempfile.gettempdir(), "overcast-restic")
        self.ssh_username = ssh_username
        self.ssh_port = ssh_port
        self.ssh_key = ssh_key
        self.ssh_known_hosts = None if ssh_known_hosts is None else os.fspath(ssh_known_hosts)
        self.ssh_timeout = ssh_timeout
        self._ready = False
        self._state = threading.Lock()
        self._jobs: dict[str, dict[str, _Job]] = {}
        self._containers: dict[str, StorageContainer] = {}
        self._seen: dict[str, BackupTarget] = {}
        #: The registry as last read: (its snapshot's id, its JSON).
        self._registry: tuple[str, bytes] | None = None

    def _repr_fields(self) -> dict[str, object]:
        return {"repository": self.repository}

    def _secrets(self) -> tuple[Secret, ...]:
        return tuple(s for s in (self.password, self.secret) if s is not None)

    # -- running restic -----------------------------------------------------------

    def _env(self) -> dict[str, str | Secret]:
        env: dict[str, str | Secret] = {"RESTIC_REPOSITORY": self.repository,
                                        "RESTIC_PASSWORD": self.password}
        if self.key is not None and self.secret is not None:
            env["AWS_ACCESS_KEY_ID"] = Secret(self.key)
            env["AWS_SECRET_ACCESS_KEY"] = self.secret
        return env

    def _argv(self, *args: str) -> list[str]:
        return [self.restic, *args]

    def _failure(self, args: tuple[str, ...], done: Completed) -> Exception:
        """The error a failed restic run means."""
        text = redact_text(done.stderr.decode("utf-8", "replace").strip(), self._secrets())
        tail = "\n".join(text.splitlines()[-5:])
        if "wrong password" in text:
            return InvalidCredentials(f"restic: {tail}", driver=self)
        if "no matching ID found" in text or "no snapshot found" in text:
            return RecoveryPointNotFound(args[-1], f"restic: {tail}", driver=self)
        return ProviderError(f"restic {args[0]} failed (exit {done.returncode}): {tail}",
                             driver=self)

    def _restic(self, *args: str, input: bytes | None = None,
                on_line: Callable[[str], None] | None = None) -> Op[Completed]:
        """Run ``restic args`` on the repository (made first if need be); its end."""
        yield from self._ensure_repository()
        done = yield from _run(Run(self._argv(*args), env=self._env(), input=input,
                                       on_line=on_line))
        if not done.ok:
            raise self._failure(args, done)
        return done

    def _restic_json(self, *args: str) -> Op[Any]:
        done = yield from self._restic(*args, "--json")
        return json.loads(done.stdout or b"null")

    def _ensure_repository(self) -> Op[None]:
        """Make the repository on first use (``restic init`` when it is absent)."""
        if self._ready:
            return
        found = yield from _run(Run(self._argv("cat", "config"), env=self._env()))
        if not found.ok:
            if _NO_REPOSITORY not in found.stderr.decode("utf-8", "replace") or not self.create:
                raise self._failure(("open",), found)
            made = yield from _run(Run(self._argv("init"), env=self._env()))
            if not made.ok:
                raise self._failure(("init",), made)
        self._ready = True

    # -- the registry of targets ----------------------------------------------------

    def _load(self) -> Op[dict[str, dict[str, Any]]]:
        """The registry: target id -> its fields."""
        latest = yield from self._restic_json("snapshots", "--tag", REGISTRY_TAG,
                                              "--latest", "1")
        if not latest:
            return {}
        id = str(latest[-1]["id"])
        cached = self._registry
        # A cache made by _save holds the short id restic's summary gives.
        if cached is None or not id.startswith(cached[0]):
            done = yield from self._restic("dump", id, "/" + REGISTRY_FILE)
            cached = self._registry = (id, done.stdout)
        registry: dict[str, dict[str, Any]] = json.loads(cached[1] or b"{}")
        return registry

    def _save(self, registry: Mapping[str, Mapping[str, Any]]) -> Op[None]:
        data = json.dumps(registry, sort_keys=True, indent=1).encode()
        done = yield from self._restic("backup", "--stdin", "--stdin-filename", REGISTRY_FILE,
                                       "--tag", REGISTRY_TAG, "--host", "overcast", "--json",
                                       input=data)
        # What was written is what the next read would fetch: keep it, by the new
        # snapshot's id, so that read needs no ``restic dump`` (a repository
        # opening, most of a second).
        saved = _summary(done.lines())
        self._registry = (saved, data) if saved else None
        yield from self._restic("forget", "--tag", REGISTRY_TAG, "--keep-last", "1",
                                "--quiet")

    def _target(self, id: str, fields: Mapping[str, Any]) -> BackupTarget:
        return BackupTarget(id, str(fields["name"]), str(fields["address"]),
                            BackupTargetType(fields["type"]), driver=self,
                            extra=dict(fields.get("extra") or {}))

    def _add(self, name: str, address: str, type: BackupTargetType,
             extra: Mapping[str, Any]) -> Op[BackupTarget]:
        registry = yield from self._load()
        id = uuid.uuid4().hex[:16]
        registry[id] = {"name": name, "address": address, "type": str(type),
                        "extra": dict(extra)}
        yield from self._save(registry)
        return self._target(id, registry[id])

    def _check_name(self, name: object) -> str:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"a target needs a name: {name!r}", driver=self)
        return name

    @staticmethod
    def _plain(extra: Mapping[str, Any] | None) -> dict[str, Any]:
        """What of ``extra`` is kept in the registry (JSON values only)."""
        kept = {}
        for key, value in (extra or {}).items():
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue
            kept[str(key)] = value
        return kept

    # -- targets ----------------------------------------------------------------------

    @iterator
    def iterate_targets(self) -> Iter[BackupTarget]:
        """Every target of the repository (from its registry)."""
        registry = yield from self._load()
        for id, fields in sorted(registry.items(), key=lambda item: str(item[1]["name"])):
            yield Emit(self._target(id, fields))

    @operation
    def get_target(self, id: str) -> Op[BackupTarget]:
        """A target by id; :class:`~overcast.errors.BackupTargetNotFound` if absent."""
        registry = yield from self._load()
        if id not in registry:
            raise BackupTargetNotFound(id, driver=self)
        return self._target(id, registry[id])

    @operation
    def create_target(self, name: str, address: str,
                      type: BackupTargetType = BackupTargetType.VIRTUAL,
                      extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Register the local path ``address`` as a target named ``name``; it is
        absolute and exists, or its directory does (a destination for restores);
        ``type`` is FILESYSTEM, VIRTUAL or PHYSICAL."""
        self._check_name(name)
        path = _check_absolute(address, "a target's address", self)
        if BackupTargetType(type) not in _PATH_KINDS:
            raise InvalidInput(f"a path target is one of {[str(t) for t in _PATH_KINDS]}, "
                               f"not {type!r}", driver=self)
        if not (yield Call(files.usable, path)):
            raise InvalidInput(f"no such path, nor a directory to make it in: {path}",
                               driver=self)
        kept = {**self._plain(extra), "kind": "path"}
        return (yield from self._add(name, path, BackupTargetType(type), kept))

    @operation
    def create_target_from_node(self, node: NodeLike,
                                type: BackupTargetType = BackupTargetType.VIRTUAL,
                                extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Register a path on a compute node: ``extra["path"]`` (absolute) is
        backed up by restic run on the node over SSH, at the node's first public
        address (else private); ``extra`` may also name ``ssh_username`` and
        ``ssh_port`` (else the driver's)."""
        given = dict(extra or {})
        path = _check_absolute(given.pop("path", None), "extra['path'] (on the node)", self)
        host = self._node_address(node)
        port = given.pop("ssh_port", self.ssh_port)
        if not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidInput(f"ssh_port must be a port number: {port!r}", driver=self)
        username = str(given.pop("ssh_username", self.ssh_username))
        kept = {**self._plain(given), "kind": "node", "host": host, "port": port,
                "username": username, "node_id": node.id}
        return (yield from self._add(node.name, path, BackupTargetType(type), kept))

    @operation
    def create_target_from_storage_container(
        self,
        container: StorageContainer,
        type: BackupTargetType = BackupTargetType.OBJECT,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[BackupTarget]:
        """Register an object storage container (of any storage driver) for
        backup. The container object is kept by this driver, which backs it up
        and restores into it; another process registers it again to use it."""
        if container.driver is None:
            raise InvalidInput("the container must come from a storage driver", driver=self)
        registry = yield from self._load()
        provider = str(container.driver.name)
        for id, fields in registry.items():
            kept_extra = fields.get("extra") or {}
            if (kept_extra.get("kind") == "container" and kept_extra.get("provider") == provider
                    and kept_extra.get("container") == container.name):
                self._containers[id] = container
                return self._target(id, fields)
        kept = {**self._plain(extra), "kind": "container", "provider": provider,
                "container": container.name}
        target = yield from self._add(container.name, f"{provider}:{container.name}",
                                      BackupTargetType(type), kept)
        self._containers[target.id] = container
        return target

    @operation
    def update_target(self, target: BackupTarget, name: str | None = None,
                      address: str | None = None,
                      extra: Mapping[str, Any] | None = None) -> Op[BackupTarget]:
        """Rename a target, point it at another path, or change its extra
        (the keys overcast keeps, such as ``kind``, stay)."""
        if name is not None:
            self._check_name(name)
        if address is not None:
            address = _check_absolute(address, "a target's address", self)
        registry = yield from self._load()
        fields = registry.get(target.id)
        if fields is None:
            raise BackupTargetNotFound(target.id, driver=self)
        kind = fields["extra"].get("kind")
        if address is not None and kind == "container":
            raise InvalidInput("a container target's address is its container", driver=self)
        if address is not None and kind == "path" and not (yield Call(files.usable, address)):
            raise InvalidInput(f"no such path, nor a directory to make it in: {address}",
                               driver=self)
        if name is not None:
            fields["name"] = name
        if address is not None:
            fields["address"] = address
        if extra is not None:
            own = {k: v for k, v in fields["extra"].items()
                   if k in ("kind", "host", "port", "username", "node_id", "provider",
                            "container")}
            fields["extra"] = {**self._plain(extra), **own}
        yield from self._save(registry)
        return self._target(target.id, fields)

    @operation
    def delete_target(self, target: BackupTarget) -> Op[bool]:
        """Remove a target from the registry. Its snapshots stay in the
        repository (``ex_forget`` removes them)."""
        registry = yield from self._load()
        if registry.pop(target.id, None) is None:
            raise BackupTargetNotFound(target.id, driver=self)
        yield from self._save(registry)
        self._containers.pop(target.id, None)
        return True

    # -- recovery points --------------------------------------------------------------

    def _point(self, target: BackupTarget,
               snapshot: Mapping[str, Any]) -> BackupTargetRecoveryPoint:
        return BackupTargetRecoveryPoint(
            str(snapshot["id"]), _parse_time(str(snapshot["time"])), target, driver=self,
            extra={"short_id": snapshot.get("short_id"), "paths": list(snapshot.get("paths", [])),
                   "hostname": snapshot.get("hostname"), "tags": list(snapshot.get("tags", [])),
                   "tree": snapshot.get("tree")},
        )

    def _recovery_points(self, target: BackupTarget) -> Iter[BackupTargetRecoveryPoint]:
        """The target's snapshots, oldest first (one listing)."""
        snapshots = yield from self._restic_json("snapshots", "--tag", target.id)
        points = [self._point(target, snapshot) for snapshot in snapshots or []]
        for point in sorted(points, key=attrgetter("date")):
            yield Emit(point)

    @operation
    def get_recovery_point(self, target: BackupTarget, id: str) -> Op[BackupTargetRecoveryPoint]:
        """A snapshot of ``target`` by id (or short id)."""
        snapshots = yield from self._restic_json("snapshots", "--tag", target.id)
        for snapshot in snapshots or []:
            if id in (snapshot["id"], snapshot.get("short_id")):
                return self._point(target, snapshot)
        raise RecoveryPointNotFound(id, driver=self)

    # -- jobs -------------------------------------------------------------------------

    def _remember(self, job: _Job) -> BackupTargetJob:
        with self._state:
            self._jobs.setdefault(job.target_id, {})[job.id] = job
        return self._job(job, None)

    def _job(self, job: _Job, target: BackupTarget | None) -> BackupTargetJob:
        job.settle()
        with job.lock:
            extra: dict[str, Any] = {"kind": job.kind}
            if job.snapshot_id:
                extra["snapshot_id"] = job.snapshot_id
            if job.error:
                extra["error"] = job.error
            status, progress = job.status, job.progress
        if target is None:
            target = self._seen[job.target_id]
        return BackupTargetJob(job.id, status, progress, target, driver=self, extra=extra)

    def _new_job(self, target: BackupTarget, kind: str,
                 on_progress: Callable[[int], None] | None = None) -> _Job:
        self._seen[target.id] = target
        return _Job(uuid.uuid4().hex[:12], target.id, kind, BackupTargetJobStatusType.RUNNING,
                    on_progress=on_progress)

    def _fields(self, target: BackupTarget) -> Op[dict[str, Any]]:
        """The target's registry entry (BackupTargetNotFound if it is gone)."""
        registry = yield from self._load()
        fields = registry.get(target.id)
        if fields is None:
            raise BackupTargetNotFound(target.id, driver=self)
        return fields

    @iterator
    def iterate_target_jobs(self, target: BackupTarget) -> Iter[BackupTargetJob]:
        """The jobs this driver started on ``target`` (newest last)."""
        with self._state:
            jobs = list(self._jobs.get(target.id, {}).values())
        for job in jobs:
            yield Emit(self._job(job, target))

    @operation
    def get_target_job(self, target: BackupTarget, id: str) -> Op[BackupTargetJob]:
        """A job this driver started on ``target``, as it is now."""
        with self._state:
            job = self._jobs.get(target.id, {}).get(id)
        if job is None:
            raise BackupJobNotFound(id, driver=self)
        return (yield from pure(self._job(job, target)))

    @operation
    def create_target_job(
        self, target: BackupTarget, extra: Mapping[str, Any] | None = None
    ) -> Op[BackupTargetJob]:
        """Back ``target`` up (one new snapshot). Returns when it is done, unless
        ``extra={"wait": False}`` (a path target only): then at once, with the
        job running; ``extra["on_progress"]`` is called with each percentage, and
        ``extra["limit_upload"]`` caps the upload rate (KiB/s) of a path's backup."""
        options = dict(extra or {})
        wait = bool(options.get("wait", True))
        on_progress = options.get("on_progress")
        if on_progress is not None and not callable(on_progress):
            raise InvalidInput("extra['on_progress'] must be callable", driver=self)
        limit = options.get("limit_upload")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                                  or limit < 1):
            raise InvalidInput(f"limit_upload is KiB/s, a positive count: {limit!r}",
                               driver=self)
        job = self._new_job(target, "backup", on_progress)
        if wait and target.extra.get("kind") not in ("node", "container"):
            fields = yield from self._path_backup(target, limit, job)
            if fields is None:
                job.status, job.progress = BackupTargetJobStatusType.COMPLETED, 100
                return self._remember(job)
        else:
            fields = yield from self._fields(target)
        kind = fields["extra"].get("kind")
        if kind == "node":
            if not wait:
                raise NotSupported("a node's backup runs to its end (wait=False is for paths)",
                                   driver=self)
            yield from self._node_backup(target, fields, job)
        elif kind == "container":
            if not wait:
                raise NotSupported("a container's backup runs to its end (wait=False is for "
                                   "paths)", driver=self)
            yield from self._container_backup(target, job)
        else:
            argv = self._backup_argv(target, fields["address"], limit)
            if wait:
                done: Completed = yield from self._restic(*argv, on_line=job.hear)
                job.hear(done.lines()[-1] if done.lines() else "")
                job.status, job.progress = BackupTargetJobStatusType.COMPLETED, 100
            else:
                yield from self._ensure_repository()
                job.handle = yield from _start(
                    Start(self._argv(*argv), env=self._env(), on_line=job.hear))
        return self._remember(job)

    def _path_backup(self, target: BackupTarget, limit: int | None,
                     job: _Job) -> Op[dict[str, Any] | None]:
        """Back a path target up while its registry entry is read, each in its own
        restic run: each run spends most of a second opening the repository, so
        the check overlaps the backup instead of preceding it. None when done;
        else the registry's fields, the backup just made having been forgotten
        because the registry says otherwise (the target was changed elsewhere, or
        the object given was not what the registry holds): the caller goes on
        from them."""
        argv = self._backup_argv(target, target.address, limit)
        fields, done = yield Parallel([or_none(self._fields(target), BackupTargetNotFound),
                                       self._restic(*argv, on_line=job.hear)])
        job.hear(done.lines()[-1] if done.lines() else "")
        if fields is not None and fields["address"] == target.address and \
                fields["extra"].get("kind") == target.extra.get("kind"):
            return None
        if job.snapshot_id:
            yield from self._restic("forget", job.snapshot_id, "--quiet")
            job.snapshot_id = None
        if fields is None:
            raise BackupTargetNotFound(target.id, driver=self)
        fields = dict(fields)
        return fields

    def _backup_argv(self, target: BackupTarget, path: str,
                     limit: int | None = None) -> list[str]:
        upload = ["--limit-upload", str(limit)] if limit is not None else []
        return ["backup", *upload, "--json", "--tag", target.id, path]

    @operation
    def cancel_target_job(self, job: BackupTargetJob) -> Op[bool]:
        """Stop a running backup (SIGINT: restic removes its lock). False if it
        had already ended."""
        with self._state:
            known = self._jobs.get(job.target.id, {}).get(job.id)
        if known is None:
            raise BackupJobNotFound(job.id, driver=self)
        known.settle()
        if known.handle is None or known.status is not BackupTargetJobStatusType.RUNNING:
            return False
        done: Completed = yield Call(known.handle.stop)
        known.settle()
        return done.returncode in _INTERRUPTED

    # -- restores ---------------------------------------------------------------------

    def _check_point(self, target: BackupTarget, point: BackupTargetRecoveryPoint) -> None:
        if point.target.id != target.id:
            raise InvalidInput(f"recovery point {point.id} belongs to target {point.target.id}, "
                               f"not {target.id}", driver=self)

    def _select(self, point: BackupTarget | BackupTargetRecoveryPoint,
                snapshot_root: str, path: str | None) -> str:
        """The absolute path in the snapshot that ``path`` names (relative to
        the snapshot's root, or absolute under it)."""
        if path is None:
            return snapshot_root
        if not isinstance(path, str) or not path or "\0" in path:
            raise InvalidInput(f"path must be a path in the backup: {path!r}", driver=self)
        full = posixpath.normpath(path if path.startswith("/")
                                  else posixpath.join(snapshot_root, path))
        if full != snapshot_root and not full.startswith(snapshot_root.rstrip("/") + "/"):
            raise InvalidInput(f"path {path!r} is outside the backup of {snapshot_root}",
                               driver=self)
        return full

    def _snapshot_root(self, point: BackupTargetRecoveryPoint) -> Op[str]:
        paths = point.extra.get("paths")
        if not paths:
            found = yield from self.get_recovery_point.op(point.target, point.id)
            paths = found.extra["paths"]
        return str(paths[0])

    def _look_up(self, point: BackupTargetRecoveryPoint, selected: str) -> Op[None]:
        """NotFound unless ``selected`` is in the snapshot (an --include that
        matches nothing restores nothing, and says nothing)."""
        done = yield from self._restic("ls", "--json", point.id, selected)
        for line in done.lines():
            try:
                node = json.loads(line)
            except ValueError:
                continue
            if node.get("struct_type") == "node" and node.get("path") == selected:
                return
        raise NotFound(selected, f"{selected!r} is not in recovery point {point.id}",
                       driver=self)

    @operation
    def recover_target(self, target: BackupTarget, recovery_point: BackupTargetRecoveryPoint,
                       path: str | None = None) -> Op[BackupTargetJob]:
        """Restore ``recovery_point`` over ``target`` (``path``: only that part):
        what the point holds is put back as it was; files made since stay."""
        self._check_point(target, recovery_point)
        return (yield from self._recover(target, recovery_point, target, path))

    @operation
    def recover_target_out_of_place(self, target: BackupTarget,
                                    recovery_point: BackupTargetRecoveryPoint,
                                    recovery_target: BackupTarget,
                                    path: str | None = None) -> Op[BackupTargetJob]:
        """Restore ``target``'s ``recovery_point`` at ``recovery_target``'s
        address (a path here, a path on a node, or a container: of the same
        kind as ``target``); ``path``: only that part, put at the same place
        under the destination."""
        self._check_point(target, recovery_point)
        return (yield from self._recover(target, recovery_point, recovery_target, path))

    def _recover(self, target: BackupTarget, point: BackupTargetRecoveryPoint,
                 destination: BackupTarget, path: str | None) -> Op[BackupTargetJob]:
        source_kind = target.extra.get("kind", "path")
        kind = destination.extra.get("kind", "path")
        if (source_kind == "container") != (kind == "container"):
            raise InvalidInput("a container's backup restores into a container, and a path's "
                               "into a path", driver=self)
        if kind == "container" and destination.id not in self._containers:
            raise InvalidInput(f"container target {destination.name!r} is not registered with "
                               "this driver: create_target_from_storage_container first",
                               driver=self)
        if kind != "container":
            _check_absolute(destination.address, "the destination's address", self)
        root = yield from self._snapshot_root(point)
        selected = self._select(point, root, path)
        if selected != root:
            yield from self._look_up(point, selected)
        job = self._new_job(destination, "restore")
        relative = posixpath.relpath(selected, root)
        if kind == "container":
            yield from self._container_restore(point, destination, selected, relative)
        elif kind == "node":
            fields = yield from self._fields(destination)
            place = posixpath.normpath(posixpath.join(destination.address, relative))
            yield from self._node_restore(fields, point, selected, place)
        else:
            place = os.path.normpath(os.path.join(destination.address, relative))
            staging: str = yield Call(files.make_staging, place)
            try:
                yield from self._restic("restore", point.id, "--target", staging,
                                        "--include", selected)
            except BaseException:
                yield Call(files.remove_tree, staging)
                raise
            yield Call(files.move_into_place, staging, staging + selected, place)
        job.status, job.progress, job.snapshot_id = (BackupTargetJobStatusType.COMPLETED, 100,
                                                     point.id)
        return self._remember(job)

    # -- maintenance -----------------------------------------------------------------

    @operation
    def ex_forget(self, target: BackupTarget | None = None, *, keep_last: int | None = None,
                  keep_daily: int | None = None, keep_weekly: int | None = None,
                  keep_monthly: int | None = None, prune: bool = True) -> Op[list[str]]:
        """Forget the snapshots of ``target`` (every target's, if None) that the
        ``keep_*`` rules do not keep, and prune the data only they used; the ids
        of the snapshots removed."""
        rules = {"--keep-last": keep_last, "--keep-daily": keep_daily,
                 "--keep-weekly": keep_weekly, "--keep-monthly": keep_monthly}
        args = []
        for flag, value in rules.items():
            if value is not None:
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise InvalidInput(f"{flag[2:]} must be a count: {value!r}", driver=self)
                args += [flag, str(value)]
        if not args:
            raise InvalidInput("say what to keep (keep_last=, keep_daily=, ...)", driver=self)
        if target is None:
            registry = yield from self._load()
            tags = list(registry)
        else:
            tags = [target.id]
        removed: list[str] = []
        for tag in tags:
            groups = yield from self._restic_json("forget", "--tag", tag, "--group-by", "tags",
                                                  *args)
            for group in groups or []:
                removed += [str(s["id"]) for s in group.get("remove") or []]
        if prune and removed:
            yield from self._restic("prune", "--quiet")
        return removed

    @operation
    def ex_check(self, read_data: bool = False) -> Op[bool]:
        """Check the repository's structure (``read_data``: and read back every
        pack); True, or ProviderError saying what is wrong."""
        yield from self._restic("check", *(["--read-data"] if read_data else []))
        return True

    @operation
    def ex_locks(self) -> Op[list[str]]:
        """The ids of the repository's locks (none once every restic has ended)."""
        done = yield from self._restic("list", "locks", "--no-lock")
        return [line for line in done.lines() if line.strip()]

    # -- node targets -----------------------------------------------------------------

    def _ssh(self, fields: Mapping[str, Any]) -> Any:
        from overcast.compute.ssh import ParamikoSSHClient

        extra = fields["extra"]
        return ParamikoSSHClient(str(extra["host"]), int(extra["port"]), str(extra["username"]),
                                 key_files=self.ssh_key, timeout=self.ssh_timeout,
                                 known_hosts=self.ssh_known_hosts)

    def _on_node(self, fields: Mapping[str, Any], script: str) -> Op[str]:
        """Run ``script`` with sh on the node, with restic's secrets in a mode-0600
        file it reads and that is removed after; its standard output."""
        client = self._ssh(fields)
        environment = {name: value.reveal() if isinstance(value, Secret) else value
                       for name, value in self._env().items()}
        secrets = "".join(f"export {name}={shlex.quote(value)}\n"
                          for name, value in environment.items())
        run: tuple[str, str, int] = yield Call(_run_on_node, client, secrets, script)
        out, err, status = run
        if status != 0:
            text = redact_text(err.strip(), self._secrets())
            tail = "\n".join(text.splitlines()[-5:])
            if "wrong password" in text:
                raise InvalidCredentials(f"restic on {fields['extra']['host']}: {tail}",
                                         driver=self)
            raise ProviderError(f"restic on {fields['extra']['host']} failed (exit {status}): "
                                f"{tail}", driver=self)
        return out

    def _init_line(self) -> str:
        restic = shlex.quote(self.restic)
        if not self.create:
            return ""
        return (f"{restic} cat config >/dev/null 2>&1 || {restic} init >/dev/null\n")

    def _node_backup(self, target: BackupTarget, fields: Mapping[str, Any], job: _Job) -> Op[None]:
        argv = " ".join(shlex.quote(a) for a in [self.restic,
                                                 *self._backup_argv(target, target.address)])
        out = yield from self._on_node(fields, self._init_line() + argv + "\n")
        for line in out.splitlines():
            job.hear(line)
        job.status, job.progress = BackupTargetJobStatusType.COMPLETED, 100

    def _node_restore(self, fields: Mapping[str, Any], point: BackupTargetRecoveryPoint,
                      selected: str, place: str) -> Op[None]:
        restic, q = shlex.quote(self.restic), shlex.quote
        parent = posixpath.dirname(place) or "/"
        script = (
            f"mkdir -p {q(parent)}\n"
            f"S=$(mktemp -d {q(parent)}/.overcast-restore-XXXXXX)\n"
            "trap 'rm -rf \"$S\"' EXIT\n"
            f"{restic} restore {q(point.id)} --target \"$S\" --include {q(selected)} >/dev/null\n"
            f"if [ -d {q(place)} ] && [ ! -L {q(place)} ] && [ -d \"$S\"{q(selected)} ]; then\n"
            f"  cp -a \"$S\"{q(selected)}/. {q(place)}/\n"
            "else\n"
            f"  rm -rf {q(place)} && mv \"$S\"{q(selected)} {q(place)}\n"
            "fi\n"
        )
        yield from self._on_node(fields, script)

    # -- container targets --------------------------------------------------------

    def _container_backup(self, target: BackupTarget, job: _Job) -> Op[None]:
        container = self._containers.get(target.id)
        if container is None:
            raise InvalidInput(f"container target {target.name!r} is not registered with this "
                               "driver: create_target_from_storage_container first",
                               driver=self)
        storage = container.driver
        assert storage is not None
        root = posixpath.join(self.staging_dir, target.id)
        yield Call(files.remove_tree, root)
        yield Call(os.makedirs, root, 0o700, True)
        try:
            objects = yield Delegate(storage, collect(
                storage.iterate_container_objects.op(container)))
            downloads = []
            for obj in objects:
                name = obj.name
                parts = name.split("/")
                if name.endswith("/") or any(p in ("", ".", "..") for p in parts):
                    raise NotSupported(f"object name {name!r} has no file name to stage it "
                                       "under", driver=self)
                destination = os.path.join(root, *parts)
                yield Call(os.makedirs, os.path.dirname(destination), 0o700, True)
                downloads.append(Delegate(storage, storage.download_object.op(
                    obj, destination, True)))
            yield Parallel([_one(d) for d in downloads], limit=8)
            done = yield from self._restic(*self._backup_argv(target, root), on_line=job.hear)
            for line in done.lines()[-1:]:
                job.hear(line)
        finally:
            yield Call(files.remove_tree, root)
        job.status, job.progress = BackupTargetJobStatusType.COMPLETED, 100

    def _container_restore(self, point: BackupTargetRecoveryPoint, destination: BackupTarget,
                           selected: str, relative: str) -> Op[None]:
        container = self._containers[destination.id]
        storage = container.driver
        assert storage is not None
        yield Call(os.makedirs, self.staging_dir, 0o700, True)
        staging: str = yield Call(tempfile.mkdtemp, None, ".restore-", self.staging_dir)
        try:
            yield from self._restic("restore", point.id, "--target", staging,
                                    "--include", selected)
            staged: list[tuple[str, str]] = yield Call(files.staged_files, staging + selected)
            if not staged:  # the selection is one object
                staged = [("", staging + selected)]
            prefix = "" if relative == "." else relative
            uploads = [Delegate(storage, storage.upload_object.op(
                full, container, posixpath.join(prefix, name) if name else prefix))
                for name, full in staged]
            yield Parallel([_one(u) for u in uploads], limit=8)
        finally:
            yield Call(files.remove_tree, staging)


def _summary(lines: Sequence[str]) -> str | None:
    """The snapshot id in the summary line of ``restic backup --json``'s output."""
    for line in reversed(lines):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("message_type") == "summary":
            return str(message.get("snapshot_id") or "") or None
    return None


def _run(effect: Run) -> Op[Completed]:
    """Have the runner run a program to its end (process effects are not in
    the HTTP drivers' ``Effect`` union)."""
    done: Completed = yield cast("Effect", effect)
    return done


def _start(effect: Start) -> Op[ProcessHandle]:
    """Have the runner start a program and hand back its handle."""
    handle: ProcessHandle = yield cast("Effect", effect)
    return handle


def _one(effect: Any) -> Op[Any]:
    """A sub-operation that performs one effect (for :class:`Parallel`)."""
    result = yield effect
    return result


def _run_on_node(client: Any, secrets: str, script: str) -> tuple[str, str, int]:
    """Connect, write the secrets to a file only its owner reads, run ``script``
    with them, remove the file, disconnect (blocking: run through Call)."""
    client.connect()
    try:
        name = f".overcast-restic-{uuid.uuid4().hex}"
        out, err, status = client.run(f"umask 077 && : > ~/{name} && echo ~/{name}")
        if status != 0:
            return out, err, status
        path = out.strip()
        try:
            client.put(path, secrets)
            ran: tuple[str, str, int] = client.run(f"set -e\n. {shlex.quote(path)}\n{script}")
            return ran
        finally:
            client.delete(path)
    finally:
        client.close()
