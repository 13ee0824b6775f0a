"""Voice-agent scenarios: the conversation mirror and shared retrieval waiters.

pipecat's case (§5): concurrent ``retrieve_conversation_item`` calls share one request and one
answer. Here also: a waiter that gives up must not take the answer away from the others.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from agent_helpers import MANUAL, agent, fake_server, sent, settle

from trealtime import events

pytestmark = pytest.mark.usefixtures("server_mode")


async def test_concurrent_retrievals_share_one_request_and_one_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    results: list[events.Item] = []
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, _),
    ):
        with trio.fail_after(60):
            item = await session.send_text("remember the blue door")
            assert isinstance(item.id, str)
            item_id = item.id

            async def retrieve() -> None:
                results.append(await session.retrieve_item(item_id))

            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(retrieve)
    assert len(sent(server, events.ConversationItemRetrieve)) == 1
    assert len(results) == 4
    assert all(
        isinstance(r, events.MessageItem) and r.text == "remember the blue door" for r in results
    )


async def test_a_cancelled_retrieval_does_not_strand_the_others_sharing_it(
    autojump_clock: trio.testing.MockClock,
) -> None:

    results: dict[str, events.Item] = {}
    async with (
        fake_server() as server,
        agent(server, MANUAL, read=False, inbound_buffer=1) as (session, _),
    ):

        async def drain(*, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
            with trio.CancelScope() as scope:
                task_status.started(scope)
                async for _ in session:
                    pass

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                reader = await nursery.start(drain)
                item = await session.send_text("remember the blue door")
                assert isinstance(item.id, str)
                item_id = item.id
                await settle()
                reader.cancel()
                # Hold the session's reader: unsolicited events fill its one-slot queue,
                # so the server's answer to the retrieval waits in the socket.
                await server.send_event({"type": "x.filler.one"})
                await server.send_event({"type": "x.filler.two"})
                await settle()

                first = trio.CancelScope()
                both = trio.Event()

                async def impatient() -> None:
                    with first:
                        await session.retrieve_item(item_id)

                async def patient(name: str) -> None:
                    results[name] = await session.retrieve_item(item_id)
                    if len(results) == 2:
                        both.set()

                nursery.start_soon(impatient)
                await settle()
                assert len(sent(server, events.ConversationItemRetrieve)) == 1
                nursery.start_soon(patient, "a")
                nursery.start_soon(patient, "b")
                await settle()
                first.cancel()  # the caller that sent the request gives up
                await settle()
                await nursery.start(drain)  # the session reads on: the answer arrives
                await both.wait()
                nursery.cancel_scope.cancel()
    assert len(sent(server, events.ConversationItemRetrieve)) == 1
    assert {r.id for r in results.values()} == {item_id}
