"""The input side of audio: resampling, re-chunking, pausing, the commit guard and the pre-roll.

Sans-IO: :class:`AudioInputPipeline` turns the caller's audio into the payloads of
``input_audio_buffer.append`` events and tracks what the server's input buffer holds; the session
sends them. A typical manual-turn (push-to-talk) flow::

    for chunk in pipeline.feed(mic_audio, sample_rate=16000):
        send(append(chunk))
    ...                                   # the user releases the button
    if tail := pipeline.flush():
        send(append(tail))
    if pipeline.can_commit():
        send(commit()); pipeline.on_commit()
    ...                                   # the user interrupts the assistant
    send(clear()); pipeline.on_clear()
    if preroll := pipeline.replay_preroll():
        send(append(preroll))
"""

from __future__ import annotations

import attrs

from .._errors import ConfigurationError
from .._wire._session_models import AUDIO_BYTES_PER_MS
from ._resample import StreamResampler

__all__ = ["MIN_COMMIT_MS", "AudioInputPipeline", "AudioInputStatistics"]

MIN_COMMIT_MS = 100
"""The least audio the server accepts in ``input_audio_buffer.commit``."""
MIN_PCM_RATE, MAX_PCM_RATE = 8000, 48000  # the sample rates PCM16 input is resampled from

_PCM_RATE = 24000
_G711_RATE = 8000


@attrs.frozen(kw_only=True)
class AudioInputStatistics:
    """Counters of an :class:`AudioInputPipeline`, for monitoring."""

    bytes_in: int
    """Bytes given to ``feed()``, paused or not."""
    bytes_out: int
    """Bytes returned by ``feed()`` and ``flush()``, in the session's format."""
    chunks_out: int
    """Payloads returned by ``feed()`` and ``flush()``."""
    dropped_bytes: int
    """Bytes given to ``feed()`` while paused."""
    discarded_bytes: int
    """Session-format bytes buffered but never returned: thrown away by a pause or a rate switch."""
    resampled_bytes: int
    """Bytes given to ``feed()`` that went through a resampler."""


