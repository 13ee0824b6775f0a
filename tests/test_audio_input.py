from __future__ import annotations

import itertools
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trealtime import ConfigurationError
from trealtime._agent._audio_input import AudioInputPipeline, AudioInputStatistics

PCM_MS = 48  # bytes per ms of 24 kHz PCM16
G711_MS = 8


def tone(ms: int, *, bytes_per_ms: int = PCM_MS) -> bytes:
    """Varied bytes, so that any reordering or loss shows."""
    return bytes((i * 7 + i // 251) % 256 for i in range(ms * bytes_per_ms))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def feed_all(
    pipeline: AudioInputPipeline, parts: list[bytes], rate: int | None = None
) -> list[bytes]:
    return [chunk for part in parts for chunk in pipeline.feed(part, rate)]


@settings(max_examples=60, deadline=None)
@given(
    fmt=st.sampled_from(["audio/pcm", "audio/pcmu", "audio/pcma"]),
    chunk_ms=st.integers(min_value=1, max_value=150),
    data=st.binary(max_size=6000),
    cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=20),
)
def test_rechunking_loses_and_reorders_nothing(
    fmt: str, chunk_ms: int, data: bytes, cuts: list[int]
) -> None:
    pipeline = AudioInputPipeline(fmt, chunk_ms=chunk_ms)
    chunk_bytes = chunk_ms * (PCM_MS if fmt == "audio/pcm" else G711_MS)
    chunks = feed_all(pipeline, split(data, cuts))
    assert all(len(chunk) == chunk_bytes for chunk in chunks)
    tail = pipeline.flush()
    assert len(tail) < chunk_bytes
    # PCM keeps a trailing half sample for the next feed; G.711 bytes are whole samples.
    kept = len(data) % 2 if fmt == "audio/pcm" else 0
    assert b"".join(chunks) + tail == data[: len(data) - kept]
    stats = pipeline.statistics()
    assert stats.bytes_in == len(data)
    assert stats.bytes_out == len(data) - kept
    assert stats.resampled_bytes == 0


def test_half_sample_completes_after_flush() -> None:
    pipeline = AudioInputPipeline(chunk_ms=10)
    assert pipeline.feed(b"\x01\x02\x03") == []
    assert pipeline.flush() == b"\x01\x02"
    assert pipeline.flush() == b""
    assert pipeline.feed(b"\x04" + bytes(478)) == [b"\x03\x04" + bytes(478)]


def test_g711_passes_bytes_through_at_8_khz_only() -> None:
    pipeline = AudioInputPipeline("audio/pcmu", chunk_ms=20)
    data = tone(50, bytes_per_ms=G711_MS)
    assert pipeline.feed(data, 8000) == [data[:160], data[160:320]]
    with pytest.raises(ConfigurationError, match=r"8000 Hz G\.711, not 16000 Hz"):
        pipeline.feed(data, 16000)
    assert pipeline.flush() == data[320:]


def test_other_rates_are_resampled_to_24_khz() -> None:
    pipeline = AudioInputPipeline(chunk_ms=100)
    frame = bytes(640)  # 20 ms at 16 kHz
    chunks = feed_all(pipeline, [frame] * 50, 16000)
    out = b"".join(chunks) + pipeline.flush()
    assert {len(chunk) for chunk in chunks} == {100 * PCM_MS}
    assert abs(len(out) - 1000 * PCM_MS) <= 2 * PCM_MS
    assert pipeline.statistics().resampled_bytes == 50 * 640


def test_switching_rates_drains_the_previous_resampler() -> None:
    pipeline = AudioInputPipeline(chunk_ms=10)
    out = feed_all(pipeline, [bytes(320)] * 10, 16000)  # 100 ms at 16 kHz
    out += feed_all(pipeline, [bytes(441 * 2)] * 10, 44100)  # 100 ms at 44.1 kHz
    out += feed_all(pipeline, [bytes(480)] * 10)  # 100 ms at the session's 24 kHz, untouched
    total = len(b"".join(out) + pipeline.flush())
    assert abs(total - 300 * PCM_MS) <= 2 * PCM_MS
    assert pipeline.statistics().resampled_bytes == 10 * 320 + 10 * 882


def test_switching_rates_discards_a_dangling_half_sample() -> None:
    pipeline = AudioInputPipeline(chunk_ms=10)
    pipeline.feed(bytes(3))
    pipeline.feed(bytes(320), 16000)
    assert pipeline.statistics().discarded_bytes == 1
    assert len(pipeline.flush()) % 2 == 0


def test_resampling_without_soxr_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "soxr", None)
    pipeline = AudioInputPipeline(chunk_ms=10)
    assert pipeline.feed(bytes(480), 24000) == [bytes(480)]
    with pytest.raises(ConfigurationError, match=r"trealtime\[resample\]"):
        pipeline.feed(bytes(320), 16000)


