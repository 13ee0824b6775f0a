"""Public names that say where to import them from."""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = ["show_public_module"]


def show_public_module(namespace: Mapping[str, Any], names: Iterable[str], module: str) -> None:
    """Make the public classes among ``names`` whose tracebacks and reprs name their module
    (exceptions and plain classes) name ``module`` (``trealtime``), not ``trealtime._x``.

    attrs classes and TypedDicts keep theirs: their reprs name no module, and their string
    annotations are resolved in the module that defines them.
    """
    for name in names:
        obj = namespace[name]
        if isinstance(obj, type) and not attrs.has(obj) and not typing.is_typeddict(obj):
            obj.__module__ = module
