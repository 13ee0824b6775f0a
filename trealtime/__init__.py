"""trealtime: a Trio-native, structured-concurrency client for the OpenAI Realtime API."""

from __future__ import annotations

from . import events as events
from ._errors import *  # noqa: F403
from ._errors import __all__ as _errors_all
from ._notgiven import NOT_GIVEN as NOT_GIVEN
from ._notgiven import NotGiven as NotGiven
from ._notgiven import is_given as is_given

__version__ = "0.1.0"

__all__ = sorted({"NOT_GIVEN", "NotGiven", "events", "is_given", *_errors_all})
