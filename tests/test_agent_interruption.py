"""Voice-agent scenarios: output audio tracking, truncation and interruption.

Issue §2, with pipecat's audio-frame cases (§5.2) and the truncation failures users reported
(§6: "already shorter than", "Only model output audio messages can be truncated"). In memory
with ``autojump_clock``: wall-clock playback positions are exact in virtual time.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from agent_helpers import (
    MANUAL,
    SERVER_VAD,
    EventLog,
    agent,
    fake_server,
    raw_assistant_item,
    raw_audio_delta,
    raw_item_added,
    raw_response_created,
    raw_response_done,
    raw_speech_started,
    sent,
    server_errors,
    settle,
    wire,
)

import trealtime
from trealtime import events
from trealtime._agent._playback import Truncation
from trealtime.testing import FakeRealtimeServer, silence, synthesize_speech

pytestmark = pytest.mark.usefixtures("server_mode")

LONG_REPLY = "This answer goes on for a good few seconds, so there is time to interrupt it."
TRUNCATION_ERRORS = ("Only model output audio messages can be truncated", "already shorter")

G711 = events.SessionProperties(
    output_modalities=["audio"],
    audio=events.AudioConfig(
        input=events.AudioInput(format=events.AudioFormat.pcmu(), turn_detection=None),
        output=events.AudioOutput(format=events.AudioFormat.pcmu()),
    ),
)


def error_messages(log: EventLog) -> list[str]:
    return [str(e.error.message) for e in log.of(events.Error)]


def assert_no_truncation_errors(log: EventLog) -> None:
    for message in error_messages(log):
        assert not any(text in message for text in TRUNCATION_ERRORS), message


async def test_interrupt_truncates_at_the_wall_clock_position_and_waits_for_confirmation(
    autojump_clock: trio.testing.MockClock,
) -> None:

    async with (
        fake_server(realtime=True, reply=LONG_REPLY) as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            handle = await session.create_response()
            first = await log.wait_for(events.ResponseOutputAudioDelta)
            await trio.sleep(1.05)  # the default position: time since the first delta
            interruption = await session.interrupt()
            # Returned once the server confirmed: the response is over, the item is cut.
            assert handle.state == "done"
            assert session.active_response is None
            truncation = interruption.truncation
            assert truncation is not None
            assert session.state.conversation.truncated_at_ms == {
                first.item_id: truncation.audio_end_ms
            }
            response = await handle.done()
            await settle()
    assert response.final_status == "cancelled"
    assert interruption.cancelled_response_id == handle.id
    assert interruption.dropped_responses == 0
    assert truncation.item_id == first.item_id
    assert truncation.content_index == 0
    assert abs(truncation.audio_end_ms - 1050) <= 1
    assert wire(server)[-4:] == [
        "response.create",
        "response.cancel",
        "conversation.item.truncate",
        "input_audio_buffer.clear",
    ]
    (cancel,) = sent(server, events.ResponseCancel)
    assert cancel.response_id == handle.id
    (truncate,) = sent(server, events.ConversationItemTruncate)
    assert (truncate.item_id, truncate.content_index, truncate.audio_end_ms) == (
        truncation.item_id,
        0,
        truncation.audio_end_ms,
    )
    stored = server.connections[0].state.conversation.get(first.item_id)
    assert len(stored.audio) == truncation.audio_end_ms * 48
    assert server_errors(log) == []


@pytest.mark.parametrize(
    ("report", "expected_ms"),
    [({"ms": 400.0}, 400), ({"nbytes": 250 * 48}, 250)],
    ids=["ms", "nbytes"],
)
async def test_interrupt_uses_the_playback_position_the_application_reports(
    autojump_clock: trio.testing.MockClock, report: dict[str, float], expected_ms: int
) -> None:
    async with (
        fake_server(realtime=True, reply=LONG_REPLY) as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            await session.create_response()
            first = await log.wait_for(events.ResponseOutputAudioDelta)
            await trio.sleep(1.05)  # wall clock says 1050 ms; the sink says otherwise
            session.report_playback(**report)  # type: ignore[arg-type]
            interruption = await session.interrupt()
    assert interruption.truncation == Truncation(
        item_id=first.item_id, content_index=0, audio_end_ms=expected_ms
    )
    (truncate,) = sent(server, events.ConversationItemTruncate)
    assert truncate.audio_end_ms == expected_ms


async def test_reported_position_past_the_received_audio_is_clamped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A sink that over-reports (or counts its own padding) must not push audio_end_ms past
    # the audio the server sent for the item.
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, _),
    ):
        with trio.fail_after(60):
            await server.send_event(raw_response_created("resp_over"))
            await server.send_event(raw_item_added(raw_assistant_item("item_over"), None))
            await server.send_event(raw_audio_delta("resp_over", "item_over", 150))
            await server.send_event(raw_audio_delta("resp_over", "item_over", 100))
            await settle()
            session.report_playback(ms=60_000)
            await server.send_event(raw_speech_started())
            truncate = await server.wait_for_client_event(events.ConversationItemTruncate)
    assert (truncate.item_id, truncate.audio_end_ms) == ("item_over", 250)


async def test_wall_clock_past_the_received_audio_is_clamped_on_barge_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # pipecat #1963 / #2106: the server stalls after 200 ms of audio; the wall clock runs on.
    # Truncating at the wall-clock position gives "Audio content of 200ms is already shorter
    # than 1200ms". The position must be clamped to the audio actually received.
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as _,
    ):
        with trio.fail_after(60):
            await server.send_event(raw_response_created("resp_stall"))
            await server.send_event(raw_item_added(raw_assistant_item("item_stall"), None))
            await server.send_event(raw_audio_delta("resp_stall", "item_stall", 100))
            await server.send_event(raw_audio_delta("resp_stall", "item_stall", 100))
            await trio.sleep(1.2)
            await server.send_event(raw_speech_started())
            truncate = await server.wait_for_client_event(events.ConversationItemTruncate)
            await server.send_event(
                raw_response_done("resp_stall", "cancelled", status_details={"type": "cancelled"})
            )
            await settle()
    assert (truncate.item_id, truncate.content_index, truncate.audio_end_ms) == (
        "item_stall",
        0,
        200,
    )
    # Server VAD cancels its own response: the client sends no response.cancel.
    assert sent(server, events.ResponseCancel) == []


async def test_barge_in_before_the_first_audio_byte_truncates_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # livekit #6157: "Only model output audio messages can be truncated" with audio_end_ms=0,
    # from truncating an item that has no audio yet. The previous response's item, whose audio
    # has all been played, must not be cut either.
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (_, log),
    ):
        with trio.fail_after(60):
            await server.send_event(raw_response_created("resp_old"))
            await server.send_event(raw_item_added(raw_assistant_item("item_old"), None))
            await server.send_event(raw_audio_delta("resp_old", "item_old", 300))
            await server.send_event(raw_response_done("resp_old"))
            await trio.sleep(2)  # all 300 ms have long been played
            await server.send_event(raw_response_created("resp_new"))
            await server.send_event(raw_item_added(raw_assistant_item("item_new"), "item_old"))
            await server.send_event(raw_speech_started())
            await server.send_event(
                raw_response_done("resp_new", "cancelled", status_details={"type": "cancelled"})
            )
            await log.wait_for(events.ResponseDone, lambda e: e.response.id == "resp_new")
            await settle()
    assert sent(server, events.ConversationItemTruncate) == []
    assert sent(server, events.ResponseCancel) == []


async def test_interrupt_right_after_response_created_cuts_at_zero_without_errors(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The session has seen response.created but no audio when the user interrupts; audio
    # already in flight arrives before the cancellation's response.done. The user heard none
    # of it: the item is cut at 0 ms (accepted for an item with audio), never past its audio.
    async with (
        fake_server(realtime=True, reply=LONG_REPLY) as server,
        agent(server, MANUAL, read=False, inbound_buffer=1) as (session, _),
    ):
        with trio.fail_after(60):
            handle = await session.create_response()
            async for event in session:
                if isinstance(event, events.ResponseCreated):
                    break
            await settle()  # the session's reader now waits for us: no audio seen yet
            assert session.active_response is not None
            later: list[events.ServerEvent] = []

            async def drain() -> None:
                async for event in session:
                    later.append(event)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain)
                interruption = await session.interrupt()
                await settle()
                nursery.cancel_scope.cancel()
    assert interruption.cancelled_response_id == handle.id
    deltas = [e for e in later if isinstance(e, events.ResponseOutputAudioDelta)]
    assert deltas, "audio in flight reached the session during the cancellation"
    assert interruption.truncation == Truncation(
        item_id=deltas[0].item_id, content_index=0, audio_end_ms=0
    )
    assert [e for e in later if isinstance(e, events.Error)] == []


async def test_interrupt_right_after_create_response_stops_that_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The user interrupts before the requested response has started (response.create is on
    # its way): that response must not go on to talk over the user.
    async with (
        fake_server(realtime=True, reply=LONG_REPLY) as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            handle = await session.create_response()
            await session.interrupt()
            try:
                response = await handle.done()
            except Exception:  # dropped before it was created: also fine
                status = "dropped"
            else:
                status = str(response.final_status)
            await settle()
    assert status in ("cancelled", "dropped")
    assert "response_cancel_not_active" not in server_errors(log)


async def test_interrupt_with_nothing_playing_sends_no_cancel_and_no_truncate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            interruption = await session.interrupt()
            await settle()
    assert (interruption.cancelled_response_id, interruption.truncation) == (None, None)
    assert interruption.dropped_responses == 0
    assert wire(server) == ["session.update", "input_audio_buffer.clear"]
    assert "response_cancel_not_active" not in server_errors(log)


async def test_interrupt_after_response_done_truncates_what_is_still_playing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The server sends audio much faster than real time: the response is done while the
    # user has heard only the first half second. No response.cancel (nothing is active).
    async with (
        fake_server(reply=LONG_REPLY) as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            handle = await session.create_response()
            await handle.done()
            first = log.of(events.ResponseOutputAudioDelta)[0]
            await trio.sleep(0.5)
            interruption = await session.interrupt()
    assert interruption.cancelled_response_id is None
    assert interruption.truncation == Truncation(
        item_id=first.item_id, content_index=0, audio_end_ms=500
    )
    assert sent(server, events.ResponseCancel) == []
    assert session.state.conversation.truncated_at_ms == {first.item_id: 500}


async def test_reported_position_after_response_done_is_used(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(reply=LONG_REPLY) as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            handle = await session.create_response()
            await handle.done()
            first = log.of(events.ResponseOutputAudioDelta)[0]
            await trio.sleep(3)
            session.report_playback(ms=300)  # the sink buffered; 300 ms actually played
            interruption = await session.interrupt()
    assert interruption.truncation == Truncation(
        item_id=first.item_id, content_index=0, audio_end_ms=300
    )


async def test_playback_finished_leaves_nothing_to_truncate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(reply=LONG_REPLY) as server,
        agent(server, MANUAL) as (session, _),
    ):
        with trio.fail_after(60):
            handle = await session.create_response()
            await handle.done()
            session.playback_finished()
            interruption = await session.interrupt()
            await settle()
    assert interruption.truncation is None
    assert sent(server, events.ConversationItemTruncate) == []
    assert sent(server, events.ResponseCancel) == []


async def _multi_item_response(server: FakeRealtimeServer) -> None:
    """One response with two audio items: 300 ms of A, then B's first 100 ms now."""
    await server.send_event(raw_response_created("resp_multi"))
    await server.send_event(raw_item_added(raw_assistant_item("item_a"), None))
    for _ in range(3):
        await server.send_event(raw_audio_delta("resp_multi", "item_a", 100))
    await trio.sleep(0.3)
    await server.send_event(raw_item_added(raw_assistant_item("item_b"), "item_a"))
    await server.send_event(raw_audio_delta("resp_multi", "item_b", 100, output_index=1))
    await server.send_event(raw_audio_delta("resp_multi", "item_b", 100, output_index=1))


