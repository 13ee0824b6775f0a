"""The fake server's protocol core, driven with plain lists of client events: no socket, no clock.

:class:`FakeProtocol` is what each fake connection drives (client frames in, server frames
out); the handshake rules are checked from plain request values. The same behaviour over a
real WebSocket is in ``test_fake_server.py``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
import pytest

from trealtime import events as ev
from trealtime.testing import silence, synthesize_speech
from trealtime.testing._protocol._core import FakeProtocol, Outgoing
from trealtime.testing._protocol._handshake import (
    apply_preset,
    check_handshake,
    mask_key,
    presented_key,
    requested_session,
)
from trealtime.testing._protocol._ids import IdFactory
from trealtime.testing._protocol._script import Script
from trealtime.testing._protocol._session import FakeSession

USER_TEXT = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
}
RESPONSE_CREATE = {"type": "response.create"}
TEXT_ONLY = {
    "type": "session.update",
    "session": {"type": "realtime", "output_modalities": ["text"]},
}


def new_core(*, strict: list[bool] | None = None, reply: str = "Hello there.") -> FakeProtocol:
    """A connection's core; ``strict``: a one-item list the test may flip while it runs."""
    ids = IdFactory(0)
    state = FakeSession(script=Script(reply=reply), new_id=ids.new, model="gpt-realtime")
    flag = strict if strict is not None else [False]
    return FakeProtocol(state, new_id=ids.new, strict=lambda: flag[0])


def decode(frames: list[Outgoing]) -> list[ev.ServerEvent]:
    """The events of ``frames``, checked against the wire model (and each frame's ``type``)."""
    events = [ev.decode_server_event(frame.text, strict=True) for frame in frames]
    assert [frame.type for frame in frames] == [event.type for event in events]
    return events


def drive(core: FakeProtocol, client_events: list[dict[str, Any]]) -> list[ev.ServerEvent]:
    """Every server event the client events cause, each response run to its end at once."""
    frames: list[Outgoing] = []
    for body in client_events:
        reply = core.receive(json.dumps(body))
        frames += reply.frames
        for stream in reply.started:
            while not stream.done:
                frames += core.advance(stream).frames
    return decode(frames)


def append(audio: bytes, chunk_ms: int = 20) -> list[dict[str, Any]]:
    """``input_audio_buffer.append`` events of ``audio`` (PCM16 24 kHz) in ``chunk_ms`` chunks."""
    step = chunk_ms * 48
    return [
        {
            "type": "input_audio_buffer.append",
            "audio": base64.b64encode(audio[i : i + step]).decode(),
        }
        for i in range(0, len(audio), step)
    ]


# -- frames in, frames out ----------------------------------------------------------------------


def test_the_core_opens_with_session_created() -> None:
    core = new_core()
    [created] = decode(core.open())
    assert isinstance(created, ev.SessionCreated)
    assert created.event_id and created.session == core.state.session


def test_a_turn_is_the_api_sequence_from_client_events_alone() -> None:
    events = drive(core := new_core(), [TEXT_ONLY, USER_TEXT, RESPONSE_CREATE])
    types = [type(e) for e in events]
    assert types[:3] == [ev.SessionUpdated, ev.ConversationItemAdded, ev.ConversationItemDone]
    assert types[3:7] == [
        ev.ResponseCreated,
        ev.ResponseOutputItemAdded,
        ev.ConversationItemAdded,
        ev.ResponseContentPartAdded,
    ]
    deltas = [e for e in events if isinstance(e, ev.ResponseOutputTextDelta)]
    assert "".join(d.delta for d in deltas) == "Hello there."
    assert types[-2:] == [ev.RateLimitsUpdated, ev.ResponseDone]
    ids = [e.event_id for e in events]
    assert all(ids) and len(set(ids)) == len(ids)
    assert list(core.state.conversation)[-1].id == deltas[0].item_id


def test_advance_steps_a_response_then_ends_it_once() -> None:
    core = new_core(reply="one two three")
    drive(core, [USER_TEXT])
    [stream] = core.receive(json.dumps(RESPONSE_CREATE)).started
    steps = []
    while not stream.done:
        steps.append(core.advance(stream))
    assert [step.done for step in steps] == [False] * (len(steps) - 1) + [True]
    assert all(step.audio_ms > 0 for step in steps[:-1]) and steps[-1].audio_ms == 0
    assert isinstance(decode(steps[-1].frames)[-1], ev.ResponseDone)
    audio = sum(
        len(base64.b64decode(e.delta))
        for step in steps
        for e in decode(step.frames)
        if isinstance(e, ev.ResponseOutputAudioDelta)
    )
    assert sum(step.audio_ms for step in steps) == audio // 48  # PCM16 at 24 kHz: 48 bytes/ms


def test_a_client_mistake_is_an_error_answering_its_event_id() -> None:
    [error] = drive(new_core(), [{"type": "response.cancel", "event_id": "evt_mine"}])
    assert isinstance(error, ev.Error)
    assert error.error.code == "response_cancel_not_active"
    assert error.error.event_id == "evt_mine"


def test_strict_mode_is_asked_at_each_frame() -> None:
    strict = [False]
    core = new_core(strict=strict)
    loose = core.receive(json.dumps(USER_TEXT)).frames
    strict[0] = True
    tight = core.receive(json.dumps(USER_TEXT)).frames
    assert "previous_item_id" in orjson.loads(loose[0].text)  # null: the first item
    assert "previous_item_id" not in orjson.loads(tight[0].text)  # optional in the schema


