"""Soak tests: random fault scripts against the in-memory fake server, and a 3-hour call.

Both run in virtual time (``trio.testing.MockClock`` with ``autojump_threshold=0``): whenever
every task is blocked, the clock jumps to the next deadline, so hours of a call and every
timeout take no real time.

The property test is synchronous and calls ``trio.run`` itself, once per Hypothesis example, so
that each example gets a fresh server, clock and session (function-scoped fixtures are not
reset between examples).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import time
import traceback
import tracemalloc
import weakref
from collections.abc import Iterator
from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from trio_websocket import ConnectionClosed

import trealtime
from trealtime import events
from trealtime._session._reconnect import ReconnectPolicy
from trealtime._session._response_handle import ResponseHandle
from trealtime._transport._link import Keepalive
from trealtime.testing import FakeConnection, FakeRealtimeServer, silence, synthesize_speech

# -- the transport: in memory, and able to hang --------------------------------------------------


class HangableStream(trio.abc.Stream):
    """The client's end of an in-memory connection that can stop delivering the server's bytes.

    Once ``hung``, nothing more arrives (the client's writes still go out) until ``cut`` is set,
    which ends the stream as a dropped socket would. Each write waits ``latency`` seconds first
    (the server answers at once, so that is the round-trip time). Records whether the client
    closed it.
    """

    def __init__(self, inner: trio.abc.Stream, latency: float = 0.0) -> None:
        self.inner = inner
        self.latency = latency
        self.hung = False
        self.cut = trio.Event()
        self.closed = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.latency:
            await trio.sleep(self.latency)
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if not self.hung:
            data = await self.inner.receive_some(max_bytes)
            if not self.hung:
                return data
        await self.cut.wait()
        return b""

    async def aclose(self) -> None:
        self.closed = True
        await self.inner.aclose()


@attrs.define
class Transport:
    """``connect_stream`` for ``open_session``: the fake server's in-memory streams, hangable."""

    server: FakeRealtimeServer
    streams: list[HangableStream] = attrs.field(factory=list)
    latency: float = 0.0
    """The round-trip time of the connections opened from now on."""

    async def __call__(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        inner = await self.server.connect_stream(host, port, tls)
        stream = HangableStream(inner, self.latency)
        self.streams.append(stream)
        return stream


class TaskCounter(trio.abc.Instrument):
    """Counts live tasks, to check that a scenario leaves none behind."""

    def __init__(self) -> None:
        self.live = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.live += 1

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.live -= 1


# -- fault scripts -------------------------------------------------------------------------------

Step = tuple[str, Any, float]
"""``(action, argument, wait)``: what to do, with what, then how long (virtual s) to wait."""

CLIENT_ACTIONS = st.one_of(
    st.tuples(st.just("send_text"), st.booleans()),
    st.tuples(st.just("create_item"), st.none()),
    st.tuples(st.just("append_audio"), st.tuples(st.sampled_from([20, 100, 700]), st.booleans())),
    st.tuples(st.just("create_response"), st.none()),
    st.tuples(st.just("interrupt"), st.none()),
    st.tuples(st.just("retrieve"), st.none()),
)
SERVER_FAULTS = st.one_of(
    st.tuples(st.just("close"), st.sampled_from([1001, 1011, 1001, 1011, 1000, 1008, 4000])),
    st.tuples(st.just("abort"), st.booleans()),
    st.tuples(
        st.just("raw"),
        st.sampled_from(["invalid_json", "binary", "unknown", "orphan_done", "error"]),
    ),
    st.tuples(st.just("hang"), st.none()),
    st.tuples(st.just("cut"), st.none()),
    st.tuples(st.just("reject_handshakes"), st.sampled_from([None, 503, 401])),
)
WAITS = st.sampled_from([0.0, 0.0, 0.001, 0.05, 0.5, 3.0])


@st.composite
def steps(draw: st.DrawFn) -> Step:
    action, argument = draw(st.one_of(CLIENT_ACTIONS, CLIENT_ACTIONS, SERVER_FAULTS))
    return action, argument, draw(WAITS)


POLICY = ReconnectPolicy(max_attempts=3, initial_delay=0.5, max_delay=4.0, jitter=0.0)
KEEPALIVE = Keepalive(interval=5.0, timeout=2.0)
REQUEST_TIMEOUT = 5.0
ACTION_BOUND = 120.0
"""Virtual seconds any one client call may take: far above the worst legitimate case (a request
timeout after a reconnect that used every attempt and the whole connect timeout of each)."""
SETTLE = 30.0


@functools.cache
def audio(ms: int, speech: bool) -> bytes:
    return synthesize_speech(ms, seed=ms) if speech else silence(ms)


@attrs.define
class Ledger:
    """What the client's calls did: every created item, handle, and error."""

    returned: list[str] = attrs.field(factory=list)
    """Ids of the items whose ``create_item``/``send_text`` returned."""
    reported: list[str] = attrs.field(factory=list)
    """Typed trealtime errors raised by calls (the item or request may not have gone through).

    Kept as text: an exception's traceback would keep the session alive."""
    untyped: list[str] = attrs.field(factory=list)
    """Anything else a call raised (with its traceback): always a failure."""
    hung: list[str] = attrs.field(factory=list)
    """Calls that took longer than ``ACTION_BOUND``: always a failure."""
    handles: list[ResponseHandle] = attrs.field(factory=list)
    counter: int = 0


async def run_client_action(
    session: trealtime.Session, action: str, argument: Any, ledger: Ledger
) -> None:
    try:
        with trio.fail_after(ACTION_BOUND):
            if action == "send_text":
                item = await session.send_text(f"text {ledger.counter}", respond=argument)
                ledger.counter += 1
                assert isinstance(item.id, str)
                ledger.returned.append(item.id)
            elif action == "create_item":
                item_id = f"item_soak_{ledger.counter}"
                ledger.counter += 1
                item = await session.create_item(events.MessageItem.user_text("hi", id=item_id))
                assert item.id == item_id
                ledger.returned.append(item_id)
            elif action == "append_audio":
                ms, speech = argument
                await session.append_audio(audio(ms, speech))
            elif action == "create_response":
                ledger.handles.append(await session.create_response())
            elif action == "interrupt":
                await session.interrupt()
            elif action == "retrieve" and ledger.returned:
                item_id = ledger.returned[-1]
                retrieved = await session.retrieve_item(item_id)
                assert retrieved.id == item_id
    except trio.TooSlowError:
        ledger.hung.append(f"{action}({argument!r})")
    except trealtime.RealtimeError as exc:
        ledger.reported.append(f"{type(exc).__name__}: {exc}")
    except Exception:
        ledger.untyped.append(traceback.format_exc())


def current_connection(server: FakeRealtimeServer) -> FakeConnection | None:
    if server.connections and not server.connections[-1].closed:
        return server.connections[-1]
    return None


ORPHAN_DONE = {
    "type": "response.done",
    "response": {
        "id": "resp_never_created",
        "object": "realtime.response",
        "status": "completed",
        "status_details": None,
        "output": [],
        "conversation_id": "conv_soak",
        "output_modalities": ["audio"],
        "metadata": None,
        "usage": None,
    },
}
SERVER_ERROR = {
    "type": "error",
    "error": {"type": "server_error", "code": None, "message": "boom", "param": None},
}


async def run_server_fault(
    server: FakeRealtimeServer, transport: Transport, action: str, argument: Any
) -> None:
    if action == "reject_handshakes":
        server.reject_handshake = argument
        return
    if action == "hang":
        if transport.streams:
            transport.streams[-1].hung = True
        return
    if action == "cut":
        if transport.streams:
            transport.streams[-1].cut.set()
        return
    connection = current_connection(server)
    if connection is None:
        return
    if action == "close":
        await connection.close(argument, "soak")
    elif action == "abort":
        await connection.abort(reset=argument)
    else:
        try:
            if argument == "invalid_json":
                await connection.send_raw('{"type": "response.done", ')
            elif argument == "binary":
                await connection.send_raw(b"\x00\x01binary")
            elif argument == "unknown":
                await connection.send_event({"type": "soak.unknown_event", "x": 1})
            elif argument == "orphan_done":
                await connection.send_event(ORPHAN_DONE)
            else:
                await connection.send_event(SERVER_ERROR)
        except ConnectionClosed:
            pass  # the connection ended meanwhile: the fault is a no-op


@attrs.frozen
class Outcome:
    ledger: Ledger
    conversation: frozenset[str]
    server_received: frozenset[str]
    """Ids of every item the server received a ``conversation.item.create`` for."""
    connections_closed: bool
    streams_closed: bool
    leftover_tasks: int
    session_ref: weakref.ref[trealtime.Session]
    handles_settled: bool
    pending_requests: int
    missing_on_server: frozenset[str] | None
    """Confirmed items the server's current conversation lacks, when the session ended the
    script connected (else None): a reconnect must have replayed them all."""


async def scenario(
    script: list[Step],
    reconnect: ReconnectPolicy | None,
    keepalive: Keepalive | None,
    counter: TaskCounter,
) -> Outcome:
    baseline = counter.live
    ledger = Ledger()
    bound = 300.0 + sum(3.0 + wait for _, _, wait in script)
    with trio.fail_after(bound):  # the whole scenario, in virtual time
        async with FakeRealtimeServer.serve_in_memory() as server:
            transport = Transport(server)
            async with (
                trealtime.open_session(
                    url=server.url,
                    api_key=server.api_key,
                    connect_stream=transport,
                    reconnect=reconnect,
                    keepalive=keepalive,
                    request_timeout=REQUEST_TIMEOUT,
                    close_timeout=1.0,
                    connect_timeout=10.0,
                ) as session,
                trio.open_nursery() as reader,
            ):
                reader.start_soon(drain, session)
                async with trio.open_nursery() as actions:
                    for action, argument, wait in script:
                        if action in {"close", "abort", "raw", "hang", "cut"} or (
                            action == "reject_handshakes"
                        ):
                            await run_server_fault(server, transport, action, argument)
                        else:
                            actions.start_soon(run_client_action, session, action, argument, ledger)
                        await trio.sleep(wait)
                await trio.sleep(SETTLE)
                reader.cancel_scope.cancel()
                missing = missing_on_server(session, server, transport, ledger)
            handles_settled = all([await settled(handle) for handle in ledger.handles])
            ledger.handles.clear()  # a re-raised error's traceback holds the caller's frames
            pending = session.statistics().pending_requests
            conversation = frozenset(
                item.id for item in session.conversation if isinstance(item.id, str)
            )
        received = frozenset(
            event.item.id
            for connection in server.connections
            for event in connection.received
            if isinstance(event, events.ConversationItemCreate) and isinstance(event.item.id, str)
        )
        outcome = Outcome(
            ledger=ledger,
            conversation=conversation,
            server_received=received,
            connections_closed=all(connection.closed for connection in server.connections),
            streams_closed=all(stream.closed for stream in transport.streams),
            leftover_tasks=counter.live - baseline,
            session_ref=weakref.ref(session),
            handles_settled=handles_settled,
            pending_requests=pending,
            missing_on_server=missing,
        )
    return outcome


def missing_on_server(
    session: trealtime.Session, server: FakeRealtimeServer, transport: Transport, ledger: Ledger
) -> frozenset[str] | None:
    open_connections = [c for c in server.connections if not c.closed]
    if session.closed or len(open_connections) != 1 or transport.streams[-1].hung:
        return None
    conversation = open_connections[0].state.conversation
    return frozenset(item_id for item_id in ledger.returned if item_id not in conversation)


async def drain(session: trealtime.Session) -> None:
    async for _ in session:
        pass


async def settled(handle: ResponseHandle) -> bool:
    """Whether the outcome is known: ``done()`` returns, or raises a typed error, at once."""
    with trio.move_on_after(0.01):  # virtual: a set event returns at once
        with contextlib.suppress(trealtime.RealtimeError):
            await handle.done()
        return True
    return False


@contextlib.contextmanager
def unlogged(name: str = "trealtime") -> Iterator[None]:
    """Drop a logger's records: pytest's log capture keeps them all, and a record's arguments
    (a reconnect's error, with its traceback) would keep the session alive."""
    logger = logging.getLogger(name)
    handler = logging.NullHandler()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def run_scenario(
    script: list[Step], reconnect: ReconnectPolicy | None, keepalive: Keepalive | None
) -> Outcome:
    counter = TaskCounter()
    clock = trio.testing.MockClock(autojump_threshold=0)
    with unlogged():
        return trio.run(
            scenario, script, reconnect, keepalive, counter, clock=clock, instruments=[counter]
        )


def check(outcome: Outcome) -> None:
    ledger = outcome.ledger
    assert ledger.hung == [], f"calls that hung: {ledger.hung}"
    assert ledger.untyped == [], "untyped errors:\n" + "\n".join(ledger.untyped)
    for item_id in ledger.returned:  # a confirmed item is in the mirror and reached the server
        assert item_id in outcome.conversation, item_id
        assert item_id in outcome.server_received, item_id
    if outcome.missing_on_server is not None:
        assert not outcome.missing_on_server, "confirmed items lost by a reconnect"
    assert outcome.handles_settled, "a response handle was left pending"
    assert outcome.pending_requests == 0
    assert outcome.connections_closed, "a server connection outlived the server"
    assert outcome.streams_closed, "a client stream was never closed"
    assert outcome.leftover_tasks == 0, f"{outcome.leftover_tasks} tasks left behind"
    gc.collect()
    assert outcome.session_ref() is None, "the session is still referenced after the run"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    script=st.lists(steps(), min_size=1, max_size=25),
    reconnect=st.sampled_from([POLICY, None]),
    keepalive=st.sampled_from([KEEPALIVE, None]),
)
def test_random_fault_scripts_keep_the_invariants(
    script: list[Step], reconnect: ReconnectPolicy | None, keepalive: Keepalive | None
) -> None:
    """No hang, no leak, and every item the client created is confirmed or reported."""
    check(run_scenario(script, reconnect, keepalive))


def test_a_keepalive_ping_during_the_server_close() -> None:
    """Found by the property above: the server closes while the client's keepalive ping is on
    its way (here the client hears nothing from t=0, so the ping at t=5 meets the close sent at
    t=4, whose reply the server awaits for 2 s). The server must still shut down cleanly."""
    check(run_scenario([("hang", None, 4.0), ("close", 1000, 0.0)], None, KEEPALIVE))


@pytest.mark.parametrize("keepalive", [KEEPALIVE, None], ids=["keepalive", "no-keepalive"])
def test_writes_that_fail_on_a_half_dead_link_end_it(keepalive: Keepalive | None) -> None:
    """Found by the property above: the client stops hearing the server, which then closes.
    The client's writes fail, but its reader waits on a stream that delivers nothing: the
    link must still end (and the policy reconnect), not hold the callers' appends for ever."""
    script: list[Step] = [
        ("hang", None, 0.0),
        ("close", 1001, 0.0),
        ("append_audio", (700, False), 0.0),
        ("append_audio", (700, False), 0.0),
    ]
    check(run_scenario(script, POLICY, keepalive))


# -- long calls ----------------------------------------------------------------------------------


async def collect(
    session: trealtime.Session, seen: list[events.ServerEvent], reconnected: trio.Event
) -> None:
    """Read the session (so that it never waits on a full inbound buffer), keeping the
    reconnect events; set ``reconnected`` at the first ``Reconnected`` or when the session ends.
    """
    async for event in session:
        if isinstance(event, events.Reconnecting | events.Reconnected):
            seen.append(event)
        if isinstance(event, events.Reconnected):
            reconnected.set()
    reconnected.set()


async def test_a_long_conversation_survives_renewal_over_a_slow_link(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The session renewal replays the conversation, one round trip per item; a long call must
    not lose its session over it.

    300 turns' items is about 2 h 15 min of the call below (a spoken turn a minute, a typed one
    every ten), of which the mirror keeps (and replays) ``max_conversation_items``, 256 by
    default; 50 ms is a usual round trip to the API.
    """
    async with FakeRealtimeServer.serve_in_memory() as server:
        transport = Transport(server)
        seen: list[events.ServerEvent] = []
        async with (
            trealtime.open_session(
                url=server.url,
                api_key=server.api_key,
                connect_stream=transport,
                reconnect=ReconnectPolicy(jitter=0.0, renew_before_expiry=300.0),
            ) as session,
            trio.open_nursery() as reader,
        ):
            reconnected = trio.Event()
            reader.start_soon(collect, session, seen, reconnected)
            for turn in range(300):
                await session.create_item(events.MessageItem.user_text(f"turn {turn}"))
            kept = len(session.conversation)
            transport.latency = 0.05  # for the new connection
            with trio.move_on_after(3600):  # renewal is due at 3300 s
                await reconnected.wait()
            closed = session.closed
            reader.cancel_scope.cancel()
    assert not closed, f"the call was dropped: {session.close_reason}; events: {seen}"
    assert [type(event) for event in seen] == [events.Reconnected]
    renewal = seen[0]
    assert isinstance(renewal, events.Reconnected)
    assert renewal.renewal and renewal.replayed_items == kept


HOUR = 3600.0
CALL_HOURS = 3
MINUTE_TALK = 3.0
"""Seconds of input audio per minute of the call: 1.5 s of speech, then silence."""
SPEECH = synthesize_speech(1500, seed=7)
CHUNK = 0.1
MEMORY_FILTERS = [
    tracemalloc.Filter(False, "*/trealtime/testing/*"),  # the fake server's own state
    tracemalloc.Filter(False, tracemalloc.__file__),
]


def client_memory() -> int:
    """Bytes allocated since tracing began, still alive, outside the fake server's modules."""
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(MEMORY_FILTERS)
    return sum(stat.size for stat in snapshot.statistics("filename"))


def forget_server_records(server: FakeRealtimeServer) -> None:
    """Empty the fake server's logs of every frame (a test tool keeps them for ever)."""
    for connection in server.connections:
        connection.frames.clear()
        connection.sent.clear()
        connection.received.clear()
    server.received.clear()


@attrs.define
class CallReport:
    memory: list[tuple[float, int, int]] = attrs.field(factory=list)
    """``(hour, traced bytes, conversation items)`` at each full hour from the first on."""
    seen: list[events.ServerEvent] = attrs.field(factory=list)
    responses: int = 0
    connections: int = 0
    closed: bool = True


async def three_hour_call() -> CallReport:
    report = CallReport()
    async with (
        FakeRealtimeServer.serve_in_memory(realtime=True) as server,
        trealtime.open_session(
            url=server.url,
            api_key=server.api_key,
            connect_stream=server.connect_stream,
            reconnect=ReconnectPolicy(jitter=0.0, renew_before_expiry=300.0),
            audio_chunk_ms=100,
        ) as session,
        trio.open_nursery() as reader,
    ):
        reader.start_soon(collect, session, report.seen, trio.Event())
        start = trio.current_time()
        for minute in range(CALL_HOURS * 60):
            for chunk in range(round(MINUTE_TALK / CHUNK)):  # 100 ms every 100 ms
                at = chunk * 4800
                await session.append_audio(SPEECH[at : at + 4800] or silence(100))
                await trio.sleep_until(start + minute * 60 + (chunk + 1) * CHUNK)
            if minute % 10 == 9:
                await session.send_text("And in writing?", respond=True)
                forget_server_records(server)
            elapsed = (minute + 1) * 60
            await trio.sleep_until(start + elapsed)
            if elapsed % HOUR == 0:  # the first hour (and its renewal) warms up
                if elapsed == HOUR:
                    tracemalloc.start()
                report.memory.append((elapsed / HOUR, client_memory(), len(session.conversation)))
        await trio.sleep(30)  # the last reply
        report.responses = session.statistics().responses_completed
        report.closed = session.closed
        report.connections = len(server.connections)
        reader.cancel_scope.cancel()
    return report


def test_a_three_hour_call_keeps_memory_flat() -> None:
    """Three virtual hours of a voice call, with the session renewed before each expiry.

    Both ways, audio is paced as in real time: the server's replies (``realtime=True``), and the
    user's microphone, 100 ms every 100 ms. To run in about 20-40 s rather than minutes, the
    microphone streams only ``MINUTE_TALK`` (3) seconds a minute (a 1.5 s utterance, then
    silence, which server VAD turns into a turn and a spoken reply of 2.4 s), not the whole
    minute; every ten minutes the user also types a question. The call still lasts 3 virtual
    hours, with 3 renewals.

    Memory is traced from the end of the first hour (a warm-up that includes the first renewal)
    on, leaving out what the fake server's modules allocate, with its frame logs emptied every
    ten minutes. The figure still counts the server's decoded copies of the client's items (the
    codec is shared, and the server keeps every connection's conversation), so it overstates
    the client's share. The conversation mirror keeps at most ``max_conversation_items`` (256)
    items, reached after about two hours. A leak of a few hundred bytes per audio chunk (about
    1,800 go each way per hour) would exceed the bounds.
    """
    started = time.perf_counter()
    try:
        report = trio.run(three_hour_call, clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        tracemalloc.stop()
    took = time.perf_counter() - started
    renewals = [event for event in report.seen if isinstance(event, events.Reconnected)]
    assert [type(event) for event in report.seen] == [events.Reconnected] * CALL_HOURS
    assert all(event.renewal for event in renewals)
    assert not report.closed and report.connections == CALL_HOURS + 1
    assert report.responses == CALL_HOURS * (60 + 6)  # every spoken and typed turn answered
    (_, first, _), (_, middle, _), (_, last, _) = report.memory
    print(f"3-hour call in {took:.1f} s; (hour, traced bytes, conversation items): {report.memory}")
    assert last - first < 2 * 2**20  # over the last two hours
    assert last - middle < 2**20  # over the last hour
