"""The "not given" sentinel: a value distinct from ``None`` for fields that were left out.

``None`` is a value (JSON ``null``); ``NOT_GIVEN`` means the field is absent and the encoder
leaves it out of the wire message.
"""

from __future__ import annotations

import enum
from typing import Final, Literal, TypeGuard, TypeVar

__all__ = ["NOT_GIVEN", "NotGiven", "is_given"]

T = TypeVar("T")


class NotGiven(enum.Enum):
    """The type of :data:`NOT_GIVEN`; it has exactly one member."""

    NOT_GIVEN = "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    __str__ = __repr__

    def __copy__(self) -> NotGiven:
        return self

    def __deepcopy__(self, memo: object) -> NotGiven:
        return self


NOT_GIVEN: Final = NotGiven.NOT_GIVEN
"""A falsy singleton meaning "this field was not given" (as opposed to ``None``)."""


def is_given(value: T | NotGiven) -> TypeGuard[T]:
    """Return True unless ``value`` is :data:`NOT_GIVEN`. ``None``, ``0`` and ``""`` are given."""
    return value is not NOT_GIVEN
