"""Every frame the fake server sends passes the official types' strict validation.

The ``openai`` package's pydantic models (generated from OpenAI's API spec) validate each frame
with ``strict=True``: exact enum values, no string where a number belongs. Checked for a voice
turn, a function call, an error and a transcription session, with the fake server in both
modes; in strict mode the optional fields it leaves out must leave every frame valid too, and
the client must still work (``trealtime/testing/_protocol/_strict.py``).
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from agent_helpers import MANUAL, agent, assert_frames_are_valid, pcm_silence, with_transcription

import trealtime
from trealtime import events
from trealtime.testing import FakeRealtimeServer, ToolCall

pytestmark = pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])


def assert_every_frame_is_valid(server: FakeRealtimeServer) -> list[str]:
    """Validate what the server sent on every connection; return the frames' types."""
    types = assert_frames_are_valid(server)
    assert types
    return types


async def test_a_voice_turn_sends_only_valid_frames(
    autojump_clock: trio.testing.MockClock, strict: bool
) -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(strict=strict, transcript="hello") as server,
        agent(server, with_transcription(MANUAL)) as (session, log),
    ):
        with trio.fail_after(60):
            await session.append_audio(pcm_silence(400))
            await session.commit_audio()
            await session.create_response()
            done = await log.wait_for(events.ResponseDone)
            await log.wait_for(events.ConversationItemInputAudioTranscriptionCompleted)
    assert done.response.final_status == "completed"
    sent = assert_every_frame_is_valid(server)
    for kind in ("response.output_audio.delta", "response.content_part.done", "session.updated"):
        assert kind in sent
    reply = session.conversation[-1]
    assert isinstance(reply, events.MessageItem) and reply.text


async def test_a_function_call_sends_only_valid_frames(
    autojump_clock: trio.testing.MockClock, strict: bool
) -> None:
    async def get_weather(city: str) -> str:
        """The current weather in a city."""
        return f"sunny in {city}"

    async with FakeRealtimeServer.serve_in_memory(strict=strict) as server:
        server.on_user_text("weather", call=ToolCall("get_weather", {"city": "Paris"}))
        async with agent(server, MANUAL, tools=[get_weather]) as (session, log):
            with trio.fail_after(60):
                await session.send_text("what's the weather in Paris?", respond=True)
                await log.wait_count(events.ResponseDone, 2)
    sent = assert_every_frame_is_valid(server)
    assert "response.function_call_arguments.done" in sent
    outputs = [
        e.item
        for e in server.received
        if isinstance(e, events.ConversationItemCreate)
        and isinstance(e.item, events.FunctionCallOutputItem)
    ]
    assert [o.output for o in outputs] == ["sunny in Paris"]
    assert "sunny in Paris" in session.conversation[-1].text  # type: ignore[union-attr]


async def test_an_error_sends_only_valid_frames(
    autojump_clock: trio.testing.MockClock, strict: bool
) -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(strict=strict) as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            await session.send(events.ConversationItemDelete(item_id="item_missing"))
            error = await log.wait_for(events.Error)
    assert error.error.type == "invalid_request_error"
    assert "error" in assert_every_frame_is_valid(server)


async def test_a_transcription_session_sends_only_valid_frames(
    autojump_clock: trio.testing.MockClock, strict: bool
) -> None:
    transcription = events.TranscriptionSessionProperties(
        audio=events.AudioConfig(
            input=events.AudioInput(
                transcription=events.InputAudioTranscription(model="gpt-4o-transcribe"),
                turn_detection=None,
            )
        )
    )
    async with (
        FakeRealtimeServer.serve_in_memory(strict=strict, transcript="hello there") as server,
        trealtime.open_session(
            url=server.url,
            api_key=server.api_key,
            connect_stream=server.connect_stream,
            settings=trealtime.RealtimeSettings(session_properties=transcription),
        ) as session,
    ):
        with trio.fail_after(60):
            await session.append_audio(pcm_silence(400))
            item_id = await session.commit_audio()
            completed = await session.wait_for(
                events.ConversationItemInputAudioTranscriptionCompleted
            )
    assert completed.item_id == item_id and completed.transcript == "hello there"
    sent = assert_every_frame_is_valid(server)
    assert "conversation.item.input_audio_transcription.delta" in sent
    assert "session.updated" in sent
