"""The example driver of ``examples/nimbus_dns`` in the DNS conformance suite,
against its own fixture server (one per test process)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest

from nimbus_dns.driver import NimbusDNSDriver
from nimbus_dns.server import NimbusState
from nimbus_dns.server import serve
from overcast.runtime.policy import Hooks
from servers.dns_target import DNSTarget

TOKEN = "nimbus-conformance-token"
_lock = threading.Lock()
_running: tuple[NimbusState, str] | None = None


def running(request: pytest.FixtureRequest) -> tuple[NimbusState, str]:
    """The fixture server of this test process, started on first use."""
    global _running
    with _lock:
        if _running is None:
            stack = contextlib.ExitStack()
            _running = stack.enter_context(serve(TOKEN))
            request.config.add_cleanup(stack.close)
        return _running


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> DNSTarget:
    """The conformance factory: a driver with a small page size, its requests recorded."""
    _, endpoint = running(request)
    requests: list[object] = []
    driver = NimbusDNSDriver(TOKEN, endpoint=endpoint, page_size=5,
                             hooks=Hooks(on_request=[requests.append]))
    return DNSTarget(driver=driver, requests=requests)
