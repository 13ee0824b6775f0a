"""The response sequencer: one default-conversation response at a time, never a lost request."""

from __future__ import annotations

import itertools

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from trealtime._session._response_handle import ResponseHandle
from trealtime._session._responses import REQUEST_TAG, ResponseRequest, ResponseSequencer
from trealtime.events import (
    MessageItem,
    OutputText,
    Response,
    ResponseOutputItemDone,
    ResponseParams,
)

_ids = itertools.count()


def server_response(
    request: ResponseRequest | None, status: str = "in_progress", *, echo: bool = True
) -> Response:
    params = request.tagged_params() if request is not None else ResponseParams()
    metadata = params.metadata if echo else None
    rid = request.response_id if request is not None and request.response_id else None
    return Response(
        id=rid or f"resp_{next(_ids)}",
        status=status,
        conversation_id=None if params.conversation == "none" else "conv_1",
        metadata=metadata,
    )


def state_of(request: ResponseRequest) -> str:
    return request.state  # read through a function: mypy narrows attributes across asserts


def request(tag: str, **params: object) -> ResponseRequest:
    return ResponseRequest(tag=tag, params=ResponseParams(**params))  # type: ignore[arg-type]


def test_a_request_while_one_is_active_waits_for_done() -> None:
    seq = ResponseSequencer()
    first, second = request("a"), request("b")
    assert seq.submit(first) is True
    assert seq.submit(second) is False and seq.queued == 1
    created = server_response(first)
    assert seq.on_created(created) is first and first.state == "created"
    done_for, to_send = seq.on_done(server_response(first, "completed"))
    assert done_for is first and state_of(first) == "done"
    assert to_send == [second] and second.state == "sent"


def test_out_of_band_responses_run_in_parallel() -> None:
    seq = ResponseSequencer()
    assert seq.submit(request("a")) is True
    side = request("oob", conversation="none")
    assert side.out_of_band and seq.submit(side) is True
    created = seq.on_created(server_response(side))
    assert created is side
    assert seq.response_active  # the default one is still in flight


def test_server_created_response_blocks_until_done() -> None:
    seq = ResponseSequencer()
    vad = Response(id="resp_vad", status="in_progress", conversation_id="conv_1")
    assert seq.on_created(vad) is None
    ours = request("a")
    assert seq.submit(ours) is False
    _, to_send = seq.on_done(Response(id="resp_vad", status="completed", conversation_id="conv_1"))
    assert to_send == [ours]


def test_busy_rejection_requeues_at_the_front() -> None:
    seq = ResponseSequencer()
    ours, later = request("a"), request("b")
    seq.submit(ours)
    seq.submit(later)
    requeued, to_send = seq.on_rejected(ours, busy=True)
    assert requeued and to_send == [] and ours.state == "queued"
    # The server's own response (started by VAD at the same moment) ends: ours goes first.
    _, to_send = seq.on_done(Response(id="resp_vad", status="completed", conversation_id="c"))
    assert to_send == [ours]


def test_other_rejections_fail_the_request_and_release_the_next() -> None:
    seq = ResponseSequencer()
    bad, good = request("a"), request("b")
    seq.submit(bad)
    seq.submit(good)
    requeued, to_send = seq.on_rejected(bad, busy=False)
    assert not requeued and bad.state == "failed" and to_send == [good]


def test_interruption_drops_what_is_owed() -> None:
    seq = ResponseSequencer()
    current, owed = request("a"), request("b")
    seq.submit(current)
    seq.submit(owed)
    assert seq.drop_queued() == [owed] and owed.state == "dropped"
    _, to_send = seq.on_done(server_response(current, "cancelled"))
    assert to_send == []


def test_without_an_echo_responses_are_matched_by_order() -> None:
    """A server that does not echo metadata: the next default-conversation response.created
    answers the request in flight, and the queue moves on at its response.done."""
    seq = ResponseSequencer()
    first, second = request("a"), request("b")
    seq.submit(first)
    seq.submit(second)
    untagged = server_response(first, echo=False)
    assert seq.on_created(untagged) is first and first.matched_by_order
    done = Response(id=untagged.id, status="completed", conversation_id="conv_1")
    assert seq.on_done(done) == (first, [second])
    side_a, side_b = request("x", conversation="none"), request("y", conversation="none")
    seq.submit(side_a)
    seq.submit(side_b)
    assert seq.on_created(server_response(side_a, echo=False)) is side_a  # first in, first out
    assert seq.on_created(server_response(side_b, echo=False)) is side_b
    assert seq.in_flight is second  # out-of-band responses never answer a default request


def test_out_of_band_responses_are_matched_by_the_callers_echoed_metadata() -> None:
    """The API promises no order between out-of-band responses: an echo of the caller's own
    metadata names the request, whatever the order; only what names none goes by order."""
    seq = ResponseSequencer()
    first = request("x", conversation="none", metadata={"job": "first"})
    second = request("y", conversation="none", metadata={"job": "second"})
    twin_a = request("z", conversation="none", metadata={"job": "twin"})
    twin_b = request("w", conversation="none", metadata={"job": "twin"})
    for side in (first, second, twin_a, twin_b):
        seq.submit(side)
    assert seq.on_created(server_response(second)) is second and not second.matched_by_order
    # Not echoed (null): by order among those still waiting.
    assert seq.on_created(server_response(first, echo=False)) is first and first.matched_by_order
    # Two with the same metadata: the first sent, and only as sure as order is.
    assert seq.on_created(server_response(twin_b)) is twin_a and twin_a.matched_by_order
    assert seq.on_created(server_response(twin_b)) is twin_b


