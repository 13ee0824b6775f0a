"""The Realtime API's REST half: client secrets for browsers, and SIP/WebRTC call control.

::

    async with trealtime.open_rest_client() as rest:
        secret = await rest.create_client_secret(session=SessionProperties(model="gpt-realtime"))
        await rest.accept_call(call_id, session=SessionProperties(instructions="Be brief."))

Over httpx: a well-kept HTTP client that runs on Trio (through anyio), with connection pooling,
timeouts and TLS verification, so that nothing here parses HTTP by hand. The credentials, URL,
Azure detection and plaintext guard are the WebSocket session's own (:mod:`._connect`).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import orjson
import trio

from ._errors import ConfigurationError, ConnectError, HTTPStatusError, RequestTimeout
from ._session._reconnect import backoff_delay
from ._transport._connect import DEFAULT_URL, Credentials, Endpoint, TokenProvider
from ._transport._handshake import _http_date
from ._transport._redaction import redact, secrets_of_headers
from ._wire._codec import from_dict, to_dict
from ._wire._error_models import ErrorDetail
from ._wire._session_models import Session as SessionConfig
from ._wire._session_models import SessionProperties, TranscriptionSessionProperties

__all__ = ["ClientSecret", "RestClient", "RetryPolicy", "SessionSpec", "open_rest_client"]

logger = logging.getLogger("trealtime")

SessionSpec = SessionProperties | TranscriptionSessionProperties | Mapping[str, Any]
"""A session configuration: a model object, or its JSON form (``{"type": "realtime", …}``)."""


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Retry 429 and 5xx answers and network failures with exponential backoff and jitter.

    A ``Retry-After`` (or ``retry-after-ms``) header up to ``max_retry_after`` seconds
    replaces the computed delay.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based), honouring the server's word."""
        asked = _retry_after(headers or {})
        if asked is not None and 0 <= asked <= self.max_retry_after:
            return asked
        return backoff_delay(self, attempt)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """The delay asked for by ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        return float(lowered["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    when = _http_date(value.encode("latin-1", "replace"))
    return None if when is None else max(0.0, when - time.time())


@attrs.frozen(kw_only=True)
class ClientSecret:
    """An ephemeral key (``ek_…``) for a browser or phone app, and the session it fixes.

    ``value`` is a credential: it is left out of the repr. It can open sessions until
    ``expires_at`` (Unix seconds); a session opened before then keeps running.
    """

    value: str = attrs.field(repr=False)
    expires_at: int
    session: SessionConfig


def _session_json(session: SessionSpec) -> dict[str, Any]:
    if isinstance(session, SessionProperties | TranscriptionSessionProperties):
        result: dict[str, Any] = to_dict(session)
        return result
    body = dict(session)
    body.setdefault("type", "realtime")
    return body


class RestClient:
    """The REST calls of the Realtime API. Get one from :func:`open_rest_client`.

    Every method raises :class:`~trealtime.HTTPStatusError` when the API answers with an error
    status (after the retries for 429 and 5xx), :class:`~trealtime.RequestTimeout` when no
    answer comes within the timeout, and :class:`~trealtime.ConnectError` when the network
    fails; never with a credential in the message.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base: str,
        credentials: Credentials,
        azure: bool,
        retry: RetryPolicy,
    ) -> None:
        self._client = client
        self._base = base
        self._credentials = credentials
        self._azure = azure
        self._retry = retry

    def __repr__(self) -> str:
        return f"<trealtime.RestClient {self._base}>"

    async def create_client_secret(
        self, *, session: SessionSpec | None = None, expires_after: int | None = None
    ) -> ClientSecret:
        """Mint an ephemeral key for a front end, fixing its session (realtime or transcription).

        ``expires_after`` is its lifetime in seconds from now (the API takes 10 to 7200;
        default 600).
        """
        body: dict[str, Any] = {}
        if expires_after is not None:
            body["expires_after"] = {"anchor": "created_at", "seconds": expires_after}
        if session is not None:
            body["session"] = _session_json(session)
        answer = await self._post("/client_secrets", json=body)
        try:
            return from_dict(answer.json(), ClientSecret)
        except ValueError as exc:
            raise HTTPStatusError(
                answer.status_code,
                answer.headers,
                ErrorDetail(type="invalid_response", message=f"unexpected client secret: {exc}"),
            ) from None

    async def accept_call(self, call_id: str, *, session: SessionSpec) -> None:
        """Answer an incoming SIP call with this realtime session configuration.

        Then attach to it with ``open_session(call_id=call_id)`` to run tools and responses.
        """
        await self._post(f"/calls/{_segment(call_id)}/accept", json=_session_json(session))

    async def reject_call(self, call_id: str, *, status_code: int | None = None) -> None:
        """Decline an incoming SIP call (``status_code``: the SIP status, default 603)."""
        body = {} if status_code is None else {"status_code": status_code}
        await self._post(f"/calls/{_segment(call_id)}/reject", json=body)

    async def refer_call(self, call_id: str, target_uri: str) -> None:
        """Transfer a SIP call (SIP REFER) to ``target_uri`` (``tel:+1…`` or ``sip:…``)."""
        await self._post(f"/calls/{_segment(call_id)}/refer", json={"target_uri": target_uri})

    async def hangup_call(self, call_id: str) -> None:
        """End a SIP or WebRTC call."""
        await self._post(f"/calls/{_segment(call_id)}/hangup")

    async def create_call(self, sdp: str, *, session: SessionSpec | None = None) -> str:
        """Broker a browser's WebRTC call: send its SDP offer, return the API's SDP answer.

        The request is ``multipart/form-data`` with the ``sdp`` and the ``session`` (JSON)
        parts, as the API takes it; the call's id is in the answer's ``Location`` header, for
        a sideband session. Use :meth:`create_call_with_id` to get it.
        """
        answer_sdp, _ = await self.create_call_with_id(sdp, session=session)
        return answer_sdp

    async def create_call_with_id(
        self, sdp: str, *, session: SessionSpec | None = None
    ) -> tuple[str, str | None]:
        """Like :meth:`create_call`, and also the new call's id (for ``open_session(call_id=)``)."""
        files: dict[str, tuple[None, bytes, str]] = {"sdp": (None, sdp.encode(), "application/sdp")}
        if session is not None:
            files["session"] = (None, orjson.dumps(_session_json(session)), "application/json")
        answer = await self._post("/calls", files=files, accept="application/sdp")
        location = answer.headers.get("location")
        call_id = location.rstrip("/").rpartition("/")[2] if location else None
        return answer.text, call_id

    # -- the request loop ---------------------------------------------------------------------

    async def _post(
        self,
        path: str,
        *,
        json: Any = None,
        files: Mapping[str, tuple[None, bytes, str]] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        url = self._base + path
        attempt = 0
        while True:
            auth = await self._credentials.headers(self._azure)
            secrets = secrets_of_headers(auth).union(self._credentials.secrets())
            headers = {**dict(auth), "Accept": accept}
            try:
                if files is not None:
                    answer = await self._client.post(url, headers=headers, files=files)
                else:
                    answer = await self._client.post(url, headers=headers, json=json)
            except httpx.TimeoutException:
                failure: Exception = RequestTimeout(f"no answer from POST {url} in time")
                retry_headers: Mapping[str, str] = {}
            except httpx.TransportError as exc:
                failure = ConnectError(f"POST {url} failed: {redact(str(exc), secrets)}")
                retry_headers = {}
            else:
                await answer.aread()
                status = answer.status_code
                if status < 400:
                    return answer
                failure = _status_error(answer, secrets)
                retry_headers = answer.headers
                if status != 429 and status < 500:
                    raise failure
            attempt += 1
            if attempt > self._retry.max_retries:
                raise failure
            delay = self._retry.delay(attempt, retry_headers)
            logger.info("POST %s failed (%s); retry %d in %.2f s", url, failure, attempt, delay)
            await trio.sleep(delay)


def _segment(call_id: str) -> str:
    if not call_id or "/" in call_id or "?" in call_id or "#" in call_id:
        raise ConfigurationError(f"not a call id: {call_id!r}")
    return call_id


def _status_error(answer: httpx.Response, secrets: set[str]) -> HTTPStatusError:
    """The API's ``{"error": {...}}`` body as a typed error, credentials blanked out."""
    try:
        error = orjson.loads(redact(answer.text, secrets)).get("error")
        detail = from_dict(error, ErrorDetail)
    except (orjson.JSONDecodeError, AttributeError, ValueError):
        text = redact(answer.text, secrets)[:200].strip()
        detail = ErrorDetail(type="http_error", message=text or answer.reason_phrase)
    return HTTPStatusError(answer.status_code, answer.headers, detail)


@asynccontextmanager
async def open_rest_client(
    *,
    api_key: str | None = None,
    token_provider: TokenProvider | None = None,
    url: str = DEFAULT_URL,
    azure: bool | None = None,
    extra_headers: Mapping[str, str] | None = None,
    request_timeout: float = 30.0,
    retry: RetryPolicy = RetryPolicy(),
    ssl_context: ssl.SSLContext | None = None,
    allow_insecure: bool = False,
) -> AsyncIterator[RestClient]:
    """Open a pooled HTTP client for the REST calls; close it on exit.

    It takes the same credentials and ``url`` as :func:`open_session` (the Realtime WebSocket
    URL: ``wss://api.openai.com/v1/realtime`` becomes ``https://api.openai.com/v1/realtime/…``;
    Azure detected from the host): ``api_key`` (default ``$OPENAI_API_KEY``, on Azure
    ``$AZURE_OPENAI_API_KEY`` sent as ``api-key``) or ``token_provider``, asked before every
    request. ``request_timeout`` bounds each attempt; ``retry`` says how 429/5xx and network
    failures are retried. TLS is verified (``ssl_context`` to replace the default context);
    plaintext goes only to loopback unless ``allow_insecure``.
    """
    endpoint = Endpoint.build(url, model=None, azure=azure)
    endpoint.check_transport_security(allow_insecure)
    credentials = Credentials.resolve(api_key, token_provider, azure=endpoint.azure)
    verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
    async with httpx.AsyncClient(
        timeout=request_timeout, verify=verify, headers=dict(extra_headers or {}), trust_env=False
    ) as client:
        yield RestClient(
            client=client,
            base=endpoint.rest_base,
            credentials=credentials,
            azure=endpoint.azure,
            retry=retry,
        )
