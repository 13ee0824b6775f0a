"""Security: verified TLS, no plaintext to remote hosts, secrets never shown, bounded input.

Real loopback sockets and real time throughout (every test is bounded by ``trio.fail_after``).
TLS is terminated by a small proxy in front of the fake server, with certificates from a CA
generated for the test run (``trustme``).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import ssl
import traceback
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trio
import trustme

import trealtime
from trealtime import events
from trealtime._transport._connect import Credentials, Endpoint
from trealtime.testing import FakeRealtimeServer

TIMEOUT = 5.0
REFUSAL_TIMEOUT = 1.5
PATH = "/v1/realtime"


def new_secret(prefix: str = "sk-proj-SECRET-") -> str:
    return prefix + secrets.token_hex(16)


def port_of(server: FakeRealtimeServer) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


# -- a TCP proxy, optionally terminating TLS ----------------------------------------------------


class Relay:
    """Forwards connections on 127.0.0.1:``port`` to ``127.0.0.1:backend_port``, byte for byte.

    With a server-side ``ssl_context`` it terminates TLS first (a failed TLS handshake is
    recorded in ``tls_failures`` and the connection dropped, nothing reaching the backend).
    ``hold()`` stops forwarding the backend's bytes to the client until ``release()``.
    """

    def __init__(self, backend_port: int, ssl_context: ssl.SSLContext | None) -> None:
        self.backend_port = backend_port
        self.ssl_context = ssl_context
        self.port = 0
        self.forwarded = 0
        """Connections that got through to the backend."""
        self.tls_failures: list[BaseException] = []
        self._flowing = trio.Event()
        self._flowing.set()

    def hold(self) -> None:
        self._flowing = trio.Event()

    def release(self) -> None:
        self._flowing.set()

    async def handle(self, client: trio.SocketStream) -> None:
        stream: trio.abc.Stream = client
        try:
            if self.ssl_context is not None:
                tls = trio.SSLStream(client, self.ssl_context, server_side=True)
                stream = tls
                try:
                    await tls.do_handshake()
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self.tls_failures.append(exc)
                    return
            backend = await trio.open_tcp_stream("127.0.0.1", self.backend_port)
            self.forwarded += 1
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, stream, backend, nursery.cancel_scope, False)
                    nursery.start_soon(self._pump, backend, stream, nursery.cancel_scope, True)
            finally:
                await trio.aclose_forcefully(backend)
        finally:
            await trio.aclose_forcefully(stream)

    async def _pump(
        self,
        source: trio.abc.ReceiveStream,
        sink: trio.abc.SendStream,
        scope: trio.CancelScope,
        downstream: bool,
    ) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while True:
                data = await source.receive_some(65536)
                if not data:
                    break
                if downstream:
                    await self._flowing.wait()
                await sink.send_all(data)
        scope.cancel()


@contextlib.asynccontextmanager
async def relay_to(
    server: FakeRealtimeServer, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Relay]:
    relay = Relay(port_of(server), ssl_context)
    failure: BaseException | None = None
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        relay.port = listeners[0].socket.getsockname()[1]
        await nursery.start(trio.serve_listeners, relay.handle, listeners)
        try:
            yield relay
        except BaseException as exc:  # re-raised below, not wrapped in a group
            failure = exc
        nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


# -- TLS ----------------------------------------------------------------------------------------


async def test_tls_with_a_trusted_ca_connects_and_works(ca: trustme.CA) -> None:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    with trio.fail_after(TIMEOUT):
        async with (
            FakeRealtimeServer.serve() as server,
            relay_to(server, server_context(cert)) as relay,
        ):
            url = f"wss://localhost:{relay.port}{PATH}"
            async with trealtime.open_session(
                url=url, api_key=server.api_key, ssl_context=client_context(ca)
            ) as session:
                assert repr(session).startswith(f"<trealtime.Session wss://localhost:{relay.port}")
                await session.send_text("Hello over TLS", respond=True)
                done = await session.wait_for(events.ResponseDone)
                assert done.response.status == "completed"
    assert relay.forwarded == 1
    assert relay.tls_failures == []
    assert [h.status for h in server.handshakes] == [101]


async def refused_over_tls(
    cert: trustme.LeafCert, trust: ssl.SSLContext | None
) -> tuple[trealtime.ConnectError, Relay, FakeRealtimeServer]:
    """Connect through a TLS proxy presenting ``cert``; return the error the client raised."""
    with trio.fail_after(TIMEOUT):
        async with (
            FakeRealtimeServer.serve() as server,
            relay_to(server, server_context(cert)) as relay,
        ):
            url = f"wss://localhost:{relay.port}{PATH}"
            with pytest.raises(trealtime.ConnectError) as caught:
                async with trealtime.open_session(
                    url=url,
                    api_key=server.api_key,
                    ssl_context=trust,
                    connect_timeout=REFUSAL_TIMEOUT,  # a refusal takes milliseconds
                ):
                    pass  # pragma: no cover
    # Refused at once, for what it is -- not a hang that ends as a timeout.
    assert not isinstance(caught.value, trealtime.ConnectTimeout), repr(caught.value)
    # The key never went to the unverified peer: nothing reached the WebSocket server.
    assert relay.forwarded == 0
    assert server.handshakes == []
    return caught.value, relay, server


async def test_tls_default_context_refuses_an_unknown_ca(ca: trustme.CA) -> None:
    error, relay, _ = await refused_over_tls(ca.issue_cert("localhost", "127.0.0.1"), None)
    assert "certificate" in str(error).lower(), str(error)
    assert relay.tls_failures  # the client aborted the TLS handshake


async def test_tls_context_trusting_another_ca_is_refused(ca: trustme.CA) -> None:
    other = client_context(trustme.CA())
    error, relay, _ = await refused_over_tls(ca.issue_cert("localhost", "127.0.0.1"), other)
    assert "certificate" in str(error).lower(), str(error)
    assert relay.tls_failures


async def test_tls_certificate_for_another_host_is_refused(ca: trustme.CA) -> None:
    error, relay, _ = await refused_over_tls(ca.issue_cert("api.example.com"), client_context(ca))
    text = str(error).lower()
    assert "certificate" in text or "hostname" in text, str(error)
    assert relay.tls_failures


async def test_a_server_that_hangs_up_before_the_handshake_is_refused_at_once() -> None:
    """A peer that closes the connection before answering the upgrade: a prompt ConnectError."""

    async def hang_up(stream: trio.SocketStream) -> None:
        await stream.aclose()

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            port = listeners[0].socket.getsockname()[1]
            await nursery.start(trio.serve_listeners, hang_up, listeners)
            with pytest.raises(trealtime.ConnectError) as caught:
                async with trealtime.open_session(
                    url=f"ws://127.0.0.1:{port}{PATH}",
                    api_key=new_secret(),
                    connect_timeout=REFUSAL_TIMEOUT,
                ):
                    pass  # pragma: no cover
            nursery.cancel_scope.cancel()
    assert not isinstance(caught.value, trealtime.ConnectTimeout), repr(caught.value)


# -- plaintext ----------------------------------------------------------------------------------


class AttemptRecorder:
    """Stands in for ``trio.open_tcp_stream``: records the attempt, then fails it."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int, *args: Any, **kwargs: Any) -> trio.SocketStream:
        self.attempts.append((host, port))
        raise OSError("connection attempt stopped by the test")


