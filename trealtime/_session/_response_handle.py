"""What ``Session.create_response`` returns: a handle on one requested response."""

from __future__ import annotations

import attrs
import trio

from .._agent._metrics import ResponseMetrics
from .._errors import RealtimeError
from .._transport._inbox import Inbox
from .._wire._item_models import Item
from .._wire._notgiven import is_given
from .._wire._response_models import Response
from .._wire._server_events import ResponseOutputItemDone, ServerEvent
from ._responses import ResponseDropped, ResponseRequest

__all__ = ["ResponseDropped", "ResponseHandle"]


@attrs.define(eq=False)
class _Stream:
    send: trio.MemorySendChannel[ServerEvent]
    receive: Inbox[ServerEvent]
    overflowed: bool = False


class ResponseHandle:
    """A requested response: wait for it, read its metrics, or iterate its events.

    ``await handle.done()`` returns the final :class:`Response` (status, output items, usage);
    it raises :class:`ServerError` if the server refused the request, :class:`ResponseDropped`
    if an interruption dropped it before it started, and :class:`SessionClosed` or
    :class:`ConnectionLost` if the connection ended first.

    ``async for event in handle`` gives the events of this response (those carrying its id),
    from ``response.created`` to ``response.done``. They are also in the session's own event
    stream, which must still be read. Up to ``buffer`` events wait for the handle's reader; if
    it falls further behind, iterating raises :class:`RealtimeError` rather than skip events.
    """

    def __init__(self, request: ResponseRequest, buffer: int) -> None:
        self._request = request
        self._created = trio.Event()
        self._done = trio.Event()
        self._error: BaseException | None = None
        self._output: dict[int, Item] = {}
        """The response's items from ``response.output_item.done``, by ``output_index``."""
        self.metrics: ResponseMetrics | None = None
        """Latency, status and usage, once the response is done."""
        send, receive = trio.open_memory_channel[ServerEvent](buffer)
        self._stream = _Stream(send, Inbox(receive))

    def __repr__(self) -> str:
        return f"<ResponseHandle {self.id or self._request.tag} {self._request.state}>"

    @property
    def id(self) -> str | None:
        """The server's response id, once created."""
        return self._request.response_id

    @property
    def response(self) -> Response | None:
        """The latest copy of the response (None until created).

        The schema makes a response's ``output`` optional: when ``response.done`` leaves it
        out, the handle fills it in from the ``response.output_item.done`` events it saw.
        """
        return self._request.response

    @property
    def state(self) -> str:
        """``queued``, ``sent``, ``created``, ``done``, ``dropped`` or ``failed``."""
        return self._request.state

    async def created(self) -> Response:
        """Wait until the server has created the response."""
        await self._created.wait()
        self._raise_error()
        assert self._request.response is not None
        return self._request.response

    async def done(self) -> Response:
        """Wait until the response is done and return it."""
        await self._done.wait()
        self._raise_error()
        assert self._request.response is not None
        return self._request.response

    def __aiter__(self) -> ResponseHandle:
        return self

    async def __anext__(self) -> ServerEvent:
        try:
            return await self._stream.receive.receive()
        except trio.EndOfChannel:
            if self._stream.overflowed:
                raise RealtimeError(
                    "the handle's reader fell behind and events were not kept for it; the"
                    " session's event stream has them all"
                ) from None
            raise StopAsyncIteration from None

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    # -- fed by the session -----------------------------------------------------------------------

    def _on_event(self, event: ServerEvent) -> None:
        if isinstance(event, ResponseOutputItemDone):
            self._output[event.output_index] = event.item
        if self._stream.overflowed:
            return
        try:
            self._stream.send.send_nowait(event)
        except trio.WouldBlock:
            self._stream.overflowed = True
            self._stream.send.close()
        except trio.ClosedResourceError:
            pass

    def _on_created(self) -> None:
        self._created.set()

    def _on_uncreated(self) -> None:
        """The response taken for this one by order was not it: wait for the real one."""
        if not self._done.is_set():
            self._created = trio.Event()

    def _on_done(self, metrics: ResponseMetrics | None) -> None:
        self.metrics = metrics
        response = self._request.response
        if response is not None and not is_given(response.output):
            output = [self._output[index] for index in sorted(self._output)]
            self._request.response = attrs.evolve(response, output=output)
        self._created.set()
        self._done.set()
        self._stream.send.close()

    def _fail(self, error: BaseException) -> None:
        if self._done.is_set():
            return
        self._error = error
        self._created.set()
        self._done.set()
        self._stream.send.close()
