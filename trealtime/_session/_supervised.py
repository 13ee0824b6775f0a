"""The session as its connection supervisor sees it.

:class:`SessionAsSupervised` implements :class:`~._supervisor.SupervisedSession` over the parts
of the session that the supervisor needs: the conversation core (its mirror and its pending
requests), the requester, and a few of the facade's callables. It takes them as values rather
than the facade itself, so that this module and the facade do not import each other.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import attrs

from .._transport._link import CloseReason, Link
from .._wire._client_events import ClientEvent
from .._wire._item_models import Item
from .._wire._server_events import ServerEvent
from .._wire._session_models import Session as SessionConfig
from ._core import ConversationCore
from ._requester import Requester
from ._requests import PendingRequest

__all__ = ["SessionAsSupervised"]


@attrs.frozen(kw_only=True)
class SessionAsSupervised:
    """A :class:`~trealtime.Session`'s parts behind the supervisor's protocol."""

    core: ConversationCore
    requester: Requester
    on_frame: Callable[[Link, str | bytes], Coroutine[Any, Any, None]]
    """Given to each link as is: every frame reaches the receive path with no call between."""
    on_sent: Callable[[str], None]
    session_properties: Callable[[], SessionConfig]
    """The session properties each new connection is configured with (they change)."""
    mid_turn: Callable[[], bool]
    connection_lost: Callable[[CloseReason], None]
    finish: Callable[[CloseReason], None]
    deliver: Callable[[ServerEvent], Coroutine[Any, Any, None]]
    server_error: Callable[[Any], Exception]

    def conversation_items(self) -> Iterable[Item]:
        return self.core.state.conversation.items

    def forget_conversation(self) -> None:
        self.core.forget_conversation()

    async def start_request(
        self, event: ClientEvent, kind: str, key: str | None, *, link: Link | None = None
    ) -> PendingRequest:
        return await self.requester.start_request(event, kind, key, link=link)

    async def wait(self, request: PendingRequest, within: float | None = None) -> ServerEvent:
        return await self.requester.wait(request, within)

    def forget_request(self, request: PendingRequest) -> None:
        self.requester.forget(request)

    def fail_request(self, request: PendingRequest, error: Exception) -> None:
        self.core.requests.discard(request)
        request.finish(error=error)
