"""Client side of the loopback scenarios: the server process, and the clients.

The server (:mod:`benchmarks.server_process`) runs in a child process and listens twice: plain
``ws://`` and TLS ``wss://`` (a ``trustme`` certificate; :attr:`ServerAddress.ca_file` is the
CA every client trusts, through an :class:`ssl.SSLContext` of its own, verified as in
production).  :meth:`Served.over` gives the address of one transport (:data:`TRANSPORTS`).
The clients, all connected to it over ``127.0.0.1`` and all asking for the same session
configuration (no server VAD), are:

- ``trealtime``: :func:`trealtime.open_session`, iterated with ``async for``;
- ``openai``: the ``openai`` package's ``AsyncRealtimeConnection`` (``client.realtime.connect``
  with ``websocket_base_url`` pointed at the server), iterated with ``async for``;
- ``floor``: a bare ``trio-websocket`` client that only calls ``get_message()`` and never
  decodes (trealtime's transport until it read its own WebSocket layer), for scale;
- ``websocket``: trealtime's own WebSocket layer alone, without decoding or session: the
  physical floor under trealtime.

A stream starts when the client sends :data:`~benchmarks.fixtures.TRIGGER_JSON` and ends with
the frame whose ``event_id`` is :data:`~benchmarks.fixtures.END_ID`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import select
import ssl
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import trio
import trio_websocket

from benchmarks import fixtures
from benchmarks.contenders import FLOOR, HANDOFF, PLAIN, TLS, WEBSOCKET, openai_realtime
from trealtime._transport._connect import open_tcp_or_tls
from trealtime._transport._websocket import WebSocket, WebSocketClosed, connect_websocket

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 30.0
END_ID = fixtures.END_ID
#: Time stamps in event ids: ``ev_<time.monotonic_ns()>``.
STAMP_PREFIX = "ev_"

Query = Mapping[str, str | int | float]
#: trealtime's ``close_timeout`` here: the server answers a close at once, so a longer wait
#: would only stretch the run when the client misses that answer.
CLOSE_TIMEOUT = 0.5


class ServerFailed(RuntimeError):
    """The server process could not start or died."""


#: Both transports, TLS first (it is what users run: the API is ``wss://`` only).
TRANSPORTS = (TLS, PLAIN)


@dataclass(frozen=True)
class ServerAddress:
    """One listening port of the server process: ``ws://`` or, with ``ca_file``, ``wss://``."""

    url: str
    api_key: str
    pid: int
    #: The PEM file of the CA that signed the server's certificate (TLS only).
    ca_file: str | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def tls(self) -> bool:
        return self.url.startswith("wss://")

    @property
    def transport(self) -> str:
        return TLS if self.tls else PLAIN

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that trusts the server's CA (None over plain ``ws://``), one per
        process, as an application would share it between its sessions."""
        if not self.tls:
            return None
        return _trusting(self.ca_file)

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])

    @property
    def websocket_base_url(self) -> str:
        """What ``AsyncOpenAI(websocket_base_url=...)`` wants (the SDK appends ``/realtime``)."""
        return self.url.removesuffix("/realtime")


@functools.cache
def _trusting(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


@dataclass(frozen=True)
class Served:
    """The server process's two addresses (what ``with ServerProcess() as served`` gives)."""

    plain: ServerAddress
    tls: ServerAddress

    def over(self, transport: str) -> ServerAddress:
        return self.tls if transport == TLS else self.plain


def address_dict(server: ServerAddress) -> dict[str, Any]:
    """``server`` as a worker job argument (``ServerAddress(**data)`` rebuilds it)."""
    return dataclasses.asdict(server)


#: Opens a configured client connection of one kind (all the ``*_connection`` functions).
Opener = Callable[[ServerAddress, Query], contextlib.AbstractAsyncContextManager[Any]]


