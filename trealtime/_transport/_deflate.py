"""permessage-deflate (RFC 7692): what the client offers, what the server agreed, and the
per-connection compressor and decompressor (zlib, from the standard library).

A compressed message is refused with 1009 while it is being inflated, as soon as its output
passes ``max_message_size``: zlib is asked for at most one byte past the limit, so a
compression bomb never allocates more than the limit (and zlib's window).
"""

from __future__ import annotations

import zlib

import attrs

from ._frames import FrameError

__all__ = ["Agreement", "Deflate", "Deflater", "Inflater", "NegotiationError", "agree"]

EXTENSION = "permessage-deflate"
_FLUSH_TAIL = b"\x00\x00\xff\xff"  # ends every sync flush; RFC 7692 section 7.2.1 drops it
_WINDOW_VALUES = frozenset(str(bits) for bits in range(8, 16))
_MIN_ZLIB_WINDOW = 9  # zlib refuses a raw window of 8 bits; 9 inflates what 8 made


def _window_bits(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 8 <= value <= 15:
        raise ValueError(f"{attribute.name} must be 8 to 15, got {value}")


def _level(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 9:
        raise ValueError(f"level must be 0 to 9, got {value}")


@attrs.frozen
class Deflate:
    """permessage-deflate settings (RFC 7692), for ``open_session(compression=Deflate(...))``.

    ``server_max_window_bits`` asks the server for a smaller window (2**bits bytes; what a
    connection's decompressor holds), ``client_max_window_bits`` caps the window we compress
    with; the server may lower either. ``*_no_context_takeover`` compresses each message alone
    (less memory held between messages, less saved). ``level`` is zlib's level for what we send.
    """

    server_max_window_bits: int = attrs.field(default=15, validator=_window_bits)
    client_max_window_bits: int = attrs.field(default=15, validator=_window_bits)
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    level: int = attrs.field(default=1, validator=_level)

    def offer(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value offering these settings."""
        client_bits = self.client_max_window_bits
        parts = [EXTENSION, "client_max_window_bits"]
        if client_bits < 15:
            parts[1] += f"={client_bits}"
        if self.server_max_window_bits < 15:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        return "; ".join(parts)


@attrs.frozen
class Agreement:
    """What client and server agreed: each direction's window and whether its context resets."""

    server_window_bits: int
    client_window_bits: int
    server_no_context_takeover: bool
    client_no_context_takeover: bool
    level: int


class NegotiationError(ValueError):
    """The server's ``Sec-WebSocket-Extensions`` answer is not one our offer allows."""


def agree(offered: Deflate, answer: str) -> Agreement:
    """Check the server's answer to ``offered`` (RFC 7692 section 7.1) and return the terms."""
    extensions = [part.strip() for part in answer.split(",")]
    if len(extensions) != 1:
        raise NegotiationError(f"the server chose several extensions: {answer!r}")
    name, *raw_params = (token.strip() for token in extensions[0].split(";"))
    if name.lower() != EXTENSION:
        raise NegotiationError(f"the server chose an extension we did not offer: {name!r}")
    params: dict[str, str | None] = {}
    for raw in raw_params:
        key, sep, value = raw.partition("=")
        key = key.strip().lower()
        if key in params:
            raise NegotiationError(f"the server repeated {key}")
        params[key] = value.strip().strip('"') if sep else None
    server_bits = _agreed_bits(params, "server_max_window_bits", offered.server_max_window_bits)
    client_bits = _agreed_bits(params, "client_max_window_bits", offered.client_max_window_bits)
    if offered.server_max_window_bits < 15 and "server_max_window_bits" not in params:
        raise NegotiationError("the server ignored the server_max_window_bits we asked for")
    flags = {}
    for flag in ("server_no_context_takeover", "client_no_context_takeover"):
        flags[flag] = flag in params
        if flags[flag] and params.pop(flag) is not None:
            raise NegotiationError(f"{flag} takes no value")
    if offered.server_no_context_takeover and not flags["server_no_context_takeover"]:
        raise NegotiationError("the server ignored the server_no_context_takeover we asked for")
    params.pop("server_max_window_bits", None)
    params.pop("client_max_window_bits", None)
    if params:
        raise NegotiationError(f"unknown permessage-deflate parameter {next(iter(params))!r}")
    return Agreement(
        server_window_bits=server_bits,
        client_window_bits=client_bits,
        server_no_context_takeover=flags["server_no_context_takeover"],
        client_no_context_takeover=offered.client_no_context_takeover
        or flags["client_no_context_takeover"],
        level=offered.level,
    )


def _agreed_bits(params: dict[str, str | None], name: str, offered: int) -> int:
    """The window the server chose for ``name``: at most what we offered (ours if it is silent)."""
    if name not in params:
        return offered
    value = params[name]
    if value not in _WINDOW_VALUES or int(value) > offered:  # not isdigit(): "²" is a digit
        raise NegotiationError(f"{name}={value} is not a window of 8 to {offered} bits")
    return int(value)


class Inflater:
    """Inflates the server's compressed messages, each counted against a size limit as it grows."""

    def __init__(self, agreement: Agreement) -> None:
        self._window_bits = -max(agreement.server_window_bits, _MIN_ZLIB_WINDOW)
        self._reset = agreement.server_no_context_takeover
        self._zlib = zlib.decompressobj(self._window_bits)

    def inflate(self, data: bytes, limit: int, *, last: bool) -> bytes:
        """The bytes ``data`` (part of one message) inflates to; ``last`` ends the message.

        Raises :class:`FrameError`: 1009 once the output would pass ``limit`` bytes (zlib never
        makes more than one byte past it), 1007 for data that is not valid DEFLATE.
        """
        decompressor = self._zlib
        try:
            out = decompressor.decompress(data, limit + 1)  # a max_length of 0 is unbounded
            if last and len(out) <= limit:
                out += decompressor.decompress(_FLUSH_TAIL, limit + 1 - len(out))
        except zlib.error as exc:
            raise FrameError(1007, f"compressed message is not valid DEFLATE: {exc}") from None
        if len(out) > limit:
            raise FrameError(1009, f"message inflates to more than {limit} bytes")
        if last and (self._reset or decompressor.eof):
            # A stream the server ended (a final DEFLATE block) starts anew with the next message.
            if decompressor.unused_data not in (b"", _FLUSH_TAIL):
                raise FrameError(1007, "compressed message has data after its end")
            self._zlib = zlib.decompressobj(self._window_bits)
        return out


class Deflater:
    """Compresses the client's messages (under the WebSocket's send lock: order matters)."""

    def __init__(self, agreement: Agreement) -> None:
        self._window_bits = -agreement.client_window_bits
        self._level = agreement.level
        self._reset = agreement.client_no_context_takeover
        self._zlib = self._new()

    @staticmethod
    def usable(agreement: Agreement) -> bool:
        """Whether we can compress within the agreed window (zlib cannot make an 8-bit one;
        sending uncompressed is then always allowed)."""
        return agreement.client_window_bits >= _MIN_ZLIB_WINDOW

    def _new(self) -> zlib._Compress:
        return zlib.compressobj(self._level, zlib.DEFLATED, self._window_bits)

    def deflate(self, data: bytes) -> bytes:
        """One whole message, compressed (the payload of a frame with RSV1 set)."""
        compressor = self._zlib
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if self._reset:
            self._zlib = self._new()
        return out[: -len(_FLUSH_TAIL)]
