"""The client WebSocket (``trealtime._transport._websocket``, our own framing) against real peers.

Most tests talk to :class:`Peer`, a server written with wsproto over in-memory streams
(virtual time); the last ones talk to trio-websocket's server over loopback TCP (real time).
"""

from __future__ import annotations

import base64
import hashlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TypeVar

import pytest
import trio
import trio.testing
import trio_websocket
from trio.testing import MockClock
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from trealtime import ConfigurationError, ConnectError, ConnectionRejected
from trealtime._transport._websocket import WebSocket, WebSocketClosed, connect_websocket

HOST = "api.example.test"
RESOURCE = "/v1/realtime?model=gpt-realtime"
HEADERS = [("Authorization", "Bearer sk-test"), ("OpenAI-Beta", "realtime=v1")]
MAX_SIZE = 1024
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
TIMEOUT = 5  # virtual seconds for in-memory tests, real ones over TCP

E = TypeVar("E", bound=Event)


# -- the server side ------------------------------------------------------------------------------


def raw_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """A server frame (unmasked) built by hand, to send what wsproto would refuse to."""
    assert len(payload) < 126
    return bytes([(0x80 if fin else 0) | rsv << 4 | opcode, len(payload)]) + payload


class Peer:
    """The server end of one connection, speaking WebSocket with wsproto over ``stream``."""

    def __init__(self, stream: trio.abc.Stream, *, receive_size: int = 65536) -> None:
        self.stream = stream
        self.receive_size = receive_size
        self.protocol = WSConnection(ConnectionType.SERVER)
        self.request: Request | None = None
        self.received = bytearray()  # every byte the client wrote
        self._events: deque[Event] = deque()

    # -- reading

    async def next_event(self) -> Event | None:
        """The client's next event; ``None`` once the client closed its stream."""
        while not self._events:
            data = await self.stream.receive_some(self.receive_size)
            if not data:
                return None
            self.received += data
            self.protocol.receive_data(bytes(data))
            self._events.extend(self.protocol.events())
        return self._events.popleft()

    async def expect(self, kind: type[E]) -> E:
        """The client's next event, which must be a ``kind``."""
        event = await self.next_event()
        assert isinstance(event, kind), f"expected {kind.__name__}, got {event!r}"
        return event

    async def receive_message(self) -> str | bytes:
        """The client's next whole message, however wsproto cut it into events."""
        texts: list[str] = []
        blobs: list[bytes] = []
        while True:
            event = await self.next_event()
            if isinstance(event, TextMessage):
                texts.append(event.data)
            elif isinstance(event, BytesMessage):
                blobs.append(bytes(event.data))
            else:
                raise AssertionError(f"expected a message, got {event!r}")
            if event.message_finished:
                return "".join(texts) if isinstance(event, TextMessage) else b"".join(blobs)

    async def expect_eof(self) -> None:
        """The client closes its stream without writing anything more."""
        assert not self._events, f"unread events: {list(self._events)!r}"
        data = await self.stream.receive_some()
        assert not data, f"expected the end of the stream, got {bytes(data)!r}"

    # -- the handshake

    async def accept(self, *first: Event) -> None:
        """Read the request and accept it; ``first`` frames go in the same write as the 101."""
        self.request = await self.expect(Request)
        answer = self.protocol.send(AcceptConnection())
        await self.stream.send_all(answer + self.frames(*first))

    async def reject(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """Read the request and refuse it with an HTTP answer, the body in several writes."""
        self.request = await self.expect(Request)
        head = RejectConnection(status_code=status, headers=headers, has_body=bool(body))
        await self.stream.send_all(self.protocol.send(head))
        if body:
            half = len(body) // 2
            for part, last in ((body[:half], False), (body[half:], True)):
                await trio.testing.wait_all_tasks_blocked()
                await self.stream.send_all(self.protocol.send(RejectData(part, last)))

    async def answer_raw(self, data: bytes, *, hang_up: bool) -> None:
        """Read the request and answer with raw bytes, then hang up or stay connected."""
        self.request = await self.expect(Request)
        if data:
            await self.stream.send_all(data)
        if hang_up:
            await self.stream.aclose()
        else:
            await trio.sleep_forever()

    # -- writing

    def frames(self, *events: Event) -> bytes:
        """The bytes wsproto writes for ``events`` (messages, fragments, pings, a close)."""
        return b"".join(self.protocol.send(event) for event in events)

    async def send(self, *events: Event) -> None:
        """Write the frames of ``events`` in one stream write."""
        await self.stream.send_all(self.frames(*events))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send_in_pieces(self, data: bytes, size: int) -> None:
        """Write ``data`` ``size`` bytes at a time, each piece read before the next is sent."""
        for start in range(0, len(data), size):
            await self.stream.send_all(data[start : start + size])
            await trio.testing.wait_all_tasks_blocked()

    async def hang_up(self) -> None:
        """Close the stream without a close frame."""
        await self.stream.aclose()


def text_fragments(*parts: str) -> list[Event]:
    """One text message cut into a frame per part."""
    return [TextMessage(part, message_finished=i == len(parts) - 1) for i, part in enumerate(parts)]


def bytes_fragments(*parts: bytes) -> list[Event]:
    """One binary message cut into a frame per part."""
    return [
        BytesMessage(part, message_finished=i == len(parts) - 1) for i, part in enumerate(parts)
    ]


# -- the client side ------------------------------------------------------------------------------


async def connect(
    stream: trio.abc.Stream, max_message_size: int = MAX_SIZE, host: str = HOST
) -> WebSocket:
    return await connect_websocket(
        stream, host=host, resource=RESOURCE, headers=HEADERS, max_message_size=max_message_size
    )


async def handshake_with(serve: Callable[[Peer], Awaitable[None]]) -> WebSocket:
    """Connect over a fresh in-memory pair while ``serve`` plays the server's handshake."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    error: ConnectError | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, Peer(server_stream))
        try:
            ws = await connect(client_stream)
        except ConnectError as exc:  # raised here, not wrapped in the nursery's group
            error = exc
        nursery.cancel_scope.cancel()  # a server that stays connected
    if error is not None:
        raise error
    return ws


async def open_pair(
    *first: Event, max_message_size: int = MAX_SIZE
) -> tuple[WebSocket, Peer, trio.abc.Stream]:
    """An open WebSocket, its server, and the client's stream (``first`` come with the 101)."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = Peer(server_stream)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer.accept, *first)
        ws = await connect(client_stream, max_message_size)
    return ws, peer, client_stream


async def rejection(serve: Callable[[Peer], Awaitable[None]]) -> ConnectionRejected:
    """The ConnectionRejected raised while ``serve`` answers the handshake."""
    with pytest.raises(ConnectionRejected) as caught:
        await handshake_with(serve)
    return caught.value


async def connect_error(serve: Callable[[Peer], Awaitable[None]]) -> ConnectError:
    """The ConnectError (not a rejection) raised while ``serve`` answers the handshake."""
    with pytest.raises(ConnectError) as caught:
        await handshake_with(serve)
    assert not isinstance(caught.value, ConnectionRejected)
    return caught.value


async def closed_with(ws: WebSocket) -> WebSocketClosed:
    """The WebSocketClosed that ``receive_message`` raises now."""
    with pytest.raises(WebSocketClosed) as caught:
        await ws.receive_message()
    return caught.value


async def receive_all(ws: WebSocket, count: int) -> list[str | bytes]:
    return [await ws.receive_message() for _ in range(count)]


async def drain(ws: WebSocket) -> tuple[list[str | bytes], WebSocketClosed]:
    """Every message still to come, and the WebSocketClosed that ends them."""
    messages: list[str | bytes] = []
    while True:
        try:
            messages.append(await ws.receive_message())
        except WebSocketClosed as closed:
            return messages, closed


# -- the handshake --------------------------------------------------------------------------------


async def test_handshake_sends_host_target_and_extra_headers(autojump_clock: MockClock) -> None:
    """The server sees the Host, the request target and every extra header; the socket opens."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
    assert peer.request is not None
    assert peer.request.host == HOST
    assert peer.request.target == RESOURCE
    headers = dict(peer.request.extra_headers)
    assert headers[b"authorization"] == b"Bearer sk-test"
    assert headers[b"openai-beta"] == b"realtime=v1"
    assert headers[b"upgrade"].lower() == b"websocket"
    assert not ws.closed
    assert ws.close_code is None and ws.close_reason is None


async def test_rejection_carries_status_headers_and_body(autojump_clock: MockClock) -> None:
    """A non-101 answer raises ConnectionRejected with its status, headers and whole body."""
    body = b'{"error": {"message": "Incorrect API key provided"}}'
    headers = [(b"Content-Type", b"application/json"), (b"X-Request-Id", b"req_42")]
    with trio.fail_after(TIMEOUT):
        error = await rejection(partial(Peer.reject, status=401, headers=headers, body=body))
    assert isinstance(error, ConnectError)
    assert error.status_code == 401
    assert error.headers["content-type"] == "application/json"
    assert error.headers["x-request-id"] == "req_42"
    assert error.body == body
    assert "Incorrect API key" in str(error)


async def test_rejection_without_body(autojump_clock: MockClock) -> None:
    """A refusal with no body raises at once, with an empty body."""
    with trio.fail_after(TIMEOUT):
        error = await rejection(
            partial(Peer.reject, status=429, headers=[(b"Retry-After", b"7")], body=b"")
        )
    assert (error.status_code, error.headers["retry-after"], error.body) == (429, "7", b"")


async def test_rejection_body_ending_at_eof(autojump_clock: MockClock) -> None:
    """A refusal whose body runs to the end of the connection keeps what came before EOF."""
    answer = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\nbusy, try later"
    with trio.fail_after(TIMEOUT):
        error = await rejection(partial(Peer.answer_raw, data=answer, hang_up=True))
    assert (error.status_code, error.body) == (503, b"busy, try later")


async def test_rejection_body_is_capped(autojump_clock: MockClock) -> None:
    """Only the first 64 KiB of a refusal's body are kept."""
    body = bytes(range(256)) * 400  # 100 KiB
    with trio.fail_after(TIMEOUT):
        error = await rejection(partial(Peer.reject, status=500, headers=[], body=body))
    assert error.body == body[: 64 * 1024]


async def test_hang_up_during_handshake_is_connect_error(autojump_clock: MockClock) -> None:
    """The server closing before any answer raises ConnectError."""
    with trio.fail_after(TIMEOUT):
        error = await connect_error(partial(Peer.answer_raw, data=b"", hang_up=True))
    assert HOST in str(error)


async def test_hang_up_midway_through_the_answer_is_connect_error(
    autojump_clock: MockClock,
) -> None:
    """The server closing in the middle of its 101 answer raises ConnectError."""
    partial_answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    with trio.fail_after(TIMEOUT):
        await connect_error(partial(Peer.answer_raw, data=partial_answer, hang_up=True))


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", id="not-http"),
        pytest.param(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSBrZXk=\r\n\r\n",
            id="wrong-accept-key",
        ),
    ],
)
async def test_invalid_answer_is_connect_error_without_waiting(
    autojump_clock: MockClock, answer: bytes
) -> None:
    """An answer that is not a valid HTTP upgrade raises ConnectError while the server stays."""
    with trio.fail_after(TIMEOUT):
        error = await connect_error(partial(Peer.answer_raw, data=answer, hang_up=False))
    assert "handshake" in str(error)


