"""The fake server's copy of the default conversation: an ordered list of items with audio.

Items are kept in their public form (what ``conversation.item.added``/``done`` show, never audio
bytes); the audio of user and assistant audio items is stored beside them and shows up only in
:meth:`Conversation.retrieve`. ``heard`` is what the fake model "understood" of a user item: its
text, or the transcript the transcript provider gave for its audio.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import attrs

from ..._wire._notgiven import NotGiven
from ...events import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudio,
    Item,
    MessageItem,
    OutputAudio,
)
from ._errors import ClientError, invalid_value

__all__ = ["Conversation", "StoredItem", "item_id_of"]

_PARTS_BY_ROLE = {
    "user": ("input_text", "input_audio", "input_image"),
    "system": ("input_text",),
    "assistant": ("output_text",),  # the API cannot add assistant audio messages
}


def item_id_of(item: Item) -> str:
    """The id of a stored item (always set once stored)."""
    item_id = item.id
    assert isinstance(item_id, str), "stored items always have an id"
    return item_id


@attrs.define
class StoredItem:
    """One conversation item, its audio (in the format it was made in) and what was heard."""

    item: Item
    audio: bytes = b""
    bytes_per_ms: int = 48
    heard: str = ""

    @property
    def id(self) -> str:
        """The item's id."""
        return item_id_of(self.item)


def _not_found(item_id: str, param: str) -> ClientError:
    # Code as reported by third parties; the protocol reference has not seen it first-hand.
    return ClientError(f"Item with id '{item_id}' not found.", code="item_not_found", param=param)


class Conversation:
    """The ordered items of the default conversation."""

    def __init__(self, max_items: int | None = None) -> None:
        self._items: list[StoredItem] = []
        self._max_items = max_items
        """With a bound, the oldest items (and their audio) are forgotten beyond it."""

    def __iter__(self) -> Iterator[StoredItem]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return any(stored.id == item_id for stored in self._items)

    def get(self, item_id: str, *, param: str = "item_id") -> StoredItem:
        """The stored item with this id, or ``ClientError`` (``item_not_found``)."""
        for stored in self._items:
            if stored.id == item_id:
                return stored
        raise _not_found(item_id, param)

    def previous_id(self, item_id: str) -> str | None:
        """The id of the item before ``item_id`` (``None`` at the start)."""
        index = self._index(item_id)
        return self._items[index - 1].id if index > 0 else None

    def last_id(self) -> str | None:
        """The id of the last item, if any."""
        return self._items[-1].id if self._items else None

    def check_new(self, item: Item) -> None:
        """Reject an item the client may not create (duplicate id, bad role or part, …)."""
        if isinstance(item.id, str) and item.id in self:
            raise ClientError(
                f"Item with id '{item.id}' already exists.", code="invalid_value", param="item.id"
            )
        if isinstance(item, MessageItem):
            allowed = _PARTS_BY_ROLE.get(item.role)
            if allowed is None:
                raise invalid_value("item.role", item.role, _PARTS_BY_ROLE)
            for i, part in enumerate(item.content):
                part_type = getattr(part, "TYPE", getattr(part, "type", ""))
                if part_type not in allowed:
                    raise invalid_value(f"item.content[{i}].type", part_type, allowed)
        if isinstance(item, FunctionCallOutputItem) and not any(
            isinstance(s.item, FunctionCallItem) and s.item.call_id == item.call_id
            for s in self._items
        ):
            raise ClientError(
                f"No tool call found for function call output with call_id {item.call_id}.",
                param="item.call_id",
            )

    def insert(self, stored: StoredItem, previous_item_id: str | NotGiven | None) -> str | None:
        """Insert after ``previous_item_id`` (``"root"``: first; absent: last).

        Returns the id of the item now before it.
        """
        if previous_item_id == "root":
            index = 0
        elif isinstance(previous_item_id, str):
            index = self._index(previous_item_id, param="previous_item_id") + 1
        else:
            index = len(self._items)
        self._items.insert(index, stored)
        previous = self._items[index - 1].id if index > 0 else None
        if self._max_items is not None and len(self._items) > self._max_items:
            del self._items[: len(self._items) - self._max_items]
        return previous

    def delete(self, item_id: str) -> None:
        """Remove an item."""
        del self._items[self._index(item_id)]

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut an assistant audio item's audio at ``audio_end_ms`` and drop its transcript."""
        stored = self.get(item_id)
        item = stored.item
        parts = item.content if isinstance(item, MessageItem) else []
        for name, value in (("content_index", content_index), ("audio_end_ms", audio_end_ms)):
            if value < 0:  # the API's schema-validation wording
                raise ClientError(
                    f"Invalid '{name}': integer below minimum value. Expected a value >= 0,"
                    f" but got {value} instead.",
                    code="integer_below_min_value",
                    param=name,
                )
        if not isinstance(item, MessageItem) or item.role != "assistant":
            # Wording (and the null code) as seen in live traffic.
            raise ClientError("Only model output audio messages can be truncated")
        if content_index >= len(parts) or not isinstance(parts[content_index], OutputAudio):
            audio = [i for i, part in enumerate(parts) if isinstance(part, OutputAudio)]
            raise ClientError(
                f"Invalid 'content_index': item {item_id} has no audio content part at index"
                f" {content_index} (its audio is at {', '.join(map(str, audio)) or 'no index'}).",
                code="invalid_value",
                param="content_index",
            )
        length_ms = len(stored.audio) // stored.bytes_per_ms
        if audio_end_ms > length_ms:
            raise ClientError(
                f"Audio content of {length_ms}ms is already shorter than {audio_end_ms}ms",
                param="audio_end_ms",
            )
        stored.audio = stored.audio[: audio_end_ms * stored.bytes_per_ms]
        content = list(parts)
        content[content_index] = OutputAudio(transcript="")
        stored.item = attrs.evolve(item, content=content)

    def retrieve(self, item_id: str) -> Item:
        """The item as ``conversation.item.retrieved`` shows it: with its audio, base64."""
        stored = self.get(item_id)
        item = stored.item
        if not isinstance(item, MessageItem) or not stored.audio:
            return item
        audio = base64.b64encode(stored.audio).decode("ascii")
        content = [
            attrs.evolve(part, audio=audio) if isinstance(part, InputAudio | OutputAudio) else part
            for part in item.content
        ]
        return attrs.evolve(item, content=content)

    def _index(self, item_id: str, *, param: str = "item_id") -> int:
        for index, stored in enumerate(self._items):
            if stored.id == item_id:
                return index
        raise _not_found(item_id, param)
