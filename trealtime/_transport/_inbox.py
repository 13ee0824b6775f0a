"""Reading a memory channel without a trip through the scheduler for every item."""

from __future__ import annotations

from typing import Generic, TypeVar

import trio

__all__ = ["YIELD_EVERY", "Inbox"]

T = TypeVar("T")

YIELD_EVERY = 16
"""Items taken from the buffer in a row before a receive yields to other tasks."""


class Inbox(Generic[T]):
    """The receiving end of a memory channel that yields at least every ``YIELD_EVERY`` items.

    ``trio.MemoryReceiveChannel.receive`` yields to the scheduler even when an item is
    waiting; with a stream of small events that trip costs more than the event itself. Here
    a waiting item is taken at once (after a cancellation check), and every ``YIELD_EVERY``-th
    receive, like every receive that has to wait, goes through the scheduler, so a reader
    working through a backlog still lets the other tasks run. Raises what ``receive`` raises.
    """

    def __init__(self, channel: trio.MemoryReceiveChannel[T]) -> None:
        self._channel = channel
        self._streak = 0

    async def receive(self) -> T:
        if self._streak < YIELD_EVERY:
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                item = self._channel.receive_nowait()
            except trio.WouldBlock:
                pass
            else:
                self._streak += 1
                return item
        self._streak = 0
        return await self._channel.receive()
