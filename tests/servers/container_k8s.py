"""A stateful fixture server of the Kubernetes API (core/v1 namespaces, pods and
their logs; apps/v1 deployments), written from the Kubernetes API reference:
lists page with ``limit``/``continue`` (the continue token is opaque and
refers to a position in the list), errors are ``Status`` objects
(``reason`` ``NotFound``/``AlreadyExists``/``Invalid``), every request needs
the bearer token. Pods are ``Running`` as soon as they are made (there is no
kubelet), and their log is a line naming them.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from overcast.container.drivers.kubernetes import KubernetesContainerDriver
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from servers.container_target import ContainerTarget
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

__all__ = ["K8S_TOKEN", "KubernetesFixture", "make_target", "serving"]

K8S_TOKEN = "k8s-fixture-token-never-printed"
NS = r"(?P<ns>[a-z0-9-]+)"
NAME = r"(?P<name>[a-z0-9-]+)"


def _status(code: int, reason: str, message: str) -> FakeResponse:
    return FakeResponse.json({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "message": message, "reason": reason, "code": code}, code)


class KubernetesFixture:
    """The server's state and routes."""

    def __init__(self) -> None:
        self.api = FakeAPI()
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, dict[str, dict[str, Any]]] = {}
        self.deployments: dict[str, dict[str, dict[str, Any]]] = {}
        self._uids = itertools.count(1)
        for ns in ("default", "kube-system"):
            self._namespace(ns)
        self._routes()

    def _namespace(self, name: str) -> dict[str, Any]:
        item = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "uid": f"uid-{next(self._uids)}"},
                "status": {"phase": "Active"}}
        self.namespaces[name] = item
        self.pods[name] = {}
        self.deployments[name] = {}
        return item

    def _page(self, req: FakeRequest, items: list[dict[str, Any]], kind: str) -> FakeResponse:
        limit = int(req.arg("limit") or 0) or len(items) or 1
        token = req.arg("continue")
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        page = items[start:start + limit]
        meta: dict[str, Any] = {"resourceVersion": "1"}
        if start + limit < len(items):
            meta["continue"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        return FakeResponse.json({"kind": kind, "apiVersion": "v1", "metadata": meta,
                                  "items": page})

    def _routes(self) -> None:
        api = self.api

        def authorised(handler: Any) -> Any:
            def check(req: FakeRequest, **kw: str) -> FakeResponse:
                if req.header("Authorization") != f"Bearer {K8S_TOKEN}":
                    return _status(401, "Unauthorized", "Unauthorized")
                return handler(req, **kw)
            return check

        @authorised
        def list_namespaces(req: FakeRequest) -> FakeResponse:
            return self._page(req, list(self.namespaces.values()), "NamespaceList")

        @authorised
        def create_namespace(req: FakeRequest) -> FakeResponse:
            name = (req.json().get("metadata") or {}).get("name")
            if name in self.namespaces:
                return _status(409, "AlreadyExists", f'namespaces "{name}" already exists')
            return FakeResponse.json(self._namespace(name), 201)

        @authorised
        def get_namespace(req: FakeRequest, ns: str) -> FakeResponse:
            if ns not in self.namespaces:
                return _status(404, "NotFound", f'namespaces "{ns}" not found')
            return FakeResponse.json(self.namespaces[ns])

        @authorised
        def delete_namespace(req: FakeRequest, ns: str) -> FakeResponse:
            if ns not in self.namespaces:
                return _status(404, "NotFound", f'namespaces "{ns}" not found')
            item = self.namespaces.pop(ns)
            self.pods.pop(ns, None)
            self.deployments.pop(ns, None)
            return FakeResponse.json(item)

        @authorised
        def list_pods(req: FakeRequest, ns: str) -> FakeResponse:
            if ns not in self.namespaces:
                return _status(404, "NotFound", f'namespaces "{ns}" not found')
            pods = list(self.pods[ns].values())
            if req.arg("fieldSelector") == "status.phase=Running":
                pods = [p for p in pods if p["status"]["phase"] == "Running"]
            return self._page(req, pods, "PodList")

        @authorised
        def create_pod(req: FakeRequest, ns: str) -> FakeResponse:
            if ns not in self.namespaces:
                return _status(404, "NotFound", f'namespaces "{ns}" not found')
            body = req.json()
            name = (body.get("metadata") or {}).get("name")
            containers = (body.get("spec") or {}).get("containers") or []
            if not containers or not containers[0].get("image"):
                return _status(422, "Invalid", "spec.containers[0].image: Required value")
            if name in self.pods[ns]:
                return _status(409, "AlreadyExists", f'pods "{name}" already exists')
            body["metadata"].update(namespace=ns, uid=f"uid-{next(self._uids)}",
                                    creationTimestamp="2024-05-01T10:00:00Z")
            body["status"] = {"phase": "Running", "podIP": "10.1.0.7",
                              "podIPs": [{"ip": "10.1.0.7"}]}
            self.pods[ns][name] = body
            return FakeResponse.json(body, 201)

        @authorised
        def get_pod(req: FakeRequest, ns: str, name: str) -> FakeResponse:
            pod = self.pods.get(ns, {}).get(name)
            if pod is None:
                return _status(404, "NotFound", f'pods "{name}" not found')
            return FakeResponse.json(pod)

        @authorised
        def delete_pod(req: FakeRequest, ns: str, name: str) -> FakeResponse:
            pod = self.pods.get(ns, {}).pop(name, None)
            if pod is None:
                return _status(404, "NotFound", f'pods "{name}" not found')
            return FakeResponse.json(pod)

        @authorised
        def pod_log(req: FakeRequest, ns: str, name: str) -> FakeResponse:
            if name not in self.pods.get(ns, {}):
                return _status(404, "NotFound", f'pods "{name}" not found')
            return FakeResponse(200, f"hello from {name}\n".encode(),
                                {"Content-Type": "text/plain"})

        @authorised
        def list_deployments(req: FakeRequest, ns: str) -> FakeResponse:
            if ns not in self.namespaces:
                return _status(404, "NotFound", f'namespaces "{ns}" not found')
            return self._page(req, list(self.deployments[ns].values()), "DeploymentList")

        @authorised
        def create_deployment(req: FakeRequest, ns: str) -> FakeResponse:
            body = req.json()
            name = body["metadata"]["name"]
            if name in self.deployments[ns]:
                return _status(409, "AlreadyExists", f'deployments.apps "{name}" already exists')
            body["metadata"]["namespace"] = ns
            self.deployments[ns][name] = body
            return FakeResponse.json(body, 201)

        @authorised
        def patch_deployment(req: FakeRequest, ns: str, name: str) -> FakeResponse:
            item = self.deployments.get(ns, {}).get(name)
            if item is None:
                return _status(404, "NotFound", f'deployments.apps "{name}" not found')
            if req.header("Content-Type") != "application/merge-patch+json":
                return _status(415, "UnsupportedMediaType", "unsupported patch type")
            item["spec"].update(req.json().get("spec") or {})
            return FakeResponse.json(item)

        @authorised
        def delete_deployment(req: FakeRequest, ns: str, name: str) -> FakeResponse:
            item = self.deployments.get(ns, {}).pop(name, None)
            if item is None:
                return _status(404, "NotFound", f'deployments.apps "{name}" not found')
            return FakeResponse.json({"kind": "Status", "status": "Success"})

        api.route("GET", "/api/v1/namespaces")(list_namespaces)
        api.route("POST", "/api/v1/namespaces")(create_namespace)
        api.route("GET", f"/api/v1/namespaces/{NS}")(get_namespace)
        api.route("DELETE", f"/api/v1/namespaces/{NS}")(delete_namespace)
        api.route("GET", f"/api/v1/namespaces/{NS}/pods")(list_pods)
        api.route("POST", f"/api/v1/namespaces/{NS}/pods")(create_pod)
        api.route("GET", f"/api/v1/namespaces/{NS}/pods/{NAME}")(get_pod)
        api.route("DELETE", f"/api/v1/namespaces/{NS}/pods/{NAME}")(delete_pod)
        api.route("GET", f"/api/v1/namespaces/{NS}/pods/{NAME}/log")(pod_log)
        api.route("GET", f"/apis/apps/v1/namespaces/{NS}/deployments")(list_deployments)
        api.route("POST", f"/apis/apps/v1/namespaces/{NS}/deployments")(create_deployment)
        api.route("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}")(
            patch_deployment)
        api.route("DELETE", f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}")(
            delete_deployment)


