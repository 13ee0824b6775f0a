"""Matching the server's replies to the client requests that await them. Sans-IO.

The server echoes a client ``event_id`` only inside an ``error``; success replies carry none.
So a pending request is found either by that ``event_id`` (failure) or by what the reply is
about: the item id for item requests, first-in-first-out for ``session.update``, commit and
clear. Concurrent retrievals of one item share a single request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .._wire._server_events import (
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemDeleted,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    Error,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    ResponseCreated,
    ResponseDone,
    ServerEvent,
    SessionUpdated,
)
from ._responses import ResponseRequest, request_tag

__all__ = ["PendingRequest", "RequestTracker"]


@attrs.define(eq=False)
class PendingRequest:
    """One request awaiting its reply; ``on_done`` is called once it has one.

    :meth:`settle` only records the outcome (the conversation core does that, and returns the
    request for its I/O shell to wake the waiter); :meth:`finish` records it and notifies.
    """

    kind: str
    key: str | None
    event_id: str
    on_done: Callable[[], None]
    reply: ServerEvent | None = None
    error: Exception | None = None
    done: bool = False
    waiters: int = 0
    """Callers waiting on it (a retrieval or a cancellation may be shared)."""
    response_request: ResponseRequest | None = None
    """For a ``response.create``: the request it sends (nobody waits on its reply)."""

    def settle(self, reply: ServerEvent | None = None, error: Exception | None = None) -> bool:
        """Record the outcome without notifying; False if it already had one."""
        if self.done:
            return False
        self.reply, self.error, self.done = reply, error, True
        return True

    def finish(self, reply: ServerEvent | None = None, error: Exception | None = None) -> None:
        """Record the outcome and notify the waiter (only the first outcome counts)."""
        if self.settle(reply, error):
            self.on_done()


def _reply_key(event: ServerEvent) -> tuple[str, str | None] | None:
    match event:
        case ConversationItemRetrieved(item=item):
            return ("retrieve", item.id if isinstance(item.id, str) else None)
        case ConversationItemAdded(item=item) | ConversationItemCreated(item=item):
            return ("create", item.id if isinstance(item.id, str) else None)
        case ConversationItemDeleted(item_id=item_id):
            return ("delete", item_id)
        case ConversationItemTruncated(item_id=item_id):
            return ("truncate", item_id)
        case SessionUpdated():
            return ("session.update", None)
        case InputAudioBufferCommitted():
            return ("commit", None)
        case InputAudioBufferCleared():
            return ("clear", None)
        case ResponseCreated(response=response):
            return ("response.create", request_tag(response))
        case ResponseDone(response=response) if isinstance(response.id, str):
            return ("response.done", response.id)
    return None


@attrs.define
class RequestTracker:
    """The pending requests of one connection."""

    _by_key: dict[tuple[str, str | None], list[PendingRequest]] = attrs.field(factory=dict)
    _by_event_id: dict[str, PendingRequest] = attrs.field(factory=dict)

    def __len__(self) -> int:
        return len(self._by_event_id)

    def find(self, kind: str, key: str | None) -> PendingRequest | None:
        """A pending request of this kind and key (to share, e.g. a retrieval)."""
        queue = self._by_key.get((kind, key))
        return queue[0] if queue else None

    def add(self, request: PendingRequest) -> None:
        """Start tracking a request that is about to be sent."""
        self._by_key.setdefault((request.kind, request.key), []).append(request)
        self._by_event_id[request.event_id] = request

    def discard(self, request: PendingRequest) -> None:
        """Stop tracking a request (answered, failed, timed out or abandoned)."""
        self._by_event_id.pop(request.event_id, None)
        queue = self._by_key.get((request.kind, request.key))
        if queue and request in queue:
            queue.remove(request)
            if not queue:
                del self._by_key[(request.kind, request.key)]

    def on_server_event(self, event: ServerEvent, error_type: Callable[[Any], Exception]) -> None:
        """Complete whatever request ``event`` answers; ``error_type`` builds failures."""
        request = self.match(event, error_type)
        if request is not None:
            request.on_done()

    def match(
        self, event: ServerEvent, error_type: Callable[[Any], Exception]
    ) -> PendingRequest | None:
        """Settle (without notifying) the request ``event`` answers, and return it."""
        if not self._by_event_id:
            return None  # nothing pending: the common case
        if isinstance(event, Error):
            event_id = event.error.event_id
            request = self._by_event_id.get(event_id) if isinstance(event_id, str) else None
            if request is None:
                return None
            self.discard(request)
            return request if request.settle(error=error_type(event.error)) else None
        key = _reply_key(event)
        if key is None:
            return None
        queue = self._by_key.get(key)
        if not queue:
            return None
        request = queue[0]
        self.discard(request)
        return request if request.settle(reply=event) else None

    def fail_all(self, error: Exception) -> None:
        """Fail every pending request (the connection is gone)."""
        for request in self.settle_all(error):
            request.on_done()

    def settle_all(self, error: Exception) -> list[PendingRequest]:
        """Fail every pending request without notifying; returns those it settled."""
        requests = list(self._by_event_id.values())
        self._by_key.clear()
        self._by_event_id.clear()
        return [request for request in requests if request.settle(error=error)]
