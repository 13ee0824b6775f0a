"""``python -m trealtime`` as a new user meets it: help texts, the demo's input, replay output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from trealtime.__main__ import main
from trealtime._agent._wav import write_wav
from trealtime.testing import synthesize_speech


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_help_texts_show_no_restructuredtext_markup(capsys: pytest.CaptureFixture[str]) -> None:
    top = _help([], capsys)
    choices = re.search(r"\{([a-z,]+)\}", top)
    assert choices is not None
    commands = choices.group(1).split(",")
    assert {"demo", "replay"} <= set(commands)
    for text in [top, *(_help([command], capsys) for command in commands)]:
        assert "usage:" in text
        assert "`" not in text, text
        assert ":class:" not in text and ":meth:" not in text


# -- the demo's --input ------------------------------------------------------------------------


def test_demo_input_that_ends_in_speech_finishes_the_turn(tmp_path: Path) -> None:
    recording = tmp_path / "my.wav"
    write_wav(recording, synthesize_speech(1200, seed=3))  # no silence after the speech
    reply = tmp_path / "reply.wav"
    status = main(
        ["demo", "--input", str(recording), "--fast", "--output", str(reply), "--timeout", "30"]
    )
    assert status == 0
    assert reply.stat().st_size > 44  # a WAV header and some audio


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "No such file"), (b"not a wav file at all", "is not a 16-bit PCM WAV file")],
)
def test_demo_input_that_is_not_a_wav_gives_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, problem: str
) -> None:
    path = tmp_path / "my.wav"
    if content is not None:
        path.write_bytes(content)
    assert main(["demo", "--input", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert problem in err and str(path) in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


# -- replay -----------------------------------------------------------------------------------


def _write_recording(path: Path, frames: int) -> None:
    lines = [{"kind": "start", "version": 1, "url": "ws://127.0.0.1/x", "wall_time": 0.0}]
    lines.append({"kind": "connect", "t": 0.0})
    for n in range(frames):
        text = orjson.dumps({"type": "session.updated", "event_id": f"event_{n}"}).decode()
        lines.append({"kind": "frame", "t": n / 1000, "dir": "in", "text": text})
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")


def test_replay_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    _write_recording(path, 20_000)  # far more than a pipe buffers
    process = subprocess.Popen(
        [sys.executable, "-m", "trealtime", "replay", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()  # what `| head -1` reads, then it goes away
    process.stdout.close()
    err = process.stderr.read().decode()
    status = process.wait(timeout=60)
    process.stderr.close()
    assert b"connected" in first
    assert err == ""
    assert status == 0


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"kind":"garbage"}', "unknown kind 'garbage'"),
        ("[1, 2]", "a JSON object was expected"),
        ('{"kind":"frame","t":1}', "frame with direction None"),
        ('{"kind":"frame","t":1,"dir":"in"}', "frame with neither 'text' nor 'binary'"),
        ('{"kind":"close"}', "close without a time 't'"),
    ],
)
def test_replay_of_a_bad_recording_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, problem: str
) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_text('{"kind":"connect","t":0}\n' + line + "\n")
    assert main(["replay", str(path)]) == 1
    captured = capsys.readouterr()
    assert f"{path}:2: not a recording line: {problem}" in captured.err
    assert "?" not in captured.out
