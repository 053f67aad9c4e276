"""Forward proxies on every transport, sync and async: ``HTTPS_PROXY`` /
``HTTP_PROXY`` from the environment and the explicit ``proxy=`` option send
requests through a local proxy (``CONNECT`` for ``https://`` URLs, an
absolute-URI request for ``http://`` ones), and ``NO_PROXY`` bypasses it."""

from __future__ import annotations

import http.server
import logging
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from overcast.errors import InvalidInput
from overcast.errors import TransportError
from overcast.runtime.policy import RetryPolicy
from overcast.runtime.transports.base import Proxies
from servers.container_tls import Authority
from servers.echo_driver import EchoDriver
from servers.forward_proxy import ForwardProxy
from servers.transports import IDS
from servers.transports import TRANSPORTS

ONCE = RetryPolicy(max_attempts=1)
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"{self.path} host={self.headers.get('Host')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = b"got " + self.rfile.read(size)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(scope="module")
def plain() -> Iterator[str]:
    for server in _serve(_Server(("127.0.0.1", 0), _Handler)):
        yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    authority = Authority(tmp_path_factory.mktemp("proxy-tls"))
    pair = authority.issue("server", server=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for _ in _serve(server):
        yield f"https://127.0.0.1:{server.server_address[1]}", str(authority.cert)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


def _fetch(mode: str, driver: EchoDriver, *args: Any, **kwargs: Any) -> Any:
    if mode == "sync":
        try:
            return driver.fetch(*args, **kwargs)
        finally:
            driver.close()

    async def main() -> Any:
        async with driver.aio as view:
            return await view.fetch(*args, **kwargs)

    return anyio.run(main)


def _host(url: str) -> str:
    return url.split("://", 1)[1]


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS, ids=IDS)
def test_https_proxy_from_the_environment_tunnels_with_connect(
        monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, secure: tuple[str, str],
        mode: str, transport: dict[str, str]) -> None:
    url, ca = secure
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    driver = EchoDriver("k", "s", endpoint=url, verify=ca, **transport)  # type: ignore[arg-type]
    assert _fetch(mode, driver, "/through") == (200, f"/through host={_host(url)}".encode())
    assert proxy.seen == [("CONNECT", _host(url))]


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS, ids=IDS)
def test_http_proxy_from_the_environment_gets_the_absolute_uri(
        monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, plain: str, mode: str,
        transport: dict[str, str]) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    driver = EchoDriver("k", "s", endpoint=plain, **transport)  # type: ignore[arg-type]
    assert _fetch(mode, driver, "/page?a=1") == (200, f"/page?a=1 host={_host(plain)}".encode())
    assert _fetch(mode, driver, "/up", method="PUT", body=b"data") == (200, b"got data")
    assert proxy.seen == [("GET", f"{plain}/page?a=1"), ("PUT", f"{plain}/up")]


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS, ids=IDS)
def test_the_proxy_option_wins_over_the_environment(
        monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, plain: str,
        secure: tuple[str, str], mode: str, transport: dict[str, str]) -> None:
    with ForwardProxy() as other:
        monkeypatch.setenv("HTTPS_PROXY", other.url)
        monkeypatch.setenv("HTTP_PROXY", other.url)
        url, ca = secure
        driver = EchoDriver("k", "s", endpoint=url, verify=ca, proxy=proxy.url,
                            **transport)  # type: ignore[arg-type]
        assert _fetch(mode, driver, "/explicit")[0] == 200
        driver = EchoDriver("k", "s", endpoint=plain, proxy=proxy.url,
                            **transport)  # type: ignore[arg-type]
        assert _fetch(mode, driver, "/explicit")[0] == 200
        assert other.seen == []
    assert proxy.seen == [("CONNECT", _host(url)), ("GET", f"{plain}/explicit")]


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS, ids=IDS)
@pytest.mark.parametrize("bypass", ["127.0.0.1", "127.0.0.0/8", "*"])
def test_no_proxy_bypasses_the_proxy(
        monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, plain: str,
        secure: tuple[str, str], mode: str, transport: dict[str, str], bypass: str) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", f"example.com,{bypass}")
    url, ca = secure
    driver = EchoDriver("k", "s", endpoint=url, verify=ca, **transport)  # type: ignore[arg-type]
    assert _fetch(mode, driver, "/direct")[0] == 200
    driver = EchoDriver("k", "s", endpoint=plain, proxy=proxy.url,
                        **transport)  # type: ignore[arg-type]
    assert _fetch(mode, driver, "/direct")[0] == 200
    assert proxy.seen == []


