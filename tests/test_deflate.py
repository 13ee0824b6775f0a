"""permessage-deflate (RFC 7692): negotiation, the reader's inflating (checked against
wsproto's PerMessageDeflate), compression bombs, and round trips with real peers: wsproto
over in-memory streams, and the fake server (trio-websocket) over loopback TCP.
"""

from __future__ import annotations

import itertools
import tracemalloc
import zlib

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_websocket import (
    HEADERS,
    HOST,
    RESOURCE,
    Peer,
    bytes_fragments,
    closed_with,
    receive_all,
    text_fragments,
)
from trio.testing import MockClock
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Request, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate

from trealtime import Deflate, RealtimeSettings, events, open_session
from trealtime._transport._deflate import Agreement, Deflater, Inflater, NegotiationError, agree
from trealtime._transport._frames import BINARY, TEXT, FrameError, FrameReader, client_frame
from trealtime._transport._websocket import WebSocket, connect_websocket
from trealtime.testing import FakeRealtimeServer, synthesize_speech

MIB = 2**20
DEFAULT_OFFER = Deflate()
DEFAULTS = Agreement(
    server_window_bits=15,
    client_window_bits=15,
    server_no_context_takeover=False,
    client_no_context_takeover=False,
    level=1,
)

# -- settings and negotiation ---------------------------------------------------------------------


def test_default_offer_lets_the_server_pick_our_window() -> None:
    assert Deflate().offer() == "permessage-deflate; client_max_window_bits"


def test_offer_carries_every_setting() -> None:
    offer = Deflate(
        server_max_window_bits=10,
        client_max_window_bits=12,
        server_no_context_takeover=True,
        client_no_context_takeover=True,
    ).offer()
    assert offer == (
        "permessage-deflate; client_max_window_bits=12; server_max_window_bits=10;"
        " server_no_context_takeover; client_no_context_takeover"
    )


@pytest.mark.parametrize(
    "settings_",
    [{"server_max_window_bits": 7}, {"client_max_window_bits": 16}, {"level": 10}],
    ids=["server-bits", "client-bits", "level"],
)
def test_settings_out_of_range_are_refused(settings_: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Deflate(**settings_)  # type: ignore[arg-type]


AGREEMENTS = {
    "plain": (Deflate(), "permessage-deflate", DEFAULTS),
    "server picks our window": (
        Deflate(),
        "permessage-deflate; client_max_window_bits=9",
        Agreement(15, 9, False, False, 1),
    ),
    "server picks its window and resets": (
        Deflate(server_max_window_bits=12),
        'permessage-deflate;server_max_window_bits="10"; server_no_context_takeover',
        Agreement(10, 15, True, False, 1),
    ),
    "server asks us to reset": (
        Deflate(),
        "permessage-deflate; client_no_context_takeover",
        Agreement(15, 15, False, True, 1),
    ),
    "we reset anyway": (
        Deflate(client_no_context_takeover=True, level=9),
        "Permessage-Deflate",
        Agreement(15, 15, False, True, 9),
    ),
}


@pytest.mark.parametrize(
    ("offered", "answer", "agreed"), AGREEMENTS.values(), ids=AGREEMENTS.keys()
)
def test_server_answers_are_agreed(offered: Deflate, answer: str, agreed: Agreement) -> None:
    assert agree(offered, answer) == agreed


REFUSED_ANSWERS = {
    "two extensions": (Deflate(), "permessage-deflate, permessage-deflate"),
    "another extension": (Deflate(), "x-webkit-deflate-frame"),
    "unknown parameter": (Deflate(), "permessage-deflate; mystery"),
    "repeated parameter": (
        Deflate(),
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    ),
    "flag with a value": (Deflate(), "permessage-deflate; server_no_context_takeover=1"),
    "window too small": (Deflate(), "permessage-deflate; client_max_window_bits=7"),
    "window too large": (Deflate(), "permessage-deflate; server_max_window_bits=16"),
    "window without value": (Deflate(), "permessage-deflate; client_max_window_bits"),
    "window past our offer": (
        Deflate(server_max_window_bits=10),
        "permessage-deflate; server_max_window_bits=11",
    ),
    "window we asked for ignored": (Deflate(server_max_window_bits=10), "permessage-deflate"),
    "reset we asked for ignored": (Deflate(server_no_context_takeover=True), "permessage-deflate"),
}


@pytest.mark.parametrize(("offered", "answer"), REFUSED_ANSWERS.values(), ids=REFUSED_ANSWERS)
def test_server_answers_outside_the_offer_are_refused(offered: Deflate, answer: str) -> None:
    with pytest.raises(NegotiationError):
        agree(offered, answer)


# -- the reader's inflating, against wsproto -------------------------------------------------------


def wsproto_pair(server: PerMessageDeflate, offered: Deflate) -> tuple[Connection, Agreement]:
    """A wsproto server connection that agreed to ``offered`` as ``server`` decides, and the
    terms our client reads from its answer."""
    params = server.accept(offered.offer())
    assert isinstance(params, str)
    answer = "permessage-deflate" + (f"; {params}" if params else "")
    return Connection(ConnectionType.SERVER, [server]), agree(offered, answer)


def wsproto_client(answer_params: Agreement) -> Connection:
    """wsproto's client with the same terms, to read the same frames."""
    extension = PerMessageDeflate(
        client_max_window_bits=answer_params.client_window_bits,
        server_max_window_bits=answer_params.server_window_bits,
    )
    extension.server_no_context_takeover = answer_params.server_no_context_takeover
    extension.client_no_context_takeover = answer_params.client_no_context_takeover
    extension._enabled = True
    return Connection(ConnectionType.CLIENT, [extension])


MESSAGES = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    st.builds(lambda word, n: word * n, st.text(min_size=1, max_size=8), st.integers(1, 3000)),
)
SERVER_DEFLATES = st.builds(
    PerMessageDeflate,
    client_max_window_bits=st.integers(9, 15),
    server_max_window_bits=st.integers(9, 15),
)


