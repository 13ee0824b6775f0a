"""Faults the fake server can inject: named, scriptable failures of the transport and protocol.

Each fault is a small frozen value. Script it in one of three ways::

    await connection.inject(Reset())                        # now, after what is already queued
    server.after_server_event("response.output_audio.delta", Reset(), count=3)
    server.on_client_event(events.ResponseCreate, Close(1011))
    server.faults_for_next_connection([RejectHandshake(429)])

A fault runs in the connection's writer task, in order with the frames around it: a trigger on
a server event fires right after that frame is written, a trigger on a client event fires before
the server's replies to it. Frames a fault sends do not count towards triggers.

- transport: :class:`Reset`, :class:`Close`, :class:`SessionExpired`, :class:`Stall`;
- one odd frame (:class:`FrameFault`): :class:`SendRaw`, :class:`InvalidJson`,
  :class:`BinaryFrame`, :class:`UnknownEvent`, :class:`MissingFields`, :class:`Oversized`,
  :class:`Duplicate`, :class:`OutOfOrder`, :class:`ErrorEvent`;
- at the start of a connection only (``faults_for_next_connection``):
  :class:`RejectHandshake`, :class:`AcceptThenClose`.
"""

from __future__ import annotations

import base64
import enum
import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeAlias

import attrs
import orjson
import trio

from ...events import (
    Error,
    ErrorDetail,
    MessageItem,
    OutputAudio,
    Response,
    ResponseDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseOutputTextDelta,
    ServerEvent,
)

__all__ = [
    "LAST_CLIENT_EVENT",
    "AcceptThenClose",
    "BinaryFrame",
    "Close",
    "ConnectionFault",
    "Duplicate",
    "ErrorEvent",
    "Fault",
    "FrameFault",
    "InvalidJson",
    "MissingFields",
    "OutOfOrder",
    "Oversized",
    "RejectHandshake",
    "Reset",
    "SendRaw",
    "SessionExpired",
    "StallableStream",
    "Stall",
    "UnknownEvent",
    "Wire",
]


class Wire(Protocol):
    """What a fault can do to the connection it is applied to (from the writer task)."""

    @property
    def conversation_id(self) -> str:
        """The id of the connection's default conversation."""

    async def write(self, data: str | bytes) -> None:
        """Write one frame now."""

    async def close(self, code: int, reason: str | None) -> None:
        """Close with a close frame and end the connection."""

    async def abort(self, *, reset: bool) -> None:
        """Drop the transport without a close frame (``reset``: a TCP RST)."""

    def stall(self, seconds: float) -> None:
        """Stop reading and writing the transport for ``seconds`` from now."""

    def encode(self, event: ServerEvent) -> str:
        """The JSON text of a server event, with an ``event_id`` filled in."""

    def new_id(self, prefix: str) -> str:
        """A fresh id such as ``resp_…``."""

    def last_sent(self, type: str) -> str | bytes | None:
        """The latest frame of this ``type`` the server sent, if any."""

    def last_client_event_id(self) -> str | None:
        """The ``event_id`` of the latest client event received, if it had one."""


class Fault:
    """Base of the faults that can be applied to an open connection.

    For a fault of your own, subclass it and implement :meth:`apply` with the :class:`Wire`.
    """

    async def apply(self, wire: Wire) -> None:
        """Do the damage (called by the connection's writer task)."""
        raise NotImplementedError


# -- transport -----------------------------------------------------------------------------------


@attrs.frozen
class Reset(Fault):
    """Drop the connection without a close frame: a TCP RST (in memory: end of stream)."""

    async def apply(self, wire: Wire) -> None:
        await wire.abort(reset=True)


@attrs.frozen
class Close(Fault):
    """Close with a WebSocket close frame (``code``, ``reason``), as the server would."""

    code: int = 1011
    reason: str | None = "internal server error"

    async def apply(self, wire: Wire) -> None:
        await wire.close(self.code, self.reason)


@attrs.frozen
class Stall(Fault):
    """Go silent for ``seconds``: send nothing and read nothing (so no ping is answered).

    The client's frames wait in the transport's buffers; once the stall is over the server
    reads them and carries on, or finds that the client has gone.
    """

    seconds: float

    async def apply(self, wire: Wire) -> None:
        wire.stall(self.seconds)


# -- one odd frame -------------------------------------------------------------------------------