def test_a_scripted_body_gets_an_event_id_only_if_it_has_none() -> None:
    core = new_core()
    frame = core.encode_body({"type": "response.future.delta", "x": 1})
    body = orjson.loads(frame.text)
    assert frame.type == "response.future.delta" and body["event_id"] and body["x"] == 1
    kept = core.encode_body({"type": "error", "event_id": "evt_given"})
    assert orjson.loads(kept.text)["event_id"] == "evt_given"
    assert core.encode_body({"no": "type"}).type is None


# -- voice activity and barge-in, in the core ---------------------------------------------------


def test_server_vad_turn_commits_and_answers() -> None:
    events = drive(
        new_core(), append(silence(500) + synthesize_speech(1000, seed=3) + silence(500))
    )
    types = [type(e) for e in events]
    started, stopped = (
        types.index(ev.InputAudioBufferSpeechStarted),
        types.index(ev.InputAudioBufferSpeechStopped),
    )
    assert started < stopped < types.index(ev.InputAudioBufferCommitted)
    assert types.index(ev.InputAudioBufferCommitted) < types.index(ev.ResponseCreated)
    assert types[-1] is ev.ResponseDone


def test_speech_during_a_response_cancels_it() -> None:
    core = new_core(reply="A long answer. " * 10)
    drive(core, [USER_TEXT])
    [stream] = core.receive(json.dumps(RESPONSE_CREATE)).started
    core.advance(stream)  # the response is under way
    heard: list[Outgoing] = []
    for body in append(silence(100) + synthesize_speech(600, seed=3)):
        heard += core.receive(json.dumps(body)).frames
    assert stream.done  # the driver stops: nothing more to advance
    events = decode(heard)
    [done] = [e for e in events if isinstance(e, ev.ResponseDone)]
    assert done.response.status == "cancelled"
    assert done.response.status_details == ev.StatusDetails(
        type="cancelled", reason="turn_detected"
    )
    assert [type(e) for e in events].index(ev.InputAudioBufferSpeechStarted) < events.index(done)


# -- the handshake --------------------------------------------------------------------------------

KEY = "sk-test-fake"
BEARER = {"authorization": f"Bearer {KEY}"}


def check(
    path: str = "/v1/realtime",
    headers: dict[str, str] | None = None,
    protocols: tuple[str, ...] = (),
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    status, body = check_handshake(
        path,
        BEARER if headers is None else headers,
        protocols,
        query or {},
        accepts_key=lambda key: key == KEY,
    )
    return status, orjson.loads(body) if body else {}


def test_a_good_handshake_is_accepted() -> None:
    assert check() == (101, {})


@pytest.mark.parametrize(
    ("request_args", "status", "code"),
    [
        ({"path": "/v1/other"}, 404, None),
        ({"headers": {**BEARER, "openai-beta": "realtime=v1"}}, 400, None),
        ({"protocols": ("realtime", "openai-beta.realtime-v1")}, 400, None),
        ({"headers": {}}, 401, None),
        ({"headers": {"authorization": "Bearer sk-wrong-key-1234"}}, 401, "invalid_api_key"),
    ],
)
def test_a_bad_handshake_gets_the_api_status(
    request_args: dict[str, Any], status: int, code: str | None
) -> None:
    got, body = check(**request_args)
    assert got == status
    assert body["error"]["code"] == code and body["error"]["message"]


def test_a_wrong_key_is_quoted_masked() -> None:
    _, body = check(headers={"authorization": "Bearer sk-wrong-key-1234"})
    assert "sk-wrong-key-1234" not in body["error"]["message"]
    assert mask_key("sk-wrong-key-1234") in body["error"]["message"]
    assert mask_key("short") == "*****"


@pytest.mark.parametrize(
    ("headers", "protocols", "query"),
    [
        ({"authorization": f"Bearer {KEY}"}, (), {}),
        ({"api-key": KEY}, (), {}),
        ({}, ("realtime", f"openai-insecure-api-key.{KEY}"), {}),
        ({}, (), {"api-key": KEY}),
    ],
)
def test_the_key_is_read_from_each_place_clients_put_it(
    headers: dict[str, str], protocols: tuple[str, ...], query: dict[str, str]
) -> None:
    assert presented_key(headers, protocols, query) == KEY
    assert check(headers=headers, protocols=protocols, query=query)[0] == 101


def test_the_session_a_handshake_asks_for() -> None:
    assert requested_session({}, None) == ("realtime", None)
    assert requested_session({"model": "m1", "intent": "transcription"}, None) == (
        "transcription",
        "m1",
    )
    assert requested_session({"deployment": "d1"}, None) == ("realtime", "d1")
    preset = {"type": "transcription", "model": "m2"}
    assert requested_session({"model": "m1"}, preset) == ("transcription", "m2")


def test_a_preset_starts_the_session_and_a_bad_one_is_ignored() -> None:
    ids = IdFactory(0)
    state = FakeSession(script=Script(), new_id=ids.new, model="gpt-realtime")
    apply_preset(state, {"type": "realtime", "instructions": "Be brief."})
    assert isinstance(state.session, ev.SessionProperties)
    assert state.session.instructions == "Be brief."
    before = state.session
    apply_preset(state, {"type": "realtime", "instructions": 42})
    assert state.session == before
