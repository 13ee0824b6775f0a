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
import trio_websocket
import wsproto.utilities

from ._connect import ConnectStream, Endpoint, open_websocket, translate_websocket_error
from ._errors import ConnectError
from ._groups import single_error

__all__ = ["CloseReason", "Keepalive", "Link"]

logger = logging.getLogger("trealtime")


@attrs.frozen
class CloseReason:
    """Why a connection ended: the WebSocket close code and reason."""

    code: int
    reason: str | None


@attrs.frozen
class Keepalive:
    """Ping every ``interval`` seconds; a pong later than ``timeout`` means the peer is dead."""

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
        self._keepalive = keepalive
        self._outbound = outbound
        self._on_frame = on_frame
        self._on_sent = on_sent
        self._on_open = on_open
        self.resend = resend
        """A frame taken from the queue whose write failed: the next link sends it first."""
        self.close_reason: CloseReason | None = None
        self.created = trio.Event()
        """Set by the session when ``session.created`` arrives (or when the link ends)."""
        self.healthy = False
        """Set by the session once this link has been useful (see ``ReconnectPolicy``)."""
        self.close_recorded = False
        self.ended = trio.Event()
        self._gate = trio.Event()
        self._ws: trio_websocket.WebSocketConnection | None = None
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
                    async with trio.open_nursery() as nursery:
                        self._ws = await open_websocket(
                            nursery,
                            self._stream,
                            endpoint,
                            self._headers,
                            max_message_size=self._max_message_size,
                        )
                        self._on_open()  # before any frame is read
                        task_status.started()
                        nursery.start_soon(self._send_loop, self._ws)
                        if self._keepalive is not None:
                            nursery.start_soon(self._keepalive_loop, self._ws, self._keepalive)
                        await self._receive_loop(self._ws)
                        nursery.cancel_scope.cancel()
                except BaseExceptionGroup as group:
                    error = single_error(group)
                    if error is group:
                        raise
                    if isinstance(error, wsproto.utilities.LocalProtocolError):
                        # trio-websocket answers a ping that crosses our close with a pong
                        # wsproto refuses (python-trio/trio-websocket#184): the connection is
                        # closing anyway, so this is its end, not a failure.
                        self._closed(None)
                        return
                    raise translate_websocket_error(error, endpoint) from None
        finally:
            if self.close_reason is None:
                self.close_reason = CloseReason(1006, "connection lost")
            self.created.set()
            self.ended.set()
            if self._stream is not None:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(self._stream)

    async def _receive_loop(self, ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            try:
                message = await ws.get_message()
            except trio_websocket.ConnectionClosed as exc:
                self._closed(exc.reason)
                return
            self._delivering = True
            try:
                await self._on_frame(self, message)
            finally:
                self._delivering = False

    async def _send_loop(self, ws: trio_websocket.WebSocketConnection) -> None:
        await self._gate.wait()
        if self.resend is not None:
            if not await self._write(ws, self.resend):
                return
            self.resend = None
        async for text in self._outbound:
            if not await self._write(ws, text):
                self.resend = text
                return

    async def _write(self, ws: trio_websocket.WebSocketConnection, text: str) -> bool:
        try:
            await ws.send_message(text)
        except trio_websocket.ConnectionClosed as exc:
            self._closed(exc.reason)
            return False
        self._on_sent(text)
        return True

    async def _keepalive_loop(
        self, ws: trio_websocket.WebSocketConnection, keepalive: Keepalive
    ) -> None:
        while True:
            await trio.sleep(keepalive.interval)
            if self._delivering:
                continue  # we are not reading (the caller is slow), so no pong could arrive
            with trio.move_on_after(keepalive.timeout) as scope:
                try:
                    await ws.ping()
                except trio_websocket.ConnectionClosed:
                    return
            if scope.cancelled_caught and not self._delivering:
                logger.warning("no pong within %s s: the connection is dead", keepalive.timeout)
                self.close_reason = CloseReason(1006, "keepalive timeout")
                self._cancel_scope.cancel()
                return

    def _closed(self, reason: trio_websocket.CloseReason | None) -> None:
        if self.close_reason is None:
            code = reason.code if reason is not None else 1006
            self.close_reason = CloseReason(code, reason.reason if reason is not None else None)

    # -- used by the session --------------------------------------------------------------------

    async def send_now(self, text: str) -> None:
        """Write a frame ahead of the queue (the session's setup on a new connection)."""
        if self._ws is None:
            raise trio_websocket.ConnectionClosed(None)
        await self._ws.send_message(text)
        self._on_sent(text)

    def open_gate(self) -> None:
        """Let the queued frames go out."""
        self._gate.set()

    def abort(self, reason: CloseReason) -> None:
        """Drop the connection now (no close handshake)."""
        if self.close_reason is None:
            self.close_reason = reason
        self._cancel_scope.cancel()

    async def aclose(self, grace: float, reason: CloseReason) -> None:
        """Close politely, waiting at most ``grace`` seconds for the server's close frame.

        The wait ends as soon as the receive loop has seen the server's close: the link then
        ends and takes trio-websocket's reader with it, so its own close wait must not linger.
        """
        if self.close_reason is None:
            self.close_reason = reason
        ws = self._ws
        if ws is not None and not ws.closed and not self.ended.is_set():
            with trio.move_on_after(grace):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(ws.aclose, reason.code, reason.reason)
                    await self.ended.wait()
                    nursery.cancel_scope.cancel()
        self._cancel_scope.cancel()
        with trio.move_on_after(grace):
            await self.ended.wait()