class AudioInputPipeline:
    """Turn the caller's audio into ``input_audio_buffer.append`` payloads of ``chunk_ms`` each.

    ``input_format`` is the session's ``audio.input.format`` type: ``audio/pcm`` (PCM16 LE mono,
    24 kHz) or G.711 ``audio/pcmu`` / ``audio/pcma`` (8 kHz, passed through untouched). The
    pre-roll (the last ``preroll_ms`` of appended audio) is kept only with ``manual_turns``,
    that is, when turn detection is disabled.
    """

    def __init__(
        self,
        input_format: str = "audio/pcm",
        *,
        chunk_ms: int = 100,
        preroll_ms: int = 500,
        start_paused: bool = False,
        manual_turns: bool = False,
    ) -> None:
        if input_format not in AUDIO_BYTES_PER_MS:
            raise ConfigurationError(
                f"input_format must be one of {', '.join(AUDIO_BYTES_PER_MS)}, got {input_format!r}"
            )
        _check_ms("chunk_ms", chunk_ms, minimum=1)
        _check_ms("preroll_ms", preroll_ms, minimum=0)
        self._format = input_format
        self._bytes_per_ms = AUDIO_BYTES_PER_MS[input_format]
        self._is_pcm = input_format == "audio/pcm"
        self._chunk_bytes = chunk_ms * self._bytes_per_ms
        self._chunk_ms = chunk_ms
        self._preroll_ms = preroll_ms
        self._paused = start_paused
        self._manual_turns = manual_turns
        self._buffer = bytearray()
        self._preroll = bytearray()
        self._uncommitted = 0
        self._source_rate = _PCM_RATE if self._is_pcm else _G711_RATE
        self._resampler: StreamResampler | None = None
        self._bytes_in = self._bytes_out = self._chunks_out = 0
        self._dropped = self._discarded = self._resampled = 0

    @property
    def input_format(self) -> str:
        """The session's input audio format type."""
        return self._format

    @property
    def chunk_ms(self) -> int:
        """The duration of each payload returned by :meth:`feed`."""
        return self._chunk_ms

    # -- feeding --------------------------------------------------------------------------------

    def feed(self, audio: bytes, sample_rate: int | None = None) -> list[bytes]:
        """Take the next piece of audio; return the payloads now complete, each ``chunk_ms`` long.

        ``sample_rate`` (default: the session's) may differ for PCM: the audio is then resampled
        to 24 kHz, and switching rates drains the previous resampler first. G.711 accepts only
        8000. The remainder stays buffered for the next call or :meth:`flush`. While paused,
        the audio is dropped.
        """
        if not isinstance(audio, bytes | bytearray | memoryview):
            raise TypeError(
                f"audio must be bytes ({self._format}: PCM16 mono little-endian, or G.711),"
                f" not {type(audio).__name__}"
            )
        rate = self._check_rate(sample_rate)
        self._bytes_in += len(audio)
        if self._paused:
            self._dropped += len(audio)
            return []
        self._buffer += self._convert(audio, rate)
        size = self._chunk_bytes
        whole = len(self._buffer) - len(self._buffer) % size
        chunks = [bytes(self._buffer[i : i + size]) for i in range(0, whole, size)]
        del self._buffer[:whole]
        for chunk in chunks:
            self._emit(chunk)
        return chunks

    def flush(self) -> bytes:
        """Return everything buffered (shorter than a chunk), e.g. to append it before a commit.

        A resampler is drained too, so the last milliseconds reach the commit. With PCM, a
        trailing half sample stays buffered for the next :meth:`feed`.
        """
        if self._resampler is not None:
            self._buffer += self._resampler.flush()
        end = len(self._buffer) - len(self._buffer) % 2 if self._is_pcm else len(self._buffer)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        if data:
            self._emit(data)
        return data

    def _check_rate(self, sample_rate: int | None) -> int:
        if sample_rate is None:
            return _PCM_RATE if self._is_pcm else _G711_RATE
        if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise ConfigurationError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if self._is_pcm and not MIN_PCM_RATE <= sample_rate <= MAX_PCM_RATE:
            raise ConfigurationError(
                f"sample_rate must be {MIN_PCM_RATE} to {MAX_PCM_RATE} Hz for PCM16 input,"
                f" got {sample_rate}"
            )
        if not self._is_pcm and sample_rate != _G711_RATE:
            raise ConfigurationError(
                f"{self._format} input is 8000 Hz G.711, not {sample_rate} Hz; G.711 is passed"
                " through untouched, never resampled"
            )
        return sample_rate

    def _convert(self, audio: bytes, rate: int) -> bytes:
        if rate != self._source_rate:
            resampler = None if rate == _PCM_RATE else StreamResampler(rate, _PCM_RATE)
            if self._resampler is not None:
                self._buffer += self._resampler.flush()
            if len(self._buffer) % 2:
                # Half a sample of the old source: new audio cannot complete it.
                del self._buffer[-1]
                self._discarded += 1
            self._resampler, self._source_rate = resampler, rate
        if self._resampler is None:
            return audio
        self._resampled += len(audio)
        return self._resampler.process(audio)

    def _emit(self, data: bytes) -> None:
        self._bytes_out += len(data)
        self._chunks_out += 1
        self._uncommitted += len(data)
        if self._manual_turns and self._preroll_ms:
            self._preroll += data
            self._trim_preroll()

    # -- pausing --------------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """Whether input is paused (fed audio is dropped)."""
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Pause or resume input.

        Pausing discards the partial chunk, the resampler's state and the pre-roll, so that audio
        from before the pause is never sent after it.
        """
        if paused and not self._paused:
            self._discarded += len(self._buffer)
            self._buffer.clear()
            self._preroll.clear()
            if self._resampler is not None:
                self._resampler.reset()
        self._paused = paused

    # -- the server's input buffer --------------------------------------------------------------

    @property
    def buffered_ms(self) -> float:
        """Milliseconds of audio handed out for appending since the last commit or clear."""
        return self._uncommitted / self._bytes_per_ms

    @property
    def half_sample_pending(self) -> bool:
        """Whether a PCM16 sample's first byte waits for its second (an odd byte count so far)."""
        return self._is_pcm and len(self._buffer) % 2 == 1

    def discard_buffered(self) -> None:
        """Drop what waits for a whole chunk (the input buffer is being cleared)."""
        self._discarded += len(self._buffer)
        del self._buffer[:]

    def can_commit(self) -> bool:
        """Whether the server's buffer holds the :data:`MIN_COMMIT_MS` a commit needs."""
        return self._uncommitted >= MIN_COMMIT_MS * self._bytes_per_ms

    def on_commit(self) -> None:
        """Record that the input buffer was committed (it is empty again)."""
        self._uncommitted = 0

    def on_clear(self) -> None:
        """Record that the input buffer was cleared."""
        self._uncommitted = 0

    # -- pre-roll -------------------------------------------------------------------------------

    @property
    def manual_turns(self) -> bool:
        """Whether turn detection is off, so the pre-roll is kept."""
        return self._manual_turns

    def set_manual_turns(self, manual: bool) -> None:
        """Follow a change of turn detection; leaving manual mode empties the pre-roll."""
        self._manual_turns = manual
        if not manual:
            self._preroll.clear()

    @property
    def preroll_ms(self) -> int:
        """How much recently appended audio the pre-roll keeps."""
        return self._preroll_ms

    def set_preroll_ms(self, preroll_ms: int) -> None:
        """Resize the pre-roll (pipecat sizes it to the VAD's ``start_secs`` + 0.3 s)."""
        _check_ms("preroll_ms", preroll_ms, minimum=0)
        self._preroll_ms = preroll_ms
        self._trim_preroll()

    def preroll(self) -> bytes:
        """The last ``preroll_ms`` of appended audio (empty unless in manual turn mode)."""
        return bytes(self._preroll)

    def replay_preroll(self) -> bytes:
        """The pre-roll, to append as one event after an interruption cleared the input buffer.

        It is counted as buffered audio and stays in the pre-roll, as in pipecat.
        """
        data = bytes(self._preroll)
        self._uncommitted += len(data)
        return data

    def _trim_preroll(self) -> None:
        excess = len(self._preroll) - self._preroll_ms * self._bytes_per_ms
        if excess > 0:
            del self._preroll[:excess]

    def statistics(self) -> AudioInputStatistics:
        """A snapshot of the counters."""
        return AudioInputStatistics(
            bytes_in=self._bytes_in,
            bytes_out=self._bytes_out,
            chunks_out=self._chunks_out,
            dropped_bytes=self._dropped,
            discarded_bytes=self._discarded,
            resampled_bytes=self._resampled,
        )


def _check_ms(name: str, value: int, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
