"""SSH for deployments: the client protocol ``deploy_node`` uses, and a paramiko client.

:class:`SSHClient` is what a :class:`~overcast.compute.deployment.Deployment`
works on. Its methods block, so :meth:`NodeDriver.deploy_node
<overcast.compute.base.NodeDriver.deploy_node>` calls them through
:class:`~overcast.runtime.effects.Call` effects: directly with the sync runner,
in a worker thread with the async one.

:class:`ParamikoSSHClient` implements it with paramiko, which is an optional
dependency (``pip install 'overcast[ssh]'``) imported on first use.

Host keys are checked by default, as OpenSSH's ``StrictHostKeyChecking yes``
does: a server whose key is not in ``known_hosts`` is refused
(:class:`SSHHostKeyUnknown`), and so is one whose key differs from the known
one (:class:`SSHHostKeyMismatch`). ``host_key_policy="accept-new"`` trusts
the key of a host seen for the first time (and records it in the
``known_hosts`` file given), which is what a brand-new cloud node usually
needs; a changed key is refused under every policy.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import time
from collections.abc import Sequence
from typing import Any
from typing import Literal
from typing import Protocol
from typing import TypeAlias
from typing import runtime_checkable

from overcast.errors import InvalidInput
from overcast.errors import OperationTimeout
from overcast.errors import OvercastError
from overcast.extras import require
from overcast.runtime.redact import Secret

__all__ = [
    "DEFAULT_KNOWN_HOSTS",
    "HOST_KEY_POLICIES",
    "HostKeyPolicy",
    "KeyFiles",
    "ParamikoSSHClient",
    "SSHAuthenticationFailed",
    "SSHClient",
    "SSHCommandTimeout",
    "SSHError",
    "SSHHostKeyError",
    "SSHHostKeyMismatch",
    "SSHHostKeyUnknown",
    "check_host_key_policy",
    "check_key_files",
    "known_hosts_name",
    "require_paramiko",
]

log = logging.getLogger(__name__)

#: One private key, or several to try in order. A key is a file path, or the
#: key itself (OpenSSH or PEM text, recognised by its ``-----BEGIN`` line, or
#: any :class:`~overcast.runtime.redact.Secret`).
KeyFiles: TypeAlias = (
    str | os.PathLike[str] | Secret | Sequence[str | os.PathLike[str] | Secret]
)

#: What to do with a host key that is not in ``known_hosts``: ``"strict"``
#: refuses it (the default), ``"accept-new"`` trusts it and records it.
HostKeyPolicy: TypeAlias = Literal["strict", "accept-new"]
HOST_KEY_POLICIES: tuple[HostKeyPolicy, ...] = ("strict", "accept-new")

#: The files read when no ``known_hosts`` is given (as OpenSSH reads them).
DEFAULT_KNOWN_HOSTS: tuple[str, ...] = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")

_CHUNK = 64 * 1024
_POLL = 0.02


class SSHError(OvercastError):
    """An SSH connection or session failed (the server refused or broke the protocol).

    A host that cannot be reached yet raises :class:`OSError` instead;
    ``deploy_node`` retries both until its timeout while a new node boots
    (except :class:`SSHHostKeyError`, which is never retried).
    """


class SSHAuthenticationFailed(SSHError):
    """The SSH server rejected the credentials (on a new node: maybe not installed yet)."""


class SSHHostKeyError(SSHError):
    """The server's host key could not be verified; the connection was refused.

    ``host`` is the name looked up in ``known_hosts`` (``"[10.0.0.5]:2222"``
    for a port other than 22), ``key_type`` and ``fingerprint`` (``SHA256:...``,
    as ``ssh-keygen -l`` prints it) describe the key the server offered.
    ``deploy_node`` does not retry it: a key will not become known by waiting.
    """

    def __init__(self, message: str, *, host: str, key_type: str = "", fingerprint: str = "",
                 driver: Any = None) -> None:
        super().__init__(message, driver=driver)
        self.host = host
        self.key_type = key_type
        self.fingerprint = fingerprint


class SSHHostKeyUnknown(SSHHostKeyError):
    """The server's host key is not in ``known_hosts`` and the policy is ``"strict"``."""


