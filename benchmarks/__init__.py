"""Benchmark harness for ``trealtime``.

Run from the repository root::

    python -m benchmarks                 # full run (about five minutes)
    python -m benchmarks --quick         # smoke run (under a minute)
    python -m benchmarks --only e2e      # run selected scenarios (repeatable)
    python -m benchmarks --list          # list the registered scenarios
    python -m benchmarks --strict        # exit with status 1 when a target FAILs

Results go to ``benchmark-results/`` (``--output-dir``): ``benchmarks.json``, the Markdown tables
in ``benchmarks.md`` (also printed), and the chart ``benchmarks.png``.  A live progress line goes
to stderr (``--quiet`` turns it off).  A missed target prints FAIL but the exit status stays 0
unless ``--strict``; a scenario that crashes is reported and makes the exit status 1.

The comparison contenders come from the ``bench`` extra (``pip install -e '.[bench]'``: the
``openai`` SDK with its realtime client, and matplotlib for the chart).  Without it the harness
still runs: the comparisons with ``openai`` are SKIPped and the chart is not drawn, each with a
note saying so.

Scenarios (each compares contenders in one process run, interleaved, over several repetitions,
and reports medians and ratios).  Every loopback scenario (e2e, latency, concurrency, memory)
runs over TLS (``wss://``, a throw-away ``trustme`` CA that the clients trust, verified as in
production: the API is ``wss://`` only) and over plain ``ws://``, and reports both rows:

- ``decode`` / ``encode``: the codec in-process, against ``openai`` and bare ``orjson``.
- ``e2e``: a server process streams a long scripted response over loopback; client CPU per
  event for trealtime, ``openai``'s ``AsyncRealtimeConnection``, and two transport floors.
- ``latency``: server write → typed event in the caller's hands, p50/p99, idle and with 100
  real-time sessions; trealtime's overhead over its own WebSocket layer alone.
- ``concurrency``: sessions per core, side by side: the most real-time sessions (audio both
  ways) one pinned core carries with p99 delivery lag under 20 ms, for ``openai``'s
  ``AsyncRealtimeConnection``, trealtime and its transport floor, each in a worker process of
  its own against the same server, stream and lag rule.
- ``memory``: heap per idle and per streaming session, and growth over a simulated hour.
- ``import``: ``import trealtime`` in a fresh interpreter, with ``openai`` for context.

Method: in-process contenders are calibrated so that one sample (a timed batch) lasts about the
same wall time, then sampled in rotating order, repetition after repetition, so that machine
noise hits all of them alike; ratios are medians of the per-repetition (paired) ratios.  The
loopback scenarios run the server in a separate process (:mod:`benchmarks.server_process`), so
its CPU stays out of the client's ``time.process_time()``, and run the clients in rotating order,
round after round.  Absolute times are reported for context only: compare ratios.  Contention
from other processes is reported (run-queue waiting time, load average) rather than hidden.

Layout (one job per module):

- ``cli``: argument parsing and the top-level run.
- ``config``: the quick/full run settings.
- ``registry``: the list of scenarios; add new ones here.
- ``scenario``: the ``Scenario`` protocol every scenario implements.
- ``timing``: calibration and interleaved sampling.
- ``results``: typed, JSON-serialisable result records (ratios, metrics, targets).
- ``report``: the Markdown tables and the JSON file; ``chart``: the PNG (matplotlib, optional).
- ``progress``: the live progress line.
- ``contenders``: optional imports (``openai``, ``trealtime``) and their availability.
- ``openai_stub``: an ``openai`` realtime connection over a do-nothing WebSocket.
- ``fixtures``: realistic Realtime server frames and PCM audio.
- ``server_process``: the loopback server (a child process); ``loopback``: starting it, and the
  clients (trealtime, openai, bare trio-websocket, trealtime's bare WebSocket layer);
  ``streaming``: fleets of paced real-time sessions.
- ``worker``: the client worker processes of the loopback scenarios.
- ``hotspots``: ``python -m benchmarks.hotspots e2e|load [--transport TLS|plain]``, cProfile
  (CPU time) of a loopback run grouped by package (trealtime, trio, trio's TLS layer, OpenSSL,
  cattrs, ...), with the TLS and socket layers' inclusive share, to find where time goes.
- ``scenarios/``: one module per scenario.
"""
