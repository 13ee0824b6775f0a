"""Image and video-frame input: the frame-rate policy, the message item, raw-frame encoding.

Sans-IO: :class:`ImageInput` decides which frames to send (pausing and a rate limit on a time the
caller supplies), :func:`image_item` builds the ``conversation.item.create`` payload, and
:func:`encode_raw_frame` turns raw pixels into JPEG with Pillow (the optional extra
``trealtime[images]``), imported only when called.
"""

from __future__ import annotations

import base64
import io

import attrs

from .._errors import ConfigurationError
from .._wire._item_models import InputImage, MessageItem

__all__ = [
    "IMAGE_DETAILS",
    "ImageInput",
    "ImageInputStatistics",
    "encode_raw_frame",
    "image_item",
    "image_mime_type",
]

IMAGE_DETAILS = ("auto", "low", "high")
"""The values of an image's ``detail``."""

_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


def _check_detail(detail: str) -> str:
    # pipecat only logs a warning and sends the value anyway; the server would then reject the
    # item long after the call, so the caller's mistake is reported here.
    if detail not in IMAGE_DETAILS:
        raise ConfigurationError(
            f"image detail must be one of {', '.join(IMAGE_DETAILS)}, got {detail!r}"
        )
    return detail


@attrs.frozen(kw_only=True)
class ImageInputStatistics:
    """Counters of an :class:`ImageInput`, for monitoring."""

    accepted: int
    """Frames accepted for sending."""
    dropped_paused: int
    """Frames rejected because video input was paused."""
    dropped_rate_limited: int
    """Frames rejected because they came sooner than ``min_interval_s`` after the last one."""


class ImageInput:
    """Which video frames to send: none while paused, at most one per ``min_interval_s``.

    ``detail`` (``auto``, ``low`` or ``high``) is the detail to send frames with. The default of
    one frame per second is pipecat's.
    """

    def __init__(
        self, *, min_interval_s: float = 1.0, detail: str = "auto", start_paused: bool = False
    ) -> None:
        if not min_interval_s >= 0:  # also rejects NaN
            raise ConfigurationError(f"min_interval_s must be >= 0, got {min_interval_s!r}")
        self.min_interval_s = min_interval_s
        self._detail = _check_detail(detail)
        self._paused = start_paused
        self._last_accepted: float | None = None
        self._accepted = self._dropped_paused = self._dropped_rate_limited = 0

    @property
    def paused(self) -> bool:
        """Whether video input is paused."""
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Pause or resume video input."""
        self._paused = paused

    @property
    def detail(self) -> str:
        """The detail frames are sent with."""
        return self._detail

    def set_detail(self, detail: str) -> None:
        """Change the detail of later frames; raises ConfigurationError for an unknown value."""
        self._detail = _check_detail(detail)

    def accept(self, now: float) -> bool:
        """Whether to send a frame arriving at ``now`` (a monotonic time in seconds).

        The first frame is always accepted; a rejected frame does not delay the next one.
        """
        if self._paused:
            self._dropped_paused += 1
            return False
        if self._last_accepted is not None and now - self._last_accepted < self.min_interval_s:
            self._dropped_rate_limited += 1
            return False
        self._last_accepted = now
        self._accepted += 1
        return True

    def statistics(self) -> ImageInputStatistics:
        """A snapshot of the counters."""
        return ImageInputStatistics(
            accepted=self._accepted,
            dropped_paused=self._dropped_paused,
            dropped_rate_limited=self._dropped_rate_limited,
        )


def image_mime_type(data: bytes) -> str | None:
    """``image/jpeg`` or ``image/png`` from the file's magic bytes, else None."""
    for magic, mime in _MAGIC.items():
        if data.startswith(magic):
            return mime
    return None


def image_item(data: bytes, *, detail: str = "auto", mime: str | None = None) -> MessageItem:
    """A user message holding one image, sent as a ``data:`` URI.

    ``data`` is a JPEG or PNG file, recognised by its magic bytes. ``mime`` names another
    ``image/`` type the server accepts, for bytes that are neither; it must not contradict
    what the bytes show.
    """
    detected = image_mime_type(data)
    if mime is None and detected is None:
        raise ConfigurationError(
            f"image data is neither JPEG nor PNG (starts with {data[:8]!r}); pass mime= for"
            " another image type, or encode_raw_frame() for raw pixels"
        )
    if mime is not None and (not mime.startswith("image/") or detected not in (None, mime)):
        raise ConfigurationError(f"mime {mime!r} does not match the image data ({detected})")
    url = f"data:{mime or detected};base64,{base64.b64encode(data).decode('ascii')}"
    return MessageItem(
        role="user", content=[InputImage(image_url=url, detail=_check_detail(detail))]
    )


def encode_raw_frame(
    pixels: bytes, size: tuple[int, int], mode: str = "RGB", quality: int = 85
) -> bytes:
    """Encode a raw frame (``width, height`` pixels in a Pillow ``mode``) as JPEG.

    Modes JPEG cannot hold (``RGBA``, ``P`` …) are converted to RGB. Needs Pillow:
    ``pip install 'trealtime[images]'``.
    """
    if not isinstance(quality, int) or not 1 <= quality <= 95:
        raise ConfigurationError(f"JPEG quality must be an integer in 1..95, got {quality!r}")
    try:
        from PIL import Image
    except ImportError as exc:
        raise ConfigurationError(
            "encoding raw frames as JPEG needs Pillow: pip install 'trealtime[images]'"
        ) from exc
    out = io.BytesIO()
    try:
        image = Image.frombytes(mode, size, pixels)
        if image.mode not in ("L", "RGB", "CMYK"):
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=quality)
    except ValueError as exc:  # unknown mode, too few bytes, an empty size
        raise ConfigurationError(f"cannot encode a {mode} frame of size {size}: {exc}") from exc
    return out.getvalue()
