"""Recording sessions as JSON lines, and the replay timeline."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
import trio

import trealtime
from trealtime import events
from trealtime.__main__ import main
from trealtime._cli._timeline import format_timeline
from trealtime._session._recording import ELIDED_KEY, RecordedFrame, read_recording, restore_audio
from trealtime.testing import FakeRealtimeServer, synthesize_speech

MCP_SECRET = "Bearer mcp-secret-token-123"


async def record_a_turn(path: Path, *, audio: bool) -> FakeRealtimeServer:
    settings = trealtime.RealtimeSettings(
        session_properties=events.SessionProperties(
            tools=[
                events.McpTool(
                    server_label="docs",
                    server_url="https://mcp.example/sse",
                    authorization=MCP_SECRET,
                    headers={"X-Key": "also-secret"},
                )
            ]
        )
    )
    async with (
        FakeRealtimeServer.serve_in_memory() as server,
        trealtime.open_session(
            url=server.url,
            api_key=server.api_key,
            connect_stream=server.connect_stream,
            settings=settings,
            record=path,
            record_audio=audio,
        ) as session,
    ):
        await session.append_audio(synthesize_speech(100))
        await session.send_text("hello there", respond=True)
        await session.wait_for(events.ResponseDone)
    return server


async def test_every_frame_both_ways_with_audio_elided(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "call.jsonl"
    server = await record_a_turn(path, audio=False)
    frames = list(read_recording(path))
    assert frames[0].kind == "connect" and frames[-1].kind == "close"
    sent = [f for f in frames if f.direction == "out"]
    got = [f for f in frames if f.direction == "in"]
    connection = server.connections[0]
    assert len(sent) == len(connection.received)
    assert len(got) == len(connection.sent)
    times = [f.t for f in frames]
    assert times == sorted(times)
    deltas = [f for f in got if f.type == "response.output_audio.delta"]
    appends = [f for f in sent if f.type == "input_audio_buffer.append"]
    assert deltas and appends
    for frame in deltas + appends:
        assert frame.text is not None
        obj = orjson.loads(frame.text)
        assert obj[ELIDED_KEY] > 0 and obj.get("delta", obj.get("audio")) == ""
        restored = orjson.loads(restore_audio(frame.text))
        field = "delta" if "delta" in restored else "audio"
        assert base64.b64decode(restored[field]) == bytes(obj[ELIDED_KEY])


async def test_credentials_are_never_written(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "call.jsonl"
    server = await record_a_turn(path, audio=True)
    text = path.read_text()
    assert server.api_key not in text
    assert MCP_SECRET not in text and "also-secret" not in text
    update = next(f for f in read_recording(path) if f.type == "session.update")
    assert update.text is not None
    tool = orjson.loads(update.text)["session"]["tools"][0]
    assert (tool["authorization"], tool["headers"]) == ("<redacted>", "<redacted>")
    # Positive control: the secrets did go over the wire, so the search could find them.
    wire = server.connections[0].frames[0]
    assert isinstance(wire, str) and MCP_SECRET in wire


async def test_audio_kept_when_asked(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "call.jsonl"
    await record_a_turn(path, audio=True)
    assert ELIDED_KEY not in path.read_text()


async def test_timeline_folds_streams_and_the_cli_prints_it(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "call.jsonl"
    await record_a_turn(path, audio=False)
    lines = list(format_timeline(read_recording(path)))
    assert lines[0].endswith("── connected")
    assert any("→ session.update" in line for line in lines)
    assert any("x response.output_audio.delta" in line and "bytes" in line for line in lines)
    assert any("response.done" in line and "completed" in line for line in lines)
    frames = list(read_recording(path))
    assert len(lines) < len(frames)  # deltas were folded
    assert main(["replay", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == lines


def test_cli_reports_an_unreadable_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert main(["replay", str(bad)]) == 1
    assert "not a recording line" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 1


def test_the_timeline_says_how_a_response_ended_when_the_server_left_out_its_status() -> None:
    """``status`` is optional in the schema: the timeline reads ``status_details`` instead."""
    frames = [
        RecordedFrame(kind="frame", t=0.0, direction="in", text=orjson.dumps(frame).decode())
        for frame in (
            {"type": "response.done", "event_id": "e1", "response": {"id": "resp_1"}},
            {
                "type": "response.done",
                "event_id": "e2",
                "response": {"id": "resp_2", "status_details": {"type": "cancelled"}},
            },
        )
    ]
    lines = list(format_timeline(frames))
    assert "resp_1 completed" in lines[0] and "resp_2 cancelled" in lines[1]
