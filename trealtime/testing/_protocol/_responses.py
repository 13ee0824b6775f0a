"""Synthesis of one response, as the ordered events of §4.12 (sans-IO).

A :class:`ResponseStream` is driven from outside: :meth:`~ResponseStream.start` gives the
opening events, each :meth:`~ResponseStream.step` the next deltas and how much audio they carry
(for pacing), and :meth:`~ResponseStream.finish` the closing ``.done`` events and
``response.done``. ``finish`` may come at any point (cancellation); it closes whatever is open, so
every ``.done`` holds exactly what its deltas carried.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Sequence
from typing import Literal, TypedDict

import attrs

from ..._wire._notgiven import NOT_GIVEN, NotGiven
from ...events import (
    AudioConfig,
    AudioFormat,
    AudioOutput,
    CachedTokenDetails,
    ConversationItemAdded,
    ConversationItemDone,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputTokenDetails,
    Item,
    MessageItem,
    OutputAudio,
    OutputText,
    OutputTokenDetails,
    RateLimit,
    RateLimitsUpdated,
    Response,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ServerEvent,
    StatusDetails,
    Usage,
)
from ._audio import speech
from ._conversation import Conversation, StoredItem

__all__ = [
    "MS_PER_CHAR",
    "ReplyPlan",
    "ResponseSettings",
    "ResponseStream",
    "Step",
    "count_input_tokens",
    "split_pieces",
    "text_tokens",
]

MS_PER_CHAR = 65  # speaking rate of synthesized replies: about 15 characters per second
_TOKEN_LIMIT = 40_000  # the "tokens" budget reported in rate_limits.updated
_ARGUMENT_CHUNK = 16  # characters of JSON arguments per function_call_arguments.delta
_PIECES = re.compile(r"\s*\S+\s*|\s+")


def split_pieces(text: str) -> list[str]:
    """Split text into word-sized deltas whose concatenation is the text."""
    return _PIECES.findall(text)


def text_tokens(text: str) -> int:
    """Approximate token count of text: one token per four characters."""
    return math.ceil(len(text) / 4)


@attrs.frozen(kw_only=True)
class ReplyPlan:
    """What the model says: a message (``text``) or a function call (``call_name``)."""

    text: str = ""
    call_name: str | None = None
    call_arguments: str = "{}"


@attrs.frozen(kw_only=True)
class ResponseSettings:
    """The effective settings of one response (session settings plus overrides)."""

    response_id: str
    conversation_id: str | None
    modalities: list[str]
    format: AudioFormat
    voice: str
    max_output_tokens: int | Literal["inf"]
    metadata: dict[str, str] | None
    input_tokens: InputTokenDetails
    chunk_ms: int = 100
    seed: int = 0

    @property
    def audio(self) -> bool:
        """Whether the output is audio (with a transcript) rather than text."""
        return "audio" in self.modalities


class _Where(TypedDict):
    response_id: str
    item_id: str
    output_index: int
    content_index: int


@attrs.frozen
class Step:
    """Deltas to send now, and the milliseconds of audio they carry."""

    events: list[ServerEvent]
    audio_ms: int


class ResponseStream:
    """One response being generated; see the module docstring for the protocol."""

    def __init__(
        self,
        settings: ResponseSettings,
        plan: ReplyPlan,
        *,
        new_id: Callable[[str], str],
        conversation: Conversation | None,
    ) -> None:
        self.settings = settings
        self._plan = plan
        self._conversation = conversation
        self._item_id = new_id("item")
        self._call_id = new_id("call") if plan.call_name is not None else ""
        self._steps = self._plan_steps()
        self._next = 0
        self._said = ""  # text, transcript or arguments streamed so far
        self._audio = bytearray()
        self._output_tokens = 0
        self._hit_limit = False
        self._stored = StoredItem(item=self._item("in_progress"))
        self.done = False

    @property
    def id(self) -> str:
        """The response id."""
        return self.settings.response_id

    @property
    def in_conversation(self) -> bool:
        """False for an out-of-band response (``conversation: "none"``)."""
        return self._conversation is not None

    @property
    def produced_audio(self) -> bool:
        """Whether any audio has been sent (which locks the session's voice)."""
        return bool(self._audio)

    def start(self) -> list[ServerEvent]:
        """``response.created``, the output item, and its (empty) content part."""
        item = self._item("in_progress")
        events: list[ServerEvent] = [
            ResponseCreated(response=self._response("in_progress", [], None)),
            ResponseOutputItemAdded(response_id=self.id, output_index=0, item=item),
        ]
        stored = StoredItem(item=item, bytes_per_ms=self.settings.format.bytes_per_ms)
        if self._conversation is not None:
            previous = self._conversation.insert(stored, None)
            events.append(ConversationItemAdded(item=item, previous_item_id=previous))
        if isinstance(item, MessageItem):
            events.append(ResponseContentPartAdded(**self._where(), part=self._event_part()))
            # From here on the item is an (in-progress) audio message: truncatable.
            stored.item = attrs.evolve(item, content=[self._part()])
        self._stored = stored
        return events

    def step(self) -> Step | None:
        """The next deltas, or ``None`` when the content is complete (or the token limit hit)."""
        if self._next >= len(self._steps):
            return None
        piece, audio = self._steps[self._next]
        tokens = text_tokens(self._said + piece) - text_tokens(self._said)
        tokens += math.ceil(len(audio) / self.settings.format.bytes_per_ms / 50)
        limit = self.settings.max_output_tokens
        if isinstance(limit, int) and self._output_tokens + tokens > limit:
            self._hit_limit = True
            return None
        self._next += 1
        self._output_tokens += tokens
        self._said += piece
        self._audio += audio
        self._stored.audio += audio
        return Step(self._deltas(piece, audio), len(audio) // self.settings.format.bytes_per_ms)

    def finish(
        self, status: str | None = None, reason: str | NotGiven = NOT_GIVEN
    ) -> list[ServerEvent]:
        """Close everything that is open and end the response.

        Without ``status`` the response is ``completed`` (or ``incomplete`` if it hit
        ``max_output_tokens``); cancellation passes ``"cancelled"`` and a reason.
        """
        if status is None and self._hit_limit:
            status, reason = "incomplete", "max_output_tokens"
        status = status or "completed"
        self.done = True
        item = self._item("completed" if status == "completed" else "incomplete")
        events = self._closing_events(item)
        events.append(ResponseOutputItemDone(response_id=self.id, output_index=0, item=item))
        self._stored.item = item
        self._stored.heard = self._said
        if self._conversation is not None and self._item_id in self._conversation:
            previous = self._conversation.previous_id(self._item_id)
            events.append(ConversationItemDone(item=item, previous_item_id=previous))
        usage = self._usage()
        events.append(RateLimitsUpdated(rate_limits=[_rate_limit(usage)]))
        details = None if status == "completed" else StatusDetails(type=status, reason=reason)
        events.append(ResponseDone(response=self._response(status, [item], usage, details)))
        return events

    # -- building blocks ------------------------------------------------------------------------

    def _plan_steps(self) -> list[tuple[str, bytes]]:
        plan = self._plan
        if plan.call_name is not None:
            args = plan.call_arguments
            return [
                (args[i : i + _ARGUMENT_CHUNK], b"") for i in range(0, len(args), _ARGUMENT_CHUNK)
            ]
        pieces = split_pieces(plan.text)
        if not self.settings.audio:
            return [(piece, b"") for piece in pieces]
        fmt = self.settings.format
        chunk = self.settings.chunk_ms * fmt.bytes_per_ms
        audio = speech(len(plan.text) * MS_PER_CHAR, fmt.type, self.settings.seed)
        count = math.ceil(len(audio) / chunk)
        texts = [""] * count
        for i, piece in enumerate(pieces):
            texts[i * count // len(pieces)] += piece
        return [(texts[i], audio[i * chunk : (i + 1) * chunk]) for i in range(count)]

    def _where(self) -> _Where:
        return _Where(response_id=self.id, item_id=self._item_id, output_index=0, content_index=0)

    def _part(self) -> OutputAudio | OutputText:
        """The part as items carry it (``output_audio``/``output_text``)."""
        return (
            OutputAudio(transcript=self._said)
            if self.settings.audio
            else OutputText(text=self._said)
        )

    def _event_part(self) -> OutputAudio | OutputText:
        """The part as ``response.content_part.*`` carry it: the schema spells it ``audio``
        or ``text`` there."""
        if self.settings.audio:
            return OutputAudio(type="audio", transcript=self._said)
        return OutputText(type="text", text=self._said)

    def _item(self, status: str) -> Item:
        if self._plan.call_name is not None:
            return FunctionCallItem(
                id=self._item_id,
                status=status,
                call_id=self._call_id,
                name=self._plan.call_name,
                arguments=self._said if status != "in_progress" else "",
            )
        content = [] if status == "in_progress" else [self._part()]
        return MessageItem(id=self._item_id, role="assistant", status=status, content=list(content))

    def _deltas(self, piece: str, audio: bytes) -> list[ServerEvent]:
        if self._plan.call_name is not None:
            return [
                ResponseFunctionCallArgumentsDelta(
                    response_id=self.id,
                    item_id=self._item_id,
                    output_index=0,
                    call_id=self._call_id,
                    delta=piece,
                )
            ]
        if not self.settings.audio:
            return [ResponseOutputTextDelta(**self._where(), delta=piece)]
        events: list[ServerEvent] = []
        if piece:
            events.append(ResponseOutputAudioTranscriptDelta(**self._where(), delta=piece))
        encoded = base64.b64encode(audio).decode("ascii")
        events.append(ResponseOutputAudioDelta(**self._where(), delta=encoded))
        return events

    def _closing_events(self, item: Item) -> list[ServerEvent]:
        if self._plan.call_name is not None:
            return [
                ResponseFunctionCallArgumentsDone(
                    response_id=self.id,
                    item_id=self._item_id,
                    output_index=0,
                    call_id=self._call_id,
                    name=self._plan.call_name,
                    arguments=self._said,
                )
            ]
        where = self._where()
        done: list[ServerEvent]
        if self.settings.audio:
            done = [
                ResponseOutputAudioDone(**where),
                ResponseOutputAudioTranscriptDone(**where, transcript=self._said),
            ]
        else:
            done = [ResponseOutputTextDone(**where, text=self._said)]
        return [*done, ResponseContentPartDone(**where, part=self._event_part())]

    def _usage(self) -> Usage:
        out_text = text_tokens(self._said)
        out_audio = math.ceil(len(self._audio) / self.settings.format.bytes_per_ms / 50)
        output = OutputTokenDetails(text_tokens=out_text, audio_tokens=out_audio)
        inputs = self.settings.input_tokens
        input_total = sum(
            n
            for n in (inputs.text_tokens, inputs.audio_tokens, inputs.image_tokens)
            if isinstance(n, int)
        )
        output_total = out_text + out_audio
        return Usage(
            total_tokens=input_total + output_total,
            input_tokens=input_total,
            output_tokens=output_total,
            input_token_details=inputs,
            output_token_details=output,
        )

    def _response(
        self,
        status: str,
        output: list[Item],
        usage: Usage | None,
        details: StatusDetails | None = None,
    ) -> Response:
        settings = self.settings
        return Response(
            id=self.id,
            object="realtime.response",
            status=status,
            status_details=details,
            output=output,
            conversation_id=settings.conversation_id,
            output_modalities=list(settings.modalities),
            max_output_tokens=settings.max_output_tokens,
            audio=AudioConfig(output=AudioOutput(format=settings.format, voice=settings.voice)),
            usage=usage,
            metadata=settings.metadata,
        )


def _rate_limit(usage: Usage) -> RateLimit:
    used = usage.total_tokens if isinstance(usage.total_tokens, int) else 0
    remaining = max(0, _TOKEN_LIMIT - used)
    return RateLimit(
        name="tokens",
        limit=_TOKEN_LIMIT,
        remaining=remaining,
        reset_seconds=round(60.0 * used / _TOKEN_LIMIT, 3),
    )


def count_input_tokens(context: Sequence[StoredItem], instructions: str) -> InputTokenDetails:
    """Input usage of a response over ``context`` (§7: the whole context is billed each time).

    Text is one token per four characters; user audio one token per 100 ms, assistant audio
    one per 50 ms. Images and caching are not modelled (always 0).
    """
    text = text_tokens(instructions)
    audio = 0
    for stored in context:
        item = stored.item
        if isinstance(item, MessageItem):
            text += text_tokens(stored.heard)
            rate = 50 if item.role == "assistant" else 100
            audio += math.ceil(len(stored.audio) / stored.bytes_per_ms / rate)
        elif isinstance(item, FunctionCallItem):
            text += text_tokens(item.name + item.arguments)
        elif isinstance(item, FunctionCallOutputItem):
            text += text_tokens(item.output)
    return InputTokenDetails(
        cached_tokens=0,
        text_tokens=text,
        audio_tokens=audio,
        image_tokens=0,
        cached_tokens_details=CachedTokenDetails(text_tokens=0, audio_tokens=0, image_tokens=0),
    )
