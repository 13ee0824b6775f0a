"""The wire model: every Realtime API message as a frozen attrs class, and the codec.

::

    from trealtime import events

    event = events.decode_server_event(frame_text)
    match event:
        case events.ResponseOutputAudioDelta():
            play(event.audio_bytes())
        case events.Error(error=detail):
            print(detail.code, detail.message)
        case events.UnknownServerEvent(type=name):
            ...
"""

from __future__ import annotations

from ._wire._client_events import *  # noqa: F403
from ._wire._client_events import __all__ as _client_all
from ._wire._codec import *  # noqa: F403
from ._wire._codec import __all__ as _codec_all
from ._wire._item_models import *  # noqa: F403
from ._wire._item_models import __all__ as _item_all
from ._wire._response_models import *  # noqa: F403
from ._wire._response_models import __all__ as _response_all
from ._wire._server_events import *  # noqa: F403
from ._wire._server_events import __all__ as _server_all
from ._wire._session_events import *  # noqa: F403
from ._wire._session_events import __all__ as _session_events_all
from ._wire._session_models import *  # noqa: F403
from ._wire._session_models import __all__ as _session_all

__all__ = sorted(
    {
        *_client_all,
        *_codec_all,
        *_item_all,
        *_response_all,
        *_server_all,
        *_session_all,
        *_session_events_all,
    }
)
