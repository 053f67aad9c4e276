"""Docker Engine API (and Podman's Docker-compatible service).

``DockerContainerDriver()`` talks to the engine named by ``DOCKER_HOST``, else
to ``/var/run/docker.sock``; ``host="unix:///run/podman.sock"`` or
``host="tcp://127.0.0.1:2375"`` (or Apache Libcloud's ``host``/``port``/
``secure``) name another. TLS with a client certificate takes ``key_file``,
``cert_file`` and ``ca_cert``, or ``DOCKER_CERT_PATH`` (``ca.pem``,
``cert.pem``, ``key.pem``) when the host comes from ``DOCKER_HOST`` with
``DOCKER_TLS_VERIFY`` set. The UNIX socket is the runtime's ``unix_socket``
option: the driver only names it.

How overcast's model maps onto the Engine API:

* The API version is negotiated on first use from ``GET /version`` (the
  server's, capped at :data:`MAX_API_VERSION`), unless ``api_version=`` is
  given; every later path carries it (``/v1.41/containers/json``).
* Images are the engine's images; ``install_image("busybox:1.36")`` pulls,
  ``ex_load_image(archive)`` loads a ``docker save`` archive and
  ``ex_import_image(rootfs_tar, tag=...)`` makes an image from a root file
  system, both streamed from a file. Podman 4.3 ignores ``tag`` on import, so
  the image is tagged afterwards.
* ``deploy_container(name, image, parameters={...})`` creates the container
  with everything in ``HostConfig`` (Podman ignores the legacy top-level
  fields) and starts it unless ``start=False``. ``parameters`` keys: ``command``
  (list, or a string split like a shell would), ``entrypoint``, ``env``
  (mapping or ``"K=V"`` list), ``ports`` (``{"80/tcp": 8080}`` or
  ``{"80/tcp": "127.0.0.1:8080"}``), ``network_mode``, ``labels``, ``mounts``
  (``"source:target[:ro]"`` strings or Engine ``Mount`` mappings),
  ``memory`` (bytes), ``cpus``, ``working_dir``, ``user``, ``hostname``,
  ``tty``. A string ``parameters`` is the command. Each create carries a
  token label, so a create whose answer is lost is looked up before it is sent
  again (one call never makes two containers).
* ``destroy_container`` stops a running container first (a running one is
  refused: Docker says 409, Podman 500). ``stop_container`` returns the
  container ``STOPPED`` with ``extra["exit_code"]``.
* Logs: ``stream_container_logs`` demultiplexes the engine's 8-byte-framed
  stdout/stderr stream as it arrives; ``ex_get_logs`` returns it all as text.
  A ``follow`` stream is bounded by ``idle_timeout`` (default: the driver's
  read timeout) without output, not by the total timeout. Output is paced by
  the container, not the network, so this driver has no minimum transfer rate
  unless ``timeout=Timeouts(min_rate=...)`` asks for one.
* ``ex_exec(container, command)`` runs a command in a running container and
  returns ``(exit code, stdout, stderr)``.
* The engine has no clusters or locations.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import uuid
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from typing import IO
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.container.base import Container
from overcast.container.base import ContainerCluster
from overcast.container.base import ContainerDriver
from overcast.container.base import ContainerImage
from overcast.container.base import ContainerState
from overcast.container.base import DeployParameters
from overcast.container.base import LogChunk
from overcast.container.base import check_cluster_argument
from overcast.errors import DeployedContainerAlreadyExists
from overcast.errors import DeployedContainerNotFound
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import HttpApi
from overcast.runtime.api import When
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.operation import stream
from overcast.runtime.ops import create_once
from overcast.runtime.ops import find_first
from overcast.runtime.ops import or_none
from overcast.runtime.streams import ByteStream
from overcast.runtime.transports.base import Timeouts

__all__ = ["MAX_API_VERSION", "MIN_API_VERSION", "DockerContainerDriver", "demultiplex"]

DEFAULT_SOCKET: Final = "/var/run/docker.sock"
#: The API versions this driver speaks (Podman 4.3 reports 1.41).
MIN_API_VERSION: Final = (1, 24)
MAX_API_VERSION: Final = (1, 43)
#: The label that carries a create's token.
TOKEN_LABEL: Final = "overcast.token"
_NAME: Final = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
_PARAMETERS: Final = frozenset({
    "command", "entrypoint", "env", "ports", "network_mode", "labels", "mounts", "memory",
    "cpus", "working_dir", "user", "hostname", "tty",
})
_STATES: Final = {
    "running": ContainerState.RUNNING, "exited": ContainerState.STOPPED,
    "created": ContainerState.STOPPED, "stopped": ContainerState.STOPPED,
    "paused": ContainerState.PAUSED, "restarting": ContainerState.REBOOTING,
    "removing": ContainerState.TERMINATED, "dead": ContainerState.ERROR,
    "configured": ContainerState.STOPPED, "initialized": ContainerState.STOPPED,
}
_STREAMS: Final = {0: "stdout", 1: "stdout", 2: "stderr"}
_HEADER: Final = 8


def new_token() -> str:
    """A create's token (the value of its :data:`TOKEN_LABEL`)."""
    return uuid.uuid4().hex


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def _engine_address(host: str | None, port: int | None, secure: bool,
                    environ: Mapping[str, str]) -> tuple[str, str | None, bool]:
    """``(endpoint, unix socket or None, from the environment with TLS)``."""
    from_env = host is None
    tls_env = from_env and bool(environ.get("DOCKER_TLS_VERIFY"))
    address = host if host is not None else environ.get("DOCKER_HOST", f"unix://{DEFAULT_SOCKET}")
    if address.startswith("unix://"):
        return "http://docker", address[len("unix://"):], False
    if address.startswith("/"):
        return "http://docker", address, False
    scheme = "https" if secure or tls_env else "http"
    for prefix in ("tcp://", "http://", "https://"):
        if address.startswith(prefix):
            scheme = "https" if prefix == "https://" or scheme == "https" else "http"
            address = address[len(prefix):]
            break
    address = address.rstrip("/")
    if port is not None and ":" not in address:
        address = f"{address}:{port}"
    return f"{scheme}://{address}", None, tls_env


