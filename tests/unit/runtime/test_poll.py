"""``poll``: the one loop that waits for a change a provider makes in its own time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.runtime.effects import Op
from overcast.runtime.effects import Sleep
from overcast.runtime.ops import poll


def drive(op: Op[Any]) -> tuple[Any, list[float]]:
    """Run ``op`` by hand: each ``Sleep`` is recorded, not slept; the value it
    returned and the pauses it asked for, in order."""
    pauses: list[float] = []
    try:
        effect = next(op)
        while True:
            assert isinstance(effect, Sleep), effect
            pauses.append(effect.seconds)
            effect = op.send(None)
    except StopIteration as stop:
        return stop.value, pauses


def looks(states: list[str]) -> tuple[Any, list[str]]:
    """A ``look`` that answers ``states`` one by one, and the list of what it answered."""
    seen: list[str] = []
    answers: Iterator[str] = iter(states)

    def look() -> Op[str]:
        yield from ()
        seen.append(next(answers))
        return seen[-1]

    return look, seen


def test_it_looks_until_settled_pausing_between_looks() -> None:
    look, seen = looks(["busy", "busy", "done"])
    value, pauses = drive(poll(look, lambda s: s == "done", interval=0.5, timeout=10,
                               timed_out=lambda s: OperationTimeout(s)))
    assert value == "done" and seen == ["busy", "busy", "done"] and pauses == [0.5, 0.5]


def test_what_the_start_answered_is_judged_before_any_look() -> None:
    look, seen = looks(["done"])
    value, pauses = drive(poll(look, lambda s: s == "done", current="started", interval=1,
                               timeout=10, timed_out=lambda s: OperationTimeout(s)))
    assert value == "done" and seen == ["done"] and pauses == [1]
    look, seen = looks([])
    value, pauses = drive(poll(look, lambda s: s == "done", current="done", interval=1,
                               timeout=10, timed_out=lambda s: OperationTimeout(s)))
    assert value == "done" and seen == [] and pauses == []


def test_the_pauses_add_up_to_the_timeout_and_the_last_look_is_judged() -> None:
    """timeout/interval pauses (0.03/0.01 is 2.9999999999999996 in floating
    point: still three), a look before the first and after each."""
    look, seen = looks(["busy"] * 4)
    with pytest.raises(OperationTimeout, match="last seen busy"):
        drive(poll(look, lambda s: s == "done", interval=0.01, timeout=0.03,
                   timed_out=lambda s: OperationTimeout(f"last seen {s}")))
    assert len(seen) == 4
    look, seen = looks(["busy"] * 3 + ["done"])
    value, pauses = drive(poll(look, lambda s: s == "done", interval=0.01, timeout=0.03,
                               timed_out=lambda s: OperationTimeout(s)))
    assert value == "done" and pauses == [0.01] * 3


def test_a_growing_pause_is_capped() -> None:
    look, _ = looks(["busy"] * 6 + ["done"])
    _, pauses = drive(poll(look, lambda s: s == "done", interval=1, growth=2, max_interval=5,
                           timeout=100, timed_out=lambda s: OperationTimeout(s)))
    assert pauses == [1, 2, 4, 5, 5, 5]


def test_a_failed_change_raises_what_settled_raises_at_once() -> None:
    look, seen = looks(["busy", "failed", "done"])

    def settled(state: str) -> bool:
        if state == "failed":
            raise ProviderError("it failed")
        return state == "done"

    with pytest.raises(ProviderError, match="it failed"):
        drive(poll(look, settled, interval=1, timeout=10,
                   timed_out=lambda s: OperationTimeout(s)))
    assert seen == ["busy", "failed"]


def test_the_last_pause_is_cut_to_end_at_the_timeout() -> None:
    """interval 2 s, timeout 5 s: pauses of 2, 2 and 1 (never past 5 s in
    all), and a look at the end of each."""
    look, seen = looks(["busy"] * 4)
    with pytest.raises(OperationTimeout):
        drive(poll(look, lambda s: s == "done", interval=2, timeout=5,
                   timed_out=lambda s: OperationTimeout(s)))
    assert len(seen) == 4
    look, _ = looks(["busy"] * 3 + ["done"])
    value, pauses = drive(poll(look, lambda s: s == "done", interval=2, timeout=5,
                               timed_out=lambda s: OperationTimeout(s)))
    assert value == "done" and pauses == [2, 2, 1]


def test_the_providers_own_advice_sets_the_pause() -> None:
    """``pause_for`` (a Retry-After) wins over the schedule where it says
    something, and is cut like any pause at the timeout."""
    look, _ = looks(["busy:", "busy:30", "done:"])
    advice = {"busy:3": 3.0, "busy:": None, "busy:30": 30.0}
    value, pauses = drive(poll(look, lambda s: s == "done:", interval=1, timeout=10,
                               current="busy:3", pause_for=advice.get,
                               timed_out=lambda s: OperationTimeout(s)))
    assert value == "done:" and pauses == [3.0, 1, 6.0]
