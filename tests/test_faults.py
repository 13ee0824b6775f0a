"""Fault injection: a real session against a misbehaving fake server.

Every test is bounded (``trio.fail_after``; virtual time in memory), ends with every server
connection closed, and runs with warnings as errors (an unclosed socket fails it).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import pytest
import trio
import trio_websocket

import trealtime
from trealtime import events
from trealtime.testing import (
    LAST_CLIENT_EVENT,
    AcceptThenClose,
    BinaryFrame,
    Close,
    Duplicate,
    ErrorEvent,
    FakeConnection,
    FakeRealtimeServer,
    Fault,
    InvalidJson,
    MissingFields,
    OutOfOrder,
    Oversized,
    RejectHandshake,
    Reset,
    SessionExpired,
    Stall,
    UnknownEvent,
)

LIMIT = 60.0
POLICY = trealtime.ReconnectPolicy(
    initial_delay=0.5, max_delay=4.0, max_attempts=3, jitter=0.0, renew_before_expiry=None
)
KEEPALIVE = trealtime.Keepalive(interval=5.0, timeout=2.0)


@pytest.fixture
async def server() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer.serve_in_memory() as server:
        yield server


def session_for(
    server: FakeRealtimeServer, **options: object
) -> AbstractAsyncContextManager[trealtime.Session]:
    return trealtime.open_session(
        url=server.url,
        api_key=server.api_key,
        connect_stream=server.connect_stream,
        **options,  # type: ignore[arg-type]
    )


async def all_closed(server: FakeRealtimeServer, within: float = 5.0) -> None:
    """Every server-side connection ends (no task or socket left behind)."""
    with trio.fail_after(within):
        for connection in server.connections:
            await connection.wait_closed()


async def completes(session: trealtime.Session) -> events.Response:
    """A new response runs to completion (the session's events read up to its end)."""
    handle = await session.create_response()
    async for event in session:
        if isinstance(event, events.ResponseDone) and event.response.id == handle.id:
            break
    response = await handle.done()
    assert response.status == "completed"
    assert session.active_response is None
    return response


async def next_of_type(session: trealtime.Session, type: str) -> events.ServerEvent:
    async for event in session:
        if event.type == type:
            return event
    raise AssertionError(f"the session ended before a {type}")


def creates(connection: FakeConnection) -> list[str]:
    """The ids of the items a connection was asked to create, in order."""
    return [
        e.item.id
        for e in connection.received
        if isinstance(e, events.ConversationItemCreate) and isinstance(e.item.id, str)
    ]


# -- transport: reset, close, session expiry ------------------------------------------------------


async def test_reset_mid_response_ends_the_session_with_1006(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    trigger = server.after_server_event("response.output_audio.delta", Reset(), count=3)
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            handle = await session.create_response()
            seen = [event async for event in session]
            with pytest.raises(trealtime.SessionClosed):
                await handle.done()
    assert session.close_reason is not None and session.close_reason.code == 1006
    deltas = [e for e in seen if isinstance(e, events.ResponseOutputAudioDelta)]
    assert len(deltas) == 3  # everything written before the reset arrived
    assert trigger.fired.is_set() and trigger.connection is server.connections[0]
    assert server.connections[0].faults == [Reset()]
    await all_closed(server)


async def test_reset_mid_response_recovers_with_a_policy(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.after_server_event("response.output_audio.delta", Reset(), count=3)
    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY) as session:
            user = await session.send_text("hello", respond=False)
            handle = await session.create_response()
            lost = await session.wait_for(events.Reconnecting)
            assert lost.code == 1006
            with pytest.raises(trealtime.ConnectionLost):
                await handle.done()
            back = await session.wait_for(events.Reconnected)
            assert back.replayed_items == 1  # the half-spoken answer has no text to replay
            assert creates(server.connections[1]) == [user.id]
            await completes(session)
    await all_closed(server)


async def test_reset_over_tcp_recovers() -> None:
    policy = trealtime.ReconnectPolicy(initial_delay=0.05, jitter=0.0, max_attempts=2)
    with trio.fail_after(10):
        async with FakeRealtimeServer.serve() as server:
            server.after_server_event("response.output_audio.delta", Reset(), count=2)
            async with trealtime.open_session(
                url=server.url, api_key=server.api_key, reconnect=policy
            ) as session:
                await session.send_text("hello", respond=True)
                lost = await session.wait_for(events.Reconnecting)
                assert lost.code == 1006
                await session.wait_for(events.Reconnected)
                await completes(session)
            await all_closed(server)


async def test_an_item_whose_confirmation_was_lost_is_reported(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY) as session:
            first = await session.send_text("one", respond=False)
            server.on_client_event(events.ConversationItemCreate, Reset())
            with pytest.raises(trealtime.ConnectionLost):
                await session.send_text(
                    "two", respond=False
                )  # it reached the server; the answer did not
            await session.wait_for(events.Reconnected)
            assert creates(server.connections[1]) == [first.id]
            assert [item.id for item in session.conversation] == [first.id]
    await all_closed(server)


@pytest.mark.parametrize(
    ("fault", "code", "reason"),
    [
        (Close(1011, "internal error"), 1011, "internal error"),
        (SessionExpired(), 1001, "session expired"),
        (Close(1008, "policy violation"), 1008, "policy violation"),
    ],
)
async def test_a_server_close_ends_the_session_with_its_code(
    server: FakeRealtimeServer,
    autojump_clock: trio.testing.MockClock,
    fault: Fault,
    code: int,
    reason: str,
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            await session.wait_for(events.SessionUpdated)
            await server.connections[0].inject(fault)
            seen = [event async for event in session]
            with pytest.raises(trealtime.SessionClosed) as closed:
                await session.send_text("anyone?", respond=False)
    assert session.close_reason == trealtime.CloseReason(code, reason)
    assert closed.value.code == code
    errors = [e.error.code for e in seen if isinstance(e, events.Error)]
    assert errors == (["session_expired"] if isinstance(fault, SessionExpired) else [])
    await all_closed(server)


async def test_a_write_failing_before_the_close_is_read_keeps_the_servers_code(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    """The caller is not reading, so the server's close frame waits unread; the server gives
    up on the close handshake and drops the connection, and the next write fails. The session
    still ends with the server's code, not the 1006 of the failed write."""
    with trio.fail_after(LIMIT):
        async with session_for(server, inbound_buffer=1) as session:
            connection = server.connections[0]
            await connection.inject(Close(1008, "policy violation"))
            await connection.wait_closed()  # no close reply came: the server dropped it
            await session.send(events.InputAudioBufferClear())  # queued; its write fails
            await trio.testing.wait_all_tasks_blocked()
            seen = [event async for event in session]
    assert any(isinstance(event, events.SessionUpdated) for event in seen)
    assert session.close_reason == trealtime.CloseReason(1008, "policy violation")
    await all_closed(server)


@pytest.mark.parametrize("fault", [Close(1011, "internal error"), SessionExpired()])
async def test_a_transient_close_is_recovered_and_the_outage_queue_sent(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock, fault: Fault
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY) as session:
            first = await session.send_text("remember me", respond=True)
            await session.wait_for(events.ResponseDone)
            await server.connections[0].inject(fault)
            await session.wait_for(events.Reconnecting)
            outage = events.MessageItem.user_text("said during the outage", id="item_outage")
            await session.send(events.ConversationItemCreate(item=outage))  # queued
            back = await session.wait_for(events.Reconnected)
            assert back.replayed_items == 2
            new = server.connections[1]
            await new.wait_for_client_event(
                events.ConversationItemCreate, lambda e: e.item.id == "item_outage"
            )
            assert creates(new)[0] == first.id and creates(new)[-1] == "item_outage"
            await completes(session)
            assert session.conversation[2].id == "item_outage"
    await all_closed(server)


async def test_1008_is_not_retried(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY) as session:
            await session.wait_for(events.SessionUpdated)
            await server.connections[0].inject(Close(1008, "policy violation"))
            seen = [type(event).__name__ async for event in session]
    assert "Reconnecting" not in seen
    assert session.close_reason == trealtime.CloseReason(1008, "policy violation")
    assert len(server.connections) == 1
    await all_closed(server)


# -- handshake and accept-then-close -------------------------------------------------------------


async def test_accept_then_close_fails_the_connect(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.faults_for_next_connection([AcceptThenClose(1008, "policy violation")])
    with trio.fail_after(LIMIT), pytest.raises(trealtime.ConnectError, match="1008"):
        async with session_for(server):
            pass  # pragma: no cover
    assert [h.status for h in server.handshakes] == [101]
    assert server.connections[0].sent == []  # never a session.created
    await all_closed(server)


async def test_accept_then_close_1008_on_reconnect_is_not_retried(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY) as session:
            await session.wait_for(events.SessionUpdated)
            server.faults_for_next_connection([AcceptThenClose(1008, "policy violation")])
            await server.connections[0].inject(Close(1011, "internal error"))
            seen = []
            async for event in session:
                seen.append(type(event).__name__)
                if isinstance(event, events.Reconnected):
                    break  # (a bug: it tried again)
    assert seen == ["Reconnecting"]
    assert len(server.connections) == 2  # the one lost, the one refused: no third attempt
    assert session.close_reason is not None and "1008" in (session.close_reason.reason or "")
    await all_closed(server)


@pytest.mark.parametrize("status", [401, 403, 429, 500])
async def test_a_rejected_handshake_raises_with_its_status(status: int) -> None:
    with trio.fail_after(10):
        async with FakeRealtimeServer.serve() as server:
            server.faults_for_next_connection([RejectHandshake(status)])
            with pytest.raises(trealtime.ConnectionRejected) as rejected:
                async with trealtime.open_session(url=server.url, api_key=server.api_key):
                    pass  # pragma: no cover
            assert rejected.value.status_code == status
            assert server.connections == []
            server.reject_handshake = None
            async with trealtime.open_session(url=server.url, api_key=server.api_key):
                pass  # the fault was for one connection only
            await all_closed(server)


@pytest.mark.parametrize(("status", "attempts"), [(401, 1), (403, 1), (429, 3), (500, 3)])
async def test_a_rejected_reconnect_is_retried_only_when_transient(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock, status: int, attempts: int
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY) as session:
            await session.wait_for(events.SessionUpdated)
            for _ in range(POLICY.max_attempts):
                server.faults_for_next_connection([RejectHandshake(status)])
            await server.connections[0].inject(Close(1011, "internal error"))
            seen = [event async for event in session]
    retries = [e.attempt for e in seen if isinstance(e, events.Reconnecting)]
    assert retries == list(range(1, attempts + 1))
    assert [h.status for h in server.handshakes] == [101] + [status] * attempts
    assert session.close_reason is not None
    if attempts == 1:
        assert str(status) in (session.close_reason.reason or "")
    else:
        assert session.close_reason.code == 1011
    await all_closed(server)


# -- a stalled server -----------------------------------------------------------------------------


async def test_a_stall_longer_than_the_keepalive_timeout_ends_the_session(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server, keepalive=KEEPALIVE) as session:
            await session.wait_for(events.SessionUpdated)
            connection = server.connections[0]
            await connection.inject(Stall(30))
            stalled_at, sent = trio.current_time(), len(connection.sent)
            await session.send(events.InputAudioBufferClear(event_id="piled_up"))
            remaining = [event async for event in session]
            assert trio.current_time() - stalled_at <= KEEPALIVE.interval + KEEPALIVE.timeout
            assert remaining == [] and len(connection.sent) == sent
            assert not any(e.event_id == "piled_up" for e in connection.received)
        assert session.close_reason == trealtime.CloseReason(1006, "keepalive timeout")
        await connection.wait_closed()
    assert trio.current_time() >= stalled_at + 30  # only then did the server look again …
    assert connection.received[-1].event_id == "piled_up"  # … and find the client's frame


async def test_a_stall_mid_response_is_recovered(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.after_server_event("response.output_audio.delta", Stall(30), count=2)
    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY, keepalive=KEEPALIVE) as session:
            user = await session.send_text("hello", respond=False)
            handle = await session.create_response()
            lost = await session.wait_for(events.Reconnecting)
            assert (lost.code, lost.reason) == (1006, "keepalive timeout")
            with pytest.raises(trealtime.ConnectionLost):
                await handle.done()
            await session.wait_for(events.Reconnected)
            assert creates(server.connections[1]) == [user.id]
            await completes(session)
        await all_closed(server, within=LIMIT)


async def test_a_stall_over_tcp_is_recovered() -> None:
    policy = trealtime.ReconnectPolicy(initial_delay=0.05, jitter=0.0, max_attempts=2)
    keepalive = trealtime.Keepalive(interval=0.1, timeout=0.2)
    with trio.fail_after(10):
        async with FakeRealtimeServer.serve() as server:
            async with trealtime.open_session(
                url=server.url, api_key=server.api_key, reconnect=policy, keepalive=keepalive
            ) as session:
                await session.wait_for(events.SessionUpdated)
                await server.connections[0].inject(Stall(1.0))
                lost = await session.wait_for(events.Reconnecting)
                assert (lost.code, lost.reason) == (1006, "keepalive timeout")
                await session.wait_for(events.Reconnected)
                await completes(session)
            await all_closed(server)


# -- frames the client cannot use -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "kind", "counter"),
    [
        (InvalidJson(), events.InvalidServerEvent, "invalid_events"),
        (BinaryFrame(), events.InvalidServerEvent, "invalid_events"),
        (
            UnknownEvent("response.future.delta", {"x": 1}),
            events.UnknownServerEvent,
            "unknown_events",
        ),
        (MissingFields("response.done"), events.InvalidServerEvent, "invalid_events"),
        (MissingFields("conversation.item.added"), events.InvalidServerEvent, "invalid_events"),
    ],
)
async def test_an_undecodable_frame_is_delivered_and_the_session_goes_on(
    server: FakeRealtimeServer,
    autojump_clock: trio.testing.MockClock,
    fault: Fault,
    kind: type[events.ServerEvent],
    counter: str,
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            await session.wait_for(events.SessionUpdated)
            await server.connections[0].inject(fault)
            odd = await session.wait_for(kind)
            if isinstance(fault, UnknownEvent):
                assert isinstance(odd, events.UnknownServerEvent) and odd.raw["x"] == 1
            assert getattr(session.statistics(), counter) == 1
            await completes(session)
    await all_closed(server)


async def test_an_undecodable_frame_mid_response_does_not_stop_it(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.after_server_event(
        "response.output_audio.delta", MissingFields("response.output_audio.delta"), count=2
    )
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            await completes(session)
            assert session.statistics().invalid_events == 1
    await all_closed(server)


@pytest.mark.parametrize("reconnect", [None, POLICY])
async def test_a_frame_over_the_size_limit_closes_with_1009(
    server: FakeRealtimeServer,
    autojump_clock: trio.testing.MockClock,
    reconnect: trealtime.ReconnectPolicy | None,
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server, max_message_size=64 * 1024, reconnect=reconnect) as session:
            await session.wait_for(events.SessionUpdated)
            await server.connections[0].inject(Oversized(100_000))
            seen = [type(event).__name__ async for event in session]
    assert session.close_reason is not None and session.close_reason.code == 1009
    assert "Reconnecting" not in seen and len(server.connections) == 1
    await all_closed(server)


# -- duplicated and out-of-order lifecycle events -------------------------------------------------


@pytest.mark.parametrize(
    "type", ["response.created", "response.output_item.added", "conversation.item.added"]
)
async def test_a_duplicated_event_mid_response_changes_nothing(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock, type: str
) -> None:
    server.after_server_event(type, Duplicate(type))
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            await session.send_text("hello", respond=False)
            response = await completes(session)
            assert [item.id for item in session.conversation][1:] == [
                item.id for item in response.output or []
            ]
            assert len(session.conversation) == 2
            await completes(session)
            assert session.statistics().responses_completed == 2
    await all_closed(server)


async def test_a_duplicated_response_done_changes_nothing(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            await completes(session)
            await server.connections[0].inject(Duplicate("response.done"))
            await next_of_type(session, "response.done")
            assert session.active_response is None and not session.response_active
            assert session.statistics().responses_completed == 1
            await completes(session)
    await all_closed(server)


@pytest.mark.parametrize("type", OutOfOrder.TYPES)
async def test_a_stray_lifecycle_event_changes_nothing(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock, type: str
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            await session.send_text("hello", respond=False)
            await completes(session)
            before = session.conversation
            await server.connections[0].inject(OutOfOrder(type))
            await next_of_type(session, type)
            assert session.active_response is None and not session.response_active
            assert session.conversation == before
            interruption = await session.interrupt()  # nothing is running: nothing to cut
            assert interruption.cancelled_response_id is None
            await completes(session)
    await all_closed(server)


async def test_a_stray_response_done_during_a_response_leaves_it_active(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.after_server_event("response.output_audio.delta", OutOfOrder("response.done"))
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            handle = await session.create_response()
            created = await handle.created()
            stray = await session.wait_for(events.ResponseDone)
            assert stray.response.id != created.id
            assert session.active_response is not None
            assert session.active_response.id == created.id
            assert (await handle.done()).status == "completed"
            assert session.active_response is None
            await completes(session)
    await all_closed(server)


# -- error events ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        ErrorEvent("invalid_request_error", "invalid_value", "Bad value.", param="session.x"),
        ErrorEvent("invalid_request_error", None, "No code.", event_id="evt_not_ours"),
        ErrorEvent("server_error", None),
        ErrorEvent("server_error", "internal_error", event_id="evt_not_ours"),
        ErrorEvent("brand_new_error", "brand_new_code", "From the future."),
        ErrorEvent("rate_limit_error", "rate_limit_exceeded", "Slow down."),
    ],
)
async def test_an_error_event_is_delivered_and_the_session_goes_on(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock, fault: ErrorEvent
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            await session.wait_for(events.SessionUpdated)
            await server.connections[0].inject(fault)
            error = (await session.wait_for(events.Error)).error
            assert (error.type, error.code, error.event_id) == (
                fault.type,
                fault.code,
                fault.event_id,
            )
            assert not session.closed
            await completes(session)
    await all_closed(server)


async def test_an_error_answering_a_request_fails_only_that_request(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    fault = ErrorEvent("server_error", None, event_id=LAST_CLIENT_EVENT)
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            item = await session.send_text("hello", respond=False)
            assert isinstance(item.id, str)
            server.on_client_event(events.ConversationItemRetrieve, fault)
            with pytest.raises(trealtime.ServerError) as failed:
                await session.retrieve_item(item.id)
            assert failed.value.type == "server_error"
            retrieved = await session.retrieve_item(item.id)  # the session goes on
            assert retrieved.id == item.id
            await completes(session)
    await all_closed(server)


async def test_a_server_error_does_not_stop_a_reconnect(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY) as session:
            await session.wait_for(events.SessionUpdated)
            await server.connections[0].inject(ErrorEvent("server_error", None))
            await server.connections[0].inject(Close(1011, "internal error"))
            await session.wait_for(events.Reconnected)
            await completes(session)
    await all_closed(server)


# -- a slow reader --------------------------------------------------------------------------------


async def test_a_slow_reader_loses_nothing_and_holds_little(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.reply = "A long answer, spoken slowly. " * 20
    keepalive = trealtime.Keepalive(interval=1.0, timeout=1.0)
    with trio.fail_after(LIMIT):
        async with session_for(server, keepalive=keepalive, inbound_buffer=4) as session:
            await session.send_text("talk to me", respond=True)
            await trio.sleep(50)  # read nothing while the server streams
            statistics = session.statistics()
            assert statistics.inbound_queued <= 4
            assert not session.closed and statistics.reconnects == 0
            received: list[events.ServerEvent] = []
            async for event in session:
                received.append(event)
                if isinstance(event, events.ResponseDone):
                    break
    connection = server.connections[0]
    sent = [events.decode_server_event(frame) for frame in connection.sent]
    audio_sent = [e for e in sent if isinstance(e, events.ResponseOutputAudioDelta)]
    audio_got = [e for e in received if isinstance(e, events.ResponseOutputAudioDelta)]
    assert len(audio_sent) > 50
    assert [e.event_id for e in audio_got] == [e.event_id for e in audio_sent]
    assert sum(len(base64.b64decode(e.delta)) for e in audio_got) > 0
    assert [e.event_id for e in received] == [e.event_id for e in sent[: len(received)]]
    await all_closed(server)


# -- scripting a connection that has already ended -------------------------------------------------


@pytest.mark.parametrize("fault", [Stall(1), SessionExpired()], ids=["stall", "expired"])
async def test_inject_on_a_closed_connection_raises_at_once(
    fault: Stall | SessionExpired,
) -> None:
    async with FakeRealtimeServer.serve() as server:
        async with trealtime.open_session(url=server.url, api_key=server.api_key):
            connection = await server.wait_for_connection()
        with trio.fail_after(10):
            await connection.wait_closed()
            with pytest.raises(trio_websocket.ConnectionClosed):
                await connection.inject(fault)
        assert fault not in connection.faults


async def test_wait_for_connection_skips_connections_that_already_closed() -> None:
    async with FakeRealtimeServer.serve() as server:
        async with trealtime.open_session(url=server.url, api_key=server.api_key):
            pass
        with trio.fail_after(10):
            await server.connections[0].wait_closed()
            async with trealtime.open_session(url=server.url, api_key=server.api_key):
                connection = await server.wait_for_connection()
                assert connection is server.connections[1]
                assert not connection.closed