@pytest.fixture
def tcp_attempts(monkeypatch: pytest.MonkeyPatch) -> AttemptRecorder:
    recorder = AttemptRecorder()
    monkeypatch.setattr(trio, "open_tcp_stream", recorder)
    return recorder


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("ws://api.example.com/v1/realtime", "api.example.com", 80),
        ("ws://API.EXAMPLE.COM:8080/v1/realtime", "api.example.com", 8080),
        ("ws://10.1.2.3/v1/realtime", "10.1.2.3", 80),
        ("ws://localhost.example.com/v1/realtime", "localhost.example.com", 80),
        ("ws://127.0.0.1.nip.io/v1/realtime", "127.0.0.1.nip.io", 80),
        ("ws://[2001:db8::1]:8080/v1/realtime", "2001:db8::1", 8080),
    ],
)
async def test_plaintext_to_a_remote_host_is_refused_before_connecting(
    tcp_attempts: AttemptRecorder, url: str, host: str, port: int
) -> None:
    secret = new_secret()
    with trio.fail_after(TIMEOUT):
        with pytest.raises(trealtime.ConfigurationError, match="allow_insecure") as caught:
            async with trealtime.open_session(url=url, api_key=secret):
                pass  # pragma: no cover
        assert tcp_attempts.attempts == []  # refused before any connection was tried
        assert secret not in str(caught.value)
        # The same URL with the explicit opt-in goes ahead and tries to connect.
        with pytest.raises(trealtime.ConnectError) as tried:
            async with trealtime.open_session(url=url, api_key=secret, allow_insecure=True):
                pass  # pragma: no cover
    assert "stopped by the test" in str(tried.value)
    assert tcp_attempts.attempts == [(host, port)]


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("ws://127.0.0.1:9/v1/realtime", "127.0.0.1"),
        ("ws://127.1.2.3:9/v1/realtime", "127.1.2.3"),
        ("ws://localhost:9/v1/realtime", "localhost"),
        ("ws://LocalHost:9/v1/realtime", "localhost"),
        ("ws://[::1]:9/v1/realtime", "::1"),
        ("wss://api.example.com:9/v1/realtime", "api.example.com"),
    ],
)
async def test_loopback_plaintext_and_any_tls_are_allowed(
    tcp_attempts: AttemptRecorder, url: str, host: str
) -> None:
    with trio.fail_after(TIMEOUT), pytest.raises(trealtime.ConnectError):
        async with trealtime.open_session(url=url, api_key=new_secret()):
            pass  # pragma: no cover
    assert tcp_attempts.attempts == [(host, 9)]


