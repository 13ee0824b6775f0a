"""The sans-IO frame codec (``trealtime._transport._frames``), checked against wsproto.

- a differential property: any stream of whole server frames (mostly valid, some breaking one
  rule), cut anywhere, gives the same messages, pings, pongs and close from
  :class:`FrameReader` as from wsproto's client; and the same for a stream cut off anywhere,
  read with a finite size limit;
- targeted tests of the reader: frames cut finely, the size limit, sticky errors, nothing after a
  close, feeding again before the events are taken, ``bytearray`` input;
- the writers, parsed back with wsproto's server-side frame parser.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st
from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, TextMessage
from wsproto.events import Ping as WsprotoPing
from wsproto.events import Pong as WsprotoPong
from wsproto.frame_protocol import Frame, FrameProtocol, Opcode

from trealtime._transport._frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Close,
    FrameError,
    FrameReader,
    Ping,
    Pong,
    client_frame,
    close_frame,
)

Event = str | bytes | Ping | Pong | Close
Outcome = tuple[object, ...]  # ("text", str), ("ping", bytes), ("close", code, reason), ...

UNLIMITED = 2**62
MAX_REASON = 123  # bytes of close reason that fit in a control frame after the code

DIFFERENTIAL = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- server frames, built by hand ---------------------------------------------------------------


@dataclass(frozen=True)
class WireFrame:
    """One server frame, free to break any rule (the defaults make a valid one).

    ``length_size`` is how many extra bytes carry the length (0, 2 or 8; shortest if ``None``);
    ``declared_length`` claims a length other than the payload's (to send a header alone).
    """

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0
    mask: bytes | None = None
    length_size: int | None = None
    declared_length: int | None = None

    def __repr__(self) -> str:  # payloads of 64 KiB would drown a failing example
        shown = repr(self.payload) if len(self.payload) <= 40 else f"<{len(self.payload)} bytes>"
        fields = [f"{self.opcode:#x}", shown]
        defaults = WireFrame(self.opcode, self.payload)
        fields += [
            f"{name}={getattr(self, name)!r}"
            for name in ("fin", "rsv", "mask", "length_size", "declared_length")
            if getattr(self, name) != getattr(defaults, name)
        ]
        return f"WireFrame({', '.join(fields)})"

    def encode(self) -> bytes:
        length = len(self.payload) if self.declared_length is None else self.declared_length
        size = self.length_size
        if size is None:
            size = 0 if length < 126 else 2 if length < 65536 else 8
        marker = {0: length, 2: 126, 8: 127}[size]
        header = bytes(
            [
                (0x80 if self.fin else 0) | self.rsv << 4 | self.opcode,
                (0x80 if self.mask is not None else 0) | marker,
            ]
        )
        header += length.to_bytes(size, "big") if size else b""
        if self.mask is None:
            return header + self.payload
        return header + self.mask + xor_mask(self.payload, self.mask)


def xor_mask(data: bytes, key: bytes) -> bytes:
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(data))


def encode_all(frames: Iterable[WireFrame]) -> bytes:
    return b"".join(frame.encode() for frame in frames)


def header_only(opcode: int, length: int, *, fin: bool = True) -> bytes:
    """The header of a frame whose ``length`` bytes of payload are not sent (yet)."""
    return WireFrame(opcode, fin=fin, declared_length=length).encode()


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


def cut_at(data: bytes, points: Iterable[int]) -> list[bytes]:
    """``data`` cut at ``points`` (in any order, repeats giving empty pieces)."""
    bounds = [0, *sorted(points), len(data)]
    return [data[start:end] for start, end in pairwise(bounds)]


def random_bytes(size: int, seed: int) -> bytes:
    """Unpatterned bytes, reproducible from ``seed`` (cheap at any size, unlike st.binary)."""
    return random.Random(seed).randbytes(size)


# -- strategies -----------------------------------------------------------------------------------

SEEDS = st.integers(0, 2**32)
TEXTS = st.text(max_size=40) | st.text(alphabet="aé€😀", max_size=40)  # multi-byte, surely
CONTROL_PAYLOADS = st.binary(max_size=125)
CONTROL_OPCODES = st.sampled_from([PING, PONG, CLOSE])
UNKNOWN_OPCODES = st.sampled_from([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
DATA_OPCODES = st.sampled_from([TEXT, BINARY])
REGISTERED_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013]
VALID_CLOSE_CODES = st.sampled_from(REGISTERED_CODES) | st.integers(3000, 4999)
BAD_CLOSE_CODES = st.sampled_from([0, 999, 1004, 1005, 1006, 1014, 1015, 2999, 5000, 65535])
BAD_UTF8 = st.sampled_from(
    # stray byte, lone continuation, overlong, surrogate, past U+10FFFF, cut short
    [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
)


@st.composite
def data_payloads(draw: st.DrawFn, opcode: int) -> bytes:
    """Valid payload for a text or binary message: mostly short, some past 125 or 65535 bytes."""
    size_class = draw(st.integers(0, 19))
    if opcode == TEXT:
        text = draw(TEXTS if size_class < 15 else st.text(min_size=40, max_size=150))
        return ((text + "€") * 22_000 if size_class == 19 else text).encode()
    if size_class == 19:
        return random_bytes(draw(st.integers(65536, 66000)), draw(SEEDS))
    return draw(
        st.binary(max_size=40) if size_class < 15 else st.binary(min_size=126, max_size=400)
    )


def splits(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """``data`` cut into 2 to 5 pieces at any byte (inside a UTF-8 character too)."""
    points = st.lists(st.integers(0, len(data)), min_size=1, max_size=4)
    return points.map(lambda cuts: cut_at(data, cuts))


@st.composite
def control_frames(draw: st.DrawFn) -> WireFrame:
    """A valid ping or pong."""
    return WireFrame(draw(st.sampled_from([PING, PONG])), draw(CONTROL_PAYLOADS))


@st.composite
def fragmented(
    draw: st.DrawFn, opcode: int, payload: bytes, restart: int | None = None
) -> list[WireFrame]:
    """A message in fragments, pings and pongs between some; ``restart`` opens a new message
    where the second fragment should have been a continuation."""
    parts = draw(splits(payload))
    frames = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        frame_opcode = opcode if index == 0 else CONTINUATION
        if index == 1 and restart is not None:
            frame_opcode = restart
        frames.append(WireFrame(frame_opcode, part, fin=last))
        if not last and draw(st.integers(0, 3)) == 0:
            frames.append(draw(control_frames()))
    return frames


@st.composite
def whole_messages(draw: st.DrawFn) -> list[WireFrame]:
    opcode = draw(DATA_OPCODES)
    return [WireFrame(opcode, draw(data_payloads(opcode)))]


@st.composite
def fragmented_messages(draw: st.DrawFn) -> list[WireFrame]:
    opcode = draw(DATA_OPCODES)
    return draw(fragmented(opcode, draw(data_payloads(opcode))))


@st.composite
def valid_closes(draw: st.DrawFn) -> list[WireFrame]:
    if draw(st.integers(0, 4)) == 0:
        return [WireFrame(CLOSE)]
    reason = draw(st.text(max_size=30)).encode()  # at most 120 bytes
    return [WireFrame(CLOSE, close_payload(draw(VALID_CLOSE_CODES), reason))]


# Each violation breaks exactly one rule, so both parsers must agree on the close code.


@st.composite
def simple_frames(draw: st.DrawFn) -> WireFrame:
    """A valid frame of at most 300 bytes, to break a rule of: text, binary, ping or pong."""
    opcode = draw(st.sampled_from([TEXT, BINARY, PING, PONG]))
    if opcode == TEXT:
        return WireFrame(opcode, draw(st.text(max_size=80)).encode())
    return WireFrame(
        opcode, draw(CONTROL_PAYLOADS if opcode != BINARY else st.binary(max_size=300))
    )


@st.composite
def reserved_bits(draw: st.DrawFn) -> list[WireFrame]:
    return [replace(draw(simple_frames()), rsv=draw(st.integers(1, 7)))]


@st.composite
def masked(draw: st.DrawFn) -> list[WireFrame]:
    return [replace(draw(simple_frames()), mask=draw(st.binary(min_size=4, max_size=4)))]


@st.composite
def non_minimal_lengths(draw: st.DrawFn) -> list[WireFrame]:
    """A length in 2 bytes that fits in 7 bits, or in 8 bytes that fits in 7 bits or 2 bytes."""
    frame = draw(simple_frames())
    if len(frame.payload) < 126 and draw(st.booleans()):
        return [replace(frame, length_size=2)]
    if draw(st.booleans()):
        size = draw(st.sampled_from([126, 65535]) | st.integers(126, 1000))
        frame = WireFrame(BINARY, random_bytes(size, draw(SEEDS)))
    return [replace(frame, length_size=8)]


@st.composite
def top_bit_lengths(draw: st.DrawFn) -> list[WireFrame]:
    length = 2**63 + draw(st.integers(0, 2**63 - 1))
    return [WireFrame(draw(DATA_OPCODES), declared_length=length)]


@st.composite
def unknown_opcodes(draw: st.DrawFn) -> list[WireFrame]:
    return [WireFrame(draw(UNKNOWN_OPCODES), draw(CONTROL_PAYLOADS), fin=draw(st.booleans()))]


@st.composite
def fragmented_controls(draw: st.DrawFn) -> list[WireFrame]:
    return [WireFrame(draw(CONTROL_OPCODES), draw(CONTROL_PAYLOADS), fin=False)]


@st.composite
def long_controls(draw: st.DrawFn) -> list[WireFrame]:
    reason_size = draw(st.sampled_from([124, 125]) | st.integers(124, 200))  # 126 bytes and up
    return [WireFrame(draw(CONTROL_OPCODES), close_payload(1000, b"r" * reason_size))]


@st.composite
def orphan_continuations(draw: st.DrawFn) -> list[WireFrame]:
    return [WireFrame(CONTINUATION, draw(st.binary(max_size=40)), fin=draw(st.booleans()))]


@st.composite
def restarted_messages(draw: st.DrawFn) -> list[WireFrame]:
    opcode = draw(DATA_OPCODES)
    return draw(fragmented(opcode, draw(data_payloads(opcode)), restart=draw(DATA_OPCODES)))


@st.composite
def invalid_texts(draw: st.DrawFn) -> list[WireFrame]:
    """Text with one bad UTF-8 sequence, in one frame or cut into fragments anywhere."""
    payload = draw(TEXTS).encode() + draw(BAD_UTF8) + draw(TEXTS).encode()
    if draw(st.booleans()):
        return [WireFrame(TEXT, payload)]
    return draw(fragmented(TEXT, payload))


@st.composite
def one_byte_closes(draw: st.DrawFn) -> list[WireFrame]:
    return [WireFrame(CLOSE, draw(st.binary(min_size=1, max_size=1)))]


@st.composite
def bad_close_codes(draw: st.DrawFn) -> list[WireFrame]:
    reason = draw(st.text(max_size=10)).encode()
    return [WireFrame(CLOSE, close_payload(draw(BAD_CLOSE_CODES), reason))]


@st.composite
def bad_close_reasons(draw: st.DrawFn) -> list[WireFrame]:
    reason = draw(st.text(max_size=10)).encode() + draw(BAD_UTF8)
    return [WireFrame(CLOSE, close_payload(draw(VALID_CLOSE_CODES), reason))]


VIOLATIONS = st.one_of(
    reserved_bits(),
    masked(),
    non_minimal_lengths(),
    top_bit_lengths(),
    unknown_opcodes(),
    fragmented_controls(),
    long_controls(),
    orphan_continuations(),
    restarted_messages(),
    invalid_texts(),
    one_byte_closes(),
    bad_close_codes(),
    bad_close_reasons(),
)


@st.composite
def stream_steps(draw: st.DrawFn, violations: bool) -> list[WireFrame]:
    """What a server writes next: 85% valid (messages whole or in fragments, pings, pongs, a
    close), else one broken rule."""
    roll = draw(st.integers(0, 99 if violations else 84))
    if roll < 40:
        return draw(whole_messages())
    if roll < 65:
        return draw(fragmented_messages())
    if roll < 80:
        return [draw(control_frames())]
    if roll < 85:
        return draw(valid_closes())
    return draw(VIOLATIONS)


def server_streams(*, violations: bool = True) -> st.SearchStrategy[list[WireFrame]]:
    """The frames a server writes, each whole (so the stream ends on a frame boundary)."""
    steps = st.lists(stream_steps(violations), min_size=1, max_size=6)
    return steps.map(lambda nested: [frame for step in nested for frame in step])


@st.composite
def cut_points(draw: st.DrawFn, size: int) -> list[int]:
    """Where to cut a stream of ``size`` bytes: at random points, and at every byte over a
    random stretch of up to 300 bytes."""
    points = draw(st.lists(st.integers(0, size), max_size=20))
    start = draw(st.integers(0, size))
    width = draw(st.integers(0, 300))
    return sorted({*points, *range(start, min(start + width, size))})


def chunked(data: st.DataObject, stream: bytes) -> list[bytes]:
    """``stream`` cut where ``data`` draws (the points, not the bytes, show in a failure)."""
    return cut_at(stream, data.draw(cut_points(len(stream)), label="cut points"))


# -- reading with FrameReader and with wsproto ----------------------------------------------------


def drain(reader: FrameReader) -> list[Event]:
    """Every event the reader can give from what it was fed so far."""
    events = []
    while (event := reader.next_event()) is not None:
        events.append(event)
    return events


def read(data: bytes, max_message_size: int = UNLIMITED) -> list[Event]:
    """The events from feeding ``data`` in one piece."""
    reader = FrameReader(max_message_size)
    reader.feed(data)
    return drain(reader)


def describe(event: Event) -> Outcome:
    """An event as an outcome; messages must be exactly ``str`` or ``bytes``."""
    if type(event) is str:
        return ("text", event)
    if type(event) is bytes:
        return ("binary", event)
    if isinstance(event, Ping | Pong):
        assert type(event.payload) is bytes
        return (type(event).__name__.lower(), event.payload)
    assert isinstance(event, Close), f"unexpected event {event!r}"
    return ("close", event.code, event.reason)


def reader_outcomes(chunks: Sequence[bytes], max_message_size: int = UNLIMITED) -> list[Outcome]:
    """What FrameReader makes of ``chunks``, ending with ("error", code) on a violation."""
    reader = FrameReader(max_message_size)
    outcomes = []
    for chunk in chunks:
        reader.feed(chunk)
        try:
            while (event := reader.next_event()) is not None:
                outcomes.append(describe(event))
        except FrameError as error:
            outcomes.append(("error", error.code))
            break
    return outcomes


def wsproto_outcomes(chunks: Sequence[bytes], max_message_size: int = UNLIMITED) -> list[Outcome]:
    """What wsproto's client makes of ``chunks``: whole messages, pings, pongs, then the close
    (a server's close leaves the connection REMOTE_CLOSING; a violation leaves it OPEN).

    wsproto has no size limit, so ``max_message_size`` is applied here the way a client of it
    would (trio-websocket does): a message whose bytes so far pass it ends with ("error", 1009).
    Like FrameReader, a frame that does not end its message counts at least one byte.
    """
    connection = Connection(ConnectionType.CLIENT)
    outcomes: list[Outcome] = []
    texts: list[str] = []
    blobs: list[bytes] = []
    cost = frame_size = 0
    for chunk in chunks:
        connection.receive_data(chunk)
        for event in connection.events():
            if isinstance(event, TextMessage | BytesMessage):
                size = len(event.data.encode() if isinstance(event.data, str) else event.data)
                cost += size
                frame_size += size
                if event.frame_finished:
                    if not (frame_size or event.message_finished):
                        cost += 1
                    frame_size = 0
                if cost > max_message_size:
                    outcomes.append(("error", 1009))
                    return outcomes
                if event.message_finished:
                    cost = 0
            if isinstance(event, TextMessage):
                texts.append(event.data)
                if event.message_finished:
                    outcomes.append(("text", "".join(texts)))
                    texts.clear()
            elif isinstance(event, BytesMessage):
                blobs.append(bytes(event.data))
                if event.message_finished:
                    outcomes.append(("binary", b"".join(blobs)))
                    blobs.clear()
            elif isinstance(event, WsprotoPing | WsprotoPong):
                outcomes.append((type(event).__name__.lower(), bytes(event.payload)))
            else:
                assert isinstance(event, CloseConnection), f"unexpected event {event!r}"
                if connection.state is ConnectionState.REMOTE_CLOSING:
                    outcomes.append(("close", int(event.code), event.reason or ""))
                else:
                    outcomes.append(("error", int(event.code)))
                return outcomes
    return outcomes


@DIFFERENTIAL
@given(frames=server_streams(), data=st.data())
def test_reader_agrees_with_wsproto(frames: list[WireFrame], data: st.DataObject) -> None:
    """Any stream of whole server frames, cut anywhere, gives the same messages, pings, pongs and
    close (or close code for a violation) from FrameReader as from wsproto's client."""
    chunks = chunked(data, encode_all(frames))
    expected = wsproto_outcomes(chunks)
    kind, *values = expected[-1] if expected else ("nothing",)
    label(f"ends with {kind} {values[0]}" if kind in ("close", "error") else f"ends with {kind}")
    assert reader_outcomes(chunks) == expected


LIMITS = st.integers(0, 450) | st.integers(65_500, 66_500)


@DIFFERENTIAL
@given(frames=server_streams(), limit=LIMITS, data=st.data())
def test_truncated_stream_with_a_size_limit_agrees_with_wsproto(
    frames: list[WireFrame], limit: int, data: st.DataObject
) -> None:
    """Any stream of server frames, cut off anywhere and fed in pieces to a reader with a finite
    ``max_message_size``, gives what wsproto's client gives with that limit applied.

    One difference is allowed: on a prefix, one side may refuse a frame the other is still
    waiting for. FrameReader refuses from a frame's header (an oversized message, a header that
    breaks a rule) where wsproto may wait for more bytes; wsproto checks UTF-8 as a text frame's
    payload arrives where FrameReader waits for the whole frame. Then the stream whole is
    refused at the same point by both, with the same code, or with 1009 by FrameReader where
    wsproto finds another fault in the payload of a message over the limit.
    """
    stream = encode_all(frames)
    prefix = stream[: data.draw(st.integers(0, len(stream)), label="cut off at")]
    chunks = chunked(data, prefix)
    ours = reader_outcomes(chunks, limit)
    theirs = wsproto_outcomes(chunks, limit)
    if ours != theirs:
        label("one side refused first")
        pairs = enumerate(zip(ours, theirs, strict=False))
        agreed = next((i for i, (a, b) in pairs if a != b), min(len(ours), len(theirs)))
        assert max(len(ours), len(theirs)) == agreed + 1, (ours, theirs)
        assert all(kind == "error" for kind, *_ in ours[agreed:] + theirs[agreed:])
        whole_ours = reader_outcomes([stream], limit)
        whole_theirs = wsproto_outcomes([stream], limit)
        assert whole_ours[:agreed] == whole_theirs[:agreed] == ours[:agreed]
        assert whole_ours[agreed][0] == whole_theirs[agreed][0] == "error"
        assert whole_ours[agreed] in (whole_theirs[agreed], ("error", 1009))
    else:
        label(f"agree, ending with {ours[-1][0] if ours else 'nothing'}")


def assert_both_read(frame: WireFrame, *expected: Outcome) -> None:
    """wsproto and FrameReader both read ``frame`` as ``expected``."""
    data = frame.encode()
    assert wsproto_outcomes([data]) == list(expected), "wsproto disagrees with this table"
    assert reader_outcomes([data]) == list(expected)


R = b"r" * 123
BOUNDARIES = {
    "ping of 125 bytes": (WireFrame(PING, R + b"pp"), ("ping", R + b"pp")),
    "ping of 126 bytes": (WireFrame(PING, R + b"ppp"), ("error", 1002)),
    "close of 125 bytes": (WireFrame(CLOSE, close_payload(1000, R)), ("close", 1000, R.decode())),
    "close of 126 bytes": (WireFrame(CLOSE, close_payload(1000, R + b"r")), ("error", 1002)),
    "close of 1 byte": (WireFrame(CLOSE, b"\x03"), ("error", 1002)),
    "empty close": (WireFrame(CLOSE), ("close", 1005, "")),
    "2-byte length of 125": (WireFrame(BINARY, R + b"bb", length_size=2), ("error", 1002)),
    "2-byte length of 126": (WireFrame(BINARY, R + b"bbb", length_size=2), ("binary", R + b"bbb")),
    "8-byte length of 125": (WireFrame(BINARY, R + b"bb", length_size=8), ("error", 1002)),
    "8-byte length of 65535": (WireFrame(BINARY, bytes(65535), length_size=8), ("error", 1002)),
    "8-byte length of 65536": (WireFrame(BINARY, bytes(65536)), ("binary", bytes(65536))),
    "8-byte length, top bit": (WireFrame(BINARY, declared_length=2**63), ("error", 1002)),
    "masked, empty": (WireFrame(BINARY, mask=b"\0\0\0\0"), ("error", 1002)),
    "text cut inside a character": (WireFrame(TEXT, "€".encode()[:2]), ("error", 1007)),
    "surrogate in text": (WireFrame(TEXT, b"\xed\xa0\x80"), ("error", 1007)),
}


@pytest.mark.parametrize(("frame", "outcome"), BOUNDARIES.values(), ids=BOUNDARIES.keys())
def test_boundaries_read_as_wsproto_reads_them(frame: WireFrame, outcome: Outcome) -> None:
    """One frame at each edge of a rule is read the same by both, as the table says."""
    assert_both_read(frame, outcome)


@pytest.mark.parametrize("rsv", [1, 2, 4])
def test_every_reserved_bit_is_refused(rsv: int) -> None:
    """RSV1, RSV2 and RSV3 are each refused (no extension was negotiated)."""
    assert_both_read(WireFrame(BINARY, b"x", rsv=rsv), ("error", 1002))


@pytest.mark.parametrize("code", [*REGISTERED_CODES, 3000, 3999, 4000, 4999])
def test_valid_close_codes_are_read(code: int) -> None:
    """Every registered code, and the whole 3000-4999 range, reads as the server's close."""
    assert_both_read(WireFrame(CLOSE, close_payload(code, b"why")), ("close", code, "why"))


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2000, 2999, 5000, 65535]
)
def test_reserved_and_local_close_codes_are_refused(code: int) -> None:
    """Reserved, unregistered, local-only and out-of-range codes are a protocol error."""
    assert_both_read(WireFrame(CLOSE, close_payload(code)), ("error", 1002))


