"""The session against the fake server over real loopback sockets (real time, bounded)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import attrs
import pytest
import trio
from agent_helpers import fake_server

import trealtime
from trealtime import events
from trealtime.testing import FakeRealtimeServer, silence, synthesize_speech

MANUAL = events.SessionProperties(
    instructions="Be brief.",
    output_modalities=["audio"],
    audio=events.AudioConfig(
        input=events.AudioInput(turn_detection=None), output=events.AudioOutput(voice="marin")
    ),
)


@pytest.fixture
async def server() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer.serve() as server:
        yield server


@pytest.fixture
async def either_server(server_mode: bool) -> AsyncIterator[FakeRealtimeServer]:
    """The fake server over TCP, in each mode (``server.strict``: only what the API promises)."""
    async with fake_server(tcp=True) as server:
        yield server


def open_against(
    server: FakeRealtimeServer,
    properties: events.SessionProperties = MANUAL,
    *,
    inbound_buffer: int = 256,
) -> AbstractAsyncContextManager[trealtime.Session]:
    return trealtime.open_session(
        url=server.url,
        api_key=server.api_key,
        settings=trealtime.RealtimeSettings(model="gpt-realtime", session_properties=properties),
        inbound_buffer=inbound_buffer,
    )


async def test_handshake_sends_settings_and_waits_for_confirmation(
    server: FakeRealtimeServer,
) -> None:
    with trio.fail_after(5):
        async with open_against(server) as session:
            first = await session.__anext__()
            second = await session.__anext__()
            assert isinstance(first, events.SessionCreated)
            assert isinstance(second, events.SessionUpdated)
            confirmed = session.properties
            assert isinstance(confirmed, events.SessionProperties)
            assert confirmed.instructions == "Be brief."
            assert isinstance(confirmed.audio, events.AudioConfig)
            assert isinstance(confirmed.audio.input, events.AudioInput)
            assert confirmed.audio.input.turn_detection is None
    connection = server.connections[0]
    assert "model=gpt-realtime" in connection.path
    assert connection.headers["authorization"] == f"Bearer {server.api_key}"
    update = server.received[0]
    assert isinstance(update, events.SessionUpdate)
    assert isinstance(update.session, events.SessionProperties)
    assert update.session.model is trealtime.NOT_GIVEN  # the model is in the URL, never updated
    assert events.to_dict(update.session)["audio"]["input"] == {"turn_detection": None}


async def test_wrong_key_is_a_rejected_handshake_without_the_key_in_sight(
    server: FakeRealtimeServer,
) -> None:
    secret = "sk-this-is-not-the-key-42"
    with trio.fail_after(5), pytest.raises(trealtime.ConnectionRejected) as caught:
        async with trealtime.open_session(url=server.url, api_key=secret):
            pass  # pragma: no cover
    assert caught.value.status_code == 401
    assert secret not in str(caught.value) and secret not in repr(caught.value)


async def test_audio_helpers_commit_clear_and_the_100ms_guard(server: FakeRealtimeServer) -> None:
    with trio.fail_after(5):
        async with open_against(server) as session:
            await session.append_audio(synthesize_speech(40))
            with pytest.raises(trealtime.LocalProtocolError, match="only 40 ms"):
                await session.commit_audio()  # refused here: nothing goes to the server
            assert not any(isinstance(e, events.InputAudioBufferCommit) for e in server.received)
            await session.send(events.InputAudioBufferCommit(event_id="raw_commit"))
            error = await session.wait_for(events.Error)  # the server's own guard agrees
            assert error.error.code == "input_audio_buffer_commit_empty"
            assert error.error.event_id == "raw_commit"
            await session.clear_audio()
            speech = synthesize_speech(600)
            await session.append_audio(speech)
            item_id = await session.commit_audio()  # answered by committed, before item.added
            added = await session.wait_for(events.ConversationItemAdded)
            assert added.item.id == item_id == session.conversation[-1].id
            retrieved = await session.retrieve_item(item_id)
            assert isinstance(retrieved, events.MessageItem)
            part = retrieved.content[0]
            assert isinstance(part, events.InputAudio)
            assert part.audio_bytes() == speech


async def test_item_helpers_keep_the_mirror_in_order(either_server: FakeRealtimeServer) -> None:
    """Strict mode leaves ``previous_item_id`` out of the confirmations (the schema allows it):
    the mirror places the client's own items where their ``conversation.item.create`` asked."""
    server = either_server
    with trio.fail_after(5):
        async with open_against(server) as session:
            second = await session.send_text("second", respond=False)
            first = await session.create_item(
                events.MessageItem.user_text("first"), previous_item_id="root"
            )
            last = await session.create_item(events.MessageItem.system_text("note"))
            assert [item.id for item in session.conversation] == [first.id, second.id, last.id]
            assert isinstance(second.id, str)
            await session.delete_item(second.id)
            assert [item.id for item in session.conversation] == [first.id, last.id]
            assert [type(e).__name__ for e in server.received[1:]] == [
                "ConversationItemCreate",
                "ConversationItemCreate",
                "ConversationItemCreate",
                "ConversationItemDelete",
            ]


