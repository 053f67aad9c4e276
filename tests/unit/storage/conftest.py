"""What the storage unit tests share: every test runs in both modes."""

from __future__ import annotations

import pytest

from overcast.testing import MODES


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Once with the sync runner and once with the async one."""
    return str(request.param)
