"""The README's testing examples, run as written (through the installed pytest plugin)."""

from __future__ import annotations

import pytest
import trio

import trealtime
from trealtime import events
from trealtime.testing import FakeRealtimeServer, RejectHandshake, Reset, SessionExpired, ToolCall


async def test_my_agent_books_the_flight(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.on_user_text("book", call=ToolCall("book_flight", {"flight": "TP 123"}))
    booked: list[str] = []

    async def book_flight(flight: str) -> str:
        """Book a flight."""
        booked.append(flight)
        return "booked"

    with trio.fail_after(10):
        async with trealtime.open_session(
            url=realtime_server.url, api_key=realtime_server.api_key, tools=[book_flight]
        ) as session:
            await session.send_text("book the 9am to Lisbon")
            await session.wait_for(events.ResponseDone)  # the function call
            answer = await session.wait_for(events.ResponseDone)  # the answer using its result
    assert booked == ["TP 123"]
    assert answer.response.status == "completed"


async def test_time_and_timeouts(
    realtime_server_in_memory: FakeRealtimeServer, autojump_clock: object
) -> None:
    server = realtime_server_in_memory
    server.realtime = True  # audio paced at real time: virtual here
    async with trealtime.open_session(
        url=server.url, api_key=server.api_key, connect_stream=server.connect_stream
    ) as session:
        handle = await session.create_response()
        assert (await handle.done()).status == "completed"
    assert trio.current_time() > 1.0  # the paced audio took virtual seconds


async def test_the_fault_snippets(
    realtime_server_in_memory: FakeRealtimeServer, autojump_clock: object
) -> None:
    server = realtime_server_in_memory
    server.after_server_event("response.output_audio.delta", Reset(), count=3)
    async with trealtime.open_session(
        url=server.url,
        api_key=server.api_key,
        connect_stream=server.connect_stream,
        reconnect=trealtime.ReconnectPolicy(),
    ) as session:
        await session.create_response()
        await session.wait_for(events.Reconnected)  # the reset mid-answer was survived
        connection = server.connections[-1]
        await connection.inject(SessionExpired())
        expired = await session.wait_for(events.Error)
        assert expired.error.code == "session_expired"
        renewed = await session.wait_for(events.Reconnected)  # 1001 is worth a retry
        # Nothing healthy came between the two losses (only the error), so the attempt
        # budget was not reset: this is the second attempt.
        assert renewed.attempt == 2
    server.faults_for_next_connection([RejectHandshake(429)])
    with pytest.raises(trealtime.ConnectionRejected) as rejected:
        async with trealtime.open_session(
            url=server.url, api_key=server.api_key, connect_stream=server.connect_stream
        ):
            pass  # pragma: no cover
    assert rejected.value.status_code == 429


async def test_the_calls_snippets(
    realtime_server: FakeRealtimeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README "Calls": key minting, then the webhook and sideband sketch (the fake's URL added)."""
    from trealtime import SessionProperties
    from trealtime.webhooks import RealtimeCallIncoming

    monkeypatch.setenv("OPENAI_API_KEY", realtime_server.api_key)
    url = realtime_server.url

    async def mint_browser_key() -> dict[str, object]:
        async with trealtime.open_rest_client(url=url) as rest:
            secret = await rest.create_client_secret(
                session=SessionProperties(model="gpt-realtime", instructions="Be brief."),
                expires_after=600,  # seconds in which it can open sessions
            )
        return {"value": secret.value, "expires_at": secret.expires_at}

    minted = await mint_browser_key()
    assert str(minted["value"]).startswith("ek_")

    webhook_secret = realtime_server.calls.webhook_secret
    call_session = trealtime.SessionProperties(model="gpt-realtime", instructions="Be brief.")

    def order_status(order_id: str) -> str:
        """Where an order is."""
        return "shipped"

    async def on_webhook(body: bytes, headers: dict[str, str], rest: trealtime.RestClient) -> int:
        try:
            event = trealtime.unwrap_webhook(body, headers, secret=webhook_secret)
        except trealtime.WebhookVerificationError:
            return 400  # a bad signature, a stale timestamp, missing headers
        if isinstance(event, RealtimeCallIncoming):
            await rest.accept_call(event.data.call_id, session=call_session)
            nursery.start_soon(run_call, event.data.call_id, rest)
        return 200

    async def run_call(call_id: str, rest: trealtime.RestClient) -> None:
        async with trealtime.open_session(
            call_id=call_id, tools=[order_status], url=url
        ) as session:
            await session.create_response(instructions="Greet the caller.")
            with session.dtmf() as keys:
                async for press in keys:  # ends when the call does
                    if press.event == "0":
                        await rest.refer_call(call_id, "tel:+15550100000")

    from trealtime.webhooks import sign_webhook

    call = realtime_server.calls.add(kind="sip")
    body = (
        b'{"id":"evt_1","type":"realtime.call.incoming","created_at":1,'
        b'"data":{"call_id":"' + call.call_id.encode() + b'","sip_headers":[]}}'
    )
    headers = sign_webhook(body, webhook_secret, webhook_id="evt_1")
    with trio.fail_after(20):
        async with trealtime.open_rest_client(url=url) as rest, trio.open_nursery() as nursery:
            assert await on_webhook(body, {**headers, "webhook-id": "evt_2"}, rest) == 400
            assert await on_webhook(body, headers, rest) == 200
            await (await call.wait_sideband()).wait_for_client_event(events.ResponseCreate)
            await call.press("0")
            await call.wait_status("referred")
    assert call.referred_to == "tel:+15550100000"
