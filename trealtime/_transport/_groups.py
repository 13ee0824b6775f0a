"""Exception groups at the public boundary: one real error comes out as itself."""

from __future__ import annotations

import trio

__all__ = ["single_error"]


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def single_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error in ``group``, ignoring cancellations; a lone ``Cancelled`` if that is
    all it holds; otherwise the group itself."""
    leaves = _leaves(group)
    real = [exc for exc in leaves if not isinstance(exc, trio.Cancelled)]
    if len(real) == 1:
        return real[0]
    if not real and leaves:
        return leaves[0]
    return group
