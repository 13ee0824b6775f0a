"""When to reconnect, how long to wait, and what to replay. Sans-IO.

A lost connection is retried only when the loss is transient: the network dropped (1006),
the server went away or restarted (1001, 1011, 1012, 1013, 1014), a ``server_error``, a
handshake answered 429 or 5xx. It is never retried when retrying cannot help: a rejected key
(401, 403, ``invalid_api_key``), no quota (``insufficient_quota``), a policy violation (1008),
or a normal close (1000).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Protocol

import attrs

from .._errors import ConnectError, ConnectionRejected, ServerError
from .._wire._item_models import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudio,
    InputImage,
    InputText,
    Item,
    MessageItem,
    OutputAudio,
    OutputText,
)

__all__ = ["Backoff", "ReconnectPolicy", "backoff_delay", "replay_items"]

TRANSIENT_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014, 1015})
FATAL_ERROR_CODES = frozenset(
    {"invalid_api_key", "insufficient_quota", "account_deactivated", "billing_hard_limit_reached"}
)


class Backoff(Protocol):
    """The knobs of an exponential backoff with jitter."""

    @property
    def initial_delay(self) -> float: ...
    @property
    def max_delay(self) -> float: ...
    @property
    def multiplier(self) -> float: ...
    @property
    def jitter(self) -> float: ...


def backoff_delay(policy: Backoff, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt`` (1-based) under ``policy``."""
    base = min(policy.max_delay, policy.initial_delay * policy.multiplier ** (attempt - 1))
    spread = (rng or random).uniform(1 - policy.jitter, 1 + policy.jitter)
    return max(0.0, base * spread)


@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """Reconnect with exponential backoff and jitter, replaying the session's state.

    The attempts are given back only once a connection was useful (a response completed on
    it, or it stayed up ``useful_after`` seconds), and no more than ``max_connects_per_minute``
    connections are opened in any minute, so that no server can make the client loop for ever.
    """

    max_attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.25
    """Each delay is scaled by a random factor in ``[1 - jitter, 1 + jitter]``."""
    renew_before_expiry: float | None = 300.0
    """Open a fresh session this many seconds before ``expires_at`` (at a turn boundary);
    ``None`` lets the session run into the server's limit."""
    reanchor_note: str | None = None
    """A system message added after the replayed conversation, e.g. to restate the persona."""
    useful_after: float = 30.0
    """Seconds a connection must stay up to count as useful when no response completed on it."""
    max_connects_per_minute: int = 10
    """Connections (reconnects and renewals) opened in any 60 s at most; more wait their turn."""

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt`` (1-based)."""
        return backoff_delay(self, attempt, rng)

    def should_retry_close(self, code: int) -> bool:
        """Whether a connection that ended with WebSocket close ``code`` is worth retrying."""
        return code in TRANSIENT_CLOSE_CODES

    def should_retry_error(self, error: BaseException) -> bool:
        """Whether a failed connection attempt is worth retrying."""
        if isinstance(error, ConnectionRejected):
            return error.status_code == 429 or error.status_code >= 500
        if isinstance(error, ServerError):
            return error.type == "server_error" and error.code not in FATAL_ERROR_CODES
        if isinstance(error, ConnectError) and error.close_code is not None:
            return self.should_retry_close(error.close_code)  # accepted, then closed
        return True  # network errors and timeouts


def is_fatal_error_code(code: str | None) -> bool:
    """An ``error`` code after which reconnecting cannot help."""
    return code in FATAL_ERROR_CODES


def _replay_message(item: MessageItem) -> MessageItem | None:
    content: list[InputText | InputImage | OutputText] = []
    for part in item.content:
        if isinstance(part, InputText | InputImage):
            content.append(part)
        elif isinstance(part, OutputText) and isinstance(part.text, str) and part.text:
            content.append(OutputText(text=part.text))
        elif isinstance(part, InputAudio | OutputAudio):
            # Audio cannot be re-created (and assistant audio cannot be added at all): what was
            # said goes back as text, when its transcript is known.
            text = part.transcript
            if isinstance(text, str) and text:
                content.append(
                    OutputText(text=text) if item.role == "assistant" else InputText(text=text)
                )
    if not content:
        return None
    return MessageItem(role=item.role, content=list(content), id=item.id)


def replay_items(items: Iterable[Item], reanchor_note: str | None = None) -> list[Item]:
    """The items that rebuild a conversation on a new connection, in order, ids kept.

    Messages keep their text and images, and audio turns into its transcript; function calls
    and their outputs are kept; MCP and unknown items, which only the server can create, are
    left out.
    """
    replayed: list[Item] = []
    for item in items:
        if isinstance(item, MessageItem):
            message = _replay_message(item)
            if message is not None:
                replayed.append(message)
        elif isinstance(item, FunctionCallItem):
            replayed.append(
                FunctionCallItem(
                    call_id=item.call_id, name=item.name, arguments=item.arguments, id=item.id
                )
            )
        elif isinstance(item, FunctionCallOutputItem):
            replayed.append(
                FunctionCallOutputItem(call_id=item.call_id, output=item.output, id=item.id)
            )
    if reanchor_note:
        replayed.append(MessageItem.system_text(reanchor_note))
    return replayed
