"""Inbox: a memory channel read without a scheduler trip per waiting item."""

from __future__ import annotations

import pytest
import trio

from trealtime._transport._inbox import YIELD_EVERY, Inbox


class _Steps(trio.abc.Instrument):
    """How many items ``task`` had received at the start of each of its steps."""

    def __init__(self, task: trio.lowlevel.Task, received: list[int]) -> None:
        self.task = task
        self.received = received
        self.marks: list[int] = []

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.marks.append(len(self.received))


async def test_backlog_is_read_in_order_yielding_every_few_items() -> None:
    """Through a backlog, the reader gives up the CPU (ends its step) at least every
    YIELD_EVERY + 1 receives, but not at every receive."""
    send, receive = trio.open_memory_channel[int](1000)
    for n in range(200):
        send.send_nowait(n)
    inbox = Inbox(receive)
    received: list[int] = []
    steps = _Steps(trio.lowlevel.current_task(), received)
    trio.lowlevel.add_instrument(steps)
    try:
        for _ in range(200):
            received.append(await inbox.receive())
    finally:
        trio.lowlevel.remove_instrument(steps)

    assert received == list(range(200))
    per_step = [b - a for a, b in zip(steps.marks, steps.marks[1:], strict=False)]
    assert per_step, "the reader never yielded"
    assert max(per_step) <= YIELD_EVERY + 1
    assert len(steps.marks) <= 200 // YIELD_EVERY + 1


async def test_receive_waits_for_an_item_and_then_gets_it() -> None:
    send, receive = trio.open_memory_channel[str](0)
    inbox = Inbox(receive)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send.send, "late")
        assert await inbox.receive() == "late"


async def test_cancelled_receive_raises_and_leaves_the_item() -> None:
    """A receive under a cancelled scope raises Cancelled even with an item waiting."""
    send, receive = trio.open_memory_channel[str](4)
    send.send_nowait("kept")
    inbox = Inbox(receive)
    with trio.CancelScope() as scope:
        scope.cancel()
        await inbox.receive()
        pytest.fail("receive did not raise Cancelled")  # pragma: no cover
    assert scope.cancelled_caught
    assert await inbox.receive() == "kept"


async def test_end_of_channel_after_the_last_item() -> None:
    send, receive = trio.open_memory_channel[str](4)
    send.send_nowait("last")
    await send.aclose()
    inbox = Inbox(receive)
    assert await inbox.receive() == "last"
    with pytest.raises(trio.EndOfChannel):
        await inbox.receive()


async def test_closed_receiving_end_raises_closed_resource_error() -> None:
    send, receive = trio.open_memory_channel[str](4)
    send.send_nowait("never read")
    await receive.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await Inbox(receive).receive()
