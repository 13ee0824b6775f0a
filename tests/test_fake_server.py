"""The fake Realtime server, driven by a raw trio-websocket client (not by trealtime's session)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import trio
import trio.testing
import trio_websocket
from hypothesis import given, settings
from hypothesis import strategies as st

from trealtime import events as ev
from trealtime.testing import (
    FakeRealtimeServer,
    ToolCall,
    echo_reply,
    silence,
    synthesize_speech,
)
from trealtime.testing._protocol._audio import encode_g711
from trealtime.testing._protocol._ids import IdFactory
from trealtime.testing._protocol._script import Script
from trealtime.testing._protocol._session import FakeSession

E = TypeVar("E", bound=ev.ServerEvent)
MAX_MESSAGE = 16 * 1024 * 1024
TEXT_ITEM = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
MANUAL = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}


class Client:
    """A bare WebSocket client speaking JSON events."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.log: list[ev.ServerEvent] = []

    async def send(self, event: Mapping[str, Any]) -> None:
        await self.ws.send_message(json.dumps(event))

    async def recv(self) -> ev.ServerEvent:
        event = ev.decode_server_event(await self.ws.get_message(), strict=True)
        self.log.append(event)
        return event

    async def expect(self, cls: type[E]) -> E:
        event = await self.recv()
        assert isinstance(event, cls), event
        return event

    async def until(
        self, cls: type[E], predicate: Callable[[E], bool] = lambda _: True
    ) -> list[ev.ServerEvent]:
        """Every event up to and including the first ``cls`` matching ``predicate``."""
        seen = []
        while True:
            event = await self.recv()
            seen.append(event)
            if isinstance(event, cls) and predicate(event):
                return seen

    async def update(self, session: Mapping[str, Any]) -> ev.SessionUpdated:
        await self.send({"type": "session.update", "session": session})
        return await self.expect(ev.SessionUpdated)

    async def error(self, event: Mapping[str, Any]) -> ev.ErrorDetail:
        """Send ``event`` and return the error it causes (skipping unrelated events)."""
        await self.send({"event_id": "evt_1", **event})
        found = (await self.until(ev.Error))[-1]
        assert isinstance(found, ev.Error) and found.error.event_id == "evt_1"
        return found.error


def auth(server: FakeRealtimeServer) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {server.api_key}".encode())]


async def open_ws(
    server: FakeRealtimeServer,
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    *,
    headers: list[tuple[bytes, bytes]] | None,
    subprotocols: Sequence[str] = (),
    query: str = "?model=gpt-realtime",
) -> trio_websocket.WebSocketConnection:
    return await trio_websocket.wrap_client_stream(
        nursery,
        cast(trio.SocketStream, stream),  # any trio Stream works
        "fake-realtime",
        "/v1/realtime" + query,
        subprotocols=subprotocols,
        extra_headers=auth(server) if headers is None else headers,
        max_message_size=MAX_MESSAGE,
    )


@asynccontextmanager
async def connect(
    server: FakeRealtimeServer,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    subprotocols: Sequence[str] = (),
    query: str = "?model=gpt-realtime",
    session: Mapping[str, Any] | None = None,
) -> AsyncIterator[Client]:
    """Connect, read ``session.created``, and apply ``session`` if given."""
    stream = await server.connect_stream("fake-realtime", 443, True)
    async with stream, trio.open_nursery() as nursery:
        ws = await open_ws(
            server, nursery, stream, headers=headers, subprotocols=subprotocols, query=query
        )
        client = Client(ws)
        try:
            await client.expect(ev.SessionCreated)
            if session is not None:
                await client.update(session)
            yield client
        finally:
            with trio.move_on_after(2):
                await ws.aclose()
            nursery.cancel_scope.cancel()


async def handshake_status(server: FakeRealtimeServer, headers: list[tuple[bytes, bytes]]) -> int:
    """The HTTP status of a rejected handshake (trio-websocket raises it from its reader task)."""
    stream = await server.connect_stream("fake-realtime", 443, True)
    rejected: list[trio_websocket.ConnectionRejected] = []
    try:
        async with stream, trio.open_nursery() as nursery:
            await open_ws(server, nursery, stream, headers=headers)
            raise AssertionError("handshake accepted")
    except* trio_websocket.ConnectionRejected as group:
        rejected = [cast(trio_websocket.ConnectionRejected, e) for e in group.exceptions]
    body = json.loads(rejected[0].body or b"{}")
    assert body["error"]["type"] == "invalid_request_error"
    return rejected[0].status_code


def pcm(ms: int) -> str:
    return base64.b64encode(silence(ms)).decode()


def message_text(item: ev.Item) -> str:
    assert isinstance(item, ev.MessageItem)
    return item.text


# -- transport and handshake -----------------------------------------------------------------------


