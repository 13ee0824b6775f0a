"""Deterministic identifiers for the fake server (``item_…``, ``resp_…``, ``event_…``)."""

from __future__ import annotations

import random
import string

__all__ = ["IdFactory"]

_ALPHABET = string.ascii_letters + string.digits


class IdFactory:
    """Make ids shaped like the real server's: a prefix, ``_``, then random alphanumerics.

    The sequence depends only on ``seed``, so a test run is reproducible.
    """

    def __init__(self, seed: int | str = 0) -> None:
        self._rng = random.Random(str(seed))

    def new(self, prefix: str, length: int = 21) -> str:
        """Return a fresh id such as ``item_7QkZr2aLxWm0bN4yPq1Tz``."""
        return prefix + "_" + "".join(self._rng.choices(_ALPHABET, k=length))
