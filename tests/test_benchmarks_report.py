"""What decides the benchmark harness's verdicts (``benchmarks/``), without running scenarios.

Only what grades or reports a result is tested here (the harness must not weigh more in the
suite than the library it measures; ``python -m benchmarks --quick`` in CI runs the rest):

- ``timing``: interleaved sampling keeps the repetitions paired (the ratios' basis);
- ``results``: targets graded at their boundaries, margins, paired ratios, medians, records;
- ``report``: the Markdown tables (rows as in the README) and the JSON file;
- ``chart``: the bars' colours are the verdicts, and the note when matplotlib is missing;
- ``cli``: ``--strict``, a crashing scenario, a missing ``openai``, the files written, with fake
  scenarios in place of ``benchmarks.registry.SCENARIOS``.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from benchmarks import chart, cli, contenders, progress, registry, report, timing
from benchmarks.config import RunConfig
from benchmarks.contenders import ContenderUnavailable
from benchmarks.results import (
    Measurement,
    Metric,
    Ratio,
    RunResult,
    ScenarioResult,
    Status,
    Target,
    grade,
)
from benchmarks.scenario import Scenario
from benchmarks.timing import Contender, Samples

Comparison = Literal[">=", "<=", "<"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ENVIRONMENT = {
    "python": "3.11.7",
    "platform": "Linux-test",
    "cpus": "2",
    "trealtime": "0.1.0",
    "openai": "3.54.0",
    "websockets": "15.0.1",
    "pydantic": "2.14.3",
    "orjson": "3.13.0",
    "trio": "0.35.0",
    "trio-websocket": "0.12.2",
    "wsproto": "1.3.2",
    "h11": "0.16.0",
    "load average": "0.61 at start, 1.00 at end",
}


@pytest.fixture(autouse=True)
def _restore_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with the progress display in its initial state, and leaves it so."""
    monkeypatch.setattr(progress, "_enabled", True)
    monkeypatch.setattr(progress, "_scenario", "")
    monkeypatch.setattr(progress, "_phase", "")
    monkeypatch.setattr(progress, "_started", 0.0)
    monkeypatch.setattr(progress, "_last_draw", 0.0)


# -- builders -------------------------------------------------------------------------------------

DECODE_CASE = "voice turn (106 frames)"
LATENCY_CASE = "load (100 sessions)"


def _decode_vs_openai(value: float = 20.2) -> Ratio:
    return Ratio(DECODE_CASE, "openai", "trealtime", value, 18.5, 27.4, Target(">=", 15))


def _decode_vs_orjson() -> Ratio:
    return Ratio(DECODE_CASE, "trealtime", "orjson.loads", 2.0, 1.42, 2.2, Target("<=", 3))


def _latency_p50(value: float = 922.0) -> Metric:
    target = Target("<", 100, "µs")
    return Metric(LATENCY_CASE, "trealtime - floor p50", value, "µs", 599.0, 1539.0, target)


def _sessions() -> Metric:
    target = Target(">=", 200, "sessions")
    name = "max real-time sessions (p99 lag < 20 ms)"
    return Metric("one core", name, 100, "sessions", target=target)


def _idle_heap() -> Metric:
    target = Target("<", 256, "KiB")
    return Metric("idle", "heap per idle session", 44.5, "KiB", target=target)


def _growth(value: float = 0.32) -> Metric:
    target = Target("<", 1, "KiB/min")
    return Metric("replay, new items every turn", "heap growth", value, "KiB/min", target=target)


def _scenario(
    name: str,
    *,
    ratios: Sequence[Ratio] = (),
    metrics: Sequence[Metric] = (),
    measurements: Sequence[Measurement] = (),
    notes: Sequence[str] = (),
    error: str | None = None,
) -> ScenarioResult:
    return ScenarioResult(
        name,
        f"{name} description",
        tuple(measurements),
        tuple(ratios),
        tuple(notes),
        tuple(metrics),
        seconds=1.5,
        error=error,
    )


