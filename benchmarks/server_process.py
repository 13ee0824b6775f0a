"""The loopback benchmark server, in a process of its own.

::

    python -m benchmarks.server_process [--cpu N]

It listens on two ports of ``127.0.0.1``, one plain (``ws://``) and one TLS (``wss://``, a
certificate from a throw-away ``trustme`` CA whose PEM file the clients trust), prints one JSON
line ``{"url": ..., "tls_url": ..., "ca_file": ..., "api_key": ..., "pid": ...}`` on stdout
when ready, and exits when its stdin closes (so it never outlives the harness).  Running in
another process keeps the server's CPU out of the client's ``time.process_time()``.  TLS is
served by the standard library's non-blocking ``ssl.SSLSocket`` (OpenSSL, in C), so the
server's share of the encryption stays small and out of the clients' measurements.

**Why not serve with** :class:`trealtime.testing.FakeRealtimeServer` **directly.**  It accepts
every client used here (the ``openai`` SDK included: ``Authorization: Bearer``, path
``/v1/realtime``), but it spends 40-60 µs of CPU per frame it sends (outbox, writer task,
trio-websocket, one ``send`` per frame) and about as much per frame it receives (decoding and
validating every ``input_audio_buffer.append``): as much as the clients under test, so it would
be the bottleneck and the measurements would describe the server.  This server is lean instead:
frames are framed once and written with non-blocking ``socket.send`` (a whole voice turn per
call when blasting); client frames are only unmasked as far as their ``"type"``; one timer task
paces every stream.  Its protocol frames (``session.created``, ``session.updated``) are captured
at start-up from a ``FakeRealtimeServer``, so the clients decode exactly what the fake server
would send.

Per connection, the handshake checks ``Authorization: Bearer <api_key>``; the server sends
``session.created``, answers ``session.update`` with ``session.updated`` and answers
``input_audio_buffer.clear`` (the *trigger*) with ``input_audio_buffer.cleared``; appends are
read and dropped.  The ``bench`` query parameter picks what happens after the trigger:

- ``bench=idle`` (default): nothing more.
- ``bench=blast&turns=K[&unique=1]``: ``K`` realistic voice turns (106 frames each: 50 audio
  deltas of 100 ms, 40 transcript deltas, lifecycle events) as fast as the socket takes them.
  With ``unique=1`` every turn gets its own item and response ids (a realistic long session);
  otherwise four pre-framed turns are cycled.
- ``bench=paced&rate=R&count=M&run=TAG``: ``M`` 20 ms audio deltas at ``R`` per second, each
  stamped at send time with ``event_id = "ev_<time.monotonic_ns()>"`` (the clock is system-wide
  on Linux, so the client computes the delivery lag); how late the server itself was against
  its schedule is recorded under ``TAG``.
- ``bench=stats``: one ``bench.stats`` frame right after ``session.created``: the process CPU
  time and, per run tag, the server's own lateness (to tell "the server could not keep up"
  from "the client could not keep up").

Every stream ends with a small ``rate_limits.updated`` frame whose ``event_id`` is ``ev_end``.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import re
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import trio
import trio.lowlevel
import trio_websocket

from benchmarks import fixtures
from trealtime._transport._frames import apply_mask
from trealtime._transport._handshake import accept_value

unmask = apply_mask  # a client frame's payload arrives masked; the XOR is its own inverse
API_KEY = "sk-bench-loopback"
TURN_POOL = 4
RECV_BYTES = 1 << 18
DRAIN_BELOW = 1 << 16
_ID = re.compile(r"((?:item|resp|conv)_[A-Za-z0-9]{21})")
_TYPE = re.compile(rb'"type"\s*:\s*"([^"]*)"')
#: A non-blocking socket call that must wait (for TLS: a record not yet complete, or full).
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
_CLEARED = '{"type":"input_audio_buffer.cleared","event_id":"event_bench_cleared"}'


def runqueue_wait_s() -> float:
    """Seconds this process's main thread has spent runnable but waiting for a CPU (Linux).

    Its growth during a measurement shows contention from other processes, which
    ``time.process_time()`` cannot see; 0.0 where ``/proc/self/schedstat`` is missing.
    """
    try:
        with open("/proc/self/schedstat", encoding="ascii") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def frame(payload: str | bytes, opcode: int = 0x1) -> bytes:
    """One unmasked (server → client) WebSocket frame."""
    data = payload.encode() if isinstance(payload, str) else payload
    n = len(data)
    if n < 126:
        header = bytes((0x80 | opcode, n))
    elif n < 1 << 16:
        header = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return header + data


async def capture_protocol_frames() -> tuple[str, str]:
    """``session.created`` and the ``session.updated`` for the benchmark settings, as sent by
    ``FakeRealtimeServer`` (served in memory, driven by a plain trio-websocket client)."""
    from trealtime.testing import FakeRealtimeServer

    async with FakeRealtimeServer.serve_in_memory(session_seconds=None) as server:
        stream = await server.connect_stream("fake-realtime.invalid", 80, False)
        headers = [(b"Authorization", f"Bearer {server.api_key}".encode())]
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,  # type: ignore[arg-type]
                "fake-realtime.invalid",
                "/v1/realtime?model=gpt-realtime",
                extra_headers=headers,
            )
            created = await ws.get_message()
            await ws.send_message(fixtures.SESSION_UPDATE_JSON)
            updated = await ws.get_message()
            await ws.aclose()
            nursery.cancel_scope.cancel()
    assert isinstance(created, str) and '"session.created"' in created, created
    assert isinstance(updated, str) and '"session.updated"' in updated, updated
    return created, updated


@dataclass
class RunStats:
    """The server's own lateness (µs behind its schedule) for one paced run tag."""

    late_us: list[float] = field(default_factory=list)
    connections: int = 0
    frames: int = 0

    def summary(self) -> dict[str, float]:
        late = sorted(self.late_us)
        summary: dict[str, float] = {"connections": self.connections, "frames": self.frames}
        if late:
            summary["late_p50_us"] = statistics.median(late)
            summary["late_p99_us"] = late[min(len(late) - 1, int(0.99 * len(late)))]
            summary["late_max_us"] = late[-1]
        return summary


