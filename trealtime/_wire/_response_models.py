"""Responses, usage, errors, rate limits, and the parameters of ``response.create``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import attrs

from ._error_models import ErrorDetail
from ._item_models import InputItem, Item
from ._notgiven import NOT_GIVEN, NotGiven, is_given
from ._session_models import AudioConfig, Prompt, Reasoning, Tool, ToolChoice

__all__ = [
    "CachedTokenDetails",
    "ConversationInfo",
    "ErrorDetail",
    "ErrorInfo",
    "InputTokenDetails",
    "LogProb",
    "OutputTokenDetails",
    "RateLimit",
    "Response",
    "ResponseParams",
    "StatusDetails",
    "TranscriptionDurationUsage",
    "TranscriptionInputTokenDetails",
    "TranscriptionLanguage",
    "TranscriptionTokenUsage",
    "TranscriptionUsage",
    "Usage",
]


@attrs.frozen(kw_only=True)
class ErrorInfo:
    """A loosely specified error: a failed response or a failed transcription."""

    type: str | NotGiven = NOT_GIVEN
    code: str | NotGiven | None = NOT_GIVEN
    message: str | NotGiven | None = NOT_GIVEN
    param: str | NotGiven | None = NOT_GIVEN


@attrs.frozen(kw_only=True)
class StatusDetails:
    """Why a response ended as it did (``turn_detected``, ``client_cancelled``, …)."""

    type: str | NotGiven = NOT_GIVEN
    reason: str | NotGiven = NOT_GIVEN
    error: ErrorInfo | NotGiven | None = NOT_GIVEN


@attrs.frozen(kw_only=True)
class CachedTokenDetails:
    """Cached input tokens by modality."""

    text_tokens: int | NotGiven = NOT_GIVEN
    audio_tokens: int | NotGiven = NOT_GIVEN
    image_tokens: int | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class InputTokenDetails:
    """Input tokens by modality; ``cached_tokens`` is a subset of the input tokens."""

    cached_tokens: int | NotGiven = NOT_GIVEN
    text_tokens: int | NotGiven = NOT_GIVEN
    audio_tokens: int | NotGiven = NOT_GIVEN
    image_tokens: int | NotGiven = NOT_GIVEN
    cached_tokens_details: CachedTokenDetails | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class OutputTokenDetails:
    """Output tokens by modality."""

    text_tokens: int | NotGiven = NOT_GIVEN
    audio_tokens: int | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class Usage:
    """Token usage of one response."""

    total_tokens: int | NotGiven = NOT_GIVEN
    input_tokens: int | NotGiven = NOT_GIVEN
    output_tokens: int | NotGiven = NOT_GIVEN
    input_token_details: InputTokenDetails | NotGiven = NOT_GIVEN
    output_token_details: OutputTokenDetails | NotGiven = NOT_GIVEN


_CANCELLED_REASONS = ("turn_detected", "client_cancelled")
_INCOMPLETE_REASONS = ("max_output_tokens", "content_filter")


@attrs.frozen(kw_only=True)
class Response:
    """A response: ``in_progress``, then ``completed``, ``cancelled``, ``incomplete`` or ``failed``.

    ``output`` never carries audio bytes; ``usage`` is set in ``response.done``.
    """

    id: str | NotGiven = NOT_GIVEN
    object: str | NotGiven = NOT_GIVEN
    status: str | NotGiven = NOT_GIVEN
    status_details: StatusDetails | NotGiven | None = NOT_GIVEN
    output: list[Item] | NotGiven = NOT_GIVEN
    conversation_id: str | NotGiven | None = NOT_GIVEN
    output_modalities: list[str] | NotGiven = NOT_GIVEN
    max_output_tokens: int | Literal["inf"] | NotGiven = NOT_GIVEN
    audio: AudioConfig | NotGiven = NOT_GIVEN
    usage: Usage | NotGiven | None = NOT_GIVEN
    metadata: dict[str, Any] | NotGiven | None = NOT_GIVEN

    @property
    def final_status(self) -> str:
        """How a response in ``response.done`` ended, even when the server left ``status`` out.

        The schema makes ``status`` optional. Without it, ``status_details`` decides (its
        ``type``, else an ``error`` means ``failed`` and a ``reason`` names a cancellation or
        a cut-off); with nothing saying otherwise, a done response counts as ``completed``.
        """
        if is_given(self.status):
            return self.status
        details = self.status_details
        if not isinstance(details, StatusDetails):
            return "completed"
        if is_given(details.type):
            return details.type
        if isinstance(details.error, ErrorInfo):
            return "failed"
        if details.reason in _CANCELLED_REASONS:
            return "cancelled"
        if details.reason in _INCOMPLETE_REASONS:
            return "incomplete"
        return "completed"


@attrs.frozen(kw_only=True)
class ResponseParams:
    """Per-response overrides for ``response.create``.

    ``conversation="none"`` makes an out-of-band response; ``input`` replaces its context
    (items or :class:`ItemReference`); ``metadata`` tells parallel responses apart.
    """

    output_modalities: list[str] | NotGiven = NOT_GIVEN
    instructions: str | NotGiven = NOT_GIVEN
    audio: AudioConfig | NotGiven = NOT_GIVEN
    tools: list[Tool] | NotGiven = NOT_GIVEN
    tool_choice: ToolChoice | NotGiven = NOT_GIVEN
    parallel_tool_calls: bool | NotGiven = NOT_GIVEN
    reasoning: Reasoning | NotGiven = NOT_GIVEN
    max_output_tokens: int | Literal["inf"] | NotGiven = NOT_GIVEN
    conversation: str | NotGiven = NOT_GIVEN
    metadata: dict[str, str] | NotGiven | None = NOT_GIVEN
    prompt: Prompt | NotGiven | None = NOT_GIVEN
    input: list[InputItem] | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class RateLimit:
    """One rate limit (``requests`` or ``tokens``) and what remains of it."""

    name: str | NotGiven = NOT_GIVEN
    limit: int | NotGiven = NOT_GIVEN
    remaining: int | NotGiven = NOT_GIVEN
    reset_seconds: float | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class TranscriptionInputTokenDetails:
    """Transcription input tokens by modality."""

    text_tokens: int | NotGiven = NOT_GIVEN
    audio_tokens: int | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class TranscriptionTokenUsage:
    """Token-billed transcription usage."""

    TYPE: ClassVar[str] = "tokens"
    input_tokens: int | NotGiven = NOT_GIVEN
    output_tokens: int | NotGiven = NOT_GIVEN
    total_tokens: int | NotGiven = NOT_GIVEN
    input_token_details: TranscriptionInputTokenDetails | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class TranscriptionDurationUsage:
    """Duration-billed transcription usage, in seconds."""

    TYPE: ClassVar[str] = "duration"
    seconds: float


TranscriptionUsage = TranscriptionTokenUsage | TranscriptionDurationUsage


@attrs.frozen(kw_only=True)
class LogProb:
    """The log probability of one transcribed token."""

    token: str
    logprob: float
    bytes: list[int]


@attrs.frozen(kw_only=True)
class TranscriptionLanguage:
    """A language detected in transcribed audio."""

    code: str


@attrs.frozen(kw_only=True)
class ConversationInfo:
    """The conversation object of ``conversation.created`` (the schema makes both optional)."""

    id: str | NotGiven = NOT_GIVEN
    object: str | NotGiven = NOT_GIVEN
