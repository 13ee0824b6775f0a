"""The Realtime endpoint's handshake rules, and the session a handshake opens (sans-IO).

:func:`check_handshake` decides the HTTP status of a WebSocket upgrade (101 to accept) and the
JSON body of a rejection, from the request alone: the path, the GA protocol, the API key (from
``Authorization: Bearer``, Azure's ``api-key``, the subprotocol or the query).
:func:`requested_session` reads which session the accepted handshake asks for, and
:func:`apply_preset` starts a session from a configuration fixed beforehand (an accepted call's,
or an ephemeral key's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from ._config import update_session
from ._errors import ClientError, http_error_body
from ._session import FakeSession

__all__ = ["apply_preset", "check_handshake", "mask_key", "presented_key", "requested_session"]

KEY_PROTOCOL = "openai-insecure-api-key."
BETA_PROTOCOL = "openai-beta.realtime-v1"


def mask_key(key: str) -> str:
    """The key as the API's error quotes it: its ends, the middle starred."""
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else "*" * len(key)


def presented_key(
    headers: Mapping[str, str], protocols: tuple[str, ...], query: Mapping[str, str]
) -> str | None:
    """The key from ``Authorization: Bearer``, Azure's ``api-key``, the subprotocol or query."""
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    if "api-key" in headers:
        return headers["api-key"]
    for protocol in protocols:
        if protocol.startswith(KEY_PROTOCOL):
            return protocol.removeprefix(KEY_PROTOCOL)
    return query.get("api-key")


def check_handshake(
    path: str,
    headers: Mapping[str, str],
    protocols: tuple[str, ...],
    query: Mapping[str, str],
    *,
    accepts_key: Callable[[str], bool],
) -> tuple[int, bytes]:
    """The HTTP status for a handshake (101 to accept) and the JSON body of a rejection.

    ``headers`` are lower-cased; ``accepts_key`` says whether a presented key is valid.
    """
    if not path.endswith("/realtime"):
        return 404, http_error_body(f"Invalid URL (GET {path})")
    if "realtime=v1" in headers.get("openai-beta", "") or BETA_PROTOCOL in protocols:
        return 400, http_error_body("The fake server speaks only the GA protocol, not the beta.")
    key = presented_key(headers, protocols, query)
    if key is None:
        return 401, http_error_body(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    if not accepts_key(key):
        return 401, http_error_body(
            f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return 101, b""


def requested_session(
    query: Mapping[str, str], preset: Mapping[str, Any] | None
) -> tuple[str, str | None]:
    """The kind (``realtime`` or ``transcription``) and model the handshake asks for: from the
    ``intent`` and ``model`` (or Azure's ``deployment``) of the query, unless a preset names
    them."""
    kind = "transcription" if query.get("intent") == "transcription" else "realtime"
    if preset is not None:
        kind = preset.get("type", kind)
    model = (preset or {}).get("model") or query.get("model") or query.get("deployment")
    return kind, model


def apply_preset(state: FakeSession, preset: dict[str, Any] | None) -> None:
    """Start ``state`` from a preset configuration (``session.update`` may still change it)."""
    if preset is not None:
        with contextlib.suppress(ClientError):  # validated when it was accepted or minted
            state.session = update_session(state.session, preset, voice_locked=False)
