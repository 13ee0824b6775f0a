"""concurrency: how many real-time sessions one client process carries on one core, side by side.

Each session streams real-time audio both ways: the server sends 50 stamped 20 ms audio deltas
per second, and the session appends 20 ms of PCM 50 times a second.  The client process is
pinned to one CPU and the server process to another.  A level of ``N`` sessions passes when
every session opens, every frame arrives, and the p99 delivery lag (server write → event in the
caller's hands) stays under 20 ms.  The search doubles ``N`` from a start value until a level
fails, then bisects; the result is the largest passing ``N``: the *sessions per core*.

Three contenders are searched the same way, each in a worker process of its own
(:mod:`benchmarks.worker`) importing nothing else, against the same server, with the same
stream and the same lag rule: the official ``openai`` client (``AsyncRealtimeConnection``
under asyncio), ``trealtime``, and trealtime's own WebSocket layer alone, decoding nothing (the
*transport floor*), over TLS and over plain ``ws://``.  Targets: trealtime carries at least
5x the sessions of ``openai``, at least 0.8x those of its transport floor, and at least 200.
The three searches of a transport run interleaved, level by level in turn, so that machine
noise hits them alike; every level's contention is reported.

A level where the server itself fell behind its schedule (its own p99 lateness over 5 ms, or
its CPU near a full core) says nothing about the client: the search stops there and reports it.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from benchmarks import progress
from benchmarks.config import RunConfig
from benchmarks.contenders import (
    OPENAI,
    TREALTIME,
    WEBSOCKET,
    ContenderUnavailable,
    openai_realtime,
)
from benchmarks.loopback import (
    TRANSPORTS,
    ServerFailed,
    ServerProcess,
    address_dict,
    cpu_count,
    split_cpus,
)
from benchmarks.results import Metric, ScenarioResult, Target
from benchmarks.streaming import Fleet, FleetResult, fleet_dict, fleet_result
from benchmarks.worker import Worker

JOB = "benchmarks.streaming:fleet_job"
#: The transport floor: trealtime's own WebSocket layer alone, decoding nothing.
FLOOR = WEBSOCKET
LAG_LIMIT_US = 20_000
SERVER_LATE_LIMIT_US = 5_000
SERVER_CPU_LIMIT = 0.9
#: Client CPU share (plus waiting for the CPU) above which the client is the bottleneck.
CLIENT_SATURATED = 0.9
#: Share of the wall time spent waiting for a CPU above which a level is flagged as contended.
CONTENDED = 0.05
#: trealtime must carry at least this many real-time sessions on one core.
TARGET = Target(">=", 200, "sessions")
#: ... at least 5x the official client's sessions per core ...
VS_OPENAI = Target(">=", 5)
#: ... and at least 0.8x its own transport floor's.
VS_FLOOR = Target(">=", 0.8)
PER_CORE = "sessions per core (p99 lag < 20 ms)"


@dataclass(frozen=True)
class Level:
    sessions: int
    result: FleetResult
    client: str = TREALTIME

    @property
    def p99_us(self) -> float | None:
        return self.result.lag_percentile_us(0.99)

    @property
    def server_limited(self) -> bool:
        """The server fell behind on its own (not for want of a CPU) while the client still
        had CPU to spare."""
        r = self.result
        server_behind = (
            r.server_late_p99_us > SERVER_LATE_LIMIT_US or r.server_cpu_share > SERVER_CPU_LIMIT
        )
        client_spare = r.cpu_share + r.wait_share < CLIENT_SATURATED
        return server_behind and client_spare and not self.contended

    @property
    def contended(self) -> bool:
        """Other processes kept the client or the server off its CPU for a noticeable share of
        the time: the level measured the machine's load as much as the client."""
        return max(self.result.wait_share, self.result.server_wait_share) > CONTENDED

    @property
    def passed(self) -> bool:
        p99 = self.p99_us
        return self.result.complete and p99 is not None and p99 < LAG_LIMIT_US

    def describe(self) -> str:
        r = self.result
        p50, p99 = r.lag_percentile_us(0.5), self.p99_us
        lag = "no frames" if p50 is None or p99 is None else f"p50 {p50 / 1000:.1f} ms, "
        lag += "" if p99 is None else f"p99 {p99 / 1000:.1f} ms"
        verdict = "pass" if self.passed else "FAIL"
        extra = "" if r.complete else f", incomplete ({r.frames}/{r.expected_frames} frames"
        extra += "" if r.complete else f", {r.opened}/{r.sessions} open{_errors(r)})"
        appends = sorted(r.append_late_ns)
        append_late = appends[int(0.99 * (len(appends) - 1))] / 1e6 if appends else 0.0
        flags = " (server-limited)" if self.server_limited else ""
        flags += " (contended: other processes held a CPU)" if self.contended else ""
        who = "" if self.client == TREALTIME else f"{self.client} "
        return (
            f"{who}N={self.sessions}: {verdict}; lag {lag}{extra}; client CPU {r.cpu_share:.0%} "
            f"(+{r.wait_share:.0%} waiting for it), append pacing lateness p99 "
            f"{append_late:.1f} ms; server CPU {r.server_cpu_share:.0%} (+"
            f"{r.server_wait_share:.0%} waiting), server lateness p99 "
            f"{r.server_late_p99_us / 1000:.1f} ms{flags}"
        )


