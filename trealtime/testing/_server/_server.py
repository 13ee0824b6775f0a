"""The fake Realtime server: transport (TCP or in-memory), handshake, and the scripting API.

Both variants hand every incoming byte stream to the same handler: it wraps the stream in a
server-side WebSocket, checks the handshake like the real endpoint (path, API key: the rules
are the protocol core's, :mod:`.._protocol._handshake`), then serves the connection with a
:class:`FakeConnection` driving a :class:`FakeProtocol` (which simulates the API), or replaying
a recording. Faults are scripted here: armed as triggers, or given to the next connection.

The same port serves the REST half (:mod:`._rest`: client secrets, calls): a request that
is no WebSocket upgrade is answered over plain HTTP (:mod:`._http`). Simulated SIP calls
(:mod:`._calls`) ring a webhook URL and take sideband (``call_id``) connections.
"""

from __future__ import annotations

import collections
import email.utils
import os
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypedDict, TypeVar, Unpack

import attrs
import trio
import trio.testing
import wsproto.utilities
from trio_websocket import ConnectionClosed, WebSocketRequest

from ..._session._recording import RecordedFrame
from ..._transport._deflate import Deflate
from ...events import ClientEvent, ServerEvent
from .._protocol._core import FakeProtocol
from .._protocol._errors import http_error_body as _error_body
from .._protocol._handshake import (
    apply_preset,
    check_handshake,
    presented_key,
    requested_session,
)
from .._protocol._ids import IdFactory
from .._protocol._script import (
    DEFAULT_TRANSCRIPT,
    ReplyFunction,
    Rule,
    Script,
    ToolCall,
    TranscriptFunction,
    default_reply,
)
from .._protocol._session import SESSION_SECONDS, FakeSession
from ._calls import ACCEPTED, FakeCall, FakeCalls
from ._connection import CLOSE_TIMEOUT, FakeConnection, Recorder
from ._deflate import accept_websocket
from ._faults import (
    AcceptThenClose,
    ConnectionFault,
    Fault,
    RejectHandshake,
    StallableStream,
)
from ._http import PrefixedStream, is_websocket_upgrade, read_head, serve_http
from ._replay import Replay, ReplayReport
from ._rest import FakeRestApi
from ._triggers import Trigger, Triggers

__all__ = ["FakeRealtimeServer", "FakeServerOptions", "Handshake"]

E = TypeVar("E", bound=ClientEvent)
DEFAULT_API_KEY = "sk-test-fake"
IN_MEMORY_URL = "ws://fake-realtime.invalid/v1/realtime"
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
HANDSHAKE_TIMEOUT = 10.0


class FakeServerOptions(TypedDict, total=False):
    """Keyword options of :meth:`FakeRealtimeServer.serve` and ``serve_in_memory``.

    - ``api_key``: the key the server accepts (default ``"sk-test-fake"``).
    - ``reply``: the assistant's words, fixed or decided from the conversation
      (default :func:`default_reply`).
    - ``transcript``: what user audio "says", fixed or computed from its bytes
      (default ``"(inaudible)"``); a function returning ``None`` makes the transcription fail
      (``...input_audio_transcription.failed``). A transcription model whose name ends in
      ``diarize`` also sends ``...input_audio_transcription.segment`` events.
    - ``realtime``: pace output audio in real time (default ``False``: as fast as the client
      reads).
    - ``audio_chunk_ms``: milliseconds of audio per ``response.output_audio.delta`` (default 100).
    - ``reject_handshake``: answer every handshake with this HTTP status (default ``None``).
    - ``session_seconds``: session length before ``session_expired`` and close 1001
      (default 3600; ``None``: never).
    - ``seed``: seed of the generated ids (default 0).
    - ``strict``: do only what the API's contract guarantees, never a habit a client could lean
      on: optional fields are left out, ``response.metadata`` is not echoed, and the limits the
      API documents are enforced with its errors (default ``False``).
    - ``retain``: keep only about the latest ``retain`` client events, frames each way and
      conversation items per connection (and client events server-wide), dropping the
      oldest, so that a load test's sessions can run for minutes in flat memory (default
      ``None``: keep everything, for assertions).
    - ``compression``: the permessage-deflate terms the server answers a client's offer with, as
      wsproto takes them (default ``Deflate()``: accepted as offered; ``None``: declined).
    """

    api_key: str
    reply: str | ReplyFunction
    transcript: str | TranscriptFunction
    realtime: bool
    audio_chunk_ms: int
    reject_handshake: int | None
    session_seconds: float | None
    seed: int
    strict: bool
    retain: int | None
    compression: Deflate | None


