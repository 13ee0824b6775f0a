"""The receive path: each frame a connection reads, decoded, followed, and queued for the caller.

It runs once per frame (audio deltas arrive fifty times a second per stream), so it stays one
call deep: count, record, decode, let the core follow the event (and run what it asks), queue.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import attrs
import trio

from .._log_limit import LimitedWarnings
from .._transport._link import Link
from .._wire._codec import decode_server_event, with_part_types_in
from .._wire._server_events import InvalidServerEvent, ServerEvent
from ._action_runner import ActionRunner
from ._core import ConversationCore
from ._inbound_queue import InboundQueue
from ._recording import Recorder
from ._supervisor import OBSERVED_EVENTS

__all__ = ["FrameCounters", "Receiver"]


@attrs.define
class FrameCounters:
    """Frames both ways, and the reactions to server events that failed."""

    events_received: int = 0
    bytes_received: int = 0
    events_sent: int = 0
    bytes_sent: int = 0
    failed_reactions: int = 0


class Receiver:
    """Turns the frames every link reads into events the session follows and the caller reads."""

    def __init__(
        self,
        *,
        core: ConversationCore,
        actions: ActionRunner,
        inbound: InboundQueue[ServerEvent],
        observe: Callable[[Link, ServerEvent], None],
        counters: FrameCounters,
        warnings: LimitedWarnings,
        recorder: Recorder | None,
        started: float,
    ) -> None:
        self._core = core
        self._actions = actions
        self._inbound = inbound
        self._observe = observe
        """The supervisor's look at the events about the connection itself."""
        self._counters = counters
        self._warnings = warnings
        self._recorder = recorder
        self._started = started

    async def on_frame(self, link: Link, message: str | bytes) -> None:
        """One frame from ``link``: decoded (a bad one as ``InvalidServerEvent``), followed, and
        queued for the caller (waiting while the caller's queue is full)."""
        counters = self._counters
        counters.events_received += 1
        counters.bytes_received += len(message)
        now = trio.current_time()
        if self._recorder is not None:
            try:
                self._recorder.frame(now - self._started, "in", message)
            except Exception as exc:  # a recording must never cost the session
                self.warn_reaction("recording", "a frame", exc)
        if isinstance(message, str):
            try:
                event = with_part_types_in(decode_server_event(message))
            except Exception as exc:  # the codec's own failure is one bad frame, no more
                event = InvalidServerEvent(type="", raw=message, error=f"undecodable: {exc!r}")
        else:
            event = InvalidServerEvent(
                type="", raw=message, error="binary frame: the Realtime API sends only text"
            )
        try:
            if type(event) in OBSERVED_EVENTS:
                self._observe(link, event)
            actions = self._core.receive(event, now)
            if actions:
                done = self._actions.apply(actions, event)
                if done < len(actions):
                    await self._actions.execute(actions, event, done)
        except Exception as exc:
            # One behaviour failing on an odd event must not end the session: the event is
            # still delivered, and the state follows the next ones.
            self.warn_reaction("following", event.type or "an event", exc)
        try:
            # The link checkpoints on every read; a frame need not cost a switch of its own.
            self._inbound.put_nowait(event, len(message))
        except trio.WouldBlock:
            await self.deliver(event, len(message))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # nobody reads any more: the state and the requests still follow the stream

    def warn_reaction(self, doing: str, what: str, exc: Exception) -> None:
        """Count and log (rate-limited) a reaction that failed; the session goes on."""
        self._counters.failed_reactions += 1
        self._warnings.warning(
            "%s %s failed (%s: %s); the session goes on", doing, what, type(exc).__name__, exc
        )

    async def deliver(self, event: ServerEvent, size: int = 0) -> None:
        """Queue ``event`` for the caller, waiting for room; dropped once nobody reads."""
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._inbound.put(event, size)