def _run(*scenarios: ScenarioResult, quick: bool = False) -> RunResult:
    return RunResult(
        quick=quick,
        repetitions=31,
        sample_seconds=0.1,
        environment=dict(ENVIRONMENT),
        scenarios=scenarios,
        seconds=214.0,
    )


def _readme_run() -> RunResult:
    """A run whose targets are the README's "Targets (one full run)" table."""
    e2e_floor = Ratio("client CPU per event", "trealtime", "floor", 0.30, 0.28, 0.40)
    return _run(
        _scenario("decode", ratios=[_decode_vs_openai(), _decode_vs_orjson()]),
        _scenario("e2e", ratios=[e2e_floor]),
        _scenario("latency", metrics=[_latency_p50()]),
        _scenario("concurrency", metrics=[_sessions()]),
        _scenario("memory", metrics=[_idle_heap(), _growth()]),
    )


def _section(markdown: str, title: str) -> list[str]:
    """The lines of one ``### title`` section, up to the next section."""
    lines = markdown.splitlines()
    start = lines.index(f"### {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("### ")), len(lines))
    return [line for line in lines[start:end] if line]


# -- timing ---------------------------------------------------------------------------------------


@dataclass
class _Machine:
    """Fake machine noise: every ``gc.collect()`` (one before each sample) slows it down."""

    collects: int = 0
    log: list[tuple[str, int]] = field(default_factory=list)

    def collect(self) -> int:
        self.collects += 1
        return 0

    def contender(self, name: str, ns_per_loop: int, ops_per_loop: int = 1) -> Contender:
        """A contender whose batch costs ``ns_per_loop`` per loop times the current slowdown."""

        def run(loops: int) -> int:
            self.log.append((name, loops))
            return loops * ns_per_loop * (1 + self.collects)

        return Contender(name, run, ops_per_loop)


def test_measure_interleaved_rotates_the_order_and_keeps_repetitions_paired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Repetition r starts with contender r (mod n); every sample follows a gc.collect(); each
    contender's per-op times are stored in repetition order, per operation."""
    machine = _Machine()
    monkeypatch.setattr(timing, "gc", machine)
    fleet = [
        machine.contender("a", 100),
        machine.contender("b", 250),
        machine.contender("c", 1_000, ops_per_loop=4),
    ]
    samples = timing.measure_interleaved(fleet, repetitions=3, sample_ns=1_000_000)

    assert machine.log[:-9] == [
        *[("a", n) for n in (1, 10, 100, 1_000)],
        *[("b", n) for n in (1, 10, 100, 1_000)],
        *[("c", n) for n in (1, 10, 100)],
    ]
    loops = {"a": 10_000, "b": 4_000, "c": 1_000}
    order = ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert machine.log[-9:] == [(name, loops[name]) for name in order]
    assert machine.collects == 9
    # Sample k (1-based, in run order) runs at slowdown 1 + k.
    assert samples["a"].ns_per_op == (200.0, 700.0, 900.0)
    assert samples["b"].ns_per_op == (750.0, 1_250.0, 2_500.0)
    assert samples["c"].ns_per_op == (1_000.0, 1_500.0, 2_000.0)
    assert samples["c"] == Samples("c", (1_000.0, 1_500.0, 2_000.0), 1_000, 4_000)
    assert list(samples) == ["a", "b", "c"]


# -- results: targets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparison", "threshold", "value", "met"),
    [
        (">=", 15, 15.0, True),
        (">=", 15, 14.999, False),
        (">=", 15, 15.001, True),
        ("<=", 3, 3.0, True),
        ("<=", 3, 3.001, False),
        ("<=", 3, 2.999, True),
        ("<", 100, 100.0, False),
        ("<", 100, 99.999, True),
        ("<", 100, 100.001, False),
        ("<", 1, -0.5, True),
    ],
)
def test_target_met_by_at_and_around_the_threshold(
    comparison: Comparison, threshold: float, value: float, met: bool
) -> None:
    """``>=`` and ``<=`` include the threshold, ``<`` excludes it."""
    target = Target(comparison, threshold)
    assert target.met_by(value) is met
    assert grade(target, value) == ("PASS" if met else "FAIL")


