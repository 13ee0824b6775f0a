"""Twilio Media Streams, the messages a phone call's WebSocket carries. Sans-IO.

Twilio sends ``connected``, ``start`` (the stream and call ids, the media format and the
``<Parameter>`` values of the TwiML ``<Stream>``), ``media`` (base64 G.711 μ-law at 8 kHz, 20 ms
each), ``mark`` (a mark the server sent, echoed once the audio before it has been played, or
dropped by a ``clear``), ``dtmf`` and ``stop``. The server sends ``media``, ``mark`` and
``clear`` (drop the audio not played yet). See
https://www.twilio.com/docs/voice/media-streams/websocket-messages.
"""

from __future__ import annotations

import base64
from typing import Any, TypeAlias

import attrs
import orjson

__all__ = [
    "CallStart",
    "Connected",
    "Dtmf",
    "Mark",
    "Media",
    "PhoneMessage",
    "Stop",
    "Unknown",
    "clear_message",
    "mark_message",
    "media_message",
    "parse",
]


@attrs.frozen
class Connected:
    """The stream's first message."""


@attrs.frozen(kw_only=True)
class CallStart:
    """The stream started: who is calling, and the TwiML's custom parameters."""

    stream_sid: str
    call_sid: str
    custom_parameters: dict[str, str] = attrs.field(factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000


@attrs.frozen(kw_only=True)
class Media:
    """Caller audio: G.711 μ-law at 8 kHz, the bytes Twilio sent (base64-decoded)."""

    audio: bytes
    track: str = "inbound"


@attrs.frozen
class Mark:
    """A mark this server sent, echoed: the audio sent before it has been played (or cleared)."""

    name: str


@attrs.frozen
class Dtmf:
    """A key the caller pressed."""

    digit: str


@attrs.frozen
class Stop:
    """The call ended (the caller hung up, or the stream was stopped)."""


@attrs.frozen
class Unknown:
    """A message this bridge does not understand (kept, never an error)."""

    raw: object


PhoneMessage: TypeAlias = Connected | CallStart | Media | Mark | Dtmf | Stop | Unknown


def parse(message: str | bytes) -> PhoneMessage:
    """Decode one Media Streams message; anything malformed becomes :class:`Unknown`."""
    try:
        return _parse(orjson.loads(message))
    except (KeyError, TypeError, ValueError, AttributeError):  # bad JSON and base64 are ValueErrors
        return Unknown(message)


def _parse(data: dict[str, Any]) -> PhoneMessage:
    match data.get("event"):
        case "media":
            media = data["media"]
            audio = base64.b64decode(media["payload"], validate=True)
            return Media(audio=audio, track=str(media.get("track", "inbound")))
        case "mark":
            return Mark(str(data["mark"]["name"]))
        case "connected":
            return Connected()
        case "start":
            start = data["start"]
            media_format = start.get("mediaFormat") or {}
            return CallStart(
                stream_sid=str(data.get("streamSid") or start["streamSid"]),
                call_sid=str(start["callSid"]),
                custom_parameters={
                    str(k): str(v) for k, v in (start.get("customParameters") or {}).items()
                },
                encoding=str(media_format.get("encoding", "audio/x-mulaw")),
                sample_rate=int(media_format.get("sampleRate", 8000)),
            )
        case "dtmf":
            return Dtmf(str(data["dtmf"]["digit"]))
        case "stop":
            return Stop()
    return Unknown(data)


def media_message(stream_sid: str, payload: str) -> str:
    """Audio for the caller: ``payload`` is base64 G.711 μ-law at 8 kHz."""
    return _dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_message(stream_sid: str, name: str) -> str:
    """A mark after the audio sent so far: Twilio echoes it once that audio has played."""
    return _dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """Drop the audio sent but not played yet (the caller started talking)."""
    return _dumps({"event": "clear", "streamSid": stream_sid})


def _dumps(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()
