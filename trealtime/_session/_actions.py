"""What the conversation core asks its I/O shell to do. Sans-IO.

:class:`~trealtime._session._core.ConversationCore` decides; the session carries out. Each
call into the core returns a tuple of these actions, in the order they are to be done (an
empty tuple, shared, when there is nothing to do: the common case). The actions that name no
event of their own (:class:`RouteToHandle`, :class:`HandleDone`, :class:`PublishDtmf`) are about
the server event the core was given, so that the hot path builds nothing per event.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs

from .._agent._metrics import ResponseMetrics
from .._wire._client_events import ClientEvent, ResponseCreate
from ._requests import PendingRequest
from ._responses import ResponseRequest

__all__ = [
    "NO_ACTIONS",
    "Action",
    "Actions",
    "HandleCreated",
    "HandleDone",
    "HandleFailed",
    "HandleUncreated",
    "InterruptToolCalls",
    "PublishDtmf",
    "ResolveRequest",
    "RouteToHandle",
    "SendEvent",
    "SendResponseCreate",
    "StartToolCall",
    "ToolResponseDone",
]


@attrs.frozen
class SendEvent:
    """Send a client event, best effort: if the session is closing, it is lost quietly."""

    event: ClientEvent


@attrs.frozen
class SendResponseCreate:
    """Send a ``response.create`` the sequencer released (its reply is already tracked as
    ``pending``); a default-conversation one is expired if never answered."""

    request: ResponseRequest
    pending: PendingRequest
    event: ResponseCreate


@attrs.frozen
class ResolveRequest:
    """Wake whoever awaits ``request``: its reply or its error is recorded on it."""

    request: PendingRequest


@attrs.frozen
class RouteToHandle:
    """Give the server event to the handle of ``request`` (an event of its response)."""

    request: ResponseRequest


@attrs.frozen
class HandleCreated:
    """The response of ``request`` was created."""

    request: ResponseRequest


@attrs.frozen
class HandleUncreated:
    """The response taken for ``request``'s by order was the server's own: wait again."""

    request: ResponseRequest


@attrs.frozen
class HandleDone:
    """The response of ``request`` is done: give the handle the event, then its metrics."""

    request: ResponseRequest
    metrics: ResponseMetrics | None


@attrs.frozen
class HandleFailed:
    """``request`` will get no response (refused, expired, dropped, connection lost)."""

    request: ResponseRequest
    error: Exception


@attrs.frozen
class StartToolCall:
    """Run a registered tool for a function call of the model."""

    response_id: str
    call_id: str
    name: str
    arguments: str


@attrs.frozen
class InterruptToolCalls:
    """The user took the turn: cancel the interruptible calls (of these responses too)."""

    response_ids: tuple[str, ...]


@attrs.frozen
class ToolResponseDone:
    """A response ended: its calls' results may now ask for the next response."""

    response_id: str


@attrs.frozen
class PublishDtmf:
    """Give the server event (a DTMF key press) to the session's DTMF listeners."""


Action: TypeAlias = (
    SendEvent
    | SendResponseCreate
    | ResolveRequest
    | RouteToHandle
    | HandleCreated
    | HandleUncreated
    | HandleDone
    | HandleFailed
    | StartToolCall
    | InterruptToolCalls
    | ToolResponseDone
    | PublishDtmf
)
Actions: TypeAlias = tuple[Action, ...]

NO_ACTIONS: Actions = ()
"""Nothing to do (shared: returning it allocates nothing)."""
