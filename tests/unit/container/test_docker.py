"""The Docker driver on the scripted transport: the requests it sends and how
it reads the answers, in both modes, without an engine."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from overcast.container.base import Container
from overcast.container.base import ContainerCluster
from overcast.container.base import ContainerImage
from overcast.container.base import ContainerState
from overcast.container.base import LogChunk
from overcast.container.drivers.docker import DockerContainerDriver
from overcast.container.drivers.docker import demultiplex
from overcast.errors import DeployedContainerAlreadyExists
from overcast.errors import DeployedContainerNotFound
from overcast.errors import ImageNotFound
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "http://127.0.0.1:2375"
V = f"{API}/v1.41"
IMAGE_ID = "sha256:" + "ab" * 32


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> DockerContainerDriver:
    options.setdefault("api_version", "1.41")
    return DockerContainerDriver(host="tcp://127.0.0.1:2375", **options, **script.options())


def image() -> ContainerImage:
    return ContainerImage(IMAGE_ID, "localhost/busybox:latest", "localhost/busybox", "latest")


def inspect(cid: str = "c1", status: str = "running", exit_code: int = 0) -> dict[str, Any]:
    return {"Id": cid, "Name": f"/{cid}-name", "Image": IMAGE_ID, "Created":
            "2024-05-01T10:00:00.123456789Z",
            "Config": {"Image": "localhost/busybox:latest", "Labels": {"a": "b"}, "Tty": False},
            "State": {"Status": status, "ExitCode": exit_code},
            "NetworkSettings": {"IPAddress": "", "Networks": {"n": {"IPAddress": "10.88.0.2"}}},
            "HostConfig": {"PortBindings": {}}}


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def test_the_api_version_is_negotiated_once_and_capped(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/version").reply(200, json={"ApiVersion": "1.99"})
    script.expect("GET", f"{API}/v1.43/images/json").reply(200, json=[])
    script.expect("GET", f"{API}/v1.43/images/json").reply(200, json=[])
    d = driver(script, api_version=None)
    assert call(mode, d, "list_images") == []
    assert call(mode, d, "list_images") == []
    script.assert_done()


def test_an_engine_too_old_is_not_supported(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/version").reply(200, json={"ApiVersion": "1.12"})
    with pytest.raises(NotSupported, match=r"1\.12"):
        call(mode, driver(script, api_version=None), "list_images")


def test_images_are_listed_and_read(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{V}/images/json").reply(200, json=[
        {"Id": IMAGE_ID, "RepoTags": ["localhost/busybox:latest"], "Size": 10},
        {"Id": "sha256:cd", "RepoTags": ["<none>:<none>"]},
    ])
    script.expect("GET", f"{V}/images/localhost/busybox:latest/json").reply(
        200, json={"Id": IMAGE_ID, "RepoTags": ["localhost/busybox:latest"]})
    d = driver(script)
    first, bare = call(mode, d, "list_images")
    assert (first.id, first.path, first.version) == (IMAGE_ID, "localhost/busybox", "latest")
    assert (bare.name, bare.version) == ("sha256:cd", None)
    assert call(mode, d, "get_image", "localhost/busybox:latest") == first


def test_a_missing_image_is_image_not_found(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{V}/images/nope/json").reply(404, json={"message": "no such image"})
    script.expect("DELETE", f"{V}/images/{IMAGE_ID}").reply(404, json={"message": "no"})
    with pytest.raises(ImageNotFound):
        call(mode, driver(script), "get_image", "nope")
    with pytest.raises(ImageNotFound):
        call(mode, driver(script), "delete_image", image())


def test_a_pull_reads_its_progress_and_fails_on_an_error_line(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{V}/images/create", params={"fromImage": "busybox", "tag": "1.36"}
                  ).reply(200, text='{"status":"Pulling"}\n{"status":"Done"}\n')
    script.expect("GET", f"{V}/images/busybox:1.36/json").reply(
        200, json={"Id": IMAGE_ID, "RepoTags": ["busybox:1.36"]})
    script.expect("POST", f"{V}/images/create", params={"fromImage": "nginx", "tag": "latest"}
                  ).reply(200, text='{"status":"x"}\n{"errorDetail":{"message":"denied"},'
                                    '"error":"denied"}\n')
    d = driver(script)
    assert call(mode, d, "install_image", "busybox:1.36").version == "1.36"
    with pytest.raises(ProviderError, match="denied"):
        call(mode, d, "install_image", "nginx")


def test_an_import_is_tagged_afterwards(mode: str, tmp_path: Any) -> None:
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(b"tar" * 100)
    script = Script()
    script.expect("POST", f"{V}/images/create",
                  params=[("fromSrc", "-"), ("changes", 'CMD ["/bin/sh"]')],
                  body=b"tar" * 100).reply(200, text=f'{{"status":"{IMAGE_ID}"}}\n')
    script.expect("POST", f"{V}/images/{IMAGE_ID}/tag",
                  params={"repo": "localhost/bb", "tag": "v1"}).reply(201)
    script.expect("GET", f"{V}/images/{IMAGE_ID}/json").reply(
        200, json={"Id": IMAGE_ID, "RepoTags": ["localhost/bb:v1"]})
    got = call(mode, driver(script), "ex_import_image", str(rootfs), tag="localhost/bb:v1",
               changes=['CMD ["/bin/sh"]'])
    assert got.name == "localhost/bb:v1"
    script.assert_done()


def test_deploy_sends_everything_in_host_config_and_starts(mode: str) -> None:
    script = Script()

    def body_ok(sent: Any) -> bool:
        body = json.loads(sent.body)
        token = body["Labels"].pop("overcast.token")
        assert len(token) == 32
        assert body == {
            "Image": "localhost/busybox:latest", "Cmd": ["httpd", "-f", "-p", "8080"],
            "Env": ["A=1"], "Labels": {"app": "web"},
            "ExposedPorts": {"8080/tcp": {}},
            "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1",
                                                          "HostPort": "18080"}]},
                           "NetworkMode": "host", "Memory": 64 << 20,
                           "Mounts": [{"Type": "bind", "Source": "/srv", "Target": "/www",
                                       "ReadOnly": True}]},
        }
        return True

    script.expect("POST", f"{V}/containers/create", params={"name": "web"}, match=body_ok
                  ).reply(201, json={"Id": "c1", "Warnings": []})
    script.expect("GET", f"{V}/containers/c1/json").reply(200, json=inspect(status="created"))
    script.expect("POST", f"{V}/containers/c1/start").reply(204)
    script.expect("GET", f"{V}/containers/c1/json").reply(200, json=inspect())
    got = call(mode, driver(script), "deploy_container", "web", image(), None, {
        "command": "httpd -f -p 8080", "env": {"A": "1"}, "labels": {"app": "web"},
        "ports": {"8080/tcp": "127.0.0.1:18080"}, "network_mode": "host",
        "memory": 64 << 20, "mounts": ["/srv:/www:ro"]})
    assert got.state is ContainerState.RUNNING
    assert got.ip_addresses == ["10.88.0.2"]
    assert got.name == "c1-name" and got.image.id == IMAGE_ID
    script.assert_done()


BY_TOKEN = {"all": "1", "filters": '{"label": ["overcast.token=t0k3n"]}'}


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("overcast.container.drivers.docker.new_token", lambda: "t0k3n")


@pytest.mark.usefixtures("token")
def test_a_lost_create_answer_is_looked_up_by_its_token(mode: str) -> None:
    script = Script()

    def tagged(sent: Any) -> bool:
        return bool(json.loads(sent.body)["Labels"]["overcast.token"] == "t0k3n")

    script.expect("POST", f"{V}/containers/create", params={"name": "web"},
                  match=tagged).fail(sent=True)
    script.expect("GET", f"{V}/containers/json", params=BY_TOKEN).reply(200, json=[
        {"Id": "c1", "Names": ["/web"], "Image": "localhost/busybox:latest",
         "ImageID": IMAGE_ID, "State": "created", "Created": 1700000000, "Labels": {}}])
    got = call(mode, driver(script), "deploy_container", "web", image(), start=False)
    assert got.id == "c1" and got.state is ContainerState.STOPPED
    script.assert_done()


@pytest.mark.usefixtures("token")
def test_a_lost_create_not_made_is_sent_again_once(mode: str) -> None:
    script = Script()
    web = {"name": "web"}
    script.expect("POST", f"{V}/containers/create", params=web).fail(sent=True)
    script.expect("GET", f"{V}/containers/json", params=BY_TOKEN).reply(200, json=[])
    script.expect("GET", f"{V}/containers/web/json").reply(404, json={"message": "no such"})
    script.expect("POST", f"{V}/containers/create", params=web).reply(201, json={"Id": "c2"})
    script.expect("GET", f"{V}/containers/c2/json").reply(200, json=inspect("c2", "created"))
    assert call(mode, driver(script), "deploy_container", "web", image(), start=False).id == "c2"
    script.assert_done()


@pytest.mark.usefixtures("token")
def test_a_name_in_use_answered_with_a_500_is_already_exists(mode: str) -> None:
    """Podman says 500 for a name in use: the outcome is unknown until the
    name turns out to be another container's."""
    script = Script()
    script.expect("POST", f"{V}/containers/create", params={"name": "web"}).reply(
        500, json={"cause": "that name is already in use", "message": "creating container"})
    script.expect("GET", f"{V}/containers/json", params=BY_TOKEN).reply(200, json=[])
    script.expect("GET", f"{V}/containers/web/json").reply(200, json=inspect("other"))
    with pytest.raises(DeployedContainerAlreadyExists):
        call(mode, driver(script), "deploy_container", "web", image())
    script.assert_done()


