"""When to renew a session before the server's ``expires_at`` ends it. Sans-IO."""

from __future__ import annotations

__all__ = ["renewal_delay"]


def renewal_delay(lifetime: float, renew_before: float) -> float | None:
    """Seconds from now until a session with ``lifetime`` seconds left should be renewed.

    ``renew_before`` is the wish; the margin is at most half the lifetime, so a short session
    (or a client clock running fast, which makes it look short) is used for at least half of
    it first, and never closes itself during setup. A lifetime already over means the clock
    is far off: ``None``, no renewal (the server's own expiry ends the connection, and the
    reconnect policy takes over).
    """
    if lifetime <= 0:
        return None
    return lifetime - min(renew_before, lifetime / 2)
