"""What the fake model says and hears: reply and transcript providers, and scripted rules.

The fake server cannot understand speech or think. Instead:

- a *transcript provider* says what the user's audio contained (a fixed text, or a function of
  the audio bytes);
- *rules* (:meth:`Script.on_user_text`) map the user's latest text or transcript to a scripted
  function call or reply;
- otherwise the *reply provider* gives the assistant's words (a fixed text, or a function of the
  conversation). The default reply reports a function's output when the turn follows one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import attrs

from ...events import (
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    InputAudio,
    Item,
    MessageItem,
    Tool,
    ToolChoice,
)
from ._conversation import StoredItem
from ._responses import ReplyPlan

__all__ = [
    "DEFAULT_REPLY",
    "DEFAULT_TRANSCRIPT",
    "ReplyFunction",
    "Rule",
    "Script",
    "ToolCall",
    "TranscriptFunction",
    "default_reply",
    "echo_reply",
]

DEFAULT_REPLY = "Hello from the fake Realtime server."
DEFAULT_TRANSCRIPT = "(inaudible)"

ReplyFunction: TypeAlias = Callable[[Sequence[Item]], str]
"""Decides the assistant's words from the response's context (user audio has its transcript)."""

TranscriptFunction: TypeAlias = Callable[[bytes], str | None]
"""Says what a committed user audio buffer contained (raw bytes in the input format)."""


@attrs.frozen
class ToolCall:
    """A scripted function call: the tool's ``name`` and its ``arguments`` (JSON or a dict)."""

    name: str
    arguments: str | Mapping[str, Any] = "{}"

    def arguments_json(self) -> str:
        """The arguments as the JSON string sent on the wire."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"))


@attrs.frozen
class Rule:
    """When the user's latest words match ``pattern``: make ``call``, else say ``reply``."""

    pattern: re.Pattern[str]
    call: ToolCall | None = None
    reply: str | None = None


def default_reply(context: Sequence[Item]) -> str:
    """:data:`DEFAULT_REPLY`, or, right after a function's output, a sentence reporting it."""
    if context and isinstance(context[-1], FunctionCallOutputItem):
        output = context[-1]
        name = next(
            (
                item.name
                for item in context
                if isinstance(item, FunctionCallItem) and item.call_id == output.call_id
            ),
            "function",
        )
        return f"The {name} tool returned {output.output}."
    return DEFAULT_REPLY


def echo_reply(context: Sequence[Item]) -> str:
    """Repeat the user's latest words: ``"You said: …"``."""
    for item in reversed(context):
        if isinstance(item, MessageItem) and item.role == "user":
            return f"You said: {item.text}"
    return default_reply(context)


def _visible(stored: StoredItem) -> Item:
    """The item as the model sees it: user audio carries what was heard."""
    item = stored.item
    if not isinstance(item, MessageItem) or item.role != "user":
        return item
    content = [
        attrs.evolve(part, transcript=stored.heard)
        if isinstance(part, InputAudio) and not isinstance(part.transcript, str)
        else part
        for part in item.content
    ]
    return attrs.evolve(item, content=content)


class Script:
    """The rules and providers of one server (shared by its connections)."""

    def __init__(
        self,
        reply: str | ReplyFunction = default_reply,
        transcript: str | TranscriptFunction = DEFAULT_TRANSCRIPT,
    ) -> None:
        self.reply = reply
        self.transcript = transcript
        self.rules: list[Rule] = []

    def on_user_text(
        self,
        pattern: str | re.Pattern[str],
        *,
        call: ToolCall | None = None,
        reply: str | None = None,
    ) -> Rule:
        """Add a rule; the first rule whose ``pattern`` is found (``re.search``) applies.

        A ``call`` happens only if the response offers a function tool of that name and
        ``tool_choice`` is not ``"none"``; otherwise the rule's ``reply`` (if any) is used.
        """
        if (call is None) == (reply is None):
            raise ValueError("give exactly one of call= or reply=")
        rule = Rule(re.compile(pattern), call=call, reply=reply)
        self.rules.append(rule)
        return rule

    def hear(self, audio: bytes) -> str | None:
        """The transcript of committed user audio (``None``: its transcription fails)."""
        return self.transcript if isinstance(self.transcript, str) else self.transcript(audio)

    def plan(
        self, context: Sequence[StoredItem], tools: Sequence[Tool], tool_choice: ToolChoice
    ) -> ReplyPlan:
        """Decide the response to ``context``: a rule's call or reply, else the reply provider."""
        last = context[-1] if context else None
        if last is not None and isinstance(last.item, MessageItem) and last.item.role == "user":
            callable_tools = {t.name for t in tools if isinstance(t, FunctionTool)}
            if tool_choice == "none":
                callable_tools = set()
            for rule in self.rules:
                if not rule.pattern.search(last.heard):
                    continue
                if rule.call is not None and rule.call.name in callable_tools:
                    return ReplyPlan(
                        call_name=rule.call.name, call_arguments=rule.call.arguments_json()
                    )
                if rule.reply is not None:
                    return ReplyPlan(text=rule.reply)
        visible = [_visible(stored) for stored in context]
        text = self.reply if isinstance(self.reply, str) else self.reply(visible)
        return ReplyPlan(text=text)
