"""compression: permessage-deflate on a voice stream, bytes on the wire against CPU per event.

In process, the client's own WebSocket layer and decoder, fed the same voice turn both ways:

- ``plain``: the server's frames as they are, read in 64 KiB reads by ``FrameReader`` and
  decoded into typed events;
- ``deflate``: the same frames compressed as a server does (zlib's default level, a 15-bit
  window, context kept across messages), read by ``FrameReader`` with the agreed ``Inflater``.

The audio in the turn is synthesized speech (``trealtime.testing.synthesize_speech``), which
compresses better than recorded speech; the bytes saved on random PCM (noise: deflate's
floor, only base64's redundancy) are reported beside it, so the two bound what a real voice
saves. Upstream, 20 ms ``input_audio_buffer.append`` messages (the session's default chunk)
are framed as they are and compressed by trealtime's ``Deflater`` (``Deflate()``'s level 1).
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.config import RunConfig
from benchmarks.fixtures import append_json, voice_turn
from benchmarks.results import Measurement, Metric, Ratio, ScenarioResult
from benchmarks.timing import Contender, measure_interleaved

PLAIN = "plain"
DEFLATE = "deflate"
AUDIO = "response.output_audio.delta"
TRANSCRIPT = "response.output_audio_transcript.delta"
READ_SIZE = 65536  # trealtime._transport._websocket.RECEIVE_SIZE
APPEND_MS = 20


class CompressionScenario:
    name = "compression"
    description = "permessage-deflate on a voice turn: bytes saved vs client CPU per event"

    def run(self, config: RunConfig) -> ScenarioResult:
        from benchmarks.server_process import frame
        from trealtime._transport._deflate import Agreement, Deflater, Inflater
        from trealtime._transport._frames import RSV1, TEXT, client_frame
        from trealtime.events import decode_server_event
        from trealtime.testing import synthesize_speech

        terms = Agreement(15, 15, False, False, level=1)
        speech_frames = _with_audio(voice_turn().frames, synthesize_speech(6000))
        plain_stream = b"".join(frame(f) for f in speech_frames)
        deflated_stream = b"".join(_deflated(speech_frames))
        read_case = f"read + decode a voice turn ({len(speech_frames)} frames)"

        def reader(stream: bytes, inflate: bool) -> Callable[[], object]:
            from trealtime._transport._frames import FrameReader

            def read_turn() -> object:
                frames = FrameReader(2**24, Inflater(terms) if inflate else None)
                last: object = None
                for start in range(0, len(stream), READ_SIZE):
                    frames.feed(stream[start : start + READ_SIZE])
                    while (message := frames.next_event()) is not None:
                        last = decode_server_event(message)  # type: ignore[arg-type]
                return last

            return read_turn

        pcm = synthesize_speech(2000, seed=1)
        chunk = 24_000 * 2 * APPEND_MS // 1000
        appends = [append_json(pcm[i : i + chunk]).encode() for i in range(0, len(pcm), chunk)]
        write_case = f"frame {APPEND_MS} ms appends ({len(appends)} messages)"

        def write_plain() -> object:
            return [client_frame(TEXT, data) for data in appends]

        def write_deflated() -> object:
            deflater = Deflater(terms)
            return [client_frame(TEXT, deflater.deflate(data), RSV1) for data in appends]

        _check(reader(deflated_stream, True), reader(plain_stream, False))
        n_frames, n_appends = len(speech_frames), len(appends)
        contenders = [
            _contender(f"{PLAIN} read", reader(plain_stream, False), n_frames),
            _contender(f"{DEFLATE} read", reader(deflated_stream, True), n_frames),
            _contender(f"{PLAIN} write", write_plain, n_appends),
            _contender(f"{DEFLATE} write", write_deflated, n_appends),
        ]
        samples = measure_interleaved(
            contenders, repetitions=config.repetitions, sample_ns=config.sample_ns
        )
        measurements = (
            Measurement.from_samples(read_case, "µs/event", samples[f"{PLAIN} read"]),
            Measurement.from_samples(read_case, "µs/event", samples[f"{DEFLATE} read"]),
            Measurement.from_samples(write_case, "µs/append", samples[f"{PLAIN} write"]),
            Measurement.from_samples(write_case, "µs/append", samples[f"{DEFLATE} write"]),
        )
        ratios = (
            Ratio.paired(read_case, samples[f"{DEFLATE} read"], samples[f"{PLAIN} read"]),
            Ratio.paired(write_case, samples[f"{DEFLATE} write"], samples[f"{PLAIN} write"]),
        )
        noise_frames = voice_turn().frames  # benchmarks.fixtures' audio is random PCM
        wire = "bytes on the wire"
        metrics = (
            _saved(wire, "audio deltas, speech", speech_frames, AUDIO),
            _saved(wire, "audio deltas, noise", noise_frames, AUDIO),
            _saved(wire, "transcript deltas", speech_frames, TRANSCRIPT),
            _saved(wire, "whole turn, speech", speech_frames, None),
            Metric.from_values(
                wire,
                "20 ms appends, speech",
                "%",
                [_percent(sum(map(len, appends)), _deflated_size(appends, level=1))],
            ),
        )
        added = samples[f"{DEFLATE} read"].median_ns - samples[f"{PLAIN} read"].median_ns
        notes = (
            f"inflating adds {added / 1000:.1f} µs per received event"
            f" ({len(plain_stream):,} bytes plain, {len(deflated_stream):,} deflated per turn)",
            "% is the change in bytes with deflate (negative: saved)",
        )
        return ScenarioResult(
            self.name, self.description, measurements, ratios, notes=notes, metrics=metrics
        )


def _contender(name: str, op: Callable[[], object], ops: int) -> Contender:
    def run(loops: int) -> int:
        import time

        start = time.perf_counter_ns()
        for _ in range(loops):
            op()
        return time.perf_counter_ns() - start

    return Contender(name, run, ops_per_loop=ops)


def _with_audio(frames: Sequence[str], pcm: bytes) -> tuple[str, ...]:
    """``frames`` with each audio delta's (random) PCM replaced by the next piece of ``pcm``."""
    out: list[str] = []
    offset = 0
    for frame in frames:
        event: dict[str, Any] = json.loads(frame)
        if event["type"] == AUDIO:
            size = len(base64.b64decode(event["delta"]))
            if offset + size > len(pcm):
                offset = 0
            event["delta"] = base64.b64encode(pcm[offset : offset + size]).decode("ascii")
            offset += size
            frame = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        out.append(frame)
    return tuple(out)


