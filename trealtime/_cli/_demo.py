"""``python -m trealtime demo``: one spoken turn through the public API, with a timeline.

Without ``--url`` it starts trealtime's fake Realtime server in-process on a loopback socket,
so it needs no API key and no network. With ``--url`` (and ``OPENAI_API_KEY``) the very same
code talks to the real API.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio

from .. import events
from .._agent._wav import read_wav, write_wav
from .._errors import ConfigurationError, RealtimeError
from .._session._facade import DEFAULT_MODEL, Session
from .._session._open import open_session
from .._wire._session_models import (
    AudioConfig,
    AudioInput,
    AudioOutput,
    ServerVad,
    SessionProperties,
)
from .._wire._settings import RealtimeSettings

__all__ = ["add_arguments", "run"]

CHUNK_MS = 20
BYTES_PER_MS = 48  # PCM16 mono at 24 kHz


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's command-line options."""
    parser.add_argument(
        "--input",
        help="a 24 kHz 16-bit WAV to say, followed by 1 s of silence so that the turn ends"
        " (default: generated speech)",
    )
    parser.add_argument("--output", default="trealtime-demo-reply.wav", help="reply WAV path")
    parser.add_argument("--url", help="a Realtime endpoint (default: the built-in fake server)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model (with --url)")
    parser.add_argument(
        "--fast", action="store_true", help="send the input as fast as possible, not in real time"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="give up after this many s")


@attrs.define
class _Timeline:
    start: float = attrs.field(factory=time.monotonic)
    speech_stopped: float | None = None
    first_audio: float | None = None

    def say(self, what: str) -> None:
        print(f"  +{time.monotonic() - self.start:7.3f}s  {what}", flush=True)


# Server VAD ends a turn after 500 ms of silence: a recording that ends in speech gets this much
# silence after it, so that the turn ends and the demo does not wait out its timeout.
TRAILING_SILENCE_MS = 1000


def _load_input(path: str | None) -> bytes:
    if path is None:
        from ..testing._protocol._speech import silence, synthesize_speech

        return synthesize_speech(1500, seed=7) + silence(1000)
    try:
        audio = read_wav(path)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    if audio.sample_rate != 24000:
        raise ConfigurationError(
            f"{path}: {audio.sample_rate} Hz; the demo needs 24 kHz mono 16-bit audio"
            " (e.g. sox in.wav -r 24000 -c 1 -b 16 out.wav)"
        )
    return audio.pcm + bytes(TRAILING_SILENCE_MS * BYTES_PER_MS)


async def _stream_audio(session: Session, pcm: bytes, realtime: bool) -> None:
    chunk = CHUNK_MS * BYTES_PER_MS
    next_at = trio.current_time()
    for offset in range(0, len(pcm), chunk):
        await session.append_audio(pcm[offset : offset + chunk])
        if realtime:
            next_at += CHUNK_MS / 1000
            await trio.sleep_until(next_at)


def _describe_usage(response: events.Response) -> str:
    usage = response.usage
    if not isinstance(usage, events.Usage):
        return "no usage reported"
    inp, out = usage.input_token_details, usage.output_token_details
    detail = ""
    if isinstance(inp, events.InputTokenDetails) and isinstance(out, events.OutputTokenDetails):
        detail = (
            f" (in: {inp.audio_tokens} audio, {inp.text_tokens} text, {inp.cached_tokens} cached;"
            f" out: {out.audio_tokens} audio, {out.text_tokens} text)"
        )
    return f"tokens in {usage.input_tokens}, out {usage.output_tokens}{detail}"


async def _converse(session: Session, pcm: bytes, args: argparse.Namespace, tl: _Timeline) -> int:
    reply = bytearray()
    transcript: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stream_audio, session, pcm, not args.fast)
        tl.say(f"streaming {len(pcm) // BYTES_PER_MS} ms of audio")
        async for event in session:
            match event:
                case events.InputAudioBufferSpeechStarted(audio_start_ms=ms):
                    tl.say(f"server heard speech start (audio {ms} ms)")
                case events.InputAudioBufferSpeechStopped(audio_end_ms=ms):
                    tl.speech_stopped = time.monotonic()
                    tl.say(f"server heard speech end (audio {ms} ms)")
                case events.InputAudioBufferCommitted(item_id=item_id):
                    tl.say(f"input committed as {item_id}")
                case events.ResponseCreated():
                    tl.say("response started")
                case events.ResponseOutputAudioDelta():
                    if tl.first_audio is None:
                        tl.first_audio = time.monotonic()
                        since = tl.first_audio - (tl.speech_stopped or tl.start)
                        tl.say(f"first audio byte ({since * 1000:.0f} ms after speech end)")
                    reply += event.audio_bytes()
                case events.ResponseOutputAudioTranscriptDelta(delta=delta):
                    transcript.append(delta)
                case events.Error(error=error):
                    tl.say(f"server error {error.code}: {error.message}")
                case events.ResponseDone(response=response):
                    tl.say(f"response {response.final_status}: {_describe_usage(response)}")
                    nursery.cancel_scope.cancel()
                    break
    if session.closed:
        print(f"the server closed the session: {session.close_reason}", file=sys.stderr)
        return 1
    write_wav(args.output, bytes(reply))
    print(f"\nassistant said: {''.join(transcript)!r}")
    print(f"wrote {len(reply) // BYTES_PER_MS} ms of reply audio to {args.output}")
    return 0


@asynccontextmanager
async def _endpoint(args: argparse.Namespace) -> AsyncIterator[tuple[str, str | None]]:
    if args.url:
        yield args.url, None  # the API key comes from OPENAI_API_KEY
        return
    from ..testing import FakeRealtimeServer

    async with FakeRealtimeServer.serve() as server:
        yield server.url, server.api_key


async def _main(args: argparse.Namespace) -> int:
    pcm = _load_input(args.input)
    settings = RealtimeSettings(
        model=args.model,
        session_properties=SessionProperties(
            instructions="You are a friendly travel agent. Answer in one short sentence.",
            output_modalities=["audio"],
            audio=AudioConfig(
                input=AudioInput(turn_detection=ServerVad(silence_duration_ms=500)),
                output=AudioOutput(voice="marin"),
            ),
        ),
    )
    tl = _Timeline()
    with trio.fail_after(args.timeout):
        async with _endpoint(args) as (url, api_key):
            where = url if args.url else f"the built-in fake server at {url}"
            print(f"trealtime demo: one spoken turn with {where}\n")
            async with open_session(api_key=api_key, url=url, settings=settings) as session:
                tl.say("connected; session configured (server VAD, voice marin)")
                return await _converse(session, pcm, args, tl)


def run(args: argparse.Namespace) -> int:
    """Run the demo; the exit status says whether it worked."""
    try:
        return trio.run(_main, args)
    except RealtimeError as exc:
        print(f"trealtime demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except trio.TooSlowError:
        print(f"trealtime demo failed: no reply within {args.timeout} s", file=sys.stderr)
        return 1