@pytest.mark.parametrize("rate", [0, -1, True])
def test_rejects_bad_sample_rates(rate: int) -> None:
    with pytest.raises(ConfigurationError, match="sample_rate"):
        AudioInputPipeline(start_paused=True).feed(b"", rate)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_format": "pcm16"}, "input_format"),
        ({"chunk_ms": 0}, "chunk_ms"),
        ({"chunk_ms": 2.5}, "chunk_ms"),
        ({"preroll_ms": -1}, "preroll_ms"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        AudioInputPipeline(**kwargs)  # type: ignore[arg-type]


def test_paused_input_is_dropped_and_counted() -> None:
    pipeline = AudioInputPipeline(chunk_ms=10, start_paused=True)
    assert pipeline.paused
    assert pipeline.feed(tone(25)) == []
    pipeline.set_paused(False)
    assert pipeline.feed(tone(25)) == [tone(25)[:480], tone(25)[480:960]]
    pipeline.set_paused(True)  # the buffered 5 ms are stale now
    assert pipeline.flush() == b""
    pipeline.set_paused(False)
    assert pipeline.feed(tone(10)) == [tone(10)]
    assert pipeline.statistics() == AudioInputStatistics(
        bytes_in=60 * PCM_MS,
        bytes_out=30 * PCM_MS,
        chunks_out=3,
        dropped_bytes=25 * PCM_MS,
        discarded_bytes=5 * PCM_MS,
        resampled_bytes=0,
    )


def test_pausing_resets_the_resampler() -> None:
    pipeline = AudioInputPipeline(chunk_ms=100)
    pipeline.feed(bytes(3200), 16000)  # 100 ms, partly held in the filter
    pipeline.set_paused(True)
    pipeline.set_paused(False)
    assert pipeline.flush() == b""


def test_commit_guard_counts_audio_handed_out_since_commit_or_clear() -> None:
    pipeline = AudioInputPipeline(chunk_ms=40)
    pipeline.feed(tone(90))
    assert pipeline.buffered_ms == 80
    assert not pipeline.can_commit()
    assert pipeline.flush() == tone(90)[80 * PCM_MS :]
    assert pipeline.buffered_ms == 90
    assert not pipeline.can_commit()
    pipeline.feed(tone(5))
    pipeline.feed(tone(5))
    assert pipeline.flush()
    assert pipeline.buffered_ms == 100
    assert pipeline.can_commit()
    pipeline.on_commit()
    assert pipeline.buffered_ms == 0
    pipeline.feed(tone(120))
    assert pipeline.can_commit()
    pipeline.on_clear()
    assert not pipeline.can_commit()


def test_commit_guard_in_g711() -> None:
    pipeline = AudioInputPipeline("audio/pcma", chunk_ms=50)
    pipeline.feed(tone(99, bytes_per_ms=G711_MS))
    pipeline.flush()
    assert pipeline.buffered_ms == 99
    assert not pipeline.can_commit()
    pipeline.feed(tone(1, bytes_per_ms=G711_MS))
    pipeline.flush()
    assert pipeline.can_commit()


@pytest.mark.parametrize(("fmt", "bytes_per_ms"), [("audio/pcm", PCM_MS), ("audio/pcmu", G711_MS)])
def test_preroll_keeps_exactly_the_last_preroll_ms(fmt: str, bytes_per_ms: int) -> None:
    pipeline = AudioInputPipeline(fmt, chunk_ms=30, preroll_ms=500, manual_turns=True)
    data = tone(1234, bytes_per_ms=bytes_per_ms)
    sent = b"".join(feed_all(pipeline, split(data, [777, 5000, 9999]))) + pipeline.flush()
    assert sent == data
    assert pipeline.preroll() == data[-500 * bytes_per_ms :]
    pipeline.set_preroll_ms(200)
    assert pipeline.preroll_ms == 200
    assert pipeline.preroll() == data[-200 * bytes_per_ms :]


def test_preroll_shorter_than_its_size_holds_everything() -> None:
    pipeline = AudioInputPipeline(chunk_ms=10, manual_turns=True)
    pipeline.feed(tone(30))
    assert pipeline.preroll() == tone(30)


def test_preroll_only_in_manual_turn_mode() -> None:
    pipeline = AudioInputPipeline(chunk_ms=10)
    pipeline.feed(tone(100))
    assert pipeline.preroll() == b""
    pipeline.set_manual_turns(True)
    assert pipeline.manual_turns
    pipeline.feed(tone(20))
    assert pipeline.preroll() == tone(20)
    pipeline.set_manual_turns(False)
    assert pipeline.preroll() == b""


def test_preroll_size_zero_keeps_nothing() -> None:
    pipeline = AudioInputPipeline(chunk_ms=10, preroll_ms=0, manual_turns=True)
    pipeline.feed(tone(50))
    assert pipeline.preroll() == b""
    with pytest.raises(ConfigurationError, match="preroll_ms"):
        pipeline.set_preroll_ms(-5)


def test_replayed_preroll_counts_as_buffered_and_stays() -> None:
    pipeline = AudioInputPipeline(chunk_ms=20, preroll_ms=60, manual_turns=True)
    pipeline.feed(tone(200))
    pipeline.on_clear()
    replay = pipeline.replay_preroll()
    assert replay == tone(200)[-60 * PCM_MS :]
    assert pipeline.buffered_ms == 60
    assert pipeline.preroll() == replay


def test_pausing_empties_the_preroll() -> None:
    pipeline = AudioInputPipeline(chunk_ms=10, manual_turns=True)
    pipeline.feed(tone(100))
    pipeline.set_paused(True)
    assert pipeline.replay_preroll() == b""
    assert pipeline.buffered_ms == 100  # the server still holds what was appended


def test_properties() -> None:
    pipeline = AudioInputPipeline("audio/pcmu", chunk_ms=40, preroll_ms=300)
    assert (pipeline.input_format, pipeline.chunk_ms, pipeline.preroll_ms) == (
        "audio/pcmu",
        40,
        300,
    )
    assert not pipeline.paused
    assert not pipeline.manual_turns
