"""The benchmark harness's loopback server and the measurement logic of its streaming scenarios.

- the server's own frame reader (``Server._parse`` and its reading loop), fed masked client
  frames written by trealtime (``client_frame``) and by wsproto: every length encoding, cut at
  every header byte, several to a read;
- its handshake and its streams (paced, blast, stats), served in-process over a socket pair and
  read back with trealtime's frame reader: content only, no timing;
- ``FleetResult``, ``_FrameCounter``, ``stamp_lag_ns``, and ``run_fleet``'s measurement window
  against fake connections and fake clocks;
- one small real fleet per client against the server process (counts and lags >= 0 only);
- the fixtures, decoded with trealtime's codec;
- the memory scenario's growth slope and grading, the concurrency scenario's search for the
  largest passing number of sessions (fake levels, no fleets).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import random
import re
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing
from wsproto.frame_protocol import FrameProtocol

from benchmarks import fixtures, streaming
from benchmarks.config import RunConfig
from benchmarks.contenders import FLOOR
from benchmarks.loopback import (
    END_ID,
    Opener,
    Query,
    ServerAddress,
    ServerFailed,
    ServerProcess,
    floor_event_id,
    server_stats,
    stamp_lag_ns,
    trealtime_settings,
)
from benchmarks.results import Metric
from benchmarks.scenarios import concurrency, memory
from benchmarks.scenarios.concurrency import ConcurrencyScenario, Level, Plan
from benchmarks.scenarios.memory import MIRROR_FILL_TURNS, MemoryScenario, Replay
from benchmarks.server_process import API_KEY, RunStats, Server, capture_protocol_frames, unmask
from benchmarks.streaming import CLIENTS, WARM_UP_FRAMES, Fleet, FleetResult, run_fleet
from trealtime import events
from trealtime._frames import (
    BINARY,
    CLOSE,
    PING,
    TEXT,
    Close,
    FrameReader,
    Ping,
    Pong,
    client_frame,
)

Event = str | bytes | Ping | Pong | Close
Outcome = tuple[object, ...]  # ("text", type), ("pong", payload), ("close", code)
Writer = Callable[[int, bytes], bytes]

CREATED = '{"type":"session.created","event_id":"event_created"}'
UPDATED = '{"type":"session.updated","event_id":"event_updated"}'
# RFC 6455 section 1.3: this key must be answered with this accept value.
RFC_KEY, RFC_ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
STAMPED = re.compile(r'"event_id":"ev_(\d+)"')
IDS = re.compile(r"(?:item|resp|conv)_[A-Za-z0-9]{21}")
FALLBACKS = (events.UnknownServerEvent, events.InvalidServerEvent)
TIMEOUT = 30  # seconds: a hang guard only, nothing is timed


# -- client frames, written by trealtime and by wsproto ------------------------------------------


def wsproto_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame written by wsproto's own frame protocol."""
    protocol = FrameProtocol(client=True, extensions=[])
    if opcode == TEXT:
        return bytes(protocol.send_data(payload.decode()))
    if opcode == BINARY:
        return bytes(protocol.send_data(payload))
    if opcode == PING:
        return bytes(protocol.ping(payload))
    assert opcode == CLOSE
    return bytes(protocol.close(int.from_bytes(payload[:2], "big"), payload[2:].decode() or None))


WRITERS: dict[str, Writer] = {"trealtime": client_frame, "wsproto": wsproto_frame}
WRITER_PARAMS = pytest.mark.parametrize("write", list(WRITERS.values()), ids=list(WRITERS))
# Payload sizes at the edges of the 7-, 16- and 64-bit length encodings.
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000]


def payload_of(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def header_size(size: int) -> int:
    """Bytes before a masked frame's payload: 2, the extended length, the 4-byte mask."""
    return 2 + (0 if size < 126 else 2 if size < 65536 else 8) + 4


def parse_all(buffer: bytes) -> list[tuple[int, bytes]]:
    """``(opcode, unmasked payload)`` of every whole frame, walked as the server's loop walks."""
    frames: list[tuple[int, bytes]] = []
    data, offset = bytearray(buffer), 0
    while (parsed := Server._parse(data, offset)) is not None:
        offset, opcode, mask, start, end = parsed
        frames.append((opcode, unmask(bytes(data[start:end]), mask)))
    assert offset == len(data), "bytes left after the last whole frame"
    return frames


def conversation(write: Writer) -> list[tuple[bytes, list[Outcome]]]:
    """Client frames of every length encoding, each with the replies the server owes it."""
    return [
        (write(TEXT, fixtures.SESSION_UPDATE_JSON.encode()), [("text", "session.updated")]),
        (write(PING, b"ping-1"), [("pong", b"ping-1")]),
        (write(TEXT, fixtures.append_json(fixtures.pcm_bytes(20)).encode()), []),  # 16-bit
        (write(TEXT, fixtures.append_json(fixtures.pcm_bytes(2000)).encode()), []),  # 64-bit
        (write(PING, b"ping-2"), [("pong", b"ping-2")]),
        (write(TEXT, fixtures.TRIGGER_JSON.encode()), [("text", "input_audio_buffer.cleared")]),
        (write(CLOSE, (1000).to_bytes(2, "big")), [("close", 1000)]),
    ]


def pieces(frame: bytes) -> list[bytes]:
    """``frame`` cut after each of its first 16 bytes (every header and mask boundary of all
    three length encodings), then in the middle of the payload and before its last byte."""
    head, rest = [frame[i : i + 1] for i in range(min(16, len(frame)))], frame[16:]
    if len(rest) <= 2:
        return head + [rest[i : i + 1] for i in range(len(rest))]
    middle = len(rest) // 2
    return [*head, rest[:middle], rest[middle:-1], rest[-1:]]


# -- an in-process server over a socket pair ------------------------------------------------------


def upgrade_request(
    query: str = "",
    *,
    path: str = "/v1/realtime",
    api_key: str = API_KEY,
    key: str | None = RFC_KEY,
) -> bytes:
    lines = [
        f"GET {path}{'?' + query if query else ''} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        f"Authorization: Bearer {api_key}",
    ]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def describe(event: Event | None) -> Outcome:
    if isinstance(event, str):
        return ("text", json.loads(event)["type"])
    if isinstance(event, Pong):
        return ("pong", event.payload)
    if isinstance(event, Close):
        return ("close", event.code)
    return ("other", event)


class Peer:
    """The client end of a socket pair served by an in-process :class:`Server`: writes raw
    bytes, reads the HTTP response head, then the server's frames with trealtime's reader."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.head = b""
        self.eof = False
        self._reader = FrameReader(1 << 30)
        self._events: deque[Event] = deque()

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            await trio.lowlevel.wait_writable(self.sock)
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                continue
            view = view[sent:]

    async def status(self) -> int:
        """The HTTP status of the server's response (waiting for its head)."""
        while not self._head_done() and not self.eof:
            await trio.lowlevel.wait_readable(self.sock)
            self._read_available()
        return int(self.head.split(b" ")[1])

    def header(self, name: str) -> str | None:
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def take(self) -> list[Outcome]:
        """The frames the server has written so far, read without waiting."""
        self._read_available()
        taken = [describe(event) for event in self._events]
        self._events.clear()
        return taken

    async def receive(self) -> Event | None:
        """The server's next frame (waiting for it); None once it hung up."""
        while not self._events:
            if self.eof:
                return None
            await trio.lowlevel.wait_readable(self.sock)
            self._read_available()
        return self._events.popleft()

    async def texts_until_end(self) -> list[str]:
        """Every text frame up to and including the one whose ``event_id`` is END_ID."""
        texts: list[str] = []
        while True:
            event = await self.receive()
            assert isinstance(event, str), f"expected a text frame, got {event!r}"
            texts.append(event)
            if json.loads(event).get("event_id") == END_ID:
                return texts

    def _head_done(self) -> bool:
        return self.head.endswith(b"\r\n\r\n")

    def _read_available(self) -> None:
        while not self.eof:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                return
            if not data:
                self.eof = True
                return
            if not self._head_done():
                head, found, data = (self.head + data).partition(b"\r\n\r\n")
                self.head = head + found
                if not found:
                    continue
            self._reader.feed(data)
            while (event := self._reader.next_event()) is not None:
                self._events.append(event)


def new_server() -> Server:
    return Server(CREATED, UPDATED)


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[Callable[[], Peer]]:
    """``server`` (and its pacer) running in this Trio run; yields a connect function."""
    sockets: list[socket.socket] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.pacer)

        def connect() -> Peer:
            ours, theirs = socket.socketpair()
            ours.setblocking(False)
            theirs.setblocking(False)
            sockets.append(ours)
            nursery.start_soon(server.serve_connection, theirs)
            return Peer(ours)

        yield connect
        nursery.cancel_scope.cancel()
    for sock in sockets:
        sock.close()


