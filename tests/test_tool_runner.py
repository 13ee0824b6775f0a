"""The tool-call runner, over recording fakes of the session's four callables."""

from __future__ import annotations

import threading
from typing import Any

import attrs
import orjson
import pytest
import trio
import trio.testing

from trealtime import ConfigurationError, SessionClosed
from trealtime._agent._tool_runner import ToolCallRunner, ToolRunnerStatistics
from trealtime._agent._tools import CANCELLED, ToolRegistry


@attrs.define
class Host:
    """The session's side of the runner: records what the runner sends, in order."""

    log: list[tuple[str, ...]] = attrs.Factory(list)
    known: set[str] | None = None  # None: the server knows every call
    fail_outputs: bool = False
    fail_requests: bool = False
    request_gate: trio.Event | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    release_thread: threading.Event = attrs.Factory(threading.Event)

    async def send_output(self, call_id: str, output: str) -> None:
        await trio.lowlevel.checkpoint()
        if self.fail_outputs:
            raise SessionClosed(1006, None)
        self.log.append(("output", call_id, output))

    async def send_orphan_result(self, call_id: str, name: str, output: str) -> None:
        await trio.lowlevel.checkpoint()
        self.log.append(("orphan", call_id, name, output))

    async def request_response(self) -> None:
        if self.request_gate is not None:
            await self.request_gate.wait()
        if self.fail_requests:
            raise SessionClosed(1006, None)
        self.log.append(("request",))

    def is_call_known(self, call_id: str) -> bool:
        return self.known is None or call_id in self.known

    def runner(self, **options: Any) -> ToolCallRunner:
        return ToolCallRunner(
            make_registry(self),
            send_output=self.send_output,
            send_orphan_result=self.send_orphan_result,
            request_response=self.request_response,
            is_call_known=self.is_call_known,
            **options,
        )

    def outputs(self) -> dict[str, Any]:
        """Each call's output, decoded when it is JSON."""
        found = {}
        for entry in self.log:
            if entry[0] == "output":
                try:
                    found[entry[1]] = orjson.loads(entry[2])
                except orjson.JSONDecodeError:
                    found[entry[1]] = entry[2]
        return found

    def requests(self) -> int:
        return self.log.count(("request",))


def make_registry(host: Host) -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool
    async def wait(seconds: float, value: str = "ok") -> str:
        host.in_flight += 1
        host.max_in_flight = max(host.max_in_flight, host.in_flight)
        try:
            await trio.sleep(seconds)
        finally:
            host.in_flight -= 1
        return value

    @registry.tool(must_complete=True)
    async def commit(seconds: float) -> dict[str, bool]:
        await trio.sleep(seconds)
        return {"committed": True}

    @registry.tool(timeout=1)
    async def stuck() -> None:
        await trio.sleep_forever()

    @registry.tool
    async def boom() -> None:
        raise ValueError("boom")

    @registry.tool
    def blocking() -> str:
        return threading.current_thread().name

    @registry.tool(timeout=0.05)
    def hang() -> None:
        host.release_thread.wait(5)

    return registry


def start(
    runner: ToolCallRunner,
    nursery: trio.Nursery,
    call_id: str,
    name: str,
    response: str = "r1",
    **arguments: Any,
) -> None:
    encoded = orjson.dumps(arguments).decode()
    runner.start_call(nursery, response_id=response, call_id=call_id, name=name, arguments=encoded)


def stats(**counts: int) -> ToolRunnerStatistics:
    fields = {"running": 0, "completed": 0, "failed": 0, "cancelled": 0, "timed_out": 0}
    return ToolRunnerStatistics(**(fields | counts))


@pytest.mark.parametrize("done_first", [True, False])
async def test_parallel_calls_then_one_response(
    autojump_clock: trio.testing.MockClock, done_first: bool
) -> None:
    host = Host()
    runner = host.runner()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "c1", "wait", seconds=2, value="slow")
        start(runner, nursery, "c2", "wait", seconds=1, value="fast")
        if done_first:
            runner.on_response_done("r1")
        await trio.sleep(1.5)
        assert host.log == []  # outputs go in call order: c2 waits for c1
        assert runner.statistics() == stats(running=2, completed=1)
        await trio.sleep(1)
        if not done_first:
            assert host.requests() == 0
            runner.on_response_done("r1")
    assert host.log == [("output", "c1", "slow"), ("output", "c2", "fast"), ("request",)]
    assert runner.statistics() == stats(completed=2)


async def test_response_without_calls_requests_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    host = Host()
    runner = host.runner()
    runner.on_response_done("r0")
    assert host.log == []