@pytest.mark.parametrize(
    ("comparison", "threshold", "value", "margin"),
    [
        (">=", 15, 30.0, 2.0),
        (">=", 15, 7.5, 0.5),
        (">=", 15, 15.0, 1.0),
        (">=", 0, 5.0, math.inf),
        ("<", 100, 50.0, 2.0),
        ("<", 100, 200.0, 0.5),
        ("<=", 3, 6.0, 0.5),
        ("<=", 3, 0.0, math.inf),
        ("<", 1, -0.5, math.inf),
    ],
)
def test_target_margin_is_value_over_threshold_on_the_passing_side(
    comparison: Comparison, threshold: float, value: float, margin: float
) -> None:
    """``>=``: value / threshold; ``<``/``<=``: threshold / value; zero or below: infinitely
    far on the passing side of an upper bound."""
    assert Target(comparison, threshold).margin(value) == margin


@pytest.mark.parametrize(
    ("target", "text"),
    [
        (Target(">=", 15), ">= 15x"),
        (Target("<=", 3), "<= 3x"),
        (Target(">=", 0.5), ">= 0.5x"),
        (Target("<", 100, "µs"), "< 100 µs"),
        (Target("<", 2000, "µs"), "< 2000 µs"),
        (Target(">=", 200, "sessions"), ">= 200 sessions"),
        (Target("<", 1, "KiB/min"), "< 1 KiB/min"),
    ],
)
def test_target_text(target: Target, text: str) -> None:
    """Ratios read ``>= 15x``; metrics carry their unit after a space."""
    assert str(target) == text


@pytest.mark.parametrize(
    ("target", "value", "status"),
    [
        (None, 1.0, "-"),
        (None, None, "-"),
        (Target(">=", 1), None, "SKIP"),
        (Target(">=", 1), 1.0, "PASS"),
        (Target(">=", 1), 0.99, "FAIL"),
    ],
)
def test_grade_all_four_statuses(
    target: Target | None, value: float | None, status: Status
) -> None:
    """No target: ``-`` (even with a value); no value: ``SKIP``; else PASS or FAIL."""
    assert grade(target, value) == status


# -- results: records -----------------------------------------------------------------------------


def test_ratio_is_the_median_of_paired_ratios_not_the_ratio_of_medians() -> None:
    """Per-repetition ratios 10, 0.5, 10: the median is 10 (the ratio of the medians would be
    20 / 3); low and high are the extreme per-repetition ratios."""
    ratio = Ratio.from_pairs("case", "openai", "trealtime", [10.0, 20.0, 30.0], [1.0, 40.0, 3.0])
    assert (ratio.value, ratio.low, ratio.high) == (10.0, 0.5, 10.0)
    assert ratio.label == "openai / trealtime"
    assert ratio.status == "-"


def test_ratio_paired_divides_numerator_times_by_denominator_times() -> None:
    """A slower numerator gives a ratio above 1 (the denominator is faster), per repetition."""
    slow = Samples("openai", (300.0, 200.0, 500.0), 10, 10)
    fast = Samples("trealtime", (10.0, 20.0, 10.0), 100, 100)
    ratio = Ratio.paired("case", slow, fast, Target(">=", 15))
    assert (ratio.numerator, ratio.denominator) == ("openai", "trealtime")
    assert (ratio.value, ratio.low, ratio.high) == (30.0, 10.0, 50.0)
    assert ratio.status == "PASS"
    assert Ratio.paired("case", fast, slow, Target(">=", 15)).status == "FAIL"


def test_ratio_pairs_must_have_equal_lengths() -> None:
    """Unpaired repetitions are an error, not silently dropped."""
    with pytest.raises(ValueError, match="zip"):
        Ratio.from_pairs("case", "a", "b", [1.0, 2.0], [1.0])