def upgrade_answer(request_key: bytes, *header_lines: bytes) -> bytes:
    """A 101 answer with the right accept value for ``request_key`` and ``header_lines``."""
    accept = base64.b64encode(hashlib.sha1(request_key + WEBSOCKET_GUID).digest())
    lines = [b"HTTP/1.1 101 Switching Protocols", *header_lines]
    return b"\r\n".join(line.replace(b"{accept}", accept) for line in lines) + b"\r\n\r\n"


async def answer_upgrade(peer: Peer, lines: list[bytes]) -> None:
    """Read the request, answer it with a hand-made 101 (see ``upgrade_answer``), and stay."""
    peer.request = await peer.expect(Request)
    key = dict(peer.request.extra_headers)[b"sec-websocket-key"]
    await peer.stream.send_all(upgrade_answer(key, *lines))
    await trio.sleep_forever()


UPGRADE = b"Upgrade: websocket"
CONNECTION = b"Connection: Upgrade"
ACCEPT = b"Sec-WebSocket-Accept: {accept}"


@pytest.mark.parametrize(
    ("lines", "complaint"),
    [
        pytest.param([UPGRADE, ACCEPT], "Connection: Upgrade", id="no-connection-header"),
        pytest.param([CONNECTION, ACCEPT], "Upgrade: websocket", id="no-upgrade-header"),
        pytest.param(
            [b"Upgrade: h2c", CONNECTION, ACCEPT], "Upgrade: websocket", id="wrong-upgrade"
        ),
        pytest.param([UPGRADE, CONNECTION], "Sec-WebSocket-Accept", id="no-accept"),
        pytest.param(
            [UPGRADE, CONNECTION, ACCEPT, b"Sec-WebSocket-Extensions: permessage-deflate"],
            "sec-websocket-extensions",
            id="extension-not-offered",
        ),
        pytest.param(
            [UPGRADE, CONNECTION, ACCEPT, b"Sec-WebSocket-Protocol: realtime"],
            "sec-websocket-protocol",
            id="subprotocol-not-offered",
        ),
    ],
)
async def test_invalid_upgrade_is_connect_error(
    autojump_clock: MockClock, lines: list[bytes], complaint: str
) -> None:
    """A 101 that is not a valid WebSocket upgrade for our key raises ConnectError saying why."""
    with trio.fail_after(TIMEOUT):
        error = await connect_error(partial(answer_upgrade, lines=lines))
    assert complaint in str(error)
    assert HOST in str(error)


