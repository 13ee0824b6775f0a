"""The exceptions trealtime raises, named for whose fault they are.

::

    RealtimeError
    ├── ConfigurationError      unusable arguments (no API key, bad URL); also a ValueError
    ├── ConnectError            the connection could not be opened
    │   ├── ConnectTimeout      …in time (also TimeoutError)
    │   └── ConnectionRejected  the server refused the WebSocket handshake (.status_code)
    ├── SessionClosed           the session is closed (.code, .reason); raised by sends and waiters
    ├── ConnectionLost          the connection dropped while a request waited; the session goes on
    ├── RequestTimeout          an awaited reply did not come in time (also TimeoutError)
    ├── ServerError             the server answered with an ``error`` event (.code, .message …)
    │   └── HTTPStatusError     …or a REST request with an HTTP error status (.status_code)
    ├── TranscriptionFailed     the server could not transcribe a user audio item (.item_id …)
    ├── WebhookVerificationError  a webhook's signature, timestamp or headers do not verify
    └── ProtocolError           the protocol was broken (abstract)
        ├── LocalProtocolError  …by the caller: an illegal request in the current state
        └── RemoteProtocolError …by the server: a frame that cannot be decoded (.raw)

Using a session after *you* closed it raises ``trio.ClosedResourceError``, as trio does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._wire._error_models import ErrorDetail

__all__ = [
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionLost",
    "ConnectionRejected",
    "LocalProtocolError",
    "ProtocolError",
    "RealtimeError",
    "RemoteProtocolError",
    "RequestTimeout",
    "HTTPStatusError",
    "ServerError",
    "SessionClosed",
    "TranscriptionFailed",
    "WebhookVerificationError",
]


class RealtimeError(Exception):
    """Base class of every trealtime error."""


class ConfigurationError(RealtimeError, ValueError):
    """The arguments given cannot work (no API key, an unusable URL, a bad setting)."""


class ConnectError(RealtimeError):
    """The connection to the Realtime server could not be opened.

    ``close_code`` is the WebSocket close code when the server closed it during setup.
    """

    def __init__(self, message: str, *, close_code: int | None = None) -> None:
        self.close_code = close_code
        super().__init__(message)


class ConnectTimeout(ConnectError, TimeoutError):
    """The connection or its handshake took longer than ``connect_timeout``."""


class ConnectionRejected(ConnectError):
    """The server refused the WebSocket upgrade with an HTTP status (401, 403, 429, 500 …)."""

    def __init__(self, status_code: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status_code = status_code
        self.headers = dict(headers)
        self.body = body
        detail = body[:200].decode("utf-8", "replace").strip()
        message = f"the server rejected the WebSocket handshake with HTTP {status_code}"
        super().__init__(f"{message}: {detail}" if detail else message)


class SessionClosed(RealtimeError):
    """The session is closed: the server or the network ended it.

    ``code`` is the WebSocket close code (1006 when the connection dropped without one).
    """

    def __init__(self, code: int | None, reason: str | None, message: str | None = None) -> None:
        self.code = code
        self.reason = reason
        default = f"the session is closed (code {code}" + (f", {reason!r})" if reason else ")")
        super().__init__(message or default)


class ConnectionLost(RealtimeError):
    """The connection dropped while this request waited; the session is reconnecting.

    The request may or may not have reached the server: check the state, or send it again.
    """


class RequestTimeout(RealtimeError, TimeoutError):
    """The server did not answer an awaited request in time."""


class ServerError(RealtimeError):
    """The server answered a request with an ``error`` event."""

    def __init__(self, detail: ErrorDetail) -> None:
        self.detail = detail
        self.type = detail.type
        self.code = detail.code if isinstance(detail.code, str) else None
        self.message = detail.message
        self.param = detail.param if isinstance(detail.param, str) else None
        self.event_id = detail.event_id if isinstance(detail.event_id, str) else None
        where = f" (param {self.param})" if self.param else ""
        super().__init__(f"{self.type}/{self.code}: {self.message}{where}")


class TranscriptionFailed(RealtimeError):
    """The server reported ``conversation.item.input_audio_transcription.failed`` for an item.

    ``code`` and ``message`` are the server's (either may be ``None``).
    """

    def __init__(self, item_id: str, code: str | None, message: str | None) -> None:
        self.item_id = item_id
        self.code = code
        self.message = message
        why = ": ".join(part for part in (code, message) if part) or "no reason given"
        super().__init__(f"the transcription of {item_id} failed ({why})")


class HTTPStatusError(ServerError):
    """A REST request (client secrets, calls) was answered with an HTTP error status.

    ``status_code`` and ``headers`` are the response's; the rest is the API's ``error`` body
    (with any credential the client sent blanked out).
    """

    def __init__(self, status_code: int, headers: Mapping[str, str], detail: ErrorDetail) -> None:
        self.status_code = status_code
        self.headers = dict(headers)
        super().__init__(detail)
        self.args = (f"HTTP {status_code}: {self.args[0]}",)


class WebhookVerificationError(RealtimeError, ValueError):
    """A webhook did not verify: a bad or missing signature, a stale timestamp, bad headers.

    Answer such a request with HTTP 400 and do not act on it.
    """


class ProtocolError(RealtimeError):
    """The Realtime protocol was broken. Abstract: see the two subclasses."""

    def __init__(self, message: str) -> None:
        if type(self) is ProtocolError:
            raise TypeError("ProtocolError is abstract; raise Local- or RemoteProtocolError")
        super().__init__(message)


class LocalProtocolError(ProtocolError):
    """The caller asked for something illegal in the session's current state."""


class RemoteProtocolError(ProtocolError):
    """The server sent something that cannot be decoded (raised only in strict mode)."""

    def __init__(self, message: str, raw: Any = None) -> None:
        self.raw = raw
        super().__init__(message)
