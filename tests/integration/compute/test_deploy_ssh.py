"""``deploy_node`` over a real OpenSSH server, sync and async.

A tiny in-test driver makes "nodes" that are this machine: ``create_node``
returns a pending node, ``get_node`` reports it running at 127.0.0.1, so
``deploy_node`` logs in to the test process's ``sshd`` (``servers.sshd``) on
its port and runs the deployment there. Every test runs in both modes.

Remote files are written only inside the server's private directory (its
``AuthorizedKeysFile`` and a ``work`` directory); ``HOME`` is pointed at a
temporary directory wherever the default known_hosts files matter, so the
machine's ``~/.ssh`` is never read or written.
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from overcast.compute.base import Node
from overcast.compute.base import NodeAuth
from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeLocation
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.deployment import DeploymentError
from overcast.compute.deployment import FileDeployment
from overcast.compute.deployment import MultiStepDeployment
from overcast.compute.deployment import ScriptDeployment
from overcast.compute.deployment import ScriptFailed
from overcast.compute.deployment import ScriptFileDeployment
from overcast.compute.deployment import SSHKeyDeployment
from overcast.compute.ssh import ParamikoSSHClient
from overcast.compute.ssh import SSHAuthenticationFailed
from overcast.compute.ssh import SSHCommandTimeout
from overcast.compute.ssh import SSHHostKeyMismatch
from overcast.compute.ssh import SSHHostKeyUnknown
from overcast.errors import InvalidInput
from overcast.errors import OperationTimeout
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.operation import operation
from overcast.runtime.redact import Secret
from servers.modes import call
from servers.sshd import SSHServer
from servers.sshd import ssh_server

pytestmark = pytest.mark.server

SIZE = NodeSize("small", "Small", 512, 1)
IMAGE = NodeImage("localhost", "This machine")
PASSWORD = "Tr0ub4dor-" + uuid.uuid4().hex[:8]


class LoopbackDriver(NodeDriver):
    """A compute "provider" whose every node is this machine, reached at 127.0.0.1."""

    name = "loopback"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.nodes: dict[str, Node] = {}
        self.logins = 0  # SSH connections attempted

    def _ssh_client(self, *args: Any, **kwargs: Any) -> Any:
        self.logins += 1
        return super()._ssh_client(*args, **kwargs)

    def _create(self, name: str, size: NodeSize, image: NodeImage) -> Node:
        node = Node(f"node-{uuid.uuid4().hex[:8]}", name, NodeState.PENDING, driver=self,
                    size=size, image=image)
        self.nodes[node.id] = node
        return node

    def _get(self, node_id: str) -> Node:
        node = self.nodes[node_id]
        running = Node(node.id, node.name, NodeState.RUNNING, public_ips=["127.0.0.1"],
                       driver=self, size=node.size, image=node.image)
        self.nodes[node_id] = running
        return running

    @operation
    def create_node(
        self, name: str, size: NodeSize, image: NodeImage, location: NodeLocation | None = None,
        auth: NodeAuth | None = None,
    ) -> Op[Node]:
        """Make a pending node (nothing is started: the node is this machine)."""
        node: Node = yield Call(self._create, name, size, image)
        return node

    @operation
    def get_node(self, node_id: str) -> Op[Node]:
        """The node, now running at 127.0.0.1."""
        node: Node = yield Call(self._get, node_id)
        return node


@pytest.fixture
def server(request: pytest.FixtureRequest) -> SSHServer:
    return ssh_server(request)


@pytest.fixture
def driver() -> LoopbackDriver:
    return LoopbackDriver()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME, so the default known_hosts (~/.ssh/known_hosts) is an empty one."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


@pytest.fixture
def workdir(server: SSHServer) -> Path:
    """A fresh directory on the "node" (the server's private directory) for one test."""
    path = server.work / uuid.uuid4().hex[:12]
    path.mkdir()
    return path


def deploy(mode: str, driver: LoopbackDriver, server: SSHServer, deployment: Any,
           **overrides: Any) -> Node:
    """``deploy_node`` to the real sshd: its port, user, client key and known_hosts."""
    options: dict[str, Any] = {
        "name": "web",
        "size": SIZE,
        "image": IMAGE,
        "ssh_port": server.port,
        "ssh_username": server.user,
        "ssh_key": str(server.client_ed25519),
        "ssh_known_hosts": str(server.known_hosts),
        "ssh_timeout": 5,
        "timeout": 10,
        "wait_period": 0.05,
        "max_tries": 1,
    }
    options.update(overrides)
    options = {k: v for k, v in options.items() if v is not None}
    node: Node = call(mode, driver, "deploy_node", deployment, **options)
    return node


def echo_user(workdir: Path) -> ScriptDeployment:
    return ScriptDeployment("#!/bin/sh\nid -un\n", name=f"{workdir}/whoami.sh", delete=True)


def can_log_in(server: SSHServer, key: Path) -> bool:
    """Whether sshd lets the login user in with ``key`` (host key checked)."""
    client = ParamikoSSHClient(server.host, server.port, server.user, key_files=key,
                               timeout=5, known_hosts=server.known_hosts)
    try:
        client.connect()
    except SSHAuthenticationFailed:
        return False
    try:
        return client.run("true", timeout=5) == ("", "", 0)
    finally:
        client.close()


# -- the acceptance: a MultiStepDeployment over real SSH ------------------------------------


def test_multi_step_deployment(mode: str, driver: LoopbackDriver, server: SSHServer,
                               workdir: Path, tmp_path: Path) -> None:
    new_key = server.new_client_key(f"installed_{mode}_{uuid.uuid4().hex[:6]}")
    assert not can_log_in(server, new_key)
    source = tmp_path / "app.conf"
    source.write_bytes(b"listen 8080\nworkers 4\n")
    os.chmod(source, 0o640)
    target = workdir / "etc" / "app" / "app.conf"  # parent directories are made
    script = ScriptDeployment(
        "#!/bin/sh\necho \"hello from $(id -un)\"\necho 'a warning' >&2\n"
        "cat \"$1\" | wc -l\nexit 0\n",
        args=[str(target)], name=f"{workdir}/setup.sh", delete=True,
    )
    msd = MultiStepDeployment([
        SSHKeyDeployment(server.public_key(new_key), path=str(server.authorized_keys)),
        FileDeployment(source, str(target)),
        script,
    ])

    node = deploy(mode, driver, server, msd)

    assert node.state == NodeState.RUNNING and node.public_ips == ["127.0.0.1"]
    assert node.id in driver.nodes and node.driver is driver
    # SSHKeyDeployment: the key landed, on a line of its own, and sshd accepts it.
    lines = server.authorized_keys.read_text().splitlines()
    assert server.public_key(new_key) in lines
    assert stat.S_IMODE(server.authorized_keys.stat().st_mode) == 0o600
    assert can_log_in(server, new_key)
    # FileDeployment: the content and the mode of the source.
    assert target.read_bytes() == b"listen 8080\nworkers 4\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    # ScriptDeployment: stdout, stderr and the exit status reported; the script deleted.
    assert script.stdout == f"hello from {server.user}\n2\n"
    assert script.stderr == "a warning\n"
    assert script.exit_status == 0
    assert not (workdir / "setup.sh").exists()


def test_script_file_deployment_and_a_recorded_failure(
    mode: str, driver: LoopbackDriver, server: SSHServer, workdir: Path, tmp_path: Path
) -> None:
    local = tmp_path / "check.sh"
    local.write_text("#!/bin/sh\necho \"args: $*\"\necho failing >&2\nexit 7\n")
    step = ScriptFileDeployment(local, ["one two", "three"], name=f"{workdir}/check.sh")
    deploy(mode, driver, server, step)  # a non-zero status is recorded, not raised (check=False)
    assert (step.stdout, step.stderr, step.exit_status) == ("args: one two three\n", "failing\n", 7)
    assert (workdir / "check.sh").read_text() == local.read_text()  # kept: delete=False
    assert stat.S_IMODE((workdir / "check.sh").stat().st_mode) == 0o755


def test_failing_script_raises_deployment_error_with_the_node(
    mode: str, driver: LoopbackDriver, server: SSHServer, workdir: Path
) -> None:
    step = ScriptDeployment(
        f"#!/bin/sh\necho partial output\necho \"bad password {PASSWORD}\" >&2\nexit 3\n",
        name=f"{workdir}/fail.sh", check=True,
    )
    with pytest.raises(DeploymentError) as info:
        deploy(mode, driver, server, step, auth=NodeAuthPassword(Secret(PASSWORD)))
    error = info.value
    assert isinstance(error.node, Node) and error.node.id in driver.nodes
    assert error.node.state == NodeState.RUNNING and error.node.public_ips == ["127.0.0.1"]
    assert error.node.driver is driver
    assert isinstance(error.error, ScriptFailed) and error.__cause__ is error.error
    assert error.error.exit_status == 3 and step.exit_status == 3
    assert step.stdout == "partial output\n"
    assert PASSWORD in (step.stderr or "")  # the script printed it...
    assert PASSWORD not in str(error) and PASSWORD not in repr(error)  # ...the error does not
    assert "exited with status 3" in str(error) and error.node.id in str(error)


def test_script_timeout(mode: str, driver: LoopbackDriver, server: SSHServer,
                        workdir: Path) -> None:
    runs = workdir / "runs"
    # The script prints at once and then never ends by itself: the timeout is
    # what ends it. What it printed arrives however loaded the host is (the
    # client makes a round trip to the server before it reports the timeout).
    step = ScriptDeployment(f"#!/bin/sh\necho run >> {runs}\necho started\nexec sleep 600\n",
                            name=f"{workdir}/slow.sh", timeout=1.5)
    with pytest.raises(DeploymentError, match=r"did not finish within 1\.5s") as info:
        deploy(mode, driver, server, step, max_tries=3)
    assert isinstance(info.value.error, SSHCommandTimeout)
    assert isinstance(info.value.error, OperationTimeout)
    assert info.value.error.stdout == "started\n"
    assert runs.read_text() == "run\n"


# -- host keys -------------------------------------------------------------------------------


def test_wrong_host_key_is_refused(mode: str, driver: LoopbackDriver, server: SSHServer,
                                   workdir: Path, tmp_path: Path) -> None:
    impostor = server.keygen(tmp_path / "impostor", "ed25519")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{server.port} {server.public_key(impostor)}\n")
    step = echo_user(workdir)
    for policy in ("strict", "accept-new"):  # a changed key is refused under every policy
        before = driver.logins
        with pytest.raises(DeploymentError, match="SSHHostKeyMismatch") as info:
            deploy(mode, driver, server, step, ssh_known_hosts=known_hosts,
                   ssh_host_key_policy=policy, timeout=20)
        assert driver.logins == before + 1  # refused at once, not retried until timeout
        error = info.value.error
        assert isinstance(error, SSHHostKeyMismatch)
        assert error.host == f"[127.0.0.1]:{server.port}"
        assert error.fingerprint.startswith("SHA256:") and error.expected_fingerprint
        assert error.fingerprint != error.expected_fingerprint
        assert "does not match" in str(info.value)
    assert step.exit_status is None  # nothing ran
    assert known_hosts.read_text().count("\n") == 1  # and nothing was recorded


def test_unknown_host_is_refused_by_default(mode: str, driver: LoopbackDriver,
                                            server: SSHServer, workdir: Path,
                                            home: Path, tmp_path: Path) -> None:
    step = echo_user(workdir)
    with pytest.raises(DeploymentError, match="SSHHostKeyUnknown") as info:
        deploy(mode, driver, server, step, ssh_known_hosts=None)  # ~/.ssh/known_hosts
    assert isinstance(info.value.error, SSHHostKeyUnknown)
    assert "accept-new" in str(info.value)  # the message says how to opt in
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(DeploymentError) as info:
        deploy(mode, driver, server, step, ssh_known_hosts=empty)
    assert isinstance(info.value.error, SSHHostKeyUnknown)
    assert info.value.error.host == f"[127.0.0.1]:{server.port}"
    assert step.exit_status is None and empty.read_text() == ""
    assert not (home / ".ssh").exists()


def test_accept_new_trusts_and_records_a_new_host(mode: str, driver: LoopbackDriver,
                                                  server: SSHServer, workdir: Path,
                                                  home: Path, tmp_path: Path) -> None:
    known_hosts = tmp_path / "new" / "known_hosts"
    known_hosts.parent.mkdir()
    step = echo_user(workdir)
    deploy(mode, driver, server, step, ssh_known_hosts=known_hosts,
           ssh_host_key_policy="accept-new")
    assert step.stdout == f"{server.user}\n"
    [line] = known_hosts.read_text().splitlines()  # the key it was offered, recorded
    assert line in server.known_hosts_lines()
    assert stat.S_IMODE(known_hosts.stat().st_mode) == 0o600
    # Now known: the strict default accepts it.
    again = echo_user(workdir)
    deploy(mode, driver, server, again, ssh_known_hosts=known_hosts)
    assert again.exit_status == 0
    # Without a known_hosts file, accept-new trusts it for this login and writes nothing.
    third = echo_user(workdir)
    deploy(mode, driver, server, third, ssh_known_hosts=None, ssh_host_key_policy="accept-new")
    assert third.exit_status == 0 and not (home / ".ssh").exists()


def test_ssh_options_are_checked_before_a_node_is_made(
    mode: str, driver: LoopbackDriver, server: SSHServer, workdir: Path
) -> None:
    with pytest.raises(InvalidInput, match="host key policy"):
        deploy(mode, driver, server, echo_user(workdir), ssh_host_key_policy="no")
    text = server.client_ed25519.read_text()
    with pytest.raises(InvalidInput, match="at most one SSH private key"):
        deploy(mode, driver, server, echo_user(workdir), ssh_key=[text, Secret(text)])
    assert driver.nodes == {}


# -- client keys and authentication ---------------------------------------------------------


@pytest.mark.parametrize("key_type", ["ed25519", "rsa"])
@pytest.mark.parametrize("given_as", ["path", "pathlike", "text", "secret"])
def test_client_keys(mode: str, driver: LoopbackDriver, server: SSHServer, workdir: Path,
                     key_type: str, given_as: str) -> None:
    path = server.client_ed25519 if key_type == "ed25519" else server.client_rsa
    text = path.read_text()
    assert ("BEGIN RSA PRIVATE KEY" in text) == (key_type == "rsa")  # RSA in PEM format
    key: Any = {"path": str(path), "pathlike": path, "text": text, "secret": Secret(text)}[
        given_as
    ]
    step = echo_user(workdir)
    deploy(mode, driver, server, step, ssh_key=key)
    assert (step.stdout, step.stderr, step.exit_status) == (f"{server.user}\n", "", 0)


def test_wrong_key_reports_authentication_failure(mode: str, driver: LoopbackDriver,
                                                  server: SSHServer, workdir: Path) -> None:
    stranger = server.new_client_key(f"stranger_{uuid.uuid4().hex[:6]}")
    text = stranger.read_text()
    secret_line = text.splitlines()[2]  # a line of the private key's body
    with pytest.raises(DeploymentError, match="SSHAuthenticationFailed") as info:
        deploy(mode, driver, server, echo_user(workdir), ssh_key=text,
               auth=NodeAuthPassword(Secret(PASSWORD)), timeout=0.5, wait_period=0.1)
    error = info.value
    assert isinstance(error.error, OperationTimeout)  # retried: a new node may lack the key
    assert isinstance(error.error.__cause__, SSHAuthenticationFailed)
    message = str(error) + repr(error) + str(error.error.__cause__)
    assert "could not log in over SSH" in message and f"{server.user}@127.0.0.1" in message
    for secret in (PASSWORD, secret_line, "PRIVATE KEY"):
        assert secret not in message


def test_closed_port_times_out(mode: str, driver: LoopbackDriver, server: SSHServer,
                               workdir: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DeploymentError, match="could not log in over SSH") as info:
        deploy(mode, driver, server, echo_user(workdir), ssh_port=port, timeout=0.5,
               wait_period=0.1)
    # Retried every 0.1 s until 0.5 s had passed: at most six tries, fewer on a
    # loaded host, never an endless loop.
    assert 1 <= driver.logins <= 6
    assert isinstance(info.value.error, OperationTimeout)
    assert isinstance(info.value.error.__cause__, ConnectionRefusedError)
