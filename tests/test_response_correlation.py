"""Responses are correlated without any server echo (issue 14, finding 2).

The fake server runs ``strict``: it never echoes ``response.metadata`` and refuses metadata over
the API's limits. In memory with the autojump clock, so a wait for a timeout would show as a
``RequestTimeout``, never as a slow test.
"""

from __future__ import annotations

import attrs
import orjson
import pytest
import trio
import trio.testing
from agent_helpers import MANUAL, agent, sent

import trealtime
from trealtime import events
from trealtime.testing import FakeRealtimeServer, Fault, Wire, echo_reply

TIMEOUT = 10.0
TEXT_ONLY = events.ResponseParams(output_modalities=["text"])


def _metadata(create: events.ResponseCreate) -> object:
    assert isinstance(create.response, events.ResponseParams)
    return create.response.metadata


def _text(response: events.Response) -> str:
    assert isinstance(response.output, list)
    return "".join(item.text for item in response.output if isinstance(item, events.MessageItem))


async def test_three_queued_responses_all_complete_without_an_echo(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(strict=True) as server,
        agent(server, MANUAL, request_timeout=TIMEOUT) as (session, _),
    ):
        await session.send_text("hello", respond=False)
        started = trio.current_time()
        handles = [await session.create_response(TEXT_ONLY) for _ in range(3)]
        responses = [await handle.done() for handle in handles]  # no RequestTimeout
        elapsed = trio.current_time() - started  # virtual time: exact, not a timing
    assert [r.final_status for r in responses] == ["completed"] * 3
    assert len({r.id for r in responses}) == 3
    assert all(r.metadata is None for r in responses)  # the server did not echo
    assert elapsed < TIMEOUT  # no request waited out a timeout before the next was sent
    assert len(sent(server, events.ResponseCreate)) == 3


async def test_send_text_then_create_response_without_an_echo(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(strict=True) as server,
        agent(server, MANUAL, request_timeout=TIMEOUT) as (session, log),
    ):
        started = trio.current_time()
        await session.send_text("hello", respond=True)
        handle = await session.create_response(TEXT_ONLY)
        second = await handle.done()
        assert trio.current_time() - started < TIMEOUT
        dones = await log.wait_count(events.ResponseDone, 2)
    assert second.final_status == "completed"
    assert [d.response.id for d in dones][-1] == second.id


async def test_out_of_band_responses_are_told_apart_without_an_echo(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(strict=True, reply=echo_reply) as server,
        agent(server, MANUAL, request_timeout=TIMEOUT) as (session, _),
    ):
        await session.send_text("the conversation", respond=False)
        words = ["alpha", "beta", "gamma"]
        handles = [
            await session.create_response(
                TEXT_ONLY,
                conversation="none",
                input=[events.MessageItem.user_text(word)],
                metadata={"word": word},
            )
            for word in words
        ]
        default = await session.create_response(TEXT_ONLY)
        texts = [_text(await handle.done()) for handle in handles]
        in_conversation = await default.done()
    assert texts == [f"You said: {word}" for word in words]
    assert _text(in_conversation) == "You said: the conversation"
    assert in_conversation.conversation_id is not None


@attrs.frozen
class AnswerInReverse(Fault):
    """A server that echoes the callers' metadata but answers concurrent out-of-band requests
    in the reverse order (the API promises no order between them): created and done for each
    ``metadata`` given, last first, ahead of the fake's own answers."""

    metadata: tuple[dict[str, str], ...]

    async def apply(self, wire: Wire) -> None:
        await trio.sleep(1)  # every request has reached the client's sequencer by now
        answers = [(f"resp_reverse_{i}", m) for i, m in reversed(list(enumerate(self.metadata)))]
        for status in ("in_progress", "completed"):
            kind = "response.created" if status == "in_progress" else "response.done"
            for response_id, metadata in answers:
                response = {
                    "id": response_id,
                    "status": status,
                    "conversation_id": None,
                    "metadata": metadata,
                }
                frame = {"type": kind, "event_id": f"ev_{kind}_{response_id}", "response": response}
                await wire.write(orjson.dumps(frame).decode())


async def test_out_of_band_responses_answered_in_reverse_are_told_apart_by_their_metadata(
    autojump_clock: trio.testing.MockClock,
) -> None:
    jobs = ({"job": "first"}, {"job": "second"}, {"job": "third"})
    async with (
        FakeRealtimeServer.serve_in_memory(strict=True) as server,
        agent(server, MANUAL, request_timeout=TIMEOUT) as (session, _),
    ):
        server.on_client_event(events.ResponseCreate, AnswerInReverse(jobs))
        handles = [
            await session.create_response(TEXT_ONLY, conversation="none", metadata=dict(job))
            for job in jobs
        ]
        answered = [await handle.done() for handle in handles]
    assert [r.id for r in answered] == [f"resp_reverse_{i}" for i in range(len(jobs))]
    assert [r.metadata for r in answered] == list(jobs)


async def test_the_callers_metadata_goes_out_exactly_as_given(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sixteen = {f"key{i}": f"value {i}" for i in range(16)}
    async with (
        FakeRealtimeServer.serve_in_memory(strict=True) as server,
        agent(server, MANUAL, request_timeout=TIMEOUT) as (session, _),
    ):
        await session.send_text("hello", respond=False)
        full = await (await session.create_response(TEXT_ONLY, metadata=sixteen)).done()
        cleared = await (await session.create_response(TEXT_ONLY, metadata=None)).done()
        too_many = await session.create_response(TEXT_ONLY, metadata={**sixteen, "one": "more"})
        with pytest.raises(trealtime.ServerError) as refused:
            await too_many.done()
        after = await (await session.create_response(TEXT_ONLY)).done()
    assert refused.value.code == "object_above_max_properties"
    assert refused.value.param == "response.metadata"
    assert [full.final_status, cleared.final_status, after.final_status] == ["completed"] * 3
    metadata = [_metadata(create) for create in sent(server, events.ResponseCreate)]
    assert metadata[0] == sixteen
    assert metadata[1] is None  # sent as null, not left out
    assert isinstance(metadata[3], dict) and len(metadata[3]) == 1  # none given: our tag


@pytest.mark.parametrize(
    ("metadata", "code", "param"),
    [
        ({"k" * 65: "v"}, "string_above_max_length", "response.metadata"),
        ({"k": "v" * 513}, "string_above_max_length", "response.metadata.k"),
    ],
)
async def test_the_strict_fake_refuses_metadata_over_the_apis_limits(
    autojump_clock: trio.testing.MockClock, metadata: dict[str, str], code: str, param: str
) -> None:
    async with (
        FakeRealtimeServer.serve_in_memory(strict=True) as server,
        agent(server, MANUAL, request_timeout=TIMEOUT) as (session, _),
    ):
        handle = await session.create_response(TEXT_ONLY, metadata=metadata)
        with pytest.raises(trealtime.ServerError) as refused:
            await handle.done()
    assert (refused.value.code, refused.value.param) == (code, param)
