"""Run settings shared by all scenarios."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """How long and how often each contender is sampled."""

    #: Number of interleaved repetitions (samples per contender) of the in-process scenarios.
    repetitions: int
    #: Target wall time of one sample (one timed batch), in seconds.
    sample_seconds: float
    #: Interleaved repetitions of the loopback scenarios (each one a whole client run against
    #: the server process), which cost seconds each rather than milliseconds.
    rounds: int
    #: Whether this is the ``--quick`` smoke run.
    quick: bool

    @classmethod
    def full(cls) -> RunConfig:
        return cls(repetitions=31, sample_seconds=0.1, rounds=7, quick=False)

    @classmethod
    def smoke(cls) -> RunConfig:
        return cls(repetitions=5, sample_seconds=0.02, rounds=2, quick=True)

    @property
    def sample_ns(self) -> int:
        return int(self.sample_seconds * 1e9)