def wsproto_messages(connection: Connection, chunks: list[bytes]) -> list[object]:
    """What wsproto reads from ``chunks``: whole messages, and any other event as it is."""
    outcomes: list[object] = []
    texts: list[str] = []
    blobs: list[bytes] = []
    for chunk in chunks:
        connection.receive_data(chunk)
        for event in connection.events():
            if isinstance(event, TextMessage):
                texts.append(event.data)
                if event.message_finished:
                    outcomes.append("".join(texts))
                    texts.clear()
            elif isinstance(event, BytesMessage):
                blobs.append(bytes(event.data))
                if event.message_finished:
                    outcomes.append(b"".join(blobs))
                    blobs.clear()
            else:
                outcomes.append(event)
    return outcomes


def reader_messages(reader: FrameReader, chunks: list[bytes]) -> list[object]:
    outcomes: list[object] = []
    for chunk in chunks:
        reader.feed(chunk)
        while (event := reader.next_event()) is not None:
            outcomes.append(event)
    return outcomes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    server=SERVER_DEFLATES,
    server_reset=st.booleans(),
    ask_window=st.integers(9, 15),
    messages=st.lists(st.tuples(MESSAGES, st.integers(1, 4)), min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 20_000), max_size=10),
)
def test_reader_inflates_as_wsproto_does(
    server: PerMessageDeflate,
    server_reset: bool,
    ask_window: int,
    messages: list[tuple[str | bytes, int]],
    cuts: list[int],
) -> None:
    """Messages compressed by wsproto's server (any windows, context kept or reset, each cut
    into fragments), the stream cut anywhere: FrameReader with the negotiated Inflater reads
    the same messages as wsproto's client, and they are the messages sent."""
    server.server_no_context_takeover = server_reset
    offered = Deflate(server_max_window_bits=ask_window)
    connection, agreement = wsproto_pair(server, offered)
    stream = b""
    for message, pieces in messages:
        size = len(message)
        bounds = [size * i // pieces for i in range(pieces + 1)]
        for i in range(pieces):
            part = message[bounds[i] : bounds[i + 1]]
            last = i == pieces - 1
            if isinstance(part, str):
                stream += connection.send(TextMessage(part, message_finished=last))
            else:
                stream += connection.send(BytesMessage(part, message_finished=last))
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points)]
    expected = [message for message, _ in messages]
    assert wsproto_messages(wsproto_client(agreement), chunks) == expected
    reader = FrameReader(MIB, inflater=Inflater(agreement))
    assert reader_messages(reader, chunks) == expected


