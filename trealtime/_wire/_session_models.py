"""Session configuration: the realtime and transcription session objects of the GA protocol.

Every field that may be absent defaults to ``NOT_GIVEN`` and is left out on the wire. Where the
protocol gives JSON ``null`` a meaning (``turn_detection: null`` disables VAD, ``tracing: null``
turns tracing off) the field also accepts ``None``, which is sent as ``null``.

Tagged variants (turn detection, tools, tool choice, truncation) carry their wire ``type`` as the
class constant ``TYPE``; the codec writes it and dispatches on it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import attrs

from ._notgiven import NOT_GIVEN, NotGiven, is_given
from ._safe_repr import safe_repr
from ._typecheck import checked_init

__all__ = [
    "AUDIO_BYTES_PER_MS",
    "AudioConfig",
    "AudioFormat",
    "AudioInput",
    "AudioOutput",
    "CustomVoice",
    "FunctionTool",
    "InputAudioTranscription",
    "McpTool",
    "NoiseReduction",
    "Prompt",
    "Reasoning",
    "RetentionRatioTruncation",
    "SemanticVad",
    "ServerVad",
    "Session",
    "SessionProperties",
    "TokenLimits",
    "Tool",
    "ToolChoice",
    "ToolChoiceFunction",
    "ToolChoiceMcp",
    "TracingConfig",
    "TranscriptionSessionProperties",
    "Truncation",
    "TurnDetection",
    "UnknownTool",
    "UnknownTurnDetection",
]


AUDIO_BYTES_PER_MS: dict[str, int] = {"audio/pcm": 48, "audio/pcmu": 8, "audio/pcma": 8}
"""Bytes per millisecond of each audio format: PCM16 at 24 kHz, G.711 at 8 kHz."""


@attrs.frozen(kw_only=True)
class AudioFormat:
    """An audio format: ``audio/pcm`` (24 kHz PCM16), ``audio/pcmu`` or ``audio/pcma`` (G.711).

    The schema makes ``type`` optional; a format without one is the API's default, PCM16.
    """

    type: str | NotGiven = NOT_GIVEN
    rate: int | NotGiven = NOT_GIVEN

    @classmethod
    def pcm(cls) -> AudioFormat:
        """PCM16 little-endian mono at 24 kHz, the API's default."""
        return cls(type="audio/pcm", rate=24000)

    @classmethod
    def pcmu(cls) -> AudioFormat:
        """G.711 μ-law at 8 kHz."""
        return cls(type="audio/pcmu")

    @classmethod
    def pcma(cls) -> AudioFormat:
        """G.711 A-law at 8 kHz."""
        return cls(type="audio/pcma")

    @property
    def resolved_type(self) -> str:
        """``type``, or ``audio/pcm`` (the API's default) when it is not given."""
        return self.type if is_given(self.type) else "audio/pcm"

    @property
    def bytes_per_ms(self) -> int:
        """Bytes of audio per millisecond: 48 for PCM16 at 24 kHz, 8 for G.711."""
        return AUDIO_BYTES_PER_MS.get(self.resolved_type, 8)


@attrs.frozen(kw_only=True)
class NoiseReduction:
    """Input noise reduction: ``near_field`` or ``far_field`` (optional in the schema)."""

    type: str | NotGiven = NOT_GIVEN
    strength: float | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class InputAudioTranscription:
    """Asynchronous transcription of the user's audio on a separate model."""

    model: str | NotGiven = NOT_GIVEN
    language: str | NotGiven | None = NOT_GIVEN
    languages: list[str] | NotGiven = NOT_GIVEN
    keywords: list[str] | NotGiven = NOT_GIVEN
    prompt: str | NotGiven | None = NOT_GIVEN
    delay: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class ServerVad:
    """Server-side voice activity detection by audio energy."""

    TYPE: ClassVar[str] = "server_vad"
    threshold: float | NotGiven = NOT_GIVEN
    prefix_padding_ms: int | NotGiven = NOT_GIVEN
    silence_duration_ms: int | NotGiven = NOT_GIVEN
    create_response: bool | NotGiven = NOT_GIVEN
    interrupt_response: bool | NotGiven = NOT_GIVEN
    idle_timeout_ms: int | NotGiven | None = NOT_GIVEN


@attrs.frozen(kw_only=True)
class SemanticVad:
    """Turn detection by a model that judges whether the user has finished."""

    TYPE: ClassVar[str] = "semantic_vad"
    eagerness: str | NotGiven = NOT_GIVEN
    create_response: bool | NotGiven = NOT_GIVEN
    interrupt_response: bool | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class UnknownTurnDetection:
    """A turn-detection variant this version does not know; ``raw`` is sent back unchanged."""

    type: str
    raw: dict[str, Any] = attrs.field(repr=safe_repr)


TurnDetection = ServerVad | SemanticVad | UnknownTurnDetection


@attrs.frozen(kw_only=True)
class AudioInput:
    """Input audio: format, transcription, noise reduction and turn detection (``None`` = off)."""

    format: AudioFormat | NotGiven = NOT_GIVEN
    transcription: InputAudioTranscription | NotGiven | None = NOT_GIVEN
    noise_reduction: NoiseReduction | NotGiven | None = NOT_GIVEN
    turn_detection: TurnDetection | NotGiven | None = NOT_GIVEN


@attrs.frozen(kw_only=True)
class CustomVoice:
    """A custom voice by id (request only; the server echoes voices as strings)."""

    id: str