class FrameFault(Fault):
    """A fault that is one frame sent to the client."""

    def frame(self, wire: Wire) -> str | bytes:
        """The frame to send."""
        raise NotImplementedError

    async def apply(self, wire: Wire) -> None:
        await wire.write(self.frame(wire))


@attrs.frozen
class SendRaw(FrameFault):
    """Send ``data`` exactly as given (text or binary)."""

    data: str | bytes

    def frame(self, wire: Wire) -> str | bytes:
        return self.data


@attrs.frozen
class InvalidJson(FrameFault):
    """A text frame that is not JSON (by default a truncated ``response.done``)."""

    text: str = '{"type":"response.done","response":{"id":"resp_'

    def frame(self, wire: Wire) -> str | bytes:
        return self.text


@attrs.frozen
class BinaryFrame(FrameFault):
    """A binary frame (the Realtime API sends only text)."""

    data: bytes = b"\x00\x01\x02 not a text frame"

    def frame(self, wire: Wire) -> str | bytes:
        return self.data


@attrs.frozen
class UnknownEvent(FrameFault):
    """A well-formed event of a ``type`` the client does not know, with ``fields``."""

    type: str = "response.future_feature.delta"
    fields: dict[str, Any] = attrs.field(factory=dict)

    def frame(self, wire: Wire) -> str | bytes:
        body = {"type": self.type, "event_id": wire.new_id("event"), **self.fields}
        return orjson.dumps(body).decode()


@attrs.frozen
class MissingFields(FrameFault):
    """An event of a known ``type`` with every field but ``type`` and ``event_id`` left out."""

    type: str = "response.done"

    def frame(self, wire: Wire) -> str | bytes:
        return orjson.dumps({"type": self.type, "event_id": wire.new_id("event")}).decode()


@attrs.frozen
class Oversized(FrameFault):
    """A frame of at least ``nbytes`` bytes: a ``response.output_audio.delta`` of silence,
    for a response the client does not know."""

    nbytes: int

    def frame(self, wire: Wire) -> str | bytes:
        audio = base64.b64encode(bytes(math.ceil(self.nbytes * 3 / 4))).decode()
        event = ResponseOutputAudioDelta(
            response_id=wire.new_id("resp"),
            item_id=wire.new_id("item"),
            output_index=0,
            content_index=0,
            delta=audio,
        )
        return wire.encode(event)


@attrs.frozen
class Duplicate(FrameFault):
    """Send again, unchanged, the latest frame of ``type`` (``LookupError`` if there is none)."""

    type: str

    def frame(self, wire: Wire) -> str | bytes:
        frame = wire.last_sent(self.type)
        if frame is None:
            raise LookupError(f"no {self.type} was sent on this connection to duplicate")
        return frame


def _stray_done(wire: Wire, response_id: str, item_id: str) -> ServerEvent:
    response = Response(
        id=response_id,
        object="realtime.response",
        status="completed",
        output=[],
        conversation_id=wire.conversation_id,
        metadata=None,
    )
    return ResponseDone(response=response)


def _stray_item(added: bool) -> Callable[[Wire, str, str], ServerEvent]:
    def build(wire: Wire, response_id: str, item_id: str) -> ServerEvent:
        item = MessageItem(
            id=item_id,
            object="realtime.item",
            role="assistant",
            status="in_progress" if added else "completed",
            content=[OutputAudio(transcript="")],
        )
        cls = ResponseOutputItemAdded if added else ResponseOutputItemDone
        return cls(response_id=response_id, output_index=0, item=item)

    return build


_Delta: TypeAlias = (
    ResponseOutputAudioDelta | ResponseOutputTextDelta | ResponseOutputAudioTranscriptDelta
)


def _stray_delta(cls: type[_Delta], delta: str) -> Callable[[Wire, str, str], ServerEvent]:
    def build(wire: Wire, response_id: str, item_id: str) -> ServerEvent:
        return cls(
            response_id=response_id, item_id=item_id, output_index=0, content_index=0, delta=delta
        )

    return build


_STRAY: dict[str, Callable[[Wire, str, str], ServerEvent]] = {
    "response.done": _stray_done,
    "response.output_item.added": _stray_item(added=True),
    "response.output_item.done": _stray_item(added=False),
    "response.output_audio.delta": _stray_delta(
        ResponseOutputAudioDelta, base64.b64encode(bytes(480)).decode()
    ),
    "response.output_audio_transcript.delta": _stray_delta(
        ResponseOutputAudioTranscriptDelta, "stray "
    ),
    "response.output_text.delta": _stray_delta(ResponseOutputTextDelta, "stray "),
}


