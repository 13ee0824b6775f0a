"""Simulated SIP and WebRTC calls: ring one (a signed webhook), follow its fate, press keys.

A call rings (:meth:`FakeCalls.ring` POSTs a signed ``realtime.call.incoming`` webhook to the
URL the test gives), is accepted, rejected, referred or hung up through the REST endpoints, and
once accepted takes sideband WebSocket connections (``?call_id=…``) whose session starts from
the accepted configuration. The caller's side is scripted here too: key presses
(:meth:`FakeCall.press`) and hanging up (:meth:`FakeCall.hang_up`).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import trio

from ...webhooks import sign_webhook
from .._protocol._speech import silence, synthesize_speech

if TYPE_CHECKING:
    from ._connection import FakeConnection

__all__ = ["DEFAULT_WEBHOOK_SECRET", "FakeCall", "FakeCalls"]

DEFAULT_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"fake-realtime-webhook-secret").decode()
_CHUNK_MS = 100
_TRAILING_SILENCE_MS = 800
RINGING, ACCEPTED, REJECTED, REFERRED, ENDED = (
    "ringing",
    "accepted",
    "rejected",
    "referred",
    "ended",
)


class FakeCall:
    """One simulated call. ``status``: ``ringing``, ``accepted``, ``rejected``, ``referred``
    or ``ended``; ``session`` the accepted configuration (JSON), ``reject_status`` and
    ``referred_to`` what the back end asked, ``connections`` the sideband connections."""

    def __init__(self, call_id: str, sip_headers: list[dict[str, str]], kind: str) -> None:
        self.call_id = call_id
        self.kind = kind
        self.sip_headers = sip_headers
        self.status = RINGING
        self.session: dict[str, Any] | None = None
        self.reject_status: int | None = None
        self.referred_to: str | None = None
        self.webhook_status: int | None = None
        """The HTTP status the back end answered the incoming-call webhook with."""
        self.connections: list[FakeConnection] = []
        self._lot = trio.lowlevel.ParkingLot()

    def __repr__(self) -> str:
        return f"<FakeCall {self.call_id} {self.status}>"

    def _set(self, status: str) -> None:
        self.status = status
        self._lot.unpark_all()

    async def wait_status(self, *statuses: str) -> str:
        """Wait until the call is in one of ``statuses``; return it."""
        while self.status not in statuses:
            await self._lot.park()
        return self.status

    async def wait_sideband(self) -> FakeConnection:
        """The first sideband connection (waits for it to open)."""
        while not self.connections:
            await self._lot.park()
        return self.connections[0]

    def _attach(self, connection: FakeConnection) -> None:
        self.connections.append(connection)
        self._lot.unpark_all()

    async def press(self, keys: str) -> None:
        """The caller presses ``keys`` (``0-9 * # A-D``): one DTMF event each, to every open
        sideband connection. The event has no ``event_id``, as in the API's schema."""
        for key in keys:
            frame = {
                "type": "input_audio_buffer.dtmf_event_received",
                "event": key,
                "received_at": int(time.time()),
            }
            for connection in self._open_connections():
                await connection.send_raw(orjson.dumps(frame).decode())

    async def speak(self, duration_ms: int = 1200) -> None:
        """The caller speaks for ``duration_ms``, then falls silent (on the SIP leg).

        The audio reaches the session as the API's own media leg would feed it: server VAD
        events, the committed turn, its transcript (the server's ``transcript`` option) if
        transcription is on, and the automatic response, all on the sideband connections.
        """
        audio = synthesize_speech(duration_ms) + silence(_TRAILING_SILENCE_MS)
        step = 2 * 24 * _CHUNK_MS  # PCM16 at 24 kHz
        for start in range(0, len(audio), step):
            chunk = base64.b64encode(audio[start : start + step]).decode()
            frame = orjson.dumps({"type": "input_audio_buffer.append", "audio": chunk}).decode()
            for connection in self._open_connections():
                connection.hear(frame)
            await trio.lowlevel.checkpoint()

    async def hang_up(self) -> None:
        """The caller hangs up: the call ends and its sideband connections close."""
        await self._end()

    async def _end(self) -> None:
        self._set(ENDED)
        for connection in self._open_connections():
            await connection.close(1000, "call ended")

    def _open_connections(self) -> list[FakeConnection]:
        return [c for c in self.connections if not c.closed]


class FakeCalls:
    """Every call the fake server knows, by id."""

    def __init__(self, new_id: Callable[[str], str]) -> None:
        self.webhook_secret = DEFAULT_WEBHOOK_SECRET
        """The secret incoming-call webhooks are signed with (Standard Webhooks, ``whsec_``)."""
        self.calls: dict[str, FakeCall] = {}
        self._new_id = new_id

    def get(self, call_id: str) -> FakeCall | None:
        """The call ``call_id``, if the fake knows it."""
        return self.calls.get(call_id)

    def add(self, *, kind: str, sip_headers: Iterable[Mapping[str, str]] = ()) -> FakeCall:
        """A new call, ringing (``kind``: ``sip`` or ``webrtc``)."""
        call = FakeCall(self._new_id("rtc"), [dict(h) for h in sip_headers], kind)
        self.calls[call.call_id] = call
        return call

    async def ring(
        self,
        webhook_url: str,
        *,
        sip_headers: Iterable[Mapping[str, str]] = (
            {"name": "From", "value": '"Caller" <sip:+15551230000@sip.example.com>'},
            {"name": "To", "value": "<sip:+15559870000@sip.api.openai.com>"},
        ),
        secret: str | None = None,
    ) -> FakeCall:
        """A SIP call comes in: POST the signed ``realtime.call.incoming`` to ``webhook_url``.

        Returns the ringing call once the back end has answered the webhook (its HTTP status
        is in ``webhook_status``); the back end accepts or rejects it through the REST API, in
        the webhook handler or later.
        """
        call = self.add(kind="sip", sip_headers=sip_headers)
        event_id = self._new_id("evt")
        body = orjson.dumps(
            {
                "object": "event",
                "id": event_id,
                "type": "realtime.call.incoming",
                "created_at": int(time.time()),
                "data": {
                    "call_id": call.call_id,
                    "sip_headers": call.sip_headers,
                    "sip_media_security": "srtp",
                },
            }
        )
        headers = sign_webhook(body, secret or self.webhook_secret, webhook_id=event_id)
        headers["content-type"] = "application/json"
        async with httpx.AsyncClient(trust_env=False) as client:
            answer = await client.post(webhook_url, content=body, headers=headers)
        call.webhook_status = answer.status_code
        return call
