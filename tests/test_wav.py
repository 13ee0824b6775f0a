from __future__ import annotations

import struct
import wave
from pathlib import Path

import pytest

from trealtime._agent._wav import WavAudio, read_wav, write_wav


def _pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def _write_raw(path: Path, frames: bytes, *, channels: int, width: int, rate: int) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(frames)


def test_round_trip(tmp_path: Path) -> None:
    pcm = _pcm(0, 1, -1, 32767, -32768, 1234, -4321)
    path = tmp_path / "a.wav"
    write_wav(path, pcm)
    assert read_wav(path) == WavAudio(pcm=pcm, sample_rate=24000)


def test_round_trip_str_path_and_rate(tmp_path: Path) -> None:
    pcm = _pcm(*range(-500, 500, 7))
    path = str(tmp_path / "b.wav")
    write_wav(path, pcm, sample_rate=16000)
    audio = read_wav(path)
    assert audio.pcm == pcm
    assert audio.sample_rate == 16000


def test_written_file_is_mono_16_bit(tmp_path: Path) -> None:
    path = tmp_path / "c.wav"
    write_wav(path, _pcm(1, 2, 3), sample_rate=8000)
    with wave.open(str(path), "rb") as reader:
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == 8000
        assert reader.getnframes() == 3


def test_empty_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    write_wav(path, b"")
    assert read_wav(path) == WavAudio(pcm=b"", sample_rate=24000)


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    frames = _pcm(100, 300, -100, -301, 32767, 32767, -32768, -32768, 32767, -32768, 1, 0)
    _write_raw(path, frames, channels=2, width=2, rate=44100)
    audio = read_wav(path)
    assert audio.sample_rate == 44100
    # Floor division: (-100 - 301) // 2 == -201, (32767 - 32768) // 2 == -1, 1 // 2 == 0.
    assert audio.pcm == _pcm(200, -201, 32767, -32768, -1, 0)


def test_three_channels_are_averaged(tmp_path: Path) -> None:
    path = tmp_path / "three.wav"
    _write_raw(path, _pcm(3, 6, 9, -3, -3, -3), channels=3, width=2, rate=24000)
    assert read_wav(path).pcm == _pcm(6, -3)


def test_8_bit_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "eight.wav"
    _write_raw(path, bytes([128, 130, 126]), channels=1, width=1, rate=8000)
    with pytest.raises(ValueError, match="8-bit"):
        read_wav(path)


def test_24_bit_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "24.wav"
    _write_raw(path, bytes(9), channels=1, width=3, rate=48000)
    with pytest.raises(ValueError, match="only 16-bit PCM"):
        read_wav(path)


def test_compressed_format_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "float.wav"
    data = struct.pack("<ff", 0.0, 0.5)
    fmt = struct.pack("<HHIIHH", 3, 1, 24000, 24000 * 4, 4, 32)  # WAVE_FORMAT_IEEE_FLOAT
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    with pytest.raises(ValueError, match="not a 16-bit PCM WAV"):
        read_wav(path)


def test_garbage_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "garbage.wav"
    path.write_bytes(b"definitely not a wav file")
    with pytest.raises(ValueError, match="not a 16-bit PCM WAV"):
        read_wav(path)


def test_write_rejects_odd_length(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        write_wav(tmp_path / "odd.wav", b"\x00\x01\x02")
