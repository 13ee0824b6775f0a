"""WebSocket framing (RFC 6455) for the client side, sans-IO: bytes in, messages out.

:class:`FrameReader` turns what the server writes into whole messages and control frames;
:func:`client_frame` and :func:`close_frame` make the masked frames a client writes. The one
extension is permessage-deflate (RSV1, :mod:`trealtime._transport._deflate`); every other
reserved bit must be zero.

Written for the hot path: a frame that arrives whole is sliced from the bytes read, never
copied into a buffer first, and a frame that arrives in pieces is collected in one buffer and
joined once, when it is complete (so a large message costs linear time however finely it is
cut). Memory is bounded by ``max_message_size`` whatever arrives: pending reads and the
fragments of a message are each held in one buffer, never one object per piece, and every
fragment counts against the limit (empty ones too).
"""

from __future__ import annotations

import codecs
import os
from typing import Protocol

import attrs

__all__ = [
    "Close",
    "FrameError",
    "FrameReader",
    "Inflate",
    "Ping",
    "Pong",
    "RSV1",
    "apply_mask",
    "client_frame",
    "close_frame",
]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RSV1 = 0x40  # "compressed", on the first frame of a message, once permessage-deflate is agreed

_COALESCED = 1024  # pending reads this size or larger are held apart, smaller ones coalesced
_MAX_CONTROL_PAYLOAD = 125
_MAX_CLOSE_REASON = _MAX_CONTROL_PAYLOAD - 2
# Codes a peer must never put on the wire (RFC 6455 section 7.4.1): they mean "no code",
# "no close frame" and "TLS failed", which only the local end can know.
_LOCAL_ONLY_CODES = frozenset({1005, 1006, 1015})
# Codes below 3000 that are registered; other codes below 3000 are reserved and refused.
_REGISTERED_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013})


class FrameError(Exception):
    """The server broke the protocol; ``code`` is the close code to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{reason} (close code {code})")


@attrs.frozen
class Ping:
    """A ping from the server; answer it with a pong carrying the same payload."""

    payload: bytes


@attrs.frozen
class Pong:
    """A pong from the server, answering one of our pings."""

    payload: bytes


@attrs.frozen
class Close:
    """The server's close frame (code 1005 when it carried none)."""

    code: int
    reason: str


class Inflate(Protocol):
    """What the reader needs to inflate compressed messages (``_deflate.Inflater``)."""

    def inflate(self, data: bytes, limit: int, *, last: bool) -> bytes:
        """The bytes ``data`` (part of one message) inflates to; ``last`` ends the message."""


def _protocol_error(reason: str) -> FrameError:
    return FrameError(1002, reason)