@PROPERTY
@given(frames=server_streams(violations=False), data=st.data())
def test_events_do_not_depend_on_when_they_are_taken(
    frames: list[WireFrame], data: st.DataObject
) -> None:
    """Feeding again before the last feed's events are all taken loses or reorders nothing."""
    stream = encode_all(frames)
    reader = FrameReader(UNLIMITED)
    events = []
    for chunk in chunked(data, stream):
        reader.feed(chunk)
        for _ in range(data.draw(st.integers(0, 2))):
            if (event := reader.next_event()) is not None:
                events.append(event)
    events += drain(reader)
    assert [describe(event) for event in events] == wsproto_outcomes([stream])


# -- the reader, case by case ---------------------------------------------------------------------

MULTI_BYTE_TEXT = "aé€😀" * 30  # 300 bytes, every cut but a few lands inside a character


@pytest.mark.parametrize("text", ["", "é", MULTI_BYTE_TEXT], ids=["empty", "short", "long"])
def test_frame_fed_byte_by_byte_gives_one_message(text: str) -> None:
    """A frame fed one byte at a time gives nothing until its last byte, then one message."""
    frame = WireFrame(TEXT, text.encode()).encode()
    *head, last = cut_at(frame, range(1, len(frame)))
    reader = FrameReader(UNLIMITED)
    for byte in head:
        reader.feed(byte)
        assert reader.next_event() is None
    reader.feed(last)
    assert drain(reader) == [text]


