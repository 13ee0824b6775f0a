"""``python -m trealtime talk`` against the fake server over loopback, with a fake device pair.

The fake microphone speaks synthesized speech; the fake speaker plays (or holds) what it is
given and reports what it has played, as the real one does from its audio callback.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import threading
import types
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio
import trio.lowlevel
from agent_helpers import output_audio_sent

from trealtime import events
from trealtime.__main__ import main
from trealtime._cli import _talk
from trealtime.testing import FakeRealtimeServer, silence, synthesize_speech

BYTES_PER_MS = 48
CHUNK = 20 * BYTES_PER_MS


class FakeMicrophone:
    """Says what the test tells it to, in 20 ms blocks, then waits for more."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[bytes](math.inf)
        self.listening = trio.Event()  # talk reads it: its session is open

    def say(self, pcm: bytes) -> None:
        for offset in range(0, len(pcm), CHUNK):
            self._send.send_nowait(pcm[offset : offset + CHUNK])

    async def read(self) -> bytes:
        self.listening.set()
        return await self._receive.receive()


class FakeSpeaker:
    """Plays at once (``autoplay``) or when told to (:meth:`advance`), reporting each time."""

    def __init__(self, *, autoplay: bool) -> None:
        self.autoplay = autoplay
        self.on_played: Callable[[str, int], None] | None = None
        self.played = bytearray()
        self.dropped = 0  # bytes queued and then cleared, never played
        self.queue: deque[tuple[str, bytes]] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self.cleared = trio.Event()  # set once a clear dropped queued audio
        self._positions: dict[str, int] = {}

    def play(self, item_id: str, pcm: bytes) -> None:
        self.queue.append((item_id, pcm))
        self._lot.unpark_all()
        if self.autoplay:
            self.advance(len(pcm))

    async def wait_queued(self, nbytes: int) -> None:
        """Wait until at least ``nbytes`` wait to be played."""
        while sum(len(pcm) for _, pcm in self.queue) < nbytes:
            await self._lot.park()

    def clear(self) -> None:
        self.dropped += sum(len(pcm) for _, pcm in self.queue)
        if self.queue:
            self.cleared.set()
        self.queue.clear()

    def advance(self, nbytes: int) -> None:
        """Play ``nbytes`` of what is queued, and report the position, as a device callback."""
        while nbytes > 0 and self.queue:
            item_id, pcm = self.queue.popleft()
            take = min(nbytes, len(pcm))
            if take < len(pcm):
                self.queue.appendleft((item_id, pcm[take:]))
            self.played += pcm[:take]
            nbytes -= take
            self._positions[item_id] = self._positions.get(item_id, 0) + take
            if self.on_played is not None:
                self.on_played(item_id, self._positions[item_id])


def talk_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _talk.add_arguments(parser)
    return parser.parse_args(list(argv))


def fake_devices(microphone: FakeMicrophone, speaker: FakeSpeaker) -> _talk.Devices:
    @asynccontextmanager
    async def devices() -> AsyncIterator[tuple[_talk.Microphone, _talk.Speaker]]:
        yield microphone, speaker

    return devices


def utterance(seed: int = 7) -> bytes:
    return synthesize_speech(1500, seed=seed) + silence(1000)


async def test_talk_streams_the_microphone_plays_the_answer_and_prints_the_transcript(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    microphone, speaker = FakeMicrophone(), FakeSpeaker(autoplay=True)
    microphone.say(utterance())
    out = io.StringIO()
    async with FakeRealtimeServer.serve(
        strict=True, transcript="what time is it", reply="It is noon in Lisbon."
    ) as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        with trio.fail_after(30):
            status = await _talk.talk_command(
                talk_args("--url", server.url, "--turns", "1"),
                devices=fake_devices(microphone, speaker),
                out=out,
            )
        (connection,) = server.connections
        await connection.wait_closed()
    assert status == 0
    lines = out.getvalue().splitlines()
    assert "you: what time is it" in lines
    assert "assistant: It is noon in Lisbon." in lines
    assert lines.index("you: what time is it") < lines.index("assistant: It is noon in Lisbon.")
    # The speaker played the answer's audio exactly, and the microphone's audio went up as is.
    assert bytes(speaker.played) == output_audio_sent(connection)
    assert speaker.played
    appended = b"".join(
        e.audio_bytes() for e in connection.received if isinstance(e, events.InputAudioBufferAppend)
    )
    assert utterance().startswith(appended)
    assert len(appended) >= 1500 * BYTES_PER_MS


async def test_talking_over_the_answer_cuts_it_where_the_speaker_had_got_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    microphone, speaker = FakeMicrophone(), FakeSpeaker(autoplay=False)
    microphone.say(utterance())
    out = io.StringIO()
    async with FakeRealtimeServer.serve(strict=True, reply="A long answer. " * 10) as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    lambda: _talk.talk_command(
                        talk_args("--url", server.url),
                        devices=fake_devices(microphone, speaker),
                        out=out,
                    )
                )
                await speaker.wait_queued(500 * BYTES_PER_MS)
                first = next(iter(speaker.queue))[0]
                speaker.advance(250 * BYTES_PER_MS)  # the user heard 250 ms, then talks
                microphone.say(synthesize_speech(1000, seed=8))
                truncate = await server.wait_for_client_event(events.ConversationItemTruncate)
                await speaker.cleared.wait()
                nursery.cancel_scope.cancel()
    assert truncate.item_id == first
    assert truncate.audio_end_ms == 250
    assert len(speaker.played) == 250 * BYTES_PER_MS
    assert speaker.dropped > 0  # the rest of the answer was never played


