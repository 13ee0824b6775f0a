"""A client WebSocket over a Trio stream, driven by wsproto from the caller's own tasks.

There is no background reader: whoever awaits :meth:`WebSocket.receive_message` reads the
stream, feeds wsproto and answers pings on the way; writers share one lock. A received frame
thus reaches the session in the task that read it, with no channel or task switch in between
(trio-websocket's reader task and queue were most of the client's CPU per event).
"""

from __future__ import annotations

import contextlib
import itertools
from collections import deque
from typing import NoReturn

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

from ._errors import ConnectError, ConnectionRejected

__all__ = ["RECEIVE_SIZE", "WebSocket", "WebSocketClosed", "connect_websocket"]

RECEIVE_SIZE = 65536
"""Bytes asked of the stream per read: a 100 ms audio delta (about 6 KiB) fits many times over."""

_MAX_REJECTION_BODY = 64 * 1024
_OPEN = ConnectionState.OPEN


class WebSocketClosed(Exception):
    """The WebSocket is closed; ``code`` and ``reason`` say how (1006: no close frame)."""

    def __init__(self, code: int, reason: str | None) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"WebSocket closed (code {code}" + (f", {reason!r})" if reason else ")"))


async def connect_websocket(
    stream: trio.abc.Stream,
    *,
    host: str,
    resource: str,
    headers: list[tuple[str, str]],
    max_message_size: int,
) -> WebSocket:
    """Do the client handshake over ``stream`` and return the open WebSocket.

    Raises :class:`ConnectionRejected` for an HTTP answer other than 101, and
    :class:`ConnectError` when the server hangs up or answers something that is not HTTP.
    The caller owns ``stream`` and closes it.
    """
    handshake = WSConnection(ConnectionType.CLIENT)
    request = Request(
        host=host,
        target=resource,
        extra_headers=[(name.encode(), value.encode()) for name, value in headers],
    )
    try:
        await stream.send_all(handshake.send(request))
        rejection: RejectConnection | None = None
        body = bytearray()
        while True:
            data = await stream.receive_some(RECEIVE_SIZE)
            if not data:
                if rejection is not None:
                    raise _rejected(rejection, body)
                raise ConnectError(f"{host} closed the connection during the WebSocket handshake")
            handshake.receive_data(bytes(data))
            for event in handshake.events():
                if isinstance(event, AcceptConnection):
                    assert handshake.connection is not None
                    return WebSocket(stream, handshake.connection, max_message_size)
                if isinstance(event, RejectConnection):
                    rejection = event
                    if not event.has_body:
                        raise _rejected(event, body)
                elif isinstance(event, RejectData) and rejection is not None:
                    body += event.data[: _MAX_REJECTION_BODY - len(body)]
                    if event.body_finished:
                        raise _rejected(rejection, body)
    except RemoteProtocolError as exc:
        raise ConnectError(f"WebSocket handshake with {host} failed: {exc}") from None
    except (OSError, trio.BrokenResourceError) as exc:
        raise ConnectError(f"connection to {host} failed: {exc.__cause__ or exc}") from None


def _rejected(event: RejectConnection, body: bytearray) -> ConnectionRejected:
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers}
    return ConnectionRejected(event.status_code, headers, bytes(body))