@pytest.mark.parametrize("take_events", [True, False], ids=["drained", "batched"])
def test_large_message_in_small_chunks_is_joined_once(take_events: bool) -> None:
    """A 5 MB message fed 4 KiB at a time comes out whole, and its chunks are held apart until
    then (not joined onto a growing buffer at every feed), whether or not events are taken
    between feeds."""
    payload = random_bytes(5 * 2**20, seed=5)
    stream = WireFrame(BINARY, payload).encode()
    chunks = cut_at(stream, range(4096, len(stream), 4096))
    reader = FrameReader(UNLIMITED)
    for index, chunk in enumerate(chunks[:-1]):
        reader.feed(chunk)
        if take_events:
            assert reader.next_event() is None
        assert len(reader._pending) == index  # every chunk after the first waits, unjoined
        assert len(reader._buffer) == len(chunks[0])
    reader.feed(chunks[-1])
    [message] = drain(reader)
    assert type(message) is bytes
    assert message == payload


@pytest.mark.parametrize("size", [100, 1000, 70000], ids=["7-bit", "16-bit", "64-bit"])
def test_message_at_the_limit_is_delivered(size: int) -> None:
    """A message of exactly ``max_message_size`` bytes, whole or in fragments, is delivered."""
    payload = random_bytes(size, seed=size)
    half = size // 2
    fragments = [
        WireFrame(BINARY, payload[:half], fin=False),
        WireFrame(CONTINUATION, payload[half:]),
    ]
    assert read(WireFrame(BINARY, payload).encode(), max_message_size=size) == [payload]
    assert read(encode_all(fragments), max_message_size=size) == [payload]