async def test_upgrade_headers_are_read_as_token_lists(autojump_clock: MockClock) -> None:
    """Connection may list several tokens and Upgrade may differ in case: the socket opens."""
    lines = [b"Upgrade: WebSocket", b"Connection: keep-alive, Upgrade", ACCEPT]
    with trio.fail_after(TIMEOUT):
        ws = await handshake_with(partial(answer_upgrade, lines=lines))
    assert not ws.closed


async def test_informational_answer_before_the_101_is_skipped(autojump_clock: MockClock) -> None:
    """A 100 Continue ahead of the 101 is passed over."""

    async def continue_then_upgrade(peer: Peer) -> None:
        await peer.stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        await answer_upgrade(peer, [UPGRADE, CONNECTION, ACCEPT])

    with trio.fail_after(TIMEOUT):
        ws = await handshake_with(continue_then_upgrade)
    assert not ws.closed


@pytest.mark.parametrize(
    "header",
    [("X-Trace", "a\r\nInjected: yes"), ("Bad Name", "sk-0123"), ("X-Nul", "a\x00b")],
    ids=["crlf-in-value", "space-in-name", "nul-in-value"],
)
async def test_illegal_header_is_a_configuration_error_before_anything_is_sent(
    autojump_clock: MockClock, header: tuple[str, str]
) -> None:
    """A header that cannot be written raises ConfigurationError naming it, not quoting its
    value (it may be a secret), and nothing goes out: no request can be smuggled."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(TIMEOUT), pytest.raises(ConfigurationError) as caught:
        await connect_websocket(
            client_stream, host=HOST, resource=RESOURCE, headers=[header], max_message_size=10
        )
    assert repr(header[0]) in str(caught.value)
    assert header[1] not in str(caught.value)
    await client_stream.aclose()
    assert await server_stream.receive_some() == b""


async def test_broken_stream_during_handshake_is_connect_error(autojump_clock: MockClock) -> None:
    """A stream that breaks while the request is written raises ConnectError."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    await server_stream.aclose()
    with trio.fail_after(TIMEOUT), pytest.raises(ConnectError) as caught:
        await connect(client_stream)
    assert not isinstance(caught.value, ConnectionRejected)


