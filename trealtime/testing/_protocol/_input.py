"""The input audio buffer and the server-VAD emulation (sans-IO).

Time is the amount of audio appended: milliseconds count from the first byte of the session
and keep counting across commits and clears, as ``audio_start_ms``/``audio_end_ms`` do in the
real API. VAD runs :class:`EnergyVad` on the audio (G.711 is decoded first). ``semantic_vad`` is
emulated the same way, with a silence window chosen by ``eagerness``.
"""

from __future__ import annotations

from typing import TypeVar

import attrs

from ..._wire._notgiven import NotGiven
from ...events import SemanticVad, ServerVad, TurnDetection
from ._audio import G711_FORMATS, bytes_per_ms, decode_g711
from ._errors import ClientError
from ._vad import EnergyVad, SpeechStarted, SpeechStopped, VadEvent

__all__ = ["InputBuffer", "MIN_COMMIT_MS"]

MIN_COMMIT_MS = 100
T = TypeVar("T")
_EAGERNESS_SILENCE_MS = {"low": 1000, "medium": 500, "auto": 500, "high": 250}


class InputBuffer:
    """Audio appended since the last commit, and the VAD watching it."""

    def __init__(self, format_type: str = "audio/pcm") -> None:
        self._format = format_type
        self._buffer = bytearray()
        self._start = 0  # session byte offset of _buffer[0]
        self._vad: EnergyVad | None = None
        self._vad_config: object = None
        self._vad_origin_ms = 0

    @property
    def bytes_per_ms(self) -> int:
        """Bytes per millisecond in the current input format."""
        return bytes_per_ms(self._format)

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio appended in the whole session."""
        return (self._start + len(self._buffer)) // self.bytes_per_ms

    @property
    def speaking(self) -> bool:
        """Whether VAD is between speech start and stop."""
        return self._vad is not None and self._vad.speaking

    def configure(self, format_type: str, turn_detection: TurnDetection | None) -> None:
        """Follow the session's input format and turn detection (VAD restarts on a change)."""
        if format_type != self._format:
            self._start += len(self._buffer)
            self._buffer.clear()
            self._format = format_type
            self._vad_config = None
        config = attrs.asdict(turn_detection) if turn_detection is not None else None
        if config == self._vad_config and self._vad is not None:
            return
        self._vad_config = config
        self._vad_origin_ms = self.position_ms
        self._vad = self._make_vad(turn_detection)

    def _make_vad(self, turn_detection: TurnDetection | None) -> EnergyVad | None:
        factor = 2 if self._format in G711_FORMATS else 1  # G.711 is fed decoded, as PCM16
        per_ms = self.bytes_per_ms * factor
        if isinstance(turn_detection, ServerVad):
            return EnergyVad(
                threshold=_given(turn_detection.threshold, 0.5),
                prefix_padding_ms=_given(turn_detection.prefix_padding_ms, 300),
                silence_duration_ms=_given(turn_detection.silence_duration_ms, 200),
                bytes_per_ms=per_ms,
            )
        if isinstance(turn_detection, SemanticVad):
            eagerness = _given(turn_detection.eagerness, "auto")
            return EnergyVad(
                silence_duration_ms=_EAGERNESS_SILENCE_MS.get(eagerness, 500),
                bytes_per_ms=per_ms,
            )
        return None

    def append(self, audio: bytes) -> list[VadEvent]:
        """Buffer audio; return the VAD events it completes, in session time."""
        self._buffer += audio
        if self._vad is None:
            return []
        pcm = decode_g711(audio, self._format) if self._format in G711_FORMATS else audio
        events = self._vad.feed(pcm)
        return [_shift(event, self._vad_origin_ms) for event in events]

    def commit(self) -> bytes:
        """Take everything buffered; at least 100 ms, else ``input_audio_buffer_commit_empty``."""
        buffered_ms = len(self._buffer) / self.bytes_per_ms
        if buffered_ms < MIN_COMMIT_MS:
            raise ClientError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        return self._take(len(self._buffer))

    def commit_speech(self, start_ms: int, end_ms: int) -> bytes:
        """Take the audio between two session offsets (a VAD turn), dropping what came before."""
        first = max(0, start_ms * self.bytes_per_ms - self._start)
        self._take(min(first, len(self._buffer)))
        return self._take(max(0, end_ms * self.bytes_per_ms - self._start))

    def clear(self) -> None:
        """Drop the buffered audio and any speech in progress."""
        self._take(len(self._buffer))
        self.clear_speech()

    def clear_speech(self) -> None:
        """Forget any speech in progress (it will not be reported as stopped)."""
        if self._vad is not None:
            self._vad.reset()

    def _take(self, count: int) -> bytes:
        count = min(count, len(self._buffer))
        taken = bytes(self._buffer[:count])
        del self._buffer[:count]
        self._start += count
        return taken


def _given(value: T | NotGiven | None, default: T) -> T:
    return default if value is None or isinstance(value, NotGiven) else value


def _shift(event: VadEvent, offset_ms: int) -> VadEvent:
    if isinstance(event, SpeechStarted):
        return SpeechStarted(event.audio_start_ms + offset_ms)
    return SpeechStopped(event.audio_end_ms + offset_ms)
