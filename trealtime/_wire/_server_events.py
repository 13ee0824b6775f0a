"""Server events: the 46 GA messages the server sends, plus the two fallbacks.

Each class carries its GA wire ``type`` as ``TYPE``; legacy beta names that mean the same thing
(``response.audio.delta``, ``transcription_session.created`` …) are listed in ``BETA_ALIASES`` and
decode to the same class. A ``type`` this version does not know decodes to
:class:`UnknownServerEvent`; a known ``type`` whose body does not fit decodes to
:class:`InvalidServerEvent`. Neither ever ends a session.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import attrs

from ._item_models import ContentPart, Item
from ._notgiven import NOT_GIVEN, NotGiven
from ._response_models import (
    ConversationInfo,
    ErrorDetail,
    ErrorInfo,
    LogProb,
    RateLimit,
    Response,
    TranscriptionLanguage,
    TranscriptionUsage,
)
from ._safe_repr import safe_repr
from ._session_models import Session

__all__ = [
    "BETA_ALIASES",
    "SERVER_EVENT_CLASSES",
    "ConversationCreated",
    "ConversationItemAdded",
    "ConversationItemCreated",
    "ConversationItemDeleted",
    "ConversationItemDone",
    "ConversationItemInputAudioTranscriptionCompleted",
    "ConversationItemInputAudioTranscriptionDelta",
    "ConversationItemInputAudioTranscriptionFailed",
    "ConversationItemInputAudioTranscriptionSegment",
    "ConversationItemRetrieved",
    "ConversationItemTruncated",
    "Error",
    "InputAudioBufferCleared",
    "InputAudioBufferCommitted",
    "InputAudioBufferDtmfEventReceived",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "InvalidServerEvent",
    "McpListToolsCompleted",
    "McpListToolsFailed",
    "McpListToolsInProgress",
    "OutputAudioBufferCleared",
    "OutputAudioBufferStarted",
    "OutputAudioBufferStopped",
    "RateLimitsUpdated",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreated",
    "ResponseDone",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseFunctionCallArgumentsDone",
    "ResponseMcpCallArgumentsDelta",
    "ResponseMcpCallArgumentsDone",
    "ResponseMcpCallCompleted",
    "ResponseMcpCallFailed",
    "ResponseMcpCallInProgress",
    "ResponseOutputAudioDelta",
    "ResponseOutputAudioDone",
    "ResponseOutputAudioTranscriptDelta",
    "ResponseOutputAudioTranscriptDone",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseOutputTextDelta",
    "ResponseOutputTextDone",
    "ServerEvent",
    "SessionCreated",
    "SessionUpdated",
    "UnknownServerEvent",
]


@attrs.frozen(kw_only=True)
class ServerEvent:
    """Base class of every server event. ``event_id`` is assigned by the server.

    (Every GA event but ``input_audio_buffer.dtmf_event_received`` carries one.)
    """

    TYPE: ClassVar[str]
    event_id: str | NotGiven = NOT_GIVEN

    @property
    def type(self) -> str:
        """The GA wire ``type`` of this event."""
        return self.TYPE


@attrs.frozen(kw_only=True)
class UnknownServerEvent(ServerEvent):
    """An event whose ``type`` this version does not know; ``raw`` is the whole JSON object."""

    type: str
    raw: dict[str, Any] = attrs.field(repr=safe_repr)
    event_id: str = ""


@attrs.frozen(kw_only=True)
class InvalidServerEvent(ServerEvent):
    """A frame that could not be decoded: invalid JSON, no ``type``, or a malformed body.

    ``raw`` is the parsed JSON object when the frame was one, else the frame's text;
    ``error`` says what was wrong.
    """

    type: str
    raw: Any = attrs.field(repr=safe_repr)
    error: str
    event_id: str = ""


# -- session and conversation -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Error(ServerEvent):
    """A server error. Most are not fatal: the session stays open."""

    TYPE: ClassVar[str] = "error"
    error: ErrorDetail


@attrs.frozen(kw_only=True)
class SessionCreated(ServerEvent):
    """The first event of every connection, with the session's initial configuration."""

    TYPE: ClassVar[str] = "session.created"
    session: Session


@attrs.frozen(kw_only=True)
class SessionUpdated(ServerEvent):
    """The full effective session after a successful ``session.update``."""

    TYPE: ClassVar[str] = "session.updated"
    session: Session