@attrs.frozen(kw_only=True)
class AudioOutput:
    """Output audio: format, voice (fixed after the first audio output) and speed."""

    format: AudioFormat | NotGiven = NOT_GIVEN
    voice: str | CustomVoice | NotGiven = NOT_GIVEN
    speed: float | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class AudioConfig:
    """The ``audio`` object of a session or response."""

    input: AudioInput | NotGiven = NOT_GIVEN
    output: AudioOutput | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class FunctionTool:
    """A function the model may call; ``parameters`` is a JSON Schema object."""

    TYPE: ClassVar[str] = "function"
    name: str | NotGiven = NOT_GIVEN
    description: str | NotGiven = NOT_GIVEN
    parameters: Any = NOT_GIVEN


@attrs.frozen(kw_only=True)
class McpTool:
    """A remote MCP server whose tools the model may call."""

    TYPE: ClassVar[str] = "mcp"
    server_label: str
    server_url: str | NotGiven = NOT_GIVEN
    connector_id: str | NotGiven = NOT_GIVEN
    tunnel_id: str | NotGiven = NOT_GIVEN
    authorization: str | NotGiven = NOT_GIVEN
    headers: dict[str, str] | NotGiven | None = NOT_GIVEN
    server_description: str | NotGiven = NOT_GIVEN
    allowed_tools: list[str] | dict[str, Any] | NotGiven | None = NOT_GIVEN
    require_approval: str | dict[str, Any] | NotGiven | None = NOT_GIVEN
    defer_loading: bool | NotGiven = NOT_GIVEN
    allowed_callers: list[str] | NotGiven | None = NOT_GIVEN


@attrs.frozen(kw_only=True)
class UnknownTool:
    """A tool type this version does not know; ``raw`` is sent back unchanged."""

    type: str
    raw: dict[str, Any] = attrs.field(repr=safe_repr)


Tool = FunctionTool | McpTool | UnknownTool


@attrs.frozen(kw_only=True)
class ToolChoiceFunction:
    """Force a call of the named function."""

    TYPE: ClassVar[str] = "function"
    name: str


@attrs.frozen(kw_only=True)
class ToolChoiceMcp:
    """Force a call of a tool on the labelled MCP server."""

    TYPE: ClassVar[str] = "mcp"
    server_label: str
    name: str | NotGiven = NOT_GIVEN


ToolChoice = str | ToolChoiceFunction | ToolChoiceMcp
"""``"auto"``, ``"none"``, ``"required"``, or a forced function or MCP tool."""


@attrs.frozen(kw_only=True)
class TracingConfig:
    """Server-side tracing with explicit names (``"auto"`` uses the defaults)."""

    workflow_name: str | NotGiven = NOT_GIVEN
    group_id: str | NotGiven = NOT_GIVEN
    metadata: Any = NOT_GIVEN


@attrs.frozen(kw_only=True)
class TokenLimits:
    """Token limits for retention-ratio truncation."""

    post_instructions: int | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class RetentionRatioTruncation:
    """On overflow, drop old context down to ``retention_ratio`` of the limit."""

    TYPE: ClassVar[str] = "retention_ratio"
    retention_ratio: float
    token_limits: TokenLimits | NotGiven = NOT_GIVEN


Truncation = str | RetentionRatioTruncation
"""``"auto"``, ``"disabled"``, or a retention ratio."""


@attrs.frozen(kw_only=True)
class Prompt:
    """A reference to a stored prompt template."""

    id: str
    version: str | NotGiven | None = NOT_GIVEN
    variables: dict[str, Any] | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class Reasoning:
    """Reasoning effort for reasoning models (``minimal`` … ``xhigh``)."""

    effort: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class SessionProperties:
    """A realtime session (``session.type = "realtime"``), as sent or as echoed by the server.

    ``id``, ``object`` and ``expires_at`` appear only in the server's echo.
    """

    TYPE: ClassVar[str] = "realtime"
    model: str | NotGiven = NOT_GIVEN
    instructions: str | NotGiven = NOT_GIVEN
    output_modalities: list[str] | NotGiven = NOT_GIVEN
    audio: AudioConfig | NotGiven = NOT_GIVEN
    tools: list[Tool] | NotGiven = NOT_GIVEN
    tool_choice: ToolChoice | NotGiven = NOT_GIVEN
    parallel_tool_calls: bool | NotGiven = NOT_GIVEN
    reasoning: Reasoning | NotGiven | None = NOT_GIVEN
    max_output_tokens: int | Literal["inf"] | NotGiven = NOT_GIVEN
    truncation: Truncation | NotGiven = NOT_GIVEN
    prompt: Prompt | NotGiven | None = NOT_GIVEN
    include: list[str] | NotGiven | None = NOT_GIVEN
    tracing: Literal["auto"] | TracingConfig | NotGiven | None = NOT_GIVEN
    temperature: float | NotGiven = NOT_GIVEN
    id: str | NotGiven = NOT_GIVEN
    object: str | NotGiven = NOT_GIVEN
    expires_at: int | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class TranscriptionSessionProperties:
    """A transcription-only session (``session.type = "transcription"``)."""

    TYPE: ClassVar[str] = "transcription"
    audio: AudioConfig | NotGiven = NOT_GIVEN
    include: list[str] | NotGiven | None = NOT_GIVEN
    id: str | NotGiven = NOT_GIVEN
    object: str | NotGiven = NOT_GIVEN
    expires_at: int | NotGiven = NOT_GIVEN


Session = SessionProperties | TranscriptionSessionProperties


checked_init(
    AudioFormat,
    NoiseReduction,
    InputAudioTranscription,
    ServerVad,
    SemanticVad,
    AudioInput,
    CustomVoice,
    AudioOutput,
    AudioConfig,
    FunctionTool,
    McpTool,
    ToolChoiceFunction,
    ToolChoiceMcp,
    TracingConfig,
    TokenLimits,
    RetentionRatioTruncation,
    Prompt,
    Reasoning,
    SessionProperties,
    TranscriptionSessionProperties,
)
