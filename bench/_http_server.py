"""Fast single-process HTTP/1.1 origin for the transport benchmark.

One thread, one ``epoll``/``select`` loop (via :mod:`selectors`), non-blocking
sockets, keep-alive on every connection. It answers:

* ``GET /small`` -- 16 KiB body, headers and body sent with one ``send``;
* ``GET /big`` -- 64 MiB body served from memory: the bytes live in an
  anonymous ``memfd`` and go out with ``os.sendfile`` (zero-copy, so the server
  costs almost no CPU per byte); where ``memfd``/``sendfile`` are missing it
  falls back to non-blocking ``send`` of a ``memoryview`` in 4 MiB slices;
* ``GET /stats`` -- ``{"cpu": <process_time>, "accepts": <connections>}`` as
  JSON, so the benchmark can report how busy the server was during each cell
  and whether the client opened new connections instead of reusing them;
* anything else -- ``404``.

Request bodies (``Content-Length``) are read and discarded so the server stays
in sync with any client. Pipelined requests are answered in order.

Run ``python bench/_http_server.py [--port N]``: it prints the bound port as
its first stdout line and then serves until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import socket
import sys
import time
from collections import deque

SMALL_SIZE = 16 * 1024
BIG_SIZE = 64 * 1024 * 1024
_SEND_SLICE = 4 * 1024 * 1024
_RECV_SIZE = 64 * 1024
_MAX_HEADER = 64 * 1024

_SMALL_BODY = bytes(range(256)) * (SMALL_SIZE // 256)
_SMALL_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"x-amz-request-id: 0123456789ABCDEF\r\n"
    b'ETag: "d41d8cd98f00b204e9800998ecf8427e"\r\n'
    b"Content-Length: %d\r\n\r\n" % SMALL_SIZE
) + _SMALL_BODY
_BIG_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b'ETag: "9e107d9d372bb6826bd81d3542a419d6"\r\n'
    b"Content-Length: %d\r\n\r\n" % BIG_SIZE
)
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class _BigBody:
    """The 64 MiB payload, as a memfd for ``sendfile`` or a plain buffer."""

    def __init__(self) -> None:
        self.fd: int | None = None
        self.view: memoryview | None = None
        chunk = bytes(range(256)) * 4096  # 1 MiB
        if hasattr(os, "memfd_create") and hasattr(os, "sendfile"):
            fd = os.memfd_create("overcast-bench-big")
            for _ in range(BIG_SIZE // len(chunk)):
                os.write(fd, chunk)
            self.fd = fd
        else:
            self.view = memoryview(chunk * (BIG_SIZE // len(chunk)))


class _Conn:
    """Per-connection state: unparsed input and a queue of pending output."""

    __slots__ = ("inbuf", "out", "skip", "sock", "writing")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.skip = 0  # request-body bytes still to discard
        # Items: memoryview (bytes to send) or [offset, end] of the big body.
        self.out: deque[memoryview | list[int]] = deque()
        self.writing = False


class Server:
    def __init__(self, host: str, port: int) -> None:
        self.big = _BigBody()
        self.sel = selectors.DefaultSelector()
        self.lsock = socket.create_server((host, port), backlog=1024)
        self.lsock.setblocking(False)
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.accepts = 0

    @property
    def port(self) -> int:
        return int(self.lsock.getsockname()[1])

    def serve_forever(self) -> None:
        sel = self.sel
        while True:
            for key, events in sel.select():
                conn: _Conn | None = key.data
                if conn is None:
                    self._accept()
                    continue
                try:
                    if events & selectors.EVENT_READ:
                        self._on_readable(conn)
                    if conn.out and events & selectors.EVENT_WRITE:
                        self._flush(conn)
                except (ConnectionError, OSError):
                    self._close(conn)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.lsock.accept()
            except BlockingIOError:
                return
            self.accepts += 1
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sel.register(sock, selectors.EVENT_READ, _Conn(sock))

    def _close(self, conn: _Conn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(conn.sock)
        conn.sock.close()

    def _on_readable(self, conn: _Conn) -> None:
        data = conn.sock.recv(_RECV_SIZE)
        if not data:
            self._close(conn)
            return
        if conn.skip:
            n = min(conn.skip, len(data))
            conn.skip -= n
            data = data[n:]
        conn.inbuf += data
        self._parse(conn)
        if conn.out:
            self._flush(conn)

    def _parse(self, conn: _Conn) -> None:
        buf = conn.inbuf
        while not conn.skip:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEADER:
                    raise ConnectionError("header too large")
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            line, _, rest = head.partition(b"\r\n")
            parts = line.split(b" ")
            path = parts[1] if len(parts) > 1 else b""
            clen = _content_length(rest)
            if clen:
                n = min(clen, len(buf))
                del buf[:n]
                conn.skip = clen - n
            self._respond(conn, path)

    def _respond(self, conn: _Conn, path: bytes) -> None:
        path = path.split(b"?", 1)[0]
        if path == b"/small":
            conn.out.append(memoryview(_SMALL_RESPONSE))
        elif path == b"/big":
            conn.out.append(memoryview(_BIG_HEAD))
            if self.big.fd is not None:
                conn.out.append([0, BIG_SIZE])
            else:
                assert self.big.view is not None
                conn.out.append(self.big.view)
        elif path == b"/stats":
            body = json.dumps({"cpu": time.process_time(), "accepts": self.accepts}).encode()
            conn.out.append(
                memoryview(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            )
        else:
            conn.out.append(memoryview(_NOT_FOUND))

    def _flush(self, conn: _Conn) -> None:
        out, sock = conn.out, conn.sock
        try:
            while out:
                item = out[0]
                if isinstance(item, memoryview):
                    sent = sock.send(item[:_SEND_SLICE])
                    if sent == len(item):
                        out.popleft()
                    else:
                        out[0] = item[sent:]
                else:
                    assert self.big.fd is not None
                    offset, end = item
                    sent = os.sendfile(sock.fileno(), self.big.fd, offset, end - offset)
                    if sent == 0:
                        raise ConnectionError("peer closed")
                    item[0] = offset + sent
                    if item[0] >= end:
                        out.popleft()
        except BlockingIOError:
            pass
        want_write = bool(out)
        if want_write != conn.writing:
            conn.writing = want_write
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want_write else 0)
            self.sel.modify(sock, events, conn)


def _content_length(headers: bytes) -> int:
    for raw in headers.split(b"\r\n"):
        name, _, value = raw.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    server = Server(args.host, args.port)
    sys.stdout.write(f"{server.port}\n")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
