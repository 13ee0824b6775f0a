"""Session configuration for the fake server: the defaults of a new session, and updates.

An update is validated completely before anything is applied (a rejected ``session.update``
changes nothing), then deep-merged into the current session: objects merge key by key, arrays
and ``null`` replace, and a tagged object whose ``type`` changes is replaced whole. Turn
detection is echoed with every default filled in, as the real server does.
"""

from __future__ import annotations

from typing import Any

from ...events import (
    AudioConfig,
    AudioFormat,
    AudioInput,
    AudioOutput,
    ServerVad,
    Session,
    SessionProperties,
    TranscriptionSessionProperties,
    from_dict,
    to_dict,
)
from ._errors import ClientError, invalid_value, missing_parameter

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "VOICES",
    "check_values",
    "default_session",
    "update_session",
]

DEFAULT_INSTRUCTIONS = "You are a helpful, witty, and friendly AI. Keep your answers short."
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
_READ_ONLY = ("id", "object", "expires_at")
_VAD_DEFAULTS: dict[str, dict[str, Any]] = {
    "server_vad": {
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    },
    "semantic_vad": {"eagerness": "auto", "create_response": True, "interrupt_response": True},
}
_FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")
# Relative path -> allowed values, for strings; "[]" stands for every element of an array.
_ENUMS: dict[str, tuple[str, ...]] = {
    "output_modalities[]": ("audio", "text"),
    "audio.input.format.type": _FORMATS,
    "audio.output.format.type": _FORMATS,
    "audio.output.voice": VOICES,
    "audio.input.noise_reduction.type": ("near_field", "far_field"),
    "audio.input.turn_detection.eagerness": ("low", "medium", "high", "auto"),
    "tool_choice": ("auto", "none", "required"),
    "truncation": ("auto", "disabled"),
    "include[]": ("item.input_audio_transcription.logprobs",),
    "reasoning.effort": ("minimal", "low", "medium", "high", "xhigh"),
    "conversation": ("auto", "none"),
}
_RANGES: dict[str, tuple[float, float]] = {
    "audio.input.turn_detection.threshold": (0.0, 1.0),
    "audio.input.turn_detection.prefix_padding_ms": (0, 10_000),
    "audio.input.turn_detection.silence_duration_ms": (1, 10_000),
    "audio.input.turn_detection.idle_timeout_ms": (5_000, 30_000),
    "audio.output.speed": (0.25, 1.5),
    "max_output_tokens": (1, 4096),
}


def default_session(
    kind: str, *, model: str, session_id: str, expires_at: int
) -> SessionProperties | TranscriptionSessionProperties:
    """The session a new connection starts with (``session.created``), as in §4.1."""
    audio_input = AudioInput(
        format=AudioFormat.pcm(),
        transcription=None,
        noise_reduction=None,
        turn_detection=from_dict({"type": "server_vad", **_VAD_DEFAULTS["server_vad"]}, ServerVad),
    )
    if kind == "transcription":
        return TranscriptionSessionProperties(
            id=session_id,
            object="realtime.transcription_session",
            expires_at=expires_at,
            audio=AudioConfig(input=audio_input),
            include=None,
        )
    return SessionProperties(
        id=session_id,
        object="realtime.session",
        model=model,
        output_modalities=["audio"],
        instructions=DEFAULT_INSTRUCTIONS,
        tools=[],
        tool_choice="auto",
        max_output_tokens="inf",
        tracing=None,
        truncation="auto",
        prompt=None,
        expires_at=expires_at,
        audio=AudioConfig(
            input=audio_input,
            output=AudioOutput(format=AudioFormat.pcm(), voice="alloy", speed=1.0),
        ),
        include=None,
    )


