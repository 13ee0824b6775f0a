"""import: how long ``import trealtime`` takes in a fresh interpreter, with openai for context.

Each sample is a new ``python -c`` process that times only the import statement
(``time.perf_counter_ns()`` around it; interpreter start-up excluded), so nothing is cached in
``sys.modules``.  Bytecode caches are warm: a first, unmeasured run of each writes them under
:data:`PYCACHE` (``PYTHONPYCACHEPREFIX``), for every contender alike.  The modules are
sampled in rotating order; medians are reported, and ``python -X importtime`` names the
slowest modules under ``trealtime``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import progress
from benchmarks.config import RunConfig
from benchmarks.contenders import OPENAI, TREALTIME, ContenderUnavailable, openai_realtime
from benchmarks.loopback import ROOT
from benchmarks.results import Measurement, Metric, Ratio, ScenarioResult

OPENAI_REALTIME = "openai realtime"
CASE = "fresh interpreter"
UNIT = "ms"
MODULES = {
    TREALTIME: "import trealtime",
    OPENAI: "import openai",
    OPENAI_REALTIME: "import openai.resources.realtime.realtime, websockets",
}
_SNIPPET = (
    "import time\nt = time.perf_counter_ns()\n{statement}\nprint(time.perf_counter_ns() - t)\n"
)


#: Bytecode caches for the measured interpreters (kept out of the source tree and of
#: site-packages, and written even where ``PYTHONDONTWRITEBYTECODE`` is set).
PYCACHE = Path(tempfile.gettempdir()) / "trealtime-bench-pycache"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _import_ms(statement: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _SNIPPET.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    ).stdout
    return int(out.split()[-1]) / 1e6


def _slowest(env: dict[str, str], limit: int = 5) -> list[str]:
    """The slowest modules (self time) imported by ``import trealtime``, from -X importtime."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import trealtime"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    ).stderr
    rows: list[tuple[int, int, str]] = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        rows.append((int(self_us), int(cumulative_us), name.strip()))
    total = max((cum for _, cum, name in rows if name == "trealtime"), default=0)
    top = sorted(rows, reverse=True)[:limit]
    return [f"total {total / 1000:.0f} ms"] + [f"{n} {s / 1000:.1f} ms" for s, _, n in top]


class ImportScenario:
    name = "import"
    description = "import time in a fresh interpreter (ms), with openai for context"

    def run(self, config: RunConfig) -> ScenarioResult:
        env = _env()
        names = [TREALTIME]
        notes: list[str] = []
        try:
            openai_realtime()
            # The quick run skips bare ``import openai`` (the realtime import includes it).
            names += [OPENAI_REALTIME] if config.quick else [OPENAI, OPENAI_REALTIME]
        except ContenderUnavailable as exc:
            notes.append(f"openai not measured: {exc}")
        for name in names:
            progress.step(f"warm-up {name}")
            _import_ms(MODULES[name], env)
        rounds = 1 if config.quick else 9
        samples: dict[str, list[float]] = {name: [] for name in names}
        for rnd in range(rounds):
            for k in range(len(names)):
                name = names[(rnd + k) % len(names)]
                progress.step(f"import {name}", rnd + 1, rounds)
                samples[name].append(_import_ms(MODULES[name], env))
        measurements = tuple(
            Measurement.from_values(CASE, name, UNIT, values) for name, values in samples.items()
        )
        ratios = tuple(
            Ratio.from_pairs(CASE, name, TREALTIME, samples[name], samples[TREALTIME])
            for name in names
            if name != TREALTIME
        )
        metrics = (Metric.from_values(CASE, "import trealtime", UNIT, samples[TREALTIME]),)
        notes.append(
            "slowest modules under trealtime (-X importtime, self time): "
            + ", ".join(_slowest(env))
        )
        notes.append("statements timed: " + "; ".join(f"{n}: `{MODULES[n]}`" for n in names))
        return ScenarioResult(
            self.name, self.description, measurements, ratios, tuple(notes), metrics
        )
