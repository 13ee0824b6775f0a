"""``python -m trealtime talk``: talk to a model through the default microphone and speaker.

The microphone streams in (server VAD takes the turns), the answer plays out, the transcript is
printed as it arrives, and talking over the answer interrupts it: the speaker reports what it
has actually played (``report_playback``, from its callback), so the answer is cut where you
stopped hearing it. The devices sit behind a small seam (:class:`Microphone`,
:class:`Speaker`): the real ones come from sounddevice (the ``audio`` extra, over PortAudio),
and tests give a fake pair.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any, Protocol, TextIO

import trio

from .. import events
from .._errors import RealtimeError, SessionClosed
from .._session._facade import DEFAULT_MODEL, Session
from .._session._open import open_session
from .._transport._connect import DEFAULT_URL
from .._wire._session_models import (
    AudioConfig,
    AudioInput,
    AudioOutput,
    InputAudioTranscription,
    ServerVad,
    SessionProperties,
)
from .._wire._settings import RealtimeSettings

__all__ = [
    "DeviceUnavailable",
    "Devices",
    "Microphone",
    "Speaker",
    "add_arguments",
    "run",
    "sounddevice_devices",
    "talk",
    "talk_command",
]

SAMPLE_RATE = 24000  # the session's own PCM16 rate: no resampling either way
BLOCK_MS = 20


class Microphone(Protocol):
    """Captured audio: PCM16 LE mono at 24 kHz, in blocks of any size."""

    async def read(self) -> bytes:
        """The next block of captured audio (waits for it); ``b""`` once the device stops."""
        ...


class Speaker(Protocol):
    """Plays PCM16 LE mono at 24 kHz, item by item, and says how much of each it has played."""

    on_played: Callable[[str, int], None] | None
    """Called in Trio's thread as audio plays: the item id and the bytes of it played so far."""

    def play(self, item_id: str, pcm: bytes) -> None:
        """Queue ``pcm`` (part of the assistant's audio item ``item_id``) behind what is queued."""

    def clear(self) -> None:
        """Drop everything queued and not played yet (the user started talking)."""


Devices = Callable[[], AbstractAsyncContextManager[tuple[Microphone, Speaker]]]
"""Opens a microphone and a speaker together (:func:`sounddevice_devices`, or a test's fakes)."""