class ServerProcess:
    """``with ServerProcess() as served:`` runs the benchmark server in a child process."""

    def __init__(self, cpu: int | None = None) -> None:
        self._cpu = cpu
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self.address: Served | None = None

    def __enter__(self) -> Served:
        args = [sys.executable, "-m", "benchmarks.server_process"]
        if self._cpu is not None:
            args += ["--cpu", str(self._cpu)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self._process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr,
        )  # fmt: skip
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], READY_TIMEOUT)
        line = self._process.stdout.readline() if ready else b""
        if not line:
            self._stop()
            tail = self.stderr_tail()
            self._stderr.close()  # __exit__ will not run: __enter__ raised
            raise ServerFailed(f"the benchmark server did not start: {tail}")
        data = json.loads(line)
        plain = ServerAddress(data["url"], data["api_key"], data["pid"])
        tls = ServerAddress(data["tls_url"], data["api_key"], data["pid"], data["ca_file"])
        self.address = Served(plain, tls)
        return self.address

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()
        self._stderr.close()

    def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def stderr_tail(self, limit: int = 2000) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]


def _query(query: Query) -> dict[str, str]:
    return {key: str(value) for key, value in query.items()}


def stamp_lag_ns(event_id: object, now_ns: int) -> int | None:
    """``now_ns`` minus the send time stamped in ``event_id`` (None if it has no stamp)."""
    if isinstance(event_id, str) and event_id.startswith(STAMP_PREFIX):
        digits = event_id[3:]
        if digits.isascii() and digits.isdigit():  # not "²" nor other Unicode digits
            return now_ns - int(digits)
    return None


# -- trealtime -------------------------------------------------------------------------------------


def trealtime_settings() -> Any:
    from trealtime import RealtimeSettings
    from trealtime.events import AudioConfig, AudioInput, SessionProperties

    audio = AudioConfig(input=AudioInput(turn_detection=None))
    return RealtimeSettings(session_properties=SessionProperties(audio=audio))


@contextlib.asynccontextmanager
async def trealtime_session(server: ServerAddress, query: Query) -> AsyncIterator[Any]:
    """An open :class:`trealtime.Session` (``session.updated`` already received)."""
    import trealtime

    async with trealtime.open_session(
        url=server.url,
        api_key=server.api_key,
        settings=trealtime_settings(),
        extra_query=_query(query),
        ssl_context=server.ssl_context(),
        connect_timeout=60.0,
        close_timeout=CLOSE_TIMEOUT,
    ) as session:
        yield session


async def trealtime_trigger(session: Any) -> None:
    from trealtime.events import InputAudioBufferClear

    await session.send(InputAudioBufferClear())


# -- the transport floor: bare trio-websocket ----------------------------------------------------


