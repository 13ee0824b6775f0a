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
