"""One WebSocket connection of a session: its stream, the handshake, and its loops.

A :class:`Session` outlives its links: when one is lost it may open another. A link reads
frames and hands each to the session (``on_frame``); it writes what the session queues on its
outbound channel, but only once the session has opened the gate (after re-sending its settings
and conversation on a new connection, which go out first through :meth:`Link.send_now`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs
import trio

from .._errors import ConnectError, RealtimeError
from ._connect import ConnectStream, Endpoint
from ._deflate import Deflate
from ._groups import single_error
from ._inbox import Inbox
from ._redaction import redact, redact_error, secrets_of_headers
from ._websocket import WebSocket, WebSocketClosed, connect_websocket

__all__ = ["CloseReason", "Keepalive", "Link"]

logger = logging.getLogger("trealtime")

WRITE_FAILURE_GRACE = 2.0
"""Seconds the reader may take to see the server's close frame once a write has failed."""


@attrs.frozen
class CloseReason:
    """Why a connection ended: the WebSocket close code and reason."""

    code: int
    reason: str | None


@attrs.frozen
class Keepalive:
    """Ping every ``interval`` seconds without incoming data; the peer is dead when neither its
    pong nor any other byte arrives within ``timeout``."""

    interval: float = 20.0
    timeout: float = 20.0