def test_ratio_without_a_value_is_skipped_when_it_has_a_target() -> None:
    missing = Ratio("case", "openai", "trealtime", None, target=Target(">=", 1), missing="no")
    assert missing.status == "SKIP"
    assert Ratio("case", "openai", "trealtime", None).status == "-"


def test_measurement_from_samples_is_in_microseconds() -> None:
    """ns per op become µs per op; median, extremes and batch size carried over."""
    samples = Samples("trealtime", (3_000.0, 1_000.0, 2_000.0, 4_000.0), 50, 5_300)
    m = Measurement.from_samples("case", "µs/event", samples)
    assert m == Measurement(
        "case", "trealtime", "µs/event", 2.5, 1.0, 4.0, (3.0, 1.0, 2.0, 4.0), 5_300
    )


def test_measurement_from_values_keeps_the_values() -> None:
    m = Measurement.from_values("case", "openai", "ms", [7.0, 3.0, 5.0])
    assert (m.median, m.low, m.high, m.samples, m.ops_per_sample) == (
        5.0,
        3.0,
        7.0,
        (7.0, 3.0, 5.0),
        1,
    )


def test_metric_from_values_takes_the_median() -> None:
    metric = Metric.from_values("case", "p99", "µs", [50.0, 150.0, 90.0], Target("<", 100, "µs"))
    assert (metric.value, metric.low, metric.high) == (90.0, 50.0, 150.0)
    assert metric.label == "p99"
    assert metric.status == "PASS"


def test_metric_without_samples_is_not_measured_and_skipped() -> None:
    metric = Metric.from_values("case", "p99", "µs", [], Target("<", 100, "µs"))
    assert (metric.value, metric.missing, metric.status) == (None, "no samples", "SKIP")


def test_scenario_targets_are_the_ratios_then_metrics_with_a_target() -> None:
    untargeted = Ratio("c", "a", "b", 1.0)
    result = _scenario(
        "s",
        ratios=[untargeted, _decode_vs_openai()],
        metrics=[Metric("c", "m", 1.0, "µs"), _idle_heap()],
    )
    assert result.targets == (_decode_vs_openai(), _idle_heap())


def test_run_failed_only_on_a_fail() -> None:
    """A SKIP or an untargeted value does not fail the run; one FAIL anywhere does."""
    skipped = Ratio("c", "openai", "trealtime", None, target=Target(">=", 1), missing="no")
    passing = _run(_scenario("a", ratios=[skipped, Ratio("c", "a", "b", 0.1)]))
    assert not passing.failed
    failing = _run(_scenario("a", ratios=[skipped]), _scenario("b", metrics=[_latency_p50()]))
    assert failing.failed
    assert failing.targets == (("a", skipped), ("b", _latency_p50()))
    assert failing.metrics == (_latency_p50(),)
    assert failing.ratios == (skipped,)


# -- report ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (None, "µs", "n/a"),
        (20.24, "x", "20.2x"),
        (2.0, "x", "2.00x"),
        (0.3241, "KiB/min", "+0.32 KiB/min"),
        (-0.5, "KiB/min", "-0.50 KiB/min"),
        (100.0, "sessions", "100 sessions"),
        (12_345.6, "events/s", "12,346 events/s"),
        (12.345, "% CPU", "12.35 % CPU"),
        (922.4, "µs", "922 µs"),
        (7_562.2, "µs", "7,562 µs"),
        (44.46, "KiB", "44.5 KiB"),
        (-250.0, "KiB", "-250 KiB"),
    ],
)
def test_quantity(value: float | None, unit: str, text: str) -> None:
    assert report.quantity(value, unit) == text


