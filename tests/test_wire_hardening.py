"""The client's WebSocket layer against a hostile or broken server: memory stays bounded by the
limits whatever arrives, forked processes draw their own masking keys, and random bytes fed to
the frame reader and the handshake parser raise nothing but the library's protocol errors.

Memory is measured with ``tracemalloc`` (what the reader holds and its peak while it reads),
against a bound proportional to ``max_message_size``; the streams are built before tracing
starts, so only what the reader allocates is counted.
"""

from __future__ import annotations

import itertools
import os
import sys
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trealtime._transport._deflate import Deflate, Inflater, NegotiationError, agree
from trealtime._transport._frames import (
    BINARY,
    CONTINUATION,
    TEXT,
    FrameError,
    FrameReader,
    client_frame,
)
from trealtime._transport._handshake import (
    Accepted,
    ClientHandshake,
    HandshakeError,
    Rejected,
    accept_value,
)

KIB = 1024
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """An unmasked server frame."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return bytes((first, 126)) + length.to_bytes(2, "big") + payload
    return bytes((first, 127)) + length.to_bytes(8, "big") + payload


@contextmanager
def traced() -> Iterator[Callable[[], tuple[int, int]]]:
    """Trace allocations in the block; the callable gives (held now, peak) in bytes."""
    tracemalloc.start()
    try:
        yield tracemalloc.get_traced_memory
    finally:
        tracemalloc.stop()


def read_until_refused(reader: FrameReader, stream: bytes) -> FrameError:
    """Feed ``stream`` and take events until the reader refuses it; the error is returned."""
    reader.feed(stream)
    try:
        while reader.next_event() is not None:
            pass
    except FrameError as error:
        return error
    raise AssertionError("the reader took the whole stream")


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at those of ``cuts`` that fall inside it."""
    points = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def feed_all(reader: FrameReader, chunks: Iterator[bytes | memoryview]) -> list[object]:
    """Feed every chunk, taking events as they come; a FrameError ends the feeding."""
    events: list[object] = []
    for chunk in chunks:
        reader.feed(chunk)  # type: ignore[arg-type]  # the reader copies a view like a bytearray
        while (event := reader.next_event()) is not None:
            events.append(event)
    return events


# -- memory bounded by the limits ------------------------------------------------------------------


def test_empty_continuation_frames_are_refused_with_1009_in_bounded_memory() -> None:
    """With a 1 KiB limit, an endless run of empty continuation frames is refused (1009) within
    about a thousand of them, holding a few KiB (it held one object per fragment, and grew)."""
    limit = KIB
    stream = frame(BINARY, b"x", fin=False) + frame(CONTINUATION, b"", fin=False) * 200_000
    reader = FrameReader(limit)
    with traced() as memory:
        refused = read_until_refused(reader, stream)
        _, peak = memory()
    assert refused.code == 1009
    assert peak < 16 * limit, f"peak {peak} bytes for a {limit}-byte limit"


def test_message_ended_by_an_empty_fragment_at_the_limit_is_delivered() -> None:
    """The empty frame that ends a message costs nothing: a message of exactly the limit, then
    an empty final continuation, is whole."""
    stream = frame(TEXT, b"a" * 1000, fin=False) + frame(CONTINUATION, b"")
    reader = FrameReader(1000)
    reader.feed(stream)
    assert reader.next_event() == "a" * 1000


