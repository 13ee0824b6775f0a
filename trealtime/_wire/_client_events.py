"""Client events: the 11 GA messages a client sends, and legacy ``transcription_session.update``.

Each class carries its wire ``type`` as the class constant ``TYPE``. ``event_id`` is optional and
chosen by the client; the server echoes it only inside an ``error`` that the event caused.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any, ClassVar

import attrs

from ._item_models import Item, UnknownItem
from ._notgiven import NOT_GIVEN, NotGiven, is_given
from ._response_models import ResponseParams
from ._session_models import Session

__all__ = [
    "CLIENT_EVENT_CLASSES",
    "ClientEvent",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "OutputAudioBufferClear",
    "ResponseCancel",
    "ResponseCreate",
    "SessionUpdate",
    "TranscriptionSessionUpdate",
]


@attrs.frozen(kw_only=True)
class ClientEvent:
    """Base class of every client event."""

    TYPE: ClassVar[str]
    event_id: str | NotGiven = NOT_GIVEN

    @property
    def type(self) -> str:
        """The wire ``type`` of this event."""
        return self.TYPE


@attrs.frozen(kw_only=True)
class SessionUpdate(ClientEvent):
    """Change session properties; only the fields given change (``session.type`` is required)."""

    TYPE: ClassVar[str] = "session.update"
    session: Session


@attrs.frozen(kw_only=True)
class InputAudioBufferAppend(ClientEvent):
    """Append base64 audio (in the session's input format) to the input buffer."""

    TYPE: ClassVar[str] = "input_audio_buffer.append"
    audio: str

    @classmethod
    def from_bytes(
        cls, audio: bytes, *, event_id: str | NotGiven = NOT_GIVEN
    ) -> InputAudioBufferAppend:
        """Build the event from raw audio bytes (PCM16 LE mono, or G.711), base64-encoding them."""
        return cls(audio=base64.b64encode(audio).decode("ascii"), event_id=event_id)

    def audio_bytes(self) -> bytes:
        """The decoded audio bytes."""
        return base64.b64decode(self.audio)


@attrs.frozen(kw_only=True)
class InputAudioBufferCommit(ClientEvent):
    """Commit the input buffer as a user message (at least 100 ms of audio)."""

    TYPE: ClassVar[str] = "input_audio_buffer.commit"


@attrs.frozen(kw_only=True)
class InputAudioBufferClear(ClientEvent):
    """Drop the buffered input audio."""

    TYPE: ClassVar[str] = "input_audio_buffer.clear"


@attrs.frozen(kw_only=True)
class ConversationItemCreate(ClientEvent):
    """Add an item; ``previous_item_id`` inserts after that item (``"root"``: at the start)."""

    TYPE: ClassVar[str] = "conversation.item.create"
    item: Item
    previous_item_id: str | NotGiven | None = NOT_GIVEN

    @classmethod
    def identified(
        cls, item: Item, previous_item_id: str | NotGiven | None = NOT_GIVEN
    ) -> tuple[str, ConversationItemCreate]:
        """A create of ``item`` and the id its confirmation will name: the item's own, or a new
        one it is given (not for an :class:`UnknownItem`, whose fields are raw JSON)."""
        if is_given(item.id):
            return item.id, cls(item=item, previous_item_id=previous_item_id)
        if isinstance(item, UnknownItem):
            raise TypeError("an item of a type this version does not know cannot be given an id")
        item_id = f"item_{secrets.token_hex(13)}"
        return item_id, cls(item=attrs.evolve(item, id=item_id), previous_item_id=previous_item_id)


@attrs.frozen(kw_only=True)
class ConversationItemRetrieve(ClientEvent):
    """Ask for the server's copy of an item, audio included."""

    TYPE: ClassVar[str] = "conversation.item.retrieve"
    item_id: str


@attrs.frozen(kw_only=True)
class ConversationItemTruncate(ClientEvent):
    """Cut an assistant audio item at ``audio_end_ms`` (what the user actually heard)."""

    TYPE: ClassVar[str] = "conversation.item.truncate"
    item_id: str
    content_index: int
    audio_end_ms: int


@attrs.frozen(kw_only=True)
class ConversationItemDelete(ClientEvent):
    """Remove an item from the conversation."""

    TYPE: ClassVar[str] = "conversation.item.delete"
    item_id: str


@attrs.frozen(kw_only=True)
class ResponseCreate(ClientEvent):
    """Ask the model for a response, optionally with per-response overrides."""

    TYPE: ClassVar[str] = "response.create"
    response: ResponseParams | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class ResponseCancel(ClientEvent):
    """Cancel the active response (or the one named)."""

    TYPE: ClassVar[str] = "response.cancel"
    response_id: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class OutputAudioBufferClear(ClientEvent):
    """Cut off audio the server is playing out (WebRTC and SIP only)."""

    TYPE: ClassVar[str] = "output_audio_buffer.clear"


@attrs.frozen(kw_only=True)
class TranscriptionSessionUpdate(ClientEvent):
    """Legacy (beta) update of a transcription session, in the flat beta shape."""

    TYPE: ClassVar[str] = "transcription_session.update"
    session: dict[str, Any]


CLIENT_EVENT_CLASSES: tuple[type[ClientEvent], ...] = (
    SessionUpdate,
    InputAudioBufferAppend,
    InputAudioBufferCommit,
    InputAudioBufferClear,
    ConversationItemCreate,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    ConversationItemDelete,
    ResponseCreate,
    ResponseCancel,
    OutputAudioBufferClear,
    TranscriptionSessionUpdate,
)
