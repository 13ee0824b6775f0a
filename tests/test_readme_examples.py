"""The README's examples, run as written: every python block is extracted and run against the
fake server, with only what a block marks as the user's own (``# play is yours``) filled in.
Blocks that need an API key get the fake server's URL and key in place of the real API's."""

from __future__ import annotations

import ast
import functools
import inspect
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.lowlevel
import trio.testing

import trealtime
from trealtime import events
from trealtime.testing import (
    FakeCall,
    FakeRealtimeServer,
    RejectHandshake,
    Reset,
    SessionExpired,
    ToolCall,
    silence,
    synthesize_speech,
)

pytest_plugins = ["pytester"]


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
    assert answer.response.final_status == "completed"


async def test_time_and_timeouts(
    realtime_server_in_memory: FakeRealtimeServer, autojump_clock: object
) -> None:
    server = realtime_server_in_memory
    server.realtime = True  # audio paced at real time: virtual here
    async with trealtime.open_session(
        url=server.url, api_key=server.api_key, connect_stream=server.connect_stream
    ) as session:
        handle = await session.create_response()
        assert (await handle.done()).final_status == "completed"
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


# -- every python block of README.md, extracted and run ------------------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_YOURS = re.compile(r"#\s*([\w ,]+?)\s+(?:is|are) yours\b")


@attrs.frozen
class Snippet:
    """A python block of the README, under its section heading."""

    section: str
    code: str

    @property
    def yours(self) -> frozenset[str]:
        """The names a comment calls the user's own ("# play is yours", "# a and b are yours")."""
        names: set[str] = set()
        for found in _YOURS.findall(self.code):
            names.update(n for n in re.split(r"[ ,]+", found) if n and n != "and")
        return frozenset(names)

    @property
    def needs_api_key(self) -> bool:
        return "# Needs OPENAI_API_KEY" in self.code

    @property
    def is_test_file(self) -> bool:
        return re.search(r"^async def test_", self.code, re.MULTILINE) is not None


def readme_snippets() -> list[Snippet]:
    text = README.read_text()
    snippets = []
    for match in _BLOCK.finditer(text):
        headings = re.findall(r"^#{2,3} (.+)$", text[: match.start()], re.MULTILINE)
        snippets.append(Snippet(headings[-1], match.group(1)))
    return snippets


SNIPPETS = readme_snippets()


def _by_section(section: str) -> list[Snippet]:
    found = [snippet for snippet in SNIPPETS if snippet.section == section]
    assert found, f"no python block under {section!r} in the README"
    return found


def test_every_readme_snippet_is_covered_here() -> None:
    """A new README example must get a runner below (so that none goes unchecked)."""
    sections = [snippet.section for snippet in SNIPPETS]
    assert sorted(sections) == sorted(
        [
            "Example",
            "A voice agent",
            "Keys for browsers and phones",
            "SIP calls: accept, then a sideband session",
            "Events and the codec",
            "Settings",
            "Transcription sessions",
            "Testing your app",
            "Testing your app",
        ]
    )
    yours = {"play", "microphone", "speaker", "frame", "pcm"}
    yours |= {"WEBHOOK_SECRET", "nursery", "order_status"}
    for snippet in SNIPPETS:  # only what a snippet marks as yours is filled in
        assert snippet.yours <= yours, snippet.section
    marked = {s.section for s in SNIPPETS if s.needs_api_key}
    assert marked == {  # talking to the API says so
        "Example",
        "A voice agent",
        "Keys for browsers and phones",
        "SIP calls: accept, then a sideband session",
    }


def test_every_readme_snippet_type_checks(tmp_path: Path) -> None:
    """mypy over each block, the names marked as yours declared ``Any`` (nothing else added)."""
    from mypy import api

    files = []
    for number, snippet in enumerate(SNIPPETS):
        declared = "".join(f"{name}: Any\n" for name in sorted(snippet.yours))
        path = tmp_path / f"readme_{number}.py"
        path.write_text(f"from typing import Any\n{declared}\n{snippet.code}")
        files.append(str(path))
    out, err, status = api.run(
        ["--check-untyped-defs", "--no-incremental", "--config-file", "/dev/null", *files]
    )
    assert status == 0, out + err