def assert_refused(reader: FrameReader, code: int) -> FrameError:
    """The reader's next event is a FrameError with ``code``; the error is returned."""
    with pytest.raises(FrameError) as caught:
        reader.next_event()
    assert caught.value.code == code
    return caught.value


@pytest.mark.parametrize("limit", [100, 1000, 70000], ids=["7-bit", "16-bit", "64-bit"])
def test_frame_over_the_limit_is_refused_from_its_header(limit: int) -> None:
    """A frame one byte over the limit is refused (1009) once its header is in, no payload."""
    reader = FrameReader(limit)
    reader.feed(header_only(TEXT, limit + 1))
    assert_refused(reader, 1009)


def test_fragmented_message_over_the_limit_is_refused_at_the_fragment_that_breaks_it() -> None:
    """Fragments count together (control frames between them do not); the header of the
    fragment that takes the message past the limit is refused with 1009."""
    reader = FrameReader(1000)
    ping = WireFrame(PING, b"p" * 125)
    fragments = [
        WireFrame(BINARY, b"a" * 400, fin=False),
        ping,
        WireFrame(CONTINUATION, b"b" * 400, fin=False),
    ]
    reader.feed(encode_all(fragments))
    assert drain(reader) == [Ping(b"p" * 125)]
    reader.feed(header_only(CONTINUATION, 201))
    assert_refused(reader, 1009)