def test_targets_table_rows_are_the_readme_rows() -> None:
    """A FAIL is bolded, a PASS is not, a value is bolded; metric ranges use "to"."""
    markdown = report.markdown(_readme_run())
    assert _section(markdown, "Targets") == [
        "| scenario | case | measure | value | range | target | status |",
        "|---|---|---|---:|---|---|---|",
        "| decode | voice turn (106 frames) | openai / trealtime | **20.2x** | 18.5x-27.4x "
        "| >= 15x | PASS |",
        "| decode | voice turn (106 frames) | trealtime / orjson.loads | **2.00x** | 1.42x-2.20x "
        "| <= 3x | PASS |",
        "| latency | load (100 sessions) | trealtime - floor p50 | **922 µs** "
        "| 599 µs to 1,539 µs | < 100 µs | **FAIL** |",
        "| concurrency | one core | max real-time sessions (p99 lag < 20 ms) | **100 sessions** "
        "|  | >= 200 sessions | **FAIL** |",
        "| memory | idle | heap per idle session | **44.5 KiB** |  | < 256 KiB | PASS |",
        "| memory | replay, new items every turn | heap growth | **+0.32 KiB/min** "
        "|  | < 1 KiB/min | PASS |",
    ]


def test_ratio_and_measurement_tables_show_untargeted_items_with_a_dash() -> None:
    markdown = report.markdown(_readme_run())
    ratios = _section(markdown, "Ratios (> 1 means the denominator is faster / smaller)")
    assert ratios[0] == "| scenario | case | ratio | median | range | target | status |"
    assert ratios[-1] == (
        "| e2e | client CPU per event | trealtime / floor | **0.30x** | 0.28x-0.40x |  | - |"
    )
    assert len(ratios) == 2 + 3
    assert len(_section(markdown, "Measurements")) == 2 + 4


def test_a_skipped_target_is_shown_as_skip_and_not_measured() -> None:
    skipped = Ratio("c", "openai", "trealtime", None, target=Target(">=", 1), missing="no openai")
    run = _run(_scenario("e2e", ratios=[skipped]))
    assert _section(report.markdown(run), "Targets")[2] == (
        "| e2e | c | openai / trealtime | **n/a** |  | >= 1x | SKIP |"
    )
    assert report.target_line("e2e", skipped) == (
        "SKIP  e2e [c] openai / trealtime: not measured: no openai (target >= 1x)"
    )


def test_target_line_gives_the_verdict_value_and_target() -> None:
    assert report.target_line("latency", _latency_p50()) == (
        "FAIL  latency [load (100 sessions)] trealtime - floor p50 = 922 µs (target < 100 µs)"
    )
    assert report.target_line("decode", _decode_vs_openai()) == (
        "PASS  decode [voice turn (106 frames)] openai / trealtime = 20.2x (target >= 15x)"
    )


def test_markdown_links_the_chart_only_when_there_is_one() -> None:
    run = _readme_run()
    link = "![benchmark ratios](benchmarks.png)"
    assert link in report.markdown(run, chart="benchmarks.png").splitlines()
    assert "![benchmark ratios]" not in report.markdown(run)


def test_markdown_reports_a_crashed_scenario_and_notes() -> None:
    run = _run(
        _scenario("decode", ratios=[_decode_vs_openai()], notes=["mix: 80x delta"]),
        _scenario("e2e", error="RuntimeError: boom"),
    )
    markdown = report.markdown(run)
    assert _section(markdown, "Targets")[-1] == "| e2e | | error | | | | **ERROR** |"
    assert _section(markdown, "Notes") == [
        "- decode: mix: 80x delta",
        "- e2e: ERROR: RuntimeError: boom",
    ]


def test_markdown_has_no_notes_section_without_notes() -> None:
    assert "### Notes" not in report.markdown(_readme_run())


def test_time_table_compares_each_contender_with_trealtime_in_its_case() -> None:
    """ "vs trealtime" is the contender's median over trealtime's in the same case; blank where
    the case has no trealtime measurement."""
    measurements = [
        Measurement.from_values("cpu", "trealtime", "µs CPU/event", [13.4]),
        Measurement.from_values("cpu", "openai", "µs CPU/event", [88.44, 80.0, 90.0]),
        Measurement.from_values("other", "floor", "µs", [1_234.5]),
    ]
    run = _run(_scenario("e2e", measurements=measurements))
    times = _section(
        report.markdown(run),
        "Times (context for the ratios; absolute numbers depend on the machine)",
    )
    assert times[2:] == [
        "| e2e | cpu | trealtime | 13.4 µs CPU/event | 13.4-13.4 | 1.00x |",
        "| e2e | cpu | openai | 88.4 µs CPU/event | 80-90 | 6.60x |",
        "| e2e | other | floor | 1,234 µs | 1,234-1,234 |  |",
    ]


