"""Refuse settings of the wrong type when they are built, not when the server sees them.

:func:`check_fields` compares every field of an attrs instance with its annotation (``str``,
``list[str]``, unions, ``Literal``, nested attrs classes, ``NOT_GIVEN``) and raises
:class:`ConfigurationError` naming the field and the value's type. :func:`checked_init` wraps a
class's ``__init__`` so that construction, ``attrs.evolve`` and decoding all check.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, Literal

import attrs

from .._errors import ConfigurationError
from ._notgiven import NotGiven

__all__ = ["check_fields", "checked_init"]


def checked_init(*classes: type[Any]) -> None:
    """Make every instance of ``classes`` check its fields once built."""
    for cls in classes:
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, __init: Any = init, **kwargs: Any) -> None:
            __init(self, *args, **kwargs)
            check_fields(self)

        cls.__init__ = __init__


def check_fields(instance: Any) -> None:
    """Raise :class:`ConfigurationError` for the first field whose value has the wrong type."""
    cls = type(instance)
    for name, hint in _hints(cls).items():
        value = getattr(instance, name)
        if not _matches(value, hint):
            raise ConfigurationError(
                f"{cls.__name__}.{name} must be {_describe(hint)}, got {type(value).__name__}"
            )  # the type only: a value may be a secret (an MCP tool's authorization)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        every = typing.get_type_hints(cls)
        hints = _HINTS[cls] = {field.name: every[field.name] for field in attrs.fields(cls)}
    return hints


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, member) for member in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_matches(element, item) for element in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an annotation this checker does not understand: let it pass


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not NotGiven]
        return " or ".join(_describe(m) for m in members)
    if origin is Literal:
        return " or ".join(repr(v) for v in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if origin is not None:
        return str(hint).replace("typing.", "")
    return getattr(hint, "__name__", str(hint))
