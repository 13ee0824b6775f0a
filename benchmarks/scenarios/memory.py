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
  ``response.done``), every turn with new item and response ids.  The heap is sampled (after
  ``gc.collect()``) every few turns; the least-squares slope after the first 10 % is the growth,
  in KiB per simulated minute.  The same replay with the ids of four turns recycled shows what
  is left when the conversation mirror cannot grow.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import trio

from benchmarks import progress
from benchmarks.config import RunConfig
from benchmarks.loopback import (
    END_ID,
    ROOT,
    ServerAddress,
    ServerFailed,
    ServerProcess,
    floor_connection,
    trealtime_session,
    trealtime_trigger,
)
from benchmarks.results import Metric, ScenarioResult, Target
from benchmarks.streaming import FLOOR, OPEN_CONCURRENCY, TREALTIME, Fleet, fleet_dict, run_fleet
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
    """Samples of one replay: allocated blocks over all of it, the traced heap over its end."""

    turns: int
    #: (turn, ``sys.getallocatedblocks()``) after ``gc.collect()``, untraced, whole replay.
    block_marks: list[int]
    blocks: list[int]
    #: (turn, traced heap bytes) after ``gc.collect()``, over the traced last fifth.
    heap_marks: list[int]
    heap: list[int]
    events: int
    seconds: float
    top: list[str]

    @property
    def kib_per_minute(self) -> float:
        """Traced heap growth per simulated minute (least squares over the traced window)."""
        return _slope(self.heap_marks, self.heap) * (60 / SECONDS_PER_TURN) / KIB

    @property
    def blocks_per_minute(self) -> float:
        """Allocated-block growth per simulated minute, after the first 10 % (warm-up)."""
        skip = max(1, len(self.block_marks) // 10)
        slope = _slope(self.block_marks[skip:], self.blocks[skip:])
        return slope * (60 / SECONDS_PER_TURN)

    @property
    def traced_minutes(self) -> float:
        if not self.heap_marks:
            return 0.0
        return (self.heap_marks[-1] - self.heap_marks[0]) * SECONDS_PER_TURN / 60


MIRROR_TURNOVER_TURNS = 256 // 2 + 2
"""Turns for trealtime's conversation mirror (``max_conversation_items=256``) to turn over."""


async def _replay(server: ServerAddress, turns: int, unique: bool) -> Replay:
    """Replay ``turns`` voice turns into one session.

    tracemalloc slows the client about tenfold, so it runs only over the last fifth of the
    replay (its heap slope and its top growing allocation sites); the whole replay is watched
    through ``sys.getallocatedblocks()``, which costs nothing.
    """
    from trealtime.events import ResponseDone

    query: dict[str, str | int | float] = {"bench": "blast", "turns": turns, "unique": int(unique)}
    traced_from = turns - max(6, turns // 5)
    # Tracing sees only what is allocated after it starts, and not the release of what was
    # allocated before: while the session's bounded conversation mirror (256 items, two per
    # turn) turns over, every new item would count as growth. Start tracing one full turnover
    # before the first sample, so that what is measured is what really accumulates.
    tracing_from = max(1, traced_from - MIRROR_TURNOVER_TURNS)
    every = max(1, turns // 40)
    every_traced = max(1, (turns - traced_from) // 10)
    replay = Replay(turns, [], [], [], [], 0, 0.0, [])
    first: tracemalloc.Snapshot | None = None
    done = 0
    started = time.perf_counter()
    try:
        async with trealtime_session(server, query) as session:
            await trealtime_trigger(session)
            async for event in session:
                replay.events += 1
                if event.event_id == END_ID:
                    break
                if not isinstance(event, ResponseDone):
                    continue
                done += 1
                if done % every == 0:
                    progress.step("replay", done, turns)
                    gc.collect()
                    replay.block_marks.append(done)
                    replay.blocks.append(sys.getallocatedblocks())
                if done == tracing_from:
                    tracemalloc.start()
                if done == traced_from:
                    gc.collect()
                    first = tracemalloc.take_snapshot()
                if first is not None and (done - traced_from) % every_traced == 0:
                    gc.collect()
                    replay.heap_marks.append(done)
                    replay.heap.append(_traced())
            if first is not None:
                gc.collect()
                last = tracemalloc.take_snapshot()
                for stat in last.compare_to(first, "lineno")[:4]:
                    frame = stat.traceback[0]
                    where = frame.filename.split("site-packages" + os.sep)[-1]
                    where = where.removeprefix(str(ROOT)).lstrip(os.sep)
                    replay.top.append(
                        f"{where}:{frame.lineno} {stat.size_diff / KIB:+,.0f} KiB "
                        f"({stat.count_diff:+,} blocks)"
                    )
    finally:
        tracemalloc.stop()
    replay.seconds = time.perf_counter() - started
    return replay


class MemoryScenario:
    name = "memory"
    description = "Python heap per idle / streaming session, and growth over a simulated hour"

    def run(self, config: RunConfig) -> ScenarioResult:
        idle_count = 30 if config.quick else 200
        stream_fleet = Fleet(10 if config.quick else 50, count=50 if config.quick else 150)
        replay_turns = 36 if config.quick else 720
        # The quick run replays only the realistic case (new items every turn).
        replays = (True,) if config.quick else (True, False)
        notes: list[str] = []
        metrics: list[Metric] = []
        try:
            with (
                ServerProcess() as server,
                Worker(TREALTIME) as worker,
                Worker(FLOOR) as floor_worker,
            ):
                address = dataclasses.asdict(server)
                workers = {TREALTIME: worker, FLOOR: floor_worker}
                self._idle(workers, address, idle_count, metrics, notes)
                progress.step(f"streaming: {stream_fleet.sessions} sessions")
                per_session = worker.call(
                    _JOBS + "streaming_job", address, fleet_dict(stream_fleet)
                )
                metrics.append(
                    Metric("streaming", "heap per streaming session", per_session / KIB, "KiB")
                )
                notes.append(
                    f"streaming: {stream_fleet.sessions} sessions, {stream_fleet.count} frames "
                    f"each at {stream_fleet.rate:g}/s with as many appends; median heap "
                    "while streaming (after the first fifth), per session"
                )
                for unique in replays:
                    label = "new items every turn" if unique else "items recycled"
                    progress.step(f"replay ({label})")
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
        count: int,
        metrics: list[Metric],
        notes: list[str],
    ) -> None:
        for client, worker in workers.items():
            progress.step(f"idle: {count} {client} connections")
            worker.call(_JOBS + "idle_job", address, client, 5)  # warm-up: imports, caches
            heap, rss = worker.call(_JOBS + "idle_job", address, client, count)
            name = "session" if client == TREALTIME else "floor connection"
            target = IDLE_TARGET if client == TREALTIME else None
            metrics.append(
                Metric("idle", f"heap per idle {name}", heap / KIB, "KiB", target=target)
            )
            notes.append(
                f"idle {client}: {heap / KIB:,.1f} KiB heap, {rss / KIB:,.1f} KiB RSS "
                f"per connection ({count} open)"
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
                target=GROWTH_TARGET if unique else None,
            )
        )
        heap = ""
        if replay.heap:
            heap = (
                f"traced heap over the last {replay.traced_minutes:.1f} minutes "
                f"{replay.heap[0] / KIB:,.0f} → {replay.heap[-1] / KIB:,.0f} KiB "
                f"({replay.kib_per_minute:+.2f} KiB/min); "
            )
        notes.append(
            f"replay ({label}): {replay.events:,} events = {minutes:g} simulated minutes in "
            f"{replay.seconds:.1f} s; {heap}allocated blocks {replay.blocks_per_minute:+,.0f} "
            "per minute over the whole replay"
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
    """A :class:`Replay` (tracemalloc runs over its last fifth only)."""
    return dataclasses.asdict(trio.run(_replay, ServerAddress(**server), turns, unique))