@attrs.frozen
class Handshake:
    """A WebSocket handshake the server saw, and the HTTP status it answered (101: accepted)."""

    path: str
    headers: dict[str, str]
    subprotocols: tuple[str, ...]
    status: int


class FakeRealtimeServer:
    """A fake OpenAI Realtime server (GA protocol) for tests.

    Start it with :meth:`serve` (a real WebSocket server on ``127.0.0.1``) or
    :meth:`serve_in_memory` (in-memory streams, for ``autojump_clock``), or
    :meth:`serve_replay` to play a recording back. All give ``url``, ``api_key`` and
    :meth:`connect_stream`. The options (attributes of the same names) may be changed while it
    runs; new connections and new responses see the change. :attr:`rest` serves the REST
    endpoints on the same URL (``open_rest_client(url=server.url)``); :attr:`calls` rings
    simulated SIP calls (``await server.calls.ring(webhook_url)``).
    """

    def __init__(self, *, url: str, port: int | None, **options: Unpack[FakeServerOptions]) -> None:
        self.url = url
        self.api_key = options.get("api_key", DEFAULT_API_KEY)
        self.realtime = options.get("realtime", False)
        self.audio_chunk_ms = options.get("audio_chunk_ms", 100)
        self.reject_handshake = options.get("reject_handshake")
        self.session_seconds = options.get("session_seconds", SESSION_SECONDS)
        self.strict = options.get("strict", False)
        self.retain = options.get("retain")
        self.compression = options.get("compression", Deflate())
        self.connections: list[FakeConnection] = []
        """Every accepted connection, in order (closed ones stay)."""
        self.handshakes: list[Handshake] = []
        """Every handshake attempt, accepted or rejected, in order."""
        self._port = port
        self._seed = options.get("seed", 0)
        self._script = Script(
            reply=options.get("reply", default_reply),
            transcript=options.get("transcript", DEFAULT_TRANSCRIPT),
        )
        self._record = Recorder(self.retain)
        self._triggers = Triggers()
        self._next_faults: collections.deque[list[ConnectionFault]] = collections.deque()
        self._replay: Replay | None = None
        self._lot = trio.lowlevel.ParkingLot()
        self._handed_out = 0
        self._nursery: trio.Nursery | None = None
        rest_ids = IdFactory(f"{self._seed}:rest")
        self.calls = FakeCalls(rest_ids.new)
        """The simulated SIP/WebRTC calls: ``await server.calls.ring(webhook_url)``."""
        self.rest = FakeRestApi(api_key=lambda: self.api_key, calls=self.calls, new_id=rest_ids.new)
        """The REST endpoints (client secrets, calls), served on the same port as the socket."""

    # -- starting --------------------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def serve(cls, **options: Unpack[FakeServerOptions]) -> AsyncIterator[FakeRealtimeServer]:
        """Serve on ``127.0.0.1`` at an ephemeral port: ``ws://127.0.0.1:<port>/v1/realtime``.

        On exit, open connections are closed with 1001 and every socket is released.
        """
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port: int = listeners[0].socket.getsockname()[1]
        server = cls(url=f"ws://127.0.0.1:{port}/v1/realtime", port=port, **options)
        async with server._running() as nursery:
            await nursery.start(trio.serve_listeners, server._handle_stream, listeners)
            yield server

    @classmethod
    @asynccontextmanager
    async def serve_in_memory(
        cls, **options: Unpack[FakeServerOptions]
    ) -> AsyncIterator[FakeRealtimeServer]:
        """Serve over in-memory streams (``url``: ``ws://fake-realtime.invalid/v1/realtime``)."""
        server = cls(url=IN_MEMORY_URL, port=None, **options)
        async with server._running():
            yield server

    @classmethod
    @asynccontextmanager
    async def serve_replay(
        cls,
        recording: str | os.PathLike[str] | Iterable[RecordedFrame],
        *,
        timed: bool = True,
        in_memory: bool = False,
        reply_timeout: float = 5.0,
        **options: Unpack[FakeServerOptions],
    ) -> AsyncIterator[FakeRealtimeServer]:
        """Serve a recording (a path, or its frames) instead of simulating the API.

        Connection *k* replays the recording's *k*-th connection: recorded server frames go out
        at their recorded offsets (``timed``) or as fast as possible, and each recorded client
        frame is compared with what the live client sends (waiting at most ``reply_timeout``
        seconds); :attr:`replay_report` says where they diverge. Nothing else is answered.
        ``in_memory`` serves like :meth:`serve_in_memory`, else like :meth:`serve`. See
        :mod:`trealtime.testing._server._replay` for the details.
        """
        replay = Replay(recording, timed=timed, reply_timeout=reply_timeout)
        start = cls.serve_in_memory if in_memory else cls.serve
        async with start(**options) as server:
            server._replay = replay
            yield server

    @property
    def replay_report(self) -> ReplayReport:
        """What the replay found (a server started by :meth:`serve_replay` only).

        It is complete once the replayed connections have ended: after
        ``connection.wait_closed()``, or on leaving ``serve_replay``.
        """
        if self._replay is None:
            raise RuntimeError("not a replay server: start it with FakeRealtimeServer.serve_replay")
        return self._replay.report

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[trio.Nursery]:
        # The caller's exception is re-raised after the nursery, so it is not wrapped in a group.
        failure: BaseException | None = None
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                yield nursery
            except BaseException as exc:
                failure = exc
            with trio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await self._close_all(1001, "server shutting down")
            nursery.cancel_scope.cancel()
        self._nursery = None
        if failure is not None:
            raise failure

    async def connect_stream(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        """A new byte stream to this server (the arguments are ignored).

        TCP: a socket to the server's port. In memory: one half of a stream pair whose other
        half the server starts serving.
        """
        if self._port is not None:
            return await trio.open_tcp_stream("127.0.0.1", self._port)
        if self._nursery is None:
            raise RuntimeError("the fake server is not running")
        client, server_half = trio.testing.memory_stream_pair()
        self._nursery.start_soon(self._handle_stream, server_half)
        return client

    # -- scripting -------------------------------------------------------------------------------

    @property
    def reply(self) -> str | ReplyFunction:
        """The assistant's words when no rule applies: a text, or a function of the context."""
        return self._script.reply

    @reply.setter
    def reply(self, value: str | ReplyFunction) -> None:
        self._script.reply = value

    @property
    def transcript(self) -> str | TranscriptFunction:
        """What committed user audio "says": a text, or a function of the audio bytes."""
        return self._script.transcript

    @transcript.setter
    def transcript(self, value: str | TranscriptFunction) -> None:
        self._script.transcript = value

    def on_user_text(
        self,
        pattern: str | re.Pattern[str],
        *,
        call: ToolCall | None = None,
        reply: str | None = None,
    ) -> Rule:
        """When the user's latest text or transcript matches ``pattern``, ``call`` or ``reply``.

        A call happens only if the response offers a function tool of that name. The next
        response (after the client's ``function_call_output`` and ``response.create``) is a
        normal reply; the default reply reports the function's output.
        """
        return self._script.on_user_text(pattern, call=call, reply=reply)

    @property
    def received(self) -> list[ClientEvent]:
        """Every client event received on any connection, in arrival order."""
        return self._record.events

    async def wait_for_client_event(
        self, cls: type[E], predicate: Callable[[E], bool] | None = None
    ) -> E:
        """The first client event of type ``cls`` (already received or still to come) matching."""
        return await self._record.wait_for(cls, predicate)

    async def wait_for_connection(self) -> FakeConnection:
        """The next open connection not yet returned by this method (waits for one to open).

        Connections that have already closed are skipped (they stay in :attr:`connections`), so
        what this returns was open when it returned; it may of course close at any time after.
        """
        while True:
            while self._handed_out < len(self.connections):
                connection = self.connections[self._handed_out]
                self._handed_out += 1
                if not connection.closed:
                    return connection
            await self._lot.park()

    async def send_event(self, event: ServerEvent | Mapping[str, Any]) -> None:
        """Send an event to the most recent open connection (see ``FakeConnection.send_event``)."""
        await self._current().send_event(event)

    async def send_raw(self, data: str | bytes) -> None:
        """Send a raw frame to the most recent open connection."""
        await self._current().send_raw(data)

    # -- faults ----------------------------------------------------------------------------------

    def on_client_event(self, cls: type[ClientEvent], fault: Fault, *, count: int = 1) -> Trigger:
        """Apply ``fault`` when the ``count``-th client event of type ``cls`` arrives (on any
        connection, counting from now), before the server's replies to it. Fires once."""
        return self._triggers.arm(Trigger(cls, fault, count))

    def after_server_event(self, type: str, fault: Fault, *, count: int = 1) -> Trigger:
        """Apply ``fault`` right after the ``count``-th server event of ``type`` is written
        (on any connection, counting from now), e.g. ``("response.output_audio.delta", Reset(),
        count=3)``. Fires once."""
        return self._triggers.arm(Trigger(type, fault, count))

    def faults_for_next_connection(self, faults: Sequence[ConnectionFault]) -> None:
        """Script the next connection attempt (each call scripts one more attempt, in order).

        A :class:`RejectHandshake` answers its handshake with that HTTP status; an
        :class:`AcceptThenClose` closes it before ``session.created``; any other fault is
        applied as the connection opens, right after ``session.created`` (in a replay: before
        the first recorded frame).
        """
        self._next_faults.append(list(faults))

    def _current(self) -> FakeConnection:
        for connection in reversed(self.connections):
            if not connection.closed:
                return connection
        raise RuntimeError("no client is connected to the fake server")

    # -- connections -----------------------------------------------------------------------------

    async def _handle_stream(self, raw: trio.abc.Stream) -> None:
        # The REST half shares the port: a request that is no WebSocket upgrade is answered
        # over plain HTTP; an upgrade goes on with its bytes put back in front.
        head = b""
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            try:
                head = await read_head(raw)
                if head and not is_websocket_upgrade(head):
                    await serve_http(raw, head, self.rest.handle)
                    head = b""
            except trio.BrokenResourceError:
                head = b""
        if not head:
            await trio.aclose_forcefully(raw)
            return
        stream = StallableStream(PrefixedStream(raw, head))
        try:
            async with trio.open_nursery() as nursery:
                await self._serve_websocket(nursery, stream)
                nursery.cancel_scope.cancel()
        except* (wsproto.utilities.LocalProtocolError, trio.BrokenResourceError, ConnectionClosed):
            # That connection is over, whatever its client did (left mid-handshake, or pinged
            # across our close: trio-websocket then answers with a pong wsproto refuses,
            # python-trio/trio-websocket#184); the server goes on.
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async def _serve_websocket(self, nursery: trio.Nursery, stream: StallableStream) -> None:
        connection: FakeConnection | None = None
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            request = await accept_websocket(
                nursery, stream, compression=self.compression, max_message_size=MAX_MESSAGE_SIZE
            )
            connection = await self._handshake(request, stream)
        if connection is not None:
            await connection.run()

    async def _close_all(self, code: int, reason: str) -> None:
        # Before cancelling: the WebSocket reader tasks must run to complete the close handshake.
        async with trio.open_nursery() as nursery:
            for connection in self.connections:
                if not connection.closed:
                    nursery.start_soon(connection.close, code, reason)

    async def _handshake(
        self, request: WebSocketRequest, stream: StallableStream
    ) -> FakeConnection | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
        protocols = request.proposed_subprotocols
        url = urllib.parse.urlsplit(request.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        faults = self._next_faults.popleft() if self._next_faults else []
        refusal = next((f for f in faults if isinstance(f, RejectHandshake)), None)
        player = self._replay.player(len(self.connections)) if self._replay is not None else None
        if self._replay is not None and player is None:
            refusal = refusal or RejectHandshake(503, "The recording has no more connections.")
        status, body = self._check(url.path, headers, protocols, query, refusal)
        self.handshakes.append(Handshake(request.path, headers, protocols, status))
        if status != 101:
            content_type = [(b"content-type", b"application/json")]
            await request.reject(status, extra_headers=content_type, body=body)
            return None
        websocket = await request.accept(
            subprotocol="realtime" if "realtime" in protocols else None,
            extra_headers=[(b"date", email.utils.formatdate(usegmt=True).encode())],
        )
        # A sideband connection starts from the accepted call's session, an ek_ key's from the
        # session it fixes; either may still be changed by session.update.
        call = self.calls.get(query.get("call_id", ""))
        preset = call.session if call is not None else self._ephemeral_session(headers, protocols)
        connection = FakeConnection(
            websocket=websocket,
            stream=stream,
            protocol=self._new_protocol(query, preset),
            server_record=self._record,
            realtime=lambda: self.realtime,
            session_seconds=self.session_seconds,
            path=request.path,
            headers=headers,
            triggers=self._triggers,
            opening=[f for f in faults if isinstance(f, Fault | AcceptThenClose)],
            player=player,
            retain=self.retain,
        )
        self.connections.append(connection)
        if call is not None:
            call._attach(connection)
        self._lot.unpark_all()
        return connection

    def _new_protocol(
        self, query: Mapping[str, str], preset: dict[str, Any] | None
    ) -> FakeProtocol:
        """The protocol core of the next connection, with the server's current options."""
        ids = IdFactory(f"{self._seed}:{len(self.connections)}")
        kind, model = requested_session(query, preset)
        state = FakeSession(
            script=self._script,
            new_id=ids.new,
            model=model or "gpt-realtime",
            kind=kind,
            now=time.time(),
            chunk_ms=self.audio_chunk_ms,
            seed=self._seed,
            lifetime=self.session_seconds,
            strict=self.strict,
            retain=self.retain,
        )
        apply_preset(state, preset)
        return FakeProtocol(state, new_id=ids.new, strict=lambda: self.strict)

    def _ephemeral_session(
        self, headers: Mapping[str, str], protocols: tuple[str, ...]
    ) -> dict[str, Any] | None:
        key = presented_key(headers, protocols, {})
        record = self.rest.secret(key) if key is not None else None
        return record.session if record is not None else None

    def _check(
        self,
        path: str,
        headers: Mapping[str, str],
        protocols: tuple[str, ...],
        query: Mapping[str, str],
        refusal: RejectHandshake | None = None,
    ) -> tuple[int, bytes]:
        """The HTTP status for a handshake (101 to accept) and the JSON body of a rejection."""
        if refusal is None and self.reject_handshake is not None:
            message = (
                f"Handshake rejected by the fake server (reject_handshake={self.reject_handshake})."
            )
            refusal = RejectHandshake(self.reject_handshake, message)
        if refusal is not None:
            return refusal.status, _error_body(refusal.message)
        status, body = check_handshake(
            path,
            headers,
            protocols,
            query,
            accepts_key=lambda key: key == self.api_key or self.rest.secret(key) is not None,
        )
        if status == 101 and "call_id" in query:
            return self._check_call(self.calls.get(query["call_id"]), query)
        return status, body

    @staticmethod
    def _check_call(call: FakeCall | None, query: Mapping[str, str]) -> tuple[int, bytes]:
        """A sideband socket joins an accepted, live call, and names no model."""
        if "model" in query:
            return 400, _error_body("Pass either 'model' or 'call_id', not both.")
        if call is None:
            return 404, _error_body(f"Call '{query['call_id']}' not found.", code="call_not_found")
        if call.status != ACCEPTED:
            return 400, _error_body(f"Call '{call.call_id}' is {call.status}, not accepted.")
        return 101, b""