async def test_allow_insecure_really_connects_to_an_unresolvable_host() -> None:
    """Unpatched: the opt-in reaches name resolution, which fails as a ConnectError."""
    with trio.fail_after(TIMEOUT), pytest.raises(trealtime.ConnectError) as caught:
        async with trealtime.open_session(
            url="ws://realtime.trealtime-test.invalid/v1/realtime",
            api_key=new_secret(),
            allow_insecure=True,
            connect_timeout=3.0,
        ):
            pass  # pragma: no cover
    assert not isinstance(caught.value, trealtime.ConfigurationError)


async def test_plaintext_to_localhost_works_against_the_fake_server() -> None:
    with trio.fail_after(TIMEOUT):
        async with FakeRealtimeServer.serve() as server:
            url = f"ws://localhost:{port_of(server)}{PATH}"
            async with trealtime.open_session(url=url, api_key=server.api_key) as session:
                await session.send_text("hello")
    assert [h.status for h in server.handshakes] == [101]


def test_transport_security_check_of_the_endpoint() -> None:
    for url in ("ws://127.0.0.1/x", "ws://localhost/x", "ws://[::1]/x", "wss://example.com/x"):
        Endpoint.build(url, model=None).check_transport_security(allow_insecure=False)
    for url in ("ws://example.com/x", "ws://192.168.1.10/x", "ws://[fe80::1]/x"):
        endpoint = Endpoint.build(url, model=None)
        with pytest.raises(trealtime.ConfigurationError):
            endpoint.check_transport_security(allow_insecure=False)
        endpoint.check_transport_security(allow_insecure=True)


# -- secrets ------------------------------------------------------------------------------------


def exception_texts(exc: BaseException) -> list[str]:
    """Everything an exception shows: str, repr, args, its chain, and the formatted traceback."""
    texts: list[str] = []
    seen: set[int] = set()

    def walk(error: BaseException | None) -> None:
        if error is None or id(error) in seen:
            return
        seen.add(id(error))
        texts.extend([str(error), repr(error), repr(error.args)])
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        walk(error.__cause__)
        walk(error.__context__)

    walk(exc)
    texts.append("".join(traceback.format_exception(exc)))
    return texts


def capture_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger (trio-websocket's too)
    caplog.set_level(logging.DEBUG, logger="trealtime")


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = [caplog.text]
    for record in caplog.records:
        texts.extend([record.getMessage(), repr(record.args)])
        if record.exc_info and record.exc_info[1] is not None:
            texts.extend(exception_texts(record.exc_info[1]))
    return texts


def trealtime_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("trealtime")]


def assert_hidden(hidden: Iterable[str], texts: Iterable[str]) -> None:
    """No secret appears, whole or as its random part, in any of ``texts``."""
    needles = [n for secret in hidden for n in (secret, secret[-32:])]
    assert needles
    checked = 0
    for text in texts:
        checked += 1
        for needle in needles:
            assert needle not in text, f"a secret is shown in: {text[:2000]!r}"
    assert checked


def session_texts(session: trealtime.Session) -> list[str]:
    return [
        repr(session),
        str(session),
        repr(session._credentials),
        repr(session.statistics()),
        repr(session.settings),
        repr(session.close_reason),
        repr(session.conversation),
    ]