def demultiplex(buffer: bytearray, *, eof: bool = False) -> Iterator[LogChunk]:
    """The complete frames at the start of ``buffer`` (removed from it), as
    :class:`LogChunk`; a frame's 8-byte header is its stream (0/1 stdout, 2
    stderr), three zero bytes and its length, big-endian. ``eof``: what is left
    is a truncated frame (an error)."""
    start = 0
    size = len(buffer)
    while size - start >= _HEADER:
        length = int.from_bytes(buffer[start + 4:start + 8], "big")
        end = start + _HEADER + length
        if end > size:
            break
        yield LogChunk(bytes(buffer[start + _HEADER:end]), _STREAMS.get(buffer[start], "stdout"))
        start = end
    del buffer[:start]
    if eof and buffer:
        raise ProviderError(f"the log stream ended inside a frame ({len(buffer)} bytes left)")


def _framed(head: bytes | bytearray) -> bool:
    """Whether a log body starts with a stdout/stderr frame header (a container
    with a terminal sends its output raw)."""
    return len(head) >= 4 and head[0] in _STREAMS and head[1:4] == b"\0\0\0"


class _LogStream(ByteStream):
    """The engine's log body, demultiplexed chunk by chunk as it arrives."""

    def __init__(self, raw: ByteStream) -> None:
        super().__init__()
        self._raw = raw

    def _sync_chunks(self) -> Iterator[bytes]:
        splitter = _Splitter()
        for chunk in self._raw.sync_chunks():
            yield from splitter.feed(chunk)
        yield from splitter.end()

    async def _async_chunks(self) -> Any:
        splitter = _Splitter()
        async for chunk in self._raw.async_chunks():
            for piece in splitter.feed(chunk):
                yield piece
        for piece in splitter.end():
            yield piece

    def close(self) -> None:
        self._raw.close()

    async def aclose(self) -> None:
        await self._raw.aclose()


