"""JSON text <-> typed events, with cattrs and orjson.

Decoding reads ``type`` first and looks up a prebuilt cattrs structure hook in a table; there is
no trial-and-error over a union. Unknown types and malformed bodies become typed fallback events
(or raise :class:`RemoteProtocolError` in strict mode); nothing a peer sends raises anything else.

Encoding leaves out every field whose value is ``NOT_GIVEN`` and writes ``None`` as ``null``.
Classes with a ``TYPE`` constant get it written as ``"type"``.

Unions inside the model are resolved by value: ``None``, literals and scalars by Python type,
objects by their ``"type"`` tag (with ``ALIASES`` for legacy spellings and an ``Unknown*`` class
as fallback where the union has one).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
import orjson
from cattrs.cols import list_structure_factory, mapping_structure_factory
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from .._errors import RemoteProtocolError
from . import _beta
from ._client_events import CLIENT_EVENT_CLASSES, ClientEvent
from ._flat_structure import flat_structure_hook, is_flat
from ._item_models import ContentPart, Item, MessageItem, UnknownContentPart, UnknownItem
from ._notgiven import NOT_GIVEN, NotGiven
from ._response_models import Response
from ._server_events import (
    BETA_ALIASES,
    SERVER_EVENT_CLASSES,
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemDone,
    ConversationItemRetrieved,
    InvalidServerEvent,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ServerEvent,
    UnknownServerEvent,
)
from ._session_models import Session, UnknownTool, UnknownTurnDetection

__all__ = [
    "InvalidClientEvent",
    "UnknownClientEvent",
    "decode_client_event",
    "decode_server_event",
    "encode_client_event",
    "encode_server_event",
    "from_dict",
    "to_dict",
    "with_part_types",
    "with_part_types_in",
]

T = TypeVar("T")
_UNKNOWN_CLASSES: tuple[type[Any], ...] = (
    UnknownTurnDetection,
    UnknownTool,
    UnknownContentPart,
    UnknownItem,
)


@attrs.frozen(kw_only=True)
class UnknownClientEvent(ClientEvent):
    """A client event whose ``type`` is not part of the protocol (seen by the fake server)."""

    type: str
    raw: dict[str, Any]


@attrs.frozen(kw_only=True)
class InvalidClientEvent(ClientEvent):
    """A client frame that could not be decoded (seen by the fake server)."""

    type: str
    raw: Any
    error: str


# -- scalar hooks: strict, so that a string never silently becomes a number or vice versa ----------


def _structure_str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"expected a string, got {value!r}")


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    raise TypeError(f"expected an integer, got {value!r}")


def _structure_float(value: Any, _: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")


def _structure_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected true or false, got {value!r}")


def _structure_any(value: Any, _: Any) -> Any:
    return value


_SCALARS: dict[type[Any], Callable[[Any, Any], Any]] = {
    str: _structure_str,
    int: _structure_int,
    float: _structure_float,
    bool: _structure_bool,
}


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType)


def _tag_table(classes: list[type[Any]]) -> dict[str, type[Any]]:
    table: dict[str, type[Any]] = {}
    for cls in classes:
        tag = getattr(cls, "TYPE", None)
        if isinstance(tag, str):
            table[tag] = cls
            for alias in getattr(cls, "ALIASES", ()):
                table[alias] = cls
    return table


def _make_union_hook(converter: cattrs.Converter, union: Any) -> Callable[[Any, Any], Any]:
    """Structure a value of a union by looking at the value, never by trial and error.

    In a field that may be absent but has no use for ``null`` (``X | NotGiven``), a JSON
    ``null`` means absent: the official schema (``Optional[X] = None``) treats it so.
    """
    members = [m for m in get_args(union) if m is not NotGiven]
    allow_none = type(None) in members
    null_ok = allow_none or NotGiven in get_args(union)
    absent = None if allow_none else NOT_GIVEN  # what ``null`` structures to
    members = [m for m in members if m is not type(None)]
    literals = {v for m in members if get_origin(m) is Literal for v in get_args(m)}
    scalars = [_SCALARS[m] for m in members if m in _SCALARS]
    classes = [m for m in members if attrs.has(m)]
    fallback = next((c for c in classes if c in _UNKNOWN_CLASSES), None)
    untagged = next(
        (c for c in classes if not hasattr(c, "TYPE") and c not in _UNKNOWN_CLASSES), None
    )
    containers = {get_origin(m): m for m in members if get_origin(m) in (list, dict)}
    if len(members) == 1 and not classes and not literals:
        only_type = members[0]
        only = converter.get_structure_hook(only_type)
        if not null_ok:
            return only

        def structure_optional(value: Any, _: Any) -> Any:
            return absent if value is None else only(value, only_type)

        return structure_optional

    # Hooks are looked up on first use: the classes' own hooks may not be built yet.
    tagged: dict[str, Callable[[Any], Any]] = {}
    for tag, cls in _tag_table(classes).items():
        tagged[tag] = _lazy_structure(converter, cls)
    fallback_hook = _lazy_structure(converter, fallback) if fallback else None
    untagged_hook = _lazy_structure(converter, untagged) if untagged else None
    dict_hook = _lazy_structure(converter, containers[dict]) if dict in containers else None
    list_hook = _lazy_structure(converter, containers[list]) if list in containers else None

    def structure(value: Any, _: Any) -> Any:
        if value is None and null_ok:
            return absent
        if type(value) is dict:
            hook = tagged.get(value.get("type"), fallback_hook) if tagged else None  # type: ignore[arg-type]
            hook = hook or untagged_hook or dict_hook
            if hook is None:
                raise ValueError(f"unexpected object of type {value.get('type')!r}")
            return hook(value)
        if type(value) is list and list_hook is not None:
            return list_hook(value)
        if type(value) in (str, int) and value in literals:
            return value
        for scalar in scalars:
            try:
                return scalar(value, None)
            except TypeError:
                continue
        raise TypeError(f"unexpected value {value!r}")

    return structure


def _lazy_structure(converter: cattrs.Converter, cls: Any) -> Callable[[Any], Any]:
    hook: list[Callable[[Any, Any], Any]] = []

    def structure(value: Any) -> Any:
        if not hook:
            hook.append(converter.get_structure_hook(cls))
        return hook[0](value, cls)

    return structure


def _is_json_container(tp: Any) -> bool:
    return get_origin(tp) in (list, dict)


def _make_container_hook(converter: cattrs.Converter, tp: Any) -> Callable[[Any, Any], Any]:
    """cattrs' list/dict hook, after checking the JSON type (a string is no list of strings)."""
    if get_origin(tp) is list:
        expected: type[Any] = list
        base = list_structure_factory(tp, converter)
    else:
        expected = dict
        base = mapping_structure_factory(tp, converter)

    def structure(value: Any, _: Any) -> Any:
        if type(value) is not expected:
            raise TypeError(
                f"expected {'an array' if expected is list else 'an object'}, got {value!r}"
            )
        return base(value, tp)

    return structure