BROKEN_STREAMS = {
    "reserved bit": (WireFrame(BINARY, b"x", rsv=4).encode(), 1002),
    "invalid UTF-8": (WireFrame(TEXT, b"\xff").encode(), 1007),
    "too big": (header_only(BINARY, UNLIMITED + 1), 1009),
}


@pytest.mark.parametrize(("stream", "code"), BROKEN_STREAMS.values(), ids=BROKEN_STREAMS.keys())
def test_error_is_raised_again_by_every_later_call(stream: bytes, code: int) -> None:
    """After a FrameError, every later next_event raises the same error, whatever is fed."""
    reader = FrameReader(UNLIMITED)
    reader.feed(WireFrame(TEXT, b"before").encode() + stream)
    assert reader.next_event() == "before"
    error = assert_refused(reader, code)
    reader.feed(WireFrame(TEXT, b"after").encode())
    for _ in range(3):
        with pytest.raises(FrameError) as again:
            reader.next_event()
        assert again.value is error


def test_nothing_is_read_after_a_close() -> None:
    """After the server's close, next_event gives None, whatever valid or broken bytes follow."""
    reader = FrameReader(UNLIMITED)
    close = WireFrame(CLOSE, close_payload(1001, "bye €".encode()))
    reader.feed(encode_all([close, WireFrame(TEXT, b"late"), WireFrame(PING)]))
    assert drain(reader) == [Close(1001, "bye €")]
    assert reader.closed
    reader.feed(encode_all([WireFrame(BINARY, b"later"), WireFrame(BINARY, rsv=7)]))
    assert reader.next_event() is None


