"""Run the same driver call sync or async, so one test checks both modes.

The helpers are overcast's own (:mod:`overcast.testing`); tests import them
from here by habit.
"""

from __future__ import annotations

from overcast.testing import MODES
from overcast.testing import call

__all__ = ["MODES", "call"]
