"""A session after its ``async with`` block: every method refuses with
``trio.ClosedResourceError``, the state stays readable, and iteration ends at once."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

import trealtime
from trealtime import events
from trealtime.testing import FakeRealtimeServer

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def weather(city: str) -> str:
    """The weather."""
    return "sunny"


USES: dict[str, Callable[[trealtime.Session], Awaitable[Any] | Any]] = {
    "send": lambda s: s.send(events.InputAudioBufferClear()),
    "append_audio": lambda s: s.append_audio(bytes(960)),
    "commit_audio": lambda s: s.commit_audio(),
    "clear_audio": lambda s: s.clear_audio(),
    "send_text": lambda s: s.send_text("hello"),
    "send_image": lambda s: s.send_image(PNG),
    "send_video_frame": lambda s: s.send_video_frame(bytes(12), (2, 2)),
    "create_item": lambda s: s.create_item(events.MessageItem.user_text("hi")),
    "delete_item": lambda s: s.delete_item("item_1"),
    "truncate_item": lambda s: s.truncate_item("item_1", 0, 100),
    "retrieve_item": lambda s: s.retrieve_item("item_1"),
    "create_response": lambda s: s.create_response(),
    "cancel_response": lambda s: s.cancel_response(),
    "clear_output_audio": lambda s: s.clear_output_audio(),
    "update_settings": lambda s: s.update_settings(trealtime.RealtimeSettings()),
    "add_tool": lambda s: s.add_tool(weather),
    "remove_tool": lambda s: s.remove_tool("weather"),
    "set_tools": lambda s: s.set_tools([]),
    "interrupt": lambda s: s.interrupt(),
    "restart": lambda s: s.restart(),
    "dtmf": lambda s: s.dtmf(),
    "wait_for": lambda s: s.wait_for(events.ResponseDone),
    "set_audio_input_paused": lambda s: s.set_audio_input_paused(True),
    "set_video_input_paused": lambda s: s.set_video_input_paused(True),
    "set_video_frame_detail": lambda s: s.set_video_frame_detail("low"),
}
# A player's callback may report at any time, also after the block: these do nothing then.
PLAYBACK_REPORTS: dict[str, Callable[[trealtime.Session], None]] = {
    "report_playback": lambda s: s.report_playback(ms=10),
    "playback_finished": lambda s: s.playback_finished(),
}
READERS = {
    "properties",
    "settings",
    "conversation",
    "state",
    "active_response",
    "response_active",
    "rate_limits",
    "metrics",
    "tools",
    "close_reason",
    "closed",
    "input_transcript",
    "statistics",
    "transcription_only",
}


async def use(session: trealtime.Session, name: str) -> None:
    result = USES[name](session)
    if inspect.isawaitable(result):
        await result


def test_every_public_name_of_a_session_is_classified_here() -> None:
    public = {name for name in dir(trealtime.Session) if not name.startswith("_")}
    assert public == set(USES) | set(PLAYBACK_REPORTS) | READERS


@pytest.mark.parametrize("name", sorted(USES))
async def test_after_the_block_every_method_raises_closed_resource_error(
    autojump_clock: trio.testing.MockClock, name: str
) -> None:
    async with FakeRealtimeServer.serve_in_memory() as server:
        async with trealtime.open_session(
            url=server.url,
            api_key=server.api_key,
            connect_stream=server.connect_stream,
            tools=[weather],
        ) as session:
            await session.create_response()  # a response running as the block ends
            await session.wait_for(events.ResponseOutputAudioDelta)
        with pytest.raises(trio.ClosedResourceError):
            await use(session, name)
    for report in PLAYBACK_REPORTS.values():
        report(session)  # no error
    # The state stays readable.
    assert session.closed
    assert session.close_reason == trealtime.CloseReason(1000, "closed by the client")
    assert session.statistics().events_received > 0
    assert "weather" in session.tools


async def test_after_the_block_iteration_ends_without_leftover_events(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with FakeRealtimeServer.serve_in_memory() as server:
        async with trealtime.open_session(
            url=server.url, api_key=server.api_key, connect_stream=server.connect_stream
        ) as session:
            handle = await session.create_response()
            await handle.done()  # a whole response's events, left unread
            assert session.statistics().inbound_queued > 0
        leftovers = [event async for event in session]
    assert leftovers == []
