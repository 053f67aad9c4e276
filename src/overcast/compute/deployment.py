"""Deployments: steps run over SSH on a new node by ``deploy_node``.

The names and constructors follow Apache Libcloud's
``libcloud.compute.deployment``, so its users port code by changing imports:

>>> from overcast.compute.deployment import (
...     MultiStepDeployment, ScriptDeployment, SSHKeyDeployment)
>>> msd = MultiStepDeployment([
...     SSHKeyDeployment("ssh-ed25519 AAAA... me@laptop"),
...     ScriptDeployment("apt-get -y install nginx"),
... ])

A deployment's :meth:`~Deployment.run` works on a blocking
:class:`~overcast.compute.ssh.SSHClient`; ``deploy_node`` calls it through a
:class:`~overcast.runtime.effects.Call` effect, so it runs in a worker thread
when the driver is used asynchronously.

:func:`deploy_node` is the flow behind
:meth:`NodeDriver.deploy_node <overcast.compute.base.NodeDriver.deploy_node>`
(Apache Libcloud's: create, wait until running, log in over SSH with the host
key checked, run the deployment, close); this module builds on
:mod:`overcast.compute.models` and is used by :mod:`overcast.compute.base`.
"""

from __future__ import annotations

import logging
import os
import shlex
import stat
import time
import uuid
from abc import ABC
from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO
from typing import TYPE_CHECKING
from typing import Any

from overcast.compute import ssh
from overcast.compute.checks import check_interface
from overcast.compute.checks import check_positive
from overcast.compute.models import Node
from overcast.compute.models import NodeAuth
from overcast.compute.models import NodeAuthPassword
from overcast.compute.models import NodeAuthSSHKey
from overcast.compute.models import NodeImage
from overcast.compute.models import NodeLocation
from overcast.compute.models import NodeSize
from overcast.compute.ssh import SSHClient
from overcast.errors import InvalidInput
from overcast.errors import OperationCancelled
from overcast.errors import OperationTimeout
from overcast.errors import OvercastError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Guarded
from overcast.runtime.effects import Op
from overcast.runtime.effects import Sleep
from overcast.runtime.effects import TimeBudget
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_text

if TYPE_CHECKING:
    from overcast.compute.base import NodeDriver

__all__ = [
    "Deployment",
    "DeploymentError",
    "FileDeployment",
    "MultiStepDeployment",
    "SSHKeyDeployment",
    "ScriptDeployment",
    "ScriptFailed",
    "ScriptFileDeployment",
    "deploy_node",
]

log = logging.getLogger("overcast.compute")


class DeploymentError(OvercastError):
    """``deploy_node`` created a node but could not finish deploying it.

    ``node`` is the node that was created (it is *not* destroyed: inspect it or
    call ``node.destroy()``); ``error`` is the failure (also the exception's
    ``__cause__``); ``value`` is Apache Libcloud's name for it. The message
    never contains the SSH password or key passphrase.
    """

    def __init__(self, node: Node, error: BaseException, *, driver: Any = None,
                 secrets: Iterable[str | Secret] = ()) -> None:
        detail = redact_text(str(error), secrets)
        what = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        super().__init__(
            f"deployment of node {node.name!r} (id {node.id}) failed: {what}", driver=driver
        )
        self.node = node
        self.error = error

    @property
    def value(self) -> BaseException:
        """The failure (Apache Libcloud's ``DeploymentError.value``)."""
        return self.error


class ScriptFailed(OvercastError):
    """A :class:`ScriptDeployment` made with ``check=True`` exited with a non-zero status.

    ``exit_status``, ``stdout`` and ``stderr`` are the script's; the message
    names only the script and its status.
    """

    def __init__(self, name: str, exit_status: int, stdout: str, stderr: str) -> None:
        super().__init__(f"script {name!r} exited with status {exit_status}")
        self.exit_status = exit_status
        self.stdout = stdout
        self.stderr = stderr


def _text(argument: str, value: str | IO[str]) -> str:
    """A string argument that may also be given as an open text file."""
    if isinstance(value, str):
        return value
    read = getattr(value, "read", None)
    if read is None:
        raise TypeError(f"{argument} must be a string or a file object: {value!r}")
    content = read()
    if not isinstance(content, str):
        raise TypeError(f"{argument}: the file must be opened in text mode")
    return content


