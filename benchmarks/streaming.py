"""A fleet of paced real-time sessions in one client process (latency, concurrency, memory).

Each session asks the server for ``count`` stamped 20 ms audio deltas at ``rate`` per second
(``bench=paced``) and, when ``appends`` is set, sends a 20 ms ``input_audio_buffer.append`` at
the same rate (real-time audio both ways).  All sessions are opened first; then they start
together, each offset by a fraction of the period so that their frames interleave as
independent calls would.  For every stamped frame the *delivery lag* is recorded: the time from
the server's write (the stamp) to the moment the event is in the caller's hands.

Clients: ``trealtime`` (``async for event in session``; ``session.append_audio(pcm)``),
``floor`` (bare trio-websocket: ``get_message()`` and ``send_message(pre-encoded append)``) and
``websocket`` (the same on trealtime's own WebSocket layer,
:class:`benchmarks.loopback.TransportFloor`) and ``handoff`` (that layer read by a task of its
own that hands messages to the caller, :class:`benchmarks.loopback.HandoffFloor`), and ``openai``
(the SDK's ``AsyncRealtimeConnection`` under asyncio: ``async for event in connection``;
``connection.input_audio_buffer.append(audio=...)``, :func:`run_openai_fleet`), with the same
server, stream, pacing and lag rule.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from benchmarks import fixtures
from benchmarks.contenders import FLOOR, HANDOFF, OPENAI, TREALTIME, WEBSOCKET
from benchmarks.loopback import (
    END_ID,
    ServerAddress,
    bare_opener,
    fetch_stats,
    floor_event_id,
    openai_connection,
    pinned,
    server_stats,
    stamp_lag_ns,
    trealtime_session,
    trealtime_trigger,
)
from benchmarks.server_process import runqueue_wait_s

#: The Trio clients (``openai`` runs under asyncio: :func:`run_openai_fleet`).
CLIENTS = (TREALTIME, FLOOR, WEBSOCKET, HANDOFF)
#: Stamped frames per session not counted (the first ones see the start-up burst).
WARM_UP_FRAMES = 5
OPEN_CONCURRENCY = 16
CHUNK_MS = 20


@dataclass
class FleetResult:
    """What one fleet run measured (the streaming phase only; opening and closing excluded)."""

    sessions: int
    opened: int
    lags_ns: list[int] = field(default_factory=list)
    frames: int = 0
    expected_frames: int = 0
    append_late_ns: list[int] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    timed_out: bool = False
    errors: list[str] = field(default_factory=list)
    server: dict[str, Any] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    #: Seconds the client / the server waited for a CPU during the stream (contention).
    wait_s: float = 0.0
    server_wait_s: float = 0.0
    #: What ``Fleet.sampler`` returned, every ``Fleet.sample_every`` seconds of the stream.
    samples: list[float] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every session opened and received every frame in time."""
        return (
            not self.timed_out
            and self.opened == self.sessions
            and self.frames >= self.expected_frames
        )

    def _share(self, seconds: float) -> float:
        """``seconds`` over the stream's wall time (0 before it ran)."""
        return seconds / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_share(self) -> float:
        """Client CPU time over wall time during the stream (1.0: one core fully busy)."""
        return self._share(self.cpu_s)

    @property
    def wait_share(self) -> float:
        """Share of the stream's wall time the client spent waiting for a CPU."""
        return self._share(self.wait_s)

    @property
    def server_wait_share(self) -> float:
        return self._share(self.server_wait_s)

    @property
    def server_cpu_share(self) -> float:
        return self._share(self.server_cpu_s)

    @property
    def server_late_p99_us(self) -> float:
        return float(self.server.get("late_p99_us", 0.0))

    def take_server_stats(self, tag: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        """The server's side of the window, from its stats before and after it."""
        self.server = after["runs"].get(tag, {})
        self.server_cpu_s = after["cpu"] - before["cpu"]
        self.server_wait_s = after.get("wait", 0.0) - before.get("wait", 0.0)

    def frame_counter(self) -> _FrameCounter:
        """A counter for one session's stamped frames, adding into this result."""
        return _FrameCounter(self)

    def lag_percentile_us(self, q: float) -> float | None:
        if not self.lags_ns:
            return None
        ordered = sorted(self.lags_ns)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index] / 1000