async def test_response_truncate_and_update_settings(server: FakeRealtimeServer) -> None:
    with trio.fail_after(10):
        async with open_against(server) as session:
            await session.send_text("hello", respond=True)
            done = await session.wait_for(events.ResponseDone)
            assert done.response.status == "completed"
            assistant = session.conversation[-1]
            assert isinstance(assistant, events.MessageItem) and assistant.role == "assistant"
            assert isinstance(assistant.id, str)
            await session.truncate_item(assistant.id, 0, 100)
            assert session.state.conversation.truncated_at_ms == {assistant.id: 100}
            with pytest.raises(trealtime.ServerError, match="already shorter"):
                await session.truncate_item(assistant.id, 0, 60_000)

            changed = await session.update_settings(
                trealtime.RealtimeSettings(system_instruction="Be verbose.")
            )
            synced = attrs.evolve(MANUAL, model="gpt-realtime")
            assert changed == {"system_instruction": "Be brief.", "session_properties": synced}
            update = server.received[-1]
            assert isinstance(update, events.SessionUpdate)
            assert events.to_dict(update.session) == {
                "type": "realtime",
                "instructions": "Be verbose.",
            }
            confirmed = session.properties
            assert isinstance(confirmed, events.SessionProperties)
            assert confirmed.instructions == "Be verbose."
            assert session.settings.system_instruction == "Be verbose."


async def test_rejected_update_raises_and_leaves_settings_alone(
    server: FakeRealtimeServer,
) -> None:
    with trio.fail_after(5):
        async with open_against(server) as session:
            before = session.settings
            bad = trealtime.RealtimeSettings(
                session_properties=events.SessionProperties(
                    instructions="Be brief.", output_modalities=["video"]
                )
            )
            with pytest.raises(trealtime.ServerError) as caught:
                await session.update_settings(bad)
            assert caught.value.code == "invalid_value"
            assert session.settings == before
            # One error never ends the session.
            assert isinstance(
                await session.send_text("still here", respond=False), events.MessageItem
            )


async def test_errors_for_unknown_items_are_correlated(server: FakeRealtimeServer) -> None:
    with trio.fail_after(5):
        async with open_against(server) as session:
            for call in (
                session.retrieve_item("item_nope"),
                session.delete_item("item_nope"),
                session.truncate_item("item_nope", 0, 10),
            ):
                with pytest.raises(trealtime.ServerError) as caught:
                    await call
                assert caught.value.event_id is not None
                assert caught.value.event_id.startswith("trt_")
            errors = [e for e in server.connections[0].sent if '"type":"error"' in str(e)]
            assert len(errors) == 3


async def test_concurrent_retrievals_share_one_request(server: FakeRealtimeServer) -> None:
    results: list[events.Item] = []
    with trio.fail_after(5):
        async with open_against(server) as session:
            item = await session.send_text("share me", respond=False)
            assert isinstance(item.id, str)
            item_id = item.id

            async def retrieve() -> None:
                results.append(await session.retrieve_item(item_id))

            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(retrieve)
    assert len(results) == 3 and all(r.id == item_id for r in results)
    retrieves = [e for e in server.received if isinstance(e, events.ConversationItemRetrieve)]
    assert len(retrieves) == 1


async def test_cancel_response_and_out_of_band_response(either_server: FakeRealtimeServer) -> None:
    server = either_server
    server.realtime = True  # paced audio, so that the cancel lands mid-response
    with trio.fail_after(10):
        async with open_against(server) as session:
            await session.send_text("talk for a while", respond=True)
            await session.wait_for(events.ResponseOutputAudioDelta)
            assert await session.cancel_response()
            done = await session.wait_for(events.ResponseDone)
            assert done.response.final_status == "cancelled"
            assert isinstance(done.response.status_details, events.StatusDetails)
            assert done.response.status_details.reason == "client_cancelled"
            cancels = [e for e in server.received if isinstance(e, events.ResponseCancel)]
            assert [c.response_id for c in cancels] == [done.response.id]

            server.realtime = False
            handle = await session.create_response(
                conversation="none",
                output_modalities=["text"],
                metadata={"purpose": "classify"},
                input=[events.ItemReference(id=str(session.conversation[0].id))],
            )
            oob = await handle.done()
            assert oob.conversation_id is None and oob.final_status == "completed"
            create = server.received[-1]
            assert isinstance(create, events.ResponseCreate)
            assert isinstance(create.response, events.ResponseParams)
            assert create.response.metadata == {"purpose": "classify"}  # exactly as given
            if not server.strict:  # echoing it back is a habit; the schema makes it optional
                assert oob.metadata == {"purpose": "classify"}
            await session.clear_output_audio()
            clear = await server.wait_for_client_event(events.OutputAudioBufferClear)
            assert clear.event_id is not trealtime.NOT_GIVEN


