"""Record a session against the fake server, then replay the server's side to a live client."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import attrs
import orjson
import pytest
import trio

import trealtime
from trealtime import events
from trealtime._session._recording import ELIDED_KEY, RecordedFrame, read_recording
from trealtime.testing import Close, Divergence, FakeRealtimeServer, synthesize_speech

LIMIT = 60.0
MANUAL = trealtime.RealtimeSettings(
    session_properties=events.SessionProperties(
        audio=events.AudioConfig(input=events.AudioInput(turn_detection=None))
    )
)
POLICY = trealtime.ReconnectPolicy(initial_delay=0.5, jitter=0.0, renew_before_expiry=None)


def client(
    server: FakeRealtimeServer, **options: object
) -> AbstractAsyncContextManager[trealtime.Session]:
    return trealtime.open_session(
        url=server.url,
        api_key=server.api_key,
        connect_stream=server.connect_stream,
        settings=MANUAL,
        **options,  # type: ignore[arg-type]
    )


async def until_done(session: trealtime.Session) -> list[str]:
    """The types of the events read up to the next ``response.done``."""
    types = []
    async for event in session:
        types.append(event.type)
        if isinstance(event, events.ResponseDone):
            break
    return types


async def converse(session: trealtime.Session, text: str = "hello there") -> list[str]:
    """One turn: speech and text in, a response out, then item requests. The types read."""
    await session.append_audio(synthesize_speech(300))
    spoken = await session.commit_audio()
    typed = await session.send_text(text, respond=False)
    assert isinstance(typed.id, str)
    handle = await session.create_response()
    types = await until_done(session)
    assert (await handle.done()).status == "completed"
    assert (await session.retrieve_item(spoken)).id == spoken
    await session.delete_item(typed.id)
    return types


async def record(path: Path, **server_options: object) -> list[str]:
    """Record ``converse`` against the simulating fake server; the event types it read."""
    async with (
        FakeRealtimeServer.serve_in_memory(**server_options) as server,  # type: ignore[arg-type]
        client(server, record=path) as session,
    ):
        return await converse(session)


def client_frames(path: Path) -> list[tuple[int, RecordedFrame]]:
    return [(i, f) for i, f in enumerate(read_recording(path)) if f.direction == "out"]


@pytest.fixture
async def recording(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> Path:
    path = tmp_path / "call.jsonl"
    await record(path)
    return path


async def test_the_same_client_replays_without_divergence(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "call.jsonl"
    recorded = await record(path)
    with trio.fail_after(LIMIT):
        async with FakeRealtimeServer.serve_replay(path, in_memory=True, timed=False) as server:
            async with client(server) as session:
                replayed = await converse(session)
            await server.connections[0].wait_closed()
    report = server.replay_report
    assert report.divergences == []
    assert report.ok and (report.missing, report.unexpected) == (0, 0)
    assert report.matched == len(client_frames(path))
    assert replayed == recorded
    assert len(server.connections) == 1


async def test_a_different_client_is_reported_precisely(
    recording: Path, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(LIMIT):
        async with (
            FakeRealtimeServer.serve_replay(recording, in_memory=True, timed=False) as server,
            client(server) as session,
        ):
            await converse(session, text="goodbye")
    [index] = [i for i, f in client_frames(recording) if f.type == "conversation.item.create"]
    create = "conversation.item.create"
    assert server.replay_report.divergences == [
        Divergence(
            index, create, create, "item.content[0].text: 'goodbye' (recorded 'hello there')"
        )
    ]
    assert server.replay_report.matched == len(client_frames(recording)) - 1


async def test_missing_and_unexpected_frames_are_reported(
    recording: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A client that stops before the recorded ``conversation.item.delete``, and one that
    sends a frame too many."""
    (retrieve_index, retrieve), (delete_index, delete) = client_frames(recording)[-2:]
    assert (retrieve.type, delete.type) == (
        "conversation.item.retrieve",
        "conversation.item.delete",
    )
    with trio.fail_after(LIMIT):
        async with (
            FakeRealtimeServer.serve_replay(
                recording, in_memory=True, timed=False, reply_timeout=1.0
            ) as server,
            client(server) as session,
        ):
            await session.append_audio(synthesize_speech(300))
            await session.commit_audio()
            typed = await session.send_text("hello there", respond=False)
            await session.create_response()
            await until_done(session)
            await session.send(events.InputAudioBufferClear())  # not the retrieve recorded
    assert server.replay_report.divergences[-2:] == [
        Divergence(
            retrieve_index,
            "conversation.item.retrieve",
            "input_audio_buffer.clear",
            "sent input_audio_buffer.clear (recorded conversation.item.retrieve)",
        ),
        Divergence(delete_index, "conversation.item.delete", None, "the client left first"),
    ]
    assert server.replay_report.missing == 1
    assert typed.id is not None

    with trio.fail_after(LIMIT):
        async with (
            FakeRealtimeServer.serve_replay(
                recording, in_memory=True, timed=False, reply_timeout=1.0
            ) as server,
            client(server) as session,
        ):
            await converse(session)
            await session.send(events.InputAudioBufferClear())
    [extra] = server.replay_report.divergences
    assert (extra.expected_type, extra.got_type) == (None, "input_audio_buffer.clear")
    assert server.replay_report.unexpected == 1


