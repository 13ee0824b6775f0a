"""The Trio session: ``open_session`` and :class:`Session`.

::

    caller ── session.send(event) ──▶ [outbound channel] ──▶ send task ──▶ WebSocket
    caller ◀── async for event in session ◀── [inbound channel] ◀── receive task ◀── WebSocket

The session's nursery owns exactly two long-lived tasks (plus trio-websocket's reader). The
receive task decodes each frame, updates the state mirror and the pending requests, and only then
hands the event to the caller. The send task is the only writer of the socket. Both channels are
bounded: when the caller stops reading, the receive task waits once ``inbound_buffer`` events are
queued, and the socket is not read until the caller catches up (the server's frames wait in the
kernel's buffers); a sender waits while ``outbound_buffer`` frames are queued.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import attrs
import trio
import trio_websocket

from ._client_events import (
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
)
from ._codec import decode_server_event, encode_client_event
from ._connect import (
    DEFAULT_URL,
    ConnectStream,
    Credentials,
    Endpoint,
    TokenProvider,
    open_tcp_or_tls,
    open_websocket,
)
from ._errors import (
    ConnectError,
    ConnectTimeout,
    RequestTimeout,
    ServerError,
    SessionClosed,
)
from ._item_models import InputItem, Item, MessageItem, UnknownItem
from ._notgiven import NOT_GIVEN, NotGiven, is_given
from ._requests import PendingRequest, RequestTracker
from ._response_models import RateLimit, Response, ResponseParams
from ._server_events import (
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    Error,
    InputAudioBufferCommitted,
    InvalidServerEvent,
    ServerEvent,
    SessionCreated,
    UnknownServerEvent,
)
from ._session_models import Session as SessionConfig
from ._session_models import SessionProperties, Tool, ToolChoice
from ._settings import RealtimeSettings, session_update_for
from ._state import SessionState

__all__ = ["DEFAULT_MODEL", "CloseReason", "Session", "SessionStatistics", "open_session"]

logger = logging.getLogger("trealtime")

DEFAULT_MODEL = "gpt-realtime"
E = TypeVar("E", bound=ServerEvent)


@attrs.frozen
class CloseReason:
    """Why the connection ended: the WebSocket close code and reason."""

    code: int
    reason: str | None


@attrs.frozen(kw_only=True)
class SessionStatistics:
    """Counters and queue depths of a session, for monitoring."""

    events_received: int
    bytes_received: int
    events_sent: int
    bytes_sent: int
    invalid_events: int
    """Frames that could not be decoded (delivered as ``InvalidServerEvent``)."""
    unknown_events: int
    """Frames of a type this version does not know (delivered as ``UnknownServerEvent``)."""
    inbound_queued: int
    """Events decoded but not yet read by the caller."""
    outbound_queued: int
    """Frames waiting for the send task."""
    unsent_events: int
    """Frames that were queued when the connection ended and so never went out."""
    pending_requests: int


@attrs.define
class _Counters:
    events_received: int = 0
    bytes_received: int = 0
    events_sent: int = 0
    bytes_sent: int = 0
    invalid_events: int = 0
    unknown_events: int = 0
    unsent_events: int = 0


class Session:
    """A connected Realtime session. Get one from :func:`open_session`; don't construct it.

    Iterate it for server events; call its methods to send. It is safe to send from several
    tasks at once, and to send from one task while another iterates.
    """

    def __init__(
        self,
        *,
        endpoint: Endpoint,
        credentials: Credentials,
        settings: RealtimeSettings,
        extra_headers: Mapping[str, str],
        connect_stream: ConnectStream,
        max_message_size: int,
        inbound_buffer: int,
        outbound_buffer: int,
        close_timeout: float,
        request_timeout: float,
    ) -> None:
        self._endpoint = endpoint
        self._credentials = credentials
        self._settings = settings
        self._extra_headers = dict(extra_headers)
        self._connect_stream = connect_stream
        self._max_message_size = max_message_size
        self._close_timeout = close_timeout
        self._request_timeout = request_timeout
        self._state = SessionState()
        self._requests = RequestTracker()
        self._waiters: dict[PendingRequest, trio.Event] = {}
        self._counters = _Counters()
        self._inbound_send, self._inbound_receive = trio.open_memory_channel[ServerEvent](
            inbound_buffer
        )
        self._outbound_send, self._outbound_receive = trio.open_memory_channel[str](outbound_buffer)
        self._event_prefix = f"trt_{secrets.token_hex(3)}_"
        self._event_counter = 0
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._stream: trio.abc.Stream | None = None
        self._created = trio.Event()
        self._close_reason: CloseReason | None = None
        self._closed_by_client = False
        self._last_error: Error | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<trealtime.Session {self._endpoint.url} {state}>"

    # -- reading --------------------------------------------------------------------------------

    def __aiter__(self) -> Session:
        return self

    async def __anext__(self) -> ServerEvent:
        try:
            return await self._inbound_receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def wait_for(self, event_type: type[E]) -> E:
        """Read events until one of ``event_type`` arrives and return it (others are dropped).

        Raises :class:`SessionClosed` if the session ends first. Handy in tests and scripts
        (with ``trio.fail_after``); an app usually iterates.
        """
        async for event in self:
            if isinstance(event, event_type):
                return event
        self._raise_closed()

    @property
    def properties(self) -> SessionConfig | NotGiven:
        """The session properties as the server last confirmed them."""
        return self._state.session

    @property
    def settings(self) -> RealtimeSettings:
        """A copy of the settings this session was configured with (and updated to)."""
        return self._settings.copy()

    @property
    def conversation(self) -> list[Item]:
        """The items of the conversation, in order."""
        return self._state.conversation.items

    @property
    def state(self) -> SessionState:
        """The client's mirror of the server's state (read it, don't change it)."""
        return self._state

    @property
    def active_response(self) -> Response | None:
        """The default-conversation response in progress, if any."""
        return self._state.active_response

    @property
    def rate_limits(self) -> list[RateLimit]:
        """The rate limits the server last reported."""
        return list(self._state.rate_limits)

    @property
    def close_reason(self) -> CloseReason | None:
        """None while open; the close code and reason once the connection has ended."""
        return self._close_reason

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (either side)."""
        return self._close_reason is not None

    def statistics(self) -> SessionStatistics:
        """Counters and queue depths."""
        c = self._counters
        return SessionStatistics(
            events_received=c.events_received,
            bytes_received=c.bytes_received,
            events_sent=c.events_sent,
            bytes_sent=c.bytes_sent,
            invalid_events=c.invalid_events,
            unknown_events=c.unknown_events,
            inbound_queued=self._inbound_send.statistics().current_buffer_used,
            outbound_queued=self._outbound_send.statistics().current_buffer_used,
            unsent_events=c.unsent_events,
            pending_requests=len(self._requests),
        )

    # -- sending --------------------------------------------------------------------------------

    async def send(self, event: ClientEvent) -> None:
        """Queue any client event for sending (waits while the outbound buffer is full).

        Raises :class:`SessionClosed` once the connection has ended.
        """
        self._check_open()
        text = encode_client_event(event)
        try:
            await self._outbound_send.send(text)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._raise_closed()

    async def append_audio(self, audio: bytes) -> None:
        """Append audio in the session's input format (PCM16 LE mono at 24 kHz by default)."""
        await self.send(InputAudioBufferAppend.from_bytes(audio))

    async def commit_audio(self) -> str:
        """Commit the input buffer as a user item and return the item's id."""
        reply = await self._request(InputAudioBufferCommit(), "commit", None)
        assert isinstance(reply, InputAudioBufferCommitted)
        return reply.item_id

    async def clear_audio(self) -> None:
        """Drop the buffered input audio; returns when the server confirmed."""
        await self._request(InputAudioBufferClear(), "clear", None)

    async def send_text(self, text: str, *, respond: bool = False) -> Item:
        """Add a user text message (and ask for a response if ``respond``); returns the item."""
        item = await self.create_item(MessageItem.user_text(text))
        if respond:
            await self.create_response()
        return item

    async def create_item(
        self, item: Item, *, previous_item_id: str | NotGiven | None = NOT_GIVEN
    ) -> Item:
        """Add an item to the conversation and return it as the server confirmed it.

        An item without an ``id`` gets one, so that the confirmation can be matched to it.
        """
        if isinstance(item, UnknownItem):
            await self.send(ConversationItemCreate(item=item, previous_item_id=previous_item_id))
            return item
        item_id = item.id if is_given(item.id) else f"item_{secrets.token_hex(13)}"
        event = ConversationItemCreate(
            item=attrs.evolve(item, id=item_id), previous_item_id=previous_item_id
        )
        reply = await self._request(event, "create", item_id)
        assert isinstance(reply, ConversationItemAdded | ConversationItemCreated)
        return reply.item

    async def delete_item(self, item_id: str) -> None:
        """Remove an item; returns when the server confirmed."""
        await self._request(ConversationItemDelete(item_id=item_id), "delete", item_id)

    async def truncate_item(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut an assistant audio item at ``audio_end_ms``; returns when the server confirmed."""
        event = ConversationItemTruncate(
            item_id=item_id, content_index=content_index, audio_end_ms=audio_end_ms
        )
        reply = await self._request(event, "truncate", item_id)
        assert isinstance(reply, ConversationItemTruncated)

    async def retrieve_item(self, item_id: str) -> Item:
        """The server's copy of an item, audio included. Concurrent calls share one request."""
        existing = self._requests.find("retrieve", item_id)
        if existing is not None:
            reply = await self._wait(existing)
        else:
            reply = await self._request(
                ConversationItemRetrieve(item_id=item_id), "retrieve", item_id
            )
        assert isinstance(reply, ConversationItemRetrieved)
        return reply.item

    async def create_response(
        self,
        params: ResponseParams | None = None,
        *,
        instructions: str | NotGiven = NOT_GIVEN,
        output_modalities: list[str] | NotGiven = NOT_GIVEN,
        tools: list[Tool] | NotGiven = NOT_GIVEN,
        tool_choice: ToolChoice | NotGiven = NOT_GIVEN,
        conversation: str | NotGiven = NOT_GIVEN,
        metadata: dict[str, str] | NotGiven | None = NOT_GIVEN,
        input: list[InputItem] | NotGiven = NOT_GIVEN,
    ) -> None:
        """Ask for a response; the keywords override ``params`` for this response only.

        ``conversation="none"`` makes an out-of-band response (``input`` sets its context).
        """
        overrides: dict[str, Any] = {
            "instructions": instructions,
            "output_modalities": output_modalities,
            "tools": tools,
            "tool_choice": tool_choice,
            "conversation": conversation,
            "metadata": metadata,
            "input": input,
        }
        given = {name: value for name, value in overrides.items() if is_given(value)}
        if params is None and not given:
            await self.send(ResponseCreate(event_id=self._next_event_id()))
            return
        response = attrs.evolve(params or ResponseParams(), **given)
        await self.send(ResponseCreate(response=response, event_id=self._next_event_id()))

    async def cancel_response(self, response_id: str | NotGiven = NOT_GIVEN) -> None:
        """Cancel the active response (or the one named)."""
        await self.send(ResponseCancel(response_id=response_id, event_id=self._next_event_id()))

    async def clear_output_audio(self) -> None:
        """Cut off audio the server is playing out (WebRTC and SIP sessions only)."""
        await self.send(OutputAudioBufferClear(event_id=self._next_event_id()))

    async def update_settings(self, delta: RealtimeSettings) -> dict[str, Any]:
        """Apply a settings delta, send the minimal ``session.update`` and wait for the server.

        Returns ``{field: old value}`` for what changed. If the server rejects the update,
        :class:`ServerError` is raised and the settings stay as they were.
        """
        updated = self._settings.copy()
        changed = updated.apply_update(delta)
        update = session_update_for(_session_of(self._settings), _session_of(updated))
        if update is not None:
            await self._request(SessionUpdate(session=update), "session.update", None)
        self._settings = updated
        return changed

    # -- requests -------------------------------------------------------------------------------

    def _next_event_id(self) -> str:
        self._event_counter += 1
        return f"{self._event_prefix}{self._event_counter}"

    async def _request(self, event: ClientEvent, kind: str, key: str | None) -> ServerEvent:
        self._check_open()
        event = attrs.evolve(event, event_id=self._next_event_id())
        assert isinstance(event.event_id, str)
        done = trio.Event()
        request = PendingRequest(kind, key, event.event_id, done.set)
        self._waiters[request] = done
        self._requests.add(request)
        try:
            await self.send(event)
            return await self._wait(request)
        finally:
            self._requests.discard(request)
            self._waiters.pop(request, None)

    async def _wait(self, request: PendingRequest) -> ServerEvent:
        done = self._waiters[request]
        with trio.move_on_after(self._request_timeout):
            await done.wait()
        if not request.done:
            raise RequestTimeout(
                f"no reply to {request.kind} within {self._request_timeout} s"
                f" (event_id {request.event_id})"
            )
        if request.error is not None:
            raise request.error
        assert request.reply is not None
        return request.reply

    # -- lifecycle ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed_by_client:
            raise trio.ClosedResourceError("the session was closed by its owner")
        if self._close_reason is not None:
            self._raise_closed()

    def _raise_closed(self) -> NoReturn:
        if self._closed_by_client:
            raise trio.ClosedResourceError("the session was closed by its owner")
        reason = self._close_reason or CloseReason(1006, None)
        raise SessionClosed(reason.code, reason.reason)

    async def _connect(self, nursery: trio.Nursery) -> None:
        endpoint = self._endpoint
        headers = await self._credentials.headers(endpoint.azure)
        headers += list(self._extra_headers.items())
        logger.debug("connecting to %s", endpoint.url)
        try:
            self._stream = await self._connect_stream(endpoint.host, endpoint.port, endpoint.tls)
        except OSError as exc:
            raise ConnectError(
                f"cannot connect to {endpoint.host}:{endpoint.port}: {exc}"
            ) from None
        self._ws = await open_websocket(
            nursery, self._stream, endpoint, headers, max_message_size=self._max_message_size
        )
        nursery.start_soon(self._receive_loop, self._ws)
        nursery.start_soon(self._send_loop, self._ws)
        await self._created.wait()
        if self.closed:
            if self._last_error is not None:
                raise ServerError(self._last_error.error)
            raise ConnectError(
                f"the server closed the connection before session.created: {self._close_reason}"
            )
        update = session_update_for(NOT_GIVEN, _session_of(self._settings))
        await self._request(
            SessionUpdate(session=update or SessionProperties()), "session.update", None
        )
        logger.debug("session ready: %s", endpoint.url)

    async def _receive_loop(self, ws: trio_websocket.WebSocketConnection) -> None:
        counters = self._counters
        while True:
            try:
                message = await ws.get_message()
            except trio_websocket.ConnectionClosed as exc:
                self._on_connection_closed(exc.reason)
                return
            counters.events_received += 1
            counters.bytes_received += len(message)
            if isinstance(message, str):
                event = decode_server_event(message)
            else:
                event = InvalidServerEvent(
                    type="", raw=message, error="binary frame: the Realtime API sends only text"
                )
            if isinstance(event, InvalidServerEvent):
                counters.invalid_events += 1
                logger.warning("undecodable server frame: %s", event.error)
            elif isinstance(event, UnknownServerEvent):
                counters.unknown_events += 1
            elif isinstance(event, Error):
                self._last_error = event
            self._state.apply(event)
            self._requests.on_server_event(event, ServerError)
            if isinstance(event, SessionCreated):
                self._created.set()
            # If nobody reads any more, keep the state and the requests going.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self._inbound_send.send(event)

    async def _send_loop(self, ws: trio_websocket.WebSocketConnection) -> None:
        counters = self._counters
        async with self._outbound_receive:
            async for text in self._outbound_receive:
                try:
                    await ws.send_message(text)
                except trio_websocket.ConnectionClosed as exc:
                    counters.unsent_events += 1
                    self._on_connection_closed(exc.reason)
                    break
                counters.events_sent += 1
                counters.bytes_sent += len(text)
            counters.unsent_events += self._outbound_receive.statistics().current_buffer_used

    def _on_connection_closed(self, ws_reason: trio_websocket.CloseReason | None) -> None:
        code = ws_reason.code if ws_reason is not None else 1006
        reason = ws_reason.reason if ws_reason is not None else None
        if self._close_reason is None:
            self._close_reason = CloseReason(code, reason)
            logger.info("connection closed: code %s %s", code, reason or "")
        self._requests.fail_all(SessionClosed(code, reason))
        self._inbound_send.close()
        self._created.set()

    async def _close(self) -> None:
        """Close within ``close_timeout`` whatever the server does; always release the socket."""
        self._closed_by_client = True
        self._requests.fail_all(SessionClosed(1000, "closed by the client"))
        self._outbound_send.close()
        ws = self._ws
        if ws is not None and not ws.closed:
            with trio.move_on_after(self._close_timeout):
                await ws.aclose()
        if self._close_reason is None:
            self._close_reason = CloseReason(1000, "closed by the client")
        self._inbound_send.close()
        if self._stream is not None:
            await trio.aclose_forcefully(self._stream)


def _session_of(settings: RealtimeSettings) -> SessionProperties:
    """The session properties the settings ask for (instructions included)."""
    properties = settings.session_properties
    if is_given(properties):
        return properties
    instructions = settings.system_instruction
    if isinstance(instructions, str):
        return SessionProperties(instructions=instructions)
    return SessionProperties()


def _unwrap_group(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error in ``group``, ignoring cancellations; the group itself otherwise."""
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(group)
    real = [exc for exc in leaves if not isinstance(exc, trio.Cancelled)]
    if len(real) == 1:
        return real[0]
    if not real and leaves:
        return leaves[0]
    return group


@asynccontextmanager
async def open_session(
    *,
    api_key: str | None = None,
    settings: RealtimeSettings | None = None,
    url: str = DEFAULT_URL,
    azure: bool | None = None,
    token_provider: TokenProvider | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_query: Mapping[str, str] | None = None,
    connect_timeout: float = 10.0,
    close_timeout: float = 2.0,
    request_timeout: float = 10.0,
    max_message_size: int = 16 * 2**20,
    inbound_buffer: int = 256,
    outbound_buffer: int = 64,
    ssl_context: ssl.SSLContext | None = None,
    allow_insecure: bool = False,
    connect_stream: ConnectStream | None = None,
) -> AsyncIterator[Session]:
    """Connect, configure the session, and yield a :class:`Session`; close it on exit.

    The model (``settings.model``, default ``gpt-realtime``; an Azure deployment name on Azure)
    goes in the URL's ``model`` query parameter. Credentials: ``api_key`` (default: the
    ``OPENAI_API_KEY`` environment variable; ``AZURE_OPENAI_API_KEY`` on Azure, sent as the
    ``api-key`` header) or ``token_provider``, an async callable whose token is fetched on every
    connect (e.g. Entra ID). The session is yielded only after ``session.created`` and the
    ``session.updated`` that confirms ``settings``; an ``error`` in reply raises
    :class:`ServerError`. All of that must happen within ``connect_timeout``
    (:class:`ConnectTimeout` otherwise).

    Leaving the block closes the socket within ``close_timeout``, whether the server answers
    the close or not, and no task outlives it. ``connect_stream`` replaces the TCP/TLS transport
    (the fake server's in-memory seam); ``ssl_context`` replaces the default verifying context.
    """
    store = settings.copy() if settings is not None else RealtimeSettings()
    model = store.model if isinstance(store.model, str) else DEFAULT_MODEL
    endpoint = Endpoint.build(url, model=model, extra_query=extra_query, azure=azure)
    if connect_stream is None:
        endpoint.check_transport_security(allow_insecure)

        async def connect_tcp(host: str, port: int, tls: bool) -> trio.abc.Stream:
            return await open_tcp_or_tls(host, port, tls, ssl_context)

        connect_stream = connect_tcp
    session = Session(
        endpoint=endpoint,
        credentials=Credentials.resolve(api_key, token_provider, azure=endpoint.azure),
        settings=store,
        extra_headers=extra_headers or {},
        connect_stream=connect_stream,
        max_message_size=max_message_size,
        inbound_buffer=inbound_buffer,
        outbound_buffer=outbound_buffer,
        close_timeout=close_timeout,
        request_timeout=request_timeout,
    )
    try:
        async with trio.open_nursery() as nursery:
            try:
                try:
                    with trio.fail_after(connect_timeout):
                        await session._connect(nursery)
                except trio.TooSlowError:
                    raise ConnectTimeout(
                        f"no session from {endpoint.url} within {connect_timeout} s"
                    ) from None
                yield session
            finally:
                with trio.CancelScope(shield=True):
                    await session._close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        error = _unwrap_group(group)
        if error is group:
            raise
        raise error from error.__cause__
