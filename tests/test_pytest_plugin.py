"""The pytest plugin: its fixtures used here directly, and by user test files run with pytester.

Two pytester runs load the plugin explicitly (``-p no:trealtime`` first, so that an installed
entry point does not register it twice), in a subprocess: in-process, pytest would warn that it
cannot rewrite the asserts of a module this process has already imported. The others rely on the
``pytest11`` entry point that installing trealtime registers, as a user's project would.
"""

from __future__ import annotations

import importlib.metadata
import textwrap
from typing import Any

import pytest
import trio

import trealtime
import trealtime.testing.pytest_plugin as plugin
from trealtime import events
from trealtime.testing import FakeRealtimeServer, FakeServerOptions

pytest_plugins = ["pytester"]

# The plugin's fixtures, made visible to this module whether or not the entry point is installed.
realtime_server = plugin.realtime_server
realtime_server_in_memory = plugin.realtime_server_in_memory
realtime_session = plugin.realtime_session
realtime_session_options = plugin.realtime_session_options


@pytest.fixture
def realtime_server_options() -> FakeServerOptions:
    return {"reply": "Plugged in."}


# -- the fixtures, used directly -----------------------------------------------------------------


async def test_realtime_server_serves_on_loopback(realtime_server: FakeRealtimeServer) -> None:
    assert realtime_server.url.startswith("ws://127.0.0.1:")
    async with trealtime.open_session(
        url=realtime_server.url, api_key=realtime_server.api_key
    ) as session:  # plain TCP to the loopback port, no connect_stream
        await session.send_text("hello", respond=True)
        done = await session.wait_for(events.ResponseDone)
    assert done.response.status == "completed"
    assert len(realtime_server.connections) == 1


async def test_realtime_session_is_open_and_uses_the_overridden_options(
    realtime_session: trealtime.Session, realtime_server: FakeRealtimeServer
) -> None:
    assert not realtime_session.closed
    assert isinstance(realtime_session.properties, events.SessionProperties)
    handle = await realtime_session.create_response()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(realtime_session.wait_for, events.ResponseDone)  # keep reading
        response = await handle.done()
    assert isinstance(response.output, list)
    text = [item.text for item in response.output if isinstance(item, events.MessageItem)]
    assert text == ["Plugged in."]
    assert realtime_server.connections[0].received  # the session really talked to this server


async def test_realtime_server_in_memory_under_the_mock_clock(
    realtime_server_in_memory: FakeRealtimeServer, autojump_clock: trio.testing.MockClock
) -> None:
    server = realtime_server_in_memory
    async with trealtime.open_session(
        url=server.url, api_key=server.api_key, connect_stream=server.connect_stream
    ) as session:
        await trio.sleep(3000)  # virtual: no real time passes
        await session.send_text("still there?", respond=True)
        done = await session.wait_for(events.ResponseDone)
    assert done.response.status == "completed"
    assert trio.current_time() >= 3000


@pytest.mark.parametrize("realtime_session_options", [{"request_timeout": 3.5}])
async def test_session_options_can_be_parametrized(
    realtime_session: trealtime.Session, realtime_session_options: dict[str, Any]
) -> None:
    assert realtime_session._request_timeout == 3.5


# -- the plugin in a user's project (pytester) ---------------------------------------------------

USER_TESTS = """
    from __future__ import annotations

    import pytest
    import trio

    import trealtime
    from trealtime import events
    from trealtime.testing import FakeRealtimeServer

    {marker}


    class EchoBot:
        '''The "app" under test: asks the model and returns its text answer.'''

        def __init__(self, session: trealtime.Session) -> None:
            self.session = session

        async def ask(self, question: str) -> str:
            await self.session.send_text(question, respond=True)
            done = await self.session.wait_for(events.ResponseDone)
            return "".join(
                item.text for item in done.response.output if isinstance(item, events.MessageItem)
            )


    @pytest.fixture
    def realtime_server_options():
        return {{"reply": "Bonjour."}}


    async def test_the_app_with_a_session(realtime_session, realtime_server):
        assert await EchoBot(realtime_session).ask("Hello?") == "Bonjour."
        assert realtime_server.connections[0].state.conversation  # the server saw the turn


    async def test_the_app_with_its_own_connection(realtime_server):
        realtime_server.reply = "Changed."
        async with trealtime.open_session(
            url=realtime_server.url, api_key=realtime_server.api_key
        ) as session:
            assert await EchoBot(session).ask("Hello?") == "Changed."


    async def test_in_memory_with_the_mock_clock(realtime_server_in_memory, autojump_clock):
        server = realtime_server_in_memory
        async with trealtime.open_session(
            url=server.url, api_key=server.api_key, connect_stream=server.connect_stream
        ) as session:
            await trio.sleep(600)
            assert await EchoBot(session).ask("Hello?") == "Bonjour."
        assert all(connection.closed for connection in server.connections)


    @pytest.mark.parametrize("realtime_session_options", [{{"request_timeout": 1.25}}])
    async def test_session_options(realtime_session, realtime_session_options):
        assert realtime_session._request_timeout == 1.25
"""

INI_TRIO_MODE = """
    [pytest]
    trio_mode = true
    addopts = --strict-markers --strict-config
    filterwarnings = error
"""

INI_MARKERS = """
    [pytest]
    addopts = --strict-markers --strict-config
    filterwarnings = error
"""

EXPLICIT = ("-p", "no:trealtime", "-p", "trealtime.testing.pytest_plugin")


def _project(pytester: pytest.Pytester, *, trio_mode: bool) -> None:
    pytester.makeini(INI_TRIO_MODE if trio_mode else INI_MARKERS)
    marker = "" if trio_mode else "pytestmark = pytest.mark.trio"
    pytester.makepyfile(test_app=textwrap.dedent(USER_TESTS).format(marker=marker))


SYNC_TEST = """
    def test_an_async_fixture_needs_a_trio_test(realtime_server):
        pass
"""


def test_plugin_loaded_explicitly_in_trio_mode(pytester: pytest.Pytester) -> None:
    _project(pytester, trio_mode=True)
    result = pytester.runpytest_subprocess(*EXPLICIT)
    result.assert_outcomes(passed=4)


def test_plugin_loaded_explicitly_with_trio_markers(pytester: pytest.Pytester) -> None:
    _project(pytester, trio_mode=False)
    pytester.makepyfile(test_sync=textwrap.dedent(SYNC_TEST))  # no marker: a clear error
    result = pytester.runpytest_subprocess(*EXPLICIT)
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*requested an async fixture 'realtime_server'*"])


def test_entry_point_is_installed() -> None:
    """Needs ``[project.entry-points.pytest11] trealtime = ...`` and a reinstall (``pip -e .``)."""
    found = importlib.metadata.entry_points(group="pytest11", name="trealtime")
    assert [entry.value for entry in found] == ["trealtime.testing.pytest_plugin"]


def test_entry_point_provides_the_fixtures_in_trio_mode(pytester: pytest.Pytester) -> None:
    _project(pytester, trio_mode=True)
    result = pytester.runpytest()
    result.assert_outcomes(passed=4)


def test_entry_point_provides_the_fixtures_with_trio_markers(pytester: pytest.Pytester) -> None:
    _project(pytester, trio_mode=False)
    result = pytester.runpytest()
    result.assert_outcomes(passed=4)
