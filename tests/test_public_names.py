"""Public names show their public module in tracebacks and reprs, never ``trealtime._x``."""

from __future__ import annotations

import pickle
import traceback
import typing

import attrs
import pytest

import trealtime
import trealtime.testing

# attrs classes (and TypedDicts) are left alone: their reprs name no module
# ("CloseReason(code=...)").
PLAIN_PUBLIC_CLASSES = [
    (module.__name__, getattr(module, name))
    for module in (trealtime, trealtime.testing)
    for name in module.__all__
    if isinstance(getattr(module, name), type)
    and not attrs.has(getattr(module, name))
    and not typing.is_typeddict(getattr(module, name))
]


def test_a_public_exception_prints_as_trealtime_dot_its_name() -> None:
    try:
        raise trealtime.ConfigurationError("no API key")
    except trealtime.ConfigurationError as exc:
        lines = traceback.format_exception(exc)
    assert lines[-1] == "trealtime.ConfigurationError: no API key\n"


@pytest.mark.parametrize(
    ("module", "cls"), PLAIN_PUBLIC_CLASSES, ids=[cls.__name__ for _, cls in PLAIN_PUBLIC_CLASSES]
)
def test_public_classes_name_the_public_module(module: str, cls: type) -> None:
    assert cls.__module__ == module
    assert "trealtime._" not in repr(cls)


def test_attrs_reprs_name_no_module() -> None:
    assert repr(trealtime.CloseReason(1000, "bye")) == "CloseReason(code=1000, reason='bye')"


def test_public_exceptions_still_pickle() -> None:
    error = pickle.loads(pickle.dumps(trealtime.LocalProtocolError("nope")))
    assert type(error) is trealtime.LocalProtocolError
    assert str(error) == "nope"