BIG = WireFrame(BINARY, random_bytes(70000, seed=7)).encode()  # 64-bit length, 70010 bytes
SMALL = WireFrame(TEXT, "small é".encode()).encode()
PING_FRAME = WireFrame(PING, b"ping").encode()
DRAIN = None  # a step that takes every event so far; other steps are feeds
FEED_ORDERS: dict[str, list[bytes | None]] = {
    "complete, then next, before draining": [BIG[:100], DRAIN, BIG[100:], SMALL, PING_FRAME],
    "pending pieces, then next": [BIG[:100], DRAIN, BIG[100:500], BIG[500:], SMALL + PING_FRAME],
    "header in pieces": [BIG[:1], DRAIN, BIG[1:5], DRAIN, BIG[5:9], BIG[9:], SMALL, PING_FRAME],
    "small first, undrained": [SMALL, BIG[:100], DRAIN, BIG[100:], DRAIN, PING_FRAME],
    "small drained, then big in two": [SMALL, DRAIN, BIG[:-1], BIG[-1:] + PING_FRAME],
    "small with big's start": [SMALL + BIG[:100], DRAIN, BIG[100:-1], DRAIN, BIG[-1:], PING_FRAME],
    "never drained": [SMALL, BIG[:1], BIG[1:100], BIG[100:], PING_FRAME],
}