class Link:
    """One connection. Run it with ``await nursery.start(link.run)``."""

    def __init__(
        self,
        *,
        endpoint: Endpoint,
        headers: list[tuple[str, str]],
        connect_stream: ConnectStream,
        max_message_size: int,
        compression: Deflate | None = None,
        keepalive: Keepalive | None,
        outbound: trio.MemoryReceiveChannel[str],
        on_frame: Callable[[Link, str | bytes], Awaitable[None]],
        on_sent: Callable[[str], None],
        on_open: Callable[[], None] = lambda: None,
        resend: str | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._headers = headers
        self._connect_stream = connect_stream
        self._max_message_size = max_message_size
        self._compression = compression
        self._keepalive = keepalive
        self._outbound = Inbox(outbound)
        self._on_frame = on_frame
        self._on_sent = on_sent
        self._on_open = on_open
        self.resend = resend
        """A frame taken from the queue whose write failed: the next link sends it first."""
        self.close_reason: CloseReason | None = None
        self.created = trio.Event()
        """Set by the session when ``session.created`` arrives (or when the link ends)."""
        self.response_completed = False
        """Set by the session once a response ran to its end on this link: the link was
        useful (see ``ReconnectPolicy.useful_after``)."""
        self.close_recorded = False
        self.ended = trio.Event()
        self._gate = trio.Event()
        self._drained = trio.Event()
        self._ws: WebSocket | None = None
        self._stream: trio.abc.Stream | None = None
        self._delivering = False
        self._cancel_scope = trio.CancelScope()

    # -- running --------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect and do the handshake (errors raise before ``started``), then serve until
        the connection ends; the stream is always closed."""
        endpoint = self._endpoint
        try:
            with self._cancel_scope:
                try:
                    self._stream = await self._connect_stream(
                        endpoint.host, endpoint.port, endpoint.tls
                    )
                except OSError as exc:
                    raise ConnectError(
                        f"cannot connect to {endpoint.host}:{endpoint.port}: {exc}"
                    ) from None
                try:
                    self._ws = ws = await connect_websocket(
                        self._stream,
                        host=endpoint.authority,
                        resource=endpoint.resource,
                        headers=self._headers,
                        max_message_size=self._max_message_size,
                        compression=self._compression,
                    )
                except RealtimeError as exc:  # the server's answer may quote the key
                    raise redact_error(exc, secrets_of_headers(self._headers)) from None
                self._on_open()  # before any frame is read
                task_status.started()
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._send_loop, ws)
                        if self._keepalive is not None:
                            nursery.start_soon(self._keepalive_loop, ws, self._keepalive)
                        await self._receive_loop(ws)
                        nursery.cancel_scope.cancel()
                except BaseExceptionGroup as group:
                    error = single_error(group)
                    if error is group:
                        raise
                    raise error from None
        finally:
            if self.close_reason is None:
                self.close_reason = CloseReason(1006, "connection lost")
            self.created.set()
            self.ended.set()
            if self._stream is not None:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(self._stream)

    async def _receive_loop(self, ws: WebSocket) -> None:
        while True:
            try:
                message = await ws.receive_message()
            except WebSocketClosed as closed:
                self._closed(closed)
                return
            self._delivering = True
            try:
                await self._on_frame(self, message)
            finally:
                self._delivering = False

    async def _send_loop(self, ws: WebSocket) -> None:
        await self._gate.wait()
        try:
            if self.resend is not None:
                await self._write(ws, self.resend)
                self.resend = None
            while True:
                try:
                    text = await self._outbound.receive()
                except trio.EndOfChannel:
                    return
                try:
                    await self._write(ws, text)
                except WebSocketClosed:
                    self.resend = text
                    raise
        except WebSocketClosed as closed:
            self._drained.set()
            await self._end_after_write_failure(closed)
        finally:
            self._drained.set()

    async def _write(self, ws: WebSocket, text: str) -> None:
        await ws.send_message(text)
        self._on_sent(text)

    async def _end_after_write_failure(self, closed: WebSocketClosed) -> None:
        # The server's close frame may still be unread, and the reader records why the link
        # ended; but a read side that has stopped delivering (a half-dead link) would keep
        # the link, and every caller queued behind it, waiting for ever. The receive loop
        # cancels this wait when it ends first.
        await trio.sleep(WRITE_FAILURE_GRACE)
        logger.warning("a write failed and the server's close never arrived: the link is dead")
        if self.close_reason is None:
            self.close_reason = CloseReason(closed.code, closed.reason)
        self._cancel_scope.cancel()

    async def _keepalive_loop(self, ws: WebSocket, keepalive: Keepalive) -> None:
        # Any bytes received prove the peer alive: on a slow link a pong waits behind the
        # data still arriving, so only a link silent for the whole wait is declared dead.
        while True:
            await trio.sleep(keepalive.interval)
            if self._delivering:
                continue  # we are not reading (the caller is slow), so no pong could arrive
            if trio.current_time() - ws.received_at < keepalive.interval:
                continue  # data came in meanwhile: no ping needed
            pinged_at = trio.current_time()
            ping_failed: WebSocketClosed | None = None
            with trio.move_on_after(keepalive.timeout) as scope:
                try:
                    await ws.ping()
                except WebSocketClosed as closed:
                    ping_failed = closed
            if ping_failed is not None:
                await self._end_after_write_failure(ping_failed)
                return
            if scope.cancelled_caught and not self._delivering and ws.received_at <= pinged_at:
                logger.warning("no pong within %s s: the connection is dead", keepalive.timeout)
                self.close_reason = CloseReason(1006, "keepalive timeout")
                self._cancel_scope.cancel()
                return

    def _closed(self, closed: WebSocketClosed) -> None:
        if self.close_reason is None:
            reason = closed.reason
            if reason:  # the server's words: they may quote the key
                reason = redact(reason, secrets_of_headers(self._headers))
            self.close_reason = CloseReason(closed.code, reason)

    # -- used by the session --------------------------------------------------------------------

    @property
    def server_clock_offset(self) -> float:
        """The server's wall clock less ours, from its handshake's ``Date`` (0 if unknown)."""
        ws = self._ws
        return (ws.server_clock_offset or 0.0) if ws is not None else 0.0

    async def send_now(self, text: str) -> None:
        """Write a frame ahead of the queue (the session's setup on a new connection)."""
        try:
            if self._ws is None:
                raise WebSocketClosed(1006, "not connected")
            await self._ws.send_message(text)
        except WebSocketClosed as closed:
            raise ConnectError(
                f"the connection closed during setup ({closed})", close_code=closed.code
            ) from None
        self._on_sent(text)

    def open_gate(self) -> None:
        """Let the queued frames go out."""
        self._gate.set()

    def abort(self, reason: CloseReason) -> None:
        """Drop the connection now (no close handshake)."""
        if self.close_reason is None:
            self.close_reason = reason
        self._cancel_scope.cancel()

    async def aclose(self, grace: float, reason: CloseReason, *, flush: bool = False) -> None:
        """Close politely, waiting at most ``grace`` seconds for the server's close frame.

        With ``flush`` (the session has closed its outbound queue), what is still queued goes
        out before the close frame. The wait ends as soon as the receive loop has seen the
        server's close.
        """
        if self.close_reason is None:
            self.close_reason = reason
        ws = self._ws
        if ws is not None and not ws.closed and not self.ended.is_set():
            with trio.move_on_after(grace):
                if flush and self._gate.is_set():
                    await self._drained.wait()
                await ws.send_close(reason.code, reason.reason)
                await self.ended.wait()
        self._cancel_scope.cancel()
        with trio.move_on_after(grace):
            await self.ended.wait()
