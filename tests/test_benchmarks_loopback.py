"""The benchmark harness's measurements: what its verdicts are computed from.

Only what decides a verdict is tested here (the harness must not weigh more in the suite than
the library it measures; ``python -m benchmarks --quick`` in CI runs the rest end to end):

- the paced stream's send-time stamps (the delivery lag's origin), served in-process;
- ``FleetResult``, ``_FrameCounter``, ``stamp_lag_ns``, and ``run_fleet``'s measurement window
  against fake connections and fake clocks;
- small real fleets of every Trio client over TLS (each trusting the run's own CA), against the
  server running in the test's own process;
- the fixtures decode to typed events (so e2e measures typed events);
- the memory scenario's growth slope and grading, the concurrency scenario's search for the
  largest passing number of sessions and its side-by-side verdicts (fake levels, no fleets).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from benchmarks import fixtures, server_process, streaming
from benchmarks.config import RunConfig
from benchmarks.contenders import (
    FLOOR,
    OPENAI,
    TREALTIME,
    WEBSOCKET,
    ContenderUnavailable,
)
from benchmarks.loopback import (
    END_ID,
    TRANSPORTS,
    Opener,
    Query,
    Served,
    ServerAddress,
    stamp_lag_ns,
)
from benchmarks.results import Metric
from benchmarks.scenarios import concurrency, memory
from benchmarks.scenarios.concurrency import ConcurrencyScenario, Level, Plan
from benchmarks.scenarios.memory import MIRROR_FILL_TURNS, MemoryScenario, Replay
from benchmarks.server_process import (
    API_KEY,
    RunStats,
    Server,
    capture_protocol_frames,
    tls_context,
)
from benchmarks.streaming import WARM_UP_FRAMES, Fleet, FleetResult, run_fleet
from trealtime import events
from trealtime._transport._frames import (
    TEXT,
    Close,
    FrameReader,
    Ping,
    Pong,
    client_frame,
)

Event = str | bytes | Ping | Pong | Close
Outcome = tuple[object, ...]  # ("text", type), ("pong", payload), ("close", code)

CREATED = '{"type":"session.created","event_id":"event_created"}'
UPDATED = '{"type":"session.updated","event_id":"event_updated"}'
# RFC 6455 section 1.3: this key must be answered with this accept value.
RFC_KEY, RFC_ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
STAMPED = re.compile(r'"event_id":"ev_(\d+)"')
FALLBACKS = (events.UnknownServerEvent, events.InvalidServerEvent)
TIMEOUT = 30  # seconds: a hang guard only, nothing is timed


# -- client frames, written by trealtime and by wsproto ------------------------------------------


# -- an in-process server over a socket pair ------------------------------------------------------


def upgrade_request(
    query: str = "",
    *,
    path: str = "/v1/realtime",
    api_key: str = API_KEY,
    key: str | None = RFC_KEY,
) -> bytes:
    lines = [
        f"GET {path}{'?' + query if query else ''} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        f"Authorization: Bearer {api_key}",
    ]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def describe(event: Event | None) -> Outcome:
    if isinstance(event, str):
        return ("text", json.loads(event)["type"])
    if isinstance(event, Pong):
        return ("pong", event.payload)
    if isinstance(event, Close):
        return ("close", event.code)
    return ("other", event)


class Peer:
    """The client end of a socket pair served by an in-process :class:`Server`: writes raw
    bytes, reads the HTTP response head, then the server's frames with trealtime's reader."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.head = b""
        self.eof = False
        self._reader = FrameReader(1 << 30)
        self._events: deque[Event] = deque()

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            await trio.lowlevel.wait_writable(self.sock)
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                continue
            view = view[sent:]

    async def status(self) -> int:
        """The HTTP status of the server's response (waiting for its head)."""
        while not self._head_done() and not self.eof:
            await trio.lowlevel.wait_readable(self.sock)
            self._read_available()
        return int(self.head.split(b" ")[1])

    async def receive(self) -> Event | None:
        """The server's next frame (waiting for it); None once it hung up."""
        while not self._events:
            if self.eof:
                return None
            await trio.lowlevel.wait_readable(self.sock)
            self._read_available()
        return self._events.popleft()

    async def texts_until_end(self) -> list[str]:
        """Every text frame up to and including the one whose ``event_id`` is END_ID."""
        texts: list[str] = []
        while True:
            event = await self.receive()
            assert isinstance(event, str), f"expected a text frame, got {event!r}"
            texts.append(event)
            if json.loads(event).get("event_id") == END_ID:
                return texts

    def _head_done(self) -> bool:
        return self.head.endswith(b"\r\n\r\n")

    def _read_available(self) -> None:
        while not self.eof:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                return
            if not data:
                self.eof = True
                return
            if not self._head_done():
                head, found, data = (self.head + data).partition(b"\r\n\r\n")
                self.head = head + found
                if not found:
                    continue
            self._reader.feed(data)
            while (event := self._reader.next_event()) is not None:
                self._events.append(event)


