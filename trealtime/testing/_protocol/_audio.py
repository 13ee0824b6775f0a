"""Audio for the fake server: formats, a small G.711 codec, and synthesized replies.

PCM16 (``audio/pcm``) is 24 kHz little-endian mono, 48 bytes per ms. G.711 (``audio/pcmu``
μ-law, ``audio/pcma`` A-law) is 8 kHz, one byte per sample, 8 bytes per ms. The codec is the
textbook segment encoding (ITU-T G.711), written out because ``audioop`` left the standard
library in Python 3.13.
"""

from __future__ import annotations

import functools
import sys
from array import array

from ..._wire._session_models import AUDIO_BYTES_PER_MS
from ._speech import synthesize_speech

__all__ = [
    "G711_FORMATS",
    "bytes_per_ms",
    "decode_g711",
    "encode_g711",
    "speech",
]

PCM = "audio/pcm"
PCMU = "audio/pcmu"
PCMA = "audio/pcma"
G711_FORMATS = (PCMU, PCMA)
_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def bytes_per_ms(format_type: str) -> int:
    """Bytes per millisecond of audio in the given format (48 for PCM16, 8 for G.711)."""
    return AUDIO_BYTES_PER_MS.get(format_type, 48)


def _encode_ulaw(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), _ULAW_CLIP) + _ULAW_BIAS
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _decode_ulaw(code: int) -> int:
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return -magnitude if code & 0x80 else magnitude


def _encode_alaw(sample: int) -> int:
    mask = 0xD5 if sample >= 0 else 0x55
    magnitude = min(sample if sample >= 0 else -sample - 1, 32767)
    if magnitude < 256:
        return (magnitude >> 4) ^ mask
    exponent = magnitude.bit_length() - 8
    return ((exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0F)) ^ mask


def _decode_alaw(code: int) -> int:
    code ^= 0x55
    exponent = (code >> 4) & 0x07
    mantissa = (code & 0x0F) << 4
    magnitude = mantissa + 8 if exponent == 0 else (mantissa + 0x108) << (exponent - 1)
    return magnitude if code & 0x80 else -magnitude


@functools.cache
def _encode_table(format_type: str) -> bytes:
    encode = _encode_ulaw if format_type == PCMU else _encode_alaw
    # Indexed by the sample as an unsigned 16-bit number.
    return bytes(encode(i - 65536 if i >= 32768 else i) for i in range(65536))


@functools.cache
def _decode_table(format_type: str) -> array[int]:
    decode = _decode_ulaw if format_type == PCMU else _decode_alaw
    return array("h", (decode(code) for code in range(256)))


def _samples(pcm: bytes) -> array[int]:
    samples = array("h", pcm[: len(pcm) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def encode_g711(pcm_8k: bytes, format_type: str) -> bytes:
    """Encode 8 kHz PCM16 little-endian mono as μ-law or A-law bytes."""
    table = _encode_table(format_type)
    return bytes(table[s & 0xFFFF] for s in _samples(pcm_8k))


def decode_g711(data: bytes, format_type: str) -> bytes:
    """Decode μ-law or A-law bytes to 8 kHz PCM16 little-endian mono."""
    table = _decode_table(format_type)
    samples = array("h", (table[code] for code in data))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


@functools.lru_cache(maxsize=64)
def speech(duration_ms: int, format_type: str, seed: int = 0) -> bytes:
    """Speech-like audio of ``duration_ms`` in the given output format (cached)."""
    if format_type not in G711_FORMATS:
        return synthesize_speech(duration_ms, seed=seed)
    return encode_g711(synthesize_speech(duration_ms, sample_rate=8000, seed=seed), format_type)