async def test_frames_sent_with_the_101_are_delivered(autojump_clock: MockClock) -> None:
    """Messages in the same write as the 101 answer are the first ones received, in order."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair(
            TextMessage("session.created"), *bytes_fragments(b"\x00", b"\x01"), TextMessage("two")
        )
        await peer.send(TextMessage("later"))
        assert await receive_all(ws, 4) == ["session.created", b"\x00\x01", "two", "later"]


async def test_ping_sent_with_the_101_is_answered(autojump_clock: MockClock) -> None:
    """A ping in the 101's write gets its pong once the client reads on."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair(Ping(b"early"), TextMessage("hello"))
        assert await ws.receive_message() == "hello"
        await peer.send(TextMessage("bye"))
        assert await ws.receive_message() == "bye"
        assert (await peer.expect(Pong)).payload == b"early"


async def test_close_sent_with_the_101_is_answered(autojump_clock: MockClock) -> None:
    """A close frame in the 101's write gets the client's close reply like any other."""
    with trio.fail_after(TIMEOUT):
        ws, peer, client_stream = await open_pair(
            TextMessage("error: bad model"), CloseConnection(1008, "policy")
        )
        assert await ws.receive_message() == "error: bad model"
        closed = await closed_with(ws)
        assert (closed.code, closed.reason) == (1008, "policy")
        await client_stream.aclose()  # the caller closes the stream once the socket is closed
        reply = await peer.expect(CloseConnection)
    assert reply.code == 1008


# -- receiving ------------------------------------------------------------------------------------


async def test_messages_in_one_piece(autojump_clock: MockClock) -> None:
    """Text and binary messages, including empty ones, arrive whole and in order."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.send(
            TextMessage("héllo ✓"), BytesMessage(b"\x00\xff"), TextMessage(""), BytesMessage(b"")
        )
        assert await receive_all(ws, 4) == ["héllo ✓", b"\x00\xff", "", b""]


async def test_fragmented_messages_are_reassembled(autojump_clock: MockClock) -> None:
    """Messages cut into several frames come out as one text and one bytes message."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.send(
            *text_fragments("Hel", "lo, ", "wörld"),
            *bytes_fragments(b"ab", b"", b"cd"),
            TextMessage("whole"),
        )
        assert await receive_all(ws, 3) == ["Hello, wörld", b"abcd", "whole"]


async def test_ping_between_fragments_is_answered(autojump_clock: MockClock) -> None:
    """A ping between two fragments gets its pong and leaves the message intact."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        first, last = text_fragments("frag", "mented")
        await peer.send(first, Ping(b"mid"), last)
        assert await ws.receive_message() == "fragmented"
        assert (await peer.expect(Pong)).payload == b"mid"


@pytest.mark.parametrize("size", [1, 3, 7])
async def test_frames_split_across_stream_writes(autojump_clock: MockClock, size: int) -> None:
    """Frames arriving a few bytes per read (even mid-character) are put back together."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        data = peer.frames(
            TextMessage("ünïcödé ✓ " * 3),
            *text_fragments("split ", "and fragmented"),
            BytesMessage(bytes(range(40))),
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.send_in_pieces, data, size)
            messages = await receive_all(ws, 3)
    assert messages == ["ünïcödé ✓ " * 3, "split and fragmented", bytes(range(40))]


async def test_large_message_split_across_writes(autojump_clock: MockClock) -> None:
    """A message much larger than one read arrives whole."""
    payload = "0123456789abcdef" * 20_000  # 320 kB, several reads
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair(max_message_size=len(payload))
        data = peer.frames(TextMessage(payload))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.send_in_pieces, data, 50_000)
            assert await ws.receive_message() == payload