async def settle() -> None:
    """Until the server has read and answered everything written so far."""
    await trio.testing.wait_all_tasks_blocked()


# -- Server._parse --------------------------------------------------------------------------------


@WRITER_PARAMS
@pytest.mark.parametrize("size", SIZES)
def test_parse_reads_a_masked_frame_of_every_length_encoding(write: Writer, size: int) -> None:
    """The 7-, 16- and 64-bit lengths are read, the mask found, the payload unmasked."""
    payload = payload_of(size)
    data = write(BINARY, payload)
    parsed = Server._parse(bytearray(data), 0)
    assert parsed is not None
    end, opcode, mask, start, stop = parsed
    assert (end, opcode, start, stop) == (len(data), BINARY, header_size(size), len(data))
    assert len(mask) == 4
    assert unmask(data[start:stop], mask) == payload


@WRITER_PARAMS
@pytest.mark.parametrize("size", SIZES)
def test_parse_waits_for_the_whole_frame(write: Writer, size: int) -> None:
    """A frame cut anywhere in its header or mask, or one byte short, is not parsed yet, also
    behind a frame already read."""
    first = write(PING, b"x")
    data = write(BINARY, payload_of(size))
    for cut in sorted({*range(min(20, len(data))), len(data) - 1}):
        assert Server._parse(bytearray(data[:cut]), 0) is None
        assert Server._parse(bytearray(first + data[:cut]), len(first)) is None


@WRITER_PARAMS
def test_parse_walks_several_frames_in_one_buffer(write: Writer) -> None:
    """Frames of all three encodings back to back read as written, ending at the buffer's end."""
    written = [
        (TEXT, b'{"type":"session.update"}'),
        (BINARY, payload_of(70000)),
        (PING, b""),
        (TEXT, payload_of(300).hex().encode()),
        (CLOSE, (1000).to_bytes(2, "big")),
    ]
    buffer = b"".join(write(opcode, payload) for opcode, payload in written)
    assert parse_all(buffer) == written


def test_parse_reads_trealtime_and_wsproto_frames_alike() -> None:
    """The same payloads from both writers (each with its own masks) read the same."""
    payloads = [payload_of(size) for size in SIZES]
    mixed = b"".join(
        WRITERS["trealtime" if i % 2 else "wsproto"](BINARY, p) for i, p in enumerate(payloads)
    )
    assert parse_all(mixed) == [(BINARY, p) for p in payloads]


def test_unmask_inverts_the_client_mask() -> None:
    """``unmask`` undoes masking for every payload length modulo 4 (and is its own inverse)."""
    for size in range(9):
        data = payload_of(size + 100)[:size]
        frame = client_frame(BINARY, data)
        mask, masked = frame[2:6], frame[6:]
        assert unmask(masked, mask) == data
        assert unmask(unmask(data, mask), mask) == data


# -- the reading loop -----------------------------------------------------------------------------


@WRITER_PARAMS
async def test_server_answers_frames_written_in_one_go(write: Writer) -> None:
    """Handshake and every frame in one write (several frames per read, the first ones in the
    handshake's read): each frame answered once, in order, then the server hangs up."""
    frames = conversation(write)
    async with serving(new_server()) as connect:
        peer = connect()
        with trio.fail_after(TIMEOUT):
            await peer.send(upgrade_request() + b"".join(frame for frame, _ in frames))
            assert await peer.status() == 101
            replies = []
            while (event := await peer.receive()) is not None:
                replies.append(describe(event))
    expected = [("text", "session.created")] + [r for _, rs in frames for r in rs]
    assert replies == expected


