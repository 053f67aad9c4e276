"""The ``unix_socket`` and ``client_cert`` runtime options on every transport:
requests over a UNIX socket (a local engine's API), and mutual TLS where the
right client certificate passes and a wrong one is refused."""

from __future__ import annotations

import http.server
import socketserver
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from overcast.errors import TransportError
from overcast.runtime.policy import RetryPolicy
from servers.container_tls import Authority
from servers.container_tls import Pair
from servers.echo_driver import EchoDriver
from servers.transports import IDS
from servers.transports import TRANSPORTS

ONCE = RetryPolicy(max_attempts=2, base=0.01, cap=0.02)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"{self.path} host={self.headers.get('Host')}".encode()
        if self.path == "/big":
            body = b"x" * 3_000_000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet (and a UNIX socket's peer has no address to log)."""


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _TlsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(server: socketserver.BaseServer) -> Iterator[socketserver.BaseServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def unix_path(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "api.sock")
    yield from (path for _ in _serve(_UnixServer(path, _Handler)))


def _run(mode: str, driver: EchoDriver, op: str, *args: Any) -> Any:
    if mode == "sync":
        result = getattr(driver, op)(*args)
        return b"".join(result) if op == "download" else result

    async def main() -> Any:
        async with driver.aio as view:
            if op == "download":
                return b"".join([chunk async for chunk in view.download(*args)])
            return await getattr(view, op)(*args)

    return anyio.run(main)


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS, ids=IDS)
def test_requests_go_over_the_unix_socket(unix_path: str, mode: str,
                                          transport: dict[str, str]) -> None:
    driver = EchoDriver("k", "s", endpoint="http://docker", unix_socket=unix_path,
                        **transport)  # type: ignore[arg-type]
    status, body = _run(mode, driver, "fetch", "/v1.41/version")
    assert (status, body) == (200, b"/v1.41/version host=docker")
    # Streamed, and on the same pooled connection afterwards.
    assert _run(mode, driver, "download", "/big") == b"x" * 3_000_000
    assert _run(mode, driver, "fetch", "/again")[1] == b"/again host=docker"
    driver.close()


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS, ids=IDS)
def test_a_missing_socket_is_a_transport_error(tmp_path: Path, mode: str,
                                               transport: dict[str, str]) -> None:
    driver = EchoDriver("k", "s", endpoint="http://docker", retry=ONCE,
                        unix_socket=str(tmp_path / "absent.sock"),
                        **transport)  # type: ignore[arg-type]
    with pytest.raises(TransportError):
        _run(mode, driver, "fetch", "/_ping")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Authority, Pair, Pair]]:
    """A server demanding a client certificate from its CA; a good client
    certificate, and one from another CA."""
    directory = tmp_path_factory.mktemp("tls")
    authority = Authority(directory)
    server_pair = authority.issue("server", server=True)
    good = authority.issue("client", server=False)
    bad = Authority(directory / "other", "another CA").issue("stranger", server=False)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_pair.cert, server_pair.key)
    context.load_verify_locations(authority.cert)
    context.verify_mode = ssl.CERT_REQUIRED
    server = _TlsServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    url = f"https://127.0.0.1:{server.server_address[1]}"
    for _ in _serve(server):
        yield url, authority, good, bad


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS, ids=IDS)
@pytest.mark.parametrize("one_file", [False, True], ids=["cert+key", "one-pem"])
def test_a_client_certificate_is_presented(tls: tuple[str, Authority, Pair, Pair], mode: str,
                                           transport: dict[str, str], one_file: bool,
                                           tmp_path: Path) -> None:
    url, authority, good, _ = tls
    cert: str | tuple[str, str] = (str(good.cert), str(good.key))
    if one_file:
        combined = tmp_path / "client.pem"
        combined.write_bytes(good.cert.read_bytes() + good.key.read_bytes())
        cert = str(combined)
    driver = EchoDriver("k", "s", endpoint=url, verify=str(authority.cert), client_cert=cert,
                        **transport)  # type: ignore[arg-type]
    assert _run(mode, driver, "fetch", "/secure")[0] == 200


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS, ids=IDS)
@pytest.mark.parametrize("which", ["stranger", "none"])
def test_a_wrong_or_missing_client_certificate_is_refused(
        tls: tuple[str, Authority, Pair, Pair], mode: str, transport: dict[str, str],
        which: str) -> None:
    url, authority, _, bad = tls
    options: dict[str, Any] = {"client_cert": (str(bad.cert), str(bad.key))}
    if which == "none":
        options = {}
    driver = EchoDriver("k", "s", endpoint=url, verify=str(authority.cert), retry=ONCE,
                        **transport, **options)  # type: ignore[arg-type]
    with pytest.raises(TransportError):
        _run(mode, driver, "fetch", "/secure")
