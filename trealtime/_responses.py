"""One response at a time in the default conversation. Sans-IO.

The API refuses a second ``response.create`` while a default-conversation response is running
(``conversation_already_has_active_response``). The sequencer queues such requests and releases
the next one when ``response.done`` arrives; a request the server refused for that reason anyway
(server VAD started a response at the same moment) goes back to the front of the queue. An
interruption drops what was queued. Out-of-band responses (``conversation: "none"``) may run in
parallel and are never queued.

Our requests are recognised in ``response.created`` by a tag in the response's ``metadata``,
which the server echoes; responses without our tag were created by the server (VAD). A request
that is never answered (a server that drops metadata, or a lost frame) is expired by the
session after its request timeout, so the queue cannot stall.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import attrs

from ._notgiven import NOT_GIVEN, NotGiven, is_given
from ._response_models import Response, ResponseParams

__all__ = ["REQUEST_TAG", "ResponseRequest", "ResponseSequencer"]

REQUEST_TAG = "trealtime_request"
"""The ``metadata`` key that carries a request's tag."""

RequestState = Literal["queued", "sent", "created", "done", "dropped", "failed"]


@attrs.define(eq=False)
class ResponseRequest:
    """A response the client asked for, from ``create_response`` until its ``response.done``."""

    tag: str
    params: ResponseParams | NotGiven = NOT_GIVEN
    state: RequestState = "queued"
    response: Response | None = None
    """The latest copy of the response (from ``response.created``, then ``response.done``)."""

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

    def tagged_params(self) -> ResponseParams:
        """The parameters to send: the caller's, with the tag added to ``metadata``."""
        params = self.params if is_given(self.params) else ResponseParams()
        metadata = params.metadata if isinstance(params.metadata, dict) else {}
        return attrs.evolve(params, metadata={**metadata, REQUEST_TAG: self.tag})


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
        request = self._requests.get(request_tag(response) or "")
        if request is not None:
            request.state, request.response = "created", response
        if response.conversation_id is not None:
            self._active_id = response.id if is_given(response.id) else ""
            if self._in_flight is request:
                self._in_flight = None
        return request

    def on_done(self, response: Response) -> tuple[ResponseRequest | None, list[ResponseRequest]]:
        """``response.done`` arrived: our request for it (if any), and the requests to send now."""
        request = self._requests.pop(request_tag(response) or "", None)
        if request is None and is_given(response.id):
            request = self._find(response.id)
        if request is not None:
            request.state, request.response = "done", response
            if self._in_flight is request:
                self._in_flight = None
        if response.conversation_id is not None and (
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
        if busy and not request.out_of_band:
            request.state, request.response = "queued", None
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
        self._active_id = None
        return lost