async def test_tcp_handshake_checks_the_key() -> None:
    with trio.fail_after(10):
        async with FakeRealtimeServer.serve() as server:
            assert server.url.startswith("ws://127.0.0.1:")
            assert await handshake_status(server, []) == 401
            assert await handshake_status(server, [(b"authorization", b"Bearer sk-wrong")]) == 401
            async with connect(server, session=MANUAL) as client:
                await client.update({"type": "realtime", "instructions": "Be brief."})
                await client.send({"type": "response.create"})
                done = (await client.until(ev.ResponseDone))[-1]
                assert isinstance(done, ev.ResponseDone) and done.response.status == "completed"
            async with connect(server, headers=[(b"api-key", server.api_key.encode())]):
                pass
            protocols = ["realtime", f"openai-insecure-api-key.{server.api_key}"]
            async with connect(server, headers=[], subprotocols=protocols) as client:
                assert client.ws.subprotocol == "realtime"
            assert [h.status for h in server.handshakes] == [401, 401, 101, 101, 101]
            assert server.handshakes[2].headers["authorization"] == f"Bearer {server.api_key}"


async def test_configured_handshake_rejection() -> None:
    async with FakeRealtimeServer.serve_in_memory(reject_handshake=403) as server:
        assert await handshake_status(server, auth(server)) == 403
        server.reject_handshake = None
        async with connect(server):
            pass


async def test_server_exit_closes_connections_with_1001() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            async with FakeRealtimeServer.serve() as server:
                stream = await server.connect_stream("", 0, False)
                ws = await open_ws(server, nursery, stream, headers=None)
                await ws.get_message()  # session.created
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason is not None
            assert info.value.reason.code == 1001
            await stream.aclose()


async def test_scripted_close_and_abort() -> None:
    async with FakeRealtimeServer.serve_in_memory() as server:
        async with connect(server) as client:
            connection = await server.wait_for_connection()
            await connection.close(4000, "scripted")
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await client.recv()
            assert info.value.reason is not None
            assert (info.value.reason.code, info.value.reason.reason) == (4000, "scripted")
        async with connect(server) as client:
            connection = await server.wait_for_connection()
            await connection.abort()
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await client.recv()
            assert info.value.reason is not None
            assert info.value.reason.code == 1006  # no close frame
            await connection.wait_closed()


# -- session --------------------------------------------------------------------------------------


async def test_session_created_and_update_round_trip() -> None:
    async with FakeRealtimeServer.serve_in_memory() as server:
        stream = await server.connect_stream("", 0, False)
        async with stream, trio.open_nursery() as nursery:
            ws = await open_ws(
                server, nursery, stream, headers=None, query="?model=gpt-realtime-mini"
            )
            client = Client(ws)
            created = (await client.expect(ev.SessionCreated)).session
            assert isinstance(created, ev.SessionProperties)
            assert created.model == "gpt-realtime-mini"
            assert created.output_modalities == ["audio"]
            assert isinstance(created.audio, ev.AudioConfig)
            assert isinstance(created.audio.input, ev.AudioInput)
            assert created.audio.input.turn_detection == ev.ServerVad(
                threshold=0.5,
                prefix_padding_ms=300,
                silence_duration_ms=200,
                create_response=True,
                interrupt_response=True,
                idle_timeout_ms=None,
            )
            assert isinstance(created.expires_at, int)
            updated = (
                await client.update(
                    {
                        "type": "realtime",
                        "instructions": "Be terse.",
                        "audio": {
                            "input": {"turn_detection": {"type": "semantic_vad"}},
                            "output": {"voice": "marin"},
                        },
                    }
                )
            ).session
            assert isinstance(updated, ev.SessionProperties)
            assert updated.instructions == "Be terse."
            assert updated.model == "gpt-realtime-mini"  # the full session comes back
            assert isinstance(updated.audio, ev.AudioConfig)
            assert isinstance(updated.audio.input, ev.AudioInput)
            assert isinstance(updated.audio.output, ev.AudioOutput)
            assert updated.audio.output.voice == "marin"
            assert updated.audio.output.speed == 1.0
            assert updated.audio.input.turn_detection == ev.SemanticVad(
                eagerness="auto", create_response=True, interrupt_response=True
            )
            await ws.aclose()
            nursery.cancel_scope.cancel()
        connection = server.connections[0]
        assert isinstance(connection.received[0], ev.SessionUpdate)
        assert server.received == connection.received


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"instructions": "x"}, "missing_required_parameter", "session.type"),
        ({"type": "realtime", "voice": "ash"}, "unknown_parameter", "session.voice"),
        ({"type": "realtime", "modalities": ["text"]}, "unknown_parameter", "session.modalities"),
        (
            {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "loud"}}}},
            "invalid_value",
            "session.audio.input.turn_detection.type",
        ),
        ({"type": "realtime", "instructions": 3}, "invalid_type", "session.instructions"),
        (
            {"type": "realtime", "model": "gpt-4o-realtime-preview"},
            "invalid_value",
            "session.model",
        ),
        ({"type": "realtime", "max_output_tokens": 0}, "integer_below_min_value", None),
        ({"type": "transcription"}, "invalid_value", "session.type"),
    ],
)
async def test_session_update_errors_apply_nothing(
    session: dict[str, Any], code: str, param: str | None
) -> None:
    async with FakeRealtimeServer.serve_in_memory() as server, connect(server) as client:
        error = await client.error({"type": "session.update", "session": session})
        assert error.type == "invalid_request_error"
        assert error.code == code
        assert error.param == (param or "session.max_output_tokens")
        if code == "unknown_parameter":
            assert error.message == f"Unknown parameter: '{param}'."
        after = (await client.update({"type": "realtime"})).session
        assert isinstance(after, ev.SessionProperties)
        assert after.instructions != "x"
        assert after.max_output_tokens == "inf"


