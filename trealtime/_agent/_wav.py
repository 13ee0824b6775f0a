"""Reading and writing 16-bit PCM WAV files (the Realtime API's ``pcm16`` format on disk)."""

from __future__ import annotations

import os
import sys
import wave
from array import array

import attrs

__all__ = ["WavAudio", "read_wav", "write_wav"]


@attrs.frozen
class WavAudio:
    """Decoded WAV audio: mono PCM16 little-endian samples and their rate in Hz."""

    pcm: bytes
    sample_rate: int


def read_wav(path: str | os.PathLike[str]) -> WavAudio:
    """Read a 16-bit PCM WAV file, down-mixing multi-channel audio to mono by averaging.

    Raises :class:`ValueError` for compressed or non-16-bit files.
    """
    try:
        with wave.open(os.fspath(path), "rb") as reader:
            width = reader.getsampwidth()
            channels = reader.getnchannels()
            rate = reader.getframerate()
            if width != 2:
                raise ValueError(
                    f"{os.fspath(path)!r}: {8 * width}-bit samples; only 16-bit PCM is supported"
                )
            data = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        # wave.Error covers compressed / WAVE_FORMAT_EXTENSIBLE files ("unknown format").
        raise ValueError(f"{os.fspath(path)!r} is not a 16-bit PCM WAV file: {exc}") from exc
    if channels == 1:
        return WavAudio(pcm=data, sample_rate=rate)
    samples = array("h")
    samples.frombytes(data[: len(data) - len(data) % (2 * channels)])
    if sys.byteorder == "big":
        samples.byteswap()
    return WavAudio(pcm=_to_le_bytes(_downmix(samples, channels)), sample_rate=rate)


def write_wav(path: str | os.PathLike[str], pcm: bytes, sample_rate: int = 24000) -> None:
    """Write mono PCM16 little-endian ``pcm`` as a 16-bit WAV file."""
    if len(pcm) % 2:
        raise ValueError(f"PCM16 data must have an even number of bytes, got {len(pcm)}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    with wave.open(os.fspath(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm)


def _downmix(samples: array[int], channels: int) -> array[int]:
    totals = [0] * (len(samples) // channels)
    for channel in range(channels):
        totals = [t + s for t, s in zip(totals, samples[channel::channels], strict=True)]
    # Floor division keeps integer math; the mean of int16 values is already in range, the
    # clamp is only a guard.
    return array("h", [min(32767, max(-32768, t // channels)) for t in totals])


def _to_le_bytes(samples: array[int]) -> bytes:
    if sys.byteorder == "big":
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()
