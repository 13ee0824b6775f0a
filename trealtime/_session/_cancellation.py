"""Cancelling a response so that nothing is left running: the I/O of an interruption.

``response.cancel`` is answered by the cancelled response's ``response.done``; concurrent
cancellations of one response share one request. A response we asked for and that the
server has not created yet is cancelled once it is: the server handles events in order.
"""

from __future__ import annotations

from .._errors import RealtimeError, ServerError
from .._wire._client_events import ResponseCancel
from .._wire._notgiven import NOT_GIVEN, is_given
from ._requester import Requester
from ._response_handle import ResponseHandle

__all__ = ["cancel_and_wait", "cancel_requested"]


async def cancel_and_wait(requester: Requester, response_id: str) -> None:
    """Cancel ``response_id`` (once, however many ask) and wait for its ``response.done``."""
    try:
        await requester.shared_request(
            ResponseCancel(response_id=response_id), "response.done", response_id
        )
    except ServerError as exc:
        if exc.code != "response_cancel_not_active":  # it had just ended: fine
            raise


async def cancel_requested(requester: Requester, handle: ResponseHandle | None) -> str | None:
    """Cancel the response that ``handle``'s request (sent, maybe not created yet) makes, once
    it exists; returns its id, or None if it never ran."""
    if handle is None:
        return None
    try:
        response = await handle.created()
    except RealtimeError:
        return None  # refused or expired: nothing to cancel
    running = response.status in ("in_progress", NOT_GIVEN) and handle.state == "created"
    if running and is_given(response.id):
        await cancel_and_wait(requester, response.id)
        return response.id
    return None