def test_create_conflicts_and_missing_images_are_mapped(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{V}/containers/create", params={"name": "web"}).reply(
        409, json={"message": 'Conflict. The container name "/web" is already in use'})
    script.expect("POST", f"{V}/containers/create", params={"name": "web"}).reply(
        404, json={"message": "No such image: nope:latest"})
    with pytest.raises(DeployedContainerAlreadyExists):
        call(mode, driver(script), "deploy_container", "web", image())
    with pytest.raises(ImageNotFound):
        call(mode, driver(script), "deploy_container", "web", image())


@pytest.mark.parametrize(("args", "kwargs", "words"), [
    (("bad name!", "IMAGE"), {}, "container name"),
    (("web", "IMAGE", None, {"ports": {"80/tcp": 70000}}), {}, "host port"),
    (("web", "IMAGE", None, {"ports": {"http": 80}}), {}, "container port"),
    (("web", "IMAGE", None, {"ports": {"80/tcp": True}}), {}, "host port"),
    (("web", "IMAGE", None, {"memory": -1}), {}, "memory"),
    (("web", "IMAGE", None, {"cpus": 0}), {}, "cpus"),
    (("web", "IMAGE", None, {"colour": "red"}), {}, "unknown deploy parameter"),
    (("web", "IMAGE", None, {"env": ["NOVALUE"]}), {}, "NAME=VALUE"),
    (("web", "IMAGE", None, {"mounts": ["relative"]}), {}, "not a mount"),
    # Apache Libcloud's Docker order: (name, image, parameters, start).
    (("web", "IMAGE", "sleep 5", True), {}, "cluster"),
    (("web", "IMAGE"), {"start": "yes"}, "start"),
])
def test_invalid_deploys_send_nothing(mode: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                                      words: str) -> None:
    script = Script()
    args = tuple(image() if a == "IMAGE" else a for a in args)
    with pytest.raises(InvalidInput, match=words):
        call(mode, driver(script), "deploy_container", *args, **kwargs)
    script.assert_done()