class Connection:
    """One client socket: an ordered, non-blocking writer and a minimal frame reader."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        #: TLS: OpenSSL may hold decrypted bytes the kernel no longer signals, so read first.
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.out = bytearray()
        self.closed = False
        self._wake = trio.Event()
        self._drained = trio.Event()

    def write(self, data: bytes) -> None:
        """Send now if the socket takes it; queue the rest for the flusher (order is kept)."""
        if self.closed:
            return
        if not self.out:
            try:
                sent = self.sock.send(data)
            except _WOULD_BLOCK:
                sent = 0
            except OSError:
                self.closed = True
                return
            if sent == len(data):
                return
            data = data[sent:]
        self.out += data
        self._wake.set()

    async def flusher(self) -> None:
        while not self.closed:
            if not self.out:
                self._drained.set()
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            await trio.lowlevel.wait_writable(self.sock)
            try:
                sent = self.sock.send(self.out)
            except _WOULD_BLOCK:
                continue
            except OSError:
                self.closed = True
                break
            del self.out[:sent]
        self._drained.set()

    async def drain(self, below: int = DRAIN_BELOW) -> None:
        """Wait until at most ``below`` queued bytes are not yet in the kernel."""
        while len(self.out) > below and not self.closed:
            self._drained = trio.Event()
            self._wake.set()
            await self._drained.wait()

    async def recv(self) -> bytes:
        while True:
            if not self.tls:
                await trio.lowlevel.wait_readable(self.sock)
            try:
                return self.sock.recv(RECV_BYTES)
            except ssl.SSLWantWriteError:
                await trio.lowlevel.wait_writable(self.sock)
            except (BlockingIOError, ssl.SSLWantReadError):
                if self.tls:
                    await trio.lowlevel.wait_readable(self.sock)
            except OSError:
                return b""


async def tls_handshake(sock: ssl.SSLSocket) -> bool:
    """The server side of a TLS handshake on a non-blocking socket; False if it failed."""
    while True:
        try:
            sock.do_handshake()
            return True
        except ssl.SSLWantReadError:
            await trio.lowlevel.wait_readable(sock)
        except ssl.SSLWantWriteError:
            await trio.lowlevel.wait_writable(sock)
        except OSError:
            return False


@dataclass(order=True)
class _Due:
    due: float
    seq: int
    stream: PacedStream = field(compare=False)


@dataclass
class PacedStream:
    conn: Connection
    remaining: int
    period: float
    run: RunStats


class Server:
    def __init__(self, created: str, updated: str) -> None:
        self.api_key = API_KEY
        self.created = frame(created)
        self.updated = frame(updated)
        self.cleared = frame(_CLEARED)
        self.end = frame(fixtures.end_frame())
        # Each turn's frames split at their ids: even pieces are text, odd pieces are ids.
        self.turns = [
            [_ID.split(text) for text in fixtures.voice_turn(seed=seed).frames]
            for seed in range(TURN_POOL)
        ]
        self.framed_turns = [
            b"".join(frame("".join(pieces)) for pieces in turn) for turn in self.turns
        ]
        head, tail = fixtures.audio_delta_frame(20).split(fixtures.STAMP_ID)
        self.delta_head, self.delta_tail = head + "ev_", tail
        self.runs: dict[str, RunStats] = {}
        self._heap: list[_Due] = []
        self._seq = itertools.count()
        self._pacer_wake = trio.Event()

    # -- traffic -------------------------------------------------------------------------------

    def turn(self, index: int, unique: bool) -> bytes:
        if not unique:
            return self.framed_turns[index % TURN_POOL]
        suffix = f"{index:08d}"
        return b"".join(
            frame("".join(p if i % 2 == 0 else p[:-8] + suffix for i, p in enumerate(pieces)))
            for pieces in self.turns[index % TURN_POOL]
        )

    async def blast(self, conn: Connection, turns: int, unique: bool) -> None:
        for index in range(turns):
            conn.write(self.turn(index, unique))
            await conn.drain()
            if conn.closed:
                return
        conn.write(self.end)

    def start_paced(self, conn: Connection, rate: float, count: int, tag: str) -> None:
        run = self.runs.setdefault(tag, RunStats())
        run.connections += 1
        stream = PacedStream(conn, count, 1.0 / rate, run)
        heapq.heappush(self._heap, _Due(trio.current_time(), next(self._seq), stream))
        self._pacer_wake.set()

    async def pacer(self) -> None:
        """Send every paced stream's due frames; one task and one timer for all connections."""
        heap, clock, stamp = self._heap, trio.current_time, time.monotonic_ns
        head, tail = self.delta_head, self.delta_tail
        while True:
            if not heap:
                self._pacer_wake = trio.Event()
                await self._pacer_wake.wait()
                continue
            if heap[0].due > clock():
                self._pacer_wake = trio.Event()
                with trio.move_on_at(heap[0].due):
                    await self._pacer_wake.wait()
                continue
            now = clock()
            while heap and heap[0].due <= now:
                item = heapq.heappop(heap)
                stream = item.stream
                if stream.conn.closed:
                    continue
                stream.run.late_us.append((now - item.due) * 1e6)
                stream.conn.write(frame(f"{head}{stamp()}{tail}"))
                stream.run.frames += 1
                stream.remaining -= 1
                if stream.remaining > 0:
                    item.due += stream.period
                    heapq.heappush(heap, item)
                else:
                    stream.conn.write(self.end)
            await trio.lowlevel.checkpoint()

    def stats(self) -> bytes:
        data = {
            "type": "bench.stats",
            "event_id": "ev_stats",
            "cpu": time.process_time(),
            "wait": runqueue_wait_s(),
            "runs": {tag: run.summary() for tag, run in self.runs.items()},
        }
        return frame(json.dumps(data))

    # -- connections ---------------------------------------------------------------------------

    async def serve_connection(
        self, sock: socket.socket, tls: ssl.SSLContext | None = None
    ) -> None:
        if tls is not None:
            sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            if not await tls_handshake(sock):
                sock.close()
                return
        conn = Connection(sock)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(conn.flusher)
                await self._converse(conn, nursery)
                nursery.cancel_scope.cancel()
        finally:
            conn.closed = True
            sock.close()

    async def _converse(self, conn: Connection, nursery: trio.Nursery) -> None:
        buffer = bytearray()
        while b"\r\n\r\n" not in buffer:
            data = await conn.recv()
            if not data:
                return
            buffer += data
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        query = self._handshake(conn, head)
        if query is None:
            await conn.drain(0)
            return
        conn.write(self.created)
        mode = query.get("bench", "idle")
        if mode == "stats":
            conn.write(self.stats())
        buffer = bytearray(rest)
        while True:
            offset = 0
            while True:
                parsed = self._parse(buffer, offset)
                if parsed is None:
                    break
                offset, opcode, mask, start, end = parsed
                if opcode == 0x8:  # close: answer with the same code, then hang up
                    body = unmask(bytes(buffer[start:end]), mask)[:2]
                    conn.write(frame(body, 0x8))
                    await conn.drain(0)
                    return
                if opcode == 0x9:
                    conn.write(frame(unmask(bytes(buffer[start:end]), mask), 0xA))
                elif opcode == 0x1:
                    self._on_text(conn, buffer, start, end, mask, query, nursery)
            del buffer[:offset]
            data = await conn.recv()
            if not data:
                return
            buffer += data

    @staticmethod
    def _parse(buffer: bytearray, offset: int) -> tuple[int, int, bytes, int, int] | None:
        """``(next offset, opcode, mask, payload start, payload end)`` of the frame at
        ``offset``, or None if it is not complete yet."""
        available = len(buffer) - offset
        if available < 2:
            return None
        b0, b1 = buffer[offset], buffer[offset + 1]
        length, header = b1 & 0x7F, 2
        if length == 126:
            if available < 4:
                return None
            length, header = int.from_bytes(buffer[offset + 2 : offset + 4], "big"), 4
        elif length == 127:
            if available < 10:
                return None
            length, header = int.from_bytes(buffer[offset + 2 : offset + 10], "big"), 10
        mask = b""
        if b1 & 0x80:
            mask = bytes(buffer[offset + header : offset + header + 4])
            header += 4
        start = offset + header
        end = start + length
        if end > len(buffer):
            return None
        return end, b0 & 0x0F, mask, start, end

    def _on_text(
        self,
        conn: Connection,
        buffer: bytearray,
        start: int,
        end: int,
        mask: bytes,
        query: dict[str, str],
        nursery: trio.Nursery,
    ) -> None:
        head = unmask(bytes(buffer[start : min(end, start + 64)]), mask)
        match = _TYPE.search(head)
        kind = match.group(1) if match else b""
        if kind == b"input_audio_buffer.append":
            return
        if kind == b"session.update":
            conn.write(self.updated)
        elif kind == b"input_audio_buffer.clear":
            conn.write(self.cleared)
            mode = query.get("bench", "idle")
            if mode == "blast":
                turns, unique = int(query.get("turns", "10")), query.get("unique") == "1"
                nursery.start_soon(self.blast, conn, turns, unique)
            elif mode == "paced":
                rate, count = float(query.get("rate", "50")), int(query.get("count", "100"))
                self.start_paced(conn, rate, count, query.get("run", ""))

    def _handshake(self, conn: Connection, head: bytes) -> dict[str, str] | None:
        lines = head.decode("latin-1").split("\r\n")
        request_line = lines[0].split(" ")
        target = request_line[1] if len(request_line) > 1 else ""
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        url = urlsplit(target)
        status = None
        if not url.path.endswith("/realtime"):
            status = "404 Not Found"
        elif headers.get("authorization") != f"Bearer {self.api_key}":
            status = "401 Unauthorized"
        elif "sec-websocket-key" not in headers:
            status = "400 Bad Request"
        if status is not None:
            conn.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
            return None
        key = headers["sec-websocket-key"].encode()
        accept = accept_value(key).decode()
        conn.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        return dict(parse_qsl(url.query))


