"""What a :class:`~trealtime.Session` is built with: ``open_session``'s keywords, resolved."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import trio

from .._agent._audio_input import AudioInputPipeline
from .._agent._images import ImageInput
from .._agent._tools import ToolRegistry
from .._transport._connect import ConnectStream, Credentials, Endpoint
from .._transport._deflate import Deflate
from .._transport._link import Keepalive
from .._wire._settings import RealtimeSettings
from ._reconnect import ReconnectPolicy
from ._recording import Recorder
from ._supervisor import LinkOptions

__all__ = ["SessionOptions"]


@attrs.frozen(kw_only=True)
class SessionOptions:
    """The resolved options of one session (``open_session`` says what each means).

    ``settings`` and ``tools`` are the session's own: it updates them as it runs.
    """

    endpoint: Endpoint
    credentials: Credentials
    settings: RealtimeSettings
    extra_headers: Mapping[str, str]
    connect_stream: ConnectStream
    max_message_size: int
    compression: Deflate | None
    keepalive: Keepalive | None
    inbound_buffer: int
    inbound_buffer_bytes: int
    outbound_buffer: int
    connect_timeout: float
    close_timeout: float
    request_timeout: float
    reconnect: ReconnectPolicy | None
    tools: ToolRegistry
    max_tool_concurrency: int
    tool_timeout: float | None
    audio_chunk_ms: int
    preroll_ms: int
    start_audio_paused: bool
    start_video_paused: bool
    video_frame_detail: str
    video_frame_interval: float
    log_metrics: bool
    recorder: Recorder | None
    max_conversation_items: int | None

    def audio_input(self) -> AudioInputPipeline:
        """The input audio pipeline (re-chunking, pre-roll, pause) these options ask for."""
        return AudioInputPipeline(
            chunk_ms=self.audio_chunk_ms,
            preroll_ms=self.preroll_ms,
            start_paused=self.start_audio_paused,
        )

    def image_input(self) -> ImageInput:
        """The image and video input (rate limit, detail, pause) these options ask for."""
        return ImageInput(
            min_interval_s=self.video_frame_interval,
            detail=self.video_frame_detail,
            start_paused=self.start_video_paused,
        )

    def link_options(self, outbound: trio.MemoryReceiveChannel[str]) -> LinkOptions:
        """What each connection is opened with; ``outbound`` feeds its send task."""
        return LinkOptions(
            endpoint=self.endpoint,
            credentials=self.credentials,
            extra_headers=dict(self.extra_headers),
            connect_stream=self.connect_stream,
            max_message_size=self.max_message_size,
            compression=self.compression,
            keepalive=self.keepalive,
            outbound=outbound,
        )
