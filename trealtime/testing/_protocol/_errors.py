"""The errors the fake server reports, worded like the real API's.

Handlers raise :class:`ClientError`; the connection turns it into an ``error`` event carrying the
client's ``event_id``. Codes and messages follow the protocol reference (§8.1); where the real
wording has not been observed publicly the message only explains the problem.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from ..._wire._notgiven import NOT_GIVEN, NotGiven
from ...events import ErrorDetail

__all__ = [
    "ClientError",
    "check_metadata",
    "http_error_body",
    "invalid_type",
    "invalid_value",
    "missing_parameter",
    "unknown_parameter",
]


class ClientError(Exception):
    """A client mistake, reported as an ``error`` event; the session carries on."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.type = type

    def detail(self, event_id: str | NotGiven = NOT_GIVEN) -> ErrorDetail:
        """The ``error`` body, naming the client event that caused it (``None`` if it had none)."""
        return ErrorDetail(
            type=self.type,
            code=self.code,
            message=self.message,
            param=self.param,
            event_id=event_id if isinstance(event_id, str) else None,
        )


def http_error_body(
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    kind: str = "invalid_request_error",
) -> bytes:
    """The JSON body of the API's answer to a refused HTTP request (``{"error": {...}}``)."""
    return orjson.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


def _quote_list(values: Iterable[object]) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def unknown_parameter(param: str) -> ClientError:
    """A key the API does not know (for example a beta field sent to GA)."""
    return ClientError(f"Unknown parameter: '{param}'.", code="unknown_parameter", param=param)


def missing_parameter(param: str) -> ClientError:
    """A required key is absent."""
    return ClientError(
        f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
    )


def invalid_type(param: str, expected: str, got: str) -> ClientError:
    """A value of the wrong JSON type."""
    return ClientError(
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
        code="invalid_type",
        param=param,
    )


def invalid_value(param: str, value: object, supported: Iterable[object] = ()) -> ClientError:
    """A value outside the allowed set or range."""
    choices = list(supported)
    tail = f" Supported values are: {_quote_list(choices)}." if choices else ""
    return ClientError(f"Invalid value: '{value}'.{tail}", code="invalid_value", param=param)


METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_LENGTH = 64
METADATA_MAX_VALUE_LENGTH = 512


def check_metadata(metadata: object, param: str) -> None:
    """The API's limits on a ``metadata`` map: 16 keys, keys of 64 and values of 512 chars."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise invalid_type(param, "an object", type(metadata).__name__)
    if len(metadata) > METADATA_MAX_KEYS:
        raise ClientError(
            f"Invalid '{param}': too many properties. Expected an object with at most"
            f" {METADATA_MAX_KEYS} properties, but got an object with {len(metadata)}"
            " properties instead.",
            code="object_above_max_properties",
            param=param,
        )
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise _too_long(f"{param}", "key", METADATA_MAX_KEY_LENGTH, len(key))
        if not isinstance(value, str):
            raise invalid_type(f"{param}.{key}", "a string", type(value).__name__)
        if len(value) > METADATA_MAX_VALUE_LENGTH:
            raise _too_long(f"{param}.{key}", "string", METADATA_MAX_VALUE_LENGTH, len(value))


def _too_long(param: str, what: str, limit: int, length: int) -> ClientError:
    return ClientError(
        f"Invalid '{param}': {what} too long. Expected a {what} with maximum length {limit},"
        f" but got a {what} with length {length} instead.",
        code="string_above_max_length",
        param=param,
    )
