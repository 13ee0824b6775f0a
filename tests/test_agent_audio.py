"""Voice-agent scenarios: audio input, the commit guard, the pre-roll, input transcription.

Issue §1 and the transcription part of §5, with pipecat's user-audio cases (§5.5, reworked for
24 kHz as the reference advises). What goes on the wire is read from ``server.received``.
"""

from __future__ import annotations

import math
from array import array

import pytest
import trio
import trio.testing
from agent_helpers import (
    MANUAL,
    SERVER_VAD,
    agent,
    fake_server,
    sent,
    server_errors,
    settle,
    wire,
    with_transcription,
)

import trealtime
from trealtime import events
from trealtime.testing import FakeRealtimeServer, silence, synthesize_speech

pytestmark = pytest.mark.usefixtures("server_mode")


BYTES_PER_MS = 48


def varied(ms: int, bytes_per_ms: int = BYTES_PER_MS) -> bytes:
    """Audio-sized bytes that differ everywhere, so any loss or reordering shows."""
    return bytes((i * 7 + i // 251) % 256 for i in range(ms * bytes_per_ms))


def sine(rate: int, ms: int, hz: float = 440.0) -> bytes:
    samples = array(
        "h",
        (round(12000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(rate * ms // 1000)),
    )
    return samples.tobytes()


def dominant_hz(pcm: bytes, rate: int = 24000) -> float:
    """The frequency of a pure tone, from its rising zero crossings."""
    samples = array("h", pcm[: len(pcm) // 2 * 2])
    crossings = [i for i in range(1, len(samples)) if samples[i - 1] < 0 <= samples[i]]
    periods = len(crossings) - 1
    return periods * rate / (crossings[-1] - crossings[0])


def appends(server: FakeRealtimeServer) -> list[bytes]:
    return [event.audio_bytes() for event in sent(server, events.InputAudioBufferAppend)]


def pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of the given sizes, cycling through them."""
    out, start, i = [], 0, 0
    while start < len(data):
        size = sizes[i % len(sizes)]
        out.append(data[start : start + size])
        start += size
        i += 1
    return out


async def test_append_audio_is_rechunked_into_20ms_appends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    audio = varied(1003)
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, _),
    ):
        with trio.fail_after(60):
            for piece in pieces(audio, [7 * 48 + 2, 33 * 48, 101 * 48 + 6, 1000]):
                await session.append_audio(piece)
            await settle()
            chunks = appends(server)
            assert {len(c) for c in chunks} == {20 * BYTES_PER_MS}
            assert len(chunks) == 1003 // 20
            assert b"".join(chunks) == audio[: len(chunks) * 960]
            item_id = await session.commit_audio()  # sends the 3 ms remainder first
            retrieved = await session.retrieve_item(item_id)
    chunks = appends(server)
    assert len(chunks[-1]) == 3 * BYTES_PER_MS
    assert b"".join(chunks) == audio
    assert isinstance(retrieved, events.MessageItem)
    part = retrieved.content[0]
    assert isinstance(part, events.InputAudio)
    assert part.audio_bytes() == audio
    stats = session.statistics().audio_input
    assert (stats.bytes_in, stats.bytes_out, stats.dropped_bytes) == (len(audio), len(audio), 0)


async def test_audio_chunk_ms_sets_the_append_size(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL, audio_chunk_ms=50) as (session, _),
    ):
        with trio.fail_after(60):
            await session.append_audio(varied(230))
            await settle()
    assert [len(c) for c in appends(server)] == [50 * BYTES_PER_MS] * 4


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
async def test_other_sample_rates_are_resampled_to_24khz(
    autojump_clock: trio.testing.MockClock, rate: int
) -> None:
    tone = sine(rate, 1000)
    ten_ms = rate // 100 * 2
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            for piece in pieces(tone, [ten_ms]):
                await session.append_audio(piece, sample_rate=rate)
            await session.commit_audio()
            await settle()
    chunks = appends(server)
    assert all(len(c) == 960 for c in chunks[:-1])
    audio = b"".join(chunks)
    assert abs(len(audio) - 1000 * BYTES_PER_MS) <= 0.005 * 1000 * BYTES_PER_MS
    assert dominant_hz(audio[4800:-4800]) == pytest.approx(440, rel=0.01)
    assert session.statistics().audio_input.resampled_bytes == len(tone)
    assert server_errors(log) == []


@pytest.mark.parametrize("fmt", [events.AudioFormat.pcmu(), events.AudioFormat.pcma()])
async def test_g711_input_passes_through_untouched(
    autojump_clock: trio.testing.MockClock, fmt: events.AudioFormat
) -> None:
    properties = events.SessionProperties(
        audio=events.AudioConfig(input=events.AudioInput(format=fmt, turn_detection=None))
    )
    audio = varied(500, bytes_per_ms=8)
    async with (
        fake_server() as server,
        agent(server, properties) as (session, log),
    ):
        with trio.fail_after(60):
            for piece in pieces(audio, [13, 170, 999]):
                await session.append_audio(piece)
            await session.append_audio(b"", sample_rate=8000)
            with pytest.raises(trealtime.ConfigurationError):
                await session.append_audio(b"\x00" * 320, sample_rate=16000)
            await settle()
            assert {len(c) for c in appends(server)} == {20 * 8}
            item_id = await session.commit_audio()
            retrieved = await session.retrieve_item(item_id)
    assert b"".join(appends(server)) == audio
    assert isinstance(retrieved, events.MessageItem)
    part = retrieved.content[0]
    assert isinstance(part, events.InputAudio)
    assert part.audio_bytes() == audio
    assert session.statistics().audio_input.resampled_bytes == 0
    assert server_errors(log) == []


async def test_paused_audio_input_is_dropped_until_resumed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, _),
    ):
        with trio.fail_after(60):
            await session.append_audio(varied(30))  # one append, 10 ms kept back
            session.set_audio_input_paused(True)
            await session.append_audio(varied(200))
            await settle()
            assert len(appends(server)) == 1
            session.set_audio_input_paused(False)
            await session.append_audio(varied(10))  # the 10 ms from before were discarded
            await settle()
            assert len(appends(server)) == 1
            await session.append_audio(varied(30))
            await settle()
    assert len(appends(server)) == 3
    stats = session.statistics().audio_input
    assert stats.dropped_bytes == 200 * BYTES_PER_MS
    assert stats.discarded_bytes == 10 * BYTES_PER_MS


async def test_start_audio_paused_drops_audio_until_resumed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL, start_audio_paused=True) as (session, _),
    ):
        with trio.fail_after(60):
            await session.append_audio(varied(100))
            await settle()
            assert appends(server) == []
            session.set_audio_input_paused(False)
            await session.append_audio(varied(100))
            await settle()
    assert len(appends(server)) == 5


async def test_commit_guard_refuses_less_than_100ms_without_asking_the_server(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            await session.append_audio(varied(90))
            with pytest.raises(trealtime.LocalProtocolError, match="only 90 ms"):
                await session.commit_audio()
            await settle()
            assert sent(server, events.InputAudioBufferCommit) == []
            await session.append_audio(varied(10))  # exactly 100 ms now
            item_id = await session.commit_audio()
            committed = await log.wait_for(events.InputAudioBufferCommitted)
            await session.append_audio(varied(60))
            with pytest.raises(trealtime.LocalProtocolError, match="only 60 ms"):
                await session.commit_audio()  # counted from the last commit
            await settle()
    assert committed.item_id == item_id
    assert len(sent(server, events.InputAudioBufferCommit)) == 1
    assert "input_audio_buffer_commit_empty" not in server_errors(log)


async def test_manual_interrupt_clears_the_input_and_replays_the_preroll(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # pipecat's order in manual mode: appends, clear, one pre-roll append (then cancel). The
    # pre-roll is the last 0.5 s appended, so the words that interrupted are not lost.
    audio = varied(1200)
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            await session.append_audio(audio)
            await session.interrupt()
            await settle()
            assert wire(server)[-2:] == [
                "input_audio_buffer.clear",
                "input_audio_buffer.append",
            ]
            preroll = appends(server)[-1]
            # The replayed pre-roll counts as buffered audio: it can be committed.
            item_id = await session.commit_audio()
            retrieved = await session.retrieve_item(item_id)
    assert preroll == audio[-500 * BYTES_PER_MS :]
    assert isinstance(retrieved, events.MessageItem)
    part = retrieved.content[0]
    assert isinstance(part, events.InputAudio)
    assert part.audio_bytes() == preroll
    assert server_errors(log) == []


@pytest.mark.parametrize(("preroll_ms", "appended_ms"), [(200, 1000), (0, 1000), (500, 300)])
async def test_preroll_size_is_configurable_and_capped_by_what_was_appended(
    autojump_clock: trio.testing.MockClock, preroll_ms: int, appended_ms: int
) -> None:
    audio = varied(appended_ms)
    async with (
        fake_server() as server,
        agent(server, MANUAL, preroll_ms=preroll_ms) as (session, _),
    ):
        with trio.fail_after(60):
            await session.append_audio(audio)
            await settle()
            count = len(appends(server))
            await session.interrupt()
            await settle()
    after = server.received[[e.type for e in server.received].index("input_audio_buffer.clear") :]
    replayed = [e.audio_bytes() for e in after if isinstance(e, events.InputAudioBufferAppend)]
    kept = min(preroll_ms, appended_ms) * BYTES_PER_MS
    assert replayed == ([audio[-kept:]] if kept else [])
    assert len(appends(server)) == count + (1 if kept else 0)


async def test_pausing_input_empties_the_preroll(autojump_clock: trio.testing.MockClock) -> None:
    # Audio from before a pause (e.g. while the bot was muted) is never sent after it.
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, _),
    ):
        with trio.fail_after(60):
            await session.append_audio(varied(600))
            session.set_audio_input_paused(True)
            session.set_audio_input_paused(False)
            await session.interrupt()
            await settle()
    assert wire(server)[-1] == "input_audio_buffer.clear"


async def test_server_vad_mode_keeps_no_preroll_and_sends_no_clear(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, _),
    ):
        with trio.fail_after(60):
            await session.append_audio(silence(1000))
            await settle()
            count = len(appends(server))
            interruption = await session.interrupt()
            await settle()
    assert interruption.truncation is None and interruption.cancelled_response_id is None
    assert sent(server, events.InputAudioBufferClear) == []
    assert len(appends(server)) == count


async def test_input_transcription_fills_the_transcript_and_the_conversation(
    autojump_clock: trio.testing.MockClock,
) -> None:
    text = "book a table for two at eight"
    async with (
        fake_server(transcript=text) as server,
        agent(server, with_transcription(MANUAL)) as (session, log),
    ):
        with trio.fail_after(60):
            await session.append_audio(synthesize_speech(400))
            item_id = await session.commit_audio()
            completed = await log.wait_for(
                events.ConversationItemInputAudioTranscriptionCompleted,
                lambda e: e.item_id == item_id,
            )
    deltas = [
        e.delta
        for e in log.of(events.ConversationItemInputAudioTranscriptionDelta)
        if e.item_id == item_id
    ]
    assert len(deltas) > 1 and "".join(str(d) for d in deltas) == text
    assert completed.transcript == text
    assert session.input_transcript(item_id) == text
    item = session.state.conversation.get(item_id)
    assert isinstance(item, events.MessageItem)
    part = item.content[0]
    assert isinstance(part, events.InputAudio) and part.transcript == text


def _transcription_delta(item_id: str, delta: str) -> dict[str, object]:
    return {
        "type": "conversation.item.input_audio_transcription.delta",
        "item_id": item_id,
        "content_index": 0,
        "delta": delta,
    }


async def test_transcription_deltas_are_assembled_per_item(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, with_transcription(SERVER_VAD)) as (session, log),
    ):
        with trio.fail_after(60):
            for item_id, delta in [
                ("item_x", "hello "),
                ("item_y", "bonjour "),
                ("item_x", "world"),
                ("item_y", "le monde"),
            ]:
                await server.send_event(_transcription_delta(item_id, delta))
            await log.wait_count(events.ConversationItemInputAudioTranscriptionDelta, 4)
            assert session.input_transcript("item_x") == "hello world"
            assert session.input_transcript("item_y") == "bonjour le monde"
            await server.send_event(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": "item_x",
                    "content_index": 0,
                    "transcript": "Hello, world.",
                }
            )
            await log.wait_for(events.ConversationItemInputAudioTranscriptionCompleted)
    assert session.input_transcript("item_x") == "Hello, world."
    assert session.input_transcript("item_y") == "bonjour le monde"
    assert session.input_transcript("item_unknown") == ""


async def test_transcription_failure_is_surfaced_and_the_session_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            await session.append_audio(synthesize_speech(300))
            item_id = await session.commit_audio()
            await server.send_event(
                {
                    "type": "conversation.item.input_audio_transcription.failed",
                    "item_id": item_id,
                    "content_index": 0,
                    "error": {
                        "type": "transcription_error",
                        "code": "audio_unintelligible",
                        "message": "The audio could not be transcribed.",
                    },
                }
            )
            failed = await log.wait_for(events.ConversationItemInputAudioTranscriptionFailed)
            handle = await session.create_response()
            assert (await handle.done()).final_status == "completed"
            assert not session.closed
    assert failed.item_id == item_id
    assert isinstance(failed.error, events.ErrorInfo)
    assert failed.error.code == "audio_unintelligible"
    with pytest.raises(trealtime.TranscriptionFailed) as not_transcribed:
        session.input_transcript(item_id)  # says so, rather than an empty transcript
    assert not_transcribed.value.item_id == item_id
    assert not_transcribed.value.code == "audio_unintelligible"
    assert "could not be transcribed" in str(not_transcribed.value)
    assert session.input_transcript("item_unknown") == ""  # nothing heard of it (yet)


async def test_switching_to_manual_turns_at_runtime_starts_keeping_the_preroll(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, SERVER_VAD) as (session, _),
    ):
        with trio.fail_after(60):
            await session.append_audio(silence(300))  # server VAD: no pre-roll kept
            manual = events.SessionProperties(
                audio=events.AudioConfig(input=events.AudioInput(turn_detection=None))
            )
            await session.update_settings(trealtime.RealtimeSettings(session_properties=manual))
            audio = varied(700)
            await session.append_audio(audio)
            await session.interrupt()
            await settle()
    assert wire(server)[-2:] == ["input_audio_buffer.clear", "input_audio_buffer.append"]
    assert appends(server)[-1] == audio[-500 * BYTES_PER_MS :]


# -- what a new user gets wrong ----------------------------------------------------------------


async def test_append_audio_of_a_str_says_bytes_are_expected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake_server() as server, agent(server) as (session, _):
        with pytest.raises(TypeError, match=r"audio must be bytes \(audio/pcm: PCM16.*not str"):
            await session.append_audio("hello")  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [7000, 4000, 96000])
async def test_append_audio_refuses_rates_outside_8_to_48_khz(
    autojump_clock: trio.testing.MockClock, rate: int
) -> None:
    async with fake_server() as server, agent(server) as (session, _):
        with pytest.raises(trealtime.ConfigurationError, match="8000 to 48000 Hz"):
            await session.append_audio(bytes(rate // 50 * 2), sample_rate=rate)


async def test_an_odd_byte_is_never_lost_at_commit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    audio = varied(200)
    async with fake_server() as server, agent(server) as (session, _):
        with trio.fail_after(60):
            await session.append_audio(audio + b"\x01")
            with pytest.raises(trealtime.LocalProtocolError, match="half a sample"):
                await session.commit_audio()
            await session.append_audio(b"\x02")  # the other half: now it commits whole
            await session.commit_audio()
            await settle()
    assert b"".join(appends(server)) == audio + b"\x01\x02"
