"""The protocol state of one fake-server connection (sans-IO: no Trio, no clock, no socket).

:meth:`FakeSession.receive` takes one client frame and returns the decoded event and the server
events it causes, in order. Responses it starts are handed out by :meth:`take_started`; the
connection streams them (they need time) and may interleave other events, as the real server
does. A client mistake becomes an ``error`` event carrying the client's ``event_id``; nothing a
client sends raises.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import orjson

from ..._wire._notgiven import NOT_GIVEN, NotGiven, is_given
from ...events import (
    CLIENT_EVENT_CLASSES,
    AudioConfig,
    AudioFormat,
    AudioInput,
    AudioOutput,
    ClientEvent,
    ConversationItemAdded,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemDeleted,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemInputAudioTranscriptionSegment,
    ConversationItemRetrieve,
    ConversationItemRetrieved,
    ConversationItemTruncate,
    ConversationItemTruncated,
    CustomVoice,
    Error,
    ErrorInfo,
    InputAudio,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCleared,
    InputAudioBufferCommit,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputText,
    InvalidClientEvent,
    Item,
    ItemReference,
    MessageItem,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    ResponseParams,
    SemanticVad,
    ServerEvent,
    ServerVad,
    Session,
    SessionCreated,
    SessionProperties,
    SessionUpdate,
    SessionUpdated,
    TranscriptionInputTokenDetails,
    TranscriptionSessionUpdate,
    TranscriptionTokenUsage,
    TurnDetection,
    UnknownClientEvent,
    decode_client_event,
)
from ._config import check_values, default_session, update_session
from ._conversation import Conversation, StoredItem
from ._errors import ClientError, check_metadata, invalid_value
from ._input import InputBuffer
from ._responses import (
    ResponseSettings,
    ResponseStream,
    count_input_tokens,
    split_pieces,
    text_tokens,
)
from ._script import Script
from ._vad import SpeechStarted
from ._validate import check_shape

__all__ = ["FakeSession", "GA_CLIENT_TYPES", "SESSION_SECONDS"]

T = TypeVar("T")
SESSION_SECONDS = 3600
_CLASSES = {cls.TYPE: cls for cls in CLIENT_EVENT_CLASSES if cls is not TranscriptionSessionUpdate}
GA_CLIENT_TYPES = tuple(_CLASSES)


def _given(*values: T | NotGiven | None) -> T | None:
    """The first value that is neither ``NOT_GIVEN`` nor ``None``."""
    for value in values:
        if value is not None and not isinstance(value, NotGiven):
            return value
    return None


def _decode_base64(data: str, param: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ClientError(
            f"Invalid '{param}': expected base64-encoded audio.", code="invalid_value", param=param
        ) from None


class FakeSession:
    """Session config, conversation, input buffer and responses of one connection."""

    def __init__(
        self,
        *,
        script: Script,
        new_id: Callable[[str], str],
        model: str,
        kind: str = "realtime",
        now: float = 0.0,
        chunk_ms: int = 100,
        seed: int = 0,
        lifetime: float | None = SESSION_SECONDS,
        strict: bool = False,
        retain: int | None = None,
    ) -> None:
        self._script = script
        self._strict = strict
        self._new_id = new_id
        self._chunk_ms = chunk_ms
        self._seed = seed
        self.session: Session = default_session(
            kind,
            model=model,
            session_id=new_id("sess"),
            expires_at=int(now + (lifetime or SESSION_SECONDS)),
        )
        self.conversation = Conversation(max_items=retain)
        self.conversation_id = new_id("conv")
        self.input = InputBuffer()
        self._responses: list[ResponseStream] = []
        self._started: list[ResponseStream] = []
        self._voice_locked = False
        self._speech: tuple[str, int] | None = None  # (item id, audio_start_ms) while speaking
        self._configure_input()

    # -- public interface ------------------------------------------------------------------------

    def open(self) -> list[ServerEvent]:
        """The events sent as soon as the connection opens."""
        return [SessionCreated(session=self.session)]

    def receive(self, data: str | bytes) -> tuple[ClientEvent, list[ServerEvent]]:
        """Handle one client frame: its decoded event, and the events to send in reply."""
        event = decode_client_event(data)
        try:
            raw = self._validate(data, event)
            return event, self._dispatch(event, raw)
        except ClientError as exc:
            return event, [Error(error=exc.detail(event.event_id))]

    def take_started(self) -> list[ResponseStream]:
        """Responses started since the last call; the caller streams them."""
        started, self._started = self._started, []
        return started

    def active_responses(self) -> list[ResponseStream]:
        """Responses still in progress (the default one and any out-of-band ones)."""
        for stream in self._responses:
            self._voice_locked |= stream.done and stream.produced_audio
        self._responses = [s for s in self._responses if not s.done]
        return list(self._responses)

    # -- validation and dispatch -----------------------------------------------------------------

    def _validate(self, data: str | bytes, event: ClientEvent) -> dict[str, Any]:
        if isinstance(data, bytes):
            raise ClientError(
                "Binary frames are not supported: send each event as JSON text.",
                code="invalid_event",
            )
        if isinstance(event, InvalidClientEvent) and event.type not in _CLASSES:
            raise ClientError(f"Invalid event: {event.error}.", code="invalid_event")
        if event.type not in _CLASSES:
            raise invalid_value("type", event.type, GA_CLIENT_TYPES)
        raw: dict[str, Any] = orjson.loads(data)
        check_shape(raw, _CLASSES[event.type])
        if isinstance(event, InvalidClientEvent | UnknownClientEvent):
            reason = getattr(event, "error", "")
            raise ClientError(f"Invalid event: {reason}.", code="invalid_event")
        return raw

    def _dispatch(self, event: ClientEvent, raw: dict[str, Any]) -> list[ServerEvent]:
        match event:
            case SessionUpdate():
                return self._update(raw["session"])
            case InputAudioBufferAppend():
                return self._append(event.audio)
            case InputAudioBufferCommit():
                return self._commit()
            case InputAudioBufferClear():
                self.input.clear()
                self._speech = None
                return [InputAudioBufferCleared()]
            case ConversationItemCreate():
                return self._create_item(event.item, event.previous_item_id)
            case ConversationItemRetrieve():
                return [ConversationItemRetrieved(item=self.conversation.retrieve(event.item_id))]
            case ConversationItemDelete():
                self.conversation.delete(event.item_id)
                return [ConversationItemDeleted(item_id=event.item_id)]
            case ConversationItemTruncate():
                self.conversation.truncate(event.item_id, event.content_index, event.audio_end_ms)
                return [
                    ConversationItemTruncated(
                        item_id=event.item_id,
                        content_index=event.content_index,
                        audio_end_ms=event.audio_end_ms,
                    )
                ]
            case ResponseCreate():
                params = event.response if isinstance(event.response, ResponseParams) else None
                return self._create_response(params or ResponseParams(), raw.get("response", {}))
            case ResponseCancel():
                return self._cancel(event.response_id)
            case OutputAudioBufferClear():
                raise ClientError(
                    "output_audio_buffer.clear is only supported for WebRTC and SIP connections.",
                    code="invalid_value",
                    param="type",
                )
        raise invalid_value("type", event.type, GA_CLIENT_TYPES)  # pragma: no cover

    # -- session ---------------------------------------------------------------------------------

    def _update(self, raw: dict[str, Any]) -> list[ServerEvent]:
        voice_locked = self._voice_locked or any(s.produced_audio for s in self._responses)
        self.session = update_session(self.session, raw, voice_locked=voice_locked)
        self._configure_input()
        return [SessionUpdated(session=self.session)]

    def _audio_input(self) -> AudioInput:
        audio = self.session.audio
        if isinstance(audio, AudioConfig) and isinstance(audio.input, AudioInput):
            return audio.input
        return AudioInput()

    def _audio_output(self) -> AudioOutput:
        audio = self.session.audio
        if isinstance(audio, AudioConfig) and isinstance(audio.output, AudioOutput):
            return audio.output
        return AudioOutput()

    def _configure_input(self) -> None:
        audio_input = self._audio_input()
        fmt = _given(audio_input.format) or AudioFormat.pcm()
        self.input.configure(fmt.resolved_type, self._turn_detection())

    def _turn_detection(self) -> TurnDetection | None:
        turn_detection = self._audio_input().turn_detection
        return None if isinstance(turn_detection, NotGiven) else turn_detection

    # -- input audio -----------------------------------------------------------------------------

    def _append(self, audio: str) -> list[ServerEvent]:
        data = _decode_base64(audio, "audio")
        events: list[ServerEvent] = []
        for vad_event in self.input.append(data):
            if isinstance(vad_event, SpeechStarted):
                events += self._speech_started(vad_event.audio_start_ms)
            else:
                events += self._speech_stopped(vad_event.audio_end_ms)
        return events

    def _speech_started(self, start_ms: int) -> list[ServerEvent]:
        item_id = self._new_id("item")
        self._speech = (item_id, start_ms)
        events: list[ServerEvent] = [
            InputAudioBufferSpeechStarted(audio_start_ms=start_ms, item_id=item_id)
        ]
        turn_detection = self._turn_detection()
        interrupt = (
            isinstance(turn_detection, ServerVad | SemanticVad)
            and _given(turn_detection.interrupt_response) is not False
        )
        active = self._active_default()
        if interrupt and active is not None:
            events += active.finish("cancelled", "turn_detected")
        return events

    def _speech_stopped(self, end_ms: int) -> list[ServerEvent]:
        item_id, start_ms = self._speech or (self._new_id("item"), end_ms)
        self._speech = None
        events: list[ServerEvent] = [
            InputAudioBufferSpeechStopped(audio_end_ms=end_ms, item_id=item_id)
        ]
        events += self._commit_audio(self.input.commit_speech(start_ms, end_ms), item_id)
        turn_detection = self._turn_detection()
        create = (
            isinstance(turn_detection, ServerVad | SemanticVad)
            and _given(turn_detection.create_response) is not False
        )
        realtime = isinstance(self.session, SessionProperties)
        if create and realtime and self._active_default() is None:
            events += self._create_response(ResponseParams(), {})
        return events

    def _commit(self) -> list[ServerEvent]:
        audio = self.input.commit()
        item_id = self._speech[0] if self._speech else self._new_id("item")
        if self._speech:
            # A manual commit mid-speech takes the announced item id and ends that turn
            # (no speech_stopped follows); real servers' behaviour here is undocumented.
            self.input.clear_speech()
            self._speech = None
        return self._commit_audio(audio, item_id)

    def _commit_audio(self, audio: bytes, item_id: str) -> list[ServerEvent]:
        item = MessageItem(
            id=item_id, role="user", status="completed", content=[InputAudio(transcript=None)]
        )
        heard = self._script.hear(audio)
        stored = StoredItem(
            item=item, audio=audio, bytes_per_ms=self.input.bytes_per_ms, heard=heard or ""
        )
        previous = self.conversation.insert(stored, None)
        events: list[ServerEvent] = [
            InputAudioBufferCommitted(previous_item_id=previous, item_id=item_id),
            ConversationItemAdded(previous_item_id=previous, item=item),
            ConversationItemDone(previous_item_id=previous, item=item),
        ]
        transcription = _given(self._audio_input().transcription)
        if transcription is None:
            return events
        if heard is None:
            return [*events, _transcription_failed(item_id)]
        return events + self._transcribe(stored, _given(transcription.model) or "")

    def _transcribe(self, stored: StoredItem, model: str) -> list[ServerEvent]:
        item_id = stored.id
        pieces = split_pieces(stored.heard)
        events: list[ServerEvent] = [
            ConversationItemInputAudioTranscriptionDelta(
                item_id=item_id, content_index=0, delta=piece
            )
            for piece in pieces
        ]
        if model.endswith("diarize"):
            events += _segments(item_id, pieces, len(stored.audio) / stored.bytes_per_ms / 1000)
        audio_tokens = -(-len(stored.audio) // (stored.bytes_per_ms * 100))
        output_tokens = text_tokens(stored.heard)
        events.append(
            ConversationItemInputAudioTranscriptionCompleted(
                item_id=item_id,
                content_index=0,
                transcript=stored.heard,
                usage=TranscriptionTokenUsage(
                    input_tokens=audio_tokens,
                    output_tokens=output_tokens,
                    total_tokens=audio_tokens + output_tokens,
                    input_token_details=TranscriptionInputTokenDetails(
                        text_tokens=0, audio_tokens=audio_tokens
                    ),
                ),
            )
        )
        if isinstance(stored.item, MessageItem):
            stored.item = attrs.evolve(stored.item, content=[InputAudio(transcript=stored.heard)])
        return events

    # -- conversation ----------------------------------------------------------------------------

    def _create_item(
        self, item: Item, previous_item_id: str | NotGiven | None
    ) -> list[ServerEvent]:
        self.conversation.check_new(item)
        stored = self._store(item, self._new_id("item"))
        previous = self.conversation.insert(stored, previous_item_id)
        return [
            ConversationItemAdded(previous_item_id=previous, item=stored.item),
            ConversationItemDone(previous_item_id=previous, item=stored.item),
        ]

    def _store(self, item: Item, fallback_id: str) -> StoredItem:
        """The stored form of a client item: an id, a status, and audio kept aside."""
        changes: dict[str, Any] = {"id": _given(item.id) or fallback_id}
        if "status" in attrs.fields_dict(type(item)):
            changes["status"] = "completed"
        if not isinstance(item, MessageItem):
            return StoredItem(item=attrs.evolve(item, **changes))
        audio = b"".join(
            _decode_base64(part.audio, f"item.content[{i}].audio")
            for i, part in enumerate(item.content)
            if isinstance(part, InputAudio) and isinstance(part.audio, str)
        )
        heard: list[str] = []
        for part in item.content:
            if isinstance(part, InputText) and is_given(part.text):
                heard.append(part.text)
            elif isinstance(part, InputAudio):
                given = part.transcript
                heard.append(given if isinstance(given, str) else self._script.hear(audio) or "")
        changes["content"] = [
            attrs.evolve(p, audio=NOT_GIVEN) if isinstance(p, InputAudio) else p
            for p in item.content
        ]
        return StoredItem(
            item=attrs.evolve(item, **changes),
            audio=audio,
            bytes_per_ms=self.input.bytes_per_ms,
            heard=" ".join(heard) if heard else item.text,
        )

    # -- responses -------------------------------------------------------------------------------

    def _active_default(self) -> ResponseStream | None:
        return next((s for s in self.active_responses() if s.in_conversation), None)

    def _create_response(self, params: ResponseParams, raw: dict[str, Any]) -> list[ServerEvent]:
        session = self.session
        if not isinstance(session, SessionProperties):
            raise ClientError(
                "Responses cannot be created in a transcription session.", code="invalid_value"
            )
        check_values(raw, "response")
        if self._strict:
            check_metadata(raw.get("metadata"), "response.metadata")
        out_of_band = params.conversation == "none"
        active = self._active_default()
        if not out_of_band and active is not None:
            raise ClientError(
                f"Conversation already has an active response in progress: {active.id}. Wait "
                "until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        context = self._context(params)
        output = params.audio.output if isinstance(params.audio, AudioConfig) else NOT_GIVEN
        output = output if isinstance(output, AudioOutput) else AudioOutput()
        voice: str | CustomVoice = _given(output.voice, self._audio_output().voice) or "alloy"
        settings = ResponseSettings(
            response_id=self._new_id("resp"),
            conversation_id=None if out_of_band else self.conversation_id,
            modalities=_given(params.output_modalities, session.output_modalities) or ["audio"],
            format=_given(output.format, self._audio_output().format) or AudioFormat.pcm(),
            voice=voice.id if isinstance(voice, CustomVoice) else voice,
            max_output_tokens=_given(params.max_output_tokens, session.max_output_tokens) or "inf",
            metadata=None if self._strict else _given(params.metadata),  # no echo promised
            input_tokens=count_input_tokens(
                context, _given(params.instructions, session.instructions) or ""
            ),
            chunk_ms=self._chunk_ms,
            seed=self._seed,
        )
        plan = self._script.plan(
            context,
            _given(params.tools, session.tools) or [],
            _given(params.tool_choice, session.tool_choice) or "auto",
        )
        stream = ResponseStream(
            settings,
            plan,
            new_id=self._new_id,
            conversation=None if out_of_band else self.conversation,
        )
        self._responses.append(stream)
        self._started.append(stream)
        return stream.start()

    def _context(self, params: ResponseParams) -> list[StoredItem]:
        if not isinstance(params.input, list):
            return list(self.conversation)
        context = []
        for i, entry in enumerate(params.input):
            if isinstance(entry, ItemReference):
                context.append(self.conversation.get(entry.id, param=f"response.input[{i}].id"))
            else:
                context.append(self._store(entry, self._new_id("item")))
        return context

    def _cancel(self, response_id: str | NotGiven) -> list[ServerEvent]:
        if isinstance(response_id, str):
            target = next((s for s in self.active_responses() if s.id == response_id), None)
        else:
            target = self._active_default()
        if target is None:
            raise ClientError(
                "Cancellation failed: no active response found", code="response_cancel_not_active"
            )
        return target.finish("cancelled", "client_cancelled")


def _transcription_failed(item_id: str) -> ServerEvent:
    """What the API sends when it cannot transcribe (the protocol notes' example)."""
    return ConversationItemInputAudioTranscriptionFailed(
        item_id=item_id,
        content_index=0,
        error=ErrorInfo(
            type="transcription_error",
            code="audio_unintelligible",
            message="Could not transcribe audio.",
            param=None,
        ),
    )


def _segments(item_id: str, pieces: list[str], seconds: float) -> list[ServerEvent]:
    """A diarization model's segments: one speaker, the audio shared out evenly."""
    share = seconds / max(len(pieces), 1)
    return [
        ConversationItemInputAudioTranscriptionSegment(
            item_id=item_id,
            content_index=0,
            text=piece,
            id=f"seg_{i:03d}",
            speaker="A",
            start=round(i * share, 3),
            end=round((i + 1) * share, 3),
        )
        for i, piece in enumerate(pieces)
    ]
