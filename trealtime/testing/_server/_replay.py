"""Replaying a recording's server side against a live client (``FakeRealtimeServer.serve_replay``).

The server's *k*-th connection replays the recording's *k*-th connection: its frames, up to its
``close`` marker (a connection beyond the last recorded one is refused with HTTP 503). Walking
them in order, the replay

- sends each recorded server frame (``"in"``), elided audio given back as silence of the same
  length, at its recorded offset from the connection's start (``timed``) or at once;
- waits, at most ``reply_timeout`` seconds, for the live client's next frame for each recorded
  client frame (``"out"``) and compares the two (see :class:`Divergence`).

A server frame that answers a client frame goes out only once that client frame arrived, even
if the recording caught the answer first: one that carries a value the client made up (an
``event_id``, an item id, a response tag) waits for the frame that defined it, and a
``session.updated``, ``input_audio_buffer.committed`` or ``…cleared`` for its request.

The live client's values differ from the recorded ones (random ids and tags): the replay learns
them where the client defines them (``event_id``, ``item.id`` of an item it creates,
``response.metadata.trealtime_request``) and writes them into the frames it sends back, so the
client recognises its answers. Audio is compared by length only.

At the end of a connection the replay closes it as recorded (no close frame for 1005/1006).
On the recording's last connection it first gives the client ``reply_timeout`` seconds to
close (most recordings end with the client leaving); client frames then are *unexpected*.
"""

from __future__ import annotations

import base64
import binascii
import collections
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

import attrs
import orjson
import trio
from trio_websocket import ConnectionClosed

from ..._session._recording import RecordedFrame, read_recording, restore_audio
from ..._session._responses import REQUEST_TAG

__all__ = ["Divergence", "Replay", "ReplayPlayer", "ReplayReport", "ReplayTarget"]

DEFINING_PATHS = frozenset({"event_id", "item.id", f"response.metadata.{REQUEST_TAG}"})
"""Where a client makes up a value; the replay maps the recorded value to the live one."""
REFERENCE_KEYS = frozenset({"id", "item_id", "previous_item_id", "event_id", REQUEST_TAG})
"""Keys whose value may be one the client made up: compared through that mapping."""
AUDIO_KEYS = frozenset({"audio"})
"""Keys whose string value is base64 audio: compared by decoded length only."""
_ANSWERS = {
    "session.updated": "session.update",
    "input_audio_buffer.committed": "input_audio_buffer.commit",
    "input_audio_buffer.cleared": "input_audio_buffer.clear",
}
_UNSENDABLE_CODES = frozenset({1005, 1006, 1015})
_MAX_DETAILS = 3


@attrs.frozen
class Divergence:
    """Where the live client's frames differ from the recording.

    ``index`` is the recorded frame's position in the recording (0-based, markers included:
    ``list(read_recording(path))[index]``); for an unexpected frame, the position the replay had
    reached. ``expected_type`` is ``None`` for a frame the recording does not have,
    ``got_type`` ``None`` for a recorded frame the client never sent. ``detail`` says what
    differs (``path: got … (recorded …)``).
    """

    index: int
    expected_type: str | None
    got_type: str | None
    detail: str


@attrs.define
class ReplayReport:
    """What a replay found: ``matched`` client frames, and every difference."""

    divergences: list[Divergence] = attrs.field(factory=list)
    matched: int = 0
    """Recorded client frames the live client sent alike."""
    missing: int = 0
    """Recorded client frames the live client did not send (in time)."""
    unexpected: int = 0
    """Live client frames the recording does not have."""

    @property
    def ok(self) -> bool:
        """Whether the live client did exactly what was recorded."""
        return not self.divergences


