"""Shared helpers for the voice-agent scenario tests (``tests/test_agent_*.py``).

- :func:`agent` opens a session against a fake server (in memory unless told otherwise) and
  reads its events in the background into an :class:`EventLog`, so that the session never
  stalls on a full inbound buffer and tests can wait on any event, past or future.
- :func:`sent` and :func:`wire` read what the client put on the wire (``server.received``).
- ``raw_*`` build server events as JSON-ready dicts, for situations the fake server does not
  produce by itself (multi-item responses, deltas before ``response.created``, failures).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar, TypeVar, Unpack

import orjson
import trio
import trio.lowlevel
import trio.testing
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

import trealtime
from trealtime import events
from trealtime.testing import FakeConnection, FakeRealtimeServer, FakeServerOptions

E = TypeVar("E", bound=events.ServerEvent)
C = TypeVar("C", bound=events.ClientEvent)

PCM_BYTES_PER_MS = 48

MANUAL = events.SessionProperties(
    instructions="Be brief.",
    output_modalities=["audio"],
    audio=events.AudioConfig(input=events.AudioInput(turn_detection=None)),
)
"""Push-to-talk: turn detection disabled, audio output."""

SERVER_VAD = events.SessionProperties(
    output_modalities=["audio"],
    audio=events.AudioConfig(
        input=events.AudioInput(turn_detection=events.ServerVad(silence_duration_ms=300))
    ),
)
"""Server VAD: the server commits turns, creates responses and cancels them on barge-in."""


def with_transcription(properties: events.SessionProperties) -> events.SessionProperties:
    """``properties`` with input audio transcription turned on."""
    audio = properties.audio
    assert isinstance(audio, events.AudioConfig)
    audio_input = audio.input
    assert isinstance(audio_input, events.AudioInput)
    transcription = events.InputAudioTranscription(model="gpt-4o-transcribe")
    new_input = events.AudioInput(
        format=audio_input.format,
        turn_detection=audio_input.turn_detection,
        transcription=transcription,
    )
    return events.SessionProperties(
        instructions=properties.instructions,
        output_modalities=properties.output_modalities,
        audio=events.AudioConfig(input=new_input, output=audio.output),
    )


class EventLog:
    """Every event the session delivered, in order, with waits on past or future ones."""

    def __init__(self) -> None:
        self.events: list[events.ServerEvent] = []
        self._lot = trio.lowlevel.ParkingLot()

    async def run(self, session: trealtime.Session) -> None:
        async for event in session:
            self.events.append(event)
            self._lot.unpark_all()

    def mark(self) -> int:
        """A position in the log, to wait only for events after it."""
        return len(self.events)

    def of(self, cls: type[E]) -> list[E]:
        """The events of type ``cls`` so far."""
        return [event for event in self.events if isinstance(event, cls)]

    async def wait_for(
        self,
        cls: type[E],
        predicate: Callable[[E], bool] | None = None,
        *,
        after: int = 0,
    ) -> E:
        """The first event of type ``cls`` at or after position ``after`` matching."""
        index = after
        while True:
            for event in self.events[index:]:
                if isinstance(event, cls) and (predicate is None or predicate(event)):
                    return event
            index = max(index, len(self.events))
            await self._lot.park()

    async def wait_count(self, cls: type[E], count: int) -> list[E]:
        """Wait until ``count`` events of type ``cls`` have arrived; return them all."""
        while len(self.of(cls)) < count:
            await self._lot.park()
        return self.of(cls)


class ServerMode:
    """The fake server's mode for the scenario being run, and the servers it started: set by
    the ``server_mode`` fixture (tests/conftest.py), which runs every scenario in both modes and
    then checks every frame those servers produced against the official types."""

    strict = False
    servers: ClassVar[list[FakeRealtimeServer]] = []


@asynccontextmanager
async def fake_server(
    *, tcp: bool = False, **options: Unpack[FakeServerOptions]
) -> AsyncIterator[FakeRealtimeServer]:
    """A fake server (in memory unless ``tcp``) in the current :class:`ServerMode`."""
    options.setdefault("strict", ServerMode.strict)
    start = FakeRealtimeServer.serve if tcp else FakeRealtimeServer.serve_in_memory
    async with start(**options) as server:
        ServerMode.servers.append(server)
        yield server


_OFFICIAL = TypeAdapter(RealtimeServerEvent)


def assert_frames_are_valid(server: FakeRealtimeServer) -> list[str]:
    """Validate every frame the server's simulation sent (not those a test scripted) with the
    official ``openai`` models in strict mode; return the frames' types."""
    types: list[str] = []
    for connection in server.connections:
        scripted = {id(frame) for frame in connection.scripted}
        for frame in connection.sent:
            if id(frame) not in scripted:
                _OFFICIAL.validate_json(frame, strict=True)
                types.append(orjson.loads(frame)["type"])
    return types


def settings_for(properties: events.SessionProperties) -> trealtime.RealtimeSettings:
    return trealtime.RealtimeSettings(model="gpt-realtime", session_properties=properties)