def _target_from(data: dict[str, Any] | None) -> Target | None:
    return None if data is None else Target(data["comparison"], data["threshold"], data["unit"])


def _item_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in data.items() if k not in ("label", "status")}
    fields["target"] = _target_from(data["target"])
    return fields


def _run_from_json(data: dict[str, Any]) -> RunResult:
    """Rebuild a RunResult from the JSON file's contents."""
    scenarios = tuple(
        ScenarioResult(
            scenario=s["scenario"],
            description=s["description"],
            measurements=tuple(
                Measurement(**{**m, "samples": tuple(m["samples"])}) for m in s["measurements"]
            ),
            ratios=tuple(Ratio(**_item_fields(r)) for r in s["ratios"]),
            notes=tuple(s["notes"]),
            metrics=tuple(Metric(**_item_fields(m)) for m in s["metrics"]),
            seconds=s["seconds"],
            error=s["error"],
        )
        for s in data["scenarios"]
    )
    fields = {k: v for k, v in data.items() if k not in ("scenarios", "failed")}
    return RunResult(**fields, scenarios=scenarios)


def test_json_file_round_trips_and_carries_labels_statuses_and_the_verdict(tmp_path: Path) -> None:
    """The file rebuilds the same run; every ratio and metric also carries its label and
    status, and the run its ``failed`` verdict; µ is written as UTF-8, not escaped."""
    measurement = Measurement.from_values(DECODE_CASE, "trealtime", "µs/event", [3.5, 3.4, 3.7])
    run = _run(
        _scenario("decode", ratios=[_decode_vs_openai()], measurements=[measurement]),
        _scenario("latency", metrics=[_latency_p50(), _sessions()], notes=["a note"]),
        _scenario("e2e", error="RuntimeError: boom"),
    )
    path = tmp_path / "benchmarks.json"
    report.write_json(run, path)
    raw = path.read_bytes()
    assert "µs/event".encode() in raw
    data = json.loads(raw.decode("utf-8"))

    assert _run_from_json(data) == run
    assert data["failed"] is True
    ratio = data["scenarios"][0]["ratios"][0]
    assert (ratio["label"], ratio["status"]) == ("openai / trealtime", "PASS")
    assert ratio["target"] == {"comparison": ">=", "threshold": 15, "unit": "x"}
    statuses = [m["status"] for m in data["scenarios"][1]["metrics"]]
    assert statuses == ["FAIL", "FAIL"]