def _compress_each(messages: Sequence[bytes], level: int) -> list[bytes]:
    """Each message compressed as permessage-deflate does, one context across them."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return [(compressor.compress(m) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4] for m in messages]


def _deflated(frames: Sequence[str]) -> list[bytes]:
    from benchmarks.server_process import frame
    from trealtime._transport._frames import RSV1, TEXT

    payloads = _compress_each([f.encode() for f in frames], zlib.Z_DEFAULT_COMPRESSION)
    return [frame(p, RSV1 | TEXT) for p in payloads]  # RSV1: a compressed message


def _deflated_size(messages: Sequence[bytes], *, level: int) -> int:
    return sum(len(p) for p in _compress_each(messages, level))


def _percent(plain: int, deflated: int) -> float:
    return 100 * (deflated - plain) / plain


def _saved(case: str, name: str, frames: Sequence[str], kind: str | None) -> Metric:
    """The change in payload bytes, with deflate, of the frames of ``kind`` (all: ``None``),
    compressed in the context of the whole turn as a server would."""
    messages = [f.encode() for f in frames]
    payloads = _compress_each(messages, zlib.Z_DEFAULT_COMPRESSION)
    chosen = [i for i, f in enumerate(frames) if kind is None or json.loads(f)["type"] == kind]
    plain = sum(len(messages[i]) for i in chosen)
    deflated = sum(len(payloads[i]) for i in chosen)
    return Metric.from_values(case, name, "%", [_percent(plain, deflated)])


def _check(deflated: Callable[[], object], plain: Callable[[], object]) -> None:
    """Both readers end on the same event (the compressed turn reads back whole)."""
    if deflated() != plain():
        raise AssertionError("the deflated voice turn does not read back as the plain one")