def test_credentials_never_show_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = new_secret()

    async def provider() -> str:
        return secret  # pragma: no cover

    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", secret)
    shown = [
        Credentials(secret, None),
        Credentials(None, provider),
        Credentials.resolve(None, None, azure=False),
        Credentials.resolve(None, None, azure=True),
    ]
    assert_hidden([secret], [t for c in shown for t in (repr(c), str(c), format(c))])
    assert not hasattr(shown[0], "__dict__")  # no vars() dump either
    assert shown[0].secrets() == (secret,)  # positive control: it does hold the key


async def test_the_key_is_sent_but_never_shown_during_a_whole_session(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    capture_logs(caplog)
    secret = new_secret()
    recording = tmp_path / "session.jsonl"
    shown: list[str] = []
    errors: list[BaseException] = []
    policy = trealtime.ReconnectPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=2)
    with trio.fail_after(TIMEOUT):
        async with (
            FakeRealtimeServer.serve(api_key=secret) as server,
            trealtime.open_session(
                url=server.url,
                api_key=secret,
                reconnect=policy,
                log_metrics=True,
                record=recording,
                record_audio=True,
            ) as session,
        ):
            shown += session_texts(session)
            await session.update_settings(
                trealtime.RealtimeSettings(system_instruction="Be brief.")
            )
            await session.send_text("hello", respond=True)
            await session.wait_for(events.ResponseDone)
            with pytest.raises(trealtime.ServerError) as server_error:
                await session.delete_item("item_nope")
            errors.append(server_error.value)
            # The server restarts: the session reconnects with the same key.
            await server.connections[0].close(1012, "restarting")
            await session.wait_for(events.Reconnected)
            # A completed response makes the new connection useful: the budget starts again.
            await session.send_text("again", respond=True)
            await session.wait_for(events.ResponseDone)
            shown += session_texts(session)
            # The key is revoked: the next reconnect is refused (401) and the session ends.
            server.api_key = new_secret("sk-proj-OTHER-")
            await server.connections[1].close(1012, "restarting")
            async for _ in session:
                pass
            assert session.close_reason is not None
            assert session.close_reason.code == 1012
            assert "401" in (session.close_reason.reason or "")
            with pytest.raises(trealtime.SessionClosed) as closed:
                await session.send_text("too late")
            errors.append(closed.value)
            shown += session_texts(session)
    # Positive control: the key did go out, in the header, on every handshake.
    assert [h.status for h in server.handshakes] == [101, 101, 401]
    assert all(h.headers["authorization"] == f"Bearer {secret}" for h in server.handshakes)
    assert secret in repr(server.handshakes)  # so the search below would find it
    # ...and nowhere else: not in what the client sent, showed, raised or logged.
    frames = [str(frame) for connection in server.connections for frame in connection.frames]
    assert len(frames) >= 5
    messages = trealtime_messages(caplog)
    assert any(m.startswith("connecting to") for m in messages)  # DEBUG is captured
    assert any("reconnect attempt 1 failed" in m and "401" in m for m in messages)
    recorded = recording.read_text()
    assert recorded.count('"kind":"connect"') == 2 and '"dir":"out"' in recorded
    assert_hidden(
        [secret],
        [*shown, *frames, *log_texts(caplog), recorded]
        + [t for e in errors for t in exception_texts(e)],
    )


async def test_the_key_is_in_no_error_of_a_failed_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    capture_logs(caplog)
    secret = new_secret()
    errors: list[BaseException] = []

    async def failure(url: str, expected: type[BaseException], **options: Any) -> BaseException:
        with pytest.raises(expected) as caught:
            async with trealtime.open_session(url=url, api_key=secret, **options):
                pass  # pragma: no cover
        errors.append(caught.value)
        return caught.value

    with trio.fail_after(TIMEOUT):
        # A wrong key: 401, whose body shows the key masked, as the real API does.
        async with FakeRealtimeServer.serve() as server:
            rejected = await failure(server.url, trealtime.ConnectionRejected)
            assert isinstance(rejected, trealtime.ConnectionRejected)
            assert rejected.status_code == 401
            assert "Incorrect API key" in str(rejected)
            assert secret[-4:] in str(rejected)  # the masked form is there...
        assert server.handshakes[0].headers["authorization"] == f"Bearer {secret}"
        # Nobody listening.
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        await listeners[0].aclose()
        await failure(f"ws://127.0.0.1:{port}{PATH}", trealtime.ConnectError)
        # A listener that never answers: a connect timeout.
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        try:
            await failure(
                f"ws://127.0.0.1:{port}{PATH}", trealtime.ConnectTimeout, connect_timeout=0.3
            )
        finally:
            await listeners[0].aclose()
        # A reply that never comes: a request timeout.
        async with (
            FakeRealtimeServer.serve(api_key=secret) as server,
            relay_to(server) as relay,
            trealtime.open_session(
                url=f"ws://127.0.0.1:{relay.port}{PATH}", api_key=secret, request_timeout=0.3
            ) as session,
        ):
            relay.hold()
            with pytest.raises(trealtime.RequestTimeout) as timeout:
                await session.delete_item("item_nope")
            errors.append(timeout.value)
            relay.release()
    assert len(errors) == 4
    assert_hidden([secret], log_texts(caplog) + [t for e in errors for t in exception_texts(e)])