@contextlib.asynccontextmanager
async def floor_connection(
    server: ServerAddress, query: Query
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A bare trio-websocket connection, configured like the others, without any decoding."""
    headers = [(b"Authorization", f"Bearer {server.api_key}".encode())]
    async with trio_websocket.open_websocket(
        server.host, server.port, _resource(query), use_ssl=_use_ssl(server), extra_headers=headers
    ) as ws:
        await ws.send_message(fixtures.SESSION_UPDATE_JSON)
        while '"session.updated"' not in await ws.get_message():
            pass
        yield ws


class TransportFloor:
    """trealtime's own WebSocket layer alone (read in the caller's task), no decoding.

    The floor under trealtime's session: what is left once decoding, the state mirror and
    the event channel are taken away.
    """

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def get_message(self) -> str:
        message = await self._websocket.receive_message()
        return message if isinstance(message, str) else message.decode()

    async def send_message(self, text: str) -> None:
        await self._websocket.send_message(text)


@contextlib.asynccontextmanager
async def websocket_connection(
    server: ServerAddress, query: Query
) -> AsyncIterator[TransportFloor]:
    """A :class:`TransportFloor`, configured like the other clients."""
    stream = await open_tcp_or_tls(server.host, server.port, server.tls, server.ssl_context())
    async with stream:
        websocket = await connect_websocket(
            stream,
            host=f"{server.host}:{server.port}",
            resource=_resource(query),
            headers=[("Authorization", f"Bearer {server.api_key}")],
            max_message_size=1 << 24,
        )
        connection = TransportFloor(websocket)
        await connection.send_message(fixtures.SESSION_UPDATE_JSON)
        while '"session.updated"' not in await connection.get_message():
            pass
        yield connection
        with trio.move_on_after(CLOSE_TIMEOUT), contextlib.suppress(WebSocketClosed):
            await websocket.send_close(1000, None)
            while True:
                await websocket.receive_message()


class HandoffFloor:
    """The transport floor read by a task of its own, as a session reads its link.

    A reader task takes each message from the WebSocket and hands it over a memory channel to
    the caller's task. Nothing is decoded: the difference to :class:`TransportFloor` is the
    cost of that hand-off alone (one more task to wake per message), which the session's
    structure (a receive task that keeps going while the caller does other things) needs.
    """

    def __init__(self, floor: TransportFloor, messages: trio.MemoryReceiveChannel[str]) -> None:
        self._floor = floor
        self._messages = messages

    async def get_message(self) -> str:
        return await self._messages.receive()

    async def send_message(self, text: str) -> None:
        await self._floor.send_message(text)


@contextlib.asynccontextmanager
async def handoff_connection(server: ServerAddress, query: Query) -> AsyncIterator[HandoffFloor]:
    """A :class:`HandoffFloor`; it hands over messages as the session does (``send_nowait``,
    then a waiting send when the channel is full)."""
    async with websocket_connection(server, query) as floor:
        send, receive = trio.open_memory_channel[str](64)

        async def read() -> None:
            with contextlib.suppress(WebSocketClosed):
                while True:
                    message = await floor.get_message()
                    try:
                        send.send_nowait(message)
                    except trio.WouldBlock:
                        await send.send(message)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            yield HandoffFloor(floor, receive)
            nursery.cancel_scope.cancel()


_BARE_OPENERS: dict[str, Opener] = {
    FLOOR: floor_connection,
    WEBSOCKET: websocket_connection,
    HANDOFF: handoff_connection,
}


def bare_opener(client: str) -> Opener:
    """The opener of a floor contender (``floor``, ``websocket`` or ``handoff``)."""
    return _BARE_OPENERS[client]


def _use_ssl(server: ServerAddress) -> ssl.SSLContext | bool:
    """trio-websocket's ``use_ssl``: the context that trusts the server's CA, or False."""
    return server.ssl_context() or False


def _resource(query: Query) -> str:
    return "/v1/realtime?" + "&".join(f"{k}={v}" for k, v in _query(query).items())


def floor_event_id(message: str | bytes) -> str | None:
    """The ``event_id`` of a frame, found by string search (the floor does not parse JSON)."""
    text = message if isinstance(message, str) else message.decode()
    start = text.find('"event_id":"')
    if start < 0:
        return None
    start += 12
    return text[start : text.index('"', start)]


async def fetch_stats(server: ServerAddress) -> dict[str, Any]:
    """The server's CPU time and per-run lateness (``bench=stats``)."""
    resource = "/v1/realtime?bench=stats"
    headers = [(b"Authorization", f"Bearer {server.api_key}".encode())]
    async with trio_websocket.open_websocket(
        server.host, server.port, resource, use_ssl=_use_ssl(server), extra_headers=headers
    ) as ws:
        while True:
            message = await ws.get_message()
            if '"bench.stats"' in message:
                data: dict[str, Any] = json.loads(message)
                return data


def server_stats(server: ServerAddress) -> dict[str, Any]:
    """:func:`fetch_stats` from outside Trio."""
    return trio.run(fetch_stats, server)


# -- openai ----------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def openai_connection(server: ServerAddress, query: Query) -> AsyncIterator[Any]:
    """An ``openai`` ``AsyncRealtimeConnection`` (asyncio), ``session.updated`` received."""
    openai_realtime()  # raises ContenderUnavailable with the install hint
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key=server.api_key, websocket_base_url=server.websocket_base_url)
    # The SDK passes these to websockets' connect(): over TLS, trust the server's CA.
    options: dict[str, Any] = {}
    if server.tls:
        options["ssl"] = server.ssl_context()
    try:
        manager = client.realtime.connect(
            model="gpt-realtime",
            extra_query=_query(query),
            websocket_connection_options=cast(Any, options),
        )
        async with manager as connection:
            await connection.session.update(session=cast(Any, fixtures.SESSION_UPDATE))
            async for event in connection:
                if event.type == "session.updated":
                    break
            yield connection
    finally:
        await client.close()


# -- helpers ---------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of sorted values, linearly interpolated."""
    if not sorted_values:
        raise ValueError("no values")
    position = q * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Pin this process to ``cpu`` for the block (no-op if ``None`` or unsupported)."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def split_cpus() -> tuple[int | None, int | None]:
    """``(client cpu, server cpu)``: two different CPUs of those we may use, if there are two."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[-1], cpus[-2]
