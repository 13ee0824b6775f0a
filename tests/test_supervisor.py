"""The connection supervisor on its own, driven through its protocol by a small fake session.

In memory with the autojump clock, against the real fake server: backoff delays, expiry and
close timeouts take no real time, and no facade is involved.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing

import trealtime
from trealtime import events
from trealtime._errors import RequestTimeout, ServerError
from trealtime._session._requests import PendingRequest, RequestTracker
from trealtime._session._supervisor import ConnectionSupervisor, LinkOptions, SupervisedSession
from trealtime._transport._connect import Credentials, Endpoint
from trealtime._transport._link import CloseReason, Link
from trealtime._wire._client_events import (
    ClientEvent,
    ConversationItemCreate,
    SessionUpdate,
)
from trealtime._wire._codec import decode_server_event, encode_client_event
from trealtime._wire._item_models import Item, MessageItem
from trealtime._wire._server_events import ServerEvent
from trealtime._wire._session_models import Session as SessionConfig
from trealtime._wire._session_models import SessionProperties
from trealtime.testing import FakeRealtimeServer, RejectHandshake, Stall

LIMIT = 120.0
POLICY = trealtime.ReconnectPolicy(
    initial_delay=0.5, max_delay=4.0, max_attempts=3, jitter=0.0, renew_before_expiry=None
)


class FakeSession:
    """Just enough of a session for the supervisor: it correlates the setup replies, keeps a
    conversation to replay, and records what it is told."""

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self.supervisor: ConnectionSupervisor | None = None
        self.items = list(items)
        self.busy = False
        self.lost: list[CloseReason] = []
        self.finished: list[CloseReason] = []
        self._requests = RequestTracker()
        self._waiters: dict[PendingRequest, trio.Event] = {}
        self._sent = 0
        self._delivered_in, self.delivered = trio.open_memory_channel[ServerEvent](math.inf)

    async def on_frame(self, link: Link, message: str | bytes) -> None:
        assert isinstance(message, str) and self.supervisor is not None
        event = decode_server_event(message)
        self.supervisor.observe(link, event)
        self._requests.on_server_event(event, ServerError)

    def on_sent(self, text: str) -> None:
        pass

    def session_properties(self) -> SessionConfig:
        return SessionProperties(instructions="be brief")

    def conversation_items(self) -> Iterable[Item]:
        return self.items

    def forget_conversation(self) -> None:
        self.items = []

    async def start_request(
        self, event: ClientEvent, kind: str, key: str | None, *, link: Link | None = None
    ) -> PendingRequest:
        assert link is not None  # the supervisor's requests all go ahead of the queue
        self._sent += 1
        event = attrs.evolve(event, event_id=f"evt_{self._sent}")
        assert isinstance(event.event_id, str)
        done = trio.Event()
        request = PendingRequest(kind, key, event.event_id, done.set)
        self._waiters[request] = done
        self._requests.add(request)
        await link.send_now(encode_client_event(event))
        return request

    async def wait(self, request: PendingRequest, within: float | None = None) -> ServerEvent:
        with trio.move_on_after(10.0 if within is None else within):
            await self._waiters[request].wait()
        self.forget_request(request)
        if not request.done:
            raise RequestTimeout(f"no reply to {request.kind}")
        if request.error is not None:
            raise request.error
        assert request.reply is not None
        return request.reply

    def forget_request(self, request: PendingRequest) -> None:
        self._requests.discard(request)
        self._waiters.pop(request, None)

    def fail_request(self, request: PendingRequest, error: Exception) -> None:
        self._requests.discard(request)
        request.finish(error=error)

    def server_error(self, detail: Any) -> Exception:
        return ServerError(detail)

    def mid_turn(self) -> bool:
        return self.busy

    def connection_lost(self, reason: CloseReason) -> None:
        self.lost.append(reason)
        self._requests.fail_all(trealtime.ConnectionLost("lost"))

    def finish(self, reason: CloseReason) -> None:
        self.finished.append(reason)

    async def deliver(self, event: ServerEvent) -> None:
        self._delivered_in.send_nowait(event)


def supervisor_for(
    server: FakeRealtimeServer,
    session: SupervisedSession,
    *,
    reconnect: trealtime.ReconnectPolicy | None = POLICY,
    close_timeout: float = 2.0,
) -> tuple[ConnectionSupervisor, trio.MemorySendChannel[str]]:
    outbound_in, outbound = trio.open_memory_channel[str](16)
    options = LinkOptions(
        endpoint=Endpoint.build(server.url, model="gpt-realtime"),
        credentials=Credentials.resolve(server.api_key, None, azure=False),
        extra_headers={},
        connect_stream=server.connect_stream,
        max_message_size=2**20,
        compression=None,
        keepalive=None,
        outbound=outbound,
    )
    supervisor = ConnectionSupervisor(
        session,
        options,
        connect_timeout=10.0,
        close_timeout=close_timeout,
        reconnect=reconnect,
        secrets=set(),
    )
    return supervisor, outbound_in


@asynccontextmanager
async def supervised(
    server: FakeRealtimeServer, session: FakeSession, **options: Any
) -> AsyncIterator[ConnectionSupervisor]:
    """A supervisor whose first connection is configured; closed politely on exit."""
    supervisor, outbound_in = supervisor_for(server, session, **options)
    session.supervisor = supervisor
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run, nursery)
        try:
            yield supervisor
        finally:
            outbound_in.close()
            with trio.CancelScope(shield=True):
                await supervisor.close(polite=True)
            nursery.cancel_scope.cancel()


@pytest.fixture
async def server() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer.serve_in_memory() as server:
        yield server


async def test_the_first_connect_is_retried_after_a_503_then_configured(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    for _ in range(2):
        server.faults_for_next_connection([RejectHandshake(503)])
    session = FakeSession()
    start = trio.current_time()
    with trio.fail_after(LIMIT):
        async with supervised(server, session):
            connected_at = trio.current_time()
            update = await server.connections[0].wait_for_client_event(SessionUpdate)
    assert [h.status for h in server.handshakes] == [503, 503, 101]
    assert connected_at - start == pytest.approx(0.5 + 1.0)  # the policy's backoff, no more
    assert isinstance(update.session, SessionProperties)
    assert update.session.instructions == "be brief"
    assert session.lost == session.finished == []


async def test_a_rejected_key_raises_at_once_without_retrying(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.faults_for_next_connection([RejectHandshake(401)])
    session = FakeSession()
    supervisor, _ = supervisor_for(server, session)
    session.supervisor = supervisor
    start = trio.current_time()
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            with pytest.raises(trealtime.ConnectionRejected) as raised:
                await nursery.start(supervisor.run, nursery)
    assert raised.value.status_code == 401
    assert [h.status for h in server.handshakes] == [401]
    assert trio.current_time() == start


async def test_without_a_policy_the_first_failure_raises(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server.faults_for_next_connection([RejectHandshake(503)])
    session = FakeSession()
    supervisor, _ = supervisor_for(server, session, reconnect=None)
    session.supervisor = supervisor
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            with pytest.raises(trealtime.ConnectionRejected):
                await nursery.start(supervisor.run, nursery)
    assert [h.status for h in server.handshakes] == [503]


async def test_the_first_connect_gives_up_after_the_policy_s_attempts(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    for _ in range(POLICY.max_attempts + 1):
        server.faults_for_next_connection([RejectHandshake(503)])
    session = FakeSession()
    supervisor, _ = supervisor_for(server, session)
    session.supervisor = supervisor
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            with pytest.raises(trealtime.ConnectionRejected):
                await nursery.start(supervisor.run, nursery)
    assert [h.status for h in server.handshakes] == [503] * (POLICY.max_attempts + 1)


async def test_a_lost_link_is_replaced_and_the_conversation_replayed(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    items = [MessageItem.user_text("hello", id="item_one"), MessageItem.user_text("again")]
    session = FakeSession(items)
    with trio.fail_after(LIMIT):
        async with supervised(server, session) as supervisor:
            await server.connections[0].close(1011, "internal error")
            reconnecting = await session.delivered.receive()
            reconnected = await session.delivered.receive()
            assert supervisor.reconnects == 1
    assert isinstance(reconnecting, events.Reconnecting)
    assert (reconnecting.attempt, reconnecting.code) == (1, 1011)
    assert isinstance(reconnected, events.Reconnected)
    assert (reconnected.replayed_items, reconnected.renewal) == (2, False)
    assert [reason.code for reason in session.lost] == [1011]
    assert session.finished == []
    new = server.connections[1].received
    assert isinstance(new[0], SessionUpdate)  # the settings first, then the conversation
    creates = [event for event in new if isinstance(event, ConversationItemCreate)]
    assert len(creates) == 2
    assert creates[0].item.id == "item_one"
    assert creates[1].previous_item_id == "item_one"  # in order


async def test_renewal_waits_for_a_turn_boundary(autojump_clock: trio.testing.MockClock) -> None:
    # The session expires after 60 s: renewal is due at 30 s (at most half the lifetime early).
    policy = attrs.evolve(POLICY, renew_before_expiry=300.0)
    session = FakeSession()
    async with FakeRealtimeServer.serve_in_memory(session_seconds=60) as server:
        with trio.fail_after(LIMIT):
            async with supervised(server, session, reconnect=policy):
                session.busy = True
                await trio.sleep(45)
                assert len(server.connections) == 1  # due, but a turn is under way
                session.busy = False
                turn_ended_at = trio.current_time()
                renewed = await session.delivered.receive()
                renewed_at = trio.current_time()
                assert len(server.connections) == 2
    assert isinstance(renewed, events.Reconnected)
    assert renewed.renewal
    assert turn_ended_at < renewed_at < 60  # before the server's expiry would have closed it
    assert [reason.reason for reason in session.lost] == ["renewing the session"]


async def test_restart_is_one_request_however_many_ask(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    session = FakeSession([MessageItem.user_text("hello", id="item_one")])
    with trio.fail_after(LIMIT):
        async with supervised(server, session) as supervisor:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(supervisor.restart, False)
                nursery.start_soon(supervisor.restart, False)
            restarted = await session.delivered.receive()
    assert isinstance(restarted, events.Reconnected)
    assert (restarted.attempt, restarted.renewal, restarted.replayed_items) == (0, True, 0)
    assert session.items == []  # not kept: the mirror was emptied, nothing replayed
    assert len(server.connections) == 2


async def test_closing_is_bounded_when_the_server_never_answers_the_close(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    session = FakeSession()
    supervisor, outbound_in = supervisor_for(server, session, close_timeout=1.5)
    session.supervisor = supervisor
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run, nursery)
            await server.connections[0].inject(Stall(600))
            outbound_in.close()
            started = trio.current_time()
            await supervisor.close(polite=True)
            took = trio.current_time() - started
            nursery.cancel_scope.cancel()
    with trio.fail_after(600 + LIMIT):
        await server.connections[0].wait_closed()  # after its stall, the server finds it gone
    assert took <= 1.5 + 1.5  # the close frame's grace, then the stream's
    assert supervisor.closed_by_client
    assert session.lost == session.finished == []  # closed by its owner: nothing to replace
