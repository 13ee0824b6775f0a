"""Requests whose reply is awaited: the I/O half of request matching.

The conversation core (:mod:`~trealtime._session._core`) matches each server event to the
request it answers and records the outcome; the :class:`Requester` sends the request, and waits
(within the request timeout) until the core's :class:`~trealtime._session._actions.ResolveRequest`
wakes it. Several callers may share one request (a retrieval, a cancellation).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

from .._errors import RequestTimeout
from .._transport._link import Link
from .._wire._client_events import ClientEvent
from .._wire._codec import encode_client_event
from .._wire._server_events import ServerEvent
from ._core import ConversationCore
from ._requests import PendingRequest

__all__ = ["Requester"]


class Requester:
    """Sends requests through the session and waits for the replies the core matches.

    ``send`` queues an event on the session's outbound channel; ``check_open`` raises once the
    session has ended.
    """

    def __init__(
        self,
        core: ConversationCore,
        *,
        send: Callable[[ClientEvent], Awaitable[None]],
        check_open: Callable[[], None],
        request_timeout: float,
    ) -> None:
        self._core = core
        self._send = send
        self._check_open = check_open
        self.request_timeout = request_timeout
        self._waiters: dict[PendingRequest, trio.Event] = {}

    async def request(
        self, event: ClientEvent, kind: str, key: str | None, *, link: Link | None = None
    ) -> ServerEvent:
        """Send ``event`` and return its reply (``kind`` and ``key`` say what answers it)."""
        return await self.wait(await self.start_request(event, kind, key, link=link))

    async def start_request(
        self, event: ClientEvent, kind: str, key: str | None, *, link: Link | None = None
    ) -> PendingRequest:
        """Send a request whose reply will be awaited (``link``: ahead of the queue)."""
        self._check_open()
        event = attrs.evolve(event, event_id=self._core.next_event_id())
        assert isinstance(event.event_id, str)
        done = trio.Event()
        request = PendingRequest(kind, key, event.event_id, done.set)
        self._waiters[request] = done
        self._core.requests.add(request)
        try:
            if link is None:
                await self._send(event)
            else:
                await link.send_now(encode_client_event(event))
        except BaseException:
            self.forget(request)
            raise
        return request

    async def wait(self, request: PendingRequest, within: float | None = None) -> ServerEvent:
        """Wait for ``request``'s reply; several callers may share one request."""
        done = self._waiters[request]
        request.waiters += 1
        timeout = self.request_timeout if within is None else within
        try:
            with trio.move_on_after(timeout):
                await done.wait()
        finally:
            request.waiters -= 1
            if request.waiters == 0:
                self.forget(request)  # the last one out: nobody wants the reply
        if not request.done:
            raise RequestTimeout(
                f"no reply to {request.kind} within {timeout} s (event_id {request.event_id})"
            )
        if request.error is not None:
            raise request.error
        assert request.reply is not None
        return request.reply

    def forget(self, request: PendingRequest) -> None:
        """Stop tracking ``request`` (answered, timed out, or nobody waits any more)."""
        self._core.requests.discard(request)
        self._waiters.pop(request, None)

    async def shared_request(self, event: ClientEvent, kind: str, key: str) -> ServerEvent:
        """Join the pending request of this kind and key, or make it."""
        existing = self._core.requests.find(kind, key)
        if existing is not None and existing in self._waiters:
            return await self.wait(existing)
        return await self.request(event, kind, key)