@WRITER_PARAMS
async def test_server_answers_frames_in_4_kib_reads(write: Writer) -> None:
    """The same bytes in 4 KiB reads: frames straddle reads, reads hold several frames."""
    frames = conversation(write)
    data = b"".join(frame for frame, _ in frames)
    async with serving(new_server()) as connect:
        peer = connect()
        with trio.fail_after(TIMEOUT):
            await peer.send(upgrade_request())
            assert await peer.status() == 101
            replies: list[Outcome] = []
            for start in range(0, len(data), 4096):
                await peer.send(data[start : start + 4096])
                await settle()
                replies += peer.take()
    assert replies == [("text", "session.created")] + [r for _, rs in frames for r in rs]
    assert peer.eof


@WRITER_PARAMS
async def test_server_answers_each_frame_at_its_last_byte(write: Writer) -> None:
    """Each frame cut at every header and mask byte, mid-payload and one byte short, every
    piece read on its own: nothing is answered before a frame's last byte, then exactly once."""
    async with serving(new_server()) as connect:
        peer = connect()
        with trio.fail_after(TIMEOUT):
            await peer.send(upgrade_request())
            assert await peer.status() == 101
            assert describe(await peer.receive()) == ("text", "session.created")
            for frame, replies in conversation(write):
                *early, last = pieces(frame)
                for piece in early:
                    await peer.send(piece)
                    await settle()
                    assert peer.take() == [], f"answered {frame[:40]!r} before its last byte"
                await peer.send(last)
                await settle()
                assert peer.take() == replies
    assert peer.eof, "the server did not hang up after answering the close"


# -- the handshake --------------------------------------------------------------------------------


async def test_handshake_accepts_the_bench_key_and_sends_session_created() -> None:
    """101 with the RFC 6455 accept value for the client's key, then ``session.created``."""
    async with serving(new_server()) as connect:
        peer = connect()
        with trio.fail_after(TIMEOUT):
            await peer.send(upgrade_request("bench=idle"))
            assert await peer.status() == 101
            assert peer.header("Sec-WebSocket-Accept") == RFC_ACCEPT
            assert await peer.receive() == CREATED


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (upgrade_request(api_key="sk-wrong"), 401),
        (upgrade_request(path="/v1/other"), 404),
        (upgrade_request(key=None), 400),
    ],
    ids=["wrong key", "wrong path", "no websocket key"],
)
async def test_handshake_refuses_a_bad_request(request_bytes: bytes, status: int) -> None:
    """A wrong API key, path or a missing WebSocket key: that status, no frame, hung up."""
    async with serving(new_server()) as connect:
        peer = connect()
        with trio.fail_after(TIMEOUT):
            await peer.send(request_bytes)
            assert await peer.status() == status
            assert await peer.receive() is None


# -- the streams ----------------------------------------------------------------------------------


async def open_stream(peer: Peer, query: str) -> None:
    """Handshake with ``query``, then the trigger that starts the stream."""
    await peer.send(upgrade_request(query))
    assert await peer.status() == 101
    await peer.send(client_frame(TEXT, fixtures.TRIGGER_JSON.encode()))


def types_of(texts: list[str]) -> list[str]:
    return [json.loads(text)["type"] for text in texts]


async def test_paced_stream_stamps_each_delta_with_its_send_time() -> None:
    """``bench=paced``: ``count`` 20 ms audio deltas, each the fixture with ``event_id`` =
    ``ev_<monotonic ns>`` (stamped between trigger and receipt, in order), then the end frame;
    the server counts the frames under the run tag."""
    server = new_server()
    async with serving(server) as connect:
        peer = connect()
        with trio.fail_after(TIMEOUT):
            before = time.monotonic_ns()
            await open_stream(peer, "bench=paced&rate=1000&count=8&run=unit")
            texts = await peer.texts_until_end()
            after = time.monotonic_ns()
    head, deltas, end = texts[:2], texts[2:-1], texts[-1]
    assert types_of(head) == ["session.created", "input_audio_buffer.cleared"]
    assert len(deltas) == 8
    stamps = []
    for delta in deltas:
        [stamp] = STAMPED.findall(delta)
        stamps.append(int(stamp))
        unstamped = STAMPED.sub(f'"event_id":"{fixtures.STAMP_ID}"', delta)
        assert unstamped == fixtures.audio_delta_frame(20)
    assert before <= stamps[0] and stamps == sorted(stamps) and stamps[-1] <= after
    assert end == fixtures.end_frame()
    run = server.runs["unit"]
    assert (run.connections, run.frames, len(run.late_us)) == (1, 8, 8)
    assert min(run.late_us) >= 0


async def test_stats_stream_reports_each_run_tag() -> None:
    """``bench=stats``: one ``bench.stats`` frame after ``session.created`` with the server's
    CPU time and, per run tag, the counts of the paced runs so far."""
    server = new_server()
    async with serving(server) as connect:
        with trio.fail_after(TIMEOUT):
            for _ in range(2):
                paced = connect()
                await open_stream(paced, "bench=paced&rate=1000&count=3&run=tagged")
                await paced.texts_until_end()
            peer = connect()
            await peer.send(upgrade_request("bench=stats"))
            assert await peer.status() == 101
            assert await peer.receive() == CREATED
            stats_text = await peer.receive()
    assert isinstance(stats_text, str)
    stats = json.loads(stats_text)
    assert stats["type"] == "bench.stats"
    assert stats["cpu"] > 0
    assert set(stats["runs"]) == {"tagged"}
    assert stats["runs"]["tagged"]["connections"] == 2
    assert stats["runs"]["tagged"]["frames"] == 6


async def test_blast_stream_cycles_the_fixture_turns_then_ends() -> None:
    """``bench=blast&turns=5``: the fixture's voice turns 0, 1, 2, 3, 0 frame for frame, then
    the end frame."""
    async with serving(new_server()) as connect:
        peer = connect()
        with trio.fail_after(TIMEOUT):
            await open_stream(peer, "bench=blast&turns=5")
            texts = await peer.texts_until_end()
    expected = [frame for i in range(5) for frame in fixtures.voice_turn(seed=i % 4).frames]
    assert texts[0] == CREATED
    assert types_of(texts[1:2]) == ["input_audio_buffer.cleared"]
    assert texts[2:-1] == expected
    assert texts[-1] == fixtures.end_frame()


