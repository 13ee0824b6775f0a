"""Reconnection from the first connect on, and restarting a session (issue 14, finding 7).

In memory with the autojump clock: backoff delays take no real time.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio
import trio.testing

import trealtime
from trealtime import events
from trealtime.testing import (
    AcceptThenClose,
    Close,
    ErrorEvent,
    FakeRealtimeServer,
    RejectHandshake,
    Reset,
    Stall,
)

LIMIT = 60.0
POLICY = trealtime.ReconnectPolicy(
    initial_delay=0.5, max_delay=4.0, max_attempts=3, jitter=0.0, renew_before_expiry=None
)


@pytest.fixture
async def server() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer.serve_in_memory() as server:
        yield server


def session_for(
    server: FakeRealtimeServer, **options: Any
) -> AbstractAsyncContextManager[trealtime.Session]:
    options.setdefault("connect_stream", server.connect_stream)
    return trealtime.open_session(url=server.url, api_key=server.api_key, **options)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_the_first_connect_retries_a_transient_rejection(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock, status: int
) -> None:
    for _ in range(2):
        server.faults_for_next_connection([RejectHandshake(status)])
    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY) as session:
            assert isinstance(session.properties, events.SessionProperties)
    assert [h.status for h in server.handshakes] == [status, status, 101]


async def test_the_first_connect_retries_a_reset_and_a_transient_close(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.faults_for_next_connection([Reset()])
    server.faults_for_next_connection([AcceptThenClose(1011, "internal error")])
    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY) as session:
            assert isinstance(session.properties, events.SessionProperties)
    assert len(server.handshakes) == 3


async def test_the_first_connect_retries_a_refused_connection(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    refusals = 2

    async def refusing(host: str, port: int, tls: bool) -> trio.abc.Stream:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        return await server.connect_stream(host, port, tls)

    with trio.fail_after(LIMIT):
        async with session_for(server, reconnect=POLICY, connect_stream=refusing) as session:
            assert isinstance(session.properties, events.SessionProperties)
    assert refusals == 0 and len(server.handshakes) == 1


async def test_the_first_connect_gives_up_after_the_policys_attempts(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    for _ in range(POLICY.max_attempts + 1):
        server.faults_for_next_connection([RejectHandshake(503)])
    with trio.fail_after(LIMIT), pytest.raises(trealtime.ConnectionRejected) as rejected:
        async with session_for(server, reconnect=POLICY):
            pass  # pragma: no cover
    assert rejected.value.status_code == 503
    assert len(server.handshakes) == POLICY.max_attempts + 1


@pytest.mark.parametrize("status", [401, 403])
async def test_a_fatal_first_connect_raises_at_once(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock, status: int
) -> None:
    server.faults_for_next_connection([RejectHandshake(status)])
    with trio.fail_after(LIMIT), pytest.raises(trealtime.ConnectionRejected) as rejected:
        async with session_for(server, reconnect=POLICY):
            pass  # pragma: no cover
    assert rejected.value.status_code == status
    assert len(server.handshakes) == 1


async def test_a_bad_key_and_no_quota_raise_at_once(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(LIMIT), pytest.raises(trealtime.ConnectionRejected):
        async with trealtime.open_session(
            url=server.url,
            api_key="sk-wrong",
            connect_stream=server.connect_stream,
            reconnect=POLICY,
        ):
            pass  # pragma: no cover
    assert len(server.handshakes) == 1
    quota = ErrorEvent(type="insufficient_quota", code="insufficient_quota", message="No quota.")
    server.faults_for_next_connection([quota, Close(1008, "insufficient quota")])
    with trio.fail_after(LIMIT), pytest.raises(trealtime.ServerError) as refused:
        async with session_for(server, reconnect=POLICY):
            pass  # pragma: no cover
    assert refused.value.code == "insufficient_quota"
    assert len(server.handshakes) == 2


async def test_without_a_policy_the_first_failure_raises(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.faults_for_next_connection([RejectHandshake(503)])
    with trio.fail_after(LIMIT), pytest.raises(trealtime.ConnectionRejected):
        async with session_for(server):
            pass  # pragma: no cover
    assert len(server.handshakes) == 1


# -- restart ---------------------------------------------------------------------------------------

MANUAL = events.SessionProperties(
    output_modalities=["text"],
    audio=events.AudioConfig(input=events.AudioInput(turn_detection=None)),
)


def _creates(connection: Any) -> list[str]:
    return [
        str(event.item.id)
        for event in connection.received
        if isinstance(event, events.ConversationItemCreate)
    ]


def _session_id(session: trealtime.Session) -> str:
    properties = session.properties
    assert isinstance(properties, events.SessionProperties)
    return str(properties.id)


async def test_restart_keeping_the_conversation_replays_it_on_a_fresh_session(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    settings = trealtime.RealtimeSettings(session_properties=MANUAL)
    with trio.fail_after(LIMIT):
        async with session_for(server, settings=settings) as session:
            first = await session.send_text("remember me", respond=False)
            second = await session.send_text("and me", respond=False)
            old_id = _session_id(session)
            await session.restart(keep_conversation=True)
            assert len(server.connections) == 2
            assert _session_id(session) != old_id  # a fresh server session
            assert [item.id for item in session.conversation] == [first.id, second.id]
            reconnected = await session.wait_for(events.Reconnected)
            assert reconnected.renewal and reconnected.replayed_items == 2
            done = await (await session.create_response()).done()
            assert done.status == "completed"
    assert _creates(server.connections[1])[:2] == [first.id, second.id]
    updates = [e for e in server.connections[1].received if isinstance(e, events.SessionUpdate)]
    assert updates  # the settings went to the new session too


async def test_restart_afresh_starts_an_empty_conversation(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    settings = trealtime.RealtimeSettings(session_properties=MANUAL)
    with trio.fail_after(LIMIT):
        async with session_for(server, settings=settings) as session:
            await session.send_text("forget me", respond=False)
            await session.restart(keep_conversation=False)
            assert session.conversation == []
            item = await session.send_text("hello again", respond=False)
            assert [i.id for i in session.conversation] == [item.id]
    assert _creates(server.connections[1]) == [item.id]


async def test_restart_replaces_a_wedged_session(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server, close_timeout=2.0) as session:
            await server.connections[0].inject(Stall(600))
            await session.restart()
            item = await session.send_text("still here", respond=False)
            assert item.id in [i.id for i in session.conversation]
    assert len(server.connections) == 2


async def test_a_restart_that_cannot_connect_raises_and_closes_the_session(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            server.faults_for_next_connection([RejectHandshake(401)])
            with pytest.raises(trealtime.ConnectionRejected):
                await session.restart()
            assert session.closed
            assert "restart failed" in str(session.close_reason)
            with pytest.raises(trealtime.SessionClosed):
                await session.restart()


async def test_a_restart_asked_while_another_sets_up_joins_it(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    # The new session is slow to confirm its settings: a second restart() arrives during that
    # setup. It must share the restart under way (not close the new connection, and never
    # be left waiting when the first one settles).
    with trio.fail_after(LIMIT):
        async with session_for(server) as session:
            server.faults_for_next_connection([Stall(5)])
            first = await server.wait_for_connection()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(session.restart)
                assert await server.wait_for_connection() is not first  # the new one, in setup
                await session.restart()
            assert not session.closed
            await session.send_text("still here", respond=False)
    assert len(server.connections) == 2