async def test_server_vad_turn_with_speech(server: FakeRealtimeServer) -> None:
    vad = events.SessionProperties(
        audio=events.AudioConfig(
            input=events.AudioInput(turn_detection=events.ServerVad(silence_duration_ms=300))
        )
    )
    with trio.fail_after(10):
        async with open_against(server, vad) as session:
            await session.append_audio(silence(500) + synthesize_speech(800) + silence(600))
            started = await session.wait_for(events.InputAudioBufferSpeechStarted)
            stopped = await session.wait_for(events.InputAudioBufferSpeechStopped)
            assert 100 <= started.audio_start_ms <= 300  # onset 500 ms minus 300 ms padding
            assert 1550 <= stopped.audio_end_ms <= 1650  # offset 1300 ms plus the silence window
            done = await session.wait_for(events.ResponseDone)
            assert done.response.status == "completed"
            roles = [getattr(item, "role", None) for item in session.conversation]
            assert roles == ["user", "assistant"]


async def test_malformed_and_unknown_frames_never_end_the_session(
    server: FakeRealtimeServer,
) -> None:
    with trio.fail_after(5):
        async with open_against(server) as session:
            await session.wait_for(events.SessionUpdated)
            await server.send_raw("{not json")
            await server.send_raw(b"\x00binary")
            await server.send_event({"type": "brand.new.event", "x": 1})
            await server.send_event({"type": "response.output_audio.delta"})
            await server.send_event(
                {"type": "error", "error": {"type": "server_error", "message": "boom"}}
            )
            seen = [await session.__anext__() for _ in range(5)]
            assert [type(e).__name__ for e in seen] == [
                "InvalidServerEvent",
                "InvalidServerEvent",
                "UnknownServerEvent",
                "InvalidServerEvent",
                "Error",
            ]
            assert isinstance(seen[3], events.InvalidServerEvent) and "response_id" in seen[3].error
            stats = session.statistics()
            assert (stats.invalid_events, stats.unknown_events) == (3, 1)
            await session.send_text("still fine", respond=True)
            done = await session.wait_for(events.ResponseDone)
            assert done.response.status == "completed"


async def test_server_close_ends_iteration_and_later_sends_raise(
    server: FakeRealtimeServer,
) -> None:
    with trio.fail_after(5):
        async with open_against(server) as session:
            connection = await server.wait_for_connection()
            await connection.close(4000, "bye")
            remaining = [event async for event in session]
            assert [type(e).__name__ for e in remaining] == ["SessionCreated", "SessionUpdated"]
            assert session.close_reason == trealtime.CloseReason(4000, "bye")
            with pytest.raises(trealtime.SessionClosed) as caught:
                await session.append_audio(b"\x00\x00")
            assert caught.value.code == 4000
            with pytest.raises(trealtime.SessionClosed):
                await session.send_text("anyone?", respond=False)


async def test_dropped_transport_fails_waiters_with_session_closed(
    server: FakeRealtimeServer,
) -> None:
    with trio.fail_after(5):
        async with open_against(server) as session:
            connection = await server.wait_for_connection()
            await connection.abort(reset=True)

            async def keep_talking() -> None:
                for _ in range(100):
                    await session.send_text("hello?", respond=False)
                    await trio.sleep(0.01)

            with pytest.raises(trealtime.SessionClosed) as caught:
                await keep_talking()
            assert caught.value.code == 1006
            assert session.close_reason is not None and session.close_reason.code == 1006


async def test_a_caller_that_stops_reading_gets_backpressure_not_loss(
    server: FakeRealtimeServer,
) -> None:
    with trio.fail_after(10):
        async with open_against(server, inbound_buffer=4) as session:
            await session.send_text("tell me something long", respond=True)
            await trio.sleep(0.3)  # the server sends everything; we read nothing
            stats = session.statistics()
            assert stats.inbound_queued == 4
            assert not session.closed
            deltas = 0
            async for event in session:
                if isinstance(event, events.ResponseOutputAudioDelta):
                    deltas += 1
                if isinstance(event, events.ResponseDone):
                    break
    sent = [f for f in server.connections[0].sent if '"response.output_audio.delta"' in str(f)]
    assert deltas == len(sent) > 4


async def test_an_exception_in_the_block_escapes_bare_and_the_socket_is_closed(
    server: FakeRealtimeServer,
) -> None:
    with trio.fail_after(5), pytest.raises(KeyError, match="mine"):
        async with open_against(server):
            raise KeyError("mine")
    connection = server.connections[0]
    with trio.fail_after(5):
        await connection.wait_closed()


async def test_using_a_session_after_the_block_is_the_callers_fault(
    server: FakeRealtimeServer,
) -> None:
    with trio.fail_after(5):
        async with open_against(server) as session:
            pass
        assert session.closed
        with pytest.raises(trio.ClosedResourceError):
            await session.append_audio(b"\x00\x00")
