"""Constructor checks shared by drivers (``overcast.runtime.options``)."""

from __future__ import annotations

import pytest

from overcast.errors import InvalidInput
from overcast.runtime.options import check_polling


def test_polling_options_are_positive_seconds_as_floats() -> None:
    assert check_polling(2, 0.5) == (2.0, 0.5)
    for poll, wait in ((0, 1), (1, -1), (True, 1), (1, "5"), (None, 1)):
        with pytest.raises(InvalidInput, match="must be a positive number"):
            check_polling(poll, wait)
