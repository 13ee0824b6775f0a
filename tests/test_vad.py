from __future__ import annotations

import itertools
import math
import random
import sys
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trealtime.testing._protocol._speech import silence, synthesize_speech
from trealtime.testing._protocol._vad import (
    EnergyVad,
    SpeechStarted,
    SpeechStopped,
    VadEvent,
    threshold_to_rms,
)


def _to_pcm(samples: list[int]) -> bytes:
    pcm = array("h", samples)
    if sys.byteorder == "big":
        pcm.byteswap()
    return pcm.tobytes()


def tone(duration_ms: int, level: float = 0.1, freq: float = 200.0) -> bytes:
    """A steady sine whose RMS is ``level`` of full scale."""
    peak = level * math.sqrt(2) * 32767
    n = duration_ms * 24
    return _to_pcm([round(peak * math.sin(2 * math.pi * freq * i / 24000)) for i in range(n)])


def noise(duration_ms: int, rms: float, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    half_width = round(rms * math.sqrt(3) * 32768)  # uniform noise: RMS = half_width / sqrt(3)
    return _to_pcm([rng.randint(-half_width, half_width) for _ in range(duration_ms * 24)])


def _events(audio: bytes, **kwargs: float) -> list[VadEvent]:
    return EnergyVad(**kwargs).feed(audio)  # type: ignore[arg-type]


def _one_utterance(events: list[VadEvent]) -> tuple[int, int]:
    assert len(events) == 2, events
    start, stop = events
    assert isinstance(start, SpeechStarted)
    assert isinstance(stop, SpeechStopped)
    return start.audio_start_ms, stop.audio_end_ms


# 500 ms silence, 1000 ms speech (onset 500, offset 1500), 600 ms silence.
SPEECH_CLIP = silence(500) + synthesize_speech(1000, seed=1) + silence(600)


def test_threshold_mapping() -> None:
    assert threshold_to_rms(0.0) == pytest.approx(0.001)
    assert threshold_to_rms(0.5) == pytest.approx(0.01)
    assert threshold_to_rms(1.0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="threshold"):
        threshold_to_rms(1.5)


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_one_utterance_timing(threshold: float) -> None:
    start, stop = _one_utterance(_events(SPEECH_CLIP, threshold=threshold))
    assert abs(start - (500 - 300)) <= 10
    assert abs(stop - (1500 + 200)) <= 20


def test_tone_timing_is_frame_exact() -> None:
    audio = silence(400) + tone(700) + silence(500)
    assert _events(audio) == [SpeechStarted(audio_start_ms=100), SpeechStopped(audio_end_ms=1300)]


def test_custom_padding_and_silence_duration() -> None:
    audio = silence(400) + tone(700) + silence(800)
    events = _events(audio, prefix_padding_ms=50, silence_duration_ms=500)
    assert events == [SpeechStarted(audio_start_ms=350), SpeechStopped(audio_end_ms=1600)]


def test_prefix_padding_is_clamped_at_zero() -> None:
    events = _events(silence(100) + tone(300) + silence(300))
    assert events == [SpeechStarted(audio_start_ms=0), SpeechStopped(audio_end_ms=600)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_synthetic_speech_is_one_utterance(seed: int, threshold: float) -> None:
    audio = silence(300) + synthesize_speech(4000, seed=seed) + silence(300)
    _one_utterance(_events(audio, threshold=threshold))


def test_silence_gives_nothing() -> None:
    vad = EnergyVad()
    assert vad.feed(silence(5000)) == []
    assert not vad.speaking


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_low_noise_gives_nothing(threshold: float) -> None:
    assert _events(noise(3000, rms=0.005), threshold=threshold) == []


def test_higher_threshold_is_less_sensitive() -> None:
    audio = silence(300) + tone(500, level=0.02) + silence(300)
    assert len(_events(audio, threshold=0.5)) == 2
    assert _events(audio, threshold=0.8) == []


def test_clicks_are_ignored() -> None:
    click = tone(20, level=0.5, freq=1000.0)  # two frames when aligned
    assert _events(silence(300) + click + silence(500)) == []


def test_stop_is_reported_when_the_silence_window_has_been_fed() -> None:
    vad = EnergyVad()
    assert vad.feed(silence(400) + tone(500)) == [SpeechStarted(audio_start_ms=100)]
    assert vad.speaking
    assert vad.feed(silence(190)) == []
    assert vad.feed(silence(10)) == [SpeechStopped(audio_end_ms=1100)]
    assert not vad.speaking


def test_gap_longer_than_silence_duration_splits() -> None:
    audio = silence(400) + tone(500) + silence(350) + tone(500) + silence(400)
    assert _events(audio) == [
        SpeechStarted(audio_start_ms=100),
        SpeechStopped(audio_end_ms=1100),
        SpeechStarted(audio_start_ms=950),
        SpeechStopped(audio_end_ms=1950),
    ]


def test_gap_shorter_than_silence_duration_does_not_split() -> None:
    audio = silence(400) + tone(500) + silence(150) + tone(500) + silence(400)
    assert _events(audio) == [SpeechStarted(audio_start_ms=100), SpeechStopped(audio_end_ms=1750)]


def test_two_synthetic_utterances() -> None:
    first = synthesize_speech(800, seed=1)
    second = synthesize_speech(800, seed=2)
    assert len(_events(silence(300) + first + silence(500) + second + silence(400))) == 4
    assert len(_events(silence(300) + first + silence(120) + second + silence(400))) == 2


def test_position_ms_counts_all_audio() -> None:
    vad = EnergyVad()
    assert vad.position_ms == 0
    vad.feed(silence(15))
    assert vad.position_ms == 15
    vad.feed(b"\x00" * 24)
    assert vad.position_ms == 15
    vad.feed(b"\x00" * 24)
    assert vad.position_ms == 16
    vad.reset()
    assert vad.position_ms == 16


def test_reset_forgets_speech_but_keeps_time() -> None:
    vad = EnergyVad()
    assert vad.feed(silence(1000) + tone(300)) == [SpeechStarted(audio_start_ms=700)]
    vad.reset()
    assert not vad.speaking
    assert vad.feed(silence(1000)) == []  # no SpeechStopped for the forgotten speech
    assert vad.position_ms == 2300
    # Offsets continue from the session start; this onset is at 2300 + 500.
    events = vad.feed(silence(500) + tone(300) + silence(300))
    assert events == [SpeechStarted(audio_start_ms=2500), SpeechStopped(audio_end_ms=3300)]


def test_reset_forgets_a_pending_onset_and_partial_frame() -> None:
    vad = EnergyVad()
    vad.feed(silence(100) + tone(25))  # two speech frames and half a frame buffered
    vad.reset()
    # Frames now start at 125 ms; the padding cannot reach before the reset.
    events = vad.feed(tone(100) + silence(200))
    assert events == [SpeechStarted(audio_start_ms=125), SpeechStopped(audio_end_ms=425)]


def test_speech_is_not_restarted_without_a_stop() -> None:
    vad = EnergyVad()
    events = vad.feed(silence(300) + tone(2000))
    assert events == [SpeechStarted(audio_start_ms=0)]
    assert vad.feed(tone(2000)) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": -0.1},
        {"prefix_padding_ms": -1},
        {"silence_duration_ms": 0},
        {"bytes_per_ms": 47},
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        EnergyVad(**kwargs)  # type: ignore[arg-type]


CHUNKING_CLIP = (
    silence(250)
    + synthesize_speech(600, seed=4)
    + silence(300)
    + tone(15, level=0.5)
    + silence(100)
    + synthesize_speech(400, seed=5)
    + silence(250)
)
CHUNKING_EVENTS = EnergyVad().feed(CHUNKING_CLIP)


def test_chunking_clip_has_events() -> None:
    assert len(CHUNKING_EVENTS) == 4


@settings(deadline=None, max_examples=50)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(CHUNKING_CLIP)), max_size=40))
def test_events_do_not_depend_on_chunking(cuts: list[int]) -> None:
    vad = EnergyVad()
    bounds = [0, *sorted(cuts), len(CHUNKING_CLIP)]
    events: list[VadEvent] = []
    for lo, hi in itertools.pairwise(bounds):
        events += vad.feed(CHUNKING_CLIP[lo:hi])
    assert events == CHUNKING_EVENTS
    assert vad.position_ms == len(CHUNKING_CLIP) // 48
