"""Intermediate tool results: ``ToolProgress`` reports while the call stays open."""

from __future__ import annotations

import orjson
import pytest
import trio
from agent_helpers import MANUAL, agent, sent, settle

import trealtime
from trealtime import events
from trealtime.testing import FakeRealtimeServer, ToolCall


async def test_progress_goes_out_before_the_final_output_and_one_response_follows(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def find_flights(destination: str, progress: trealtime.ToolProgress) -> str:
        """Search flights."""
        await progress({"status": "searching", "destination": destination})
        await trio.sleep(3)  # a slow lookup
        return "two flights found"

    async with FakeRealtimeServer.serve_in_memory() as server:
        server.on_user_text("flights", call=ToolCall("find_flights", {"destination": "LIS"}))
        async with agent(server, MANUAL, tools=[find_flights]) as (session, log):
            with trio.fail_after(60):
                await session.send_text("any flights to Lisbon?")
                await log.wait_count(events.ResponseDone, 2)
                await settle()
    update = sent(server, events.SessionUpdate)[0]
    assert isinstance(update.session, events.SessionProperties)
    tool = update.session.tools[0] if isinstance(update.session.tools, list) else None
    assert isinstance(tool, events.FunctionTool) and isinstance(tool.parameters, dict)
    assert list(tool.parameters["properties"]) == ["destination"]  # progress is not a parameter
    created = [e.item for e in sent(server, events.ConversationItemCreate)]
    kinds = [type(item).__name__ for item in created]
    assert kinds == ["MessageItem", "MessageItem", "FunctionCallOutputItem"]
    progress = created[1]
    assert isinstance(progress, events.MessageItem) and progress.role == "system"
    note = orjson.loads(progress.text.split(": ", 1)[1])
    assert note["type"] == "tool_progress" and note["name"] == "find_flights"
    assert orjson.loads(note["result"]) == {"status": "searching", "destination": "LIS"}
    output = created[2]
    assert isinstance(output, events.FunctionCallOutputItem)
    assert output.output == "two flights found" and output.call_id == note["call_id"]
    assert len(sent(server, events.ResponseCreate)) == 2  # the turn, then one after the output


def test_a_sync_handler_cannot_take_progress() -> None:
    def lookup(code: str, progress: trealtime.ToolProgress) -> str:
        return code

    with pytest.raises(trealtime.ConfigurationError, match="async handler"):
        trealtime.tool_from_callable(lookup)
