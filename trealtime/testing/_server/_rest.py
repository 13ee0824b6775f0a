"""The fake server's REST endpoints: client secrets, and calls (WebRTC create, SIP control).

Served on the WebSocket's own port (:mod:`._http`), under the same path:
``POST /v1/realtime/client_secrets``, ``POST /v1/realtime/calls`` and
``POST /v1/realtime/calls/{call_id}/{accept|reject|refer|hangup}``. Each checks the key as the
API does and answers with the API's error bodies (401, 400, 404 for an unknown call); an
``ek_`` key minted here opens WebSocket sessions until it expires. ``fail_next`` scripts
transient failures (429/5xx, with ``Retry-After``) to test retries.
"""

from __future__ import annotations

import collections
import email.parser
import email.policy
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import orjson
import trio

from ..._wire._codec import to_dict
from .._protocol._config import default_session, update_session
from .._protocol._errors import ClientError, http_error_body
from ._calls import ACCEPTED, REFERRED, REJECTED, RINGING, FakeCalls
from ._http import HttpRequest, HttpResponse

__all__ = ["ClientSecretRecord", "FakeRestApi", "RestRequest"]

_PREFIX = "/realtime"
_MIN_TTL, _MAX_TTL, _DEFAULT_TTL = 10, 7200, 600


@attrs.frozen
class ClientSecretRecord:
    """An ``ek_`` key the fake minted: until when it opens sessions, and the session it fixes."""

    value: str = attrs.field(repr=False)
    expires_at: int
    session: dict[str, Any]


@attrs.frozen
class RestRequest:
    """A REST request the fake received: method, path, and when (``trio.current_time()``)."""

    method: str
    path: str
    at: float


def _error(status: int, message: str, *, code: str | None = None, param: str | None = None,
           kind: str = "invalid_request_error") -> HttpResponse:  # fmt: skip
    return HttpResponse(status, http_error_body(message, code=code, param=param, kind=kind))


def build_session(raw: Mapping[str, Any], new_id: Callable[[str], str], now: float) -> Any:
    """The full session object the API makes of a requested configuration (``ClientError``
    if it is invalid)."""
    kind = raw.get("type", "realtime")
    if kind not in ("realtime", "transcription"):
        raise ClientError(
            f"Invalid value: '{kind}'. Supported values are: 'realtime' and 'transcription'.",
            code="invalid_value",
            param="session.type",
        )
    model = raw["model"] if isinstance(raw.get("model"), str) else "gpt-realtime"
    base = default_session(kind, model=model, session_id=new_id("sess"), expires_at=int(now) + 3600)
    return update_session(base, {**raw, "type": kind}, voice_locked=False)


