"""The session's queue of events for the caller, bounded in count and in bytes.

A count alone does not bound memory: a server decides how big a frame is, and a decoded
frame can take many times its wire size (a 15 MiB frame of ``[{},{},…]`` is about 370 MB of
Python objects). So the queue also holds at most ``max_bytes`` of frames, counted at their
wire size; one event is always let in, however big, so that nothing is refused.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import trio

from .._transport._inbox import Inbox

__all__ = ["InboundQueue"]

T = TypeVar("T")


class InboundQueue(Generic[T]):
    """A FIFO with a writer that waits while ``max_items`` or ``max_bytes`` are queued."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self._send, receive = trio.open_memory_channel[tuple[T, int]](max_items)
        self._inbox = Inbox(receive)
        self._max_bytes = max_bytes
        self._room = trio.Event()
        self.queued_bytes = 0
        """Wire bytes of the events queued."""

    @property
    def queued(self) -> int:
        """Events queued."""
        return self._send.statistics().current_buffer_used

    def _full(self, size: int) -> bool:
        return self.queued_bytes > 0 and self.queued_bytes + size > self._max_bytes

    def put_nowait(self, item: T, size: int) -> None:
        """Queue ``item`` of ``size`` wire bytes, or raise ``trio.WouldBlock``."""
        if self._full(size):
            raise trio.WouldBlock
        self._send.send_nowait((item, size))
        self.queued_bytes += size

    async def put(self, item: T, size: int = 0) -> None:
        """Queue ``item``, waiting for room; raises what a closed memory channel raises."""
        while self._full(size):
            if self._room.is_set():
                self._room = trio.Event()
            await self._room.wait()
        await self._send.send((item, size))
        self.queued_bytes += size

    async def get(self) -> T:
        """The next item; raises ``trio.EndOfChannel`` once closed and drained."""
        item, size = await self._inbox.receive()
        self.queued_bytes -= size
        if size and not self._room.is_set():
            self._room.set()
        return item

    def close(self) -> None:
        """No more items: a waiting writer gets ``trio.ClosedResourceError``."""
        self._send.close()
        self._room.set()