def write_module(directory: Path, source: str) -> None:
    (directory / "sounddevice.py").write_text(source)


@pytest.mark.parametrize(
    ("sounddevice", "message"),
    [
        (None, "sounddevice is not installed: pip install 'trealtime[audio]'"),
        (
            "raise OSError('PortAudio library not found')",
            "PortAudio is missing (PortAudio library not found); install it",
        ),
        (
            "class PortAudioError(Exception): pass\n"
            "def RawInputStream(**options): raise PortAudioError('Error querying device -1')\n"
            "RawOutputStream = RawInputStream\n",
            "no usable audio device: Error querying device -1",
        ),
    ],
    ids=["not installed", "no PortAudio", "no device"],
)
def test_without_a_usable_device_talk_says_so_in_one_line(
    sounddevice: str | None,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    if sounddevice is None:
        monkeypatch.setitem(sys.modules, "sounddevice", None)  # importing it fails
    else:
        write_module(tmp_path, sounddevice)
        monkeypatch.syspath_prepend(str(tmp_path))
    # No server at all: the devices are opened first, so nothing reaches the network.
    status = main(["talk", "--url", "ws://127.0.0.1:9/v1/realtime"])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.startswith("trealtime talk: ")
    assert message in captured.err
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err + captured.out


class FakePortAudioStream:
    """Stands in for sounddevice's raw streams: records how it was opened, and its callback."""

    opened: ClassVar[list[FakePortAudioStream]] = []

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.callback = options["callback"]
        self.running = False
        FakePortAudioStream.opened.append(self)

    def __enter__(self) -> FakePortAudioStream:
        self.running = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.running = False


async def test_the_sounddevice_pair_hands_audio_between_portaudio_threads_and_trio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("sounddevice")
    module.PortAudioError = type("PortAudioError", (Exception,), {})  # type: ignore[attr-defined]
    module.RawInputStream = module.RawOutputStream = FakePortAudioStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    monkeypatch.setattr(FakePortAudioStream, "opened", [])
    reported = trio.Event()
    reports: list[tuple[str, int]] = []

    def on_played(item_id: str, nbytes: int) -> None:
        assert threading.current_thread() is threading.main_thread()  # Trio's, not PortAudio's
        reports.append((item_id, nbytes))
        if len(reports) == 2:
            reported.set()

    with trio.fail_after(10):
        async with _talk.sounddevice_devices() as (microphone, speaker):
            capture, playback = FakePortAudioStream.opened
            assert capture.running and playback.running
            for stream in (capture, playback):
                assert stream.options["samplerate"] == 24000
                assert stream.options["channels"] == 1
                assert stream.options["dtype"] == "int16"
            # PortAudio captures a block on its own thread: it comes out of read() in Trio's.
            block = bytes(range(256)) * 3 + bytes(192)
            await trio.to_thread.run_sync(capture.callback, memoryview(block), 480, None, None)
            assert await microphone.read() == block
            # Playback takes from the queue, item by item, and reports each item's position.
            speaker.on_played = on_played
            speaker.play("item_a", b"\x11" * 600)
            speaker.play("item_b", b"\x22" * 600)
            out = bytearray(960)
            await trio.to_thread.run_sync(playback.callback, out, 480, None, None)
            assert out == b"\x11" * 600 + b"\x22" * 360
            await reported.wait()
            assert reports == [("item_a", 600), ("item_b", 360)]
            # A clear drops what is queued: the next block is silence, and nothing is reported.
            speaker.clear()
            out = bytearray(b"\xff" * 960)
            await trio.to_thread.run_sync(playback.callback, out, 480, None, None)
            assert out == bytes(960)
        assert not capture.running and not playback.running
    assert len(reports) == 2


async def test_when_the_server_closes_the_session_talk_says_so_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    microphone, speaker = FakeMicrophone(), FakeSpeaker(autoplay=True)
    async with FakeRealtimeServer.serve(strict=True) as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                statuses: list[int] = []

                async def run_talk() -> None:
                    args = talk_args("--url", server.url)
                    statuses.append(
                        await _talk.talk_command(args, devices=fake_devices(microphone, speaker))
                    )

                nursery.start_soon(run_talk)
                connection = await server.wait_for_connection()
                await microphone.listening.wait()
                microphone.say(silence(200))
                await connection.close(1011, "internal error")
    assert statuses == [1]
    err = capsys.readouterr().err
    assert err.startswith("trealtime talk: the server closed the session: ")
    assert "1011" in err
