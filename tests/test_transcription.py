"""Transcription-only sessions: audio in, transcripts out, no responses (issue 14, finding 4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio

import trealtime
from trealtime import events
from trealtime.testing import FakeRealtimeServer, synthesize_speech

MANUAL_INPUT = events.AudioInput(
    transcription=events.InputAudioTranscription(model="gpt-4o-transcribe", language="en"),
    turn_detection=None,
)
TRANSCRIPTION = events.TranscriptionSessionProperties(audio=events.AudioConfig(input=MANUAL_INPUT))


@pytest.fixture
async def server() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer.serve() as server:
        yield server


def open_transcription(
    server: FakeRealtimeServer, properties: events.TranscriptionSessionProperties = TRANSCRIPTION
) -> AbstractAsyncContextManager[trealtime.Session]:
    return trealtime.open_session(
        url=server.url,
        api_key=server.api_key,
        settings=trealtime.RealtimeSettings(session_properties=properties),
    )


def _sent_sessions(server: FakeRealtimeServer) -> list[dict[str, Any]]:
    return [
        events.to_dict(event.session)
        for event in server.received
        if isinstance(event, events.SessionUpdate)
    ]


async def _speak(session: trealtime.Session) -> str:
    await session.append_audio(synthesize_speech(600))
    return await session.commit_audio()


async def test_a_transcription_session_opens_and_transcribes(server: FakeRealtimeServer) -> None:
    with trio.fail_after(10):
        async with open_transcription(server) as session:
            assert session.transcription_only
            assert isinstance(session.properties, events.TranscriptionSessionProperties)
            item_id = await _speak(session)
            completed = await session.wait_for(
                events.ConversationItemInputAudioTranscriptionCompleted
            )
            assert completed.item_id == item_id
            assert completed.transcript
            assert session.input_transcript(item_id) == completed.transcript
    path = server.connections[0].path
    assert "intent=transcription" in path and "model=" not in path
    first = _sent_sessions(server)[0]
    assert first["type"] == "transcription"
    assert first["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"


async def test_deltas_come_before_the_completed_transcript(server: FakeRealtimeServer) -> None:
    deltas: list[str] = []
    transcript = None
    with trio.fail_after(10):
        async with open_transcription(server) as session:
            await _speak(session)
            async for event in session:
                if isinstance(event, events.ConversationItemInputAudioTranscriptionDelta):
                    deltas.append(str(event.delta))
                if isinstance(event, events.ConversationItemInputAudioTranscriptionCompleted):
                    transcript = event.transcript
                    break
    assert deltas and "".join(deltas) == transcript


async def test_failed_transcriptions_and_diarized_segments(server: FakeRealtimeServer) -> None:
    diarize = events.TranscriptionSessionProperties(
        audio=events.AudioConfig(
            input=events.AudioInput(
                transcription=events.InputAudioTranscription(model="gpt-4o-transcribe-diarize"),
                turn_detection=None,
            )
        )
    )
    with trio.fail_after(10):
        async with open_transcription(server, diarize) as session:
            item_id = await _speak(session)
            segment = await session.wait_for(events.ConversationItemInputAudioTranscriptionSegment)
            assert segment.item_id == item_id and segment.speaker
            server.transcript = lambda audio: None  # the fake cannot make it out
            failing = await _speak(session)
            failed = await session.wait_for(events.ConversationItemInputAudioTranscriptionFailed)
            assert failed.item_id == failing
            assert failed.error.code == "audio_unintelligible"


async def test_no_responses_on_a_transcription_session(server: FakeRealtimeServer) -> None:
    with trio.fail_after(10):
        async with open_transcription(server) as session:
            with pytest.raises(trealtime.LocalProtocolError, match="transcription session"):
                await session.create_response()
            with pytest.raises(trealtime.LocalProtocolError, match="transcription session"):
                await session.send_text("hello", respond=True)
            assert not any(isinstance(e, events.ResponseCreate) for e in server.received)


async def test_transcription_settings_go_through_update_settings(
    server: FakeRealtimeServer,
) -> None:
    german = events.AudioConfig(
        input=events.AudioInput(transcription=events.InputAudioTranscription(language="de"))
    )
    with trio.fail_after(10):
        async with open_transcription(server) as session:
            await session.update_settings(
                trealtime.RealtimeSettings(
                    session_properties=events.TranscriptionSessionProperties(audio=german)
                )
            )
            assert _sent_sessions(server)[-1] == {
                "type": "transcription",
                "audio": {"input": {"transcription": {"language": "de"}}},
            }
            await session.update_settings({"include": ["item.input_audio_transcription.logprobs"]})
            assert _sent_sessions(server)[-1] == {
                "type": "transcription",
                "include": ["item.input_audio_transcription.logprobs"],
            }
            with pytest.raises(trealtime.ConfigurationError, match="output_modalities"):
                await session.update_settings({"output_modalities": ["text"]})
            confirmed = session.properties
            assert isinstance(confirmed, events.TranscriptionSessionProperties)
            assert isinstance(confirmed.audio, events.AudioConfig)
            assert isinstance(confirmed.audio.input, events.AudioInput)
            transcription = confirmed.audio.input.transcription
            assert isinstance(transcription, events.InputAudioTranscription)
            assert (transcription.model, transcription.language) == ("gpt-4o-transcribe", "de")


def test_transcription_settings_build_and_round_trip() -> None:
    settings = trealtime.RealtimeSettings(session_properties=TRANSCRIPTION)
    assert settings.session_properties == TRANSCRIPTION
    assert trealtime.RealtimeSettings.from_mapping(settings.to_mapping()) == settings
