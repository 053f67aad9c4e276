"""The fault proxy itself, against the suite's scripted HTTP server: what it
forwards, each fault as a client sees it, the seeded draws, and its counts.

These take milliseconds and need no external server, so they are not marked
``soak``: the soaks' instrument is checked even when the soaks are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from servers.faultproxy import FAULT_KINDS
from servers.faultproxy import FaultProxy
from servers.faultproxy import Faults
from servers.httpd import ScriptedServer
from servers.procs import free_port

#: What a client sees when an answer is cut or missing.
BROKEN = (ConnectionError, http.client.HTTPException)


def connect(proxy: FaultProxy) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)


def get(proxy: FaultProxy, path: str = "/ok") -> tuple[int, bytes]:
    """One GET on a new connection: status and body."""
    conn = connect(proxy)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


#: Makes a running proxy to the scripted server: ``proxy_to(faults=None)``.
MakeProxy = Callable[..., FaultProxy]


@pytest.fixture
def proxy_to(server: ScriptedServer) -> Iterator[MakeProxy]:
    """Makes proxies to the scripted server, each stopped after the test."""
    made: list[FaultProxy] = []

    def make(faults: Faults | None = None) -> FaultProxy:
        proxy = FaultProxy(server.url, faults).start()
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.stop()


def test_forwards_on_one_kept_alive_connection_with_the_clients_host(
    server: ScriptedServer, proxy_to: MakeProxy
) -> None:
    proxy = proxy_to()
    conn = connect(proxy)
    sockets = set()
    for body in (b"one", b"two" * 1000, b""):
        conn.request("PUT", "/ok?x=1", body=body, headers={"X-Signed": "kept"})
        answer = conn.getresponse()
        assert (answer.status, answer.read()) == (200, b"ok:" + body)
        sockets.add(id(conn.sock))
    conn.close()
    assert len(sockets) == 1  # keep-alive: one client connection for the three
    seen = server.state.requests
    assert [r.body for r in seen] == [b"one", b"two" * 1000, b""]
    assert {r.headers["Host"] for r in seen} == {f"127.0.0.1:{proxy.port}"}
    assert {r.headers["X-Signed"] for r in seen} == {"kept"}
    assert {r.query["x"][0] for r in seen} == {"1"}
    figures = proxy.figures()
    assert (figures.requests, figures.forwarded, figures.failures) == (3, 3, 0)


def test_a_chunked_body_is_forwarded_whole_with_its_length(
    server: ScriptedServer, proxy_to: MakeProxy
) -> None:
    proxy = proxy_to()
    conn = connect(proxy)
    conn.request("POST", "/ok", body=iter([b"ab", b"cde"]), encode_chunked=True)
    answer = conn.getresponse()
    assert (answer.status, answer.read()) == (200, b"ok:abcde")
    conn.close()
    (seen,) = server.state.requests
    assert seen.headers["Content-Length"] == "5"
    assert "Transfer-Encoding" not in seen.headers


def test_a_503_is_answered_without_forwarding(
    server: ScriptedServer, proxy_to: MakeProxy
) -> None:
    proxy = proxy_to(Faults(unavailable=1.0))
    conn = connect(proxy)
    for _ in range(2):  # the connection stays usable after a 503
        conn.request("PUT", "/ok", body=b"data")
        answer = conn.getresponse()
        assert answer.status == 503
        answer.read()
    conn.close()
    assert server.state.requests == []
    figures = proxy.figures()
    assert figures.injected["unavailable"] == 2
    assert (figures.forwarded, figures.failures) == (0, 2)


def test_a_503_to_a_head_request_has_no_body(
    server: ScriptedServer, proxy_to: MakeProxy
) -> None:
    proxy = proxy_to(Faults(unavailable=1.0, limit=1))
    conn = connect(proxy)
    conn.request("HEAD", "/ok")
    answer = conn.getresponse()
    assert answer.status == 503
    answer.read()
    conn.request("GET", "/ok")  # the same connection: nothing left over in it
    answer = conn.getresponse()
    assert (answer.status, answer.read()) == (200, b"ok:")
    conn.close()
    assert [r.method for r in server.state.requests] == ["GET"]


@pytest.mark.parametrize("kind", ["reset", "truncate", "drop"])
def test_a_broken_answer_comes_after_the_server_acted(
    server: ScriptedServer, proxy_to: MakeProxy, kind: str
) -> None:
    proxy = proxy_to(Faults.single(kind))
    with pytest.raises(BROKEN):
        get(proxy)
    assert [r.path for r in server.state.requests] == ["/ok"]
    figures = proxy.figures()
    assert figures.injected == {k: int(k == kind) for k in FAULT_KINDS}
    assert figures.failures == 1


def test_a_truncation_is_a_short_body_then_the_end_of_the_connection(
    proxy_to: MakeProxy
) -> None:
    proxy = proxy_to(Faults(truncate=1.0))
    conn = connect(proxy)
    conn.request("GET", "/big?mib=1")
    answer = conn.getresponse()
    assert answer.status == 200
    with pytest.raises(http.client.IncompleteRead) as cut:
        answer.read()
    conn.close()
    assert len(cut.value.partial) < 1024 * 1024


def test_a_truncation_passes_an_answer_without_a_body_uncounted(
    proxy_to: MakeProxy
) -> None:
    proxy = proxy_to(Faults(truncate=1.0))
    conn = connect(proxy)
    conn.request("HEAD", "/ok")
    answer = conn.getresponse()
    assert answer.status == 200
    assert answer.getheader("Content-Length") == "3"
    answer.read()
    conn.close()
    assert proxy.figures().failures == 0


def test_a_delay_holds_the_answer_back(
    proxy_to: MakeProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy's pause is asked of its event loop with the configured length
    (recorded, not timed), and the answer then arrives whole."""
    asked: list[float] = []
    pause = asyncio.sleep

    async def recorded(seconds: float, *args: Any) -> Any:
        asked.append(seconds)
        return await pause(seconds, *args)

    monkeypatch.setattr("servers.faultproxy.asyncio.sleep", recorded)
    proxy = proxy_to(Faults(delay=1.0, delay_seconds=0.2))
    assert get(proxy) == (200, b"ok:")
    assert asked == [0.2]
    assert proxy.figures().injected["delay"] == 1
    assert proxy.figures().failures == 0