class FrameReader:
    """Parses server frames. ``feed`` bytes, then take events with ``next_event``.

    Events are whole messages (``str`` for text, ``bytes`` for binary), :class:`Ping`,
    :class:`Pong` and :class:`Close`; nothing is parsed after a close. A violation raises
    :class:`FrameError`, and so does every later call. A message over ``max_message_size``
    bytes is refused (1009) as soon as a frame header says so, before its payload is read.
    With an ``inflater`` (permessage-deflate agreed), messages with RSV1 set are inflated, and
    refused (1009) as soon as their output passes ``max_message_size`` (their compressed size
    counts against it too).
    """

    def __init__(self, max_message_size: int, inflater: Inflate | None = None) -> None:
        self._max_message_size = max_message_size
        self._inflater = inflater
        self._compressed = False  # whether the message being read has RSV1 set
        self._buffer = b""  # the bytes being parsed, from _position on
        self._position = 0
        # Bytes fed while a frame is incomplete, joined onto the rest once a parse has enough
        # to get further. Reads of _COALESCED bytes or more are held as they are (the join is
        # their one copy); smaller ones are collected into a bytearray, so that a frame fed a
        # few bytes at a time costs no object per read.
        self._pending: list[bytes | bytearray] = []
        self._pending_size = 0
        self._needed = 0  # bytes a parse must have in hand to get further
        # The fragments of the open message, in one growing buffer (not one object each).
        self._fragments = bytearray()
        self._fragment_opcode = 0  # TEXT or BINARY while a fragmented message is open
        self._fragments_cost = 0  # counted against max_message_size: see _fragment_cost
        self._text_decoder: codecs.IncrementalDecoder | None = None
        self._error: FrameError | None = None
        self.closed = False
        """Whether the server's close frame has been read."""

    def feed(self, data: bytes | bytearray) -> None:
        """Add bytes read from the stream."""
        if self._pending_size or self._position < len(self._buffer):
            # Held until a parse has enough to get further: then joined once.
            pending = self._pending
            if len(data) >= _COALESCED:
                pending.append(data if type(data) is bytes else bytes(data))
            elif pending and type(pending[-1]) is bytearray:
                pending[-1] += data
            else:
                pending.append(bytearray(data))
            self._pending_size += len(data)
        elif type(data) is bytes:
            self._buffer = data
            self._position = 0
        else:
            self._buffer = bytes(data)  # messages come out as bytes, never views of a buffer
            self._position = 0

    def next_event(self) -> str | bytes | Ping | Pong | Close | None:
        """The next message or control frame, or ``None`` until more bytes are fed."""
        if self._error is not None:
            raise self._error
        try:
            return self._parse()
        except FrameError as error:
            self._error = error
            raise

    def _parse(self) -> str | bytes | Ping | Pong | Close | None:
        while not self.closed:
            if self._pending_size and not self._join_pending():
                return None
            buffer = self._buffer
            start = self._position
            available = len(buffer) - start
            if available < 2:
                if not available:
                    self._buffer = b""  # hold no read's bytes once all are parsed
                    self._position = 0
                self._needed = 2
                return None
            first, second = buffer[start], buffer[start + 1]
            opcode = first & 0x0F
            fin = first & 0x80
            if first & 0x70:
                self._check_reserved_bits(first & 0x70, opcode)
            if second & 0x80:
                raise _protocol_error("the server masked a frame")
            length = second & 0x7F
            header_size = 2
            if length >= 126:
                if opcode >= CLOSE:  # refused now, not once a length it must not have is in
                    self._check_header(opcode, fin, length)
                header_size = 4 if length == 126 else 10
                if available < header_size:
                    self._needed = header_size
                    return None
                length = int.from_bytes(buffer[start + 2 : start + header_size], "big")
                if length < (126 if header_size == 4 else 65536):
                    raise _protocol_error("payload length not in its shortest form")
                if length >> 63:
                    raise _protocol_error("8-byte payload length with the top bit set")
            self._check_header(opcode, fin, length)
            end = start + header_size + length
            if end > len(buffer):
                self._needed = header_size + length
                return None
            payload = buffer[start + header_size : end]
            self._position = end
            self._needed = 0
            event = self._frame(opcode, fin, payload)
            if event is not None:
                return event
        return None

    def _join_pending(self) -> bool:
        """Join the pending bytes onto the buffer once they make up what the parse needs."""
        if len(self._buffer) - self._position + self._pending_size < self._needed:
            return False
        self._buffer = b"".join([memoryview(self._buffer)[self._position :], *self._pending])
        self._position = 0
        self._pending.clear()
        self._pending_size = 0
        return True

    def _check_reserved_bits(self, bits: int, opcode: int) -> None:
        if self._inflater is None:
            raise _protocol_error("reserved bit set (no extension was negotiated)")
        if bits != RSV1:
            raise _protocol_error("reserved bit other than RSV1 set")
        if opcode not in (TEXT, BINARY):
            raise _protocol_error("RSV1 set on a continuation or control frame")
        self._compressed = True

    def _check_header(self, opcode: int, fin: int, length: int) -> None:
        if opcode >= CLOSE:
            if opcode > PONG:
                raise _protocol_error(f"unknown opcode {opcode:#x}")
            if not fin:
                raise _protocol_error("fragmented control frame")
            if length > _MAX_CONTROL_PAYLOAD:
                raise _protocol_error("control frame payload longer than 125 bytes")
            return
        if opcode > BINARY:
            raise _protocol_error(f"unknown opcode {opcode:#x}")
        if opcode == CONTINUATION:
            if not self._fragment_opcode:
                raise _protocol_error("continuation frame with no message to continue")
        elif self._fragment_opcode:
            raise _protocol_error("new message before the last one ended")
        # _fragment_cost, inlined: this runs for every frame
        if self._fragments_cost + (length if length or fin else 1) > self._max_message_size:
            raise FrameError(1009, f"message larger than {self._max_message_size} bytes")

    def _frame(
        self, opcode: int, fin: int, payload: bytes
    ) -> str | bytes | Ping | Pong | Close | None:
        if fin and opcode != CONTINUATION and opcode < CLOSE:
            # The usual case: a whole message in one frame.
            if self._compressed:
                payload = self._inflate(payload, 0, fin)
                self._compressed = False
            return _decode_text(payload) if opcode == TEXT else payload
        if opcode < CLOSE:
            return self._fragment(opcode, fin, payload)
        if opcode == PING:
            return Ping(payload)
        if opcode == PONG:
            return Pong(payload)
        self.closed = True
        return _parse_close(payload)

    def _fragment(self, opcode: int, fin: int, payload: bytes) -> str | bytes | None:
        if opcode != CONTINUATION:
            self._fragment_opcode = opcode
            if opcode == TEXT:
                self._text_decoder = codecs.getincrementaldecoder("utf-8")()
        cost = _fragment_cost(len(payload), fin)
        if self._compressed:
            payload = self._inflate(payload, len(self._fragments), fin)
            if fin:
                self._compressed = False
        decoder = self._text_decoder
        if decoder is not None:
            # Checked frame by frame, so bad UTF-8 is refused before the message ends.
            try:
                decoder.decode(payload, bool(fin))
            except UnicodeDecodeError as exc:
                raise FrameError(1007, f"text message is not valid UTF-8: {exc}") from None
        self._fragments += payload
        self._fragments_cost += cost
        if not fin:
            return None
        fragments = self._fragments
        message = fragments.decode() if decoder is not None else bytes(fragments)
        self._fragments = bytearray()
        self._fragments_cost = 0
        self._fragment_opcode = 0
        self._text_decoder = None
        return message

    def _inflate(self, payload: bytes, held: int, fin: int) -> bytes:
        """``payload`` inflated, within what the message (``held`` bytes so far) may still grow."""
        assert self._inflater is not None
        return self._inflater.inflate(payload, self._max_message_size - held, last=bool(fin))