def test_libcloud_list_containers_order_is_refused(mode: str) -> None:
    script = Script()
    with pytest.raises(InvalidInput, match="cluster"):
        call(mode, driver(script), "list_containers", image(), False)
    cluster = ContainerCluster("c", "c")
    with pytest.raises(NotSupported):
        call(mode, driver(script), "list_containers", None, cluster)
    script.assert_done()


def test_containers_are_listed_and_filtered_by_image(mode: str) -> None:
    script = Script()
    entries = [
        {"Id": "c1", "Names": ["/one"], "Image": "localhost/busybox:latest", "ImageID": IMAGE_ID,
         "State": "running", "Created": 1700000000, "Labels": {}},
        {"Id": "c2", "Names": ["/two"], "Image": "other", "ImageID": "sha256:ff",
         "State": "exited", "Created": 1700000000, "Labels": {}, "ExitCode": 3},
    ]
    script.expect("GET", f"{V}/containers/json", params={"all": "1"}).reply(200, json=entries)
    script.expect("GET", f"{V}/containers/json", params={"all": "0"}).reply(200, json=entries)
    d = driver(script)
    both = call(mode, d, "list_containers")
    assert [(c.name, c.state) for c in both] == [("one", ContainerState.RUNNING),
                                                 ("two", ContainerState.STOPPED)]
    assert [c.id for c in call(mode, d, "list_containers", image(), all=False)] == ["c1"]


