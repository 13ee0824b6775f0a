"""Verify and parse the API's webhooks (``realtime.call.incoming`` …): Standard Webhooks.

The API signs each delivery as `Standard Webhooks <https://www.standardwebhooks.com>`_ do:
``webhook-signature`` holds one or more space-separated ``v1,<base64>`` HMAC-SHA256 signatures
of ``"{webhook-id}.{webhook-timestamp}.{body}"`` under the endpoint's secret (``whsec_`` and the
key in base64). This is a few lines over :mod:`hmac` rather than the ``standardwebhooks``
package: that package brings its own dependencies and exception types for those few lines,
and here each failure is a :class:`~trealtime.WebhookVerificationError` saying which check
failed, several secrets can be tried during a rotation, and the clock can be injected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs
import orjson

from ._errors import WebhookVerificationError
from ._wire._codec import from_dict

__all__ = [
    "DEFAULT_TOLERANCE",
    "IncomingCall",
    "RealtimeCallIncoming",
    "SipHeader",
    "UnknownWebhookEvent",
    "WebhookEvent",
    "sign_webhook",
    "unwrap_webhook",
    "verify_webhook",
]

DEFAULT_TOLERANCE = 300.0
"""Seconds a delivery's timestamp may be off the local clock, either way (replay protection)."""
_SECRET_PREFIX = "whsec_"


@attrs.frozen(kw_only=True)
class SipHeader:
    """A header of the SIP INVITE (untrusted caller metadata)."""

    name: str
    value: str


@attrs.frozen(kw_only=True)
class IncomingCall:
    """The ``data`` of ``realtime.call.incoming``: the call to accept, refer or reject."""

    call_id: str
    sip_headers: list[SipHeader] = attrs.field(factory=list)
    sip_media_security: str | None = None
    """``rtp``, ``srtp``, another value, or ``None`` when unknown."""

    def sip_header(self, name: str) -> str | None:
        """The first SIP header called ``name`` (case-insensitive), e.g. ``From`` or ``To``."""
        lowered = name.lower()
        return next((h.value for h in self.sip_headers if h.name.lower() == lowered), None)


@attrs.frozen(kw_only=True)
class RealtimeCallIncoming:
    """``realtime.call.incoming``: a SIP call is ringing; accept or reject it by ``call_id``."""

    TYPE: ClassVar[str] = "realtime.call.incoming"
    id: str
    created_at: int
    data: IncomingCall

    @property
    def type(self) -> str:
        """The wire type."""
        return self.TYPE


@attrs.frozen(kw_only=True)
class UnknownWebhookEvent:
    """A verified webhook of a type this version does not model; ``raw`` is its JSON."""

    id: str
    type: str
    created_at: int | None
    raw: dict[str, Any] = attrs.field(repr=False)


WebhookEvent = RealtimeCallIncoming | UnknownWebhookEvent
_MODELLED: dict[str, type[RealtimeCallIncoming]] = {RealtimeCallIncoming.TYPE: RealtimeCallIncoming}


def _secret_bytes(secret: str) -> bytes:
    if not secret.startswith(_SECRET_PREFIX):
        return secret.encode()  # the openai package accepts a raw secret too
    try:
        return base64.b64decode(secret.removeprefix(_SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise WebhookVerificationError("the webhook secret is not whsec_ and base64") from None


def _signature(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"the {name} header is missing")


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign_webhook(
    body: bytes | str, secret: str, *, webhook_id: str, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers that sign ``body`` under ``secret`` (for tests and fake servers)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = _signature(_secret_bytes(secret), webhook_id, stamp, _as_bytes(body))
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,{signature}",
    }


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    secret: str | Iterable[str],
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check that ``body`` was signed by the API, recently; raise otherwise.

    ``body`` is the request body exactly as received (not re-serialised JSON). ``secret`` is
    the endpoint's ``whsec_…`` secret, or several while one is being rotated: any may match.
    Raises :class:`~trealtime.WebhookVerificationError` for a missing or malformed header, a
    timestamp more than ``tolerance`` seconds from ``now`` (default: the clock) either way, or
    no matching signature. Signatures are compared in constant time.
    """
    webhook_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    presented = _header(headers, "webhook-signature").split()
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError(f"malformed webhook-timestamp {timestamp[:32]!r}") from None
    clock = time.time() if now is None else now
    if abs(clock - sent_at) > tolerance:
        raise WebhookVerificationError(
            f"the webhook timestamp is {clock - sent_at:+.0f} s off the clock"
            f" (tolerance {tolerance:g} s): a replay, or a stale delivery"
        )
    candidates = [sig.removeprefix("v1,") for sig in presented if sig.startswith("v1,")]
    if not candidates:
        raise WebhookVerificationError("no v1 signature in the webhook-signature header")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise WebhookVerificationError("no webhook secret to verify with")
    data = _as_bytes(body)
    matched = False
    for key in secrets:
        expected = _signature(_secret_bytes(key), webhook_id, timestamp, data).encode()
        for candidate in candidates:
            # No early exit: every comparison is made, in constant time.
            matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise WebhookVerificationError("the webhook signature does not match")


def unwrap_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    secret: str | Iterable[str],
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> WebhookEvent:
    """:func:`verify_webhook`, then parse the event (:class:`RealtimeCallIncoming`, or
    :class:`UnknownWebhookEvent` for the API's other webhook types)."""
    verify_webhook(body, headers, secret=secret, tolerance=tolerance, now=now)
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookVerificationError("the webhook body is not JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise WebhookVerificationError("the webhook body is not an event object")
    cls = _MODELLED.get(obj["type"])
    if cls is None:
        created_at = obj.get("created_at")
        return UnknownWebhookEvent(
            id=str(obj.get("id", "")),
            type=obj["type"],
            created_at=created_at if isinstance(created_at, int) else None,
            raw=obj,
        )
    try:
        return from_dict(obj, cls)
    except ValueError as exc:
        raise WebhookVerificationError(f"malformed {obj['type']} webhook: {exc}") from None
