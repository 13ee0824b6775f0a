"""Public names show their public module in tracebacks and reprs, never ``trealtime._x``."""

from __future__ import annotations

import pickle
import traceback

import attrs
import pytest

import trealtime

# attrs classes are left alone: their reprs name no module ("CloseReason(code=...)").
PLAIN_PUBLIC_CLASSES = [
    getattr(trealtime, name)
    for name in trealtime.__all__
    if isinstance(getattr(trealtime, name), type) and not attrs.has(getattr(trealtime, name))
]


def test_a_public_exception_prints_as_trealtime_dot_its_name() -> None:
    try:
        raise trealtime.ConfigurationError("no API key")
    except trealtime.ConfigurationError as exc:
        lines = traceback.format_exception(exc)
    assert lines[-1] == "trealtime.ConfigurationError: no API key\n"


@pytest.mark.parametrize("cls", PLAIN_PUBLIC_CLASSES, ids=lambda cls: cls.__name__)
def test_public_classes_name_the_public_module(cls: type) -> None:
    assert cls.__module__ == "trealtime"
    assert getattr(trealtime, cls.__name__) is cls


def test_attrs_reprs_name_no_module() -> None:
    assert repr(trealtime.CloseReason(1000, "bye")) == "CloseReason(code=1000, reason='bye')"


def test_public_exceptions_still_pickle() -> None:
    error = pickle.loads(pickle.dumps(trealtime.LocalProtocolError("nope")))
    assert type(error) is trealtime.LocalProtocolError
    assert str(error) == "nope"