class FakeRestApi:
    """The REST half of the fake server.

    ``requests`` records every request, ``headers`` their headers (lower-cased names),
    ``secrets`` the minted ``ek_`` keys; ``clock`` (default ``time.time``) decides expiry.
    """

    def __init__(
        self,
        *,
        api_key: Callable[[], str],
        calls: FakeCalls,
        new_id: Callable[[str], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.calls = calls
        self.secrets: dict[str, ClientSecretRecord] = {}
        self.requests: list[RestRequest] = []
        self.headers: list[dict[str, str]] = []
        self.clock = clock
        self._api_key = api_key
        self._new_id = new_id
        self._failures: collections.deque[HttpResponse] = collections.deque()

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        headers: Mapping[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``count`` REST requests with ``status`` (e.g. 429 with
        ``{"Retry-After": "1"}``) before serving them normally; calls queue up in order."""
        kind = "rate_limit_exceeded" if status == 429 else "server_error"
        if status < 500 and status != 429:
            kind = "invalid_request_error"
        if message is None:
            message = "Rate limit reached." if status == 429 else "The server had an error."
        answer = attrs.evolve(_error(status, message, kind=kind), headers=dict(headers or {}))
        self._failures.extend([answer] * count)

    def secret(self, key: str) -> ClientSecretRecord | None:
        """The minted secret ``key``, if it is one and has not expired."""
        record = self.secrets.get(key)
        if record is None or self.clock() >= record.expires_at:
            return None
        return record

    # -- requests -------------------------------------------------------------------------------

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one plain HTTP request."""
        path = request.path.partition("?")[0]
        self.requests.append(RestRequest(request.method, path, trio.current_time()))
        self.headers.append(dict(request.headers))
        if self._failures:
            return self._failures.popleft()
        head, _, tail = path.partition(_PREFIX)
        if request.method != "POST" or not tail:
            return _error(404, f"Invalid URL ({request.method} {path})")
        refusal = self._check_key(request.headers, allow_ephemeral=tail == "/calls")
        if refusal is not None:
            return refusal
        try:
            if tail == "/client_secrets":
                return self._client_secret(_json(request.body))
            if tail == "/calls":
                return self._create_call(request, f"{head}{_PREFIX}/calls")
            parts = tail.split("/")
            if len(parts) == 4 and parts[1] == "calls":
                return await self._control(parts[2], parts[3], request.body)
        except ClientError as exc:
            return _error(400, exc.message, code=exc.code, param=exc.param)
        return _error(404, f"Invalid URL (POST {path})")

    def _check_key(
        self, headers: Mapping[str, str], *, allow_ephemeral: bool
    ) -> HttpResponse | None:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        key = key.strip() if scheme.lower() == "bearer" else headers.get("api-key", "")
        if not key:
            return _error(401, "You didn't provide an API key.")
        if key == self._api_key() or (allow_ephemeral and self.secret(key) is not None):
            return None
        return _error(401, "Incorrect API key provided.", code="invalid_api_key")

    def _client_secret(self, body: dict[str, Any]) -> HttpResponse:
        expires = body.get("expires_after") or {}
        seconds = expires.get("seconds", _DEFAULT_TTL)
        if expires.get("anchor", "created_at") != "created_at":
            raise ClientError("Invalid 'expires_after.anchor'.", param="expires_after.anchor")
        if not isinstance(seconds, int) or not _MIN_TTL <= seconds <= _MAX_TTL:
            raise ClientError(
                f"Invalid 'expires_after.seconds': must be between {_MIN_TTL} and {_MAX_TTL}.",
                code="invalid_value",
                param="expires_after.seconds",
            )
        now = self.clock()
        session = to_dict(build_session(body.get("session") or {}, self._new_id, now))
        value = "ek_" + secrets.token_hex(16)
        record = ClientSecretRecord(value, int(now) + seconds, session)
        self.secrets[value] = record
        answer = {"value": value, "expires_at": record.expires_at, "session": session}
        return HttpResponse(200, orjson.dumps(answer))

    def _create_call(self, request: HttpRequest, calls_path: str) -> HttpResponse:
        parts = _multipart(request)
        offer = parts.get("sdp")
        if not offer or not offer.startswith("v="):
            raise ClientError("Invalid 'sdp': expected an SDP offer.", param="sdp")
        session = _json(parts["session"].encode()) if "session" in parts else {}
        build_session(session, self._new_id, self.clock())  # validates it
        call = self.calls.add(kind="webrtc")
        call.session = session
        call._set(ACCEPTED)
        answer = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fake-realtime\r\nt=0 0\r\n"
        headers = {"location": f"{calls_path}/{call.call_id}"}
        return HttpResponse(201, answer.encode(), content_type="application/sdp", headers=headers)

    async def _control(self, call_id: str, action: str, raw: bytes) -> HttpResponse:
        call = self.calls.get(call_id)
        if call is None or action not in ("accept", "reject", "refer", "hangup"):
            if call is None:
                return _error(404, f"Call '{call_id}' not found.", code="call_not_found")
            return _error(404, f"Invalid URL (POST .../calls/{call_id}/{action})")
        body = _json(raw) if raw else {}
        if action == "hangup":
            if call.status not in (RINGING, ACCEPTED):
                return _error(409, f"Call '{call_id}' has already ended.", code="call_ended")
            await call._end()
            return HttpResponse(200)
        if action == "refer":
            if call.status != ACCEPTED:
                return _error(409, f"Call '{call_id}' is not active.", code="call_not_active")
            target = body.get("target_uri")
            if not isinstance(target, str) or not target.startswith(("tel:", "sip:")):
                raise ClientError("Invalid 'target_uri'.", param="target_uri")
            call.referred_to = target
            call._set(REFERRED)
            for connection in call._open_connections():
                await connection.close(1000, "call referred")
            return HttpResponse(200)
        if call.status != RINGING:
            return _error(409, f"Call '{call_id}' is no longer ringing.", code="call_not_ringing")
        if action == "reject":
            status = body.get("status_code", 603)
            if not isinstance(status, int) or not 400 <= status <= 699:
                raise ClientError("Invalid 'status_code'.", param="status_code")
            call.reject_status = status
            call._set(REJECTED)
            return HttpResponse(200)
        if body.get("type") != "realtime":
            raise ClientError(
                "Missing required parameter: 'type'.", code="missing_required_parameter",
                param="type",
            )  # fmt: skip
        build_session(body, self._new_id, self.clock())  # validates it
        call.session = body
        call._set(ACCEPTED)
        return HttpResponse(200)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise ClientError("We could not parse the JSON body of your request.") from None
    if not isinstance(value, dict):
        raise ClientError("The request body must be a JSON object.")
    return value


def _multipart(request: HttpRequest) -> dict[str, str]:
    """The text parts of a ``multipart/form-data`` body, by name."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ClientError("Expected a multipart/form-data body with an 'sdp' part.")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"content-type: {content_type}\r\n\r\n".encode() + request.body
    )
    parts: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload.decode()
    return parts
