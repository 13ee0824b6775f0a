"""``update_settings`` against the fake server: the wire carries what the user changed."""

from __future__ import annotations

import logging

import pytest
import trio

import trealtime
from trealtime import events
from trealtime.testing import FakeRealtimeServer

VAD = events.ServerVad(threshold=0.5, silence_duration_ms=300)
CONFIGURED = events.SessionProperties(
    instructions="Be brief.",
    audio=events.AudioConfig(
        input=events.AudioInput(
            turn_detection=VAD,
            transcription=events.InputAudioTranscription(model="gpt-4o-mini-transcribe"),
        ),
        output=events.AudioOutput(voice="marin"),
    ),
)


def _last_update(server: FakeRealtimeServer) -> dict[str, object]:
    update = server.received[-1]
    assert isinstance(update, events.SessionUpdate)
    sent: dict[str, object] = events.to_dict(update.session)
    return sent


def _audio_input(session: trealtime.Session) -> events.AudioInput:
    confirmed = session.properties
    assert isinstance(confirmed, events.SessionProperties)
    assert isinstance(confirmed.audio, events.AudioConfig)
    assert isinstance(confirmed.audio.input, events.AudioInput)
    return confirmed.audio.input


def _vad_on(session: trealtime.Session) -> bool:
    vad = _audio_input(session).turn_detection
    return isinstance(vad, events.ServerVad) and vad.silence_duration_ms == 300


async def test_a_voice_change_leaves_turn_detection_on(
    realtime_server: FakeRealtimeServer,
) -> None:
    settings = trealtime.RealtimeSettings(session_properties=CONFIGURED)
    with trio.fail_after(10):
        async with trealtime.open_session(
            url=realtime_server.url, api_key=realtime_server.api_key, settings=settings
        ) as session:
            voice = events.AudioConfig(output=events.AudioOutput(voice="cedar"))
            await session.update_settings(
                trealtime.RealtimeSettings(session_properties=events.SessionProperties(audio=voice))
            )
            assert _last_update(realtime_server) == {
                "type": "realtime",
                "audio": {"output": {"voice": "cedar"}},
            }
            assert _vad_on(session)  # what the server confirmed
            assert _audio_input(session).transcription is not None

            # The README's delta, as a plain mapping: only those two fields go out.
            await session.update_settings(
                {"instructions": "Answer in French.", "output_modalities": ["text"]}
            )
            assert _last_update(realtime_server) == {
                "type": "realtime",
                "instructions": "Answer in French.",
                "output_modalities": ["text"],
            }
            assert _vad_on(session)
            assert session.settings.system_instruction == "Answer in French."

            # None clears where the API gives null a meaning.
            off = events.AudioConfig(input=events.AudioInput(turn_detection=None))
            await session.update_settings({"audio": events.to_dict(off)})
            assert _last_update(realtime_server) == {
                "type": "realtime",
                "audio": {"input": {"turn_detection": None}},
            }
            assert _audio_input(session).turn_detection is None


async def test_ignored_settings_are_logged_once_with_what_to_use(
    realtime_server: FakeRealtimeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="trealtime")
    settings = trealtime.RealtimeSettings(temperature=0.7, max_tokens=200)
    with trio.fail_after(10):
        async with trealtime.open_session(
            url=realtime_server.url, api_key=realtime_server.api_key, settings=settings
        ) as session:
            await session.update_settings({"max_tokens": 300, "instructions": "Hi."})
    ignored = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(ignored) == 2  # once per setting, not once per update
    assert any("'max_tokens'" in m and "max_output_tokens" in m for m in ignored)
    assert any("'temperature'" in m for m in ignored)
    for update in realtime_server.received:
        if isinstance(update, events.SessionUpdate):
            assert "max_tokens" not in events.to_dict(update.session)
