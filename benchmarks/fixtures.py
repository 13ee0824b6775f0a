"""Deterministic, realistic Realtime API traffic (GA shapes, protocol reference §4 and §7).

A *voice turn* is the server-side event sequence of one server-VAD exchange with audio
output (reference §4.12): the user speaks, the buffer is committed, the model answers with
50 audio deltas of 100 ms PCM16 @ 24 kHz interleaved with 40 transcript deltas, and the
response ends with ``rate_limits.updated`` and ``response.done`` with full usage.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass
from typing import Any

SAMPLE_RATE = 24_000
BYTES_PER_SAMPLE = 2  # PCM16 mono


def pcm_bytes(milliseconds: int, *, seed: int = 0) -> bytes:
    """Deterministic pseudo-random PCM16 mono 24 kHz audio of the given duration."""
    n = SAMPLE_RATE * milliseconds // 1000 * BYTES_PER_SAMPLE
    return random.Random(f"pcm-{seed}").randbytes(n)


_ALNUM = string.ascii_letters + string.digits

_TRANSCRIPT = (
    "Sure, I found two morning flights from Berlin to Lisbon on Friday. The first one leaves"
    " at nine a.m. and lands at eleven fifteen local time; the second leaves at ten forty and"
    " lands just after one. Shall I book the nine a.m. one for you?"
)


@dataclass(frozen=True)
class VoiceTurn:
    """The JSON text frames of one voice turn."""

    frames: tuple[str, ...]

    def count(self, event_type: str) -> int:
        return sum(1 for f in self.frames if json.loads(f)["type"] == event_type)


def _dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def voice_turn(
    *,
    audio_deltas: int = 50,
    transcript_deltas: int = 40,
    delta_ms: int = 100,
    seed: int = 0,
) -> VoiceTurn:
    """Build one turn's server frames in the order a GA server sends them."""
    rng = random.Random(f"turn-{seed}")

    def ident(prefix: str) -> str:
        return prefix + "".join(rng.choices(_ALNUM, k=21))

    def event(kind: str, **fields: Any) -> str:
        return _dumps({"type": kind, "event_id": ident("event_"), **fields})

    user_item, assistant_item, previous_item = ident("item_"), ident("item_"), ident("item_")
    response_id, conversation_id = ident("resp_"), ident("conv_")
    words = [w if i == 0 else " " + w for i, w in enumerate(_TRANSCRIPT.split())]
    chunks = _split_evenly(words, transcript_deltas)
    transcript = "".join(chunks)
    audio_format = {"type": "audio/pcm", "rate": SAMPLE_RATE}
    speech_start_ms = 11_840 + seed * 20_000
    where = {
        "response_id": response_id,
        "item_id": assistant_item,
        "output_index": 0,
        "content_index": 0,
    }

    def response(status: str, output: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": None,
            "output": output,
            "conversation_id": conversation_id,
            "output_modalities": ["audio"],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": audio_format, "voice": "alloy"}},
            "usage": usage,
            "metadata": None,
        }

    user_message = {
        "id": user_item,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    assistant_open = {
        "id": assistant_item,
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    assistant_done = {
        **assistant_open,
        "status": "completed",
        "content": [{"type": "output_audio", "transcript": transcript}],
    }
    audio_tokens_out = audio_deltas * delta_ms // 50
    output_tokens = audio_tokens_out + transcript_deltas
    usage = {
        "total_tokens": 1_280 + output_tokens,
        "input_tokens": 1_280,
        "output_tokens": output_tokens,
        "input_token_details": {
            "text_tokens": 1_004,
            "audio_tokens": 276,
            "image_tokens": 0,
            "cached_tokens": 1_152,
            "cached_tokens_details": {"text_tokens": 960, "audio_tokens": 192, "image_tokens": 0},
        },
        "output_token_details": {
            "text_tokens": transcript_deltas,
            "audio_tokens": audio_tokens_out,
        },
    }

    frames = [
        event(
            "input_audio_buffer.speech_started",
            audio_start_ms=speech_start_ms,
            item_id=user_item,
        ),
        event(
            "input_audio_buffer.speech_stopped",
            audio_end_ms=speech_start_ms + 2_320,
            item_id=user_item,
        ),
        event("input_audio_buffer.committed", previous_item_id=previous_item, item_id=user_item),
        event("conversation.item.added", previous_item_id=previous_item, item=user_message),
        event("conversation.item.done", previous_item_id=previous_item, item=user_message),
        event("response.created", response=response("in_progress", [], None)),
        event(
            "response.output_item.added",
            response_id=response_id,
            output_index=0,
            item=assistant_open,
        ),
        event("conversation.item.added", previous_item_id=user_item, item=assistant_open),
        event(
            "response.content_part.added",
            **where,
            part={"type": "audio", "transcript": ""},
        ),
    ]
    # Interleave transcript deltas evenly among the audio deltas.
    total = audio_deltas + transcript_deltas
    sent_text = 0
    sent_audio = 0
    for i in range(total):
        text_due = (i + 1) * transcript_deltas // total
        if sent_text < text_due:
            obfuscation = "".join(rng.choices(_ALNUM, k=rng.randint(4, 14)))
            frames.append(
                event(
                    "response.output_audio_transcript.delta",
                    **where,
                    delta=chunks[sent_text],
                    obfuscation=obfuscation,
                )
            )
            sent_text += 1
        else:
            pcm = pcm_bytes(delta_ms, seed=seed * 1_000 + sent_audio)
            frames.append(
                event(
                    "response.output_audio.delta",
                    **where,
                    delta=base64.b64encode(pcm).decode("ascii"),
                )
            )
            sent_audio += 1
    frames += [
        event("response.output_audio.done", **where),
        event("response.output_audio_transcript.done", **where, transcript=transcript),
        event(
            "response.content_part.done",
            **where,
            part={"type": "audio", "transcript": transcript},
        ),
        event(
            "response.output_item.done",
            response_id=response_id,
            output_index=0,
            item=assistant_done,
        ),
        event("conversation.item.done", previous_item_id=user_item, item=assistant_done),
        event(
            "rate_limits.updated",
            rate_limits=[
                {"name": "tokens", "limit": 40_000, "remaining": 38_211, "reset_seconds": 2.684}
            ],
        ),
        event("response.done", response=response("completed", [assistant_done], usage)),
    ]
    return VoiceTurn(frames=tuple(frames))


def _split_evenly(words: list[str], parts: int) -> list[str]:
    """Join ``words`` into exactly ``parts`` non-empty chunks (words repeat if too few)."""
    while len(words) < parts:
        words = words + words
    return [
        "".join(words[i * len(words) // parts : (i + 1) * len(words) // parts])
        for i in range(parts)
    ]


# -- loopback traffic (the server process and the clients) ---------------------------------------

#: The ``event_id`` the server process replaces with ``ev_<time.monotonic_ns() at send>``.
STAMP_ID = "ev_STAMP"
#: The ``event_id`` of the frame that ends a stream (the client stops reading at it).
END_ID = "ev_end"


def audio_delta_frame(delta_ms: int, *, seed: int = 0, event_id: str = STAMP_ID) -> str:
    """One ``response.output_audio.delta`` of ``delta_ms`` of PCM16 @ 24 kHz."""
    rng = random.Random(f"delta-{seed}")

    def ident(prefix: str) -> str:
        return prefix + "".join(rng.choices(_ALNUM, k=21))

    return _dumps(
        {
            "type": "response.output_audio.delta",
            "event_id": event_id,
            "response_id": ident("resp_"),
            "item_id": ident("item_"),
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(pcm_bytes(delta_ms, seed=seed)).decode("ascii"),
        }
    )


def end_frame() -> str:
    """The small typed frame that ends every benchmark stream (``event_id`` :data:`END_ID`)."""
    return _dumps(
        {
            "type": "rate_limits.updated",
            "event_id": END_ID,
            "rate_limits": [
                {"name": "tokens", "limit": 40_000, "remaining": 38_211, "reset_seconds": 2.684}
            ],
        }
    )


#: What a client sends to start the server's stream (the fake server just answers ``cleared``).
TRIGGER_JSON = '{"type":"input_audio_buffer.clear"}'
#: The session configuration every benchmark client asks for: no server VAD on the input.
SESSION_UPDATE: dict[str, Any] = {
    "type": "realtime",
    "audio": {"input": {"turn_detection": None}},
}
SESSION_UPDATE_JSON = _dumps({"type": "session.update", "session": SESSION_UPDATE})


def append_json(pcm: bytes) -> str:
    """A pre-encoded ``input_audio_buffer.append`` (for the transport-floor client)."""
    return _dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode("ascii")}
    )
