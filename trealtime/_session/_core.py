"""The conversation, sans-IO: every server event in, the actions to take out.

:class:`ConversationCore` holds what the client knows of the conversation and follows it: the
state mirror, the pending requests and the replies that settle them, the response sequencer
and which handle each response belongs to, the playback position (and the truncation on
barge-in), the metrics, the input transcripts, the input audio's format and turn mode, and the
function calls to run. It reads no clock (``now`` is passed in, in seconds), opens no socket and
starts no task: the session (:mod:`~trealtime._session._facade`) decodes each frame, calls
:meth:`ConversationCore.receive` and carries out the :mod:`~trealtime._session._actions`
returned, as h11 and wsproto leave the I/O to their caller.

The receive path runs for every frame (an audio delta every 20 ms of audio), so an audio delta
takes a short path of its own, and an event that asks for nothing returns the shared
:data:`~trealtime._session._actions.NO_ACTIONS`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Container
from typing import Any

from .._agent._audio_input import AudioInputPipeline
from .._agent._metrics import MetricsTracker, format_metrics
from .._agent._playback import PlaybackTracker
from .._errors import RequestTimeout, ServerError, TranscriptionFailed
from .._log_limit import LimitedWarnings
from .._wire._client_events import ClientEvent, ConversationItemTruncate, ResponseCreate
from .._wire._item_models import FunctionCallItem
from .._wire._notgiven import is_given
from .._wire._server_events import (
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
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
from .._wire._session_models import AUDIO_BYTES_PER_MS, AudioConfig, AudioInput, AudioOutput
from .._wire._session_models import Session as SessionConfig
from ._actions import (
    NO_ACTIONS,
    Action,
    Actions,
    HandleCreated,
    HandleDone,
    HandleFailed,
    HandleUncreated,
    InterruptToolCalls,
    PublishDtmf,
    ResolveRequest,
    RouteToHandle,
    SendEvent,
    SendResponseCreate,
    StartToolCall,
    ToolResponseDone,
)
from ._requests import PendingRequest, RequestTracker
from ._responses import ResponseDropped, ResponseRequest, ResponseSequencer
from ._state import Conversation, SessionState

__all__ = ["ConversationCore"]

logger = logging.getLogger("trealtime")

_PUBLISH_DTMF: Actions = (PublishDtmf(),)
_CALL_EPOCHS_KEPT = 256


def decoded_size(b64: str) -> int:
    """The length of the bytes a base64 string holds, without decoding it."""
    return len(b64) * 3 // 4 - b64.endswith("=") - b64.endswith("==")


def _no_waiter() -> None:
    """A ``response.create`` has no waiter: the core follows its answer itself."""


class ConversationCore:
    """The client's side of one Realtime conversation, across its connections. Sans-IO.

    Give it every decoded server event (:meth:`receive`) and each client request that needs
    following (:meth:`submit_response`, :meth:`expire_response`, :meth:`drop_owed_responses`);
    read the returned actions and carry them out. ``tools`` tells which function calls are
    ours to run; ``server_error`` builds the exception for an ``error`` event's details.
    """

    def __init__(
        self,
        *,
        tools: Container[str],
        server_error: Callable[[Any], Exception],
        warnings: LimitedWarnings,
        audio: AudioInputPipeline,
        max_conversation_items: int | None = 256,
        log_metrics: bool = False,
        event_prefix: str | None = None,
    ) -> None:
        self.state = SessionState(conversation=Conversation(max_items=max_conversation_items))
        self.requests = RequestTracker()
        self.sequencer = ResponseSequencer()
        self.playback = PlaybackTracker()
        self.metrics = MetricsTracker()
        self.audio = audio
        """The input audio's pipeline (its format and turn mode follow the session's)."""
        self.speaking = False
        """Whether server VAD hears the user (from speech started to speech stopped)."""
        self.invalid_events = 0
        self.unknown_events = 0
        self._tools = tools
        self._server_error = server_error
        self._warnings = warnings
        self._log_metrics = log_metrics
        self._event_prefix = event_prefix or f"trt_{secrets.token_hex(3)}_"
        self._event_counter = 0
        self._transcripts: dict[str, str | TranscriptionFailed] = {}
        self._open: dict[str, ResponseRequest] = {}
        """Requested responses whose handle still waits for an outcome, by tag."""
        self._routes: dict[str, tuple[RouteToHandle]] = {}
        """For each created response with a handle, by response id: the route to it."""
        self._connection_epoch = 0
        """Connections lost so far: tells a tool result orphaned by a reconnect apart."""
        self._call_epochs: dict[str, int] = {}

    # -- server events --------------------------------------------------------------------------

    def receive(self, event: ServerEvent, now: float) -> Actions:
        """Follow one server event received at ``now``; returns what to do about it."""
        if type(event) is ResponseOutputAudioDelta:  # the hot path: every 20 ms of audio
            # Neither the mirror nor the requests follow audio deltas: only what can be cut.
            nbytes = decoded_size(event.delta)
            if event.item_id in self.state.conversation:
                self.playback.on_audio_delta(
                    event.response_id, event.item_id, event.content_index, nbytes, now
                )
            self.metrics.on_output_audio(event.response_id, nbytes, now)
            return self._routes.get(event.response_id, NO_ACTIONS)
        return self._follow(event, now)

    def _follow(self, event: ServerEvent, now: float) -> Actions:
        kind = type(event)
        if type(event) is InvalidServerEvent:
            self.invalid_events += 1
            self._warnings.warning("undecodable server frame: %s", event.error)
        elif kind is UnknownServerEvent:
            self.unknown_events += 1
        self.state.apply(event)
        actions = NO_ACTIONS
        settled = self.requests.match(event, self._server_error)
        if settled is not None:
            actions = self._on_settled(settled, now)
        react = _REACTIONS.get(kind)
        if react is not None:
            reacted = react(self, event, now)
            if reacted:
                actions = actions + reacted if actions else reacted
        if self._routes:
            route = self._route(event)
            if route:
                actions = actions + route if actions else route
        return actions

    def _route(self, event: ServerEvent) -> Actions:
        response_id = getattr(event, "response_id", None)
        if isinstance(event, ResponseCreated):
            response_id = event.response.id
        if not isinstance(response_id, str):
            return NO_ACTIONS
        return self._routes.get(response_id, NO_ACTIONS)

    def _on_settled(self, pending: PendingRequest, now: float) -> Actions:
        request = pending.response_request
        if request is None:
            return (ResolveRequest(pending),)
        if not isinstance(pending.error, ServerError):
            return NO_ACTIONS  # created: followed with the response.created event
        return self._on_response_create_refused(request, pending.error, now)

    def _on_response_create_refused(
        self, request: ResponseRequest, error: ServerError, now: float
    ) -> Actions:
        actions: list[Action] = []
        busy = error.code == "conversation_already_has_active_response"
        taken = request.response_id if busy and request.matched_by_order else None
        if taken is not None and self._routes.pop(taken, None) is not None:
            # The response taken for ours by order was the server's own (VAD).
            actions.append(HandleUncreated(request))
        requeued, to_send = self.sequencer.on_rejected(request, busy=busy)
        if not requeued and self._open.pop(request.tag, None) is not None:
            actions.append(HandleFailed(request, error))
        actions.extend(self._response_create(released, now) for released in to_send)
        return tuple(actions)

    def _on_output_text(self, event: Any, now: float) -> Actions:
        self.metrics.on_output_text(event.response_id, now)
        return NO_ACTIONS

    def _on_response_created(self, event: ResponseCreated, now: float) -> Actions:
        response = event.response
        request = self.sequencer.on_created(response)
        if request is not None and not request.matched_by_order:
            self._settle_response_create(request)
        if not is_given(response.id):
            return NO_ACTIONS
        self.metrics.on_response_created(
            response.id, now, tag=request.tag if request is not None else None
        )
        if request is None or request.tag not in self._open:
            return NO_ACTIONS
        self._routes[response.id] = (RouteToHandle(request),)
        return (HandleCreated(request),)

    def _on_response_done(self, event: ResponseDone, now: float) -> Actions:
        response = event.response
        request, to_send = self.sequencer.on_done(response)
        metrics = self.metrics.on_response_done(response, now)
        if self._log_metrics:
            logger.info("%s", format_metrics(metrics))
        actions: list[Action] = []
        target: ResponseRequest | None = None
        if is_given(response.id):
            self.playback.on_response_done(response.id)
            actions.append(ToolResponseDone(response.id))
            route = self._routes.pop(response.id, None)
            if route is not None:
                target = route[0].request
        if request is not None:
            self._settle_response_create(request)
            if self._open.pop(request.tag, None) is not None:
                target = request
        if target is not None:
            actions.append(HandleDone(target, metrics))
        actions.extend(self._response_create(released, now) for released in to_send)
        return tuple(actions)

    def _on_barge_in(self, event: InputAudioBufferSpeechStarted, now: float) -> Actions:
        """Server VAD heard the user: the server cancels its response; we cut the audio."""
        self.speaking = True
        _, actions = self.drop_owed_responses()
        active_id = self.state.active_response_id
        response_ids = (active_id,) if active_id is not None else ()
        actions += (InterruptToolCalls(response_ids),)
        truncation = self.playback.take_truncation(now)
        if truncation is not None:
            truncate = ConversationItemTruncate(
                item_id=truncation.item_id,
                content_index=truncation.content_index,
                audio_end_ms=truncation.audio_end_ms,
                event_id=self.next_event_id(),
            )
            actions += (SendEvent(truncate),)
        return actions

    def _on_speech_stopped(self, event: InputAudioBufferSpeechStopped, now: float) -> Actions:
        self.speaking = False
        self.metrics.on_speech_stopped(now)
        return NO_ACTIONS

    def _on_committed(self, event: InputAudioBufferCommitted, now: float) -> Actions:
        self.audio.on_commit()
        return NO_ACTIONS

    def _on_cleared(self, event: InputAudioBufferCleared, now: float) -> Actions:
        self.audio.on_clear()
        return NO_ACTIONS

    def _on_truncated(self, event: ConversationItemTruncated, now: float) -> Actions:
        self.playback.on_truncated(event.item_id)
        return NO_ACTIONS

    def _on_call_arguments_done(
        self, event: ResponseFunctionCallArgumentsDone, now: float
    ) -> Actions:
        name = event.name if is_given(event.name) else None
        if name is None:  # the beta protocol leaves it out: the item has it
            item = self.state.conversation.get(event.item_id)
            name = item.name if isinstance(item, FunctionCallItem) else None
        if name is None or name not in self._tools:
            return NO_ACTIONS  # not ours to run: the caller handles it from the event stream
        self._call_epochs[event.call_id] = self._connection_epoch
        if len(self._call_epochs) > _CALL_EPOCHS_KEPT:  # calls cancelled before a result
            del self._call_epochs[next(iter(self._call_epochs))]
        return (StartToolCall(event.response_id, event.call_id, name, event.arguments),)

    def _on_transcription_delta(
        self, event: ConversationItemInputAudioTranscriptionDelta, now: float
    ) -> Actions:
        so_far = self._transcripts.get(event.item_id, "")
        if is_given(event.delta) and isinstance(so_far, str):
            self._transcripts[event.item_id] = so_far + event.delta
        return NO_ACTIONS

    def _on_transcription_failed(
        self, event: ConversationItemInputAudioTranscriptionFailed, now: float
    ) -> Actions:
        error = event.error
        code = error.code if isinstance(error.code, str) else None
        message = error.message if isinstance(error.message, str) else None
        self._transcripts[event.item_id] = TranscriptionFailed(event.item_id, code, message)
        return NO_ACTIONS

    def _on_transcription_completed(
        self, event: ConversationItemInputAudioTranscriptionCompleted, now: float
    ) -> Actions:
        self._transcripts[event.item_id] = event.transcript
        mirror = self.state.conversation
        if len(self._transcripts) > 2 * (mirror.max_items or 1 << 30):
            self._transcripts = {k: v for k, v in self._transcripts.items() if k in mirror}
        return NO_ACTIONS

    def _on_session(self, event: SessionCreated | SessionUpdated, now: float) -> Actions:
        self._follow_config(event.session)
        return NO_ACTIONS

    def _on_dtmf(self, event: InputAudioBufferDtmfEventReceived, now: float) -> Actions:
        return _PUBLISH_DTMF

    def _follow_config(self, config: SessionConfig) -> None:
        """The output format sets the playback and metrics rates; the input format and turn
        detection set what ``append_audio`` makes and whether commits are manual."""
        if not isinstance(config.audio, AudioConfig):
            return
        output = config.audio.output
        if isinstance(output, AudioOutput) and is_given(output.format):
            self.playback.bytes_per_ms = self.metrics.bytes_per_ms = output.format.bytes_per_ms
        audio_input = config.audio.input
        if not isinstance(audio_input, AudioInput):
            return
        if is_given(audio_input.turn_detection):
            self.audio.set_manual_turns(audio_input.turn_detection is None)
        input_format = audio_input.format
        if not is_given(input_format) or input_format.resolved_type == self.audio.input_format:
            return
        if input_format.resolved_type not in AUDIO_BYTES_PER_MS:
            self._warnings.warning(
                "the server set input audio format %r, which this client cannot make;"
                " append_audio keeps sending %r",
                input_format.resolved_type,
                self.audio.input_format,
            )
            return
        audio = self.audio
        self.audio = AudioInputPipeline(
            input_format.resolved_type,
            chunk_ms=audio.chunk_ms,
            preroll_ms=audio.preroll_ms,
            start_paused=audio.paused,
            manual_turns=audio.manual_turns,
        )

    # -- client requests ------------------------------------------------------------------------

    def on_client_event(self, event: ClientEvent) -> None:
        """A client event is being sent: the mirror notes what a reply may leave unsaid."""
        self.state.on_client_event(event)

    def next_event_id(self) -> str:
        """A fresh client ``event_id`` (an ``error`` names the request it refuses by it)."""
        self._event_counter += 1
        return f"{self._event_prefix}{self._event_counter}"

    @property
    def response_active(self) -> bool:
        """Whether a default-conversation response is running or about to start."""
        return self.sequencer.response_active or self.state.active_response is not None

    def submit_response(self, request: ResponseRequest, now: float) -> Actions:
        """The caller asked for a response (it has a handle): send it now, or queue it."""
        self._open[request.tag] = request
        if self.sequencer.submit(request):
            return (self._response_create(request, now),)
        return NO_ACTIONS

    def _response_create(self, request: ResponseRequest, now: float) -> SendResponseCreate:
        event_id = self.next_event_id()
        pending = PendingRequest(
            "response.create", request.tag, event_id, _no_waiter, response_request=request
        )
        self.requests.add(pending)
        self.metrics.on_response_create_sent(now, tag=request.tag)
        event = ResponseCreate(response=request.tagged_params(), event_id=event_id)
        return SendResponseCreate(request, pending, event)

    def _settle_response_create(self, request: ResponseRequest) -> None:
        """Its response exists: no reply to the ``response.create`` is awaited any more."""
        pending = self.requests.find("response.create", request.tag)
        if pending is not None:
            self.requests.discard(pending)

    def expire_response(
        self, request: ResponseRequest, pending: PendingRequest, timeout: float, now: float
    ) -> Actions:
        """``timeout`` has passed since ``request`` was sent: give up on it if the server never
        answered, so that the queue moves on."""
        if request.state != "sent":
            return NO_ACTIONS
        self.requests.discard(pending)
        to_send = self.sequencer.expire(request)
        actions: list[Action] = []
        if self._open.pop(request.tag, None) is not None:
            error = RequestTimeout(f"no response.created within {timeout} s")
            actions.append(HandleFailed(request, error))
        actions.extend(self._response_create(released, now) for released in to_send)
        return tuple(actions)

    def drop_owed_responses(self) -> tuple[int, Actions]:
        """An interruption: forget the requested responses that have not started; returns how
        many, and the actions that fail their handles."""
        dropped = self.sequencer.drop_queued()
        error = ResponseDropped("dropped by an interruption before it started")
        actions = tuple(
            HandleFailed(request, error)
            for request in dropped
            if self._open.pop(request.tag, None) is not None
        )
        return len(dropped), actions

    def fail_pending(self, error: Exception) -> Actions:
        """Fail every pending request and every requested response with ``error``."""
        actions: list[Action] = [
            ResolveRequest(request)
            for request in self.requests.settle_all(error)
            if request.response_request is None
        ]
        lost = self.sequencer.forget_active() + self.sequencer.drop_queued()
        lost += [route[0].request for route in self._routes.values()]
        self._routes.clear()
        for request in lost:
            if self._open.pop(request.tag, None) is not None:
                actions.append(HandleFailed(request, error))
        return tuple(actions)

    def connection_lost(self) -> None:
        """A connection ended and another will be tried: forget what lived on it (after
        :meth:`fail_pending`)."""
        self.playback = PlaybackTracker(bytes_per_ms=self.playback.bytes_per_ms)
        self.metrics.clear_in_progress()
        self.audio.on_clear()
        self.state.active_response = None
        self.state.out_of_band_responses.clear()
        self.state.conversation.forget_unfinished()  # an interrupted answer is gone with it
        self.speaking = False
        self._connection_epoch += 1

    def forget_conversation(self) -> None:
        """Start the mirror afresh (a restart that does not keep the conversation)."""
        self.state.conversation = Conversation(max_items=self.state.conversation.max_items)
        self._transcripts.clear()

    # -- transcripts and tool calls -------------------------------------------------------------

    def input_transcript(self, item_id: str) -> str:
        """The transcript of a user audio item so far; raises :class:`TranscriptionFailed`."""
        transcript = self._transcripts.get(item_id, "")
        if isinstance(transcript, TranscriptionFailed):
            raise transcript
        return transcript

    def is_call_known(self, call_id: str) -> bool:
        """Whether the conversation holds the function call ``call_id``."""
        return any(
            isinstance(item, FunctionCallItem) and item.call_id == call_id
            for item in self.state.conversation.items
        )

    def tool_output_sent(self, call_id: str) -> None:
        """The output of ``call_id`` is on its way: it needs no epoch any more."""
        self._call_epochs.pop(call_id, None)

    def orphan_reason(self, call_id: str) -> str:
        """Why the result of ``call_id`` has no call to answer (it is sent as a note)."""
        if self._call_epochs.pop(call_id, self._connection_epoch) != self._connection_epoch:
            return "finished after the connection changed"
        return "finished, but its call is not in the conversation"  # its item never arrived


_REACTIONS: dict[type[ServerEvent], Callable[[ConversationCore, Any, float], Actions]] = {
    ResponseOutputAudioTranscriptDelta: ConversationCore._on_output_text,
    ResponseOutputTextDelta: ConversationCore._on_output_text,
    ResponseCreated: ConversationCore._on_response_created,
    ResponseDone: ConversationCore._on_response_done,
    InputAudioBufferSpeechStarted: ConversationCore._on_barge_in,
    InputAudioBufferSpeechStopped: ConversationCore._on_speech_stopped,
    InputAudioBufferCommitted: ConversationCore._on_committed,
    InputAudioBufferCleared: ConversationCore._on_cleared,
    ConversationItemTruncated: ConversationCore._on_truncated,
    ResponseFunctionCallArgumentsDone: ConversationCore._on_call_arguments_done,
    ConversationItemInputAudioTranscriptionDelta: ConversationCore._on_transcription_delta,
    ConversationItemInputAudioTranscriptionFailed: ConversationCore._on_transcription_failed,
    ConversationItemInputAudioTranscriptionCompleted: ConversationCore._on_transcription_completed,
    SessionCreated: ConversationCore._on_session,
    SessionUpdated: ConversationCore._on_session,
    InputAudioBufferDtmfEventReceived: ConversationCore._on_dtmf,
}
"""What follows each kind of server event beyond the mirror and the requests."""