def _require_object(value: Any) -> None:
    if type(value) is not dict:
        raise TypeError(f"expected an object, got {value!r}")


def _make_model_hook(converter: cattrs.Converter, cls: type[Any]) -> Callable[[Any, Any], Any]:
    """cattrs' hook for a model class, after checking that the JSON value is an object.

    (cattrs' generated code only tests ``"key" in value``, which a string or a list passes.)
    """
    base = make_dict_structure_fn(cls, converter)

    def structure(value: Any, _: Any) -> Any:
        _require_object(value)
        return base(value, cls)

    return structure


def _unknown_structure(cls: type[Any]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {value!r}")
        tag = value.get("type")
        return cls(type=tag if isinstance(tag, str) else "", raw=value)

    return structure


def _make_converter(*, detailed_validation: bool) -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=detailed_validation)
    converter.register_structure_hook_factory(
        lambda t: attrs.has(t) and t not in _UNKNOWN_CLASSES and t is not Response,
        lambda t: _make_model_hook(converter, t),
    )
    if not detailed_validation:
        # The hot path; the detailed converter keeps cattrs' hooks for their error paths.
        converter.register_structure_hook_factory(is_flat, flat_structure_hook)
    for scalar, hook in _SCALARS.items():
        converter.register_structure_hook(scalar, hook)
    converter.register_structure_hook(Any, _structure_any)
    converter.register_structure_hook_factory(
        _is_json_container, lambda t: _make_container_hook(converter, t)
    )
    converter.register_structure_hook_factory(_is_union, lambda t: _make_union_hook(converter, t))
    for cls in _UNKNOWN_CLASSES:
        converter.register_structure_hook(cls, _unknown_structure(cls))
        converter.register_unstructure_hook(cls, lambda obj: obj.raw)

    def unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
        base = make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True)
        tag = getattr(cls, "TYPE", None)
        if not isinstance(tag, str):
            return base

        def unstructure(obj: Any) -> dict[str, Any]:
            return {"type": tag, **base(obj)}

        return unstructure

    converter.register_unstructure_hook_factory(
        lambda t: attrs.has(t) and t not in _UNKNOWN_CLASSES, unstructure_factory
    )

    structure_response = make_dict_structure_fn(Response, converter)

    def structure_response_any_shape(value: Any, _: Any) -> Response:
        _require_object(value)
        if _beta.is_beta_response(value):
            value = _beta.response_to_ga(value)
        return structure_response(value, Response)

    converter.register_structure_hook(Response, structure_response_any_shape)
    session_union = _make_union_hook(converter, Session)

    def structure_session(value: Any, _: Any) -> Any:
        if isinstance(value, dict) and _beta.is_beta_session(value):
            value = _beta.session_to_ga(value)
        return session_union(value, Session)

    converter.register_structure_hook_func(lambda t: t == Session, structure_session)
    return converter