async def test_message_of_exactly_max_size_is_delivered(autojump_clock: MockClock) -> None:
    """The limit is inclusive, whole or in fragments."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair(max_message_size=10)
        await peer.send(TextMessage("x" * 10), *bytes_fragments(b"y" * 4, b"z" * 6))
        assert await receive_all(ws, 2) == ["x" * 10, b"y" * 4 + b"z" * 6]
        assert not ws.closed


@pytest.mark.parametrize(
    "message",
    [
        pytest.param([TextMessage("x" * 11)], id="whole-text"),
        pytest.param([BytesMessage(b"x" * 11)], id="whole-bytes"),
        pytest.param(text_fragments("x" * 6, "y" * 5), id="fragmented-text"),
        pytest.param(bytes_fragments(b"x" * 10, b"", b"y"), id="fragmented-bytes"),
    ],
)
async def test_oversized_message_closes_with_1009(
    autojump_clock: MockClock, message: list[Event]
) -> None:
    """A message over max_message_size: the client sends close 1009 and raises 1009."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair(max_message_size=10)
        await peer.send(TextMessage("fine"), *message)
        assert await ws.receive_message() == "fine"
        closed = await closed_with(ws)
        assert closed.code == 1009
        assert ws.closed and ws.close_code == 1009
        assert (await peer.expect(CloseConnection)).code == 1009


async def test_oversized_frame_is_refused_before_it_is_complete(
    autojump_clock: MockClock,
) -> None:
    """A single frame that exceeds the limit closes 1009 without waiting for all of it."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair(max_message_size=100)
        await peer.send_raw(peer.frames(TextMessage("x" * 1000))[:300])  # the rest never comes
        closed = await closed_with(ws)
        assert closed.code == 1009
        assert (await peer.expect(CloseConnection)).code == 1009


async def test_rest_of_an_oversized_message_is_not_delivered(autojump_clock: MockClock) -> None:
    """Fragments after the one that broke the limit are dropped, never handed out as a message."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair(max_message_size=10)
        await peer.send(*text_fragments("a" * 8, "b" * 8, "cc"))
        messages, closed = await drain(ws)
    assert messages == []  # not "cc", the last fragment of the refused message
    assert closed.code == 1009


# -- pings ----------------------------------------------------------------------------------------


async def test_server_ping_gets_a_pong(autojump_clock: MockClock) -> None:
    """Pings read on the way to a message are answered with their payload, in order."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.send(Ping(b"one"), Ping(b""), TextMessage("after"))
        assert await ws.receive_message() == "after"
        assert (await peer.expect(Pong)).payload == b"one"
        assert (await peer.expect(Pong)).payload == b""


async def test_client_ping_returns_when_its_pong_arrives(autojump_clock: MockClock) -> None:
    """ping() waits for the pong with its own payload, read by receive_message."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        answered = trio.Event()

        async def pinger() -> None:
            await ws.ping()
            answered.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pinger)
            ping = await peer.expect(Ping)
            await peer.send(Pong(b"not-ours"), TextMessage("one"))
            assert await ws.receive_message() == "one"
            await trio.testing.wait_all_tasks_blocked()
            assert not answered.is_set()
            await peer.send(ping.response(), TextMessage("two"))
            assert await ws.receive_message() == "two"
        assert answered.is_set()


async def test_client_pings_are_told_apart(autojump_clock: MockClock) -> None:
    """Two pings in flight each return on their own pong."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        done: list[int] = []

        async def pinger(n: int) -> None:
            await ws.ping()
            done.append(n)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pinger, 1)
            first = await peer.expect(Ping)
            nursery.start_soon(pinger, 2)
            second = await peer.expect(Ping)
            assert first.payload != second.payload
            await peer.send(second.response(), TextMessage("a"))
            assert await ws.receive_message() == "a"
            await trio.testing.wait_all_tasks_blocked()
            assert done == [2]
            await peer.send(first.response(), TextMessage("b"))
            assert await ws.receive_message() == "b"
        assert done == [2, 1]


@pytest.mark.parametrize(
    ("ending", "code"),
    [
        pytest.param("close", 1001, id="close-frame"),
        pytest.param("hang-up", 1006, id="hang-up"),
    ],
)
async def test_ping_raises_when_the_connection_closes_first(
    autojump_clock: MockClock, ending: str, code: int
) -> None:
    """A ping still waiting when the connection ends raises WebSocketClosed."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        errors: list[WebSocketClosed] = []

        async def pinger() -> None:
            with pytest.raises(WebSocketClosed) as caught:
                await ws.ping()
            errors.append(caught.value)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pinger)
            await peer.expect(Ping)
            if ending == "close":
                await peer.send(CloseConnection(1001, "going away"))
            else:
                await peer.hang_up()
            assert (await closed_with(ws)).code == code
    assert [error.code for error in errors] == [code]


async def test_ping_on_a_closed_socket_raises_at_once(autojump_clock: MockClock) -> None:
    """ping() after the close raises without writing anything."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.send(CloseConnection(1000, "done"))
        await closed_with(ws)
        with pytest.raises(WebSocketClosed) as caught:
            await ws.ping()
    assert caught.value.code == 1000


async def test_no_pong_once_the_client_is_closing(autojump_clock: MockClock) -> None:
    """A ping that crosses the client's close frame is not answered (nor does it fail)."""
    with trio.fail_after(TIMEOUT):
        ws, peer, client_stream = await open_pair()
        await ws.send_close(1000, "done")
        await peer.send(Ping(b"late"), TextMessage("still here"))  # sent before reading the close
        close = await peer.expect(CloseConnection)
        await peer.send(close.response())
        assert await ws.receive_message() == "still here"
        assert (await closed_with(ws)).code == 1000
        await client_stream.aclose()
        await peer.expect_eof()


