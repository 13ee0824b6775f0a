"""Timeouts, hung servers and reconnects, in memory under the mock clock (virtual time)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import attrs
import pytest
import trio

import trealtime
from trealtime import events
from trealtime._session._reconnect import ReconnectPolicy
from trealtime._transport._link import Keepalive
from trealtime.testing import FakeRealtimeServer


class HangableStream(trio.abc.Stream):
    """The client's end of an in-memory connection that can stop delivering the server's bytes.

    ``hang_when(data)`` decides, chunk by chunk, when the server "hangs": from then on nothing
    more arrives (the client's own writes still go out, as they would into TCP buffers).
    """

    def __init__(self, inner: trio.abc.Stream, hang_when: Callable[[bytes], bool]) -> None:
        self.inner = inner
        self.hang_when = hang_when
        self.hung = False
        self.cut = trio.Event()
        """Set to end a hang with end-of-stream, as when the peer finally drops the socket."""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if not self.hung:
            data = await self.inner.receive_some(max_bytes)
            if not self.hang_when(bytes(data)):
                return data
            self.hung = True
        await self.cut.wait()
        return b""

    async def aclose(self) -> None:
        await self.inner.aclose()


@attrs.define
class Transport:
    """``connect_stream`` for open_session: the fake server's streams, made hangable."""

    server: FakeRealtimeServer
    hang_when: Callable[[bytes], bool] = lambda data: False
    streams: list[HangableStream] = attrs.field(factory=list)

    async def __call__(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        stream = HangableStream(await self.server.connect_stream(host, port, tls), self.hang_when)
        self.streams.append(stream)
        return stream

    def hang(self) -> None:
        """Hang the current connection from its next chunk on."""
        self.streams[-1].hang_when = lambda data: True


@pytest.fixture
async def server() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer.serve_in_memory() as server:
        yield server


def session_for(
    server: FakeRealtimeServer, transport: Transport | None = None, **options: object
) -> AbstractAsyncContextManager[trealtime.Session]:
    return trealtime.open_session(
        url=server.url,
        api_key=server.api_key,
        connect_stream=transport or server.connect_stream,
        **options,  # type: ignore[arg-type]
    )


# -- timeouts (issue: session runtime) ----------------------------------------------------------


async def test_connect_timeout_when_session_created_never_comes(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Transport(server, hang_when=lambda data: b"session.created" in data)
    start = trio.current_time()
    with pytest.raises(trealtime.ConnectTimeout):
        async with session_for(server, transport, connect_timeout=7.0):
            pass  # pragma: no cover
    assert trio.current_time() - start == pytest.approx(7.0)


async def test_request_timeout_when_the_server_stops_answering(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Transport(server)
    async with session_for(server, transport, request_timeout=3.0, keepalive=None) as session:
        item = await session.send_text("hello", respond=False)
        assert isinstance(item.id, str)
        transport.hang()
        start = trio.current_time()
        with pytest.raises(trealtime.RequestTimeout):
            await session.retrieve_item(item.id)
        assert trio.current_time() - start == pytest.approx(3.0)
        assert session.statistics().pending_requests == 0


async def test_leaving_the_block_is_bounded_when_the_server_never_closes(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Transport(server)
    async with session_for(server, transport, close_timeout=1.5, keepalive=None) as session:
        transport.hang()
        left_at = trio.current_time()
    assert trio.current_time() - left_at <= 1.5 + 1.5  # the close frame, then the stream
    assert session.closed
    connection = server.connections[0]
    with trio.fail_after(5):
        await connection.wait_closed()  # the server side sees the socket go


async def test_cancelling_the_caller_with_a_hung_server(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Transport(server)
    with trio.move_on_after(10) as scope:
        async with session_for(server, transport, close_timeout=2.0, keepalive=None) as session:
            transport.hang()
            await session.wait_for(events.ResponseDone)  # never comes: cancelled at t=10
    assert scope.cancelled_caught
    assert trio.current_time() <= 10 + 2 * 2.0
    assert session.closed


async def test_keepalive_notices_a_dead_peer(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Transport(server)
    keepalive = Keepalive(interval=5.0, timeout=2.0)
    async with session_for(server, transport, keepalive=keepalive) as session:
        await session.wait_for(events.SessionUpdated)
        transport.hang()
        start = trio.current_time()
        remaining = [event async for event in session]  # ends when the peer is declared dead
    assert remaining == []
    assert trio.current_time() - start <= keepalive.interval + keepalive.timeout + 0.1
    assert session.close_reason == trealtime.CloseReason(1006, "keepalive timeout")


async def test_a_slow_reader_is_not_mistaken_for_a_dead_peer(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    keepalive = Keepalive(interval=1.0, timeout=1.0)
    async with session_for(server, keepalive=keepalive, inbound_buffer=2) as session:
        await session.send_text("hello", respond=True)
        await trio.sleep(30)  # we read nothing for 30 s while the server has sent a lot
        assert not session.closed
        done = await session.wait_for(events.ResponseDone)
        assert done.response.status == "completed"


# -- reconnect (issue: resilience) ---------------------------------------------------------------


POLICY = ReconnectPolicy(initial_delay=0.5, max_delay=4.0, max_attempts=3, jitter=0.0)


async def test_reconnect_replays_settings_and_conversation(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    settings = trealtime.RealtimeSettings(system_instruction="Be brief.")
    async with session_for(server, settings=settings, reconnect=POLICY) as session:
        first = await session.send_text("my name is Ada", respond=True)
        await session.wait_for(events.ResponseDone)
        before = [item.id for item in session.conversation]
        old = server.connections[0]
        await old.close(1011, "internal error")
        reconnecting = await session.wait_for(events.Reconnecting)
        assert (reconnecting.attempt, reconnecting.code) == (1, 1011)
        await session.append_audio(b"\x00\x00" * 480)  # queued during the outage
        reconnected = await session.wait_for(events.Reconnected)
        assert reconnected.replayed_items == len(before) == 2
        new = server.connections[1]
        replayed = [e for e in new.received if isinstance(e, events.ConversationItemCreate)]
        assert [e.item.id for e in replayed] == before
        assert isinstance(first, events.MessageItem)
        assert replayed[0].item == attrs.evolve(first, status=trealtime.NOT_GIVEN)
        update = new.received[0]
        assert isinstance(update, events.SessionUpdate)
        assert getattr(update.session, "instructions", None) == "Be brief."
        with trio.fail_after(5):
            await new.wait_for_client_event(events.InputAudioBufferAppend)
        assert [item.id for item in session.conversation] == before
        assert not session.closed and session.statistics().reconnects == 1
        await session.send_text("what is my name?", respond=True)
        done = await session.wait_for(events.ResponseDone)
        assert done.response.status == "completed"


async def test_a_normal_close_is_not_retried(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with session_for(server, reconnect=POLICY) as session:
        await server.connections[0].close(1000, "bye")
        seen = [type(event).__name__ async for event in session]
    assert "Reconnecting" not in seen
    assert session.close_reason == trealtime.CloseReason(1000, "bye")
    assert len(server.connections) == 1


async def test_waiters_of_a_lost_connection_get_connection_lost(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Transport(server)
    async with session_for(server, transport, reconnect=POLICY, keepalive=None) as session:
        item = await session.send_text("keep me", respond=False)
        assert isinstance(item.id, str)
        item_id = item.id
        transport.hang()
        outcome: list[BaseException] = []

        async def retrieve() -> None:
            try:
                await session.retrieve_item(item_id)
            except trealtime.RealtimeError as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(retrieve)
            await trio.sleep(0.5)  # the request is out; no answer can come
            transport.streams[-1].cut.set()
        assert len(outcome) == 1 and isinstance(outcome[0], trealtime.ConnectionLost), outcome
        await session.wait_for(events.Reconnected)
        assert isinstance(await session.retrieve_item(item_id), events.MessageItem)


async def test_accept_then_close_cannot_loop_for_ever(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    """Each new connection is configured and then closed at once: never healthy, so the
    attempt budget is not reset and the client gives up after ``max_attempts``."""

    async def close_every_connection(task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        while True:
            connection = await server.wait_for_connection()
            await connection.wait_for_client_event(events.SessionUpdate)
            await trio.sleep(0.01)  # session.updated is out
            await connection.close(1011, "accepted, then gone")

    async with trio.open_nursery() as nursery:
        await nursery.start(close_every_connection)
        async with session_for(server, reconnect=POLICY) as session:
            seen = [type(event).__name__ async for event in session]
        nursery.cancel_scope.cancel()
    assert seen.count("Reconnecting") == POLICY.max_attempts
    assert session.close_reason is not None and session.close_reason.code == 1011
    assert len(server.connections) == 1 + POLICY.max_attempts


async def test_reconnect_gives_up_after_max_attempts(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with session_for(server, reconnect=POLICY) as session:
        await session.wait_for(events.SessionUpdated)
        server.reject_handshake = 503  # every new attempt is refused, transiently
        await server.connections[0].close(1012, "restarting")
        seen = [event async for event in session]
        attempts = [e.attempt for e in seen if isinstance(e, events.Reconnecting)]
        assert attempts == [1, 2, 3]
        assert session.close_reason is not None and session.close_reason.code == 1012
        with pytest.raises(trealtime.SessionClosed):
            await session.send_text("anyone?", respond=False)


async def test_a_rejected_key_on_reconnect_is_fatal(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    async with session_for(server, reconnect=POLICY) as session:
        await session.wait_for(events.SessionUpdated)
        server.reject_handshake = 401
        await server.connections[0].close(1011, "oops")
        seen = [event async for event in session]
    assert [type(e).__name__ for e in seen] == ["Reconnecting"]
    assert session.close_reason is not None
    assert "401" in (session.close_reason.reason or "")


async def test_token_provider_is_asked_again_on_every_connect(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[int] = []

    async def token() -> str:
        calls.append(1)
        return server.api_key

    async with trealtime.open_session(
        url=server.url, token_provider=token, connect_stream=server.connect_stream, reconnect=POLICY
    ) as session:
        await server.connections[0].close(1011, "oops")
        await session.wait_for(events.Reconnected)
    assert len(calls) == 2


async def test_renewal_before_expiry_at_a_turn_boundary(
    server: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    policy = attrs.evolve(POLICY, renew_before_expiry=300.0)
    async with session_for(server, reconnect=policy) as session:
        created = await session.wait_for(events.SessionCreated)
        assert created.session.expires_at is not trealtime.NOT_GIVEN
        await session.send_text("a long call", respond=True)
        reconnected = await session.wait_for(events.Reconnected)
        assert reconnected.renewal
        assert reconnected.replayed_items == 2
        assert server.connections[0].closed and not session.closed
        assert trio.current_time() >= 3600 - 300 - 5
