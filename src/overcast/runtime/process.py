"""Local programs and local sockets, as effects the runners perform.

Some drivers drive a program rather than a web API (restic for backups,
HAProxy's ``-c`` check) or talk to a daemon over a UNIX socket (HAProxy's
runtime and master CLIs). They yield these effects, and the runner owns the
processes and sockets, as it owns HTTP connections: the same operation runs in
either mode, is bounded by the operation's deadline, and stops its program when
the operation is cancelled or times out.

* :class:`Run` runs a program to its end and returns a :class:`Completed`
  (exit status, standard output and error). Each line of standard output can be
  handed to ``on_line`` as it arrives (a progress report).
* :class:`Start` starts a program that outlives the operation (a backup job the
  caller follows and may cancel) and returns its :class:`ProcessHandle`;
  :class:`Wait` waits for one, within the operation's deadline.
* :class:`Converse` sends bytes to a UNIX socket and returns what the other
  end answers until it closes (HAProxy's CLI: one command per connection).

Secrets go to a program through its environment (``env`` values may be
:class:`~overcast.runtime.redact.Secret`, revealed only into the child), never
on its command line, where ``ps`` shows them: a ``Secret`` in ``argv`` is
refused.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import IO
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import TransportError
from overcast.runtime.redact import Secret

if TYPE_CHECKING:
    from overcast.runtime.effects import Op

__all__ = [
    "Completed",
    "Converse",
    "ProcessHandle",
    "Run",
    "Start",
    "Wait",
    "converse",
    "converse_op",
    "run_op",
    "start",
]

#: Seconds a program is given to stop after its stop signal, before SIGKILL.
DEFAULT_GRACE = 10.0


@dataclass(frozen=True, slots=True)
class Completed:
    """How a program ended: its exit status (negative: killed by that signal)
    and everything it wrote."""

    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        """Whether it exited with status 0."""
        return self.returncode == 0

    def lines(self) -> list[str]:
        """Standard output as text lines (UTF-8, errors replaced)."""
        return self.stdout.decode("utf-8", "replace").splitlines()


@dataclass(frozen=True, slots=True)
class Start:
    """Start ``argv`` (no shell) and return its :class:`ProcessHandle` at once.

    ``env`` is added to the runner's environment (``Secret`` values revealed
    into the child only); ``cwd`` is its directory; ``input`` is written to its
    standard input, which is then closed; ``on_line`` gets each line of its
    standard output as it arrives (in a reader thread: keep it quick).
    ``stop_signal`` is what stopping it sends first (SIGINT lets restic drop
    its lock), SIGKILL following after ``grace`` seconds.
    """

    argv: Sequence[str]
    env: Mapping[str, str | Secret] = field(default_factory=dict)
    cwd: str | None = None
    input: bytes | None = None
    on_line: Callable[[str], None] | None = None
    stop_signal: int = signal.SIGINT
    grace: float = DEFAULT_GRACE


@dataclass(frozen=True, slots=True)
class Run(Start):
    """Run ``argv`` to its end and return its :class:`Completed`.

    As :class:`Start`, plus ``timeout`` (else the operation's deadline bounds
    it). When the operation is cancelled or runs out of time, the program is
    stopped (``stop_signal``, then SIGKILL) before the error is raised.
    """

    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait for a started program to end (within ``timeout`` and the
    operation's deadline) and return its :class:`Completed`. Running out of
    time raises :class:`~overcast.errors.OperationTimeout` and leaves the
    program running (``stop`` it if that is wanted)."""

    process: ProcessHandle
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Converse:
    """Send ``data`` to the UNIX socket at ``path``, then read the answer until
    the other end closes; return it. ``timeout`` bounds the whole exchange
    (else the driver's read timeout)."""

    path: str
    data: bytes
    timeout: float | None = None