@contextmanager
def serving() -> Iterator[tuple[KubernetesFixture, str]]:
    """A fresh fixture server; ``(fixture, base URL)``."""
    fixture = KubernetesFixture()
    with fixture.api.serving() as url:
        yield fixture, url


def kubeconfig(url: str) -> dict[str, Any]:
    """A kubeconfig (as JSON is a kubeconfig) for the fixture."""
    return json.loads(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fixture",
        "clusters": [{"name": "fx", "cluster": {"server": url}}],
        "users": [{"name": "me", "user": {"token": K8S_TOKEN}}],
        "contexts": [{"name": "fixture", "context": {"cluster": "fx", "user": "me",
                                                      "namespace": "default"}}],
    }))


def make_target(request: pytest.FixtureRequest) -> ContainerTarget:
    """The Kubernetes driver on a fresh fixture server (for the conformance suite)."""
    context = serving()
    _, url = context.__enter__()
    sent: list[RequestEvent] = []
    driver = KubernetesContainerDriver.from_kubeconfig(
        kubeconfig(url), hooks=Hooks(on_request=[sent.append]), page_size=5)

    def cleanup() -> None:
        driver.close()
        context.__exit__(None, None, None)

    return ContainerTarget(driver=driver, image="busybox:latest",
                           parameters={"command": ["sleep", "600"]}, sent=sent,
                           cleanup=cleanup, deploys_stopped=False,
                           page_size=5)
