"""Typed result records produced by scenarios, shared by the reporters."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from benchmarks.timing import Samples

Status = Literal["PASS", "FAIL", "SKIP", "-"]


@dataclass(frozen=True)
class Target:
    """A goal for a ratio or a metric, e.g. ``>= 15`` (times) or ``< 100 µs``."""

    comparison: Literal[">=", "<=", "<"]
    threshold: float
    #: ``"x"`` for a ratio; otherwise the metric's unit (``"µs"``, ``"KiB"``, ``"sessions"``).
    unit: str = "x"

    def met_by(self, value: float) -> bool:
        if self.comparison == ">=":
            return value >= self.threshold
        if self.comparison == "<":
            return value < self.threshold
        return value <= self.threshold

    def margin(self, value: float) -> float:
        """How far ``value`` is on the passing side: > 1 passes, < 1 fails (for the chart)."""
        if self.comparison == ">=":
            return value / self.threshold if self.threshold else float("inf")
        if value <= 0:
            return float("inf")
        return self.threshold / value

    def __str__(self) -> str:
        if self.unit == "x":
            return f"{self.comparison} {self.threshold:g}x"
        return f"{self.comparison} {self.threshold:g} {self.unit}"


def grade(target: Target | None, value: float | None) -> Status:
    """``-`` without a target, ``SKIP`` without a value, else ``PASS`` or ``FAIL``."""
    if target is None:
        return "-"
    if value is None:
        return "SKIP"
    return "PASS" if target.met_by(value) else "FAIL"


@dataclass(frozen=True)
class Measurement:
    """Median of one contender's per-repetition values (times, or another unit) for one case."""

    case: str
    contender: str
    unit: str
    median: float
    low: float
    high: float
    samples: tuple[float, ...]
    ops_per_sample: int

    @classmethod
    def from_samples(cls, case: str, unit: str, samples: Samples) -> Measurement:
        """Per-operation times in µs (``unit`` names them, e.g. ``µs/event``)."""
        return cls.from_values(
            case,
            samples.name,
            unit,
            [ns / 1000 for ns in samples.ns_per_op],
            ops_per_sample=samples.ops_per_sample,
        )

    @classmethod
    def from_values(
        cls,
        case: str,
        contender: str,
        unit: str,
        values: Sequence[float],
        *,
        ops_per_sample: int = 1,
    ) -> Measurement:
        """One value per repetition, in ``unit``."""
        values = tuple(values)
        return cls(
            case=case,
            contender=contender,
            unit=unit,
            median=statistics.median(values),
            low=min(values),
            high=max(values),
            samples=values,
            ops_per_sample=ops_per_sample,
        )


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` time ratio for one case.

    The value is the median of the per-repetition (paired) ratios; ``low``/``high`` are their
    extremes.  ``value`` is ``None`` when a contender could not run (see ``missing``).
    """

    case: str
    numerator: str
    denominator: str
    value: float | None
    low: float | None = None
    high: float | None = None
    target: Target | None = None
    missing: str | None = None

    @property
    def label(self) -> str:
        return f"{self.numerator} / {self.denominator}"

    @property
    def status(self) -> Status:
        return grade(self.target, self.value)

    @classmethod
    def paired(
        cls,
        case: str,
        numerator: Samples,
        denominator: Samples,
        target: Target | None = None,
    ) -> Ratio:
        return cls.from_pairs(
            case,
            numerator.name,
            denominator.name,
            numerator.ns_per_op,
            denominator.ns_per_op,
            target,
        )

    @classmethod
    def from_pairs(
        cls,
        case: str,
        numerator: str,
        denominator: str,
        numerators: Sequence[float],
        denominators: Sequence[float],
        target: Target | None = None,
    ) -> Ratio:
        """The median of the per-repetition ratios ``numerators[i] / denominators[i]``."""
        ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
        return cls(
            case=case,
            numerator=numerator,
            denominator=denominator,
            value=statistics.median(ratios),
            low=min(ratios),
            high=max(ratios),
            target=target,
        )


@dataclass(frozen=True)
class Metric:
    """A measured quantity that is not a ratio (a latency, a session count, a size).

    ``value`` is the median over repetitions where there are several (``low``/``high`` are
    their extremes); ``None`` when it could not be measured (``missing`` says why).
    """

    case: str
    name: str
    value: float | None
    unit: str
    low: float | None = None
    high: float | None = None
    target: Target | None = None
    missing: str | None = None

    @property
    def label(self) -> str:
        return self.name

    @property
    def status(self) -> Status:
        return grade(self.target, self.value)

    @classmethod
    def from_values(
        cls,
        case: str,
        name: str,
        unit: str,
        values: Sequence[float],
        target: Target | None = None,
    ) -> Metric:
        if not values:
            return cls(case, name, None, unit, target=target, missing="no samples")
        return cls(
            case=case,
            name=name,
            value=statistics.median(values),
            unit=unit,
            low=min(values),
            high=max(values),
            target=target,
        )


@dataclass(frozen=True)
class ScenarioResult:
    """Everything one scenario measured."""

    scenario: str
    description: str
    measurements: tuple[Measurement, ...]
    ratios: tuple[Ratio, ...]
    notes: tuple[str, ...] = field(default=())
    metrics: tuple[Metric, ...] = field(default=())
    #: Wall time the scenario took, in seconds (filled in by the runner).
    seconds: float = 0.0
    #: Set when the scenario crashed: the exception, in one line.
    error: str | None = None

    @property
    def targets(self) -> tuple[Ratio | Metric, ...]:
        """Every ratio and metric that has a target, in report order."""
        items: tuple[Ratio | Metric, ...] = (*self.ratios, *self.metrics)
        return tuple(x for x in items if x.target is not None)


@dataclass(frozen=True)
class RunResult:
    """A whole harness run."""

    quick: bool
    repetitions: int
    sample_seconds: float
    environment: dict[str, str]
    scenarios: tuple[ScenarioResult, ...]
    command: str = "python -m benchmarks"
    seconds: float = 0.0

    @property
    def ratios(self) -> tuple[Ratio, ...]:
        return tuple(r for s in self.scenarios for r in s.ratios)

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return tuple(m for s in self.scenarios for m in s.metrics)

    @property
    def targets(self) -> tuple[tuple[str, Ratio | Metric], ...]:
        return tuple((s.scenario, t) for s in self.scenarios for t in s.targets)

    @property
    def failed(self) -> bool:
        return any(t.status == "FAIL" for _, t in self.targets)