class SSHHostKeyMismatch(SSHHostKeyError):
    """The server offered a host key different from the one in ``known_hosts``.

    Someone may be intercepting the connection (or the host was reinstalled).
    ``expected_fingerprint`` is the fingerprint of the known key. Refused under
    every policy.
    """

    def __init__(self, message: str, *, host: str, key_type: str = "", fingerprint: str = "",
                 expected_fingerprint: str = "", driver: Any = None) -> None:
        super().__init__(
            message, host=host, key_type=key_type, fingerprint=fingerprint, driver=driver
        )
        self.expected_fingerprint = expected_fingerprint


class SSHCommandTimeout(SSHError, OperationTimeout):
    """A remote command ran longer than its timeout; it is not retried.

    ``command`` is the command line and ``stdout``/``stderr`` what it printed
    so far. The message names neither, as a command line may hold secrets.
    The session is closed; the remote process may keep running until it next
    writes to its closed output.
    """

    def __init__(self, command: str, timeout: float, *, stdout: str = "", stderr: str = "",
                 driver: Any = None) -> None:
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

        Raise :class:`OSError` when the host cannot be reached,
        :class:`SSHHostKeyError` when its host key is unknown or wrong, and
        :class:`SSHError` (or :class:`SSHAuthenticationFailed`) when SSH fails.
        """

    def put(self, path: str, contents: str | bytes | None = None, chmod: int | None = None,
            mode: str = "w") -> str:
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


def _round_trip(transport: Any) -> None:
    """A request the server answers (an OpenSSH keepalive), waited for: every
    packet the server sent before its answer has been read by then."""
    try:
        transport.global_request("keepalive@openssh.com", wait=True)
    except Exception:  # the connection is going away: nothing more will come
        return


def _paramiko() -> Any:
    return require("paramiko", "ssh", what="SSH deployment")


def require_paramiko() -> None:
    """Raise :class:`~overcast.extras.MissingExtra` (a NotSupported and an
    ImportError) unless paramiko can be imported.

    ``deploy_node`` calls this (as a :class:`~overcast.runtime.effects.Call`)
    before it creates a node, so a missing extra never leaves a node behind.
    """
    _paramiko()


def check_host_key_policy(policy: object, *, driver: Any = None) -> HostKeyPolicy:
    """Return ``policy`` if it is one of :data:`HOST_KEY_POLICIES`, else raise InvalidInput."""
    for known in HOST_KEY_POLICIES:
        if policy == known:
            return known
    raise InvalidInput(
        f"host key policy must be one of {', '.join(map(repr, HOST_KEY_POLICIES))}: {policy!r}",
        driver=driver,
    )


def check_key_files(key_files: KeyFiles | None, *, driver: Any = None) -> None:
    """Raise InvalidInput unless ``key_files`` is keys :class:`ParamikoSSHClient` takes.

    Each must be a path or a key's text, and at most one may be text.
    """
    try:
        _, texts = _split_keys(key_files)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, driver=driver) from None
    if len(texts) > 1:
        raise InvalidInput("at most one SSH private key may be given as text", driver=driver)


def known_hosts_name(hostname: str, port: int) -> str:
    """The name OpenSSH files a host's key under: ``host``, or ``[host]:port`` off port 22."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


def _is_key_text(value: str) -> bool:
    return "-----BEGIN " in value and "PRIVATE KEY-----" in value


def _split_keys(key_files: KeyFiles | None) -> tuple[list[str], list[Secret]]:
    """Separate key file paths (expanded) from keys given as text."""
    if key_files is None:
        return [], []
    items: list[str | os.PathLike[str] | Secret] = (
        [key_files] if isinstance(key_files, str | os.PathLike | Secret) else list(key_files)
    )
    paths: list[str] = []
    texts: list[Secret] = []
    for item in items:
        if isinstance(item, Secret):
            texts.append(item)
        elif isinstance(item, str) and _is_key_text(item):
            texts.append(Secret(item))
        elif isinstance(item, str | os.PathLike):
            paths.append(os.path.expanduser(os.fspath(item)))
        else:
            raise InvalidInput(f"an SSH key must be a path or the key's text: {type(item)}")
    return paths, texts


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")


def _fingerprint(key: Any) -> str:
    try:
        return str(key.fingerprint)
    except Exception:  # pragma: no cover - paramiko < 3.2
        return ""


def _append_known_host(path: str, host: str, key: Any) -> None:
    """Append ``host keytype base64`` to a known_hosts file, creating it (mode 0600)."""
    line = f"{host} {key.get_name()} {key.get_base64()}\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line
        os.write(fd, line.encode("ascii"))
    finally:
        os.close(fd)