@pytest.mark.parametrize("steps", FEED_ORDERS.values(), ids=FEED_ORDERS.keys())
def test_feeding_again_before_draining_loses_nothing(steps: list[bytes | None]) -> None:
    """Feeds before, between and after partial reads all reach the events, in order."""
    reader = FrameReader(UNLIMITED)
    events = []
    for step in steps:
        if step is DRAIN:
            events += drain(reader)
        else:
            reader.feed(step)
    events += drain(reader)
    fed = b"".join(step for step in steps if step is not None)
    assert len(events) == 3
    assert [describe(event) for event in events] == wsproto_outcomes([fed])


def test_bytearray_input_gives_bytes_and_str() -> None:
    """bytearray input is copied: events are exactly bytes or str, unchanged when the caller
    reuses its bytearray."""
    stream = encode_all(
        [WireFrame(TEXT, "tëxt".encode()), WireFrame(BINARY, b"blob"), WireFrame(PING, b"hi")]
    )
    reader = FrameReader(UNLIMITED)
    events = []
    for piece in cut_at(stream, [3, 9]):
        scratch = bytearray(piece)
        reader.feed(scratch)
        scratch[:] = bytes(len(scratch))  # the caller's read buffer, reused
        events += drain(reader)
    assert [describe(event) for event in events] == [  # describe checks the exact types
        ("text", "tëxt"),
        ("binary", b"blob"),
        ("ping", b"hi"),
    ]


# -- the writers ----------------------------------------------------------------------------------


def parse_client_frames(data: bytes) -> list[Frame]:
    """``data`` parsed by wsproto as a server would: it must be masked, minimal and whole."""
    protocol = FrameProtocol(client=False, extensions=[])
    protocol.receive_bytes(data)
    return list(protocol.received_frames())


def masking_key(frame: bytes) -> bytes:
    assert frame[1] & 0x80, "the mask bit is not set"
    start = {126: 4, 127: 10}.get(frame[1] & 0x7F, 2)
    return frame[start : start + 4]


PAYLOAD_SIZES = st.sampled_from([0, 1, 125, 126, 65535, 65536, 70000]) | st.integers(0, 1000)
CLIENT_PAYLOADS = st.builds(random_bytes, PAYLOAD_SIZES, SEEDS) | st.binary(max_size=300)


