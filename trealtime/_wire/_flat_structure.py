"""Fast structure hooks for "flat" attrs classes: every field a scalar (str/int/float/bool).

Most server events are flat (audio and transcript deltas, buffer events …) and they are the hot
path of decoding. cattrs' generated code calls one hook per field and then the frozen class's
``__init__``, which sets each slot through ``object.__setattr__``; together that is about twice
the cost of checking each value inline and setting the slots through their descriptors, which
is what the code generated here does. The checks are the same as the strict scalar hooks: a
value of the wrong JSON type raises ``TypeError`` naming the field.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any, get_args, get_origin

import attrs

from ._notgiven import NOT_GIVEN, NotGiven

__all__ = ["flat_structure_hook", "is_flat"]

_SCALARS = (str, int, float, bool)


def _scalar_members(tp: Any) -> tuple[type[Any], bool, bool] | None:
    """``(scalar, allows_none, allows_not_given)`` for a flat field type, else None."""
    if tp in _SCALARS:
        return tp, False, False
    if get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    members = get_args(tp)
    scalars = [m for m in members if m in _SCALARS]
    others = [m for m in members if m not in _SCALARS and m not in (type(None), NotGiven)]
    if len(scalars) != 1 or others:
        return None
    return scalars[0], type(None) in members, NotGiven in members


def is_flat(cls: Any) -> bool:
    """Whether every field of the attrs class ``cls`` is a (possibly optional) scalar."""
    if not attrs.has(cls) or attrs.fields(cls) == ():
        return False
    hints = typing.get_type_hints(cls)
    return all(_scalar_members(hints[a.name]) is not None for a in attrs.fields(cls))


def _check(scalar: type[Any], allow_none: bool, allow_not_given: bool) -> str:
    accepted = ["v.__class__ is int"] if scalar is float else []
    accepted.append(f"v.__class__ is {scalar.__name__}")
    if allow_none:
        accepted.append("v is None")
    if allow_not_given:
        accepted.append("v is NOT_GIVEN")
    return " or ".join(accepted)


def flat_structure_hook(cls: type[Any]) -> Callable[[Any, Any], Any]:
    """Generate a structure function for the flat attrs class ``cls``."""
    hints = typing.get_type_hints(cls)
    namespace: dict[str, Any] = {"cls": cls, "new": object.__new__, "NOT_GIVEN": NOT_GIVEN}
    lines = [
        "def structure(o, _):",
        "    if o.__class__ is not dict:",
        "        raise TypeError(f'expected an object, got {o!r}')",
        "    obj = new(cls)",
    ]
    for index, attribute in enumerate(attrs.fields(cls)):
        members = _scalar_members(hints[attribute.name])
        assert members is not None
        scalar, allow_none, allow_not_given = members
        name = attribute.name
        namespace[f"set{index}"] = getattr(cls, name).__set__
        if attribute.default is attrs.NOTHING:
            lines.append(f"    v = o[{name!r}]")
        else:
            namespace[f"default{index}"] = attribute.default
            lines.append(f"    v = o.get({name!r}, default{index})")
        if allow_not_given and not allow_none:  # null means absent (the schema's Optional)
            lines.append("    if v is None: v = NOT_GIVEN")
        lines.append(f"    if not ({_check(scalar, allow_none, allow_not_given)}):")
        expected = f"{scalar.__name__}{' or null' if allow_none else ''}"
        lines.append(f"        raise TypeError(f'{name}: expected {expected}, got {{v!r}}')")
        if scalar is float:
            lines.append("    if v.__class__ is int: v = float(v)")
        lines.append(f"    set{index}(obj, v)")
    lines.append("    return obj")
    exec("\n".join(lines), namespace)
    structure: Callable[[Any, Any], Any] = namespace["structure"]
    return structure