class _Splitter:
    """Frames or raw output: decided by the first bytes."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.framed: bool | None = None

    def feed(self, chunk: bytes) -> Iterator[LogChunk]:
        if self.framed is False:
            yield LogChunk(chunk, "stdout")
            return
        self.buffer += chunk
        if self.framed is None:
            if len(self.buffer) < 4:
                return
            self.framed = _framed(self.buffer)
            if not self.framed:
                data, self.buffer = bytes(self.buffer), bytearray()
                yield LogChunk(data, "stdout")
                return
        yield from demultiplex(self.buffer)

    def end(self) -> Iterator[LogChunk]:
        if self.framed is None and self.buffer:  # fewer than 4 bytes in all: raw
            yield LogChunk(bytes(self.buffer), "stdout")
            return
        yield from demultiplex(self.buffer, eof=True)


class DockerContainerDriver(HttpApi, ContainerDriver):
    """Images and containers on a Docker Engine (or Podman) API.

    Positional parameters are Apache Libcloud's (``key`` and ``secret`` are
    unused: the engine authenticates by socket permissions or client
    certificate). ``host`` is ``unix://PATH``, ``tcp://HOST:PORT`` or a host name
    (with ``port``); ``None`` reads ``DOCKER_HOST``.
    """

    name: ClassVar[str] = "docker"
    label: ClassVar[str] = "Docker"
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(DeployedContainerAlreadyExists, status=409, says="already in use"),
        When(InvalidInput, status=400),
    )
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}

    def __init__(self, key: str = "", secret: str = "", secure: bool = False,
                 host: str | None = None, port: int | None = None,
                 key_file: str | None = None, cert_file: str | None = None, *,
                 ca_cert: str | None = None, api_version: str | None = None,
                 stop_timeout: int = 10, **options: Any) -> None:
        endpoint, socket, tls_env = _engine_address(host, port, secure, os.environ)
        if socket is not None:
            options.setdefault("unix_socket", socket)
        cert_path = os.environ.get("DOCKER_CERT_PATH") if tls_env else None
        if cert_path:
            ca_cert = ca_cert or os.path.join(cert_path, "ca.pem")
            cert_file = cert_file or os.path.join(cert_path, "cert.pem")
            key_file = key_file or os.path.join(cert_path, "key.pem")
        if cert_file is not None:
            options.setdefault("client_cert", (cert_file, key_file) if key_file else cert_file)
        if ca_cert is not None:
            options.setdefault("verify", ca_cert)
        # Logs and pulls are paced by the container and the registry: no floor.
        options.setdefault("timeout", Timeouts(min_rate=None))
        super().__init__(**options)
        self.endpoint = endpoint
        self.stop_timeout = stop_timeout
        self._prefix: str | None = None
        if api_version is not None:
            self._prefix = f"/v{self._checked_version(api_version)}"

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "socket": self._options.get("unix_socket")}

    # -- requests -----------------------------------------------------------------

    def _checked_version(self, text: str) -> str:
        try:
            version = _version(text)
        except ValueError:
            raise InvalidInput(f"not an API version: {text!r}", driver=self) from None
        if version < MIN_API_VERSION:
            raise NotSupported(f"the engine speaks API {text}; this driver needs "
                               f"{'.'.join(map(str, MIN_API_VERSION))} or later", driver=self)
        return "{}.{}".format(*min(version, MAX_API_VERSION))

    def _versioned(self, path: str) -> Op[str]:
        """``path`` below the negotiated API version (asked once, then kept)."""
        if self._prefix is None:
            data = yield from self._json("GET", "/version")
            self._prefix = f"/v{self._checked_version(str((data or {}).get('ApiVersion', '')))}"
        return f"{self._prefix}{path}"

    def _api(self, method: str, path: str, **options: Any) -> Op[Any]:
        """JSON from ``path`` below the API version."""
        url = yield from self._versioned(path)
        return (yield from self._json(method, url, **options))

    def _api_send(self, method: str, path: str, **options: Any) -> Op[Any]:
        url = yield from self._versioned(path)
        return (yield from self._send(method, url, **options))

    # -- images ---------------------------------------------------------------------

    def _to_image(self, data: Mapping[str, Any]) -> ContainerImage:
        tags = [t for t in (data.get("RepoTags") or []) if t and t != "<none>:<none>"]
        image_id = str(data.get("Id") or "")
        name = tags[0] if tags else image_id
        path, version = name, None
        if tags:
            slash = name.rfind("/")
            colon = name.rfind(":")
            if colon > slash:
                path, version = name[:colon], name[colon + 1:]
        created = data.get("Created")
        extra = {"tags": tags, "size": data.get("Size"), "created": created,
                 "digests": data.get("RepoDigests") or []}
        return ContainerImage(id=image_id, name=name, path=path, version=version, driver=self,
                              extra=extra)

    @iterator
    def iterate_images(self) -> Iter[ContainerImage]:
        """Iterate over the engine's images (one answer: the engine does not page)."""
        data = yield from self._api("GET", "/images/json")
        for item in data or []:
            yield Emit(self._to_image(item))

    @operation
    def get_image(self, id: str) -> Op[ContainerImage]:
        """An image by id or name; :class:`~overcast.errors.ImageNotFound` if absent."""
        ref = self._ref(id, "image")
        data = yield from self._api("GET", f"/images/{ref}/json", what=id, missing=ImageNotFound)
        return self._to_image(data)

    @operation
    def delete_image(self, image: ContainerImage) -> Op[bool]:
        """Delete an image (it must not be used by a container)."""
        ref = self._ref(image.id, "image")
        yield from self._api_send("DELETE", f"/images/{ref}", what=image.name,
                                  missing=ImageNotFound)
        return True

    @operation
    def install_image(self, path: str) -> Op[ContainerImage]:
        """Pull ``path`` (``"busybox"``, ``"busybox:1.36"``, ``"quay.io/x/y@sha256:..."``)
        from its registry; a failure the engine reports inside its progress
        stream is a :class:`~overcast.errors.ProviderError`."""
        name = path.strip()
        if not name or any(c.isspace() for c in name):
            raise InvalidInput(f"not an image reference: {path!r}", driver=self)
        repo, tag = name, "latest"
        slash, colon = name.rfind("/"), name.rfind(":")
        if "@" in name:
            repo, tag = name, ""
        elif colon > slash:
            repo, tag = name[:colon], name[colon + 1:]
        params = [("fromImage", repo)] + ([("tag", tag)] if tag else [])
        resp = yield from self._api_send("POST", "/images/create", params=params, what=name,
                                         missing=ImageNotFound, idempotent=True)
        self._progress_error(resp.body, name)
        return (yield from self.get_image.op(f"{repo}:{tag}" if tag else repo))

    def _progress_error(self, body: bytes, what: str) -> list[Mapping[str, Any]]:
        """The JSON lines of a progress stream; an ``error`` line raises."""
        lines: list[Mapping[str, Any]] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                if item.get("error") or item.get("errorDetail"):
                    detail = item.get("error") or (item.get("errorDetail") or {}).get("message")
                    raise ProviderError(f"{what}: {detail}", driver=self)
                lines.append(item)
        return lines

    def _archive(self, source: str | os.PathLike[str] | IO[bytes]) -> Op[tuple[IO[bytes], bool]]:
        """A readable file for ``source`` (a path is opened in a worker thread;
        the flag says the caller closes it)."""
        if hasattr(source, "read"):
            return source, False  # type: ignore[return-value]
        path = os.fspath(source)
        try:
            handle: IO[bytes] = yield Call(open, path, "rb")
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror}", driver=self) from None
        return handle, True

    @operation
    def ex_load_image(self, archive: str | os.PathLike[str] | IO[bytes]) -> Op[list[str]]:
        """Load the images of an archive made by ``docker save`` (a path or a
        binary file, streamed); the names (or ids) it loaded."""
        handle, own = yield from self._archive(archive)
        try:
            resp = yield from self._api_send(
                "POST", "/images/load", body=handle, idempotent=False,
                headers={"Content-Type": "application/x-tar"})
        finally:
            if own:
                handle.close()
        loaded: list[str] = []
        for item in self._progress_error(resp.body, "load"):
            text = str(item.get("stream") or item.get("status") or "")
            for marker in ("Loaded image: ", "Loaded image ID: ", "Loaded image(s): "):
                if marker in text:
                    loaded += [n.strip() for n in text.split(marker, 1)[1].split(",")
                               if n.strip()]
            for name in item.get("Names") or []:
                loaded.append(str(name))
        return loaded

    @operation
    def ex_import_image(self, rootfs_tar: str | os.PathLike[str] | IO[bytes], *,
                        tag: str | None = None,
                        changes: Sequence[str] = ()) -> Op[ContainerImage]:
        """Make an image from a root file system tarball (a path or a binary file,
        streamed), tagged ``tag`` (``"localhost/busybox:latest"``) if given;
        ``changes`` are Dockerfile lines (``'CMD ["/bin/sh"]'``)."""
        repo, version = self._split_tag(tag) if tag else (None, None)
        params: list[tuple[str, str]] = [("fromSrc", "-")]
        params += [("changes", change) for change in changes]
        handle, own = yield from self._archive(rootfs_tar)
        try:
            resp = yield from self._api_send(
                "POST", "/images/create", params=params, body=handle, idempotent=False,
                headers={"Content-Type": "application/x-tar"})
        finally:
            if own:
                handle.close()
        image_id = None
        for item in self._progress_error(resp.body, "import"):
            text = str(item.get("status") or item.get("id") or item.get("stream") or "").strip()
            if text.startswith("sha256:") or re.fullmatch(r"[0-9a-f]{12,64}", text):
                image_id = text
        if image_id is None:
            raise ProviderError("import: the engine named no image", driver=self)
        if repo is not None:  # Podman ignores tag= on import: tag it now
            yield from self._api_send(
                "POST", f"/images/{self._ref(image_id, 'image')}/tag",
                params=[("repo", repo), ("tag", version or "latest")], idempotent=True,
                what=image_id, missing=ImageNotFound)
        return (yield from self.get_image.op(image_id))

    def _split_tag(self, tag: str) -> tuple[str, str]:
        slash, colon = tag.rfind("/"), tag.rfind(":")
        repo, version = (tag[:colon], tag[colon + 1:]) if colon > slash else (tag, "latest")
        if not repo or not version or any(c.isspace() for c in tag):
            raise InvalidInput(f"not an image tag: {tag!r}", driver=self)
        return repo, version

    def _ref(self, value: str, what: str) -> str:
        """An id or name for a path: an image's may hold ``/`` (the engine routes
        the rest of the path), a container's may not."""
        text = str(value)
        bad = "?#%" if what == "image" else "?#%/"
        if (not text or text.startswith("/") or any(c in bad for c in text)
                or any(c.isspace() for c in text)):
            raise InvalidInput(f"not a {what} id: {value!r}", driver=self)
        return text

    # -- containers ---------------------------------------------------------------------

    def _image_of(self, name: str, image_id: str) -> ContainerImage:
        repo, version = name, None
        slash, colon = name.rfind("/"), name.rfind(":")
        if colon > slash:
            repo, version = name[:colon], name[colon + 1:]
        return ContainerImage(id=image_id, name=name, path=repo, version=version, driver=self)

    def _to_container(self, data: Mapping[str, Any]) -> Container:
        """A container from an inspect answer (``/containers/{id}/json``) or a
        list entry (``/containers/json``): the two shapes differ."""
        state_data = data.get("State")
        config = data.get("Config") or {}
        if isinstance(state_data, Mapping):  # inspect
            status = str(state_data.get("Status") or "")
            name = str(data.get("Name") or "").lstrip("/")
            image_name = str(config.get("Image") or data.get("ImageName") or "")
            image_id = str(data.get("Image") or "")
            labels = dict(config.get("Labels") or {})
            exit_code = state_data.get("ExitCode")
            created = _parse_time(data.get("Created"))
            networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
            addresses = [(data.get("NetworkSettings") or {}).get("IPAddress")]
            addresses += [n.get("IPAddress") for n in networks.values() if isinstance(n, dict)]
            ports = (data.get("HostConfig") or {}).get("PortBindings") or {}
            tty = bool(config.get("Tty"))
        else:  # a list entry
            status = str(state_data or "")
            names = data.get("Names") or [""]
            name = str(names[0]).lstrip("/")
            image_name = str(data.get("Image") or "")
            image_id = str(data.get("ImageID") or "")
            labels = dict(data.get("Labels") or {})
            exit_code = data.get("ExitCode")
            created_raw = data.get("Created")
            created = (datetime.fromtimestamp(created_raw).astimezone()
                       if isinstance(created_raw, int | float) else _parse_time(created_raw))
            networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
            addresses = [n.get("IPAddress") for n in networks.values() if isinstance(n, dict)]
            ports = data.get("Ports") or []
            tty = None
        extra: dict[str, Any] = {"status": status, "labels": labels, "ports": ports,
                                 "exit_code": exit_code}
        if tty is not None:
            extra["tty"] = tty
        return Container(
            id=str(data.get("Id") or ""), name=name,
            image=self._image_of(image_name, image_id),
            state=_STATES.get(status.lower(), ContainerState.UNKNOWN),
            ip_addresses=[str(a) for a in dict.fromkeys(addresses) if a],
            driver=self, extra=extra, created_at=created,
        )

    @iterator
    def iterate_containers(self, image: ContainerImage | None = None,
                           cluster: ContainerCluster | None = None, *,
                           all: bool = True) -> Iter[Container]:
        """Iterate over the containers (of ``image``, if given); ``all=False``
        keeps the running ones. The engine answers in one piece."""
        check_cluster_argument(cluster, self, operation="list_containers")
        if cluster is not None:
            raise NotSupported("the Docker engine has no clusters", driver=self)
        yield from self._containers(all=all, image=image)

    def _containers(self, *, all: bool = True, image: ContainerImage | None = None,
                    labels: Sequence[str] = ()) -> Iter[Container]:
        params = [("all", "1" if all else "0")]
        if labels:
            params.append(("filters", json.dumps({"label": list(labels)})))
        data = yield from self._api("GET", "/containers/json", params=params)
        for item in data or []:
            found = self._to_container(item)
            if image is None or _same_image(found.image, image):
                yield Emit(found)

    @operation
    def get_container(self, id: str) -> Op[Container]:
        """A container by id or name; :class:`~overcast.errors.DeployedContainerNotFound`
        if absent."""
        ref = self._ref(id, "container")
        data = yield from self._api("GET", f"/containers/{ref}/json", what=id,
                                    missing=DeployedContainerNotFound)
        return self._to_container(data)

    @operation
    def deploy_container(self, name: str, image: ContainerImage,
                         cluster: ContainerCluster | None = None,
                         parameters: DeployParameters | None = None,
                         start: bool = True) -> Op[Container]:
        """Create a container named ``name`` from ``image`` with ``parameters``
        (see the module's documentation) and start it unless ``start`` is False.

        Everything is checked before anything is sent; a name in use is
        :class:`~overcast.errors.DeployedContainerAlreadyExists`, a missing image
        :class:`~overcast.errors.ImageNotFound`."""
        check_cluster_argument(cluster, self, operation="deploy_container")
        if cluster is not None:
            raise NotSupported("the Docker engine has no clusters", driver=self)
        if not isinstance(start, bool):
            raise InvalidInput(f"deploy_container: start must be True or False, not {start!r}",
                               driver=self)
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput(f"not a container name: {name!r} (letters, digits, '_', '.', "
                               "'-'; starting with a letter or digit)", driver=self)
        if not isinstance(image, ContainerImage):
            raise InvalidInput(f"deploy_container: image must be a ContainerImage, not "
                               f"{type(image).__name__}", driver=self)
        token = new_token()
        body = self._create_body(image, parameters, token)

        def send() -> Op[Container]:
            data = yield from self._api(
                "POST", "/containers/create", params=[("name", name)], json=body,
                idempotent=False, what=name, exists=DeployedContainerAlreadyExists,
                missing=ImageNotFound)
            return (yield from self.get_container.op(str(data["Id"])))

        def find() -> Op[Container | None]:
            mine = yield from find_first(
                self._containers(labels=[f"{TOKEN_LABEL}={token}"]), lambda c: True)
            if mine is None:
                # Podman answers a name in use with a 500, which leaves the
                # outcome unknown: the name taken by another container says it.
                other = yield from or_none(self.get_container.op(name),
                                           DeployedContainerNotFound)
                if other is not None:
                    raise DeployedContainerAlreadyExists(name, driver=self)
            return mine

        container = yield from create_once(send, find)
        if start:
            container = yield from self.start_container.op(container)
        return container

    def _create_body(self, image: ContainerImage, parameters: DeployParameters | None,
                     token: str) -> dict[str, Any]:
        """The create request's body, every parameter checked."""
        given: Mapping[str, Any]
        if parameters is None:
            given = {}
        elif isinstance(parameters, str):
            given = {"command": parameters}
        elif isinstance(parameters, Mapping):
            given = parameters
        else:
            raise InvalidInput(f"parameters must be a mapping or a command string, not "
                               f"{type(parameters).__name__} {parameters!r}", driver=self)
        unknown = set(given) - _PARAMETERS
        if unknown:
            raise InvalidInput(f"unknown deploy parameter(s): {', '.join(sorted(unknown))} "
                               f"(known: {', '.join(sorted(_PARAMETERS))})", driver=self)
        host: dict[str, Any] = {}
        body: dict[str, Any] = {"Image": image.id or image.name, "HostConfig": host}
        if image.name and image.name != image.id:
            body["Image"] = image.name
        if "command" in given:
            body["Cmd"] = self._words(given["command"], "command")
        if "entrypoint" in given:
            body["Entrypoint"] = self._words(given["entrypoint"], "entrypoint")
        env = given.get("env")
        if env is not None:
            pairs = ([f"{k}={v}" for k, v in env.items()] if isinstance(env, Mapping)
                     else [str(e) for e in env])
            if any("=" not in p or p.startswith("=") for p in pairs):
                raise InvalidInput(f"env entries are NAME=VALUE: {env!r}", driver=self)
            body["Env"] = pairs
        labels = {str(k): str(v) for k, v in (given.get("labels") or {}).items()}
        labels[TOKEN_LABEL] = token
        body["Labels"] = labels
        ports = given.get("ports")
        if ports:
            exposed, bindings = self._ports(ports)
            body["ExposedPorts"] = exposed
            host["PortBindings"] = bindings
        if given.get("network_mode"):
            host["NetworkMode"] = str(given["network_mode"])
        if given.get("mounts"):
            host["Mounts"] = [self._mount(m) for m in given["mounts"]]
        memory = given.get("memory")
        if memory is not None:
            if not isinstance(memory, int) or isinstance(memory, bool) or memory < 0:
                raise InvalidInput(f"memory is a number of bytes >= 0: {memory!r}", driver=self)
            host["Memory"] = memory
        cpus = given.get("cpus")
        if cpus is not None:
            if not isinstance(cpus, int | float) or isinstance(cpus, bool) or cpus <= 0:
                raise InvalidInput(f"cpus is a positive number: {cpus!r}", driver=self)
            host["NanoCpus"] = int(cpus * 1e9)
        for key, field in (("working_dir", "WorkingDir"), ("user", "User"),
                           ("hostname", "Hostname")):
            if given.get(key) is not None:
                body[field] = str(given[key])
        if given.get("tty"):
            body["Tty"] = True
        return body

    def _words(self, value: Any, what: str) -> list[str]:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise InvalidInput(f"{what}: {exc}: {value!r}", driver=self) from None
        if isinstance(value, Sequence) and all(isinstance(w, str) for w in value):
            return list(value)
        raise InvalidInput(f"{what} is a string or a list of strings: {value!r}", driver=self)

    def _ports(self, ports: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """``ExposedPorts`` and ``PortBindings`` from ``{"80/tcp": 8080}``-style
        mappings (a host port, ``"IP:PORT"``, or None for any)."""
        if not isinstance(ports, Mapping):
            raise InvalidInput(f"ports is a mapping of container port to host port: {ports!r}",
                               driver=self)
        exposed: dict[str, Any] = {}
        bindings: dict[str, Any] = {}
        for inner, outer in ports.items():
            number, _, protocol = str(inner).partition("/")
            protocol = protocol or "tcp"
            if not _port_number(number) or protocol not in ("tcp", "udp", "sctp"):
                raise InvalidInput(f"not a container port: {inner!r}", driver=self)
            key = f"{int(number)}/{protocol}"
            host_ip, host_port = "", ""
            if outer is not None:
                text = str(outer)
                if ":" in text:
                    host_ip, _, host_port = text.rpartition(":")
                else:
                    host_port = text
                if isinstance(outer, bool) or not _port_number(host_port):
                    raise InvalidInput(f"not a host port for {inner!r}: {outer!r}", driver=self)
            exposed[key] = {}
            bindings[key] = [{"HostIp": host_ip, "HostPort": host_port}]
        return exposed, bindings

    def _mount(self, mount: Any) -> dict[str, Any]:
        if isinstance(mount, Mapping):
            return dict(mount)
        if isinstance(mount, str):
            parts = mount.split(":")
            if len(parts) in (2, 3) and parts[0] and parts[1].startswith("/") and (
                    len(parts) == 2 or parts[2] in ("ro", "rw")):
                return {"Type": "bind", "Source": parts[0], "Target": parts[1],
                        "ReadOnly": len(parts) == 3 and parts[2] == "ro"}
        raise InvalidInput(f"not a mount (SOURCE:TARGET[:ro] or a Mount mapping): {mount!r}",
                           driver=self)

    def _action(self, container: Container, action: str, **params: str) -> Op[Container]:
        """POST an action (start, stop, restart); an action already done (304) is
        no error. The container as it now is."""
        ref = self._ref(container.id, "container")
        yield from self._api_send("POST", f"/containers/{ref}/{action}",
                                  params=list(params.items()), ok=(304,), idempotent=True,
                                  what=container.name or container.id,
                                  missing=DeployedContainerNotFound)
        return (yield from self.get_container.op(container.id))

    @operation
    def start_container(self, container: Container) -> Op[Container]:
        """Start a container (already running is fine); it as it now is."""
        return (yield from self._action(container, "start"))

    @operation
    def stop_container(self, container: Container) -> Op[Container]:
        """Stop a container (SIGTERM, then SIGKILL after :attr:`stop_timeout`
        seconds); ``STOPPED`` with ``extra["exit_code"]``."""
        return (yield from self._action(container, "stop", t=str(self.stop_timeout)))

    @operation
    def restart_container(self, container: Container) -> Op[Container]:
        """Restart a container; it as it now is."""
        return (yield from self._action(container, "restart", t=str(self.stop_timeout)))

    @operation
    def destroy_container(self, container: Container) -> Op[bool]:
        """Stop the container if it runs, then delete it (and its anonymous volumes)."""
        now = yield from or_none(self.get_container.op(container.id), DeployedContainerNotFound)
        if now is None:
            raise DeployedContainerNotFound(container.id, driver=self)
        if now.state in (ContainerState.RUNNING, ContainerState.PAUSED,
                         ContainerState.REBOOTING):
            yield from self._action(now, "stop", t=str(self.stop_timeout))
        ref = self._ref(container.id, "container")
        yield from self._api_send("DELETE", f"/containers/{ref}", params=[("v", "1")],
                                  what=container.name or container.id,
                                  missing=DeployedContainerNotFound)
        return True

    # -- logs -----------------------------------------------------------------------------

    def _log_params(self, *, follow: bool, since: int | None,
                    tail: int | None) -> list[tuple[str, str]]:
        params = [("stdout", "1"), ("stderr", "1"), ("follow", "1" if follow else "0")]
        if since is not None:
            if not isinstance(since, int) or isinstance(since, bool) or since < 0:
                raise InvalidInput(f"since is a Unix time: {since!r}", driver=self)
            params.append(("since", str(since)))
        if tail is not None:
            if not isinstance(tail, int) or isinstance(tail, bool) or tail < 0:
                raise InvalidInput(f"tail is a number of lines >= 0: {tail!r}", driver=self)
            params.append(("tail", str(tail)))
        return params

    @stream
    def stream_container_logs(self, container: Container, *, follow: bool = False,
                              since: int | None = None, tail: int | None = None,
                              idle_timeout: float | None = None) -> Op[ByteStream]:
        """The container's stdout and stderr as they come, demultiplexed into
        :class:`~overcast.container.base.LogChunk` pieces (in order per stream).
        ``follow`` keeps reading while the container runs; ``idle_timeout``
        bounds a wait for the next output (default: the driver's read timeout)."""
        params = self._log_params(follow=follow, since=since, tail=tail)
        if idle_timeout is not None and idle_timeout <= 0:
            raise InvalidInput(f"idle_timeout is positive seconds: {idle_timeout!r}",
                               driver=self)
        ref = self._ref(container.id, "container")
        resp = yield from self._api_send(
            "GET", f"/containers/{ref}/logs", params=params, stream=True,
            timeout=idle_timeout, what=container.name or container.id,
            missing=DeployedContainerNotFound)
        if resp.stream is None:  # an empty answer
            return _LogStream(_empty(resp.body))
        return _LogStream(resp.stream)

    @operation
    def ex_exec(self, container: Container,
                command: str | Sequence[str]) -> Op[tuple[int, bytes, bytes]]:
        """Run ``command`` in the running container and wait for it:
        ``(exit code, stdout, stderr)``."""
        argv = self._words(command, "command")
        if not argv:
            raise InvalidInput("ex_exec needs a command", driver=self)
        ref = self._ref(container.id, "container")
        made = yield from self._api(
            "POST", f"/containers/{ref}/exec", idempotent=False,
            json={"Cmd": argv, "AttachStdout": True, "AttachStderr": True, "Tty": False},
            what=container.name or container.id, missing=DeployedContainerNotFound)
        exec_id = self._ref(str(made["Id"]), "exec")
        resp = yield from self._api_send("POST", f"/exec/{exec_id}/start", idempotent=False,
                                         json={"Detach": False, "Tty": False})
        stdout, stderr = yield Call(_split_output, resp.body)
        done = yield from self._api("GET", f"/exec/{exec_id}/json")
        return int(done.get("ExitCode") or 0), stdout, stderr

    @operation
    def ex_get_logs(self, container: Container, stream: bool = False) -> Op[str]:
        """Everything the container wrote so far, stdout and stderr in the order
        the engine keeps, as text (Apache Libcloud's call). ``stream=True`` is
        :meth:`stream_container_logs`'s job, and refused here."""
        if stream:
            raise InvalidInput("ex_get_logs(stream=True): iterate "
                               "driver.stream_container_logs(container) instead", driver=self)
        params = self._log_params(follow=False, since=None, tail=None)
        ref = self._ref(container.id, "container")
        resp = yield from self._api_send("GET", f"/containers/{ref}/logs", params=params,
                                         what=container.name or container.id,
                                         missing=DeployedContainerNotFound)
        text: str = yield Call(_log_text, resp.body)
        return text


def _split_output(body: bytes) -> tuple[bytes, bytes]:
    splitter = _Splitter()
    out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    for piece in [*splitter.feed(body), *splitter.end()]:
        out[piece.stream].append(piece.data)
    return b"".join(out["stdout"]), b"".join(out["stderr"])


def _log_text(body: bytes) -> str:
    splitter = _Splitter()
    pieces = [*splitter.feed(body), *splitter.end()]
    return b"".join(pieces).decode("utf-8", "replace")


def _empty(body: bytes) -> ByteStream:
    from overcast.runtime.streams import IterStream

    return IterStream([body] if body else [])


def _port_number(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= 65535


def _same_image(found: ContainerImage, wanted: ContainerImage) -> bool:
    ids = {wanted.id, wanted.id.removeprefix("sha256:")} - {""}
    return (found.id in ids or found.id.removeprefix("sha256:") in ids
            or (bool(wanted.name) and found.name == wanted.name))


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # nanoseconds: keep microseconds
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