async def test_a_token_provider_is_asked_on_every_connect_and_its_tokens_stay_hidden(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    capture_logs(caplog)
    recording = tmp_path / "session.jsonl"
    issued: list[str] = []
    shown: list[str] = []
    policy = trealtime.ReconnectPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=2)
    with trio.fail_after(TIMEOUT):
        async with FakeRealtimeServer.serve() as server:

            async def provider() -> str:
                token = new_secret("ek_TOKEN-")
                issued.append(token)
                server.api_key = token  # the server accepts only the newest token
                return token

            async with trealtime.open_session(
                url=server.url, token_provider=provider, reconnect=policy, record=recording
            ) as session:
                assert len(issued) == 1
                shown += session_texts(session)
                await session.send_text("hello")
                await server.connections[0].close(1012, "restarting")
                await session.wait_for(events.Reconnected)
                assert len(issued) == 2
                await session.send_text("again")
                shown += session_texts(session)

            stale = new_secret("ek_STALE-")

            async def stale_provider() -> str:
                return stale

            with pytest.raises(trealtime.ConnectionRejected) as rejected:
                async with trealtime.open_session(url=server.url, token_provider=stale_provider):
                    pass  # pragma: no cover
    assert rejected.value.status_code == 401
    headers = [h.headers for h in server.handshakes]
    expected = [f"Bearer {token}" for token in [*issued, stale]]
    assert [h["authorization"] for h in headers] == expected
    assert all("api-key" not in h for h in headers)
    recorded = recording.read_text()
    assert recorded.count('"kind":"connect"') == 2
    assert_hidden(
        [*issued, stale],
        [*shown, *log_texts(caplog), recorded, *exception_texts(rejected.value)],
    )


async def test_azure_sends_the_key_as_an_api_key_header(caplog: pytest.LogCaptureFixture) -> None:
    capture_logs(caplog)
    secret = new_secret("azure-SECRET-")
    with trio.fail_after(TIMEOUT):
        async with (
            FakeRealtimeServer.serve(api_key=secret) as server,
            trealtime.open_session(url=server.url, api_key=secret, azure=True) as session,
        ):
            await session.send_text("hello")
            shown = session_texts(session)
    headers = server.handshakes[0].headers
    assert headers["api-key"] == secret
    assert "authorization" not in headers
    assert_hidden([secret], shown + log_texts(caplog))
    assert Endpoint.build("wss://x.openai.azure.com/openai/realtime", model="m").azure


# -- hostile servers: size and flood ------------------------------------------------------------


async def drain_setup(session: trealtime.Session) -> None:
    assert isinstance(await session.__anext__(), events.SessionCreated)
    assert isinstance(await session.__anext__(), events.SessionUpdated)


async def send_quietly(server: FakeRealtimeServer, frame: str) -> None:
    with contextlib.suppress(Exception):
        await server.send_raw(frame)


async def test_an_oversized_frame_ends_the_session_with_1009() -> None:
    frame = '{"type":"x.big","pad":"' + "a" * 100_000 + '"}'
    with trio.fail_after(TIMEOUT):
        async with FakeRealtimeServer.serve() as server:
            async with trealtime.open_session(
                url=server.url, api_key=server.api_key, max_message_size=64 * 1024
            ) as session:
                await drain_setup(session)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(send_quietly, server, frame)
                    leftovers = [event async for event in session]  # ends: no hang
                assert leftovers == []
                assert session.close_reason is not None
                assert session.close_reason.code == 1009, session.close_reason
                with pytest.raises(trealtime.SessionClosed) as closed:
                    await session.send_text("after")
                assert closed.value.code == 1009
            # Leaving the block raised nothing (no ExceptionGroup either).
            await server.connections[0].wait_closed()


