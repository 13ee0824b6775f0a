"""Interrupting the assistant, and cancelling a response so that nothing is left running.

``response.cancel`` is answered by the cancelled response's ``response.done``; concurrent
cancellations of one response share one request. A response we asked for and that the
server has not created yet is cancelled once it is: the server handles events in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

from .._agent._playback import Truncation
from .._agent._tool_runner import ToolCallRunner
from .._errors import RealtimeError, ServerError
from .._wire._client_events import ClientEvent, InputAudioBufferAppend, ResponseCancel
from .._wire._notgiven import NOT_GIVEN, NotGiven, is_given
from ._action_runner import ActionRunner
from ._core import ConversationCore
from ._requester import Requester
from ._response_handle import ResponseHandle

__all__ = ["Interrupter", "Interruption", "cancel_and_wait", "cancel_requested"]


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


@attrs.frozen(kw_only=True)
class Interruption:
    """What :meth:`Session.interrupt` did."""

    cancelled_response_id: str | None
    """The response that was cancelled, if one was running."""
    truncation: Truncation | None
    """Where the assistant's audio item was cut, if any was playing."""
    dropped_responses: int
    """Requested responses that had not started and were dropped."""


@attrs.frozen(kw_only=True)
class Interrupter:
    """Stops the assistant (:meth:`Session.interrupt`) through the session's parts; the
    facade's ``truncate``, ``clear_audio`` and ``send`` do the I/O that is not a cancellation."""

    core: ConversationCore
    actions: ActionRunner
    tools: ToolCallRunner
    requester: Requester
    truncate: Callable[[str, int, int], Awaitable[None]]
    clear_audio: Callable[[], Awaitable[None]]
    send: Callable[[ClientEvent], Awaitable[None]]

    async def interrupt(self) -> Interruption:
        """Drop owed responses, cancel the running one (or the one asked for), cut its audio
        where playback was when called, and in manual turn mode clear the input buffer and
        replay the pre-roll."""
        called_at = trio.current_time()
        core = self.core
        dropped, actions = core.drop_owed_responses()
        self.actions.apply(actions)
        active_id = core.state.active_response_id
        self.tools.interrupt([active_id] if active_id else [])
        if active_id is not None:
            await cancel_and_wait(self.requester, active_id)
        else:
            in_flight = core.sequencer.in_flight  # asked for, maybe not created yet
            handle = self.actions.handles.get(in_flight.tag) if in_flight is not None else None
            active_id = await cancel_requested(self.requester, handle)
        # Audio may have arrived while the cancel was under way; none of it was heard: cut the
        # item at the position it had when the caller interrupted.
        truncation = core.playback.take_truncation(called_at)
        if truncation is not None:
            await self.truncate(
                truncation.item_id, truncation.content_index, truncation.audio_end_ms
            )
        if core.audio.manual_turns:
            await self.clear_audio()
            preroll = core.audio.replay_preroll()
            if preroll:
                await self.send(InputAudioBufferAppend.from_bytes(preroll))
        return Interruption(
            cancelled_response_id=active_id, truncation=truncation, dropped_responses=dropped
        )

    async def cancel_response(self, response_id: str | NotGiven) -> bool:
        """Send ``response.cancel`` for the active response (or ``response_id``, out-of-band
        ones too) only if it is running; whether it was."""
        state = self.core.state
        active_id = state.active_response_id
        if not is_given(response_id):
            if active_id is None:
                return False
            response_id = active_id
        if response_id != active_id and response_id not in state.out_of_band_responses:
            return False
        if self.core.requests.find("response.done", response_id) is None:
            event_id = self.core.next_event_id()
            await self.send(ResponseCancel(response_id=response_id, event_id=event_id))
        return True
