from __future__ import annotations

import base64
import io
import math
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from trealtime import ConfigurationError
from trealtime._agent._images import (
    ImageInput,
    ImageInputStatistics,
    encode_raw_frame,
    image_item,
    image_mime_type,
)
from trealtime._wire._item_models import InputImage, MessageItem

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(20)
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(20)


def only_image(item: MessageItem) -> InputImage:
    assert item.role == "user"
    [part] = item.content
    assert isinstance(part, InputImage)
    return part


@pytest.mark.parametrize(("data", "mime"), [(JPEG, "image/jpeg"), (PNG, "image/png")])
def test_image_item_is_a_data_uri(data: bytes, mime: str) -> None:
    assert image_mime_type(data) == mime
    part = only_image(image_item(data, detail="low"))
    assert part.detail == "low"
    prefix = f"data:{mime};base64,"
    assert str(part.image_url).startswith(prefix)
    assert base64.b64decode(str(part.image_url)[len(prefix) :]) == data


@pytest.mark.parametrize("data", [b"", b"GIF89a" + bytes(10), WEBP, b"\xff\xd8", b"hello"])
def test_image_item_rejects_other_bytes(data: bytes) -> None:
    assert image_mime_type(data) is None
    with pytest.raises(ConfigurationError, match="neither JPEG nor PNG"):
        image_item(data)


def test_explicit_mime_for_other_image_types() -> None:
    part = only_image(image_item(WEBP, mime="image/webp"))
    assert str(part.image_url).startswith("data:image/webp;base64,")
    assert part.detail == "auto"
    assert str(only_image(image_item(PNG, mime="image/png")).image_url).startswith(
        "data:image/png;"
    )


@pytest.mark.parametrize(("data", "mime"), [(JPEG, "image/png"), (WEBP, "text/plain")])
def test_contradicting_mime_is_rejected(data: bytes, mime: str) -> None:
    with pytest.raises(ConfigurationError, match="does not match"):
        image_item(data, mime=mime)


def test_detail_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="auto, low, high"):
        image_item(JPEG, detail="medium")
    with pytest.raises(ConfigurationError, match="detail"):
        ImageInput(detail="HIGH")
    frames = ImageInput()
    assert frames.detail == "auto"
    frames.set_detail("high")
    assert frames.detail == "high"
    with pytest.raises(ConfigurationError, match="detail"):
        frames.set_detail("")
    assert frames.detail == "high"


def test_rate_limit_on_injected_time() -> None:
    frames = ImageInput()
    accepted = [frames.accept(t) for t in (100.0, 100.5, 100.99, 101.0, 101.2, 103.5)]
    assert accepted == [True, False, False, True, False, True]
    assert frames.statistics() == ImageInputStatistics(
        accepted=3, dropped_paused=0, dropped_rate_limited=3
    )


@given(
    interval=st.floats(min_value=0, max_value=5),
    gaps=st.lists(st.floats(min_value=0, max_value=3), max_size=40),
)
def test_accepted_frames_are_at_least_an_interval_apart(interval: float, gaps: list[float]) -> None:
    frames = ImageInput(min_interval_s=interval)
    now, last = 0.0, None
    for gap in gaps:
        now += gap
        if frames.accept(now):
            assert last is None or now - last >= interval
            last = now
        else:
            # A frame is only refused if it would come too soon after the last one sent.
            assert last is not None
            assert now - last < interval


def test_paused_frames_are_rejected() -> None:
    frames = ImageInput(start_paused=True)
    assert frames.paused
    assert not frames.accept(0.0)
    frames.set_paused(False)
    assert frames.accept(0.1)  # the first frame sent: no interval to wait for
    frames.set_paused(True)
    assert not frames.accept(5.0)
    frames.set_paused(False)
    assert frames.accept(5.0)
    assert frames.statistics() == ImageInputStatistics(
        accepted=2, dropped_paused=2, dropped_rate_limited=0
    )


@pytest.mark.parametrize("interval", [-0.1, math.nan])
def test_rejects_bad_interval(interval: float) -> None:
    with pytest.raises(ConfigurationError, match="min_interval_s"):
        ImageInput(min_interval_s=interval)


@pytest.mark.parametrize(("mode", "channels"), [("RGB", 3), ("RGBA", 4), ("L", 1)])
def test_raw_frame_to_jpeg_round_trip(mode: str, channels: int) -> None:
    size = (64, 48)
    pixels = bytes((x * 4 + y) % 256 for y in range(48) for x in range(64) for _ in range(channels))
    jpeg = encode_raw_frame(pixels, size, mode, quality=90)
    assert image_mime_type(jpeg) == "image/jpeg"
    with Image.open(io.BytesIO(jpeg)) as decoded:
        assert decoded.format == "JPEG"
        assert decoded.size == size
        assert decoded.mode == ("L" if mode == "L" else "RGB")
    assert str(only_image(image_item(jpeg)).image_url).startswith("data:image/jpeg;base64,/9j/")


@pytest.mark.parametrize(
    ("pixels", "size", "mode"),
    [(bytes(10), (4, 4), "RGB"), (bytes(48), (4, 4), "NOPE"), (b"", (0, 0), "RGB")],
)
def test_bad_raw_frames_are_configuration_errors(
    pixels: bytes, size: tuple[int, int], mode: str
) -> None:
    with pytest.raises(ConfigurationError, match="cannot encode"):
        encode_raw_frame(pixels, size, mode)


@pytest.mark.parametrize("quality", [0, 96, 50.0])
def test_bad_quality(quality: int) -> None:
    with pytest.raises(ConfigurationError, match="quality"):
        encode_raw_frame(bytes(48), (4, 4), quality=quality)


def test_missing_pillow_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ConfigurationError, match=r"Pillow: pip install 'trealtime\[images\]'"):
        encode_raw_frame(bytes(48), (4, 4))
