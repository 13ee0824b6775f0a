"""The PNG chart: every comparison ratio, and every target's margin (matplotlib, optional).

Left panel: the ratios (trealtime against ``openai`` and against the floors), on a log scale,
with the target drawn where there is one.  Right panel: every target as *margin*, the measured
value relative to its threshold (> 1 passes, < 1 fails, log scale), so that targets in different
units (x, µs, sessions, KiB) share one axis.

matplotlib is imported lazily (with the ``Agg`` backend) and is untyped at this boundary; when
it is missing, :func:`write_chart` returns a note instead of a path.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

from benchmarks.report import quantity
from benchmarks.results import Metric, Ratio, RunResult

MATPLOTLIB_HINT = "install the bench extra (pip install -e '.[bench]') for the chart"
PASS_COLOR = "#2e7d32"
FAIL_COLOR = "#c62828"
NEUTRAL_COLOR = "#607d8b"


class ChartUnavailable(Exception):
    """matplotlib is missing."""


def _pyplot() -> Any:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError as exc:
        raise ChartUnavailable(f"matplotlib is missing ({exc}); {MATPLOTLIB_HINT}") from exc
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def _label(scenario: str, item: Ratio | Metric) -> str:
    return f"{scenario} · {item.case}\n{item.label}"


def write_chart(run: RunResult, path: Path) -> Path:
    """Draw the chart to ``path`` (PNG); raises :class:`ChartUnavailable` without matplotlib."""
    plt = _pyplot()
    ratios = [(s.scenario, r) for s in run.scenarios for r in s.ratios if r.value is not None]
    targets = [(scenario, t) for scenario, t in run.targets if t.value is not None]
    rows = max(len(ratios), len(targets), 1)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(15, 0.55 * rows + 1.8), gridspec_kw={"width_ratios": [1, 1]}
    )
    mode = "quick smoke run" if run.quick else "full run"
    fig.suptitle(f"trealtime benchmarks ({mode}): {run.command}", fontsize=11)

    # Left: the ratios.
    labels = [_label(s, r) for s, r in ratios]
    values = [float(r.value) for _, r in ratios if r.value is not None]
    colors = [
        NEUTRAL_COLOR if r.target is None else PASS_COLOR if r.status == "PASS" else FAIL_COLOR
        for _, r in ratios
    ]
    ys = list(range(len(ratios)))[::-1]
    left.barh(ys, values, color=colors, height=0.6)
    for y, (_, r), value in zip(ys, ratios, values, strict=True):
        left.text(value, y, f" {quantity(value, 'x')}", va="center", fontsize=8)
        if r.target is not None:
            left.plot([r.target.threshold] * 2, [y - 0.4, y + 0.4], color="black", lw=2)
    left.set_yticks(ys, labels, fontsize=7)
    left.set_xscale("log")
    left.axvline(1, color="grey", lw=0.8, ls="--")
    left.set_title("ratios (> 1: the denominator is faster); black tick = target", fontsize=9)

    # Right: every target's margin.
    labels = [_label(s, t) for s, t in targets]
    margins = [
        _clip(t.target.margin(float(t.value)))
        for _, t in targets
        if t.target is not None and t.value is not None
    ]
    colors = [PASS_COLOR if t.status == "PASS" else FAIL_COLOR for _, t in targets]
    ys = list(range(len(targets)))[::-1]
    right.barh(ys, margins, color=colors, height=0.6)
    for y, (_, t), margin in zip(ys, targets, margins, strict=True):
        text = quantity(t.value, t.unit) if isinstance(t, Metric) else quantity(t.value, "x")
        right.text(margin, y, f" {text} (target {t.target})", va="center", fontsize=8)
    right.set_yticks(ys, labels, fontsize=7)
    right.set_xscale("log")
    right.axvline(1, color="black", lw=1)
    right.set_title("targets: value relative to target (> 1 passes)", fontsize=9)
    # Room on the right for the value labels (log scale: a factor, not an offset).
    for axis, values_shown in ((left, values), (right, margins)):
        axis.grid(axis="x", which="both", alpha=0.3)
        low, _ = axis.get_xlim()
        axis.set_xlim(min(low, 0.5), max([2.0, *values_shown]) * 30)

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _clip(margin: float) -> float:
    if math.isinf(margin) or margin > 1e3:
        return 1e3
    return max(margin, 1e-3)
