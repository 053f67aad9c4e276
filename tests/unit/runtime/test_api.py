"""The HTTP request helper: error tables, fault parsing, body decoding, the
scripted transport that tests every driver without a server."""

from __future__ import annotations

from typing import Any
from typing import ClassVar

import pytest

from overcast.driver import BaseDriver
from overcast.errors import AlreadyExists
from overcast.errors import ContainerIsNotEmpty
from overcast.errors import InvalidCredentials
from overcast.errors import NotFound
from overcast.errors import OutcomeUnknown
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import HttpApi
from overcast.runtime.api import When
from overcast.runtime.api import json_fault
from overcast.runtime.api import xml_fault
from overcast.runtime.effects import Headers
from overcast.runtime.effects import Op
from overcast.runtime.effects import Response
from overcast.runtime.operation import operation
from overcast.runtime.policy import RetryPolicy
from overcast.runtime.redact import Secret
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import ScriptError
from overcast.testing import call


def answer(status: int, body: bytes = b"", **headers: str) -> Response:
    return Response(status, Headers(list(headers.items())), body, url="https://api/x",
                    method="GET")


# -- the table ----------------------------------------------------------------------


def test_rows_are_tried_in_order_and_defaults_come_last() -> None:
    table = ErrorMap(
        When(ContainerIsNotEmpty, status=409, code="BucketNotEmpty"),
        When(AlreadyExists, status=409),
        When(RateLimited, status=400, code=("Throttling", "SlowDown")),
        When(AlreadyExists, status=422, says=("already exists", "taken")),
    )
    assert table.classify(Fault(409, "BucketNotEmpty")) is ContainerIsNotEmpty
    assert table.classify(Fault(409, "Other")) is AlreadyExists
    assert table.classify(Fault(400, None, "x", codes=frozenset({"SlowDown"}))) is RateLimited
    assert table.classify(Fault(422, None, "Name is TAKEN")) is AlreadyExists
    assert table.classify(Fault(422, None, "bad name")) is ProviderError
    assert table.classify(Fault(401)) is InvalidCredentials
    assert table.classify(Fault(404)) is NotFound
    assert table.classify(Fault(429)) is RateLimited
    assert table.classify(Fault(500)) is ProviderError
    assert ErrorMap(defaults=False).classify(Fault(404)) is ProviderError
    assert table.reads_throttling and not ErrorMap().reads_throttling


# -- reading error bodies -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b'{"error": {"code": "ResourceNotFound", "message": "no zone"}}', "ResourceNotFound",
         "no zone"),
        (b'{"error": {"code": 404, "message": "gone", "status": "NOT_FOUND", '
         b'"errors": [{"reason": "notFound", "message": "gone"}]}}', "404", "gone"),
        (b'{"errors": [{"code": 1061, "message": "exists"}], "success": false}', "1061",
         "exists"),
        (b'{"errors": [{"reason": "Not found", "field": "domain"}]}', "Not found", "Not found"),
        (b'{"id": "not_found", "message": "The resource was not found."}', "not_found",
         "The resource was not found."),
        (b'{"itemNotFound": {"code": 404, "message": "Instance could not be found"}}', "404",
         "Instance could not be found"),
        (b'{"error": "Could not find domain"}', None, "Could not find domain"),
        (b"<html>Bad gateway</html>", None, "<html>Bad gateway</html>"),
    ],
)
def test_json_faults_of_every_common_shape(body: bytes, code: str | None, message: str) -> None:
    fault = json_fault(answer(404, body, **{"X-Request-Id": "r-1"}), ("x-request-id",))
    assert (fault.code, fault.message, fault.request_id) == (code, message, "r-1")


def test_xml_faults_at_the_root_or_below_it() -> None:
    s3 = xml_fault(answer(404, b"<Error><Code>NoSuchKey</Code><Message>gone</Message>"
                               b"<RequestId>R1</RequestId></Error>"))
    ec2 = xml_fault(answer(400, b"<Response><Errors><Error><Code>InvalidInstanceID.NotFound"
                                b"</Code><Message>no</Message></Error></Errors>"
                                b"<RequestID>R2</RequestID></Response>"))
    batch = xml_fault(answer(400, b'<InvalidChangeBatch xmlns="x"><Messages><Message>a</Message>'
                                  b"<Message>b</Message></Messages></InvalidChangeBatch>"))
    assert (s3.code, s3.message, s3.request_id) == ("NoSuchKey", "gone", "R1")
    assert (ec2.code, ec2.message, ec2.request_id) == ("InvalidInstanceID.NotFound", "no", "R2")
    assert (batch.code, batch.message) == ("InvalidChangeBatch", "a; b")


# -- a small driver on the helper, on the scripted transport --------------------------


