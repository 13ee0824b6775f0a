"""The registered scenarios, in run order.  New scenarios are appended here."""

from __future__ import annotations

from benchmarks.scenario import Scenario
from benchmarks.scenarios.compression import CompressionScenario
from benchmarks.scenarios.concurrency import ConcurrencyScenario
from benchmarks.scenarios.decode import DecodeScenario
from benchmarks.scenarios.e2e import EndToEndScenario
from benchmarks.scenarios.encode import EncodeScenario
from benchmarks.scenarios.importtime import ImportScenario
from benchmarks.scenarios.latency import LatencyScenario
from benchmarks.scenarios.memory import MemoryScenario

SCENARIOS: list[Scenario] = [
    DecodeScenario(),
    EncodeScenario(),
    EndToEndScenario(),
    LatencyScenario(),
    ConcurrencyScenario(),
    MemoryScenario(),
    ImportScenario(),
    CompressionScenario(),
]


def select(names: list[str] | None) -> list[Scenario]:
    """Return the scenarios named in ``names`` (all if ``None``), in registry order."""
    if not names:
        return list(SCENARIOS)
    known = {s.name for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [s for s in SCENARIOS if s.name in names]
