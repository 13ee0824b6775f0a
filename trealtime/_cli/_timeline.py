"""``python -m trealtime replay FILE``: a recording as a readable timeline.

Runs of the same streaming event (audio and transcript deltas, appends) are folded into one
line with a count and a size, so that a long call fits on a screen.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Iterable, Iterator

import attrs
import orjson

from .._session._recording import ELIDED_KEY, RecordedFrame, read_recording
from .._wire._codec import from_dict
from .._wire._response_models import Response

__all__ = ["format_timeline", "print_timeline"]

_FOLDED = frozenset(
    {
        "input_audio_buffer.append",
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "conversation.item.input_audio_transcription.delta",
        "response.audio.delta",
        "response.audio_transcript.delta",
        "response.text.delta",
    }
)
_ARROWS = {"in": "←", "out": "→"}


def _detail(obj: dict[str, object]) -> str:
    tag = obj.get("type")
    if tag == "error" and isinstance(obj.get("error"), dict):
        error = obj["error"]
        assert isinstance(error, dict)
        return f"{error.get('code')}: {error.get('message')}"
    if tag in ("response.created", "response.done") and isinstance(obj.get("response"), dict):
        response = obj["response"]
        assert isinstance(response, dict)
        status = response.get("status")
        if status is None and tag == "response.done":  # left out: how it ended, all the same
            status = _final_status(response)
        return f"{response.get('id')} {status}"
    for key in ("item_id", "response_id"):
        if isinstance(obj.get(key), str):
            return f"{key}={obj[key]}"
    item = obj.get("item")
    if isinstance(item, dict):
        return f"{item.get('type')} {item.get('role') or item.get('name') or ''} {item.get('id')}"
    return ""


def _final_status(response: dict[str, object]) -> object:
    try:
        return from_dict(response, Response).final_status
    except ValueError:
        return None


def _size(obj: dict[str, object]) -> int:
    elided = obj.get(ELIDED_KEY)
    if isinstance(elided, int):
        return elided
    for key in ("audio", "delta"):
        value = obj.get(key)
        if isinstance(value, str):
            if "audio" in str(obj.get("type")) or key == "audio":
                return len(value) * 3 // 4
            return len(value)
    return 0


@attrs.define
class _Run:
    start: float
    direction: str
    type: str
    count: int = 0
    size: int = 0
    text: list[str] = attrs.field(factory=list)

    def line(self) -> str:
        arrow = _ARROWS.get(self.direction, "?")
        unit = "chars" if "transcript" in self.type or "text" in self.type else "bytes"
        line = f"+{self.start:9.3f}s {arrow} {self.count}x {self.type} ({self.size} {unit})"
        if self.text:
            joined = "".join(self.text)
            line += f": {joined[:60]!r}" + ("…" if len(joined) > 60 else "")
        return line


def format_timeline(frames: Iterable[RecordedFrame]) -> Iterator[str]:
    """The lines of the timeline."""
    run: _Run | None = None
    for frame in frames:
        obj: object = None
        if frame.text is not None:
            try:
                obj = orjson.loads(frame.text)
            except orjson.JSONDecodeError:
                obj = None
        tag = obj.get("type") if isinstance(obj, dict) else None
        if isinstance(obj, dict) and tag in _FOLDED and frame.direction is not None:
            if run is None or (run.type, run.direction) != (tag, frame.direction):
                if run is not None:
                    yield run.line()
                run = _Run(frame.t, frame.direction, str(tag))
            run.count += 1
            run.size += _size(obj)
            delta = obj.get("delta")
            if isinstance(delta, str) and "audio." not in str(tag):
                run.text.append(delta)
            continue
        if run is not None:
            yield run.line()
            run = None
        yield _line(frame, obj)
    if run is not None:
        yield run.line()


def _line(frame: RecordedFrame, obj: object) -> str:
    stamp = f"+{frame.t:9.3f}s"
    if frame.kind == "connect":
        return f"{stamp} ── connected"
    if frame.kind == "close":
        return f"{stamp} ── closed: code {frame.code} {frame.reason or ''}".rstrip()
    arrow = _ARROWS.get(frame.direction or "", "?")
    if frame.binary is not None:
        preview = base64.b64encode(frame.binary[:12]).decode()
        return f"{stamp} {arrow} binary frame ({len(frame.binary)} bytes) {preview}"
    if not isinstance(obj, dict):
        return f"{stamp} {arrow} not a JSON object: {(frame.text or '')[:60]!r}"
    detail = _detail(obj)
    return f"{stamp} {arrow} {obj.get('type')}" + (f"  {detail}" if detail else "")


def print_timeline(path: str) -> int:
    """Print the timeline of the recording at ``path``; the exit status.

    A bad recording gets one line on stderr and status 1. When the reader goes away (``| head``)
    the rest is dropped quietly.
    """
    try:
        for line in format_timeline(read_recording(path)):
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        # Nobody reads any more; point stdout at devnull so that the interpreter's own flush
        # at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"trealtime replay: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # it names the file and the line
        print(f"trealtime replay: {exc}", file=sys.stderr)
        return 1
    return 0
