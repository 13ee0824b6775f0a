"""Test helpers: a fake Realtime server, its faults and replays, and deterministic audio.

::

    async with FakeRealtimeServer.serve() as server:      # or .serve_in_memory()
        server.on_user_text("weather", call=ToolCall("get_weather", {"city": "Paris"}))
        server.after_server_event("response.output_audio.delta", Reset(), count=3)
        ...  # connect a client to server.url with server.api_key
        update = await server.wait_for_client_event(events.SessionUpdate)

    async with FakeRealtimeServer.serve_replay("call.jsonl", in_memory=True) as server:
        ...  # the same client again
        assert server.replay_report.ok
"""

from __future__ import annotations

from .._public import show_public_module as _show_public_module
from ._protocol._script import (
    DEFAULT_REPLY,
    DEFAULT_TRANSCRIPT,
    Rule,
    ToolCall,
    default_reply,
    echo_reply,
)
from ._protocol._speech import silence, synthesize_speech
from ._protocol._vad import EnergyVad
from ._server._calls import DEFAULT_WEBHOOK_SECRET, FakeCall, FakeCalls
from ._server._connection import FakeConnection
from ._server._faults import (
    LAST_CLIENT_EVENT,
    AcceptThenClose,
    BinaryFrame,
    Close,
    ConnectionFault,
    Duplicate,
    ErrorEvent,
    Fault,
    FrameFault,
    InvalidJson,
    MissingFields,
    OutOfOrder,
    Oversized,
    RejectHandshake,
    Reset,
    SendRaw,
    SessionExpired,
    Stall,
    UnknownEvent,
    Wire,
)
from ._server._replay import Divergence, ReplayReport
from ._server._rest import ClientSecretRecord, FakeRestApi
from ._server._server import FakeRealtimeServer, FakeServerOptions, Handshake
from ._server._triggers import Trigger

__all__ = [
    "DEFAULT_WEBHOOK_SECRET",
    "ClientSecretRecord",
    "FakeCall",
    "FakeCalls",
    "FakeRestApi",
    "DEFAULT_REPLY",
    "DEFAULT_TRANSCRIPT",
    "LAST_CLIENT_EVENT",
    "AcceptThenClose",
    "BinaryFrame",
    "Close",
    "ConnectionFault",
    "Divergence",
    "Duplicate",
    "EnergyVad",
    "ErrorEvent",
    "FakeConnection",
    "FakeRealtimeServer",
    "FakeServerOptions",
    "Fault",
    "FrameFault",
    "Handshake",
    "InvalidJson",
    "MissingFields",
    "OutOfOrder",
    "Oversized",
    "RejectHandshake",
    "ReplayReport",
    "Reset",
    "Rule",
    "SendRaw",
    "SessionExpired",
    "Stall",
    "ToolCall",
    "Trigger",
    "UnknownEvent",
    "Wire",
    "default_reply",
    "echo_reply",
    "silence",
    "synthesize_speech",
]

_show_public_module(globals(), __all__, __name__)
