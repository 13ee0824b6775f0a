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

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn, TypeVar

import attrs
import orjson
import trio

from .._agent._audio_input import AudioInputPipeline, AudioInputStatistics
from .._agent._dtmf import DtmfKeys, DtmfListeners
from .._agent._images import ImageInput, encode_raw_frame, image_item
from .._agent._metrics import MetricsTracker, format_metrics
from .._agent._playback import PlaybackTracker, Truncation
from .._agent._tool_runner import ToolCallRunner
from .._agent._tools import ToolRegistry, ToolSpec
from .._errors import (
    ConfigurationError,
    ConnectionLost,
    LocalProtocolError,
    RealtimeError,
    RequestTimeout,
    ServerError,
    SessionClosed,
    TranscriptionFailed,
)
from .._transport._connect import (
    ConnectStream,
    Credentials,
    Endpoint,
)
from .._transport._deflate import Deflate
from .._transport._link import CloseReason, Keepalive, Link
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
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
)
from .._wire._codec import decode_server_event, encode_client_event, with_part_types_in
from .._wire._item_models import (
    FunctionCallItem,
    FunctionCallOutputItem,
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
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferDtmfEventReceived,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InvalidServerEvent,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputTextDelta,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
    UnknownServerEvent,
)
from .._wire._session_models import (
    AUDIO_BYTES_PER_MS,
    AudioConfig,
    AudioInput,
    AudioOutput,
    SessionProperties,
    Tool,
    ToolChoice,
    TranscriptionSessionProperties,
)
from .._wire._session_models import Session as SessionConfig
from .._wire._settings import IgnoredSettingsLog, RealtimeSettings, session_update_for
from ._inbound_queue import InboundQueue
from ._log_limit import LimitedWarnings
from ._reconnect import ReconnectPolicy
from ._recording import Recorder
from ._requests import PendingRequest, RequestTracker
from ._response_handle import ResponseDropped, ResponseHandle
from ._responses import ResponseRequest, ResponseSequencer
from ._state import Conversation, SessionState
from ._supervised import SessionAsSupervised
from ._supervisor import ConnectionSupervisor, LinkOptions

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
    inbound_queued_bytes: int
    """The wire size of those events (bounded by ``inbound_buffer_bytes``)."""
    outbound_queued: int
    """Frames waiting for the send task."""
    unsent_events: int
    """Frames that were queued when the session ended and so never went out."""
    pending_requests: int
    reconnects: int
    failed_reactions: int
    """Server events some behaviour could not follow (each logged; the session went on)."""
    responses_completed: int
    responses_cancelled: int
    responses_failed: int
    audio_input: AudioInputStatistics


@attrs.frozen(kw_only=True)
class Interruption:
    """What :meth:`Session.interrupt` did."""

    cancelled_response_id: str | None
    """The response that was cancelled, if one was running."""
    truncation: Truncation | None
    """Where the assistant's audio item was cut, if any was playing."""
    dropped_responses: int
    """Requested responses that had not started and were dropped."""


@attrs.define
class _Counters:
    events_received: int = 0
    bytes_received: int = 0
    events_sent: int = 0
    bytes_sent: int = 0
    invalid_events: int = 0
    unknown_events: int = 0
    failed_reactions: int = 0