@dataclass
class _FrameCounter:
    """One session's stamped frames, counted into the fleet's result (the warm-up untimed)."""

    result: FleetResult
    seen: int = 0

    def take(self, event_id: object, now_ns: int) -> bool:
        """Count the frame ``event_id`` received at ``now_ns``; False for the end frame."""
        if event_id == END_ID:
            return False
        lag = stamp_lag_ns(event_id, now_ns)
        if lag is not None:
            self.seen += 1
            self.result.frames += 1
            if self.seen > WARM_UP_FRAMES:
                self.result.lags_ns.append(lag)
        return True


@dataclass(frozen=True)
class Fleet:
    """How to run a fleet: size, pacing and length."""

    sessions: int
    rate: float = 50.0
    count: int = 100
    appends: bool = True
    tag: str = ""
    #: Extra seconds allowed beyond the nominal stream length before giving up.
    grace: float = 10.0
    #: Called every ``sample_every`` seconds during the stream (e.g. to sample memory).
    sampler: Callable[[], float] | None = None
    sample_every: float = 0.1
    #: Called with True when the measured window (the stream) starts, False when it ends
    #: (e.g. to profile the stream alone).
    window: Callable[[bool], None] | None = None

    @property
    def nominal_seconds(self) -> float:
        return self.count / self.rate

    @property
    def query(self) -> dict[str, Any]:
        """The server's query for this fleet's paced stream."""
        return {"bench": "paced", "rate": self.rate, "count": self.count, "run": self.tag}


class _Clocks:
    """This process's CPU, wall and run-queue-wait clocks from the start of a measured window."""

    def __init__(self) -> None:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        self._wait = runqueue_wait_s()

    def stop(self, result: FleetResult) -> None:
        """End the window: what each clock counted goes into ``result``."""
        result.cpu_s = time.process_time() - self._cpu
        result.wall_s = time.perf_counter() - self._wall
        result.wait_s = runqueue_wait_s() - self._wait


class _Countdown:
    """An event set once ``count_down`` has been called ``count`` times (a ``trio.Event``, or
    an ``asyncio.Event`` when ``event`` says so)."""

    def __init__(self, count: int, event: Callable[[], Any] = trio.Event) -> None:
        self._left = count
        self.zero = event()

    def count_down(self) -> None:
        self._left -= 1
        if self._left == 0:
            self.zero.set()


async def run_fleet(server: ServerAddress, client: str, fleet: Fleet) -> FleetResult:
    """Open ``fleet.sessions`` sessions of ``client``, stream, and measure."""
    result = FleetResult(fleet.sessions, 0, expected_frames=fleet.sessions * fleet.count)
    opener = trealtime_session if client == TREALTIME else bare_opener(client)
    drive = _drive_trealtime if client == TREALTIME else _drive_floor
    limiter = trio.CapacityLimiter(OPEN_CONCURRENCY)
    settled, streamed = _Countdown(fleet.sessions), _Countdown(fleet.sessions)
    go, release = trio.Event(), trio.Event()
    period = 1.0 / fleet.rate
    pcm = fixtures.pcm_bytes(CHUNK_MS, seed=7)

    async def open_connection(stack: contextlib.AsyncExitStack) -> Any:
        """One session's connection, or None (the error recorded) if it did not open."""
        try:
            async with limiter:
                return await stack.enter_async_context(opener(server, fleet.query))
        except Exception as exc:
            result.errors.append(f"open: {exc!r}")
            return None
        finally:
            settled.count_down()

    async def one(index: int) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    connection = await open_connection(stack)
                    if connection is None:
                        return
                    result.opened += 1
                    await go.wait()
                    await trio.sleep(period * index / fleet.sessions)
                    await drive(connection, fleet, pcm, result)
                finally:
                    streamed.count_down()
                await release.wait()  # closing is not part of the measurement
        except Exception as exc:
            result.errors.append(f"stream: {exc!r}")

    async with trio.open_nursery() as nursery:
        for index in range(fleet.sessions):
            nursery.start_soon(one, index)
        await settled.zero.wait()
        # Both processes are measured over the same window: the stream, without opening
        # or closing.
        before = await fetch_stats(server)
        clocks = _Clocks()
        if fleet.window is not None:
            fleet.window(True)
        go.set()
        with trio.move_on_after(fleet.nominal_seconds + fleet.grace) as scope:
            if fleet.sampler is None:
                await streamed.zero.wait()
            else:
                while not streamed.zero.is_set():
                    result.samples.append(fleet.sampler())
                    with trio.move_on_after(fleet.sample_every):
                        await streamed.zero.wait()
        result.timed_out = scope.cancelled_caught
        if fleet.window is not None:
            fleet.window(False)
        clocks.stop(result)
        after = await fetch_stats(server)
        if result.timed_out:
            nursery.cancel_scope.cancel()
        release.set()
    result.take_server_stats(fleet.tag, before, after)
    return result