async def test_blast_stream_with_unique_ids_gives_every_turn_its_own_ids() -> None:
    """``unique=1``: each turn is its fixture turn with other item, response and conversation
    ids (same shape, none shared with another turn, none merged within a turn), and every
    frame still decodes to its typed event."""
    async with serving(new_server()) as connect:
        peer = connect()
        with trio.fail_after(TIMEOUT):
            await open_stream(peer, "bench=blast&turns=5&unique=1")
            texts = await peer.texts_until_end()
    frames = texts[2:-1]
    size = len(fixtures.voice_turn().frames)
    assert len(frames) == 5 * size
    seen: set[str] = set()
    for turn in range(5):
        served = frames[turn * size : (turn + 1) * size]
        template = fixtures.voice_turn(seed=turn % 4).frames
        assert [IDS.sub("ID", f) for f in served] == [IDS.sub("ID", f) for f in template]
        ids = set(IDS.findall("".join(served)))
        assert len(ids) == len(set(IDS.findall("".join(template))))
        assert not ids & seen, f"turn {turn} reuses ids of an earlier turn"
        seen |= ids
    for frame in frames:
        event = events.decode_server_event(frame)
        assert not isinstance(event, FALLBACKS)
        assert event.type == json.loads(frame)["type"]


def test_run_stats_summary_uses_the_nearest_rank_at_or_above() -> None:
    """The server's lateness summary: counts always; median, p99 and max once it has values."""
    assert RunStats(connections=2, frames=0).summary() == {"connections": 2, "frames": 0}
    late = [float(v) for v in range(1, 202)]
    random.Random(1).shuffle(late)
    summary = RunStats(late, connections=3, frames=201).summary()
    assert summary == {
        "connections": 3,
        "frames": 201,
        "late_p50_us": 101.0,
        "late_p99_us": 199.0,  # rank ceil(0.99 * 201) = 199 of 201
        "late_max_us": 201.0,
    }


# -- FleetResult, _FrameCounter, stamp_lag_ns -----------------------------------------------------


def result_with_lags(lags_ns: list[int]) -> FleetResult:
    return FleetResult(1, 1, lags_ns=list(lags_ns))


def test_lag_percentile_is_none_without_lags() -> None:
    """No lag recorded: no percentile (rather than 0, which would read as a perfect result)."""
    assert FleetResult(1, 1).lag_percentile_us(0.5) is None


@pytest.mark.parametrize(
    ("lags_ns", "q", "expected_us"),
    [
        ([7_000], 0.0, 7.0),
        ([7_000], 0.99, 7.0),
        # Five lags, unsorted; index round(q * 4) of the sorted lags.
        ([5_000, 1_000, 4_000, 2_000, 3_000], 0.0, 1.0),
        ([5_000, 1_000, 4_000, 2_000, 3_000], 0.5, 3.0),  # index 2
        ([5_000, 1_000, 4_000, 2_000, 3_000], 0.99, 5.0),  # round(3.96) = 4
        ([5_000, 1_000, 4_000, 2_000, 3_000], 1.0, 5.0),
        ([5_000, 1_000, 4_000, 2_000, 3_000], 0.3, 2.0),  # round(1.2) = 1
        ([1_500, 2_500, 500], 0.5, 1.5),  # index 1, in µs (ns / 1000)
        # 101 lags 0..100 µs: p99 is index 99, the second largest.
        ([i * 1000 for i in range(100, -1, -1)], 0.99, 99.0),
        ([5_000, 1_000, 3_000], 1.5, 5.0),  # q above 1 clamps to the largest
        ([5_000, 1_000, 3_000], -0.5, 1.0),  # q below 0 clamps to the smallest
    ],
)
def test_lag_percentile_picks_the_nearest_rank(
    lags_ns: list[int], q: float, expected_us: float
) -> None:
    """The ``q``-percentile is the sorted lag at index ``round(q * (n - 1))``, in µs."""
    assert result_with_lags(lags_ns).lag_percentile_us(q) == expected_us


def complete_result(**changes: Any) -> FleetResult:
    result = FleetResult(3, 3, frames=30, expected_frames=30)
    return dataclasses.replace(result, **changes)


def test_fleet_is_complete_only_when_every_session_opened_and_got_every_frame() -> None:
    """Complete needs all sessions open, every frame, and no time-out."""
    assert complete_result().complete
    assert complete_result(frames=31).complete
    assert not complete_result(frames=29).complete
    assert not complete_result(opened=2).complete
    assert not complete_result(timed_out=True).complete


def test_cpu_share_is_cpu_over_wall_time() -> None:
    """CPU and waiting shares divide by the stream's wall time; 0 before it ran."""
    result = FleetResult(1, 1, cpu_s=1.5, wall_s=2.0, wait_s=0.5, server_cpu_s=0.25)
    assert (result.cpu_share, result.wait_share, result.server_cpu_share) == (0.75, 0.25, 0.125)
    assert FleetResult(1, 1, cpu_s=1.0).cpu_share == 0.0


def test_frame_counter_skips_the_warm_up_of_each_session() -> None:
    """Each session's first WARM_UP_FRAMES stamped frames count as frames but give no lag; the
    warm-up is per session, not per fleet."""
    result = FleetResult(2, 2)
    first, second = result.frame_counter(), result.frame_counter()
    for k in range(WARM_UP_FRAMES):
        assert first.take(f"ev_{1000 * k}", 1000 * k + 7)
    assert (result.frames, result.lags_ns) == (WARM_UP_FRAMES, [])
    assert first.take("ev_1000000", 1_000_250)
    assert second.take("ev_2000000", 2_000_900)  # the second session is still warming up
    assert (result.frames, result.lags_ns) == (WARM_UP_FRAMES + 2, [250])


def test_frame_counter_stops_at_the_end_frame_and_ignores_unstamped_ids() -> None:
    """The end frame returns False and counts nothing; ids without a stamp count nothing."""
    result = FleetResult(1, 1)
    counter = result.frame_counter()
    for event_id in (None, "", "event_bench_cleared", "ev_", "ev_12a", "ev_-5", "ev_stats", 42):
        assert counter.take(event_id, 10**9)
    assert (result.frames, result.lags_ns, counter.seen) == (0, [], 0)
    assert not counter.take(END_ID, 10**9)
    assert result.frames == 0


