"""SSH for deployments: the client protocol ``deploy_node`` uses, and a paramiko client.

:class:`SSHClient` is what a :class:`~overcast.compute.deployment.Deployment`
works on. Its methods block, so :meth:`NodeDriver.deploy_node
<overcast.compute.base.NodeDriver.deploy_node>` calls them through
:class:`~overcast.runtime.effects.Call` effects: directly with the sync runner,
in a worker thread with the async one.

:class:`ParamikoSSHClient` implements it with paramiko, which is an optional
dependency (``pip install 'overcast[ssh]'``) imported on first use.
"""

from __future__ import annotations

import importlib
import os
import posixpath
import time
from collections.abc import Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

from overcast.errors import NotSupported, OperationTimeout, OvercastError
from overcast.runtime.redact import Secret

__all__ = [
    "KeyFiles",
    "ParamikoSSHClient",
    "SSHAuthenticationFailed",
    "SSHClient",
    "SSHCommandTimeout",
    "SSHError",
    "require_paramiko",
]

#: One private key file, or several to try in order.
KeyFiles: TypeAlias = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

_CHUNK = 64 * 1024
_POLL = 0.02


class SSHError(OvercastError):
    """An SSH connection or session failed (the server refused or broke the protocol).

    A host that cannot be reached yet raises :class:`OSError` instead;
    ``deploy_node`` retries both until its timeout while a new node boots.
    """


class SSHAuthenticationFailed(SSHError):
    """The SSH server rejected the credentials (on a new node: maybe not installed yet)."""


class SSHCommandTimeout(SSHError, OperationTimeout):
    """A remote command ran longer than its timeout; it is not retried.

    ``command`` is the command line and ``stdout``/``stderr`` what it printed
    so far. The message names neither, as a command line may hold secrets.
    """

    def __init__(
        self,
        command: str,
        timeout: float,
        *,
        stdout: str = "",
        stderr: str = "",
        driver: Any = None,
    ) -> None:
        super().__init__(f"remote command did not finish within {timeout}s", driver=driver)
        self.command = command
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr


@runtime_checkable
class SSHClient(Protocol):
    """A blocking SSH session to one host, as deployments use it.

    Relative remote paths are relative to the login user's home directory.
    """

    def connect(self) -> None:
        """Open the connection and authenticate.

        Raise :class:`OSError` when the host cannot be reached and
        :class:`SSHError` (or :class:`SSHAuthenticationFailed`) when SSH fails.
        """

    def put(
        self, path: str, contents: str | bytes | None = None, chmod: int | None = None,
        mode: str = "w",
    ) -> str:
        """Write ``contents`` to the remote file ``path`` and return its absolute path.

        ``mode`` is ``"w"`` (replace) or ``"a"`` (append); missing parent
        directories are created; ``chmod`` sets the file's permission bits.
        """

    def run(self, cmd: str, timeout: float | None = None) -> tuple[str, str, int]:
        """Run a shell command; return ``(stdout, stderr, exit_status)``.

        Raise :class:`SSHCommandTimeout` if it runs longer than ``timeout`` seconds.
        """

    def delete(self, path: str) -> None:
        """Delete the remote file ``path``."""

    def close(self) -> None:
        """Close the connection (a no-op if it is not open)."""


def _paramiko() -> Any:
    try:
        return importlib.import_module("paramiko")
    except ImportError as exc:
        raise NotSupported(
            "SSH deployment needs paramiko: pip install 'overcast[ssh]'"
        ) from exc


def require_paramiko() -> None:
    """Raise :class:`~overcast.errors.NotSupported` unless paramiko can be imported.

    ``deploy_node`` calls this (as a :class:`~overcast.runtime.effects.Call`)
    before it creates a node, so a missing extra never leaves a node behind.
    """
    _paramiko()


def _key_file_list(key_files: KeyFiles | None) -> list[str]:
    if key_files is None:
        return []
    if isinstance(key_files, str | os.PathLike):
        return [os.path.expanduser(os.fspath(key_files))]
    return [os.path.expanduser(os.fspath(k)) for k in key_files]


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")