@attrs.frozen(kw_only=True)
class ConversationCreated(ServerEvent):
    """Listed by the spec right after session creation; rarely sent in practice."""

    TYPE: ClassVar[str] = "conversation.created"
    conversation: ConversationInfo


@attrs.frozen(kw_only=True)
class _ItemPlacement(ServerEvent):
    item: Item
    previous_item_id: str | NotGiven | None = NOT_GIVEN


@attrs.frozen(kw_only=True)
class ConversationItemCreated(_ItemPlacement):
    """Beta: an item entered the conversation (GA sends ``added`` then ``done``)."""

    TYPE: ClassVar[str] = "conversation.item.created"


@attrs.frozen(kw_only=True)
class ConversationItemAdded(_ItemPlacement):
    """An item entered the conversation (it may still be in progress)."""

    TYPE: ClassVar[str] = "conversation.item.added"


@attrs.frozen(kw_only=True)
class ConversationItemDone(_ItemPlacement):
    """An item is final (still without audio bytes)."""

    TYPE: ClassVar[str] = "conversation.item.done"


@attrs.frozen(kw_only=True)
class ConversationItemRetrieved(ServerEvent):
    """The server's copy of an item, the only event that carries audio in items."""

    TYPE: ClassVar[str] = "conversation.item.retrieved"
    item: Item


@attrs.frozen(kw_only=True)
class ConversationItemTruncated(ServerEvent):
    """An assistant audio item was cut at ``audio_end_ms``."""

    TYPE: ClassVar[str] = "conversation.item.truncated"
    item_id: str
    content_index: int
    audio_end_ms: int


@attrs.frozen(kw_only=True)
class ConversationItemDeleted(ServerEvent):
    """An item was removed."""

    TYPE: ClassVar[str] = "conversation.item.deleted"
    item_id: str


# -- input audio transcription ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ConversationItemInputAudioTranscriptionDelta(ServerEvent):
    """A piece of the user audio's transcript."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.delta"
    item_id: str
    content_index: int | NotGiven = NOT_GIVEN
    delta: str | NotGiven = NOT_GIVEN
    logprobs: list[LogProb] | NotGiven | None = NOT_GIVEN


@attrs.frozen(kw_only=True)
class ConversationItemInputAudioTranscriptionCompleted(ServerEvent):
    """The final transcript of a user audio item."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.completed"
    item_id: str
    content_index: int
    transcript: str
    usage: TranscriptionUsage | NotGiven = NOT_GIVEN
    logprobs: list[LogProb] | NotGiven | None = NOT_GIVEN
    languages: list[TranscriptionLanguage] | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class ConversationItemInputAudioTranscriptionFailed(ServerEvent):
    """Transcription of a user audio item failed."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.failed"
    item_id: str
    content_index: int
    error: ErrorInfo


@attrs.frozen(kw_only=True)
class ConversationItemInputAudioTranscriptionSegment(ServerEvent):
    """A diarized segment: who said ``text`` between ``start`` and ``end`` seconds."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.segment"
    item_id: str
    content_index: int
    text: str
    id: str
    speaker: str
    start: float
    end: float


# -- input audio buffer -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class InputAudioBufferCommitted(ServerEvent):
    """The input buffer became the user item ``item_id``."""

    TYPE: ClassVar[str] = "input_audio_buffer.committed"
    item_id: str
    previous_item_id: str | NotGiven | None = NOT_GIVEN


@attrs.frozen(kw_only=True)
class InputAudioBufferCleared(ServerEvent):
    """The input buffer was cleared."""

    TYPE: ClassVar[str] = "input_audio_buffer.cleared"


@attrs.frozen(kw_only=True)
class InputAudioBufferSpeechStarted(ServerEvent):
    """VAD heard speech; ``audio_start_ms`` counts from the session's first appended audio."""

    TYPE: ClassVar[str] = "input_audio_buffer.speech_started"
    audio_start_ms: int
    item_id: str


@attrs.frozen(kw_only=True)
class InputAudioBufferSpeechStopped(ServerEvent):
    """VAD heard the end of speech (after the silence window)."""

    TYPE: ClassVar[str] = "input_audio_buffer.speech_stopped"
    audio_end_ms: int
    item_id: str


@attrs.frozen(kw_only=True)
class InputAudioBufferTimeoutTriggered(ServerEvent):
    """The idle timeout fired; the silence is committed and a response follows."""

    TYPE: ClassVar[str] = "input_audio_buffer.timeout_triggered"
    audio_start_ms: int
    audio_end_ms: int
    item_id: str