def test_stamp_lag_is_now_minus_the_stamp() -> None:
    """``ev_<ns>`` gives ``now - ns`` (negative too: the caller decides); anything else None."""
    assert stamp_lag_ns("ev_1000", 1500) == 500
    assert stamp_lag_ns("ev_2000", 1500) == -500
    assert stamp_lag_ns(f"ev_{2**62}", 2**62 + 3) == 3
    for not_stamped in (END_ID, "ev_", "ev_1e3", "ev_ 12", "event_123", None, 1000, b"ev_1"):
        assert stamp_lag_ns(not_stamped, 1500) is None


def test_stamp_lag_is_none_for_non_ascii_digits() -> None:
    """An id that is not ``ev_`` + ASCII digits has no stamp: None, as documented, rather than
    a crash (``"²".isdigit()`` is true but ``int("²")`` raises) or a lag from foreign digits."""
    assert stamp_lag_ns("ev_²", 1500) is None
    assert stamp_lag_ns("ev_١٢٣", 1500) is None


# -- run_fleet's measurement window, against fake connections ------------------------------------

OPEN_COST = 1_000.0
CLOSE_COST = 1_000_000.0
FRAME_COST = 1.0
COUNT = 8
FAKE_SERVER = ServerAddress("ws://127.0.0.1:9/v1/realtime", API_KEY, 0)
FAKE_FLEET = Fleet(2, count=COUNT, appends=False)
STREAM_COST = FAKE_FLEET.sessions * (COUNT + 1) * FRAME_COST  # every frame and the end frame


@dataclasses.dataclass
class Costs:
    """Fake clocks, advanced only by the fake connections: the client's ``perf_counter`` and
    ``process_time``, and the server's CPU time (what ``fetch_stats`` reports)."""

    client: float = 0.0
    server: float = 0.0

    def spend(self, seconds: float) -> None:
        self.client += seconds
        self.server += seconds


class FakeConnection:
    """A floor-style connection serving ``count`` stamped frames, then the end frame."""

    def __init__(self, costs: Costs, count: int) -> None:
        self._costs = costs
        self._left = count

    async def send_message(self, text: str) -> None:
        await trio.lowlevel.checkpoint()

    async def get_message(self) -> str:
        await trio.lowlevel.checkpoint()
        self._costs.spend(FRAME_COST)
        if self._left == 0:
            return fixtures.end_frame()
        self._left -= 1
        return fixtures.audio_delta_frame(20, event_id=f"ev_{time.monotonic_ns()}")


def fake_opener(costs: Costs, count: int) -> Opener:
    @asynccontextmanager
    async def open_fake(server: ServerAddress, query: Query) -> AsyncIterator[FakeConnection]:
        costs.spend(OPEN_COST)
        yield FakeConnection(costs, count)
        costs.spend(CLOSE_COST)

    return open_fake


@pytest.fixture
def costs(monkeypatch: pytest.MonkeyPatch) -> Costs:
    """``run_fleet`` with fake floor connections, fake clocks and a fake server's stats."""
    costs = Costs()

    async def fake_stats(server: ServerAddress) -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        return {"cpu": costs.server, "wait": 0.0, "runs": {}}

    clock = SimpleNamespace(
        perf_counter=lambda: costs.client,
        process_time=lambda: costs.client,
        monotonic_ns=time.monotonic_ns,
    )
    monkeypatch.setattr(streaming, "time", clock)
    monkeypatch.setattr(streaming, "fetch_stats", fake_stats)
    monkeypatch.setattr(streaming, "bare_opener", lambda client: fake_opener(costs, COUNT))
    return costs


async def test_fleet_counts_every_frame_of_fake_connections(costs: Costs) -> None:
    """Frames and lags of every session reach the result; the fakes behave."""
    result = await run_fleet(FAKE_SERVER, FLOOR, FAKE_FLEET)
    assert result.errors == []
    assert result.complete
    assert result.frames == result.expected_frames == 2 * COUNT
    assert len(result.lags_ns) == 2 * (COUNT - WARM_UP_FRAMES)


async def test_fleet_client_time_covers_the_stream_without_opening_or_closing(
    costs: Costs,
) -> None:
    """``cpu_s`` and ``wall_s`` (hence ``cpu_share``) cover the streaming phase only, as
    FleetResult's docstring says: "opening and closing excluded"."""
    result = await run_fleet(FAKE_SERVER, FLOOR, FAKE_FLEET)
    assert result.wall_s >= STREAM_COST and result.cpu_s >= STREAM_COST
    assert result.wall_s < OPEN_COST and result.cpu_s < OPEN_COST, (
        f"wall_s={result.wall_s:,.0f}, cpu_s={result.cpu_s:,.0f}: the sessions' closing "
        f"(fake cost {CLOSE_COST:,.0f} each) is inside the measured stream"
    )


async def test_fleet_server_cpu_covers_the_same_window_as_the_wall_time(costs: Costs) -> None:
    """``server_cpu_s`` is divided by the stream's ``wall_s`` (``server_cpu_share``), so it
    must cover the same window: the server's work opening and closing the sessions is not
    part of it."""
    result = await run_fleet(FAKE_SERVER, FLOOR, FAKE_FLEET)
    assert result.server_cpu_s >= STREAM_COST
    assert result.server_cpu_s < OPEN_COST, (
        f"server_cpu_s={result.server_cpu_s:,.0f}: the server's opening (fake cost "
        f"{OPEN_COST:,.0f} each) and closing ({CLOSE_COST:,.0f} each) are counted"
    )


# -- one real fleet per client against the server process ----------------------------------------


@pytest.fixture(scope="module")
def loopback() -> Iterator[ServerAddress]:
    """The benchmark server process, shared by the module's real fleets."""
    with ServerProcess() as address:
        yield address


@pytest.mark.parametrize("client", CLIENTS)
async def test_real_fleet_of_each_client_gets_every_frame(
    loopback: ServerAddress, client: str
) -> None:
    """Two sessions x ten paced frames with appends: every session opens, every frame
    arrives and is counted, a lag (>= 0) for each frame after the warm-up, no error; the
    server counted the same frames under the fleet's tag."""
    fleet = Fleet(2, count=10, tag=f"test-{client}")
    with trio.fail_after(fleet.nominal_seconds + fleet.grace + TIMEOUT):
        result = await run_fleet(loopback, client, fleet)
    assert result.errors == []
    assert result.complete and not result.timed_out
    assert result.opened == 2
    assert result.frames == result.expected_frames == 20
    assert len(result.lags_ns) == 2 * (10 - WARM_UP_FRAMES)
    assert min(result.lags_ns) >= 0
    assert result.server["connections"] == 2
    assert result.server["frames"] == 20