class ProcessHandle:
    """A program started by :class:`Start` (or :class:`Run`): its output is
    collected by reader threads, so it can be followed from either mode and
    from any operation. Thread-safe."""

    def __init__(self, spec: Start) -> None:
        import subprocess  # here, not at import: slow to load

        self.argv = tuple(spec.argv)
        self._spec = spec
        self._lock = threading.Lock()
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        environment = dict(os.environ)
        for name, value in spec.env.items():
            environment[name] = value.reveal() if isinstance(value, Secret) else value
        try:
            self._popen = subprocess.Popen(
                self.argv, cwd=spec.cwd, env=environment,
                stdin=subprocess.PIPE if spec.input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True,  # a terminal's Ctrl-C is the caller's, not the child's
            )
        except FileNotFoundError:
            raise NotSupported(f"the program {self.argv[0]!r} is not installed here") from None
        except PermissionError as exc:
            raise InvalidInput(f"cannot run {self.argv[0]!r}: {exc.strerror}") from None
        assert self._popen.stdout is not None and self._popen.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_lines, args=(self._popen.stdout,), daemon=True),
            threading.Thread(target=self._read_all, args=(self._popen.stderr,), daemon=True),
        ]
        if spec.input is not None:
            self._readers.append(threading.Thread(target=self._write, args=(spec.input,),
                                                  daemon=True))
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        """The process id."""
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once it has ended, else None."""
        return self._popen.poll()

    def output(self) -> bytes:
        """Standard output so far."""
        with self._lock:
            return b"".join(self._out)

    def lines(self) -> list[str]:
        """Standard output so far, as complete text lines."""
        text = self.output().decode("utf-8", "replace")
        return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]

    def signal(self, number: int) -> None:
        """Send signal ``number`` (nothing if it has ended)."""
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._popen.send_signal(number)

    def wait(self, timeout: float | None = None) -> Completed:
        """Wait for it to end and for its output to be read; OperationTimeout
        after ``timeout`` seconds (it keeps running)."""
        import subprocess  # here, not at import: slow to load

        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise OperationTimeout(
                f"{self.argv[0]!r} still running after {timeout:.3g}s"
            ) from None
        for reader in self._readers:
            reader.join()
        with self._lock:
            return Completed(self._popen.returncode, b"".join(self._out), b"".join(self._err))

    def stop(self) -> Completed:
        """Stop it: its stop signal, then SIGKILL if it has not ended within the
        grace period; its end."""
        self.signal(self._spec.stop_signal)
        try:
            return self.wait(self._spec.grace)
        except OperationTimeout:
            self.signal(signal.SIGKILL)
            return self.wait()

    def _read_lines(self, stream: IO[bytes]) -> None:
        on_line = self._spec.on_line
        with stream:
            for line in stream:
                with self._lock:
                    self._out.append(line)
                if on_line is not None:
                    with contextlib.suppress(Exception):  # a broken callback stops nothing
                        on_line(line.decode("utf-8", "replace").rstrip("\r\n"))

    def _read_all(self, stream: IO[bytes]) -> None:
        with stream:
            while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read():
                with self._lock:
                    self._err.append(chunk)

    def _write(self, data: bytes) -> None:
        stdin = self._popen.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError), stdin:
            stdin.write(data)

    def __repr__(self) -> str:
        return f"ProcessHandle({self.argv[0]!r}, pid={self.pid}, returncode={self.returncode})"


def start(spec: Start) -> ProcessHandle:
    """Start ``spec``'s program (the runners' implementation of :class:`Start`)."""
    if not spec.argv:
        raise InvalidInput("a program to run is needed")
    arguments: Sequence[object] = spec.argv  # typed as text; checked as anything
    for argument in arguments:
        if isinstance(argument, Secret):
            raise InvalidInput("a secret must not be passed on a command line: use env")
        if not isinstance(argument, str) or "\0" in argument:
            raise InvalidInput(f"a command-line argument must be text without NUL: {argument!r}")
    return ProcessHandle(spec)


def converse(effect: Converse, timeout: float) -> bytes:
    """Perform :class:`Converse` with a blocking socket (the sync runner's way;
    the async runner calls it in a worker thread)."""
    import socket  # here, not at import: slow to load

    limit = effect.timeout if effect.timeout is not None else timeout
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(limit)
            sock.connect(effect.path)
            sock.sendall(effect.data)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
    except TimeoutError:
        raise OperationTimeout(f"no answer from {effect.path} within {limit:.3g}s") from None
    except OSError as exc:
        raise TransportError(f"cannot talk to {effect.path}: {exc.strerror or exc}") from None


def run_op(effect: Run) -> Op[Completed]:
    """An operation step that has the runner run ``effect``'s program to its
    end: ``done = yield from run_op(Run([...]))`` (typed; the process effects
    are not in the HTTP effects' ``Effect`` union)."""
    done: Completed = yield cast(Any, effect)
    return done


def converse_op(effect: Converse) -> Op[bytes]:
    """An operation step that has the runner perform ``effect``'s exchange
    with a UNIX socket and returns the answer (typed, as :func:`run_op`)."""
    answer: bytes = yield cast(Any, effect)
    return answer
