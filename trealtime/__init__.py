"""trealtime: a Trio-native, structured-concurrency client for the OpenAI Realtime API.

::

    async with trealtime.open_session(settings=settings) as session:
        await session.append_audio(pcm16_bytes)
        async for event in session:
            ...
"""

from __future__ import annotations

from . import events as events
from . import rest as rest
from . import webhooks as webhooks
from ._agent._audio_input import AudioInputPipeline as AudioInputPipeline
from ._agent._audio_input import AudioInputStatistics as AudioInputStatistics
from ._agent._dtmf import DtmfKeys as DtmfKeys
from ._agent._images import encode_raw_frame as encode_raw_frame
from ._agent._images import image_item as image_item
from ._agent._metrics import MetricsTracker as MetricsTracker
from ._agent._metrics import ResponseMetrics as ResponseMetrics
from ._agent._metrics import TokenTotals as TokenTotals
from ._agent._playback import Truncation as Truncation
from ._agent._resample import StreamResampler as StreamResampler
from ._agent._tool_runner import ToolRunnerStatistics as ToolRunnerStatistics
from ._agent._tools import ToolArgumentsError as ToolArgumentsError
from ._agent._tools import ToolProgress as ToolProgress
from ._agent._tools import ToolRegistry as ToolRegistry
from ._agent._tools import ToolSpec as ToolSpec
from ._agent._tools import tool_from_callable as tool_from_callable
from ._errors import *  # noqa: F403
from ._errors import __all__ as _errors_all
from ._public import show_public_module as _show_public_module
from ._session._facade import DEFAULT_MODEL as DEFAULT_MODEL
from ._session._facade import Interruption as Interruption
from ._session._facade import Session as Session
from ._session._facade import SessionStatistics as SessionStatistics
from ._session._open import open_session as open_session
from ._session._reconnect import ReconnectPolicy as ReconnectPolicy
from ._session._response_handle import ResponseDropped as ResponseDropped
from ._session._response_handle import ResponseHandle as ResponseHandle
from ._session._state import Conversation as Conversation
from ._session._state import SessionState as SessionState
from ._transport._connect import DEFAULT_URL as DEFAULT_URL
from ._transport._deflate import Deflate as Deflate
from ._transport._link import CloseReason as CloseReason
from ._transport._link import Keepalive as Keepalive
from ._wire._notgiven import NOT_GIVEN as NOT_GIVEN
from ._wire._notgiven import NotGiven as NotGiven
from ._wire._notgiven import is_given as is_given
from ._wire._session_models import SessionProperties as SessionProperties
from ._wire._settings import RealtimeSettings as RealtimeSettings
from ._wire._settings import session_update_for as session_update_for
from .rest import ClientSecret as ClientSecret
from .rest import RestClient as RestClient
from .rest import RetryPolicy as RetryPolicy
from .rest import open_rest_client as open_rest_client
from .webhooks import unwrap_webhook as unwrap_webhook
from .webhooks import verify_webhook as verify_webhook

__version__ = "0.1.0"

__all__ = sorted(
    {
        "DEFAULT_MODEL",
        "DEFAULT_URL",
        "NOT_GIVEN",
        "AudioInputPipeline",
        "AudioInputStatistics",
        "ClientSecret",
        "Deflate",
        "DtmfKeys",
        "RestClient",
        "RetryPolicy",
        "open_rest_client",
        "rest",
        "unwrap_webhook",
        "verify_webhook",
        "webhooks",
        "CloseReason",
        "Conversation",
        "Interruption",
        "Keepalive",
        "MetricsTracker",
        "NotGiven",
        "RealtimeSettings",
        "ReconnectPolicy",
        "ResponseDropped",
        "ResponseHandle",
        "ResponseMetrics",
        "Session",
        "SessionProperties",
        "SessionState",
        "SessionStatistics",
        "StreamResampler",
        "TokenTotals",
        "ToolArgumentsError",
        "ToolProgress",
        "ToolRegistry",
        "ToolRunnerStatistics",
        "ToolSpec",
        "Truncation",
        "encode_raw_frame",
        "events",
        "image_item",
        "is_given",
        "open_session",
        "session_update_for",
        "tool_from_callable",
        *_errors_all,
    }
)


_show_public_module(globals(), __all__, __name__)
