"""Hypothesis strategies for every trealtime event and wire model.

Use them to property-test code that consumes or produces Realtime events: an event handler that
must never crash, a fake server, a transcript recorder. Every model and event drawn encodes to
JSON that decodes back to an equal value: ``decode(encode(event)) == event``::

    from hypothesis import given
    from trealtime import events
    from trealtime.testing import strategies as rts

    @given(rts.server_events())
    def test_my_handler_survives_anything(event: events.ServerEvent) -> None:
        my_app.handle(event)  # must not raise, whatever the server sends

    @given(rts.events_of(events.ResponseOutputAudioDelta))
    def test_audio_delta_round_trips(event: events.ResponseOutputAudioDelta) -> None:
        frame = events.encode_server_event(event)
        assert events.decode_server_event(frame) == event

The strategies:

- :func:`server_events` and :func:`client_events`: any event of the GA protocol (optionally with
  the ``Unknown*`` fallback events too); :func:`events_of` for one event class, fallbacks
  included (``InvalidServerEvent`` and ``InvalidClientEvent`` are drawn as the decoder reports a
  bad frame; those do not round-trip, as their ``error`` is free text);
- :func:`items`, :func:`input_items`, :func:`content_parts`, :func:`tools`,
  :func:`turn_detections`, :func:`sessions`, :func:`session_properties`,
  :func:`transcription_session_properties`, :func:`responses`, :func:`response_params`: the
  nested models, and :func:`models_of` for any other model class (``events.Usage`` …);
- :func:`json_values` and :func:`json_objects`: what the ``dict[str, Any]`` fields hold.

What is drawn:

- strings are any Unicode text without surrogates (which JSON text cannot carry), integers fit in
  64 bits, floats are finite;
- ``dict[str, Any]`` fields (JSON Schemas, metadata, raw bodies) hold small JSON-compatible values;
- fields that may be absent are sometimes :data:`~trealtime.NOT_GIVEN`, nullable ones sometimes
  ``None``;
- the ``Unknown*`` fallbacks (:class:`~trealtime.events.UnknownItem`, ``UnknownContentPart``,
  ``UnknownTool``, ``UnknownTurnDetection``, ``UnknownServerEvent``, ``UnknownClientEvent``) carry a
  ``type`` that is not a known tag of their union, and ``raw["type"] == type``, just as the decoder
  builds them;
- lists hold at most three elements and JSON values stay small, so that tests run fast.

Nothing is registered globally: importing this module leaves ``st.from_type`` unchanged for your
own types (and for ``str``, ``int`` and ``float``).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, TypeVar, cast, get_args, get_origin, get_type_hints

import attrs
import orjson
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from .._wire._notgiven import NOT_GIVEN, NotGiven
from ..events import (
    BETA_ALIASES,
    CLIENT_EVENT_CLASSES,
    SERVER_EVENT_CLASSES,
    ClientEvent,
    ContentPart,
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    InputAudio,
    InputImage,
    InputItem,
    InputText,
    InvalidClientEvent,
    InvalidServerEvent,
    Item,
    ItemReference,
    McpApprovalRequestItem,
    McpApprovalResponseItem,
    McpCallItem,
    McpListToolsItem,
    McpTool,
    MessageItem,
    OutputAudio,
    OutputText,
    Response,
    ResponseParams,
    SemanticVad,
    ServerEvent,
    ServerVad,
    Session,
    SessionProperties,
    Tool,
    TranscriptionSessionProperties,
    TurnDetection,
    UnknownClientEvent,
    UnknownContentPart,
    UnknownItem,
    UnknownServerEvent,
    UnknownTool,
    UnknownTurnDetection,
)

__all__ = [
    "client_events",
    "content_parts",
    "events_of",
    "input_items",
    "items",
    "json_objects",
    "json_values",
    "models_of",
    "response_params",
    "responses",
    "server_events",
    "session_properties",
    "sessions",
    "tools",
    "transcription_session_properties",
    "turn_detections",
]

T = TypeVar("T")
EventT = TypeVar("EventT", bound="ServerEvent | ClientEvent")

MAX_SIZE = 3
"""The largest list or dict drawn."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# -- scalars and JSON values ----------------------------------------------------------------------