def _errors(result: FleetResult) -> str:
    return f"; {result.errors[0]}" if result.errors else ""


@dataclass(frozen=True)
class Plan:
    start: int
    seconds: float
    budget_seconds: float
    bisect: bool
    #: Run a failed level once more when other processes held a CPU during it.
    retry: bool = True
    maximum: int = 3200
    minimum: int = 5

    @classmethod
    def for_config(cls, config: RunConfig, client: str = TREALTIME) -> Plan:
        """The quick run tries one small level per contender (a smoke test); the full run
        searches from a start near each contender's expected result."""
        if config.quick:
            return cls(start=20, seconds=1.0, budget_seconds=0, bisect=False, retry=False)
        start = {OPENAI: 25, TREALTIME: 50, FLOOR: 100}.get(client, 50)
        return cls(start=start, seconds=4.0, budget_seconds=50, bisect=True)


@dataclass(frozen=True)
class Search:
    """One contender's search over one transport."""

    client: str
    transport: str
    best: int | None
    #: Where the server could not keep up (the result is then a lower bound).
    limit: int | None
    levels: tuple[Level, ...]

    @property
    def who(self) -> str:
        return f"{self.client} ({self.transport})"


class ConcurrencyScenario:
    name = "concurrency"
    description = "real-time sessions (50 deltas/s down + 50 appends/s up) per client core"

    def run(self, config: RunConfig) -> ScenarioResult:
        client_cpu, server_cpu = split_cpus()
        seconds = Plan.for_config(config).seconds
        notes = [
            f"each level streams {seconds:g} s; pass: all frames delivered and p99 lag "
            f"< {LAG_LIMIT_US / 1000:g} ms"
        ]
        if config.quick:
            notes.append("quick run: one level of 20 sessions per contender, no search")
        if client_cpu is None:
            notes.append(f"only {cpu_count()} CPU available: client and server share it")
        else:
            notes.append(f"client pinned to CPU {client_cpu}, server to CPU {server_cpu}")
        clients = [TREALTIME, FLOOR]
        missing: str | None = None
        try:
            openai_realtime()
            clients.insert(0, OPENAI)
        except ContenderUnavailable as exc:
            missing = str(exc)
            notes.append(f"openai not measured: {exc}")
        searches: list[Search] = []
        try:
            with ServerProcess(cpu=server_cpu) as served, contextlib.ExitStack() as stack:
                workers = {name: stack.enter_context(Worker(name)) for name in clients}
                serial = 0
                for transport in TRANSPORTS:
                    address = address_dict(served.over(transport))
                    levels: dict[str, list[Level]] = {client: [] for client in clients}
                    spent = dict.fromkeys(clients, 0.0)

                    def attempt(
                        client: str,
                        sessions: int,
                        address: dict[str, Any] = address,
                        transport: str = transport,
                        levels: dict[str, list[Level]] = levels,
                        spent: dict[str, float] = spent,
                    ) -> Level:
                        nonlocal serial
                        serial += 1
                        progress.step(f"{client} ({transport}) N={sessions}")
                        seconds = Plan.for_config(config, client).seconds
                        fleet = Fleet(
                            sessions,
                            rate=50,
                            count=int(seconds * 50),
                            appends=True,
                            tag=f"concurrency-{sessions}-{serial}",
                            grace=max(5.0, seconds),
                        )
                        started = time.perf_counter()
                        job = fleet_dict(fleet)
                        data = workers[client].call(JOB, address, client, job, client_cpu)
                        spent[client] += time.perf_counter() - started
                        level = Level(sessions, fleet_result(data), client)
                        levels[client].append(level)
                        return level

                    steps = {
                        client: _searching(
                            Plan.for_config(config, client),
                            functools.partial(spent.__getitem__, client),
                        )
                        for client in clients
                    }
                    for client, (best, limit) in _interleaved(steps, attempt).items():
                        levels_of = tuple(levels[client])
                        searches.append(Search(client, transport, best, limit, levels_of))
        except ServerFailed as exc:
            return ScenarioResult(self.name, self.description, (), (), (str(exc),))
        return ScenarioResult(
            self.name,
            self.description,
            (),
            (),
            tuple(notes + _search_notes(searches)),
            tuple(_metrics(searches, missing)),
        )


