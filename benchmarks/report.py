"""Reporting: PASS/FAIL lines, the final Markdown tables, and the JSON file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from benchmarks.results import Measurement, Metric, Ratio, RunResult, ScenarioResult


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def _us(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def quantity(value: float | None, unit: str) -> str:
    """A value with its unit, rounded for reading."""
    if value is None:
        return "n/a"
    if unit == "x":
        return _x(value)
    if unit == "KiB/min":
        return f"{value:+.2f} KiB/min"
    if unit in ("sessions", "events/s"):
        return f"{value:,.0f} {unit}"
    if unit.startswith("%"):
        return f"{value:.2f} {unit}"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def _value(item: Ratio | Metric) -> str:
    return _x(item.value) if isinstance(item, Ratio) else quantity(item.value, item.unit)


def _spread(item: Ratio | Metric) -> str:
    if item.low is None or item.high is None:
        return ""
    if isinstance(item, Ratio):
        return f"{_x(item.low)}-{_x(item.high)}"
    return f"{quantity(item.low, item.unit)} to {quantity(item.high, item.unit)}"


def _status(item: Ratio | Metric) -> str:
    return "**FAIL**" if item.status == "FAIL" else item.status


def target_line(scenario: str, item: Ratio | Metric) -> str:
    """A one-line verdict for a ratio or metric that has a target."""
    target = f"target {item.target}" if item.target is not None else "no target"
    if item.value is None:
        why = f": {item.missing}" if item.missing else ""
        return f"{item.status}  {scenario} [{item.case}] {item.label}: not measured{why} ({target})"
    return f"{item.status}  {scenario} [{item.case}] {item.label} = {_value(item)} ({target})"


_ITEM_HEADER = "| scenario | case | {label} | {value} | range | target | status |"
_ITEM_RULE = "|---|---|---|---:|---|---|---|"


def _item_row(scenario: str, item: Ratio | Metric) -> str:
    target = "" if item.target is None else str(item.target)
    return (
        f"| {scenario} | {item.case} | {item.label} | **{_value(item)}** | {_spread(item)} "
        f"| {target} | {_status(item)} |"
    )


def targets_table(run: RunResult) -> list[str]:
    lines = [_ITEM_HEADER.format(label="measure", value="value"), _ITEM_RULE]
    lines += [_item_row(scenario, item) for scenario, item in run.targets]
    for s in run.scenarios:
        if s.error is not None:
            lines.append(f"| {s.scenario} | | error | | | | **ERROR** |")
    return lines


def ratio_table(run: RunResult) -> list[str]:
    lines = [_ITEM_HEADER.format(label="ratio", value="median"), _ITEM_RULE]
    return lines + [_item_row(s.scenario, r) for s in run.scenarios for r in s.ratios]


def metric_table(run: RunResult) -> list[str]:
    lines = [_ITEM_HEADER.format(label="measure", value="value"), _ITEM_RULE]
    return lines + [_item_row(s.scenario, m) for s in run.scenarios for m in s.metrics]


def _baseline(measurements: tuple[Measurement, ...], case: str) -> float | None:
    for m in measurements:
        if m.case == case and m.contender == "trealtime":
            return m.median
    return None


def time_table(run: RunResult) -> list[str]:
    lines = [
        "| scenario | case | contender | median | min-max | vs trealtime |",
        "|---|---|---|---:|---|---:|",
    ]
    for s in run.scenarios:
        for m in s.measurements:
            base = _baseline(s.measurements, m.case)
            rel = "" if not base else _x(m.median / base)
            lines.append(
                f"| {s.scenario} | {m.case} | {m.contender} | {_us(m.median)} {m.unit} "
                f"| {_us(m.low)}-{_us(m.high)} | {rel} |"
            )
    return lines


def markdown(run: RunResult, *, chart: str | None = None) -> str:
    mode = "quick smoke run" if run.quick else "full run"
    env = run.environment
    versions = ", ".join(
        f"{name} {env[name]}"
        for name in ("openai", "websockets", "pydantic", "trio", "trio-websocket", "wsproto", "h11")
        if name in env
    )
    lines = [
        f"## trealtime benchmarks ({mode})",
        "",
        f"`{run.command}` on Python {env.get('python')}, {env.get('platform')} "
        f"({env.get('cpus', '?')} CPUs), in {run.seconds:.0f} s; {versions}; load average "
        f"{env.get('load average', '?')}.",
        "",
        f"In-process scenarios: {run.repetitions} interleaved repetitions of "
        f"~{run.sample_seconds:g} s per contender; loopback scenarios: the server in a "
        "separate process, the clients in rotating order, several rounds.  Values are medians "
        "over repetitions (ratios: of the paired per-repetition ratios); ranges are the extremes.",
        "",
        "### Targets",
        "",
        *targets_table(run),
    ]
    if chart:
        lines += ["", f"![benchmark ratios]({chart})"]
    lines += [
        "",
        "### Ratios (> 1 means the denominator is faster / smaller)",
        "",
        *ratio_table(run),
        "",
        "### Measurements",
        "",
        *metric_table(run),
        "",
        "### Times (context for the ratios; absolute numbers depend on the machine)",
        "",
        *time_table(run),
    ]
    notes = [(s.scenario, n) for s in run.scenarios for n in s.notes]
    notes += [(s.scenario, f"ERROR: {s.error}") for s in run.scenarios if s.error]
    if notes:
        lines += ["", "### Notes", ""]
        lines += [f"- {scenario}: {note}" for scenario, note in notes]
    return "\n".join(lines)


def _item_json(item: Ratio | Metric) -> dict[str, Any]:
    data = dataclasses.asdict(item)
    data["label"] = item.label
    data["status"] = item.status
    return data


def _scenario_json(result: ScenarioResult) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data["ratios"] = [_item_json(r) for r in result.ratios]
    data["metrics"] = [_item_json(m) for m in result.metrics]
    return data


def to_json(run: RunResult) -> dict[str, Any]:
    data = dataclasses.asdict(run)
    data["scenarios"] = [_scenario_json(s) for s in run.scenarios]
    data["failed"] = run.failed
    return data


def write_json(run: RunResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # --json may name a directory not made yet
    path.write_text(json.dumps(to_json(run), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