def new_server() -> Server:
    return Server(CREATED, UPDATED)


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[Callable[[], Peer]]:
    """``server`` (and its pacer) running in this Trio run; yields a connect function."""
    sockets: list[socket.socket] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.pacer)

        def connect() -> Peer:
            ours, theirs = socket.socketpair()
            ours.setblocking(False)
            theirs.setblocking(False)
            sockets.append(ours)
            nursery.start_soon(server.serve_connection, theirs)
            return Peer(ours)

        yield connect
        nursery.cancel_scope.cancel()
    for sock in sockets:
        sock.close()


# -- Server._parse --------------------------------------------------------------------------------


# -- the reading loop -----------------------------------------------------------------------------


# -- the handshake --------------------------------------------------------------------------------


# -- the streams ----------------------------------------------------------------------------------


async def open_stream(peer: Peer, query: str) -> None:
    """Handshake with ``query``, then the trigger that starts the stream."""
    await peer.send(upgrade_request(query))
    assert await peer.status() == 101
    await peer.send(client_frame(TEXT, fixtures.TRIGGER_JSON.encode()))


async def test_paced_stream_stamps_each_delta_with_its_send_time() -> None:
    """``bench=paced``: ``count`` 20 ms audio deltas, each the fixture with ``event_id`` =
    ``ev_<monotonic ns>`` (stamped between trigger and receipt, in order), then the end frame;
    the server counts the frames under the run tag."""
    server = new_server()
    async with serving(server) as connect:
        peer = connect()
        with trio.fail_after(TIMEOUT):
            before = time.monotonic_ns()
            await open_stream(peer, "bench=paced&rate=1000&count=8&run=unit")
            texts = await peer.texts_until_end()
            after = time.monotonic_ns()
    head, deltas, end = texts[:2], texts[2:-1], texts[-1]
    assert [json.loads(text)["type"] for text in head] == [
        "session.created",
        "input_audio_buffer.cleared",
    ]
    assert len(deltas) == 8
    stamps = []
    for delta in deltas:
        [stamp] = STAMPED.findall(delta)
        stamps.append(int(stamp))
        unstamped = STAMPED.sub(f'"event_id":"{fixtures.STAMP_ID}"', delta)
        assert unstamped == fixtures.audio_delta_frame(20)
    assert before <= stamps[0] and stamps == sorted(stamps) and stamps[-1] <= after
    assert end == fixtures.end_frame()
    run = server.runs["unit"]
    assert (run.connections, run.frames, len(run.late_us)) == (1, 8, 8)
    assert min(run.late_us) >= 0


def test_run_stats_summary_uses_the_nearest_rank_at_or_above() -> None:
    """The server's lateness summary: counts always; median, p99 and max once it has values."""
    assert RunStats(connections=2, frames=0).summary() == {"connections": 2, "frames": 0}
    late = [float(v) for v in range(1, 202)]
    random.Random(1).shuffle(late)
    summary = RunStats(late, connections=3, frames=201).summary()
    assert summary == {
        "connections": 3,
        "frames": 201,
        "late_p50_us": 101.0,
        "late_p99_us": 199.0,  # rank ceil(0.99 * 201) = 199 of 201
        "late_max_us": 201.0,
    }


# -- FleetResult, _FrameCounter, stamp_lag_ns -----------------------------------------------------


def result_with_lags(lags_ns: list[int]) -> FleetResult:
    return FleetResult(1, 1, lags_ns=list(lags_ns))


def test_lag_percentile_is_none_without_lags() -> None:
    """No lag recorded: no percentile (rather than 0, which would read as a perfect result)."""
    assert FleetResult(1, 1).lag_percentile_us(0.5) is None


