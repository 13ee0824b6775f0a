"""Voice-agent scenarios: function calling.

Issue §4, with pipecat's function-call flows (§5.6: final, cancelled and orphaned results, a run
requested during an active response, an interruption dropping the owed run) and the failures
users reported (§6: the bot hanging or answering twice after a tool, a result arriving after an
interruption). In memory with ``autojump_clock`` (timeouts, slow tools); one sync tool over TCP.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio
import trio.testing
from agent_helpers import (
    MANUAL,
    SERVER_VAD,
    EventLog,
    agent,
    fake_server,
    function_outputs,
    raw_arguments_done,
    raw_call_item,
    raw_item_added,
    raw_response_created,
    raw_response_done,
    raw_speech_started,
    sent,
    settle,
    wire,
)

import trealtime
from trealtime import events
from trealtime._agent._tools import tool_from_callable
from trealtime._session._reconnect import ReconnectPolicy
from trealtime.testing import FakeRealtimeServer, ToolCall

pytestmark = pytest.mark.usefixtures("server_mode")


def output_of(server: FakeRealtimeServer, call_id: str) -> str:
    (output,) = [o for o in function_outputs(server) if o.call_id == call_id]
    return output.output


async def first_call(log: EventLog) -> events.ResponseFunctionCallArgumentsDone:
    return await log.wait_for(events.ResponseFunctionCallArgumentsDone)


async def wait_output(server: FakeRealtimeServer) -> events.FunctionCallOutputItem:
    create = await server.wait_for_client_event(
        events.ConversationItemCreate,
        lambda e: isinstance(e.item, events.FunctionCallOutputItem),
    )
    assert isinstance(create.item, events.FunctionCallOutputItem)
    return create.item


def after_first_output(server: FakeRealtimeServer) -> list[str]:
    """The client events from the first function_call_output on."""
    types = wire(server)
    for index, event in enumerate(server.received):
        if isinstance(event, events.ConversationItemCreate) and isinstance(
            event.item, events.FunctionCallOutputItem
        ):
            return types[index:]
    return []


async def test_tool_call_runs_the_handler_and_answers_with_one_response(
    autojump_clock: trio.testing.MockClock,
) -> None:

    calls: list[str] = []

    async def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        calls.append(city)
        return {"city": city, "temp_c": 21}

    async with fake_server() as server:
        server.on_user_text("weather", call=ToolCall("get_weather", {"city": "Paris"}))
        async with agent(server, MANUAL, tools=[get_weather]) as (session, log):
            with trio.fail_after(60):
                await session.send_text("what's the weather in Paris?", respond=True)
                dones = await log.wait_count(events.ResponseDone, 2)
                await settle()
    update = sent(server, events.SessionUpdate)[0]
    assert isinstance(update.session, events.SessionProperties)
    assert isinstance(update.session.tools, list)
    assert [getattr(t, "name", None) for t in update.session.tools] == ["get_weather"]
    assert calls == ["Paris"]
    call = log.of(events.ResponseFunctionCallArgumentsDone)[0]
    assert orjson.loads(output_of(server, call.call_id)) == {"city": "Paris", "temp_c": 21}
    assert wire(server) == [
        "session.update",
        "conversation.item.create",
        "response.create",
        "conversation.item.create",
        "response.create",
    ]
    assert [d.response.final_status for d in dones] == ["completed", "completed"]
    reply = session.conversation[-1]
    assert isinstance(reply, events.MessageItem) and reply.role == "assistant"
    assert reply.text == 'The get_weather tool returned {"city":"Paris","temp_c":21}.'


async def test_empty_result_is_sent_as_completed(autojump_clock: trio.testing.MockClock) -> None:
    async def hang_up() -> None:
        """End the call."""

    async with fake_server() as server:
        server.on_user_text("bye", call=ToolCall("hang_up"))
        async with agent(server, MANUAL, tools=[hang_up]) as (session, _):
            with trio.fail_after(60):
                await session.send_text("bye now", respond=True)
                output = await wait_output(server)
    assert output.output == "COMPLETED"


async def _two_call_response(
    session: trealtime.Session, server: FakeRealtimeServer, calls: list[tuple[str, str, str]]
) -> None:
    """A response (scripted) with several function calls: ``(call_id, name, arguments)``.

    The call items are created through the session first, so that the server knows them and
    accepts their outputs.
    """
    for call_id, name, arguments in calls:
        await session.create_item(
            events.FunctionCallItem(
                call_id=call_id, name=name, arguments=arguments, id=f"item_{call_id}"
            )
        )
    await server.send_event(raw_response_created("resp_calls"))
    for index, (call_id, name, arguments) in enumerate(calls):
        await server.send_event(
            raw_arguments_done("resp_calls", f"item_{call_id}", call_id, name, arguments, index)
        )
    await server.send_event(raw_response_done("resp_calls"))


async def test_two_calls_get_their_outputs_in_call_order_then_exactly_one_response_create(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow(n: int) -> int:
        await trio.sleep(1)
        return n * 10

    async def fast(n: int) -> int:
        return n * 100

    async with (
        fake_server() as server,
        agent(server, MANUAL, tools=[slow, fast]) as (session, log),
    ):
        with trio.fail_after(60):
            await _two_call_response(
                session,
                server,
                [("call_1", "slow", '{"n": 1}'), ("call_2", "fast", '{"n": 2}')],
            )
            await settle()
            assert function_outputs(server) == []  # the fast one waits for the slow one
            done = await log.wait_for(events.ResponseDone, lambda e: e.response.id != "resp_calls")
            await trio.sleep(5)
    assert [(o.call_id, o.output) for o in function_outputs(server)] == [
        ("call_1", "10"),
        ("call_2", "200"),
    ]
    assert after_first_output(server) == [
        "conversation.item.create",
        "conversation.item.create",
        "response.create",
    ]
    assert done.response.final_status == "completed"


async def test_max_tool_concurrency_limits_calls_running_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    running = 0
    peak = 0

    async def work(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(1)
        running -= 1
        return n

    calls = [(f"call_{i}", "work", f'{{"n": {i}}}') for i in range(5)]
    async with (
        fake_server() as server,
        agent(server, MANUAL, tools=[work], max_tool_concurrency=2) as (session, _),
    ):
        with trio.fail_after(60):
            start = trio.current_time()
            await _two_call_response(session, server, calls)
            await server.wait_for_client_event(events.ResponseCreate)
            elapsed = trio.current_time() - start
            await settle()
    assert peak == 2
    assert elapsed == 3  # 5 calls of 1 s, 2 at a time
    assert [o.call_id for o in function_outputs(server)] == [c[0] for c in calls]
    assert len(sent(server, events.ResponseCreate)) == 1


async def test_tool_timeout_sends_an_error_output(autojump_clock: trio.testing.MockClock) -> None:
    async def stuck() -> str:
        await trio.sleep(3600)
        return "never"

    async def patient() -> str:
        await trio.sleep(3600)
        return "never"

    tools = [stuck, tool_from_callable(patient, timeout=2.0)]
    async with fake_server() as server:
        server.on_user_text("stuck", call=ToolCall("stuck"))
        server.on_user_text("patient", call=ToolCall("patient"))
        async with agent(server, MANUAL, tools=tools, tool_timeout=0.5) as (session, log):
            with trio.fail_after(60):
                start = trio.current_time()
                await session.send_text("stuck?", respond=True)
                first = await wait_output(server)
                first_at = trio.current_time() - start
                await log.wait_count(events.ResponseDone, 2)
                start = trio.current_time()
                await session.send_text("patient?", respond=True)
                await log.wait_count(events.ResponseDone, 3)
                second = await server.wait_for_client_event(
                    events.ConversationItemCreate,
                    lambda e: (
                        isinstance(e.item, events.FunctionCallOutputItem)
                        and e.item.call_id != first.call_id
                    ),
                )
                second_at = trio.current_time() - start
                await log.wait_count(events.ResponseDone, 4)
    assert first_at == 0.5
    assert orjson.loads(first.output) == {"error": "timed out after 0.5 s", "type": "TimeoutError"}
    assert second_at == 2.0
    assert isinstance(second.item, events.FunctionCallOutputItem)
    assert orjson.loads(second.item.output)["type"] == "TimeoutError"
    assert len(sent(server, events.ResponseCreate)) == 4  # each timeout still gets its answer


async def test_bad_json_arguments_send_an_error_output_not_a_crash(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[str] = []

    async def get_weather(city: str) -> str:
        calls.append(city)
        return "sunny"

    async with fake_server() as server:
        server.on_user_text("weather", call=ToolCall("get_weather", '{"city": "Par'))
        async with agent(server, MANUAL, tools=[get_weather]) as (session, log):
            with trio.fail_after(60):
                await session.send_text("weather?", respond=True)
                output = await wait_output(server)
                dones = await log.wait_count(events.ResponseDone, 2)
                assert not session.closed
    assert calls == []
    error = orjson.loads(output.output)
    assert error["type"] == "ToolArgumentsError"
    assert "not valid JSON" in error["error"]
    assert dones[1].response.final_status == "completed"


async def test_handler_that_raises_sends_an_error_output_and_the_session_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def get_weather(city: str) -> str:
        raise ValueError(f"no such city: {city}")

    async with fake_server() as server:
        server.on_user_text("weather", call=ToolCall("get_weather", {"city": "Atlantis"}))
        async with agent(server, MANUAL, tools=[get_weather]) as (session, log):
            with trio.fail_after(60):
                await session.send_text("weather in Atlantis?", respond=True)
                output = await wait_output(server)
                await log.wait_count(events.ResponseDone, 2)
                await session.send_text("never mind", respond=True)
                dones = await log.wait_count(events.ResponseDone, 3)
    assert orjson.loads(output.output) == {"error": "no such city: Atlantis", "type": "ValueError"}
    assert [d.response.final_status for d in dones] == ["completed"] * 3


async def test_interruption_cancels_running_calls_and_requests_no_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    outcome: list[str] = []

    async def search(query: str) -> str:
        try:
            await trio.sleep(10)
        except trio.Cancelled:
            outcome.append("cancelled")
            raise
        outcome.append("finished")
        return "results"

    async with fake_server() as server:
        server.on_user_text("search", call=ToolCall("search", {"query": "flights"}))
        async with agent(server, MANUAL, tools=[search]) as (session, log):
            with trio.fail_after(60):
                await session.send_text("search flights", respond=True)
                await log.wait_for(events.ResponseDone)
                await trio.sleep(1)
                interruption = await session.interrupt()
                output = await wait_output(server)
                await trio.sleep(20)  # long after the call would have finished
    assert interruption.cancelled_response_id is None  # the call's response had ended
    assert outcome == ["cancelled"]
    assert output.output == "CANCELLED"
    assert len(function_outputs(server)) == 1
    assert len(sent(server, events.ResponseCreate)) == 1  # the model answers the user's turn


async def test_server_vad_barge_in_cancels_running_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def search(query: str) -> str:
        await trio.sleep(10)
        return "results"

    async with fake_server() as server:
        server.on_user_text("search", call=ToolCall("search", {"query": "hotels"}))
        async with agent(server, SERVER_VAD, tools=[search]) as (session, log):
            with trio.fail_after(60):
                await session.send_text("search hotels", respond=True)
                await log.wait_for(events.ResponseDone)
                await server.send_event(raw_speech_started())
                output = await wait_output(server)
                await trio.sleep(20)
    assert output.output == "CANCELLED"
    assert len(sent(server, events.ResponseCreate)) == 1


async def test_must_complete_result_after_an_interruption_goes_in_without_a_second_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # pipecat #2179: after a tool result the bot either hung or, once the user spoke, answered
    # twice. A must-complete call finishes after the interruption; its output goes into the
    # conversation, no response is requested for it, and the user's new turn gets one answer.
    async def book(slot: str) -> str:
        await trio.sleep(2)
        return f"booked {slot}"

    tools = [tool_from_callable(book, must_complete=True)]
    async with fake_server() as server:
        server.on_user_text("book", call=ToolCall("book", {"slot": "9am"}))
        async with agent(server, MANUAL, tools=tools) as (session, log):
            with trio.fail_after(60):
                await session.send_text("book the 9am slot", respond=True)
                await log.wait_for(events.ResponseDone)
                await trio.sleep(0.5)
                await session.interrupt()
                output = await wait_output(server)
                await trio.sleep(5)
                assert len(sent(server, events.ResponseCreate)) == 1
                await session.send_text("is it done?", respond=True)
                await log.wait_count(events.ResponseDone, 2)
                await trio.sleep(5)
    assert output.output == "booked 9am"
    assert len(sent(server, events.ResponseCreate)) == 2
    outputs = [i for i in session.conversation if isinstance(i, events.FunctionCallOutputItem)]
    assert [o.output for o in outputs] == ["booked 9am"]


async def test_result_for_a_call_the_server_no_longer_knows_goes_in_as_a_system_message(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def lookup(order: str) -> dict[str, str]:
        await trio.sleep(1)
        return {"order": order, "status": "shipped"}

    async with fake_server() as server:
        server.on_user_text("order", call=ToolCall("lookup", {"order": "A17"}))
        async with agent(server, MANUAL, tools=[lookup]) as (session, log):
            with trio.fail_after(60):
                await session.send_text("where is order A17?", respond=True)
                call = await first_call(log)
                await log.wait_for(events.ResponseDone)
                await session.delete_item(call.item_id)  # e.g. the conversation was reset
                await log.wait_count(events.ResponseDone, 2)
                await settle()
    assert function_outputs(server) == []
    notes = [
        e.item
        for e in sent(server, events.ConversationItemCreate)
        if isinstance(e.item, events.MessageItem) and e.item.role == "system"
    ]
    assert len(notes) == 1
    text = notes[0].text
    payload = orjson.loads(text[text.index("{") :])
    assert payload == {
        "type": "function_result",
        "call_id": call.call_id,
        "name": "lookup",
        "output": '{"order":"A17","status":"shipped"}',
    }
    assert len(sent(server, events.ResponseCreate)) == 2


async def test_call_running_across_a_reconnect_delivers_its_output_on_the_new_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def lookup(order: str) -> str:
        await trio.sleep(2)
        return f"order {order} shipped"

    policy = ReconnectPolicy(initial_delay=0.1, jitter=0.0, renew_before_expiry=None)
    async with fake_server() as server:
        server.on_user_text("order", call=ToolCall("lookup", {"order": "B2"}))
        async with agent(server, MANUAL, tools=[lookup], reconnect=policy) as (session, log):
            with trio.fail_after(60):
                await session.send_text("where is order B2?", respond=True)
                call = await first_call(log)
                await log.wait_for(events.ResponseDone)
                await server.connections[0].abort()
                await log.wait_for(events.Reconnected)
                second = server.connections[1]
                output = await second.wait_for_client_event(
                    events.ConversationItemCreate,
                    lambda e: isinstance(e.item, events.FunctionCallOutputItem),
                )
                done = await log.wait_for(
                    events.ResponseDone, after=log.events.index(log.of(events.Reconnected)[0])
                )
                await settle()
    assert isinstance(output.item, events.FunctionCallOutputItem)
    assert (output.item.call_id, output.item.output) == (call.call_id, "order B2 shipped")
    new_wire = [e.type for e in second.received]
    assert new_wire[-2:] == ["conversation.item.create", "response.create"]
    assert new_wire.count("response.create") == 1
    assert done.response.final_status == "completed"
    assert log.of(events.Error) == []


async def test_sync_handler_runs_in_a_worker_thread_over_tcp() -> None:
    def track(parcel: str) -> str:
        return f"parcel {parcel} is out for delivery"

    async with fake_server(tcp=True) as server:
        server.on_user_text("parcel", call=ToolCall("track", {"parcel": "P9"}))
        with trio.fail_after(10):
            async with agent(server, MANUAL, tcp=True, tools=[track]) as (session, log):
                await session.send_text("where is parcel P9?", respond=True)
                output = await wait_output(server)
                await log.wait_count(events.ResponseDone, 2)
    assert output.output == "parcel P9 is out for delivery"
    reply = session.conversation[-1]
    assert isinstance(reply, events.MessageItem)
    assert reply.text == "The track tool returned parcel P9 is out for delivery."


async def test_add_tool_tells_the_server_and_runs_later_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def get_time(zone: str) -> str:
        return f"12:00 in {zone}"

    async with fake_server() as server:
        server.on_user_text("time", call=ToolCall("get_time", {"zone": "UTC"}))
        async with agent(server, MANUAL) as (session, log):
            with trio.fail_after(60):
                await session.add_tool(get_time)
                assert "get_time" in session.tools
                await session.send_text("what time is it?", respond=True)
                output = await wait_output(server)
                await log.wait_count(events.ResponseDone, 2)
    updates = sent(server, events.SessionUpdate)
    assert len(updates) == 2
    assert isinstance(updates[1].session, events.SessionProperties)
    assert isinstance(updates[1].session.tools, list)
    assert [getattr(t, "name", None) for t in updates[1].session.tools] == ["get_time"]
    assert output.output == "12:00 in UTC"


async def test_result_during_an_active_response_waits_for_its_response_done(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def lookup(order: str) -> str:
        await trio.sleep(0.5)
        return "shipped"

    async with fake_server(realtime=True) as server:
        server.on_user_text("order", call=ToolCall("lookup", {"order": "C3"}))
        async with agent(server, MANUAL, tools=[lookup]) as (session, log):
            with trio.fail_after(60):
                await session.send_text("where is order C3?", respond=True)
                await log.wait_for(events.ResponseDone)
                talking = await session.create_response(instructions="Say you are checking.")
                await talking.created()
                await wait_output(server)
                await settle()
                assert len(sent(server, events.ResponseCreate)) == 2  # the tool's run is owed
                await talking.done()
                answer = await log.wait_for(
                    events.ResponseDone, lambda e: e.response.id != talking.id, after=log.mark()
                )
    assert len(sent(server, events.ResponseCreate)) == 3
    assert answer.response.final_status == "completed"
    assert "conversation_already_has_active_response" not in [
        e.error.code for e in log.of(events.Error)
    ]


async def test_interruption_drops_the_run_owed_to_a_tool_result(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def lookup(order: str) -> str:
        await trio.sleep(0.5)
        return "shipped"

    tools = [tool_from_callable(lookup, must_complete=True)]
    async with fake_server(realtime=True) as server:
        server.on_user_text("order", call=ToolCall("lookup", {"order": "D4"}))
        async with agent(server, MANUAL, tools=tools) as (session, log):
            with trio.fail_after(60):
                await session.send_text("where is order D4?", respond=True)
                await log.wait_for(events.ResponseDone)
                talking = await session.create_response(instructions="Say you are checking.")
                await talking.created()
                await wait_output(server)
                await settle()
                interruption = await session.interrupt()
                await trio.sleep(10)
    assert interruption.dropped_responses == 1
    assert interruption.cancelled_response_id == talking.id
    assert len(sent(server, events.ResponseCreate)) == 2


async def test_string_results_go_out_as_they_are_never_encoded_twice(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # pipecat PR #4988: JSON results were encoded a second time ("\"{\\\"a\\\": 1}\"").
    async def as_json() -> str:
        return '{"temp_c": 21, "sky": "clear"}'

    async def as_text() -> str:
        return "sunny and warm"

    async def as_zero() -> int:
        return 0

    async with fake_server() as server:
        server.on_user_text("json", call=ToolCall("as_json"))
        server.on_user_text("text", call=ToolCall("as_text"))
        server.on_user_text("zero", call=ToolCall("as_zero"))
        async with agent(server, MANUAL, tools=[as_json, as_text, as_zero]) as (session, log):
            with trio.fail_after(60):
                for count, word in enumerate(["json", "text", "zero"], start=1):
                    await session.send_text(word, respond=True)
                    await log.wait_count(events.ResponseDone, 2 * count)
                await settle()
    assert [o.output for o in function_outputs(server)] == [
        '{"temp_c": 21, "sky": "clear"}',
        "sunny and warm",
        "0",
    ]


async def test_call_completed_by_a_response_cancelled_on_barge_in_is_not_run_or_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The user speaks while the model is writing a call. Cancelling the response closes what
    # was open, so an arguments.done follows the barge-in (the fake server does the same on
    # cancellation), here with arguments that happen to be complete. The call belongs to a
    # response the user interrupted: it must not run (calls are cancelled on interruption),
    # and above all no response may be requested over the user.
    ran: list[str] = []

    async def search(query: str) -> str:
        ran.append(query)
        return "results"

    async with (
        fake_server() as server,
        agent(server, SERVER_VAD, tools=[search]) as (_, log),
    ):
        with trio.fail_after(60):
            await server.send_event(raw_response_created("resp_cut"))
            await server.send_event(
                raw_item_added(raw_call_item("item_cut", "call_cut", "search"), None)
            )
            await server.send_event(raw_speech_started())
            await server.send_event(
                raw_arguments_done(
                    "resp_cut",
                    "item_cut",
                    "call_cut",
                    "search",
                    '{"query": "cheap flights"}',
                    0,
                )
            )
            await server.send_event(
                raw_response_done(
                    "resp_cut",
                    "cancelled",
                    status_details={"type": "cancelled", "reason": "turn_detected"},
                )
            )
            await log.wait_for(events.ResponseDone)
            await trio.sleep(5)
    assert sent(server, events.ResponseCreate) == []
    assert ran == []
    assert [o.output for o in function_outputs(server)] in ([], ["CANCELLED"])


def _tool_names(update: events.SessionUpdate) -> list[str | None]:
    assert isinstance(update.session, events.SessionProperties)
    assert isinstance(update.session.tools, list)
    return [getattr(tool, "name", None) for tool in update.session.tools]


def _sent_fields(update: events.SessionUpdate) -> set[str]:
    """The session fields an update carries, as they went on the wire."""
    body = orjson.loads(events.encode_client_event(update))["session"]
    return set(body) - {"type"}


async def test_remove_tool_and_set_tools_each_send_one_update_of_the_tools_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def get_time(zone: str) -> str:
        """The time."""
        return "12:00"

    async def get_weather(city: str) -> str:
        """The weather."""
        return "sunny"

    async def book(flight: str) -> str:
        """Book a flight."""
        return "booked"

    async with fake_server() as server:
        async with agent(server, MANUAL, tools=[get_time, get_weather]) as (session, _):
            with trio.fail_after(60):
                removed = await session.remove_tool("get_time")
                assert removed.name == "get_time"
                assert [tool.name for tool in session.tools] == ["get_weather"]
                specs = await session.set_tools([book])
                assert [spec.name for spec in specs] == ["book"]
                assert [tool.name for tool in session.tools] == ["book"]
                await settle()
        confirmed = server.connections[0].state.session
    updates = sent(server, events.SessionUpdate)
    assert len(updates) == 3  # the opening one, then one each
    assert _tool_names(updates[0]) == ["get_time", "get_weather"]
    assert _tool_names(updates[1]) == ["get_weather"]
    assert _tool_names(updates[2]) == ["book"]
    assert _sent_fields(updates[1]) == _sent_fields(updates[2]) == {"tools"}
    assert isinstance(confirmed, events.SessionProperties)
    assert [getattr(tool, "name", None) for tool in confirmed.tools or []] == ["book"]


async def test_remove_tool_of_an_unknown_name_and_a_bad_set_change_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def get_time(zone: str) -> str:
        """The time."""
        return "12:00"

    async with (
        fake_server() as server,
        agent(server, MANUAL, tools=[get_time]) as (session, _),
    ):
        with trio.fail_after(60):
            with pytest.raises(KeyError, match="get_tme"):
                await session.remove_tool("get_tme")
            with pytest.raises(trealtime.ConfigurationError):
                await session.set_tools([get_time, get_time])  # the same name twice
            assert [tool.name for tool in session.tools] == ["get_time"]
            await settle()
    assert len(sent(server, events.SessionUpdate)) == 1
