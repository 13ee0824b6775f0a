"""A repr for raw JSON a server sent, which may be nested deeper than Python can show."""

from __future__ import annotations

from typing import Any

__all__ = ["safe_repr"]


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a placeholder when it is nested past the recursion limit."""
    try:
        return repr(value)
    except RecursionError:
        return "<nested too deeply to show>"