@pytest.mark.parametrize(
    ("lags_ns", "q", "expected_us"),
    [
        ([7_000], 0.0, 7.0),
        ([7_000], 0.99, 7.0),
        # Five lags, unsorted; index round(q * 4) of the sorted lags.
        ([5_000, 1_000, 4_000, 2_000, 3_000], 0.0, 1.0),
        ([5_000, 1_000, 4_000, 2_000, 3_000], 0.5, 3.0),  # index 2
        ([5_000, 1_000, 4_000, 2_000, 3_000], 0.99, 5.0),  # round(3.96) = 4
        ([5_000, 1_000, 4_000, 2_000, 3_000], 1.0, 5.0),
        ([5_000, 1_000, 4_000, 2_000, 3_000], 0.3, 2.0),  # round(1.2) = 1
        ([1_500, 2_500, 500], 0.5, 1.5),  # index 1, in µs (ns / 1000)
        # 101 lags 0..100 µs: p99 is index 99, the second largest.
        ([i * 1000 for i in range(100, -1, -1)], 0.99, 99.0),
        ([5_000, 1_000, 3_000], 1.5, 5.0),  # q above 1 clamps to the largest
        ([5_000, 1_000, 3_000], -0.5, 1.0),  # q below 0 clamps to the smallest
    ],
)
def test_lag_percentile_picks_the_nearest_rank(
    lags_ns: list[int], q: float, expected_us: float
) -> None:
    """The ``q``-percentile is the sorted lag at index ``round(q * (n - 1))``, in µs."""
    assert result_with_lags(lags_ns).lag_percentile_us(q) == expected_us


def complete_result(**changes: Any) -> FleetResult:
    result = FleetResult(3, 3, frames=30, expected_frames=30)
    return dataclasses.replace(result, **changes)


def test_fleet_is_complete_only_when_every_session_opened_and_got_every_frame() -> None:
    """Complete needs all sessions open, every frame, and no time-out."""
    assert complete_result().complete
    assert complete_result(frames=31).complete
    assert not complete_result(frames=29).complete
    assert not complete_result(opened=2).complete
    assert not complete_result(timed_out=True).complete


def test_cpu_share_is_cpu_over_wall_time() -> None:
    """CPU and waiting shares divide by the stream's wall time; 0 before it ran."""
    result = FleetResult(1, 1, cpu_s=1.5, wall_s=2.0, wait_s=0.5, server_cpu_s=0.25)
    assert (result.cpu_share, result.wait_share, result.server_cpu_share) == (0.75, 0.25, 0.125)
    assert FleetResult(1, 1, cpu_s=1.0).cpu_share == 0.0


def test_frame_counter_skips_the_warm_up_of_each_session() -> None:
    """Each session's first WARM_UP_FRAMES stamped frames count as frames but give no lag; the
    warm-up is per session, not per fleet."""
    result = FleetResult(2, 2)
    first, second = result.frame_counter(), result.frame_counter()
    for k in range(WARM_UP_FRAMES):
        assert first.take(f"ev_{1000 * k}", 1000 * k + 7)
    assert (result.frames, result.lags_ns) == (WARM_UP_FRAMES, [])
    assert first.take("ev_1000000", 1_000_250)
    assert second.take("ev_2000000", 2_000_900)  # the second session is still warming up
    assert (result.frames, result.lags_ns) == (WARM_UP_FRAMES + 2, [250])


def test_frame_counter_stops_at_the_end_frame_and_ignores_unstamped_ids() -> None:
    """The end frame returns False and counts nothing; ids without a stamp count nothing."""
    result = FleetResult(1, 1)
    counter = result.frame_counter()
    for event_id in (None, "", "event_bench_cleared", "ev_", "ev_12a", "ev_-5", "ev_stats", 42):
        assert counter.take(event_id, 10**9)
    assert (result.frames, result.lags_ns, counter.seen) == (0, [], 0)
    assert not counter.take(END_ID, 10**9)
    assert result.frames == 0


def test_stamp_lag_is_now_minus_the_stamp() -> None:
    """``ev_<ns>`` gives ``now - ns`` (negative too: the caller decides); anything else None."""
    assert stamp_lag_ns("ev_1000", 1500) == 500
    assert stamp_lag_ns("ev_2000", 1500) == -500
    assert stamp_lag_ns(f"ev_{2**62}", 2**62 + 3) == 3
    for not_stamped in (END_ID, "ev_", "ev_1e3", "ev_ 12", "event_123", None, 1000, b"ev_1"):
        assert stamp_lag_ns(not_stamped, 1500) is None


def test_stamp_lag_is_none_for_non_ascii_digits() -> None:
    """An id that is not ``ev_`` + ASCII digits has no stamp: None, as documented, rather than
    a crash (``"²".isdigit()`` is true but ``int("²")`` raises) or a lag from foreign digits."""
    assert stamp_lag_ns("ev_²", 1500) is None
    assert stamp_lag_ns("ev_١٢٣", 1500) is None


