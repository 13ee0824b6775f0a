"""``open_session``: build a :class:`~trealtime.Session`, connect it, and close it on exit."""

from __future__ import annotations

import math
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._agent._tools import ToolRegistry, ToolSpec
from .._errors import ConnectTimeout
from .._transport._connect import (
    DEFAULT_URL,
    ConnectStream,
    Credentials,
    Endpoint,
    TokenProvider,
    open_tcp_or_tls,
)
from .._transport._deflate import Deflate
from .._transport._groups import single_error
from .._transport._link import Keepalive
from .._wire._session_models import TranscriptionSessionProperties
from .._wire._settings import RealtimeSettings
from ._facade import DEFAULT_MODEL, Session
from ._options import SessionOptions
from ._reconnect import ReconnectPolicy
from ._recording import Recorder

__all__ = ["open_session"]


def _registry(tools: ToolRegistry | Iterable[ToolSpec | Callable[..., Any]] | None) -> ToolRegistry:
    return tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools or ())


@asynccontextmanager
async def open_session(
    *,
    api_key: str | None = None,
    settings: RealtimeSettings | None = None,
    url: str = DEFAULT_URL,
    azure: bool | None = None,
    token_provider: TokenProvider | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_query: Mapping[str, str] | None = None,
    call_id: str | None = None,
    connect_timeout: float = 10.0,
    close_timeout: float = 2.0,
    request_timeout: float = 10.0,
    max_message_size: int = 16 * 2**20,
    compression: Deflate | None = None,
    inbound_buffer: int = 256,
    inbound_buffer_bytes: int = 4 * 2**20,
    outbound_buffer: int = 64,
    ssl_context: ssl.SSLContext | None = None,
    allow_insecure: bool = False,
    connect_stream: ConnectStream | None = None,
    reconnect: ReconnectPolicy | None = None,
    keepalive: Keepalive | None = Keepalive(),  # noqa: B008 - frozen, so sharing it is safe
    tools: ToolRegistry | Iterable[ToolSpec | Callable[..., Any]] | None = None,
    max_tool_concurrency: int = 4,
    tool_timeout: float | None = 30.0,
    audio_chunk_ms: int = 20,
    preroll_ms: int = 500,
    start_audio_paused: bool = False,
    start_video_paused: bool = False,
    video_frame_detail: str = "auto",
    video_frame_interval: float = 1.0,
    log_metrics: bool = False,
    record: str | os.PathLike[str] | None = None,
    record_audio: bool = False,
    max_conversation_items: int | None = 256,
) -> AsyncIterator[Session]:
    """Connect, configure the session, and yield a :class:`Session`; close it on exit.

    The model (``settings.model``, default ``gpt-realtime``; an Azure deployment name on Azure)
    goes in the URL's ``model`` query parameter; ``call_id`` instead attaches this session to a
    live SIP or WebRTC call (a sideband session: the call's own model, no ``model`` parameter),
    once the call is accepted (:meth:`RestClient.accept_call`). With
    ``TranscriptionSessionProperties`` as the settings' session properties, a transcription
    session opens instead (``intent=transcription``, no model; the transcription model is
    ``audio.input.transcription.model``). Credentials: ``api_key``
    (default: the ``OPENAI_API_KEY`` environment variable; ``AZURE_OPENAI_API_KEY`` on Azure,
    sent as the ``api-key`` header) or ``token_provider``, an async callable whose token is
    fetched on every connect (e.g. Entra ID). The session is yielded only after
    ``session.created`` and the ``session.updated`` that confirms ``settings``; an ``error`` in
    reply raises :class:`ServerError`. All of that must happen within ``connect_timeout``
    (:class:`ConnectTimeout` otherwise).

    Leaving the block closes the socket within ``close_timeout``, whether the server answers
    the close or not, and no task outlives it. ``reconnect`` (a :class:`ReconnectPolicy`)
    replaces lost connections and replays the conversation; ``keepalive`` pings to notice a
    dead peer. ``tools`` are run when the model calls them. ``connect_stream`` replaces the
    TCP/TLS transport (the fake server's in-memory seam); ``ssl_context`` replaces the default
    verifying context. ``record`` writes every frame both ways to a JSON-lines file (audio
    elided unless ``record_audio``; credentials never written). The conversation mirror keeps
    the latest ``max_conversation_items`` items (what a reconnect replays), so that memory stays
    flat over a long call; ``None`` keeps them all. Events the caller has not read yet are
    bounded by ``inbound_buffer`` (count) and ``inbound_buffer_bytes`` (their frames' wire
    size; one event always fits): beyond either, the socket is not read until the caller
    catches up. ``compression=Deflate()`` offers permessage-deflate (off by default: it costs
    more CPU per event than it saves bandwidth).
    """
    store = settings.copy() if settings is not None else RealtimeSettings()
    registry = _registry(tools)
    endpoint = _endpoint_for(store, url, azure=azure, extra_query=extra_query, call_id=call_id)
    if connect_stream is None:
        endpoint.check_transport_security(allow_insecure)
        connect_stream = _tcp_or_tls(ssl_context)
    options = SessionOptions(
        endpoint=endpoint,
        credentials=Credentials.resolve(api_key, token_provider, azure=endpoint.azure),
        settings=store,
        extra_headers=extra_headers or {},
        connect_stream=connect_stream,
        max_message_size=max_message_size,
        compression=compression,
        inbound_buffer=inbound_buffer,
        inbound_buffer_bytes=inbound_buffer_bytes,
        outbound_buffer=outbound_buffer,
        connect_timeout=connect_timeout,
        close_timeout=close_timeout,
        request_timeout=request_timeout,
        reconnect=reconnect,
        keepalive=keepalive,
        tools=registry,
        max_tool_concurrency=max_tool_concurrency,
        tool_timeout=tool_timeout,
        audio_chunk_ms=audio_chunk_ms,
        preroll_ms=preroll_ms,
        start_audio_paused=start_audio_paused,
        start_video_paused=start_video_paused,
        video_frame_detail=video_frame_detail,
        video_frame_interval=video_frame_interval,
        log_metrics=log_metrics,
        recorder=Recorder(record, url=endpoint.url, audio=record_audio, wall_time=time.time())
        if record is not None
        else None,
        max_conversation_items=max_conversation_items,
    )
    session = Session(options)
    async with _running(session, connect_timeout, per_attempt=reconnect is not None):
        yield session