def bomb(size: int) -> bytes:
    """A compressed message of ``size`` zero bytes (about a thousandth of that on the wire)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MIB)
    out = [compressor.compress(zeros) for _ in range(size // MIB)]
    out.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(out)[:-4]


def compressed_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    header = bytes(((0x80 if fin else 0) | 0x40 | opcode,))
    if len(payload) < 126:
        return header + bytes((len(payload),)) + payload
    if len(payload) < 65536:
        return header + b"\x7e" + len(payload).to_bytes(2, "big") + payload
    return header + b"\x7f" + len(payload).to_bytes(8, "big") + payload


def test_compression_bomb_is_refused_without_allocating_past_the_limit() -> None:
    """64 MiB of zeros in about 64 KiB of frame, read with a 1 MiB limit: refused with 1009,
    and the reader's peak stays within a few times the limit."""
    limit = MIB
    stream = compressed_frame(BINARY, bomb(64 * MIB))
    assert len(stream) < limit
    reader = FrameReader(limit, inflater=Inflater(DEFAULTS))
    tracemalloc.start()
    try:
        reader.feed(stream)
        with pytest.raises(FrameError) as refused:
            reader.next_event()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code == 1009
    assert peak < 3 * limit, f"peak {peak} bytes for a {limit}-byte limit"


def test_fragmented_bomb_is_refused_at_the_fragment_that_passes_the_limit() -> None:
    """The limit counts every fragment's output: small fragments that together inflate past
    it are refused (1009)."""
    payload = bomb(4 * MIB)
    third = len(payload) // 3
    stream = (
        compressed_frame(TEXT, payload[:third], fin=False)
        + bytes((0x00, 126))
        + (len(payload) - third).to_bytes(2, "big")
        + payload[third:]
    )
    reader = FrameReader(MIB, inflater=Inflater(DEFAULTS))
    reader.feed(stream)
    with pytest.raises(FrameError) as refused:
        reader.next_event()
    assert refused.value.code == 1009


def test_message_inflating_to_exactly_the_limit_is_delivered() -> None:
    message = b"a" * MIB
    reader = FrameReader(MIB, inflater=Inflater(DEFAULTS))
    reader.feed(compressed_frame(BINARY, Deflater(DEFAULTS).deflate(message)))
    assert reader.next_event() == message


BROKEN = {
    "rsv1 without the extension": (None, compressed_frame(TEXT, b"x"), 1002),
    "rsv1 on a continuation": (
        DEFAULTS,
        bytes((0x01, 0)) + compressed_frame(0, b"x"),
        1002,
    ),
    "rsv1 on a ping": (DEFAULTS, compressed_frame(0x9, b""), 1002),
    "rsv2": (DEFAULTS, bytes((0xA1, 0)), 1002),
    "not deflate": (DEFAULTS, compressed_frame(BINARY, b"\xff\xff\xff"), 1007),
    "inflates to bad UTF-8": (
        DEFAULTS,
        compressed_frame(TEXT, Deflater(DEFAULTS).deflate(b"\xff")),
        1007,
    ),
}


@pytest.mark.parametrize(("agreement", "stream", "code"), BROKEN.values(), ids=BROKEN)
def test_broken_compressed_frames_are_refused(
    agreement: Agreement | None, stream: bytes, code: int
) -> None:
    reader = FrameReader(MIB, inflater=Inflater(agreement) if agreement else None)
    reader.feed(stream)
    with pytest.raises(FrameError) as refused:
        reader.next_event()
    assert refused.value.code == code


