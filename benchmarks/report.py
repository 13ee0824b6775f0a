"""Reporting: PASS/FAIL lines, the final Markdown tables, and the JSON file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from benchmarks.results import Measurement, Ratio, RunResult, ScenarioResult


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def _us(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def target_line(scenario: str, ratio: Ratio) -> str:
    """A one-line verdict for a ratio that has a target."""
    target = f"target {ratio.target}" if ratio.target is not None else "no target"
    if ratio.value is None:
        return f"{ratio.status}  {scenario} [{ratio.case}] {ratio.label}: not measured ({target})"
    return f"{ratio.status}  {scenario} [{ratio.case}] {ratio.label} = {_x(ratio.value)} ({target})"


def ratio_table(run: RunResult) -> list[str]:
    lines = [
        "| scenario | case | ratio | median | range | target | status |",
        "|---|---|---|---:|---|---|---|",
    ]
    for s in run.scenarios:
        for r in s.ratios:
            spread = "" if r.low is None or r.high is None else f"{_x(r.low)}-{_x(r.high)}"
            target = "" if r.target is None else str(r.target)
            status = r.status if r.status != "FAIL" else "**FAIL**"
            lines.append(
                f"| {s.scenario} | {r.case} | {r.label} | **{_x(r.value)}** | {spread} "
                f"| {target} | {status} |"
            )
    return lines


def _baseline(measurements: tuple[Measurement, ...], case: str) -> float | None:
    for m in measurements:
        if m.case == case and m.contender == "trealtime":
            return m.median_us
    return None


def time_table(run: RunResult) -> list[str]:
    lines = [
        "| scenario | case | contender | median | min-max | vs trealtime |",
        "|---|---|---|---:|---|---:|",
    ]
    for s in run.scenarios:
        for m in s.measurements:
            base = _baseline(s.measurements, m.case)
            rel = "" if base is None else _x(m.median_us / base)
            lines.append(
                f"| {s.scenario} | {m.case} | {m.contender} | {_us(m.median_us)} {m.unit} "
                f"| {_us(m.min_us)}-{_us(m.max_us)} | {rel} |"
            )
    return lines


def markdown(run: RunResult) -> str:
    mode = "quick smoke run" if run.quick else "full run"
    env = run.environment
    lines = [
        f"## trealtime benchmarks ({mode})",
        "",
        f"{run.repetitions} interleaved repetitions per contender, ~{run.sample_seconds:g} s per "
        f"sample; Python {env.get('python')} on {env.get('machine')}, openai {env.get('openai')}, "
        f"orjson {env.get('orjson')}.",
        "",
        "### Ratios (median of paired per-repetition ratios; > 1 means the denominator is faster)",
        "",
        *ratio_table(run),
        "",
        "### Times (context for the ratios; absolute numbers depend on the machine)",
        "",
        *time_table(run),
    ]
    notes = [(s.scenario, n) for s in run.scenarios for n in s.notes]
    if notes:
        lines += ["", "### Notes", ""]
        lines += [f"- {scenario}: {note}" for scenario, note in notes]
    return "\n".join(lines)


def _ratio_json(ratio: Ratio) -> dict[str, Any]:
    data = dataclasses.asdict(ratio)
    data["label"] = ratio.label
    data["status"] = ratio.status
    return data


def _scenario_json(result: ScenarioResult) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data["ratios"] = [_ratio_json(r) for r in result.ratios]
    return data


def to_json(run: RunResult) -> dict[str, Any]:
    data = dataclasses.asdict(run)
    data["scenarios"] = [_scenario_json(s) for s in run.scenarios]
    data["failed"] = run.failed
    return data


def write_json(run: RunResult, path: Path) -> None:
    path.write_text(json.dumps(to_json(run), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