async def test_each_response_gets_its_own_request(autojump_clock: trio.testing.MockClock) -> None:
    host = Host()
    runner = host.runner()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "a", "wait", response="r1", seconds=1)
        runner.on_response_done("r1")
        await trio.sleep(2)
        start(runner, nursery, "b", "wait", response="r2", seconds=1)
        runner.on_response_done("r2")
    assert [entry[:2] for entry in host.log] == [
        ("output", "a"),
        ("request",),
        ("output", "b"),
        ("request",),
    ]


async def test_concurrency_limit(autojump_clock: trio.testing.MockClock) -> None:
    host = Host()
    runner = host.runner(max_concurrency=2)
    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i in range(5):
            start(runner, nursery, f"c{i}", "wait", seconds=1)
        runner.on_response_done("r1")
        await trio.sleep(0.5)
        assert runner.statistics().running == 5
    assert host.max_in_flight == 2
    assert trio.current_time() - t0 == pytest.approx(3)
    assert len(host.outputs()) == 5
    assert host.requests() == 1


async def test_timeouts(autojump_clock: trio.testing.MockClock) -> None:
    host = Host()
    runner = host.runner(default_timeout=5)
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "own", "stuck")  # the tool's own timeout: 1 s
        start(runner, nursery, "default", "wait", seconds=60)
        runner.on_response_done("r1")
    assert host.outputs() == {
        "own": {"error": "timed out after 1 s", "type": "TimeoutError"},
        "default": {"error": "timed out after 5 s", "type": "TimeoutError"},
    }
    assert host.requests() == 1  # the model hears about the timeouts
    assert runner.statistics() == stats(timed_out=2)


async def test_no_default_timeout(autojump_clock: trio.testing.MockClock) -> None:
    host = Host()
    runner = host.runner(default_timeout=None)
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "c1", "wait", seconds=3600)
    assert host.outputs() == {"c1": "ok"}


async def test_raising_handler_sends_an_error_and_others_go_on(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = Host()
    runner = host.runner()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "bad", "boom")
        start(runner, nursery, "good", "wait", seconds=1)
        runner.on_response_done("r1")
    assert host.outputs() == {"bad": {"error": "boom", "type": "ValueError"}, "good": "ok"}
    assert host.requests() == 1
    assert runner.statistics() == stats(completed=1, failed=1)
    assert "tool boom raised" in caplog.text


async def test_bad_arguments_and_unknown_tools(autojump_clock: trio.testing.MockClock) -> None:
    host = Host()
    runner = host.runner()
    async with trio.open_nursery() as nursery:
        runner.start_call(nursery, response_id="r1", call_id="json", name="wait", arguments="{")
        start(runner, nursery, "type", "wait", seconds="soon")
        start(runner, nursery, "nope", "no_such_tool")
        runner.on_response_done("r1")
    outputs = host.outputs()
    assert outputs["json"]["type"] == "ToolArgumentsError"
    assert "not valid JSON" in outputs["json"]["error"]
    assert outputs["type"] == {
        "error": "argument 'seconds': expected number, got string",
        "type": "ToolArgumentsError",
    }
    assert outputs["nope"] == {"error": "unknown tool 'no_such_tool'", "type": "LookupError"}
    assert host.requests() == 1
    assert runner.statistics() == stats(failed=3)


async def test_interruption_cancels_calls_and_requests_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    host = Host()
    runner = host.runner()
    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "c1", "wait", seconds=10)
        start(runner, nursery, "c2", "wait", seconds=10)
        await trio.sleep(1)
        runner.interrupt()
        await trio.lowlevel.checkpoint()
        runner.on_response_done("r1")
    assert host.log == [("output", "c1", CANCELLED), ("output", "c2", CANCELLED)]
    assert trio.current_time() - t0 == pytest.approx(1)
    assert runner.statistics() == stats(cancelled=2)


async def test_must_complete_call_survives_interruption(
    autojump_clock: trio.testing.MockClock,
) -> None:
    host = Host()
    runner = host.runner()
    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "keep", "commit", seconds=3)
        start(runner, nursery, "drop", "wait", seconds=10)
        await trio.sleep(1)
        runner.interrupt()
        runner.on_response_done("r1")
        # a late call of the interrupted response does not even run
        start(runner, nursery, "late", "wait", seconds=10)
    assert host.log == [
        ("output", "keep", '{"committed":true}'),
        ("output", "drop", CANCELLED),
        ("output", "late", CANCELLED),
    ]
    assert trio.current_time() - t0 == pytest.approx(3)
    assert runner.statistics() == stats(completed=1, cancelled=2)