class Deployment(ABC):
    """One step (or several) to run on a node over SSH."""

    @abstractmethod
    def run(self, node: Node, client: SSHClient) -> Node:
        """Run this step on ``node`` through a connected ``client``; return the node.

        This blocks; ``deploy_node`` runs it in a worker thread when async.
        """


class SSHKeyDeployment(Deployment):
    """Append a public key to the login user's ``~/.ssh/authorized_keys``.

    ``key`` is the public key in OpenSSH format, or an open text file holding it.
    ``path`` is the remote file (relative paths are relative to the login
    user's home), for servers whose ``AuthorizedKeysFile`` is elsewhere. The
    file is left with mode 0600, as ``sshd``'s ``StrictModes`` wants.
    """

    def __init__(self, key: str | IO[str], *, path: str = ".ssh/authorized_keys") -> None:
        self.key = _text("key", key)
        if not self.key.strip():
            raise ValueError("key must be a public key in OpenSSH format, not empty")
        self.path = path

    def run(self, node: Node, client: SSHClient) -> Node:
        """Append the key (on a line of its own) to ``path``."""
        line = self.key if self.key.endswith("\n") else self.key + "\n"
        client.put(self.path, contents=line, chmod=0o600, mode="a")
        return node

    def __repr__(self) -> str:
        return f"<SSHKeyDeployment key={self.key[:24]!r}...>"


class FileDeployment(Deployment):
    """Copy the local file ``source`` to the remote path ``target``, keeping its mode."""

    def __init__(self, source: str | os.PathLike[str], target: str) -> None:
        self.source = os.fspath(source)
        self.target = target

    def run(self, node: Node, client: SSHClient) -> Node:
        """Upload the file and set its permission bits to those of the source."""
        mode = stat.S_IMODE(os.stat(self.source).st_mode)
        with open(self.source, "rb") as local:
            contents = local.read()
        client.put(self.target, contents=contents, chmod=mode)
        return node

    def __repr__(self) -> str:
        return f"<FileDeployment {self.source!r} -> {self.target!r}>"


class ScriptDeployment(Deployment):
    """Upload a script, make it executable, run it, and keep what it printed.

    After :meth:`run`, ``stdout``, ``stderr`` and ``exit_status`` hold the
    result. ``script`` is the script's text (it should start with a ``#!``
    line) or an open text file holding it. ``args`` are passed to it, each
    quoted for the shell (unlike Apache Libcloud, which joins them unquoted).
    ``name`` is the remote file name (default: ``overcast_deployment_<random>.sh``
    in the home directory); ``delete`` removes it afterwards; ``timeout`` limits
    the run in seconds (:class:`~overcast.compute.ssh.SSHCommandTimeout`).

    A non-zero exit status is recorded, not raised (as in Apache Libcloud);
    pass ``check=True`` to raise :class:`ScriptFailed` instead, which makes
    ``deploy_node`` retry and then fail with a
    :class:`DeploymentError`.
    """

    def __init__(self, script: str | IO[str], args: list[str] | None = None,
                 name: str | None = None, delete: bool = False, timeout: float | None = None, *,
                 check: bool = False) -> None:
        self.script = _text("script", script)
        self.args = list(args or [])
        self.name = name or f"overcast_deployment_{uuid.uuid4().hex[:8]}.sh"
        self.delete = delete
        self.timeout = timeout
        self.check = check
        self.stdout: str | None = None
        self.stderr: str | None = None
        self.exit_status: int | None = None

    def run(self, node: Node, client: SSHClient) -> Node:
        """Upload the script (mode 0755), run it with its arguments, record the result."""
        path = client.put(self.name, contents=self.script, chmod=0o755)
        command = shlex.join([path, *self.args])
        self.stdout, self.stderr, self.exit_status = client.run(command, timeout=self.timeout)
        if self.delete:
            client.delete(path)
        if self.check and self.exit_status != 0:
            raise ScriptFailed(self.name, self.exit_status, self.stdout, self.stderr)
        return node

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} exit_status={self.exit_status!r}>"


class ScriptFileDeployment(ScriptDeployment):
    """A :class:`ScriptDeployment` whose script is read from the local file ``script_file``."""

    def __init__(self, script_file: str | os.PathLike[str], args: list[str] | None = None,
                 name: str | None = None, delete: bool = False, timeout: float | None = None, *,
                 check: bool = False) -> None:
        with open(script_file, encoding="utf-8") as f:
            script = f.read()
        super().__init__(script, args, name, delete, timeout, check=check)
        self.script_file = os.fspath(script_file)


