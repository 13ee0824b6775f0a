"""Command line: ``python -m benchmarks [--quick] [--only NAME] [--output-dir DIR] ...``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from benchmarks import progress, registry, report
from benchmarks.chart import ChartUnavailable, write_chart
from benchmarks.config import RunConfig
from benchmarks.contenders import ContenderUnavailable, environment, openai_realtime
from benchmarks.results import RunResult, ScenarioResult
from benchmarks.scenario import Scenario

DEFAULT_OUTPUT = Path("benchmark-results")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="trealtime benchmark harness"
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (under a minute)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this scenario (repeatable); see --list",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="DIR",
        help="write benchmarks.json, benchmarks.md and benchmarks.png here "
        f"(default: {DEFAULT_OUTPUT}/)",
    )
    parser.add_argument("--no-output", action="store_true", help="write no files")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the JSON here")
    parser.add_argument(
        "--repetitions", type=int, metavar="N", help="override the in-process repetitions"
    )
    parser.add_argument(
        "--sample-seconds", type=float, metavar="S", help="override the target time per sample"
    )
    parser.add_argument(
        "--rounds", type=int, metavar="N", help="override the rounds of the loopback scenarios"
    )
    parser.add_argument("--list", action="store_true", help="list scenarios and exit")
    parser.add_argument("--quiet", action="store_true", help="no live progress line on stderr")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 if any target FAILs"
    )
    return parser.parse_args(argv)


def _config(args: argparse.Namespace) -> RunConfig:
    config = RunConfig.smoke() if args.quick else RunConfig.full()
    if args.repetitions is not None:
        config = dataclasses.replace(config, repetitions=args.repetitions)
    if args.sample_seconds is not None:
        config = dataclasses.replace(config, sample_seconds=args.sample_seconds)
    if args.rounds is not None:
        config = dataclasses.replace(config, rounds=args.rounds)
    return config


def _run_one(scenario: Scenario, config: RunConfig) -> ScenarioResult:
    """Run a scenario; a crash becomes an error result (the other scenarios still run)."""
    progress.begin(scenario.name)
    started = time.perf_counter()
    try:
        result = scenario.run(config)
    except Exception as exc:
        progress.end()
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        result = ScenarioResult(scenario.name, scenario.description, (), (), error=error)
    progress.end()
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


def _load_average() -> str:
    """The 1-minute load average: how busy the machine was (other processes add noise)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for scenario in registry.SCENARIOS:
            print(f"{scenario.name:12} {scenario.description}")
        return 0
    try:
        scenarios = registry.select(args.only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress.enable(not args.quiet)
    config = _config(args)
    try:
        openai_realtime()
    except ContenderUnavailable as exc:
        print(f"note: {exc}; the comparisons with openai are skipped", file=sys.stderr)

    load_at_start = _load_average()
    command = shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)])
    started = time.perf_counter()
    results: list[ScenarioResult] = []
    for scenario in scenarios:
        print(f"running {scenario.name}: {scenario.description} ...", flush=True)
        result = _run_one(scenario, config)
        results.append(result)
        for item in result.targets:
            print("  " + report.target_line(result.scenario, item))
        if result.error is not None:
            print(f"  ERROR  {result.scenario}: {result.error}")
        print(f"  ({result.seconds:.1f} s)", flush=True)

    env = environment()
    env["load average"] = f"{load_at_start} at start, {_load_average()} at end"
    run = RunResult(
        quick=config.quick,
        repetitions=config.repetitions,
        sample_seconds=config.sample_seconds,
        environment=env,
        scenarios=tuple(results),
        command=command,
        seconds=time.perf_counter() - started,
    )
    chart_name: str | None = None
    written: list[Path] = []
    if not args.no_output:
        out: Path = args.output_dir
        out.mkdir(parents=True, exist_ok=True)
        try:
            written.append(write_chart(run, out / "benchmarks.png"))
            chart_name = "benchmarks.png"
        except ChartUnavailable as exc:
            print(f"note: no chart: {exc}", file=sys.stderr)
        report.write_json(run, out / "benchmarks.json")
        written.append(out / "benchmarks.json")
    text = report.markdown(run, chart=chart_name)
    if not args.no_output:
        (args.output_dir / "benchmarks.md").write_text(text + "\n", encoding="utf-8")
        written.append(args.output_dir / "benchmarks.md")
    if args.json is not None:
        report.write_json(run, args.json)
        written.append(args.json)
    print()
    print(text)
    if written:
        print("\nwrote " + ", ".join(str(p) for p in written))
    if any(s.error is not None for s in run.scenarios):
        return 1
    return 1 if args.strict and run.failed else 0
