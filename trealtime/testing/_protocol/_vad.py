"""A sans-IO, energy-based emulation of the Realtime API's server VAD (``server_vad``).

There is no clock: time is the amount of audio fed, so results are exactly reproducible. Only
PCM16 little-endian mono is understood; G.711 audio must be decoded before it is fed.

Audio is cut into 10 ms frames. A frame is *speech* when its RMS level exceeds

    ``threshold_dbfs = -60 + 40 * threshold``  (dBFS, full scale = 32768)

so ``threshold`` 0.0 -> -60 dBFS, 0.5 (the default) -> -40 dBFS, 0.8 -> -28 dBFS and
1.0 -> -20 dBFS; as in the real API, a higher threshold means less sensitive. Speech starts after
three consecutive speech frames (30 ms, so clicks are ignored) and stops after
``silence_duration_ms`` without a speech frame.
"""

from __future__ import annotations

import math
import operator
import sys
from array import array
from typing import TypeAlias

import attrs

__all__ = ["EnergyVad", "SpeechStarted", "SpeechStopped", "VadEvent", "threshold_to_rms"]

FRAME_MS = 10
START_FRAMES = 3  # consecutive speech frames needed to start; debounces clicks


@attrs.frozen
class SpeechStarted:
    """Speech began; ``audio_start_ms`` includes the prefix padding (session-relative)."""

    audio_start_ms: int


@attrs.frozen
class SpeechStopped:
    """Speech ended; ``audio_end_ms`` is where the silence window elapsed (session-relative)."""

    audio_end_ms: int


VadEvent: TypeAlias = SpeechStarted | SpeechStopped


def threshold_to_rms(threshold: float) -> float:
    """Return the frame RMS (as a fraction of full scale) above which a frame counts as speech."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    return math.pow(10.0, (-60.0 + 40.0 * threshold) / 20.0)


class EnergyVad:
    """Turn a stream of PCM16 audio into :class:`SpeechStarted` / :class:`SpeechStopped` events.

    Offsets are milliseconds from the first byte ever fed and keep counting across
    :meth:`reset`. ``audio_start_ms`` is the onset minus ``prefix_padding_ms``, clamped so it
    never reaches before the start of the session or the last reset. Events do not depend on how
    the audio is split between :meth:`feed` calls.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 200,
        bytes_per_ms: int = 48,
    ) -> None:
        if prefix_padding_ms < 0:
            raise ValueError(f"prefix_padding_ms must not be negative, got {prefix_padding_ms}")
        if silence_duration_ms <= 0:
            raise ValueError(f"silence_duration_ms must be positive, got {silence_duration_ms}")
        if bytes_per_ms <= 0 or bytes_per_ms % 2:
            raise ValueError(f"bytes_per_ms must be positive and even, got {bytes_per_ms}")
        self._prefix_padding_ms = prefix_padding_ms
        self._bytes_per_ms = bytes_per_ms
        self._frame_bytes = FRAME_MS * bytes_per_ms
        samples = self._frame_bytes // 2
        # Compare sums of squares to avoid a square root per frame.
        self._energy_threshold = (threshold_to_rms(threshold) * 32768.0) ** 2 * samples
        self._silence_frames = math.ceil(silence_duration_ms / FRAME_MS)
        self._total_bytes = 0
        self._pending = bytearray()
        self._floor_ms = 0  # audio before the last reset is gone; padding cannot reach it
        self._speaking = False
        self._run = 0  # consecutive speech frames (idle) or silence frames (speaking)
        self._run_start_ms = 0

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio fed so far, including audio fed before any reset."""
        return self._total_bytes // self._bytes_per_ms

    @property
    def speaking(self) -> bool:
        """True between a :class:`SpeechStarted` and the following :class:`SpeechStopped`."""
        return self._speaking

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Consume PCM16 little-endian mono audio and return the events it completes."""
        self._total_bytes += len(pcm)
        self._pending += pcm
        frame_bytes = self._frame_bytes
        # The pending buffer always starts on a frame boundary of the current time base.
        frame_start = self._total_bytes - len(self._pending)
        events: list[VadEvent] = []
        offset = 0
        while len(self._pending) - offset >= frame_bytes:
            frame = self._pending[offset : offset + frame_bytes]
            event = self._on_frame(frame_start // self._bytes_per_ms, self._is_speech(frame))
            if event is not None:
                events.append(event)
            offset += frame_bytes
            frame_start += frame_bytes
        del self._pending[:offset]
        return events

    def reset(self) -> None:
        """Forget in-progress speech and buffered partial frames; the time base carries on."""
        self._pending.clear()
        self._floor_ms = self.position_ms
        self._speaking = False
        self._run = 0

    def _is_speech(self, frame: bytearray) -> bool:
        samples = array("h", frame)
        if sys.byteorder == "big":
            samples.byteswap()
        energy: int = sum(map(operator.mul, samples, samples))
        return energy > self._energy_threshold

    def _on_frame(self, start_ms: int, speech: bool) -> VadEvent | None:
        if not self._speaking:
            if not speech:
                self._run = 0
                return None
            if self._run == 0:
                self._run_start_ms = start_ms
            self._run += 1
            if self._run < START_FRAMES:
                return None
            self._speaking = True
            self._run = 0
            return SpeechStarted(
                audio_start_ms=max(self._floor_ms, self._run_start_ms - self._prefix_padding_ms)
            )
        if speech:
            self._run = 0
            return None
        self._run += 1
        if self._run < self._silence_frames:
            return None
        self._speaking = False
        self._run = 0
        return SpeechStopped(audio_end_ms=start_ms + FRAME_MS)
