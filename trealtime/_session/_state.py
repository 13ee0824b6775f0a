"""The client's mirror of the server-side state, updated from server events. Sans-IO.

All transitions live here: give :meth:`SessionState.apply` every server event in order and
read the session properties, the conversation, the active response and the rate limits.
No Trio, no clock, no I/O: it is tested with plain synchronous tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .._wire._client_events import ClientEvent, ConversationItemCreate
from .._wire._codec import with_part_types
from .._wire._item_models import FunctionCallItem, InputAudio, Item, MessageItem, OutputAudio
from .._wire._notgiven import NOT_GIVEN, NotGiven, is_given
from .._wire._response_models import RateLimit, Response
from .._wire._server_events import (
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemDeleted,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    RateLimitsUpdated,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
)
from .._wire._session_models import Session

__all__ = ["Conversation", "SessionState"]


def _item_id(item: Item) -> str | None:
    item_id = item.id
    return item_id if isinstance(item_id, str) else None


def _keep_call_id(old: Item | None, new: Item) -> Item:
    """``new``, with the ``call_id`` already known for it when its copy leaves it out.

    The schema makes ``call_id`` optional on ``function_call`` items; the arguments events
    always carry it, and the mirror remembers it from there.
    """
    if (
        isinstance(new, FunctionCallItem)
        and not is_given(new.call_id)
        and isinstance(old, FunctionCallItem)
        and is_given(old.call_id)
    ):
        return attrs.evolve(new, call_id=old.call_id)
    return new


_MAX_INTENDED = 256


@attrs.define
class Conversation:
    """The items of the default conversation, in the server's order.

    Items are placed after their ``previous_item_id``; an item whose predecessor is unknown
    (for example one added before a reconnect) goes at the end. The schema lets the server
    leave ``previous_item_id`` out of its confirmation: an item the client created itself is
    then placed where its ``conversation.item.create`` asked (see :meth:`expect`). With
    ``max_items``, the oldest items are forgotten beyond that many, so that a long call's memory
    stays flat (the server keeps its own copy, and trims its context itself). Content parts
    the server sent without their (optional) ``type`` are typed by context
    (:func:`~trealtime._wire._codec.with_part_types`), so that no transcript is lost.
    """

    max_items: int | None = None
    _items: dict[str, Item] = attrs.field(factory=dict)
    _order: list[str] = attrs.field(factory=list)
    truncated_at_ms: dict[str, int] = attrs.field(factory=dict)
    """Items that were truncated, with the ``audio_end_ms`` they were cut at."""
    forgotten: int = 0
    """How many old items were forgotten because of ``max_items``."""
    _intended: dict[str, str | NotGiven | None] = attrs.field(factory=dict)
    """Where the client asked for each item it created to go, until the item is placed."""
    _unfinished: dict[str, None] = attrs.field(factory=dict)
    """Items a response is still producing (added, not yet done), oldest first."""

    @property
    def items(self) -> list[Item]:
        """The items in order (a new list each time)."""
        return [self._items[item_id] for item_id in self._order]

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def get(self, item_id: str) -> Item | None:
        """The item with this id, or None."""
        return self._items.get(item_id)

    def expect(self, item_id: str, previous_item_id: str | NotGiven | None) -> None:
        """The client asked for item ``item_id`` to go after ``previous_item_id`` (``"root"``
        or ``None``: first; not given: at the end), in case the confirmation does not say."""
        if previous_item_id == "root":
            previous_item_id = None
        self._intended[item_id] = previous_item_id
        if len(self._intended) > _MAX_INTENDED:  # creates never confirmed: forget the oldest
            del self._intended[next(iter(self._intended))]

    def place(self, item: Item, previous_item_id: str | NotGiven | None) -> None:
        """Insert ``item`` after ``previous_item_id`` (``None``: first), or update it in place.

        Without a ``previous_item_id``, an item the client created goes where it asked.
        """
        item_id = _item_id(item)
        if item_id is None:
            return
        item = with_part_types(item)
        intended = self._intended.pop(item_id, NOT_GIVEN)
        if item_id in self._items:
            self._items[item_id] = _keep_call_id(self._items[item_id], item)
            return
        if not is_given(previous_item_id):
            previous_item_id = intended
        self._items[item_id] = item
        if previous_item_id is None:
            self._order.insert(0, item_id)
        elif (
            isinstance(previous_item_id, str)
            and previous_item_id != item_id  # an item cannot follow itself: placed at the end
            and previous_item_id in self._items
        ):
            self._order.insert(self._order.index(previous_item_id) + 1, item_id)
        else:
            self._order.append(item_id)
        if self.max_items is not None and len(self._order) > self.max_items:
            for old in self._order[: len(self._order) - self.max_items]:
                self.remove(old)
                self.forgotten += 1

    def started(self, item_id: str) -> None:
        """A response began producing item ``item_id`` (``response.output_item.added``)."""
        self._unfinished[item_id] = None
        if len(self._unfinished) > _MAX_INTENDED:  # never finished: forget the oldest
            del self._unfinished[next(iter(self._unfinished))]

    def finished(self, item_id: str) -> None:
        """Item ``item_id`` is complete (``response.output_item.done`` or
        ``conversation.item.done``)."""
        self._unfinished.pop(item_id, None)

    def forget_unfinished(self) -> list[str]:
        """Forget the items still in progress (their response was lost with its connection, so
        no new server session has them); returns their ids.

        An item is in progress by its ``status``, or, when the server left that optional field
        out, because its ``response.output_item.added`` came and its ``.done`` did not.
        """
        unfinished = [
            item_id
            for item_id, item in self._items.items()
            if getattr(item, "status", None) == "in_progress"
            or (item_id in self._unfinished and not is_given(getattr(item, "status", NOT_GIVEN)))
        ]
        for item_id in unfinished:
            self.remove(item_id)
        self._unfinished.clear()
        return unfinished

    def replace(self, item: Item) -> None:
        """Update a known item with a newer copy; unknown items are ignored."""
        item_id = _item_id(item)
        if item_id is not None and item_id in self._items:
            self._items[item_id] = _keep_call_id(self._items[item_id], with_part_types(item))

    def set_call_id(self, item_id: str, call_id: str) -> None:
        """Record the ``call_id`` of a function call item whose copy left it out."""
        item = self._items.get(item_id)
        if isinstance(item, FunctionCallItem) and not is_given(item.call_id):
            self._items[item_id] = attrs.evolve(item, call_id=call_id)

    def remove(self, item_id: str) -> None:
        """Forget an item."""
        self._unfinished.pop(item_id, None)
        if self._items.pop(item_id, None) is not None:
            self._order.remove(item_id)
        self.truncated_at_ms.pop(item_id, None)

    def set_transcript(self, item_id: str, content_index: int, transcript: str) -> None:
        """Record the transcript of an audio part (input transcription, or truncation)."""
        item = self._items.get(item_id)
        if not isinstance(item, MessageItem) or not 0 <= content_index < len(item.content):
            return
        part = item.content[content_index]
        if isinstance(part, InputAudio | OutputAudio):
            content = list(item.content)
            content[content_index] = attrs.evolve(part, transcript=transcript)
            self._items[item_id] = attrs.evolve(item, content=content)


@attrs.define
class SessionState:
    """What the client knows of the server's state, from the events seen so far."""

    session: Session | NotGiven = NOT_GIVEN
    """The session properties as the server last confirmed them."""
    conversation: Conversation = attrs.field(factory=Conversation)
    active_response: Response | None = None
    """The default-conversation response in progress, if any."""
    out_of_band_responses: dict[str, Response] = attrs.field(factory=dict)
    """Responses in progress outside the default conversation, by id."""
    last_response: Response | None = None
    """The most recent response that ended (from ``response.done``)."""
    rate_limits: list[RateLimit] = attrs.field(factory=list)

    @property
    def active_response_id(self) -> str | None:
        """The id of the default-conversation response in progress, if one is and has an id."""
        active = self.active_response
        return active.id if active is not None and is_given(active.id) else None

    def apply(self, event: ServerEvent) -> None:
        """Update the state from one server event."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def on_client_event(self, event: ClientEvent) -> None:
        """Note what the client asked for that a server's reply may leave unsaid."""
        if isinstance(event, ConversationItemCreate) and isinstance(event.item.id, str):
            self.conversation.expect(event.item.id, event.previous_item_id)

    def _on_session(self, event: SessionCreated | SessionUpdated) -> None:
        self.session = event.session

    def _on_item_placed(
        self, event: ConversationItemAdded | ConversationItemCreated | ConversationItemDone
    ) -> None:
        self.conversation.place(event.item, event.previous_item_id)
        if isinstance(event, ConversationItemDone) and isinstance(event.item.id, str):
            self.conversation.finished(event.item.id)

    def _on_item_replaced(self, event: ConversationItemRetrieved | ResponseOutputItemDone) -> None:
        self.conversation.replace(event.item)
        if isinstance(event, ResponseOutputItemDone) and isinstance(event.item.id, str):
            self.conversation.finished(event.item.id)

    def _on_output_item_added(self, event: ResponseOutputItemAdded) -> None:
        if isinstance(event.item.id, str):
            self.conversation.started(event.item.id)

    def _on_item_deleted(self, event: ConversationItemDeleted) -> None:
        self.conversation.remove(event.item_id)

    def _on_item_truncated(self, event: ConversationItemTruncated) -> None:
        # The server drops the transcript of a truncated part, so no unheard text stays.
        self.conversation.truncated_at_ms[event.item_id] = event.audio_end_ms
        self.conversation.set_transcript(event.item_id, event.content_index, "")

    def _on_transcription(self, event: ConversationItemInputAudioTranscriptionCompleted) -> None:
        self.conversation.set_transcript(event.item_id, event.content_index, event.transcript)

    def _on_response_created(self, event: ResponseCreated) -> None:
        response = event.response
        if response.conversation_id is None and is_given(response.id):
            self.out_of_band_responses[response.id] = response
        else:
            self.active_response = response

    def _on_response_done(self, event: ResponseDone) -> None:
        response = event.response
        self.last_response = response
        if is_given(response.id) and response.id in self.out_of_band_responses:
            del self.out_of_band_responses[response.id]
            return
        active = self.active_response
        if active is None or active.id == response.id or not is_given(response.id):
            self.active_response = None
        if response.conversation_id is not None and is_given(response.output):
            for item in response.output:
                self.conversation.replace(item)

    def _on_call_arguments(
        self, event: ResponseFunctionCallArgumentsDelta | ResponseFunctionCallArgumentsDone
    ) -> None:
        self.conversation.set_call_id(event.item_id, event.call_id)

    def _on_rate_limits(self, event: RateLimitsUpdated) -> None:
        self.rate_limits = list(event.rate_limits)


_HANDLERS: dict[type[ServerEvent], Callable[[SessionState, Any], None]] = {
    SessionCreated: SessionState._on_session,
    SessionUpdated: SessionState._on_session,
    ConversationItemAdded: SessionState._on_item_placed,
    ConversationItemCreated: SessionState._on_item_placed,
    ConversationItemDone: SessionState._on_item_placed,
    ConversationItemRetrieved: SessionState._on_item_replaced,
    ResponseOutputItemDone: SessionState._on_item_replaced,
    ResponseOutputItemAdded: SessionState._on_output_item_added,
    ConversationItemDeleted: SessionState._on_item_deleted,
    ConversationItemTruncated: SessionState._on_item_truncated,
    ConversationItemInputAudioTranscriptionCompleted: SessionState._on_transcription,
    ResponseCreated: SessionState._on_response_created,
    ResponseDone: SessionState._on_response_done,
    ResponseFunctionCallArgumentsDelta: SessionState._on_call_arguments,
    ResponseFunctionCallArgumentsDone: SessionState._on_call_arguments,
    RateLimitsUpdated: SessionState._on_rate_limits,
}
