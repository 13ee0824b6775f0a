"""A phone agent over SIP: answer each incoming call, run tools on it, transfer on "0".

The API rings the project's webhook with ``realtime.call.incoming`` when someone dials its SIP
number. This Trio web app (an ASGI app served by Hypercorn's Trio worker):

1. verifies the webhook's signature (``trealtime.unwrap_webhook``) and refuses anything else;
2. accepts the call with the agent's session (instructions, tools, transcription);
3. attaches a sideband session to the call (``open_session(call_id=...)``), which runs the
   tools the model calls, logs what the caller says, and transfers the caller to a person
   (``refer_call``) when they press 0.

The caller's audio never passes through here: the API's SIP leg carries it. Run it behind a
public HTTPS URL registered as the project's webhook for ``realtime.call.incoming``::

    pip install trealtime "hypercorn[trio]"
    OPENAI_API_KEY=sk-... OPENAI_WEBHOOK_SECRET=whsec_... python -m examples.sip_agent --port 8000
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio

import trealtime
from trealtime.events import (
    AudioConfig,
    AudioInput,
    ConversationItemInputAudioTranscriptionCompleted,
    InputAudioTranscription,
)
from trealtime.webhooks import RealtimeCallIncoming

logger = logging.getLogger("sip_agent")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ORDERS = {"A17": "shipped on Monday, arriving Thursday", "B42": "being packed"}


def order_status(order_id: str) -> dict[str, str]:
    """Where a customer's order is, by its id (e.g. A17)."""
    return {"order_id": order_id, "status": ORDERS.get(order_id.upper(), "not found")}


TOOLS = trealtime.ToolRegistry([order_status])
CALL_SESSION = trealtime.SessionProperties(
    model="gpt-realtime",
    instructions=(
        "You answer the phone for Acme Deliveries. Be brief and friendly. Look orders up with"
        " order_status. Callers can press 0 to reach a person."
    ),
    tools=list(TOOLS.function_tools()),
    audio=AudioConfig(
        input=AudioInput(transcription=InputAudioTranscription(model="gpt-4o-mini-transcribe"))
    ),
)


class SipAgent:
    """The webhook endpoint (an ASGI app) and the calls it is running.

    ``transcripts`` maps each call id to what its caller said so far; ``finished`` to an
    event set when its session is over.
    """

    def __init__(
        self,
        *,
        rest: trealtime.RestClient,
        nursery: trio.Nursery,
        webhook_secret: str,
        api_key: str | None = None,
        url: str = trealtime.DEFAULT_URL,
        operator: str = "tel:+15550100000",
    ) -> None:
        self.rest = rest
        self.nursery = nursery
        self.webhook_secret = webhook_secret
        self.api_key = api_key
        self.url = url
        self.operator = operator
        self.transcripts: dict[str, list[str]] = {}
        self.finished: dict[str, trio.Event] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            await send_status(send, await self.webhook(scope, receive))

    async def webhook(self, scope: Scope, receive: Receive) -> int:
        """Handle one request to the app; the HTTP status to answer."""
        if (scope["method"], scope["path"]) != ("POST", "/webhooks/openai"):
            return 404
        body = await _read_body(receive)
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        try:
            event = trealtime.unwrap_webhook(body, headers, secret=self.webhook_secret)
        except trealtime.WebhookVerificationError as exc:
            logger.warning("refused a webhook: %s", exc)
            return 400
        if isinstance(event, RealtimeCallIncoming):
            call_id = event.data.call_id
            logger.info("call %s from %s", call_id, event.data.sip_header("From"))
            try:
                await self.rest.accept_call(call_id, session=CALL_SESSION)
            except trealtime.RealtimeError as exc:
                logger.error("could not accept call %s: %s", call_id, exc)
                return 500  # the API delivers the webhook again
            self.finished[call_id] = trio.Event()
            self.nursery.start_soon(self.run_call, call_id)
        return 200

    async def run_call(self, call_id: str) -> None:
        """Control one accepted call until it ends."""
        said = self.transcripts.setdefault(call_id, [])
        try:
            async with (
                trealtime.open_session(
                    call_id=call_id, api_key=self.api_key, url=self.url, tools=TOOLS
                ) as session,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(self.transfer_on_zero, session, call_id)
                await session.create_response(instructions="Greet the caller.")
                async for event in session:
                    if isinstance(event, ConversationItemInputAudioTranscriptionCompleted):
                        logger.info("caller on %s: %s", call_id, event.transcript)
                        said.append(event.transcript)
                nursery.cancel_scope.cancel()  # the call is over
        except trealtime.RealtimeError as exc:
            logger.error("call %s failed: %s", call_id, exc)
        finally:
            self.finished[call_id].set()

    async def transfer_on_zero(self, session: trealtime.Session, call_id: str) -> None:
        """Send the caller to a person when they press 0."""
        with session.dtmf() as keys:
            async for press in keys:
                if press.event == "0":
                    await self.rest.refer_call(call_id, self.operator)
                    return


async def send_status(send: Send, status: int) -> None:
    """Answer an ASGI HTTP request with ``status`` and no body."""
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def main(port: int) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = [f"0.0.0.0:{port}"]
    async with trealtime.open_rest_client() as rest, trio.open_nursery() as nursery:
        agent = SipAgent(
            rest=rest, nursery=nursery, webhook_secret=os.environ["OPENAI_WEBHOOK_SECRET"]
        )
        await serve(agent, config)  # type: ignore[arg-type]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    logging.basicConfig(level=logging.INFO)
    trio.run(main, parser.parse_args().port)
