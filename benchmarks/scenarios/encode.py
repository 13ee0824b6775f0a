"""encode: ``input_audio_buffer.append`` from raw PCM to the JSON text handed to the socket.

Both contenders start from the same raw PCM bytes, base64-encode them, build the event,
serialise it and await a stub socket's ``send`` (which only keeps the frame):

- ``trealtime``: ``await ws.send(encode_client_event(InputAudioBufferAppend.from_bytes(pcm)))``;
- ``openai``: ``await connection.input_audio_buffer.append(audio=b64encode(pcm).decode())`` on
  an ``AsyncRealtimeConnection`` over the stub socket: the SDK's real send path
  (``async_maybe_transform`` + ``json.dumps`` + send-queue bookkeeping + ``ws.send``).

Both run as awaited calls in one asyncio task (the SDK asks ``anyio`` for the current task,
so it needs a running loop); the clock is read inside the task, so loop entry is excluded.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from benchmarks.config import RunConfig
from benchmarks.contenders import (
    OPENAI,
    TREALTIME,
    ContenderUnavailable,
    TrealtimeEvents,
    trealtime_events,
)
from benchmarks.fixtures import pcm_bytes
from benchmarks.openai_stub import StubWebSocket, stub_connection
from benchmarks.results import Measurement, Ratio, ScenarioResult, Target
from benchmarks.timing import Contender, async_batch, measure_interleaved

UNIT = "µs/append"
CHUNK_MS = (20, 100)

#: trealtime must encode an append at least this many times faster than openai.
VS_OPENAI = Target(">=", 10)


class EncodeScenario:
    name = "encode"
    description = "input_audio_buffer.append from raw PCM to JSON text (µs per append)"

    def run(self, config: RunConfig) -> ScenarioResult:
        notes: list[str] = []
        missing: dict[str, str] = {}
        tr: TrealtimeEvents | None = None
        try:
            tr = trealtime_events()
        except ContenderUnavailable as exc:
            missing[TREALTIME] = str(exc)
        try:
            stub_connection()
        except ContenderUnavailable as exc:
            missing[OPENAI] = str(exc)

        measurements: list[Measurement] = []
        ratios: list[Ratio] = []
        loop = asyncio.new_event_loop()
        try:
            for ms in CHUNK_MS:
                pcm = pcm_bytes(ms, seed=ms)
                case = f"{ms} ms chunk ({len(pcm):,} B PCM)"
                contenders: list[Contender] = []
                outputs: dict[str, str | bytes | None] = {}
                if tr is not None:
                    op, ws = _trealtime_op(tr, pcm)
                    contenders.append(Contender(TREALTIME, async_batch(loop, op)))
                    outputs[TREALTIME] = _one_frame(loop, op, ws)
                if OPENAI not in missing:
                    op, ws = _openai_op(pcm)
                    contenders.append(Contender(OPENAI, async_batch(loop, op)))
                    outputs[OPENAI] = _one_frame(loop, op, ws)
                notes += _check_frames(case, pcm, outputs)
                if not contenders:
                    continue
                samples = measure_interleaved(
                    contenders, repetitions=config.repetitions, sample_ns=config.sample_ns
                )
                measurements += [Measurement.from_samples(case, UNIT, s) for s in samples.values()]
                absent = missing.get(OPENAI) or missing.get(TREALTIME)
                if absent is None:
                    ratios.append(
                        Ratio.paired(case, samples[OPENAI], samples[TREALTIME], VS_OPENAI)
                    )
                else:
                    ratios.append(
                        Ratio(case, OPENAI, TREALTIME, None, target=VS_OPENAI, missing=absent)
                    )
        finally:
            loop.close()
        notes += [f"{name} not measured: {why}" for name, why in missing.items()]
        return ScenarioResult(
            self.name, self.description, tuple(measurements), tuple(ratios), tuple(notes)
        )


Op = Callable[[], Awaitable[None]]


def _trealtime_op(tr: TrealtimeEvents, pcm: bytes) -> tuple[Op, StubWebSocket]:
    ws = StubWebSocket()
    encode, from_bytes, send = tr.encode_client_event, tr.append_from_bytes, ws.send

    async def op() -> None:
        await send(encode(from_bytes(pcm)))

    return op, ws


def _openai_op(pcm: bytes) -> tuple[Op, StubWebSocket]:
    connection, ws = stub_connection()
    append: Callable[..., Awaitable[None]] = connection.input_audio_buffer.append
    b64encode = base64.b64encode

    def op() -> Awaitable[None]:
        return append(audio=b64encode(pcm).decode())

    return op, ws


def _one_frame(loop: asyncio.AbstractEventLoop, op: Op, ws: StubWebSocket) -> str | bytes | None:
    async def once() -> None:
        await op()

    loop.run_until_complete(once())
    return ws.last


def _check_frames(case: str, pcm: bytes, outputs: dict[str, str | bytes | None]) -> list[str]:
    """Check every contender sent an equivalent append frame for ``pcm``."""
    problems: list[str] = []
    expected = base64.b64encode(pcm).decode("ascii")
    for name, frame in outputs.items():
        if frame is None:
            problems.append(f"{case}: {name} sent nothing")
            continue
        event: Any = orjson.loads(frame)
        if event.get("type") != "input_audio_buffer.append" or event.get("audio") != expected:
            problems.append(f"{case}: {name} sent an unexpected frame: {str(frame)[:200]}")
    return problems
