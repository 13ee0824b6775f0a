"""permessage-deflate on the fake server's side.

trio-websocket's server answers every handshake with no extension (its ``accept`` takes none),
though wsproto under it implements permessage-deflate. So the fake server wraps its streams in
a :class:`WebSocketConnection` whose ``_accept`` is trio-websocket's own plus the extension:
the one private method this overrides, and :func:`wrap_server_stream`'s three lines redone
around it. wsproto then answers only a client that offered the extension, and compresses and
inflates from there on.
"""

from __future__ import annotations

import trio
from trio_websocket import WebSocketConnection, WebSocketRequest, wrap_server_stream
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request
from wsproto.extensions import PerMessageDeflate

from ..._transport._deflate import Deflate

__all__ = ["accept_websocket"]


class _DeflatingConnection(WebSocketConnection):
    """A server connection that accepts permessage-deflate on the terms of ``compression``."""

    def __init__(self, stream: trio.abc.Stream, compression: Deflate, max_message_size: int):
        super().__init__(
            stream, WSConnection(ConnectionType.SERVER), max_message_size=max_message_size
        )
        self._compression = compression

    async def _accept(
        self, request: Request, subprotocol: str | None, extra_headers: list[tuple[bytes, bytes]]
    ) -> None:
        terms = self._compression
        extension = PerMessageDeflate(
            client_no_context_takeover=terms.client_no_context_takeover,
            client_max_window_bits=terms.client_max_window_bits,
            server_no_context_takeover=terms.server_no_context_takeover,
            server_max_window_bits=terms.server_max_window_bits,
        )
        # What trio-websocket's _accept does, with the extension added.
        self._subprotocol = subprotocol
        self._path = request.target
        await self._send(
            AcceptConnection(
                subprotocol=subprotocol, extra_headers=extra_headers, extensions=[extension]
            )
        )
        self._open_handshake.set()


async def accept_websocket(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    *,
    compression: Deflate | None,
    max_message_size: int,
) -> WebSocketRequest:
    """Read the client's handshake request on ``stream``; accepting it agrees to
    permessage-deflate on the terms of ``compression`` if the client offered it."""
    if compression is None:
        return await wrap_server_stream(nursery, stream, max_message_size=max_message_size)
    connection = _DeflatingConnection(stream, compression, max_message_size)
    nursery.start_soon(connection._reader_task)
    return await connection._get_request()