# ``codec="utf-8"`` leaves out the surrogates, which orjson (and JSON text) cannot encode.
_TEXT: SearchStrategy[str] = st.text(st.characters(codec="utf-8"), max_size=12)
_INTS: SearchStrategy[int] = st.integers(_INT64_MIN, _INT64_MAX)
_FLOATS: SearchStrategy[float] = st.floats(allow_nan=False, allow_infinity=False)
_JSON_SCALARS: SearchStrategy[Any] = st.one_of(st.none(), st.booleans(), _INTS, _FLOATS, _TEXT)


def json_values(*, max_leaves: int = 6) -> SearchStrategy[Any]:
    """Small JSON-compatible values: null, booleans, int64 integers, finite floats, text, and
    lists and objects of those (nested)."""
    return st.recursive(
        _JSON_SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=MAX_SIZE),
            st.dictionaries(_TEXT, children, max_size=MAX_SIZE),
        ),
        max_leaves=max_leaves,
    )


def json_objects(*, max_leaves: int = 6) -> SearchStrategy[dict[str, Any]]:
    """Small JSON objects (``dict[str, Any]``) whose values come from :func:`json_values`."""
    return st.dictionaries(_TEXT, json_values(max_leaves=max_leaves), max_size=MAX_SIZE)


_JSON: SearchStrategy[Any] = json_values()
_JSON_OBJECTS: SearchStrategy[dict[str, Any]] = json_objects()

# -- tags ---------------------------------------------------------------------------------------


def _tags(classes: typing.Iterable[type[Any]]) -> frozenset[str]:
    tags: set[str] = set()
    for cls in classes:
        tag = getattr(cls, "TYPE", None)
        if isinstance(tag, str):
            tags.add(tag)
            tags.update(getattr(cls, "ALIASES", ()))
    return frozenset(tags)


_SERVER_TAGS = _tags(SERVER_EVENT_CLASSES) | frozenset(BETA_ALIASES)
_CLIENT_TAGS = _tags(CLIENT_EVENT_CLASSES)

# The tags each ``Unknown*`` class must avoid: those of every union it appears in. ``UnknownItem``
# also sits next to ``ItemReference`` in ``response.create``'s ``input``.
_UNKNOWN_EXCLUDED: dict[type[Any], frozenset[str]] = {
    UnknownTurnDetection: _tags([ServerVad, SemanticVad]),
    UnknownTool: _tags([FunctionTool, McpTool]),
    UnknownContentPart: _tags([InputText, InputAudio, InputImage, OutputText, OutputAudio]),
    UnknownItem: _tags(
        [
            MessageItem,
            FunctionCallItem,
            FunctionCallOutputItem,
            McpListToolsItem,
            McpApprovalRequestItem,
            McpApprovalResponseItem,
            McpCallItem,
            ItemReference,
        ]
    ),
    UnknownServerEvent: _SERVER_TAGS,
    UnknownClientEvent: _CLIENT_TAGS,
}

_TAG_TEXT: SearchStrategy[str] = st.one_of(
    st.sampled_from(
        [
            "web_search_call",
            "output_video",
            "response.output_video.delta",
            "session.input_transcript.delta",
            "conversation.item.moved",
        ]
    ),
    st.from_regex(r"[a-z][a-z_]{0,15}(\.[a-z_]{1,15}){0,2}", fullmatch=True),
    _TEXT,
)


def _unknown_tags(excluded: frozenset[str]) -> SearchStrategy[str]:
    return _TAG_TEXT.filter(lambda tag: tag not in excluded)


def _raw_event_id(raw: dict[str, Any]) -> str:
    event_id = raw.get("event_id")
    return event_id if type(event_id) is str else ""


@st.composite
def _unknown_raw(draw: st.DrawFn, excluded: frozenset[str], event: bool) -> dict[str, Any]:
    raw = dict(draw(_JSON_OBJECTS))
    if event and draw(st.booleans()):
        raw["event_id"] = draw(_TEXT)
    raw["type"] = draw(_unknown_tags(excluded))
    return raw


def _unknown_model(cls: type[Any]) -> SearchStrategy[Any]:
    raws = _unknown_raw(_UNKNOWN_EXCLUDED[cls], event=False)
    return raws.map(lambda raw: cls(type=raw["type"], raw=raw))


def _unknown_event(cls: type[Any]) -> SearchStrategy[Any]:
    # As the decoder builds them: ``event_id`` is the raw one when it is a string, else "".
    raws = _unknown_raw(_UNKNOWN_EXCLUDED[cls], event=True)
    return raws.map(lambda raw: cls(type=raw["type"], event_id=_raw_event_id(raw), raw=raw))


