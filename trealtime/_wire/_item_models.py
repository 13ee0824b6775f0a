"""Conversation items and their content parts.

Items are tagged by ``type`` (``message``, ``function_call``, …); content parts too (``input_text``,
``output_audio``, …). The legacy part spellings ``text`` and ``audio`` (beta items, and the parts of
``response.content_part.*`` events) decode to :class:`OutputText` and :class:`OutputAudio`, so one
``match`` serves both. Types this version does not know decode to ``Unknown*`` classes that keep
the raw JSON and encode it back unchanged.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar, Literal

import attrs

from ._notgiven import NOT_GIVEN, NotGiven, is_given
from ._safe_repr import safe_repr

__all__ = [
    "ContentPart",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "InputAudio",
    "InputImage",
    "InputItem",
    "InputText",
    "Item",
    "ItemReference",
    "McpApprovalRequestItem",
    "McpApprovalResponseItem",
    "McpCallError",
    "McpCallItem",
    "McpListToolsItem",
    "McpToolInfo",
    "MessageItem",
    "OutputAudio",
    "OutputText",
    "UnknownContentPart",
    "UnknownItem",
]


def _decode_audio(audio: str | NotGiven) -> bytes:
    return base64.b64decode(audio) if is_given(audio) else b""


@attrs.frozen(kw_only=True)
class InputText:
    """Text from the user or the system."""

    TYPE: ClassVar[str] = "input_text"
    text: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class InputAudio:
    """User audio. ``audio`` (base64) appears only in ``conversation.item.retrieved``."""

    TYPE: ClassVar[str] = "input_audio"
    audio: str | NotGiven = NOT_GIVEN
    transcript: str | NotGiven | None = NOT_GIVEN

    def audio_bytes(self) -> bytes:
        """The decoded audio, or ``b""`` when the part carries none."""
        return _decode_audio(self.audio)


@attrs.frozen(kw_only=True)
class InputImage:
    """An image as a ``data:`` URI (PNG or JPEG); ``detail`` is ``auto``, ``low`` or ``high``."""

    TYPE: ClassVar[str] = "input_image"
    image_url: str | NotGiven = NOT_GIVEN
    detail: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class OutputText:
    """Text from the assistant.

    ``type`` is the wire spelling, kept as received: ``output_text`` in items, ``text`` in
    ``response.content_part.*`` events (and beta items).
    """

    TYPE: ClassVar[str] = "output_text"
    ALIASES: ClassVar[tuple[str, ...]] = ("text",)
    type: Literal["output_text", "text"] = "output_text"
    text: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class OutputAudio:
    """Assistant audio with its transcript.

    ``type`` is the wire spelling, kept as received: ``output_audio`` in items, ``audio`` in
    ``response.content_part.*`` events (and beta items).
    """

    TYPE: ClassVar[str] = "output_audio"
    ALIASES: ClassVar[tuple[str, ...]] = ("audio",)
    type: Literal["output_audio", "audio"] = "output_audio"
    audio: str | NotGiven = NOT_GIVEN
    transcript: str | NotGiven | None = NOT_GIVEN

    def audio_bytes(self) -> bytes:
        """The decoded audio, or ``b""`` when the part carries none."""
        return _decode_audio(self.audio)


@attrs.frozen(kw_only=True)
class UnknownContentPart:
    """A content part type this version does not know."""

    type: str
    raw: dict[str, Any] = attrs.field(repr=safe_repr)


ContentPart = InputText | InputAudio | InputImage | OutputText | OutputAudio | UnknownContentPart


@attrs.frozen(kw_only=True)
class MessageItem:
    """A message from the ``user``, the ``assistant`` or the ``system``."""

    TYPE: ClassVar[str] = "message"
    role: str
    content: list[ContentPart]
    id: str | NotGiven = NOT_GIVEN
    object: str | NotGiven = NOT_GIVEN
    status: str | NotGiven = NOT_GIVEN

    @classmethod
    def user_text(cls, text: str, *, id: str | NotGiven = NOT_GIVEN) -> MessageItem:
        """A user message with one text part."""
        return cls(role="user", content=[InputText(text=text)], id=id)

    @classmethod
    def system_text(cls, text: str, *, id: str | NotGiven = NOT_GIVEN) -> MessageItem:
        """A system message with one text part (a steering hint mid-conversation)."""
        return cls(role="system", content=[InputText(text=text)], id=id)

    @property
    def text(self) -> str:
        """The concatenated text and transcripts of all parts."""
        pieces: list[str] = []
        for part in self.content:
            if isinstance(part, InputText | OutputText) and is_given(part.text):
                pieces.append(part.text)
            elif isinstance(part, InputAudio | OutputAudio) and isinstance(part.transcript, str):
                pieces.append(part.transcript)
            elif isinstance(part, UnknownContentPart) and not part.type:  # its type left out
                said = part.raw.get("text", part.raw.get("transcript"))
                if isinstance(said, str):
                    pieces.append(said)
        return "".join(pieces)


@attrs.frozen(kw_only=True)
class FunctionCallItem:
    """The model's call of a function tool; ``arguments`` is a JSON string.

    The schema makes ``call_id`` optional here; ``response.function_call_arguments.*`` always
    carry it.
    """

    TYPE: ClassVar[str] = "function_call"
    name: str
    arguments: str
    call_id: str | NotGiven = NOT_GIVEN
    id: str | NotGiven = NOT_GIVEN
    object: str | NotGiven = NOT_GIVEN
    status: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class FunctionCallOutputItem:
    """The result of a function call, sent by the client."""

    TYPE: ClassVar[str] = "function_call_output"
    call_id: str
    output: str
    id: str | NotGiven = NOT_GIVEN
    object: str | NotGiven = NOT_GIVEN
    status: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class McpToolInfo:
    """One tool listed by an MCP server."""

    name: str
    input_schema: Any = attrs.field(repr=safe_repr)
    description: str | NotGiven | None = NOT_GIVEN
    annotations: Any = NOT_GIVEN


@attrs.frozen(kw_only=True)
class McpListToolsItem:
    """The tools an MCP server offers."""

    TYPE: ClassVar[str] = "mcp_list_tools"
    server_label: str
    tools: list[McpToolInfo]
    id: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class McpApprovalRequestItem:
    """The server asks the client to approve an MCP tool call."""

    TYPE: ClassVar[str] = "mcp_approval_request"
    server_label: str
    name: str
    arguments: str
    id: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class McpApprovalResponseItem:
    """The client's answer to an :class:`McpApprovalRequestItem`."""

    TYPE: ClassVar[str] = "mcp_approval_response"
    approval_request_id: str
    approve: bool
    reason: str | NotGiven | None = NOT_GIVEN
    id: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class McpCallError:
    """Why an MCP call failed: ``protocol_error``, ``tool_execution_error`` or ``http_error``."""

    type: str
    message: str | NotGiven = NOT_GIVEN
    code: int | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class McpCallItem:
    """A call of an MCP tool, with its output or error once done."""

    TYPE: ClassVar[str] = "mcp_call"
    server_label: str
    name: str
    arguments: str
    approval_request_id: str | NotGiven | None = NOT_GIVEN
    output: str | NotGiven | None = NOT_GIVEN
    error: McpCallError | NotGiven | None = NOT_GIVEN
    id: str | NotGiven = NOT_GIVEN


@attrs.frozen(kw_only=True)
class UnknownItem:
    """An item type this version does not know."""

    type: str
    raw: dict[str, Any] = attrs.field(repr=safe_repr)

    @property
    def id(self) -> str | NotGiven:
        """The item's id, if the raw JSON has a string one."""
        value = self.raw.get("id")
        return value if isinstance(value, str) else NOT_GIVEN


Item = (
    MessageItem
    | FunctionCallItem
    | FunctionCallOutputItem
    | McpListToolsItem
    | McpApprovalRequestItem
    | McpApprovalResponseItem
    | McpCallItem
    | UnknownItem
)


@attrs.frozen(kw_only=True)
class ItemReference:
    """A reference to an earlier item, only inside ``response.create``'s ``input``."""

    TYPE: ClassVar[str] = "item_reference"
    id: str


InputItem = Item | ItemReference