def _search_notes(searches: list[Search]) -> list[str]:
    notes: list[str] = []
    for search in searches:
        for level in sorted(search.levels, key=lambda x: x.sessions):
            notes.append(f"{search.transport}: {level.describe()}")
        if search.limit is not None:
            notes.append(
                f"{search.who}: the server could not keep up at N={search.limit}: the result is "
                "a lower bound"
            )
        if search.best is None and search.levels:
            smallest = min(level.sessions for level in search.levels)
            notes.append(f"{search.who}: no level passed, the most is below N={smallest}")
    return notes


def _metrics(searches: list[Search], missing: str | None) -> list[Metric]:
    """Sessions per core of each contender and transport, the graded ratios, and CPU per
    session."""
    metrics: list[Metric] = []
    found = {(s.client, s.transport): s for s in searches}
    for transport in TRANSPORTS:
        for client in (OPENAI, TREALTIME, FLOOR):
            search = found.get((client, transport))
            value = None if search is None or not search.levels else float(search.best or 0)
            why = missing if client == OPENAI and missing else "no level ran"
            metrics.append(
                Metric(
                    transport,
                    f"{client} {PER_CORE}",
                    value,
                    "sessions",
                    target=TARGET if client == TREALTIME else None,
                    missing=None if value is not None else why,
                )
            )
        mine = found.get((TREALTIME, transport))
        for other, target in ((OPENAI, VS_OPENAI), (FLOOR, VS_FLOOR)):
            theirs = found.get((other, transport))
            metrics.append(_versus(transport, mine, theirs, other, target, missing))
    for search in searches:
        # Per-session CPU, from levels where the client was not saturated.
        shares = [
            lvl.result.cpu_share / lvl.sessions * 100
            for lvl in search.levels
            if lvl.result.cpu_share + lvl.result.wait_share < CLIENT_SATURATED
        ]
        if shares:
            metrics.append(
                Metric(
                    search.transport,
                    f"{search.client} CPU per real-time session",
                    statistics.median(shares),
                    "% of a core",
                )
            )
    return metrics


