"""Optional imports of the libraries under comparison, with uniform "missing" reporting.

``openai`` is untyped at this boundary (``Any``): it is an optional benchmark-only
dependency, and its connection objects are driven with stand-in sockets.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The contenders' names, as they appear in the results.
TREALTIME = "trealtime"
OPENAI = "openai"
#: A bare trio-websocket reader that decodes nothing.
FLOOR = "floor"
#: trealtime's own WebSocket layer alone, decoding nothing.
WEBSOCKET = "websocket"
#: The same layer read by a task of its own that hands each message to the caller over a
#: memory channel, as a session does: the floor plus the cost of the hand-off.
HANDOFF = "handoff"

#: The two transports every loopback scenario measures: TLS (``wss://``, what users run) and
#: plain ``ws://``.
TLS = "TLS"
PLAIN = "plain"

OPENAI_INSTALL_HINT = "install the bench extra: pip install -e '.[bench]'"


class ContenderUnavailable(Exception):
    """A contender's library cannot be imported; the message says why and how to fix it."""


def package_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def openai_realtime() -> Any:
    """The ``openai.resources.realtime.realtime`` module (with ``AsyncRealtimeConnection``)."""
    try:
        module = importlib.import_module("openai.resources.realtime.realtime")
        # The realtime client needs websockets at connect time; require it so a run
        # never silently measures an installation that could not actually connect.
        importlib.import_module("websockets")
    except ImportError as exc:
        raise ContenderUnavailable(
            f"openai is missing or incomplete ({exc}); {OPENAI_INSTALL_HINT}"
        ) from exc
    return module


@dataclass(frozen=True)
class TrealtimeEvents:
    """The parts of ``trealtime.events`` the benchmarks exercise."""

    decode_server_event: Callable[[str], object]
    encode_client_event: Callable[[Any], str]
    append_from_bytes: Callable[[bytes], object]
    #: Names of the fallback classes that mean "this frame was not decoded to a typed event".
    fallback_classes: tuple[type, ...]


@functools.cache
def trealtime_events() -> TrealtimeEvents:
    try:
        from trealtime import events
    except ImportError as exc:
        raise ContenderUnavailable(
            f"trealtime.events cannot be imported ({exc}); run from the repository root "
            "or pip install -e ."
        ) from exc
    fallbacks = tuple(
        cls
        for cls in (
            getattr(events, "InvalidServerEvent", None),
            getattr(events, "UnknownServerEvent", None),
        )
        if isinstance(cls, type)
    )
    return TrealtimeEvents(
        decode_server_event=events.decode_server_event,
        encode_client_event=events.encode_client_event,
        append_from_bytes=events.InputAudioBufferAppend.from_bytes,
        fallback_classes=fallbacks,
    )


def environment() -> dict[str, str]:
    """Interpreter, platform and library versions, for the report."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    env = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model() or platform.processor(),
        "cpus": str(cpus),
    }
    dists = (
        *("trealtime", "openai", "websockets", "pydantic", "orjson", "cattrs", "attrs"),
        *("trio", "trio-websocket", "wsproto", "h11", "matplotlib"),
    )
    for dist in dists:
        env[dist] = package_version(dist) or "not installed"
    return env


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None