def test_server_process_serves_then_exits_when_its_stdin_closes() -> None:
    """The child process answers on 127.0.0.1; leaving the block closes its stdin, and it exits
    by itself (status 0, not killed), reaped: no process is left behind."""
    process = ServerProcess()
    with process as address:
        assert address.url == f"ws://127.0.0.1:{address.port}/v1/realtime"
        os.kill(address.pid, 0)  # running
        stats = server_stats(address)
        assert stats["type"] == "bench.stats"
        assert stats["runs"] == {}
    popen = process._process  # the harness keeps its Popen private
    assert popen is not None
    assert popen.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(address.pid, 0)


@contextmanager
def failed_start() -> Iterator[ServerProcess]:
    """A ServerProcess whose child dies before it is ready (pinned to a CPU that does not
    exist); its stderr file is closed afterwards whatever the harness did."""
    process = ServerProcess(cpu=4096)
    try:
        yield process
    finally:
        process._stderr.close()


def test_server_process_that_cannot_start_says_why() -> None:
    """A child that dies before it is ready gives ServerFailed quoting its stderr, and is
    reaped."""
    with failed_start() as process, pytest.raises(ServerFailed, match="did not start") as failure:
        process.__enter__()
    assert "sched_setaffinity" in str(failure.value)
    popen = process._process
    assert popen is not None
    assert popen.returncode not in (None, 0)


def test_server_process_that_cannot_start_closes_its_stderr_file() -> None:
    """The failed start leaves no file open: ``__exit__`` is never called when ``__enter__``
    raises, so ``__enter__`` must close the stderr file itself."""
    with failed_start() as process:
        with pytest.raises(ServerFailed):
            process.__enter__()
        assert process._stderr.closed, "the stderr temporary file of the failed start is open"


# -- the fixtures ---------------------------------------------------------------------------------


def test_voice_turn_is_the_documented_mix() -> None:
    """106 frames: 50 audio deltas, 40 transcript deltas and 16 lifecycle events, from speech
    start to ``response.done``, every ``event_id`` distinct."""
    turn = fixtures.voice_turn()
    kinds = types_of(list(turn.frames))
    assert len(kinds) == 106
    assert turn.count("response.output_audio.delta") == 50
    assert turn.count("response.output_audio_transcript.delta") == 40
    assert len(set(kinds)) == 16
    assert (kinds[0], kinds[-1]) == ("input_audio_buffer.speech_started", "response.done")
    ids = [json.loads(frame)["event_id"] for frame in turn.frames]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("seed", range(4))
def test_every_fixture_frame_decodes_to_its_typed_event(seed: int) -> None:
    """Every frame of the decode mix (and of the server's pool of turns), the paced delta and
    the end frame decode with trealtime's codec to the typed event of their ``type``."""
    frames = [*fixtures.voice_turn(seed=seed).frames]
    frames += [fixtures.audio_delta_frame(20), fixtures.end_frame()]
    for frame in frames:
        event = events.decode_server_event(frame)
        assert not isinstance(event, FALLBACKS), frame[:200]
        assert event.type == json.loads(frame)["type"]


def test_voice_turn_carries_5_s_of_audio_and_its_whole_transcript() -> None:
    """Each audio delta is 100 ms of 24 kHz PCM16 (4,800 bytes), 5 s a turn as the memory
    scenario's minutes assume; the transcript deltas add up to the final transcript."""
    decoded = [events.decode_server_event(f) for f in fixtures.voice_turn().frames]
    audio = [e.audio_bytes() for e in decoded if isinstance(e, events.ResponseOutputAudioDelta)]
    assert {len(chunk) for chunk in audio} == {4800}
    assert len(audio) * 100 / 1000 == memory.SECONDS_PER_TURN
    deltas = [e.delta for e in decoded if isinstance(e, events.ResponseOutputAudioTranscriptDelta)]
    [done] = [e for e in decoded if isinstance(e, events.ResponseOutputAudioTranscriptDone)]
    assert "".join(deltas) == done.transcript


def test_pcm_fixtures_last_as_long_as_asked() -> None:
    """24 kHz PCM16 mono: 20 ms is 960 bytes, 100 ms 4,800; a seed gives the same audio every
    time and another seed other audio."""
    assert len(fixtures.pcm_bytes(20)) == 960
    assert len(fixtures.pcm_bytes(100)) == 4800
    assert fixtures.pcm_bytes(20, seed=3) == fixtures.pcm_bytes(20, seed=3)
    assert fixtures.pcm_bytes(20, seed=3) != fixtures.pcm_bytes(20, seed=4)
    delta = events.decode_server_event(fixtures.audio_delta_frame(20))
    assert isinstance(delta, events.ResponseOutputAudioDelta)
    assert len(delta.audio_bytes()) == 960


def test_client_fixtures_are_the_client_events_trealtime_sends() -> None:
    """The trigger, the session update and the pre-encoded append decode as valid client events,
    and are what trealtime itself sends (both kinds of client ask for the same things)."""
    trigger = events.decode_client_event(fixtures.TRIGGER_JSON)
    assert isinstance(trigger, events.InputAudioBufferClear)
    assert json.loads(events.encode_client_event(trigger)) == json.loads(fixtures.TRIGGER_JSON)

    update = events.decode_client_event(fixtures.SESSION_UPDATE_JSON)
    assert isinstance(update, events.SessionUpdate)
    assert isinstance(update.session, events.SessionProperties)
    assert isinstance(update.session.audio, events.AudioConfig)
    assert isinstance(update.session.audio.input, events.AudioInput)
    assert update.session.audio.input.turn_detection is None
    assert events.to_dict(trealtime_settings().session_properties) == fixtures.SESSION_UPDATE

    pcm = fixtures.pcm_bytes(20, seed=7)
    append = events.decode_client_event(fixtures.append_json(pcm))
    assert isinstance(append, events.InputAudioBufferAppend)
    assert base64.b64decode(append.audio) == pcm
    ours = events.encode_client_event(events.InputAudioBufferAppend.from_bytes(pcm))
    assert json.loads(ours) == json.loads(fixtures.append_json(pcm))