class FakeSpeaker:
    """Stands in for the user's speaker: plays instantly, reporting what was heard."""

    def __init__(self) -> None:
        self.on_played: Callable[[float], object] | None = None
        self.played = bytearray()
        self.stopped = 0

    def queue(self, item_id: str, pcm: bytes) -> None:
        self.played += pcm
        if self.on_played is not None:
            self.on_played(len(self.played) / 48)

    def stop(self) -> None:
        self.stopped += 1


async def fake_microphone() -> AsyncIterator[bytes]:
    """Stands in for the user's microphone: 1.5 s of speech then 1 s of silence, 16 kHz."""
    pcm = synthesize_speech(1500, seed=5, sample_rate=16000) + silence(1000, sample_rate=16000)
    for offset in range(0, len(pcm), 640):  # 20 ms
        yield pcm[offset : offset + 640]
        await trio.lowlevel.checkpoint()


def _against(server: FakeRealtimeServer, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Point ``trealtime.open_session`` at ``server``: the only change to a snippet that needs
    an API key. Returns the list the opened sessions are appended to."""
    opened: list[Any] = []
    real_open_session = trealtime.open_session

    @asynccontextmanager
    async def open_session(**kwargs: Any) -> AsyncIterator[trealtime.Session]:
        assert "url" not in kwargs and "api_key" not in kwargs  # as the README shows it
        async with real_open_session(
            url=server.url,
            api_key=server.api_key,
            connect_stream=server.connect_stream,
            **kwargs,
        ) as session:
            opened.append(session)
            yield session

    monkeypatch.setattr(trealtime, "open_session", open_session)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")
    return opened


def test_readme_example_runs_as_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (snippet,) = _by_section("Example")
    assert snippet.needs_api_key and snippet.yours == {"play"}
    played = bytearray()

    async def main() -> None:
        async with FakeRealtimeServer.serve_in_memory(reply="TP 123 at nine.") as server:
            _against(server, monkeypatch)
            namespace: dict[str, Any] = {"play": played.extend, "__name__": "readme"}
            code = snippet.code.replace("trio.run(main)", "")
            assert code != snippet.code  # the snippet runs its own main: so do we, in our run
            exec(compile(code, "README.md:Example", "exec"), namespace)
            with trio.fail_after(30):
                await namespace["main"]()

    trio.run(main)
    assert played  # the reply's audio reached play()
    assert "TP 123 at nine." in capsys.readouterr().out  # the transcript was printed


async def test_readme_voice_agent_runs_as_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], autojump_clock: object
) -> None:
    (snippet,) = _by_section("A voice agent")
    assert snippet.needs_api_key and snippet.yours == {"microphone", "speaker"}
    async with FakeRealtimeServer.serve_in_memory(transcript="What is the weather in Lisbon?") as (
        server
    ):
        server.on_user_text("weather", call=ToolCall("get_weather", {"city": "Lisbon"}))
        opened = _against(server, monkeypatch)
        namespace: dict[str, Any] = {"__name__": "readme"}
        exec(compile(snippet.code, "README.md:A voice agent", "exec"), namespace)
        speaker = FakeSpeaker()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(namespace["agent"], fake_microphone(), speaker)
            with trio.fail_after(600):  # virtual seconds
                # VAD's turn calls get_weather; its output asks for the answer.
                await server.wait_for_client_event(events.ResponseCreate)
                await trio.testing.wait_all_tasks_blocked()  # answered, and the agent idle
            nursery.cancel_scope.cancel()
    assert opened[0].metrics.responses_completed == 2
    outputs = [
        event.item.output
        for event in server.connections[0].received
        if isinstance(event, events.ConversationItemCreate)
        and isinstance(event.item, events.FunctionCallOutputItem)
    ]
    assert outputs == ['{"city":"Lisbon","forecast":"sunny","temperature":"24"}']
    assert speaker.played  # the answer was spoken
    assert "ResponseMetrics(" in capsys.readouterr().out  # session.metrics.last, printed


def test_readme_codec_snippet_runs_as_written() -> None:
    (snippet,) = _by_section("Events and the codec")
    assert snippet.yours == {"frame", "pcm"}
    namespace: dict[str, Any] = {
        "frame": '{"type": "response.done", "event_id": "e1", "response": {"id": "r1"}}',
        "pcm": bytes(960),
    }
    exec(compile(snippet.code, "README.md:codec", "exec"), namespace)
    assert isinstance(namespace["event"], events.ResponseDone)
    assert '"type":"input_audio_buffer.append"' in namespace["text"]


def test_readme_transcription_snippet_runs_as_written() -> None:
    (snippet,) = _by_section("Transcription sessions")
    namespace: dict[str, Any] = {}
    exec(compile(snippet.code, "README.md:Transcription sessions", "exec"), namespace)
    assert isinstance(
        namespace["settings"].session_properties, events.TranscriptionSessionProperties
    )


def incoming_call_webhook(call: FakeCall, secret: str) -> tuple[bytes, dict[str, str]]:
    """The signed ``realtime.call.incoming`` webhook (body, headers) announcing ``call``."""
    from trealtime.webhooks import sign_webhook

    body = (
        b'{"id":"evt_1","type":"realtime.call.incoming","created_at":1,'
        b'"data":{"call_id":"' + call.call_id.encode() + b'","sip_headers":[]}}'
    )
    return body, sign_webhook(body, secret, webhook_id="evt_1")


async def test_readme_calls_snippets_run_as_written(
    realtime_server: FakeRealtimeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key minting and the SIP webhook sketch, against the fake server's REST API and
    calls; only the yours names (the webhook secret, the nursery, a tool) are filled in."""
    (keys,) = _by_section("Keys for browsers and phones")
    (sip,) = _by_section("SIP calls: accept, then a sideband session")
    assert sip.yours == {"WEBHOOK_SECRET", "nursery", "order_status"}
    _against(realtime_server, monkeypatch)  # open_session
    monkeypatch.setenv("OPENAI_API_KEY", realtime_server.api_key)  # open_rest_client reads it
    real_open_rest_client = trealtime.open_rest_client
    monkeypatch.setattr(
        trealtime,
        "open_rest_client",
        functools.partial(real_open_rest_client, url=realtime_server.url),
    )
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(keys.code, "README.md:Keys", "exec"), namespace)
    with trio.fail_after(20):
        minted = await namespace["mint_browser_key"]()
    assert str(minted["value"]).startswith("ek_")

    def order_status(order_id: str) -> str:
        """Where an order is."""
        return "shipped"

    secret = realtime_server.calls.webhook_secret
    namespace = {"__name__": "readme", "WEBHOOK_SECRET": secret, "order_status": order_status}
    exec(compile(sip.code, "README.md:SIP calls", "exec"), namespace)
    call = realtime_server.calls.add(kind="sip")
    body, headers = incoming_call_webhook(call, secret)
    on_webhook = namespace["on_webhook"]
    with trio.fail_after(20):
        async with trealtime.open_rest_client() as rest, trio.open_nursery() as nursery:
            namespace["nursery"] = nursery
            assert await on_webhook(body, {**headers, "webhook-id": "evt_2"}, rest) == 400
            assert await on_webhook(body, headers, rest) == 200
            await (await call.wait_sideband()).wait_for_client_event(events.ResponseCreate)
            await call.press("0")
            await call.wait_status("referred")
    assert call.referred_to == "tel:+15550100000"