@pytest.mark.parametrize("opcode", [BINARY, TEXT], ids=["binary", "text"])
def test_tiny_fragments_hold_memory_proportional_to_the_payload(opcode: int) -> None:
    """128 KiB in 2-byte fragments holds at most a few times the payload while it is read and
    delivered (it held about 24 times the payload: one object per fragment)."""
    size = 128 * KIB
    pieces = [frame(opcode, b"ab", fin=False)]
    pieces += [frame(CONTINUATION, b"cd", fin=False)] * (size // 2 - 2)
    pieces.append(frame(CONTINUATION, b"ef"))
    stream = b"".join(pieces)
    del pieces
    reader = FrameReader(size)
    with traced() as memory:
        reader.feed(stream)
        message = reader.next_event()
        _, peak = memory()
    assert isinstance(message, bytes | str)
    assert len(message) == size
    assert peak < 4 * size, f"peak {peak} bytes for a {size}-byte message"


def test_one_frame_in_tiny_reads_holds_memory_proportional_to_the_frame() -> None:
    """A 256 KiB frame fed in 2-byte reads is collected in one buffer: the reader's peak stays
    within a few times the frame (it held one object per read, about 20 times the frame, and
    doubled that while joining them)."""
    size = 256 * KIB
    stream = frame(BINARY, bytes(range(256)) * (size // 256))
    view = memoryview(stream)
    reader = FrameReader(size)
    with traced() as memory:
        events = feed_all(reader, (view[i : i + 2] for i in range(0, len(stream), 2)))
        _, peak = memory()
    assert events == [stream[10:]]
    assert peak < 4 * size, f"peak {peak} bytes for a {size}-byte frame"


def test_a_refused_message_leaves_nothing_held() -> None:
    """Fragments over the limit are refused (1009) at the frame that breaks it, and the reader
    then holds no more than the limit."""
    limit = 64 * KIB
    stream = frame(BINARY, b"a" * 1000, fin=False) + frame(CONTINUATION, b"b", fin=False) * limit
    reader = FrameReader(limit)
    with traced() as memory:
        refused = read_until_refused(reader, stream)
        _, peak = memory()
    assert refused.code == 1009
    assert peak < 4 * limit


# -- masking keys across fork ----------------------------------------------------------------------


def masking_keys(count: int) -> list[bytes]:
    """The masking keys of ``count`` fresh client frames (bytes 2 to 6 of a short frame)."""
    return [client_frame(TEXT, b"k")[2:6] for _ in range(count)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_forked_child_draws_masking_keys_of_its_own() -> None:
    """A child forked after the parent drew keys (the pool is full) gets keys of its own, not
    the parent's next ones: the pool is reset in the child."""
    masking_keys(1)  # the parent's pool now holds 1,023 unused keys
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about forking with threads running
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: write its keys and leave at once (no pytest teardown)
        status = 1
        try:
            os.close(read_end)
            os.write(write_end, b"".join(masking_keys(64)))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        received = b""
        while chunk := os.read(read_end, 4096):
            received += chunk
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child = {received[i : i + 4] for i in range(0, len(received), 4)}
    parent = set(masking_keys(64))
    assert len(child) == 64
    assert not child & parent, "the child sent the parent's masking keys"


# -- random bytes --------------------------------------------------------------------------------

FUZZ_LIMIT = 4 * KIB


@FUZZ
@given(
    data=st.binary(max_size=2048),
    cuts=st.lists(st.integers(0, 2048), max_size=8),
    deflate=st.booleans(),
)
def test_reader_raises_only_frame_errors_on_random_bytes(
    data: bytes, cuts: list[int], deflate: bool
) -> None:
    """Random bytes, cut anywhere, give events or a FrameError with a close code we may send,
    and the reader never holds more than a few times its limit (plus zlib's window and state
    when permessage-deflate was agreed, so that RSV1 frames are inflated)."""
    inflater = Inflater(agree(Deflate(), "permessage-deflate")) if deflate else None
    reader = FrameReader(FUZZ_LIMIT, inflater)
    with traced() as memory:
        code = None
        try:
            feed_all(reader, iter(pieces(data, cuts)))
        except FrameError as error:
            code = error.code
        _, peak = memory()
    assert code in (None, 1002, 1007, 1009)
    assert peak < 4 * FUZZ_LIMIT + 4 * len(data) + (64 * KIB if deflate else 0)


@FUZZ
@example(answer="permessage-deflate; client_max_window_bits=\u00b3")  # a digit int() refuses
@given(answer=st.text(max_size=200) | st.text(alphabet='permsag-dflt_ncoxiwbs=;, "0123456789'))
def test_deflate_answer_raises_only_negotiation_errors(answer: str) -> None:
    """Any Sec-WebSocket-Extensions answer is agreed to or refused with NegotiationError (the
    handshake turns it into HandshakeError)."""
    try:
        agreed = agree(Deflate(), answer)
    except NegotiationError:
        return
    assert 8 <= agreed.server_window_bits <= 15
    assert 8 <= agreed.client_window_bits <= 15


def handshake_answer(key: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_value(key) + b"\r\n" + extra + b"\r\n"
    )


@FUZZ
@given(
    prefix=st.sampled_from([b"", b"HTTP/1.1 101 Switching Protocols\r\n", b"HTTP/1.1 400 No\r\n"]),
    data=st.binary(max_size=4096),
    cuts=st.lists(st.integers(0, 4096), max_size=6),
    ends=st.booleans(),
)
def test_handshake_parser_raises_only_handshake_errors_on_random_bytes(
    prefix: bytes, data: bytes, cuts: list[int], ends: bool
) -> None:
    """An answer of random bytes (after a plausible status line or not), cut anywhere and
    perhaps ended by the server, is accepted, rejected, incomplete, or a HandshakeError;
    memory stays within a few times what h11 and the rejection body may hold."""
    handshake = ClientHandshake(host="h", resource="/", headers=[])
    handshake.request()
    stream = prefix + data
    chunks = pieces(stream, cuts)
    if ends:
        chunks.append(b"")
    with traced() as memory:
        try:
            for chunk in chunks:
                answer = handshake.receive(chunk)
                if answer is not None:
                    assert isinstance(answer, Accepted | Rejected)
                    break
        except HandshakeError:
            pass
        _, peak = memory()
    assert peak < 256 * KIB


def test_fuzzed_handshake_answer_can_be_accepted() -> None:
    """The fuzz test's plausible answers do reach acceptance: a valid 101 is accepted."""
    handshake = ClientHandshake(host="h", resource="/", headers=[])
    handshake.request()
    key = handshake._key
    assert handshake.receive(handshake_answer(key) + b"\x81\x00") == Accepted(b"\x81\x00")


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's object sizes")
def test_tracing_sees_what_a_naive_reader_would_hold() -> None:
    """A control for the bounds above: holding one object per 2-byte piece of 64 KiB is seen
    as more than four times the payload, so the bounds do catch that failure."""
    size = 64 * KIB
    stream = bytes(size)
    with traced() as memory:
        pieces = [stream[i : i + 2] for i in range(0, size, 2)]
        held, _ = memory()
    assert len(pieces) == size // 2
    assert held > 4 * size