async def test_a_large_frame_under_the_default_limit_is_accepted() -> None:
    frame = '{"type":"x.big","pad":"' + "a" * 2**20 + '"}'
    with trio.fail_after(TIMEOUT):
        async with (
            FakeRealtimeServer.serve() as server,
            trealtime.open_session(url=server.url, api_key=server.api_key) as session,
        ):
            await drain_setup(session)
            await server.send_raw(frame)
            event = await session.__anext__()
            assert isinstance(event, events.UnknownServerEvent)
            assert event.type == "x.big"
            assert len(event.raw["pad"]) == 2**20
            assert session.statistics().unknown_events == 1
            await session.send_text("still fine")
            assert not session.closed


async def test_a_flood_is_held_back_by_the_socket_not_queued_in_memory() -> None:
    buffer = 16
    count = 10_000
    # One string object sent again and again: the fake server keeps a reference to every
    # frame it sent, and this way that costs nothing, so the memory measured is the client's.
    frame = '{"type":"x.flood","pad":"' + "p" * 4000 + '"}'
    sent = 0
    queued: list[int] = []
    with trio.fail_after(15):
        async with (
            FakeRealtimeServer.serve() as server,
            trealtime.open_session(
                url=server.url, api_key=server.api_key, inbound_buffer=buffer
            ) as session,
        ):
            await drain_setup(session)

            async def flood() -> None:
                nonlocal sent
                for _ in range(count):
                    await server.send_raw(frame)
                    sent += 1

            def sample() -> None:
                queued.append(session.statistics().inbound_queued)

            tracemalloc.start()
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(flood)
                    # The client reads nothing until the flood stalls.
                    last = -1
                    while sent != last:
                        last = sent
                        for _ in range(25):
                            await trio.sleep(0.01)
                            sample()
                    stalled_at = sent
                    _, peak = tracemalloc.get_traced_memory()
                    tracemalloc.stop()
                    received = 0
                    async for event in session:
                        sample()
                        assert isinstance(event, events.UnknownServerEvent)
                        received += 1
                        if received == count:
                            break
            finally:
                tracemalloc.stop()
            assert sent == count
            assert session.statistics().unknown_events == count
            # Still usable.
            await session.send_text("still here", respond=True)
            done = await session.wait_for(events.ResponseDone)
            assert done.response.status == "completed"
    assert stalled_at < count  # the backpressure reached the server
    assert max(queued) <= buffer
    assert max(queued) == buffer  # the queue did fill
    assert peak < 4 * 2**20, f"{peak / 2**20:.1f} MiB traced while {stalled_at} frames were sent"


@pytest.mark.parametrize("flaw", ["\r\n", "\n", "\x00"], ids=["crlf", "lf", "nul"])
async def test_a_key_that_cannot_go_in_a_header_is_refused_without_showing_it(
    caplog: pytest.LogCaptureFixture, flaw: str
) -> None:
    """A key with a line break (pasted from a file) or a NUL makes the Authorization header
    illegal: a ConfigurationError names the header and never quotes the key, which h11's own
    error would show."""
    capture_logs(caplog)
    secret = new_secret() + flaw
    with trio.fail_after(TIMEOUT):
        async with FakeRealtimeServer.serve() as server:
            with pytest.raises(
                trealtime.ConfigurationError, match="'Authorization' header"
            ) as caught:
                async with trealtime.open_session(url=server.url, api_key=secret):
                    pass  # pragma: no cover
    assert server.handshakes == []  # nothing went out
    assert_hidden([secret.strip()], [*exception_texts(caught.value), *log_texts(caplog)])


@pytest.mark.parametrize("key", ["", "   "], ids=["empty", "blank"])
async def test_an_empty_key_is_named_as_such(key: str) -> None:
    async with FakeRealtimeServer.serve() as server:
        with pytest.raises(trealtime.ConfigurationError, match="the API key is empty"):
            async with trealtime.open_session(url=server.url, api_key=key):
                pass  # pragma: no cover
    assert server.handshakes == []  # nothing went out


@pytest.mark.parametrize(
    "url",
    ["ws://127.0.0.1:99999/v1/realtime", "ws://127.0.0.1:port/v1/realtime"],
    ids=["out-of-range", "not-a-number"],
)
async def test_a_url_with_a_bad_port_is_a_configuration_error(url: str) -> None:
    with pytest.raises(trealtime.ConfigurationError, match="invalid port"):
        async with trealtime.open_session(url=url, api_key="sk-test"):
            pass  # pragma: no cover