# -- closing --------------------------------------------------------------------------------------


async def test_server_close_is_answered_after_all_messages(autojump_clock: MockClock) -> None:
    """Messages before the server's close all come out first, then WebSocketClosed(code, reason);
    the client replies with the same code."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.send(
            TextMessage("a"), BytesMessage(b"b"), TextMessage("c"), CloseConnection(4000, "done")
        )
        messages, closed = await drain(ws)
        reply = await peer.expect(CloseConnection)
    assert messages == ["a", b"b", "c"]
    assert (closed.code, closed.reason) == (4000, "done")
    assert (ws.closed, ws.close_code, ws.close_reason) == (True, 4000, "done")
    assert (reply.code, reply.reason) == (4000, "done")
    assert "4000" in str(closed) and "done" in str(closed)


async def test_bytes_after_the_server_close_are_ignored(autojump_clock: MockClock) -> None:
    """Garbage after the server's close frame changes neither the close nor the reply."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.send_raw(peer.frames(CloseConnection(4000, "done")) + b"\xff\xff\xff\xff")
        closed = await closed_with(ws)
        reply = await peer.expect(CloseConnection)
    assert (closed.code, closed.reason) == (4000, "done")
    assert reply.code == 4000


async def test_first_close_code_wins(autojump_clock: MockClock) -> None:
    """A client close for an oversized message is what receive_message reports, even when the
    server's own close follows in the same write."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair(max_message_size=10)
        await peer.send(BytesMessage(b"x" * 11), CloseConnection(1000, "bye"))
        closed = await closed_with(ws)
        reply = await peer.expect(CloseConnection)
    assert closed.code == 1009
    assert reply.code == 1009


async def test_receive_keeps_raising_after_the_close(autojump_clock: MockClock) -> None:
    """Once closed, every receive_message and send_message raises the same close."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.send(CloseConnection(4001, "bye"))
        codes = [(await closed_with(ws)).code for _ in range(3)]
        with pytest.raises(WebSocketClosed) as caught:
            await ws.send_message("too late")
    assert codes == [4001, 4001, 4001]
    assert (caught.value.code, caught.value.reason) == (4001, "bye")


async def test_close_without_status_code(autojump_clock: MockClock) -> None:
    """An empty close frame means 1005; the client answers with an empty close too."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.send_raw(raw_frame(0x8, b""))
        assert (await closed_with(ws)).code == 1005
        reply = await peer.expect(CloseConnection)
    assert reply.code == 1005  # what wsproto reports for an empty close frame
    assert peer.received[-6:-4] == b"\x88\x80"  # a close frame, masked, with no payload


async def test_client_close_handshake(autojump_clock: MockClock) -> None:
    """send_close: the server sees the code and reason, replies, and receive_message raises
    with the client's code; sends are refused meanwhile."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await ws.send_close(4002, "client done")
        assert ws.closed
        with pytest.raises(WebSocketClosed):
            await ws.send_message("after close")
        in_flight = peer.frames(TextMessage("in flight"))  # sent before the close was read
        close = await peer.expect(CloseConnection)
        assert (close.code, close.reason) == (4002, "client done")
        await peer.send_raw(in_flight + peer.frames(close.response()))
        assert await ws.receive_message() == "in flight"
        closed = await closed_with(ws)
    assert (closed.code, closed.reason) == (4002, "client done")


async def test_send_close_twice_sends_one_close(autojump_clock: MockClock) -> None:
    """A second send_close, or one after the server's close, writes nothing."""
    with trio.fail_after(TIMEOUT):
        ws, peer, client_stream = await open_pair()
        await ws.send_close(1000, None)
        await ws.send_close(1001, "again")
        assert (await peer.expect(CloseConnection)).code == 1000
        await client_stream.aclose()
        await peer.expect_eof()


async def test_eof_without_close_is_1006(autojump_clock: MockClock) -> None:
    """The server hanging up without a close frame: messages first, then 1006."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.send(TextMessage("last words"))
        await peer.hang_up()
        assert await ws.receive_message() == "last words"
        closed = await closed_with(ws)
        assert closed.code == 1006
        assert ws.closed and ws.close_code == 1006
        with pytest.raises(WebSocketClosed) as caught:
            await ws.send_message("anyone?")
    assert caught.value.code == 1006


@pytest.mark.parametrize(
    ("violation", "code"),
    [
        pytest.param(b"\xff\xff\xff\xff", 1002, id="garbage"),
        pytest.param(raw_frame(0x1, b"x", rsv=0b100), 1002, id="reserved-bit"),
        pytest.param(b"\x81\x81abcdx", 1002, id="masked-server-frame"),
        pytest.param(raw_frame(0x3, b"x"), 1002, id="unknown-opcode"),
        pytest.param(raw_frame(0x1, b"\xff\xfe"), 1007, id="invalid-utf8"),
    ],
)
async def test_protocol_violation_closes(
    autojump_clock: MockClock, violation: bytes, code: int
) -> None:
    """Bytes that break the protocol: earlier messages come out, the client sends close with
    the code the protocol asks for and raises it."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.send_raw(peer.frames(TextMessage("ok")) + violation)
        assert await ws.receive_message() == "ok"
        closed = await closed_with(ws)
        reply = await peer.expect(CloseConnection)
    assert closed.code == code
    assert reply.code == code
    assert ws.closed