def _required_fields(cls: type[Any]) -> set[str]:
    return {f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING}


@st.composite
def _invalid_event(draw: st.DrawFn, cls: type[Any], classes: tuple[type[Any], ...]) -> Any:
    """A frame the decoder rejects, as the decoder reports it (``error`` is free text)."""
    breakable = [c for c in classes if _required_fields(c)]
    kind = draw(st.sampled_from(["text", "non-object", "no-type", "bad-body"]))
    tag = event_id = ""
    raw: Any
    if kind == "text":
        raw = draw(st.sampled_from(["", "{", "not json", '{"type": "error",', "[1, 2"]))
    elif kind == "non-object":
        value = draw(st.one_of(_JSON_SCALARS, st.lists(_JSON, max_size=MAX_SIZE)))
        raw = orjson.dumps(value).decode()  # anything but an object is kept as the frame's text
    elif kind == "no-type":
        raw = dict(draw(_JSON_OBJECTS))
        raw.pop("type", None)
        if draw(st.booleans()):
            raw["type"] = draw(st.one_of(st.none(), _INTS, st.lists(_JSON, max_size=1)))
        event_id = _raw_event_id(raw)
    else:
        target = draw(st.sampled_from(breakable))
        # a body that lacks every required field (extra keys never name a field)
        names = {f.name for f in attrs.fields(target)}
        junk = draw(st.dictionaries(_TEXT.filter(lambda k: k not in names), _JSON, max_size=2))
        raw = {**junk, "type": target.TYPE}
        if draw(st.booleans()):
            raw["event_id"] = draw(_TEXT)
        tag, event_id = target.TYPE, _raw_event_id(raw)
    return cls(type=tag, event_id=event_id, raw=raw, error=draw(_TEXT))


_SPECIAL: dict[type[Any], typing.Callable[[], SearchStrategy[Any]]] = {
    UnknownTurnDetection: lambda: _unknown_model(UnknownTurnDetection),
    UnknownTool: lambda: _unknown_model(UnknownTool),
    UnknownContentPart: lambda: _unknown_model(UnknownContentPart),
    UnknownItem: lambda: _unknown_model(UnknownItem),
    UnknownServerEvent: lambda: _unknown_event(UnknownServerEvent),
    UnknownClientEvent: lambda: _unknown_event(UnknownClientEvent),
    InvalidServerEvent: lambda: _invalid_event(InvalidServerEvent, SERVER_EVENT_CLASSES),
    InvalidClientEvent: lambda: _invalid_event(InvalidClientEvent, CLIENT_EVENT_CLASSES),
    ServerEvent: lambda: server_events(),
    ClientEvent: lambda: client_events(),
}

# -- the resolver: type hints -> strategies --------------------------------------------------------


def _union_order(member: Any) -> int:
    # NOT_GIVEN first, then None: Hypothesis shrinks towards the first branch of ``one_of``.
    return 0 if member is NotGiven else 1 if member is type(None) else 2


_CACHE: dict[Any, SearchStrategy[Any]] = {}


def _resolve(tp: Any) -> SearchStrategy[Any]:
    strategy = _CACHE.get(tp)
    if strategy is None:
        strategy = _CACHE[tp] = _resolve_uncached(tp)
    return strategy


def _resolve_uncached(tp: Any) -> SearchStrategy[Any]:
    if tp is NotGiven:
        return st.just(NOT_GIVEN)
    if tp is type(None):
        return st.none()
    if tp is Any:
        return _JSON
    if tp is bool:
        return st.booleans()
    if tp is int:
        return _INTS
    if tp is float:
        return _FLOATS
    if tp is str:
        return _TEXT
    origin = get_origin(tp)
    if origin is Literal:
        return st.sampled_from(get_args(tp))
    if origin in (typing.Union, types.UnionType):
        members = sorted(get_args(tp), key=_union_order)
        return st.one_of([_resolve(member) for member in members])
    if origin is list:
        (element,) = get_args(tp)
        return st.lists(_resolve(element), max_size=MAX_SIZE)
    if origin is dict:
        key, value = get_args(tp)
        return st.dictionaries(_resolve(key), _resolve(value), max_size=MAX_SIZE)
    if isinstance(tp, type) and attrs.has(tp) and tp.__module__.startswith("trealtime."):
        return _model(tp)
    raise InvalidArgument(f"trealtime.testing.strategies has no strategy for {tp!r}")


