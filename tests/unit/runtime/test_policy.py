"""The retry decision and Retry-After parsing, on values."""

from __future__ import annotations

import io
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overcast.runtime.effects import Headers
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.policy import RetryPolicy
from overcast.runtime.policy import parse_retry_after
from overcast.runtime.transports.base import TransportFailure

POLICY = RetryPolicy(max_attempts=3, base=1.0, cap=4.0)


def response(status: int, **headers: str) -> Response:
    return Response(status=status, headers=Headers(headers))


def test_idempotent_get_is_retried_on_503_until_attempts_run_out() -> None:
    get = Request("GET", "http://x/")
    assert POLICY.decide(get, 1, response=response(503)).retry
    assert POLICY.decide(get, 2, response=response(503)).retry
    assert not POLICY.decide(get, 3, response=response(503)).retry


@pytest.mark.parametrize("status", [200, 201, 204, 301, 400, 403, 404, 409])
def test_other_statuses_are_final(status: int) -> None:
    assert not POLICY.decide(Request("GET", "http://x/"), 1, response=response(status)).retry


def test_post_is_never_resent_once_sent() -> None:
    post = Request("POST", "http://x/", body=b"x")
    decision = POLICY.decide(post, 1, response=response(503))
    assert not decision.retry and decision.outcome_unknown
    dropped = TransportFailure("reset", sent=True)
    decision = POLICY.decide(post, 1, failure=dropped)
    assert not decision.retry and decision.outcome_unknown
    # A 429 is a refusal, not an unknown outcome.
    assert not POLICY.decide(post, 1, response=response(429)).outcome_unknown


def test_connect_failure_is_retried_even_for_post() -> None:
    post = Request("POST", "http://x/", body=b"x")
    assert POLICY.decide(post, 1, failure=TransportFailure("refused", sent=False)).retry


def test_post_marked_idempotent_is_retried() -> None:
    post = Request("POST", "http://x/", body=b"x", idempotent=True)
    assert POLICY.decide(post, 1, response=response(500)).retry


def test_one_shot_bodies_are_not_replayed_but_seekable_files_are() -> None:
    put_iter = Request("PUT", "http://x/", body=iter([b"a"]))
    assert not POLICY.decide(put_iter, 1, response=response(503)).retry
    put_file = Request("PUT", "http://x/", body=io.BytesIO(b"abc"))
    assert POLICY.decide(put_file, 1, response=response(503)).retry


def test_retry_after_overrides_backoff() -> None:
    get = Request("GET", "http://x/")
    decision = POLICY.decide(get, 1, response=response(429, **{"Retry-After": "7"}))
    assert decision.retry and decision.delay == 7
    too_long = POLICY.decide(get, 1, response=response(503, **{"Retry-After": "100000"}))
    assert not too_long.retry


@given(st.integers(min_value=1, max_value=60), st.floats(min_value=0, max_value=1))
def test_backoff_is_full_jitter_within_the_cap(attempt: int, r: float) -> None:
    delay = POLICY.backoff(attempt, lambda: r)
    assert 0 <= delay <= min(POLICY.cap, POLICY.base * 2 ** (attempt - 1))


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    when = formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(when, now=1_000_000) == pytest.approx(30)
    assert parse_retry_after(formatdate(0, usegmt=True), now=1_000_000) == 0
