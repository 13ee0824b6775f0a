"""Running the model's function calls in the session's nursery.

The session calls :meth:`ToolCallRunner.start_call` on each
``response.function_call_arguments.done`` and :meth:`~ToolCallRunner.on_response_done` on each
``response.done``. The runner sends results back through the callables it was given, and never
touches a socket.

Rules:

- A call runs as a task in the nursery given to ``start_call``, under a shared
  ``trio.CapacityLimiter`` (``max_concurrency``) and a timeout (the tool's, else
  ``default_timeout``). The timeout counts from ``start_call``: it bounds how long the model waits
  for the output, time spent waiting for a free slot included.
- Async handlers are awaited. Sync handlers run in a worker thread
  (``trio.to_thread.run_sync`` with the same limiter, ``abandon_on_cancel=True``): on a timeout or
  an interruption the call ends at once and the thread is abandoned; it keeps its slot until it
  returns, and its result is dropped. Their timeout runs in real time, not on trio's clock,
  which cannot see a thread working (under a mock clock it would jump past the deadline).
- Every call gets exactly one output: the encoded result, an error object (unknown tool, bad
  arguments, a handler that raised, a timeout) or ``"CANCELLED"``. The outputs of one response go
  out in call order. An output whose call the server no longer knows (``is_call_known`` is false
  when it is ready, e.g. after a reconnect) goes to ``send_orphan_result`` instead.
- Once ``response.done`` has been seen and every call of that response has its output, one
  ``request_response()`` follows, if at least one output was sent.
- :meth:`~ToolCallRunner.interrupt` means the user took the turn: running calls are cancelled
  (each sends ``"CANCELLED"``, so no call is left without an output) except ``must_complete``
  ones, which finish and send their output. No response is requested for any response that had
  calls or results pending, and a response request still in flight is cancelled: the model
  answers the user's new turn, and sees the results there.
- A failing callable (the session closed: ``SessionClosed``) is logged and its output dropped;
  the nursery and the other calls go on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import attrs
import trio
import trio.lowlevel

from .._errors import ConfigurationError
from ._tools import (
    CANCELLED,
    ToolArgumentsError,
    ToolProgress,
    ToolRegistry,
    ToolSpec,
    encode_result,
    error_output,
    parse_arguments,
)

__all__ = ["ToolCallRunner", "ToolRunnerStatistics"]

logger = logging.getLogger("trealtime")


@attrs.frozen(kw_only=True)
class ToolRunnerStatistics:
    """Counts of function calls, by how they ended."""

    running: int
    """Started and without an output yet (queued for a slot included)."""
    completed: int
    failed: int
    """Unknown tool, bad arguments, or the handler raised."""
    cancelled: int
    timed_out: int


@attrs.define(eq=False)
class _Response:
    id: str
    nursery: trio.Nursery
    pending: int = 0
    outputs: int = 0
    done: bool = False
    interrupted: bool = False
    last_delivered: trio.Event | None = None


@attrs.define(eq=False)
class _Call:
    call_id: str
    name: str
    arguments: str
    spec: ToolSpec | None
    response: _Response
    previous_delivered: trio.Event | None
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    delivered: trio.Event = attrs.field(factory=trio.Event)


@attrs.define
class _Counters:
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    timed_out: int = 0


class ToolCallRunner:
    """Runs function calls with bounded concurrency and timeouts, and reports their results.

    ``send_output(call_id, output)`` adds a ``function_call_output``;
    ``send_orphan_result(call_id, name, output)`` reports a result the server has no call for;
    ``request_response()`` asks for a (sequenced) response; ``is_call_known(call_id)`` tells
    whether the server's conversation still holds the call.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        send_output: Callable[[str, str], Awaitable[None]],
        send_orphan_result: Callable[[str, str, str], Awaitable[None]],
        request_response: Callable[[], Awaitable[None]],
        is_call_known: Callable[[str], bool],
        send_progress: Callable[[str, str, str], Awaitable[None]] | None = None,
        max_concurrency: int = 4,
        default_timeout: float | None = 30.0,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be at least 1, not {max_concurrency}")
        self.registry = registry
        self._send_output = send_output
        self._send_orphan_result = send_orphan_result
        self._request_response = request_response
        self._is_call_known = is_call_known
        self._send_progress = send_progress
        self._limiter = trio.CapacityLimiter(max_concurrency)
        self._default_timeout = math.inf if default_timeout is None else default_timeout
        self._responses: dict[str, _Response] = {}
        self._calls: dict[str, _Call] = {}
        self._requests: set[trio.CancelScope] = set()
        self._interrupted_ids: set[str] = set()
        self._counters = _Counters()

    def start_call(
        self, nursery: trio.Nursery, *, response_id: str, call_id: str, name: str, arguments: str
    ) -> None:
        """Start a call of ``response_id`` as a task in ``nursery`` (the session's)."""
        if call_id in self._calls:
            logger.warning("function call %s is already running; ignored", call_id)
            return
        response = self._responses.get(response_id)
        if response is None:
            response = self._responses[response_id] = _Response(response_id, nursery)
            response.interrupted = response_id in self._interrupted_ids
        spec = self.registry.get(name)
        call = _Call(call_id, name, arguments, spec, response, response.last_delivered)
        response.last_delivered = call.delivered
        response.pending += 1
        if response.interrupted and not (spec and spec.must_complete):
            call.scope.cancel()
        self._calls[call_id] = call
        nursery.start_soon(self._run, call, name=f"tool call {name} {call_id}")

    def on_response_done(self, response_id: str) -> None:
        """Record ``response.done``: no more calls will come for that response."""
        self._interrupted_ids.discard(response_id)
        response = self._responses.get(response_id)
        if response is None:
            return
        response.done = True
        if self._settle(response):
            try:
                response.nursery.start_soon(self._request, response)
            except RuntimeError:  # the nursery is closed: the session is ending
                logger.debug("no response requested for %s: the session is closing", response_id)

    def interrupt(self, response_ids: Iterable[str] = ()) -> None:
        """The user took the turn: cancel calls (not ``must_complete`` ones), request nothing.

        ``response_ids`` names interrupted responses whose calls may still arrive (a cancelled
        response closes its open call with ``arguments.done``): those calls will not run.
        """
        for response_id in response_ids:
            if response_id not in self._responses:
                self._interrupted_ids.add(response_id)
        for response in self._responses.values():
            response.interrupted = True
        for call in self._calls.values():
            call.response.interrupted = True
            if not (call.spec and call.spec.must_complete):
                call.scope.cancel()
        for scope in self._requests:
            scope.cancel()

    def forget_calls(self) -> None:
        """The connection was replaced: no ``response.done`` will come for the old responses.

        Calls still running deliver their results (as orphans when the new conversation lacks
        the call), then one response is requested per old response, as after its
        ``response.done``. Old responses with nothing running are dropped without a request.
        """
        for response in self._responses.values():
            response.done = True
        self._responses.clear()

    def statistics(self) -> ToolRunnerStatistics:
        """Counts of running and finished calls."""
        return ToolRunnerStatistics(running=len(self._calls), **attrs.asdict(self._counters))

    # -- one call ---------------------------------------------------------------------------------

    async def _run(self, call: _Call) -> None:
        sent = False
        try:
            output = await self._execute(call)
            if call.previous_delivered is not None:
                await call.previous_delivered.wait()
            sent = await self._deliver(call, output)
        finally:
            call.delivered.set()
            del self._calls[call.call_id]
            call.response.pending -= 1
            call.response.outputs += sent
        if self._settle(call.response):
            await self._request(call.response)

    async def _execute(self, call: _Call) -> str:
        if call.spec is None:
            return self._failed(LookupError(f"unknown tool {call.name!r}"))
        try:
            arguments = parse_arguments(call.spec, call.arguments)
        except ToolArgumentsError as exc:
            return self._failed(exc)
        timeout = self._default_timeout if call.spec.timeout is None else call.spec.timeout
        if call.spec.progress_param is not None:
            arguments[call.spec.progress_param] = ToolProgress(
                functools.partial(self._progress, call)
            )
        deadline = trio.move_on_after if call.spec.is_async else _move_on_after_real_time
        with call.scope:
            with deadline(timeout):
                try:
                    output = encode_result(await self._invoke(call.spec, arguments))
                except Exception as exc:
                    logger.warning("tool %s raised", call.name, exc_info=True)
                    return self._failed(exc)
                self._counters.completed += 1
                return output
            self._counters.timed_out += 1
            return error_output(TimeoutError(f"timed out after {timeout:g} s"))
        self._counters.cancelled += 1
        return CANCELLED

    async def _invoke(self, spec: ToolSpec, arguments: dict[str, Any]) -> Any:
        if spec.is_async:
            async with self._limiter:
                return await spec.handler(**arguments)
        return await trio.to_thread.run_sync(
            functools.partial(spec.handler, **arguments),
            abandon_on_cancel=True,
            limiter=self._limiter,
        )

    async def _progress(self, call: _Call, result: Any) -> None:
        """An intermediate result: sent at once, the call stays open."""
        if self._send_progress is None:
            return
        try:
            await self._send_progress(call.call_id, call.name, encode_result(result))
        except Exception:
            logger.warning("the progress of %s could not be sent", call.call_id, exc_info=True)

    def _failed(self, exc: Exception) -> str:
        self._counters.failed += 1
        return error_output(exc)

    async def _deliver(self, call: _Call, output: str) -> bool:
        try:
            if self._is_call_known(call.call_id):
                await self._send_output(call.call_id, output)
            else:
                await self._send_orphan_result(call.call_id, call.name, output)
        except Exception:
            logger.warning("the output of function call %s was lost", call.call_id, exc_info=True)
            return False
        return True

    # -- responses --------------------------------------------------------------------------------

    def _settle(self, response: _Response) -> bool:
        """Forget a finished response; return whether it should be answered by a response."""
        if not response.done or response.pending:
            return False
        if self._responses.get(response.id) is response:
            del self._responses[response.id]
        return response.outputs > 0 and not response.interrupted

    async def _request(self, response: _Response) -> None:
        with trio.CancelScope() as scope:
            self._requests.add(scope)
            try:
                await self._request_response()
            except Exception:
                logger.warning("response.create after %s failed", response.id, exc_info=True)
            finally:
                self._requests.discard(scope)


@contextlib.contextmanager
def _move_on_after_real_time(seconds: float) -> Iterator[trio.CancelScope]:
    """``trio.move_on_after`` in real time, for work in a thread.

    Trio's clock cannot see a thread working: a mock clock (``autojump_clock``) would jump
    straight past the deadline of a sync tool that is busy. A timer thread cancels the scope
    after ``seconds`` of wall-clock time instead.
    """
    with trio.CancelScope() as scope:
        timer: threading.Timer | None = None
        if math.isfinite(seconds):
            token = trio.lowlevel.current_trio_token()

            def cancel() -> None:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(scope.cancel)

            timer = threading.Timer(max(0.0, seconds), cancel)
            timer.daemon = True
            timer.start()
        try:
            yield scope
        finally:
            if timer is not None:
                timer.cancel()