class MultiStepDeployment(Deployment):
    """Several deployments run in order, each given the node the previous returned."""

    def __init__(self, add: Deployment | Iterable[Deployment] | None = None) -> None:
        self.steps: list[Deployment] = []
        if add is not None:
            self.add(add)

    def add(self, add: Deployment | Iterable[Deployment]) -> None:
        """Append one step, or several in order."""
        if isinstance(add, Deployment):
            self.steps.append(add)
            return
        for step in add:
            if not isinstance(step, Deployment):
                raise TypeError(f"not a Deployment: {step!r}")
            self.steps.append(step)

    def run(self, node: Node, client: SSHClient) -> Node:
        """Run every step in order; stop at the first that raises."""
        for step in self.steps:
            node = step.run(node, client)
        return node

    def __repr__(self) -> str:
        return f"<MultiStepDeployment steps={self.steps!r}>"


# -- deploy_node ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Login:
    """How ``deploy_node`` logs in to the node it made, and how long it tries."""

    usernames: list[str]
    port: int
    password: Secret | None
    key: ssh.KeyFiles | None
    ssh_timeout: float
    timeout: float
    wait_period: float
    host_keys: dict[str, Any]


def deploy_node(driver: NodeDriver, deploy: Deployment, *, ssh_username: str,
                ssh_alternate_usernames: Sequence[str] | None, ssh_port: int, ssh_timeout: float,
                ssh_key: ssh.KeyFiles | None, ssh_key_password: Secret | str | None,
                auth: NodeAuth | None, timeout: float, max_tries: int, ssh_interface: str,
                at_exit_func: Callable[..., object] | None, wait_period: float, name: str,
                size: NodeSize, image: NodeImage, location: NodeLocation | None,
                ssh_known_hosts: str | os.PathLike[str] | None,
                ssh_host_key_policy: ssh.HostKeyPolicy, paramiko_client: bool,
                **create_node_kwargs: Any) -> Op[Node]:
    """Operation: :meth:`NodeDriver.deploy_node
    <overcast.compute.base.NodeDriver.deploy_node>` on ``driver`` (same
    arguments, same steps): check everything, create the node, then
    :func:`_deploy_created_node` (guarded by ``at_exit_func``).
    ``paramiko_client`` says the driver's SSH client is the default one (paramiko,
    checked for before a node is made)."""
    if not isinstance(deploy, Deployment):
        raise InvalidInput(f"deploy must be a Deployment: {deploy!r}", driver=driver)
    if auth is not None and not isinstance(auth, NodeAuthSSHKey | NodeAuthPassword):
        raise InvalidInput(
            f"auth must be a NodeAuthSSHKey or a NodeAuthPassword: {type(auth).__name__}",
            driver=driver,
        )
    check_interface(ssh_interface, driver)
    check_positive("timeout", timeout, driver)
    check_positive("wait_period", wait_period, driver)
    if not isinstance(max_tries, int) or max_tries < 1:
        raise InvalidInput(f"max_tries must be at least 1: {max_tries!r}", driver=driver)
    ssh.check_key_files(ssh_key, driver=driver)
    host_keys = _host_keys(ssh_known_hosts, ssh_host_key_policy, driver)
    create = driver.create_node.op(name, size, image, location, auth, **create_node_kwargs)
    if paramiko_client:
        yield Call(ssh.require_paramiko)
    node = yield from create

    password = _login_password(auth, node)
    key_password = Secret(ssh_key_password) if ssh_key_password else None
    login = _Login(
        [ssh_username, *(ssh_alternate_usernames or ())], ssh_port, key_password or password,
        ssh_key, ssh_timeout, timeout, wait_period, host_keys,
    )
    secrets = tuple(s for s in (password, key_password) if s)
    work = _deploy_created_node(driver, node, deploy, login, max_tries, ssh_interface, secrets)
    if at_exit_func is None:
        return (yield from work)
    handler = at_exit_func

    def on_interrupt(exc: BaseException) -> Op[None]:
        if isinstance(exc, Exception) and not isinstance(exc, OperationCancelled):
            return  # a failure, not an interruption: DeploymentError tells the caller
        yield Call(handler, driver=driver, node=node)

    deployed: Node = yield Guarded(work, on_interrupt)
    return deployed


