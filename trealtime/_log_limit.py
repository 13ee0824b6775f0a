"""Warnings a server can trigger at will, rate-limited so that it cannot flood the logs."""

from __future__ import annotations

import logging
import time
from typing import Any

import attrs

__all__ = ["LimitedWarnings"]


@attrs.define
class _Seen:
    logged_at: float
    held_back: int = 0


class LimitedWarnings:
    """Log the first warning of each kind, then at most one every ``interval`` seconds.

    A kind is the message's format string; the warning that ends a quiet spell says how many
    like it were held back, so nothing is hidden, only counted.
    """

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval
        self._seen: dict[str, _Seen] = {}

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        seen = self._seen.get(message)
        if seen is not None and now - seen.logged_at < self._interval:
            seen.held_back += 1
            return
        if seen is not None and seen.held_back:
            self._logger.warning(message + " (%d more like it held back)", *args, seen.held_back)
        else:
            self._logger.warning(message, *args)
        self._seen[message] = _Seen(now)