class WebSocket:
    """An open client WebSocket. One task receives; any task may send (they take turns)."""

    def __init__(self, stream: trio.abc.Stream, connection: Connection, max_message_size: int):
        self._stream = stream
        self._connection = connection
        self._max_message_size = max_message_size
        self._messages: deque[str | bytes] = deque()
        self._parts: list[str | bytes] = []
        self._part_size = 0
        self._replies = bytearray()  # pongs and close replies owed to the server
        self._send_lock = trio.Lock()
        self._pongs: dict[bytes, trio.Event] = {}
        self._ping_counter = itertools.count()
        self._broken = False
        self._local_close: tuple[int, str | None] | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        # The server's first frames may have come in with its handshake answer.
        self._absorb_events()

    @property
    def closed(self) -> bool:
        """Whether the connection is closed or closing (nothing more can be sent)."""
        return self.close_code is not None or self._connection.state is not _OPEN

    # -- receiving ------------------------------------------------------------------------------

    async def receive_message(self) -> str | bytes:
        """The next whole message; raises :class:`WebSocketClosed` once none can come.

        Messages that arrived before the close are all delivered first.
        """
        messages = self._messages
        while not messages:
            if self._replies:  # owed since the handshake, or left by a cancelled flush
                await self._flush_replies()
            if self.close_code is not None:
                raise WebSocketClosed(self.close_code, self.close_reason)
            await self._receive_more()
        return messages.popleft()

    async def _receive_more(self) -> None:
        try:
            data = await self._stream.receive_some(RECEIVE_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            self._set_closed(1006, "connection lost")
            return
        self._connection.receive_data(data)  # type: ignore[arg-type]  # any buffer works
        self._absorb_events()
        if self._replies:
            await self._flush_replies()

    def _absorb_events(self) -> None:
        connection = self._connection
        for event in connection.events():
            if isinstance(event, TextMessage):
                self._add_message_part(event.data, event.message_finished)
            elif isinstance(event, BytesMessage):
                self._add_message_part(bytes(event.data), event.message_finished)
            elif isinstance(event, Ping):
                if connection.state is _OPEN:  # no pong once closing (wsproto refuses it)
                    self._replies += connection.send(event.response())
            elif isinstance(event, Pong):
                waiter = self._pongs.pop(bytes(event.payload), None)
                if waiter is not None:
                    waiter.set()
            elif isinstance(event, CloseConnection):
                # The server's close (answered if it started it), or a protocol violation
                # wsproto reports as a close with the code to send (1002, 1007).
                self._send_close(event.code, event.reason)
                self._set_closed(event.code, event.reason)

    def _add_message_part(self, data: str | bytes, finished: bool) -> None:
        if self.close_code is not None:
            return  # the rest of a refused message, or data after the close
        parts = self._parts
        if not parts and finished:  # the usual case: a message in one piece
            if len(data) <= self._max_message_size:
                self._messages.append(data)
                return
        else:
            parts.append(data)
            self._part_size += len(data)
            if self._part_size <= self._max_message_size:
                if finished:
                    self._messages.append(data[:0].join(parts))  # type: ignore[arg-type]
                    parts.clear()
                    self._part_size = 0
                return
        parts.clear()
        self._part_size = 0
        unit = "characters" if isinstance(data, str) else "bytes"
        reason = f"message larger than {self._max_message_size} {unit}"
        self._send_close(1009, reason)
        self._set_closed(1009, reason)

    def _send_close(self, code: int, reason: str | None) -> None:
        state = self._connection.state
        if state is _OPEN or state is ConnectionState.REMOTE_CLOSING:
            self._replies += self._connection.send(CloseConnection(code=code, reason=reason))
            if self._local_close is None:
                self._local_close = (code, reason)

    def _set_closed(self, code: int, reason: str | None) -> None:
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        for waiter in self._pongs.values():
            waiter.set()
        self._pongs.clear()

    # -- sending --------------------------------------------------------------------------------

    async def send_message(self, text: str) -> None:
        """Send one text message; raises :class:`WebSocketClosed` if the connection is closed."""
        await self._write(TextMessage(data=text))

    async def ping(self) -> None:
        """Send a ping and wait for its pong (it arrives through :meth:`receive_message`)."""
        payload = next(self._ping_counter).to_bytes(8, "big")
        answered = self._pongs[payload] = trio.Event()
        try:
            await self._write(Ping(payload=payload))
            await answered.wait()
        finally:
            self._pongs.pop(payload, None)
        if self.close_code is not None:
            self._raise_closed()

    async def send_close(self, code: int, reason: str | None) -> None:
        """Start the closing handshake; the server's answer ends :meth:`receive_message`."""
        self._send_close(code, reason)
        await self._flush_replies()

    async def _flush_replies(self) -> None:
        with contextlib.suppress(WebSocketClosed):  # the reader sees the end itself
            await self._write(None)

    async def _write(self, event: TextMessage | Ping | None) -> None:
        """Frame ``event`` and write it, with the replies owed, under the lock.

        Framing under the lock keeps frames in the order wsproto made them (no message after
        a close reply); owed replies leave ``_replies`` only once they are being written.
        """
        await trio.lowlevel.checkpoint_if_cancelled()  # before framing: a cancel breaks nothing
        lock = self._send_lock
        try:
            lock.acquire_nowait()  # no yield of its own: send_all below yields once per write
        except trio.WouldBlock:
            await lock.acquire()
        try:
            if self._broken:
                self._raise_closed()
            if event is None:
                data = b""
            elif self._connection.state is _OPEN and self.close_code is None:
                data = self._connection.send(event)
            else:
                self._raise_closed()
            if self._replies:
                data += self._replies
                self._replies.clear()
            if not data:
                return
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                # The reader finds the end itself, after whatever the server sent before it.
                self._broken = True
                self._raise_closed()
            except BaseException:
                # Cancelled mid-frame: the stream may hold half a frame, so nothing more
                # can be framed after it.
                self._broken = True
                raise
        finally:
            lock.release()

    def _raise_closed(self) -> NoReturn:
        if self.close_code is not None:
            raise WebSocketClosed(self.close_code, self.close_reason)
        if self._local_close is not None and not self._broken:
            raise WebSocketClosed(*self._local_close)
        raise WebSocketClosed(1006, "connection lost")