async def test_voice_is_locked_after_audio_output() -> None:
    async with FakeRealtimeServer.serve_in_memory() as server, connect(server) as client:
        await client.update({"type": "realtime", "audio": {"output": {"voice": "cedar"}}})
        await client.send({"type": "response.create"})
        await client.until(ev.ResponseDone)
        error = await client.error(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"output": {"voice": "ash"}}},
            }
        )
        assert error.code == "cannot_update_voice"
        await client.update({"type": "realtime", "audio": {"output": {"voice": "cedar"}}})


async def test_bad_frames_get_errors_not_crashes() -> None:
    async with FakeRealtimeServer.serve_in_memory() as server, connect(server) as client:
        error = await client.error({"type": "response.frobnicate"})
        assert (error.code, error.param) == ("invalid_value", "type")
        assert "'response.frobnicate'" in error.message
        error = await client.error({"type": "transcription_session.update", "session": {}})
        assert error.code == "invalid_value"
        await client.ws.send_message("{not json")
        assert (await client.expect(ev.Error)).error.code == "invalid_event"
        await client.ws.send_message(b"\x00\x01")
        assert (await client.expect(ev.Error)).error.code == "invalid_event"
        error = await client.error({"type": "input_audio_buffer.append", "audio": "***"})
        assert (error.code, error.param) == ("invalid_value", "audio")
        error = await client.error({"type": "conversation.item.create"})
        assert (error.code, error.param) == ("missing_required_parameter", "item")
        error = await client.error(
            {"type": "response.create", "response": {"modalities": ["text"]}}
        )
        assert (error.code, error.param) == ("unknown_parameter", "response.modalities")
        error = await client.error({"type": "output_audio_buffer.clear"})
        assert error.type == "invalid_request_error"
        kinds = [type(e).__name__ for e in server.received]
        assert kinds[:4] == [
            "UnknownClientEvent",
            "TranscriptionSessionUpdate",
            "InvalidClientEvent",
            "InvalidClientEvent",
        ]
        assert server.connections[0].frames[3] == b"\x00\x01"
        await client.update({"type": "realtime"})  # still alive


# -- conversation items ---------------------------------------------------------------------------


def user_text(text: str, item_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }
    return item if item_id is None else {**item, "id": item_id}


async def create(client: Client, item: Mapping[str, Any], **extra: Any) -> ev.ConversationItemAdded:
    await client.send({"type": "conversation.item.create", "item": item, **extra})
    added = await client.expect(ev.ConversationItemAdded)
    done = await client.expect(ev.ConversationItemDone)
    assert done.item == added.item
    return added


async def test_item_create_retrieve_delete() -> None:
    async with FakeRealtimeServer.serve_in_memory() as server, connect(server) as client:
        first = await create(client, user_text("one", "item_one"))
        assert first.previous_item_id is None
        assert first.item.id == "item_one"
        second = await create(client, user_text("two"))
        assert second.previous_item_id == "item_one"
        assert isinstance(second.item.id, str) and second.item.id.startswith("item_")
        assert len(second.item.id) == len("item_") + 21
        root = await create(client, user_text("zero"), previous_item_id="root")
        assert root.previous_item_id is None
        middle = await create(client, user_text("half"), previous_item_id="item_one")
        assert middle.previous_item_id == "item_one"
        order = [message_text(s.item) for s in server.connections[0].state.conversation]
        assert order == ["zero", "one", "half", "two"]

        await client.send({"type": "conversation.item.retrieve", "item_id": "item_one"})
        retrieved = await client.expect(ev.ConversationItemRetrieved)
        assert message_text(retrieved.item) == "one"
        await client.send({"type": "conversation.item.delete", "item_id": "item_one"})
        assert (await client.expect(ev.ConversationItemDeleted)).item_id == "item_one"

        cases: list[tuple[dict[str, Any], str]] = [
            ({"type": "conversation.item.retrieve", "item_id": "item_one"}, "item_id"),
            ({"type": "conversation.item.delete", "item_id": "nope"}, "item_id"),
            (
                {
                    "type": "conversation.item.create",
                    "item": user_text("x"),
                    "previous_item_id": "nope",
                },
                "previous_item_id",
            ),
            (
                {
                    "type": "conversation.item.truncate",
                    "item_id": "nope",
                    "content_index": 0,
                    "audio_end_ms": 0,
                },
                "item_id",
            ),
        ]
        for event, param in cases:
            error = await client.error(event)
            assert (error.type, error.code, error.param) == (
                "invalid_request_error",
                "item_not_found",
                param,
            )
        assert len(server.connections[0].state.conversation) == 3  # nothing added by the failures


async def test_item_create_rules() -> None:
    async with FakeRealtimeServer.serve_in_memory() as server, connect(server) as client:
        await create(client, user_text("one", "item_a"))
        error = await client.error(
            {"type": "conversation.item.create", "item": user_text("again", "item_a")}
        )
        assert error.param == "item.id"
        audio_reply = {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_audio", "transcript": "hi"}],
        }
        error = await client.error({"type": "conversation.item.create", "item": audio_reply})
        assert (error.code, error.param) == ("invalid_value", "item.content[0].type")
        output = {"type": "function_call_output", "call_id": "call_missing", "output": "{}"}
        error = await client.error({"type": "conversation.item.create", "item": output})
        assert error.param == "item.call_id"