def test_json_verdict_is_false_when_every_target_passes(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.json"
    report.write_json(_run(_scenario("decode", ratios=[_decode_vs_openai()])), path)
    assert json.loads(path.read_text(encoding="utf-8"))["failed"] is False


# -- chart ----------------------------------------------------------------------------------------


def _bars(axis: Any) -> tuple[list[float], list[tuple[float, ...]]]:
    """Widths and colours of an axis's horizontal bars, top to bottom."""
    bars = sorted(axis.patches, key=lambda bar: -bar.get_y())
    return [bar.get_width() for bar in bars], [tuple(bar.get_facecolor()) for bar in bars]


def test_chart_is_a_png_whose_bars_match_the_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left: one bar per measured ratio (green PASS, red FAIL, grey untargeted); right: one bar
    per measured target at its margin (a metric far on the passing side is clipped at 1e3).
    Unmeasured items are left out.  The directory is created."""
    import matplotlib.colors
    import matplotlib.pyplot

    figures: list[Any] = []
    close = matplotlib.pyplot.close

    def keep(fig: Any) -> None:
        figures.append(fig)
        close(fig)

    monkeypatch.setattr(matplotlib.pyplot, "close", keep)
    skipped = Ratio("c", "openai", "trealtime", None, target=Target(">=", 1), missing="no")
    run = _run(
        _scenario("decode", ratios=[_decode_vs_openai(), _decode_vs_openai(10.0), skipped]),
        _scenario("e2e", ratios=[Ratio("c", "trealtime", "floor", 0.3, 0.28, 0.4)]),
        _scenario("latency", metrics=[_latency_p50(200.0)]),
        _scenario("memory", metrics=[_growth(-2.0)]),
    )
    path = tmp_path / "nested" / "benchmarks.png"

    assert chart.write_chart(run, path) == path
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    (fig,) = figures
    left, right = fig.axes
    green, red, grey = (
        matplotlib.colors.to_rgba(c)
        for c in (chart.PASS_COLOR, chart.FAIL_COLOR, chart.NEUTRAL_COLOR)
    )
    widths, colors = _bars(left)
    assert widths == pytest.approx([20.2, 10.0, 0.3])
    assert colors == [green, red, grey]
    widths, colors = _bars(right)
    assert widths == pytest.approx([20.2 / 15, 10.0 / 15, 0.5, 1e3])
    assert colors == [green, red, red, green]


def test_chart_without_matplotlib_raises_the_documented_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No crash: ChartUnavailable, saying matplotlib is missing and how to install it."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    path = tmp_path / "benchmarks.png"
    with pytest.raises(chart.ChartUnavailable, match="matplotlib is missing") as caught:
        chart.write_chart(_readme_run(), path)
    assert chart.MATPLOTLIB_HINT in str(caught.value)
    assert not path.exists()


# -- config ---------------------------------------------------------------------------------------


# -- progress -------------------------------------------------------------------------------------


# -- contenders -----------------------------------------------------------------------------------


@pytest.fixture
def _fresh_openai_cache() -> Iterator[None]:
    contenders.openai_realtime.cache_clear()
    yield
    contenders.openai_realtime.cache_clear()


@pytest.mark.usefixtures("_fresh_openai_cache")
@pytest.mark.parametrize("missing", ["openai.resources.realtime.realtime", "websockets"])
def test_missing_openai_or_websockets_names_the_install_hint(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    realtime = types.ModuleType("openai.resources.realtime.realtime")
    monkeypatch.setitem(sys.modules, "openai.resources.realtime.realtime", realtime)
    monkeypatch.setitem(sys.modules, "websockets", types.ModuleType("websockets"))
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(ContenderUnavailable, match="openai is missing or incomplete") as caught:
        contenders.openai_realtime()
    assert contenders.OPENAI_INSTALL_HINT in str(caught.value)
    assert missing in str(caught.value)


# -- cli ------------------------------------------------------------------------------------------


@dataclass
class _FakeScenario:
    """A scenario returning fixed ratios and metrics, or raising ``crash``."""

    name: str
    description: str = "a fake scenario"
    ratios: tuple[Ratio, ...] = ()
    metrics: tuple[Metric, ...] = ()
    crash: Exception | None = None
    configs: list[RunConfig] = field(default_factory=list)

    def run(self, config: RunConfig) -> ScenarioResult:
        self.configs.append(config)
        if self.crash is not None:
            raise self.crash
        return ScenarioResult(self.name, self.description, (), self.ratios, metrics=self.metrics)


def _install(monkeypatch: pytest.MonkeyPatch, *fakes: _FakeScenario) -> None:
    """Register ``fakes`` as the only scenarios; openai 'available' and a fixed environment."""
    scenarios: list[Scenario] = list(fakes)
    monkeypatch.setattr(registry, "SCENARIOS", scenarios)
    monkeypatch.setattr(cli, "openai_realtime", lambda: None)
    monkeypatch.setattr(cli, "environment", lambda: dict(ENVIRONMENT))


def _passing() -> _FakeScenario:
    return _FakeScenario("decode", ratios=(_decode_vs_openai(),))


def _failing() -> _FakeScenario:
    return _FakeScenario("latency", metrics=(_latency_p50(),))


def _skipping() -> _FakeScenario:
    missing = Ratio("c", "openai", "trealtime", None, target=Target(">=", 1), missing="no")
    return _FakeScenario("e2e", ratios=(missing,))


def _main(*argv: str) -> int:
    return cli.main(["--no-output", "--quiet", *argv])


@pytest.mark.parametrize(
    ("scenarios", "strict", "status"),
    [
        ((_passing,), False, 0),
        ((_passing,), True, 0),
        ((_skipping,), True, 0),
        ((_passing, _failing), False, 0),
        ((_passing, _failing), True, 1),
        ((_failing, _skipping), True, 1),
    ],
)
def test_strict_exits_1_only_when_a_target_fails(
    scenarios: tuple[Callable[[], _FakeScenario], ...],
    strict: bool,
    status: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A FAIL makes the exit status 1 under --strict only; a SKIP never does."""
    _install(monkeypatch, *(make() for make in scenarios))
    assert _main(*(["--strict"] if strict else [])) == status


def test_a_fail_is_printed_as_fail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _install(monkeypatch, _passing(), _failing())
    _main()
    out = capsys.readouterr().out
    assert "  FAIL  latency [load (100 sessions)] trealtime - floor p50 = 922 µs" in out
    assert "  PASS  decode [voice turn (106 frames)] openai / trealtime = 20.2x" in out
    assert "| 599 µs to 1,539 µs | < 100 µs | **FAIL** |" in out


def test_a_crashing_scenario_is_reported_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The crash is reported (its first line), the other scenarios still run, and the exit
    status is 1 even without --strict."""
    crashing = _FakeScenario("e2e", crash=RuntimeError("server died\nsecond line"))
    after = _passing()
    _install(monkeypatch, crashing, after)
    assert _main() == 1
    assert after.configs
    out, err = capsys.readouterr()
    assert "  ERROR  e2e: RuntimeError: server died\n" in out
    assert "| e2e | | error | | | | **ERROR** |" in out
    assert "- e2e: ERROR: RuntimeError: server died" in out
    assert "second line" not in out
    assert "Traceback" in err


def test_missing_openai_is_a_note_not_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _install(monkeypatch, _passing())

    def unavailable() -> None:
        raise ContenderUnavailable("openai is missing")

    monkeypatch.setattr(cli, "openai_realtime", unavailable)
    assert _main() == 0
    err = capsys.readouterr().err
    assert "note: openai is missing; the comparisons with openai are skipped" in err


def test_output_files_without_matplotlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON and Markdown are written (and --json copies the JSON, making its directory); the
    chart is a note on stderr, and the Markdown links no chart."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    _install(monkeypatch, _passing(), _failing())
    out = tmp_path / "results"
    extra = tmp_path / "not-made-yet" / "copy.json"
    argv = ["--quiet", "--quick", "--output-dir", str(out), "--json", str(extra)]
    assert cli.main(argv) == 0

    stdout, err = capsys.readouterr()
    assert "note: no chart: matplotlib is missing" in err
    assert not (out / "benchmarks.png").exists()
    markdown = (out / "benchmarks.md").read_text(encoding="utf-8")
    assert markdown.startswith("## trealtime benchmarks (quick smoke run)\n")
    assert "![benchmark ratios]" not in markdown
    assert markdown.rstrip("\n") in stdout
    data = json.loads((out / "benchmarks.json").read_text(encoding="utf-8"))
    assert data == json.loads(extra.read_text(encoding="utf-8"))
    assert data["failed"] is True
    assert (data["quick"], data["repetitions"]) == (True, 5)
    assert data["command"] == shlex.join(["python", "-m", "benchmarks", *argv])
    assert data["environment"]["load average"].count(" at ") == 2
    written = [out / "benchmarks.json", out / "benchmarks.md", extra]
    assert "wrote " + ", ".join(str(p) for p in written) in stdout
