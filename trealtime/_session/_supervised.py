"""The session as its connection supervisor sees it.

:class:`SessionAsSupervised` implements :class:`~._supervisor.SupervisedSession` by handing each
call to the facade's private methods, so a renamed method on either side is a one-line change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .._transport._link import CloseReason, Link
from .._wire._client_events import ClientEvent
from .._wire._item_models import Item
from .._wire._server_events import ServerEvent
from .._wire._session_models import Session as SessionConfig
from ._requests import PendingRequest
from ._state import Conversation

if TYPE_CHECKING:
    from ._facade import Session

__all__ = ["SessionAsSupervised"]


@attrs.frozen
class SessionAsSupervised:
    """A :class:`~trealtime.Session` behind the supervisor's protocol."""

    session: Session

    async def on_frame(self, link: Link, message: str | bytes) -> None:
        await self.session._on_frame(link, message)

    def on_sent(self, text: str) -> None:
        self.session._on_sent(text)

    def session_properties(self) -> SessionConfig:
        return self.session._session_properties(self.session._settings)

    def conversation_items(self) -> Iterable[Item]:
        return self.session._state.conversation.items

    def forget_conversation(self) -> None:
        state = self.session._state
        state.conversation = Conversation(max_items=state.conversation.max_items)
        self.session._transcripts.clear()

    async def start_request(
        self, event: ClientEvent, kind: str, key: str | None, *, link: Link | None = None
    ) -> PendingRequest:
        return await self.session._start_request(event, kind, key, link=link)

    async def wait(self, request: PendingRequest, within: float | None = None) -> ServerEvent:
        return await self.session._wait(request, within)

    def forget_request(self, request: PendingRequest) -> None:
        self.session._forget_request(request)

    def fail_request(self, request: PendingRequest, error: Exception) -> None:
        self.session._requests.discard(request)
        request.finish(error=error)

    def server_error(self, detail: Any) -> Exception:
        return self.session._server_error(detail)

    def mid_turn(self) -> bool:
        return self.session._mid_turn()

    def connection_lost(self, reason: CloseReason) -> None:
        self.session._on_connection_lost(reason)

    def finish(self, reason: CloseReason) -> None:
        self.session._finish(reason)

    async def deliver(self, event: ServerEvent) -> None:
        await self.session._deliver(event)
