"""The Kubernetes driver against the fixture server of the Kubernetes API
(tests/servers/container_k8s.py): pods paged, namespaces, deployments, logs,
kubeconfig auth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.container.base import ContainerCluster
from overcast.container.base import ContainerImage
from overcast.container.base import ContainerState
from overcast.container.drivers.kubernetes import KubernetesContainerDriver
from overcast.errors import AlreadyExists
from overcast.errors import ClusterNotFound
from overcast.errors import DeployedContainerAlreadyExists
from overcast.errors import DeployedContainerNotFound
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.testing import MODES
from overcast.testing import call
from servers.container_k8s import KubernetesFixture
from servers.container_k8s import kubeconfig
from servers.container_k8s import serving

IMAGE = ContainerImage("busybox:latest", "busybox:latest", "busybox", "latest")


@pytest.fixture
def k8s() -> Iterator[tuple[KubernetesFixture, str]]:
    with serving() as found:
        yield found


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_23_pods_come_back_at_limit_5(k8s: tuple[KubernetesFixture, str], mode: str) -> None:
    fixture, url = k8s
    driver = KubernetesContainerDriver.from_kubeconfig(kubeconfig(url), page_size=5)
    for i in range(23):
        driver.deploy_container(f"pod-{i:02d}", IMAGE, parameters={"command": ["sleep", "9"]})
    before = len(fixture.api.requests)
    pods = call(mode, driver, "list_containers")
    assert [p.name for p in pods] == [f"pod-{i:02d}" for i in range(23)]
    pages = [r for r in fixture.api.requests[before:] if r.path.endswith("/pods")]
    assert [r.arg("limit") for r in pages] == ["5"] * 5
    assert pages[0].arg("continue") is None and all(r.arg("continue") for r in pages[1:])
    assert all(p.state is ContainerState.RUNNING for p in pods)


def test_pods_live_and_die(k8s: tuple[KubernetesFixture, str], mode: str) -> None:
    fixture, url = k8s
    driver = KubernetesContainerDriver.from_kubeconfig(kubeconfig(url))
    pod = call(mode, driver, "deploy_container", "web", IMAGE, None,
               {"command": ["httpd", "-f"], "ports": [80], "env": {"A": "1"},
                "memory": 64 << 20, "cpu": 0.5, "labels": {"app": "web"}})
    assert pod.id == "default/web" and pod.ip_addresses == ["10.1.0.7"]
    sent = fixture.pods["default"]["web"]["spec"]["containers"][0]
    assert sent["resources"] == {"limits": {"memory": str(64 << 20), "cpu": "500m"}}
    assert call(mode, driver, "get_container", "default/web").id == pod.id
    with pytest.raises(DeployedContainerAlreadyExists):
        call(mode, driver, "deploy_container", "web", IMAGE)
    if mode == "sync":
        logs = list(driver.stream_container_logs(pod))
    else:
        import anyio

        async def main() -> list[bytes]:
            async with driver.aio as view:
                return [c async for c in view.stream_container_logs(pod)]  # type: ignore[attr-defined]
        logs = anyio.run(main)
    assert b"".join(logs) == b"hello from web\n" and logs[0].stream == "stdout"
    with pytest.raises(NotSupported):
        call(mode, driver, "stop_container", pod)
    with pytest.raises(NotSupported):
        call(mode, driver, "deploy_container", "idle", IMAGE, start=False)
    assert call(mode, driver, "destroy_container", pod) is True
    with pytest.raises(DeployedContainerNotFound):
        call(mode, driver, "get_container", "default/web")
    with pytest.raises(InvalidInput):
        call(mode, driver, "deploy_container", "Bad_Name", IMAGE)


def test_namespaces_are_clusters(k8s: tuple[KubernetesFixture, str], mode: str) -> None:
    _, url = k8s
    driver = KubernetesContainerDriver.from_kubeconfig(kubeconfig(url), page_size=1)
    made = call(mode, driver, "create_cluster", "team-a")
    assert [c.name for c in call(mode, driver, "list_clusters")] == [
        "default", "kube-system", "team-a"]
    with pytest.raises(AlreadyExists):
        call(mode, driver, "create_cluster", "team-a")
    pod = call(mode, driver, "deploy_container", "job", IMAGE, made)
    assert pod.id == "team-a/job"
    assert [p.id for p in call(mode, driver, "list_containers", None, made)] == ["team-a/job"]
    assert call(mode, driver, "destroy_cluster", made) is True
    with pytest.raises(ClusterNotFound):
        call(mode, driver, "get_cluster", "team-a")
    with pytest.raises(ClusterNotFound):
        call(mode, driver, "list_containers", None, ContainerCluster("gone", "gone"))


def test_deployments(k8s: tuple[KubernetesFixture, str], mode: str) -> None:
    fixture, url = k8s
    driver = KubernetesContainerDriver.from_kubeconfig(kubeconfig(url))
    call(mode, driver, "ex_create_deployment", "api", IMAGE, 2)
    assert [d["metadata"]["name"] for d in call(mode, driver, "ex_list_deployments")] == ["api"]
    call(mode, driver, "ex_scale_deployment", "api", 5)
    assert fixture.deployments["default"]["api"]["spec"]["replicas"] == 5
    assert call(mode, driver, "ex_delete_deployment", "api") is True


def test_kubeconfig_from_a_file_and_a_wrong_token(k8s: tuple[KubernetesFixture, str],
                                                  tmp_path: Path, mode: str) -> None:
    _, url = k8s
    path = tmp_path / "config"
    path.write_text(json.dumps(kubeconfig(url)))
    driver = KubernetesContainerDriver.from_kubeconfig(path)
    assert "default" in [c.name for c in call(mode, driver, "list_clusters")]
    wrong = KubernetesContainerDriver(endpoint=url, token="not-the-token")
    with pytest.raises(InvalidCredentials):
        call(mode, wrong, "list_clusters")
    with pytest.raises(InvalidInput):
        KubernetesContainerDriver.from_kubeconfig(kubeconfig(url), context="nope")