# -- input audio ----------------------------------------------------------------------------------


async def test_commit_needs_100_ms() -> None:
    async with (
        FakeRealtimeServer.serve_in_memory() as server,
        connect(server, session=MANUAL) as client,
    ):
        await client.send({"type": "input_audio_buffer.append", "audio": pcm(99)})
        error = await client.error({"type": "input_audio_buffer.commit"})
        assert error.code == "input_audio_buffer_commit_empty"
        assert error.message.endswith("but buffer only has 99.00ms of audio.")
        await client.send({"type": "input_audio_buffer.clear"})
        await client.expect(ev.InputAudioBufferCleared)
        error = await client.error({"type": "input_audio_buffer.commit"})
        assert "only has 0.00ms" in error.message

        await client.send({"type": "input_audio_buffer.append", "audio": pcm(60)})
        await client.send({"type": "input_audio_buffer.append", "audio": pcm(40)})
        await client.send({"type": "input_audio_buffer.commit"})
        committed = await client.expect(ev.InputAudioBufferCommitted)
        added = await client.expect(ev.ConversationItemAdded)
        done = await client.expect(ev.ConversationItemDone)
        assert added.item.id == done.item.id == committed.item_id
        assert added.item == ev.MessageItem(
            id=committed.item_id,
            role="user",
            status="completed",
            content=[ev.InputAudio(transcript=None)],
        )
        await client.send({"type": "conversation.item.retrieve", "item_id": committed.item_id})
        item = (await client.expect(ev.ConversationItemRetrieved)).item
        assert isinstance(item, ev.MessageItem) and isinstance(item.content[0], ev.InputAudio)
        assert item.content[0].audio_bytes() == silence(100)
        assert not server.connections[0].state.active_responses()  # manual mode: no response


def speech_turn(gap_ms: int = 500) -> bytes:
    """Silence, one second of speech, then ``gap_ms`` of silence (onset 500 ms, offset 1500 ms)."""
    return silence(500) + synthesize_speech(1000, seed=3) + silence(gap_ms)


async def append_in_chunks(client: Client, audio: bytes, chunk_ms: int = 20) -> None:
    step = chunk_ms * 48
    for i in range(0, len(audio), step):
        await client.send(
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(audio[i : i + step]).decode(),
            }
        )


async def test_server_vad_commits_and_responds() -> None:
    session = {
        "type": "realtime",
        "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
    }
    async with (
        FakeRealtimeServer.serve_in_memory(transcript="book the nine am one") as server,
        connect(server, session=session) as client,
    ):
        await append_in_chunks(client, speech_turn())
        started = await client.expect(ev.InputAudioBufferSpeechStarted)
        stopped = await client.expect(ev.InputAudioBufferSpeechStopped)
        assert abs(started.audio_start_ms - (500 - 300)) <= 20  # onset minus prefix padding
        assert abs(stopped.audio_end_ms - (1500 + 200)) <= 20  # offset plus silence window
        committed = await client.expect(ev.InputAudioBufferCommitted)
        assert started.item_id == stopped.item_id == committed.item_id
        await client.expect(ev.ConversationItemAdded)
        await client.expect(ev.ConversationItemDone)
        transcription = await client.until(ev.ConversationItemInputAudioTranscriptionCompleted)
        deltas = [
            e
            for e in transcription
            if isinstance(e, ev.ConversationItemInputAudioTranscriptionDelta)
        ]
        completed = transcription[-1]
        assert isinstance(completed, ev.ConversationItemInputAudioTranscriptionCompleted)
        assert (
            completed.transcript == "book the nine am one" == "".join(str(d.delta) for d in deltas)
        )
        assert completed.item_id == committed.item_id
        created = await client.expect(ev.ResponseCreated)  # create_response: true
        done = await client.until(ev.ResponseDone)
        assert isinstance(done[-1], ev.ResponseDone)
        assert done[-1].response.id == created.response.id
        user = server.connections[0].state.conversation.get(committed.item_id)
        duration_ms = len(user.audio) // 48
        assert abs(duration_ms - (stopped.audio_end_ms - started.audio_start_ms)) <= 1


