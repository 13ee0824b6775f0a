"""Deterministic synthesis of speech-like PCM16 audio (there is no TTS in the test environment).

The output is not intelligible, but it has the energy pattern of speech: voiced syllables of
120-250 ms (a harmonic tone at 110-220 Hz with a vowel-like spectrum and a pitch glide) under a
smooth envelope, separated by gaps shorter than 150 ms, so a voice activity detector sees one
continuous utterance.
"""

from __future__ import annotations

import math
import random
import sys
from array import array

__all__ = ["silence", "synthesize_speech"]

_TABLE_SIZE = 1024  # one period of the voiced waveform; a power of two for cheap wrapping
_HARMONICS = 8
_MIN_SYLLABLE_MS = 120
_MAX_SYLLABLE_MS = 250
_MIN_GAP_MS = 30
_MAX_GAP_MS = 120
_SINE = [math.sin(2.0 * math.pi * j / _TABLE_SIZE) for j in range(_TABLE_SIZE)]


def silence(duration_ms: int, *, sample_rate: int = 24000) -> bytes:
    """Return ``duration_ms`` of digital silence as PCM16 little-endian mono."""
    return bytes(2 * _sample_count(duration_ms, sample_rate))


def synthesize_speech(
    duration_ms: int, *, sample_rate: int = 24000, seed: int = 0, amplitude: float = 0.3
) -> bytes:
    """Return ``duration_ms`` of speech-like PCM16 little-endian mono audio.

    The result has exactly ``duration_ms * sample_rate // 1000`` samples, starts with a syllable
    and ends at the end of one, and depends only on the arguments. ``amplitude`` is the peak
    level as a fraction of full scale.
    """
    n = _sample_count(duration_ms, sample_rate)
    if not 0.0 < amplitude <= 1.0:
        raise ValueError(f"amplitude must be in (0, 1], got {amplitude}")
    rng = random.Random(seed)
    base_f0 = rng.uniform(110.0, 220.0)
    out = [0.0] * n
    for start_ms, length_ms in _plan_syllables(duration_ms, rng):
        start = start_ms * sample_rate // 1000
        stop = min(n, (start_ms + length_ms) * sample_rate // 1000)
        if stop > start:
            _render_syllable(out, start, stop, sample_rate, base_f0, rng)
    # Syllables never overlap and each peaks at <= 1.0, so no clamping is needed.
    pcm = array("h", map(round, map((amplitude * 32767.0).__mul__, out)))
    if sys.byteorder == "big":
        pcm.byteswap()
    return pcm.tobytes()


def _sample_count(duration_ms: int, sample_rate: int) -> int:
    if duration_ms < 0:
        raise ValueError(f"duration_ms must not be negative, got {duration_ms}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    return duration_ms * sample_rate // 1000


def _plan_syllables(duration_ms: int, rng: random.Random) -> list[tuple[int, int]]:
    """Lay out (start_ms, length_ms) syllables so that the last one ends at ``duration_ms``."""
    plan: list[tuple[int, int]] = []
    pos = 0
    while pos < duration_ms:
        remaining = duration_ms - pos
        if remaining <= _MAX_SYLLABLE_MS:
            plan.append((pos, remaining))
            break
        gap = rng.randint(_MIN_GAP_MS, _MAX_GAP_MS)
        if remaining < _MAX_SYLLABLE_MS + gap + _MIN_SYLLABLE_MS:
            # Not enough room for a full syllable and another one: split what is left in two.
            first = (remaining - gap) // 2
            plan += [(pos, first), (pos + first + gap, remaining - first - gap)]
            break
        length = rng.randint(_MIN_SYLLABLE_MS, _MAX_SYLLABLE_MS)
        plan.append((pos, length))
        pos += length + gap
    return plan


def _render_syllable(
    out: list[float], start: int, stop: int, sample_rate: int, base_f0: float, rng: random.Random
) -> None:
    """Add a voiced syllable (sometimes with a consonant-like noise burst) to out[start:stop]."""
    n = stop - start
    stress = rng.uniform(0.7, 1.0)
    f0_start = base_f0 * rng.uniform(0.9, 1.15)
    f0_end = f0_start * rng.uniform(0.8, 1.1)
    table = _vowel_table((f0_start + f0_end) / 2, rng.uniform(300.0, 800.0), rng)
    attack = min(n // 2, rng.randint(15, 30) * sample_rate // 1000)
    release = min(n - attack, rng.randint(20, 50) * sample_rate // 1000)
    env = _envelope(n, attack, release, stress)

    mask = _TABLE_SIZE - 1
    step = f0_start * _TABLE_SIZE / sample_rate
    step_delta = (f0_end - f0_start) * _TABLE_SIZE / sample_rate / n
    phase = rng.uniform(0.0, _TABLE_SIZE)
    for i in range(n):
        out[start + i] += table[int(phase) & mask] * env[i]
        phase += step
        step += step_delta

    if rng.random() < 0.4:
        burst = min(n, rng.randint(15, 40) * sample_rate // 1000)
        level = 0.15 * stress
        for i in range(burst):
            fade = 1.0 - i / burst
            out[start + i] += rng.uniform(-level, level) * fade


def _vowel_table(f0: float, formant: float, rng: random.Random) -> list[float]:
    """One period of a harmonic tone whose spectrum peaks near ``formant`` Hz, peak 0.85."""
    second_formant = rng.uniform(900.0, 2200.0)
    weights = [
        (1.0 + 2.0 * math.exp(-(((k * f0 - formant) / 150.0) ** 2)))
        * (1.0 + math.exp(-(((k * f0 - second_formant) / 250.0) ** 2)))
        / k
        for k in range(1, _HARMONICS + 1)
    ]
    mask = _TABLE_SIZE - 1
    table = [0.0] * _TABLE_SIZE
    for k, w in enumerate(weights, start=1):
        table = [t + w * _SINE[(k * j) & mask] for j, t in enumerate(table)]
    peak = max(abs(x) for x in table)
    # Leave headroom for the consonant burst that may overlap the attack.
    return [0.85 * x / peak for x in table]


def _envelope(n: int, attack: int, release: int, stress: float) -> list[float]:
    """Raised-cosine attack and release around a slowly decaying sustain."""
    env = [stress * (1.0 - 0.3 * i / n) for i in range(n)]
    for i in range(attack):
        env[i] *= 0.5 - 0.5 * math.cos(math.pi * i / attack)
    for i in range(release):
        env[n - 1 - i] *= 0.5 - 0.5 * math.cos(math.pi * i / release)
    return env
