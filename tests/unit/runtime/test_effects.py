"""Effects and operations as plain values, driven without any I/O."""

from __future__ import annotations

import io
from typing import Any
from typing import ClassVar

import pytest

from overcast.driver import AsyncView
from overcast.driver import BaseDriver
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.runtime.effects import Call
from overcast.runtime.effects import Emit
from overcast.runtime.effects import Headers
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.effects import body_length
from overcast.runtime.effects import is_rewindable
from overcast.runtime.operation import aio
from overcast.runtime.operation import iterator
from overcast.runtime.operation import not_supported
from overcast.runtime.operation import operation
from overcast.runtime.operation import requires
from overcast.runtime.streams import FileStream


def test_request_url_and_idempotency() -> None:
    assert Request("GET", "http://h/p", params=[("a", "1 2"), ("b", "é")]).full_url == (
        "http://h/p?a=1%202&b=%C3%A9"
    )
    assert Request("GET", "http://h/p?x=1", params={"y": "2"}).full_url == "http://h/p?x=1&y=2"
    assert Request("PUT", "u").is_idempotent and not Request("POST", "u").is_idempotent
    assert Request("POST", "u", idempotent=True).is_idempotent
    merged = Request("GET", "u", headers={"a": "1", "B": "2"}).with_headers({"b": "3"})
    assert dict(merged.headers) == {"a": "1", "b": "3"}


def test_headers_are_case_insensitive_and_keep_repeats() -> None:
    headers = Headers([("ETag", '"x"'), ("x-amz-meta-a", "1"), ("X-Amz-Meta-A", "2")])
    assert headers["etag"] == '"x"'
    assert headers["X-AMZ-META-A"] == "1, 2"
    assert headers.get_all("x-amz-meta-a") == ["1", "2"]
    assert "ETAG" in headers


def test_bodies() -> None:
    assert body_length(b"abc") == 3 and body_length(None) == 0
    f = io.BytesIO(b"abcdef")
    f.read(2)
    assert body_length(f) == 4 and f.tell() == 2
    assert body_length(iter([b"a"])) is None
    assert is_rewindable(b"x") and is_rewindable(io.BytesIO()) and not is_rewindable(iter([]))


def test_response_helpers() -> None:
    response = Response(200, Headers({"Content-Type": "application/json"}), b'{"a": 1}')
    assert response.ok and response.json() == {"a": 1}


def test_file_stream_ranges(tmp_path: Any) -> None:
    path = tmp_path / "f"
    path.write_bytes(bytes(range(100)))
    assert b"".join(FileStream(path, 10, 20, chunk_size=3).sync_chunks()) == bytes(range(10, 20))


class Toy(BaseDriver):
    """A driver whose operations are checked by feeding them canned results."""

    name: ClassVar[str] = "toy"
    area: ClassVar[str] = "test"

    @operation
    def get_thing(self, thing_id: str) -> Op[dict[str, Any]]:
        if not thing_id:
            raise InvalidInput("thing_id is empty", driver=self)
        response: Response = yield Request("GET", f"https://api/things/{thing_id}")
        return dict(response.json())

    @iterator
    def iterate_things(self) -> Iter[str]:
        token: str | None = None
        while True:
            params = [("token", token)] if token else []
            response: Response = yield Request("GET", "https://api/things", params=params)
            page = response.json()
            for item in page["items"]:
                yield Emit(item)
            token = page.get("next")
            if not token:
                return

    @operation
    @requires("iterate_things")
    def count_things(self) -> Op[int]:
        n: int = yield Call(len, "abc")
        return n

    @operation
    @not_supported
    def delete_thing(self, thing_id: str) -> Op[bool]:
        raise NotImplementedError


class ToyAsync(AsyncView[Toy]):
    get_thing = aio(Toy.get_thing)
    iterate_things = aio(Toy.iterate_things)
    count_things = aio(Toy.count_things)
    delete_thing = aio(Toy.delete_thing)


Toy.async_view = ToyAsync


def json_response(body: str) -> Response:
    return Response(200, Headers({}), body.encode())


def test_an_operation_is_a_generator_of_values() -> None:
    op = Toy().get_thing.op("42")
    request = next(op)
    assert request == Request("GET", "https://api/things/42")
    with pytest.raises(StopIteration) as done:
        op.send(json_response('{"id": "42"}'))
    assert done.value.value == {"id": "42"}


def test_pagination_is_driven_page_by_page() -> None:
    op = Toy().iterate_things.op()
    assert next(op).params == []
    assert op.send(json_response('{"items": ["a", "b"], "next": "t2"}')) == Emit("a")
    assert op.send(None) == Emit("b")
    second = op.send(None)
    assert second.params == [("token", "t2")]
    assert op.send(json_response('{"items": ["c"]}')) == Emit("c")
    with pytest.raises(StopIteration):
        op.send(None)


def test_bad_input_and_unsupported_fail_before_any_effect() -> None:
    toy = Toy()
    with pytest.raises(InvalidInput):
        next(toy.get_thing.op(""))
    with pytest.raises(NotSupported):
        toy.delete_thing("x")
    assert toy.supports("get_thing") and toy.supports("count_things")
    assert not toy.supports("delete_thing") and not toy.supports("no_such_operation")
    assert Toy.operations() == {
        "count_things": True, "delete_thing": False, "get_thing": True, "iterate_things": True,
    }


def test_calls_run_sync_and_async() -> None:
    import anyio

    toy = Toy()
    assert toy.count_things() == 3

    async def main() -> int:
        return await toy.aio.count_things()

    assert anyio.run(main) == 3


def test_unknown_runtime_options_are_rejected() -> None:
    with pytest.raises(InvalidInput):
        Toy(colour="red")
    with pytest.raises(InvalidInput):
        Toy(timeout=-1)


def test_create_once_reconciles_an_unknown_outcome() -> None:
    from overcast.errors import OutcomeUnknown
    from overcast.runtime.ops import create_once

    made: list[str] = []

    def send() -> Op[str]:
        made.append("node-1")
        yield Call(len, "")
        raise OutcomeUnknown("connection dropped after the POST")

    def find() -> Op[str | None]:
        yield Call(len, "")
        return made[0] if made else None

    assert Toy()._sync_runner.run(create_once(send, find)) == "node-1"
    assert made == ["node-1"]  # found, not sent twice


def test_create_once_resends_when_nothing_was_made() -> None:
    from overcast.errors import OutcomeUnknown
    from overcast.runtime.ops import create_once

    sent: list[int] = []

    def send() -> Op[str]:
        sent.append(1)
        yield Call(len, "")
        if len(sent) == 1:
            raise OutcomeUnknown("lost before the server acted")
        return "made"

    def find() -> Op[str | None]:
        yield Call(len, "")
        return None

    toy = Toy()
    assert toy._sync_runner.run(create_once(send, find)) == "made"
    assert len(sent) == 2
