"""Kubernetes: pods as containers, namespaces as clusters, deployments as ``ex_``.

``KubernetesContainerDriver(host=..., port=..., token=...)`` talks to an API
server with a bearer token, a client certificate (``cert_file``/``key_file``)
or Apache Libcloud's basic auth (``key``/``secret``);
``KubernetesContainerDriver.from_kubeconfig(path, context=None)`` reads all of
that from a kubeconfig (server, CA, token or client certificate, namespace;
YAML needs PyYAML, a JSON kubeconfig does not).

How overcast's model maps onto Kubernetes:

* A container is a **pod** (one container in it); its id is
  ``"namespace/name"``. ``deploy_container(name, image, cluster, parameters)``
  makes the pod in the namespace ``cluster`` names (else the driver's
  ``namespace``) and returns it (Libcloud's returns the namespace). Pods start
  when they are made and cannot be stopped, so ``start=False``,
  ``start_container``, ``stop_container`` and ``restart_container`` are not
  supported; ``destroy_container`` deletes the pod. ``parameters`` keys:
  ``command``, ``args``, ``env``, ``ports`` (container ports), ``labels``,
  ``memory`` (bytes, a limit), ``cpu`` (cores, a limit), ``restart_policy``.
  Each pod carries a token label, so a create whose answer is lost is looked
  up before it is sent again.
* Clusters are namespaces (Apache Libcloud's mapping).
* Listings follow ``limit``/``continue`` (``page_size`` is ``limit``).
* ``stream_container_logs`` reads ``/log`` (Kubernetes merges a container's
  stdout and stderr into one stream: every chunk is ``"stdout"``).
* Deployments: ``ex_list_deployments``, ``ex_create_deployment``,
  ``ex_scale_deployment``, ``ex_delete_deployment``.
* Images live in registries: the image operations are not supported.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import uuid
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
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
from overcast.errors import AlreadyExists
from overcast.errors import ClusterNotFound
from overcast.errors import DeployedContainerAlreadyExists
from overcast.errors import DeployedContainerNotFound
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import HttpApi
from overcast.runtime.api import When
from overcast.runtime.api import json_fault
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.operation import stream
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.ops import expand
from overcast.runtime.ops import or_none
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret
from overcast.runtime.streams import ByteStream
from overcast.runtime.streams import IterStream

__all__ = ["KubernetesContainerDriver"]

TOKEN_LABEL: Final = "overcast.token"
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_PARAMETERS: Final = frozenset({"command", "args", "env", "ports", "labels", "memory", "cpu",
                                "restart_policy"})
_PHASES: Final = {"Pending": ContainerState.PENDING, "Running": ContainerState.RUNNING,
                  "Succeeded": ContainerState.STOPPED, "Failed": ContainerState.ERROR,
                  "Unknown": ContainerState.UNKNOWN}


def new_token() -> str:
    """A create's token (the value of its :data:`TOKEN_LABEL`)."""
    return uuid.uuid4().hex


def _dns_label(name: object) -> bool:
    """A Kubernetes object name (RFC 1123 label)."""
    return (isinstance(name, str) and 0 < len(name) <= 63 and set(name) <= _NAME_CHARS
            and name[0] != "-" and name[-1] != "-")


class _RawStream(ByteStream):
    """A log body as ``stdout`` chunks."""

    def __init__(self, raw: ByteStream) -> None:
        super().__init__()
        self._raw = raw

    def _sync_chunks(self) -> Any:
        for chunk in self._raw.sync_chunks():
            yield LogChunk(chunk, "stdout")

    async def _async_chunks(self) -> Any:
        async for chunk in self._raw.async_chunks():
            yield LogChunk(chunk, "stdout")

    def close(self) -> None:
        self._raw.close()

    async def aclose(self) -> None:
        await self._raw.aclose()


