"""Carrying out the conversation core's actions: the I/O half of each decision it makes.

The core (:mod:`~trealtime._session._core`) says what to do; the :class:`ActionRunner` does it:
it wakes the requests the core resolved, feeds and settles the response handles, starts and
interrupts tool calls, publishes DTMF, and sends the frames the core asked for (arming the
expiry of each ``response.create``, whose decision goes back to the core).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import trio

from .._agent._dtmf import DtmfListeners
from .._agent._tool_runner import ToolCallRunner
from .._errors import SessionClosed
from .._wire._client_events import ClientEvent
from .._wire._server_events import InputAudioBufferDtmfEventReceived, ServerEvent
from ._actions import (
    Actions,
    HandleCreated,
    HandleDone,
    HandleFailed,
    HandleUncreated,
    InterruptToolCalls,
    PublishDtmf,
    ResolveRequest,
    RouteToHandle,
    SendEvent,
    SendResponseCreate,
    StartToolCall,
    ToolResponseDone,
)
from ._core import ConversationCore
from ._response_handle import ResponseHandle
from ._responses import ResponseRequest

__all__ = ["ActionRunner"]


class ActionRunner:
    """Does what the core decides, for one session (``send`` queues a client event)."""

    def __init__(
        self,
        core: ConversationCore,
        *,
        tools: ToolCallRunner,
        dtmf: DtmfListeners,
        send: Callable[[ClientEvent], Awaitable[None]],
        request_timeout: float,
        handle_buffer: int,
    ) -> None:
        self._core = core
        self._tools = tools
        self._dtmf = dtmf
        self._send = send
        self._request_timeout = request_timeout
        self._handle_buffer = handle_buffer
        self.handles: dict[str, ResponseHandle] = {}
        """The handles of requested responses, by request tag, until their outcome."""
        self.nursery: trio.Nursery | None = None
        """Where tool calls and expiry timers run (the session's, once it runs)."""

    async def request_response(self, request: ResponseRequest) -> ResponseHandle:
        """Give ``request`` a handle and hand it to the core, which sends it now or queues it."""
        handle = ResponseHandle(request, self._handle_buffer)
        self.handles[request.tag] = handle
        await self.execute(self._core.submit_response(request, trio.current_time()), quiet=False)
        return handle

    def apply(self, actions: Actions, event: ServerEvent | None = None, start: int = 0) -> int:
        """Carry out the actions that need no I/O, from ``start`` up to the first one that
        does; returns its index (``len(actions)`` once all are done). ``event`` is the server
        event the actions follow."""
        handles = self.handles
        for index in range(start, len(actions)):
            match actions[index]:
                case RouteToHandle(request=request):
                    handle = handles.get(request.tag)
                    if handle is not None and event is not None:
                        handle._on_event(event)
                case ResolveRequest(request=pending):
                    pending.on_done()
                case HandleCreated(request=request):
                    if (handle := handles.get(request.tag)) is not None:
                        handle._on_created()
                case HandleUncreated(request=request):
                    if (handle := handles.get(request.tag)) is not None:
                        handle._on_uncreated()
                case HandleDone(request=request, metrics=metrics):
                    if (handle := handles.pop(request.tag, None)) is not None:
                        if event is not None:
                            handle._on_event(event)
                        handle._on_done(metrics)
                case HandleFailed(request=request, error=error):
                    if (handle := handles.pop(request.tag, None)) is not None:
                        handle._fail(error)
                case StartToolCall() as call:
                    self._start_tool_call(call)
                case InterruptToolCalls(response_ids=response_ids):
                    self._tools.interrupt(list(response_ids))
                case ToolResponseDone(response_id=response_id):
                    self._tools.on_response_done(response_id)
                case PublishDtmf():
                    assert isinstance(event, InputAudioBufferDtmfEventReceived)
                    self._dtmf.publish(event)
                case SendEvent() | SendResponseCreate():
                    return index
        return len(actions)

    async def execute(
        self,
        actions: Actions,
        event: ServerEvent | None = None,
        start: int = 0,
        *,
        quiet: bool = True,
    ) -> None:
        """Carry out the actions in order, from ``start``. A ``quiet`` send that the session's
        end refuses is dropped (the core's next events, if any, settle what it was for)."""
        index = self.apply(actions, event, start)
        while index < len(actions):
            action = actions[index]
            with contextlib.suppress(*(_CLOSED if quiet else ())):
                if isinstance(action, SendResponseCreate):
                    await self._send_response_create(action)
                elif isinstance(action, SendEvent):
                    await self._send(action.event)
            index = self.apply(actions, event, index + 1)

    def _start_tool_call(self, call: StartToolCall) -> None:
        if self.nursery is not None:
            self._tools.start_call(
                self.nursery,
                response_id=call.response_id,
                call_id=call.call_id,
                name=call.name,
                arguments=call.arguments,
            )

    async def _send_response_create(self, action: SendResponseCreate) -> None:
        """Send a ``response.create``; a default-conversation one expires if never answered."""
        try:
            await self._send(action.event)
        except BaseException:
            self._core.requests.discard(action.pending)
            raise
        if self.nursery is not None and not action.request.out_of_band:
            self.nursery.start_soon(self._expire_response_request, action)

    async def _expire_response_request(self, sent: SendResponseCreate) -> None:
        """Give up on a request the server never answered, so that the queue moves on."""
        await trio.sleep(self._request_timeout)
        now = trio.current_time()
        timeout = self._request_timeout
        await self.execute(self._core.expire_response(sent.request, sent.pending, timeout, now))


_CLOSED = (SessionClosed, trio.ClosedResourceError)
"""What a send raises once the session has ended."""
