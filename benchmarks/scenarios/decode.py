"""decode: parse a realistic voice turn of server frames into typed events.

Contenders, all fed the same JSON ``str`` frames:

- ``trealtime``: ``trealtime.events.decode_server_event(text)``;
- ``openai``: ``AsyncRealtimeConnection.parse_event(text)`` (the SDK's own method, called on a
  connection built around a stub socket; it does ``json.loads`` + ``construct_type_unchecked``);
- ``orjson.loads``: the floor, parsing without building typed events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from benchmarks.config import RunConfig
from benchmarks.contenders import OPENAI, TREALTIME, ContenderUnavailable, trealtime_events
from benchmarks.fixtures import voice_turn
from benchmarks.openai_stub import stub_connection
from benchmarks.results import Measurement, Ratio, ScenarioResult, Target
from benchmarks.timing import Contender, measure_interleaved, sync_batch_over

ORJSON = "orjson.loads"
UNIT = "µs/event"

#: trealtime must decode at least this many times faster than openai.
VS_OPENAI = Target(">=", 15)
#: trealtime may cost at most this many bare orjson parses.
VS_ORJSON = Target("<=", 3)


class DecodeScenario:
    name = "decode"
    description = "server frame → typed event, voice-turn mix (µs per event)"

    def run(self, config: RunConfig) -> ScenarioResult:
        frames = voice_turn().frames
        case = f"voice turn ({len(frames)} frames)"
        notes: list[str] = [_mix_note(frames)]
        contenders: list[Contender] = []
        missing: dict[str, str] = {}

        try:
            tr = trealtime_events()
        except ContenderUnavailable as exc:
            missing[TREALTIME] = str(exc)
        else:
            notes += _check_trealtime(tr.decode_server_event, tr.fallback_classes, frames)
            contenders.append(_contender(TREALTIME, tr.decode_server_event, frames))

        try:
            connection, _ = stub_connection()
        except ContenderUnavailable as exc:
            missing[OPENAI] = str(exc)
        else:
            notes += _check_openai(connection.parse_event, frames)
            contenders.append(_contender(OPENAI, connection.parse_event, frames))

        contenders.append(_contender(ORJSON, orjson.loads, frames))

        samples = measure_interleaved(
            contenders, repetitions=config.repetitions, sample_ns=config.sample_ns
        )
        measurements = tuple(Measurement.from_samples(case, UNIT, s) for s in samples.values())

        def ratio(numerator: str, denominator: str, target: Target) -> Ratio:
            absent = missing.get(numerator) or missing.get(denominator)
            if absent is not None:
                return Ratio(case, numerator, denominator, None, target=target, missing=absent)
            return Ratio.paired(case, samples[numerator], samples[denominator], target)

        ratios = (ratio(OPENAI, TREALTIME, VS_OPENAI), ratio(TREALTIME, ORJSON, VS_ORJSON))
        notes += [f"{name} not measured: {why}" for name, why in missing.items()]
        return ScenarioResult(self.name, self.description, measurements, ratios, tuple(notes))


def _contender(name: str, fn: Callable[[str], object], frames: tuple[str, ...]) -> Contender:
    return Contender(name, sync_batch_over(fn, frames), ops_per_loop=len(frames))


def _mix_note(frames: tuple[str, ...]) -> str:
    kinds = Counter(orjson.loads(f)["type"] for f in frames)
    top = ", ".join(f"{n}x {k}" for k, n in kinds.most_common(2))
    mean = sum(len(f) for f in frames) / len(frames)
    return f"mix: {top}, 1-2x each of {len(kinds) - 2} other types; mean frame {mean:,.0f} chars"


def _check_trealtime(
    decode: Callable[[str], object], fallbacks: tuple[type, ...], frames: tuple[str, ...]
) -> list[str]:
    """Report frames trealtime did not decode to a typed event (no work-around applied)."""
    problems: list[str] = []
    for frame in frames:
        event = decode(frame)
        if isinstance(event, fallbacks):
            detail = getattr(event, "error", None)
            problems.append(
                f"trealtime decoded {orjson.loads(frame)['type']!r} to {type(event).__name__}"
                f" (error={detail!r}); frame: {frame[:300]}"
            )
    if not fallbacks:
        problems.append("trealtime.events has no InvalidServerEvent/UnknownServerEvent to check")
    return problems


def _check_openai(parse: Callable[[str], Any], frames: tuple[str, ...]) -> list[str]:
    """Report frames the SDK did not parse to its typed model for that event type."""
    problems: list[str] = []
    for frame in frames:
        event = parse(frame)
        if isinstance(event, dict) or getattr(event, "type", None) != orjson.loads(frame)["type"]:
            problems.append(f"openai parsed {orjson.loads(frame)['type']!r} to {type(event)!r}")
    return problems