def _versus(
    transport: str,
    mine: Search | None,
    theirs: Search | None,
    other: str,
    target: Target,
    missing: str | None,
) -> Metric:
    """trealtime's sessions per core over ``other``'s (graded against ``target``)."""
    name = f"trealtime / {other} sessions per core"
    if mine is None or theirs is None:
        why = missing if other == OPENAI and missing else "not measured"
        return Metric(transport, name, None, "x", target=target, missing=why)
    if not theirs.best:
        why = f"{other} carried no level (below N={min(lvl.sessions for lvl in theirs.levels)})"
        return Metric(transport, name, None, "x", target=target, missing=why)
    return Metric(transport, name, (mine.best or 0) / theirs.best, "x", target=target)


def _round_level(n: int) -> int:
    """``n`` rounded down to a multiple of 10 from 100, of 5 from 20 (levels read easily)."""
    grain = 10 if n >= 100 else 5 if n >= 20 else 1
    return n // grain * grain


#: A search in steps: it yields the next N to try, is sent that level, and returns
#: ``(largest passing N, N where the server could not keep up)``.
Searching = Generator[int, Level, tuple[int | None, int | None]]


def _search(
    plan: Plan, attempt: Callable[[int], Level], started: float
) -> tuple[int | None, int | None]:
    """:func:`_searching` driven to its end by ``attempt``, its budget counted from
    ``started``."""
    return _drive(_searching(plan, lambda: time.perf_counter() - started), attempt)


def _drive(steps: Searching, attempt: Callable[[int], Level]) -> tuple[int | None, int | None]:
    try:
        n = next(steps)
        while True:
            n = steps.send(attempt(n))
    except StopIteration as stop:
        result: tuple[int | None, int | None] = stop.value
        return result


def _interleaved(
    searches: dict[str, Searching], attempt: Callable[[str, int], Level]
) -> dict[str, tuple[int | None, int | None]]:
    """Run several searches level by level in turn (so machine noise hits them alike), each
    until it ends; their results by name."""
    results: dict[str, tuple[int | None, int | None]] = {}
    pending: dict[str, int] = {}
    for name, steps in searches.items():
        try:
            pending[name] = next(steps)
        except StopIteration as stop:
            results[name] = stop.value
    while pending:
        for name in list(pending):
            level = attempt(name, pending[name])
            try:
                pending[name] = searches[name].send(level)
            except StopIteration as stop:
                results[name] = stop.value
                del pending[name]
    return results


def _searching(plan: Plan, spent: Callable[[], float]) -> Searching:
    """The search for the largest passing N, one level at a time; ``spent`` says how many
    seconds of its budget it has used.

    A level that fails while other processes held a CPU (or while the server lagged) is run
    once more before it counts.
    """

    def in_budget() -> bool:
        return spent() < plan.budget_seconds

    def measure(n: int) -> Generator[int, Level, Level]:
        level = yield n
        retry = plan.retry and (level.contended or level.server_limited)
        if not level.passed and retry and in_budget():
            level = yield n
        return level

    best: int | None = None
    fail: int | None = None
    n = plan.start
    # Ramp up (doubling) while levels pass; ramp down (halving) if the first one fails.
    while plan.minimum <= n <= plan.maximum:
        level = yield from measure(n)
        if level.server_limited and not level.passed:
            return best, n
        if level.passed:
            best = n
            if fail is not None or not in_budget():
                break
            n *= 2
        else:
            fail = n
            if best is not None or not in_budget():
                break
            n //= 2
    if not plan.bisect or best is None or fail is None:
        return best, None
    step = max(2, best // 10)
    while fail - best > step and in_budget():
        mid = _round_level((best + fail) // 2)
        if mid in (best, fail):
            break
        level = yield from measure(mid)
        if level.server_limited and not level.passed:
            return best, mid
        if level.passed:
            best = mid
        else:
            fail = mid
    return best, None
