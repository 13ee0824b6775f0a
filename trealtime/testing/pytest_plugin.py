"""A pytest plugin with fixtures for testing apps built on trealtime against the fake server.

Installed with trealtime (entry point ``pytest11``: ``trealtime``), so the fixtures are there in
every test run; it needs `pytest-trio <https://pytest-trio.readthedocs.io>`_. An ``async def``
test that uses one of these fixtures is marked ``@pytest.mark.trio`` by the plugin, so nothing
else is needed; other async tests need pytest-trio's ``trio_mode = true`` or the marker::

    async def test_my_agent_answers(realtime_server: FakeRealtimeServer) -> None:
        realtime_server.reply = "It is sunny in Paris."
        async with trealtime.open_session(
            url=realtime_server.url,
            api_key=realtime_server.api_key,
            connect_stream=realtime_server.connect_stream,
        ) as session:
            assert await my_agent.ask(session, "Weather?") == "It is sunny in Paris."

    async def test_with_a_session(realtime_session: trealtime.Session) -> None:
        await realtime_session.send_text("hello", respond=True)
        done = await realtime_session.wait_for(events.ResponseDone)

The fixtures (all function-scoped; the async ones need a Trio test):

- ``realtime_server``: a :class:`~trealtime.testing.FakeRealtimeServer` on a loopback port,
  stopped (every connection closed) after the test.
- ``realtime_server_in_memory``: the same over in-memory streams, for Trio's mock clock
  (``autojump_clock``): virtual time, so timeouts and hour-long calls take no real time. Connect
  with ``connect_stream=server.connect_stream``.
- ``realtime_session``: an open :class:`trealtime.Session` connected to ``realtime_server``,
  closed after the test (before the server stops).
- ``realtime_server_options`` and ``realtime_session_options``: the keyword arguments of
  ``FakeRealtimeServer.serve`` and of ``trealtime.open_session`` (both ``{}``). Override them in
  a module or ``conftest.py``, or per test with
  ``@pytest.mark.parametrize("realtime_server_options", [{"reply": "Hi"}])``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest

import trealtime

from ._server._server import FakeRealtimeServer, FakeServerOptions

__all__ = [
    "pytest_collection_modifyitems",
    "realtime_server",
    "realtime_server_in_memory",
    "realtime_server_options",
    "realtime_session",
    "realtime_session_options",
]


_FIXTURES = frozenset(
    {"realtime_server", "realtime_server_in_memory", "realtime_session", "autojump_clock"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the ``async def`` tests that use this plugin's fixtures as Trio tests.

    Without the mark (and outside pytest-trio's trio mode) pytest refuses the async fixtures.
    """
    for item in items:
        if not isinstance(item, pytest.Function) or item.get_closest_marker("trio") is not None:
            continue
        uses_ours = not _FIXTURES.isdisjoint(item.fixturenames)
        if uses_ours and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.trio)


@pytest.fixture
def realtime_server_options() -> FakeServerOptions:
    """Options of the fake server (``reply``, ``transcript``, ``realtime`` …); default ``{}``."""
    return {}


@pytest.fixture
def realtime_session_options() -> dict[str, Any]:
    """Extra keyword arguments of ``open_session`` for ``realtime_session``; default ``{}``.

    ``url``, ``api_key`` and ``connect_stream`` are the server's.
    """
    return {}


@pytest.fixture
async def realtime_server(
    realtime_server_options: FakeServerOptions,
) -> AsyncIterator[FakeRealtimeServer]:
    """A fake Realtime server on ``127.0.0.1`` (an ephemeral port), for the test's duration."""
    async with FakeRealtimeServer.serve(**realtime_server_options) as server:
        yield server


@pytest.fixture
async def realtime_server_in_memory(
    realtime_server_options: FakeServerOptions,
) -> AsyncIterator[FakeRealtimeServer]:
    """A fake Realtime server over in-memory streams (works under ``autojump_clock``)."""
    async with FakeRealtimeServer.serve_in_memory(**realtime_server_options) as server:
        yield server


@pytest.fixture
async def realtime_session(
    realtime_server: FakeRealtimeServer, realtime_session_options: dict[str, Any]
) -> AsyncIterator[trealtime.Session]:
    """A session open on ``realtime_server`` (``session.updated`` received), closed afterwards."""
    async with trealtime.open_session(
        url=realtime_server.url,
        api_key=realtime_server.api_key,
        connect_stream=realtime_server.connect_stream,
        **realtime_session_options,
    ) as session:
        yield session
