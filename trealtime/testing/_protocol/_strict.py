"""Strict mode, outgoing side: leave out what the official schema lets a server leave out.

The fake server normally fills in every field, as OpenAI's server happens to; a client that
leans on one the schema marks optional passes against the fake and fails against another
server. Under ``strict`` the fake sends these events without such fields:

- items: ``object`` and ``status`` (the events say where an item is in its life; the mirror
  knows an unfinished one by its ``response.output_item.added`` without ``.done``), and
  ``call_id`` on ``function_call`` items (the arguments events carry it);
- message content parts (in items and in ``response.content_part.*``): ``type`` (the session
  types a part by its message's role and its fields, ``with_part_types_in``);
- ``previous_item_id`` of ``conversation.item.added``/``created``/``done`` and
  ``input_audio_buffer.committed`` (the mirror places the client's own items where its
  ``conversation.item.create`` asked);
- responses: ``object``; ``status`` (``status_details`` says how a finished one ended, and
  the client reads :attr:`Response.final_status`); ``output_modalities``,
  ``max_output_tokens`` and ``audio``; the ``null`` ones of ``status_details`` and ``usage``
  (a response just created has neither; the schema's default is the same ``None``); and
  ``output`` of ``response.created`` (a handle fills a missing one in ``response.done`` from
  the ``response.output_item.done`` events);
- sessions: ``id``, ``object``, ``expires_at`` (without it the client plans no renewal),
  ``include``, ``tracing``, ``prompt`` and ``truncation``, which the client never reads; the
  audio formats' ``type`` and ``rate`` where they are PCM16 at 24 kHz, the API's default;
- ``content_index`` of ``conversation.item.input_audio_transcription.delta``.

Still always sent, although optional in the schema, and why:

- item ``id`` and response ``id``: the protocol names items and responses only by them (the
  ``item_id``/``response_id`` every later event requires, ``truncate``/``delete``/``cancel``);
  without them an item or a response could not be referred to at all.
- a response's ``conversation_id``: the protocol gives it a meaning (``null`` marks an
  out-of-band response, reference §3.8), the only sign of one the spec documents.
- ``output`` of ``response.done``: handles cope without it, but the session delivers the
  event as the server sent it, and a reader of the raw event (the phone bridge example)
  takes the answer's items from it.
- a finished response's ``status_details`` and ``usage``, and errors: what a response ended
  with. The client copes without them (``final_status`` says ``completed``, metrics have no
  tokens), but the scenarios check the usage figures against them.
- the session's configuration (``model``, ``instructions``, ``output_modalities``, ``tools``,
  ``tool_choice``, ``max_output_tokens``, the audio input and output settings): it is what
  ``session.properties`` reports as confirmed; the client reads each behind a guard
  (absent = ``NOT_GIVEN``, nothing changes), and the scenarios check the confirmation.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..._wire._codec import to_dict
from ..._wire._item_models import (
    ContentPart,
    FunctionCallItem,
    Item,
    MessageItem,
    UnknownContentPart,
)
from ..._wire._notgiven import NOT_GIVEN
from ..._wire._response_models import Response
from ..._wire._session_models import AudioConfig, AudioFormat, AudioInput, AudioOutput, Session
from ...events import (
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemRetrieved,
    InputAudioBufferCommitted,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
)

__all__ = ["leave_out_optional"]

_PLACED = (ConversationItemAdded, ConversationItemCreated, ConversationItemDone)
_WITH_ITEM = (*_PLACED, ConversationItemRetrieved, ResponseOutputItemAdded, ResponseOutputItemDone)
_PCM = AudioFormat.pcm()


def leave_out_optional(event: ServerEvent) -> ServerEvent:
    """``event`` without the optional fields listed in the module docstring."""
    changes: dict[str, Any] = {}
    if isinstance(event, _WITH_ITEM):
        changes["item"] = _item(event.item)
    if isinstance(event, (*_PLACED, InputAudioBufferCommitted)):
        changes["previous_item_id"] = NOT_GIVEN
    if isinstance(event, ResponseCreated | ResponseDone):
        changes["response"] = _response(event.response, done=isinstance(event, ResponseDone))
    if isinstance(event, SessionCreated | SessionUpdated):
        changes["session"] = _session(event.session)
    if isinstance(event, ResponseContentPartAdded | ResponseContentPartDone):
        changes["part"] = _untyped(event.part)
    if isinstance(event, ConversationItemInputAudioTranscriptionDelta):
        changes["content_index"] = NOT_GIVEN
    return attrs.evolve(event, **changes) if changes else event


def _item(item: Item) -> Item:
    changes: dict[str, Any] = {}
    fields = attrs.fields_dict(type(item))
    for name in ("object", "status"):
        if name in fields:
            changes[name] = NOT_GIVEN
    if isinstance(item, FunctionCallItem):
        changes["call_id"] = NOT_GIVEN
    if isinstance(item, MessageItem):
        changes["content"] = [_untyped(part) for part in item.content]
    return attrs.evolve(item, **changes) if changes else item


def _untyped(part: ContentPart) -> ContentPart:
    """The part without its ``type``: only an unknown part can be written so."""
    raw = {name: value for name, value in to_dict(part).items() if name != "type"}
    return UnknownContentPart(type="", raw=raw)


_NULLABLE = ("status_details", "usage")


def _response(response: Response, *, done: bool) -> Response:
    output = response.output
    unset = {name: NOT_GIVEN for name in _NULLABLE if getattr(response, name) is None}
    return attrs.evolve(
        response,
        object=NOT_GIVEN,
        status=NOT_GIVEN,
        output_modalities=NOT_GIVEN,
        max_output_tokens=NOT_GIVEN,
        audio=NOT_GIVEN,
        output=[_item(item) for item in output] if done and isinstance(output, list) else NOT_GIVEN,
        **unset,
    )


_UNREAD_SESSION_FIELDS = (
    "id",
    "object",
    "expires_at",
    "include",
    "tracing",
    "prompt",
    "truncation",
)
"""What the client never needs from a session (without ``expires_at`` it just plans no renewal)."""


def _session(session: Session) -> Session:
    fields = attrs.fields_dict(type(session))
    changes: dict[str, Any] = {name: NOT_GIVEN for name in _UNREAD_SESSION_FIELDS if name in fields}
    audio = session.audio
    if isinstance(audio, AudioConfig):
        formats: dict[str, Any] = {}
        if isinstance(audio.input, AudioInput) and audio.input.format == _PCM:
            formats["input"] = attrs.evolve(audio.input, format=AudioFormat())
        if isinstance(audio.output, AudioOutput) and audio.output.format == _PCM:
            formats["output"] = attrs.evolve(audio.output, format=AudioFormat())
        if formats:
            changes["audio"] = attrs.evolve(audio, **formats)
    return attrs.evolve(session, **changes)
