"""Playback tracking and truncation points, driven by plain method calls."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trealtime._agent._playback import CurrentAudioResponse, PlaybackTracker, Truncation

MS_100 = 4800  # bytes of 24 kHz PCM16


def delta(
    tracker: PlaybackTracker, item_id: str, nbytes: int, now: float, resp: str = "r1"
) -> None:
    tracker.on_audio_delta(resp, item_id, 0, nbytes, now)


# Pipecat's tests/test_openai_realtime_audio_frames.py, as scripts of (event, item_id, time).
SINGLE_ITEM = [("delta", "a", 0.0), ("delta", "a", 0.1), ("audio.done", "a", 0.1)]
MULTI_ITEM_SEQUENTIAL = [
    ("delta", "a", 0.0),
    ("delta", "a", 0.1),
    ("audio.done", "a", 0.1),
    ("delta", "b", 0.2),
    ("delta", "b", 0.3),
    ("audio.done", "b", 0.3),
]
MULTI_ITEM_OVERLAPPING = [
    ("delta", "a", 0.0),
    ("delta", "a", 0.1),
    ("delta", "b", 0.2),
    ("audio.done", "a", 0.2),
    ("delta", "b", 0.3),
    ("audio.done", "b", 0.3),
]


def play_script(tracker: PlaybackTracker, script: list[tuple[str, str, float]]) -> None:
    for kind, item_id, now in script:
        if kind == "delta":
            delta(tracker, item_id, MS_100, now)
        # response.output_audio.done changes nothing: the last item with audio wins.


def test_single_item_is_tracked_and_stays_tracked_after_response_done() -> None:
    tracker = PlaybackTracker()
    play_script(tracker, SINGLE_ITEM)
    tracker.on_response_done("r1")
    assert tracker.current == CurrentAudioResponse(
        response_id="r1", item_id="a", content_index=0, start_time_ms=0.0, total_size=2 * MS_100
    )
    assert tracker.received_ms == 200.0


def test_interrupt_mid_item_truncates_it_at_content_index_0() -> None:
    tracker = PlaybackTracker()
    play_script(tracker, SINGLE_ITEM)
    assert tracker.take_truncation(0.15) == Truncation(
        item_id="a", content_index=0, audio_end_ms=150
    )
    assert tracker.current is None


@pytest.mark.parametrize("script", [MULTI_ITEM_SEQUENTIAL, MULTI_ITEM_OVERLAPPING])
def test_multi_item_response_tracks_the_last_item(script: list[tuple[str, str, float]]) -> None:
    tracker = PlaybackTracker()
    play_script(tracker, script)
    tracker.on_response_done("r1")
    current = tracker.current
    assert current is not None
    assert (current.item_id, current.start_time_ms, current.total_size) == ("b", 200.0, 2 * MS_100)


def test_interrupt_during_second_item_truncates_the_second_item() -> None:
    tracker = PlaybackTracker()
    play_script(tracker, MULTI_ITEM_SEQUENTIAL)
    assert tracker.take_truncation(0.35) == Truncation(
        item_id="b", content_index=0, audio_end_ms=150
    )


def test_wall_clock_past_the_received_audio_is_clamped() -> None:
    # pipecat #1963: "Audio content of 6100ms is already shorter than 6185ms".
    tracker = PlaybackTracker()
    delta(tracker, "a", 6100 * 48, now=10.0)
    point = tracker.truncation_point(16.185)
    assert point is not None
    assert point.audio_end_ms == 6100


def test_interrupt_before_the_first_audio_byte_truncates_nothing() -> None:
    tracker = PlaybackTracker()
    assert tracker.take_truncation(1.0) is None
    delta(tracker, "a", 0, now=1.0)  # an empty delta is no audio
    assert tracker.current is None
    assert tracker.take_truncation(2.0) is None


def test_interrupt_at_the_first_delta_truncates_at_0_ms() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", MS_100, now=5.0)
    assert tracker.take_truncation(5.0) == Truncation(item_id="a", content_index=0, audio_end_ms=0)


def test_app_report_behind_wall_clock_wins() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", 50 * MS_100, now=0.0)  # 5 s of audio, received at once
    tracker.report_played(ms=1234.9)  # the sink buffered: far behind 3 s of wall clock
    assert tracker.played_ms == 1234.9
    assert tracker.truncation_point(3.0) == Truncation(
        item_id="a", content_index=0, audio_end_ms=1234
    )
    tracker.report_played(nbytes=30 * MS_100, item_id="a")
    assert tracker.playback_position_ms(3.0) == 3000.0


def test_app_report_past_the_received_audio_is_clamped() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", MS_100, now=0.0)
    tracker.report_played(ms=250.0)
    point = tracker.truncation_point(0.05)
    assert point is not None
    assert point.audio_end_ms == 100


def test_report_on_an_earlier_item_is_not_taken_for_the_current_one() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", 20 * MS_100, now=0.0)
    delta(tracker, "b", 20 * MS_100, now=0.5)  # arrives while "a" still plays
    tracker.report_played(ms=900.0, item_id="a")
    # The sink is still on "a": nothing of "b" was heard, whatever the wall clock says.
    assert tracker.played_ms is None
    assert tracker.truncation_point(1.4) == Truncation(item_id="b", content_index=0, audio_end_ms=0)
    tracker.report_played(ms=100.0, item_id="b")
    tracker.report_played(ms=950.0, item_id="gone")
    assert tracker.truncation_point(1.6) == Truncation(
        item_id="b", content_index=0, audio_end_ms=100
    )


def test_reports_are_per_response() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", 20 * MS_100, now=0.0)
    tracker.report_played(ms=700.0)
    delta(tracker, "c", 20 * MS_100, now=3.0, resp="r2")
    tracker.report_played(ms=300.0, item_id="a")  # late report on the previous response
    assert tracker.played_ms is None
    assert tracker.playback_position_ms(4.0) == 0.0


@pytest.mark.parametrize(
    ("bytes_per_ms", "nbytes", "expected_ms"), [(8, 8000, 1000), (48, 8000, 166)]
)
def test_byte_rates_of_g711_and_pcm(bytes_per_ms: int, nbytes: int, expected_ms: int) -> None:
    tracker = PlaybackTracker(bytes_per_ms=bytes_per_ms)
    delta(tracker, "a", nbytes, now=0.0)
    point = tracker.truncation_point(2.0)
    assert point is not None
    assert point.audio_end_ms == expected_ms


def test_byte_rate_can_change_and_is_validated() -> None:
    tracker = PlaybackTracker()
    tracker.bytes_per_ms = 8
    delta(tracker, "a", 800, now=0.0)
    tracker.report_played(nbytes=400)
    assert (tracker.received_ms, tracker.played_ms) == (100.0, 50.0)
    with pytest.raises(ValueError, match="bytes_per_ms"):
        tracker.bytes_per_ms = 0
    with pytest.raises(ValueError, match="bytes_per_ms"):
        PlaybackTracker(bytes_per_ms=-48)


def test_nothing_to_cut_once_everything_played_and_the_response_is_done() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", 10 * MS_100, now=0.0)
    assert tracker.truncation_point(2.0) == Truncation(
        item_id="a", content_index=0, audio_end_ms=1000
    )
    tracker.on_response_done("r2")  # another response: irrelevant
    assert tracker.truncation_point(2.0) is not None
    tracker.on_response_done("r1")
    assert tracker.truncation_point(0.5) is not None
    assert tracker.truncation_point(2.0) is None


def test_playback_finished_before_response_done_still_allows_a_cut_at_the_end() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", 10 * MS_100, now=0.0)
    tracker.on_playback_finished()  # an underrun: the sink ran dry, more audio is coming
    delta(tracker, "a", 10 * MS_100, now=1.5)
    assert tracker.truncation_point(1.6) == Truncation(
        item_id="a", content_index=0, audio_end_ms=1000
    )
    tracker.on_response_done("r1")
    tracker.on_playback_finished()
    assert tracker.truncation_point(3.0) is None


def test_a_new_response_is_tracked_afresh() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", MS_100, now=0.0)
    tracker.on_response_done("r1")
    tracker.on_playback_finished()
    delta(tracker, "c", MS_100, now=5.0, resp="r2")
    assert tracker.truncation_point(5.05) == Truncation(
        item_id="c", content_index=0, audio_end_ms=50
    )


def test_a_truncation_is_taken_once_and_late_deltas_do_not_revive_the_item() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", 10 * MS_100, now=0.0)
    assert tracker.take_truncation(0.4) is not None
    assert tracker.take_truncation(0.4) is None
    delta(tracker, "a", MS_100, now=0.45)  # sent before the server saw the cancel
    assert tracker.current is None
    delta(tracker, "b", MS_100, now=0.5)
    assert tracker.take_truncation(0.55) == Truncation(
        item_id="b", content_index=0, audio_end_ms=50
    )


def test_server_truncation_stops_tracking_that_item_only() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", MS_100, now=0.0)
    tracker.on_truncated("other")
    assert tracker.current is not None
    tracker.on_truncated("a")
    assert tracker.current is None
    assert tracker.truncation_point(0.05) is None


def test_report_played_misuse() -> None:
    tracker = PlaybackTracker()
    tracker.report_played(ms=10.0)  # nothing playing: ignored
    with pytest.raises(ValueError, match="exactly one"):
        tracker.report_played()
    with pytest.raises(ValueError, match="exactly one"):
        tracker.report_played(ms=1.0, nbytes=48)
    with pytest.raises(ValueError, match="negative"):
        tracker.report_played(ms=-1.0)


# Each step: ("delta", item, response, nbytes) | ("report", ms, nbytes, item) | ("advance", s)
# | ("done", response) | ("finished",) | ("take",) | ("truncated", item).
ITEMS = st.sampled_from(["a", "b", "c"])
RESPONSES = st.sampled_from(["r1", "r2"])
STEPS = st.one_of(
    st.tuples(st.just("delta"), ITEMS, RESPONSES, st.integers(0, 30_000)),
    st.tuples(
        st.just("report"),
        st.one_of(st.none(), st.floats(0, 20_000)),
        st.integers(0, 500_000),
        st.one_of(st.none(), ITEMS),
    ),
    st.tuples(st.just("advance"), st.floats(0, 3)),
    st.tuples(st.just("done"), RESPONSES),
    st.tuples(st.just("finished")),
    st.tuples(st.just("take")),
    st.tuples(st.just("truncated"), ITEMS),
)


def run_step(tracker: PlaybackTracker, step: tuple[Any, ...], now: float) -> Truncation | None:
    match step:
        case ("delta", item_id, response_id, nbytes):
            tracker.on_audio_delta(response_id, item_id, 0, nbytes, now)
        case ("report", ms, nbytes, item_id):
            if ms is None:
                tracker.report_played(nbytes=nbytes, item_id=item_id)
            else:
                tracker.report_played(ms=ms, item_id=item_id)
        case ("done", response_id):
            tracker.on_response_done(response_id)
        case ("finished",):
            tracker.on_playback_finished()
        case ("take",):
            return tracker.take_truncation(now)
        case ("truncated", item_id):
            tracker.on_truncated(item_id)
    return None


@given(st.sampled_from([8, 48]), st.lists(STEPS, max_size=40))
def test_truncation_stays_within_the_audio_received(
    bytes_per_ms: int, steps: list[tuple[Any, ...]]
) -> None:
    tracker = PlaybackTracker(bytes_per_ms=bytes_per_ms)
    received: Counter[str] = Counter()  # what the server holds for each item, at least
    now = 100.0
    for step in steps:
        if step[0] == "advance":
            now += step[1]
        elif step[0] == "delta":
            received[step[1]] += step[3]
        taken = run_step(tracker, step, now)
        for point in (taken, tracker.truncation_point(now)):
            if point is not None:
                assert received[point.item_id] > 0
                assert 0 <= point.audio_end_ms <= received[point.item_id] // bytes_per_ms
                assert point.audio_end_ms <= tracker.received_ms or point is taken


def test_current_is_immutable() -> None:
    tracker = PlaybackTracker()
    delta(tracker, "a", MS_100, now=0.0)
    assert tracker.current is not None
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        tracker.current.total_size = 0  # type: ignore[misc]
