"""Plain HTTP on the fake server's port: the REST half shares the WebSocket's URL.

The fake reads each connection's request head first. A WebSocket upgrade goes on to
trio-websocket with those bytes put back in front of the stream (:class:`PrefixedStream`); any
other request is answered here over h11, one request per connection (``Connection: close``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import h11
import trio

__all__ = ["HttpRequest", "HttpResponse", "PrefixedStream", "is_websocket_upgrade", "read_head"]

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


@attrs.frozen
class HttpRequest:
    """A plain HTTP request to the fake (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@attrs.frozen
class HttpResponse:
    """The fake's answer to a plain HTTP request."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = attrs.field(factory=dict)


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def read_head(stream: trio.abc.Stream) -> bytes:
    """Read until the end of the request head (or EOF); what was read, body bytes included."""
    data = bytearray()
    while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
        chunk = await stream.receive_some(MAX_HEAD)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def is_websocket_upgrade(head: bytes) -> bool:
    """Whether a request head asks for a WebSocket (``Upgrade: websocket``)."""
    for line in head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"upgrade" and b"websocket" in value.lower():
            return True
    return False


class PrefixedStream(trio.abc.Stream):
    """A stream that first yields bytes already read from it."""

    def __init__(self, stream: trio.abc.Stream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            await trio.lowlevel.checkpoint()
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return bytes(data)
        return bytes(await self._stream.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._stream.aclose()


async def serve_http(stream: trio.abc.Stream, head: bytes, handler: Handler) -> None:
    """Answer the one plain HTTP request whose first bytes are ``head``."""
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    connection.receive_data(head)
    request: h11.Request | None = None
    body = bytearray()
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            await _send(stream, connection, HttpResponse(exc.error_status_hint, b""))
            return
        if event is h11.NEED_DATA:
            connection.receive_data(bytes(await stream.receive_some(MAX_HEAD)))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                await _send(stream, connection, HttpResponse(413, b""))
                return
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    if request is None:
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
    answer = await handler(
        HttpRequest(request.method.decode(), request.target.decode(), headers, bytes(body))
    )
    await _send(stream, connection, answer)


async def _send(stream: trio.abc.Stream, connection: h11.Connection, answer: HttpResponse) -> None:
    headers = [
        ("content-type", answer.content_type),
        ("content-length", str(len(answer.body))),
        ("connection", "close"),
        *answer.headers.items(),
    ]
    data = connection.send(h11.Response(status_code=answer.status, headers=headers)) or b""
    data += connection.send(h11.Data(data=answer.body)) or b""
    data += connection.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)
