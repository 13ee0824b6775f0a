"""latency: from the server's write of a frame to the typed event in the caller's hands.

The server process stamps every 20 ms audio delta with ``time.monotonic_ns()`` just before
writing it (``event_id = "ev_<ns>"``); the client takes ``time.monotonic_ns()`` as soon as the
event is in its hands and records the difference.  Two cases:

- ``idle``: one session, one frame every 2 ms (the client is idle when each frame arrives);
- ``load``: 100 sessions, each streaming real-time audio both ways (50 deltas/s down,
  50 appends/s up), in one client process.

Contenders: ``trealtime`` and the transport floor (trealtime's own WebSocket layer alone,
``receive_message()`` with no decoding: :class:`benchmarks.loopback.TransportFloor`), plus
``openai`` in the idle case for context.  trealtime's *overhead* is ``trealtime - floor`` of
the percentile, paired round by round; the medians over rounds are
reported.  The targets (p50 < 100 µs, p99 < 2 ms) apply under load.  The overhead is split
in two with a third contender, ``handoff`` (the same layer read by a task of its own that hands
each message to the caller over a memory channel, :class:`benchmarks.loopback.HandoffFloor`):
``handoff - floor`` is what the hand-off between two tasks costs, ``trealtime - handoff``
what the session does on top (decoding, the state mirror, sending through its queue).  Each
client runs in a worker process of its own (:mod:`benchmarks.worker`).  Every case runs over
TLS (``wss://``, as users run) and over plain ``ws://``; the targets apply to both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics

from benchmarks import progress
from benchmarks.config import RunConfig
from benchmarks.contenders import (
    HANDOFF,
    OPENAI,
    TREALTIME,
    WEBSOCKET,
    ContenderUnavailable,
    openai_realtime,
)
from benchmarks.loopback import TRANSPORTS, ServerFailed, ServerProcess, address_dict
from benchmarks.results import Measurement, Metric, ScenarioResult, Target
from benchmarks.streaming import Fleet, FleetResult, fleet_dict, fleet_result
from benchmarks.worker import Worker

#: The floor under trealtime: its WebSocket layer without decoding or session.
TRANSPORT = WEBSOCKET
IDLE = "idle (1 session)"
LOAD_SESSIONS = 100
UNIT = "µs"
FLEET_JOB = "benchmarks.streaming:fleet_job"
OPENAI_JOB = "benchmarks.streaming:openai_job"

#: Targets for trealtime's overhead over the floor, under load.
P50_TARGET = Target("<", 100, "µs")
P99_TARGET = Target("<", 2000, "µs")


class LatencyScenario:
    name = "latency"
    description = "server write → typed event in the caller's hands, p50/p99 (µs)"

    def run(self, config: RunConfig) -> ScenarioResult:
        idle = Fleet(1, rate=500, count=100 if config.quick else 600, appends=False)
        # The quick run (a smoke test) loads 20 sessions, not 100, and runs each case once.
        sessions = 20 if config.quick else LOAD_SESSIONS
        load = Fleet(sessions, rate=50, count=40 if config.quick else 150, appends=True)
        load_rounds = 1 if config.quick else min(config.rounds, 5)
        idle_rounds = 1 if config.quick else config.rounds
        notes = [
            f"idle: 1 session, {idle.count} frames at {idle.rate:g}/s, {idle_rounds} rounds; "
            f"load: {load.sessions} sessions x {load.count} frames at {load.rate:g}/s, with "
            f"{load.rate:g} appends/s each, {load_rounds} rounds; the first "
            "5 frames of each session are not counted"
        ]
        has_openai = True
        try:
            openai_realtime()
        except ContenderUnavailable as exc:
            has_openai = False
            notes.append(f"openai not measured: {exc}")

        runs: dict[tuple[str, str], list[FleetResult]] = {}
        clients = [TREALTIME, TRANSPORT, HANDOFF] + ([OPENAI] if has_openai else [])
        cases = [
            (f"{case}, {transport}", fleet, rounds, transport)
            for transport in TRANSPORTS
            for case, fleet, rounds in (
                (IDLE, idle, idle_rounds),
                (f"load ({sessions} sessions)", load, load_rounds),
            )
        ]
        try:
            with ServerProcess() as served, contextlib.ExitStack() as stack:
                workers = {name: stack.enter_context(Worker(name)) for name in clients}
                serial = 0

                def one(transport: str, client: str, fleet: Fleet) -> FleetResult:
                    nonlocal serial
                    serial += 1
                    address = address_dict(served.over(transport))
                    job = fleet_dict(dataclasses.replace(fleet, tag=f"latency-{serial}"))
                    if client == OPENAI:
                        data = workers[client].call(OPENAI_JOB, address, job)
                    else:
                        data = workers[client].call(FLEET_JOB, address, client, job)
                    return fleet_result(data)

                for case, fleet, rounds, transport in cases:
                    contenders = [TREALTIME, TRANSPORT, HANDOFF]
                    if fleet is idle and has_openai:
                        contenders.append(OPENAI)
                    warm = dataclasses.replace(fleet, count=20)
                    for client in [] if config.quick else contenders:  # the smoke run: none
                        progress.step(f"{case}: warm-up {client}")
                        one(transport, client, warm)
                    for rnd in range(rounds):
                        for k in range(len(contenders)):
                            client = contenders[(rnd + k) % len(contenders)]
                            progress.step(f"{case}: {client}", rnd + 1, rounds)
                            result = one(transport, client, fleet)
                            runs.setdefault((case, client), []).append(result)
        except ServerFailed as exc:
            return ScenarioResult(self.name, self.description, (), (), (str(exc),))

        measurements: list[Measurement] = []
        metrics: list[Metric] = []
        for (case, client), results in runs.items():
            for label, q in (("p50", 0.5), ("p99", 0.99)):
                values = [v for r in results if (v := r.lag_percentile_us(q)) is not None]
                if values:
                    measurements.append(
                        Measurement.from_values(f"{case} {label}", client, UNIT, values)
                    )
            incomplete = [r for r in results if not r.complete]
            if incomplete:
                notes.append(
                    f"{case} {client}: {len(incomplete)} of {len(results)} rounds incomplete "
                    f"({incomplete[0].frames}/{incomplete[0].expected_frames} frames, "
                    f"errors {incomplete[0].errors[:2]})"
                )
            cpu = statistics.median(r.cpu_share for r in results)
            wait = statistics.median(r.wait_share for r in results)
            late = statistics.median(r.server_late_p99_us for r in results)
            notes.append(
                f"{case} {client}: client CPU {cpu:.0%} of a core (+{wait:.0%} waiting for a "
                f"CPU held by other processes); server's own lateness p99 {late / 1000:.1f} ms"
            )

        for case, fleet, _, _ in cases:
            for label, q, target in (("p50", 0.5, P50_TARGET), ("p99", 0.99, P99_TARGET)):
                for minuend, subtrahend, name, graded in (
                    (TREALTIME, TRANSPORT, "trealtime - floor", fleet is load),
                    (HANDOFF, TRANSPORT, "of which the hand-off", False),
                    (TREALTIME, HANDOFF, "of which the session", False),
                ):
                    differences = _paired_differences(
                        runs.get((case, minuend), []), runs.get((case, subtrahend), []), q
                    )
                    if not differences:
                        continue
                    metrics.append(
                        Metric.from_values(
                            case, f"{name} {label}", UNIT, differences, target if graded else None
                        )
                    )
        return ScenarioResult(
            self.name, self.description, tuple(measurements), (), tuple(notes), tuple(metrics)
        )


def _paired_differences(a: list[FleetResult], b: list[FleetResult], q: float) -> list[float]:
    """Round by round, ``a``'s latency percentile ``q`` minus ``b``'s."""
    return [
        x - y
        for ra, rb in zip(a, b, strict=True)
        if (x := ra.lag_percentile_us(q)) is not None and (y := rb.lag_percentile_us(q)) is not None
    ]