# -- per-client driving -----------------------------------------------------------------------


async def _append_loop(send: Callable[[], Awaitable[None]], period: float, late: list[int]) -> None:
    clock = trio.current_time
    start = clock()
    k = 0
    while True:
        k += 1
        deadline = start + k * period
        await trio.sleep_until(deadline)
        late.append(int((clock() - deadline) * 1e9))
        await send()


@contextlib.asynccontextmanager
async def _appending(
    enabled: bool, send: Callable[[], Awaitable[None]], period: float, late: list[int]
) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        if enabled:
            nursery.start_soon(_append_loop, send, period, late)
        yield
        nursery.cancel_scope.cancel()


async def _drive_trealtime(session: Any, fleet: Fleet, pcm: bytes, result: FleetResult) -> None:
    clock, frames = time.monotonic_ns, result.frame_counter()

    async def append() -> None:
        await session.append_audio(pcm)

    await trealtime_trigger(session)
    async with _appending(fleet.appends, append, 1.0 / fleet.rate, result.append_late_ns):
        async for event in session:
            if not frames.take(event.event_id, clock()):
                break


async def _drive_floor(ws: Any, fleet: Fleet, pcm: bytes, result: FleetResult) -> None:
    clock, frames = time.monotonic_ns, result.frame_counter()
    append_text = fixtures.append_json(pcm)

    async def append() -> None:
        await ws.send_message(append_text)

    await ws.send_message(fixtures.TRIGGER_JSON)
    async with _appending(fleet.appends, append, 1.0 / fleet.rate, result.append_late_ns):
        while True:
            message = await ws.get_message()
            now = clock()
            if not frames.take(floor_event_id(message), now):
                break


async def _asyncio_append_loop(
    send: Callable[[], Awaitable[None]], period: float, late: list[int]
) -> None:
    """:func:`_append_loop` under asyncio."""
    clock = asyncio.get_running_loop().time
    start = clock()
    k = 0
    while True:
        k += 1
        deadline = start + k * period
        await asyncio.sleep(max(0.0, deadline - clock()))
        late.append(int((clock() - deadline) * 1e9))
        await send()


async def _drive_openai(connection: Any, fleet: Fleet, audio: str, result: FleetResult) -> None:
    clock, frames = time.monotonic_ns, result.frame_counter()

    async def append() -> None:
        await connection.input_audio_buffer.append(audio=audio)

    await connection.input_audio_buffer.clear()
    appender = None
    if fleet.appends:
        loop = _asyncio_append_loop(append, 1.0 / fleet.rate, result.append_late_ns)
        appender = asyncio.create_task(loop)
    try:
        async for event in connection:
            if not frames.take(getattr(event, "event_id", None), clock()):
                break
    finally:
        if appender is not None:
            appender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await appender


