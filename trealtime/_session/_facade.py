"""The Trio session's facade: :class:`Session`.

::

    caller ── session.send(event) ──▶ [outbound channel] ──▶ send task ──▶ WebSocket
    caller ◀── async for event in session ◀── [inbound channel] ◀── receive task ◀── WebSocket

Each connection (:class:`~trealtime._transport._link.Link`) has a receive task, which decodes
every frame, updates the state mirror and the pending requests, reacts (truncation on barge-in,
tool calls, queued responses), and only then hands the event to the caller; and a send task, the
only writer of data frames, fed by the outbound channel. A keepalive task pings when enabled. Both
channels are bounded and outlive a connection, so that with a reconnect policy nothing queued
is lost: a new connection is configured, the conversation replayed, and the queue drained.

When the caller stops reading, the receive task waits once ``inbound_buffer`` events, or
``inbound_buffer_bytes`` of frames (at their wire size), are queued, and the socket is not
read until the caller catches up (the server's frames wait in the
kernel's buffers); a sender waits while ``outbound_buffer`` frames are queued.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn, TypeVar

import attrs
import trio

from .._agent._dtmf import DtmfKeys, DtmfListeners
from .._agent._images import encode_raw_frame, image_item
from .._agent._metrics import MetricsTracker
from .._agent._tools import ToolRegistry, ToolSpec
from .._errors import (
    ConfigurationError,
    ConnectionLost,
    LocalProtocolError,
    ServerError,
    SessionClosed,
)
from .._log_limit import LimitedWarnings
from .._transport._link import CloseReason
from .._transport._redaction import redact_error
from .._wire._client_events import (
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    SessionUpdate,
)
from .._wire._codec import encode_client_event
from .._wire._item_models import (
    InputItem,
    Item,
    MessageItem,
    UnknownItem,
)
from .._wire._notgiven import NOT_GIVEN, NotGiven, is_given
from .._wire._response_models import RateLimit, Response, ResponseParams
from .._wire._server_events import (
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    InputAudioBufferCommitted,
    ServerEvent,
)
from .._wire._session_models import Session as SessionConfig
from .._wire._session_models import (
    SessionProperties,
    Tool,
    ToolChoice,
    TranscriptionSessionProperties,
)
from .._wire._settings import IgnoredSettingsLog, RealtimeSettings, session_update_for
from ._action_runner import ActionRunner
from ._cancellation import Interrupter, Interruption
from ._core import ConversationCore
from ._inbound_queue import InboundQueue
from ._options import SessionOptions
from ._receiver import FrameCounters, Receiver
from ._requester import Requester
from ._response_handle import ResponseHandle
from ._responses import ResponseRequest
from ._session_tools import ToolOutputs, properties_with_tools, replace_tools
from ._state import SessionState
from ._statistics import SessionStatistics, statistics_of
from ._supervised import SessionAsSupervised
from ._supervisor import ConnectionSupervisor

__all__ = [
    "DEFAULT_MODEL",
    "CloseReason",
    "Interruption",
    "Session",
    "SessionStatistics",
]

logger = logging.getLogger("trealtime")

DEFAULT_MODEL = "gpt-realtime"
E = TypeVar("E", bound=ServerEvent)


class Session:
    """A connected Realtime session. Get one from :func:`open_session`; don't construct it.

    Iterate it for server events; call its methods to send. It is safe to send from several
    tasks at once, and to send from one task while another iterates.
    """

    def __init__(self, options: SessionOptions) -> None:
        self._endpoint = options.endpoint
        self._credentials = options.credentials
        self._settings = options.settings
        self._ignored_settings = IgnoredSettingsLog()
        self._ignored_settings.check(options.settings)
        self._request_timeout = options.request_timeout
        self._recorder = options.recorder
        self._counters = FrameCounters()
        self._warnings = LimitedWarnings(logger)
        self._secrets: set[str] = set(options.credentials.secrets())
        if options.recorder is not None:
            options.recorder.secrets = self._secrets  # the same set: tokens join it as they come
        self._inbound = InboundQueue[ServerEvent](
            options.inbound_buffer, options.inbound_buffer_bytes
        )
        self._outbound_send, outbound = trio.open_memory_channel[str](options.outbound_buffer)
        self._started = trio.current_time()
        self._close_reason: CloseReason | None = None
        self._dtmf = DtmfListeners(self._warnings)
        self._images = options.image_input()
        self._follow_conversation(options)
        self._supervisor = self._supervise(options, outbound)
        if len(options.tools.function_tools()):
            self._settings.apply_update(RealtimeSettings(session_properties=self._with_tools()))

    def _follow_conversation(self, options: SessionOptions) -> None:
        """Build the parts that follow the conversation: the core, and what carries out its
        actions (requests, tool calls, response handles, the receive path, interruptions)."""
        self._core = ConversationCore(
            tools=options.tools,
            server_error=self._server_error,
            warnings=self._warnings,
            audio=options.audio_input(),
            max_conversation_items=options.max_conversation_items,
            log_metrics=options.log_metrics,
        )
        self._requester = Requester(
            self._core,
            send=self.send,
            check_open=self._check_open,
            request_timeout=options.request_timeout,
        )
        self._tools = ToolOutputs(self._core, self.send).runner(
            options.tools,
            request_response=self._request_tool_response,
            max_concurrency=options.max_tool_concurrency,
            default_timeout=options.tool_timeout,
        )
        self._actions = ActionRunner(
            self._core,
            tools=self._tools,
            dtmf=self._dtmf,
            send=self.send,
            request_timeout=options.request_timeout,
            handle_buffer=options.inbound_buffer,
        )
        self._receiver = Receiver(
            core=self._core,
            actions=self._actions,
            inbound=self._inbound,
            observe=lambda link, event: self._supervisor.observe(link, event),
            counters=self._counters,
            warnings=self._warnings,
            recorder=options.recorder,
            started=self._started,
        )
        self._interrupter = Interrupter(
            core=self._core,
            actions=self._actions,
            tools=self._tools,
            requester=self._requester,
            truncate=self.truncate_item,
            clear_audio=self.clear_audio,
            send=self.send,
        )

    def _supervise(
        self, options: SessionOptions, outbound: trio.MemoryReceiveChannel[str]
    ) -> ConnectionSupervisor:
        """The supervisor of this session's connections, fed by ``outbound``."""
        return ConnectionSupervisor(
            SessionAsSupervised(
                core=self._core,
                requester=self._requester,
                on_frame=self._receiver.on_frame,
                on_sent=self._on_sent,
                session_properties=lambda: self._session_properties(self._settings),
                mid_turn=self._mid_turn,
                connection_lost=self._on_connection_lost,
                finish=self._finish,
                deliver=self._receiver.deliver,
                server_error=self._server_error,
            ),
            options.link_options(outbound),
            connect_timeout=options.connect_timeout,
            close_timeout=options.close_timeout,
            reconnect=options.reconnect,
            recorder=options.recorder,
            started=self._started,
            secrets=self._secrets,
        )

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<trealtime.Session {self._endpoint.url} {state}>"

    @property
    def _nursery(self) -> trio.Nursery | None:
        """The session's nursery (set by ``open_session``): tool calls and timers run in it."""
        return self._actions.nursery

    @_nursery.setter
    def _nursery(self, nursery: trio.Nursery | None) -> None:
        self._actions.nursery = nursery

    # -- reading --------------------------------------------------------------------------------

    def __aiter__(self) -> Session:
        return self

    async def __anext__(self) -> ServerEvent:
        if self._supervisor.closed_by_client:  # after the block: unread events are not delivered
            raise StopAsyncIteration
        try:
            return await self._inbound.get()
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
        return self._core.state.session

    @property
    def transcription_only(self) -> bool:
        """Whether this is a transcription session (``session.type: "transcription"``): audio
        in, transcripts out, no responses."""
        return isinstance(self._settings.session_properties, TranscriptionSessionProperties)

    @property
    def settings(self) -> RealtimeSettings:
        """A copy of the settings this session was configured with (and updated to)."""
        return self._settings.copy()

    @property
    def conversation(self) -> list[Item]:
        """The items of the conversation, in order."""
        return self._core.state.conversation.items

    @property
    def state(self) -> SessionState:
        """The client's mirror of the server's state (read it, don't change it)."""
        return self._core.state

    @property
    def active_response(self) -> Response | None:
        """The default-conversation response in progress, if any."""
        return self._core.state.active_response

    @property
    def response_active(self) -> bool:
        """Whether a default-conversation response is running or about to start."""
        return self._core.response_active

    @property
    def rate_limits(self) -> list[RateLimit]:
        """The rate limits the server last reported."""
        return list(self._core.state.rate_limits)

    @property
    def metrics(self) -> MetricsTracker:
        """Per-response metrics (``metrics.last``) and session totals (read, don't change)."""
        return self._core.metrics

    @property
    def tools(self) -> ToolRegistry:
        """The tools whose calls this session runs."""
        return self._tools.registry

    @property
    def close_reason(self) -> CloseReason | None:
        """None while open; the close code and reason once the session has ended."""
        return self._close_reason

    @property
    def closed(self) -> bool:
        """Whether the session has ended (either side)."""
        return self._close_reason is not None

    def dtmf(self) -> DtmfKeys:
        """The keys the caller presses on a SIP call from now on: ``async for press in ...``.

        See :class:`DtmfKeys`; the events also stay in the session's own event stream.
        """
        self._check_not_left()
        return self._dtmf.listen()

    def input_transcript(self, item_id: str) -> str:
        """The transcript of a user audio item so far (deltas, then the final text).

        Raises :class:`TranscriptionFailed` if the server reported that it could not
        transcribe the item.
        """
        return self._core.input_transcript(item_id)

    def statistics(self) -> SessionStatistics:
        """Counters and queue depths."""
        return statistics_of(
            self._counters,
            self._core,
            self._inbound,
            self._supervisor,
            outbound_queued=self._outbound_send.statistics().current_buffer_used,
            closed=self.closed,
        )

    # -- sending --------------------------------------------------------------------------------

    async def send(self, event: ClientEvent) -> None:
        """Queue any client event for sending (waits while the outbound buffer is full).

        Raises :class:`SessionClosed` once the session has ended. While a reconnect is under
        way, events wait in the queue and go out on the new connection.
        """
        self._check_open()
        text = encode_client_event(event)
        self._core.on_client_event(event)
        try:
            await self._outbound_send.send(text)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._raise_closed()

    async def append_audio(self, audio: bytes, sample_rate: int | None = None) -> None:
        """Append audio in the session's input format, re-chunked to ``audio_chunk_ms``.

        PCM16 mono at another ``sample_rate`` (8000 to 48000 Hz) is resampled to 24 kHz (needs
        the ``resample`` extra); G.711 passes through untouched. Dropped while audio input is
        paused. A trailing odd byte waits for the next append (:meth:`commit_audio` refuses to
        commit half a sample).
        """
        self._check_open()
        for chunk in self._core.audio.feed(audio, sample_rate):
            await self.send(InputAudioBufferAppend.from_bytes(chunk))

    def set_audio_input_paused(self, paused: bool) -> None:
        """Pause or resume audio input (appended audio is dropped while paused)."""
        self._check_not_left()
        self._core.audio.set_paused(paused)

    async def commit_audio(self) -> str:
        """Commit the input buffer as a user item and return the item's id.

        Raises :class:`LocalProtocolError` without asking the server when less than the API's
        100 ms minimum is buffered.
        """
        self._check_open()
        audio = self._core.audio
        rest = audio.flush()
        if rest:
            await self.send(InputAudioBufferAppend.from_bytes(rest))
        if audio.half_sample_pending:
            raise LocalProtocolError(
                "an odd number of PCM16 bytes was appended: the last byte is half a sample;"
                " append its other byte before committing, or clear_audio()"
            )
        if not audio.can_commit():
            raise LocalProtocolError(
                f"only {audio.buffered_ms:.0f} ms of audio since the last commit;"
                " the API needs at least 100 ms"
            )
        reply = await self._requester.request(InputAudioBufferCommit(), "commit", None)
        assert isinstance(reply, InputAudioBufferCommitted)
        return reply.item_id

    async def clear_audio(self) -> None:
        """Drop the buffered input audio; returns when the server confirmed."""
        self._check_open()
        self._core.audio.discard_buffered()
        await self._requester.request(InputAudioBufferClear(), "clear", None)

    async def send_text(self, text: str, *, respond: bool = True) -> Item:
        """A typed user turn: add a user text message and ask for a response (unless
        ``respond=False``, which only adds the message); returns the confirmed item."""
        if respond:
            self._check_responses()
        item = await self.create_item(MessageItem.user_text(text))
        if respond:
            await self.create_response()
        return item

    async def send_image(self, image: bytes, *, detail: str | None = None) -> Item | None:
        """Add a JPEG or PNG image as a user message; None if paused or rate-limited."""
        self._check_open()
        item = image_item(image, detail=detail or self._images.detail)  # validate first
        if not self._images.accept(trio.current_time()):
            return None
        return await self.create_item(item)

    async def send_video_frame(
        self, pixels: bytes, size: tuple[int, int], mode: str = "RGB"
    ) -> Item | None:
        """Add a raw video frame (JPEG-encoded with Pillow, the ``images`` extra), rate-limited."""
        self._check_open()
        if not self._images.accept(trio.current_time()):
            return None
        jpeg = encode_raw_frame(pixels, size, mode)
        return await self.create_item(image_item(jpeg, detail=self._images.detail))

    def set_video_input_paused(self, paused: bool) -> None:
        """Pause or resume image and video input."""
        self._check_not_left()
        self._images.set_paused(paused)

    def set_video_frame_detail(self, detail: str) -> None:
        """The detail level of images: ``auto``, ``low`` or ``high``."""
        self._check_not_left()
        self._images.set_detail(detail)

    async def create_item(
        self, item: Item, *, previous_item_id: str | NotGiven | None = NOT_GIVEN
    ) -> Item:
        """Add an item to the conversation and return it as the server confirmed it.

        An item without an ``id`` gets one, so that the confirmation can be matched to it.
        """
        if isinstance(item, UnknownItem):
            await self.send(ConversationItemCreate(item=item, previous_item_id=previous_item_id))
            return item
        item_id, event = ConversationItemCreate.identified(item, previous_item_id)
        reply = await self._requester.request(event, "create", item_id)
        assert isinstance(reply, ConversationItemAdded | ConversationItemCreated)
        return reply.item

    async def delete_item(self, item_id: str) -> None:
        """Remove an item; returns when the server confirmed."""
        await self._requester.request(ConversationItemDelete(item_id=item_id), "delete", item_id)

    async def truncate_item(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut an assistant audio item at ``audio_end_ms``; returns when the server confirmed.

        A negative ``content_index`` or ``audio_end_ms`` raises :class:`ConfigurationError`
        without asking the server.
        """
        if content_index < 0 or audio_end_ms < 0:
            raise ConfigurationError(
                "content_index and audio_end_ms must be >= 0,"
                f" got {content_index} and {audio_end_ms}"
            )
        event = ConversationItemTruncate(
            item_id=item_id, content_index=content_index, audio_end_ms=audio_end_ms
        )
        reply = await self._requester.request(event, "truncate", item_id)
        assert isinstance(reply, ConversationItemTruncated)

    async def retrieve_item(self, item_id: str) -> Item:
        """The server's copy of an item, audio included. Concurrent calls share one request."""
        reply = await self._requester.shared_request(
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
    ) -> ResponseHandle:
        """Ask for a response; the keywords override ``params`` for this response only.

        Only one default-conversation response runs at a time: a request made while one runs
        is sent when it ends (never provoking ``conversation_already_has_active_response``).
        ``conversation="none"`` makes an out-of-band response, which runs at once (``input``
        sets its context, ``metadata`` tells it apart). Returns a :class:`ResponseHandle`.
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
        response = attrs.evolve(params or ResponseParams(), **given) if params or given else None
        self._check_open()
        self._check_responses()
        request = ResponseRequest(tag=secrets.token_hex(6), params=response or NOT_GIVEN)
        return await self._actions.request_response(request)

    async def cancel_response(self, response_id: str | NotGiven = NOT_GIVEN) -> bool:
        """Cancel the active response (or the one named, out-of-band ones too); False if it
        was not running (never started, or already done).

        ``response.cancel`` is only sent when that response is running, so the server never
        answers ``response_cancel_not_active``.
        """
        self._check_open()
        return await self._interrupter.cancel_response(response_id)

    async def clear_output_audio(self) -> None:
        """Cut off audio the server is playing out (WebRTC and SIP sessions only)."""
        await self.send(OutputAudioBufferClear(event_id=self._core.next_event_id()))

    async def update_settings(self, delta: RealtimeSettings | Mapping[str, Any]) -> dict[str, Any]:
        """Apply a settings delta, send what it changed in a ``session.update``, await the reply.

        What the delta leaves out (at any depth) keeps its value; ``None`` clears a field where
        the API gives ``null`` a meaning. A plain mapping goes through
        :meth:`RealtimeSettings.from_mapping`. Returns ``{field: old value}`` for what changed.
        If the server rejects the update, :class:`ServerError` is raised and the settings stay
        as they were.
        """
        self._check_open()
        if not isinstance(delta, RealtimeSettings):
            delta = RealtimeSettings.from_mapping(delta)
        self._ignored_settings.check(delta)
        updated = self._settings.copy()
        changed = updated.apply_update(delta)
        update = session_update_for(
            self._session_properties(self._settings), self._session_properties(updated)
        )
        if update is not None:
            await self._requester.request(SessionUpdate(session=update), "session.update", None)
        self._settings = updated
        return changed

    async def restart(self, *, keep_conversation: bool = True) -> None:
        """Replace the server session with a fresh one, on a new connection.

        For a wedged session, or to start afresh: ``keep_conversation=True`` replays the
        conversation mirror onto the new session as a reconnect does; ``False`` starts it empty
        (and empties the mirror). The settings are sent again either way. Requests waiting on
        the old connection fail with :class:`ConnectionLost`. Returns once the new session is
        configured (a :class:`~trealtime.events.Reconnected` with ``renewal=True`` marks it in
        the stream); if it cannot be opened, raises why, and the session closes unless a
        ``ReconnectPolicy`` carries on retrying. Concurrent calls share one restart.
        """
        self._check_open()
        await self._supervisor.restart(keep_conversation)

    async def add_tool(self, tool: ToolSpec | Callable[..., Any]) -> ToolSpec:
        """Register a tool and tell the server (a ``session.update`` of the tools)."""
        self._check_open()
        spec = self.tools.register(tool)
        await self._update_tools()
        return spec

    async def remove_tool(self, name: str) -> ToolSpec:
        """Stop offering the tool ``name`` and tell the server (one ``session.update`` of the
        tools); returns it. Calls already running finish. Raises :class:`KeyError` if no such
        tool is registered."""
        self._check_open()
        spec = self.tools.get(name)
        if spec is None:
            raise KeyError(f"no tool named {name!r} is registered")
        await replace_tools(
            self.tools, [tool for tool in self.tools if tool.name != name], self._update_tools
        )
        return spec

    async def set_tools(self, tools: Iterable[ToolSpec | Callable[..., Any]]) -> list[ToolSpec]:
        """Replace every registered tool with ``tools`` and tell the server (one
        ``session.update`` of the tools); returns the new specs. Calls already running finish.
        """
        self._check_open()
        return await replace_tools(self.tools, list(tools), self._update_tools)

    # -- playback and interruption --------------------------------------------------------------

    def report_playback(
        self, *, ms: float | None = None, nbytes: int | None = None, item_id: str | None = None
    ) -> None:
        """Tell the session how much of the assistant's audio has actually been played.

        Give ``ms`` or ``nbytes`` from the start of the item (``item_id``, default: the item
        being played). Once reported, truncation on interruption uses these positions instead
        of the wall-clock estimate. Ignored once the session has ended: a player's callback may
        still report after that, and nothing is left to truncate.
        """
        if self.closed:
            return
        self._core.playback.report_played(ms=ms, nbytes=nbytes, item_id=item_id)

    def playback_finished(self) -> None:
        """All audio received so far has been played: nothing to truncate on interruption.

        Ignored once the session has ended (like :meth:`report_playback`).
        """
        if self.closed:
            return
        self._core.playback.on_playback_finished()

    async def interrupt(self) -> Interruption:
        """Stop the assistant: cancel the running response, cut its audio where playback is,
        drop responses still waiting, cancel interruptible tool calls, and (in manual turn mode)
        clear the input buffer and replay the pre-roll.

        Returns once the server confirmed the cancellation and the truncation. Concurrent calls
        share one cancellation.
        """
        self._check_open()
        return await self._interrupter.interrupt()

    # -- tools ----------------------------------------------------------------------------------

    async def _update_tools(self, dropped: Iterable[str] = ()) -> None:
        """Tell the server the registry's function tools (and that ``dropped`` are gone)."""
        properties = self._with_tools(dropped)
        await self.update_settings(RealtimeSettings(session_properties=properties))

    def _with_tools(self, dropped: Iterable[str] = ()) -> SessionProperties:
        """The session properties with the registry's function tools (without ``dropped``)."""
        return properties_with_tools(self._session_properties(self._settings), self.tools, dropped)

    async def _request_tool_response(self) -> None:
        await self.create_response()

    # -- reacting to server events --------------------------------------------------------------

    def _server_error(self, detail: Any) -> Exception:
        """The exception for an ``error`` event, without any secret the server echoed."""
        return redact_error(ServerError(detail), self._secrets)

    # -- connections ----------------------------------------------------------------------------

    def _check_not_left(self) -> None:
        """For the local setters: they are harmless while the server closes, not after the
        block has ended."""
        if self._supervisor.closed_by_client:
            raise trio.ClosedResourceError("the session was closed by its owner")

    def _check_open(self) -> None:
        self._check_not_left()
        if self._close_reason is not None:
            self._raise_closed()

    def _check_responses(self) -> None:
        if self.transcription_only:
            raise LocalProtocolError(
                "a transcription session has no responses: read its input_audio_transcription"
                " events (or session.input_transcript(item_id)) instead"
            )

    def _raise_closed(self) -> NoReturn:
        self._check_not_left()
        reason = self._close_reason or CloseReason(1006, None)
        raise SessionClosed(reason.code, reason.reason)

    @staticmethod
    def _session_properties(settings: RealtimeSettings) -> SessionConfig:
        properties = settings.session_properties
        if not isinstance(properties, NotGiven):
            return properties
        instructions = settings.system_instruction
        return SessionProperties(
            instructions=instructions if isinstance(instructions, str) else NOT_GIVEN
        )

    def _mid_turn(self) -> bool:
        """A response, the user's speech or a tool call is under way."""
        return self.response_active or self._core.speaking or bool(self._tools.statistics().running)

    def _on_sent(self, text: str) -> None:
        self._counters.events_sent += 1
        self._counters.bytes_sent += len(text)
        if self._recorder is not None:
            self._recorder.frame(trio.current_time() - self._started, "out", text)

    def _on_connection_lost(self, reason: CloseReason) -> None:
        """A connection ended and another will be tried: settle what depended on it."""
        error = ConnectionLost(f"the connection dropped (code {reason.code}); reconnecting")
        self._fail_pending(error)
        self._tools.forget_calls()
        self._core.connection_lost()

    def _fail_pending(self, error: Exception) -> None:
        self._actions.apply(self._core.fail_pending(error))

    def _finish(self, reason: CloseReason) -> None:
        """The session is over: record why, fail every waiter, end the event stream."""
        if self._close_reason is None:
            self._close_reason = reason
            logger.info("session closed: code %s %s", reason.code, reason.reason or "")
        self._end_streams(SessionClosed(reason.code, reason.reason))
        self._outbound_send.close()  # senders waiting on a full queue learn it too

    def _end_streams(self, error: SessionClosed) -> None:
        """Fail every waiter (a restart too) with ``error`` and end the event streams."""
        self._fail_pending(error)
        self._supervisor.abandon_restart(error)
        self._inbound.close()
        self._dtmf.close()

    async def _close(self, *, polite: bool) -> None:
        """Close within ``close_timeout`` whatever the server does; always release the socket.

        A connection that never became a session (``polite=False``) is dropped at once.
        """
        self._outbound_send.close()  # what is queued still goes out before the close frame
        await self._supervisor.close(polite=polite)
        if self._close_reason is None:
            self._close_reason = CloseReason(1000, "closed by the client")
        self._end_streams(SessionClosed(1000, "closed by the client"))
        if self._recorder is not None:
            self._recorder.finish()