# -- run_fleet's measurement window, against fake connections ------------------------------------

OPEN_COST = 1_000.0
CLOSE_COST = 1_000_000.0
FRAME_COST = 1.0
COUNT = 8
FAKE_SERVER = ServerAddress("ws://127.0.0.1:9/v1/realtime", API_KEY, 0)
FAKE_FLEET = Fleet(2, count=COUNT, appends=False)
STREAM_COST = FAKE_FLEET.sessions * (COUNT + 1) * FRAME_COST  # every frame and the end frame


@dataclasses.dataclass
class Costs:
    """Fake clocks, advanced only by the fake connections: the client's ``perf_counter`` and
    ``process_time``, and the server's CPU time (what ``fetch_stats`` reports)."""

    client: float = 0.0
    server: float = 0.0

    def spend(self, seconds: float) -> None:
        self.client += seconds
        self.server += seconds


class FakeConnection:
    """A floor-style connection serving ``count`` stamped frames, then the end frame."""

    def __init__(self, costs: Costs, count: int) -> None:
        self._costs = costs
        self._left = count

    async def send_message(self, text: str) -> None:
        await trio.lowlevel.checkpoint()

    async def get_message(self) -> str:
        await trio.lowlevel.checkpoint()
        self._costs.spend(FRAME_COST)
        if self._left == 0:
            return fixtures.end_frame()
        self._left -= 1
        return fixtures.audio_delta_frame(20, event_id=f"ev_{time.monotonic_ns()}")


def fake_opener(costs: Costs, count: int) -> Opener:
    @asynccontextmanager
    async def open_fake(server: ServerAddress, query: Query) -> AsyncIterator[FakeConnection]:
        costs.spend(OPEN_COST)
        yield FakeConnection(costs, count)
        costs.spend(CLOSE_COST)

    return open_fake


@pytest.fixture
def costs(monkeypatch: pytest.MonkeyPatch) -> Costs:
    """``run_fleet`` with fake floor connections, fake clocks and a fake server's stats."""
    costs = Costs()

    async def fake_stats(server: ServerAddress) -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        return {"cpu": costs.server, "wait": 0.0, "runs": {}}

    clock = SimpleNamespace(
        perf_counter=lambda: costs.client,
        process_time=lambda: costs.client,
        monotonic_ns=time.monotonic_ns,
    )
    monkeypatch.setattr(streaming, "time", clock)
    monkeypatch.setattr(streaming, "fetch_stats", fake_stats)
    monkeypatch.setattr(streaming, "bare_opener", lambda client: fake_opener(costs, COUNT))
    return costs


async def test_fleet_counts_every_frame_of_fake_connections(costs: Costs) -> None:
    """Frames and lags of every session reach the result; the fakes behave."""
    result = await run_fleet(FAKE_SERVER, FLOOR, FAKE_FLEET)
    assert result.errors == []
    assert result.complete
    assert result.frames == result.expected_frames == 2 * COUNT
    assert len(result.lags_ns) == 2 * (COUNT - WARM_UP_FRAMES)


async def test_fleet_client_time_covers_the_stream_without_opening_or_closing(
    costs: Costs,
) -> None:
    """``cpu_s`` and ``wall_s`` (hence ``cpu_share``) cover the streaming phase only, as
    FleetResult's docstring says: "opening and closing excluded"."""
    result = await run_fleet(FAKE_SERVER, FLOOR, FAKE_FLEET)
    assert result.wall_s >= STREAM_COST and result.cpu_s >= STREAM_COST
    assert result.wall_s < OPEN_COST and result.cpu_s < OPEN_COST, (
        f"wall_s={result.wall_s:,.0f}, cpu_s={result.cpu_s:,.0f}: the sessions' closing "
        f"(fake cost {CLOSE_COST:,.0f} each) is inside the measured stream"
    )


async def test_fleet_server_cpu_covers_the_same_window_as_the_wall_time(costs: Costs) -> None:
    """``server_cpu_s`` is divided by the stream's ``wall_s`` (``server_cpu_share``), so it
    must cover the same window: the server's work opening and closing the sessions is not
    part of it."""
    result = await run_fleet(FAKE_SERVER, FLOOR, FAKE_FLEET)
    assert result.server_cpu_s >= STREAM_COST
    assert result.server_cpu_s < OPEN_COST, (
        f"server_cpu_s={result.server_cpu_s:,.0f}: the server's opening (fake cost "
        f"{OPEN_COST:,.0f} each) and closing ({CLOSE_COST:,.0f} each) are counted"
    )