@asynccontextmanager
async def agent(
    server: FakeRealtimeServer,
    properties: events.SessionProperties = MANUAL,
    *,
    tcp: bool = False,
    read: bool = True,
    **options: Any,
) -> AsyncIterator[tuple[trealtime.Session, EventLog]]:
    """A session against ``server`` and the log of its events (read in the background).

    ``read=False`` leaves the session's events unread (the test reads them itself).
    """
    if not tcp:
        options.setdefault("connect_stream", server.connect_stream)
    log = EventLog()
    failure: BaseException | None = None
    async with (
        trealtime.open_session(
            url=server.url,
            api_key=server.api_key,
            settings=settings_for(properties),
            **options,
        ) as session,
        trio.open_nursery() as nursery,
    ):
        if read:
            nursery.start_soon(log.run, session)
        # The body's exception is re-raised after the nursery, so it is not wrapped in a group.
        try:
            yield session, log
        except BaseException as exc:
            failure = exc
        nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def settle() -> None:
    """Let every task run until all are blocked (in-memory transport only)."""
    await trio.testing.wait_all_tasks_blocked()


def sent(server: FakeRealtimeServer, cls: type[C]) -> list[C]:
    """The client events of type ``cls`` the server received, in order."""
    return [event for event in server.received if isinstance(event, cls)]


def wire(
    server: FakeRealtimeServer, *, skip: tuple[type[events.ClientEvent], ...] = ()
) -> list[str]:
    """The types of the client events the server received, in order."""
    return [event.type for event in server.received if not isinstance(event, skip)]


def output_audio_sent(connection: FakeConnection) -> bytes:
    """The output audio the fake server sent on a connection, decoded."""
    audio = bytearray()
    for frame in connection.sent:
        data = orjson.loads(frame)
        if data["type"] == "response.output_audio.delta":
            audio += base64.b64decode(data["delta"])
    return bytes(audio)


def server_errors(log: EventLog) -> list[str | None]:
    """The codes of the ``error`` events the session delivered."""
    codes: list[str | None] = []
    for event in log.of(events.Error):
        code = event.error.code
        codes.append(code if isinstance(code, str) else None)
    return codes


def function_outputs(server: FakeRealtimeServer) -> list[events.FunctionCallOutputItem]:
    """The ``function_call_output`` items the client created, in order."""
    return [
        event.item
        for event in sent(server, events.ConversationItemCreate)
        if isinstance(event.item, events.FunctionCallOutputItem)
    ]


def pcm_silence(ms: int) -> bytes:
    return bytes(ms * PCM_BYTES_PER_MS)


# -- raw server events --------------------------------------------------------------------------

RAW_CONVERSATION = "conv_raw"


def raw_response(
    response_id: str,
    status: str = "in_progress",
    *,
    conversation_id: str | None = RAW_CONVERSATION,
    output: list[dict[str, Any]] | None = None,
    usage: Mapping[str, Any] | None = None,
    status_details: Mapping[str, Any] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": dict(status_details) if status_details is not None else None,
        "output": output or [],
        "conversation_id": conversation_id,
        "output_modalities": ["audio"],
        "usage": dict(usage) if usage is not None else None,
        "metadata": dict(metadata) if metadata is not None else None,
    }
    return body


def raw_response_created(response_id: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": "response.created", "response": raw_response(response_id, **kwargs)}


def raw_response_done(response_id: str, status: str = "completed", **kwargs: Any) -> dict[str, Any]:
    return {"type": "response.done", "response": raw_response(response_id, status, **kwargs)}


def raw_assistant_item(item_id: str, status: str = "in_progress") -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "object": "realtime.item",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_audio", "transcript": ""}],
    }


def raw_call_item(item_id: str, call_id: str, name: str, arguments: str = "") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "object": "realtime.item",
        "status": "in_progress",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def raw_item_added(item: dict[str, Any], previous_item_id: str | None) -> dict[str, Any]:
    return {"type": "conversation.item.added", "previous_item_id": previous_item_id, "item": item}


def raw_audio_delta(
    response_id: str, item_id: str, ms: int, *, output_index: int = 0, content_index: int = 0
) -> dict[str, Any]:
    return {
        "type": "response.output_audio.delta",
        "response_id": response_id,
        "item_id": item_id,
        "output_index": output_index,
        "content_index": content_index,
        "delta": base64.b64encode(pcm_silence(ms)).decode("ascii"),
    }


def raw_transcript_delta(
    response_id: str, item_id: str, text: str, *, output_index: int = 0
) -> dict[str, Any]:
    return {
        "type": "response.output_audio_transcript.delta",
        "response_id": response_id,
        "item_id": item_id,
        "output_index": output_index,
        "content_index": 0,
        "delta": text,
    }


def raw_arguments_done(
    response_id: str, item_id: str, call_id: str, name: str, arguments: str, output_index: int
) -> dict[str, Any]:
    return {
        "type": "response.function_call_arguments.done",
        "response_id": response_id,
        "item_id": item_id,
        "output_index": output_index,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def raw_speech_started(item_id: str = "item_user_raw", audio_start_ms: int = 0) -> dict[str, Any]:
    return {
        "type": "input_audio_buffer.speech_started",
        "audio_start_ms": audio_start_ms,
        "item_id": item_id,
    }


def raw_speech_stopped(item_id: str = "item_user_raw", audio_end_ms: int = 0) -> dict[str, Any]:
    return {
        "type": "input_audio_buffer.speech_stopped",
        "audio_end_ms": audio_end_ms,
        "item_id": item_id,
    }