async def test_vad_on_g711_input() -> None:
    session = {
        "type": "realtime",
        "audio": {
            "input": {
                "format": {"type": "audio/pcma"},
                "turn_detection": {"type": "server_vad", "create_response": False},
            }
        },
    }
    speech = silence(500, sample_rate=8000) + synthesize_speech(1000, sample_rate=8000, seed=3)
    alaw = encode_g711(speech + silence(400, sample_rate=8000), "audio/pcma")
    async with (
        FakeRealtimeServer.serve_in_memory() as server,
        connect(server, session=session) as client,
    ):
        for i in range(0, len(alaw), 160):  # 20 ms at 8 bytes per ms
            chunk = base64.b64encode(alaw[i : i + 160]).decode()
            await client.send({"type": "input_audio_buffer.append", "audio": chunk})
        started = await client.expect(ev.InputAudioBufferSpeechStarted)
        stopped = await client.expect(ev.InputAudioBufferSpeechStopped)
        assert abs(started.audio_start_ms - 200) <= 20
        assert abs(stopped.audio_end_ms - 1700) <= 20
        committed = await client.expect(ev.InputAudioBufferCommitted)
        stored = server.connections[0].state.conversation.get(committed.item_id)
        assert len(stored.audio) == (stopped.audio_end_ms - started.audio_start_ms) * 8
        await client.until(ev.ConversationItemDone)
        await client.send({"type": "input_audio_buffer.clear"})
        await client.expect(ev.InputAudioBufferCleared)  # no response: create_response is off


async def test_vad_barge_in_cancels_the_response(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(realtime=True, reply="A long answer. " * 10) as server,
        connect(server) as client,
    ):
        await create(client, user_text("tell me"))
        await client.send({"type": "response.create"})
        await client.until(ev.ResponseOutputAudioDelta)
        await append_in_chunks(client, speech_turn(300))
        seen = await client.until(ev.ResponseDone)
        started = [e for e in seen if isinstance(e, ev.InputAudioBufferSpeechStarted)]
        assert len(started) == 1
        done = seen[-1]
        assert isinstance(done, ev.ResponseDone)
        assert done.response.status == "cancelled"
        assert done.response.status_details == ev.StatusDetails(
            type="cancelled", reason="turn_detected"
        )
        assert seen.index(started[0]) < seen.index(done)
        # The user's turn ends, is committed, and gets its own response.
        await client.until(ev.InputAudioBufferCommitted)
        await client.until(ev.ResponseCreated)


# -- responses ------------------------------------------------------------------------------------

AUDIO_SEQUENCE_HEAD = [
    ev.ResponseCreated,
    ev.ResponseOutputItemAdded,
    ev.ConversationItemAdded,
    ev.ResponseContentPartAdded,
]
AUDIO_SEQUENCE_TAIL = [
    ev.ResponseOutputAudioDone,
    ev.ResponseOutputAudioTranscriptDone,
    ev.ResponseContentPartDone,
    ev.ResponseOutputItemDone,
    ev.ConversationItemDone,
    ev.RateLimitsUpdated,
    ev.ResponseDone,
]


def split_sequence(
    seen: list[ev.ServerEvent],
) -> tuple[list[type], list[ev.ServerEvent], list[type]]:
    head = [type(e) for e in seen[:4]]
    deltas = seen[4:-7]
    tail = [type(e) for e in seen[-7:]]
    return head, deltas, tail


async def test_audio_response_sequence() -> None:
    reply = "The nine a.m. flight is booked."
    async with FakeRealtimeServer.serve_in_memory(reply=reply) as server, connect(server) as client:
        user = await create(client, user_text("Book the 9am one."))
        await client.send({"type": "response.create"})
        seen = await client.until(ev.ResponseDone)
        head, deltas, tail = split_sequence(seen)
        assert head == AUDIO_SEQUENCE_HEAD
        assert tail == AUDIO_SEQUENCE_TAIL
        assert {type(e) for e in deltas} == {
            ev.ResponseOutputAudioDelta,
            ev.ResponseOutputAudioTranscriptDelta,
        }
        created, added, conv_added, part_added = seen[:4]
        assert isinstance(created, ev.ResponseCreated)
        assert created.response.status == "in_progress" and created.response.usage is None
        assert isinstance(added, ev.ResponseOutputItemAdded)
        assert added.item == ev.MessageItem(
            id=added.item.id, role="assistant", status="in_progress", content=[]
        )
        assert isinstance(conv_added, ev.ConversationItemAdded)
        assert conv_added.previous_item_id == user.item.id
        assert isinstance(part_added, ev.ResponseContentPartAdded)
        assert part_added.part == ev.OutputAudio(
            type="audio", transcript=""
        )  # the schema's spelling

        audio = b"".join(
            e.audio_bytes() for e in deltas if isinstance(e, ev.ResponseOutputAudioDelta)
        )
        chunks = [
            len(e.audio_bytes()) for e in deltas if isinstance(e, ev.ResponseOutputAudioDelta)
        ]
        assert chunks[0] == 4800  # 100 ms of PCM16 at 24 kHz
        transcript = "".join(
            e.delta for e in deltas if isinstance(e, ev.ResponseOutputAudioTranscriptDelta)
        )
        assert transcript == reply
        assert len(audio) // 48 >= 1000  # about 65 ms per character
        transcript_done = seen[-6]
        assert isinstance(transcript_done, ev.ResponseOutputAudioTranscriptDone)
        assert transcript_done.transcript == reply

        done = seen[-1]
        assert isinstance(done, ev.ResponseDone)
        response = done.response
        assert (response.status, response.status_details) == ("completed", None)
        assert response.conversation_id == server.connections[0].state.conversation_id
        assert isinstance(response.output, list) and len(response.output) == 1
        assert response.output[0] == ev.MessageItem(
            id=added.item.id,
            role="assistant",
            status="completed",
            content=[ev.OutputAudio(transcript=reply)],
        )
        usage = response.usage
        assert isinstance(usage, ev.Usage)
        assert usage.output_token_details == ev.OutputTokenDetails(
            text_tokens=-(-len(reply) // 4), audio_tokens=-(-len(audio) // 48 // 50)
        )
        assert isinstance(usage.input_tokens, int) and isinstance(usage.output_tokens, int)
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens

        await client.send({"type": "conversation.item.retrieve", "item_id": added.item.id})
        item = (await client.expect(ev.ConversationItemRetrieved)).item
        assert isinstance(item, ev.MessageItem) and isinstance(item.content[0], ev.OutputAudio)
        assert item.content[0].audio_bytes() == audio


async def test_text_response_and_echo_reply() -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(reply=echo_reply) as server,
        connect(server, session={"type": "realtime", "output_modalities": ["text"]}) as client,
    ):
        await create(client, user_text("ping pong"))
        await client.send({"type": "response.create", "response": {"metadata": {"turn": "1"}}})
        seen = await client.until(ev.ResponseDone)
        kinds = [type(e) for e in seen]
        assert kinds[:4] == AUDIO_SEQUENCE_HEAD
        assert set(kinds[4:-6]) == {ev.ResponseOutputTextDelta}
        assert kinds[-6:] == [
            ev.ResponseOutputTextDone,
            ev.ResponseContentPartDone,
            ev.ResponseOutputItemDone,
            ev.ConversationItemDone,
            ev.RateLimitsUpdated,
            ev.ResponseDone,
        ]
        part = seen[3]
        assert isinstance(part, ev.ResponseContentPartAdded) and part.part == ev.OutputText(
            type="text", text=""
        )
        text_done = seen[-6]
        assert isinstance(text_done, ev.ResponseOutputTextDone)
        assert text_done.text == "You said: ping pong"
        done = seen[-1]
        assert isinstance(done, ev.ResponseDone)
        assert done.response.metadata == {"turn": "1"}
        assert done.response.output_modalities == ["text"]