def _decoded_size(b64: str) -> int:
    """The length of the bytes a base64 string holds, without decoding it."""
    return len(b64) * 3 // 4 - b64.endswith("=") - b64.endswith("==")


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
        compression: Deflate | None = None,
        inbound_buffer: int,
        outbound_buffer: int,
        inbound_buffer_bytes: int = 4 * 2**20,
        connect_timeout: float,
        close_timeout: float,
        request_timeout: float,
        reconnect: ReconnectPolicy | None,
        keepalive: Keepalive | None,
        tools: ToolRegistry,
        max_tool_concurrency: int,
        tool_timeout: float | None,
        audio_chunk_ms: int,
        preroll_ms: int,
        start_audio_paused: bool,
        start_video_paused: bool,
        video_frame_detail: str,
        video_frame_interval: float,
        log_metrics: bool,
        recorder: Recorder | None = None,
        max_conversation_items: int | None = 256,
    ) -> None:
        self._endpoint = endpoint
        self._recorder = recorder
        self._credentials = credentials
        self._settings = settings
        self._ignored_settings = IgnoredSettingsLog()
        self._ignored_settings.check(settings)
        self._inbound_buffer = inbound_buffer
        self._request_timeout = request_timeout
        self._log_metrics = log_metrics
        self._state = SessionState(conversation=Conversation(max_items=max_conversation_items))
        self._requests = RequestTracker()
        self._waiters: dict[PendingRequest, trio.Event] = {}
        self._counters = _Counters()
        self._warnings = LimitedWarnings(logger)
        self._connection_epoch = 0
        """Connections lost so far: tells a tool result orphaned by a reconnect apart."""
        self._call_epochs: dict[str, int] = {}
        self._secrets: set[str] = set(credentials.secrets())
        if recorder is not None:
            recorder.secrets = self._secrets  # the same set: tokens join it as they come
        self._inbound = InboundQueue[ServerEvent](inbound_buffer, inbound_buffer_bytes)
        self._outbound_send, self._outbound_receive = trio.open_memory_channel[str](outbound_buffer)
        self._started = trio.current_time()
        self._event_prefix = f"trt_{secrets.token_hex(3)}_"
        self._event_counter = 0
        self._nursery: trio.Nursery | None = None
        self._close_reason: CloseReason | None = None
        self._speaking = False
        self._transcripts: dict[str, str | TranscriptionFailed] = {}
        self._dtmf = DtmfListeners()
        self._sequencer = ResponseSequencer()
        self._handles: dict[str, ResponseHandle] = {}
        self._handles_by_id: dict[str, ResponseHandle] = {}
        self._playback = PlaybackTracker()
        self._metrics = MetricsTracker()
        self._audio = AudioInputPipeline(
            chunk_ms=audio_chunk_ms, preroll_ms=preroll_ms, start_paused=start_audio_paused
        )
        self._images = ImageInput(
            min_interval_s=video_frame_interval,
            detail=video_frame_detail,
            start_paused=start_video_paused,
        )
        self._tools = ToolCallRunner(
            tools,
            send_output=self._send_tool_output,
            send_orphan_result=self._send_orphan_result,
            request_response=self._request_tool_response,
            is_call_known=self._is_call_known,
            send_progress=self._send_tool_progress,
            max_concurrency=max_tool_concurrency,
            default_timeout=tool_timeout,
        )
        self._supervisor = ConnectionSupervisor(
            SessionAsSupervised(self),
            LinkOptions(
                endpoint=endpoint,
                credentials=credentials,
                extra_headers=dict(extra_headers),
                connect_stream=connect_stream,
                max_message_size=max_message_size,
                compression=compression,
                keepalive=keepalive,
                outbound=self._outbound_receive,
            ),
            connect_timeout=connect_timeout,
            close_timeout=close_timeout,
            reconnect=reconnect,
            recorder=recorder,
            started=self._started,
            secrets=self._secrets,
        )

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<trealtime.Session {self._endpoint.url} {state}>"

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
        return self._state.session

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
    def response_active(self) -> bool:
        """Whether a default-conversation response is running or about to start."""
        return self._sequencer.response_active or self._state.active_response is not None

    @property
    def rate_limits(self) -> list[RateLimit]:
        """The rate limits the server last reported."""
        return list(self._state.rate_limits)

    @property
    def metrics(self) -> MetricsTracker:
        """Per-response metrics (``metrics.last``) and session totals (read, don't change)."""
        return self._metrics

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
        transcript = self._transcripts.get(item_id, "")
        if isinstance(transcript, TranscriptionFailed):
            raise transcript
        return transcript

    def statistics(self) -> SessionStatistics:
        """Counters and queue depths."""
        c = self._counters
        queued = self._outbound_send.statistics().current_buffer_used
        return SessionStatistics(
            events_received=c.events_received,
            bytes_received=c.bytes_received,
            events_sent=c.events_sent,
            bytes_sent=c.bytes_sent,
            invalid_events=c.invalid_events,
            unknown_events=c.unknown_events,
            inbound_queued=self._inbound.queued,
            inbound_queued_bytes=self._inbound.queued_bytes,
            outbound_queued=queued,
            unsent_events=(queued + (self._supervisor.resend is not None)) if self.closed else 0,
            pending_requests=len(self._requests),
            reconnects=self._supervisor.reconnects,
            failed_reactions=c.failed_reactions,
            responses_completed=self._metrics.responses_completed,
            responses_cancelled=self._metrics.responses_cancelled,
            responses_failed=self._metrics.responses_failed,
            audio_input=self._audio.statistics(),
        )

    # -- sending --------------------------------------------------------------------------------

    async def send(self, event: ClientEvent) -> None:
        """Queue any client event for sending (waits while the outbound buffer is full).

        Raises :class:`SessionClosed` once the session has ended. While a reconnect is under
        way, events wait in the queue and go out on the new connection.
        """
        self._check_open()
        text = encode_client_event(event)
        self._state.on_client_event(event)
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
        for chunk in self._audio.feed(audio, sample_rate):
            await self.send(InputAudioBufferAppend.from_bytes(chunk))

    def set_audio_input_paused(self, paused: bool) -> None:
        """Pause or resume audio input (appended audio is dropped while paused)."""
        self._check_not_left()
        self._audio.set_paused(paused)

    async def commit_audio(self) -> str:
        """Commit the input buffer as a user item and return the item's id.

        Raises :class:`LocalProtocolError` without asking the server when less than the API's
        100 ms minimum is buffered.
        """
        self._check_open()
        rest = self._audio.flush()
        if rest:
            await self.send(InputAudioBufferAppend.from_bytes(rest))
        if self._audio.half_sample_pending:
            raise LocalProtocolError(
                "an odd number of PCM16 bytes was appended: the last byte is half a sample;"
                " append its other byte before committing, or clear_audio()"
            )
        if not self._audio.can_commit():
            raise LocalProtocolError(
                f"only {self._audio.buffered_ms:.0f} ms of audio since the last commit;"
                " the API needs at least 100 ms"
            )
        reply = await self._request(InputAudioBufferCommit(), "commit", None)
        assert isinstance(reply, InputAudioBufferCommitted)
        return reply.item_id

    async def clear_audio(self) -> None:
        """Drop the buffered input audio; returns when the server confirmed."""
        self._check_open()
        self._audio.discard_buffered()
        await self._request(InputAudioBufferClear(), "clear", None)

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
        reply = await self._request(event, "truncate", item_id)
        assert isinstance(reply, ConversationItemTruncated)

    async def retrieve_item(self, item_id: str) -> Item:
        """The server's copy of an item, audio included. Concurrent calls share one request."""
        reply = await self._shared_request(
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
        handle = ResponseHandle(request, self._inbound_buffer)
        self._handles[request.tag] = handle
        if self._sequencer.submit(request):
            await self._send_response_create(request)
        return handle

    async def cancel_response(self, response_id: str | NotGiven = NOT_GIVEN) -> bool:
        """Cancel the active response (or the one named, out-of-band ones too); False if it
        was not running (never started, or already done).

        ``response.cancel`` is only sent when that response is running, so the server never
        answers ``response_cancel_not_active``.
        """
        self._check_open()
        active = self._state.active_response
        active_id = active.id if active is not None and is_given(active.id) else None
        if not is_given(response_id):
            if active_id is None:
                return False
            response_id = active_id
        if response_id != active_id and response_id not in self._state.out_of_band_responses:
            return False
        if self._requests.find("response.done", response_id) is None:
            await self.send(ResponseCancel(response_id=response_id, event_id=self._next_event_id()))
        return True

    async def clear_output_audio(self) -> None:
        """Cut off audio the server is playing out (WebRTC and SIP sessions only)."""
        await self.send(OutputAudioBufferClear(event_id=self._next_event_id()))

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
            await self._request(SessionUpdate(session=update), "session.update", None)
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
        await self.update_settings(RealtimeSettings(session_properties=self._with_tools()))
        return spec

    async def remove_tool(self, name: str) -> ToolSpec:
        """Stop offering the tool ``name`` and tell the server (one ``session.update`` of the
        tools); returns it. Calls already running finish. Raises :class:`KeyError` if no such
        tool is registered."""
        self._check_open()
        spec = self.tools.get(name)
        if spec is None:
            raise KeyError(f"no tool named {name!r} is registered")
        await self._replace_tools([tool for tool in self.tools if tool.name != name])
        return spec

    async def set_tools(self, tools: Iterable[ToolSpec | Callable[..., Any]]) -> list[ToolSpec]:
        """Replace every registered tool with ``tools`` and tell the server (one
        ``session.update`` of the tools); returns the new specs. Calls already running finish.
        """
        self._check_open()
        return await self._replace_tools(list(tools))

    async def _replace_tools(self, tools: list[ToolSpec | Callable[..., Any]]) -> list[ToolSpec]:
        """Swap the registry's tools (all checked first), update the server, and put the old
        ones back if the server refuses."""
        specs = list(ToolRegistry(tools))  # validates every tool before anything changes
        registry = self.tools
        old = list(registry)
        dropped = {spec.name for spec in old}

        def install(new: list[ToolSpec]) -> None:
            for spec in list(registry):
                registry.unregister(spec.name)
            for spec in new:
                registry.register(spec)

        install(specs)
        try:
            properties = self._with_tools(dropped=dropped)
            await self.update_settings(RealtimeSettings(session_properties=properties))
        except BaseException:
            install(old)
            raise
        return specs

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
        self._playback.report_played(ms=ms, nbytes=nbytes, item_id=item_id)

    def playback_finished(self) -> None:
        """All audio received so far has been played: nothing to truncate on interruption.

        Ignored once the session has ended (like :meth:`report_playback`).
        """
        if self.closed:
            return
        self._playback.on_playback_finished()

    async def interrupt(self) -> Interruption:
        """Stop the assistant: cancel the running response, cut its audio where playback is,
        drop responses still waiting, cancel interruptible tool calls, and (in manual turn mode)
        clear the input buffer and replay the pre-roll.

        Returns once the server confirmed the cancellation and the truncation. Concurrent calls
        share one cancellation.
        """
        self._check_open()
        called_at = trio.current_time()
        dropped = self._drop_owed_responses()
        active = self._state.active_response
        active_id = active.id if active is not None and is_given(active.id) else None
        self._tools.interrupt([active_id] if active_id else [])
        if active_id is not None:
            await self._cancel_and_wait(active_id)
        else:
            active_id = await self._cancel_requested_response()
        # Audio may have arrived while the cancel was under way; none of it was heard: cut the
        # item at the position it had when the caller interrupted.
        truncation = self._playback.take_truncation(called_at)
        if truncation is not None:
            await self.truncate_item(
                truncation.item_id, truncation.content_index, truncation.audio_end_ms
            )
        if self._audio.manual_turns:
            await self.clear_audio()
            preroll = self._audio.replay_preroll()
            if preroll:
                await self.send(InputAudioBufferAppend.from_bytes(preroll))
        return Interruption(
            cancelled_response_id=active_id, truncation=truncation, dropped_responses=dropped
        )

    async def _cancel_and_wait(self, response_id: str) -> None:
        """Cancel ``response_id`` (once, however many ask) and wait for its ``response.done``."""
        try:
            await self._shared_request(
                ResponseCancel(response_id=response_id), "response.done", response_id
            )
        except ServerError as exc:
            if exc.code != "response_cancel_not_active":  # it had just ended: fine
                raise

    async def _cancel_requested_response(self) -> str | None:
        """A response we asked for may be on its way: the server handles events in order, so a
        cancel sent now reaches it once created. Returns the id of the response cancelled."""
        request = self._sequencer.in_flight
        handle = self._handles.get(request.tag) if request is not None else None
        if handle is None:
            return None
        try:
            response = await handle.created()
        except RealtimeError:
            return None  # refused or expired: nothing to cancel
        running = response.status in ("in_progress", NOT_GIVEN) and handle.state == "created"
        if running and is_given(response.id):
            await self._cancel_and_wait(response.id)
            return response.id
        return None

    # -- requests -------------------------------------------------------------------------------

    def _next_event_id(self) -> str:
        self._event_counter += 1
        return f"{self._event_prefix}{self._event_counter}"

    async def _request(
        self, event: ClientEvent, kind: str, key: str | None, *, link: Link | None = None
    ) -> ServerEvent:
        return await self._wait(await self._start_request(event, kind, key, link=link))

    async def _start_request(
        self, event: ClientEvent, kind: str, key: str | None, *, link: Link | None = None
    ) -> PendingRequest:
        """Send a request whose reply will be awaited (``link``: ahead of the queue)."""
        self._check_open()
        event = attrs.evolve(event, event_id=self._next_event_id())
        assert isinstance(event.event_id, str)
        done = trio.Event()
        request = PendingRequest(kind, key, event.event_id, done.set)
        self._waiters[request] = done
        self._requests.add(request)
        try:
            if link is None:
                await self.send(event)
            else:
                await link.send_now(encode_client_event(event))
        except BaseException:
            self._forget_request(request)
            raise
        return request

    async def _wait(self, request: PendingRequest, within: float | None = None) -> ServerEvent:
        """Wait for ``request``'s reply; several callers may share one request."""
        done = self._waiters[request]
        request.waiters += 1
        timeout = self._request_timeout if within is None else within
        try:
            with trio.move_on_after(timeout):
                await done.wait()
        finally:
            request.waiters -= 1
            if request.waiters == 0:
                self._forget_request(request)  # the last one out: nobody wants the reply
        if not request.done:
            raise RequestTimeout(
                f"no reply to {request.kind} within {timeout} s (event_id {request.event_id})"
            )
        if request.error is not None:
            raise request.error
        assert request.reply is not None
        return request.reply

    def _forget_request(self, request: PendingRequest) -> None:
        self._requests.discard(request)
        self._waiters.pop(request, None)

    async def _shared_request(self, event: ClientEvent, kind: str, key: str) -> ServerEvent:
        """Join the pending request of this kind and key, or make it."""
        existing = self._requests.find(kind, key)
        if existing is not None and existing in self._waiters:
            return await self._wait(existing)
        return await self._request(event, kind, key)

    # -- responses ------------------------------------------------------------------------------

    async def _send_response_create(self, request: ResponseRequest) -> None:
        event_id = self._next_event_id()
        pending = PendingRequest(
            "response.create",
            request.tag,
            event_id,
            lambda: self._on_response_create_answered(request, pending),
        )
        self._requests.add(pending)
        self._metrics.on_response_create_sent(trio.current_time(), tag=request.tag)
        try:
            await self.send(ResponseCreate(response=request.tagged_params(), event_id=event_id))
        except BaseException:
            self._requests.discard(pending)
            raise
        if self._nursery is not None and not request.out_of_band:
            self._nursery.start_soon(self._expire_response_request, request, pending)

    async def _expire_response_request(
        self, request: ResponseRequest, pending: PendingRequest
    ) -> None:
        """Give up on a request the server never answered, so that the queue moves on."""
        await trio.sleep(self._request_timeout)
        if request.state != "sent":
            return
        self._requests.discard(pending)
        to_send = self._sequencer.expire(request)
        handle = self._handles.pop(request.tag, None)
        if handle is not None:
            handle._fail(RequestTimeout(f"no response.created within {self._request_timeout} s"))
        self._spawn_sends(to_send)

    def _on_response_create_answered(
        self, request: ResponseRequest, pending: PendingRequest
    ) -> None:
        if not isinstance(pending.error, ServerError):
            return  # created: handled with the response.created event
        busy = pending.error.code == "conversation_already_has_active_response"
        if busy and request.matched_by_order and request.response_id is not None:
            # The response taken for ours by order was the server's own (VAD).
            handle = self._handles_by_id.pop(request.response_id, None)
            if handle is not None:
                handle._on_uncreated()
        requeued, to_send = self._sequencer.on_rejected(request, busy=busy)
        if not requeued:
            handle = self._handles.pop(request.tag, None)
            if handle is not None:
                handle._fail(pending.error)
        self._spawn_sends(to_send)

    def _settle_response_create(self, request: ResponseRequest) -> None:
        """Its response exists: no reply to the ``response.create`` is awaited any more."""
        pending = self._requests.find("response.create", request.tag)
        if pending is not None:
            self._requests.discard(pending)

    def _spawn_sends(self, requests: list[ResponseRequest]) -> None:
        if requests and self._nursery is not None:
            for request in requests:
                self._nursery.start_soon(self._send_quietly_response, request)

    async def _send_quietly_response(self, request: ResponseRequest) -> None:
        with contextlib.suppress(SessionClosed, trio.ClosedResourceError):
            await self._send_response_create(request)

    def _drop_owed_responses(self) -> int:
        dropped = self._sequencer.drop_queued()
        for request in dropped:
            handle = self._handles.pop(request.tag, None)
            if handle is not None:
                handle._fail(ResponseDropped("dropped by an interruption before it started"))
        return len(dropped)

    # -- tools ----------------------------------------------------------------------------------

    def _with_tools(self, dropped: Iterable[str] = ()) -> SessionProperties:
        """The session properties with the registry's function tools (and without ``dropped``
        ones), other tools (MCP …) kept."""
        properties = self._session_properties(self._settings)
        gone = set(dropped)
        if not isinstance(properties, SessionProperties):
            raise ConfigurationError("a transcription session has no tools")
        tools: list[Tool] = [
            tool
            for tool in (properties.tools if is_given(properties.tools) else [])
            if getattr(tool, "name", None) not in self.tools
            and getattr(tool, "name", None) not in gone
        ]
        return attrs.evolve(properties, tools=tools + list(self.tools.function_tools()))

    async def _send_tool_output(self, call_id: str, output: str) -> None:
        self._call_epochs.pop(call_id, None)
        item = FunctionCallOutputItem(call_id=call_id, output=output)
        await self.send(ConversationItemCreate(item=item, event_id=self._next_event_id()))

    async def _send_orphan_result(self, call_id: str, name: str, output: str) -> None:
        note = orjson.dumps(
            {"type": "function_result", "call_id": call_id, "name": name, "output": output}
        ).decode()
        if self._call_epochs.pop(call_id, self._connection_epoch) != self._connection_epoch:
            why = "finished after the connection changed"
        else:  # the server asked for it, but its call item never reached the conversation
            why = "finished, but its call is not in the conversation"
        item = MessageItem.system_text(f"A function call {why}: {note}")
        await self.send(ConversationItemCreate(item=item, event_id=self._next_event_id()))

    async def _send_tool_progress(self, call_id: str, name: str, output: str) -> None:
        note = orjson.dumps(
            {"type": "tool_progress", "call_id": call_id, "name": name, "result": output}
        ).decode()
        text = f"An intermediate result of a function call that is still running: {note}"
        await self.send(
            ConversationItemCreate(
                item=MessageItem.system_text(text), event_id=self._next_event_id()
            )
        )

    async def _request_tool_response(self) -> None:
        await self.create_response()

    def _is_call_known(self, call_id: str) -> bool:
        return any(
            isinstance(item, FunctionCallItem) and item.call_id == call_id
            for item in self._state.conversation.items
        )

    # -- reacting to server events --------------------------------------------------------------

    async def _on_frame(self, link: Link, message: str | bytes) -> None:
        counters = self._counters
        counters.events_received += 1
        counters.bytes_received += len(message)
        now = trio.current_time()
        if self._recorder is not None:
            try:
                self._recorder.frame(now - self._started, "in", message)
            except Exception as exc:  # a recording must never cost the session
                self._warn_reaction("recording", "a frame", exc)
        if isinstance(message, str):
            try:
                event = with_part_types_in(decode_server_event(message))
            except Exception as exc:  # the codec's own failure is one bad frame, no more
                event = InvalidServerEvent(type="", raw=message, error=f"undecodable: {exc!r}")
        else:
            event = InvalidServerEvent(
                type="", raw=message, error="binary frame: the Realtime API sends only text"
            )
        try:
            await self._follow(link, event, now)
        except Exception as exc:
            # One behaviour failing on an odd event must not end the session: the event is
            # still delivered, and the state follows the next ones.
            self._warn_reaction("following", event.type or "an event", exc)
        try:
            # The link checkpoints on every read; a frame need not cost a switch of its own.
            self._inbound.put_nowait(event, len(message))
        except trio.WouldBlock:
            await self._deliver(event, len(message))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # nobody reads any more: the state and the requests still follow the stream

    def _server_error(self, detail: Any) -> Exception:
        """The exception for an ``error`` event, without any secret the server echoed."""
        return redact_error(ServerError(detail), self._secrets)

    def _warn_reaction(self, doing: str, what: str, exc: Exception) -> None:
        self._counters.failed_reactions += 1
        self._warnings.warning(
            "%s %s failed (%s: %s); the session goes on", doing, what, type(exc).__name__, exc
        )

    async def _follow(self, link: Link, event: ServerEvent, now: float) -> None:
        """Update the mirror, the requests and the behaviours that react to ``event``."""
        counters = self._counters
        self._supervisor.observe(link, event)
        if isinstance(event, InvalidServerEvent):
            counters.invalid_events += 1
            self._warnings.warning("undecodable server frame: %s", event.error)
        elif isinstance(event, UnknownServerEvent):
            counters.unknown_events += 1
        self._state.apply(event)
        self._requests.on_server_event(event, self._server_error)
        if isinstance(event, ResponseDone):
            await self._on_response_done(event, now)
        elif isinstance(event, InputAudioBufferSpeechStarted):
            await self._on_barge_in(now)
        else:
            self._react(event, now)
        self._route_to_handle(event)

    def _react(self, event: ServerEvent, now: float) -> None:
        """Follow a server event that needs no I/O in reply."""
        match event:
            case ResponseOutputAudioDelta():
                nbytes = _decoded_size(event.delta)
                if event.item_id in self._state.conversation:  # only what can be truncated
                    self._playback.on_audio_delta(
                        event.response_id, event.item_id, event.content_index, nbytes, now
                    )
                self._metrics.on_output_audio(event.response_id, nbytes, now)
            case ResponseOutputAudioTranscriptDelta() | ResponseOutputTextDelta():
                self._metrics.on_output_text(event.response_id, now)
            case ResponseCreated(response=response):
                request = self._sequencer.on_created(response)
                if request is not None and not request.matched_by_order:
                    self._settle_response_create(request)
                if is_given(response.id):
                    tag = request.tag if request is not None else None
                    self._metrics.on_response_created(response.id, now, tag=tag)
                    handle = self._handles.get(request.tag) if request is not None else None
                    if handle is not None:
                        self._handles_by_id[response.id] = handle
                        handle._on_created()
            case InputAudioBufferSpeechStopped():
                self._speaking = False
                self._metrics.on_speech_stopped(now)
            case InputAudioBufferCommitted():
                self._audio.on_commit()
            case InputAudioBufferCleared():
                self._audio.on_clear()
            case ConversationItemTruncated(item_id=item_id):
                self._playback.on_truncated(item_id)
            case ResponseFunctionCallArgumentsDone():
                self._start_tool_call(event)
            case ConversationItemInputAudioTranscriptionDelta(item_id=item_id, delta=delta):
                so_far = self._transcripts.get(item_id, "")
                if is_given(delta) and isinstance(so_far, str):
                    self._transcripts[item_id] = so_far + delta
            case ConversationItemInputAudioTranscriptionFailed(item_id=item_id, error=error):
                code = error.code if isinstance(error.code, str) else None
                message = error.message if isinstance(error.message, str) else None
                self._transcripts[item_id] = TranscriptionFailed(item_id, code, message)
            case ConversationItemInputAudioTranscriptionCompleted(item_id=item_id):
                self._transcripts[item_id] = event.transcript
                if len(self._transcripts) > 2 * (self._state.conversation.max_items or 1 << 30):
                    mirror = self._state.conversation
                    self._transcripts = {k: v for k, v in self._transcripts.items() if k in mirror}
            case SessionCreated(session=config) | SessionUpdated(session=config):
                self._follow_config(config)
            case InputAudioBufferDtmfEventReceived():
                self._dtmf.publish(event)

    async def _on_response_done(self, event: ResponseDone, now: float) -> None:
        response = event.response
        request, to_send = self._sequencer.on_done(response)
        metrics = self._metrics.on_response_done(response, now)
        if self._log_metrics:
            logger.info("%s", format_metrics(metrics))
        handle: ResponseHandle | None = None
        if is_given(response.id):
            self._playback.on_response_done(response.id)
            self._tools.on_response_done(response.id)
            handle = self._handles_by_id.pop(response.id, None)
        if request is not None:
            self._settle_response_create(request)
            handle = self._handles.pop(request.tag, None) or handle
        if handle is not None:
            handle._on_event(event)
            handle._on_done(metrics)
        for next_request in to_send:
            with contextlib.suppress(SessionClosed, trio.ClosedResourceError):
                await self._send_response_create(next_request)

    async def _on_barge_in(self, now: float) -> None:
        """Server VAD heard the user: the server cancels its response; we cut the audio."""
        self._speaking = True
        self._drop_owed_responses()
        active = self._state.active_response
        self._tools.interrupt([active.id] if active is not None and is_given(active.id) else [])
        truncation = self._playback.take_truncation(now)
        if truncation is not None:
            event = ConversationItemTruncate(
                item_id=truncation.item_id,
                content_index=truncation.content_index,
                audio_end_ms=truncation.audio_end_ms,
                event_id=self._next_event_id(),
            )
            with contextlib.suppress(SessionClosed, trio.ClosedResourceError):
                await self.send(event)

    def _start_tool_call(self, event: ResponseFunctionCallArgumentsDone) -> None:
        name = event.name if is_given(event.name) else None
        if name is None:  # the beta protocol leaves it out: the item has it
            item = self._state.conversation.get(event.item_id)
            name = item.name if isinstance(item, FunctionCallItem) else None
        if name is None or name not in self.tools or self._nursery is None:
            return  # not ours to run: the caller handles it from the event stream
        self._call_epochs[event.call_id] = self._connection_epoch
        if len(self._call_epochs) > 256:  # calls cancelled before a result: forget the oldest
            del self._call_epochs[next(iter(self._call_epochs))]
        self._tools.start_call(
            self._nursery,
            response_id=event.response_id,
            call_id=event.call_id,
            name=name,
            arguments=event.arguments,
        )

    def _follow_config(self, config: SessionConfig) -> None:
        if not isinstance(config.audio, AudioConfig):
            return
        output = config.audio.output
        if isinstance(output, AudioOutput) and is_given(output.format):
            self._playback.bytes_per_ms = self._metrics.bytes_per_ms = output.format.bytes_per_ms
        audio_input = config.audio.input
        if isinstance(audio_input, AudioInput):
            if is_given(audio_input.turn_detection):
                self._audio.set_manual_turns(audio_input.turn_detection is None)
            input_format = audio_input.format
            if is_given(input_format) and input_format.resolved_type != self._audio.input_format:
                if input_format.resolved_type not in AUDIO_BYTES_PER_MS:
                    self._warnings.warning(
                        "the server set input audio format %r, which this client cannot make;"
                        " append_audio keeps sending %r",
                        input_format.resolved_type,
                        self._audio.input_format,
                    )
                    return
                self._audio = AudioInputPipeline(
                    input_format.resolved_type,
                    chunk_ms=self._audio.chunk_ms,
                    preroll_ms=self._audio.preroll_ms,
                    start_paused=self._audio.paused,
                    manual_turns=self._audio.manual_turns,
                )

    def _route_to_handle(self, event: ServerEvent) -> None:
        if not self._handles_by_id:
            return
        response_id = getattr(event, "response_id", None)
        if isinstance(event, ResponseCreated):
            response_id = event.response.id
        handle = self._handles_by_id.get(response_id) if isinstance(response_id, str) else None
        if handle is not None:
            handle._on_event(event)

    async def _deliver(self, event: ServerEvent, size: int = 0) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._inbound.put(event, size)

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
        return self.response_active or self._speaking or bool(self._tools.statistics().running)

    def _on_sent(self, text: str) -> None:
        self._counters.events_sent += 1
        self._counters.bytes_sent += len(text)
        if self._recorder is not None:
            self._recorder.frame(trio.current_time() - self._started, "out", text)

    def _on_connection_lost(self, reason: CloseReason) -> None:
        """A connection ended and another will be tried: settle what depended on it."""
        error = ConnectionLost(f"the connection dropped (code {reason.code}); reconnecting")
        self._fail_pending(error)
        self._playback = PlaybackTracker(bytes_per_ms=self._playback.bytes_per_ms)
        self._metrics.clear_in_progress()
        self._tools.forget_calls()
        self._audio.on_clear()
        self._state.active_response = None
        self._state.out_of_band_responses.clear()
        self._state.conversation.forget_unfinished()  # an interrupted answer is gone with it
        self._speaking = False
        self._connection_epoch += 1

    def _fail_pending(self, error: Exception) -> None:
        self._requests.fail_all(error)
        for request in self._sequencer.forget_active() + self._sequencer.drop_queued():
            handle = self._handles.pop(request.tag, None)
            if handle is not None:
                handle._fail(error)
        for handle in self._handles_by_id.values():
            handle._fail(error)
        self._handles_by_id.clear()

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