@pytest.mark.parametrize(("mode", "transport"), TRANSPORTS, ids=IDS)
def test_a_proxy_that_wants_a_password_gets_it(
        monkeypatch: pytest.MonkeyPatch, plain: str, secure: tuple[str, str], mode: str,
        transport: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    """``http://user:password@host:port`` (from the environment or ``proxy=``)
    authenticates to the proxy, and the password shows nowhere."""
    caplog.set_level(logging.DEBUG)
    with ForwardProxy(credentials="proxy-user:pr0xy s3cret") as proxy:
        url, ca = secure
        with_password = proxy.url.replace("http://", "http://proxy-user:pr0xy%20s3cret@")
        monkeypatch.setenv("HTTPS_PROXY", with_password)
        driver = EchoDriver("k", "s", endpoint=url, verify=ca,
                            **transport)  # type: ignore[arg-type]
        assert _fetch(mode, driver, "/tunnel")[0] == 200
        driver = EchoDriver("k", "s", endpoint=plain, proxy=with_password,
                            **transport)  # type: ignore[arg-type]
        assert _fetch(mode, driver, "/forward")[0] == 200
        assert proxy.seen == [("CONNECT", _host(url)), ("GET", f"{plain}/forward")]
        assert proxy.refused == 0
        wrong = proxy.url.replace("http://", "http://proxy-user:wrong-pw-123@")
        driver = EchoDriver("k", "s", endpoint=plain, proxy=wrong, retry=ONCE,
                            **transport)  # type: ignore[arg-type]
        outcome: object  # a 407 answer (plain HTTP), or a failed tunnel
        try:
            outcome = _fetch(mode, driver, "/refused")[0]
        except TransportError as exc:
            outcome = str(exc)
        assert outcome == 407 or (isinstance(outcome, str) and "wrong-pw-123" not in outcome)
        assert proxy.refused >= 1
        assert "wrong-pw-123" not in repr(driver)
    assert "s3cret" not in caplog.text and "wrong-pw-123" not in caplog.text


def test_which_urls_go_through_a_proxy() -> None:
    env = {"https_proxy": "http://p:1", "HTTP_PROXY": "http://q:2",
           "NO_PROXY": ".internal, example.org:8080, 10.0.0.0/8, [::1]"}
    proxies = Proxies(environ=env)
    assert proxies.for_url("https://s3.amazonaws.com/b") == "http://p:1"
    assert proxies.for_url("http://s3.amazonaws.com/b") == "http://q:2"
    assert proxies.for_url("https://api.internal/x") is None
    assert proxies.for_url("https://internal/x") is None
    assert proxies.for_url("https://notinternal/x") == "http://p:1"
    assert proxies.for_url("http://example.org:8080/") is None
    assert proxies.for_url("http://example.org/") == "http://q:2"
    assert proxies.for_url("https://10.1.2.3/") is None
    assert proxies.for_url("https://[::1]:9000/") is None
    assert proxies.for_url("https://user:pw@11.0.0.1/") == "http://p:1"
    assert Proxies("http://x:3", environ=env).for_url("http://api.internal/") is None
    assert Proxies("http://x:3", environ=env).for_url("http://other/") == "http://x:3"
    assert not Proxies(environ={}).active
    assert Proxies(environ={"ALL_PROXY": "http://a:1"}).for_url("https://h/") == "http://a:1"


@pytest.mark.parametrize("bad", ["127.0.0.1:3128", "ftp://p:1", "", 3128])
def test_a_malformed_proxy_option_is_invalid_input(bad: object) -> None:
    with pytest.raises(InvalidInput, match="proxy"):
        EchoDriver("k", "s", endpoint="http://h", proxy=bad)  # type: ignore[arg-type]
