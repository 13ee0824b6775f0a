"""Client worker processes: each contender of a loopback scenario runs in a clean interpreter.

Running every client in a process of its own keeps the contenders from taxing each other: the
``openai`` SDK imports some 70,000 objects (pydantic models), which would make every full
garbage collection of a trealtime session pause several times longer than in a real trealtime
application, and the other way round.  A worker imports only what its jobs need.

The parent starts one :class:`Worker` per contender and keeps it for the whole scenario, so the
contenders still take turns round after round, interleaved::

    with Worker("trealtime") as worker:
        result = worker.call("benchmarks.streaming:fleet_job", server, "trealtime", fleet)

Protocol: one JSON object per line, ``{"call": "module:function", "args": [...]}`` on the
worker's stdin, ``{"ok": result}`` or ``{"error": traceback}`` on its stdout (the worker's own
prints go to stderr).  Arguments and results are plain JSON values.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import traceback
from types import TracebackType
from typing import IO, Any

from benchmarks.loopback import ROOT


class WorkerFailed(RuntimeError):
    """A job raised in the worker, or the worker died."""


class Worker:
    """A persistent client process (``python -m benchmarks.worker``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Worker:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        if process is None:
            return
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    def call(self, function: str, *args: Any) -> Any:
        """Run ``module:function(*args)`` in the worker and return its result."""
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps({"call": function, "args": list(args)}) + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            raise WorkerFailed(f"the {self.name} worker died") from None
        line = process.stdout.readline()
        if not line:
            raise WorkerFailed(f"the {self.name} worker died running {function}")
        reply = json.loads(line)
        if "error" in reply:
            raise WorkerFailed(f"{function} failed in the {self.name} worker:\n{reply['error']}")
        return reply["ok"]


def serve(requests: IO[str], replies: IO[str]) -> None:
    for line in requests:
        request = json.loads(line)
        module_name, _, function_name = request["call"].partition(":")
        try:
            function = getattr(importlib.import_module(module_name), function_name)
            reply = {"ok": function(*request["args"])}
        except Exception:
            reply = {"error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main() -> int:
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    serve(sys.stdin, replies)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