@attrs.frozen(kw_only=True)
class InputAudioBufferDtmfEventReceived(ServerEvent):
    """A DTMF key pressed on a SIP call (this event has no ``event_id``)."""

    TYPE: ClassVar[str] = "input_audio_buffer.dtmf_event_received"
    event: str
    received_at: int


# -- output audio buffer (WebRTC / SIP) ---------------------------------------------------------


@attrs.frozen(kw_only=True)
class OutputAudioBufferStarted(ServerEvent):
    """The server started playing a response's audio (WebRTC/SIP)."""

    TYPE: ClassVar[str] = "output_audio_buffer.started"
    response_id: str


@attrs.frozen(kw_only=True)
class OutputAudioBufferStopped(ServerEvent):
    """The server's playout drained (WebRTC/SIP)."""

    TYPE: ClassVar[str] = "output_audio_buffer.stopped"
    response_id: str


@attrs.frozen(kw_only=True)
class OutputAudioBufferCleared(ServerEvent):
    """The server's playout was cut off (WebRTC/SIP)."""

    TYPE: ClassVar[str] = "output_audio_buffer.cleared"
    response_id: str


# -- response lifecycle -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ResponseCreated(ServerEvent):
    """A response started (``status`` ``in_progress``)."""

    TYPE: ClassVar[str] = "response.created"
    response: Response


@attrs.frozen(kw_only=True)
class ResponseDone(ServerEvent):
    """A response ended, whatever the outcome; carries the output items and usage."""

    TYPE: ClassVar[str] = "response.done"
    response: Response


@attrs.frozen(kw_only=True)
class _OutputItemEvent(ServerEvent):
    response_id: str
    output_index: int
    item: Item


@attrs.frozen(kw_only=True)
class ResponseOutputItemAdded(_OutputItemEvent):
    """A response began an output item."""

    TYPE: ClassVar[str] = "response.output_item.added"


@attrs.frozen(kw_only=True)
class ResponseOutputItemDone(_OutputItemEvent):
    """An output item is final (also sent on cancel or interruption)."""

    TYPE: ClassVar[str] = "response.output_item.done"


@attrs.frozen(kw_only=True)
class _ContentEvent(ServerEvent):
    response_id: str
    item_id: str
    output_index: int
    content_index: int


@attrs.frozen(kw_only=True)
class ResponseContentPartAdded(_ContentEvent):
    """A content part began."""

    TYPE: ClassVar[str] = "response.content_part.added"
    part: ContentPart


@attrs.frozen(kw_only=True)
class ResponseContentPartDone(_ContentEvent):
    """A content part is final, with its whole text or transcript."""

    TYPE: ClassVar[str] = "response.content_part.done"
    part: ContentPart


@attrs.frozen(kw_only=True)
class ResponseOutputTextDelta(_ContentEvent):
    """A piece of text output."""

    TYPE: ClassVar[str] = "response.output_text.delta"
    delta: str


@attrs.frozen(kw_only=True)
class ResponseOutputTextDone(_ContentEvent):
    """Text output is final."""

    TYPE: ClassVar[str] = "response.output_text.done"
    text: str


@attrs.frozen(kw_only=True)
class ResponseOutputAudioDelta(_ContentEvent):
    """A chunk of output audio, base64 in the session's output format."""

    TYPE: ClassVar[str] = "response.output_audio.delta"
    delta: str

    def audio_bytes(self) -> bytes:
        """The decoded audio chunk (PCM16 LE mono at 24 kHz, or G.711)."""
        return base64.b64decode(self.delta)


@attrs.frozen(kw_only=True)
class ResponseOutputAudioDone(_ContentEvent):
    """Audio output of a part is complete."""

    TYPE: ClassVar[str] = "response.output_audio.done"


@attrs.frozen(kw_only=True)
class ResponseOutputAudioTranscriptDelta(_ContentEvent):
    """A piece of the transcript of the output audio."""

    TYPE: ClassVar[str] = "response.output_audio_transcript.delta"
    delta: str


@attrs.frozen(kw_only=True)
class ResponseOutputAudioTranscriptDone(_ContentEvent):
    """The output audio's transcript is final."""

    TYPE: ClassVar[str] = "response.output_audio_transcript.done"
    transcript: str


