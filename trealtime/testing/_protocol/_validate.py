"""Check a client event's raw JSON against the wire model, as strictly as the real API does.

The codec is lenient on purpose (it must never fail on what a server sends); the fake server
needs the opposite. :func:`check_shape` walks the raw JSON alongside the attrs classes and raises
:class:`ClientError` for the first unknown key (``unknown_parameter``), missing required key
(``missing_required_parameter``), value of the wrong JSON type (``invalid_type``) or unknown
``type`` tag (``invalid_value``). Ranges and enumerations are checked elsewhere.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin

import attrs

from ..._wire._notgiven import NotGiven
from ...events import UnknownContentPart, UnknownItem, UnknownTool, UnknownTurnDetection
from ._errors import (
    ClientError,
    invalid_type,
    invalid_value,
    missing_parameter,
    unknown_parameter,
)

__all__ = ["check_shape"]

_FALLBACKS = (UnknownContentPart, UnknownItem, UnknownTool, UnknownTurnDetection)
_TYPE_NAMES: dict[type[Any], str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
    type(None): "null",
}


def check_shape(raw: Any, cls: type[Any]) -> None:
    """Raise :class:`ClientError` unless ``raw`` (a whole event object) fits ``cls``."""
    _check(raw, cls, "")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), "a value")


_FIELDS: dict[type[Any], dict[str, tuple[Any, bool]]] = {}


def _fields(cls: type[Any]) -> dict[str, tuple[Any, bool]]:
    """Field name -> (resolved type, required), cached per class."""
    fields = _FIELDS.get(cls)
    if fields is None:
        hints = typing.get_type_hints(cls)
        fields = {f.name: (hints[f.name], f.default is attrs.NOTHING) for f in attrs.fields(cls)}
        _FIELDS[cls] = fields
    return fields


def _tags(cls: type[Any]) -> tuple[str, ...]:
    tag = getattr(cls, "TYPE", None)
    return (tag, *getattr(cls, "ALIASES", ())) if isinstance(tag, str) else ()


def _check(value: Any, tp: Any, path: str) -> None:
    origin = get_origin(tp)
    if tp is Any:
        return
    if origin in (typing.Union, types.UnionType):
        _check_union(value, [m for m in get_args(tp) if m is not NotGiven], path)
    elif origin is Literal:
        if value not in get_args(tp):
            raise invalid_value(path, value, get_args(tp))
    elif origin is list:
        if type(value) is not list:
            raise invalid_type(path, "an array", _describe(value))
        for i, element in enumerate(value):
            _check(element, get_args(tp)[0], f"{path}[{i}]")
    elif origin is dict:
        if type(value) is not dict:
            raise invalid_type(path, "an object", _describe(value))
        for key, element in value.items():
            _check(element, get_args(tp)[1], _join(path, key))
    elif attrs.has(tp):
        _check_object(value, tp, path)
    elif tp is float:
        if type(value) not in (int, float):
            raise invalid_type(path, "a number", _describe(value))
    elif type(value) is not tp:
        raise invalid_type(path, _TYPE_NAMES.get(tp, str(tp)), _describe(value))


def _check_object(value: Any, cls: type[Any], path: str) -> None:
    if type(value) is not dict:
        raise invalid_type(path, "an object", _describe(value))
    fields = _fields(cls)
    for key in value:
        if key not in fields and not (key == "type" and _tags(cls)):
            raise unknown_parameter(_join(path, key))
    for name, (field_type, required) in fields.items():
        if name in value:
            _check(value[name], field_type, _join(path, name))
        elif required:
            raise missing_parameter(_join(path, name))


def _check_union(value: Any, members: list[Any], path: str) -> None:
    if value is None:
        if type(None) not in members:
            raise invalid_type(path, _expected(members), "null")
        return
    if type(value) is dict:
        _check_union_object(value, members, path)
        return
    for member in members:
        try:
            _check(value, member, path)
        except ClientError:
            continue
        return
    literals = [v for m in members if get_origin(m) is Literal for v in get_args(m)]
    if literals and type(value) is str and str not in members:
        raise invalid_value(path, value, literals)
    raise invalid_type(path, _expected(members), _describe(value))


def _check_union_object(value: dict[str, Any], members: list[Any], path: str) -> None:
    classes = [m for m in members if attrs.has(m) and m not in _FALLBACKS]
    tagged = {tag: cls for cls in classes for tag in _tags(cls)}
    if tagged:
        tag = value.get("type")
        if tag is None:
            raise missing_parameter(_join(path, "type"))
        if type(tag) is not str:
            raise invalid_type(_join(path, "type"), "a string", _describe(tag))
        if tag in tagged:
            _check_object(value, tagged[tag], path)
            return
        supported = [getattr(cls, "TYPE", "") for cls in classes if _tags(cls)]
        raise invalid_value(_join(path, "type"), tag, supported)
    untagged = [m for m in members if attrs.has(m) or get_origin(m) is dict]
    if not untagged:
        raise invalid_type(path, _expected(members), "an object")
    _check(value, untagged[0], path)


def _expected(members: list[Any]) -> str:
    names = []
    for member in members:
        origin = get_origin(member) or member
        name = "an object" if attrs.has(member) else _TYPE_NAMES.get(origin, "a string")
        if name not in names:
            names.append(name)
    return " or ".join(names)
