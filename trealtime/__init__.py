"""trealtime: a Trio-native, structured-concurrency client for the OpenAI Realtime API.

::

    async with trealtime.open_session(settings=settings) as session:
        await session.append_audio(pcm16_bytes)
        async for event in session:
            ...
"""

from __future__ import annotations

from . import events as events
from ._connect import DEFAULT_URL as DEFAULT_URL
from ._errors import *  # noqa: F403
from ._errors import __all__ as _errors_all
from ._notgiven import NOT_GIVEN as NOT_GIVEN
from ._notgiven import NotGiven as NotGiven
from ._notgiven import is_given as is_given
from ._session import DEFAULT_MODEL as DEFAULT_MODEL
from ._session import CloseReason as CloseReason
from ._session import Session as Session
from ._session import SessionStatistics as SessionStatistics
from ._session import open_session as open_session
from ._session_models import SessionProperties as SessionProperties
from ._settings import RealtimeSettings as RealtimeSettings
from ._settings import session_update_for as session_update_for
from ._state import Conversation as Conversation
from ._state import SessionState as SessionState

__version__ = "0.1.0"

__all__ = sorted(
    {
        "DEFAULT_MODEL",
        "DEFAULT_URL",
        "NOT_GIVEN",
        "CloseReason",
        "Conversation",
        "NotGiven",
        "RealtimeSettings",
        "Session",
        "SessionProperties",
        "SessionState",
        "SessionStatistics",
        "events",
        "is_given",
        "open_session",
        "session_update_for",
        *_errors_all,
    }
)
