"""Calibration and interleaved sampling of contenders.

A contender is a function ``run_batch(loops) -> elapsed_ns`` that performs ``loops``
iterations of its work and returns the time they took (the contender times itself, so that
any set-up around the batch, such as entering an event loop, stays outside the measurement).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from benchmarks import progress

#: Runs ``loops`` iterations and returns the elapsed nanoseconds.
BatchRunner = Callable[[int], int]


@dataclass(frozen=True)
class Contender:
    """One implementation taking part in a comparison."""

    name: str
    run_batch: BatchRunner
    #: Operations performed by one loop iteration (e.g. frames in an event mix).
    ops_per_loop: int = 1


@dataclass(frozen=True)
class Samples:
    """Per-operation times of one contender, one entry per repetition."""

    name: str
    ns_per_op: tuple[float, ...]
    loops_per_sample: int
    ops_per_sample: int

    @property
    def median_ns(self) -> float:
        return statistics.median(self.ns_per_op)


def sync_batch(op: Callable[[], object]) -> BatchRunner:
    """A batch runner that calls ``op()`` ``loops`` times."""

    def run(loops: int) -> int:
        clock = time.perf_counter_ns
        start = clock()
        for _ in range(loops):
            op()
        return clock() - start

    return run


def sync_batch_over(fn: Callable[[str], object], items: Sequence[str]) -> BatchRunner:
    """A batch runner that calls ``fn(item)`` for every item, ``loops`` times."""
    items = tuple(items)

    def run(loops: int) -> int:
        clock = time.perf_counter_ns
        start = clock()
        for _ in range(loops):
            for item in items:
                fn(item)
        return clock() - start

    return run


def async_batch(loop: asyncio.AbstractEventLoop, op: Callable[[], Awaitable[None]]) -> BatchRunner:
    """A batch runner that awaits ``op()`` ``loops`` times inside one task on ``loop``.

    The clock is read inside the coroutine, so scheduling the task and entering the loop are
    not measured; only the awaited calls are.
    """

    async def timed(loops: int) -> int:
        clock = time.perf_counter_ns
        start = clock()
        for _ in range(loops):
            await op()
        return clock() - start

    def run(loops: int) -> int:
        return loop.run_until_complete(timed(loops))

    return run


MAX_LOOPS = 1 << 30
"""No batch runs more loops than this (a contender too fast for the clock to see stops here)."""


def calibrate(contender: Contender, sample_ns: int) -> int:
    """Return a loop count for which one batch takes about ``sample_ns``.

    The calibration batches also serve as warm-up.
    """
    loops = 1
    while True:
        elapsed = contender.run_batch(loops)
        if elapsed * 10 >= sample_ns or loops * 10 > MAX_LOOPS:
            break
        loops *= 10
    return max(1, min(MAX_LOOPS, round(loops * sample_ns / max(elapsed, 1))))


def measure_interleaved(
    contenders: Sequence[Contender], *, repetitions: int, sample_ns: int
) -> dict[str, Samples]:
    """Sample every contender ``repetitions`` times, rotating the order each repetition.

    Repetition ``i`` of every contender is taken back to back, so per-repetition ratios
    are paired measurements under the same machine conditions.
    """
    progress.step("calibrating")
    loops = [calibrate(c, sample_ns) for c in contenders]
    per_op: list[list[float]] = [[] for _ in contenders]
    n = len(contenders)
    for rep in range(repetitions):
        progress.step("sampling", rep + 1, repetitions)
        for k in range(n):
            i = (rep + k) % n
            contender = contenders[i]
            gc.collect()
            elapsed = contender.run_batch(loops[i])
            per_op[i].append(elapsed / (loops[i] * contender.ops_per_loop))
    return {
        c.name: Samples(
            name=c.name,
            ns_per_op=tuple(per_op[i]),
            loops_per_sample=loops[i],
            ops_per_sample=loops[i] * c.ops_per_loop,
        )
        for i, c in enumerate(contenders)
    }