async def test_barge_in_during_the_second_item_truncates_the_second_item(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await _multi_item_response(server)
            await trio.sleep(0.15)
            await server.send_event(raw_speech_started())
            truncate = await server.wait_for_client_event(events.ConversationItemTruncate)
            await server.send_event(
                raw_response_done("resp_multi", "cancelled", status_details={"type": "cancelled"})
            )
            await log.wait_for(events.ResponseDone)
            await settle()
    assert (truncate.item_id, truncate.content_index) == ("item_b", 0)
    assert abs(truncate.audio_end_ms - 150) <= 1  # wall clock since B's first delta
    assert len(sent(server, events.ConversationItemTruncate)) == 1
    metrics = session.metrics.last
    assert metrics is not None and metrics.response_id == "resp_multi"
    assert metrics.audio_ms_received == 500  # one record for the whole response, both items


@pytest.mark.parametrize(
    ("reports", "expected_ms"),
    [
        ({"item_a": 300.0}, 0),  # only A reported: B has not been played yet
        ({"item_a": 300.0, "item_b": 120.0}, 120),
    ],
    ids=["earlier-item-only", "both-items"],
)
async def test_reports_on_an_earlier_item_are_not_taken_for_the_current_one(
    autojump_clock: trio.testing.MockClock, reports: dict[str, float], expected_ms: int
) -> None:
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, _),
    ):
        with trio.fail_after(60):
            await _multi_item_response(server)
            await trio.sleep(0.15)
            for item_id, ms in reports.items():
                session.report_playback(ms=ms, item_id=item_id)
            await server.send_event(raw_speech_started())
            truncate = await server.wait_for_client_event(events.ConversationItemTruncate)
    assert (truncate.item_id, truncate.audio_end_ms) == ("item_b", expected_ms)