# -- sending --------------------------------------------------------------------------------------


async def test_sent_messages_reach_the_server(autojump_clock: MockClock) -> None:
    """send_message writes one masked text frame per call."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        for text in ["hello", "", "ünïcode ✓", "x" * 70_000]:
            await ws.send_message(text)
            assert await peer.receive_message() == text


async def test_concurrent_sends_do_not_interleave(autojump_clock: MockClock) -> None:
    """Several tasks sending at once over a stream with no buffer: every frame arrives intact
    and each task's messages keep their order."""
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    peer = Peer(server_stream, receive_size=7)  # every send blocks across many reads
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.accept)
            ws = await connect(client_stream)

        async def sender(task: int) -> None:
            for n in range(5):
                await ws.send_message(f"task {task} message {n} " + "." * (50 * task))

        received: list[str | bytes] = []
        async with trio.open_nursery() as nursery:
            for task in range(4):
                nursery.start_soon(sender, task)
            for _ in range(20):
                received.append(await peer.receive_message())
    for task in range(4):
        mine = [m for m in received if isinstance(m, str) and m.startswith(f"task {task} ")]
        assert mine == [f"task {task} message {n} " + "." * (50 * task) for n in range(5)]


async def test_send_cancelled_mid_write_breaks_the_socket(autojump_clock: MockClock) -> None:
    """A send cancelled with half its frame written: later sends and pings raise
    WebSocketClosed instead of writing after the torn frame."""
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    peer = Peer(server_stream, receive_size=10)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.accept)
            ws = await connect(client_stream)
        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()

            async def send_big() -> None:
                with scope:
                    await ws.send_message("x" * 1000)

            nursery.start_soon(send_big)
            partial_frame = await server_stream.receive_some(10)  # then the server stops reading
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
        assert scope.cancelled_caught
        assert len(partial_frame) == 10
        with pytest.raises(WebSocketClosed):
            await ws.send_message("next")
        with pytest.raises(WebSocketClosed):
            await ws.ping()
        await ws.send_close(1000, None)  # swallowed: nothing can be framed any more
        await client_stream.aclose()
        rest = bytearray()
        while data := await server_stream.receive_some():
            rest += data
    assert len(partial_frame) + len(rest) == 2 + 2 + 4 + 1000  # the torn frame and nothing else


async def test_send_cancelled_while_waiting_its_turn_is_harmless(
    autojump_clock: MockClock,
) -> None:
    """A send cancelled before it got to write leaves the socket usable."""
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    peer = Peer(server_stream)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.accept)
            ws = await connect(client_stream)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.send_message, "first")  # blocks: the server is not reading
            await trio.testing.wait_all_tasks_blocked()
            with trio.move_on_after(1) as waiting:
                await ws.send_message("never sent")
            assert waiting.cancelled_caught
            assert await peer.receive_message() == "first"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.send_message, "second")
            assert await peer.receive_message() == "second"
    assert not ws.closed


async def test_send_under_a_cancelled_scope_writes_nothing(autojump_clock: MockClock) -> None:
    """A send whose scope is already cancelled raises before writing a byte: the socket is
    not broken (the lock is free, so nothing else would have stopped it)."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = Peer(server_stream)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.accept)
            ws = await connect(client_stream)
        with trio.CancelScope() as scope:
            scope.cancel()
            await ws.send_message("never sent")
        assert scope.cancelled_caught
        await ws.send_message("sent")
        assert await peer.receive_message() == "sent"
    assert not ws.closed


async def test_pong_owed_survives_a_cancelled_receive(autojump_clock: MockClock) -> None:
    """A receive cancelled while its pong waits behind another task's long send: the pong is
    still sent on the next receive, not dropped."""
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    peer = Peer(server_stream)
    big = "x" * 1000
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.accept)
            ws = await connect(client_stream)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.send_message, big)  # blocks: the server is not reading
            nursery.start_soon(peer.send, Ping(b"owed"), TextMessage("m"))
            await trio.testing.wait_all_tasks_blocked()
            with trio.move_on_after(1) as timeout:
                await ws.receive_message()  # reads both frames, then waits its turn to pong
            assert timeout.cancelled_caught
            assert await peer.receive_message() == big  # the long send completes
        assert await ws.receive_message() == "m"  # the message was kept
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws.receive_message)  # reads on: first it owes the pong
            assert (await peer.expect(Pong)).payload == b"owed"
            nursery.cancel_scope.cancel()


async def test_send_on_a_broken_stream_raises(autojump_clock: MockClock) -> None:
    """A write that fails because the server went away raises WebSocketClosed(1006)."""
    with trio.fail_after(TIMEOUT):
        ws, peer, _ = await open_pair()
        await peer.hang_up()
        with pytest.raises(WebSocketClosed) as caught:
            await ws.send_message("hello?")
        assert caught.value.code == 1006
        assert (await closed_with(ws)).code == 1006


# -- interop with trio-websocket's server over loopback TCP ---------------------------------------

Handler = Callable[[trio_websocket.WebSocketRequest], Awaitable[None]]


@asynccontextmanager
async def trio_websocket_server(handler: Handler) -> AsyncIterator[int]:
    """Serve ``handler`` with trio-websocket on 127.0.0.1; yields the port."""
    async with trio.open_nursery() as nursery:
        serve = partial(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        server: trio_websocket.WebSocketServer = await nursery.start(serve)
        yield server.port
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def tcp_websocket(port: int, max_message_size: int = 1 << 20) -> AsyncIterator[WebSocket]:
    """The client WebSocket over a real TCP connection to ``port``."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        yield await connect(stream, max_message_size, host=f"127.0.0.1:{port}")


