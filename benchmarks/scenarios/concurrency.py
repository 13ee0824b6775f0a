"""concurrency: how many real-time sessions one client process carries on one core.

Each trealtime session streams real-time audio both ways: the server sends 50 stamped 20 ms
audio deltas per second, and the session appends 20 ms of PCM 50 times a second.  The client
process is pinned to one CPU and the server process to another.  A level of ``N`` sessions
passes when every session opens, every frame arrives, and the p99 delivery lag (server write →
event in the caller's hands) stays under 20 ms.  The search doubles ``N`` from a start value
until a level fails, then bisects; the result is the largest passing ``N``.

The clients run in worker processes (:mod:`benchmarks.worker`) importing nothing else.  A level
where the server itself fell behind its schedule (its own p99 lateness over 5 ms, or
its CPU near a full core) says nothing about the client: the search stops there and reports it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import progress
from benchmarks.config import RunConfig
from benchmarks.contenders import FLOOR, TREALTIME, WEBSOCKET
from benchmarks.loopback import ServerFailed, ServerProcess, cpu_count, split_cpus
from benchmarks.results import Metric, ScenarioResult, Target
from benchmarks.streaming import Fleet, FleetResult, fleet_dict, fleet_result
from benchmarks.worker import Worker

JOB = "benchmarks.streaming:fleet_job"
_REFERENCE = {
    FLOOR: "bare trio-websocket",
    WEBSOCKET: "trealtime's WebSocket layer alone, no decoding",
}
LAG_LIMIT_US = 20_000
SERVER_LATE_LIMIT_US = 5_000
SERVER_CPU_LIMIT = 0.9
#: Client CPU share (plus waiting for the CPU) above which the client is the bottleneck.
CLIENT_SATURATED = 0.9
#: Share of the wall time spent waiting for a CPU above which a level is flagged as contended.
CONTENDED = 0.05
#: trealtime must carry at least this many real-time sessions on one core.
TARGET = Target(">=", 200, "sessions")


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
    minimum: int = 10

    @classmethod
    def for_config(cls, config: RunConfig) -> Plan:
        if config.quick:
            return cls(start=200, seconds=1.5, budget_seconds=8, bisect=False, retry=False)
        return cls(start=100, seconds=6.0, budget_seconds=150, bisect=True)


class ConcurrencyScenario:
    name = "concurrency"
    description = "real-time sessions (50 deltas/s down + 50 appends/s up) on one client core"

    def run(self, config: RunConfig) -> ScenarioResult:
        plan = Plan.for_config(config)
        client_cpu, server_cpu = split_cpus()
        notes = [
            f"each level streams {plan.seconds:g} s; pass: all frames delivered and p99 lag "
            f"< {LAG_LIMIT_US / 1000:g} ms"
        ]
        if client_cpu is None:
            notes.append(f"only {cpu_count()} CPU available: client and server share it")
        else:
            notes.append(f"client pinned to CPU {client_cpu}, server to CPU {server_cpu}")
        levels: list[Level] = []
        started = time.perf_counter()
        try:
            # The quick run skips the WebSocket-layer reference.
            clients = (TREALTIME, FLOOR) if config.quick else (TREALTIME, FLOOR, WEBSOCKET)
            with ServerProcess(cpu=server_cpu) as server, contextlib.ExitStack() as stack:
                address = dataclasses.asdict(server)
                workers = {name: stack.enter_context(Worker(name)) for name in clients}

                def attempt(sessions: int, client: str = TREALTIME) -> Level:
                    progress.step(f"level {len(levels) + 1}: {client} N={sessions}")
                    fleet = Fleet(
                        sessions,
                        rate=50,
                        count=int(plan.seconds * 50),
                        appends=True,
                        tag=f"concurrency-{sessions}-{len(levels)}",
                        grace=max(5.0, plan.seconds),
                    )
                    data = workers[client].call(JOB, address, client, fleet_dict(fleet), client_cpu)
                    level = Level(sessions, fleet_result(data), client)
                    levels.append(level)
                    return level

                best, limit = _search(plan, attempt, started)
                # The transports alone at the target, for scale.
                references = [attempt(int(TARGET.threshold), c) for c in clients[1:]]
        except ServerFailed as exc:
            return ScenarioResult(self.name, self.description, (), (), (str(exc),))

        mine = sorted((lvl for lvl in levels if lvl.client == TREALTIME), key=lambda x: x.sessions)
        notes += [level.describe() for level in mine]
        for reference in references:
            notes.append(reference.describe() + f" ({_REFERENCE[reference.client]}, for scale)")
        if limit is not None:
            notes.append(f"the server could not keep up at N={limit}: the result is a lower bound")
        if best is None and mine:
            notes.append(
                f"no level passed: the most is below N={mine[0].sessions}, the smallest tried"
            )
        metrics = [
            Metric(
                "one core",
                "max real-time sessions (p99 lag < 20 ms)",
                float(best or 0) if mine else None,
                "sessions",
                target=TARGET,
                missing=None if mine else "no level ran",
            )
        ]
        by_client = [(TREALTIME, mine)] + [(r.client, [r]) for r in references]
        for client, client_levels in by_client:
            # Per-session CPU, from levels where the client was not saturated.
            shares = [
                lvl.result.cpu_share / lvl.sessions * 100
                for lvl in client_levels
                if lvl.result.cpu_share + lvl.result.wait_share < CLIENT_SATURATED
            ]
            if shares:
                metrics.append(
                    Metric(
                        "one core",
                        f"{client} CPU per real-time session",
                        statistics.median(shares),
                        "% of a core",
                    )
                )
        for reference in references:
            p99 = reference.p99_us
            metrics.append(
                Metric(
                    f"{reference.client}, N={reference.sessions}",
                    "p99 delivery lag",
                    p99 / 1000 if p99 is not None else None,
                    "ms",
                    missing=None if p99 is not None else "no frames",
                )
            )
        return ScenarioResult(self.name, self.description, (), (), tuple(notes), tuple(metrics))


def _search(
    plan: Plan, attempt: Callable[[int], Level], started: float
) -> tuple[int | None, int | None]:
    """``(largest passing N, N where the server could not keep up)``.

    A level that fails while other processes held a CPU (or while the server lagged) is run
    once more before it counts.
    """

    def in_budget() -> bool:
        return time.perf_counter() - started < plan.budget_seconds

    def measure(n: int) -> Level:
        level = attempt(n)
        retry = plan.retry and (level.contended or level.server_limited)
        if not level.passed and retry and in_budget():
            level = attempt(n)
        return level

    best: int | None = None
    fail: int | None = None
    n = plan.start
    # Ramp up (doubling) while levels pass; ramp down (halving) if the first one fails.
    while plan.minimum <= n <= plan.maximum:
        level = measure(n)
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
    step = max(10, best // 10)
    while fail - best > step and in_budget():
        mid = (best + fail) // 2 // 10 * 10
        if mid in (best, fail):
            break
        level = measure(mid)
        if level.server_limited and not level.passed:
            return best, mid
        if level.passed:
            best = mid
        else:
            fail = mid
    return best, None