def test_start_stop_restart_and_destroy(mode: str) -> None:
    script = Script()
    c = Container("c1", "web", image(), ContainerState.RUNNING, [])
    script.expect("POST", f"{V}/containers/c1/stop", params={"t": "10"}).reply(204)
    script.expect("GET", f"{V}/containers/c1/json").reply(200, json=inspect(status="exited",
                                                                             exit_code=137))
    script.expect("POST", f"{V}/containers/c1/start").reply(304)  # already running: fine
    script.expect("GET", f"{V}/containers/c1/json").reply(200, json=inspect())
    script.expect("POST", f"{V}/containers/c1/restart", params={"t": "10"}).reply(204)
    script.expect("GET", f"{V}/containers/c1/json").reply(200, json=inspect())
    # destroy: looked at, stopped (it runs), deleted.
    script.expect("GET", f"{V}/containers/c1/json").reply(200, json=inspect())
    script.expect("POST", f"{V}/containers/c1/stop", params={"t": "10"}).reply(204)
    script.expect("GET", f"{V}/containers/c1/json").reply(200, json=inspect(status="exited"))
    script.expect("DELETE", f"{V}/containers/c1", params={"v": "1"}).reply(204)
    d = driver(script)
    stopped = call(mode, d, "stop_container", c)
    assert stopped.state is ContainerState.STOPPED and stopped.extra["exit_code"] == 137
    assert call(mode, d, "start_container", c).state is ContainerState.RUNNING
    assert call(mode, d, "restart_container", c).state is ContainerState.RUNNING
    assert call(mode, d, "destroy_container", c) is True
    script.assert_done()


def test_a_missing_container_is_deployed_container_not_found(mode: str) -> None:
    script = Script()
    c = Container("gone", "gone", image(), ContainerState.RUNNING, [])
    script.expect("GET", f"{V}/containers/gone/json").reply(404, json={"message": "no such"})
    script.expect("POST", f"{V}/containers/gone/start").reply(404, json={"message": "no such"})
    script.expect("GET", f"{V}/containers/gone/json").reply(404, json={"message": "no such"})
    d = driver(script)
    with pytest.raises(DeployedContainerNotFound):
        call(mode, d, "get_container", "gone")
    with pytest.raises(DeployedContainerNotFound):
        call(mode, d, "start_container", c)
    with pytest.raises(DeployedContainerNotFound):
        call(mode, d, "destroy_container", c)
    with pytest.raises(InvalidInput):
        call(mode, d, "get_container", "a/b")
    script.assert_done()


def test_demultiplexing_keeps_frames_split_across_chunks() -> None:
    stream = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"x" * 70000)
    buffer = bytearray()
    got: list[LogChunk] = []
    for start in range(0, len(stream), 5):
        buffer += stream[start:start + 5]
        got += demultiplex(buffer)
    assert [(c.stream, c.data) for c in got] == [("stdout", b"out\n"), ("stderr", b"err\n"),
                                                  ("stdout", b"x" * 70000)]
    assert not buffer
    buffer += frame(1, b"abc")[:-1]
    with pytest.raises(ProviderError, match="inside a frame"):
        list(demultiplex(buffer, eof=True))


