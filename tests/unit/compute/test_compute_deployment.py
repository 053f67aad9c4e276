"""Deployments and ``deploy_node``, against the fake provider and fake SSH server.

``deploy_node`` tests run twice through the ``call`` fixture (sync, then async
with ``asyncio.run``); the fakes live in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from typing import Any

import pytest

from overcast.compute.base import Node
from overcast.compute.base import NodeAuthPassword
from overcast.compute.base import NodeAuthSSHKey
from overcast.compute.base import NodeDriver
from overcast.compute.base import NodeImage
from overcast.compute.base import NodeSize
from overcast.compute.base import NodeState
from overcast.compute.deployment import Deployment
from overcast.compute.deployment import DeploymentError
from overcast.compute.deployment import FileDeployment
from overcast.compute.deployment import MultiStepDeployment
from overcast.compute.deployment import ScriptDeployment
from overcast.compute.deployment import ScriptFailed
from overcast.compute.deployment import ScriptFileDeployment
from overcast.compute.deployment import SSHKeyDeployment
from overcast.compute.ssh import ParamikoSSHClient
from overcast.compute.ssh import SSHAuthenticationFailed
from overcast.compute.ssh import SSHClient
from overcast.compute.ssh import SSHCommandTimeout
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.runtime.redact import Secret

SMALL = NodeSize("small", "Small", 1024, 20)
DEBIAN = NodeImage("debian-12", "Debian 12")
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG me@laptop"
FAST = {"wait_period": 0.001, "timeout": 5}
WEB = {"name": "web", "size": SMALL, "image": DEBIAN}


def _steps() -> tuple[MultiStepDeployment, ScriptDeployment, ScriptDeployment]:
    first = ScriptDeployment("#!/bin/sh\necho one\n", name="one.sh")
    second = ScriptDeployment("#!/bin/sh\necho two\n", ["a b", "c"], name="two.sh", delete=True)
    return MultiStepDeployment([SSHKeyDeployment(PUBKEY), first, second]), first, second


# -- deploy_node: success -------------------------------------------------------------------


def test_deploy_node_runs_every_step_in_order(cloud: Any, call: Any) -> None:
    driver = cloud()
    server = driver.ssh_server
    server.results = {"one.sh": ("one\n", "", 0), "two.sh": ("", "warning\n", 3)}
    msd, first, second = _steps()
    node = call(driver, "deploy_node", msd, **WEB, **FAST)

    assert node.name == "web" and node.state == NodeState.RUNNING
    assert [entry[:2] for entry in server.log] == [
        ("connect", "root"),
        ("put", "/home/root/.ssh/authorized_keys"),
        ("put", "/home/root/one.sh"),
        ("run", "/home/root/one.sh"),
        ("put", "/home/root/two.sh"),
        ("run", "/home/root/two.sh 'a b' c"),
        ("delete", "/home/root/two.sh"),
    ]
    assert server.log[2][2:] == ("w", 0o755)
    assert server.files["/home/root/.ssh/authorized_keys"] == PUBKEY + "\n"
    assert (first.stdout, first.stderr, first.exit_status) == ("one\n", "", 0)
    assert (second.stdout, second.stderr, second.exit_status) == ("", "warning\n", 3)
    assert server.closed == 1
    [login] = server.logins
    assert login["hostname"] == "203.0.113.10" and login["port"] == 22
    assert login["password"] == Secret("generated-Pa55word")  # from node.extra
    assert login["timeout"] == 10


def test_deploy_node_logs_in_with_the_auth_password_or_key(cloud: Any, call: Any) -> None:
    driver = cloud()
    call(driver, "deploy_node", ScriptDeployment("true"), **WEB,
         auth=NodeAuthPassword(Secret("chosen-password")), ssh_port=2222, ssh_timeout=3, **FAST)
    call(driver, "deploy_node", ScriptDeployment("true"), name="db", size=SMALL, image=DEBIAN,
         auth=NodeAuthSSHKey(PUBKEY), ssh_key="~/.ssh/id_ed25519",
         ssh_key_password="passphrase", **FAST)
    by_password, by_key = driver.ssh_server.logins
    assert by_password["password"] == Secret("chosen-password")
    assert (by_password["port"], by_password["timeout"]) == (2222, 3)
    assert by_key["password"] == Secret("passphrase") and by_key["key"] == "~/.ssh/id_ed25519"
    assert driver.nodes["node-2"].extra == {"location": None}  # auth given: no generated one


def test_deploy_node_waits_for_ssh_and_tries_other_usernames(cloud: Any, call: Any) -> None:
    driver = cloud()
    server = driver.ssh_server
    server.refuse = 3  # sshd not up yet
    server.users = {"debian"}  # root may not log in
    call(driver, "deploy_node", SSHKeyDeployment(PUBKEY), **WEB,
         ssh_alternate_usernames=["admin", "debian"], **FAST)
    connects = [entry[1] for entry in server.log if entry[0] == "connect"]
    assert connects == ["root", "admin", "debian", "root", "admin", "debian"]
    assert "/home/debian/.ssh/authorized_keys" in server.files
    assert server.closed == 6  # five failed attempts and the session


def test_deploy_node_retries_a_failed_deployment(cloud: Any, call: Any) -> None:
    driver = cloud()
    driver.ssh_server.run_errors = [OSError("apt lock held"), OSError("apt lock held")]
    step = ScriptDeployment("apt-get -y install nginx", name="install.sh")
    call(driver, "deploy_node", step, **WEB, max_tries=3, **FAST)
    assert step.exit_status == 0
    assert sum(1 for entry in driver.ssh_server.log if entry[0] == "run") == 3


# -- deploy_node: failures ----------------------------------------------------------------


def test_failed_deployment_raises_deployment_error_with_the_node(cloud: Any, call: Any) -> None:
    driver = cloud()
    driver.ssh_server.run_errors = [OSError(f"boom {i} chosen-password") for i in range(3)]
    with pytest.raises(DeploymentError) as info:
        call(driver, "deploy_node", ScriptDeployment("true"), **WEB,
             auth=NodeAuthPassword(Secret("chosen-password")), max_tries=3, **FAST)
    error = info.value
    assert isinstance(error.node, Node) and error.node.id == "node-1"
    assert error.node.state == NodeState.RUNNING  # the latest state seen
    assert isinstance(error.error, OSError) and error.value is error.error
    assert error.__cause__ is error.error
    assert "boom 2" in str(error) and "chosen-password" not in str(error)
    assert "node-1" in str(error) and str(error).startswith("[fake] ")
    assert driver.ssh_server.closed == 1  # the session was closed
    assert "node-1" in driver.nodes  # left for the caller to inspect or destroy


def test_failing_script_with_check_fails_the_deployment(cloud: Any, call: Any) -> None:
    driver = cloud()
    driver.ssh_server.results = {"setup.sh": ("", "no such package\n", 100)}
    step = ScriptDeployment("apt-get install nope", name="setup.sh", check=True)
    with pytest.raises(DeploymentError, match=r"ScriptFailed: script 'setup\.sh' exited") as info:
        call(driver, "deploy_node", step, **WEB, max_tries=2, **FAST)
    assert isinstance(info.value.error, ScriptFailed)
    assert info.value.error.stderr == "no such package\n"
    assert sum(1 for entry in driver.ssh_server.log if entry[0] == "run") == 2


def test_command_timeout_is_not_retried(cloud: Any, call: Any) -> None:
    driver = cloud()
    driver.ssh_server.run_errors = [SSHCommandTimeout("sleep 100", 1.0)]
    with pytest.raises(DeploymentError) as info:
        call(driver, "deploy_node", ScriptDeployment("sleep 100"), **WEB, **FAST)
    assert isinstance(info.value.error, SSHCommandTimeout)
    assert sum(1 for entry in driver.ssh_server.log if entry[0] == "run") == 1


def test_ssh_that_never_answers_times_out(cloud: Any, call: Any) -> None:
    driver = cloud()
    driver.ssh_server.refuse = 10**9
    with pytest.raises(DeploymentError, match="could not log in over SSH") as info:
        call(driver, "deploy_node", ScriptDeployment("true"), **WEB,
             wait_period=0.01, timeout=0.1)
    assert isinstance(info.value.error, OperationTimeout)
    assert isinstance(info.value.error.__cause__, ConnectionRefusedError)
    assert info.value.node.id == "node-1"


def test_node_that_never_runs_fails_the_deployment(cloud: Any, call: Any) -> None:
    driver = cloud(boot=(NodeState.PENDING,))
    with pytest.raises(DeploymentError, match="timed out") as info:
        call(driver, "deploy_node", ScriptDeployment("true"), **WEB,
             wait_period=0.01, timeout=0.05)
    assert info.value.node.state == NodeState.PENDING
    assert driver.ssh_server.logins == []


def test_deploy_node_checks_arguments_before_creating(cloud: Any, call: Any) -> None:
    driver = cloud()
    with pytest.raises(InvalidInput, match="deploy must be a Deployment"):
        call(driver, "deploy_node", "echo hi", **WEB)
    with pytest.raises(InvalidInput, match="auth"):
        call(driver, "deploy_node", ScriptDeployment("true"), **WEB,
             auth="password")
    with pytest.raises(InvalidInput, match="ssh_interface"):
        call(driver, "deploy_node", ScriptDeployment("true"), **WEB,
             ssh_interface="eth0")
    with pytest.raises(InvalidInput, match="max_tries"):
        call(driver, "deploy_node", ScriptDeployment("true"), **WEB, max_tries=0)
    assert driver.nodes == {}


def test_missing_paramiko_fails_before_a_node_is_made(
    cloud: Any, call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class PlainSSH(type(cloud())):  # type: ignore[misc]
        _ssh_client = NodeDriver._ssh_client

    monkeypatch.setitem(sys.modules, "paramiko", None)  # makes the import fail
    driver = PlainSSH()
    with pytest.raises(NotSupported, match=r'pip install "overcast\[ssh\]"') as info:
        call(driver, "deploy_node", ScriptDeployment("true"), **WEB, **FAST)
    assert isinstance(info.value, ImportError)  # a missing extra is an ImportError too
    assert driver.nodes == {}


# -- at_exit_func: interruptions only ----------------------------------------------------


class Interrupting(Deployment):
    """A deployment interrupted by Ctrl-C."""

    def run(self, node: Node, client: SSHClient) -> Node:
        raise KeyboardInterrupt


def test_at_exit_func_runs_when_interrupted(cloud: Any) -> None:
    driver = cloud()
    seen: list[tuple[Any, Node]] = []
    with pytest.raises(KeyboardInterrupt):
        driver.deploy_node(Interrupting(), **WEB, **FAST,
                           at_exit_func=lambda driver, node: seen.append((driver, node)))
    assert seen == [(driver, Node("node-1", "web", NodeState.PENDING, driver=driver))]


def test_at_exit_func_runs_when_cancelled(cloud: Any) -> None:
    driver = cloud(boot=(NodeState.PENDING,))  # deploy_node would wait for a long time
    seen: list[Node] = []

    async def main() -> None:
        await asyncio.wait_for(
            driver.aio.deploy_node(ScriptDeployment("true"), **WEB,
                                   wait_period=0.01, timeout=60,
                                   at_exit_func=lambda driver, node: seen.append(node)),
            timeout=0.2,
        )

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert [node.id for node in seen] == ["node-1"]


def test_at_exit_func_is_not_called_on_failure(cloud: Any, call: Any) -> None:
    driver = cloud()
    driver.ssh_server.run_errors = [OSError("boom")]
    seen: list[Node] = []
    with pytest.raises(DeploymentError):
        call(driver, "deploy_node", ScriptDeployment("true"), **WEB,
             max_tries=1, at_exit_func=lambda driver, node: seen.append(node), **FAST)
    assert seen == []


# -- the deployment classes on their own ----------------------------------------------------


def _client(cloud: Any) -> Any:
    driver = cloud()
    return driver.ssh_server, driver._ssh_client("192.0.2.1", 22, "root", None, None, None)


def test_ssh_key_deployment_appends_a_line(cloud: Any) -> None:
    server, client = _client(cloud)
    node = Node("i-1", "web", NodeState.RUNNING)
    SSHKeyDeployment("ssh-rsa AAAA one\n").run(node, client)
    assert SSHKeyDeployment(io.StringIO(PUBKEY)).run(node, client) is node
    assert server.files["/home/root/.ssh/authorized_keys"] == f"ssh-rsa AAAA one\n{PUBKEY}\n"
    with pytest.raises(TypeError):
        SSHKeyDeployment(42)  # type: ignore[arg-type]


def test_file_deployment_keeps_the_mode(cloud: Any, tmp_path: Any) -> None:
    server, client = _client(cloud)
    source = tmp_path / "app.conf"
    source.write_bytes(b"listen 80\n")
    os.chmod(source, 0o640)
    FileDeployment(source, "/etc/app.conf").run(Node("i-1", "web", NodeState.RUNNING), client)
    assert server.files["/etc/app.conf"] == b"listen 80\n"
    assert server.modes["/etc/app.conf"] == 0o640


def test_script_deployments(cloud: Any, tmp_path: Any) -> None:
    server, client = _client(cloud)
    node = Node("i-1", "web", NodeState.RUNNING)
    unnamed = ScriptDeployment("#!/bin/sh\ntrue\n", timeout=30)
    assert unnamed.name.startswith("overcast_deployment_") and unnamed.exit_status is None
    unnamed.run(node, client)
    assert server.log[-1] == ("run", f"/home/root/{unnamed.name}", 30)
    script = tmp_path / "setup.sh"
    script.write_text("#!/bin/sh\necho from file\n")
    from_file = ScriptFileDeployment(script, ["--yes"], name="/tmp/setup.sh")
    from_file.run(node, client)
    assert server.files["/tmp/setup.sh"] == "#!/bin/sh\necho from file\n"
    assert server.log[-1] == ("run", "/tmp/setup.sh --yes", None)
    assert from_file.script_file == str(script)


def test_multi_step_deployment_add_and_order() -> None:
    ran: list[str] = []

    class Step(Deployment):
        def __init__(self, label: str) -> None:
            self.label = label

        def run(self, node: Node, client: SSHClient) -> Node:
            ran.append(self.label)
            return Node(node.id, node.name + self.label, node.state)

    msd = MultiStepDeployment(Step("a"))
    msd.add([Step("b"), Step("c")])
    msd.add(Step("d"))
    node = msd.run(Node("i-1", "n", NodeState.RUNNING), client=None)  # type: ignore[arg-type]
    assert ran == ["a", "b", "c", "d"] and node.name == "nabcd"
    with pytest.raises(TypeError):
        msd.add(["not a step"])  # type: ignore[list-item]


def test_deployment_error_message_is_redacted() -> None:
    node = Node("i-9", "db", NodeState.RUNNING)
    error = DeploymentError(node, SSHAuthenticationFailed("bad password s3cr3t-pw"),
                            driver="fake", secrets=[Secret("s3cr3t-pw")])
    assert str(error) == (
        "[fake] deployment of node 'db' (id i-9) failed: SSHAuthenticationFailed: "
        "bad password ***"
    )


def test_paramiko_client_is_lazy_and_discreet() -> None:
    client = ParamikoSSHClient("192.0.2.1", 22, "root", "pa55word-123", "~/.ssh/id_rsa", 5)
    assert isinstance(client, SSHClient)
    assert "pa55word" not in repr(client) and "pa55word" not in repr(vars_of(client))
    assert client.key_files == [os.path.expanduser("~/.ssh/id_rsa")]
    with pytest.raises(Exception, match="not connected"):
        client.run("true")
    client.close()  # closing an unopened client is a no-op


def vars_of(obj: Any) -> dict[str, Any]:
    """The attributes of an object with ``__dict__`` or ``__slots__``."""
    return {name: getattr(obj, name) for name in dir(obj) if not name.startswith("__")}
