"""One accepted connection of the fake server: its tasks, its record, and its scripting handle.

Three kinds of task run per connection, in one nursery: the reader (feeds every client frame
to the sans-IO protocol core, :class:`FakeProtocol`, or to a :class:`ReplayPlayer`), the writer
(the only task that writes to the socket, draining an unbounded outbox in order), and one driver
per response in progress (which asks the core for the response's next deltas and paces them).
The core decides every frame; this module moves them and keeps time. Everything is queued
synchronously as it is produced, so the wire order is always the order in which the core
produced the frames. Faults (:mod:`._faults`) are queued the same way and run by the writer, so
they happen exactly between the frames around them.
"""

from __future__ import annotations

import collections
import math
import socket
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import attrs
import orjson
import trio
import trio.lowlevel
from trio_websocket import ConnectionClosed, WebSocketConnection

from ...events import ClientEvent, ServerEvent, decode_client_event
from .._protocol._core import FakeProtocol, Outgoing, Reply
from .._protocol._responses import ResponseStream
from .._protocol._session import FakeSession
from ._faults import AcceptThenClose, Fault, SessionExpired, StallableStream
from ._replay import ReplayPlayer

__all__ = ["FakeConnection", "FaultTriggers", "Recorder", "frame_type"]

E = TypeVar("E", bound=ClientEvent)
CLOSE_TIMEOUT = 2.0  # seconds to wait for the client's close frame


def trim(items: list[Any], retain: int | None) -> int:
    """Drop the oldest of ``items`` once they are twice ``retain`` (so that trimming costs
    little per item), keeping the latest ``retain``; returns how many were dropped."""
    if retain is None or len(items) <= 2 * retain:
        return 0
    dropped = len(items) - retain
    del items[:dropped]
    return dropped


class Recorder:
    """A record of client events that tasks can wait on (the latest ``retain``, if given)."""

    def __init__(self, retain: int | None = None) -> None:
        self.events: list[ClientEvent] = []
        self._retain = retain
        self._dropped = 0
        self._lot = trio.lowlevel.ParkingLot()

    def append(self, event: ClientEvent) -> None:
        """Record an event and wake the waiters."""
        self.events.append(event)
        self._dropped += trim(self.events, self._retain)
        self._lot.unpark_all()

    async def wait_for(self, cls: type[E], predicate: Callable[[E], bool] | None = None) -> E:
        """The first event (recorded or still to come) of type ``cls`` satisfying ``predicate``."""
        seen = 0  # events looked at, counting those dropped since
        while True:
            for event in self.events[max(seen - self._dropped, 0) :]:
                if isinstance(event, cls) and (predicate is None or predicate(event)):
                    return event
            seen = self._dropped + len(self.events)
            await self._lot.park()


class FaultTriggers(Protocol):
    """The armed triggers a connection counts its events against (``_triggers.Triggers``)."""

    @property
    def watch_server(self) -> bool:
        """Whether any trigger waits for a server event."""

    def fire(self, event: ClientEvent | str | None, connection: FakeConnection) -> list[Fault]:
        """Count ``event`` (a client event, or a server event's type); the faults it fires."""


class _NoTriggers:
    watch_server = False

    def fire(self, event: ClientEvent | str | None, connection: FakeConnection) -> list[Fault]:
        return []


