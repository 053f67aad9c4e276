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
"""

from __future__ import annotations

import os
import shlex
import stat
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from overcast.errors import OvercastError
from overcast.runtime.redact import Secret, redact_text

if TYPE_CHECKING:
    from overcast.compute.base import Node
    from overcast.compute.ssh import SSHClient

__all__ = [
    "Deployment",
    "DeploymentError",
    "FileDeployment",
    "MultiStepDeployment",
    "SSHKeyDeployment",
    "ScriptDeployment",
    "ScriptFailed",
    "ScriptFileDeployment",
]


class DeploymentError(OvercastError):
    """``deploy_node`` created a node but could not finish deploying it.

    ``node`` is the node that was created (it is *not* destroyed: inspect it or
    call ``node.destroy()``); ``error`` is the failure (also the exception's
    ``__cause__``); ``value`` is Apache Libcloud's name for it. The message
    never contains the SSH password or key passphrase.
    """

    def __init__(
        self,
        node: Node,
        error: BaseException,
        *,
        driver: Any = None,
        secrets: Iterable[str | Secret] = (),
    ) -> None:
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

    def __init__(
        self,
        script: str | IO[str],
        args: list[str] | None = None,
        name: str | None = None,
        delete: bool = False,
        timeout: float | None = None,
        *,
        check: bool = False,
    ) -> None:
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

    def __init__(
        self,
        script_file: str | os.PathLike[str],
        args: list[str] | None = None,
        name: str | None = None,
        delete: bool = False,
        timeout: float | None = None,
        *,
        check: bool = False,
    ) -> None:
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
