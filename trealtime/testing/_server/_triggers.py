"""Triggers: faults armed to fire on the ``count``-th client event of a class, or server event
of a ``type``, on whichever connection of the server sees it (see :mod:`._faults`).

The connection counts its events against them through its ``FaultTriggers`` seam, so this
module sits above the connection and the connection does not know it.
"""

from __future__ import annotations

import attrs
import trio

from ...events import ClientEvent
from ._connection import FakeConnection
from ._faults import Fault

__all__ = ["Trigger", "Triggers"]


@attrs.define(eq=False)
class Trigger:
    """A fault armed to fire once, on the ``count``-th matching event after it was armed.

    ``event`` is a client event class, or the ``type`` of a server event.
    """

    event: type[ClientEvent] | str
    fault: Fault
    count: int = 1
    seen: int = 0
    fired: trio.Event = attrs.field(factory=trio.Event)
    """Set once the fault has been handed to a connection."""
    connection: FakeConnection | None = None
    """The connection the fault was applied to."""

    def matches(self, event: ClientEvent | str) -> bool:
        """Whether ``event`` (a client event, or a server event's type) is one to count."""
        if isinstance(self.event, str):
            return event == self.event
        return isinstance(event, self.event)


class Triggers:
    """The armed triggers of a server, shared by its connections."""

    def __init__(self) -> None:
        self._armed: list[Trigger] = []

    def arm(self, trigger: Trigger) -> Trigger:
        """Add a trigger; it fires once, then is removed."""
        if trigger.count < 1:
            raise ValueError("count must be at least 1")
        self._armed.append(trigger)
        return trigger

    @property
    def watch_server(self) -> bool:
        """Whether any trigger waits for a server event (so frame types are worth reading)."""
        return any(isinstance(t.event, str) for t in self._armed)

    def fire(self, event: ClientEvent | str | None, connection: FakeConnection) -> list[Fault]:
        """Count ``event``; the faults of the triggers it fires, in the order they were armed."""
        if event is None:
            return []
        faults = []
        for trigger in list(self._armed):
            if not trigger.matches(event):
                continue
            trigger.seen += 1
            if trigger.seen == trigger.count:
                self._armed.remove(trigger)
                trigger.connection = connection
                trigger.fired.set()
                faults.append(trigger.fault)
        return faults
