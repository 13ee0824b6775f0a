"""Response metrics and session totals, driven by plain method calls."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trealtime._agent._metrics import MetricsTracker, ResponseMetrics, TokenTotals, format_metrics
from trealtime.events import ErrorInfo, Response, ResponseDone, StatusDetails, decode_server_event

FULL_USAGE: dict[str, Any] = {
    "total_tokens": 100,
    "input_tokens": 60,
    "output_tokens": 40,
    "input_token_details": {
        "cached_tokens": 30,
        "text_tokens": 15,
        "audio_tokens": 40,
        "image_tokens": 5,
        "cached_tokens_details": {"text_tokens": 8, "audio_tokens": 20, "image_tokens": 2},
    },
    "output_token_details": {"text_tokens": 15, "audio_tokens": 25},
}


def done_response(response_id: str, status: str = "completed", **fields: Any) -> Response:
    """A ``response.done`` body, decoded by the codec as the session would."""
    frame = {
        "type": "response.done",
        "event_id": "ev",
        "response": {"object": "realtime.response", "id": response_id, "status": status, **fields},
    }
    event = decode_server_event(orjson.dumps(frame))
    assert isinstance(event, ResponseDone)
    return event.response


def test_latency_from_speech_stopped() -> None:
    tracker = MetricsTracker()
    tracker.on_speech_stopped(10.0)
    tracker.on_response_created("r1", 10.2)
    tracker.on_output_text("r1", 10.4)
    tracker.on_output_audio("r1", 4800, 10.5)
    tracker.on_output_audio("r1", 4800, 10.6)
    tracker.on_output_text("r1", 10.7)
    m = tracker.on_response_done(done_response("r1"), 11.0)
    assert m.started_from == "speech_stopped"
    assert m.time_to_first_audio == pytest.approx(0.5)
    assert m.time_to_first_text == pytest.approx(0.4)
    assert m.processing_time == pytest.approx(1.0)
    assert m.audio_ms_received == 200.0
    assert (m.status, m.status_reason, m.error) == ("completed", None, None)


def test_latency_from_response_create() -> None:
    tracker = MetricsTracker(bytes_per_ms=8)
    tracker.on_response_create_sent(20.0)
    tracker.on_response_created("r1", 20.1)
    tracker.on_output_audio("r1", 800, 20.3)
    m = tracker.on_response_done(done_response("r1"), 21.0)
    assert m.started_from == "response.create"
    assert m.time_to_first_audio == pytest.approx(0.3)
    assert m.audio_ms_received == 100.0


def test_the_later_start_point_wins_and_both_are_used_up() -> None:
    tracker = MetricsTracker()
    tracker.on_speech_stopped(1.0)
    tracker.on_response_create_sent(1.5)  # manual turn: the app asks after VAD stopped
    tracker.on_response_created("r1", 1.6)
    tracker.on_response_created("r2", 3.0)  # nothing left for this one
    first = tracker.on_response_done(done_response("r1"), 2.0)
    second = tracker.on_response_done(done_response("r2"), 3.5)
    assert (first.started_from, first.processing_time) == ("response.create", 0.5)
    assert (second.started_from, second.processing_time) == ("response.created", 0.5)


def test_text_only_response_has_no_audio_latency() -> None:
    tracker = MetricsTracker()
    tracker.on_response_create_sent(0.0)
    tracker.on_response_created("r1", 0.1)
    tracker.on_output_text("r1", 0.25)
    m = tracker.on_response_done(done_response("r1", output_modalities=["text"]), 1.0)
    assert m.time_to_first_audio is None
    assert m.time_to_first_text == pytest.approx(0.25)
    assert m.audio_ms_received == 0.0


def test_cancelled_response_keeps_status_and_reason() -> None:
    tracker = MetricsTracker()
    tracker.on_speech_stopped(0.0)
    tracker.on_response_created("r1", 0.1)
    details = {"type": "cancelled", "reason": "turn_detected"}
    m = tracker.on_response_done(done_response("r1", "cancelled", status_details=details), 0.3)
    assert (m.status, m.status_reason, m.time_to_first_audio) == (
        "cancelled",
        "turn_detected",
        None,
    )
    assert (tracker.responses_cancelled, tracker.responses_completed) == (1, 0)


def test_failed_response_carries_its_error() -> None:
    tracker = MetricsTracker()
    details = {
        "type": "failed",
        "error": {
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
            "message": "Slow\ndown",
        },
    }
    m = tracker.on_response_done(done_response("r1", "failed", status_details=details), 5.0)
    assert m.error == ErrorInfo(
        type="rate_limit_error", code="rate_limit_exceeded", message="Slow\ndown"
    )
    assert (m.started_from, m.processing_time) == ("response.created", 0.0)
    assert tracker.responses_failed == 1
    assert tracker.last is m
    line = format_metrics(m)
    assert "\n" not in line
    assert "failed" in line
    assert "rate_limit_exceeded: Slow down" in line


def test_every_token_detail_is_mapped() -> None:
    m = MetricsTracker().on_response_done(done_response("r1", usage=FULL_USAGE), 1.0)
    assert m.usage is not None
    assert (m.input_tokens, m.output_tokens, m.total_tokens, m.cached_tokens) == (60, 40, 100, 30)
    assert (m.input_text_tokens, m.input_audio_tokens, m.input_image_tokens) == (15, 40, 5)
    assert (m.output_text_tokens, m.output_audio_tokens) == (15, 25)
    assert (m.cached_text_tokens, m.cached_audio_tokens, m.cached_image_tokens) == (8, 20, 2)
    assert "tokens in 60 (cached 30) out 40" in format_metrics(m)


TOKEN_NAMES = [name for name in dir(ResponseMetrics) if name.endswith("_tokens")]


@pytest.mark.parametrize(
    ("usage", "reported"),
    [
        (None, {}),
        ({"input_tokens": 1, "output_tokens": 2}, {"input_tokens": 1, "output_tokens": 2}),
        (
            {"input_token_details": {"cached_tokens": 30, "audio_tokens": 40}},
            {"cached_tokens": 30, "input_audio_tokens": 40},
        ),
        ({"output_token_details": {"audio_tokens": 0}}, {"output_audio_tokens": 0}),
    ],
)
def test_missing_token_details_are_none(
    usage: dict[str, Any] | None, reported: dict[str, int]
) -> None:
    fields: dict[str, Any] = {} if usage is None else {"usage": usage}
    m = MetricsTracker().on_response_done(done_response("r1", **fields), 1.0)
    assert len(TOKEN_NAMES) == 12
    assert {name: getattr(m, name) for name in TOKEN_NAMES} == dict.fromkeys(TOKEN_NAMES) | reported


def test_token_totals_add_up_over_responses() -> None:
    tracker = MetricsTracker()
    tracker.on_response_done(done_response("r1", usage=FULL_USAGE), 1.0)
    tracker.on_response_done(done_response("r2", usage={"input_tokens": 7}), 2.0)
    tracker.on_response_done(Response(id="r3", status="completed"), 3.0)
    assert tracker.tokens == TokenTotals(
        input_tokens=67,
        output_tokens=40,
        total_tokens=100,
        cached_tokens=30,
        input_audio_tokens=40,
        input_text_tokens=15,
        input_image_tokens=5,
        output_audio_tokens=25,
        output_text_tokens=15,
        cached_audio_tokens=20,
        cached_text_tokens=8,
        cached_image_tokens=2,
    )
    assert (tracker.responses_completed, tracker.statuses) == (3, {"completed": 3})


def test_out_of_band_response_interleaves_with_the_default_one() -> None:
    tracker = MetricsTracker()
    tracker.on_speech_stopped(1.0)  # the server will answer the user (r_vad)
    tracker.on_response_create_sent(1.05, tag="oob")  # the app asks for a side response
    tracker.on_response_created("r_oob", 1.15, tag="oob")  # created first, yet not the user's turn
    tracker.on_response_created("r_vad", 1.2)
    tracker.on_output_audio("r_vad", 4800, 1.5)
    tracker.on_output_text("r_oob", 1.6)
    tracker.on_output_audio("r_vad", 4800, 1.7)
    oob = tracker.on_response_done(done_response("r_oob", conversation_id=None), 1.8)
    vad = tracker.on_response_done(done_response("r_vad"), 2.0)
    assert (oob.started_from, oob.time_to_first_audio) == ("response.create", None)
    assert oob.time_to_first_text == pytest.approx(0.55)
    assert (vad.started_from, vad.audio_ms_received) == ("speech_stopped", 200.0)
    assert vad.time_to_first_audio == pytest.approx(0.5)
    assert vad.processing_time == pytest.approx(1.0)


def test_missed_response_created_falls_back_to_the_first_event_seen() -> None:
    tracker = MetricsTracker()
    tracker.on_response_create_sent(0.0, tag="lost")  # refused by the server: never created
    tracker.on_output_audio("r1", 4800, 2.0)
    m = tracker.on_response_done(done_response("r1"), 3.0)
    assert (m.started_from, m.time_to_first_audio, m.processing_time) == (
        "response.created",
        0.0,
        1.0,
    )


def test_clear_in_progress_forgets_pending_start_points() -> None:
    tracker = MetricsTracker()
    tracker.on_speech_stopped(0.0)
    tracker.on_response_created("r1", 0.1)
    tracker.on_speech_stopped(1.0)
    tracker.clear_in_progress()
    m = tracker.on_response_done(done_response("r1"), 2.0)
    assert (m.started_from, m.processing_time) == ("response.created", 0.0)


def test_status_details_without_error() -> None:
    response = Response(
        id="r1", status="incomplete", status_details=StatusDetails(reason="max_output_tokens")
    )
    m = MetricsTracker().on_response_done(response, 1.0)
    assert (m.status, m.status_reason, m.error, m.usage) == (
        "incomplete",
        "max_output_tokens",
        None,
        None,
    )
    assert "incomplete (max_output_tokens)" in format_metrics(m)


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (None, "completed"),
        ({"type": "cancelled", "reason": "turn_detected"}, "cancelled"),
        ({"type": "incomplete", "reason": "max_output_tokens"}, "incomplete"),
        ({"error": {"type": "server_error", "message": "boom"}}, "failed"),
        ({"reason": "client_cancelled"}, "cancelled"),
        ({"reason": "content_filter"}, "incomplete"),
    ],
)
def test_a_done_response_without_status_is_counted_by_what_its_details_say(
    details: dict[str, Any] | None, expected: str
) -> None:
    """The schema makes ``status`` optional: ``status_details`` decides, else completed."""
    frame = {"type": "response.done", "event_id": "ev", "response": {"id": "r1"}}
    if details is not None:
        frame["response"]["status_details"] = details  # type: ignore[index]
    event = decode_server_event(orjson.dumps(frame))
    assert isinstance(event, ResponseDone)
    tracker = MetricsTracker()
    tracker.on_response_created("r1", 0.0)
    metrics = tracker.on_response_done(event.response, 0.2)
    assert metrics.status == event.response.final_status == expected
    assert tracker.statuses[expected] == 1