_converter = _make_converter(detailed_validation=False)
_detailed_converter = _make_converter(detailed_validation=True)

_Hook = Callable[[Any, Any], Any]


def _hook_table(classes: tuple[type[Any], ...]) -> dict[str, tuple[_Hook, type[Any]]]:
    return {cls.TYPE: (_converter.get_structure_hook(cls), cls) for cls in classes}


_SERVER_TABLE = _hook_table(SERVER_EVENT_CLASSES)
_SERVER_TABLE.update(
    {name: (_converter.get_structure_hook(cls), cls) for name, cls in BETA_ALIASES.items()}
)
_CLIENT_TABLE = _hook_table(CLIENT_EVENT_CLASSES)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        messages = cattrs.transform_error(exc)
        # The "not given" half of an optional field's type says nothing to the reader. Named
        # at call time: the package renames the public class's module once imported.
        not_given = f" | {NotGiven.__module__}.{NotGiven.__qualname__}"
        return "; ".join(m.replace(not_given, "") for m in messages)
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return f"{type(exc).__name__}: {exc}"


def _frame_text(data: str | bytes) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def _decode(
    data: str | bytes,
    table: dict[str, tuple[_Hook, type[Any]]],
    unknown: Callable[[str, str, dict[str, Any]], Any],
    invalid: Callable[[str, str, Any, str], Any],
    strict: bool,
) -> Any:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return _invalid(invalid, "", "", _frame_text(data), f"invalid JSON: {exc}", strict)
    if type(obj) is not dict:
        return _invalid(invalid, "", "", _frame_text(data), "expected a JSON object", strict)
    tag = obj.get("type")
    if type(tag) is not str:
        return _invalid(invalid, "", _event_id(obj), obj, "missing or non-string 'type'", strict)
    entry = table.get(tag)
    if entry is None:
        return unknown(tag, _event_id(obj), obj)
    hook, cls = entry
    try:
        return hook(obj, cls)
    except Exception as exc:
        return _invalid(invalid, tag, _event_id(obj), obj, _explain(obj, cls, exc), strict)


def _explain(obj: dict[str, Any], cls: type[Any], exc: Exception) -> str:
    """Say what is wrong and where: the fast converter keeps no paths, the detailed one does."""
    try:
        _detailed_converter.structure(obj, cls)
    except Exception as detailed:
        return _describe(detailed)
    return _describe(exc)


def _event_id(obj: dict[str, Any]) -> str:
    event_id = obj.get("event_id")
    return event_id if type(event_id) is str else ""


def _invalid(
    make: Callable[[str, str, Any, str], Any],
    tag: str,
    event_id: str,
    raw: Any,
    error: str,
    strict: bool,
) -> Any:
    if strict:
        raise RemoteProtocolError(f"cannot decode {tag or 'frame'}: {error}", raw)
    return make(tag, event_id, raw, error)


def decode_server_event(data: str | bytes, *, strict: bool = False) -> ServerEvent:
    """Decode one server frame (JSON text) into a typed event.

    An unknown ``type`` gives :class:`UnknownServerEvent`; anything malformed gives
    :class:`InvalidServerEvent`, or raises :class:`RemoteProtocolError` when ``strict``.
    """
    # The common case inline: this runs for every frame the server sends.
    try:
        obj = orjson.loads(data)
        hook, cls = _SERVER_TABLE[obj["type"]]
        event: ServerEvent = hook(obj, cls)
    except Exception:
        event = _decode(data, _SERVER_TABLE, _unknown_server, _invalid_server, strict)
    return event


def _unknown_server(tag: str, event_id: str, raw: dict[str, Any]) -> UnknownServerEvent:
    return UnknownServerEvent(type=tag, event_id=event_id, raw=raw)


def _invalid_server(tag: str, event_id: str, raw: Any, error: str) -> InvalidServerEvent:
    return InvalidServerEvent(type=tag, event_id=event_id, raw=raw, error=error)


def decode_client_event(data: str | bytes, *, strict: bool = False) -> ClientEvent:
    """Decode one client frame: the fake server's side of :func:`encode_client_event`."""
    event: ClientEvent = _decode(
        data,
        _CLIENT_TABLE,
        lambda tag, event_id, raw: UnknownClientEvent(type=tag, event_id=event_id, raw=raw),
        lambda tag, event_id, raw, error: InvalidClientEvent(
            type=tag, event_id=event_id, raw=raw, error=error
        ),
        strict,
    )
    return event


