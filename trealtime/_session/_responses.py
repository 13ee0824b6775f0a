"""One response at a time in the default conversation, and which response is whose. Sans-IO.

The API refuses a second ``response.create`` while a default-conversation response is running
(``conversation_already_has_active_response``). The sequencer queues such requests and releases
the next one when ``response.done`` arrives; a request the server refused for that reason anyway
(server VAD started a response at the same moment) goes back to the front of the queue. An
interruption drops what was queued. Out-of-band responses (``conversation: "none"``) may run in
parallel and are never queued.

**Correlation never depends on the server echoing anything.** The server handles client events
in order and answers each ``response.create`` with ``response.created`` (or an ``error`` naming
its ``event_id``), so order alone tells whose a response is:

- Default conversation: at most one of our requests is in flight (sent, not yet created), and
  only while no default-conversation response runs. The next default-conversation
  ``response.created`` is taken to be its answer. The one ambiguity is server VAD creating its
  own response just as ours is sent: then the server refuses ours as busy, which names our
  ``event_id``; the response we took for ours is handed back to the server and our request
  goes to the front of the queue again.
- Out of band (``conversation_id: null``): server VAD never makes these, but the API promises
  no order between concurrent ones (the protocol says to tell them apart by ``metadata``). A
  ``response.created`` is matched by the ``metadata`` it echoes: our tag, else the caller's
  own ``metadata`` when it equals that of exactly one waiting out-of-band request (of
  several with the same, the first sent). Only a response whose ``metadata`` names none of
  them (not echoed, or ``null``) is matched by order, first in, first out.
- ``metadata`` is sent exactly as the caller gave it (``None`` as ``null``, up to the API's 16
  keys). Only when the caller gave none does the request carry a tag in its ``metadata``
  (``trealtime_request``). A server that echoes it confirms the match, and once it has been
  seen echoing, a default-conversation response without our tag is known to be the server's
  own (VAD), which removes the ambiguity above. A server that does not echo costs nothing.

A request never answered at all (a lost frame) is expired by the session after its request
timeout, so the queue cannot stall; a missing echo never causes that.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import attrs

from .._errors import RealtimeError
from .._wire._notgiven import NOT_GIVEN, NotGiven, is_given
from .._wire._response_models import Response, ResponseParams

__all__ = ["REQUEST_TAG", "ResponseDropped", "ResponseRequest", "ResponseSequencer"]

REQUEST_TAG = "trealtime_request"
"""The ``metadata`` key that carries a request's tag."""


class ResponseDropped(RealtimeError):
    """The response was never created: an interruption dropped it while it waited its turn."""


RequestState = Literal["queued", "sent", "created", "done", "dropped", "failed"]


@attrs.define(eq=False)
class ResponseRequest:
    """A response the client asked for, from ``create_response`` until its ``response.done``."""

    tag: str
    params: ResponseParams | NotGiven = NOT_GIVEN
    state: RequestState = "queued"
    response: Response | None = None
    """The latest copy of the response (from ``response.created``, then ``response.done``)."""
    matched_by_order: bool = False
    """Created by order alone (no echo of our tag): a busy refusal may still undo it."""

    @property
    def out_of_band(self) -> bool:
        """Whether the response stays outside the default conversation."""
        return is_given(self.params) and self.params.conversation == "none"

    @property
    def response_id(self) -> str | None:
        """The server's id of the response, once created."""
        if self.response is not None and is_given(self.response.id):
            return self.response.id
        return None

    @property
    def tagged(self) -> bool:
        """Whether the request carries our tag (only when the caller gave no ``metadata``)."""
        return not is_given(self.params) or not is_given(self.params.metadata)

    def tagged_params(self) -> ResponseParams:
        """The parameters to send: the caller's, with the tag as ``metadata`` if they gave none.

        A caller's ``metadata`` (a dict or ``None``) is sent exactly as given.
        """
        params = self.params if is_given(self.params) else ResponseParams()
        if not self.tagged:
            return params
        return attrs.evolve(params, metadata={REQUEST_TAG: self.tag})


def request_tag(response: Response) -> str | None:
    """The tag of the request that created ``response``, if it was one of ours."""
    metadata = response.metadata
    tag = metadata.get(REQUEST_TAG) if isinstance(metadata, dict) else None
    return tag if isinstance(tag, str) else None