# -- the writer, read back by wsproto ------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(MESSAGES.filter(lambda m: isinstance(m, str)), min_size=1, max_size=5),
    reset=st.booleans(),
    window=st.integers(9, 15),
)
def test_deflater_output_is_read_by_wsproto(texts: list[str], reset: bool, window: int) -> None:
    """Our compressed frames, context kept or reset, any window: wsproto's server reads them."""
    agreement = Agreement(15, window, False, reset, 1)
    server = PerMessageDeflate(client_max_window_bits=window)
    server.client_no_context_takeover = reset
    server._enabled = True
    connection = Connection(ConnectionType.SERVER, [server])
    deflater = Deflater(agreement)
    stream = b"".join(client_frame(TEXT, deflater.deflate(t.encode()), rsv=0x40) for t in texts)
    assert wsproto_messages(connection, [stream]) == texts


# -- over a connection: wsproto's server in memory ------------------------------------------------


class DeflatePeer(Peer):
    """The wsproto server of tests/test_websocket.py, accepting permessage-deflate."""

    async def accept_deflate(self, extension: PerMessageDeflate | None) -> None:
        self.request = await self.expect(Request)
        extensions: list[Extension] = [extension] if extension is not None else []
        await self.stream.send_all(self.protocol.send(AcceptConnection(extensions=extensions)))


async def open_deflate_pair(
    extension: PerMessageDeflate | None, offer: Deflate = DEFAULT_OFFER
) -> tuple[WebSocket, DeflatePeer]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = DeflatePeer(server_stream)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer.accept_deflate, extension)
        ws = await connect_websocket(
            client_stream,
            host=HOST,
            resource=RESOURCE,
            headers=HEADERS,
            max_message_size=MIB,
            compression=offer,
        )
    return ws, peer


async def test_messages_both_ways_whole_and_fragmented(autojump_clock: MockClock) -> None:
    """Compressed both ways: large messages, fragmented ones, text and binary, each read whole;
    fewer bytes cross than the messages hold."""
    ws, peer = await open_deflate_pair(PerMessageDeflate())
    assert ws.deflate == DEFAULTS
    large = '{"type":"response.output_audio.delta","delta":"' + "QUJD" * 50_000 + '"}'
    await peer.send(TextMessage(large))
    await peer.send(*text_fragments("é" * 3000, "€" * 3000, "done"))
    await peer.send(*bytes_fragments(b"\x00" * 70_000, b"\x01" * 10))
    assert await ws.receive_message() == large
    assert await ws.receive_message() == "é" * 3000 + "€" * 3000 + "done"
    assert await ws.receive_message() == b"\x00" * 70_000 + b"\x01" * 10
    for text in (large, "short", large[::-1]):
        await ws.send_message(text)
        assert await peer.receive_message() == text
    assert len(peer.received) < len(large) // 10


@pytest.mark.parametrize("reset", [False, True], ids=["context-kept", "no-context-takeover"])
async def test_server_picks_our_window_and_context(autojump_clock: MockClock, reset: bool) -> None:
    """The server caps our window at 9 bits (and may forbid context takeover): what we send
    then inflates with its 9-bit window and reset context (wsproto fails otherwise)."""
    ws, peer = await open_deflate_pair(
        PerMessageDeflate(client_max_window_bits=9, client_no_context_takeover=reset)
    )
    assert ws.deflate is not None
    assert (ws.deflate.client_window_bits, ws.deflate.client_no_context_takeover) == (9, reset)
    pattern = "".join(f"{n:05}" for n in range(2000))  # repeats only from 10 KB back
    for text in (pattern + pattern, pattern, "x" + pattern):
        await ws.send_message(text)
        assert await peer.receive_message() == text


async def test_server_compresses_with_the_window_we_ask_for(autojump_clock: MockClock) -> None:
    ws, peer = await open_deflate_pair(PerMessageDeflate(), Deflate(server_max_window_bits=10))
    assert ws.deflate is not None and ws.deflate.server_window_bits == 10
    text = "".join(f"{n:05}" for n in range(3000)) * 2
    await peer.send(TextMessage(text), TextMessage(text))
    assert await receive_all(ws, 2) == [text, text]


