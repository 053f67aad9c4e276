"""The Kubernetes driver on the scripted transport, in both modes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from overcast.container.base import Container
from overcast.container.base import ContainerImage
from overcast.container.base import ContainerState
from overcast.container.drivers.kubernetes import KubernetesContainerDriver
from overcast.errors import DeployedContainerAlreadyExists
from overcast.errors import DeployedContainerNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import ProviderError
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "https://k8s.example:6443"
PODS = f"{API}/api/v1/namespaces/default/pods"
IMAGE = ContainerImage("busybox:latest", "busybox:latest", "busybox", "latest")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script) -> KubernetesContainerDriver:
    return KubernetesContainerDriver(host="k8s.example", token="tok", page_size=2,
                                     **script.options())


def pod(name: str, phase: str = "Running", token: str | None = None) -> dict[str, Any]:
    labels = {"overcast.token": token} if token else {}
    return {"metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": [{"name": name, "image": "busybox:latest"}]},
            "status": {"phase": phase, "podIP": "10.0.0.1"}}


def status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "status": "Failure", "reason": reason, "code": code,
            "message": f"it is {reason}"}


def test_pods_are_listed_past_page_one_with_the_token(mode: str) -> None:
    script = Script()
    auth = {"Authorization": "Bearer tok"}
    script.expect("GET", PODS, params={"limit": "2"}, headers=auth).reply(
        200, json={"items": [pod("a"), pod("b")], "metadata": {"continue": "c1"}})
    script.expect("GET", PODS, params={"limit": "2", "continue": "c1"}, headers=auth).reply(
        200, json={"items": [pod("c", "Succeeded")], "metadata": {}})
    got = call(mode, driver(script), "list_containers")
    assert [(c.id, c.state) for c in got] == [
        ("default/a", ContainerState.RUNNING), ("default/b", ContainerState.RUNNING),
        ("default/c", ContainerState.STOPPED)]
    script.assert_done()


def test_a_repeated_continue_token_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", PODS, params={"limit": "2"}).reply(
        200, json={"items": [pod("a")], "metadata": {"continue": "same"}})
    script.expect("GET", PODS, params={"limit": "2", "continue": "same"}).reply(
        200, json={"items": [pod("b")], "metadata": {"continue": "same"}})
    with pytest.raises(ProviderError):
        call(mode, driver(script), "list_containers")


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("overcast.container.drivers.kubernetes.new_token", lambda: "t0k")


@pytest.mark.usefixtures("token")
def test_deploy_makes_a_pod_and_a_lost_answer_is_looked_up(mode: str) -> None:
    script = Script()

    def body_ok(sent: Any) -> bool:
        body = json.loads(sent.body)
        return bool(body["metadata"] == {"name": "web", "labels": {"overcast.token": "t0k"}}
                    and body["spec"]["containers"][0]["command"] == ["sleep", "9"])

    script.expect("POST", PODS, match=body_ok).fail(sent=True)
    script.expect("GET", f"{PODS}/web").reply(200, json=pod("web", token="t0k"))
    got = call(mode, driver(script), "deploy_container", "web", IMAGE, None,
               {"command": ["sleep", "9"]})
    assert got.id == "default/web"
    script.assert_done()


@pytest.mark.usefixtures("token")
def test_a_lost_answer_and_another_pod_of_that_name_is_already_exists(mode: str) -> None:
    script = Script()
    script.expect("POST", PODS).fail(sent=True)
    script.expect("GET", f"{PODS}/web").reply(200, json=pod("web", token="other"))
    with pytest.raises(DeployedContainerAlreadyExists):
        call(mode, driver(script), "deploy_container", "web", IMAGE)


def test_get_delete_and_errors(mode: str) -> None:
    script = Script()
    c = Container("default/web", "web", IMAGE, ContainerState.RUNNING, [])
    script.expect("GET", f"{PODS}/web").reply(200, json=pod("web"))
    script.expect("DELETE", f"{PODS}/web").reply(200, json=pod("web"))
    script.expect("DELETE", f"{PODS}/web").reply(404, json=status(404, "NotFound"))
    script.expect("POST", PODS).reply(409, json=status(409, "AlreadyExists"))
    script.expect("GET", f"{PODS}/web").reply(401, json=status(401, "Unauthorized"))
    d = driver(script)
    assert call(mode, d, "get_container", "web").ip_addresses == ["10.0.0.1"]
    assert call(mode, d, "destroy_container", c) is True
    with pytest.raises(DeployedContainerNotFound):
        call(mode, d, "destroy_container", c)
    with pytest.raises(DeployedContainerAlreadyExists):
        call(mode, d, "deploy_container", "web", IMAGE)
    with pytest.raises(InvalidCredentials):
        call(mode, d, "get_container", "web")
    script.assert_done()


@pytest.mark.parametrize(("args", "words"), [
    (("Web_1", IMAGE), "pod name"),
    (("web", IMAGE, None, {"ports": [70000]}), "port"),
    (("web", IMAGE, None, {"memory": -5}), "memory"),
    (("web", IMAGE, None, {"colour": "red"}), "unknown"),
    (("web", IMAGE, "sleep 5", True), "cluster"),
])
def test_invalid_input_sends_nothing(mode: str, args: tuple[Any, ...], words: str) -> None:
    script = Script()
    with pytest.raises(InvalidInput, match=words):
        call(mode, driver(script), "deploy_container", *args)
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "get_container", "a/b/c")
    script.assert_done()


def test_a_kubeconfig_with_certificate_data(tmp_path: Any) -> None:
    import base64

    data = base64.b64encode(b"PEM").decode()
    config = {"current-context": "c", "contexts": [{"name": "c", "context": {
        "cluster": "k", "user": "u", "namespace": "team"}}],
        "clusters": [{"name": "k", "cluster": {"server": API,
                                                "certificate-authority-data": data}}],
        "users": [{"name": "u", "user": {"client-certificate-data": data,
                                         "client-key-data": data}}]}
    d = KubernetesContainerDriver.from_kubeconfig(config)
    assert d.endpoint == API and d.namespace == "team"
    from pathlib import Path

    files = [Path(f) for f in (*d._options["client_cert"], d._options["verify"])]
    try:
        assert [f.read_bytes() for f in files] == [b"PEM"] * 3
        assert all(f.stat().st_mode & 0o077 == 0 for f in files)
    finally:
        for f in files:
            f.unlink()