def _host_keys(
    known_hosts: str | os.PathLike[str] | None, policy: ssh.HostKeyPolicy, driver: NodeDriver
) -> dict[str, Any]:
    """The host-key keywords of ``_ssh_client``: only those the caller chose
    (overrides of ``_ssh_client`` written before they existed still work)."""
    chosen: dict[str, Any] = {}
    if known_hosts is not None:
        chosen["known_hosts"] = known_hosts
    if ssh.check_host_key_policy(policy, driver=driver) != "strict":
        chosen["host_key_policy"] = policy
    return chosen


def _login_password(auth: NodeAuth | None, node: Node) -> Secret | None:
    """The password to log in with: ``auth``'s, else (without ``auth``) the one
    the provider generated."""
    if isinstance(auth, NodeAuthPassword):
        return auth.password
    if auth is None and node.extra.get("password"):
        return Secret(node.extra["password"])
    return None


def _deploy_created_node(driver: NodeDriver, node: Node, deploy: Deployment, login: _Login,
                         max_tries: int, ssh_interface: str,
                         secrets: tuple[Secret, ...]) -> Op[Node]:
    """Wait until ``node`` runs, log in, run ``deploy``; any failure becomes a
    :class:`DeploymentError` carrying the node."""
    try:
        ready = yield from driver.wait_until_running.op(
            [node], login.wait_period, login.timeout, ssh_interface
        )
        node, addresses = ready[0]
        yield TimeBudget(login.timeout)  # logging in, by the deployment's own limit
        client = yield from _ssh_connect(driver, addresses[0], login)
        # The deployment's steps run as long as they need (each bounds its own
        # commands): the runtime's total does not cut them short.
        yield TimeBudget(login.timeout * max_tries)
        deployed: Node = yield Guarded(
            _run_deployment(driver, deploy, node, client, max_tries, login.wait_period),
            lambda exc: _close_ssh(driver, client),
        )
        yield from _close_ssh(driver, client)
        return deployed
    except OperationCancelled:
        raise
    except Exception as exc:
        raise DeploymentError(node, exc, driver=driver, secrets=secrets) from exc


def _ssh_connect(driver: NodeDriver, hostname: str, login: _Login) -> Op[SSHClient]:
    """Log in as each of the usernames in turn, in rounds, until one works or
    time is up. A host key that is unknown or wrong fails at once: waiting will
    not fix it."""
    deadline: float = (yield Call(time.monotonic)) + login.timeout
    last: BaseException | None = None
    while True:
        for username in login.usernames:
            client = driver._ssh_client(
                hostname, login.port, username, login.password, login.key, login.ssh_timeout,
                **login.host_keys,
            )
            try:
                yield Call(client.connect)
            except (OperationCancelled, OperationTimeout):
                raise
            except ssh.SSHHostKeyError:
                yield from _close_ssh(driver, client)
                raise
            except (OSError, ssh.SSHError) as exc:
                last = exc
                yield from _close_ssh(driver, client)
                continue
            return client
        now: float = yield Call(time.monotonic)
        if now >= deadline:
            raise OperationTimeout(
                f"could not log in over SSH to {hostname}:{login.port} as "
                f"{' or '.join(repr(u) for u in login.usernames)} within {login.timeout}s "
                f"(last error: {type(last).__name__}: {last})",
                driver=driver,
            ) from last
        yield Sleep(min(login.wait_period, deadline - now))


def _run_deployment(driver: NodeDriver, deploy: Deployment, node: Node, client: SSHClient,
                    max_tries: int, wait_period: float) -> Op[Node]:
    """Run ``deploy`` up to ``max_tries`` times; a command timeout is not retried."""
    tries = 0
    while True:
        try:
            deployed: Node = yield Call(deploy.run, node, client)
            return deployed
        except (OperationCancelled, OperationTimeout):
            raise
        except Exception as exc:
            tries += 1
            if tries >= max_tries:
                raise
            log.info(
                "[%s] deployment on node %s failed (try %d of %d): %s",
                driver.name, node.id, tries, max_tries, type(exc).__name__,
            )
        yield Sleep(wait_period)


def _close_ssh(driver: NodeDriver, client: SSHClient) -> Op[None]:
    """Close an SSH client; a failure to close is logged, not raised."""
    try:
        yield Call(client.close)
    except (OperationCancelled, OperationTimeout):
        raise
    except Exception:
        log.debug("[%s] closing an SSH client failed", driver.name, exc_info=True)