async def test_g711_output_format() -> None:
    session = {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}
    async with (
        FakeRealtimeServer.serve_in_memory() as server,
        connect(server, session=session) as client,
    ):
        await client.send({"type": "response.create"})
        seen = await client.until(ev.ResponseDone)
        chunks = [len(e.audio_bytes()) for e in seen if isinstance(e, ev.ResponseOutputAudioDelta)]
        assert chunks[0] == 800  # 100 ms at 8 bytes per ms
        assert len(set(chunks[:-1])) == 1


async def test_max_output_tokens_makes_it_incomplete() -> None:
    async with FakeRealtimeServer.serve_in_memory() as server, connect(server) as client:
        await client.send({"type": "response.create", "response": {"max_output_tokens": 5}})
        done = (await client.until(ev.ResponseDone))[-1]
        assert isinstance(done, ev.ResponseDone)
        assert done.response.status == "incomplete"
        assert done.response.status_details == ev.StatusDetails(
            type="incomplete", reason="max_output_tokens"
        )
        assert isinstance(done.response.usage, ev.Usage)
        assert isinstance(done.response.usage.output_tokens, int)
        assert done.response.usage.output_tokens <= 5


async def test_cancel_and_active_response_conflict(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(realtime=True) as server,
        connect(server, session=MANUAL) as client,
    ):
        await client.send({"type": "response.create"})
        created = await client.expect(ev.ResponseCreated)
        error = await client.error({"type": "response.create"})
        assert error.code == "conversation_already_has_active_response"
        assert str(created.response.id) in error.message
        await client.until(ev.ResponseOutputAudioDelta)
        await client.send({"type": "response.cancel"})
        seen = await client.until(ev.ResponseDone)
        assert [type(e) for e in seen[-7:]] == AUDIO_SEQUENCE_TAIL
        done = seen[-1]
        assert isinstance(done, ev.ResponseDone)
        assert done.response.status == "cancelled"
        assert done.response.status_details == ev.StatusDetails(
            type="cancelled", reason="client_cancelled"
        )
        item_done = seen[-4]
        assert isinstance(item_done, ev.ResponseOutputItemDone)
        assert isinstance(item_done.item, ev.MessageItem)
        assert item_done.item.status == "incomplete"
        # What the .done events say is exactly what the deltas carried.
        said = "".join(
            e.delta for e in client.log if isinstance(e, ev.ResponseOutputAudioTranscriptDelta)
        )
        transcript_done = seen[-6]
        assert isinstance(transcript_done, ev.ResponseOutputAudioTranscriptDone)
        assert transcript_done.transcript == said

        error = await client.error({"type": "response.cancel"})
        assert error.code == "response_cancel_not_active"
        assert error.message == "Cancellation failed: no active response found"
        await client.send({"type": "response.create"})  # allowed again
        await client.expect(ev.ResponseCreated)