def frame_type(data: str | bytes) -> str | None:
    """The ``type`` of a JSON event frame, if it is one."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    tag = obj.get("type") if isinstance(obj, dict) else None
    return tag if isinstance(tag, str) else None


@attrs.define
class _Frame:
    """A frame to write, or (``fault``) a fault for the writer to apply at that point."""

    data: str | bytes
    type: str | None = None
    fault: Fault | None = None
    written: trio.Event | None = None
    failed: Exception | None = None


class _Outbox:
    """An unbounded FIFO of frames; ``put`` never blocks, so ordering is decided at production."""

    def __init__(self) -> None:
        self._queue: collections.deque[_Frame] = collections.deque()
        self._lot = trio.lowlevel.ParkingLot()

    def put(self, frame: _Frame) -> None:
        self._queue.append(frame)
        self._lot.unpark_all()

    async def get(self) -> _Frame:
        while not self._queue:
            await self._lot.park()
        frame = self._queue.popleft()
        self._lot.unpark_all()
        return frame

    async def wait_empty(self) -> None:
        while self._queue:
            await self._lot.park()

    def fail_all(self, error: Exception) -> None:
        while self._queue:
            frame = self._queue.popleft()
            frame.failed = error
            if frame.written is not None:
                frame.written.set()


class FakeConnection:
    """A client connected to the fake server.

    ``received`` holds every client event in arrival order (decoded and typed; frames that do not
    decode appear as ``UnknownClientEvent``/``InvalidClientEvent``), ``frames`` the raw frames,
    ``sent`` every frame the server sent (``scripted``: those a test handed to ``send_event`` or
    ``send_raw``, the rest the simulation's own), ``faults`` every fault applied. ``state`` is the
    protocol state (session config, conversation) for assertions. ``path`` and ``headers``
    describe the handshake.
    """

    def __init__(
        self,
        *,
        websocket: WebSocketConnection,
        stream: StallableStream,
        protocol: FakeProtocol,
        server_record: Recorder,
        realtime: Callable[[], bool],
        session_seconds: float | None,
        path: str,
        headers: Mapping[str, str],
        triggers: FaultTriggers | None = None,
        opening: Sequence[Fault | AcceptThenClose] = (),
        player: ReplayPlayer | None = None,
        retain: int | None = None,
    ) -> None:
        self._protocol = protocol
        self._retain = retain
        self.path = path
        self.headers = dict(headers)
        self.frames: list[str | bytes] = []
        self.sent: list[str | bytes] = []
        self.scripted: list[str | bytes] = []
        self.faults: list[Fault] = []
        self._triggers: FaultTriggers = triggers or _NoTriggers()
        self._opening = list(opening)
        self._player = player
        self._wire = _Wire(self)
        self._record = Recorder(retain)
        self._server_record = server_record
        self._websocket = websocket
        self._stream = stream
        self._realtime = realtime
        self._session_seconds = session_seconds
        self._outbox = _Outbox()
        self._wakers: dict[ResponseStream, trio.Event] = {}
        self._closed = trio.Event()
        self._closing = False
        self._close_done = trio.Event()
        self._nursery: trio.Nursery | None = None

    @property
    def state(self) -> FakeSession:
        """The protocol state: session config, conversation, input buffer."""
        return self._protocol.state

    @property
    def received(self) -> list[ClientEvent]:
        """Every client event received on this connection, in order."""
        return self._record.events

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._closed.is_set()

    async def wait_for_client_event(
        self, cls: type[E], predicate: Callable[[E], bool] | None = None
    ) -> E:
        """The first event of type ``cls`` (already received or still to come) matching."""
        return await self._record.wait_for(cls, predicate)

    async def wait_closed(self) -> None:
        """Wait until the connection has ended."""
        await self._closed.wait()

    async def send_event(self, event: ServerEvent | Mapping[str, Any]) -> None:
        """Send a server event (typed, or a JSON-ready dict) now, after anything queued.

        A missing ``event_id`` is filled in. Raises ``ConnectionClosed`` if the connection
        ended before the frame was written.
        """
        if isinstance(event, ServerEvent):
            frame = Outgoing(self._protocol.encode(event), event.type)
        else:
            frame = self._protocol.encode_body(event)
        self.scripted.append(frame.text)
        await self._submit(_Frame(frame.text, type=frame.type))

    async def send_raw(self, data: str | bytes) -> None:
        """Send one WebSocket frame exactly as given (text or binary), after anything queued."""
        self.scripted.append(data)
        await self._submit(_Frame(data))

    async def inject(self, fault: Fault) -> None:
        """Apply ``fault`` after anything queued; returns once it has been applied (a stall:
        once it has begun). Raises ``ConnectionClosed`` at once if the connection has ended,
        and as soon as it ends if it ends before the fault's turn comes."""
        await self._submit(_Frame("", fault=fault))

    async def _submit(self, frame: _Frame) -> None:
        if self._closed.is_set():  # the writer is gone: nothing queued now would ever run
            raise ConnectionClosed(self._websocket.closed)
        frame.written = trio.Event()
        self._outbox.put(frame)
        await frame.written.wait()
        if frame.failed is not None:
            raise frame.failed

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close with a WebSocket close frame (``code``, ``reason``) and end the connection.

        Waits (at most 2 s) for the client's close frame, then closes the transport.
        """
        self._closing = True
        try:
            with trio.move_on_after(CLOSE_TIMEOUT):
                await self._websocket.aclose(code, reason)
        finally:
            await self._abort_stream()
            self._close_done.set()

    async def abort(self, *, reset: bool = False) -> None:
        """Drop the transport without a close frame (``reset``: send a TCP RST, not a FIN)."""
        raw = self._stream.inner
        if reset and isinstance(raw, trio.SocketStream):
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self._abort_stream()

    async def _abort_stream(self) -> None:
        await trio.aclose_forcefully(self._stream)

    # -- the connection's tasks ------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the client leaves or the connection is closed."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._write)
                self._open(nursery)
                await self._read(nursery)
                if self._player is not None:
                    self._player.client_gone()
                    await self._player.done.wait()
                nursery.cancel_scope.cancel()
        finally:
            self._closed.set()
            self._outbox.fail_all(ConnectionClosed(self._websocket.closed))

    def _open(self, nursery: trio.Nursery) -> None:
        """What the server does as the connection opens, and the faults it was given."""
        refusal = next((f for f in self._opening if isinstance(f, AcceptThenClose)), None)
        if refusal is not None:
            nursery.start_soon(self.close, refusal.code, refusal.reason)
            return
        if self._player is not None:
            nursery.start_soon(self._player.run, self)
        else:
            self._put(self._protocol.open())
            if self._session_seconds is not None:
                nursery.start_soon(self._expire, self._session_seconds)
        for fault in self._opening:
            if isinstance(fault, Fault):
                self._outbox.put(_Frame("", fault=fault))

    async def _read(self, nursery: trio.Nursery) -> None:
        while True:
            try:
                data = await self._websocket.get_message()
            except ConnectionClosed:
                if self._closing:  # our close: keep the connection up for the close handshake
                    await self._close_done.wait()
                return
            self.frames.append(data)
            trim(self.frames, self._retain)
            if self._player is None:
                reply = self._protocol.receive(data)
            else:  # a replay answers from its recording, not from the protocol state
                reply = Reply(decode_client_event(data), [], [])
                self._player.feed(data)
            self._record.append(reply.event)
            self._server_record.append(reply.event)
            for fault in self._triggers.fire(reply.event, self):
                self._outbox.put(_Frame("", fault=fault))
            self._follow(nursery, reply)

    def _follow(self, nursery: trio.Nursery, reply: Reply) -> None:
        """Send what the core produced, and drive the responses it started."""
        self._put(reply.frames)
        for stream, waker in self._wakers.items():
            if stream.done:
                waker.set()
        for stream in reply.started:
            self._wakers[stream] = trio.Event()
            nursery.start_soon(self._drive, stream)

    def hear(self, data: str) -> None:
        """Take a client event as if from the call's media leg (SIP/WebRTC), not this socket:
        the server answers on this socket, and the event is not in ``received``."""
        if self._nursery is None or self.closed:
            raise RuntimeError("the connection is not running")
        self._follow(self._nursery, self._protocol.receive(data))

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            done = False
            try:
                if frame.fault is not None:
                    await self._apply(frame.fault)
                else:
                    await self._send(frame)
                done = True
            except ConnectionClosed as exc:
                frame.failed = exc
                self._outbox.fail_all(exc)
            except Exception as exc:
                if frame.written is None:
                    raise  # a scripted fault that cannot apply: fail loudly
                frame.failed = exc  # the caller of inject() gets it
            finally:
                if frame.written is not None:
                    if frame.failed is None and not done:  # cancelled: never written
                        frame.failed = ConnectionClosed(self._websocket.closed)
                    frame.written.set()

    async def _send(self, frame: _Frame) -> None:
        """Write a frame, then apply the faults of the triggers it fires."""
        await self._write_frame(frame.data)
        if frame.type is None and self._triggers.watch_server:
            frame.type = frame_type(frame.data)
        for fault in self._triggers.fire(frame.type, self):
            await self._apply(fault)

    async def _write_frame(self, data: str | bytes) -> None:
        """Write one frame as it is and record it in ``sent``."""
        await self._websocket.send_message(data)
        self.sent.append(data)
        trim(self.sent, self._retain)

    async def _apply(self, fault: Fault) -> None:
        self.faults.append(fault)
        await fault.apply(self._wire)

    async def _drive(self, stream: ResponseStream) -> None:
        """Stream a response's deltas: paced in real time, or as fast as the socket takes them."""
        waker = self._wakers[stream]
        started = trio.current_time()
        audio_ms = 0
        try:
            while not stream.done:
                progress = self._protocol.advance(stream)
                self._put(progress.frames)
                if progress.done:
                    return
                audio_ms += progress.audio_ms
                if self._realtime():
                    with trio.move_on_at(started + audio_ms / 1000):
                        await waker.wait()
                else:
                    await self._outbox.wait_empty()
                    await trio.lowlevel.checkpoint()
        finally:
            del self._wakers[stream]

    async def _expire(self, seconds: float) -> None:
        await trio.sleep(seconds)
        self._outbox.put(_Frame("", fault=SessionExpired(math.ceil(seconds / 60))))
        await trio.sleep(CLOSE_TIMEOUT)
        if not self._closing:  # the writer never got to it: the client is not reading
            await self.close(1001, "session expired")

    def _put(self, frames: list[Outgoing]) -> None:
        for frame in frames:
            self._outbox.put(_Frame(frame.text, type=frame.type))


class _Wire:
    """The writer's side of a connection, as faults see it (see ``_faults.Wire``)."""

    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection

    @property
    def conversation_id(self) -> str:
        return self._connection.state.conversation_id

    async def write(self, data: str | bytes) -> None:
        await self._connection._write_frame(data)

    async def close(self, code: int, reason: str | None) -> None:
        await self._connection.close(code, reason)

    async def abort(self, *, reset: bool) -> None:
        await self._connection.abort(reset=reset)

    def stall(self, seconds: float) -> None:
        self._connection._stream.stall(seconds)

    def encode(self, event: ServerEvent) -> str:
        return self._connection._protocol.encode(event)

    def new_id(self, prefix: str) -> str:
        return self._connection._protocol.new_id(prefix)

    def last_sent(self, type: str) -> str | bytes | None:
        return next((f for f in reversed(self._connection.sent) if frame_type(f) == type), None)

    def last_client_event_id(self) -> str | None:
        received = self._connection.received
        event_id = received[-1].event_id if received else None
        return event_id if isinstance(event_id, str) else None