def code_and_reason(closed: trio_websocket.ConnectionClosed) -> tuple[int, str | None]:
    """What trio-websocket's server was told when the connection closed."""
    assert closed.reason is not None
    return closed.reason.code, closed.reason.reason


async def test_interop_conversation() -> None:
    """Against trio-websocket: headers, text and binary both ways, a big message, pings in
    both directions, and a client-initiated close the server sees with its code."""
    big = "0123456789" * 30_000
    path: list[str] = []
    headers: dict[bytes, bytes] = {}
    server_got: list[str | bytes] = []
    server_closed: list[tuple[int, str | None]] = []
    handled = trio.Event()

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        path.append(request.path)
        headers.update(request.headers)
        ws = await request.accept()
        try:
            hello = await ws.get_message()
            assert isinstance(hello, str)
            await ws.send_message("echo: " + hello)
            await ws.send_message(b"\x00binary")
            await ws.ping(b"server-ping")  # returns only once the client pongs
            await ws.send_message(big)
            server_got.append(await ws.get_message())
            await ws.send_message(await ws.get_message())  # echoes the big one back
            await ws.get_message()
        except trio_websocket.ConnectionClosed as closed:
            server_closed.append(code_and_reason(closed))
        finally:
            handled.set()

    with trio.fail_after(TIMEOUT):
        async with trio_websocket_server(handler) as port, tcp_websocket(port) as ws:
            await ws.send_message("hello")
            assert await ws.receive_message() == "echo: hello"
            assert await ws.receive_message() == b"\x00binary"
            assert await ws.receive_message() == big  # the server's ping was answered meanwhile

            async def ping_then_report() -> None:
                await ws.ping()
                await ws.send_message("pong received")
                await ws.send_message(big[::-1])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(ping_then_report)
                assert await ws.receive_message() == big[::-1]
            await ws.send_close(4000, "all done")
            closed = await closed_with(ws)
            await handled.wait()
    assert (closed.code, closed.reason) == (4000, "all done")
    assert path == [RESOURCE]
    assert headers[b"authorization"] == b"Bearer sk-test"
    assert headers[b"openai-beta"] == b"realtime=v1"
    assert server_got == ["pong received"]
    assert server_closed == [(4000, "all done")]


async def test_interop_rejection() -> None:
    """trio-websocket's reject() comes out as ConnectionRejected with status, headers, body."""

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        await request.reject(403, extra_headers=[(b"X-Reason", b"bad key")], body=b"denied")

    async def open_and_close(port: int) -> None:
        async with tcp_websocket(port):
            pass  # pragma: no cover

    with trio.fail_after(TIMEOUT):
        async with trio_websocket_server(handler) as port:
            with pytest.raises(ConnectionRejected) as caught:
                await open_and_close(port)
    assert caught.value.status_code == 403
    assert caught.value.headers["x-reason"] == "bad key"
    assert caught.value.body == b"denied"


async def test_interop_server_close() -> None:
    """trio-websocket closing: the last message, then its close code and reason; the server
    gets the client's close reply (its close handshake ends with the echoed code)."""
    server_closed: list[int] = []
    handled = trio.Event()

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("goodbye")
        await ws.aclose(4001, "server done")  # waits for the client's reply
        assert ws.closed is not None
        server_closed.append(ws.closed.code)
        handled.set()

    with trio.fail_after(TIMEOUT):
        async with trio_websocket_server(handler) as port, tcp_websocket(port) as ws:
            assert await ws.receive_message() == "goodbye"
            closed = await closed_with(ws)
            await handled.wait()
    assert (closed.code, closed.reason) == (4001, "server done")
    assert server_closed == [4001]


async def test_interop_oversized_message() -> None:
    """A message from trio-websocket over the client's limit: the server is told 1009."""
    server_closed: list[int] = []
    handled = trio.Event()

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("y" * 5000)
        try:
            await ws.get_message()
        except trio_websocket.ConnectionClosed as closed:
            server_closed.append(code_and_reason(closed)[0])
        finally:
            handled.set()

    with trio.fail_after(TIMEOUT):
        async with trio_websocket_server(handler) as port, tcp_websocket(port, 4096) as ws:
            closed = await closed_with(ws)
            await handled.wait()
    assert closed.code == 1009
    assert server_closed == [1009]
