"""A one-line live progress display on stderr (no dependency).

On a terminal the line is redrawn in place (``scenario: what  i/n``); elsewhere (CI logs) only
a line per started phase is printed, so logs stay short.  Scenarios call :func:`step`; the
runner calls :func:`begin` and :func:`end` around each scenario.
"""

from __future__ import annotations

import sys
import time

_scenario = ""
_phase = ""
_started = 0.0
_last_draw = 0.0
_enabled = True


def enable(on: bool) -> None:
    """Turn the display on or off (``--quiet``)."""
    global _enabled
    _enabled = on


def _tty() -> bool:
    return _enabled and sys.stderr.isatty()


def begin(scenario: str) -> None:
    """A scenario starts."""
    global _scenario, _phase, _started
    _scenario, _phase, _started = scenario, "", time.perf_counter()
    step("starting")


def step(phase: str, i: int | None = None, n: int | None = None) -> None:
    """Report progress: ``phase`` (e.g. ``"openai"``), repetition ``i`` of ``n`` if given."""
    global _phase, _last_draw
    if not _enabled:
        return
    count = f" {i}/{n}" if i is not None and n is not None else ""
    if _tty():
        now = time.perf_counter()
        if now - _last_draw < 0.05 and phase == _phase and i != n:
            return
        _last_draw = now
        elapsed = now - _started
        line = f"[{_scenario}] {phase}{count}  ({elapsed:.0f} s)"
        sys.stderr.write("\r\x1b[K" + line[:160])
        sys.stderr.flush()
    elif phase != _phase:
        sys.stderr.write(f"  [{_scenario}] {phase}{count}\n")
        sys.stderr.flush()
    _phase = phase


def end() -> None:
    """The scenario is over: clear the live line."""
    global _phase
    if _tty():
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
    _phase = ""