# -- real fleets over TLS and plain, against the server in this process -----------------------


@asynccontextmanager
async def listening(tmp_path: Path) -> AsyncIterator[Served]:
    """The benchmark server on two real 127.0.0.1 ports (plain and TLS, as the server process
    runs it), in this Trio run: the fleets below are real, only the process is saved."""
    server = Server(*await capture_protocol_frames())
    context, ca_file = tls_context(str(tmp_path))
    plain, secure = server_process._listener(), server_process._listener()
    with plain, secure:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.pacer)
            nursery.start_soon(server_process.accept_loop, server, plain, None, nursery)
            nursery.start_soon(server_process.accept_loop, server, secure, context, nursery)
            urls = [f"{scheme}://127.0.0.1:{sock.getsockname()[1]}/v1/realtime"
                    for scheme, sock in (("ws", plain), ("wss", secure))]  # fmt: skip
            yield Served(
                ServerAddress(urls[0], API_KEY, os.getpid()),
                ServerAddress(urls[1], API_KEY, os.getpid(), ca_file),
            )
            nursery.cancel_scope.cancel()


SMALL_FLEET = Fleet(3, rate=200, count=WARM_UP_FRAMES + 3, appends=True, grace=20)


@pytest.mark.parametrize("client", [TREALTIME, WEBSOCKET, FLOOR])
async def test_real_fleet_gets_every_frame_over_tls(tmp_path: Path, client: str) -> None:
    """Each Trio client, over TLS (verifying the server's certificate against the run's own CA,
    as in production), gets every stamped frame with a lag of at least zero.  (Plain ``ws://``
    and the ``openai`` client run in every ``python -m benchmarks --quick``.)"""
    async with listening(tmp_path) as served:
        with trio.fail_after(TIMEOUT):
            tagged = dataclasses.replace(SMALL_FLEET, tag=client)
            result = await run_fleet(served.tls, client, tagged)
    assert result.errors == []
    assert result.complete
    assert result.server["frames"] == result.expected_frames
    assert len(result.lags_ns) == 3 * 3 and min(result.lags_ns) >= 0


# -- the fixtures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_every_fixture_frame_decodes_to_its_typed_event(seed: int) -> None:
    """Every frame of the decode mix (and of the server's pool of turns), the paced delta and
    the end frame decode with trealtime's codec to the typed event of their ``type``."""
    frames = [*fixtures.voice_turn(seed=seed).frames]
    frames += [fixtures.audio_delta_frame(20), fixtures.end_frame()]
    for frame in frames:
        event = events.decode_server_event(frame)
        assert not isinstance(event, FALLBACKS), frame[:200]
        assert event.type == json.loads(frame)["type"]


# -- memory: the growth slope and its grading ----------------------------------------------------


def replay_of(marks: list[int], heap: list[int], *, fit_from: int, turns: int = 720) -> Replay:
    return Replay(turns, fit_from, marks, heap, list(heap), 0, 0.0, [])


def test_slope_of_a_line_is_its_slope() -> None:
    """Least squares on exact lines gives their slopes; fewer than two points or one x, 0."""
    xs = list(range(0, 720, 12))
    assert memory._slope(xs, [3 * x + 7 for x in xs]) == pytest.approx(3.0)
    assert memory._slope(xs, [-2 * x + 10**6 for x in xs]) == pytest.approx(-2.0)
    assert memory._slope([5], [9]) == 0.0
    assert memory._slope([4, 4, 4], [1, 2, 3]) == 0.0


def test_slope_of_flat_noise_is_about_zero() -> None:
    """A flat heap with ±1 KiB of noise grows far less than the 1 KiB/min target."""
    rng = random.Random(5)
    marks = list(range(144, 720, 12))
    heap = [50_000_000 + rng.randint(-1024, 1024) for _ in marks]
    replay = replay_of(marks, heap, fit_from=144)
    assert abs(replay.kib_per_minute) < 0.1


def test_growth_is_fitted_after_the_mirror_fills() -> None:
    """Samples before ``fit_from`` (the mirror filling) do not count; 1 KiB per 5 s turn after
    it is 12 KiB per minute; the fitted window spans the counted samples."""
    marks = list(range(12, 721, 12))
    filling = [1_000_000 * m if m < 144 else 0 for m in marks]
    flat = [f + 200_000_000 for f in filling]
    assert replay_of(marks, flat, fit_from=144).kib_per_minute == pytest.approx(0.0)
    growing = [f + 1024 * m for f, m in zip(flat, marks, strict=True)]
    replay = replay_of(marks, growing, fit_from=144)
    assert replay.kib_per_minute == pytest.approx(12.0)
    assert replay.blocks_per_minute == pytest.approx(12.0 * 1024)
    assert replay.fitted_minutes == (720 - 144) * 5 / 60