def _model(cls: type[Any]) -> SearchStrategy[Any]:
    special = _SPECIAL.get(cls)
    if special is not None:
        return st.deferred(special)
    hints = get_type_hints(cls)
    fields = {field.alias: _resolve(hints[field.name]) for field in attrs.fields(cls)}
    return st.builds(cls, **fields)


# -- public strategies ---------------------------------------------------------------------------


def models_of(cls: type[T]) -> SearchStrategy[T]:
    """Instances of any trealtime wire model class (an event, an item, a session, a usage …)."""
    if not (isinstance(cls, type) and attrs.has(cls) and cls.__module__.startswith("trealtime.")):
        raise InvalidArgument(f"{cls!r} is not a trealtime model class")
    return cast("SearchStrategy[T]", _resolve(cls))


def events_of(cls: type[EventT]) -> SearchStrategy[EventT]:
    """Events of one class, e.g. ``events_of(events.ResponseDone)``.

    ``ServerEvent`` and ``ClientEvent`` themselves give :func:`server_events` and
    :func:`client_events`; the fallbacks (``UnknownServerEvent``, ``InvalidServerEvent`` and their
    client twins) are drawn the way the decoder builds them.
    """
    if not (isinstance(cls, type) and issubclass(cls, ServerEvent | ClientEvent)):
        raise InvalidArgument(f"{cls!r} is not a server or client event class")
    return models_of(cls)


def server_events(*, include_unknown: bool = False) -> SearchStrategy[ServerEvent]:
    """Any GA server event (one of ``SERVER_EVENT_CLASSES``).

    With ``include_unknown=True`` also :class:`~trealtime.events.UnknownServerEvent` (a type this
    version does not know), which round-trips too.
    """
    classes: list[type[ServerEvent]] = list(SERVER_EVENT_CLASSES)
    if include_unknown:
        classes.append(UnknownServerEvent)
    return st.one_of([_resolve(cls) for cls in classes])


def client_events(*, include_unknown: bool = False) -> SearchStrategy[ClientEvent]:
    """Any client event (one of ``CLIENT_EVENT_CLASSES``).

    With ``include_unknown=True`` also :class:`~trealtime.events.UnknownClientEvent`.
    """
    classes: list[type[ClientEvent]] = list(CLIENT_EVENT_CLASSES)
    if include_unknown:
        classes.append(UnknownClientEvent)
    return st.one_of([_resolve(cls) for cls in classes])


def items() -> SearchStrategy[Item]:
    """Conversation items of every type, :class:`~trealtime.events.UnknownItem` included."""
    return cast("SearchStrategy[Item]", _resolve(Item))


def input_items() -> SearchStrategy[InputItem]:
    """What ``response.create``'s ``input`` takes: items and item references."""
    return cast("SearchStrategy[InputItem]", _resolve(InputItem))


def content_parts() -> SearchStrategy[ContentPart]:
    """Message content parts of every type, ``UnknownContentPart`` included."""
    return cast("SearchStrategy[ContentPart]", _resolve(ContentPart))


def tools() -> SearchStrategy[Tool]:
    """Function tools, MCP tools and ``UnknownTool``."""
    return cast("SearchStrategy[Tool]", _resolve(Tool))


def turn_detections() -> SearchStrategy[TurnDetection]:
    """Server VAD, semantic VAD and ``UnknownTurnDetection``."""
    return cast("SearchStrategy[TurnDetection]", _resolve(TurnDetection))


def sessions() -> SearchStrategy[Session]:
    """Realtime and transcription session objects."""
    return cast("SearchStrategy[Session]", _resolve(Session))


def session_properties() -> SearchStrategy[SessionProperties]:
    """Realtime session objects (``session.type = "realtime"``)."""
    return models_of(SessionProperties)


def transcription_session_properties() -> SearchStrategy[TranscriptionSessionProperties]:
    """Transcription session objects (``session.type = "transcription"``)."""
    return models_of(TranscriptionSessionProperties)


def responses() -> SearchStrategy[Response]:
    """Response objects, as in ``response.created`` and ``response.done``."""
    return models_of(Response)


def response_params() -> SearchStrategy[ResponseParams]:
    """The ``response`` parameters of ``response.create``."""
    return models_of(ResponseParams)