async def run_openai_fleet(server: ServerAddress, fleet: Fleet) -> FleetResult:
    """:func:`run_fleet` for ``openai``'s ``AsyncRealtimeConnection`` (asyncio): the same
    opening, start, stream, lag rule and measurement window."""
    result = FleetResult(fleet.sessions, 0, expected_frames=fleet.sessions * fleet.count)
    limiter = asyncio.Semaphore(OPEN_CONCURRENCY)
    settled = _Countdown(fleet.sessions, asyncio.Event)
    streamed = _Countdown(fleet.sessions, asyncio.Event)
    go, release = asyncio.Event(), asyncio.Event()
    period = 1.0 / fleet.rate
    audio = base64.b64encode(fixtures.pcm_bytes(CHUNK_MS, seed=7)).decode("ascii")

    async def one(index: int) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    try:
                        async with limiter:
                            opening = openai_connection(server, fleet.query)
                            connection = await stack.enter_async_context(opening)
                    except Exception as exc:
                        result.errors.append(f"open: {exc!r}")
                        return
                    finally:
                        settled.count_down()
                    result.opened += 1
                    await go.wait()
                    await asyncio.sleep(period * index / fleet.sessions)
                    await _drive_openai(connection, fleet, audio, result)
                finally:
                    streamed.count_down()
                await release.wait()
        except Exception as exc:
            result.errors.append(f"stream: {exc!r}")

    tasks = [asyncio.create_task(one(index)) for index in range(fleet.sessions)]
    await settled.zero.wait()
    # The stats come over a Trio client in a thread: this loop is never blocked by it.
    before = await asyncio.to_thread(server_stats, server)
    clocks = _Clocks()
    go.set()
    try:
        async with asyncio.timeout(fleet.nominal_seconds + fleet.grace):
            await streamed.zero.wait()
    except TimeoutError:
        result.timed_out = True
    clocks.stop(result)
    after = await asyncio.to_thread(server_stats, server)
    if result.timed_out:
        for task in tasks:
            task.cancel()
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    result.take_server_stats(fleet.tag, before, after)
    return result


async def openai_single(server: ServerAddress, fleet: Fleet) -> FleetResult:
    """One ``openai`` connection receiving a paced stream (asyncio; no appends)."""
    result = FleetResult(1, 0, expected_frames=fleet.count)
    clock, frames = time.monotonic_ns, result.frame_counter()
    async with openai_connection(server, fleet.query) as connection:
        result.opened = 1
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await connection.input_audio_buffer.clear()
        try:
            async with asyncio.timeout(fleet.nominal_seconds + fleet.grace):
                async for event in connection:
                    if not frames.take(getattr(event, "event_id", None), clock()):
                        break
        except TimeoutError:
            result.timed_out = True
        result.cpu_s = time.process_time() - cpu0
        result.wall_s = time.perf_counter() - wall0
    return result


# -- jobs for benchmarks.worker (JSON in, JSON out) ----------------------------------------------


def fleet_job(
    server: dict[str, Any], client: str, fleet: dict[str, Any], cpu: int | None = None
) -> dict[str, Any]:
    """:func:`run_fleet` (:func:`run_openai_fleet` for ``openai``) in a worker process, pinned
    to ``cpu`` if given."""
    address = ServerAddress(**server)
    with pinned(cpu):
        gc.collect()
        if client == OPENAI:
            result = asyncio.run(run_openai_fleet(address, Fleet(**fleet)))
        else:
            result = trio.run(run_fleet, address, client, Fleet(**fleet))
    return dataclasses.asdict(result)


def openai_job(server: dict[str, Any], fleet: dict[str, Any]) -> dict[str, Any]:
    """:func:`openai_single` in a worker process."""
    gc.collect()
    result = asyncio.run(openai_single(ServerAddress(**server), Fleet(**fleet)))
    return dataclasses.asdict(result)


def fleet_dict(fleet: Fleet) -> dict[str, Any]:
    """``fleet`` as job arguments (without the sampler and window, which stay in-process)."""
    data = dataclasses.asdict(fleet)
    data.pop("sampler")
    data.pop("window")
    return data


def fleet_result(data: dict[str, Any]) -> FleetResult:
    return FleetResult(**data)
