"""Voice-agent scenarios: images and video frames.

Issue §5 (media): ``send_image``, ``send_video_frame``, pausing, the detail level and the frame
rate limit (default one per second, as pipecat). Virtual time (``autojump_clock``) makes the
rate limit exact.
"""

from __future__ import annotations

import base64

import pytest
import trio
import trio.testing
from agent_helpers import MANUAL, agent, fake_server, sent, server_errors, settle

import trealtime
from trealtime import events
from trealtime._agent._images import encode_raw_frame
from trealtime.testing import FakeRealtimeServer

pytestmark = pytest.mark.usefixtures("server_mode")


SIZE = (16, 8)
PIXELS = bytes(i % 256 for i in range(SIZE[0] * SIZE[1] * 3))
JPEG = encode_raw_frame(PIXELS, SIZE)


def image_parts(server: FakeRealtimeServer) -> list[events.InputImage]:
    parts: list[events.InputImage] = []
    for event in sent(server, events.ConversationItemCreate):
        item = event.item
        if isinstance(item, events.MessageItem):
            parts += [p for p in item.content if isinstance(p, events.InputImage)]
    return parts


async def test_send_image_adds_a_user_image_item(autojump_clock: trio.testing.MockClock) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(32)
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, log),
    ):
        with trio.fail_after(60):
            item = await session.send_image(JPEG, detail="high")
            await trio.sleep(1)
            other = await session.send_image(png)
            await trio.sleep(1)
            with pytest.raises(trealtime.ConfigurationError):
                await session.send_image(b"GIF89a....")
            await settle()
    assert item is not None and other is not None
    assert [i.id for i in session.conversation] == [item.id, other.id]
    first, second = image_parts(server)
    assert first.image_url == "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    assert first.detail == "high"
    assert str(second.image_url).startswith("data:image/png;base64,")
    assert second.detail == "auto"
    (create,) = sent(server, events.ConversationItemCreate)[:1]
    assert isinstance(create.item, events.MessageItem) and create.item.role == "user"
    assert server_errors(log) == []


async def test_video_frames_are_rate_limited_to_one_per_second_by_default(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL) as (session, _),
    ):
        with trio.fail_after(60):
            results = []
            for _ in range(9):  # a 4 fps camera for 2 s
                results.append(await session.send_video_frame(PIXELS, SIZE))
                await trio.sleep(0.25)
            await settle()
    assert [r is not None for r in results] == [True, False, False, False] * 2 + [True]
    parts = image_parts(server)
    assert len(parts) == 3
    assert all(str(p.image_url).startswith("data:image/jpeg;base64,") for p in parts)


async def test_video_frame_interval_is_configurable(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL, video_frame_interval=0.5) as (session, _),
    ):
        with trio.fail_after(60):
            results = []
            for _ in range(4):
                results.append(await session.send_video_frame(PIXELS, SIZE))
                await trio.sleep(0.25)
    assert [r is not None for r in results] == [True, False, True, False]


async def test_paused_video_input_sends_no_frames(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL, start_video_paused=True) as (session, _),
    ):
        with trio.fail_after(60):
            assert await session.send_video_frame(PIXELS, SIZE) is None
            assert await session.send_image(JPEG) is None
            session.set_video_input_paused(False)
            assert await session.send_video_frame(PIXELS, SIZE) is not None
            await trio.sleep(2)
            session.set_video_input_paused(True)
            assert await session.send_video_frame(PIXELS, SIZE) is None
            await settle()
    assert len(image_parts(server)) == 1


async def test_video_frame_detail_applies_to_later_frames(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        fake_server() as server,
        agent(server, MANUAL, video_frame_detail="low") as (session, log),
    ):
        with trio.fail_after(60):
            await session.send_video_frame(PIXELS, SIZE)
            await trio.sleep(1)
            session.set_video_frame_detail("high")
            await session.send_video_frame(PIXELS, SIZE)
            await trio.sleep(1)
            await session.send_image(JPEG)  # images without a detail follow it too
            with pytest.raises(trealtime.ConfigurationError):
                session.set_video_frame_detail("ultra")
            await settle()
    assert [p.detail for p in image_parts(server)] == ["low", "high", "high"]
    assert server_errors(log) == []