_RAW_EVENTS = (UnknownClientEvent, InvalidClientEvent, UnknownServerEvent, InvalidServerEvent)


def _encode(event: ClientEvent | ServerEvent) -> str:
    if isinstance(event, _RAW_EVENTS):  # sent again as they came
        raw = event.raw
        return raw if isinstance(raw, str) else orjson.dumps(raw).decode()
    return orjson.dumps(_converter.unstructure(event)).decode()


def encode_client_event(event: ClientEvent) -> str:
    """Encode a client event as the JSON text of one WebSocket frame."""
    return _encode(event)


def encode_server_event(event: ServerEvent) -> str:
    """Encode a server event as JSON text (the fake server's side of decoding)."""
    return _encode(event)


def to_dict(obj: Any) -> Any:
    """The JSON-ready form of any model object (``NOT_GIVEN`` fields left out)."""
    return _converter.unstructure(obj)


def from_dict(value: Any, cls: type[T]) -> T:
    """Build a model object from its JSON form, checking every value.

    Raises ``ValueError`` naming the path of each bad value (e.g.
    ``$.audio.input.turn_detection.threshold``).
    """
    try:
        result: T = _detailed_converter.structure(value, cls)
    except Exception as exc:
        raise ValueError(_describe(exc)) from None
    return result


# -- content parts whose type the server left out -------------------------------------------------

_PART_TYPES: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "assistant": ((("audio", "transcript"), "output_audio"), (("text",), "output_text")),
    "user": (
        (("image_url",), "input_image"),
        (("audio", "transcript"), "input_audio"),
        (("text",), "input_text"),
    ),
    "system": ((("text",), "input_text"),),
}
"""By a message's role, which fields make which part type (the first that matches wins)."""
_CONTENT_PART: Any = ContentPart


_EVENT_PART_TYPES = ((("audio", "transcript"), "audio"), (("text",), "text"))
"""The same for ``response.content_part.*``, whose parts are the assistant's output."""


def _typed_part(part: ContentPart, role: str) -> ContentPart:
    if not isinstance(part, UnknownContentPart) or part.raw.get("type") is not None:
        return part
    rules = _EVENT_PART_TYPES if role == "" else _PART_TYPES.get(role, ())
    for fields, tag in rules:
        if any(name in part.raw for name in fields):
            try:
                typed: ContentPart = _converter.structure({**part.raw, "type": tag}, _CONTENT_PART)
            except Exception:  # values of the wrong types: it stays what it was
                return part
            return typed
    return part


def with_part_types(item: Item) -> Item:
    """``item`` with the content parts whose ``type`` the server left out typed by context.

    The schema makes a part's ``type`` optional. Decoding keeps such a part whole as an
    :class:`UnknownContentPart` (so that it re-encodes unchanged); here the message's role and
    the part's fields tell what it is: an assistant part with ``audio`` or ``transcript`` is
    :class:`OutputAudio`, with ``text`` :class:`OutputText`; a user part with ``image_url`` is
    :class:`InputImage`, with ``audio`` or ``transcript`` :class:`InputAudio`, with ``text``
    :class:`InputText`; a system part with ``text`` is :class:`InputText`.
    """
    if not isinstance(item, MessageItem):
        return item
    content = [_typed_part(part, item.role) for part in item.content]
    if all(new is old for new, old in zip(content, item.content, strict=True)):
        return item
    return attrs.evolve(item, content=content)


_WITH_ITEM = (
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemDone,
    ConversationItemRetrieved,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
)
_WITH_PARTS = frozenset(
    {*_WITH_ITEM, ResponseContentPartAdded, ResponseContentPartDone, ResponseCreated, ResponseDone}
)
"""The events that may carry content parts; every other event passes by one set lookup."""


def with_part_types_in(event: ServerEvent) -> ServerEvent:
    """``event`` with the untyped content parts of its item, its response's output or its
    ``part`` typed by context (see :func:`with_part_types`); the event itself otherwise."""
    if type(event) not in _WITH_PARTS:  # every frame comes here: audio deltas leave at once
        return event
    if isinstance(event, _WITH_ITEM):
        item = with_part_types(event.item)
        return event if item is event.item else attrs.evolve(event, item=item)
    if isinstance(event, ResponseContentPartAdded | ResponseContentPartDone):
        part = _typed_part(event.part, "")
        return event if part is event.part else attrs.evolve(event, part=part)
    if isinstance(event, ResponseCreated | ResponseDone) and isinstance(
        event.response.output, list
    ):
        output = [with_part_types(item) for item in event.response.output]
        if all(new is old for new, old in zip(output, event.response.output, strict=True)):
            return event
        return attrs.evolve(event, response=attrs.evolve(event.response, output=output))
    return event