def test_stamp_and_end_ids_are_where_the_server_and_the_floor_look() -> None:
    """The paced delta holds STAMP_ID once (the server splits it there); the floor's string
    search finds the stamped and the end ids."""
    assert fixtures.audio_delta_frame(20).count(fixtures.STAMP_ID) == 1
    assert floor_event_id(fixtures.audio_delta_frame(20, event_id="ev_123")) == "ev_123"
    assert floor_event_id(fixtures.end_frame()) == END_ID
    assert floor_event_id(fixtures.end_frame().encode()) == END_ID
    assert floor_event_id('{"type":"x"}') is None


async def test_captured_protocol_frames_decode_to_session_events() -> None:
    """The server's ``session.created`` and ``session.updated``, captured from the fake
    server, decode to typed events, the update without server VAD as the clients ask."""
    with trio.fail_after(TIMEOUT):
        created, updated = await capture_protocol_frames()
    assert isinstance(events.decode_server_event(created), events.SessionCreated)
    event = events.decode_server_event(updated)
    assert isinstance(event, events.SessionUpdated)
    assert isinstance(event.session, events.SessionProperties)
    assert isinstance(event.session.audio, events.AudioConfig)
    assert isinstance(event.session.audio.input, events.AudioInput)
    assert event.session.audio.input.turn_detection is None


# -- memory: the growth slope and its grading ----------------------------------------------------


def replay_of(marks: list[int], heap: list[int], *, fit_from: int, turns: int = 720) -> Replay:
    return Replay(turns, fit_from, marks, heap, list(heap), 0, 0.0, [])


def test_slope_of_a_line_is_its_slope() -> None:
    """Least squares on exact lines gives their slopes; fewer than two points or one x, 0."""
    xs = list(range(0, 720, 12))
    assert memory._slope(xs, [3 * x + 7 for x in xs]) == pytest.approx(3.0)
    assert memory._slope(xs, [-2 * x + 10**6 for x in xs]) == pytest.approx(-2.0)
    assert memory._slope([5], [9]) == 0.0
    assert memory._slope([4, 4, 4], [1, 2, 3]) == 0.0


def test_slope_of_flat_noise_is_about_zero() -> None:
    """A flat heap with ±1 KiB of noise grows far less than the 1 KiB/min target."""
    rng = random.Random(5)
    marks = list(range(144, 720, 12))
    heap = [50_000_000 + rng.randint(-1024, 1024) for _ in marks]
    replay = replay_of(marks, heap, fit_from=144)
    assert abs(replay.kib_per_minute) < 0.1


def test_growth_is_fitted_after_the_mirror_fills() -> None:
    """Samples before ``fit_from`` (the mirror filling) do not count; 1 KiB per 5 s turn after
    it is 12 KiB per minute; the fitted window spans the counted samples."""
    marks = list(range(12, 721, 12))
    filling = [1_000_000 * m if m < 144 else 0 for m in marks]
    flat = [f + 200_000_000 for f in filling]
    assert replay_of(marks, flat, fit_from=144).kib_per_minute == pytest.approx(0.0)
    growing = [f + 1024 * m for f, m in zip(flat, marks, strict=True)]
    replay = replay_of(marks, growing, fit_from=144)
    assert replay.kib_per_minute == pytest.approx(12.0)
    assert replay.blocks_per_minute == pytest.approx(12.0 * 1024)
    assert replay.fitted_minutes == (720 - 144) * 5 / 60