@PROPERTY
@given(payload=CLIENT_PAYLOADS)
def test_client_frame_round_trips_through_wsproto(payload: bytes) -> None:
    """A binary frame of any size reads back whole, in one masked frame, in shortest form."""
    frame = client_frame(BINARY, payload)
    masking_key(frame)
    assert frame[0] == 0x80 | BINARY
    assert parse_client_frames(frame) == [Frame(Opcode.BINARY, payload, True, True)]


@PROPERTY
@given(text=st.text(max_size=300), control=CONTROL_PAYLOADS)
def test_text_and_control_frames_round_trip_through_wsproto(text: str, control: bytes) -> None:
    """Text, ping and pong frames read back as what was written."""
    frames = [
        client_frame(TEXT, text.encode()),
        client_frame(PING, control),
        client_frame(PONG, control),
    ]
    assert parse_client_frames(b"".join(frames)) == [
        Frame(Opcode.TEXT, text, True, True),
        Frame(Opcode.PING, control, True, True),
        Frame(Opcode.PONG, control, True, True),
    ]


def test_masking_keys_are_fresh() -> None:
    """Two frames of one payload differ in key and in bytes; keys stay 4 bytes and varied
    across refills of the key pool (1,024 keys each)."""
    first, second = client_frame(BINARY, b"same payload"), client_frame(BINARY, b"same payload")
    assert masking_key(first) != masking_key(second)
    assert first[6:] != second[6:]
    frames = [client_frame(PING, b"") for _ in range(3000)]
    assert all(len(frame) == 6 for frame in frames)
    assert len({masking_key(frame) for frame in frames}) > 2900
    assert len(parse_client_frames(b"".join(frames))) == 3000


def read_close(frame: bytes) -> tuple[int, str]:
    """The (code, reason) wsproto reads from one close frame."""
    [parsed] = parse_client_frames(frame)
    assert parsed.opcode is Opcode.CLOSE
    assert isinstance(parsed.payload, tuple)
    code, reason = parsed.payload
    return int(code), reason


def fitting_prefix(reason: str) -> str:
    """The longest prefix of ``reason`` whose UTF-8 takes at most 123 bytes."""
    prefix = ""
    for char in reason:
        if len((prefix + char).encode()) > MAX_REASON:
            break
        prefix += char
    return prefix


LONG_REASONS = st.text(max_size=200) | st.text(alphabet="aé€😀", max_size=200)


@PROPERTY
@given(code=VALID_CLOSE_CODES, reason=LONG_REASONS)
def test_close_frame_round_trips(code: int, reason: str) -> None:
    """Code and reason read back; a long reason is cut to 123 bytes between characters."""
    assert read_close(close_frame(code, reason)) == (code, fitting_prefix(reason))


@pytest.mark.parametrize(
    ("reason", "kept"),
    [("a" + "€" * 50, "a" + "€" * 40), ("é" * 70, "é" * 61), ("ab" + "😀" * 40, "ab" + "😀" * 30)],
    ids=["3-byte", "2-byte", "4-byte"],
)
def test_close_reason_is_cut_inside_no_character(reason: str, kept: str) -> None:
    """When byte 123 falls inside a character, the whole character is left out."""
    assert len(reason.encode()) > MAX_REASON
    assert read_close(close_frame(1000, reason)) == (1000, kept)


def test_close_frame_1005_has_no_payload() -> None:
    """Code 1005 ("no code") sends an empty close frame, whatever the reason."""
    frame = close_frame(1005, "ignored")
    assert len(frame) == 6
    assert read_close(frame) == (1005, "")


@pytest.mark.parametrize("code", [1006, 1015])
def test_local_only_codes_are_sent_as_1000(code: int) -> None:
    """1006 and 1015 never go on the wire: they are sent as 1000, the reason kept."""
    assert read_close(close_frame(code, "why")) == (1000, "why")


def test_close_frame_without_reason() -> None:
    """No reason sends the code alone."""
    frame = close_frame(3001, None)
    assert len(frame) == 8
    assert read_close(frame) == (3001, "")


def test_no_read_is_held_once_everything_is_parsed() -> None:
    """After the last whole frame of a read is taken, the reader keeps none of its bytes (an
    idle session must not pin its last 64 KiB read); a partial frame is kept."""
    reader = FrameReader(UNLIMITED)
    whole = WireFrame(BINARY, b"x" * 60_000).encode()
    reader.feed(whole + whole[:3])
    assert drain(reader) == [b"x" * 60_000]
    assert reader._buffer[reader._position :] == whole[:3]
    reader.feed(whole[3:])
    assert drain(reader) == [b"x" * 60_000]
    assert reader._buffer == b""
