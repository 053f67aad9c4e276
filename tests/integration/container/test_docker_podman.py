"""The Docker driver against Podman 4.3's Docker-compatible API: containers
that really run, logs that stream, TLS with client certificates."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest

from overcast.container.base import ContainerState
from overcast.container.base import LogChunk
from overcast.container.drivers.docker import DockerContainerDriver
from overcast.errors import DeployedContainerNotFound
from overcast.errors import TransportError
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import call
from servers.podman import BUSYBOX
from servers.podman import Podman
from servers.procs import free_port

pytestmark = pytest.mark.server

LINES = 1000
#: 1,000 numbered lines on each of stdout and stderr, interleaved.
BOTH = (f"i=0; while [ $i -lt {LINES} ]; do echo out$i; echo err$i >&2; i=$((i+1)); done")


def engine_driver(podman: Podman, **options: Any) -> DockerContainerDriver:
    return DockerContainerDriver(host=podman.host, **options)


def _wait_exit(podman: Podman, container_id: str) -> None:
    podman.podman("wait", container_id)


def _by_stream(chunks: list[LogChunk]) -> dict[str, list[str]]:
    found: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    for chunk in chunks:
        found[chunk.stream] += chunk.data
    return {name: data.decode().splitlines() for name, data in found.items()}


def test_busybox_httpd_really_serves_on_the_host(engine: Podman, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hello from busybox\n")
    port = free_port()
    driver = engine_driver(engine)
    image = driver.get_image(BUSYBOX)
    container = driver.deploy_container("web", image, parameters={
        "command": ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
        "network_mode": "host", "mounts": [f"{site}:/www:ro"], "memory": 64 << 20,
        "labels": {"role": "web"}})
    assert container.state is ContainerState.RUNNING
    assert container.extra["labels"]["role"] == "web"
    body = _get_when_listening(f"http://127.0.0.1:{port}/index.html")
    assert body == b"hello from busybox\n"
    assert [c.id for c in driver.list_containers(image, all=False)] == [container.id]
    stopped = driver.stop_container(container)
    assert stopped.state is ContainerState.STOPPED
    assert isinstance(stopped.extra["exit_code"], int)
    assert driver.destroy_container(stopped) is True
    with pytest.raises(DeployedContainerNotFound):
        driver.get_container(container.id)


def _get_when_listening(url: str) -> bytes:
    """The body once the server listens (it starts in the background): bounded
    attempts, each ending when the connection is refused or answered."""
    last: Exception | None = None
    for _ in range(600):
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                data: bytes = answer.read()
                return data
        except OSError as exc:
            last = exc
            import time

            time.sleep(0.05)
    raise AssertionError(f"{url} never answered: {last}")


@pytest.mark.parametrize("mode", MODES)
def test_a_thousand_lines_each_come_back_exactly_in_order(engine: Podman, mode: str) -> None:
    driver = engine_driver(engine)
    image = driver.get_image(BUSYBOX)
    container = driver.deploy_container(f"lines-{mode}", image,
                                        parameters={"command": ["sh", "-c", BOTH],
                                                    "network_mode": "none"})
    _wait_exit(engine, container.id)
    if mode == "sync":
        chunks = list(driver.stream_container_logs(container))
    else:
        async def main() -> list[LogChunk]:
            async with driver.aio as view:
                return [c async for c in view.stream_container_logs(container)]  # type: ignore[misc]
        chunks = anyio.run(main)
    assert all(isinstance(c, LogChunk) for c in chunks)
    assert _by_stream(chunks) == {"stdout": [f"out{i}" for i in range(LINES)],
                                  "stderr": [f"err{i}" for i in range(LINES)]}
    text = call(mode, driver, "ex_get_logs", container)
    assert text.count("\n") == 2 * LINES and "out999\n" in text and "err0\n" in text
    assert call(mode, driver, "destroy_container", container) is True


@pytest.mark.parametrize("mode", MODES)
def test_a_follow_stream_delivers_while_the_container_runs(engine: Podman, mode: str) -> None:
    driver = engine_driver(engine)
    image = driver.get_image(BUSYBOX)
    container = driver.deploy_container(
        f"follow-{mode}", image,
        parameters={"command": ["sh", "-c", "echo first; exec sleep 600"],
                    "network_mode": "none"})
    if mode == "sync":
        logs = driver.stream_container_logs(container, follow=True, idle_timeout=120)
        first = next(iter(logs))
        running = driver.get_container(container.id).state
        logs.close()  # type: ignore[attr-defined]
    else:
        async def main() -> tuple[LogChunk, ContainerState]:
            async with driver.aio as view:
                async for chunk in view.stream_container_logs(  # type: ignore[attr-defined]
                        container, follow=True, idle_timeout=120):
                    state = (await view.get_container(container.id)).state
                    return chunk, state  # leaves the loop: the stream is closed
            raise AssertionError("no output")
        first, running = anyio.run(main)
    assert (first.stream, first.data) == ("stdout", b"first\n")
    assert running is ContainerState.RUNNING
    # Leaving the stream early leaves the container as it was.
    assert driver.get_container(container.id).state is ContainerState.RUNNING
    stopped = driver.stop_container(container)
    assert stopped.state is ContainerState.STOPPED and stopped.extra["exit_code"] is not None
    driver.destroy_container(stopped)


@pytest.mark.parametrize("mode", MODES)
def test_exec_in_a_running_container(engine: Podman, mode: str) -> None:
    driver = engine_driver(engine)
    image = driver.get_image(BUSYBOX)
    container = driver.deploy_container(f"exec-{mode}", image, parameters={
        "command": ["sleep", "600"], "network_mode": "none", "env": {"GREETING": "hello"}})
    got = call(mode, driver, "ex_exec", container,
               ["sh", "-c", "echo $GREETING; echo oops >&2; exit 3"])
    assert got == (3, b"hello\n", b"oops\n")
    driver.destroy_container(container)


def test_restart_and_start_and_a_name_in_use(engine: Podman) -> None:
    from overcast.errors import DeployedContainerAlreadyExists

    driver = engine_driver(engine)
    image = driver.get_image(BUSYBOX)
    container = driver.deploy_container("cycle", image, None,
                                        {"command": "sleep 600", "network_mode": "none"},
                                        start=False)
    assert container.state is ContainerState.STOPPED
    with pytest.raises(DeployedContainerAlreadyExists):
        driver.deploy_container("cycle", image, parameters={"command": "true"})
    assert driver.start_container(container).state is ContainerState.RUNNING
    assert driver.restart_container(container).state is ContainerState.RUNNING
    assert driver.destroy_container(container)  # running: stopped first


def test_images_import_tag_load_and_delete(engine: Podman, tmp_path: Path) -> None:
    driver = engine_driver(engine)
    archive = tmp_path / "busybox.tar"
    engine.podman("save", "-o", str(archive), BUSYBOX)
    rootfs = next(engine.directory.glob("busybox-rootfs.tar"))
    imported = driver.ex_import_image(rootfs, tag="localhost/imported:v1",
                                      changes=['CMD ["/bin/sh"]'])
    assert imported.name == "localhost/imported:v1" and imported.version == "v1"
    assert any(i.name == "localhost/imported:v1" for i in driver.list_images())
    assert driver.delete_image(imported) is True
    loaded = driver.ex_load_image(archive)
    assert any("busybox" in name for name in loaded)
    assert driver.get_image(BUSYBOX).id


@pytest.mark.parametrize("mode", MODES)
def test_tcp_and_mutual_tls(engine: Podman, mode: str) -> None:
    plain = DockerContainerDriver(host=engine.tcp)
    assert any(i.name == BUSYBOX for i in call(mode, plain, "list_images"))
    good = DockerContainerDriver(host=engine.tls, ca_cert=str(engine.authority.cert),
                                 cert_file=str(engine.client.cert),
                                 key_file=str(engine.client.key))
    assert any(i.name == BUSYBOX for i in call(mode, good, "list_images"))


@pytest.mark.parametrize("mode", MODES)
def test_a_wrong_client_certificate_is_refused(engine: Podman, mode: str,
                                               tmp_path: Path) -> None:
    from servers.container_tls import Authority

    stranger = Authority(tmp_path / "other", "other CA").issue("stranger", server=False)
    bad = DockerContainerDriver(host=engine.tls, ca_cert=str(engine.authority.cert),
                                cert_file=str(stranger.cert), key_file=str(stranger.key),
                                retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02))
    with pytest.raises(TransportError):
        call(mode, bad, "list_images")


def test_docker_host_and_cert_path_from_the_environment(engine: Podman,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.pem").write_bytes(engine.authority.cert.read_bytes())
    (certs / "cert.pem").write_bytes(engine.client.cert.read_bytes())
    (certs / "key.pem").write_bytes(engine.client.key.read_bytes())
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{engine.tls_port}")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs))
    assert DockerContainerDriver().get_image(BUSYBOX).name == BUSYBOX