def update_session(current: Session, raw: dict[str, Any], *, voice_locked: bool) -> Session:
    """Return ``current`` with the (shape-checked) ``session`` object of an update applied.

    Raises :class:`ClientError` and changes nothing if any part of the update is invalid.
    """
    kind = "transcription" if isinstance(current, TranscriptionSessionProperties) else "realtime"
    if raw["type"] != kind:
        raise ClientError(
            f"Passing a {raw['type']} session update event to a {kind} session is not allowed.",
            code="invalid_value",
            param="session.type",
        )
    check_values(raw, "session")
    current_raw: dict[str, Any] = to_dict(current)
    if "model" in raw and raw["model"] != current_raw.get("model"):
        raise ClientError(
            "Cannot change the model of an existing session.",
            code="invalid_value",
            param="session.model",
        )
    voice = raw.get("audio", {}).get("output", {}).get("voice")
    current_voice = current_raw.get("audio", {}).get("output", {}).get("voice")
    if voice_locked and voice is not None and voice != current_voice:
        # Code and wording as reported from live traffic by third parties.
        raise ClientError(
            "Cannot update a conversation's voice if assistant audio is present.",
            code="cannot_update_voice",
        )
    update = {k: v for k, v in raw.items() if k not in _READ_ONLY}
    merged = _fill_defaults(_merge(current_raw, update))
    try:
        return from_dict(merged, type(current))
    except ValueError as exc:
        raise ClientError(str(exc), code="invalid_value", param="session") from None


def check_values(raw: dict[str, Any], prefix: str) -> None:
    """Check enumerations and ranges in a session or response object (``prefix`` names it)."""
    for path, allowed in _ENUMS.items():
        for where, value in _lookup(raw, path, prefix):
            if isinstance(value, str) and value not in allowed:
                raise invalid_value(where, value, allowed)
    for path, (low, high) in _RANGES.items():
        for where, value in _lookup(raw, path, prefix):
            if isinstance(value, int | float) and not isinstance(value, bool):
                _check_range(where, value, low, high)
    modalities = raw.get("output_modalities")
    if isinstance(modalities, list) and len(modalities) != 1:
        raise ClientError(
            f"Invalid value for '{prefix}.output_modalities': give exactly one of 'audio' or "
            "'text'.",
            code="invalid_value",
            param=f"{prefix}.output_modalities",
        )
    for direction in ("input", "output"):
        fmt = raw.get("audio", {}).get(direction, {}).get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "audio/pcm":
            where = f"{prefix}.audio.{direction}.format.rate"
            if "rate" not in fmt and direction == "output":
                raise missing_parameter(where)
            if fmt.get("rate", 24000) != 24000:
                raise invalid_value(where, fmt["rate"], [24000])


def _check_range(where: str, value: float, low: float, high: float) -> None:
    kind = "integer" if isinstance(value, int) else "decimal"
    if value < low:
        raise ClientError(
            f"Invalid '{where}': {kind} below minimum value. "
            f"Expected a value >= {low}, but got {value} instead.",
            code=f"{kind}_below_min_value",
            param=where,
        )
    if value > high:
        raise ClientError(
            f"Invalid '{where}': {kind} above maximum value. "
            f"Expected a value <= {high}, but got {value} instead.",
            code=f"{kind}_above_max_value",
            param=where,
        )


def _lookup(raw: Any, path: str, prefix: str) -> list[tuple[str, Any]]:
    """The values at a dotted ``path`` (``[]`` = every array element), with their full paths."""
    found = [(prefix, raw)]
    for key in path.split("."):
        each = key.endswith("[]")
        key = key.removesuffix("[]")
        step: list[tuple[str, Any]] = []
        for where, value in found:
            if isinstance(value, dict) and key in value:
                step.append((f"{where}.{key}", value[key]))
        if each:
            step = [
                (f"{where}[{i}]", element)
                for where, value in step
                if isinstance(value, list)
                for i, element in enumerate(value)
            ]
        found = step
    return found


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        if (
            isinstance(value, dict)
            and isinstance(old, dict)
            and old.get("type") == value.get("type")
        ):
            merged[key] = _merge(old, value)
        else:
            merged[key] = value
    return merged


def _fill_defaults(session: dict[str, Any]) -> dict[str, Any]:
    audio_input = session.get("audio", {}).get("input", {})
    turn_detection = audio_input.get("turn_detection")
    if isinstance(turn_detection, dict):
        audio_input["turn_detection"] = {
            **_VAD_DEFAULTS.get(turn_detection["type"], {}),
            **turn_detection,
        }
    fmt = audio_input.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "audio/pcm":
        fmt.setdefault("rate", 24000)
    return session
