"""The body of a server ``error`` event: apart from the other models, since the exception tree
(``trealtime._errors``) carries it and the models' own checks raise from that tree."""

from __future__ import annotations

import attrs

from ._notgiven import NOT_GIVEN, NotGiven

__all__ = ["ErrorDetail"]


@attrs.frozen(kw_only=True)
class ErrorDetail:
    """The body of a server ``error`` event.

    ``event_id`` names the client event that caused it, when the client gave one.
    """

    type: str
    message: str
    code: str | NotGiven | None = NOT_GIVEN
    param: str | NotGiven | None = NOT_GIVEN
    event_id: str | NotGiven | None = NOT_GIVEN