@pytest.mark.parametrize(
    ("fit_from", "unique", "graded"),
    [
        (MIRROR_FILL_TURNS, True, True),
        (MIRROR_FILL_TURNS + 1, True, True),
        (MIRROR_FILL_TURNS - 1, True, False),
        (36 // 5, True, False),  # the quick run's 36 turns
        (MIRROR_FILL_TURNS, False, False),  # recycled ids: for context only
    ],
)
def test_growth_is_graded_only_when_the_fit_starts_on_a_full_mirror(
    fit_from: int, unique: bool, graded: bool
) -> None:
    """The growth target applies to the realistic replay only when its fit starts once the
    conversation mirror is full; otherwise a note says why it is not graded."""
    marks = list(range(fit_from, 721, 12))
    replay = replay_of(marks, [10**6] * len(marks), fit_from=fit_from)
    assert replay.fits_a_full_mirror == (fit_from >= MIRROR_FILL_TURNS)
    metrics: list[Metric] = []
    notes: list[str] = []
    MemoryScenario._report_replay(replay, "label", unique, metrics, notes)
    [growth] = metrics
    assert growth.target == (memory.GROWTH_TARGET if graded else None)
    assert any("not graded" in note for note in notes) == (not replay.fits_a_full_mirror)


# -- concurrency: the search for the largest passing N -------------------------------------------


def level(
    sessions: int, *, passes: bool, contended: bool = False, server_late: bool = False
) -> Level:
    """A level that passes (p99 1 ms) or fails (p99 30 ms), optionally contended (the client
    waited half the time for a CPU) or with the server behind its schedule (p99 10 ms late)."""
    result = FleetResult(
        sessions,
        sessions,
        lags_ns=[1_000_000 if passes else 30_000_000],
        frames=1,
        expected_frames=1,
        cpu_s=0.2,
        wall_s=1.0,
        wait_s=0.5 if contended else 0.0,
        server={"late_p99_us": 10_000.0} if server_late else {},
    )
    return Level(sessions, result)


def test_level_passes_only_complete_with_p99_under_the_limit() -> None:
    """A level passes with every frame delivered and p99 under 20 ms; a missing frame, no
    lag at all, or a p99 of exactly 20 ms fails it."""
    ok = level(100, passes=True).result
    assert Level(100, ok).passed
    assert Level(100, dataclasses.replace(ok, lags_ns=[19_999_000])).passed
    assert not Level(100, dataclasses.replace(ok, lags_ns=[20_000_000])).passed
    assert not Level(100, dataclasses.replace(ok, frames=0)).passed
    assert not Level(100, dataclasses.replace(ok, lags_ns=[])).passed
    assert not Level(100, dataclasses.replace(ok, timed_out=True)).passed


def test_level_flags_contention_and_a_server_that_fell_behind() -> None:
    """Contended: client or server waited over 5% of the stream for a CPU.  Server-limited:
    the server over 5 ms late (p99) or near a full core, while the client had CPU to spare and
    nothing was contended."""
    base = level(100, passes=False).result  # 1 s stream, client at 20% of a core
    assert not Level(100, base).contended and not Level(100, base).server_limited
    assert Level(100, dataclasses.replace(base, wait_s=0.06)).contended
    assert Level(100, dataclasses.replace(base, server_wait_s=0.06)).contended
    assert not Level(100, dataclasses.replace(base, wait_s=0.04)).contended
    late = dataclasses.replace(base, server={"late_p99_us": 5_001.0})
    assert Level(100, late).server_limited
    assert Level(100, dataclasses.replace(base, server_cpu_s=0.95)).server_limited
    assert not Level(100, dataclasses.replace(late, cpu_s=0.95)).server_limited
    assert not Level(100, dataclasses.replace(late, wait_s=0.5)).server_limited


class Levels:
    """A fake ``attempt``: levels pass up to ``passing``; records what was tried."""

    def __init__(self, passing: int, special: dict[int, list[Level]] | None = None) -> None:
        self.passing = passing
        self.special = special or {}
        self.tried: list[int] = []

    def __call__(self, sessions: int) -> Level:
        self.tried.append(sessions)
        queued = self.special.get(sessions)
        if queued:
            return queued.pop(0)
        return level(sessions, passes=sessions <= self.passing)


FULL = Plan.for_config(RunConfig.full())
QUICK = Plan.for_config(RunConfig.smoke())


def search(plan: Plan, attempt: Levels) -> tuple[int | None, int | None]:
    return concurrency._search(plan, attempt, time.perf_counter())


def test_search_doubles_then_bisects_to_the_largest_passing_n() -> None:
    """Passing up to 130: 100 passes, 200 fails, bisection in steps of 10 gives 130."""
    attempt = Levels(passing=130)
    assert search(FULL, attempt) == (130, None)
    assert attempt.tried == [100, 200, 150, 120, 130, 140]


def test_search_halves_when_the_start_fails() -> None:
    """Passing up to 40: 100 and 50 fail, 25 passes, bisection finds 40."""
    attempt = Levels(passing=40)
    assert search(FULL, attempt) == (40, None)
    assert attempt.tried == [100, 50, 25, 30, 40]


def test_search_when_every_level_fails_finds_nothing() -> None:
    """All fail: halving down to the minimum (10), no answer."""
    attempt = Levels(passing=0)
    assert search(FULL, attempt) == (None, None)
    assert attempt.tried == [100, 50, 25, 12]


def test_search_tries_the_minimum_itself() -> None:
    """Halving reaches the plan's minimum (10) and tries it."""
    attempt = Levels(passing=10)
    assert search(dataclasses.replace(FULL, start=80), attempt) == (10, None)
    assert attempt.tried == [80, 40, 20, 10]


def test_search_stops_at_the_maximum_when_every_level_passes() -> None:
    """All pass: doubling up to the plan's maximum, which is the answer."""
    attempt = Levels(passing=10**6)
    assert search(FULL, attempt) == (FULL.maximum, None)
    assert attempt.tried == [100, 200, 400, 800, 1600, 3200]


def test_quick_search_does_not_bisect() -> None:
    """The quick plan: 200 passes, 400 fails, and 200 is the answer without bisecting."""
    attempt = Levels(passing=300)
    assert search(QUICK, attempt) == (200, None)
    assert attempt.tried == [200, 400]


def test_search_runs_a_contended_failure_once_more() -> None:
    """A level that failed while another process held the CPU is run again, and the second
    run counts."""
    attempt = Levels(passing=130, special={100: [level(100, passes=False, contended=True)]})
    assert search(FULL, attempt) == (130, None)
    assert attempt.tried[:2] == [100, 100]


def test_search_stops_where_the_server_could_not_keep_up() -> None:
    """A failure with the server behind its own schedule (twice) ends the search: the best so
    far is a lower bound, and the level is reported."""
    late = [level(200, passes=False, server_late=True) for _ in range(2)]
    attempt = Levels(passing=10**6, special={200: late})
    assert search(FULL, attempt) == (100, 200)
    assert attempt.tried == [100, 200, 200]


class FakeServerProcess:
    def __init__(self, cpu: int | None = None) -> None:
        self.cpu = cpu

    def __enter__(self) -> ServerAddress:
        return FAKE_SERVER

    def __exit__(self, *exc: object) -> None:
        return None


def fake_worker(passing: int) -> Callable[[str], AbstractContextManager[Any]]:
    """A ``Worker`` whose fleet jobs pass up to ``passing`` sessions."""

    class FakeWorker:
        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> FakeWorker:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def call(self, job: str, address: Any, client: str, fleet: Any, cpu: Any) -> Any:
            assert job == concurrency.JOB
            sessions = fleet["sessions"]
            return dataclasses.asdict(level(sessions, passes=sessions <= passing).result)

    return FakeWorker


def max_sessions(monkeypatch: pytest.MonkeyPatch, passing: int) -> tuple[float | None, list[str]]:
    """The concurrency scenario's answer and notes, its levels passing up to ``passing``."""
    monkeypatch.setattr(concurrency, "ServerProcess", FakeServerProcess)
    monkeypatch.setattr(concurrency, "Worker", fake_worker(passing))
    outcome = ConcurrencyScenario().run(RunConfig.full())
    [metric] = [m for m in outcome.metrics if m.name.startswith("max real-time sessions")]
    return metric.value, list(outcome.notes)


def test_concurrency_reports_the_largest_passing_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scenario's metric is the search's answer: passing up to 130 reports 130."""
    value, notes = max_sessions(monkeypatch, passing=130)
    assert value == 130.0
    assert not any("no level passed" in note for note in notes)


def test_concurrency_reports_zero_when_no_level_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """All levels failing report 0 sessions, with a note naming the smallest level tried."""
    value, notes = max_sessions(monkeypatch, passing=0)
    assert value == 0.0
    assert "no level passed: the most is below N=12, the smallest tried" in notes
