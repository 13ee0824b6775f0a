"""A client WebSocket over a Trio stream, framed by our own sans-IO codec.

There is no background reader: whoever awaits :meth:`WebSocket.receive_message` reads the
stream, parses frames and answers pings on the way; writers share one lock. A received frame
thus reaches the session in the task that read it, with no channel or task switch in between
(trio-websocket's reader task and queue were most of the client's CPU per event, and wsproto's
general-purpose framing most of what was left of the WebSocket layer's).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import deque
from typing import NoReturn

import trio

from .._errors import ConnectError, ConnectionRejected
from ._deflate import Agreement, Deflate, Deflater, Inflater
from ._frames import (
    PING,
    PONG,
    RSV1,
    TEXT,
    Close,
    FrameError,
    FrameReader,
    Ping,
    Pong,
    client_frame,
    close_frame,
)
from ._handshake import Accepted, ClientHandshake, HandshakeError, Rejected

__all__ = ["RECEIVE_SIZE", "WebSocket", "WebSocketClosed", "connect_websocket"]

RECEIVE_SIZE = 65536
"""Bytes asked of the stream per read: a 100 ms audio delta (about 6 KiB) fits many times over."""


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
    compression: Deflate | None = None,
) -> WebSocket:
    """Do the client handshake over ``stream`` and return the open WebSocket.

    ``compression`` offers permessage-deflate; messages are compressed both ways if the
    server agrees, and sent and read as they are if it does not.

    Raises :class:`ConnectionRejected` for an HTTP answer other than 101, and
    :class:`ConnectError` when the server hangs up or answers something that is not HTTP.
    The caller owns ``stream`` and closes it.
    """
    handshake = ClientHandshake(
        host=host, resource=resource, headers=headers, compression=compression
    )
    try:
        await stream.send_all(handshake.request())
        while True:
            data = await stream.receive_some(RECEIVE_SIZE)
            answer = handshake.receive(bytes(data))
            if isinstance(answer, Accepted):
                ws = WebSocket(stream, max_message_size, answer.trailing, answer.deflate)
                if answer.server_time is not None:
                    ws.server_clock_offset = answer.server_time - time.time()
                return ws
            if isinstance(answer, Rejected):
                raise ConnectionRejected(answer.status, dict(answer.headers), answer.body)
    except HandshakeError as exc:
        raise ConnectError(f"WebSocket handshake with {host} failed: {exc}") from None
    except (OSError, trio.BrokenResourceError) as exc:
        raise ConnectError(f"connection to {host} failed: {exc.__cause__ or exc}") from None


class WebSocket:
    """An open client WebSocket. One task receives; any task may send (they take turns)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        max_message_size: int,
        first: bytes = b"",
        deflate: Agreement | None = None,
    ):
        self._stream = stream
        self._reader = FrameReader(max_message_size, Inflater(deflate) if deflate else None)
        self._deflater = Deflater(deflate) if deflate and Deflater.usable(deflate) else None
        self.deflate = deflate
        """The permessage-deflate terms agreed with the server (``None``: uncompressed)."""
        self._messages: deque[str | bytes] = deque()
        self._replies = bytearray()  # pongs and close replies owed to the server
        self._send_lock = trio.Lock()
        self._pongs: dict[bytes, trio.Event] = {}
        self._ping_counter = itertools.count()
        self._broken = False
        self._local_close: tuple[int, str | None] | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.received_at = trio.current_time()
        """When bytes last came in (Trio clock): any bytes are proof the peer is alive."""
        self.server_clock_offset: float | None = None
        """The server's wall clock less ours (from its handshake ``Date``), if known."""
        if first:  # the server's first frames, come in with its handshake answer
            self._absorb(first)

    @property
    def closed(self) -> bool:
        """Whether the connection is closed or closing (nothing more can be sent)."""
        return self.close_code is not None or self._local_close is not None

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
        self.received_at = trio.current_time()
        self._absorb(data)
        if self._replies:
            await self._flush_replies()

    def _absorb(self, data: bytes | bytearray) -> None:
        reader = self._reader
        reader.feed(data)
        try:
            while (event := reader.next_event()) is not None:
                if type(event) is str or type(event) is bytes:
                    self._messages.append(event)
                elif type(event) is Ping:
                    if self._local_close is None:  # no pong once we have sent our close
                        self._replies += client_frame(PONG, event.payload)
                elif type(event) is Pong:
                    waiter = self._pongs.pop(event.payload, None)
                    if waiter is not None:
                        waiter.set()
                elif type(event) is Close:  # answered if the server started the close
                    self._send_close(event.code, event.reason)
                    self._set_closed(event.code, event.reason)
        except FrameError as violation:  # refused: tell the server why, in our close frame
            self._send_close(violation.code, violation.reason)
            self._set_closed(violation.code, violation.reason)

    def _send_close(self, code: int, reason: str | None) -> None:
        if self._local_close is None:
            self._replies += close_frame(code, reason)
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
        if self._deflater is None:
            await self._write(client_frame(TEXT, text.encode()))
        else:
            await self._write(text.encode(), compress=True)

    async def ping(self) -> None:
        """Send a ping and wait for its pong (it arrives through :meth:`receive_message`)."""
        payload = next(self._ping_counter).to_bytes(8, "big")
        answered = self._pongs[payload] = trio.Event()
        try:
            await self._write(client_frame(PING, payload))
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

    async def _write(self, frame: bytes | None, *, compress: bool = False) -> None:
        """Write ``frame`` (none: only the replies owed) under the lock, after the replies.

        With ``compress``, ``frame`` is a text message's payload, compressed under the lock so
        that messages reach the server in the order their compression context saw them.

        A frame is refused once our close is owed or sent, so no message follows a close;
        owed replies leave ``_replies`` only once they are being written.
        """
        await trio.lowlevel.checkpoint_if_cancelled()  # before the lock: a cancel breaks nothing
        lock = self._send_lock
        try:
            lock.acquire_nowait()  # no yield of its own: send_all below yields once per write
        except trio.WouldBlock:
            await lock.acquire()
        try:
            if self._broken:
                self._raise_closed()
            if frame is not None and self.closed:
                self._raise_closed()
            if compress:
                assert self._deflater is not None and frame is not None
                frame = client_frame(TEXT, self._deflater.deflate(frame), RSV1)
            data = frame or b""
            if self._replies:
                data = bytes(self._replies) + data
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
