from __future__ import annotations

import itertools
import sys

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trealtime import ConfigurationError
from trealtime._agent._resample import StreamResampler

SOURCE_RATES = [8000, 16000, 22050, 44100, 48000]
# soxr dithers int16 output (TPDF, +-1 LSB), so equal input may differ by this much between runs.
DITHER = 2


def sine(freq: float, rate: int, seconds: float, amplitude: int = 12000) -> bytes:
    t = np.arange(round(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude).astype("<i2").tobytes()


def samples(pcm: bytes) -> npt.NDArray[np.int64]:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int64)


def pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of the given sizes, cycling through them."""
    out: list[bytes] = []
    cycle = itertools.cycle(sizes or [len(data)])
    start = 0
    while start < len(data):
        size = next(cycle)
        out.append(data[start : start + size])
        start += size
    return out


def resample_all(resampler: StreamResampler, parts: list[bytes]) -> bytes:
    return b"".join(resampler.process(p) for p in parts) + resampler.flush()


def test_identity_passes_input_through_without_soxr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "soxr", None)
    resampler = StreamResampler(24000)
    assert resampler.is_identity
    odd = b"\x01\x02\x03"
    assert resampler.process(odd) is odd
    assert resampler.flush() == b""


def test_missing_soxr_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "soxr", None)
    with pytest.raises(ConfigurationError, match=r"16000 Hz .* 24000 Hz .*trealtime\[resample\]"):
        StreamResampler(16000)


@pytest.mark.parametrize("rate", [0, -8000, True, 16000.0])
def test_rejects_bad_rates(rate: int) -> None:
    with pytest.raises(ConfigurationError, match="from_rate"):
        StreamResampler(rate)
    with pytest.raises(ConfigurationError, match="to_rate"):
        StreamResampler(16000, rate)


@pytest.mark.parametrize("rate", SOURCE_RATES)
def test_output_duration_matches_input(rate: int) -> None:
    pcm = sine(440, rate, 0.5)
    frame = 2 * rate // 50  # 20 ms frames, as a transport delivers them
    out = resample_all(
        StreamResampler(rate), [pcm[i : i + frame] for i in range(0, len(pcm), frame)]
    )
    assert abs(len(out) // 2 - 12000) <= 24 * 2  # within 2 ms of 0.5 s at 24 kHz


@pytest.mark.parametrize(("from_rate", "to_rate"), [(16000, 24000), (24000, 8000), (48000, 16000)])
def test_sine_keeps_its_frequency(from_rate: int, to_rate: int) -> None:
    out = samples(resample_all(StreamResampler(from_rate, to_rate), [sine(1000, from_rate, 0.5)]))
    spectrum = np.abs(np.fft.rfft(out))
    peak_hz = np.argmax(spectrum) * to_rate / len(out)
    assert abs(peak_hz - 1000) < 5
    # The energy is all near 1 kHz: no aliases or imaging products elsewhere.
    freqs = np.fft.rfftfreq(len(out), 1 / to_rate)
    assert spectrum[np.abs(freqs - 1000) > 50].max() < 0.01 * spectrum.max()


@settings(max_examples=40, deadline=None)
@given(
    rate=st.sampled_from(SOURCE_RATES),
    sizes=st.lists(st.integers(min_value=1, max_value=1500), max_size=10),
)
def test_any_chunking_gives_the_same_audio(rate: int, sizes: list[int]) -> None:
    # Pieces have odd sizes too: a half sample must be carried, never dropped or
    # misaligned (which would turn the output into noise, far beyond the dither).
    pcm = sine(440, rate, 0.2)
    whole = samples(resample_all(StreamResampler(rate), [pcm]))
    chunked = samples(resample_all(StreamResampler(rate), pieces(pcm, sizes)))
    assert len(chunked) == len(whole)
    assert np.abs(chunked - whole).max() <= DITHER


def test_half_sample_is_carried_to_the_next_call() -> None:
    resampler = StreamResampler(16000)
    pcm = sine(440, 16000, 0.1)
    assert resampler.process(pcm[:1]) == b""
    assert resampler.process(pcm[1:3]) == b""  # one whole sample, still in the filter
    rest = resampler.process(pcm[3:]) + resampler.flush()
    assert len(rest) == 2 * 2400


def test_flush_starts_a_fresh_stream() -> None:
    pcm = sine(440, 16000, 0.1)
    resampler = StreamResampler(16000)
    first = samples(resample_all(resampler, [pcm + b"\x07"]))  # the dangling byte is discarded
    again = samples(resample_all(resampler, [pcm]))
    fresh = samples(resample_all(StreamResampler(16000), [pcm]))
    assert len(first) == len(again) == len(fresh) == 2400
    assert np.abs(again - fresh).max() <= DITHER
    assert np.abs(first - fresh).max() <= DITHER


def test_reset_discards_pending_audio() -> None:
    resampler = StreamResampler(8000)
    resampler.process(sine(440, 8000, 0.05) + b"\x01")
    resampler.reset()
    assert resampler.flush() == b""
