"""The session as its connection supervisor sees it.

:class:`SessionAsSupervised` implements :class:`~._supervisor.SupervisedSession` by handing each
call to the facade's private methods, so a renamed method on either side is a one-line change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import attrs

from .._errors import TranscriptionFailed
from .._transport._link import CloseReason, Link
from .._wire._client_events import ClientEvent
from .._wire._item_models import Item
from .._wire._server_events import ServerEvent
from .._wire._session_models import Session as SessionConfig
from .._wire._settings import RealtimeSettings
from ._requests import PendingRequest, RequestTracker
from ._state import Conversation, SessionState

__all__ = ["SessionAsSupervised"]


class _Facade(Protocol):
    """The facade's private parts this adapter hands calls to (``_facade.Session``; named here
    so that this module does not import the facade, which imports it)."""

    _settings: RealtimeSettings
    _state: SessionState
    _requests: RequestTracker
    _transcripts: dict[str, str | TranscriptionFailed]

    async def _on_frame(self, link: Link, message: str | bytes) -> None: ...
    def _on_sent(self, text: str) -> None: ...
    def _session_properties(self, settings: RealtimeSettings) -> SessionConfig: ...
    async def _start_request(
        self, event: ClientEvent, kind: str, key: str | None, *, link: Link | None = None
    ) -> PendingRequest: ...
    async def _wait(self, request: PendingRequest, within: float | None = None) -> ServerEvent: ...
    def _forget_request(self, request: PendingRequest) -> None: ...
    def _server_error(self, detail: Any) -> Exception: ...
    def _mid_turn(self) -> bool: ...
    def _on_connection_lost(self, reason: CloseReason) -> None: ...
    def _finish(self, reason: CloseReason) -> None: ...
    async def _deliver(self, event: ServerEvent, size: int = 0) -> None: ...


@attrs.frozen
class SessionAsSupervised:
    """A :class:`~trealtime.Session` behind the supervisor's protocol."""

    session: _Facade

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