class ParamikoSSHClient:
    """An :class:`SSHClient` built on paramiko.

    Credentials: ``password`` (also the passphrase of encrypted keys),
    ``key_files`` (paths to private keys) and ``key_material`` (a private key in
    PEM/OpenSSH text). With none of them, the SSH agent and the default keys in
    ``~/.ssh`` are tried.

    Host keys: a node made a moment ago has a host key nobody knows yet, so by
    default it is accepted on first use, as Apache Libcloud does. Pass
    ``known_hosts`` (a file in OpenSSH format) to verify it instead; an unknown
    key is then rejected.
    """

    def __init__(
        self,
        hostname: str,
        port: int = 22,
        username: str = "root",
        password: Secret | str | None = None,
        key_files: KeyFiles | None = None,
        timeout: float | None = None,
        *,
        key_material: Secret | str | None = None,
        known_hosts: str | os.PathLike[str] | None = None,
    ) -> None:
        self.hostname = hostname
        self.port = port
        self.username = username
        self.password = None if password is None else Secret(password)
        self.key_files = _key_file_list(key_files)
        self.key_material = None if key_material is None else Secret(key_material)
        self.timeout = timeout
        self.known_hosts = None if known_hosts is None else os.fspath(known_hosts)
        self._client: Any = None

    def __repr__(self) -> str:
        return f"<ParamikoSSHClient {self.username}@{self.hostname}:{self.port}>"

    def _pkey(self, paramiko: Any) -> Any:
        if self.key_material is None:
            return None
        import io

        passphrase = self.password.reveal() if self.password else None
        for name in ("Ed25519Key", "ECDSAKey", "RSAKey"):
            key_class = getattr(paramiko, name, None)
            if key_class is None:
                continue
            try:
                return key_class.from_private_key(
                    io.StringIO(self.key_material.reveal()), password=passphrase
                )
            except paramiko.SSHException:
                continue
        raise SSHError("key_material is not a private key paramiko can read")

    def connect(self) -> None:
        """Open the connection and authenticate (see :meth:`SSHClient.connect`)."""
        paramiko = _paramiko()
        pkey = self._pkey(paramiko)
        client = paramiko.SSHClient()
        if self.known_hosts is not None:
            client.load_host_keys(self.known_hosts)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        options: dict[str, Any] = {
            "hostname": self.hostname,
            "port": self.port,
            "username": self.username,
            "timeout": self.timeout,
            "banner_timeout": self.timeout,
            "auth_timeout": self.timeout,
            "allow_agent": False,
            "look_for_keys": False,
        }
        if self.password:
            options["password"] = self.password.reveal()
            options["passphrase"] = self.password.reveal()
        if self.key_files:
            options["key_filename"] = self.key_files
        if pkey is not None:
            options["pkey"] = pkey
        if not (self.password or self.key_files or pkey is not None):
            options["allow_agent"] = True
            options["look_for_keys"] = True
        where = f"{self.username}@{self.hostname}:{self.port}"
        try:
            client.connect(**options)
        except paramiko.AuthenticationException as exc:
            client.close()
            raise SSHAuthenticationFailed(f"SSH authentication as {where} failed") from exc
        except paramiko.SSHException as exc:
            client.close()
            raise SSHError(f"SSH connection to {where} failed: {exc}") from exc
        except BaseException:
            client.close()
            raise
        self._client = client

    def _connected(self) -> Any:
        if self._client is None:
            raise SSHError(f"not connected to {self.hostname}:{self.port}; call connect() first")
        return self._client

    def put(
        self, path: str, contents: str | bytes | None = None, chmod: int | None = None,
        mode: str = "w",
    ) -> str:
        """Write a remote file over SFTP (see :meth:`SSHClient.put`)."""
        if mode not in ("w", "a"):
            raise ValueError(f"mode must be 'w' or 'a': {mode!r}")
        data = contents.encode("utf-8") if isinstance(contents, str) else (contents or b"")
        sftp = self._connected().open_sftp()
        try:
            full = path if path.startswith("/") else posixpath.join(sftp.normalize("."), path)
            self._makedirs(sftp, posixpath.dirname(full))
            with sftp.open(full, mode + "b") as remote:
                remote.write(data)
            if chmod is not None:
                sftp.chmod(full, chmod)
            return full
        finally:
            sftp.close()

    @staticmethod
    def _makedirs(sftp: Any, directory: str) -> None:
        current = "/"
        for part in [p for p in directory.split("/") if p]:
            current = posixpath.join(current, part)
            try:
                sftp.stat(current)
            except OSError:
                sftp.mkdir(current)

    def run(self, cmd: str, timeout: float | None = None) -> tuple[str, str, int]:
        """Run a command, reading its output as it comes (see :meth:`SSHClient.run`)."""
        channel = self._connected().get_transport().open_session()
        stdout, stderr = bytearray(), bytearray()
        started = time.monotonic()
        try:
            channel.exec_command(cmd)
            while True:
                busy = False
                while channel.recv_ready():
                    stdout += channel.recv(_CHUNK)
                    busy = True
                while channel.recv_stderr_ready():
                    stderr += channel.recv_stderr(_CHUNK)
                    busy = True
                if channel.exit_status_ready() and not (
                    channel.recv_ready() or channel.recv_stderr_ready()
                ):
                    break
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise SSHCommandTimeout(
                        cmd, timeout, stdout=_decode(stdout), stderr=_decode(stderr)
                    )
                if not busy:
                    time.sleep(_POLL)
            status = int(channel.recv_exit_status())
        finally:
            channel.close()
        return _decode(stdout), _decode(stderr), status

    def delete(self, path: str) -> None:
        """Delete a remote file over SFTP."""
        sftp = self._connected().open_sftp()
        try:
            sftp.remove(path)
        finally:
            sftp.close()

    def close(self) -> None:
        """Close the connection."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