@attrs.define
class ResponseSequencer:
    """Decides when each requested response may be sent."""

    _queue: deque[ResponseRequest] = attrs.field(factory=deque)
    _in_flight: ResponseRequest | None = None
    """Sent, and not yet seen in ``response.created``."""
    _out_of_band: deque[ResponseRequest] = attrs.field(factory=deque)
    """Out-of-band requests sent and not yet created, in the order sent."""
    _echoes: bool = False
    """Whether the server has been seen echoing our tag in ``response.created``."""
    _active_id: str | None = None
    """The default-conversation response in progress (ours or the server's)."""
    _requests: dict[str, ResponseRequest] = attrs.field(factory=dict)

    @property
    def response_active(self) -> bool:
        """Whether a default-conversation response is running or about to."""
        return self._active_id is not None or self._in_flight is not None

    @property
    def in_flight(self) -> ResponseRequest | None:
        """The default-conversation request sent and not yet seen in ``response.created``."""
        return self._in_flight

    @property
    def queued(self) -> int:
        """How many requests wait for the active response to end."""
        return len(self._queue)

    def submit(self, request: ResponseRequest) -> bool:
        """Register a request; True if it should be sent now, False if it was queued."""
        self._requests[request.tag] = request
        if request.out_of_band:
            request.state = "sent"
            self._out_of_band.append(request)
            return True
        if self.response_active or self._queue:
            self._queue.append(request)
            return False
        self._send(request)
        return True

    def _send(self, request: ResponseRequest) -> None:
        request.state = "sent"
        self._in_flight = request

    def _release(self) -> list[ResponseRequest]:
        if self.response_active or not self._queue:
            return []
        request = self._queue.popleft()
        self._send(request)
        return [request]

    def on_created(self, response: Response) -> ResponseRequest | None:
        """``response.created`` arrived; returns our request for it, if it was ours."""
        tag = request_tag(response)
        request: ResponseRequest | None = None
        confirmed = False
        if tag is not None:
            self._echoes = True
            request, confirmed = self._requests.get(tag), True
        elif not isinstance(response.conversation_id, str):
            request, confirmed = self._out_of_band_by_metadata(response.metadata)
        default = self._in_default_conversation(response, request)
        if tag is None and request is None:  # no echoed metadata names it: by order
            if default:
                request = self._in_flight
                if request is not None and request.tagged and self._echoes:
                    request = None  # an echoing server left our tag out: the server's (VAD)
            else:
                request = self._out_of_band[0] if self._out_of_band else None
        if request is not None:
            request.state, request.response = "created", response
            request.matched_by_order = not confirmed
            if request in self._out_of_band:
                self._out_of_band.remove(request)
        if default:
            self._active_id = response.id if is_given(response.id) else ""
            if self._in_flight is request:
                self._in_flight = None
        return request

    def _out_of_band_by_metadata(self, metadata: object) -> tuple[ResponseRequest | None, bool]:
        """The waiting out-of-band request whose own ``metadata`` the response echoes, and
        whether it is the only one with that ``metadata``."""
        if not isinstance(metadata, dict) or not metadata:
            return None, False  # ``null`` or nothing: a server that does not echo
        same = [
            request
            for request in self._out_of_band
            if is_given(request.params) and request.params.metadata == metadata
        ]
        return (same[0], len(same) == 1) if same else (None, False)

    def _in_default_conversation(self, response: Response, request: ResponseRequest | None) -> bool:
        conversation_id = response.conversation_id
        if isinstance(conversation_id, str):
            return True
        if conversation_id is None:
            return False
        if request is not None:  # its echoed metadata named the request
            return not request.out_of_band
        # Not given: whichever kind we are waiting for (a default one first).
        return self._in_flight is not None or not self._out_of_band

    def on_done(self, response: Response) -> tuple[ResponseRequest | None, list[ResponseRequest]]:
        """``response.done`` arrived: our request for it (if any), and the requests to send now."""
        request = self._requests.pop(request_tag(response) or "", None)
        if request is None and is_given(response.id):
            request = self._find(response.id)
        if request is not None:
            request.state, request.response = "done", response
            if self._in_flight is request:
                self._in_flight = None
        default = (
            not request.out_of_band
            if request is not None
            else (response.conversation_id is not None)
        )
        if default and (
            not self._active_id or not is_given(response.id) or response.id == self._active_id
        ):
            self._active_id = None
        return request, self._release()

    def _find(self, response_id: str) -> ResponseRequest | None:
        for tag, request in self._requests.items():
            if request.response_id == response_id:
                return self._requests.pop(tag)
        return None

    def on_rejected(
        self, request: ResponseRequest, *, busy: bool
    ) -> tuple[bool, list[ResponseRequest]]:
        """The server refused ``request``. If it was ``busy`` (a response was already running),
        the request is queued again at the front; returns (requeued, requests to send now)."""
        if self._in_flight is request:
            self._in_flight = None
        if request in self._out_of_band:
            self._out_of_band.remove(request)
        if busy and not request.out_of_band:
            # A response taken for this one by order was the server's (VAD): it is running.
            request.state, request.response, request.matched_by_order = "queued", None, False
            self._queue.appendleft(request)
            if self._active_id is None:
                self._active_id = ""  # the server's response we did not see created yet
            return True, []
        request.state = "failed"
        self._requests.pop(request.tag, None)
        return False, self._release()

    def expire(self, request: ResponseRequest) -> list[ResponseRequest]:
        """``request`` was sent but never created in time: give up on it; returns what to send.

        Does nothing (returns ``[]``) unless it is still waiting for its ``response.created``.
        """
        if request.state != "sent":
            return []
        request.state = "failed"
        self._requests.pop(request.tag, None)
        if self._in_flight is request:
            self._in_flight = None
        if request in self._out_of_band:
            self._out_of_band.remove(request)
        return self._release()

    def drop_queued(self) -> list[ResponseRequest]:
        """An interruption: forget the responses that were owed."""
        dropped = list(self._queue)
        self._queue.clear()
        for request in dropped:
            request.state = "dropped"
            self._requests.pop(request.tag, None)
        return dropped

    def forget_active(self) -> list[ResponseRequest]:
        """The connection is gone: nothing is active any more; returns the requests in flight."""
        lost = [r for r in self._requests.values() if r.state in ("sent", "created")]
        for request in lost:
            self._requests.pop(request.tag, None)
        self._in_flight = None
        self._out_of_band.clear()
        self._active_id = None
        return lost
