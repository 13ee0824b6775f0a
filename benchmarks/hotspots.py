"""Where trealtime's client time goes: cProfile over a loopback run, grouped by package.

::

    python -m benchmarks.hotspots e2e            # one long stream, as fast as it can be read
    python -m benchmarks.hotspots load           # 100 real-time sessions, audio both ways
    python -m benchmarks.hotspots load --sessions 50 --top 40 --client floor
    python -m benchmarks.hotspots load --transport plain   # over ws:// (default: TLS)

The run is the same as in the ``e2e`` and ``latency`` scenarios (the server in its own process),
under :mod:`cProfile`, in this process (which imports nothing else).  Printed: self time per
package (trealtime, trio, trio's TLS layer, OpenSSL, trio-websocket, wsproto, cattrs/attrs,
orjson, the socket calls, ...)
and the top functions, in µs per received event.  cProfile inflates Python-level call costs
(about 2x here), so read the shares, not the absolute numbers; the profile's clock is the
thread's CPU time, so time the process spent waiting for a CPU is not counted.  py-spy
(``py-spy record -o out.svg -- python -m benchmarks.hotspots e2e``) gives an unintrusive view.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import time
from collections.abc import Sequence
from typing import Any

import trio

from benchmarks.contenders import FLOOR, HANDOFF, TREALTIME, WEBSOCKET
from benchmarks.loopback import ROOT, TRANSPORTS, ServerProcess
from benchmarks.streaming import Fleet, run_fleet


def _group(filename: str, function: str) -> str:
    path = filename.replace("\\", "/")
    for marker, group in (
        ("/trealtime/", "trealtime"),
        ("trio_websocket/", "trio-websocket"),
        ("/trio/_ssl.py", "trio TLS (SSLStream, Python)"),
        ("/ssl.py", "ssl module (Python)"),
        ("/wsproto/", "wsproto"),
        ("/trio/", "trio"),
        ("/outcome/", "trio"),
        ("/cattrs/", "cattrs/attrs"),
        ("/attr/", "cattrs/attrs"),
        ("/attrs/", "cattrs/attrs"),
        ("<cattrs generated", "cattrs/attrs"),
        ("<attrs generated", "cattrs/attrs"),
        ("/benchmarks/", "benchmark harness"),
    ):
        if marker in path:
            return group
    if filename == "~":
        if "_ssl." in function:
            return "OpenSSL (C, via _ssl)"
        if "orjson" in function:
            return "orjson"
        if "socket" in function or "epoll" in function or "select" in function:
            return "system calls (socket, epoll)"
        return "builtins"
    return "stdlib/other"


#: The transport layers' entry points (file suffix, function): their cumulative time is what
#: the layer costs with everything it calls (its own scheduling checkpoints included).
LAYERS = {
    "trio TLS (SSLStream)": (("trio/_ssl.py", "send_all"), ("trio/_ssl.py", "receive_some")),
    "trio socket (SocketStream)": (
        ("trio/_highlevel_socket.py", "send_all"),
        ("trio/_highlevel_socket.py", "receive_some"),
    ),
}


def layer_times(raw: dict[Any, Any]) -> dict[str, float]:
    """Cumulative seconds under each of :data:`LAYERS`' entry points (over TLS the socket layer
    runs inside the TLS layer, so the two overlap)."""
    times = dict.fromkeys(LAYERS, 0.0)
    for (filename, _, function), (_, _, _, cumtime, _) in raw.items():
        path = filename.replace("\\", "/")
        for layer, entries in LAYERS.items():
            if any(path.endswith(suffix) and function == name for suffix, name in entries):
                times[layer] += cumtime
    return times


def summarize(stats: pstats.Stats, events: int, top: int) -> str:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    groups: collections.defaultdict[str, float] = collections.defaultdict(float)
    functions: list[tuple[float, int, str]] = []
    for (filename, line, function), (_, calls, tottime, _, _) in raw.items():
        groups[_group(filename, function)] += tottime
        short = filename.split("site-packages/")[-1].removeprefix(str(ROOT) + "/")
        functions.append((tottime, calls, f"{short}:{line}({function})"))
    total = sum(groups.values()) or 1.0
    lines = [f"self time per received event ({events:,} events, under cProfile):", ""]
    for group, seconds in sorted(groups.items(), key=lambda item: -item[1]):
        lines.append(f"  {group:32} {seconds / events * 1e6:8.2f} µs  {seconds / total:6.1%}")
    lines += ["", "inclusive (the layer's entry points with all they call):", ""]
    for layer, seconds in layer_times(raw).items():
        lines.append(f"  {layer:32} {seconds / events * 1e6:8.2f} µs  {seconds / total:6.1%}")
    lines += ["", f"top {top} functions by self time:", ""]
    for seconds, calls, name in sorted(functions, reverse=True)[:top]:
        lines.append(
            f"  {seconds / events * 1e6:8.2f} µs/event  {calls / events:6.2f} calls/event  {name}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotspots")
    parser.add_argument("what", choices=("e2e", "load"))
    parser.add_argument(
        "--client", choices=(TREALTIME, FLOOR, WEBSOCKET, HANDOFF), default=TREALTIME
    )
    parser.add_argument("--transport", choices=TRANSPORTS, default=TRANSPORTS[0])
    parser.add_argument("--sessions", type=int, default=100, help="load: sessions (100)")
    parser.add_argument("--seconds", type=float, default=4.0, help="load: stream length (4 s)")
    parser.add_argument("--turns", type=int, default=40, help="e2e: voice turns (40)")
    parser.add_argument("--top", type=int, default=30, help="functions to list (30)")
    parser.add_argument("--output", help="also dump the raw profile here (for snakeviz etc.)")
    args = parser.parse_args(argv)

    # CPU time of this thread, not wall time: on a loaded machine a preempted call would
    # otherwise count the time other processes held the CPU.
    profiler = cProfile.Profile(time.thread_time)
    with ServerProcess() as served:
        server = served.over(args.transport)
        if args.what == "e2e":
            from benchmarks.scenarios.e2e import runner_for

            runner = runner_for(args.client)
            query = {"bench": "blast", "turns": args.turns}
            trio.run(runner, server, {"bench": "blast", "turns": 2})  # warm-up
            profiler.enable()
            run = trio.run(runner, server, query)
            profiler.disable()
            events = run.events
            print(f"{args.client}: {run.cpu_s / run.events * 1e6:.1f} µs CPU/event (profiled)")
        else:

            def window(streaming: bool) -> None:
                """Profile the stream alone: not the opening (TLS handshakes) or closing."""
                if streaming:
                    profiler.enable()
                else:
                    profiler.disable()

            fleet = Fleet(args.sessions, count=int(args.seconds * 50), tag="profile", window=window)
            trio.run(run_fleet, server, args.client, Fleet(10, count=20, tag="warm-up"))
            result = trio.run(run_fleet, server, args.client, fleet)
            events = max(result.frames, 1)
            print(
                f"{args.client}: {args.sessions} sessions, client CPU {result.cpu_share:.0%} "
                f"(profiled), lag p50 {result.lag_percentile_us(0.5)} µs; each received event "
                "comes with one append sent"
            )
    stats = pstats.Stats(profiler)
    if args.output:
        stats.dump_stats(args.output)
    print(summarize(stats, events, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
