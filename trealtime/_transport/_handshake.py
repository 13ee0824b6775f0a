"""The client's WebSocket opening handshake (RFC 6455 section 4), sans-IO, over h11.

h11 writes the upgrade request and reads the answer; this module adds what makes it a
WebSocket handshake: the key and its accept value, the headers the 101 must carry, and the
bytes that came in after the 101 (the server's first frames), which belong to the framing.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import os

import attrs
import h11

from .._errors import ConfigurationError
from ._deflate import Agreement, Deflate, NegotiationError, agree

__all__ = ["Accepted", "ClientHandshake", "HandshakeError", "Rejected", "accept_value"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_REJECTION_BODY = 64 * 1024
_CUT_SHORT = "the server closed the connection before its answer was complete"


class HandshakeError(Exception):
    """The server's answer is not a valid HTTP upgrade to WebSocket."""


@attrs.frozen
class Accepted:
    """The server switched to WebSocket; ``trailing`` is what it sent after the 101, ``deflate``
    the permessage-deflate terms agreed (``None``: messages go uncompressed)."""

    trailing: bytes
    deflate: Agreement | None = None
    server_time: float | None = None
    """The server's clock when it answered (its ``Date`` header), if it sent a valid one."""


@attrs.frozen
class Rejected:
    """The server answered with ``status`` instead of 101 (body capped at 64 KiB)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def accept_value(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` a server answers the request's ``key`` with."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def _upgrade_request(resource: str, headers: list[tuple[str, str]]) -> h11.Request:
    """The GET request; raises ConfigurationError naming (never quoting) a header h11 refuses.

    h11's own message quotes the value, and a value may hold the API key.
    """
    try:
        return h11.Request(method="GET", target=resource, headers=headers)
    except h11.LocalProtocolError:
        pass
    for name, value in headers:
        probe = [(name, value)] if name.lower() == "host" else [("Host", "h"), (name, value)]
        try:
            h11.Request(method="GET", target="/", headers=probe)
        except h11.LocalProtocolError:
            raise ConfigurationError(f"the {name!r} header has an illegal name or value") from None
    raise ConfigurationError(f"illegal request target {resource!r}")


def _http_date(value: bytes) -> float | None:
    """An HTTP date as a POSIX timestamp; None when there is none or it is not valid."""
    try:
        return email.utils.parsedate_to_datetime(value.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class ClientHandshake:
    """Make the upgrade request with :meth:`request`, then :meth:`receive` the answer."""

    def __init__(
        self,
        *,
        host: str,
        resource: str,
        headers: list[tuple[str, str]],
        compression: Deflate | None = None,
    ) -> None:
        self._key = base64.b64encode(os.urandom(16))
        self._h11 = h11.Connection(h11.CLIENT)
        self._compression = compression
        self._deflate: Agreement | None = None
        offer = [("Sec-WebSocket-Extensions", compression.offer())] if compression else []
        self._request = _upgrade_request(
            resource,
            [
                ("Host", host),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", self._key.decode()),
                ("Sec-WebSocket-Version", "13"),
                *offer,
                *headers,
            ],
        )
        self._rejection: h11.Response | None = None
        self._server_time: float | None = None
        self._body = bytearray()

    def request(self) -> bytes:
        """The bytes of the upgrade request."""
        head = self._h11.send(self._request) or b""
        return head + (self._h11.send(h11.EndOfMessage()) or b"")  # no body: h11 awaits the 101

    def receive(self, data: bytes) -> Accepted | Rejected | None:
        """Feed what the server sent (``b""`` at its end); ``None`` until the answer is whole.

        Raises :class:`HandshakeError` for an answer that is not HTTP, an invalid 101, or a
        connection that ends before the answer does (a refusal whose body runs to the end
        of the connection is whole there).
        """
        try:
            self._h11.receive_data(data)
            return self._next_answer(ended=not data)
        except h11.RemoteProtocolError as exc:
            if data:
                raise HandshakeError(f"invalid HTTP answer: {exc}") from None
            if self._rejection is not None:
                return self._rejected()  # the body was cut short: keep what came
            raise HandshakeError(_CUT_SHORT) from None

    def _next_answer(self, *, ended: bool) -> Accepted | Rejected | None:
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                if ended:
                    raise HandshakeError(_CUT_SHORT)
                return None
            if event is h11.PAUSED:  # switched protocols: the rest is WebSocket frames
                return Accepted(self._h11.trailing_data[0], self._deflate, self._server_time)
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    self._check_upgrade(event)
            elif isinstance(event, h11.Response):
                self._rejection = event
            elif isinstance(event, h11.Data):
                self._body += event.data[: _MAX_REJECTION_BODY - len(self._body)]
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return self._rejected()

    def _rejected(self) -> Rejected:
        assert self._rejection is not None
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self._rejection.headers
        ]
        return Rejected(self._rejection.status_code, headers, bytes(self._body))

    def _check_upgrade(self, answer: h11.InformationalResponse) -> None:
        headers: dict[bytes, list[bytes]] = {}
        for name, value in answer.headers:  # h11 gives names lowercased
            headers.setdefault(name, []).append(value)
        connection = b",".join(headers.get(b"connection", []))
        if b"upgrade" not in (token.strip().lower() for token in connection.split(b",")):
            raise HandshakeError("the 101 answer lacks 'Connection: Upgrade'")
        if [value.lower() for value in headers.get(b"upgrade", [])] != [b"websocket"]:
            raise HandshakeError("the 101 answer lacks 'Upgrade: websocket'")
        if headers.get(b"sec-websocket-accept") != [accept_value(self._key)]:
            raise HandshakeError("the 101 answer's Sec-WebSocket-Accept does not match our key")
        self._server_time = _http_date(headers.get(b"date", [b""])[0])
        if b"sec-websocket-protocol" in headers:  # we offer none, so the server may not pick one
            raise HandshakeError("the server chose a sec-websocket-protocol we did not offer")
        extensions = headers.get(b"sec-websocket-extensions")
        if extensions is not None:
            if self._compression is None:
                raise HandshakeError("the server chose a sec-websocket-extensions we did not offer")
            try:
                self._deflate = agree(self._compression, b", ".join(extensions).decode("latin-1"))
            except NegotiationError as exc:
                raise HandshakeError(f"permessage-deflate: {exc}") from None
