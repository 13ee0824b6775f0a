"""memory: the Python heap per idle and per streaming session, and growth over a long replay.

Measured with :mod:`tracemalloc` (Python allocations only; RSS, which also counts the
allocator's slack, is given for context) in the client process, against the server process:

- ``idle``: open ``K`` sessions that do nothing after ``session.updated``; (heap with them
  open minus heap before) / ``K``.  The bare trio-websocket ``floor`` connection is measured
  the same way.
- ``streaming``: ``K`` sessions streaming real-time audio both ways (50 deltas/s down, 50
  appends/s up); the median heap sampled every 100 ms during the stream, minus the heap
  before, over ``K``.
- ``replay``: one session receives a simulated hour of conversation as fast as it can read it:
  720 voice turns of 5 s of audio (106 frames each: audio and transcript deltas, items,
  ``response.done``), every turn with new item and response ids, traced from before the
  session opens.  The heap is sampled (after ``gc.collect()``) every minute; the least-squares
  slope once the conversation mirror has filled is the growth, in KiB per simulated minute.
  The same replay with the ids of four turns recycled shows what is left when the
  conversation mirror cannot grow.

Every case runs over TLS (``wss://``, as users run: tracemalloc sees the Python side of the TLS
layer; OpenSSL's own buffers show in RSS only) and over plain ``ws://``; the replay with
recycled ids runs over plain ``ws://`` only (TLS holds no conversation state).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from array import array
from collections.abc import Callable, MutableSequence, Sequence
from contextlib import AsyncExitStack
from typing import Any

import trio

from benchmarks import progress
from benchmarks.config import RunConfig
from benchmarks.contenders import FLOOR, PLAIN, TLS, TREALTIME
from benchmarks.loopback import (
    END_ID,
    ROOT,
    TRANSPORTS,
    ServerAddress,
    ServerFailed,
    ServerProcess,
    address_dict,
    floor_connection,
    trealtime_session,
    trealtime_trigger,
)
from benchmarks.results import Metric, ScenarioResult, Target
from benchmarks.streaming import OPEN_CONCURRENCY, Fleet, fleet_dict, run_fleet
from benchmarks.worker import Worker

KIB = 1024
SECONDS_PER_TURN = 5
#: An idle session may hold at most this much Python heap.
IDLE_TARGET = Target("<", 256, "KiB")
#: Over a simulated hour the heap must stay flat (least-squares slope).
GROWTH_TARGET = Target("<", 1, "KiB/min")


def _traced() -> int:
    return tracemalloc.get_traced_memory()[0]


def _rss() -> int:
    """Resident set size in bytes (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _heap_now() -> tuple[int, int]:
    gc.collect()
    return _traced(), _rss()


async def _idle(server: ServerAddress, client: str, count: int) -> tuple[float, float]:
    """Heap and RSS bytes per open idle connection (each held open by a task of its own)."""
    opener = trealtime_session if client == TREALTIME else floor_connection
    query = {"bench": "idle"}
    limiter = trio.CapacityLimiter(OPEN_CONCURRENCY)
    all_open, release = trio.Event(), trio.Event()
    opened = 0

    async def hold() -> None:
        nonlocal opened
        async with AsyncExitStack() as stack:
            async with limiter:
                await stack.enter_async_context(opener(server, query))
            opened += 1
            if opened == count:
                all_open.set()
            await release.wait()

    heap0, rss0 = _heap_now()
    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(hold)
        await all_open.wait()
        await trio.sleep(0.2)
        heap1, rss1 = _heap_now()
        release.set()
    return (heap1 - heap0) / count, (rss1 - rss0) / count


def _slope(xs: list[int], ys: list[int]) -> float:
    """Least-squares slope of ``ys`` over ``xs`` (0 with fewer than two points)."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


@dataclasses.dataclass
class Replay:
    """Samples of one replay, traced from start to end, after ``gc.collect()``."""

    turns: int
    #: The first sample that counts: the conversation mirror has filled by then.
    fit_from: int
    #: Turn of each sample, traced heap bytes, and ``sys.getallocatedblocks()``.
    marks: MutableSequence[int]
    heap: MutableSequence[int]
    blocks: MutableSequence[int]
    events: int
    seconds: float
    top: list[str]

    def _fitted(self, values: Sequence[int]) -> tuple[list[int], list[int]]:
        pairs = [(m, v) for m, v in zip(self.marks, values, strict=True) if m >= self.fit_from]
        return [m for m, _ in pairs], [v for _, v in pairs]

    @property
    def kib_per_minute(self) -> float:
        """Traced heap growth per simulated minute (least squares after the warm-up)."""
        return _slope(*self._fitted(self.heap)) * (60 / SECONDS_PER_TURN) / KIB

    @property
    def blocks_per_minute(self) -> float:
        """Allocated-block growth per simulated minute (least squares after the warm-up)."""
        return _slope(*self._fitted(self.blocks)) * (60 / SECONDS_PER_TURN)

    @property
    def window_maxima_kib(self) -> tuple[float, float]:
        """The largest heap in the first and in the last fifth of the fitted samples: a
        bounded container's sawtooth moves the slope of a short window, not these."""
        _, heap = self._fitted(self.heap)
        if not heap:
            return 0.0, 0.0
        width = max(1, len(heap) // 5)
        return max(heap[:width]) / KIB, max(heap[-width:]) / KIB

    @property
    def fits_a_full_mirror(self) -> bool:
        """Whether the fit starts once the conversation mirror has filled (a shorter replay,
        as in ``--quick``, measures the filling, so its slope is not graded)."""
        return self.fit_from >= MIRROR_FILL_TURNS

    @property
    def fitted_minutes(self) -> float:
        marks, _ = self._fitted(self.heap)
        return (marks[-1] - marks[0]) * SECONDS_PER_TURN / 60 if marks else 0.0


#: Turns for trealtime's conversation mirror (``max_conversation_items=256``, two items a
#: turn) to fill; samples before it measure the filling, not growth.
MIRROR_FILL_TURNS = 256 // 2 + 16


async def _replay(server: ServerAddress, turns: int, unique: bool) -> Replay:
    """Replay ``turns`` voice turns into one session, traced from before it opens.

    Tracing from the start means every release is seen too (a trace started late counts a
    container's new table but not the old one it replaces). The samples skip the mirror's
    filling and the last turns (the end of the stream drains the event channel); the two
    snapshots for the top growing sites are kept on disk, not as objects in the heap.
    """
    from trealtime.events import ResponseDone

    query: dict[str, str | int | float] = {"bench": "blast", "turns": turns, "unique": int(unique)}
    every = max(1, turns // 60)
    last_mark = (turns - every) // every * every
    fit_from = min(MIRROR_FILL_TURNS, turns // 5)
    # Samples go into arrays: a list would add objects of its own to the heap it measures.
    replay = Replay(turns, fit_from, array("q"), array("q"), array("q"), 0, 0.0, [])
    first_path: str | None = None
    done = 0
    started = time.perf_counter()
    tracemalloc.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            async with trealtime_session(server, query) as session:
                await trealtime_trigger(session)
                async for event in session:
                    replay.events += 1
                    if event.event_id == END_ID:
                        break
                    if not isinstance(event, ResponseDone):
                        continue
                    done += 1
                    if done % every or done > last_mark:
                        continue
                    progress.step("replay", done, turns)
                    gc.collect()
                    replay.marks.append(done)
                    replay.heap.append(_traced())
                    replay.blocks.append(sys.getallocatedblocks())
                    if first_path is None and done >= fit_from:
                        first_path = os.path.join(scratch, "first")
                        tracemalloc.take_snapshot().dump(first_path)
                    elif done == last_mark and first_path is not None:
                        last = tracemalloc.take_snapshot()
                        first = tracemalloc.Snapshot.load(first_path)
                        replay.top = _top_growth(last.compare_to(first, "lineno")[:4])
    finally:
        tracemalloc.stop()
    replay.seconds = time.perf_counter() - started
    return replay


def _top_growth(stats: list[tracemalloc.StatisticDiff]) -> list[str]:
    top = []
    for stat in stats:
        frame = stat.traceback[0]
        where = frame.filename.split("site-packages" + os.sep)[-1]
        where = where.removeprefix(str(ROOT)).lstrip(os.sep)
        top.append(
            f"{where}:{frame.lineno} {stat.size_diff / KIB:+,.0f} KiB ({stat.count_diff:+,} blocks)"
        )
    return top


class MemoryScenario:
    name = "memory"
    description = "Python heap per idle / streaming session, and growth over a simulated hour"

    def run(self, config: RunConfig) -> ScenarioResult:
        idle_count = 10 if config.quick else 200
        stream_fleet = Fleet(10 if config.quick else 50, count=25 if config.quick else 150)
        replay_turns = 36 if config.quick else 720
        # The realistic replay (new items every turn) over TLS; the quick run replays only it.
        replays: tuple[tuple[str, bool], ...] = ((TLS, True),)
        if not config.quick:
            replays += ((PLAIN, True), (PLAIN, False))
        notes: list[str] = []
        metrics: list[Metric] = []
        try:
            with (
                ServerProcess() as served,
                Worker(TREALTIME) as worker,
                Worker(FLOOR) as floor_worker,
            ):
                workers = {TREALTIME: worker, FLOOR: floor_worker}
                for transport in TRANSPORTS:
                    address = address_dict(served.over(transport))
                    self._idle(workers, address, transport, idle_count, metrics, notes)
                    progress.step(f"streaming: {stream_fleet.sessions} sessions ({transport})")
                    per_session = worker.call(
                        _JOBS + "streaming_job", address, fleet_dict(stream_fleet)
                    )
                    metrics.append(
                        Metric(
                            f"streaming, {transport}",
                            "heap per streaming session",
                            per_session / KIB,
                            "KiB",
                        )
                    )
                notes.append(
                    f"streaming: {stream_fleet.sessions} sessions, {stream_fleet.count} frames "
                    f"each at {stream_fleet.rate:g}/s with as many appends; median heap "
                    "while streaming (after the first fifth), per session"
                )
                for transport, unique in replays:
                    label = "new items every turn" if unique else "items recycled"
                    label += f", {transport}"
                    progress.step(f"replay ({label})")
                    address = address_dict(served.over(transport))
                    data = worker.call(_JOBS + "replay_job", address, replay_turns, unique)
                    replay = Replay(**data)
                    self._report_replay(replay, label, unique, metrics, notes)
        except ServerFailed as exc:
            return ScenarioResult(self.name, self.description, (), (), (str(exc),))
        notes.append(
            "heap = tracemalloc (Python allocations, measured under tracing); blocks = "
            "sys.getallocatedblocks() after gc.collect()"
        )
        return ScenarioResult(self.name, self.description, (), (), tuple(notes), tuple(metrics))

    @staticmethod
    def _idle(
        workers: dict[str, Worker],
        address: dict[str, Any],
        transport: str,
        count: int,
        metrics: list[Metric],
        notes: list[str],
    ) -> None:
        for client, worker in workers.items():
            progress.step(f"idle: {count} {client} connections ({transport})")
            worker.call(_JOBS + "idle_job", address, client, 5)  # warm-up: imports, caches
            heap, rss = worker.call(_JOBS + "idle_job", address, client, count)
            name = "session" if client == TREALTIME else "floor connection"
            target = IDLE_TARGET if client == TREALTIME else None
            metrics.append(
                Metric(
                    f"idle, {transport}", f"heap per idle {name}", heap / KIB, "KiB", target=target
                )
            )
            notes.append(
                f"idle {client} ({transport}): {heap / KIB:,.1f} KiB heap, "
                f"{rss / KIB:,.1f} KiB RSS per connection ({count} open)"
            )

    @staticmethod
    def _report_replay(
        replay: Replay, label: str, unique: bool, metrics: list[Metric], notes: list[str]
    ) -> None:
        minutes = replay.turns * SECONDS_PER_TURN / 60
        metrics.append(
            Metric(
                f"replay, {label}",
                "heap growth",
                replay.kib_per_minute,
                "KiB/min",
                target=GROWTH_TARGET if unique and replay.fits_a_full_mirror else None,
            )
        )
        if not replay.fits_a_full_mirror:
            notes.append(
                f"replay ({label}): growth not graded, the {replay.turns} turns end before the "
                f"conversation mirror fills (turn {MIRROR_FILL_TURNS})"
            )
        first_max, last_max = replay.window_maxima_kib
        notes.append(
            f"replay ({label}): {replay.events:,} events = {minutes:g} simulated minutes in "
            f"{replay.seconds:.1f} s (traced throughout); over the last "
            f"{replay.fitted_minutes:.0f} minutes the heap grows "
            f"{replay.kib_per_minute:+.2f} KiB/min (least squares), its maximum goes "
            f"{first_max:,.0f} → {last_max:,.0f} KiB (first → last fifth), allocated blocks "
            f"{replay.blocks_per_minute:+,.1f} per minute"
        )
        if replay.top:
            notes.append(f"replay ({label}) top growth: " + "; ".join(replay.top))


async def _streaming(server: ServerAddress, fleet: Fleet) -> float:
    """Median heap per session while ``fleet`` streams."""
    base, _ = _heap_now()
    sampler: Callable[[], float] = lambda: float(_traced())  # noqa: E731
    fleet = dataclasses.replace(fleet, tag=f"memory-{time.monotonic_ns()}", sampler=sampler)
    result = await run_fleet(server, TREALTIME, fleet)
    samples = result.samples[len(result.samples) // 5 :] or result.samples
    if not samples:
        return 0.0
    return float(statistics.median(samples) - base) / fleet.sessions


# -- jobs for benchmarks.worker -------------------------------------------------------------------

_JOBS = "benchmarks.scenarios.memory:"


def idle_job(server: dict[str, Any], client: str, count: int) -> tuple[float, float]:
    """Heap and RSS bytes per idle connection, measured under tracemalloc."""
    tracemalloc.start()
    try:
        return trio.run(_idle, ServerAddress(**server), client, count)
    finally:
        tracemalloc.stop()


def streaming_job(server: dict[str, Any], fleet: dict[str, Any]) -> float:
    """Median heap bytes per streaming session, measured under tracemalloc."""
    tracemalloc.start()
    try:
        return trio.run(_streaming, ServerAddress(**server), Fleet(**fleet))
    finally:
        tracemalloc.stop()


def replay_job(server: dict[str, Any], turns: int, unique: bool) -> dict[str, Any]:
    """A :class:`Replay`, as plain data."""
    replay = trio.run(_replay, ServerAddress(**server), turns, unique)
    data = dataclasses.asdict(replay)
    for name in ("marks", "heap", "blocks"):
        data[name] = list(data[name])
    return data