def test_a_default_response_never_takes_an_out_of_band_request_by_its_metadata() -> None:
    seq = ResponseSequencer()
    side = request("x", conversation="none", metadata={"job": "same"})
    seq.submit(side)
    vad = Response(id="resp_vad", status="in_progress", conversation_id="conv_1")
    echoed = attrs.evolve(vad, metadata={"job": "same"})
    assert seq.on_created(echoed) is None and side.state == "sent"


def test_a_vad_response_taken_by_order_is_handed_back_on_a_busy_refusal() -> None:
    seq = ResponseSequencer()
    ours = request("a")
    seq.submit(ours)
    vad = Response(id="resp_vad", status="in_progress", conversation_id="conv_1")
    assert seq.on_created(vad) is ours  # by order: it could have been ours
    requeued, to_send = seq.on_rejected(ours, busy=True)
    assert requeued and to_send == [] and ours.response is None and ours.state == "queued"
    _, to_send = seq.on_done(Response(id="resp_vad", status="completed", conversation_id="c"))
    assert to_send == [ours]


def test_once_the_server_echoes_an_untagged_response_is_the_servers() -> None:
    seq = ResponseSequencer()
    first, second = request("a"), request("b")
    seq.submit(first)
    assert seq.on_created(server_response(first)) is first  # echoed
    seq.on_done(server_response(first, "completed"))
    seq.submit(second)
    vad = Response(id="resp_vad", status="in_progress", conversation_id="conv_1")
    assert seq.on_created(vad) is None and seq.in_flight is second


def test_a_request_never_answered_expires_and_releases_the_queue() -> None:
    seq = ResponseSequencer()
    first, second = request("a"), request("b")
    seq.submit(first)
    seq.submit(second)
    assert seq.expire(first) == [second]
    assert state_of(first) == "failed" and seq.in_flight is second
    assert seq.expire(first) == []  # only a request still waiting can expire


def test_the_callers_metadata_is_sent_exactly_as_given() -> None:
    sixteen = {f"k{i}": str(i) for i in range(16)}
    assert request("t1", metadata=sixteen).tagged_params().metadata == sixteen
    assert request("t1", metadata={"purpose": "x"}).tagged_params().metadata == {"purpose": "x"}
    assert request("t1", metadata=None).tagged_params().metadata is None
    assert request("t1").tagged_params().metadata == {REQUEST_TAG: "t1"}  # none given: room


Action = tuple[str, int]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["submit", "server", "vad", "interrupt"]), st.integers(0, 3)),
        max_size=40,
    )
)
def test_never_two_default_responses_and_every_request_ends(actions: list[Action]) -> None:
    """Against a model server that also starts responses on its own (VAD)."""
    seq = ResponseSequencer()
    sent: list[ResponseRequest] = []  # sent, the server has not answered yet
    running: Response | None = None  # the server's default-conversation response
    everything: list[ResponseRequest] = []
    busy_errors_for_ours = 0

    def server_step() -> None:
        nonlocal running, busy_errors_for_ours
        if running is not None:
            finished = Response(
                id=running.id,
                status="completed",
                conversation_id="conv_1",
                metadata=running.metadata,
            )
            running = None
            _, to_send = seq.on_done(finished)
            sent.extend(to_send)
        elif sent:
            req = sent.pop(0)
            running = server_response(req)
            seq.on_created(running)

    for action, _n in actions:
        if action == "submit":
            req = request(f"r{len(everything)}")
            everything.append(req)
            if seq.submit(req):
                if running is not None:  # the server refuses: only possible after a VAD race
                    busy_errors_for_ours += 1
                    _, to_send = seq.on_rejected(req, busy=True)
                    sent.extend(to_send)
                else:
                    sent.append(req)
        elif action == "server":
            server_step()
        elif action == "vad" and running is None and not sent:
            running = Response(id=f"resp_vad{_n}", status="in_progress", conversation_id="conv_1")
            seq.on_created(running)
        elif action == "interrupt":
            seq.drop_queued()
        in_progress = [r for r in everything if r.state in ("sent", "created")]
        assert len(in_progress) <= 1, "two default-conversation responses at once"

    # Let the server run to the end: every request is answered or was dropped.
    for _ in range(4 * len(everything) + 4):
        server_step()
    assert all(r.state in ("done", "dropped") for r in everything)
    assert busy_errors_for_ours == 0  # the sequencer never provokes a busy error itself


async def test_a_handle_fills_in_the_output_a_response_done_left_out() -> None:
    """``output`` is optional in the schema: the handle has the items from their own events."""
    req = request("a")
    handle = ResponseHandle(req, 8)
    items = [
        MessageItem(role="assistant", content=[OutputText(text=word)], id=f"item_{word}")
        for word in ("one", "two")
    ]
    for index in (1, 0):  # by output_index, whatever the order
        done = ResponseOutputItemDone(response_id="resp_1", output_index=index, item=items[index])
        handle._on_event(done)
    req.response = Response(id="resp_1", status="completed")
    handle._on_done(None)
    response = await handle.done()
    assert response.output == items and handle.response is response
