"""Voice-agent scenarios: one response at a time, response handles, text turns, out-of-band.

Issue §3. Against the fake server in memory with ``autojump_clock`` (paced audio keeps a
response active long enough to overlap it), plus one run over loopback TCP.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from agent_helpers import (
    MANUAL,
    SERVER_VAD,
    ServerMode,
    agent,
    fake_server,
    sent,
    server_errors,
    settle,
    wire,
)

import trealtime
from trealtime import events
from trealtime._session._response_handle import ResponseDropped, ResponseHandle
from trealtime.testing import echo_reply, silence, synthesize_speech

pytestmark = pytest.mark.usefixtures("server_mode")

BUSY = "conversation_already_has_active_response"


def request_tag(event: events.ResponseCreate) -> str:
    params = event.response
    assert isinstance(params, events.ResponseParams)
    assert isinstance(params.metadata, dict)
    tag = params.metadata["trealtime_request"]
    assert isinstance(tag, str)
    return tag


async def test_create_response_while_one_is_active_is_deferred_until_response_done(
    autojump_clock: trio.testing.MockClock,
) -> None:

    async with (
        fake_server(realtime=True) as server,
        agent(server) as (session, log),
    ):
        with trio.fail_after(60):
            await session.send_text("tell me a story", respond=False)
            first = await session.create_response()
            await first.created()
            second = await session.create_response()
            third = await session.create_response()
            await settle()
            assert len(sent(server, events.ResponseCreate)) == 1
            assert (second.state, third.state) == ("queued", "queued")
            assert session.response_active

            done = [await handle.done() for handle in (first, second, third)]
            await settle()
        assert [r.final_status for r in done] == ["completed"] * 3
        assert len({r.id for r in done}) == 3
        creates = sent(server, events.ResponseCreate)
        assert len(creates) == 3
        # Each request went out only after the previous response.done: the server saw
        # them in order, and never refused one as busy.
        assert [request_tag(c) for c in creates] == [h._request.tag for h in (first, second, third)]
        assert BUSY not in server_errors(log)
        kinds = [
            type(e).__name__
            for e in log.events
            if isinstance(e, events.ResponseCreated | events.ResponseDone)
        ]
        assert kinds == ["ResponseCreated", "ResponseDone"] * 3


async def test_response_requested_while_a_server_vad_response_runs_waits_for_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True) as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await session.append_audio(silence(300) + synthesize_speech(700) + silence(700))
            vad = await log.wait_for(events.ResponseCreated)
            assert session.active_response is not None
            handle = await session.create_response(instructions="Add one more thing.")
            await settle()
            assert sent(server, events.ResponseCreate) == []
            assert handle.state == "queued"
            ours = await handle.done()
        vad_done = log.of(events.ResponseDone)[0]
        assert vad_done.response.id == vad.response.id
        assert vad_done.response.final_status == "completed"
        assert ours.final_status == "completed" and ours.id != vad.response.id
        assert len(sent(server, events.ResponseCreate)) == 1
        assert BUSY not in server_errors(log)


async def test_handle_done_gives_the_final_response_with_output_and_usage(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(reply="Two plus two is four.") as server,
        agent(server) as (session, _),
    ):
        with trio.fail_after(60):
            await session.send_text("what is two plus two?", respond=False)
            handle = await session.create_response()
            response = await handle.done()
    assert handle.state == "done"
    assert handle.id == response.id and handle.response is response
    assert response.final_status == "completed"
    assert isinstance(response.output, list) and len(response.output) == 1
    item = response.output[0]
    assert isinstance(item, events.MessageItem) and item.role == "assistant"
    assert item.text == "Two plus two is four."
    usage = response.usage
    assert isinstance(usage, events.Usage)
    assert isinstance(usage.input_tokens, int) and usage.input_tokens > 0
    assert isinstance(usage.output_tokens, int) and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert isinstance(usage.output_token_details, events.OutputTokenDetails)
    assert isinstance(usage.output_token_details.audio_tokens, int)
    assert usage.output_token_details.audio_tokens > 0


async def test_handle_iterates_only_the_events_of_its_own_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True) as server,
        agent(server) as (session, _),
    ):
        seen: dict[str, list[events.ServerEvent]] = {"default": [], "oob": []}

        async def read(name: str, handle: ResponseHandle) -> None:
            async for event in handle:
                seen[name].append(event)

        with trio.fail_after(60):
            await session.send_text("hello", respond=False)
            default = await session.create_response()
            oob = await session.create_response(
                conversation="none", output_modalities=["text"], metadata={"k": "v"}
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read, "default", default)
                nursery.start_soon(read, "oob", oob)
    for name, handle in (("default", default), ("oob", oob)):
        stream = seen[name]
        assert isinstance(stream[0], events.ResponseCreated)
        assert isinstance(stream[-1], events.ResponseDone)
        assert stream[-1].response.id == handle.id
        for event in stream[1:-1]:
            assert getattr(event, "response_id", None) == handle.id
    assert any(isinstance(e, events.ResponseOutputAudioDelta) for e in seen["default"])
    assert not any(isinstance(e, events.ResponseOutputAudioDelta) for e in seen["oob"])


async def test_send_text_with_respond_is_a_user_turn_and_one_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(reply=echo_reply) as server,
        agent(server) as (session, log),
    ):
        with trio.fail_after(60):
            item = await session.send_text("book a table", respond=True)
            done = await log.wait_for(events.ResponseDone)
        assert wire(server) == ["session.update", "conversation.item.create", "response.create"]
        create = sent(server, events.ConversationItemCreate)[0]
        assert isinstance(create.item, events.MessageItem)
        assert create.item.role == "user" and create.item.text == "book a table"
        assert isinstance(item, events.MessageItem) and item.id == create.item.id
        assert done.response.final_status == "completed"
        roles = [getattr(i, "role", None) for i in session.conversation]
        assert roles == ["user", "assistant"]
        reply = session.conversation[-1]
        assert isinstance(reply, events.MessageItem)
        assert reply.text == "You said: book a table"


async def test_send_text_asks_for_a_response_by_default(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The signature is ``send_text(text, respond=True)``: a typed turn is answered
    # unless the caller says otherwise (pipecat's text input sends the item and response.create).
    async with fake_server() as server, agent(server) as (session, _):
        with trio.fail_after(60):
            await session.send_text("hello there")
            await settle()
        assert wire(server) == ["session.update", "conversation.item.create", "response.create"]


async def test_send_text_with_respond_false_adds_the_item_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake_server() as server, agent(server) as (session, _):
        with trio.fail_after(60):
            await session.send_text("just context", respond=False)
            await settle()
        assert wire(server) == ["session.update", "conversation.item.create"]
        assert not session.response_active


async def test_out_of_band_response_runs_alongside_the_active_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True) as server,
        agent(server) as (session, log),
    ):
        with trio.fail_after(60):
            user = await session.send_text("I want a refund, now!", respond=False)
            assert isinstance(user.id, str)
            default = await session.create_response()
            await default.created()
            oob = await session.create_response(
                conversation="none",
                output_modalities=["text"],
                metadata={"purpose": "classify"},
                instructions="Classify the user's mood in one word.",
                input=[events.ItemReference(id=user.id)],
            )
            classified = await oob.done()
            # The out-of-band response was not deferred: the default one still runs.
            assert default.state == "created"
            assert session.active_response is not None
            assert len(sent(server, events.ResponseCreate)) == 2
            final = await default.done()
        assert classified.final_status == "completed"
        assert classified.conversation_id is None
        if not ServerMode.strict:  # the echo is the lenient fake's habit, not a promise
            assert isinstance(classified.metadata, dict)
            assert classified.metadata["purpose"] == "classify"
        oob_create = sent(server, events.ResponseCreate)[1]
        assert isinstance(oob_create.response, events.ResponseParams)
        assert oob_create.response.conversation == "none"
        assert oob_create.response.input == [events.ItemReference(id=user.id)]
        # Out-of-band output stays out of the conversation.
        assert isinstance(classified.output, list) and len(classified.output) == 1
        oob_item_id = classified.output[0].id
        assert oob_item_id not in {item.id for item in session.conversation}
        assert final.final_status == "completed"
        assert [getattr(i, "role", None) for i in session.conversation] == ["user", "assistant"]
        assert BUSY not in server_errors(log)


async def test_out_of_band_response_with_custom_input_items(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(reply=echo_reply) as server,
        agent(server) as (session, _),
    ):
        with trio.fail_after(60):
            handle = await session.create_response(
                conversation="none",
                output_modalities=["text"],
                input=[events.MessageItem.user_text("summarise: the cat sat")],
                metadata={"job": "summary"},
            )
            response = await handle.done()
        assert isinstance(response.output, list)
        item = response.output[0]
        assert isinstance(item, events.MessageItem)
        assert item.text == "You said: summarise: the cat sat"
        assert session.conversation == []


async def test_cancel_response_with_nothing_active_sends_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake_server() as server, agent(server) as (session, log):
        with trio.fail_after(60):
            assert await session.cancel_response() is False
            handle = await session.create_response()
            await handle.done()
            assert await session.cancel_response() is False
            await settle()
        assert sent(server, events.ResponseCancel) == []
        assert "response_cancel_not_active" not in server_errors(log)


async def test_cancel_response_cancels_the_active_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True) as server,
        agent(server) as (session, log),
    ):
        with trio.fail_after(60):
            handle = await session.create_response()
            await log.wait_for(events.ResponseOutputAudioDelta)
            assert await session.cancel_response() is True
            response = await handle.done()
        assert response.final_status == "cancelled"
        assert isinstance(response.status_details, events.StatusDetails)
        assert response.status_details.reason == "client_cancelled"
        assert len(sent(server, events.ResponseCancel)) == 1
        assert handle.metrics is not None and handle.metrics.status == "cancelled"
        assert session.metrics.responses_cancelled == 1
        assert session.statistics().responses_cancelled == 1


async def test_refused_request_fails_its_handle_and_the_queue_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True) as server,
        agent(server) as (session, _),
    ):
        with trio.fail_after(60):
            first = await session.create_response()
            await first.created()
            bad = await session.create_response(output_modalities=["smell"])
            good = await session.create_response()
            assert (await first.done()).final_status == "completed"
            with pytest.raises(trealtime.ServerError) as caught:
                await bad.done()
            assert caught.value.code == "invalid_value"
            assert bad.state == "failed"
            assert (await good.done()).final_status == "completed"


async def test_interrupt_drops_the_owed_response_and_its_handle_says_so(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True) as server,
        agent(server, MANUAL) as (session, _),
    ):
        with trio.fail_after(60):
            first = await session.create_response()
            await first.created()
            owed = await session.create_response()
            interruption = await session.interrupt()
            with pytest.raises(ResponseDropped):
                await owed.done()
            assert owed.state == "dropped"
            assert (await first.done()).final_status == "cancelled"
            await trio.sleep(5)
        assert interruption.dropped_responses == 1
        assert interruption.cancelled_response_id == first.id
        assert len(sent(server, events.ResponseCreate)) == 1


async def test_sequencing_over_tcp() -> None:
    async with fake_server(tcp=True) as server:
        server.realtime = True
        server.reply = "Short."
        with trio.fail_after(10):
            async with agent(server, tcp=True) as (session, log):
                await session.send_text("one", respond=False)
                first = await session.create_response()
                await first.created()
                second = await session.create_response()
                assert second.state == "queued"
                assert (await first.done()).final_status == "completed"
                assert (await second.done()).final_status == "completed"
                assert len(sent(server, events.ResponseCreate)) == 2
                assert BUSY not in server_errors(log)


async def test_request_refused_as_busy_in_a_race_with_server_vad_is_sent_again_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # pipecat PR #3960: the server starts a response (VAD) while ours is on its way. The server
    # refuses ours as busy; the session queues it again and sends it after response.done.
    async with (
        fake_server(realtime=True) as server,
        agent(server, SERVER_VAD) as (session, log),
    ):
        with trio.fail_after(60):
            await session.append_audio(silence(300) + synthesize_speech(600) + silence(700))
            handle = await session.create_response()  # sent before the VAD turn is seen
            response = await handle.done()
            tag = request_tag(sent(server, events.ResponseCreate)[0])
            # The handle's response is the one our request created, not the VAD one (the
            # lenient fake echoes metadata; the strict one, like the spec, promises no echo).
            if not ServerMode.strict:
                assert isinstance(response.metadata, dict)
                assert response.metadata.get("trealtime_request") == tag
            await trio.sleep(30)
        vad, ours = log.of(events.ResponseDone)
        if not ServerMode.strict:
            assert vad.response.metadata is None
        assert vad.response.final_status == "completed"
        assert ours.response.id == response.id == handle.id
        assert response.final_status == "completed"
        assert len(sent(server, events.ResponseCreate)) == 2
        assert server_errors(log).count(BUSY) == 1


async def test_cancel_response_of_a_finished_response_sends_nothing_and_says_false(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            handle = await session.create_response()
            await handle.done()
            assert handle.id is not None
            assert await session.cancel_response(handle.id) is False
            assert await session.cancel_response("resp_never_heard_of") is False
            await settle()
    assert sent(server, events.ResponseCancel) == []
    assert "response_cancel_not_active" not in server_errors(log)


async def test_cancel_response_names_a_running_out_of_band_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server(realtime=True, reply="A long answer. " * 20) as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            handle = await session.create_response(conversation="none")
            await handle.created()
            assert handle.id is not None
            assert await session.cancel_response(handle.id) is True
            assert (await handle.done()).final_status == "cancelled"
    assert [event.response_id for event in sent(server, events.ResponseCancel)] == [handle.id]
    assert "response_cancel_not_active" not in server_errors(log)