def test_the_same_seed_draws_the_same_faults(proxy_to: MakeProxy) -> None:
    def draws(seed: int) -> list[str]:
        proxy = proxy_to(Faults(unavailable=0.2, drop=0.2, delay=0.1, delay_seconds=0,
                                seed=seed))
        for _ in range(60):
            with contextlib.suppress(*BROKEN):
                get(proxy)
        return [fault.kind for fault in proxy.injected()]

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    assert {"unavailable", "drop", "delay"} <= set(first)


def test_allow_spares_requests_and_limit_caps_the_faults(
    server: ScriptedServer, proxy_to: MakeProxy
) -> None:
    proxy = proxy_to(Faults(unavailable=1.0, limit=2,
                            allow=lambda kind, method, target: target.startswith("/ok?hit")))
    statuses = [get(proxy, path)[0] for path in ["/ok", "/ok?hit=1", "/ok", "/ok?hit=2",
                                                 "/ok?hit=3"]]
    assert statuses == [200, 503, 200, 503, 200]
    figures = proxy.figures()
    assert figures.injected["unavailable"] == 2
    assert figures.spared["unavailable"] == 2  # the two GETs of /ok; /ok?hit=3 is over the limit
    assert [(f.method, f.target) for f in proxy.injected()] == [("GET", "/ok?hit=1"),
                                                               ("GET", "/ok?hit=2")]


def test_a_server_that_is_gone_is_a_502_counted_apart() -> None:
    with FaultProxy(f"http://127.0.0.1:{free_port()}") as proxy:
        status, body = get(proxy)
        figures = proxy.figures()
    assert status == 502
    assert b"upstream failed" in body
    assert (figures.upstream_errors, figures.failures) == (1, 0)


def test_server_errors_are_counted_apart(proxy_to: MakeProxy) -> None:
    proxy = proxy_to()
    assert get(proxy, "/always?status=500")[0] == 500
    assert proxy.figures().server_errors == 1


def test_rates_are_checked() -> None:
    with pytest.raises(ValueError, match="fault rates"):
        Faults(drop=1.5)
    with pytest.raises(ValueError, match="fault rates"):
        Faults(drop=0.6, reset=0.6)
    with pytest.raises(ValueError, match="fault rates"):
        Faults.single("delay", -0.1)
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.single("slow")