async def watch_stdin(cancel_scope: trio.CancelScope) -> None:
    """Stop the server when the harness closes our stdin (or dies)."""
    stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stream:
        while await stream.receive_some(4096):
            pass
    cancel_scope.cancel()


def _listener() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    listener.setblocking(False)
    return listener


async def accept_loop(
    server: Server, listener: socket.socket, tls: ssl.SSLContext | None, nursery: trio.Nursery
) -> None:
    while True:
        await trio.lowlevel.wait_readable(listener)
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            continue
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        nursery.start_soon(server.serve_connection, sock, tls)


def tls_context(directory: str) -> tuple[ssl.SSLContext, str]:
    """A server context with a ``trustme`` certificate for ``127.0.0.1``, and the path of the
    CA's PEM file (in ``directory``) that the clients trust."""
    import trustme

    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = os.path.join(directory, "bench-ca.pem")
    authority.cert_pem.write_to_path(ca_file)
    return context, ca_file


async def serve() -> None:
    server = Server(*await capture_protocol_frames())
    plain, secure = _listener(), _listener()
    with tempfile.TemporaryDirectory(prefix="trealtime-bench-") as directory:
        context, ca_file = tls_context(directory)
        ready = {
            "url": f"ws://127.0.0.1:{plain.getsockname()[1]}/v1/realtime",
            "tls_url": f"wss://127.0.0.1:{secure.getsockname()[1]}/v1/realtime",
            "ca_file": ca_file,
            "api_key": server.api_key,
            "pid": os.getpid(),
        }
        print(json.dumps(ready), flush=True)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_stdin, nursery.cancel_scope)
            nursery.start_soon(server.pacer)
            nursery.start_soon(accept_loop, server, plain, None, nursery)
            nursery.start_soon(accept_loop, server, secure, context, nursery)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server_process")
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    trio.run(serve)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
