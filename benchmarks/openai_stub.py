"""An ``openai`` ``AsyncRealtimeConnection`` whose WebSocket does nothing.

``AsyncRealtimeConnection(connection)`` only stores the socket; ``send`` serialises the event
(``async_maybe_transform`` + ``json.dumps``), goes through the SDK's send queue bookkeeping
(which asks ``anyio`` for the current task, so it must run inside a real event loop), and
finally awaits ``connection.send(data)``.  ``parse_event`` never touches the socket.
"""

from __future__ import annotations

from typing import Any

from benchmarks.contenders import openai_realtime


class StubWebSocket:
    """Stands in for ``websockets.asyncio.client.ClientConnection``."""

    def __init__(self) -> None:
        self.last: str | bytes | None = None
        self.count = 0

    async def send(self, data: str | bytes) -> None:
        # Keep only the latest frame: batches send many thousands of multi-kilobyte frames.
        self.last = data
        self.count += 1

    async def recv(self, decode: bool | None = None) -> bytes:
        raise RuntimeError("the benchmark stub socket never receives")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


def stub_connection(ws: StubWebSocket | None = None) -> tuple[Any, StubWebSocket]:
    """Return ``(AsyncRealtimeConnection, its stub socket)``."""
    ws = ws if ws is not None else StubWebSocket()
    return openai_realtime().AsyncRealtimeConnection(ws), ws