# -- function calls and MCP ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ResponseFunctionCallArgumentsDelta(ServerEvent):
    """A piece of a function call's JSON arguments."""

    TYPE: ClassVar[str] = "response.function_call_arguments.delta"
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str


@attrs.frozen(kw_only=True)
class ResponseFunctionCallArgumentsDone(ServerEvent):
    """A function call's arguments are complete: run the tool now."""

    TYPE: ClassVar[str] = "response.function_call_arguments.done"
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    arguments: str
    name: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class ResponseMcpCallArgumentsDelta(ServerEvent):
    """A piece of an MCP call's JSON arguments."""

    TYPE: ClassVar[str] = "response.mcp_call_arguments.delta"
    response_id: str
    item_id: str
    output_index: int
    delta: str
    obfuscation: str | NotGiven | None = NOT_GIVEN


@attrs.frozen(kw_only=True)
class ResponseMcpCallArgumentsDone(ServerEvent):
    """An MCP call's arguments are complete."""

    TYPE: ClassVar[str] = "response.mcp_call_arguments.done"
    response_id: str
    item_id: str
    output_index: int
    arguments: str


@attrs.frozen(kw_only=True)
class _McpCallEvent(ServerEvent):
    output_index: int
    item_id: str


@attrs.frozen(kw_only=True)
class ResponseMcpCallInProgress(_McpCallEvent):
    """An MCP call is running."""

    TYPE: ClassVar[str] = "response.mcp_call.in_progress"


@attrs.frozen(kw_only=True)
class ResponseMcpCallCompleted(_McpCallEvent):
    """An MCP call finished; its output is on the item."""

    TYPE: ClassVar[str] = "response.mcp_call.completed"


@attrs.frozen(kw_only=True)
class ResponseMcpCallFailed(_McpCallEvent):
    """An MCP call failed; its error is on the item."""

    TYPE: ClassVar[str] = "response.mcp_call.failed"


@attrs.frozen(kw_only=True)
class _McpListToolsEvent(ServerEvent):
    item_id: str


@attrs.frozen(kw_only=True)
class McpListToolsInProgress(_McpListToolsEvent):
    """Listing an MCP server's tools began."""

    TYPE: ClassVar[str] = "mcp_list_tools.in_progress"


@attrs.frozen(kw_only=True)
class McpListToolsCompleted(_McpListToolsEvent):
    """An MCP server's tools were listed."""

    TYPE: ClassVar[str] = "mcp_list_tools.completed"


@attrs.frozen(kw_only=True)
class McpListToolsFailed(_McpListToolsEvent):
    """Listing an MCP server's tools failed."""

    TYPE: ClassVar[str] = "mcp_list_tools.failed"


@attrs.frozen(kw_only=True)
class RateLimitsUpdated(ServerEvent):
    """The remaining request and token budget."""

    TYPE: ClassVar[str] = "rate_limits.updated"
    rate_limits: list[RateLimit]


SERVER_EVENT_CLASSES: tuple[type[ServerEvent], ...] = (
    Error,
    SessionCreated,
    SessionUpdated,
    ConversationCreated,
    ConversationItemCreated,
    ConversationItemAdded,
    ConversationItemDone,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    ConversationItemDeleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemInputAudioTranscriptionSegment,
    InputAudioBufferCommitted,
    InputAudioBufferCleared,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioBufferTimeoutTriggered,
    InputAudioBufferDtmfEventReceived,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    OutputAudioBufferCleared,
    ResponseCreated,
    ResponseDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseMcpCallArgumentsDelta,
    ResponseMcpCallArgumentsDone,
    ResponseMcpCallInProgress,
    ResponseMcpCallCompleted,
    ResponseMcpCallFailed,
    McpListToolsInProgress,
    McpListToolsCompleted,
    McpListToolsFailed,
    RateLimitsUpdated,
)
"""Every GA server event class (46)."""

BETA_ALIASES: dict[str, type[ServerEvent]] = {
    "response.text.delta": ResponseOutputTextDelta,
    "response.text.done": ResponseOutputTextDone,
    "response.audio.delta": ResponseOutputAudioDelta,
    "response.audio.done": ResponseOutputAudioDone,
    "response.audio_transcript.delta": ResponseOutputAudioTranscriptDelta,
    "response.audio_transcript.done": ResponseOutputAudioTranscriptDone,
    "transcription_session.created": SessionCreated,
    "transcription_session.updated": SessionUpdated,
}
"""Legacy beta wire names and the GA class each decodes to."""
