"""The sans-IO conversation core, driven by plain event lists: no socket, no trio, no clock.

Each test feeds :class:`ConversationCore` decoded server events (and the client requests the
session would make), with ``now`` as plain numbers, and checks the actions it returns and the
state it keeps. The same behaviours run end to end over the fake server in the
``test_agent_*`` and ``test_response_correlation`` tests.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from trealtime import RequestTimeout, ServerError, SessionClosed, TranscriptionFailed
from trealtime._agent._audio_input import AudioInputPipeline
from trealtime._log_limit import LimitedWarnings
from trealtime._session._actions import (
    NO_ACTIONS,
    Action,
    HandleCreated,
    HandleDone,
    HandleFailed,
    HandleUncreated,
    InterruptToolCalls,
    PublishDtmf,
    ResolveRequest,
    RouteToHandle,
    SendEvent,
    SendResponseCreate,
    StartToolCall,
    ToolResponseDone,
)
from trealtime._session._core import ConversationCore
from trealtime._session._requests import PendingRequest
from trealtime._session._responses import REQUEST_TAG, ResponseDropped, ResponseRequest
from trealtime.events import (
    ConversationItemCreate,
    ConversationItemTruncate,
    MessageItem,
    ResponseParams,
    ServerEvent,
    decode_server_event,
)

AUDIO_100MS = "A" * 6400  # base64 of 4,800 bytes: 100 ms of 24 kHz PCM16


def event(frame: dict[str, Any]) -> ServerEvent:
    return decode_server_event(orjson.dumps({"event_id": "srv", **frame}))


def new_core(tools: tuple[str, ...] = ("get_weather",)) -> ConversationCore:
    return ConversationCore(
        tools=set(tools),
        server_error=ServerError,
        warnings=LimitedWarnings(logging.getLogger("test_session_core")),
        audio=AudioInputPipeline(chunk_ms=20, preroll_ms=0, start_paused=False),
        event_prefix="c_",
    )


def feed(core: ConversationCore, *frames: dict[str, Any], now: float = 0.0) -> list[Action]:
    """Every action the core returns for ``frames``, in order."""
    actions: list[Action] = []
    for frame in frames:
        actions += core.receive(event(frame), now)
    return actions


# -- frames -------------------------------------------------------------------------------------


def assistant_item(item_id: str = "item_a", previous: str | None = None) -> dict[str, Any]:
    return {
        "type": "conversation.item.added",
        "previous_item_id": previous,
        "item": {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        },
    }


def created(
    response_id: str, request: ResponseRequest | None = None, conversation: str | None = "conv"
) -> dict[str, Any]:
    metadata = request.tagged_params().metadata if request is not None else None
    return {
        "type": "response.created",
        "response": {
            "id": response_id,
            "status": "in_progress",
            "conversation_id": conversation,
            "output": [],
            "metadata": metadata,
        },
    }


def done(
    response_id: str, request: ResponseRequest | None = None, conversation: str | None = "conv"
) -> dict[str, Any]:
    frame = created(response_id, request, conversation)
    frame["type"] = "response.done"
    frame["response"]["status"] = "completed"
    return frame


def delta(response_id: str = "resp_1", item_id: str = "item_a") -> dict[str, Any]:
    return {
        "type": "response.output_audio.delta",
        "response_id": response_id,
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "delta": AUDIO_100MS,
    }


def refused(event_id: str, code: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "code": code,
            "message": "no",
            "event_id": event_id,
        },
    }


def ask(core: ConversationCore, tag: str, now: float = 0.0, **params: Any) -> ResponseRequest:
    request = ResponseRequest(
        tag=tag, params=ResponseParams(**params) if params else ResponseParams()
    )
    core.submit_response(request, now)
    return request


def sent(actions: list[Action] | tuple[Action, ...]) -> list[ResponseRequest]:
    return [action.request for action in actions if isinstance(action, SendResponseCreate)]


# -- a voice turn -------------------------------------------------------------------------------


def test_a_voice_turn_follows_the_mirror_playback_and_metrics_and_asks_for_nothing() -> None:
    core = new_core()
    assert feed(core, assistant_item(), created("resp_1")) == []
    assert core.state.active_response is not None and core.state.active_response.id == "resp_1"
    for step in range(3):
        # The hot path: the shared empty tuple, nothing built per event.
        assert core.receive(event(delta()), 1.0 + step / 10) is NO_ACTIONS
    current = core.playback.current
    assert current is not None and current.item_id == "item_a" and current.total_size == 3 * 4800
    assert core.playback.received_ms == 300
    assert feed(core, done("resp_1"), now=2.0) == [ToolResponseDone("resp_1")]
    assert core.state.active_response is None
    assert core.metrics.last is not None and core.metrics.last.response_id == "resp_1"
    assert core.metrics.responses_completed == 1


def test_audio_of_an_item_the_mirror_does_not_know_is_not_tracked_for_truncation() -> None:
    core = new_core()
    assert core.receive(event(delta(item_id="item_unknown")), 0.0) is NO_ACTIONS
    assert core.playback.current is None


# -- barge-in -----------------------------------------------------------------------------------


def test_barge_in_truncates_the_audio_at_the_played_position_and_interrupts_tools() -> None:
    core = new_core()
    feed(core, assistant_item(), created("resp_1"))
    for _ in range(10):  # a second of audio, all received at t=10
        core.receive(event(delta()), 10.0)
    actions = feed(
        core,
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u1"},
        now=10.25,
    )
    assert actions == [
        InterruptToolCalls(("resp_1",)),
        SendEvent(
            ConversationItemTruncate(
                item_id="item_a", content_index=0, audio_end_ms=250, event_id="c_1"
            )
        ),
    ]
    assert core.speaking
    # Cut once: a second barge-in has nothing left to truncate.
    again = feed(
        core,
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 9, "item_id": "u2"},
        now=10.5,
    )
    assert again == [InterruptToolCalls(("resp_1",))]
    feed(core, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 9, "item_id": "u2"})
    assert not core.speaking


def test_barge_in_drops_the_responses_still_waiting_their_turn() -> None:
    core = new_core()
    running, waiting = ask(core, "a"), ask(core, "b")
    feed(core, created("resp_1", running))
    actions = feed(
        core, {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u"}
    )
    assert len(actions) == 2
    failed, interrupt = actions
    assert isinstance(failed, HandleFailed) and failed.request is waiting
    assert isinstance(failed.error, ResponseDropped)
    assert interrupt == InterruptToolCalls(("resp_1",))
    assert waiting.state == "dropped"


# -- the response sequencer ---------------------------------------------------------------------


def test_queued_responses_are_released_in_order_one_at_a_time() -> None:
    core = new_core()
    first_request = ResponseRequest(tag="a")
    first = core.submit_response(first_request, 5.0)
    assert len(first) == 1 and isinstance(first[0], SendResponseCreate)
    create = first[0].event
    assert create.event_id == "c_1"
    assert isinstance(create.response, ResponseParams)
    assert create.response.metadata == {REQUEST_TAG: "a"}
    assert core.requests.find("response.create", "a") is first[0].pending
    second, third = ask(core, "b"), ask(core, "c")
    assert core.sequencer.queued == 2
    assert feed(core, created("resp_1", first_request)) == [
        HandleCreated(first_request),
        RouteToHandle(first_request),
    ]
    assert core.requests.find("response.create", "a") is None  # answered: nothing awaited
    # Its events go to its handle (the same tuple each time: nothing built per delta).
    routed = core.receive(event(delta("resp_1")), 6.0)
    assert routed == (RouteToHandle(first_request),)
    assert core.receive(event(delta("resp_1")), 6.1) is routed
    actions = feed(core, done("resp_1", first_request), now=7.0)
    assert actions[0] == ToolResponseDone("resp_1")
    assert isinstance(actions[1], HandleDone) and actions[1].request is first_request
    assert actions[1].metrics is not None and actions[1].metrics.response_id == "resp_1"
    assert sent(actions[2:]) == [second]
    assert core.receive(event(delta("resp_1")), 7.5) is NO_ACTIONS  # its handle is done
    assert sent(feed(core, created("resp_2", second), done("resp_2", second))) == [third]


def test_a_server_vad_response_is_taken_by_order_when_the_server_echoes_nothing() -> None:
    core = new_core()
    ours = ask(core, "a")
    assert feed(core, created("resp_1")) == [HandleCreated(ours), RouteToHandle(ours)]
    assert ours.matched_by_order and ours.response_id == "resp_1"


def test_a_busy_refusal_hands_the_response_back_and_requeues_the_request() -> None:
    core = new_core()
    ours = ask(core, "a")
    pending = core.requests.find("response.create", "a")
    assert pending is not None
    feed(core, created("resp_vad"))  # server VAD's, taken for ours by order
    actions = feed(core, refused(pending.event_id, "conversation_already_has_active_response"))
    assert actions == [HandleUncreated(ours)]
    assert ours.state == "queued" and core.response_active
    assert core.receive(event(delta("resp_vad")), 0.0) is NO_ACTIONS  # not routed to ours
    # The server's response ends: ours is sent again, with a new event id.
    again = feed(core, done("resp_vad"))
    assert again[0] == ToolResponseDone("resp_vad")
    assert sent(again) == [ours]
    resend = again[-1]
    assert isinstance(resend, SendResponseCreate) and resend.event.event_id != pending.event_id


def test_another_refusal_fails_the_handle_and_releases_the_next_request() -> None:
    core = new_core()
    ours, later = ask(core, "a"), ask(core, "b")
    pending = core.requests.find("response.create", "a")
    assert pending is not None
    actions = feed(core, refused(pending.event_id, "invalid_value"))
    assert len(actions) == 2
    failed, release = actions
    assert isinstance(failed, HandleFailed) and failed.request is ours
    assert isinstance(failed.error, ServerError) and failed.error.code == "invalid_value"
    assert sent([release]) == [later]
    assert ours.state == "failed"


def test_an_out_of_band_response_is_sent_at_once_and_matched_by_its_tag() -> None:
    core = new_core()
    ask(core, "a")  # a default-conversation response is in flight
    side = ResponseRequest(tag="oob", params=ResponseParams(conversation="none"))
    assert sent(core.submit_response(side, 0.0)) == [side]
    assert feed(core, created("resp_oob", side, conversation=None)) == [
        HandleCreated(side),
        RouteToHandle(side),
    ]
    assert "resp_oob" in core.state.out_of_band_responses
    actions = feed(core, done("resp_oob", side, conversation=None))
    assert actions[0] == ToolResponseDone("resp_oob")
    assert isinstance(actions[1], HandleDone) and actions[1].request is side
    assert core.response_active  # the default one still waits for its response.created


def test_an_unanswered_request_expires_and_the_queue_moves_on() -> None:
    core = new_core()
    lost, later = ask(core, "a"), ask(core, "b")
    pending = core.requests.find("response.create", "a")
    assert pending is not None
    actions = core.expire_response(lost, pending, 10.0, now=10.0)
    assert len(actions) == 2
    failed, release = actions
    assert isinstance(failed, HandleFailed) and isinstance(failed.error, RequestTimeout)
    assert sent([release]) == [later]
    assert core.requests.find("response.create", "a") is None
    # Answered in time: expiring it changes nothing.
    feed(core, created("resp_2", later))
    later_pending = PendingRequest("response.create", "b", "x", lambda: None)
    assert core.expire_response(later, later_pending, 10.0, now=20.0) is NO_ACTIONS


# -- requests -----------------------------------------------------------------------------------


def test_a_reply_resolves_its_request_and_the_core_leaves_waking_to_the_caller() -> None:
    core = new_core()
    woken: list[str] = []
    pending = PendingRequest("create", "item_u", core.next_event_id(), lambda: woken.append("w"))
    core.requests.add(pending)
    item = MessageItem.user_text("hi")
    core.on_client_event(ConversationItemCreate(item=item, previous_item_id=None))
    added = {
        "type": "conversation.item.added",
        "item": {"id": "item_u", "type": "message", "role": "user", "content": []},
    }
    assert feed(core, added) == [ResolveRequest(pending)]
    assert pending.done and pending.reply is not None and woken == []
    assert len(core.requests) == 0


def test_an_error_naming_a_request_fails_it() -> None:
    core = new_core()
    pending = PendingRequest("commit", None, "c_9", lambda: None)
    core.requests.add(pending)
    assert feed(core, refused("c_9", "input_audio_buffer_commit_empty")) == [
        ResolveRequest(pending)
    ]
    assert isinstance(pending.error, ServerError)
    assert pending.error.code == "input_audio_buffer_commit_empty"


# -- tools --------------------------------------------------------------------------------------


def arguments_done(name: str | None, item_id: str = "item_f") -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "response.function_call_arguments.done",
        "response_id": "resp_1",
        "item_id": item_id,
        "output_index": 0,
        "call_id": "call_1",
        "arguments": '{"city": "Oslo"}',
    }
    if name is not None:
        frame["name"] = name
    return frame


def test_a_registered_tool_call_is_started_and_others_are_left_to_the_caller() -> None:
    core = new_core()
    assert feed(core, arguments_done("get_weather")) == [
        StartToolCall("resp_1", "call_1", "get_weather", '{"city": "Oslo"}')
    ]
    assert feed(core, arguments_done("not_ours")) == []


def test_a_function_call_without_a_name_takes_it_from_its_item() -> None:
    core = new_core()
    item = {
        "type": "conversation.item.added",
        "previous_item_id": None,
        "item": {"id": "item_f", "type": "function_call", "name": "get_weather", "arguments": ""},
    }
    actions = feed(core, item, arguments_done(None))
    assert actions == [StartToolCall("resp_1", "call_1", "get_weather", '{"city": "Oslo"}')]
    assert core.is_call_known("call_1")


def test_a_result_after_a_reconnect_is_told_apart_from_an_unknown_call() -> None:
    core = new_core()
    feed(core, arguments_done("get_weather"))
    core.connection_lost()
    assert core.orphan_reason("call_1") == "finished after the connection changed"
    assert core.orphan_reason("call_2") == "finished, but its call is not in the conversation"


# -- transcripts, config, DTMF ----------------------------------------------------------------


def transcription(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": f"conversation.item.input_audio_transcription.{kind}",
        "item_id": "item_u",
        "content_index": 0,
        **fields,
    }


def test_input_transcripts_grow_by_deltas_and_end_with_the_final_text_or_a_failure() -> None:
    core = new_core()
    feed(core, transcription("delta", delta="Hel"), transcription("delta", delta="lo"))
    assert core.input_transcript("item_u") == "Hello"
    feed(core, transcription("completed", transcript="Hello."))
    assert core.input_transcript("item_u") == "Hello."
    assert core.input_transcript("other") == ""
    failure = {"type": "transcription_error", "code": "audio_unintelligible", "message": "no"}
    feed(core, transcription("failed", error=failure))
    with pytest.raises(TranscriptionFailed) as caught:
        core.input_transcript("item_u")
    assert caught.value.code == "audio_unintelligible"


def test_the_session_config_sets_audio_formats_and_manual_turns() -> None:
    core = new_core()
    session = {
        "type": "realtime",
        "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "turn_detection": None},
            "output": {"format": {"type": "audio/pcmu"}},
        },
    }
    assert feed(core, {"type": "session.updated", "session": session}) == []
    assert core.playback.bytes_per_ms == 8 and core.metrics.bytes_per_ms == 8
    assert core.audio.input_format == "audio/pcmu" and core.audio.manual_turns
    server_vad = {
        "type": "realtime",
        "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
    }
    feed(core, {"type": "session.updated", "session": server_vad})
    assert not core.audio.manual_turns and core.audio.input_format == "audio/pcmu"


def test_a_dtmf_key_is_published() -> None:
    core = new_core()
    frame = {"type": "input_audio_buffer.dtmf_event_received", "event": "5", "received_at": 1}
    assert feed(core, frame) == [PublishDtmf()]


# -- the connection's loss, and odd events --------------------------------------------------


def test_a_lost_connection_fails_what_waited_on_it_and_forgets_the_unfinished_turn() -> None:
    core = new_core()
    pending = PendingRequest("delete", "item_x", "c_x", lambda: None)
    core.requests.add(pending)
    running, waiting = ask(core, "a"), ask(core, "b")
    feed(core, assistant_item(), created("resp_1", running), delta())
    feed(core, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1, "item_id": "u"})
    error = SessionClosed(1006, "gone")
    actions = core.fail_pending(error)
    assert actions[0] == ResolveRequest(pending) and pending.error is error
    failed = [action.request for action in actions if isinstance(action, HandleFailed)]
    assert failed == [running, waiting]
    assert len(core.requests) == 0
    core.connection_lost()
    assert core.state.active_response is None and not core.response_active
    assert core.playback.current is None and "item_a" not in core.state.conversation
    assert core.receive(event(delta()), 1.0) is NO_ACTIONS  # nothing routed any more


def test_invalid_and_unknown_events_are_counted_and_change_nothing() -> None:
    core = new_core()
    invalid = decode_server_event(b'{"type": "response.done", "response": 7}')
    unknown = event({"type": "response.brand_new_thing", "x": 1})
    assert core.receive(invalid, 0.0) is NO_ACTIONS
    assert core.receive(unknown, 0.0) is NO_ACTIONS
    assert core.receive(decode_server_event(b"not json"), 0.0) is NO_ACTIONS
    assert (core.invalid_events, core.unknown_events) == (2, 1)
    assert core.state.active_response is None


def test_an_error_for_no_request_of_ours_asks_for_nothing() -> None:
    core = new_core()
    pending = PendingRequest("commit", None, "c_1", lambda: None)
    core.requests.add(pending)
    assert feed(core, refused("someone_else", "x")) == []
    assert not pending.done