async def test_truncate_assistant_audio() -> None:
    async with (
        FakeRealtimeServer.serve_in_memory() as server,
        connect(server, session=MANUAL) as client,
    ):
        user = await create(client, user_text("hi"))
        await client.send({"type": "response.create"})
        seen = await client.until(ev.ResponseDone)
        added = seen[1]
        assert isinstance(added, ev.ResponseOutputItemAdded)
        item_id = str(added.item.id)
        audio_ms = (
            sum(len(e.audio_bytes()) for e in seen if isinstance(e, ev.ResponseOutputAudioDelta))
            // 48
        )

        truncate = {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0}
        error = await client.error({**truncate, "audio_end_ms": audio_ms + 500})
        assert error.type == "invalid_request_error"
        assert (
            error.message
            == f"Audio content of {audio_ms}ms is already shorter than {audio_ms + 500}ms"
        )
        error = await client.error({**truncate, "item_id": user.item.id, "audio_end_ms": 0})
        assert error.message == "Only model output audio messages can be truncated"
        # An assistant audio item with a content index it does not have: that index is wrong.
        error = await client.error({**truncate, "content_index": 3, "audio_end_ms": 100})
        assert (error.code, error.param) == ("invalid_value", "content_index")
        assert error.message.startswith(f"Invalid 'content_index': item {item_id} has no audio")
        # A negative position is refused as invalid, not as "already shorter than -5ms".
        error = await client.error({**truncate, "audio_end_ms": -5})
        assert (error.code, error.param) == ("integer_below_min_value", "audio_end_ms")
        assert error.message == (
            "Invalid 'audio_end_ms': integer below minimum value. Expected a value >= 0,"
            " but got -5 instead."
        )

        await client.send({**truncate, "audio_end_ms": 300})
        truncated = await client.expect(ev.ConversationItemTruncated)
        assert (truncated.item_id, truncated.audio_end_ms) == (item_id, 300)
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        item = (await client.expect(ev.ConversationItemRetrieved)).item
        assert isinstance(item, ev.MessageItem) and isinstance(item.content[0], ev.OutputAudio)
        assert len(item.content[0].audio_bytes()) == 300 * 48
        assert item.content[0].transcript == ""  # the unheard transcript is dropped


async def test_out_of_band_response_runs_beside_the_default_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(realtime=True) as server,
        connect(server, session=MANUAL) as client,
    ):
        await create(client, user_text("hello"))
        await client.send({"type": "response.create"})
        default = await client.expect(ev.ResponseCreated)
        oob = {
            "conversation": "none",
            "output_modalities": ["text"],
            "metadata": {"purpose": "classify"},
            "input": [
                {
                    "type": "item_reference",
                    "id": server.connections[0].state.conversation.last_id() or "",
                }
            ],
        }
        await client.send({"type": "response.create", "response": oob})
        seen = await client.until(ev.ResponseDone, lambda e: e.response.metadata is not None)
        oob_id = seen[-1].response.id if isinstance(seen[-1], ev.ResponseDone) else None
        oob_items = {
            e.item.id
            for e in seen
            if isinstance(e, ev.ResponseOutputItemAdded) and e.response_id == oob_id
        }
        in_conversation = {
            e.item.id
            for e in client.log
            if isinstance(e, ev.ConversationItemAdded | ev.ConversationItemDone)
        }
        assert oob_items and not oob_items & in_conversation
        done = seen[-1]
        assert isinstance(done, ev.ResponseDone)
        assert done.response.conversation_id is None
        assert done.response.metadata == {"purpose": "classify"}
        assert done.response.status == "completed"
        assert len(server.connections[0].state.active_responses()) == 1  # the default one runs on
        error = await client.error({"type": "response.cancel", "response_id": "resp_unknown"})
        assert error.code == "response_cancel_not_active"
        await client.send({"type": "response.cancel", "response_id": default.response.id})
        done = (await client.until(ev.ResponseDone))[-1]
        assert isinstance(done, ev.ResponseDone) and done.response.status == "cancelled"


