"""e2e: a long scripted response streamed over loopback by a server in another process.

The server (:mod:`benchmarks.server_process`, ``bench=blast``) sends ``K`` realistic voice turns
(99 frames each: 50 audio deltas of 100 ms, 40 transcript deltas, lifecycle events) as fast as
the socket takes them.  Each client connects, configures the session, then starts the stream
and reads typed events until the end frame:

- ``trealtime``: ``async for event in session`` (decode, state mirror, request matching);
- ``openai``: ``async for event in connection`` on the SDK's ``AsyncRealtimeConnection``;
- ``floor``: bare trio-websocket ``get_message()`` without decoding (trealtime's transport
  before it read its own WebSocket layer), for scale;
- ``websocket``: trealtime's own WebSocket layer alone (framed in the reading task, 64 KiB
  reads), without decoding: the floor under trealtime.

Each client runs in a worker process of its own (:mod:`benchmarks.worker`), which imports only
that client.  Measured there from the trigger to the end frame: CPU time
(``time.process_time()``; the server's CPU is in the other process) per received event, and
events per second (wall).  Every client runs over TLS (``wss://``, as users do) and over plain
``ws://``: each (client, transport) pair takes its turn, rotating the order each round, and
the cases are reported per transport, with what TLS costs each client (TLS / plain).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from benchmarks import progress
from benchmarks.config import RunConfig
from benchmarks.contenders import (
    FLOOR,
    OPENAI,
    PLAIN,
    TLS,
    TREALTIME,
    WEBSOCKET,
    ContenderUnavailable,
    openai_realtime,
)
from benchmarks.loopback import (
    END_ID,
    TRANSPORTS,
    Opener,
    ServerAddress,
    ServerFailed,
    ServerProcess,
    address_dict,
    bare_opener,
    openai_connection,
    trealtime_session,
    trealtime_trigger,
)
from benchmarks.results import Measurement, Metric, Ratio, ScenarioResult, Target
from benchmarks.worker import Worker

CPU_CASE = "client CPU per event"
RATE_CASE = "throughput"
TLS_CASE = "what TLS costs (client CPU per event)"
FRAMES_PER_TURN = 106
JOB = "benchmarks.scenarios.e2e:blast_job"
_END_PREFIX = '{"type":"rate_limits.updated","event_id":"' + END_ID + '"'

#: trealtime must use less client CPU per event than openai (the aim is 2x).
VS_OPENAI = Target(">=", 1)


@dataclass(frozen=True)
class Run:
    events: int
    cpu_s: float
    wall_s: float
    odd: int = 0  # events that were not decoded to a typed event


class EndToEndScenario:
    name = "e2e"
    description = "server process streams a long response over loopback (client CPU per event)"

    def run(self, config: RunConfig) -> ScenarioResult:
        turns = 4 if config.quick else 40
        query = {"bench": "blast", "turns": turns}
        notes = [
            f"{turns} voice turns per run ({turns * FRAMES_PER_TURN + 2:,} frames, "
            f"{turns * 5} s of 24 kHz audio); {config.rounds} rounds, rotating order"
        ]
        names = [TREALTIME, FLOOR, WEBSOCKET]
        missing: dict[str, str] = {}
        try:
            openai_realtime()
            names.append(OPENAI)
        except ContenderUnavailable as exc:
            missing[OPENAI] = str(exc)

        pairs = [(name, transport) for transport in TRANSPORTS for name in names]
        runs: dict[tuple[str, str], list[Run]] = {pair: [] for pair in pairs}
        try:
            with ServerProcess() as served, contextlib.ExitStack() as stack:
                addresses = {t: address_dict(served.over(t)) for t in TRANSPORTS}
                workers = {name: stack.enter_context(Worker(name)) for name in names}

                def run(name: str, transport: str) -> Run:
                    data = workers[name].call(JOB, addresses[transport], name, query)
                    return Run(**data)

                # Warm-up (imports, caches, first connections); the quick smoke run skips it.
                for name, transport in [] if config.quick else pairs:
                    progress.step(f"warm-up {name} ({transport})")
                    run(name, transport)
                for rnd in range(config.rounds):
                    for k in range(len(pairs)):
                        name, transport = pairs[(rnd + k) % len(pairs)]
                        progress.step(f"round {name} ({transport})", rnd + 1, config.rounds)
                        runs[name, transport].append(run(name, transport))
        except ServerFailed as exc:
            return ScenarioResult(self.name, self.description, (), (), (str(exc),))

        measurements: list[Measurement] = []
        metrics: list[Metric] = []
        expected = turns * FRAMES_PER_TURN + 2
        for (name, transport), done in runs.items():
            cpu = [r.cpu_s / r.events * 1e6 for r in done]
            rate = [r.events / r.wall_s for r in done]
            measurements.append(
                Measurement.from_values(f"{CPU_CASE}, {transport}", name, "µs CPU/event", cpu)
            )
            metrics.append(
                Metric.from_values(
                    f"{RATE_CASE}, {transport}", f"{name} events/s", "events/s", rate
                )
            )
            odd = sum(r.odd for r in done)
            if odd:
                notes.append(
                    f"{name} ({transport}): {odd} events were not decoded to a typed event"
                )
            counts = sorted({r.events for r in done} - {expected})
            if counts:
                notes.append(
                    f"{name} ({transport}) received {counts} events in a run, not {expected}"
                )

        def cpu_per_event(name: str, transport: str) -> list[float]:
            return [r.cpu_s / r.events for r in runs[name, transport]]

        ratios: list[Ratio] = []
        for transport in TRANSPORTS:
            case = f"{CPU_CASE}, {transport}"
            if OPENAI in names:
                ratios.append(
                    Ratio.from_pairs(
                        case,
                        OPENAI,
                        TREALTIME,
                        cpu_per_event(OPENAI, transport),
                        cpu_per_event(TREALTIME, transport),
                        VS_OPENAI,
                    )
                )
            else:
                ratios.append(
                    Ratio(case, OPENAI, TREALTIME, None, target=VS_OPENAI, missing=missing[OPENAI])
                )
            for floor in (FLOOR, WEBSOCKET):
                ratios.append(
                    Ratio.from_pairs(
                        case,
                        TREALTIME,
                        floor,
                        cpu_per_event(TREALTIME, transport),
                        cpu_per_event(floor, transport),
                    )
                )
        for name in names:
            ratios.append(
                Ratio.from_pairs(
                    TLS_CASE,
                    f"{name} {TLS}",
                    f"{name} {PLAIN}",
                    cpu_per_event(name, TLS),
                    cpu_per_event(name, PLAIN),
                )
            )
        notes.append("the aim for openai / trealtime is 2x; the target is > 1x (less CPU)")
        notes += [f"{name} not measured: {why}" for name, why in missing.items()]
        return ScenarioResult(
            self.name,
            self.description,
            tuple(measurements),
            tuple(ratios),
            tuple(notes),
            tuple(metrics),
        )


def blast_job(server: dict[str, Any], client: str, query: dict[str, Any]) -> dict[str, Any]:
    """One run of ``client`` (in a worker process); returns a :class:`Run` as a dict."""
    address = ServerAddress(**server)
    gc.collect()
    if client == OPENAI:
        result = asyncio.run(_openai(address, query))
    else:
        result = trio.run(runner_for(client), address, query)
    return dataclasses.asdict(result)


def runner_for(client: str) -> Callable[[ServerAddress, dict[str, Any]], Awaitable[Run]]:
    """The Trio run of ``client`` (``openai`` runs under asyncio instead)."""
    if client == TREALTIME:
        return _trealtime
    return functools.partial(_bare, bare_opener(client))


async def _trealtime(server: ServerAddress, query: dict[str, Any]) -> Run:
    from trealtime.events import InputAudioBufferCleared, InvalidServerEvent, UnknownServerEvent

    fallback = (InvalidServerEvent, UnknownServerEvent)
    async with trealtime_session(server, query) as session:
        events = odd = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await trealtime_trigger(session)
        async for event in session:
            # Skip session.created/updated, queued (and decoded) before the clock started.
            if events or isinstance(event, InputAudioBufferCleared):
                events += 1
            if isinstance(event, fallback):
                odd += 1
            if event.event_id == END_ID:
                break
        cpu1, wall1 = time.process_time(), time.perf_counter()
    return Run(events, cpu1 - cpu0, wall1 - wall0, odd)


async def _bare(opener: Opener, server: ServerAddress, query: dict[str, Any]) -> Run:
    """A floor client: raw messages until the end frame, nothing decoded."""
    from benchmarks.fixtures import TRIGGER_JSON

    async with opener(server, query) as ws:
        events = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await ws.send_message(TRIGGER_JSON)
        while True:
            message = await ws.get_message()
            events += 1
            if isinstance(message, str) and message.startswith(_END_PREFIX):
                break
        cpu1, wall1 = time.process_time(), time.perf_counter()
    return Run(events, cpu1 - cpu0, wall1 - wall0)


async def _openai(server: ServerAddress, query: dict[str, Any]) -> Run:
    async with openai_connection(server, query) as connection:
        events = odd = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await connection.input_audio_buffer.clear()
        async for event in connection:
            events += 1
            if isinstance(event, dict):
                odd += 1
            elif event.event_id == END_ID:
                break
        cpu1, wall1 = time.process_time(), time.perf_counter()
    return Run(events, cpu1 - cpu0, wall1 - wall0, odd)