async def test_timed_replay_takes_the_recorded_time(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "call.jsonl"
    await record(path, realtime=True)  # the response's audio is paced in real time
    frames = list(read_recording(path))
    done = next(f for f in frames if f.type == "response.done")
    assert done.t > 1.0
    for timed, expected in ((True, done.t), (False, 0.0)):
        with trio.fail_after(LIMIT):
            async with (
                FakeRealtimeServer.serve_replay(path, in_memory=True, timed=timed) as server,
                client(server) as session,
            ):
                start = trio.current_time()
                await converse(session)
                took = trio.current_time() - start
        assert took == pytest.approx(expected, abs=0.01)
        assert server.replay_report.ok


async def test_elided_audio_comes_back_as_silence_of_the_same_length(
    recording: Path, autojump_clock: trio.testing.MockClock
) -> None:
    recorded = [
        orjson.loads(f.text or "")[ELIDED_KEY]
        for f in read_recording(recording)
        if f.type == "response.output_audio.delta"
    ]
    assert recorded and all(n > 0 for n in recorded)
    with trio.fail_after(LIMIT):
        async with (
            FakeRealtimeServer.serve_replay(recording, in_memory=True, timed=False) as server,
            client(server) as session,
        ):
            await session.append_audio(synthesize_speech(300))
            await session.commit_audio()
            await session.send_text("hello there", respond=False)
            await session.create_response()
            deltas = []
            async for event in session:
                if isinstance(event, events.ResponseOutputAudioDelta):
                    deltas.append(base64.b64decode(event.delta))
                if isinstance(event, events.ResponseDone):
                    break
    assert [len(d) for d in deltas] == recorded
    assert all(d == bytes(len(d)) for d in deltas)
    appends = [f for f in read_recording(recording) if f.type == "input_audio_buffer.append"]
    assert appends and all(ELIDED_KEY in (f.text or "") for f in appends)


async def test_a_recorded_reconnect_is_replayed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Two recorded connections: the first ends with the server's 1011, the client
    reconnects and replays the conversation; the live client's new ids are followed."""
    path = tmp_path / "call.jsonl"

    async def run(server: FakeRealtimeServer, *, lose: bool) -> list[str]:
        async with client(server, record=path if lose else None, reconnect=POLICY) as session:
            item = await session.send_text("remember me", respond=False)
            if lose:
                await server.connections[0].inject(Close(1011, "internal error"))
            await session.wait_for(events.Reconnected)
            await session.create_response()
            types = await until_done(session)
            assert isinstance(item.id, str)
            assert (await session.retrieve_item(item.id)).id == item.id
            return types

    with trio.fail_after(LIMIT):
        async with FakeRealtimeServer.serve_in_memory() as server:
            recorded = await run(server, lose=True)
        async with FakeRealtimeServer.serve_replay(path, in_memory=True, timed=False) as server:
            replayed = await run(server, lose=False)
            with pytest.raises(trealtime.ConnectionRejected) as refused:
                async with client(server):
                    pass  # pragma: no cover
    assert refused.value.status_code == 503  # the recording has no third connection
    assert server.replay_report.divergences == []
    assert replayed == recorded
    assert len(server.connections) == 2


async def test_an_answer_recorded_before_its_request_waits_for_it(
    recording: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The client may read an answer before it records having sent the request."""
    frames = list(read_recording(recording))
    swapped = _swap_answers(
        frames,
        {
            "session.update": "session.updated",
            "conversation.item.create": "conversation.item.added",
        },
    )
    assert [f.type for f in swapped] != [f.type for f in frames]
    with trio.fail_after(LIMIT):
        async with (
            FakeRealtimeServer.serve_replay(swapped, in_memory=True, timed=False) as server,
            client(server) as session,
        ):
            await converse(session)
    assert server.replay_report.ok


def _swap_answers(
    frames: Sequence[RecordedFrame], answers: Mapping[str, str]
) -> list[RecordedFrame]:
    """Move the answer to the first request of each type just before the request."""
    swapped = list(frames)
    for request, answer in answers.items():
        at = next(i for i, f in enumerate(swapped) if f.type == request)
        found = next(i for i in range(at + 1, len(swapped)) if swapped[i].type == answer)
        swapped.insert(at, attrs.evolve(swapped.pop(found), t=swapped[at].t))
    return swapped


async def test_the_report_is_only_for_replay_servers() -> None:
    async with FakeRealtimeServer.serve_in_memory() as server:
        with pytest.raises(RuntimeError, match="serve_replay"):
            _ = server.replay_report
