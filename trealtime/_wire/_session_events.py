"""Events trealtime itself adds to a session's event stream (they never come from the wire).

They subclass :class:`ServerEvent` so that one ``match`` over ``async for event in session``
handles them too; their ``TYPE`` starts with ``trealtime.``.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from ._server_events import ServerEvent

__all__ = ["Reconnected", "Reconnecting"]


@attrs.frozen(kw_only=True)
class Reconnecting(ServerEvent):
    """The connection was lost; attempt ``attempt`` starts after ``delay`` seconds."""

    TYPE: ClassVar[str] = "trealtime.reconnecting"
    attempt: int
    delay: float
    code: int
    """The close code of the lost connection (1006 when it dropped without one)."""
    reason: str


@attrs.frozen(kw_only=True)
class Reconnected(ServerEvent):
    """A new connection is configured and the conversation was replayed onto it.

    ``replayed_items`` items were re-created; ``renewal`` is True when the client replaced a
    session that was about to expire, rather than one that was lost.
    """

    TYPE: ClassVar[str] = "trealtime.reconnected"
    attempt: int
    downtime: float
    replayed_items: int
    renewal: bool = False
