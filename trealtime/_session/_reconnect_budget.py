"""How many reconnections a session may still make, and how soon. Sans-IO.

A server decides what it sends, so a budget reset by any event could be reset for ever: the
attempts are given back only once a connection was useful (a response completed on it, or it
stayed up ``useful_after`` seconds), and whatever happens no more than
``max_connects_per_minute`` connections are opened in any minute (renewals included).
"""

from __future__ import annotations

from collections import deque

import attrs

from ._reconnect import ReconnectPolicy

__all__ = ["ReconnectBudget"]

_WINDOW = 60.0


@attrs.define
class ReconnectBudget:
    """The attempts left under a :class:`ReconnectPolicy`, and the pace of connections."""

    policy: ReconnectPolicy
    spent: int = 0
    """Attempts made since the last useful connection."""
    _opened: deque[float] = attrs.field(factory=deque)

    def connection_ended(self, *, useful: bool) -> None:
        """A connection ended; a useful one gives the attempts back."""
        if useful:
            self.spent = 0

    def spend(self) -> float | None:
        """Take one attempt: its backoff delay, or None when none is left."""
        self.spent += 1
        if self.spent > self.policy.max_attempts:
            return None
        return self.policy.delay(self.spent)

    def pace(self, now: float, delay: float) -> float:
        """``delay`` stretched so that the connection it leads to keeps to the rate limit; the
        connection is counted at ``now`` + the returned delay."""
        opened = self._opened
        while opened and opened[0] <= now - _WINDOW:
            opened.popleft()
        if len(opened) >= self.policy.max_connects_per_minute:
            delay = max(delay, opened[-self.policy.max_connects_per_minute] + _WINDOW - now)
        opened.append(now + delay)
        return delay
