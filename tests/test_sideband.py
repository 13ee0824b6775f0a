"""Sideband sessions (``call_id``): attach to an accepted call, and everything works on it."""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trio

from trealtime import (
    ConnectionRejected,
    RealtimeSettings,
    Session,
    SessionProperties,
    open_rest_client,
    open_session,
)
from trealtime._transport._connect import Endpoint
from trealtime.events import (
    ConversationItemCreate,
    FunctionCallOutputItem,
    InputAudioBufferDtmfEventReceived,
    InputAudioBufferSpeechStarted,
    OutputAudioBufferCleared,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    ResponseDone,
)
from trealtime.testing import FakeCall, FakeRealtimeServer, ToolCall


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("wss://api.openai.com/v1/realtime", {"call_id": "rtc_1"}),
        ("wss://api.openai.com/v1/realtime?call_id=rtc_1", None),
        ("wss://r.openai.azure.com/openai/v1/realtime", {"call_id": "rtc_1"}),
    ],
)
def test_a_call_id_replaces_the_model(url: str, extra: dict[str, str] | None) -> None:
    endpoint = Endpoint.build(url, model="gpt-realtime", extra_query=extra)
    query = parse_qs(urlsplit(endpoint.url).query)
    assert query == {"call_id": ["rtc_1"]}


async def accepted_call(server: FakeRealtimeServer, **session: object) -> FakeCall:
    call = server.calls.add(kind="sip")
    async with open_rest_client(api_key=server.api_key, url=server.url) as rest:
        await rest.accept_call(call.call_id, session={"model": "gpt-realtime", **session})
    return call


def call_session(
    server: FakeRealtimeServer, call: FakeCall, **options: Any
) -> AbstractAsyncContextManager[Session]:
    """A sideband session on ``call``, a call ``server`` accepted."""
    return open_session(api_key=server.api_key, url=server.url, call_id=call.call_id, **options)


@pytest.mark.parametrize("realtime_server_options", [{}, {"strict": True}])
async def test_a_sideband_session_starts_from_the_accepted_config(
    realtime_server: FakeRealtimeServer,
) -> None:
    call = await accepted_call(realtime_server, instructions="Answer the phone.")
    with trio.fail_after(10):
        async with call_session(
            realtime_server,
            call,
            settings=RealtimeSettings(model="ignored-on-a-call", temperature=0.9),
        ) as session:
            assert isinstance(session.properties, SessionProperties)
            assert session.properties.instructions == "Answer the phone."
            assert session.properties.model == "gpt-realtime"
    (handshake,) = realtime_server.handshakes
    assert parse_qs(urlsplit(handshake.path).query) == {"call_id": [call.call_id]}
    assert call.connections[0].closed


async def test_the_call_id_through_extra_query_adds_no_model(
    realtime_server: FakeRealtimeServer,
) -> None:
    call = await accepted_call(realtime_server)
    with trio.fail_after(10):
        async with open_session(
            api_key=realtime_server.api_key,
            url=realtime_server.url,
            extra_query={"call_id": call.call_id},
        ):
            pass
    assert "model" not in parse_qs(urlsplit(realtime_server.handshakes[0].path).query)


async def test_no_sideband_to_an_unknown_or_unaccepted_call(
    realtime_server: FakeRealtimeServer,
) -> None:
    ringing = realtime_server.calls.add(kind="sip")
    for call_id, status in (("rtc_unknown", 404), (ringing.call_id, 400)):
        with trio.fail_after(10), pytest.raises(ConnectionRejected) as caught:
            async with open_session(
                api_key=realtime_server.api_key, url=realtime_server.url, call_id=call_id
            ):
                pass
        assert caught.value.status_code == status


async def test_tools_transcripts_and_responses_run_on_a_call(
    realtime_server: FakeRealtimeServer,
) -> None:
    realtime_server.transcript = "where is my order A17"
    realtime_server.on_user_text("order", call=ToolCall("order_status", {"order_id": "A17"}))
    call = await accepted_call(
        realtime_server,
        audio={"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}},
    )
    asked: list[str] = []

    def order_status(order_id: str) -> dict[str, str]:
        """Where an order is."""
        asked.append(order_id)
        return {"order_id": order_id, "status": "shipped"}

    with trio.fail_after(20):
        async with call_session(realtime_server, call, tools=[order_status]) as session:
            await call.speak()
            first = await session.wait_for(ResponseDone)  # the tool call
            second = await session.wait_for(ResponseDone)  # the answer after it
            item_id = session.conversation[0].id
            assert isinstance(item_id, str)
            transcript = session.input_transcript(item_id)
    assert asked == ["A17"]
    assert transcript == "where is my order A17"
    outputs = [
        e.item
        for e in realtime_server.received
        if isinstance(e, ConversationItemCreate) and isinstance(e.item, FunctionCallOutputItem)
    ]
    assert json.loads(outputs[0].output) == {"order_id": "A17", "status": "shipped"}
    assert first.response.status == second.response.status == "completed"


async def test_dtmf_keys_arrive_typed_to_every_listener_until_the_call_ends(
    realtime_server: FakeRealtimeServer,
) -> None:
    call = await accepted_call(realtime_server)
    with trio.fail_after(10):
        async with call_session(realtime_server, call) as session:
            keys = session.dtmf()
            with session.dtmf() as early_leaver:
                await call.press("12")
                presses = [await early_leaver.__anext__(), await early_leaver.__anext__()]
            await call.press("#")
            event = await session.wait_for(InputAudioBufferDtmfEventReceived)
            await call.hang_up()
            got = [press async for press in keys]  # ends when the call's socket closes
    assert [p.event for p in presses] == ["1", "2"]
    assert all(isinstance(p, InputAudioBufferDtmfEventReceived) for p in got)
    assert [p.event for p in got] == ["1", "2", "#"]
    assert event.event == "1" and event.received_at > 0
    assert [p async for p in early_leaver] == []  # closed: nothing after it left


async def test_output_audio_buffer_events_are_typed(realtime_server: FakeRealtimeServer) -> None:
    call = await accepted_call(realtime_server)
    with trio.fail_after(10):
        async with call_session(realtime_server, call) as session:
            for kind in ("started", "stopped", "cleared"):
                await realtime_server.send_event(
                    {"type": f"output_audio_buffer.{kind}", "response_id": "resp_1"}
                )
            started = await session.wait_for(OutputAudioBufferStarted)
            stopped = await session.wait_for(OutputAudioBufferStopped)
            cleared = await session.wait_for(OutputAudioBufferCleared)
    assert started.response_id == stopped.response_id == cleared.response_id == "resp_1"


async def test_the_caller_speaking_reaches_the_session_as_vad_events(
    realtime_server: FakeRealtimeServer,
) -> None:
    call = await accepted_call(realtime_server)
    with trio.fail_after(10):
        async with call_session(realtime_server, call) as session:
            await call.speak()
            await session.wait_for(InputAudioBufferSpeechStarted)
            await session.wait_for(ResponseDone)
    # The caller's audio is not something this socket sent.
    assert not any(e.type == "input_audio_buffer.append" for e in realtime_server.received)