class _HostKeyPolicy:
    """paramiko's ``MissingHostKeyPolicy`` interface (duck-typed: paramiko stays lazy).

    paramiko calls it only for a host with no key at all in the loaded files;
    a host known with another key raises ``BadHostKeyException`` instead.
    """

    def __init__(self, policy: HostKeyPolicy, known_hosts: str | None, where: str) -> None:
        self.policy = policy
        self.known_hosts = known_hosts
        self.where = where

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        key_type = str(key.get_name())
        fingerprint = _fingerprint(key)
        if self.policy != "accept-new":
            raise SSHHostKeyUnknown(
                f"host key of {hostname} ({key_type} {fingerprint}) is not in {self.where}; "
                "refusing to connect (add it to known_hosts, or choose the host key "
                "policy 'accept-new' to trust a new host on first use)",
                host=hostname, key_type=key_type, fingerprint=fingerprint,
            )
        client.get_host_keys().add(hostname, key_type, key)
        if self.known_hosts is not None:
            try:
                _append_known_host(self.known_hosts, hostname, key)
            except OSError as exc:
                log.warning(
                    "could not record the host key of %s in %s: %s",
                    hostname, self.known_hosts, exc.strerror or exc,
                )
        log.info("accepted the new host key of %s (%s %s)", hostname, key_type, fingerprint)


