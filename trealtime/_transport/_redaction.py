"""Keeping known secrets (the API key, tokens) out of text that came from the server.

A server, or a proxy in front of it, may echo what it was sent: a rejected handshake's body,
an ``error`` message or a close reason can quote the key. Such text goes into exceptions,
logs and recordings, so every known secret is replaced in it first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import attrs

__all__ = ["REDACTED", "redact", "redact_bytes", "redact_error", "secrets_of_headers"]

E = TypeVar("E", bound=BaseException)

REDACTED = "<redacted>"
_MIN_SECRET = 4  # shorter values would redact ordinary words


def secrets_of_headers(headers: Iterable[tuple[str, str]]) -> set[str]:
    """The credentials in request headers: each value, and a bearer token on its own."""
    found: set[str] = set()
    for name, value in headers:
        if name.lower() not in ("authorization", "api-key", "openai-organization"):
            continue
        found.add(value)
        scheme, _, token = value.partition(" ")
        if token and scheme.lower() == "bearer":
            found.add(token)
    return {secret for secret in found if len(secret) >= _MIN_SECRET}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``<redacted>`` (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    """``data`` with every secret (UTF-8) replaced by ``<redacted>``."""
    for secret in sorted(secrets, key=len, reverse=True):
        encoded = secret.encode()
        if encoded and encoded in data:
            data = data.replace(encoded, REDACTED.encode())
    return data


def redact_error(error: E, secrets: Iterable[str]) -> E:
    """Redact ``error``'s message and the server text it carries, in place; returns it."""
    from .._errors import ConnectionRejected, ServerError

    secrets = tuple(secrets)
    error.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in error.args)
    if isinstance(error, ConnectionRejected):
        error.body = redact_bytes(error.body, secrets)
        error.headers = {k: redact(v, secrets) for k, v in error.headers.items()}
    elif isinstance(error, ServerError) and isinstance(error.detail.message, str):
        error.detail = attrs.evolve(error.detail, message=redact(error.detail.message, secrets))
        error.message = error.detail.message
    return error