def test_logs_are_streamed_demultiplexed(mode: str) -> None:
    script = Script()
    c = Container("c1", "web", image(), ContainerState.RUNNING, [])
    body = frame(1, b"one\n") + frame(2, b"two\n") + frame(1, b"three\n")
    params = {"stdout": "1", "stderr": "1", "follow": "0", "tail": "10"}
    script.expect("GET", f"{V}/containers/c1/logs", params=params).reply(200, body=body)
    d = driver(script)
    if mode == "sync":
        chunks = list(d.stream_container_logs(c, tail=10))
    else:
        async def main() -> list[bytes]:
            return [chunk async for chunk in d.aio.stream_container_logs(c, tail=10)]
        chunks = anyio.run(main)
    assert [(getattr(x, "stream", None), bytes(x)) for x in chunks] == [
        ("stdout", b"one\n"), ("stderr", b"two\n"), ("stdout", b"three\n")]


def test_a_terminal_containers_logs_are_raw_and_get_logs_is_text(mode: str) -> None:
    script = Script()
    c = Container("c1", "web", image(), ContainerState.RUNNING, [])
    logs = {"stdout": "1", "stderr": "1", "follow": "0"}
    script.expect("GET", f"{V}/containers/c1/logs", params=logs).reply(200, body=b"plain text\r\n")
    script.expect("GET", f"{V}/containers/c1/logs", params=logs).reply(
        200, body=frame(1, b"a\n") + frame(2, "é\n".encode()))
    d = driver(script)
    assert call(mode, d, "ex_get_logs", c) == "plain text\r\n"
    assert call(mode, d, "ex_get_logs", c) == "a\né\n"
    with pytest.raises(InvalidInput, match="stream_container_logs"):
        call(mode, d, "ex_get_logs", c, True)
    with pytest.raises(InvalidInput):
        call(mode, d, "stream_container_logs", c, tail=-1)
    script.assert_done()


def test_the_engine_is_found_as_docker_clients_find_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    d = DockerContainerDriver()
    assert d.endpoint == "http://docker"
    assert d._options["unix_socket"] == "/var/run/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.9:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", "/certs")
    d = DockerContainerDriver()
    assert d.endpoint == "https://10.0.0.9:2376"
    assert d._options["client_cert"] == ("/certs/cert.pem", "/certs/key.pem")
    assert d._options["verify"] == "/certs/ca.pem"
    # Apache Libcloud's (key, secret, secure, host, port, key_file, cert_file).
    d = DockerContainerDriver("", "", True, "engine.local", 2376, "k.pem", "c.pem")
    assert d.endpoint == "https://engine.local:2376"
    assert d._options["client_cert"] == ("c.pem", "k.pem")
    assert "unix_socket" not in d._options


def test_exec_runs_a_command_and_splits_its_output(mode: str) -> None:
    script = Script()
    c = Container("c1", "web", image(), ContainerState.RUNNING, [])
    script.expect("POST", f"{V}/containers/c1/exec", json={
        "Cmd": ["sh", "-c", "echo hi; echo oops >&2; exit 3"], "AttachStdout": True,
        "AttachStderr": True, "Tty": False}).reply(201, json={"Id": "e1"})
    script.expect("POST", f"{V}/exec/e1/start", json={"Detach": False, "Tty": False}).reply(
        200, body=frame(1, b"hi\n") + frame(2, b"oops\n"))
    script.expect("GET", f"{V}/exec/e1/json").reply(200, json={"ExitCode": 3, "Running": False})
    got = call(mode, driver(script), "ex_exec", c, ["sh", "-c", "echo hi; echo oops >&2; exit 3"])
    assert got == (3, b"hi\n", b"oops\n")
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "ex_exec", c, [])
    script.assert_done()