def _endpoint_for(
    settings: RealtimeSettings,
    url: str,
    *,
    azure: bool | None,
    extra_query: Mapping[str, str] | None,
    call_id: str | None,
) -> Endpoint:
    """The URL to connect to: the model, or a transcription session's intent, or a call."""
    model: str | None = settings.model if isinstance(settings.model, str) else DEFAULT_MODEL
    if isinstance(settings.session_properties, TranscriptionSessionProperties):
        model, extra_query = None, {"intent": "transcription", **(extra_query or {})}
    if call_id is not None:
        extra_query = {**(extra_query or {}), "call_id": call_id}
    return Endpoint.build(url, model=model, extra_query=extra_query, azure=azure)


def _tcp_or_tls(ssl_context: ssl.SSLContext | None) -> ConnectStream:
    async def connect_tcp(host: str, port: int, tls: bool) -> trio.abc.Stream:
        return await open_tcp_or_tls(host, port, tls, ssl_context)

    return connect_tcp


@asynccontextmanager
async def _running(
    session: Session, connect_timeout: float, *, per_attempt: bool
) -> AsyncIterator[None]:
    """Connect ``session`` within ``connect_timeout`` (``per_attempt``: each attempt has its
    own), run the caller's block, then close it; no task outlives it."""
    ready = False
    try:
        async with trio.open_nursery() as nursery:
            session._nursery = nursery
            try:
                try:
                    with trio.fail_after(math.inf if per_attempt else connect_timeout):
                        await nursery.start(session._supervisor.run, nursery)
                except trio.TooSlowError:
                    raise ConnectTimeout(
                        f"no session from {session._endpoint.url} within {connect_timeout} s"
                    ) from None
                ready = True
                yield
            finally:
                with trio.CancelScope(shield=True):
                    await session._close(polite=ready)
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        error = single_error(group)
        if error is group:
            raise
        raise error from error.__cause__
