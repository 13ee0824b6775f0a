"""The phone bridge example (``examples/phone_bridge``) end to end, over real loopback sockets.

A scripted fake Twilio (a trio-websocket client speaking Media Streams) calls the bridge, and
the bridge's sessions go to the fake Realtime server: a whole call, a barge-in, a tool call,
and the caller hanging up mid-answer.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import trio
from agent_helpers import output_audio_sent
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

from examples.phone_bridge import BridgeConfig, PhoneBridge, phone_settings, twilio
from examples.phone_bridge import __main__ as bridge_cli
from trealtime import events
from trealtime.testing import FakeConnection, FakeRealtimeServer, ToolCall, silence
from trealtime.testing import synthesize_speech as pcm_speech
from trealtime.testing._protocol._audio import encode_g711

FRAME = 160  # 20 ms of μ-law at 8 kHz, as Twilio sends it
LONG_REPLY = "This answer goes on for a good few seconds, so that the caller can hang up on it."


def mulaw_speech(ms: int, seed: int = 7) -> bytes:
    return encode_g711(pcm_speech(ms, sample_rate=8000, seed=seed), "audio/pcmu")


def mulaw_silence(ms: int) -> bytes:
    return encode_g711(silence(ms, sample_rate=8000), "audio/pcmu")


class FakeTwilio:
    """The phone provider's side of one Media Streams WebSocket."""

    def __init__(
        self, websocket: WebSocketConnection, stream_sid: str = "MZ0001", port: int = 0
    ) -> None:
        self.websocket = websocket
        self.port = port  # the bridge's
        self.stream_sid = stream_sid
        self.audio_in = bytearray()  # what the caller heard (media from the bridge)
        self.media = 0
        self.marks: list[str] = []  # marks received and not echoed yet
        self.marks_received = 0
        self.clears = 0
        self._sequence = 0

    async def _send(self, event: str, **body: Any) -> None:
        self._sequence += 1
        message = {"event": event, "sequenceNumber": str(self._sequence), **body}
        if event != "connected":
            message["streamSid"] = self.stream_sid
        await self.websocket.send_message(orjson.dumps(message).decode())

    async def start(self, call_sid: str = "CA0001", **parameters: str) -> None:
        await self._send("connected", protocol="Call", version="1.0.0")
        start = {
            "accountSid": "AC0001",
            "streamSid": self.stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": parameters,
        }
        await self._send("start", start=start)

    async def say(self, mulaw: bytes) -> None:
        for chunk, offset in enumerate(range(0, len(mulaw), FRAME), start=1):
            payload = base64.b64encode(mulaw[offset : offset + FRAME]).decode()
            media = {"track": "inbound", "chunk": str(chunk), "timestamp": str(offset // 8)}
            await self._send("media", media={**media, "payload": payload})

    async def echo_marks(self, count: int | None = None) -> None:
        """Say that the audio up to the next ``count`` marks (default: all) has played."""
        count = len(self.marks) if count is None else count
        for name in self.marks[:count]:
            await self._send("mark", mark={"name": name})
        del self.marks[:count]

    async def hang_up(self) -> None:
        await self._send("stop", stop={"accountSid": "AC0001", "callSid": "CA0001"})
        await self.websocket.aclose()

    async def receive(self) -> dict[str, Any]:
        """The bridge's next message, noted."""
        message: dict[str, Any] = orjson.loads(await self.websocket.get_message())
        assert message["streamSid"] == self.stream_sid
        match message["event"]:
            case "media":
                self.audio_in += base64.b64decode(message["media"]["payload"])
                self.media += 1
            case "mark":
                self.marks.append(message["mark"]["name"])
                self.marks_received += 1
            case "clear":
                self.clears += 1
        return message

    async def receive_media(self, count: int) -> None:
        """Read until ``count`` media messages, and the mark after each, have arrived."""
        while self.media < count or self.marks_received < count:
            await self.receive()


def appended(connection: FakeConnection) -> bytes:
    return b"".join(
        e.audio_bytes() for e in connection.received if isinstance(e, events.InputAudioBufferAppend)
    )


@asynccontextmanager
async def dial(port: int) -> AsyncIterator[WebSocketConnection]:
    """Twilio's side of a call's WebSocket, over a TCP stream this test owns and closes.

    (trio-websocket's own client leaks its socket when the server starts the close.)
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream, trio.open_nursery() as nursery:
        websocket = await wrap_client_stream(nursery, stream, "127.0.0.1", "/media-stream")
        try:
            yield websocket
        finally:
            await websocket.aclose()


@asynccontextmanager
async def phone_call(
    server: FakeRealtimeServer,
    *,
    tools: list[Callable[..., Any]] | None = None,
    settings_for: Callable[[twilio.CallStart], Any] | None = None,
) -> AsyncIterator[tuple[FakeTwilio, PhoneBridge]]:
    """A bridge on a loopback port with its sessions on ``server``, and a fake Twilio call to it.

    On exit the bridge is cancelled; the nursery ending proves that no call task outlived it.
    """
    config = BridgeConfig(
        url=server.url,
        api_key=server.api_key,
        tools=tools or [],
        settings_for=settings_for or (lambda start: phone_settings("Be brief.")),
    )
    bridge = PhoneBridge(config)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(bridge.serve, "127.0.0.1", 0)
        async with dial(port) as websocket:
            yield FakeTwilio(websocket, port=port), bridge
        nursery.cancel_scope.cancel()


async def test_a_whole_call_passes_mulaw_through_untouched_both_ways() -> None:
    speech = mulaw_speech(1500) + mulaw_silence(1000)
    async with FakeRealtimeServer.serve(strict=True, reply="Hello, how can I help?") as server:
        with trio.fail_after(30):
            async with phone_call(
                server,
                settings_for=lambda start: phone_settings(
                    f"The caller is {start.custom_parameters['caller']}."
                ),
            ) as (phone, bridge):
                await phone.start(caller="+15550001")
                await phone.say(speech)
                connection = await server.wait_for_connection()
                (call,) = bridge.calls
                await call.wait_for_responses(1)
                await phone.receive_media(call.media_out)
                await phone.echo_marks()
                await phone.hang_up()
                await call.ended.wait()
                await connection.wait_closed()
    # The session was set up for the phone line, from the call's custom parameters.
    assert isinstance(call.start, twilio.CallStart)
    assert call.start.call_sid == "CA0001"
    update = next(e for e in connection.received if isinstance(e, events.SessionUpdate))
    assert isinstance(update.session, events.SessionProperties)
    assert update.session.instructions == "The caller is +15550001."
    expected = phone_settings("").session_properties
    assert isinstance(expected, events.SessionProperties)
    assert update.session.audio == expected.audio
    # Caller audio reached the server byte for byte (up to where the call ended) ...
    heard_by_server = appended(connection)
    assert len(heard_by_server) >= 1500 * 8
    assert speech.startswith(heard_by_server)
    # ... and the answer reached the caller byte for byte, a mark after every piece.
    assert call.responses[0].final_status == "completed"
    answer = output_audio_sent(connection)
    assert answer
    assert bytes(phone.audio_in) == answer
    assert call.marks_played == call.media_out == phone.media
    assert call.ended_by == "caller"
    assert call.error is None


async def test_barge_in_truncates_at_the_last_mark_played_and_clears_the_phone() -> None:
    async with FakeRealtimeServer.serve(
        strict=True, reply=LONG_REPLY, audio_chunk_ms=100
    ) as server:
        with trio.fail_after(30):
            async with phone_call(server) as (phone, bridge):
                await phone.start()
                await phone.say(mulaw_speech(1500) + mulaw_silence(1000))
                await server.wait_for_connection()
                (call,) = bridge.calls
                await call.wait_for_responses(1)
                await phone.receive_media(call.media_out)
                assert phone.media > 3
                # The caller has heard three pieces (300 ms) when they start talking again.
                await phone.echo_marks(3)
                await phone.say(mulaw_speech(1000, seed=8))
                truncate = await server.wait_for_client_event(events.ConversationItemTruncate)
                while phone.clears == 0:
                    await phone.receive()
                # The phone echoes the marks a clear dropped: they no longer count.
                await phone.echo_marks()
                await phone.hang_up()
                await call.ended.wait()
    output = call.responses[0].output
    assert isinstance(output, list)
    assert truncate.item_id == output[0].id
    assert truncate.audio_end_ms == 300
    assert call.marks_played == 3
    assert call.clears == phone.clears == 1  # not on the first turn: nothing was playing


async def test_a_tool_call_runs_during_the_call_and_its_answer_is_spoken() -> None:
    looked_up: list[str] = []

    async def get_weather(city: str) -> dict[str, str]:
        """Current weather for a city."""
        looked_up.append(city)
        return {"city": city, "forecast": "sunny"}

    async with FakeRealtimeServer.serve(
        strict=True, transcript="what's the weather in Lisbon"
    ) as server:
        server.on_user_text("weather", call=ToolCall("get_weather", {"city": "Lisbon"}))
        with trio.fail_after(30):
            async with phone_call(server, tools=[get_weather]) as (phone, bridge):
                await phone.start()
                await phone.say(mulaw_speech(1500) + mulaw_silence(1000))
                connection = await server.wait_for_connection()
                (call,) = bridge.calls
                await call.wait_for_responses(2)  # the function call, then the answer
                await phone.receive_media(call.media_out)
                await phone.echo_marks()
                await phone.hang_up()
                await call.ended.wait()
    assert looked_up == ["Lisbon"]
    outputs = [e for e in connection.received if isinstance(e, events.ConversationItemCreate)]
    assert [type(e.item) for e in outputs] == [events.FunctionCallOutputItem]
    assert [r.final_status for r in call.responses] == ["completed", "completed"]
    assert phone.audio_in == output_audio_sent(connection)  # the spoken answer, untouched
    assert phone.media > 0


@pytest.mark.parametrize("goodbye", ["stop", "socket closed"])
async def test_the_caller_hanging_up_mid_answer_closes_the_session(goodbye: str) -> None:
    async with FakeRealtimeServer.serve(strict=True, reply=LONG_REPLY * 3, realtime=True) as server:
        with trio.fail_after(30):
            async with phone_call(server) as (phone, bridge):
                await phone.start()
                await phone.say(mulaw_speech(1500) + mulaw_silence(1000))
                connection = await server.wait_for_connection()
                while phone.media < 2:  # the answer is playing
                    await phone.receive()
                if goodbye == "stop":
                    await phone.hang_up()
                else:
                    await phone.websocket.aclose()
                (call,) = bridge.calls
                await call.ended.wait()
                await connection.wait_closed()  # the Realtime session closed its socket
            # phone_call's nursery has ended: the bridge and the call left no task behind.
    assert call.ended_by == "caller"
    assert call.error is None
    assert not call.responses  # it hung up before the answer was done


def test_the_command_line_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bridge_cli.main(["--help"])
    assert exit_.value.code == 0
    assert "Twilio" in capsys.readouterr().out


@pytest.mark.parametrize(
    "message",
    ['{"event": "media", "media": {"payload": "***"}}', "not json", '{"event": "start"}', "[]"],
)
def test_malformed_phone_messages_are_kept_as_unknown(message: str) -> None:
    assert isinstance(twilio.parse(message), twilio.Unknown)


async def test_a_call_whose_session_cannot_open_is_hung_up_and_the_bridge_goes_on() -> None:
    async with FakeRealtimeServer.serve(strict=True) as server:
        config = BridgeConfig(url=server.url, api_key="sk-wrong")
        bridge = PhoneBridge(config)
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                port = await nursery.start(bridge.serve, "127.0.0.1", 0)
                for call_sid in ("CA0001", "CA0002"):
                    async with dial(port) as websocket:
                        await FakeTwilio(websocket).start(call_sid)
                        with pytest.raises(ConnectionClosed):
                            await websocket.get_message()  # hung up
                    await bridge.calls[-1].ended.wait()
                nursery.cancel_scope.cancel()
    assert [call.start.call_sid for call in bridge.calls if call.start] == ["CA0001", "CA0002"]
    for call in bridge.calls:
        assert call.error is not None
        assert call.error.startswith("ConnectionRejected")
        assert "sk-wrong" not in call.error
    assert [h.status for h in server.handshakes] == [401, 401]


async def test_when_the_realtime_side_ends_the_bridge_hangs_up_the_call() -> None:
    async with FakeRealtimeServer.serve(strict=True) as server:
        with trio.fail_after(30):
            async with phone_call(server) as (phone, bridge):
                await phone.start()
                connection = await server.wait_for_connection()
                await phone.say(mulaw_silence(200))
                # Audio is appended only once the session is open (set up, not mid-setup).
                await connection.wait_for_client_event(events.InputAudioBufferAppend)
                await connection.close(1011, "internal error")
                with pytest.raises(ConnectionClosed):
                    await phone.receive_media(10**9)  # until the bridge hangs up
                (call,) = bridge.calls
                await call.ended.wait()
                assert call.ended_by == "session"
                assert call.error is None
                # The bridge goes on: the next call gets a session of its own.
                async with dial(phone.port) as websocket:
                    again = FakeTwilio(websocket, stream_sid="MZ0002")
                    await again.start("CA0002")
                    second = await server.wait_for_connection()
                    await second.wait_for_client_event(events.SessionUpdate)
                    await again.hang_up()
                await bridge.calls[1].ended.wait()
                await second.wait_closed()
    assert bridge.calls[1].ended_by == "caller"


def test_messages_follow_twilios_documented_shapes() -> None:
    # Examples from https://www.twilio.com/docs/voice/media-streams/websocket-messages
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "AC0001",
            "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
            "callSid": "CA0001",
            "tracks": ["inbound"],
            "customParameters": {"FirstName": "Jane"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
    }
    assert twilio.parse(orjson.dumps(start)) == twilio.CallStart(
        stream_sid="MZ18ad3ab5a668481ce02b83e7395059f0",
        call_sid="CA0001",
        custom_parameters={"FirstName": "Jane"},
    )
    media = {
        "event": "media",
        "sequenceNumber": "3",
        "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": "/////w=="},
        "streamSid": "MZ0001",
    }
    assert twilio.parse(orjson.dumps(media)) == twilio.Media(audio=b"\xff" * 4)
    mark = {"event": "mark", "sequenceNumber": "4", "streamSid": "MZ0001", "mark": {"name": "7"}}
    assert twilio.parse(orjson.dumps(mark)) == twilio.Mark("7")
    dtmf = {
        "event": "dtmf",
        "streamSid": "MZ0001",
        "dtmf": {"track": "inbound_track", "digit": "1"},
    }
    assert twilio.parse(orjson.dumps(dtmf)) == twilio.Dtmf("1")
    assert twilio.parse('{"event": "stop", "stop": {"callSid": "CA0001"}}') == twilio.Stop()
    assert twilio.parse('{"event": "connected", "protocol": "Call"}') == twilio.Connected()
    # What the bridge sends.
    assert orjson.loads(twilio.media_message("MZ0001", "/////w==")) == {
        "event": "media",
        "streamSid": "MZ0001",
        "media": {"payload": "/////w=="},
    }
    assert orjson.loads(twilio.mark_message("MZ0001", "7")) == {
        "event": "mark",
        "streamSid": "MZ0001",
        "mark": {"name": "7"},
    }
    assert orjson.loads(twilio.clear_message("MZ0001")) == {"event": "clear", "streamSid": "MZ0001"}