async def test_interruption_drops_a_request_waiting_to_go_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = trio.Event()
    host = Host(request_gate=gate)
    runner = host.runner()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "c1", "wait", seconds=1)
        runner.on_response_done("r1")
        await trio.sleep(2)  # the request now waits at the gate
        runner.interrupt()
        gate.set()
    assert host.log == [("output", "c1", "ok")]


async def test_interruption_spares_later_responses(autojump_clock: trio.testing.MockClock) -> None:
    host = Host()
    runner = host.runner()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "old", "wait", response="r1", seconds=5)
        runner.interrupt()
        start(runner, nursery, "new", "wait", response="r2", seconds=1)
        runner.on_response_done("r1")
        runner.on_response_done("r2")
    assert host.log == [("output", "old", CANCELLED), ("output", "new", "ok"), ("request",)]


async def test_results_after_forget_calls_are_orphans(
    autojump_clock: trio.testing.MockClock,
) -> None:
    host = Host()
    runner = host.runner()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "c1", "wait", seconds=5, value="late")
        await trio.sleep(1)
        host.known = set()  # reconnected: the new conversation has no such call
        runner.forget_calls()
        runner.on_response_done("r1")  # a stale id: ignored
    assert host.log == [("orphan", "c1", "wait", "late"), ("request",)]


async def test_forget_calls_drops_responses_with_nothing_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    host = Host()
    runner = host.runner()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "c1", "wait", seconds=1)
        await trio.sleep(2)
        runner.forget_calls()
        runner.on_response_done("r1")
    assert host.log == [("output", "c1", "ok")]


async def test_failing_callables_do_not_crash_the_nursery(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = Host(fail_outputs=True)
    runner = host.runner()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "c1", "wait", seconds=1)
        runner.on_response_done("r1")
        await trio.sleep(2)
        assert host.log == []  # the output was lost, so no response is requested
        host.fail_outputs, host.fail_requests = False, True
        start(runner, nursery, "c2", "wait", response="r2", seconds=1)
        runner.on_response_done("r2")
    assert host.log == [("output", "c2", "ok")]
    assert "the output of function call c1 was lost" in caplog.text
    assert "response.create after r2 failed" in caplog.text


async def test_duplicate_call_ids_are_ignored(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    host = Host()
    runner = host.runner()
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "c1", "wait", seconds=1)
        start(runner, nursery, "c1", "wait", seconds=1)
        runner.on_response_done("r1")
    assert host.log == [("output", "c1", "ok"), ("request",)]
    assert "already running" in caplog.text


def test_max_concurrency_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_concurrency"):
        Host().runner(max_concurrency=0)


async def test_sync_handlers_run_in_a_thread() -> None:
    host = Host()
    # no timeout: the autojump clock jumps while the thread runs
    runner = host.runner(default_timeout=None)
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "c1", "blocking")
        runner.on_response_done("r1")
    thread_name = host.outputs()["c1"]
    assert thread_name != threading.current_thread().name
    assert host.requests() == 1


async def test_a_sync_handler_past_its_timeout_is_abandoned() -> None:
    host = Host()
    runner = host.runner()
    with trio.fail_after(2):
        async with trio.open_nursery() as nursery:
            start(runner, nursery, "c1", "hang")
    host.release_thread.set()
    assert host.outputs() == {"c1": {"error": "timed out after 0.05 s", "type": "TimeoutError"}}


# -- sync tools and trio's clock ----------------------------------------------------------------


async def test_a_busy_sync_tool_does_not_time_out_on_a_mock_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The thread works for a moment of real time; a mock clock must not jump past it."""
    registry = ToolRegistry()
    started = threading.Event()

    @registry.tool(timeout=30)
    def busy() -> str:
        started.set()
        threading.Event().wait(0.2)  # real work, invisible to trio's clock
        return "done"

    host = Host()
    runner = ToolCallRunner(
        registry,
        send_output=host.send_output,
        send_orphan_result=host.send_orphan_result,
        request_response=host.request_response,
        is_call_known=host.is_call_known,
    )
    async with trio.open_nursery() as nursery:
        start(runner, nursery, "c1", "busy")
    assert host.outputs() == {"c1": "done"}
    assert started.is_set()


async def test_a_sync_tool_times_out_in_real_time(autojump_clock: trio.testing.MockClock) -> None:
    """``hang`` (timeout 0.05 s) blocks until released: it times out, in wall-clock time."""
    host = Host()
    runner = host.runner()
    try:
        async with trio.open_nursery() as nursery:
            start(runner, nursery, "c1", "hang")
        assert host.outputs() == {"c1": {"error": "timed out after 0.05 s", "type": "TimeoutError"}}
    finally:
        host.release_thread.set()
