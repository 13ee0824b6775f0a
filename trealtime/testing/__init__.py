"""Test helpers: a fake Realtime server and deterministic audio utilities.

::

    async with FakeRealtimeServer.serve() as server:      # or .serve_in_memory()
        server.on_user_text("weather", call=ToolCall("get_weather", {"city": "Paris"}))
        ...  # connect a client to server.url with server.api_key
        update = await server.wait_for_client_event(events.SessionUpdate)
"""

from __future__ import annotations

from ._fake_connection import FakeConnection
from ._fake_script import (
    DEFAULT_REPLY,
    DEFAULT_TRANSCRIPT,
    Rule,
    ToolCall,
    default_reply,
    echo_reply,
)
from ._fake_server import FakeRealtimeServer, FakeServerOptions, Handshake
from ._speech import silence, synthesize_speech
from ._vad import EnergyVad

__all__ = [
    "DEFAULT_REPLY",
    "DEFAULT_TRANSCRIPT",
    "EnergyVad",
    "FakeConnection",
    "FakeRealtimeServer",
    "FakeServerOptions",
    "Handshake",
    "Rule",
    "ToolCall",
    "default_reply",
    "echo_reply",
    "silence",
    "synthesize_speech",
]