async def test_server_vad_barge_in_truncates_where_playback_is_and_sends_no_cancel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True, reply=LONG_REPLY) as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await session.append_audio(silence(300) + synthesize_speech(600) + silence(600))
            created = await log.wait_for(events.ResponseCreated)
            first = await log.wait_for(events.ResponseOutputAudioDelta)
            started_playing = trio.current_time()
            await trio.sleep(0.8)
            mark = log.mark()
            await session.append_audio(synthesize_speech(600) + silence(600))
            barged = trio.current_time()
            await log.wait_for(events.InputAudioBufferSpeechStarted, after=mark)
            done = await log.wait_for(
                events.ResponseDone, lambda e: e.response.id == created.response.id
            )
            truncate = await server.wait_for_client_event(events.ConversationItemTruncate)
            await settle()
    assert done.response.final_status == "cancelled"
    assert isinstance(done.response.status_details, events.StatusDetails)
    assert done.response.status_details.reason == "turn_detected"
    assert truncate.item_id == first.item_id
    expected = (barged - started_playing) * 1000
    assert abs(truncate.audio_end_ms - expected) <= 1
    assert sent(server, events.ResponseCancel) == []
    assert sent(server, events.InputAudioBufferClear) == []
    assert_no_truncation_errors(log)


async def test_g711_output_positions_use_eight_bytes_per_millisecond(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True, reply=LONG_REPLY) as server,
        agent(server, G711) as (session, log),
    ):
        with trio.fail_after(60):
            await session.create_response()
            first = await log.wait_for(events.ResponseOutputAudioDelta)
            assert len(first.audio_bytes()) == 800  # 100 ms of G.711
            await trio.sleep(0.55)
            interruption = await session.interrupt()
            await settle()
    assert interruption.truncation is not None
    assert abs(interruption.truncation.audio_end_ms - 550) <= 1
    assert_no_truncation_errors(log)


