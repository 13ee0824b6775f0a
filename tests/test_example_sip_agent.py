"""examples/sip_agent.py end to end: the fake rings it, it accepts, runs a tool, transfers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from examples import sip_agent
from trealtime import open_rest_client
from trealtime.events import ConversationItemCreate, FunctionCallOutputItem, ResponseCreate
from trealtime.testing import FakeRealtimeServer, FakeServerOptions, ToolCall

hypercorn_trio = pytest.importorskip("hypercorn.trio")
from hypercorn.config import Config  # noqa: E402


@pytest.fixture
def realtime_server_options() -> FakeServerOptions:
    return {"strict": True}  # only what the API's contract promises


class Running:
    def __init__(self, server: FakeRealtimeServer, agent: sip_agent.SipAgent, url: str) -> None:
        self.server = server
        self.agent = agent
        self.webhook_url = url


@pytest.fixture
async def running(realtime_server: FakeRealtimeServer) -> AsyncIterator[Running]:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    stop = trio.Event()
    async with (
        open_rest_client(api_key=realtime_server.api_key, url=realtime_server.url) as rest,
        trio.open_nursery() as nursery,
    ):
        agent = sip_agent.SipAgent(
            rest=rest,
            nursery=nursery,
            webhook_secret=realtime_server.calls.webhook_secret,
            api_key=realtime_server.api_key,
            url=realtime_server.url,
        )
        binds = await nursery.start(
            lambda task_status: hypercorn_trio.serve(
                agent, config, shutdown_trigger=stop.wait, task_status=task_status
            )
        )
        yield Running(realtime_server, agent, binds[0] + "/webhooks/openai")
        stop.set()
        nursery.cancel_scope.cancel()


async def test_a_call_is_accepted_answered_with_a_tool_and_transferred_on_zero(
    running: Running,
) -> None:
    server = running.server
    server.transcript = "where is my order A17"
    server.on_user_text("order", call=ToolCall("order_status", {"order_id": "A17"}))
    with trio.fail_after(30):
        call = await server.calls.ring(running.webhook_url)
        assert call.webhook_status == 200
        assert call.status == "accepted"
        assert call.session is not None and call.session["tools"][0]["name"] == "order_status"
        sideband = await call.wait_sideband()
        await sideband.wait_for_client_event(ResponseCreate)  # the greeting
        await call.speak()
        output = await sideband.wait_for_client_event(
            ConversationItemCreate, lambda e: isinstance(e.item, FunctionCallOutputItem)
        )
        await call.press("50")
        await call.wait_status("referred")
        await sideband.wait_closed()
        await running.agent.finished[call.call_id].wait()
    assert isinstance(output.item, FunctionCallOutputItem)
    assert "shipped" in output.item.output
    assert call.referred_to == "tel:+15550100000"
    assert running.agent.transcripts[call.call_id] == ["where is my order A17"]


async def test_a_forged_webhook_is_refused_and_the_call_left_alone(running: Running) -> None:
    server = running.server
    forged = "whsec_" + "Zm9yZ2Vk"  # base64 of "forged"
    with trio.fail_after(30):
        call = await server.calls.ring(running.webhook_url, secret=forged)
    assert call.webhook_status == 400
    assert call.status == "ringing"
    assert not call.connections
    assert not running.agent.transcripts


async def test_the_caller_hanging_up_ends_the_calls_session(running: Running) -> None:
    server = running.server
    with trio.fail_after(30):
        call = await server.calls.ring(running.webhook_url)
        sideband = await call.wait_sideband()
        await sideband.wait_for_client_event(ResponseCreate)
        await call.hang_up()
        await running.agent.finished[call.call_id].wait()
    assert call.status == "ended"