async def test_realtime_pacing_takes_the_audio_duration(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reply = "x" * 31  # 31 characters at 65 ms: about two seconds of speech
    async with (
        FakeRealtimeServer.serve_in_memory(realtime=True, reply=reply) as server,
        connect(server, session=MANUAL) as client,
    ):
        await client.send({"type": "response.create"})
        await client.expect(ev.ResponseCreated)
        start = trio.current_time()
        seen = await client.until(ev.ResponseDone)
        elapsed = trio.current_time() - start
        audio_ms = (
            sum(len(e.audio_bytes()) for e in seen if isinstance(e, ev.ResponseOutputAudioDelta))
            // 48
        )
        assert audio_ms == 2015
        assert elapsed == pytest.approx(audio_ms / 1000, abs=0.01)
        server.realtime = False
        await client.send({"type": "response.create"})
        start = trio.current_time()
        await client.until(ev.ResponseDone)
        assert trio.current_time() - start < 0.01  # as fast as possible


# -- scripting ------------------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def test_function_call_script() -> None:
    session = {**MANUAL, "tools": [WEATHER_TOOL]}
    async with (
        FakeRealtimeServer.serve_in_memory() as server,
        connect(server, session=session) as client,
    ):
        server.on_user_text(r"weather", call=ToolCall("get_weather", {"city": "Paris"}))
        server.on_user_text(r"^hello", reply="Hi there.")
        await create(client, user_text("What's the weather in Paris?"))
        await client.send({"type": "response.create"})
        seen = await client.until(ev.ResponseDone)
        kinds = [type(e) for e in seen]
        assert kinds[:3] == [
            ev.ResponseCreated,
            ev.ResponseOutputItemAdded,
            ev.ConversationItemAdded,
        ]
        assert set(kinds[3:-5]) == {ev.ResponseFunctionCallArgumentsDelta}
        assert kinds[-5:] == [
            ev.ResponseFunctionCallArgumentsDone,
            ev.ResponseOutputItemDone,
            ev.ConversationItemDone,
            ev.RateLimitsUpdated,
            ev.ResponseDone,
        ]
        args_done = seen[-5]
        assert isinstance(args_done, ev.ResponseFunctionCallArgumentsDone)
        assert (args_done.name, json.loads(args_done.arguments)) == (
            "get_weather",
            {"city": "Paris"},
        )
        deltas = "".join(
            e.delta for e in seen if isinstance(e, ev.ResponseFunctionCallArgumentsDelta)
        )
        assert deltas == args_done.arguments

        output = {
            "type": "function_call_output",
            "call_id": args_done.call_id,
            "output": "sunny, 21 C",
        }
        await create(client, output)
        await client.send({"type": "response.create"})
        done = (await client.until(ev.ResponseDone))[-1]
        assert isinstance(done, ev.ResponseDone) and isinstance(done.response.output, list)
        assert message_text(done.response.output[0]) == "The get_weather tool returned sunny, 21 C."

        await create(client, user_text("hello you"))
        await client.send({"type": "response.create"})
        done = (await client.until(ev.ResponseDone))[-1]
        assert isinstance(done, ev.ResponseDone) and isinstance(done.response.output, list)
        assert message_text(done.response.output[0]) == "Hi there."
        # Without the tool on offer, the rule cannot call it.
        await create(client, user_text("weather again?"))
        await client.send({"type": "response.create", "response": {"tools": []}})
        done = (await client.until(ev.ResponseDone))[-1]
        assert isinstance(done, ev.ResponseDone) and isinstance(done.response.output, list)
        assert isinstance(done.response.output[0], ev.MessageItem)


async def test_send_raw_send_event_and_records() -> None:
    async with FakeRealtimeServer.serve_in_memory() as server, connect(server) as client:
        await server.send_raw('{"type":"future.event","event_id":"event_x","extra":1}')
        unknown = await client.expect(ev.UnknownServerEvent)
        assert unknown.type == "future.event"
        await server.send_event(ev.RateLimitsUpdated(rate_limits=[ev.RateLimit(name="requests")]))
        rate = await client.expect(ev.RateLimitsUpdated)
        assert str(rate.event_id).startswith("event_")
        await server.send_event({"type": "input_audio_buffer.cleared"})
        await client.expect(ev.InputAudioBufferCleared)
        await server.send_raw("not json at all")
        assert await client.ws.get_message() == "not json at all"

        await client.send({"type": "input_audio_buffer.clear", "event_id": "c1"})
        await client.send({"type": "input_audio_buffer.clear", "event_id": "c2"})
        second = await server.wait_for_client_event(
            ev.InputAudioBufferClear, lambda e: e.event_id == "c2"
        )
        assert second.event_id == "c2"
        connection = server.connections[0]
        assert [e.event_id for e in connection.received] == ["c1", "c2"]
        assert connection.frames[0] == '{"type": "input_audio_buffer.clear", "event_id": "c1"}'
        assert str(connection.sent[0]).startswith('{"type":"session.created"')
        assert connection.headers["authorization"] == f"Bearer {server.api_key}"


async def test_session_expiry(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(session_seconds=60) as server,
        connect(server) as client,
    ):
        error = (await client.expect(ev.Error)).error
        assert error.code == "session_expired"
        assert error.message == "Your session hit the maximum duration of 1 minutes."
        with pytest.raises(trio_websocket.ConnectionClosed) as info:
            await client.recv()
        assert info.value.reason is not None and info.value.reason.code == 1001
        assert trio.current_time() == pytest.approx(60)


# -- robustness -----------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "id", "role", "content", "text", "audio"]), inner, max_size=4
        )
    ),
    max_leaves=12,
)


EXAMPLES: list[dict[str, Any]] = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "client_events.jsonl").read_text().splitlines()
    if line.strip()
]


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    children: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    return [prefix] + [p for key, child in children for p in _paths(child, (*prefix, key))]


@st.composite
def client_frames(draw: st.DrawFn) -> str:
    """A documented example event with one value replaced or removed."""
    event = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    path = draw(st.sampled_from(_paths(event)[1:]))
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(_json)
    return json.dumps(event)


@settings(max_examples=150, deadline=None)
@given(st.lists(client_frames() | st.sampled_from(EXAMPLES).map(json.dumps), max_size=6))
def test_any_client_frame_gets_an_answer_not_a_crash(frames: list[str]) -> None:
    ids = IdFactory(0)
    session = FakeSession(script=Script(), new_id=ids.new, model="gpt-realtime")
    for frame in frames:
        event, replies = session.receive(frame)
        assert isinstance(event, ev.ClientEvent)
        for reply in replies:
            ev.decode_server_event(ev.encode_server_event(reply), strict=True)
        for stream in session.take_started():
            while stream.step() is not None:
                pass
            stream.finish()
