"""Bridge each phone call (Twilio Media Streams) to its own Realtime session.

G.711 μ-law passes through untouched both ways: the session is configured with ``audio/pcmu``
input and output, the caller's ``media`` payloads go to ``append_audio`` as they are, and the
model's audio deltas go back to the caller as the very base64 the server sent. After every
audio delta the bridge sends a ``mark``; Twilio echoes it once the audio before it has been
played, and the bridge reports that position with ``session.report_playback``. When the caller
starts talking (``input_audio_buffer.speech_started``) the session truncates the answer at what
the caller actually heard, and the bridge sends ``clear`` so the phone drops the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

import trealtime
from trealtime import events

from . import twilio

__all__ = ["BridgeConfig", "CallRecord", "PhoneBridge", "phone_settings"]

logger = logging.getLogger(__name__)

PCMU = events.AudioFormat.pcmu()


def phone_settings(instructions: str, *, voice: str = "marin") -> trealtime.RealtimeSettings:
    """Session settings for a phone line: μ-law 8 kHz in and out, server VAD that barges in."""
    return trealtime.RealtimeSettings(
        session_properties=events.SessionProperties(
            instructions=instructions,
            output_modalities=["audio"],
            audio=events.AudioConfig(
                input=events.AudioInput(format=PCMU, turn_detection=events.ServerVad()),
                output=events.AudioOutput(format=PCMU, voice=voice),
            ),
        )
    )


def _default_settings(start: twilio.CallStart) -> trealtime.RealtimeSettings:
    return phone_settings("You answer the phone for a small travel agency. Keep answers short.")


@attrs.frozen(kw_only=True)
class BridgeConfig:
    """Where each call's session goes and how it is set up."""

    url: str = trealtime.DEFAULT_URL
    """The Realtime endpoint (the real API by default)."""
    api_key: str | None = attrs.field(default=None, repr=False)
    """The API key (default: ``OPENAI_API_KEY``)."""
    settings_for: Callable[[twilio.CallStart], trealtime.RealtimeSettings] = _default_settings
    """The session settings for a call; keep ``audio/pcmu`` in and out (:func:`phone_settings`)."""
    tools: Sequence[Callable[..., Any]] = ()
    """Functions the model may call during a call."""


@attrs.define(eq=False)
class CallRecord:
    """One call through the bridge, for logs and tests."""

    start: twilio.CallStart | None = None
    ended: trio.Event = attrs.field(factory=trio.Event)
    """Set once the call's session is closed and its WebSocket too."""
    ended_by: str = ""
    """``"caller"`` (``stop`` or the socket closed) or ``"session"`` (the Realtime side ended)."""
    media_in: int = 0
    media_out: int = 0
    marks_played: int = 0
    clears: int = 0
    responses: list[events.Response] = attrs.field(factory=list)
    """The model's finished responses, in order."""
    error: str | None = None
    _lot: trio.lowlevel.ParkingLot = attrs.field(factory=trio.lowlevel.ParkingLot)

    def add_response(self, response: events.Response) -> None:
        """Note a finished response (its audio has gone to the phone already)."""
        self.responses.append(response)
        self._lot.unpark_all()

    async def wait_for_responses(self, count: int) -> None:
        """Wait until ``count`` responses have finished."""
        while len(self.responses) < count:
            await self._lot.park()


