"""Benchmark harness for ``trealtime``.

Run from the repository root::

    python -m benchmarks                 # full run (about half a minute)
    python -m benchmarks --quick         # smoke run (a few seconds)
    python -m benchmarks --json out.json # also write machine-readable results
    python -m benchmarks --only decode   # run selected scenarios (repeatable)
    python -m benchmarks --list          # list the registered scenarios

The comparison contenders come from the ``bench`` extra (``pip install -e '.[bench]'``,
which installs ``openai[realtime]``).  Without it the harness still runs and compares
``trealtime`` against the bare ``orjson`` floor, and says that ``openai`` is missing.

Method: every scenario builds a set of *contenders* that do the same work.  Each contender
is calibrated so that one sample (a timed batch) lasts about the same wall time, then the
contenders are sampled in rotating order, repetition after repetition, so that machine noise
hits all of them alike.  Results are medians over the repetitions; ratios are medians of the
per-repetition (paired) ratios.  Absolute times are reported for context only: compare ratios.

Layout (one job per module):

- ``cli``: argument parsing and the top-level run.
- ``config``: the quick/full run settings.
- ``registry``: the list of scenarios; add new ones here.
- ``scenario``: the ``Scenario`` protocol every scenario implements.
- ``timing``: calibration and interleaved sampling.
- ``results``: typed, JSON-serialisable result records.
- ``report``: the Markdown table and the JSON file.
- ``contenders``: optional imports (``openai``, ``trealtime``) and their availability.
- ``openai_stub``: an ``openai`` realtime connection over a do-nothing WebSocket.
- ``fixtures``: realistic Realtime server frames and PCM audio.
- ``scenarios/``: one module per scenario.
"""