async def test_server_that_declines_gets_plain_messages(autojump_clock: MockClock) -> None:
    ws, peer = await open_deflate_pair(None)
    assert ws.deflate is None
    await ws.send_message("plain " * 100)
    assert await peer.receive_message() == "plain " * 100
    assert len(peer.received) > 600  # uncompressed
    await peer.send(TextMessage("back"))
    assert await ws.receive_message() == "back"


async def test_compression_bomb_closes_with_1009(autojump_clock: MockClock) -> None:
    """64 MiB of zeros in one small compressed frame, with a 1 MiB limit: the client closes
    with 1009 (the server reads the close frame) and delivers nothing of it."""
    ws, peer = await open_deflate_pair(PerMessageDeflate())
    await peer.send(TextMessage("before"))
    await peer.send_raw(compressed_frame(BINARY, bomb(64 * MIB)))
    assert await ws.receive_message() == "before"
    closed = await closed_with(ws)
    assert closed.code == 1009
    assert (await peer.expect(CloseConnection)).code == 1009


# -- with the fake server, over loopback TCP -------------------------------------------------------


class CountingStream(trio.abc.Stream):
    """A stream that counts the bytes each way."""

    def __init__(self, inner: trio.abc.Stream, counts: dict[str, int]) -> None:
        self._inner = inner
        self._counts = counts

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._counts["sent"] += len(data)
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self._inner.receive_some(max_bytes)
        self._counts["received"] += len(data)
        return data

    async def aclose(self) -> None:
        await self._inner.aclose()


async def voice_turn(server: FakeRealtimeServer, compression: Deflate | None) -> dict[str, int]:
    """A session that sends 2 s of speech, reads it back, and gets a spoken answer: the bytes
    on the wire each way."""
    counts = {"sent": 0, "received": 0}

    async def connect(host: str, port: int, tls: bool) -> trio.abc.Stream:
        return CountingStream(await trio.open_tcp_stream(host, port), counts)

    properties = events.SessionProperties(
        output_modalities=["audio"],
        audio=events.AudioConfig(input=events.AudioInput(turn_detection=None)),
    )
    with trio.fail_after(20):
        async with open_session(
            url=server.url,
            api_key=server.api_key,
            settings=RealtimeSettings(session_properties=properties),
            connect_stream=connect,
            compression=compression,
        ) as session:
            speech = synthesize_speech(2000)
            await session.append_audio(speech)
            item_id = await session.commit_audio()
            retrieved = await session.retrieve_item(item_id)
            assert isinstance(retrieved, events.MessageItem)
            part = retrieved.content[0]
            assert isinstance(part, events.InputAudio)
            assert part.audio_bytes() == speech
            await session.create_response()
            audio = bytearray()
            async for event in session:
                if isinstance(event, events.ResponseOutputAudioDelta):
                    audio += event.audio_bytes()
                elif isinstance(event, events.ResponseDone):
                    break
            assert audio
    return counts


async def test_session_round_trip_with_the_fake_server_compressed() -> None:
    """The same voice turn with and without permessage-deflate: the fake server agrees to it,
    everything arrives the same, and fewer bytes cross each way."""
    async with FakeRealtimeServer.serve() as server:
        plain = await voice_turn(server, None)
        compressed = await voice_turn(server, Deflate())
    assert compressed["sent"] < 0.9 * plain["sent"]
    assert compressed["received"] < 0.9 * plain["received"]


async def test_fake_server_that_declines_leaves_the_session_uncompressed() -> None:
    async with FakeRealtimeServer.serve(compression=None) as server:
        declined = await voice_turn(server, Deflate())
        plain = await voice_turn(server, None)
    assert declined["received"] == pytest.approx(plain["received"], rel=0.01)


async def test_fake_server_terms_are_applied() -> None:
    """A fake server that caps the client's window and forbids its context takeover: the
    session still works (wsproto inflates our messages on those terms)."""
    terms = Deflate(client_max_window_bits=9, client_no_context_takeover=True)
    async with FakeRealtimeServer.serve(compression=terms) as server:
        counts = await voice_turn(server, Deflate())
    assert counts["received"] > 0
