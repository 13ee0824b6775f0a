"""Rewrite the legacy beta shapes of session and response objects into the GA shape.

The beta protocol (``OpenAI-Beta: realtime=v1``, Azure preview) uses a flat session object
(``voice``, ``input_audio_format`` …) and ``modalities`` on responses. Decoding rewrites those
dicts into the GA layout first, so that one set of classes serves both servers.
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_beta_response", "is_beta_session", "session_to_ga", "response_to_ga"]

_BETA_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
# beta key -> (GA audio direction, GA key)
_AUDIO_KEYS = {
    "input_audio_format": ("input", "format"),
    "input_audio_transcription": ("input", "transcription"),
    "input_audio_noise_reduction": ("input", "noise_reduction"),
    "turn_detection": ("input", "turn_detection"),
    "output_audio_format": ("output", "format"),
    "voice": ("output", "voice"),
    "speed": ("output", "speed"),
}


def is_beta_session(session: dict[str, Any]) -> bool:
    """A session object without ``type`` is in the beta shape."""
    return "type" not in session


def is_beta_response(response: dict[str, Any]) -> bool:
    """A response object with beta-only keys is in the beta shape."""
    return "modalities" in response or "output_audio_format" in response or "voice" in response


def _ga_modalities(modalities: Any) -> Any:
    # GA allows one output modality; audio output always includes a transcript.
    if isinstance(modalities, list) and "audio" in modalities:
        return ["audio"]
    return modalities


def _ga_format(value: Any) -> Any:
    return (
        dict(_BETA_FORMATS[value]) if isinstance(value, str) and value in _BETA_FORMATS else value
    )


def _move_audio(source: dict[str, Any], target: dict[str, Any]) -> None:
    audio: dict[str, dict[str, Any]] = {}
    for key, (direction, ga_key) in _AUDIO_KEYS.items():
        if key in source:
            value = source[key]
            audio.setdefault(direction, {})[ga_key] = (
                _ga_format(value) if ga_key == "format" else value
            )
    if audio:
        target["audio"] = audio


def session_to_ga(session: dict[str, Any]) -> dict[str, Any]:
    """Return the GA form of a beta session object (realtime or transcription)."""
    transcription = session.get("object") == "realtime.transcription_session"
    ga: dict[str, Any] = {"type": "transcription" if transcription else "realtime"}
    for key, value in session.items():
        if key in _AUDIO_KEYS:
            continue
        if key == "modalities":
            if not transcription:
                ga["output_modalities"] = _ga_modalities(value)
        elif key == "max_response_output_tokens":
            ga["max_output_tokens"] = value
        else:
            ga[key] = value
    _move_audio(session, ga)
    return ga


def response_to_ga(response: dict[str, Any]) -> dict[str, Any]:
    """Return the GA form of a beta response object."""
    ga: dict[str, Any] = {}
    for key, value in response.items():
        if key == "modalities":
            ga["output_modalities"] = _ga_modalities(value)
        elif key == "max_response_output_tokens":
            ga["max_output_tokens"] = value
        elif key not in ("voice", "output_audio_format", "temperature"):
            ga[key] = value
    output: dict[str, Any] = {}
    if "voice" in response:
        output["voice"] = response["voice"]
    if "output_audio_format" in response:
        output["format"] = _ga_format(response["output_audio_format"])
    if output:
        ga["audio"] = {"output": output}
    return ga