class ReplayTarget(Protocol):
    """The connection a replay plays on (a ``FakeConnection``)."""

    async def send_raw(self, data: str | bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...

    async def abort(self, *, reset: bool = False) -> None: ...


def _json(data: str | bytes | None) -> Any:
    if data is None:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _type_of(obj: Any) -> str | None:
    tag = obj.get("type") if isinstance(obj, dict) else None
    return tag if isinstance(tag, str) else None


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON value, with its dotted path (list indices left out)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for child in value:
            yield from _leaves(child, path)
    elif isinstance(value, str):
        yield path, value


def _audio_length(b64: str) -> int | None:
    try:
        return len(base64.b64decode(b64, validate=True))
    except (binascii.Error, ValueError):
        return None


class _Ids:
    """The values the live client made up in place of the recorded ones: recorded -> live."""

    def __init__(self) -> None:
        self._live: dict[str, str] = {}

    def resolve(self, recorded: str) -> str:
        """The live value standing for a recorded one (itself if the client did not make it up)."""
        return self._live.get(recorded, recorded)

    def define(self, recorded: str, live: str) -> str | None:
        """Learn that ``live`` stands for ``recorded``; a problem if it contradicts what was."""
        known = self._live.get(recorded)
        if known is not None and known != live:
            return f"{live!r} where {known!r} was used before (recorded {recorded!r})"
        if known is None and recorded != live:
            self._live[recorded] = live
        return None

    def substitute(self, text: str) -> str:
        """A recorded server frame with the live values in place of the recorded ones."""
        if not self._live or not any(recorded in text for recorded in self._live):
            return text
        return orjson.dumps(self._replace(orjson.loads(text))).decode()

    def _replace(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self._replace(child) for key, child in value.items()}
        if isinstance(value, list):
            return [self._replace(child) for child in value]
        if isinstance(value, str):
            return self._live.get(value, value)
        return value

    def differences(self, recorded: Any, live: Any, path: str = "") -> list[str]:
        """How a live client frame differs from the recorded one (learning the live values)."""
        if isinstance(recorded, dict) and isinstance(live, dict):
            found = []
            for key in [*recorded, *(k for k in live if k not in recorded)]:
                where = f"{path}.{key}" if path else key
                if key not in live:
                    found.append(f"{where}: missing (recorded {recorded[key]!r})")
                elif key not in recorded:
                    found.append(f"{where}: {live[key]!r} (not recorded)")
                else:
                    found += self._difference(key, where, recorded[key], live[key])
            return found
        if isinstance(recorded, list) and isinstance(live, list):
            if len(recorded) != len(live):
                return [f"{path}: {len(live)} elements (recorded {len(recorded)})"]
            return [
                d
                for i, (r, g) in enumerate(zip(recorded, live, strict=True))
                for d in self.differences(r, g, f"{path}[{i}]")
            ]
        return [] if recorded == live else [f"{path or 'frame'}: {live!r} (recorded {recorded!r})"]

    def _difference(self, key: str, where: str, recorded: Any, live: Any) -> list[str]:
        if not isinstance(recorded, str) or not isinstance(live, str):
            return self.differences(recorded, live, where)
        if key in AUDIO_KEYS:
            got, expected = _audio_length(live), _audio_length(recorded)
            return [] if got == expected else [f"{where}: {got} bytes (recorded {expected})"]
        if _bare(where) in DEFINING_PATHS:
            problem = self.define(recorded, live)
            return [] if problem is None else [f"{where}: {problem}"]
        if key in REFERENCE_KEYS and self.resolve(recorded) != live:
            return [f"{where}: {live!r} (recorded {recorded!r}, here {self.resolve(recorded)!r})"]
        if key not in REFERENCE_KEYS and recorded != live:
            return [f"{where}: {live!r} (recorded {recorded!r})"]
        return []


def _bare(path: str) -> str:
    """A path without list indices: ``response.input[0].id`` -> ``response.input.id``."""
    while "[" in path:
        start = path.index("[")
        path = path[:start] + path[path.index("]", start) + 1 :]
    return path


@attrs.frozen
class _Span:
    """One recorded connection: its frames in replay order, and its markers."""

    steps: list[tuple[int, RecordedFrame]]
    start: float
    close: tuple[int, RecordedFrame] | None
    last: bool


def _schedule(frames: list[tuple[int, RecordedFrame]]) -> list[tuple[int, RecordedFrame]]:
    """The frames in replay order: a server frame moves after the client frame it answers."""
    defined_at: dict[str, int] = {}
    requests: dict[str, collections.deque[int]] = collections.defaultdict(collections.deque)
    parsed = [_json(frame.text) for _, frame in frames]
    for position, ((_, frame), obj) in enumerate(zip(frames, parsed, strict=True)):
        if frame.direction == "out":
            for path, value in _leaves(obj):
                if path in DEFINING_PATHS:
                    defined_at.setdefault(value, position)
            requests[_type_of(obj) or ""].append(position)
    keys = []
    for position, ((_, frame), obj) in enumerate(zip(frames, parsed, strict=True)):
        anchor = position
        if frame.direction == "in":
            anchor = max([position, *(defined_at.get(v, -1) for _, v in _leaves(obj))])
            request = _ANSWERS.get(_type_of(obj) or "")
            if request is not None and requests[request]:
                anchor = max(anchor, requests[request].popleft())
        keys.append((anchor, anchor != position, position))
    return [frames[position] for *_, position in sorted(keys)]


def _spans(frames: Sequence[RecordedFrame]) -> list[_Span]:
    """The recording's connections.

    A ``close`` marker ends one; a ``connect`` marker starts one if the current one already had
    its own (a connection that failed without a close marker). Frames between a ``close`` and
    the next ``connect`` belong to the next connection: the client may read a connection's
    first frames before it writes the marker.
    """
    spans: list[_Span] = []
    current: list[tuple[int, RecordedFrame]] = []
    start: float | None = None

    def flush(close: tuple[int, RecordedFrame] | None) -> None:
        nonlocal current, start
        if start is not None or current:
            first = min([f.t for _, f in current] + ([start] if start is not None else []))
            spans.append(_Span(_schedule(current), first, close, last=False))
        current, start = [], None

    for index, frame in enumerate(frames):
        if frame.kind == "connect":
            if start is not None:
                flush(None)
            start = frame.t
        elif frame.kind == "close":
            flush((index, frame))
        elif frame.kind == "frame":
            current.append((index, frame))
    flush(None)
    if spans:
        spans[-1] = attrs.evolve(spans[-1], last=True)
    return spans


class Replay:
    """A recording's server side, for the connections of a replay server (see the module)."""

    def __init__(
        self,
        recording: str | os.PathLike[str] | Iterable[RecordedFrame],
        *,
        timed: bool = True,
        reply_timeout: float = 5.0,
    ) -> None:
        frames = (
            list(read_recording(recording))
            if isinstance(recording, str | os.PathLike)
            else list(recording)
        )
        self.report = ReplayReport()
        self._spans = _spans(frames)
        self._ids = _Ids()
        self._timed = timed
        self._reply_timeout = reply_timeout

    def player(self, index: int) -> ReplayPlayer | None:
        """The player of the ``index``-th connection (``None`` past the recorded ones)."""
        if index >= len(self._spans):
            return None
        return ReplayPlayer(
            self._spans[index],
            ids=self._ids,
            report=self.report,
            timed=self._timed,
            reply_timeout=self._reply_timeout,
        )


@attrs.define
class _Live:
    data: str | bytes
    obj: Any

    @property
    def type(self) -> str | None:
        return _type_of(self.obj)


class ReplayPlayer:
    """Plays one recorded connection: the connection feeds it the client's frames."""

    def __init__(
        self, span: _Span, *, ids: _Ids, report: ReplayReport, timed: bool, reply_timeout: float
    ) -> None:
        self._span = span
        self._ids = ids
        self._report = report
        self._timed = timed
        self._reply_timeout = reply_timeout
        self._queue: collections.deque[_Live] = collections.deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._gone = trio.Event()
        self._position = 0
        self.done = trio.Event()

    def feed(self, data: str | bytes) -> None:
        """A frame the live client sent."""
        live = _Live(data, _json(data))
        if self.done.is_set():
            self._unexpected(live)
        else:
            self._queue.append(live)
            self._lot.unpark_all()

    def client_gone(self) -> None:
        """The connection ended: nothing more will come, nothing more can be sent."""
        self._gone.set()
        self._lot.unpark_all()

    async def run(self, target: ReplayTarget) -> None:
        """Replay the connection on ``target`` (returns at its end, or when the client left)."""
        origin = trio.current_time() - self._span.start
        try:
            for index, frame in self._span.steps:
                if frame.direction == "out":
                    live = await self._next()
                    self._expect(index, frame, live, "not sent in time")
                elif not self._gone.is_set():
                    if self._timed:
                        await self._sleep_until(origin + frame.t)
                    await self._send(target, frame)
                self._position += 1
            await self._end(target, origin)
        finally:
            self._settle()
            self.done.set()

    async def _next(self) -> _Live | None:
        """The client's next frame, waiting at most ``reply_timeout`` (``None``: nothing)."""
        deadline = trio.current_time() + self._reply_timeout
        while not self._queue and not self._gone.is_set() and trio.current_time() < deadline:
            with trio.move_on_at(deadline):
                await self._lot.park()
        return self._queue.popleft() if self._queue else None

    async def _sleep_until(self, deadline: float) -> None:
        with trio.move_on_at(deadline):
            await self._gone.wait()

    async def _send(self, target: ReplayTarget, frame: RecordedFrame) -> None:
        if frame.text is not None:
            data: str | bytes = self._ids.substitute(restore_audio(frame.text))
        else:
            data = frame.binary or b""
        try:
            await target.send_raw(data)
        except ConnectionClosed:
            self.client_gone()

    async def _end(self, target: ReplayTarget, origin: float) -> None:
        close = self._span.close
        if self._timed and close is not None:
            await self._sleep_until(origin + close[1].t)
        if self._span.last:
            while (live := await self._next()) is not None:
                self._unexpected(live)
        if self._gone.is_set():
            return
        code = close[1].code if close is not None and close[1].code is not None else 1000
        if code in _UNSENDABLE_CODES:
            await target.abort()
        else:
            await target.close(code, close[1].reason if close is not None else None)

    def _expect(self, index: int, frame: RecordedFrame, live: _Live | None, why: str) -> None:
        """Compare a recorded client frame with the live one (``why`` it is ``None``)."""
        expected = frame.type
        report = self._report
        if live is None:
            report.missing += 1
            why = "the client left first" if self._gone.is_set() else why
            report.divergences.append(Divergence(index, expected, None, why))
            return
        if live.type != expected:
            detail = f"sent {live.type} (recorded {expected})"
            report.divergences.append(Divergence(index, expected, live.type, detail))
            return
        if frame.text is None or live.obj is None:
            found = [] if (frame.text or frame.binary) == live.data else ["frame: not the same"]
        else:
            found = self._ids.differences(_json(restore_audio(frame.text)), live.obj)
        if not found:
            report.matched += 1
            return
        more = len(found) - _MAX_DETAILS
        detail = "; ".join(found[:_MAX_DETAILS]) + (f"; and {more} more" if more > 0 else "")
        report.divergences.append(Divergence(index, expected, live.type, detail))

    def _unexpected(self, live: _Live) -> None:
        steps = self._span.steps
        if self._position < len(steps):
            index = steps[self._position][0]
        elif self._span.close is not None:
            index = self._span.close[0]
        else:
            index = steps[-1][0] if steps else 0
        self._report.unexpected += 1
        detail = "not in the recording"
        self._report.divergences.append(Divergence(index, None, live.type, detail))

    def _settle(self) -> None:
        """Account for what the end of the connection cut short."""
        for index, frame in self._span.steps[self._position :]:
            if frame.direction == "out":
                self._expect(index, frame, None, "the connection ended first")
        self._position = len(self._span.steps)
        while self._queue:
            self._unexpected(self._queue.popleft())
