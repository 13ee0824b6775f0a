"""The sans-IO state mirror and request correlation, driven by plain server events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trealtime import ServerError, SessionClosed
from trealtime._session._requests import PendingRequest, RequestTracker
from trealtime._session._state import Conversation, SessionState
from trealtime.events import (
    ErrorDetail,
    FunctionCallItem,
    InputAudio,
    MessageItem,
    OutputAudio,
    ServerEvent,
    decode_server_event,
)


def feed(state: SessionState, *frames: dict[str, Any]) -> list[ServerEvent]:
    events = [decode_server_event(orjson.dumps(frame)) for frame in frames]
    for event in events:
        state.apply(event)
    return events


def added(item_id: str, previous: str | None, role: str = "user") -> dict[str, Any]:
    return {
        "type": "conversation.item.added",
        "event_id": f"ev_{item_id}",
        "previous_item_id": previous,
        "item": {"id": item_id, "type": "message", "role": role, "content": []},
    }


def ids(state: SessionState) -> list[str | object]:
    return [item.id for item in state.conversation.items]


def test_items_are_ordered_by_previous_item_id() -> None:
    state = SessionState()
    feed(state, added("a", None), added("c", "a"), added("b", "a"), added("z", None))
    assert ids(state) == ["z", "a", "b", "c"]


def test_item_with_unknown_predecessor_goes_last_and_done_updates_in_place() -> None:
    state = SessionState()
    feed(state, added("a", None), added("b", "gone_before_reconnect"))
    done = added("a", None)
    done["type"] = "conversation.item.done"
    done["item"]["status"] = "completed"
    feed(state, done)
    assert ids(state) == ["a", "b"]
    first = state.conversation.items[0]
    assert isinstance(first, MessageItem)
    assert first.status == "completed"


def test_delete_truncate_and_transcription() -> None:
    state = SessionState()
    user = added("u", None)
    user["item"]["content"] = [{"type": "input_audio", "transcript": None}]
    assistant = added("a", "u", role="assistant")
    assistant["item"]["content"] = [{"type": "output_audio", "transcript": "Hello there"}]
    feed(state, user, assistant, added("x", "a"))
    feed(
        state,
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "event_id": "e1",
            "item_id": "u",
            "content_index": 0,
            "transcript": "book it",
        },
        {
            "type": "conversation.item.truncated",
            "event_id": "e2",
            "item_id": "a",
            "content_index": 0,
            "audio_end_ms": 640,
        },
        {"type": "conversation.item.deleted", "event_id": "e3", "item_id": "x"},
    )
    assert ids(state) == ["u", "a"]
    user_item, assistant_item = state.conversation.items
    assert isinstance(user_item, MessageItem) and isinstance(assistant_item, MessageItem)
    assert user_item.content == [InputAudio(transcript="book it")]
    assert assistant_item.content == [OutputAudio(transcript="")]
    assert state.conversation.truncated_at_ms == {"a": 640}


def response(rid: str, status: str, conversation_id: str | None = "conv_1") -> dict[str, Any]:
    return {"id": rid, "status": status, "conversation_id": conversation_id, "output": []}


def test_active_and_out_of_band_responses() -> None:
    state = SessionState()
    feed(
        state,
        {"type": "response.created", "event_id": "e", "response": response("r1", "in_progress")},
    )
    feed(
        state,
        {
            "type": "response.created",
            "event_id": "e",
            "response": response("oob", "in_progress", conversation_id=None),
        },
    )
    assert state.active_response is not None and state.active_response.id == "r1"
    assert set(state.out_of_band_responses) == {"oob"}
    feed(
        state,
        {"type": "response.done", "event_id": "e", "response": response("oob", "completed", None)},
    )
    assert state.active_response is not None and state.active_response.id == "r1"
    assert state.out_of_band_responses == {}
    feed(state, {"type": "response.done", "event_id": "e", "response": response("r1", "cancelled")})
    assert state.active_response is None
    assert state.last_response is not None and state.last_response.status == "cancelled"


def test_response_done_updates_output_items_and_rate_limits() -> None:
    state = SessionState()
    call = {
        "id": "fc",
        "type": "function_call",
        "call_id": "call_1",
        "name": "f",
        "arguments": "",
        "status": "in_progress",
    }
    feed(
        state,
        {
            "type": "conversation.item.added",
            "event_id": "e",
            "previous_item_id": None,
            "item": call,
        },
    )
    final = dict(call, arguments='{"x":1}', status="completed")
    done = response("r", "completed")
    done["output"] = [final]
    feed(
        state,
        {"type": "response.done", "event_id": "e", "response": done},
        {
            "type": "rate_limits.updated",
            "event_id": "e",
            "rate_limits": [{"name": "tokens", "limit": 10, "remaining": 4, "reset_seconds": 1.5}],
        },
    )
    item = state.conversation.get("fc")
    assert isinstance(item, FunctionCallItem) and item.arguments == '{"x":1}'
    assert [(r.name, r.remaining) for r in state.rate_limits] == [("tokens", 4)]


def test_session_properties_follow_created_and_updated() -> None:
    state = SessionState()
    feed(
        state,
        {
            "type": "session.created",
            "event_id": "e",
            "session": {"type": "realtime", "instructions": "a"},
        },
    )
    feed(
        state,
        {
            "type": "session.updated",
            "event_id": "e",
            "session": {"type": "realtime", "instructions": "b"},
        },
    )
    assert getattr(state.session, "instructions", None) == "b"


# -- request correlation ------------------------------------------------------------------------


def request(tracker: RequestTracker, kind: str, key: str | None, event_id: str) -> PendingRequest:
    pending = PendingRequest(kind, key, event_id, lambda: None)
    tracker.add(pending)
    return pending


def error_frame(event_id: str | None) -> dict[str, Any]:
    return {
        "type": "error",
        "event_id": "srv",
        "error": {
            "type": "invalid_request_error",
            "code": "x",
            "message": "no",
            "event_id": event_id,
        },
    }


def test_replies_match_by_item_id_and_fifo() -> None:
    tracker = RequestTracker()
    retrieve_a = request(tracker, "retrieve", "a", "c1")
    retrieve_b = request(tracker, "retrieve", "b", "c2")
    update_1 = request(tracker, "session.update", None, "c3")
    update_2 = request(tracker, "session.update", None, "c4")
    state = SessionState()
    for event in feed(
        state,
        {
            "type": "conversation.item.retrieved",
            "event_id": "e",
            "item": {"id": "b", "type": "message", "role": "user", "content": []},
        },
        {"type": "session.updated", "event_id": "e", "session": {"type": "realtime"}},
    ):
        tracker.on_server_event(event, ServerError)
    assert retrieve_b.done and not retrieve_a.done
    assert update_1.done and not update_2.done
    assert len(tracker) == 2


def test_error_fails_the_request_named_by_event_id_only() -> None:
    tracker = RequestTracker()
    first = request(tracker, "commit", None, "c1")
    second = request(tracker, "commit", None, "c2")
    for event in feed(SessionState(), error_frame("c2"), error_frame(None), error_frame("other")):
        tracker.on_server_event(event, ServerError)
    assert isinstance(second.error, ServerError) and second.error.event_id == "c2"
    assert not first.done
    # The failed request left the FIFO: the next committed answers the first commit.
    for event in feed(
        SessionState(), {"type": "input_audio_buffer.committed", "event_id": "e", "item_id": "i"}
    ):
        tracker.on_server_event(event, ServerError)
    assert first.done and first.error is None


def test_fail_all_and_finish_once() -> None:
    calls: list[str] = []
    tracker = RequestTracker()
    pending = PendingRequest("delete", "x", "c1", lambda: calls.append("done"))
    tracker.add(pending)
    tracker.fail_all(SessionClosed(1006, None))
    pending.finish(error=ServerError(ErrorDetail(type="t", message="late")))
    assert isinstance(pending.error, SessionClosed)
    assert calls == ["done"]
    assert len(tracker) == 0


@pytest.mark.parametrize(
    "frame", [error_frame(None), {"type": "input_audio_buffer.cleared", "event_id": "e"}]
)
def test_unmatched_events_are_ignored(frame: dict[str, Any]) -> None:
    tracker = RequestTracker()
    keep = request(tracker, "delete", "x", "c1")
    for event in feed(SessionState(), frame):
        tracker.on_server_event(event, ServerError)
    assert not keep.done


def test_a_bounded_mirror_forgets_the_oldest_items() -> None:
    state = SessionState(conversation=Conversation(max_items=3))
    feed(state, added("a", None), added("b", "a"), added("c", "b"))
    feed(
        state,
        {
            "type": "conversation.item.truncated",
            "event_id": "e",
            "item_id": "a",
            "content_index": 0,
            "audio_end_ms": 5,
        },
    )
    feed(state, added("d", "c"), added("e", "d"))
    assert ids(state) == ["c", "d", "e"]
    assert state.conversation.forgotten == 2
    assert state.conversation.truncated_at_ms == {}  # nothing kept for forgotten items
    assert "a" not in state.conversation


def test_a_function_call_item_without_call_id_learns_it_from_the_arguments_events() -> None:
    # The schema makes call_id optional on items; the arguments events always carry it.
    state = SessionState()
    call = {"id": "item_f", "type": "function_call", "name": "get_weather", "arguments": ""}
    where = {"response_id": "resp_1", "item_id": "item_f", "output_index": 0}
    feed(
        state,
        {"type": "conversation.item.added", "event_id": "e1", "item": call},
        {
            "type": "response.function_call_arguments.done",
            "event_id": "e2",
            **where,
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": "{}",
        },
        {
            "type": "conversation.item.done",
            "event_id": "e3",
            "item": {**call, "arguments": "{}", "status": "completed"},
        },
    )
    [item] = state.conversation.items
    assert isinstance(item, FunctionCallItem)
    assert (item.call_id, item.arguments, item.status) == ("call_1", "{}", "completed")