@pytest.mark.parametrize(
    ("fit_from", "unique", "graded"),
    [
        (MIRROR_FILL_TURNS, True, True),
        (MIRROR_FILL_TURNS + 1, True, True),
        (MIRROR_FILL_TURNS - 1, True, False),
        (36 // 5, True, False),  # the quick run's 36 turns
        (MIRROR_FILL_TURNS, False, False),  # recycled ids: for context only
    ],
)
def test_growth_is_graded_only_when_the_fit_starts_on_a_full_mirror(
    fit_from: int, unique: bool, graded: bool
) -> None:
    """The growth target applies to the realistic replay only when its fit starts once the
    conversation mirror is full; otherwise a note says why it is not graded."""
    marks = list(range(fit_from, 721, 12))
    replay = replay_of(marks, [10**6] * len(marks), fit_from=fit_from)
    assert replay.fits_a_full_mirror == (fit_from >= MIRROR_FILL_TURNS)
    metrics: list[Metric] = []
    notes: list[str] = []
    MemoryScenario._report_replay(replay, "label", unique, metrics, notes)
    [growth] = metrics
    assert growth.target == (memory.GROWTH_TARGET if graded else None)
    assert any("not graded" in note for note in notes) == (not replay.fits_a_full_mirror)


# -- concurrency: the search for the largest passing N -------------------------------------------


def level(
    sessions: int, *, passes: bool, contended: bool = False, server_late: bool = False
) -> Level:
    """A level that passes (p99 1 ms) or fails (p99 30 ms), optionally contended (the client
    waited half the time for a CPU) or with the server behind its schedule (p99 10 ms late)."""
    result = FleetResult(
        sessions,
        sessions,
        lags_ns=[1_000_000 if passes else 30_000_000],
        frames=1,
        expected_frames=1,
        cpu_s=0.2,
        wall_s=1.0,
        wait_s=0.5 if contended else 0.0,
        server={"late_p99_us": 10_000.0} if server_late else {},
    )
    return Level(sessions, result)


def test_level_passes_only_complete_with_p99_under_the_limit() -> None:
    """A level passes with every frame delivered and p99 under 20 ms; a missing frame, no
    lag at all, or a p99 of exactly 20 ms fails it."""
    ok = level(100, passes=True).result
    assert Level(100, ok).passed
    assert Level(100, dataclasses.replace(ok, lags_ns=[19_999_000])).passed
    assert not Level(100, dataclasses.replace(ok, lags_ns=[20_000_000])).passed
    assert not Level(100, dataclasses.replace(ok, frames=0)).passed
    assert not Level(100, dataclasses.replace(ok, lags_ns=[])).passed
    assert not Level(100, dataclasses.replace(ok, timed_out=True)).passed


def test_level_flags_contention_and_a_server_that_fell_behind() -> None:
    """Contended: client or server waited over 5% of the stream for a CPU.  Server-limited:
    the server over 5 ms late (p99) or near a full core, while the client had CPU to spare and
    nothing was contended."""
    base = level(100, passes=False).result  # 1 s stream, client at 20% of a core
    assert not Level(100, base).contended and not Level(100, base).server_limited
    assert Level(100, dataclasses.replace(base, wait_s=0.06)).contended
    assert Level(100, dataclasses.replace(base, server_wait_s=0.06)).contended
    assert not Level(100, dataclasses.replace(base, wait_s=0.04)).contended
    late = dataclasses.replace(base, server={"late_p99_us": 5_001.0})
    assert Level(100, late).server_limited
    assert Level(100, dataclasses.replace(base, server_cpu_s=0.95)).server_limited
    assert not Level(100, dataclasses.replace(late, cpu_s=0.95)).server_limited
    assert not Level(100, dataclasses.replace(late, wait_s=0.5)).server_limited


class Levels:
    """A fake ``attempt``: levels pass up to ``passing``; records what was tried."""

    def __init__(self, passing: int, special: dict[int, list[Level]] | None = None) -> None:
        self.passing = passing
        self.special = special or {}
        self.tried: list[int] = []

    def __call__(self, sessions: int) -> Level:
        self.tried.append(sessions)
        queued = self.special.get(sessions)
        if queued:
            return queued.pop(0)
        return level(sessions, passes=sessions <= self.passing)


FULL = Plan.for_config(RunConfig.full())
QUICK = Plan.for_config(RunConfig.smoke())


def search(plan: Plan, attempt: Levels) -> tuple[int | None, int | None]:
    return concurrency._search(plan, attempt, time.perf_counter())


def test_search_doubles_then_bisects_to_the_largest_passing_n() -> None:
    """Passing up to 130 from 100: 200 fails, bisection in steps of 10 gives 130."""
    attempt = Levels(passing=130)
    assert search(dataclasses.replace(FULL, start=100), attempt) == (130, None)
    assert attempt.tried == [100, 200, 150, 120, 130, 140]


def test_search_halves_when_the_start_fails_and_bisects_small_levels_finely() -> None:
    """Passing up to 40 from 100: 100 and 50 fail, 25 passes; below 100 the bisection goes in
    steps of 5 (a contender that carries few sessions is still told apart)."""
    attempt = Levels(passing=40)
    assert search(dataclasses.replace(FULL, start=100), attempt) == (40, None)
    assert attempt.tried == [100, 50, 25, 35, 40, 45]


def test_search_when_every_level_fails_finds_nothing() -> None:
    """All fail: halving down to the minimum (5), no answer."""
    attempt = Levels(passing=0)
    assert search(dataclasses.replace(FULL, start=100), attempt) == (None, None)
    assert attempt.tried == [100, 50, 25, 12, 6]


def test_search_stops_at_the_maximum_when_every_level_passes() -> None:
    """All pass: doubling up to the plan's maximum, which is the answer."""
    attempt = Levels(passing=10**6)
    assert search(dataclasses.replace(FULL, start=100), attempt) == (FULL.maximum, None)
    assert attempt.tried == [100, 200, 400, 800, 1600, 3200]


def test_quick_search_tries_one_level() -> None:
    """The quick plan (a smoke test) tries one level of 20 and answers with it, or nothing."""
    passing, failing = Levels(passing=300), Levels(passing=10)
    assert (search(QUICK, passing), passing.tried) == ((20, None), [20])
    assert (search(QUICK, failing), failing.tried) == ((None, None), [20])


def test_search_runs_a_contended_failure_once_more() -> None:
    """A level that failed while another process held the CPU is run again, and the second
    run counts."""
    attempt = Levels(passing=130, special={100: [level(100, passes=False, contended=True)]})
    assert search(dataclasses.replace(FULL, start=100), attempt) == (130, None)
    assert attempt.tried[:2] == [100, 100]


def test_search_stops_where_the_server_could_not_keep_up() -> None:
    """A failure with the server behind its own schedule (twice) ends the search: the best so
    far is a lower bound, and the level is reported."""
    late = [level(200, passes=False, server_late=True) for _ in range(2)]
    attempt = Levels(passing=10**6, special={200: late})
    assert search(dataclasses.replace(FULL, start=100), attempt) == (100, 200)
    assert attempt.tried == [100, 200, 200]


def test_interleaved_searches_take_turns_and_each_finds_what_it_finds_alone() -> None:
    """Searches run level by level in turn (noise hits them alike) and end as they would
    alone: passing up to 130 and up to 40, from 100."""
    plan = dataclasses.replace(FULL, start=100)
    fast, slow = Levels(passing=130), Levels(passing=40)
    order: list[str] = []

    def attempt(name: str, sessions: int) -> Level:
        order.append(name)
        return {"fast": fast, "slow": slow}[name](sessions)

    steps = {name: concurrency._searching(plan, lambda: 0.0) for name in ("fast", "slow")}
    assert concurrency._interleaved(steps, attempt) == {"fast": (130, None), "slow": (40, None)}
    assert fast.tried == [100, 200, 150, 120, 130, 140]
    assert slow.tried == [100, 50, 25, 35, 40, 45]
    assert order == ["fast", "slow"] * 6


class FakeServerProcess:
    def __init__(self, cpu: int | None = None) -> None:
        self.cpu = cpu

    def __enter__(self) -> Served:
        return Served(FAKE_SERVER, dataclasses.replace(FAKE_SERVER, url="wss://127.0.0.1:9/x"))

    def __exit__(self, *exc: object) -> None:
        return None


def fake_worker(
    passing: dict[tuple[str, str], int],
) -> Callable[[str], AbstractContextManager[Any]]:
    """A ``Worker`` whose fleet jobs pass up to ``passing[client, transport]`` sessions."""

    class FakeWorker:
        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> FakeWorker:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def call(self, job: str, address: Any, client: str, fleet: Any, cpu: Any) -> Any:
            assert job == concurrency.JOB
            sessions = fleet["sessions"]
            limit = passing[client, ServerAddress(**address).transport]
            return dataclasses.asdict(level(sessions, passes=sessions <= limit).result)

    return FakeWorker


def side_by_side(
    monkeypatch: pytest.MonkeyPatch, passing: dict[tuple[str, str], int]
) -> tuple[dict[tuple[str, str], Metric], list[str]]:
    """The concurrency scenario's metrics by (case, name), and its notes, its levels passing
    up to ``passing[client, transport]`` sessions."""
    monkeypatch.setattr(concurrency, "ServerProcess", FakeServerProcess)
    monkeypatch.setattr(concurrency, "Worker", fake_worker(passing))
    outcome = ConcurrencyScenario().run(RunConfig.full())
    return {(m.case, m.name): m for m in outcome.metrics}, list(outcome.notes)


def per_core(client: str) -> str:
    return f"{client} {concurrency.PER_CORE}"


@pytest.fixture
def with_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scenario sees ``openai`` as installed (its workers are fakes anyway)."""
    monkeypatch.setattr(concurrency, "openai_realtime", lambda: None)


@pytest.mark.usefixtures("with_openai")
def test_concurrency_grades_trealtime_against_openai_and_its_floor_per_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each contender's sessions per core is its largest passing level, per transport; the
    ratios are graded: >= 5x openai and >= 0.8x the floor."""
    passing = {
        (OPENAI, "TLS"): 20, (TREALTIME, "TLS"): 90, (WEBSOCKET, "TLS"): 130,
        (OPENAI, "plain"): 25, (TREALTIME, "plain"): 130, (WEBSOCKET, "plain"): 150,
    }  # fmt: skip
    metrics, notes = side_by_side(monkeypatch, passing)
    assert metrics["TLS", per_core(OPENAI)].value == 20
    assert metrics["TLS", per_core(TREALTIME)].value == 90
    assert metrics["TLS", per_core(WEBSOCKET)].value == 130
    assert metrics["plain", per_core(TREALTIME)].value == 130
    tls_openai = metrics["TLS", "trealtime / openai sessions per core"]
    assert (tls_openai.value, tls_openai.status) == (4.5, "FAIL")
    tls_floor = metrics["TLS", "trealtime / websocket sessions per core"]
    assert (round(tls_floor.value or 0, 3), tls_floor.status) == (0.692, "FAIL")
    plain_openai = metrics["plain", "trealtime / openai sessions per core"]
    assert (plain_openai.value, plain_openai.status) == (5.2, "PASS")
    plain_floor = metrics["plain", "trealtime / websocket sessions per core"]
    assert (round(plain_floor.value or 0, 3), plain_floor.status) == (0.867, "PASS")
    assert metrics["plain", per_core(TREALTIME)].status == "FAIL"  # < 200
    assert not any("no level passed" in note for note in notes)


@pytest.mark.usefixtures("with_openai")
def test_concurrency_reports_zero_and_no_ratio_when_a_contender_passes_no_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A contender that fails every level carries 0 sessions, with a note naming the smallest
    level tried; a ratio over it is not measured (SKIP), never a division by zero."""
    passing = {(client, t): 100 for client in (OPENAI, TREALTIME, WEBSOCKET) for t in TRANSPORTS}
    passing[OPENAI, "TLS"] = 0
    metrics, notes = side_by_side(monkeypatch, passing)
    assert metrics["TLS", per_core(OPENAI)].value == 0.0
    versus = metrics["TLS", "trealtime / openai sessions per core"]
    assert (versus.value, versus.status) == (None, "SKIP")
    assert "openai (TLS): no level passed, the most is below N=6" in notes


def test_concurrency_without_openai_skips_its_rows_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the bench extra the openai rows are SKIPped, saying how to install it; the
    others are still measured."""

    def unavailable() -> None:
        raise ContenderUnavailable("openai is missing; install the bench extra")

    monkeypatch.setattr(concurrency, "openai_realtime", unavailable)
    passing = {(client, t): 100 for client in (TREALTIME, WEBSOCKET) for t in TRANSPORTS}
    metrics, notes = side_by_side(monkeypatch, passing)
    versus = metrics["TLS", "trealtime / openai sessions per core"]
    assert versus.status == "SKIP" and "install the bench extra" in (versus.missing or "")
    assert metrics["TLS", per_core(TREALTIME)].value == 100
    assert any(note.startswith("openai not measured") for note in notes)
