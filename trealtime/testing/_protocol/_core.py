"""The core one connection of the fake server drives (sans-IO): client frames in, server
frames out.

:class:`FakeProtocol` wraps the connection's :class:`FakeSession` (the protocol state) and
turns what it produces into the text frames to write, in order: each event with an
``event_id``, and in strict mode without the optional fields the API may leave out. Responses
take time, so :meth:`FakeProtocol.receive` hands back the ones it started; the transport calls
:meth:`FakeProtocol.advance` for each at its own pace (real time, or as fast as the client
reads) until the response is done. The transport only moves frames and runs timers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import attrs
import orjson

from ...events import ClientEvent, ServerEvent, encode_server_event
from ._responses import ResponseStream
from ._session import FakeSession
from ._strict import leave_out_optional

__all__ = ["FakeProtocol", "Outgoing", "Progress", "Reply"]


class Outgoing(NamedTuple):
    """A frame to write: its text, and the ``type`` of the event it carries (for triggers).

    A named tuple: one is made per frame the fake sends."""

    text: str
    type: str | None


@attrs.frozen
class Reply:
    """What one client frame caused: its decoded event, the frames to write now, and the
    responses it started (to :meth:`FakeProtocol.advance`)."""

    event: ClientEvent
    frames: list[Outgoing]
    started: list[ResponseStream]


@attrs.frozen
class Progress:
    """One step of a response: frames to write now, and the milliseconds of audio they carry
    (the time they take to play). ``done``: this was the response's last step."""

    frames: list[Outgoing]
    audio_ms: int
    done: bool


class FakeProtocol:
    """The protocol core of one connection: ``state`` answers, this encodes.

    ``strict`` is asked at each frame, since the server's option may change while it runs.
    """

    def __init__(
        self,
        state: FakeSession,
        *,
        new_id: Callable[[str], str],
        strict: Callable[[], bool] = lambda: False,
    ) -> None:
        self.state = state
        self.new_id = new_id
        """The connection's id factory (``new_id("resp")`` → ``resp_…``), shared with ``state``."""
        self._strict = strict

    def open(self) -> list[Outgoing]:
        """The frames sent as soon as the connection opens (``session.created``)."""
        return self.frames(self.state.open())

    def receive(self, data: str | bytes) -> Reply:
        """Handle one client frame (see :meth:`FakeSession.receive`)."""
        event, events = self.state.receive(data)
        return Reply(event, self.frames(events), self.state.take_started())

    def advance(self, stream: ResponseStream) -> Progress:
        """The next deltas of a started response, or (none left) its end."""
        step = stream.step()
        if step is None:
            return Progress(self.frames(stream.finish()), 0, done=True)
        return Progress(self.frames(step.events), step.audio_ms, done=False)

    def frames(self, events: list[ServerEvent]) -> list[Outgoing]:
        """The frames of ``events``, in order."""
        return [Outgoing(self.encode(event), event.type) for event in events]

    def encode(self, event: ServerEvent) -> str:
        """The JSON text of a server event, with an ``event_id`` filled in (strict mode: with
        the optional fields left out)."""
        if not event.event_id:
            event = attrs.evolve(event, event_id=self.new_id("event"))
        if self._strict():
            event = leave_out_optional(event)
        return encode_server_event(event)

    def encode_body(self, body: Mapping[str, Any]) -> Outgoing:
        """The frame of a JSON-ready event a test scripted, with an ``event_id`` if it had none."""
        full = {"event_id": self.new_id("event"), **body}
        kind = full.get("type")
        return Outgoing(orjson.dumps(full).decode(), kind if isinstance(kind, str) else None)
