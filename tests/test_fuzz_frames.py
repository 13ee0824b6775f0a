"""Mutation fuzz: recorded server traffic, mutated, cannot kill a session.

Frames of real traffic (``tests/data/server_events.jsonl``) are mutated (characters flipped,
fields dropped or retyped, nesting deepened, base64 broken, types swapped, text cut) and sent
by the fake server over a real socket, with and without ``record=``. The session must survive
every one: each frame becomes an event (typed, unknown or invalid) and at worst a warning, and
the session is still open and answering afterwards. Seeded, so a failure reproduces.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

import trealtime
from trealtime._session._recording import read_recording
from trealtime.testing import FakeRealtimeServer

FRAMES_PER_RUN = 6000  # 2 x 6,000 frames: about 6 s here, well under 30 s loaded
SEEDS = Path(__file__).parent / "data" / "server_events.jsonl"
TYPES = [orjson.loads(line)["type"] for line in SEEDS.read_text().splitlines() if line.strip()]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _parent(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        obj = obj[step]
    return obj


def flip_characters(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 8)):
        chars[rng.randrange(len(chars))] = chr(rng.choice([rng.randint(32, 126), 0, 0xFFFD]))
    return "".join(chars)


def cut(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text))]


def drop_field(rng: random.Random, obj: Any) -> Any:
    paths = [p for p in _paths(obj) if p and isinstance(_parent(obj, p), dict)]
    if paths:
        path = rng.choice(paths)
        del _parent(obj, path)[path[-1]]
    return obj


ODD_VALUES: list[Any] = [
    None, True, -1, 0, 2**70, 1e308, -0.5, "", "x" * 1000, [], {}, [None], {"type": 1},
    "\u0000", "\ud7ff", [[[]]], {"id": None}, "audio/opus", "item_self",
]  # fmt: skip


def retype_field(rng: random.Random, obj: Any) -> Any:
    paths = [p for p in _paths(obj) if p]
    if paths:
        path = rng.choice(paths)
        _parent(obj, path)[path[-1]] = rng.choice(ODD_VALUES)
    return obj


def deepen(rng: random.Random, text: str) -> str:
    obj = orjson.loads(text)
    key = rng.choice([k for k in obj if k != "type"] or ["extra"])
    depth = rng.choice([10, 100, 300, 1000, 1100])
    inner = orjson.dumps(obj.get(key)).decode()
    nested = "[" * depth + inner + "]" * depth
    if rng.random() < 0.5:
        nested = '{"headers":' + nested + "}"
    obj[key] = "\x00PLACEHOLDER\x00"
    return orjson.dumps(obj).decode().replace('"\\u0000PLACEHOLDER\\u0000"', nested)


def break_base64(rng: random.Random, obj: Any) -> Any:
    for field in ("delta", "audio"):
        if isinstance(obj.get(field), str):
            obj[field] = (
                rng.choice(["@@@", "abc", "====", "A" * 5, "\u00e9t\u00e9", ""]) + obj[field]
            )
    if "delta" not in obj:
        obj["delta"] = "not base64!"
    return obj


def swap_type(rng: random.Random, obj: Any) -> Any:
    obj["type"] = rng.choice(TYPES)
    return obj


def self_reference(rng: random.Random, obj: Any) -> Any:
    item = obj.get("item")
    if isinstance(item, dict) and "id" in item:
        obj["previous_item_id"] = item["id"]
    else:
        obj["previous_item_id"] = rng.choice(ODD_VALUES)
    return obj


TEXT_MUTATIONS: list[Callable[[random.Random, str], str]] = [flip_characters, cut, deepen]
OBJECT_MUTATIONS: list[Callable[[random.Random, Any], Any]] = [
    drop_field, retype_field, break_base64, swap_type, self_reference,
]  # fmt: skip


def mutated_frames(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    seeds = [line for line in SEEDS.read_text().splitlines() if line.strip()]
    frames = []
    for _ in range(count):
        text = rng.choice(seeds)
        for _ in range(rng.randint(1, 3)):
            # A frame nested too deeply to handle as an object keeps its text.
            with contextlib.suppress(
                RecursionError, orjson.JSONEncodeError, orjson.JSONDecodeError
            ):
                if rng.random() < 0.4:
                    text = rng.choice(TEXT_MUTATIONS)(rng, text) or "{}"
                    continue
                obj = orjson.loads(text)
                if isinstance(obj, dict):
                    text = orjson.dumps(rng.choice(OBJECT_MUTATIONS)(rng, obj)).decode()
        frames.append(text)
    return frames


@pytest.mark.parametrize("record", [False, True], ids=["live", "recorded"])
async def test_mutated_real_traffic_never_kills_the_session(
    record: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames = mutated_frames(seed=19 + record, count=FRAMES_PER_RUN)
    path = tmp_path / "fuzz.jsonl"
    options: dict[str, Any] = {"record": path} if record else {}  # audio elided: scrubbed
    with trio.fail_after(120):
        async with (
            FakeRealtimeServer.serve() as server,
            trealtime.open_session(url=server.url, api_key=server.api_key, **options) as session,
        ):
            async with trio.open_nursery() as nursery:

                async def send_all() -> None:
                    for frame in frames:
                        await server.send_raw(frame)
                    await server.send_raw('{"type":"fuzz.over"}')

                nursery.start_soon(send_all)
                seen = 0
                async for event in session:
                    seen += 1
                    repr(event)  # every event can be shown
                    if event.type == "fuzz.over":
                        break
            assert not session.closed, session.close_reason
            assert seen >= FRAMES_PER_RUN  # every frame became an event
            # ...and the session still answers.
            await session.update_settings(trealtime.RealtimeSettings(system_instruction="Hi."))
    assert session.close_reason == trealtime.CloseReason(1000, "closed by the client")
    if record:
        recorded = list(read_recording(path))
        assert sum(f.direction == "in" for f in recorded) >= FRAMES_PER_RUN
        assert server.api_key not in path.read_text()
