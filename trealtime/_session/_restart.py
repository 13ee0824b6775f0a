"""A requested restart: the old connection closes, a fresh server session replaces it.

``Session.restart`` records a :class:`RestartRequest` on the connection, closes it, and waits;
the session's supervisor sees why the connection ended and opens the new session (replaying
the conversation mirror or starting afresh), then settles the request.
"""

from __future__ import annotations

import attrs
import trio

__all__ = ["RestartRequest"]


@attrs.define(eq=False)
class RestartRequest:
    """One restart under way; concurrent callers share it."""

    keep_conversation: bool
    done: trio.Event = attrs.field(factory=trio.Event)
    error: BaseException | None = None

    def settle(self, error: BaseException | None = None) -> None:
        """The new session is ready (or could not be opened: ``error``)."""
        if not self.done.is_set():
            self.error = error
            self.done.set()

    async def wait(self) -> None:
        """Wait until settled; raise the error of a failed restart."""
        await self.done.wait()
        if self.error is not None:
            raise self.error