class DeviceUnavailable(Exception):
    """No audio device can be used: sounddevice or PortAudio is missing, or no device works."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The talk command's options."""
    parser.add_argument(
        "--url", help="a Realtime endpoint (default: the API; key from OPENAI_API_KEY)"
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the model")
    parser.add_argument("--voice", default="marin", help="the model's voice")
    parser.add_argument(
        "--instructions",
        default="You are a friendly assistant. Keep your answers short.",
        help="the model's instructions",
    )
    parser.add_argument("--turns", type=int, help="stop after this many answers (default: Ctrl-C)")


def settings_for(args: argparse.Namespace) -> RealtimeSettings:
    """The session: PCM16 at 24 kHz both ways, server VAD, and the user's speech transcribed."""
    return RealtimeSettings(
        model=args.model,
        session_properties=SessionProperties(
            instructions=args.instructions,
            output_modalities=["audio"],
            audio=AudioConfig(
                input=AudioInput(
                    turn_detection=ServerVad(),
                    transcription=InputAudioTranscription(model="gpt-4o-mini-transcribe"),
                ),
                output=AudioOutput(voice=args.voice),
            ),
        ),
    )


class _Transcript:
    """Prints the conversation as it arrives, one line per speaker turn."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._open_line: str | None = None  # the response whose line is being written

    def assistant(self, response_id: str, delta: str) -> None:
        if self._open_line != response_id:
            self._end_line()
            self._out.write("assistant: ")
            self._open_line = response_id
        self._out.write(delta)
        self._out.flush()

    def user(self, text: str) -> None:
        self._end_line()
        print(f"you: {text.strip()}", file=self._out, flush=True)

    def note(self, text: str) -> None:
        self._end_line()
        print(text, file=self._out, flush=True)

    def _end_line(self) -> None:
        if self._open_line is not None:
            print(file=self._out, flush=True)
            self._open_line = None


async def talk(
    session: Session,
    microphone: Microphone,
    speaker: Speaker,
    *,
    out: TextIO = sys.stdout,
    turns: int | None = None,
) -> None:
    """Converse until ``turns`` answers are done (or forever), printing the transcript."""
    transcript = _Transcript(out)

    def played(item_id: str, nbytes: int) -> None:
        session.report_playback(nbytes=nbytes, item_id=item_id)

    speaker.on_played = played
    answers = 0
    async with trio.open_nursery() as nursery:

        async def listen() -> None:
            with suppress(SessionClosed):  # the server ended it: the event loop below says so
                while pcm := await microphone.read():
                    await session.append_audio(pcm)

        nursery.start_soon(listen)
        async for event in session:
            match event:
                case events.ResponseOutputAudioDelta(item_id=item_id):
                    speaker.play(item_id, event.audio_bytes())
                case events.InputAudioBufferSpeechStarted():
                    speaker.clear()  # the session cuts the answer where the speaker had got to
                case events.ResponseOutputAudioTranscriptDelta(response_id=rid, delta=delta):
                    transcript.assistant(rid, delta)
                case events.ConversationItemInputAudioTranscriptionCompleted(transcript=text):
                    transcript.user(text)
                case events.Error(error=error):
                    transcript.note(f"(server error {error.code}: {error.message})")
                case events.ResponseDone(response=response):
                    if response.final_status != "completed":
                        transcript.note(f"({response.final_status})")
                    answers += 1
                    if turns is not None and answers >= turns:
                        break
        transcript.note("")
        nursery.cancel_scope.cancel()


async def talk_command(
    args: argparse.Namespace, *, devices: Devices | None = None, out: TextIO = sys.stdout
) -> int:
    """Open the devices, then the session, and talk; the exit status says whether it worked."""
    try:
        async with (devices or sounddevice_devices)() as (microphone, speaker):
            url = args.url or DEFAULT_URL
            async with open_session(url=url, settings=settings_for(args)) as session:
                print("talking: speak into the microphone (Ctrl-C to stop)", file=out, flush=True)
                await talk(session, microphone, speaker, out=out, turns=args.turns)
                if session.closed:
                    reason = session.close_reason
                    print(
                        f"trealtime talk: the server closed the session: {reason}", file=sys.stderr
                    )
                    return 1
    except DeviceUnavailable as exc:
        print(f"trealtime talk: {exc}", file=sys.stderr)
        return 1
    except RealtimeError as exc:
        print(f"trealtime talk failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the talk command until it ends or Ctrl-C."""
    try:
        return trio.run(talk_command, args)
    except KeyboardInterrupt:
        return 0


# -- the real devices: sounddevice over PortAudio ---------------------------------------------


def _import_sounddevice() -> Any:
    try:
        return importlib.import_module("sounddevice")
    except ImportError:
        raise DeviceUnavailable(
            "sounddevice is not installed: pip install 'trealtime[audio]'"
        ) from None
    except OSError as exc:  # sounddevice imports, but finds no PortAudio library
        raise DeviceUnavailable(
            f"PortAudio is missing ({exc}); install it (e.g. apt install libportaudio2)"
        ) from None


@asynccontextmanager
async def sounddevice_devices() -> AsyncIterator[tuple[Microphone, Speaker]]:
    """The default input and output devices, at 24 kHz mono PCM16."""
    sd = _import_sounddevice()
    token = trio.lowlevel.current_trio_token()
    microphone = _SoundDeviceMicrophone(token)
    speaker = _SoundDeviceSpeaker(token)
    options = {"samplerate": SAMPLE_RATE, "channels": 1, "dtype": "int16"}
    options["blocksize"] = SAMPLE_RATE * BLOCK_MS // 1000
    try:
        input_stream = sd.RawInputStream(callback=microphone.callback, **options)
        output_stream = sd.RawOutputStream(callback=speaker.callback, **options)
    except (sd.PortAudioError, ValueError) as exc:
        raise DeviceUnavailable(f"no usable audio device: {exc}") from None
    with input_stream, output_stream:
        yield microphone, speaker


def _offer(channel: trio.MemorySendChannel[bytes], data: bytes) -> None:
    # Nobody keeps up: drop the block rather than stall the audio thread.
    with suppress(trio.WouldBlock, trio.ClosedResourceError):
        channel.send_nowait(data)


class _SoundDeviceMicrophone:
    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._send, self._receive = trio.open_memory_channel[bytes](50)  # 1 s of blocks

    def callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        """PortAudio's thread: hand the block to Trio's."""
        with suppress(trio.RunFinishedError):
            self._token.run_sync_soon(_offer, self._send, bytes(indata))

    async def read(self) -> bytes:
        return await self._receive.receive()


class _SoundDeviceSpeaker:
    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._lock = threading.Lock()
        self._queue: deque[tuple[str, memoryview]] = deque()
        self._played: dict[str, int] = {}
        self.on_played: Callable[[str, int], None] | None = None

    def play(self, item_id: str, pcm: bytes) -> None:
        with self._lock:
            self._queue.append((item_id, memoryview(pcm)))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        """PortAudio's thread: fill the block from the queue, then report what was played."""
        wanted = len(outdata)
        filled = 0
        touched: dict[str, int] = {}
        with self._lock:
            while filled < wanted and self._queue:
                item_id, data = self._queue[0]
                take = min(wanted - filled, len(data))
                outdata[filled : filled + take] = data[:take]
                filled += take
                if take == len(data):
                    self._queue.popleft()
                else:
                    self._queue[0] = (item_id, data[take:])
                if len(self._played) > 64 and item_id not in self._played:
                    self._played.clear()
                self._played[item_id] = touched[item_id] = self._played.get(item_id, 0) + take
        outdata[filled:wanted] = bytes(wanted - filled)
        if touched and self.on_played is not None:
            for item_id, nbytes in touched.items():
                try:
                    self._token.run_sync_soon(self.on_played, item_id, nbytes)
                except trio.RunFinishedError:
                    return
