"""Recording a session's frames as JSON lines, and reading recordings back.

One JSON object per line::

    {"kind": "start", "version": 1, "url": "wss://…?model=…", "wall_time": 1790000000.0}
    {"kind": "connect", "t": 0.0}
    {"kind": "frame", "t": 0.012, "dir": "in", "text": "{\\"type\\":\\"session.created\\",…}"}
    {"kind": "frame", "t": 0.013, "dir": "out", "text": "{\\"type\\":\\"session.update\\",…}"}
    {"kind": "close", "t": 5.2, "code": 1000, "reason": "closed by the client"}

``t`` is seconds on the session's monotonic (Trio) clock since the recording started; ``in``
is from the server. With ``audio=False`` the base64 audio of appends and output deltas is
replaced by ``""`` and the frame gains ``"trealtime_elided_bytes": n``, so a replay can put back
silence of the same length. Credentials are never written: frames don't carry the API key, and
``authorization`` and ``headers`` values inside frames (MCP tool settings) are replaced by
``"<redacted>"``, as is any known secret (the key, a token) a server echoed; a part nested
deeper than 64 levels is replaced by ``"<redacted>"`` too. The file is created owner-only
(0600): it holds the whole conversation.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from collections.abc import Collection, Iterator
from typing import IO, Any, Literal

import attrs
import orjson

from .._transport._redaction import REDACTED, redact

__all__ = ["ELIDED_KEY", "RecordedFrame", "Recorder", "read_recording", "restore_audio"]

ELIDED_KEY = "trealtime_elided_bytes"
_AUDIO_FIELDS = {
    "input_audio_buffer.append": "audio",
    "response.output_audio.delta": "delta",
    "response.audio.delta": "delta",
}
_SECRET_KEYS = frozenset({"authorization", "headers"})
_MAX_DEPTH = 64
"""Nesting kept in a scrubbed frame; deeper parts are redacted whole (and orjson writes 255)."""

Direction = Literal["in", "out"]


def _redact(value: Any, depth: int = 0) -> Any:
    if not isinstance(value, dict | list):
        return value
    if depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        return {
            k: REDACTED if k in _SECRET_KEYS else _redact(v, depth + 1) for k, v in value.items()
        }
    return [_redact(v, depth + 1) for v in value]


def _base64_size(text: str) -> int | None:
    """The length of the bytes a base64 string holds; None if it is not base64."""
    try:
        return len(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return None


def _has_secret_keys(text: str) -> bool:
    return '"authorization"' in text or '"headers"' in text


class Recorder:
    """Writes a session's frames to a JSON-lines file (see the module documentation)."""

    def __init__(
        self, path: str | os.PathLike[str], *, url: str, audio: bool, wall_time: float
    ) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with contextlib.suppress(OSError):  # a file system without modes
            os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        self._file: IO[bytes] = os.fdopen(fd, "wb")
        self._audio = audio
        self.secrets: Collection[str] = ()
        """Known secrets, replaced wherever a frame quotes them (the session shares its set)."""
        self._write({"kind": "start", "version": 1, "url": url, "wall_time": wall_time})

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(orjson.dumps(record) + b"\n")

    def connect(self, t: float) -> None:
        """A connection was opened."""
        self._write({"kind": "connect", "t": round(t, 6)})

    def close(self, t: float, code: int, reason: str | None) -> None:
        """A connection ended."""
        self._write({"kind": "close", "t": round(t, 6), "code": code, "reason": reason})

    def frame(self, t: float, direction: Direction, data: str | bytes) -> None:
        """A frame went in or out."""
        record: dict[str, Any] = {"kind": "frame", "t": round(t, 6), "dir": direction}
        if isinstance(data, bytes):
            record["binary"] = base64.b64encode(data).decode("ascii")
        else:
            record["text"] = self._scrub(data)
        self._write(record)

    def _scrub(self, text: str) -> str:
        if self.secrets:
            text = redact(text, self.secrets)
        elide = not self._audio and any(f'"{name}"' in text[:64] for name in _AUDIO_FIELDS)
        if not elide and not _has_secret_keys(text):
            return text
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            # Not JSON (or nested past orjson's limit): kept only if no secret key could hide.
            return text if not _has_secret_keys(text) else REDACTED
        if not isinstance(obj, dict):
            return text if not _has_secret_keys(text) else REDACTED
        field = _AUDIO_FIELDS.get(obj.get("type")) if elide else None  # type: ignore[arg-type]
        if field is not None and isinstance(obj.get(field), str):
            size = _base64_size(obj[field])
            if size is not None:  # audio that is not base64 is kept as it came
                obj[ELIDED_KEY] = size
                obj[field] = ""
        return orjson.dumps(_redact(obj)).decode()

    def flush(self) -> None:
        """Push buffered lines to the file."""
        self._file.flush()

    def finish(self) -> None:
        """Close the file."""
        self._file.close()


@attrs.frozen(kw_only=True)
class RecordedFrame:
    """One line of a recording: a frame, or a connect or close marker."""

    kind: str
    t: float
    direction: Direction | None = None
    text: str | None = None
    binary: bytes | None = None
    code: int | None = None
    reason: str | None = None

    @property
    def type(self) -> str | None:
        """The frame's ``type``, if it is a JSON object with one."""
        if self.text is None:
            return None
        try:
            obj = orjson.loads(self.text)
        except orjson.JSONDecodeError:
            return None
        tag = obj.get("type") if isinstance(obj, dict) else None
        return tag if isinstance(tag, str) else None


def read_recording(path: str | os.PathLike[str]) -> Iterator[RecordedFrame]:
    """The frames and markers of a recording, in order (the ``start`` line is skipped).

    Raises :class:`ValueError` naming the file and line for a line that is not a recording's.
    """
    with open(path, "rb") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a recording line: {exc}") from None
            problem = _recording_line_problem(record)
            if problem is not None:
                raise ValueError(f"{path}:{number}: not a recording line: {problem}")
            if record["kind"] == "start":
                continue
            binary = record.get("binary")
            yield RecordedFrame(
                kind=record["kind"],
                t=float(record["t"]),
                direction=record.get("dir"),
                text=record.get("text"),
                binary=base64.b64decode(binary) if isinstance(binary, str) else None,
                code=record.get("code"),
                reason=record.get("reason"),
            )


def _recording_line_problem(record: object) -> str | None:
    """What makes ``record`` something the recorder does not write, if anything."""
    if not isinstance(record, dict):
        return "a JSON object was expected"
    kind = record.get("kind")
    if kind not in ("start", "connect", "frame", "close"):
        return f"unknown kind {kind!r} (start, connect, frame or close)"
    if kind == "start":
        return None
    t = record.get("t")
    if not isinstance(t, int | float) or isinstance(t, bool):
        return f"{kind} without a time 't'"
    if kind == "frame":
        if record.get("dir") not in ("in", "out"):
            return f"frame with direction {record.get('dir')!r} (in or out)"
        if not isinstance(record.get("text"), str) and not isinstance(record.get("binary"), str):
            return "frame with neither 'text' nor 'binary'"
    return None


def restore_audio(text: str) -> str:
    """A recorded frame with elided audio given back silence of the same length."""
    if ELIDED_KEY not in text:
        return text
    obj = orjson.loads(text)
    nbytes = obj.pop(ELIDED_KEY, 0)
    field = _AUDIO_FIELDS.get(obj.get("type"))
    if field is not None:
        obj[field] = base64.b64encode(bytes(nbytes)).decode("ascii")
    return orjson.dumps(obj).decode()