def _fragment_cost(length: int, fin: int) -> int:
    """What a data frame of a message counts against ``max_message_size``: its payload, and at
    least one byte for a frame that does not end the message, so that a stream of empty
    fragments is refused like any other endless message (a message of exactly the limit,
    ended by an empty frame, is still whole)."""
    return length if length or fin else 1


def _decode_text(payload: bytes) -> str:
    try:
        return payload.decode()
    except UnicodeDecodeError as exc:
        raise FrameError(1007, f"text message is not valid UTF-8: {exc}") from None


def _parse_close(payload: bytes) -> Close:
    if not payload:
        return Close(1005, "")
    if len(payload) == 1:
        raise _protocol_error("close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if code in _LOCAL_ONLY_CODES:
        raise _protocol_error(f"close code {code} is for local use only")
    if not (code in _REGISTERED_CODES or 3000 <= code <= 4999):
        raise _protocol_error(f"close code {code} is reserved or out of range")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError as exc:
        raise FrameError(1007, f"close reason is not valid UTF-8: {exc}") from None
    return Close(code, reason)


# -- writing ----------------------------------------------------------------------------------

_KEY_POOL_SIZE = 4096


class _MaskingKeys:
    """Fresh masking keys from the OS's strong random source, read 1,024 keys at a time."""

    def __init__(self) -> None:
        self._pool = b""
        self._position = 0

    def reset(self) -> None:
        """Drop the keys read so far (a forked child must not send its parent's keys)."""
        self._pool = b""
        self._position = 0

    def next(self) -> bytes:
        position = self._position
        if position >= len(self._pool):
            self._pool = os.urandom(_KEY_POOL_SIZE)
            position = 0
        self._position = position + 4
        return self._pool[position : position + 4]


_masking_keys = _MaskingKeys()
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_masking_keys.reset)


def client_frame(opcode: int, payload: bytes, rsv: int = 0) -> bytes:
    """One whole masked frame carrying ``payload`` (RFC 6455 section 5.3); ``rsv``: RSV bits."""
    length = len(payload)
    first = 0x80 | rsv | opcode
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 65536:
        header = bytes((first, 0xFE)) + length.to_bytes(2, "big")
    else:
        header = bytes((first, 0xFF)) + length.to_bytes(8, "big")
    key = _masking_keys.next()
    return header + key + apply_mask(payload, key)


def apply_mask(data: bytes, key: bytes) -> bytes:
    """``data`` XORed with the 4-byte masking ``key`` (its own inverse: it masks and unmasks)."""
    length = len(data)
    if not length:
        return b""
    # XOR as one big integer: several times faster than any per-byte loop in Python.
    repeated_key = int.from_bytes((key * (length // 4 + 1))[:length], "little")
    return (int.from_bytes(data, "little") ^ repeated_key).to_bytes(length, "little")


def close_frame(code: int, reason: str | None) -> bytes:
    """A close frame; 1005 sends no code, other local-only codes become 1000."""
    if code == 1005:
        return client_frame(CLOSE, b"")
    if code in _LOCAL_ONLY_CODES:
        code = 1000
    encoded = (reason or "").encode()
    if len(encoded) > _MAX_CLOSE_REASON:  # cut at a character boundary
        encoded = encoded[:_MAX_CLOSE_REASON].decode(errors="ignore").encode()
    return client_frame(CLOSE, code.to_bytes(2, "big") + encoded)
