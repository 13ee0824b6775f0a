from __future__ import annotations

import itertools
import math
import sys
import time
from array import array

import pytest

from trealtime.testing._protocol._speech import silence, synthesize_speech


def _samples(pcm: bytes) -> array[int]:
    samples = array("h", pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _rms(samples: array[int]) -> float:
    return math.sqrt(sum(x * x for x in samples) / len(samples)) / 32768


def _frame_rms(pcm: bytes, frame_ms: int = 10, sample_rate: int = 24000) -> list[float]:
    samples = _samples(pcm)
    n = frame_ms * sample_rate // 1000
    return [_rms(samples[i : i + n]) for i in range(0, len(samples) - n + 1, n)]


@pytest.mark.parametrize(
    ("duration_ms", "sample_rate"), [(0, 24000), (1, 24000), (1000, 24000), (333, 16000), (7, 8000)]
)
def test_exact_length(duration_ms: int, sample_rate: int) -> None:
    expected = 2 * (duration_ms * sample_rate // 1000)
    assert len(synthesize_speech(duration_ms, sample_rate=sample_rate)) == expected
    assert len(silence(duration_ms, sample_rate=sample_rate)) == expected


def test_silence_is_zero() -> None:
    assert silence(20) == bytes(960)


def test_deterministic() -> None:
    assert synthesize_speech(1500, seed=7) == synthesize_speech(1500, seed=7)


def test_different_seeds_differ() -> None:
    clips = {synthesize_speech(1000, seed=seed) for seed in range(5)}
    assert len(clips) == 5


def test_level_is_sensible() -> None:
    samples = _samples(synthesize_speech(3000))
    assert 0.03 < _rms(samples) < 0.2
    assert max(abs(x) for x in samples) <= 0.3 * 32767 + 1


def test_amplitude_scales_level() -> None:
    loud = _rms(_samples(synthesize_speech(2000, amplitude=0.6)))
    quiet = _rms(_samples(synthesize_speech(2000, amplitude=0.15)))
    assert loud == pytest.approx(4 * quiet, rel=0.01)


@pytest.mark.parametrize("seed", range(4))
def test_speech_like_energy_pattern(seed: int) -> None:
    frames = _frame_rms(synthesize_speech(5000, seed=seed))
    voiced = [f > 0.03 for f in frames]
    # Starts and ends with a syllable.
    assert voiced[1]
    assert any(voiced[-4:])
    runs: list[tuple[bool, int]] = []
    for v in voiced:
        if runs and runs[-1][0] == v:
            runs[-1] = (v, runs[-1][1] + 1)
        else:
            runs.append((v, 1))
    gaps = [n for v, n in runs[1:-1] if not v]
    syllables = [n for v, n in runs if v]
    assert len(syllables) >= 15  # ~4-7 syllables a second
    assert max(gaps) < 15  # quiet stretches stay under 150 ms
    assert max(syllables) <= 25


def test_voiced_pitch_is_in_speech_range() -> None:
    # Count zero crossings in the middle of the first syllable: the tone is dominated by
    # low harmonics of a 110-220 Hz fundamental, so crossings stay well below 2 kHz.
    samples = _samples(synthesize_speech(1000, seed=3))[1200:3600]
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    assert 2 * 100 * 0.1 <= crossings <= 2 * 2000 * 0.1


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="duration_ms"):
        synthesize_speech(-1)
    with pytest.raises(ValueError, match="amplitude"):
        synthesize_speech(10, amplitude=0.0)
    with pytest.raises(ValueError, match="sample_rate"):
        silence(10, sample_rate=0)


def test_fast_enough() -> None:
    start = time.perf_counter()
    synthesize_speech(10_000)
    assert time.perf_counter() - start < 2.0