async def test_g711_reported_bytes_convert_at_eight_bytes_per_millisecond(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True, reply=LONG_REPLY) as server,
        agent(server, G711) as (session, log),
    ):
        with trio.fail_after(60):
            await session.create_response()
            await log.wait_for(events.ResponseOutputAudioDelta)
            await trio.sleep(0.55)
            session.report_playback(nbytes=1600)
            interruption = await session.interrupt()
    assert interruption.truncation is not None
    assert interruption.truncation.audio_end_ms == 200


async def test_concurrent_interrupts_send_one_cancel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Two sources interrupt at once (a button and a local VAD): the response is cancelled once,
    # and the server never answers response_cancel_not_active.
    async with (
        fake_server(realtime=True, reply=LONG_REPLY) as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            handle = await session.create_response()
            await log.wait_for(events.ResponseOutputAudioDelta)
            await trio.sleep(0.5)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(session.interrupt)
                nursery.start_soon(session.interrupt)
            await settle()
            assert (await handle.done()).final_status == "cancelled"
    assert len(sent(server, events.ResponseCancel)) == 1
    assert len(sent(server, events.ConversationItemTruncate)) == 1
    assert "response_cancel_not_active" not in server_errors(log)


async def test_interrupt_names_the_requested_response_it_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The response had been requested but not yet created when interrupt() was called: the
    # Interruption still says which response it cancelled.
    async with (
        fake_server(realtime=True, reply=LONG_REPLY) as server,
        agent(server, MANUAL) as (session, _),
    ):
        with trio.fail_after(60):
            handle = await session.create_response()
            assert handle.id is None  # not created yet
            interruption = await session.interrupt()
            response = await handle.done()
    assert response.final_status == "cancelled"
    assert handle.id is not None
    assert interruption.cancelled_response_id == handle.id


@pytest.mark.parametrize(("content_index", "audio_end_ms"), [(0, -5), (-1, 100)])
async def test_truncate_item_refuses_negative_positions_locally(
    autojump_clock: trio.testing.MockClock, content_index: int, audio_end_ms: int
) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, _),
    ):
        with pytest.raises(trealtime.ConfigurationError, match="must be >= 0"):
            await session.truncate_item("item_1", content_index, audio_end_ms)
        await settle()
    assert sent(server, events.ConversationItemTruncate) == []