@attrs.frozen
class OutOfOrder(FrameFault):
    """A lifecycle event out of its lifecycle: ``type`` for a response and item the client
    never saw created (fresh ids), or for the ``response_id``/``item_id`` given (say, one
    already done).

    ``type`` is one of ``response.done``, ``response.output_item.added``,
    ``response.output_item.done``, ``response.output_audio.delta``,
    ``response.output_audio_transcript.delta``, ``response.output_text.delta``.
    """

    TYPES: ClassVar[tuple[str, ...]] = tuple(_STRAY)

    type: str = attrs.field(validator=attrs.validators.in_(tuple(_STRAY)))
    response_id: str | None = None
    item_id: str | None = None

    def frame(self, wire: Wire) -> str | bytes:
        build = _STRAY[self.type]
        response_id = self.response_id or wire.new_id("resp")
        return wire.encode(build(wire, response_id, self.item_id or wire.new_id("item")))


class _Last(enum.Enum):
    CLIENT_EVENT = "the latest client event"


LAST_CLIENT_EVENT = _Last.CLIENT_EVENT
"""For :class:`ErrorEvent`: name the latest client event received, as an error answering it."""


@attrs.frozen
class ErrorEvent(FrameFault):
    """An ``error`` event of any ``type`` and ``code`` (known to the client or not).

    ``event_id`` names the client event it answers: an id, ``None``, or
    :data:`LAST_CLIENT_EVENT` (so that a trigger on a client event makes its request fail).
    """

    type: str = "server_error"
    code: str | None = None
    message: str = "The server had an error while processing your request."
    param: str | None = None
    event_id: str | _Last | None = None

    def frame(self, wire: Wire) -> str | bytes:
        event_id = (
            wire.last_client_event_id() if self.event_id is LAST_CLIENT_EVENT else self.event_id
        )
        detail = ErrorDetail(
            type=self.type,
            code=self.code,
            message=self.message,
            param=self.param,
            event_id=event_id if not isinstance(event_id, _Last) else None,
        )
        return wire.encode(Error(error=detail))


@attrs.frozen
class SessionExpired(FrameFault):
    """The end of a session's maximum duration: the ``session_expired`` error, then close 1001.

    The fake server injects this itself after ``session_seconds``.
    """

    minutes: int = 60

    def frame(self, wire: Wire) -> str | bytes:
        error = ErrorEvent(
            type="invalid_request_error",
            code="session_expired",
            message=f"Your session hit the maximum duration of {self.minutes} minutes.",
        )
        return error.frame(wire)

    async def apply(self, wire: Wire) -> None:
        await super().apply(wire)
        await wire.close(1001, "session expired")


# -- at the start of a connection ----------------------------------------------------------------


@attrs.frozen
class RejectHandshake:
    """Answer the WebSocket handshake with this HTTP ``status`` and a JSON error body."""

    status: int
    message: str = "Handshake rejected by the fake server."


@attrs.frozen
class AcceptThenClose:
    """Accept the handshake, then close at once with ``code``: no ``session.created``."""

    code: int = 1008
    reason: str | None = "policy violation"


ConnectionFault: TypeAlias = Fault | RejectHandshake | AcceptThenClose
"""What ``faults_for_next_connection`` takes: any fault, or one of the two start-only ones."""


# -- the stall mechanism -------------------------------------------------------------------------


class StallableStream(trio.abc.Stream):
    """The server's end of a connection, which :meth:`stall` can stop both ways for a while.

    A read already waiting keeps what it gets until the stall is over, so nothing is
    processed (nor any ping answered) during a stall. Works with the mock clock.
    """

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self._until = -math.inf

    def stall(self, seconds: float) -> None:
        """Stop reading and writing for ``seconds`` from now."""
        self._until = max(self._until, trio.current_time() + seconds)

    async def _wait(self) -> None:
        while trio.current_time() < self._until:  # noqa: ASYNC110 - a stall may be extended
            await trio.sleep_until(self._until)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._wait()
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._wait()
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        await self._wait()
        data = await self.inner.receive_some(max_bytes)
        await self._wait()
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()
