"""The session's side of tools: what a call's result sends, and the tools the server is told of.

:class:`ToolOutputs` is what the :class:`~trealtime._agent._tool_runner.ToolCallRunner` sends
through the session: a call's output, a result whose call the server no longer has (as a note
to the model), and a running call's progress. :func:`properties_with_tools` and
:func:`replace_tools` keep the session properties' ``tools`` in step with the registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs
import orjson

from .._agent._tool_runner import ToolCallRunner
from .._agent._tools import ToolRegistry, ToolSpec
from .._errors import ConfigurationError
from .._wire._client_events import ClientEvent, ConversationItemCreate
from .._wire._item_models import FunctionCallOutputItem, Item, MessageItem
from .._wire._notgiven import is_given
from .._wire._session_models import Session as SessionConfig
from .._wire._session_models import SessionProperties, Tool
from ._core import ConversationCore

__all__ = ["ToolOutputs", "properties_with_tools", "replace_tools"]


class ToolOutputs:
    """Sends what tool calls produce, as conversation items (``send`` queues a client event)."""

    def __init__(
        self, core: ConversationCore, send: Callable[[ClientEvent], Awaitable[None]]
    ) -> None:
        self._core = core
        self._send = send

    async def send_output(self, call_id: str, output: str) -> None:
        """The call's ``function_call_output``."""
        self._core.tool_output_sent(call_id)
        await self._add(FunctionCallOutputItem(call_id=call_id, output=output))

    async def send_orphan_result(self, call_id: str, name: str, output: str) -> None:
        """A result the server has no call for any more: told to the model as a note."""
        note = _note("function_result", call_id=call_id, name=name, output=output)
        why = self._core.orphan_reason(call_id)
        await self._add(MessageItem.system_text(f"A function call {why}: {note}"))

    async def send_progress(self, call_id: str, name: str, output: str) -> None:
        """An intermediate result of a call still running, as a note to the model."""
        note = _note("tool_progress", call_id=call_id, name=name, result=output)
        text = f"An intermediate result of a function call that is still running: {note}"
        await self._add(MessageItem.system_text(text))

    def is_call_known(self, call_id: str) -> bool:
        """Whether the server's conversation (as mirrored) still holds the call."""
        return self._core.is_call_known(call_id)

    def runner(
        self,
        registry: ToolRegistry,
        *,
        request_response: Callable[[], Awaitable[None]],
        max_concurrency: int,
        default_timeout: float | None,
    ) -> ToolCallRunner:
        """A runner of ``registry``'s tools whose results go out through these outputs."""
        return ToolCallRunner(
            registry,
            send_output=self.send_output,
            send_orphan_result=self.send_orphan_result,
            request_response=request_response,
            is_call_known=self.is_call_known,
            send_progress=self.send_progress,
            max_concurrency=max_concurrency,
            default_timeout=default_timeout,
        )

    async def _add(self, item: Item) -> None:
        await self._send(ConversationItemCreate(item=item, event_id=self._core.next_event_id()))


def _note(kind: str, **fields: str) -> str:
    return orjson.dumps({"type": kind, **fields}).decode()


def properties_with_tools(
    properties: SessionConfig, registry: ToolRegistry, dropped: Iterable[str] = ()
) -> SessionProperties:
    """``properties`` with the registry's function tools (and without the ``dropped`` ones),
    other tools (MCP …) kept."""
    gone = set(dropped)
    if not isinstance(properties, SessionProperties):
        raise ConfigurationError("a transcription session has no tools")
    tools: list[Tool] = [
        tool
        for tool in (properties.tools if is_given(properties.tools) else [])
        if getattr(tool, "name", None) not in registry and getattr(tool, "name", None) not in gone
    ]
    return attrs.evolve(properties, tools=tools + list(registry.function_tools()))


async def replace_tools(
    registry: ToolRegistry,
    tools: list[ToolSpec | Callable[..., Any]],
    tell_server: Callable[[set[str]], Awaitable[object]],
) -> list[ToolSpec]:
    """Swap the registry's tools for ``tools`` (all checked first) and ``tell_server`` (given
    the names dropped); if it fails, the old tools are put back."""
    specs = list(ToolRegistry(tools))  # validates every tool before anything changes
    old = list(registry)

    def install(new: list[ToolSpec]) -> None:
        for spec in list(registry):
            registry.unregister(spec.name)
        for spec in new:
            registry.register(spec)

    install(specs)
    try:
        await tell_server({spec.name for spec in old})
    except BaseException:
        install(old)
        raise
    return specs