def test_readme_settings_snippet_runs_as_written() -> None:
    (snippet,) = _by_section("Settings")
    assert not snippet.yours
    namespace: dict[str, Any] = {}
    exec(compile(snippet.code, "README.md:Settings", "exec"), namespace)  # its asserts hold
    assert namespace["delta"].system_instruction == "Hi"


def test_readme_test_files_pass_in_a_fresh_project(pytester: pytest.Pytester) -> None:
    """The README's pytest examples, as a new project's test files: no ``trio_mode``, no marks,
    nothing but what the README shows (the plugin comes from the installed entry point)."""
    snippets = _by_section("Testing your app")
    assert all(snippet.is_test_file and not snippet.yours for snippet in snippets)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    for number, snippet in enumerate(snippets):
        pytester.makepyfile(**{f"test_readme_{number}": snippet.code})
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    tests = sum(snippet.code.count("\nasync def test_") for snippet in snippets)
    result.assert_outcomes(passed=tests)


# -- the README's tables match the code ---------------------------------------------------------


def _helper_rows() -> list[tuple[str, str]]:
    """The rows of the README's table of sending helpers: (helper cell, returns cell)."""
    text = README.read_text()
    start = text.index("| helper | returns |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        helper, returns = (cell.strip() for cell in line.strip("|").split(" | ", 1))
        rows.append((helper, returns))
    return rows


def test_the_helper_table_matches_the_session() -> None:
    """Each helper exists; a default shown (``respond=True``) is the default; a helper shown
    returning nothing ("—", "when …") returns None, and one shown returning something does."""
    rows = _helper_rows()
    assert len(rows) >= 12
    for helper_cell, returns in rows:
        for call in re.findall(r"`(\w+)\(([^`]*)\)`", helper_cell):
            name, arguments = call
            method = getattr(trealtime.Session, name)
            signature = inspect.signature(method)
            for shown in re.findall(r"(\w+)=([^,.]+)", arguments):
                parameter, value = shown
                assert parameter in signature.parameters, f"{name}: no parameter {parameter}"
                default = signature.parameters[parameter].default
                try:
                    literal = ast.literal_eval(value)
                except ValueError:
                    continue  # "...": a value of yours
                assert default == literal, f"{name}({parameter}=...) defaults to {default!r}"
            annotation = signature.return_annotation
            says_nothing = returns.startswith(("—", "when"))
            assert says_nothing == (annotation == "None"), f"{name} returns {annotation}"
            for named in re.findall(r"`([A-Z]\w+)`", returns):
                if hasattr(trealtime, named):
                    assert named in str(annotation), f"{name}: {named} vs {annotation}"


async def test_the_calls_snippets(
    realtime_server: FakeRealtimeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README "Calls": key minting, then the webhook and sideband sketch (the fake's URL added)."""
    from trealtime import SessionProperties
    from trealtime.webhooks import RealtimeCallIncoming

    monkeypatch.setenv("OPENAI_API_KEY", realtime_server.api_key)
    url = realtime_server.url

    async def mint_browser_key() -> dict[str, object]:
        async with trealtime.open_rest_client(url=url) as rest:
            secret = await rest.create_client_secret(
                session=SessionProperties(model="gpt-realtime", instructions="Be brief."),
                expires_after=600,  # seconds in which it can open sessions
            )
        return {"value": secret.value, "expires_at": secret.expires_at}

    minted = await mint_browser_key()
    assert str(minted["value"]).startswith("ek_")

    webhook_secret = realtime_server.calls.webhook_secret
    call_session = trealtime.SessionProperties(model="gpt-realtime", instructions="Be brief.")

    def order_status(order_id: str) -> str:
        """Where an order is."""
        return "shipped"

    async def on_webhook(body: bytes, headers: dict[str, str], rest: trealtime.RestClient) -> int:
        try:
            event = trealtime.unwrap_webhook(body, headers, secret=webhook_secret)
        except trealtime.WebhookVerificationError:
            return 400  # a bad signature, a stale timestamp, missing headers
        if isinstance(event, RealtimeCallIncoming):
            await rest.accept_call(event.data.call_id, session=call_session)
            nursery.start_soon(run_call, event.data.call_id, rest)
        return 200

    async def run_call(call_id: str, rest: trealtime.RestClient) -> None:
        async with trealtime.open_session(
            call_id=call_id, tools=[order_status], url=url
        ) as session:
            await session.create_response(instructions="Greet the caller.")
            with session.dtmf() as keys:
                async for press in keys:  # ends when the call does
                    if press.event == "0":
                        await rest.refer_call(call_id, "tel:+15550100000")

    call = realtime_server.calls.add(kind="sip")
    body, headers = incoming_call_webhook(call, webhook_secret)
    with trio.fail_after(20):
        async with trealtime.open_rest_client(url=url) as rest, trio.open_nursery() as nursery:
            assert await on_webhook(body, {**headers, "webhook-id": "evt_2"}, rest) == 400
            assert await on_webhook(body, headers, rest) == 200
            await (await call.wait_sideband()).wait_for_client_event(events.ResponseCreate)
            await call.press("0")
            await call.wait_status("referred")
    assert call.referred_to == "tel:+15550100000"