class Demo(HttpApi, BaseDriver):
    """A made-up JSON API, enough to drive every path of the helper."""

    name: ClassVar[str] = "demo"
    label: ClassVar[str] = "Demo"
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(AlreadyExists, status=409),
        When(RateLimited, status=400, code="SlowDown"),
    )
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)
    default_headers: ClassVar[dict[str, str]] = {"Accept": "application/json"}

    def __init__(self, token: str, **options: Any) -> None:
        super().__init__(**options)
        self.endpoint = "https://api.example.com/v1"
        self._token = Secret(token)

    def _sign(self, request: Any, now: float) -> Any:
        return request.with_headers({"Authorization": f"Bearer {self._token.reveal()}"})

    @operation
    def get_zone(self, name: str) -> Op[dict[str, Any]]:
        data: dict[str, Any] = yield from self._json(
            "GET", f"/zones/{name}", what=name, missing=ZoneNotFound)
        return data

    @operation
    def create_zone(self, name: str) -> Op[dict[str, Any]]:
        data: dict[str, Any] = yield from self._json(
            "POST", "/zones", json={"name": name}, what=name, exists=ZoneAlreadyExists)
        return data


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_request_is_built_signed_sent_and_decoded(mode: str) -> None:
    script = Script()
    script.expect("POST", "https://api.example.com/v1/zones", json={"name": "a.test"},
                  headers={"Authorization": "Bearer t0ken", "Accept": "application/json",
                           "Content-Type": "application/json"}
                  ).reply(201, json={"name": "a.test", "id": 7})
    driver = Demo("t0ken", **script.options())
    assert call(mode, driver, "create_zone", "a.test") == {"name": "a.test", "id": 7}
    script.assert_done()


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (404, {"message": "no such zone"}, ZoneNotFound, "zone not found: 'a.test' (no such"),
        (401, {"message": "bad token t0ken"}, InvalidCredentials, "Demo refused the credentials"),
        (500, {"code": "Boom", "message": "it broke"}, ProviderError, "GET https://api."),
    ],
)
def test_failures_become_the_mapped_error_with_secrets_removed(
    mode: str, status: int, body: dict[str, str], error: type[Exception], text: str
) -> None:
    script = Script()
    script.expect("GET", "https://api.example.com/v1/zones/a.test").reply(
        status, json=body, headers={"X-Request-Id": "req-9"})
    driver = Demo("t0ken", retry=RetryPolicy(max_attempts=1), **script.options())
    with pytest.raises(error) as info:
        call(mode, driver, "get_zone", "a.test")
    assert text in str(info.value)
    assert "t0ken" not in str(info.value)
    if isinstance(info.value, ProviderError):
        assert (info.value.status, info.value.code, info.value.request_id) == (500, "Boom", "req-9")
    script.assert_done()


def test_a_conflict_is_the_already_exists_the_call_names(mode: str) -> None:
    script = Script()
    script.expect("POST", "https://api.example.com/v1/zones").reply(409, json={"message": "dup"})
    with pytest.raises(ZoneAlreadyExists, match=r"zone already exists: 'a\.test'"):
        call(mode, Demo("t", **script.options()), "create_zone", "a.test")


def test_a_throttling_code_is_retried_like_a_429(mode: str) -> None:
    script = Script()
    script.expect("GET", "https://api.example.com/v1/zones/z").reply(
        400, json={"code": "SlowDown", "message": "slow"}, headers={"Retry-After": "0"})
    script.expect("GET", "https://api.example.com/v1/zones/z").reply(200, json={"name": "z"})
    driver = Demo("t", retry=RetryPolicy(max_attempts=3, base=0.0), **script.options())
    assert call(mode, driver, "get_zone", "z") == {"name": "z"}
    script.assert_done()


def test_a_lost_answer_to_a_create_is_an_unknown_outcome_not_a_resend(mode: str) -> None:
    script = Script()
    script.expect("POST", "https://api.example.com/v1/zones").fail(sent=True)
    with pytest.raises(OutcomeUnknown):
        call(mode, Demo("t", **script.options()), "create_zone", "a.test")
    script.assert_done()  # sent once: the runtime did not resend it


def test_the_script_refuses_an_unexpected_request(mode: str) -> None:
    script = Script()
    script.expect("GET", "https://api.example.com/v1/zones/other").reply(200, json={})
    with pytest.raises(ScriptError, match=r"URL .*/zones/a\.test is not"):
        call(mode, Demo("t", **script.options()), "get_zone", "a.test")
    with pytest.raises(ScriptError):
        script.assert_done()


def test_the_script_says_which_expected_request_never_came() -> None:
    script = Script()
    script.expect("GET", "https://api.example.com/v1/zones/a").reply(200, json={})
    with pytest.raises(ScriptError, match=r"never came:\n  GET https://api\.example\.com/v1/zones/a"):
        script.assert_done()
