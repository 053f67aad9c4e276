"""What every server launcher in tests/servers needs: a free port and a clean stop."""

from __future__ import annotations

import socket
import subprocess

__all__ = ["EXIT_WITH_PARENT", "free_port", "stop_process"]


#: Source for a server started as ``python -c``: a daemon thread that ends the
#: process when the process that started it is gone (a test worker killed
#: before its clean-up ran), so that no server outlives its test run.
EXIT_WITH_PARENT = """
import os as _os, threading as _threading, time as _time
def _exit_with_parent(parent=_os.getppid()):
    while _os.getppid() == parent:
        _time.sleep(1)
    _os._exit(0)
_threading.Thread(target=_exit_with_parent, daemon=True).start()
"""


def free_port(*, udp: bool = False) -> int:
    """A port free on 127.0.0.1 for TCP (and for UDP too with ``udp=True``, as DNS
    servers need), as far as can be known before the server binds it."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            if not udp:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
                try:
                    datagram.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """TERM a server process, then KILL it if it has not exited after ``timeout``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
