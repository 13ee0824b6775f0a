"""Strict mode, outgoing side: leave out what the official schema lets a server leave out.

The fake server normally fills in every field, as OpenAI's server happens to; a client that
leans on one the schema marks optional passes against the fake and fails against another
server. Under ``strict`` the fake sends these events without such fields:

- items: ``object`` and ``status`` (the events say where an item is in its life), and
  ``call_id`` on ``function_call`` items (the arguments events carry it);
- ``previous_item_id`` of ``conversation.item.added``/``done`` and ``input_audio_buffer.committed``;
- responses: ``object``; ``status`` (``status_details`` says how a finished one ended, and
  the client reads :attr:`Response.final_status`); ``output_modalities``,
  ``max_output_tokens`` and ``audio``; the ``null`` ones of ``status_details`` and ``usage``
  (a response just created has neither; the schema's default is the same ``None``); and the
  items of ``output`` as above;
- sessions: the audio formats' ``type`` and ``rate`` where they are PCM16 at 24 kHz, the
  API's default (the schema makes both optional);
- ``content_index`` of ``conversation.item.input_audio_transcription.delta``.

Fields that identify or finish things (ids, a finished response's details, usage, errors) are
sent as usual, and so is a response's ``conversation_id``: the protocol gives it a meaning (``null``
marks an out-of-band response, reference §3.8), the only sign of one the spec documents.
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
        changes["response"] = _response(event.response)
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


def _response(response: Response) -> Response:
    output = response.output
    unset = {name: NOT_GIVEN for name in _NULLABLE if getattr(response, name) is None}
    return attrs.evolve(
        response,
        object=NOT_GIVEN,
        status=NOT_GIVEN,
        output_modalities=NOT_GIVEN,
        max_output_tokens=NOT_GIVEN,
        audio=NOT_GIVEN,
        output=[_item(item) for item in output] if isinstance(output, list) else output,
        **unset,
    )


def _session(session: Session) -> Session:
    audio = session.audio
    if not isinstance(audio, AudioConfig):
        return session
    changes: dict[str, Any] = {}
    if isinstance(audio.input, AudioInput) and audio.input.format == _PCM:
        changes["input"] = attrs.evolve(audio.input, format=AudioFormat())
    if isinstance(audio.output, AudioOutput) and audio.output.format == _PCM:
        changes["output"] = attrs.evolve(audio.output, format=AudioFormat())
    return attrs.evolve(session, audio=attrs.evolve(audio, **changes)) if changes else session
