"""Typed result records produced by scenarios, shared by the reporters."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Literal

from benchmarks.timing import Samples

Status = Literal["PASS", "FAIL", "SKIP", "-"]


@dataclass(frozen=True)
class Target:
    """A goal for a ratio, e.g. ``>= 15``."""

    comparison: Literal[">=", "<="]
    threshold: float

    def met_by(self, value: float) -> bool:
        if self.comparison == ">=":
            return value >= self.threshold
        return value <= self.threshold

    def __str__(self) -> str:
        return f"{self.comparison} {self.threshold:g}x"


@dataclass(frozen=True)
class Measurement:
    """Median per-operation time of one contender for one case."""

    case: str
    contender: str
    unit: str
    median_us: float
    min_us: float
    max_us: float
    samples_us: tuple[float, ...]
    ops_per_sample: int

    @classmethod
    def from_samples(cls, case: str, unit: str, samples: Samples) -> Measurement:
        us = tuple(ns / 1000 for ns in samples.ns_per_op)
        return cls(
            case=case,
            contender=samples.name,
            unit=unit,
            median_us=statistics.median(us),
            min_us=min(us),
            max_us=max(us),
            samples_us=us,
            ops_per_sample=samples.ops_per_sample,
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
        if self.target is None:
            return "-"
        if self.value is None:
            return "SKIP"
        return "PASS" if self.target.met_by(self.value) else "FAIL"

    @classmethod
    def paired(
        cls,
        case: str,
        numerator: Samples,
        denominator: Samples,
        target: Target | None = None,
    ) -> Ratio:
        ratios = [a / b for a, b in zip(numerator.ns_per_op, denominator.ns_per_op, strict=True)]
        return cls(
            case=case,
            numerator=numerator.name,
            denominator=denominator.name,
            value=statistics.median(ratios),
            low=min(ratios),
            high=max(ratios),
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


@dataclass(frozen=True)
class RunResult:
    """A whole harness run."""

    quick: bool
    repetitions: int
    sample_seconds: float
    environment: dict[str, str]
    scenarios: tuple[ScenarioResult, ...]

    @property
    def ratios(self) -> tuple[Ratio, ...]:
        return tuple(r for s in self.scenarios for r in s.ratios)

    @property
    def failed(self) -> bool:
        return any(r.status == "FAIL" for r in self.ratios)
