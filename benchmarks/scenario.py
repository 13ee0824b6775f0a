"""The interface every benchmark scenario implements."""

from __future__ import annotations

from typing import Protocol

from benchmarks.config import RunConfig
from benchmarks.results import ScenarioResult


class Scenario(Protocol):
    """One benchmark: builds its contenders, measures them, and returns typed results."""

    @property
    def name(self) -> str:
        """Short identifier used by ``--only`` and in reports."""
        ...

    @property
    def description(self) -> str:
        """One line saying what is measured."""
        ...

    def run(self, config: RunConfig) -> ScenarioResult: ...
