"""Command line: ``python -m benchmarks [--quick] [--json PATH] [--only NAME] [--list]``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import registry, report
from benchmarks.config import RunConfig
from benchmarks.contenders import ContenderUnavailable, environment, openai_realtime
from benchmarks.results import RunResult, ScenarioResult


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="trealtime benchmark harness"
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (a few seconds)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write results as JSON here")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this scenario (repeatable); see --list",
    )
    parser.add_argument(
        "--repetitions", type=int, metavar="N", help="override the number of repetitions"
    )
    parser.add_argument(
        "--sample-seconds", type=float, metavar="S", help="override the target time per sample"
    )
    parser.add_argument("--list", action="store_true", help="list scenarios and exit")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 if any target FAILs"
    )
    return parser.parse_args(argv)


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

    config = RunConfig.smoke() if args.quick else RunConfig.full()
    if args.repetitions is not None:
        config = dataclasses.replace(config, repetitions=args.repetitions)
    if args.sample_seconds is not None:
        config = dataclasses.replace(config, sample_seconds=args.sample_seconds)
    try:
        openai_realtime()
    except ContenderUnavailable as exc:
        print(f"note: {exc}; comparing trealtime with orjson only", file=sys.stderr)

    results: list[ScenarioResult] = []
    for scenario in scenarios:
        print(f"running {scenario.name}: {scenario.description} ...", flush=True)
        started = time.perf_counter()
        result = scenario.run(config)
        results.append(result)
        for ratio in result.ratios:
            if ratio.target is not None:
                print("  " + report.target_line(result.scenario, ratio))
        print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)

    run = RunResult(
        quick=config.quick,
        repetitions=config.repetitions,
        sample_seconds=config.sample_seconds,
        environment=environment(),
        scenarios=tuple(results),
    )
    print()
    print(report.markdown(run))
    if args.json is not None:
        report.write_json(run, args.json)
        print(f"\nwrote {args.json}")
    return 1 if args.strict and run.failed else 0
