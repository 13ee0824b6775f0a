"""Content parts whose optional ``type`` the server left out are typed by context (issue 14).

The schema makes a content part's ``type`` optional. The codec keeps such a part whole (an
``UnknownContentPart``, so that it re-encodes unchanged); the session types it by the message's
role and the part's fields, so that no transcript or text is lost from the events, the handles
and the conversation mirror.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trealtime import events
from trealtime._session._state import SessionState
from trealtime._wire._codec import with_part_types_in


def _decoded(frame: dict[str, Any]) -> events.ServerEvent:
    return events.decode_server_event(orjson.dumps(frame))


def _added(role: str, part: dict[str, Any]) -> dict[str, Any]:
    item = {"type": "message", "id": "item_1", "role": role, "content": [part]}
    return {"type": "conversation.item.added", "event_id": "ev", "item": item}


@pytest.mark.parametrize(
    ("role", "part", "expected"),
    [
        ("assistant", {"transcript": "hi"}, events.OutputAudio(transcript="hi")),
        ("assistant", {"audio": "AAAA"}, events.OutputAudio(audio="AAAA")),
        ("assistant", {"text": "hi"}, events.OutputText(text="hi")),
        ("user", {"transcript": None}, events.InputAudio(transcript=None)),
        ("user", {"text": "hi"}, events.InputText(text="hi")),
        (
            "user",
            {"image_url": "data:image/png;base64,AA"},
            events.InputImage(image_url="data:image/png;base64,AA"),
        ),
        ("system", {"text": "note"}, events.InputText(text="note")),
    ],
)
def test_a_part_without_type_is_typed_by_role_and_fields(
    role: str, part: dict[str, Any], expected: events.ContentPart
) -> None:
    raw = _decoded(_added(role, part))
    assert isinstance(raw, events.ConversationItemAdded)
    assert isinstance(raw.item, events.MessageItem)
    assert isinstance(raw.item.content[0], events.UnknownContentPart)  # the codec keeps it whole
    typed = with_part_types_in(raw)
    assert isinstance(typed, events.ConversationItemAdded)
    assert isinstance(typed.item, events.MessageItem)
    assert typed.item.content == [expected]


def test_a_part_with_values_of_the_wrong_type_stays_unknown() -> None:
    raw = _decoded(_added("assistant", {"text": 5}))
    assert with_part_types_in(raw) is raw


def test_the_parts_of_content_part_events_and_response_output_are_typed() -> None:
    part = _decoded(
        {
            "type": "response.content_part.done",
            "event_id": "ev",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "part": {"transcript": "hello"},
        }
    )
    typed = with_part_types_in(part)
    assert isinstance(typed, events.ResponseContentPartDone)
    assert typed.part == events.OutputAudio(type="audio", transcript="hello")
    item = _added("assistant", {"transcript": "hello"})["item"]
    done = _decoded(
        {"type": "response.done", "event_id": "ev", "response": {"id": "r", "output": [item]}}
    )
    typed_done = with_part_types_in(done)
    assert isinstance(typed_done, events.ResponseDone)
    assert isinstance(typed_done.response.output, list)
    output = typed_done.response.output[0]
    assert isinstance(output, events.MessageItem) and output.text == "hello"


def test_the_mirror_keeps_the_transcript_of_an_untyped_part() -> None:
    state = SessionState()
    state.apply(_decoded(_added("user", {"transcript": None})))
    state.apply(
        _decoded(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "event_id": "ev",
                "item_id": "item_1",
                "content_index": 0,
                "transcript": "what the user said",
            }
        )
    )
    item = state.conversation.get("item_1")
    assert isinstance(item, events.MessageItem)
    assert item.content == [events.InputAudio(transcript="what the user said")]
    assert item.text == "what the user said"


def test_message_text_reads_an_untyped_part() -> None:
    item = _decoded(_added("assistant", {"transcript": "spoken"}))
    assert isinstance(item, events.ConversationItemAdded)
    assert isinstance(item.item, events.MessageItem) and item.item.text == "spoken"