class ParamikoSSHClient:
    """An :class:`SSHClient` built on paramiko.

    Credentials: ``password`` (also the passphrase of encrypted keys) and
    ``key_files``: private keys, each a path or the key's text (OpenSSH or PEM,
    ed25519, ECDSA or RSA; at most one as text). ``key_material`` is another
    way to give a key as text. With none of them, the SSH agent and the
    default keys in ``~/.ssh`` are tried.

    Host keys: ``known_hosts`` is an OpenSSH known_hosts file (default: the
    user's ``~/.ssh/known_hosts`` and ``/etc/ssh/ssh_known_hosts``, read
    only). With ``host_key_policy="strict"`` (the default), a host whose key is
    not there is refused with :class:`SSHHostKeyUnknown`; with
    ``"accept-new"`` its key is trusted and appended to the ``known_hosts``
    file given (the default files are never written). A key that differs from
    the known one is refused with :class:`SSHHostKeyMismatch` under both.

    ``timeout`` (seconds) bounds the TCP connection, the SSH banner, the
    authentication, opening a channel and each SFTP exchange.
    """

    def __init__(self, hostname: str, port: int = 22, username: str = "root",
                 password: Secret | str | None = None, key_files: KeyFiles | None = None,
                 timeout: float | None = None, *, key_material: Secret | str | None = None,
                 known_hosts: str | os.PathLike[str] | None = None,
                 host_key_policy: HostKeyPolicy = "strict") -> None:
        self.hostname = hostname
        self.port = port
        self.username = username
        self.password = None if password is None else Secret(password)
        check_key_files(key_files)
        paths, texts = _split_keys(key_files)
        if key_material is not None:
            texts.append(Secret(key_material))
        if len(texts) > 1:
            raise InvalidInput("give a private key as text in key_files or key_material, not both")
        self.key_files = paths
        self.key_material: Secret | None = texts[0] if texts else None
        self.timeout = timeout
        self.known_hosts = (
            None if known_hosts is None else os.path.expanduser(os.fspath(known_hosts))
        )
        self.host_key_policy: HostKeyPolicy = check_host_key_policy(host_key_policy)
        self._client: Any = None

    def __repr__(self) -> str:
        return f"<ParamikoSSHClient {self.username}@{self.hostname}:{self.port}>"

    def _pkey(self, paramiko: Any) -> Any:
        if self.key_material is None:
            return None
        passphrase = self.password.reveal() if self.password else None
        for name in ("Ed25519Key", "ECDSAKey", "RSAKey"):
            key_class = getattr(paramiko, name, None)
            if key_class is None:
                continue
            try:
                return key_class.from_private_key(
                    io.StringIO(self.key_material.reveal()), password=passphrase
                )
            except (paramiko.SSHException, ValueError):
                continue
        raise SSHError("the private key given as text is not one paramiko can read")

    def _load_host_keys(self, client: Any) -> str:
        """Load the known host keys into ``client``; return where they came from."""
        if self.known_hosts is not None:
            if os.path.exists(self.known_hosts):
                try:
                    client.get_host_keys().load(self.known_hosts)
                except OSError as exc:
                    raise SSHHostKeyError(
                        f"cannot read the known_hosts file {self.known_hosts}: "
                        f"{exc.strerror or exc}",
                        host=known_hosts_name(self.hostname, self.port),
                    ) from exc
            return self.known_hosts
        for path in DEFAULT_KNOWN_HOSTS:
            try:
                client.load_system_host_keys(os.path.expanduser(path))
            except OSError:
                continue
        return " or ".join(DEFAULT_KNOWN_HOSTS)

    def connect(self) -> None:
        """Open the connection, verify the host key and authenticate.

        See :meth:`SSHClient.connect`.
        """
        paramiko = _paramiko()
        pkey = self._pkey(paramiko)
        client = paramiko.SSHClient()
        options: dict[str, Any] = {
            "hostname": self.hostname,
            "port": self.port,
            "username": self.username,
            "timeout": self.timeout,
            "banner_timeout": self.timeout,
            "auth_timeout": self.timeout,
            "channel_timeout": self.timeout,
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
        host = known_hosts_name(self.hostname, self.port)
        try:
            source = self._load_host_keys(client)
            client.set_missing_host_key_policy(
                _HostKeyPolicy(self.host_key_policy, self.known_hosts, source)
            )
            client.connect(**options)
        except paramiko.BadHostKeyException as exc:
            client.close()
            got, expected = exc.key, exc.expected_key
            raise SSHHostKeyMismatch(
                f"host key of {host} does not match {source}: the server offered "
                f"{got.get_name()} {_fingerprint(got)}, expected {expected.get_name()} "
                f"{_fingerprint(expected)}; refusing to connect (someone may be "
                "intercepting the connection, or the host was reinstalled)",
                host=host, key_type=str(got.get_name()), fingerprint=_fingerprint(got),
                expected_fingerprint=_fingerprint(expected),
            ) from exc
        except paramiko.ssh_exception.NoValidConnectionsError as exc:
            client.close()
            # paramiko folds the per-address errors into one with errno None: raise the
            # first as it was (ConnectionRefusedError, ...), so callers see what happened.
            inner = next(iter(exc.errors.values()), None)
            if isinstance(inner, OSError):
                raise inner from exc
            raise
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

    def _sftp(self) -> Any:
        sftp = self._connected().open_sftp()
        if self.timeout is not None:
            sftp.get_channel().settimeout(self.timeout)
        return sftp

    def put(self, path: str, contents: str | bytes | None = None, chmod: int | None = None,
            mode: str = "w") -> str:
        """Write a remote file over SFTP (see :meth:`SSHClient.put`)."""
        if mode not in ("w", "a"):
            raise ValueError(f"mode must be 'w' or 'a': {mode!r}")
        data = contents.encode("utf-8") if isinstance(contents, str) else (contents or b"")
        sftp = self._sftp()
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
        """Run a command, reading its output as it comes (see :meth:`SSHClient.run`).

        The exit status is ``-1`` if the command was killed by a signal; a
        connection lost while it runs raises :class:`SSHError`.
        """
        transport = self._connected().get_transport()
        channel = transport.open_session(timeout=self.timeout)
        stdout, stderr = bytearray(), bytearray()
        try:
            channel.exec_command(cmd)
            # The command's time runs from when the server started it, not
            # from opening the session (slow on a loaded host).
            started = time.monotonic()
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
                    # What the command wrote before its time ran out may still be
                    # on the way: a round trip to the server (ordered after it on
                    # the connection) brings it in, however slow the host is.
                    _round_trip(transport)
                    while channel.recv_ready():
                        stdout += channel.recv(_CHUNK)
                    while channel.recv_stderr_ready():
                        stderr += channel.recv_stderr(_CHUNK)
                    raise SSHCommandTimeout(
                        cmd, timeout, stdout=_decode(stdout), stderr=_decode(stderr)
                    )
                if not busy:
                    time.sleep(_POLL)
            status = int(channel.recv_exit_status())
            if status == -1 and not transport.is_active():
                raise SSHError(
                    f"the SSH connection to {self.hostname}:{self.port} was lost "
                    "while a command ran"
                )
        finally:
            channel.close()
        return _decode(stdout), _decode(stderr), status

    def delete(self, path: str) -> None:
        """Delete a remote file over SFTP."""
        sftp = self._sftp()
        try:
            sftp.remove(path)
        finally:
            sftp.close()

    def close(self) -> None:
        """Close the connection."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