class KubernetesContainerDriver(HttpApi, ContainerDriver):
    """Pods, namespaces and deployments on a Kubernetes API server.

    Positional parameters are Apache Libcloud's (``key``/``secret`` are basic
    auth, which current clusters rarely accept: prefer ``token=``)."""

    name: ClassVar[str] = "kubernetes"
    label: ClassVar[str] = "Kubernetes"
    supports_clusters: ClassVar[bool] = True
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(AlreadyExists, code="AlreadyExists"),
        When(InvalidInput, status=422),
        When(InvalidInput, status=400),
    )
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 secure: bool = True, host: str = "localhost", port: int = 6443,
                 key_file: str | None = None, cert_file: str | None = None,
                 ca_cert: str | None = None, *, token: str | Secret | None = None,
                 namespace: str = "default", endpoint: str | None = None,
                 page_size: int = 100, **options: Any) -> None:
        if cert_file is not None:
            options.setdefault("client_cert", (cert_file, key_file) if key_file else cert_file)
        if ca_cert is not None:
            options.setdefault("verify", ca_cert)
        super().__init__(**options)
        if endpoint is None:
            endpoint = f"{'https' if secure else 'http'}://{host}:{port}"
        self.endpoint = check_endpoint(endpoint.rstrip("/"), driver=self)
        self.page_size = check_page_size(page_size, maximum=None, driver=self)
        if not _dns_label(namespace):
            raise InvalidInput(f"not a namespace: {namespace!r}", driver=self)
        self.namespace = namespace
        self._token = Secret(str(token.reveal() if isinstance(token, Secret) else token)) \
            if token else None
        self._basic = None
        if key and secret:
            pair = f"{key}:{secret.reveal() if isinstance(secret, Secret) else secret}"
            self._basic = Secret(base64.b64encode(pair.encode()).decode())

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str] | Mapping[str, Any],
                        context: str | None = None, **options: Any) -> KubernetesContainerDriver:
        """A driver for ``context`` (else the current one) of a kubeconfig: a
        path (``$KUBECONFIG``'s first file when None is given as path is not
        allowed) or the parsed mapping. Inline certificate data is written to
        private temporary files, as the HTTP clients read certificates from files."""
        config = path if isinstance(path, Mapping) else _read_kubeconfig(os.fspath(path))
        name = context or config.get("current-context")
        contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
        if name not in contexts:
            raise InvalidInput(f"kubeconfig has no context {name!r}")
        ctx = contexts[name]
        clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
        users = {u.get("name"): u.get("user") or {} for u in config.get("users") or []}
        cluster = clusters.get(ctx.get("cluster"), {})
        user = users.get(ctx.get("user"), {})
        if not cluster.get("server"):
            raise InvalidInput(f"kubeconfig context {name!r} names no server")
        ca = cluster.get("certificate-authority") or _data_file(
            cluster.get("certificate-authority-data"), "ca")
        if ca:
            options.setdefault("verify", ca)
        if cluster.get("insecure-skip-tls-verify"):
            options.setdefault("verify", False)
        cert = user.get("client-certificate") or _data_file(
            user.get("client-certificate-data"), "cert")
        key = user.get("client-key") or _data_file(user.get("client-key-data"), "key")
        return cls(user.get("username"), user.get("password"), cert_file=cert, key_file=key,
                   token=user.get("token"), endpoint=str(cluster["server"]),
                   namespace=ctx.get("namespace") or "default", **options)

    def _fault(self, resp: Response) -> Fault:
        """Kubernetes errors are ``Status`` objects: the code is their ``reason``."""
        fault = json_fault(resp)
        try:
            data = resp.json() if resp.body.strip() else {}
        except ValueError:
            return fault
        reason = str(data.get("reason") or "") if isinstance(data, dict) else ""
        if not reason:
            return fault
        return Fault(fault.status, reason, str(data.get("message") or fault.message),
                     fault.request_id, frozenset({reason}))

    def _sign(self, request: Request, now: float) -> Request:
        """The bearer token (or basic auth) on every request."""
        if self._token is not None:
            return request.with_headers({"Authorization": f"Bearer {self._token.reveal()}"})
        if self._basic is not None:
            return request.with_headers({"Authorization": f"Basic {self._basic.reveal()}"})
        return request

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "namespace": self.namespace}

    # -- requests -----------------------------------------------------------------------

    def _items(self, path: str, params: Mapping[str, str] | None = None,
               missing: type[NotFound] | None = None) -> Iter[Any]:
        """Every item of a list, ``limit``/``continue`` page by page."""

        def fetch(cursor: Cursor | None) -> Op[Page[Any]]:
            query = {**(params or {}), "limit": str(self.page_size)}
            if cursor is not None:
                query["continue"] = str(cursor)
            data = yield from self._json("GET", path, params=query, missing=missing)
            return Page.token(list(data.get("items") or []),
                              (data.get("metadata") or {}).get("continue") or None)

        yield from paginate(fetch, what=f"GET {path}", driver=self)

    def _namespace_of(self, cluster: ContainerCluster | None) -> str:
        return cluster.name if cluster is not None else self.namespace

    def _pod_ref(self, id: str) -> tuple[str, str]:
        """``(namespace, name)`` of a container id (``"ns/name"`` or ``"name"``)."""
        namespace, _, name = str(id).rpartition("/")
        namespace = namespace or self.namespace
        if not _dns_label(namespace) or not _dns_label(name):
            raise InvalidInput(f"not a pod id (namespace/name): {id!r}", driver=self)
        return namespace, name

    # -- namespaces (clusters) ----------------------------------------------------------------

    def _to_cluster(self, item: Mapping[str, Any]) -> ContainerCluster:
        meta = item.get("metadata") or {}
        return ContainerCluster(id=str(meta.get("name")), name=str(meta.get("name")),
                                driver=self, extra={"phase": (item.get("status") or {}).get(
                                    "phase"), "uid": meta.get("uid")})

    @iterator
    def iterate_clusters(self, location: Any = None) -> Iter[ContainerCluster]:
        """The namespaces, page by page (Kubernetes has no locations)."""
        yield from expand(self._items("/api/v1/namespaces"),
                          lambda item: [self._to_cluster(item)])

    @operation
    def get_cluster(self, id: str) -> Op[ContainerCluster]:
        """A namespace; :class:`~overcast.errors.ClusterNotFound` if absent."""
        if not _dns_label(id):
            raise InvalidInput(f"not a namespace: {id!r}", driver=self)
        data = yield from self._json("GET", f"/api/v1/namespaces/{id}", what=id,
                                     missing=ClusterNotFound)
        return self._to_cluster(data)

    @operation
    def create_cluster(self, name: str, location: Any = None) -> Op[ContainerCluster]:
        """Create a namespace; :class:`~overcast.errors.AlreadyExists` if it exists."""
        if not _dns_label(name):
            raise InvalidInput(f"not a namespace name: {name!r}", driver=self)
        data = yield from self._json("POST", "/api/v1/namespaces", idempotent=False,
                                     json={"metadata": {"name": name}}, what=name)
        return self._to_cluster(data)

    @operation
    def destroy_cluster(self, cluster: ContainerCluster) -> Op[bool]:
        """Delete a namespace and everything in it."""
        yield from self._send("DELETE", f"/api/v1/namespaces/{cluster.name}", what=cluster.name,
                              missing=ClusterNotFound)
        return True

    # -- pods (containers) --------------------------------------------------------------------

    def _to_container(self, pod: Mapping[str, Any]) -> Container:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        first = (spec.get("containers") or [{}])[0]
        image_name = str(first.get("image") or "")
        phase = str(status.get("phase") or "Unknown")
        if meta.get("deletionTimestamp"):
            state = ContainerState.TERMINATED
        else:
            state = _PHASES.get(phase, ContainerState.UNKNOWN)
        created = meta.get("creationTimestamp")
        addresses = [str(a.get("ip")) for a in status.get("podIPs") or [] if a.get("ip")]
        if not addresses and status.get("podIP"):
            addresses = [str(status["podIP"])]
        namespace = str(meta.get("namespace") or self.namespace)
        return Container(
            id=f"{namespace}/{meta.get('name')}", name=str(meta.get("name")),
            image=ContainerImage(image_name, image_name, image_name, None),
            state=state, ip_addresses=addresses, driver=self,
            extra={"namespace": namespace, "phase": phase, "uid": meta.get("uid"),
                   "labels": dict(meta.get("labels") or {}), "node": spec.get("nodeName")},
            created_at=_parse_time(created))

    @iterator
    def iterate_containers(self, image: ContainerImage | None = None,
                           cluster: ContainerCluster | None = None, *,
                           all: bool = True) -> Iter[Container]:
        """The pods of ``cluster`` (a namespace; else the driver's), page by
        page; ``all=False`` keeps the running ones."""
        check_cluster_argument(cluster, self, operation="list_containers")
        namespace = self._namespace_of(cluster)
        params = {} if all else {"fieldSelector": "status.phase=Running"}

        def each(pod: Any) -> list[Container]:
            found = self._to_container(pod)
            return [found] if image is None or found.image.name == image.name else []

        yield from expand(self._items(f"/api/v1/namespaces/{namespace}/pods", params,
                                      missing=ClusterNotFound), each)

    @operation
    def get_container(self, id: str) -> Op[Container]:
        """A pod by ``"namespace/name"``; DeployedContainerNotFound if absent."""
        namespace, name = self._pod_ref(id)
        data = yield from self._json("GET", f"/api/v1/namespaces/{namespace}/pods/{name}",
                                     what=id, missing=DeployedContainerNotFound)
        return self._to_container(data)

    def _pod(self, name: str, image: ContainerImage, given: Mapping[str, Any],
             token: str) -> dict[str, Any]:
        unknown = set(given) - _PARAMETERS
        if unknown:
            raise InvalidInput(f"unknown deploy parameter(s): {', '.join(sorted(unknown))}",
                               driver=self)
        container: dict[str, Any] = {"name": name, "image": image.name or image.path}
        for key in ("command", "args"):
            value = given.get(key)
            if value is not None:
                if isinstance(value, str):
                    value = value.split()
                if not isinstance(value, list | tuple) or not all(
                        isinstance(w, str) for w in value):
                    raise InvalidInput(f"{key} is a list of strings: {value!r}", driver=self)
                container[key] = list(value)
        env = given.get("env") or {}
        if not isinstance(env, Mapping):
            raise InvalidInput(f"env is a mapping: {env!r}", driver=self)
        if env:
            container["env"] = [{"name": str(k), "value": str(v)} for k, v in env.items()]
        ports = given.get("ports") or []
        if isinstance(ports, Mapping):
            ports = list(ports)
        for port in ports:
            if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
                raise InvalidInput(f"not a container port: {port!r}", driver=self)
        if ports:
            container["ports"] = [{"containerPort": p} for p in ports]
        limits: dict[str, str] = {}
        memory = given.get("memory")
        if memory is not None:
            if not isinstance(memory, int) or isinstance(memory, bool) or memory < 0:
                raise InvalidInput(f"memory is a number of bytes >= 0: {memory!r}", driver=self)
            limits["memory"] = str(memory)
        cpu = given.get("cpu")
        if cpu is not None:
            if not isinstance(cpu, int | float) or isinstance(cpu, bool) or cpu <= 0:
                raise InvalidInput(f"cpu is a positive number of cores: {cpu!r}", driver=self)
            limits["cpu"] = f"{int(cpu * 1000)}m"
        if limits:
            container["resources"] = {"limits": limits}
        labels = {str(k): str(v) for k, v in (given.get("labels") or {}).items()}
        labels[TOKEN_LABEL] = token
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": labels},
                "spec": {"containers": [container],
                         "restartPolicy": str(given.get("restart_policy") or "Always")}}

    @operation
    def deploy_container(self, name: str, image: ContainerImage,
                         cluster: ContainerCluster | None = None,
                         parameters: DeployParameters | None = None,
                         start: bool = True) -> Op[Container]:
        """Make a pod named ``name`` in the namespace ``cluster`` names (else the
        driver's); the pod (Libcloud's returns the namespace)."""
        check_cluster_argument(cluster, self, operation="deploy_container")
        if start is not True:
            raise NotSupported("a pod starts when it is made: start=False is not supported",
                               driver=self)
        if not _dns_label(name):
            raise InvalidInput(f"not a pod name: {name!r} (lower-case letters, digits and "
                               "'-', at most 63)", driver=self)
        given: Mapping[str, Any] = (
            {} if parameters is None else {"command": parameters}
            if isinstance(parameters, str) else parameters)
        if not isinstance(given, Mapping):
            raise InvalidInput(f"parameters must be a mapping: {parameters!r}", driver=self)
        namespace = self._namespace_of(cluster)
        token = new_token()
        body = self._pod(name, image, given, token)
        path = f"/api/v1/namespaces/{namespace}/pods"

        def send() -> Op[Container]:
            data = yield from self._json("POST", path, json=body, idempotent=False, what=name,
                                         exists=DeployedContainerAlreadyExists,
                                         missing=ClusterNotFound)
            return self._to_container(data)

        def find() -> Op[Container | None]:
            found = yield from or_none(self.get_container.op(f"{namespace}/{name}"),
                                       DeployedContainerNotFound)
            if found is not None and found.extra["labels"].get(TOKEN_LABEL) != token:
                raise DeployedContainerAlreadyExists(name, driver=self)
            return found

        return (yield from create_once(send, find))

    @operation
    def destroy_container(self, container: Container) -> Op[bool]:
        """Delete the pod (Kubernetes stops its containers)."""
        namespace, name = self._pod_ref(container.id)
        yield from self._send("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}",
                              what=container.id, missing=DeployedContainerNotFound)
        return True

    @stream
    def stream_container_logs(self, container: Container, *, follow: bool = False,
                              since: int | None = None, tail: int | None = None,
                              idle_timeout: float | None = None) -> Op[ByteStream]:
        """The pod's output (stdout and stderr merged by Kubernetes, so every
        chunk is ``"stdout"``); ``follow`` bounded by ``idle_timeout``."""
        namespace, name = self._pod_ref(container.id)
        params = {"follow": "true" if follow else "false"}
        if since is not None:
            if not isinstance(since, int) or isinstance(since, bool) or since < 0:
                raise InvalidInput(f"since is a Unix time: {since!r}", driver=self)
            params["sinceTime"] = datetime.fromtimestamp(since, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        if tail is not None:
            if not isinstance(tail, int) or isinstance(tail, bool) or tail < 0:
                raise InvalidInput(f"tail is a number of lines >= 0: {tail!r}", driver=self)
            params["tailLines"] = str(tail)
        resp = yield from self._send("GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log",
                                     params=params, stream=True, timeout=idle_timeout,
                                     what=container.id, missing=DeployedContainerNotFound)
        raw = resp.stream if resp.stream is not None else IterStream([resp.body])
        return _RawStream(raw)

    # -- deployments ------------------------------------------------------------------------------

    def _deployments(self, namespace: str | None) -> str:
        ns = namespace or self.namespace
        if not _dns_label(ns):
            raise InvalidInput(f"not a namespace: {ns!r}", driver=self)
        return f"/apis/apps/v1/namespaces/{ns}/deployments"

    @operation
    def ex_list_deployments(self, namespace: str | None = None) -> Op[list[Any]]:
        """The deployments of ``namespace`` (else the driver's), every page."""
        return (yield from collect(self._items(self._deployments(namespace),
                                               missing=ClusterNotFound)))

    @operation
    def ex_create_deployment(self, name: str, image: ContainerImage, replicas: int = 1, *,
                             namespace: str | None = None) -> Op[Any]:
        """Create a deployment of ``replicas`` pods of ``image``."""
        if not _dns_label(name):
            raise InvalidInput(f"not a deployment name: {name!r}", driver=self)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise InvalidInput(f"replicas is an integer >= 0: {replicas!r}", driver=self)
        labels = {"app": name}
        body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {
                             "containers": [{"name": name, "image": image.name}]}}}}
        return (yield from self._json("POST", self._deployments(namespace), json=body,
                                      idempotent=False, what=name, missing=ClusterNotFound))

    @operation
    def ex_scale_deployment(self, name: str, replicas: int, *,
                            namespace: str | None = None) -> Op[Any]:
        """Set a deployment's replicas."""
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise InvalidInput(f"replicas is an integer >= 0: {replicas!r}", driver=self)
        return (yield from self._json(
            "PATCH", f"{self._deployments(namespace)}/{name}", what=name, idempotent=True,
            body=json.dumps({"spec": {"replicas": replicas}}).encode(),
            headers={"Content-Type": "application/merge-patch+json"}))

    @operation
    def ex_delete_deployment(self, name: str, *, namespace: str | None = None) -> Op[bool]:
        """Delete a deployment (and, as Kubernetes does, its pods)."""
        yield from self._send("DELETE", f"{self._deployments(namespace)}/{name}", what=name)
        return True


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _read_kubeconfig(path: str) -> Mapping[str, Any]:
    """A kubeconfig file: JSON as is, YAML through PyYAML."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise InvalidInput(f"{path} is YAML: install PyYAML to read it, or give the "
                               "kubeconfig as a mapping or JSON") from None
        data = yaml.safe_load(text)
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{path} is not a kubeconfig")
    return data


def _data_file(data: str | None, what: str) -> str | None:
    """Base64 certificate data from a kubeconfig, written to a private file."""
    if not data:
        return None
    fd, path = tempfile.mkstemp(prefix=f"overcast-kube-{what}-", suffix=".pem")
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64decode(data))
    return path
