"""Programs and UNIX sockets as effects (runtime/process.py), in both modes:
output collected and streamed by line, secrets through the environment only,
programs stopped when their time runs out, and a socket conversation."""

from __future__ import annotations

import os
import signal
import socketserver
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from typing import ClassVar

import pytest

from overcast.driver import BaseDriver
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import TransportError
from overcast.runtime.effects import Op
from overcast.runtime.operation import operation
from overcast.runtime.process import Completed
from overcast.runtime.process import Converse
from overcast.runtime.process import ProcessHandle
from overcast.runtime.process import Run
from overcast.runtime.process import Start
from overcast.runtime.process import Wait
from overcast.runtime.redact import Secret
from overcast.testing import call


class ProgramDriver(BaseDriver):
    """Performs whatever effect it is given: the runners' test subject."""

    name: ClassVar[str] = "programs"
    area: ClassVar[str] = "test"

    @operation
    def perform(self, effect: Any) -> Op[Any]:
        """The runner's result for ``effect``."""
        result = yield effect
        return result


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


#: A program that says it is ready, then waits for SIGINT, says so and exits 3.
PATIENT = python(
    "import os, signal, sys, time\n"
    "def stop(*_):\n"
    "    print('stopped', flush=True); sys.exit(3)\n"
    "signal.signal(signal.SIGINT, stop)\n"
    "print('ready', os.getpid(), flush=True)\n"
    "while True: time.sleep(3600)\n"
)


def children_named(marker: str) -> list[int]:
    """The live processes whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                state = Path(f"/proc/{entry}/stat").read_text().split()[2]
            except OSError:
                continue
            if marker.encode() in cmdline and state != "Z":
                found.append(int(entry))
    return found


def test_a_program_runs_to_its_end_with_its_output_and_lines(mode: str) -> None:
    lines: list[str] = []
    done: Completed = call(mode, ProgramDriver(), "perform", Run(
        python("import sys\nprint('one'); print('two')\n"
               "sys.stderr.write('trouble'); sys.exit(4)"),
        on_line=lines.append,
    ))
    assert (done.returncode, done.ok, done.lines(), done.stderr) == (
        4, False, ["one", "two"], b"trouble")
    assert lines == ["one", "two"]


def test_input_goes_to_standard_input_and_env_to_the_environment(mode: str) -> None:
    done: Completed = call(mode, ProgramDriver(), "perform", Run(
        python("import os, sys\nprint(sys.stdin.read().upper(), os.environ['OVERCAST_T'])"),
        input=b"hello", env={"OVERCAST_T": "there"},
    ))
    assert done.lines() == ["HELLO there"]


def _command_lines() -> list[bytes]:
    """Every running process's command line (one that ends while it is read is
    left out: other processes come and go meanwhile)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            found.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def test_a_secret_reaches_the_program_by_its_environment_never_its_command_line(
    mode: str,
) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    driver = ProgramDriver()
    handle: ProcessHandle = call(mode, driver, "perform", Start(
        PATIENT, env={"OVERCAST_PASSWORD": Secret(secret)}))
    try:
        assert not any(secret.encode() in line for line in _command_lines())
        environ = Path(f"/proc/{handle.pid}/environ").read_bytes()
        assert f"OVERCAST_PASSWORD={secret}".encode() in environ.split(b"\0")
        assert secret not in repr(handle)
    finally:
        handle.stop()
    with pytest.raises(InvalidInput, match="command line"):
        call(mode, driver, "perform", Run([sys.executable, Secret(secret)]))  # type: ignore[list-item]


def test_a_program_that_is_not_installed_is_not_supported(mode: str) -> None:
    with pytest.raises(NotSupported, match="not installed"):
        call(mode, ProgramDriver(), "perform", Run(["overcast-no-such-program-here"]))


def test_a_started_program_is_followed_waited_for_and_stopped(mode: str) -> None:
    ready = threading.Event()
    driver = ProgramDriver()
    handle: ProcessHandle = call(mode, driver, "perform", Start(
        PATIENT, on_line=lambda line: ready.set() if line.startswith("ready") else None))
    assert ready.wait(60)
    assert handle.returncode is None and handle.lines()[0].startswith("ready")
    with pytest.raises(OperationTimeout, match="still running"):
        call(mode, driver, "perform", Wait(handle, timeout=0.01))
    assert handle.returncode is None  # waiting in vain leaves it running
    done = handle.stop()
    assert (done.returncode, done.lines()[-1]) == (3, "stopped")


def test_a_program_out_of_time_is_stopped_before_the_error(mode: str) -> None:
    """Whenever the time runs out (before or after its SIGINT handler is set),
    the program has ended, and been reaped, by the time the error is raised."""
    marker = f"overcast-marker-{uuid.uuid4().hex}"
    with pytest.raises(OperationTimeout):
        call(mode, ProgramDriver(), "perform", Run(
            [*PATIENT, marker], timeout=0.3, grace=30))
    assert children_named(marker) == []


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[str]:
    """A UNIX socket that answers what it read (until the writer's end), in capitals."""

    class Shout(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"> " + self.rfile.read().upper())

    path = str(tmp_path / "cli.sock")
    with socketserver.ThreadingUnixStreamServer(path, Shout) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield path
        server.shutdown()


def test_a_conversation_over_a_unix_socket(mode: str, socket_path: str) -> None:
    driver = ProgramDriver()
    assert call(mode, driver, "perform", Converse(socket_path, b"show info\n")) == (
        b"> SHOW INFO\n")


def test_a_socket_nobody_listens_on_is_a_transport_error(mode: str, tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="cannot talk to"):
        call(mode, ProgramDriver(), "perform", Converse(str(tmp_path / "none.sock"), b"x"))


def test_stop_signal_is_sent_first(mode: str) -> None:
    ready = threading.Event()
    handle: ProcessHandle = call(mode, ProgramDriver(), "perform", Start(
        PATIENT, stop_signal=signal.SIGTERM,
        on_line=lambda line: ready.set() if line.startswith("ready") else None))
    assert ready.wait(60)
    assert handle.stop().returncode == -signal.SIGTERM  # no handler for SIGTERM
