"""Voice-agent scenarios: per-response metrics, token usage, rate limits, logging.

Issue §6, with pipecat's usage case (§5.4: 60/40/100 tokens, cached 30, audio in 40, audio out
25, cached audio 20) and its "one start/stop per response" audio case (§5.2) restated as one
metrics record per response. Latencies are exact in virtual time (``autojump_clock``).
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from agent_helpers import (
    MANUAL,
    SERVER_VAD,
    agent,
    fake_server,
    raw_assistant_item,
    raw_audio_delta,
    raw_item_added,
    raw_response_created,
    raw_response_done,
    raw_speech_stopped,
    raw_transcript_delta,
    settle,
)

from trealtime import events
from trealtime._agent._metrics import TokenTotals
from trealtime.testing import silence, synthesize_speech

pytestmark = pytest.mark.usefixtures("server_mode")

PIPECAT_USAGE = {
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


async def test_metrics_of_a_requested_response_count_from_response_create(
    autojump_clock: trio.testing.MockClock,
) -> None:

    async with (
        fake_server(realtime=True, reply="Hi there.") as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            first = await session.create_response()
            await first.created()
            queued = await session.create_response()
            response = await first.done()
            await queued.done()
            await settle()
    metrics = first.metrics
    assert metrics is not None
    assert metrics.response_id == response.id
    assert (metrics.status, metrics.status_reason, metrics.error) == ("completed", None, None)
    assert metrics.started_from == "response.create"
    audio_ms = sum(
        len(d.audio_bytes()) / 48
        for d in log.of(events.ResponseOutputAudioDelta)
        if d.response_id == response.id
    )
    assert metrics.audio_ms_received == audio_ms > 0
    assert metrics.time_to_first_audio == 0  # the fake answers at once, then paces the audio
    assert metrics.time_to_first_text == 0
    assert metrics.processing_time == pytest.approx(audio_ms / 1000)
    assert metrics.usage == response.usage
    assert isinstance(response.usage, events.Usage)
    assert metrics.total_tokens == response.usage.total_tokens
    assert metrics.output_audio_tokens is not None and metrics.output_audio_tokens > 0
    # The queued request is timed from when it was sent, not from when it was asked for.
    assert queued.metrics is not None
    assert queued.metrics.processing_time == pytest.approx(metrics.processing_time)
    assert session.metrics.last is queued.metrics
    assert session.metrics.responses_completed == 2
    assert session.statistics().responses_completed == 2
    (limit,) = session.rate_limits
    assert limit.name == "tokens"
    assert limit.remaining == 40_000 - (queued.metrics.total_tokens or 0)


async def test_metrics_of_a_vad_response_count_from_speech_stopped_with_all_usage_details(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await server.send_event(raw_speech_stopped())
            await trio.sleep(0.3)
            await server.send_event(raw_response_created("resp_vad"))
            await server.send_event(raw_item_added(raw_assistant_item("item_vad"), None))
            await trio.sleep(0.2)
            await server.send_event(raw_transcript_delta("resp_vad", "item_vad", "Sure"))
            await trio.sleep(0.1)
            await server.send_event(raw_audio_delta("resp_vad", "item_vad", 100))
            await server.send_event(raw_audio_delta("resp_vad", "item_vad", 150))
            await trio.sleep(1.0)
            await server.send_event(raw_response_done("resp_vad", usage=PIPECAT_USAGE))
            await log.wait_for(events.ResponseDone)
    metrics = session.metrics.last
    assert metrics is not None and metrics.response_id == "resp_vad"
    assert metrics.started_from == "speech_stopped"
    assert metrics.time_to_first_text == pytest.approx(0.5)
    assert metrics.time_to_first_audio == pytest.approx(0.6)
    assert metrics.processing_time == pytest.approx(1.6)
    assert metrics.audio_ms_received == 250
    counts = {
        name: getattr(metrics, name)
        for name in (
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "cached_tokens",
            "input_audio_tokens",
            "input_text_tokens",
            "input_image_tokens",
            "output_audio_tokens",
            "output_text_tokens",
            "cached_audio_tokens",
            "cached_text_tokens",
            "cached_image_tokens",
        )
    }
    assert counts == {
        "input_tokens": 60,
        "output_tokens": 40,
        "total_tokens": 100,
        "cached_tokens": 30,
        "input_audio_tokens": 40,
        "input_text_tokens": 15,
        "input_image_tokens": 5,
        "output_audio_tokens": 25,
        "output_text_tokens": 15,
        "cached_audio_tokens": 20,
        "cached_text_tokens": 8,
        "cached_image_tokens": 2,
    }
    assert session.metrics.tokens == TokenTotals(**counts)


async def test_usage_without_cached_details_reports_none_not_zero(
    autojump_clock: trio.testing.MockClock,
) -> None:
    usage = {"total_tokens": 10, "input_tokens": 6, "output_tokens": 4}
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await server.send_event(raw_response_created("resp_plain"))
            await server.send_event(raw_response_done("resp_plain", usage=usage))
            await log.wait_for(events.ResponseDone)
    metrics = session.metrics.last
    assert metrics is not None
    assert (metrics.input_tokens, metrics.output_tokens) == (6, 4)
    assert metrics.cached_tokens is None and metrics.cached_audio_tokens is None
    assert metrics.time_to_first_audio is None and metrics.time_to_first_text is None


async def test_vad_response_from_the_fake_server_is_timed_from_speech_stopped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True, reply="Okay.") as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await session.append_audio(silence(300) + synthesize_speech(500) + silence(500))
            stopped = await log.wait_for(events.InputAudioBufferSpeechStopped)
            stopped_at = trio.current_time()
            done = await log.wait_for(events.ResponseDone)
            done_at = trio.current_time()
    assert stopped.item_id
    metrics = session.metrics.last
    assert metrics is not None and metrics.response_id == done.response.id
    assert metrics.started_from == "speech_stopped"
    assert metrics.processing_time == pytest.approx(done_at - stopped_at)


async def test_audio_before_response_created_counts_toward_the_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A delta may be read before its response.created (events reordered by a proxy, or a
    # created event lost). Its audio and its time still belong to the response.
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await server.send_event(raw_speech_stopped())
            await trio.sleep(0.1)
            await server.send_event(raw_audio_delta("resp_early", "item_early", 100))
            await trio.sleep(0.1)
            await server.send_event(raw_response_created("resp_early"))
            await trio.sleep(0.15)
            await server.send_event(raw_audio_delta("resp_early", "item_early", 100))
            await trio.sleep(0.15)
            await server.send_event(raw_response_done("resp_early"))
            await log.wait_for(events.ResponseDone)
    metrics = session.metrics.last
    assert metrics is not None
    assert metrics.audio_ms_received == 200
    assert metrics.started_from == "speech_stopped"
    assert metrics.time_to_first_audio == pytest.approx(0.1)
    assert metrics.processing_time == pytest.approx(0.5)


async def test_multi_item_audio_response_gives_one_metrics_record(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await server.send_event(raw_response_created("resp_two"))
            await server.send_event(raw_item_added(raw_assistant_item("item_1"), None))
            await trio.sleep(0.2)
            await server.send_event(raw_audio_delta("resp_two", "item_1", 300))
            await trio.sleep(0.3)
            await server.send_event(raw_item_added(raw_assistant_item("item_2"), "item_1"))
            await server.send_event(raw_audio_delta("resp_two", "item_2", 200, output_index=1))
            await trio.sleep(0.2)
            await server.send_event(raw_response_done("resp_two"))
            await log.wait_for(events.ResponseDone)
    assert sum(session.metrics.statuses.values()) == 1
    metrics = session.metrics.last
    assert metrics is not None and metrics.response_id == "resp_two"
    assert metrics.audio_ms_received == 500
    assert metrics.time_to_first_audio == pytest.approx(0.2)  # from the first item
    assert metrics.processing_time == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("status", "details"),
    [
        (
            "failed",
            {
                "type": "failed",
                "error": {"type": "server_error", "code": "server_error", "message": "boom"},
            },
        ),
        ("cancelled", {"type": "cancelled", "reason": "turn_detected"}),
        ("incomplete", {"type": "incomplete", "reason": "max_output_tokens"}),
    ],
)
async def test_ending_status_and_reason_are_in_the_metrics_and_counted(
    autojump_clock: trio.testing.MockClock, status: str, details: dict[str, object]
) -> None:
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await server.send_event(raw_response_created("resp_end"))
            await server.send_event(raw_response_done("resp_end", status, status_details=details))
            await log.wait_for(events.ResponseDone)
            stats = session.statistics()
    metrics = session.metrics.last
    assert metrics is not None and metrics.status == status
    assert session.metrics.statuses == {status: 1}
    if status == "failed":
        assert metrics.error is not None and metrics.error.code == "server_error"
        assert stats.responses_failed == 1
    else:
        assert metrics.status_reason == details["reason"]
    if status == "cancelled":
        assert stats.responses_cancelled == 1
    assert session.metrics.responses_incomplete == (status == "incomplete")


async def test_rate_limits_are_the_latest_reported(autojump_clock: trio.testing.MockClock) -> None:
    def limits(remaining: int) -> dict[str, object]:
        return {
            "type": "rate_limits.updated",
            "rate_limits": [
                {"name": "requests", "limit": 100, "remaining": remaining, "reset_seconds": 1.5},
                {"name": "tokens", "limit": 5000, "remaining": remaining * 10, "reset_seconds": 2},
            ],
        }

    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await server.send_event(limits(99))
            await server.send_event(limits(42))
            await log.wait_count(events.RateLimitsUpdated, 2)
    assert [(r.name, r.remaining) for r in session.rate_limits] == [
        ("requests", 42),
        ("tokens", 420),
    ]


async def test_log_metrics_logs_one_line_per_response(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trealtime")
    async with (
        fake_server() as server,
        agent(server, MANUAL, log_metrics=True) as (session, _),
    ):
        with trio.fail_after(60):
            first = await session.create_response()
            second = await session.create_response()
            await first.done()
            await second.done()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("response ")]
    assert len(lines) == 2
    assert lines[0].startswith(f"response {first.id} completed from response.create")
    assert "first audio 0 ms" in lines[0] and "tokens in" in lines[0]


async def test_no_metrics_lines_without_log_metrics(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trealtime")
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, _),
    ):
        with trio.fail_after(60):
            await (await session.create_response()).done()
            await settle()
    assert not [r for r in caplog.records if r.getMessage().startswith("response ")]
