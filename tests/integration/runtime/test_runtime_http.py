"""The runtime against a real HTTP server on 127.0.0.1, in both modes."""

from __future__ import annotations

import logging
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from overcast.errors import OperationTimeout
from overcast.errors import OutcomeUnknown
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import TransportError
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RetryPolicy
from overcast.runtime.transports.base import Timeouts
from servers.echo_driver import EchoDriver
from servers.httpd import ScriptedServer
from servers.httpd import cut_body
from servers.modes import MODES
from servers.modes import call

SECRET = "s3cr3t-VALUE-never-printed"
FAST_RETRY = RetryPolicy(max_attempts=4, base=0.01, cap=0.05)


SYNC_TRANSPORT = {"sync": "pycurl", "sync-urllib3": "urllib3", "async": "pycurl"}
_current = {"sync_transport": "pycurl"}


def make(server: ScriptedServer, **options: object) -> EchoDriver:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("sync_transport", _current["sync_transport"])
    return EchoDriver("AKIDTEST", SECRET, endpoint=server.url, **options)  # type: ignore[arg-type]


@pytest.fixture(params=[*MODES, "sync-urllib3"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Sync on each sync transport (pycurl, the default, and urllib3), and async."""
    _current["sync_transport"] = SYNC_TRANSPORT[request.param]
    yield str(request.param)
    _current["sync_transport"] = "pycurl"


def test_retries_503_then_succeeds(server: ScriptedServer, mode: str) -> None:
    status, body = call(mode, make(server), "fetch", "/flaky", params=[("fail", "2")])
    assert (status, body) == (200, b"finally")
    hits = server.state.hits("/flaky")
    assert len(hits) == 3
    # Every attempt is signed afresh: three distinct signatures and dates.
    assert len({h.headers["Authorization"] for h in hits}) == 3
    assert len({h.headers["X-Test-Date"] for h in hits}) == 3


def test_retry_after_is_honoured(server: ScriptedServer, mode: str) -> None:
    status, _ = call(
        mode, make(server), "fetch", "/flaky", params=[("fail", "1"), ("retry_after", "1")]
    )
    assert status == 200
    first, second = server.state.hits("/flaky")
    # The policy's own backoff is at most 0.05 s, so a gap of >= 1 s is Retry-After's.
    assert second.at - first.at >= 0.95


def test_429_exhausted_raises_rate_limited(server: ScriptedServer, mode: str) -> None:
    with pytest.raises(RateLimited) as info:
        call(mode, make(server), "fetch", "/always", params=[("status", "429")])
    assert info.value.retry_after == 0
    assert len(server.state.hits("/always")) == FAST_RETRY.max_attempts


def test_post_that_reached_the_server_is_not_resent(server: ScriptedServer, mode: str) -> None:
    with pytest.raises(OutcomeUnknown):
        call(mode, make(server), "fetch", "/drop", method="POST", body=b"create-me")
    assert len(server.state.hits("/drop")) == 1
    with pytest.raises(OutcomeUnknown) as info:
        call(mode, make(server), "fetch", "/always", method="POST", body=b"x")
    assert info.value.status == 503
    assert len(server.state.hits("/always")) == 1


def test_idempotent_request_is_retried_after_a_dropped_connection(
    server: ScriptedServer, mode: str
) -> None:
    with pytest.raises(TransportError):
        call(mode, make(server), "fetch", "/drop")
    assert len(server.state.hits("/drop")) == FAST_RETRY.max_attempts


def test_connection_refused_is_retried_then_raised(mode: str) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    driver = EchoDriver("k", SECRET, endpoint=f"http://127.0.0.1:{port}", retry=FAST_RETRY)
    with pytest.raises(TransportError) as info:
        call(mode, driver, "fetch", "/ok", method="POST", body=b"x")
    assert SECRET not in str(info.value)


def test_read_timeout_raises_operation_timeout(server: ScriptedServer, mode: str) -> None:
    driver = make(server, timeout=Timeouts(connect=2, read=0.3), retry=RetryPolicy(max_attempts=1))
    with pytest.raises(OperationTimeout):
        call(mode, driver, "fetch", "/slow", params=[("delay", "2")])


def test_total_timeout_covers_retries(server: ScriptedServer, mode: str) -> None:
    driver = make(
        server,
        timeout=Timeouts(connect=2, read=5, total=0.6),
        retry=RetryPolicy(max_attempts=50, base=0.05, cap=0.1),
    )
    with pytest.raises(OperationTimeout):
        call(mode, driver, "fetch", "/slow", params=[("delay", "2")])
    # The read timeout was cut to the 0.6 s budget and no retry fit in what was left.
    assert len(server.state.hits("/slow")) == 1


def test_streaming_body_is_not_resent_but_a_file_is_rewound(
    server: ScriptedServer, mode: str, tmp_path: object
) -> None:
    driver = make(server)
    chunks = iter([b"a" * 1000, b"b" * 1000])
    status, _ = call(mode, driver, "fetch", "/flaky", method="PUT", body=chunks,
                     params=[("fail", "1")])
    assert status == 503  # a one-shot iterator cannot be replayed
    assert len(server.state.hits("/flaky")) == 1

    server.reset()
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "body.bin"
    path.write_bytes(b"0123456789" * 1000)
    with path.open("rb") as f:
        status, body = call(mode, driver, "fetch", "/flaky", method="PUT", body=f,
                            params=[("fail", "1")])
    assert (status, body) == (200, b"finally")
    first, second = server.state.hits("/flaky")
    assert first.body == second.body == path.read_bytes()


def test_streamed_download_holds_only_a_few_chunks(server: ScriptedServer, mode: str) -> None:
    driver = make(server)
    size = 50 * 1024 * 1024
    tracemalloc.start()
    try:
        if mode.startswith("sync"):
            total = sum(len(chunk) for chunk in driver.download("/big?mib=50"))
        else:

            async def main() -> int:
                async with driver.aio as view:
                    return sum([len(chunk) async for chunk in view.download("/big?mib=50")])

            total = anyio.run(main)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while streaming 50 MiB"


def test_parallel_really_overlaps(server: ScriptedServer, mode: str) -> None:
    paths = [f"/hold?delay=0.3&value={i}" for i in range(6)]
    bodies = call(mode, make(server), "fetch_many", paths, limit=6)
    assert bodies == [str(i).encode() for i in range(6)]  # in order
    assert server.state.peak_in_flight >= 2


def test_parallel_limit_is_respected(server: ScriptedServer, mode: str) -> None:
    paths = [f"/hold?delay=0.1&value={i}" for i in range(6)]
    call(mode, make(server), "fetch_many", paths, limit=2)
    assert server.state.peak_in_flight <= 2


def test_parallel_first_error_cancels_the_rest(server: ScriptedServer, mode: str) -> None:
    driver = make(server)
    paths = ["/always?status=400", *[f"/hold?delay=0.2&value={i}" for i in range(8)]]
    with pytest.raises(ProviderError) as info:
        call(mode, driver, "fetch_many", paths, limit=1)
    assert info.value.status == 400
    # With one worker, the failure came first and nothing else was started.
    assert len(server.state.hits("/hold")) == 0


def test_same_results_sync_and_async(server: ScriptedServer) -> None:
    driver = make(server)
    assert call("sync", driver, "iterate_pages", 5) == call("async", driver, "iterate_pages", 5)
    assert call("sync", driver, "iterate_pages", 5) == ["0", "1", "2", "3", "4"]
    paths = [f"/hold?delay=0&value={i}" for i in range(4)]
    assert call("sync", driver, "fetch_many", paths) == call("async", driver, "fetch_many", paths)


def test_iterator_streams_page_by_page(server: ScriptedServer) -> None:
    driver = make(server)
    pages = driver.iterate_pages(100)
    assert next(pages) == "0"
    assert len(server.state.hits("/echo-json")) == 1  # only the first page was fetched
    pages.close()


def test_one_driver_shared_by_many_threads(server: ScriptedServer) -> None:
    driver = make(server)
    results: dict[int, bytes] = {}

    def worker(i: int) -> None:
        results[i] = driver.fetch(f"/hold?delay=0.05&value={i}")[1]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: str(i).encode() for i in range(12)}


def test_httpx_transports_work_too(server: ScriptedServer, mode: str) -> None:
    driver = make(server, sync_transport="httpx", async_transport="httpx")
    assert call(mode, driver, "fetch", "/flaky", params=[("fail", "1")]) == (200, b"finally")
    assert call(mode, driver, "download", "/big?mib=3") == b"\xab" * (3 * 1024 * 1024)


def test_async_runs_on_trio(server: ScriptedServer) -> None:
    driver = make(server)

    async def main() -> list[bytes]:
        async with driver.aio as view:
            return await view.fetch_many([f"/hold?delay=0.05&value={i}" for i in range(3)])

    assert anyio.run(main, backend="trio") == [b"0", b"1", b"2"]


def test_hooks_see_every_attempt(server: ScriptedServer, mode: str) -> None:
    events: list[object] = []
    hooks = Hooks(on_request=[events.append], on_response=[events.append])
    call(mode, make(server, hooks=hooks), "fetch", "/flaky", params=[("fail", "1")])
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["RequestEvent", "ResponseEvent"] * 2


def test_no_secret_in_logs_reprs_or_errors(
    server: ScriptedServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    texts: list[str] = []
    hooks = Hooks(on_request=[lambda e: texts.append(repr(e))],
                  on_response=[lambda e: texts.append(repr(e))])
    driver = make(server, hooks=hooks)
    texts.append(repr(driver))
    texts.append(repr(driver.aio))
    texts.append(repr(vars(driver)))
    with caplog.at_level(logging.DEBUG, logger="overcast"):
        call(mode, driver, "fetch", "/flaky", params=[("fail", "1"), ("token", SECRET)])
        for path in ("/drop", "/always?status=500"):
            try:
                call(mode, driver, "fetch", path, method="POST", body=b"x")
            except Exception as exc:
                texts.extend([str(exc), repr(exc)])
    texts.extend(record.getMessage() for record in caplog.records)
    # The signed Authorization header did reach the server...
    assert all("sig=" in h.headers["Authorization"] for h in server.state.requests)
    signatures = {h.headers["Authorization"].split("sig=")[1] for h in server.state.requests}
    joined = "\n".join(texts)
    assert caplog.records, "debug logging produced nothing to check"
    # ...but neither the secret nor any signature appears in text we produced.
    assert SECRET not in joined
    for signature in signatures:
        assert signature not in joined


def test_every_request_names_overcast_as_its_user_agent(
    server: ScriptedServer, mode: str
) -> None:
    from overcast import __version__

    call(mode, make(server), "fetch", "/ok")
    assert server.state.hits("/ok")[-1].headers["User-Agent"] == f"overcast/{__version__}"


@pytest.mark.parametrize(
    "name", ["pycurl", "urllib3", "httpx", "pycurl-async", "aiohttp", "httpx-async"]
)
def test_a_requests_own_user_agent_replaces_the_transports(
    server: ScriptedServer, name: str
) -> None:
    from overcast.runtime.effects import Request
    from overcast.runtime.transports.aiohttp import AiohttpTransport
    from overcast.runtime.transports.httpx import HttpxAsyncTransport
    from overcast.runtime.transports.httpx import HttpxSyncTransport
    from overcast.runtime.transports.pycurl import PycurlTransport
    from overcast.runtime.transports.pycurl_async import PycurlAsyncTransport
    from overcast.runtime.transports.urllib3 import Urllib3Transport

    sync = {"pycurl": PycurlTransport, "urllib3": Urllib3Transport, "httpx": HttpxSyncTransport}
    asynchronous = {"pycurl-async": PycurlAsyncTransport, "aiohttp": AiohttpTransport,
                    "httpx-async": HttpxAsyncTransport}
    seen = []
    for own in ({}, {"user-agent": "mine/1"}):
        request = Request("GET", f"{server.url}/ok", dict(own))
        if name in sync:
            transport = sync[name](user_agent="overcast/test")
            transport.send(request, connect_timeout=5, read_timeout=5)
            transport.close()
        else:

            async def main(request: Request) -> None:
                transport = asynchronous[name](user_agent="overcast/test")
                await transport.send(request, connect_timeout=5, read_timeout=5)
                await transport.aclose()

            anyio.run(main, request)
        hit = server.state.hits("/ok")[-1]
        seen.append([v for k, v in hit.headers.items() if k.lower() == "user-agent"])
    assert seen == [["overcast/test"], ["mine/1"]]


class _Collect:
    """A sink that keeps a digest and a count, and can fail after some bytes."""

    def __init__(self, fail_after: int | None = None) -> None:
        import hashlib

        self.digest = hashlib.sha256()
        self.count = 0
        self.calls = 0
        self.largest = 0
        self.fail_after = fail_after

    def write(self, data: bytes) -> None:
        if self.fail_after is not None and self.count >= self.fail_after:
            raise OSError(28, "No space left on device")
        self.digest.update(data)
        self.count += len(data)
        self.calls += 1
        self.largest = max(self.largest, len(data))


def test_a_pipe_delivers_the_whole_body_into_its_sink(server: ScriptedServer, mode: str) -> None:
    import hashlib

    sink = _Collect()
    written = call(mode, make(server), "save", "/big?mib=8", sink)
    assert written == sink.count == 8 * 1024 * 1024
    assert sink.digest.hexdigest() == hashlib.sha256(b"\xab" * (8 * 1024 * 1024)).hexdigest()


def test_libcurl_pushes_a_body_in_batches_of_bounded_size(server: ScriptedServer) -> None:
    """libcurl's 16 KiB pieces reach the sink joined, about PUSH_BATCH bytes at
    a time (a few calls, not 512), and never more than a batch and one piece:
    the transfer pauses while a full batch is handed over."""
    from overcast.runtime.transports.pycurl import _READ_CHUNK
    from overcast.runtime.transports.pycurl import PUSH_BATCH

    sink = _Collect()
    written = call("sync", make(server, sync_transport="pycurl"), "save", "/big?mib=8", sink)
    assert written == sink.count == 8 * 1024 * 1024
    assert sink.calls <= 8 * 1024 * 1024 // PUSH_BATCH + 2
    assert sink.largest < PUSH_BATCH + _READ_CHUNK


def test_a_failing_sink_stops_the_pipe_with_its_own_error(
    server: ScriptedServer, mode: str
) -> None:
    sink = _Collect(fail_after=1024 * 1024)
    driver = make(server)
    with pytest.raises(OSError, match="No space left"):
        call(mode, driver, "save", "/big?mib=20", sink)
    assert sink.count < 20 * 1024 * 1024
    # The driver is still usable: the broken transfer's connection was not reused.
    assert call(mode, driver, "fetch", "/ok") == (200, b"ok:")


SAS_SIGNATURE = "Ab+cD/eF==zz9"  # characters clients encode differently


@pytest.mark.parametrize(
    ("sync_transport", "async_transport", "run"),
    [("pycurl", None, "sync"), ("urllib3", None, "sync"), ("httpx", None, "sync"),
     ("pycurl", "pycurl", "async"), ("pycurl", "aiohttp", "async"),
     ("pycurl", "httpx", "async")],
    ids=["pycurl", "urllib3", "httpx", "pycurl-async", "aiohttp", "httpx-async"],
)
def test_a_sas_signature_echoed_or_logged_is_redacted(
    server: ScriptedServer, sync_transport: str, async_transport: str | None, run: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that echoes the request line (Azure does, on a refused SAS), and
    client libraries that log URLs (httpx at INFO, urllib3 at DEBUG): the SAS
    signature appears in no error and no log record, in any encoding."""
    from urllib.parse import quote
    from urllib.parse import quote_plus

    options: dict[str, object] = {"sync_transport": sync_transport}
    if async_transport is not None:
        options["async_transport"] = async_transport
    driver = make(server, **options)
    params = [("sv", "2024-08-04"), ("sig", SAS_SIGNATURE), ("se", "2030-01-01")]
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError) as info:
        call(run, driver, "fetch", "/echo-url", params=params, check=True)
    echoed = server.state.hits("/echo-url")[-1]
    assert echoed.query["sig"] == [SAS_SIGNATURE]  # it did go out, as signed
    texts = [str(info.value), repr(info.value), *(r.getMessage() for r in caplog.records)]
    joined = "\n".join(texts)
    assert "AuthenticationFailed" in str(info.value)
    for spelling in {SAS_SIGNATURE, quote(SAS_SIGNATURE, safe=""), quote_plus(SAS_SIGNATURE),
                     quote(SAS_SIGNATURE)}:
        assert spelling not in joined, spelling


TRANSPORTS = pytest.mark.parametrize(
    ("sync_transport", "async_transport", "run"),
    [("pycurl", None, "sync"), ("urllib3", None, "sync"), ("httpx", None, "sync"),
     ("pycurl", "pycurl", "async"), ("pycurl", "aiohttp", "async"),
     ("pycurl", "httpx", "async")],
    ids=["pycurl", "urllib3", "httpx", "pycurl-async", "aiohttp", "httpx-async"],
)


def _options(sync_transport: str, async_transport: str | None) -> dict[str, object]:
    options: dict[str, object] = {"sync_transport": sync_transport}
    if async_transport is not None:
        options["async_transport"] = async_transport
    return options


def test_the_defaults_bound_every_call() -> None:
    """What a user gets without saying anything (documented in the README)."""
    assert Timeouts() == Timeouts(connect=10.0, read=60.0, total=120.0, min_rate=1024.0)
    assert RetryPolicy().max_attempts == 5


@TRANSPORTS
def test_a_server_that_never_answers_is_given_up_on_within_the_total(
    server: ScriptedServer, sync_transport: str, async_transport: str | None, run: str
) -> None:
    """A GET is retried after each read timeout, but the total cuts the retries
    short: with read 0.3 s and total 1 s, at most four attempts whatever the load
    (each takes at least the read timeout)."""
    driver = make(server, timeout=Timeouts(connect=2, read=0.3, total=1.0),
                  retry=RetryPolicy(max_attempts=20, base=0.01, cap=0.02),
                  **_options(sync_transport, async_transport))
    with pytest.raises(OperationTimeout):
        call(run, driver, "fetch", "/silent")
    attempts = len(server.state.hits("/silent"))
    assert 1 <= attempts <= 4, attempts


@TRANSPORTS
@pytest.mark.parametrize("streamed", [False, True], ids=["read-whole", "streamed"])
def test_a_server_that_trickles_is_given_up_on(
    server: ScriptedServer, sync_transport: str, async_transport: str | None, run: str,
    streamed: bool,
) -> None:
    """One byte every 50 ms is 20 bytes/s, under a floor of 100 bytes/s: the
    transfer fails once a read window (0.5 s) has passed, read whole or streamed,
    although bytes keep coming well within the read timeout. No total is set,
    so only the minimum rate can end it."""
    driver = make(server, timeout=Timeouts(connect=2, read=0.5, total=None, min_rate=100),
                  retry=RetryPolicy(max_attempts=1), **_options(sync_transport, async_transport))
    if streamed:
        method, args, kwargs = "download", ("/trickle?every=0.05",), {}
    else:
        method, args, kwargs = "fetch", ("/trickle",), {"params": [("every", "0.05")]}
    with pytest.raises((OperationTimeout, TransportError)):
        call(run, driver, method, *args, **kwargs)


@TRANSPORTS
def test_a_request_that_must_not_be_resent_reaches_the_server_once(
    server: ScriptedServer, sync_transport: str, async_transport: str | None, run: str
) -> None:
    """The second request goes on the connection the first kept alive; the
    server reads it and closes without answering. A client library that quietly
    resends on a fresh connection (libcurl does, for a reused one) would deliver
    it twice; the runtime must see the loss and report the outcome unknown."""
    driver = make(server, **_options(sync_transport, async_transport))
    assert call(run, driver, "fetch", "/ok", method="PUT")[0] == 200
    with pytest.raises(OutcomeUnknown):
        call(run, driver, "fetch", "/drop", method="PUT", idempotent=False)
    assert len(server.state.hits("/drop")) == 1


def _cut_download(run: str, driver: EchoDriver, path: str, tmp_path: Path,
                  saved: bool) -> bytes:
    """``path`` downloaded as a stream, or saved to a file through a Pipe."""
    if not saved:
        data: bytes = call(run, driver, "download", path)
        return data
    target = tmp_path / "saved.bin"
    with open(target, "wb") as sink:
        call(run, driver, "save", path, sink)
    return target.read_bytes()


@TRANSPORTS
@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("saved", [False, True], ids=["streamed", "piped"])
def test_a_body_cut_in_the_middle_is_resumed_where_it_broke(
    server: ScriptedServer, sync_transport: str, async_transport: str | None, run: str,
    how: str, saved: bool, tmp_path: Path,
) -> None:
    """Cut twice, 100,000 bytes into each answer: the rest is asked for with a
    Range from the first byte missing and If-Match, and the reader gets the
    whole body once, in order; the hooks are told of each resumption."""
    resumed: list[int] = []
    hooks = Hooks(on_resume=[lambda event: resumed.append(event.received)])
    driver = make(server, hooks=hooks, **_options(sync_transport, async_transport))
    size = 3 * 1024 * 1024
    data = _cut_download(run, driver, f"/cut?cuts=2&after=100000&how={how}&size={size}",
                         tmp_path, saved)
    assert data == cut_body(size)
    assert resumed == [100000, 200000]
    asked = [(hit.headers.get("Range"), hit.headers.get("If-Match"))
             for hit in server.state.hits("/cut")]
    assert asked == [(None, None), ("bytes=100000-3145727", '"v1"'),
                     ("bytes=200000-3145727", '"v1"')]


@TRANSPORTS
@pytest.mark.parametrize(
    ("query", "says"),
    [("change=2", "the object changed"), ("ignore_range=1", "answered 200")],
    ids=["changed", "range-ignored"],
)
def test_a_body_whose_rest_is_not_the_same_object_is_not_resumed(
    server: ScriptedServer, sync_transport: str, async_transport: str | None, run: str,
    query: str, says: str,
) -> None:
    driver = make(server, **_options(sync_transport, async_transport))
    with pytest.raises(TransportError, match=says):
        call(run, driver, "download", f"/cut?cuts=1&after=1000&{query}")
    assert len(server.state.hits("/cut")) == 2


@TRANSPORTS
def test_a_body_named_by_a_weak_etag_is_not_resumed(
    server: ScriptedServer, sync_transport: str, async_transport: str | None, run: str,
) -> None:
    driver = make(server, **_options(sync_transport, async_transport))
    with pytest.raises(TransportError):
        call(run, driver, "download", "/cut?cuts=1&after=1000&weak=1")
    assert len(server.state.hits("/cut")) == 1


def test_a_body_that_keeps_breaking_without_progress_ends(
    server: ScriptedServer, mode: str
) -> None:
    """Every answer breaks before its first byte: after as many tries as the
    policy allows attempts, the stream fails."""
    driver = make(server)
    with pytest.raises(TransportError):
        call(mode, driver, "download", "/cut?cuts=100&after=0")
    # The first answer, then FAST_RETRY.max_attempts fruitless resumptions.
    assert len(server.state.hits("/cut")) == 1 + FAST_RETRY.max_attempts