@attrs.define(eq=False)
class _Call:
    """The two directions of one call, over its WebSocket and its session."""

    websocket: WebSocketConnection
    session: trealtime.Session
    stream_sid: str
    record: CallRecord
    # Marks sent and not echoed yet: name -> (item id, bytes of that item sent before the mark).
    _marks: dict[str, tuple[str, int]] = attrs.field(factory=dict)
    _item: tuple[str, int] = ("", 0)  # the audio item being sent, and its bytes sent so far
    _next_mark: int = 0

    async def phone_to_session(self) -> str:
        """Caller audio into the session until either side ends; says which one did."""
        while True:
            try:
                message = await self.websocket.get_message()
            except ConnectionClosed:
                return "caller"
            match twilio.parse(message):
                case twilio.Media(audio=audio, track="inbound"):
                    self.record.media_in += 1
                    try:
                        await self.session.append_audio(audio)  # μ-law, as the phone sent it
                    except trealtime.SessionClosed:
                        return "session"  # session_to_phone hangs up
                case twilio.Mark(name=name):
                    self._on_mark(name)
                case twilio.Stop():
                    return "caller"
                case twilio.Dtmf(digit=digit):
                    logger.info("call %s: key %s pressed", self.stream_sid, digit)
                case other:
                    logger.debug("call %s: ignored %r", self.stream_sid, other)

    async def session_to_phone(self) -> None:
        """The model's audio to the caller, a mark after each piece, ``clear`` on barge-in."""
        async for event in self.session:
            match event:
                case events.ResponseOutputAudioDelta(item_id=item_id, delta=payload):
                    await self.websocket.send_message(
                        twilio.media_message(self.stream_sid, payload)
                    )
                    self.record.media_out += 1
                    sent = len(event.audio_bytes())
                    if self._item[0] == item_id:
                        sent += self._item[1]
                    self._item = (item_id, sent)
                    self._next_mark += 1
                    name = str(self._next_mark)
                    self._marks[name] = (item_id, sent)
                    await self.websocket.send_message(twilio.mark_message(self.stream_sid, name))
                case events.InputAudioBufferSpeechStarted() if self._marks:
                    # The caller talks over audio the phone has not played yet. The session
                    # has already cut the answer at the last mark the caller heard; the phone
                    # drops the rest (and echoes its marks, which no longer count).
                    self._marks.clear()
                    self.record.clears += 1
                    await self.websocket.send_message(twilio.clear_message(self.stream_sid))
                case events.ResponseDone(response=response):
                    self.record.add_response(response)
                case events.Error(error=error):
                    logger.warning("call %s: server error %s", self.stream_sid, error.message)

    def _on_mark(self, name: str) -> None:
        entry = self._marks.pop(name, None)
        if entry is None:
            return  # dropped by a clear
        item_id, nbytes = entry
        self.record.marks_played += 1
        self.session.report_playback(nbytes=nbytes, item_id=item_id)


class PhoneBridge:
    """A WebSocket server for Twilio Media Streams; every call gets its own Realtime session."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.calls: list[CallRecord] = []
        """Every call, in the order they connected."""

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port`` (0: any free port) until cancelled; reports the port."""
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, self.handle, host, port, None)
            task_status.started(server.port)

    async def handle(self, request: WebSocketRequest) -> None:
        """Accept one call's WebSocket and bridge it until either side ends."""
        websocket = await request.accept()
        record = CallRecord()
        self.calls.append(record)
        try:
            await self._bridge(websocket, record)
        except trealtime.RealtimeError as exc:  # the API refused the session, the network failed
            record.error = f"{type(exc).__name__}: {exc}"
            logger.warning("call %s failed: %s", record.start, record.error)
        except Exception as exc:  # a bug in one call must not end the others
            record.error = f"{type(exc).__name__}: {exc}"
            logger.exception("call %s failed", record.start)
        finally:
            with trio.CancelScope(shield=True):
                await websocket.aclose()
            record.ended.set()

    async def _bridge(self, websocket: WebSocketConnection, record: CallRecord) -> None:
        start = await _wait_for_start(websocket)
        if start is None:
            record.ended_by = "caller"
            return
        record.start = start
        config = self.config
        async with trealtime.open_session(
            url=config.url,
            api_key=config.api_key,
            settings=config.settings_for(start),
            tools=config.tools,
        ) as session:
            call = _Call(websocket, session, start.stream_sid, record)
            async with trio.open_nursery() as nursery:

                async def to_phone() -> None:
                    try:
                        await call.session_to_phone()
                        record.ended_by = record.ended_by or "session"
                    except ConnectionClosed:  # the caller hung up while we were talking
                        record.ended_by = record.ended_by or "caller"
                    nursery.cancel_scope.cancel()

                nursery.start_soon(to_phone)
                ended_by = await call.phone_to_session()
                record.ended_by = record.ended_by or ended_by
                nursery.cancel_scope.cancel()


async def _wait_for_start(websocket: WebSocketConnection) -> twilio.CallStart | None:
    """Read up to the ``start`` message; None if the caller left before it."""
    while True:
        try:
            message = twilio.parse(await websocket.get_message())
        except ConnectionClosed:
            return None
        if isinstance(message, twilio.CallStart):
            return message
        if isinstance(message, twilio.Stop):
            return None
