"""The REST half against the fake server's REST endpoints, over real loopback sockets."""

from __future__ import annotations

import logging
import time

import pytest
import trio

import trealtime
from trealtime import (
    ConfigurationError,
    ConnectError,
    ConnectionRejected,
    HTTPStatusError,
    RetryPolicy,
    SessionProperties,
    open_rest_client,
    open_session,
)
from trealtime._transport._connect import DEFAULT_URL, Endpoint
from trealtime.events import TranscriptionSessionProperties
from trealtime.testing import FakeRealtimeServer

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.02)


def test_the_rest_base_is_the_realtime_url_over_https() -> None:
    assert Endpoint.build(DEFAULT_URL, model=None).rest_base == "https://api.openai.com/v1/realtime"
    azure = Endpoint.build("wss://r.openai.azure.com/openai/v1/realtime?x=1", model=None)
    assert azure.rest_base == "https://r.openai.azure.com/openai/v1/realtime"
    local = Endpoint.build("ws://127.0.0.1:9/v1/realtime", model=None)
    assert local.rest_base == "http://127.0.0.1:9/v1/realtime"


async def test_plaintext_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="plaintext"):
        async with open_rest_client(api_key="sk-x", url="ws://example.com/v1/realtime"):
            pass


async def test_a_client_secret_fixes_its_session_and_hides_its_value() -> None:
    async with (
        FakeRealtimeServer.serve() as server,
        open_rest_client(api_key=server.api_key, url=server.url) as rest,
    ):
        before = int(time.time())
        secret = await rest.create_client_secret(
            session=SessionProperties(model="gpt-realtime", instructions="Be brief."),
            expires_after=120,
        )
    assert secret.value.startswith("ek_")
    assert before + 120 <= secret.expires_at <= int(time.time()) + 120
    assert isinstance(secret.session, SessionProperties)
    assert secret.session.instructions == "Be brief."
    assert secret.value not in repr(secret)
    assert server.rest.secrets[secret.value].session["instructions"] == "Be brief."


async def test_a_transcription_client_secret_from_a_mapping() -> None:
    async with (
        FakeRealtimeServer.serve() as server,
        open_rest_client(api_key=server.api_key, url=server.url) as rest,
    ):
        secret = await rest.create_client_secret(session={"type": "transcription"})
    assert isinstance(secret.session, TranscriptionSessionProperties)


async def test_an_ephemeral_key_opens_sessions_until_it_expires() -> None:
    async with (
        FakeRealtimeServer.serve() as server,
        open_rest_client(api_key=server.api_key, url=server.url) as rest,
    ):
        secret = await rest.create_client_secret(
            session=SessionProperties(model="gpt-realtime", instructions="From the secret.")
        )
        with trio.fail_after(10):
            async with open_session(api_key=secret.value, url=server.url) as session:
                assert isinstance(session.properties, SessionProperties)
                assert session.properties.instructions == "From the secret."
        server.rest.clock = lambda: secret.expires_at + 1.0
        with trio.fail_after(10), pytest.raises(ConnectionRejected) as caught:
            async with open_session(api_key=secret.value, url=server.url):
                pass
    assert caught.value.status_code == 401
    assert secret.value not in str(caught.value)


async def test_an_out_of_range_lifetime_is_the_apis_400() -> None:
    async with (
        FakeRealtimeServer.serve() as server,
        open_rest_client(api_key=server.api_key, url=server.url) as rest,
    ):
        with pytest.raises(HTTPStatusError) as caught:
            await rest.create_client_secret(expires_after=5)
    error = caught.value
    assert (error.status_code, error.param, error.code) == (
        400,
        "expires_after.seconds",
        "invalid_value",
    )
    assert isinstance(error, trealtime.ServerError)


async def test_a_wrong_key_is_a_401_without_the_key() -> None:
    async with (
        FakeRealtimeServer.serve() as server,
        open_rest_client(api_key="sk-wrong-secret-key", url=server.url) as rest,
    ):
        with pytest.raises(HTTPStatusError) as caught:
            await rest.create_client_secret()
        assert "sk-wrong-secret-key" not in repr(rest)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert len(server.rest.requests) == 1  # a 401 is not retried


async def test_a_key_echoed_by_the_server_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeRealtimeServer.serve() as server:
        key = server.api_key
        server.rest.fail_next(500, message=f"internal error near {key}")
        server.rest.fail_next(400, message=f"Incorrect API key provided: {key}.")
        async with open_rest_client(api_key=key, url=server.url, retry=FAST) as rest:
            with pytest.raises(HTTPStatusError) as caught:
                await rest.create_client_secret()
    assert caught.value.status_code == 400
    assert key not in str(caught.value)
    assert key not in caught.value.message
    assert "<redacted>" in caught.value.message
    assert key not in caplog.text


async def test_a_429_is_retried_after_the_servers_retry_after() -> None:
    async with FakeRealtimeServer.serve() as server:
        server.rest.fail_next(429, headers={"Retry-After": "0.3"})
        # The computed backoff is a minute: only Retry-After can make the retry come soon.
        slow = RetryPolicy(initial_delay=60, max_delay=60)
        async with open_rest_client(api_key=server.api_key, url=server.url, retry=slow) as rest:
            with trio.fail_after(30):
                secret = await rest.create_client_secret()
    assert secret.value.startswith("ek_")
    first, second = server.rest.requests
    assert second.at - first.at >= 0.3


async def test_5xx_is_retried_with_backoff_then_raised() -> None:
    async with FakeRealtimeServer.serve() as server:
        server.rest.fail_next(503, count=3)
        async with open_rest_client(api_key=server.api_key, url=server.url, retry=FAST) as rest:
            with trio.fail_after(10), pytest.raises(HTTPStatusError) as caught:
                await rest.create_client_secret()
            assert len(server.rest.requests) == 3  # the first try and two retries
            server.rest.fail_next(502)
            with trio.fail_after(10):
                await rest.create_client_secret()
    assert caught.value.status_code == 503
    assert caught.value.type == "server_error"


def test_retry_after_forms() -> None:
    policy = RetryPolicy(max_retry_after=60)
    assert policy.delay(1, {"retry-after-ms": "250"}) == 0.25
    assert policy.delay(1, {"Retry-After": "2"}) == 2.0
    date = "Wed, 21 Oct 2015 07:28:00 GMT"  # long past: retry now
    assert policy.delay(1, {"Retry-After": date}) == 0.0
    assert 0.375 <= policy.delay(1, {"Retry-After": "3600"}) <= 0.625  # too long: backoff


async def test_a_network_failure_is_a_connect_error() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # nothing listens there any more
    url = f"ws://127.0.0.1:{port}/v1/realtime"
    async with open_rest_client(api_key="sk-secret-xyz", url=url, retry=FAST) as rest:
        with trio.fail_after(10), pytest.raises(ConnectError) as caught:
            await rest.hangup_call("rtc_1")
    assert "sk-secret-xyz" not in str(caught.value)


async def test_token_provider_and_azure_headers() -> None:
    tokens: list[str] = []

    async def provide() -> str:
        tokens.append("fresh")
        return "sk-test-fake"

    async with (
        FakeRealtimeServer.serve() as server,
        open_rest_client(token_provider=provide, url=server.url) as rest,
    ):
        await rest.create_client_secret()
        await rest.create_client_secret()
        async with open_rest_client(api_key=server.api_key, url=server.url, azure=True) as rest:
            await rest.create_client_secret()
    assert tokens == ["fresh", "fresh"]  # asked before every request
    assert [h.get("authorization") for h in server.rest.headers] == [
        "Bearer sk-test-fake",
        "Bearer sk-test-fake",
        None,
    ]
    assert server.rest.headers[2]["api-key"] == "sk-test-fake"


async def test_the_api_key_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fake")
    async with FakeRealtimeServer.serve() as server, open_rest_client(url=server.url) as rest:
        await rest.create_client_secret()
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigurationError, match="no API key"):
        async with open_rest_client(url=server.url):
            pass


async def test_call_control_follows_the_call() -> None:
    async with FakeRealtimeServer.serve() as server:
        ringing, refused, transferred = (server.calls.add(kind="sip") for _ in range(3))
        async with open_rest_client(api_key=server.api_key, url=server.url) as rest:
            await rest.reject_call(refused.call_id, status_code=486)
            await rest.accept_call(ringing.call_id, session=SessionProperties(model="gpt-realtime"))
            await rest.accept_call(transferred.call_id, session={"type": "realtime"})
            await rest.refer_call(transferred.call_id, "tel:+14155550123")
            with pytest.raises(HTTPStatusError) as twice:
                await rest.accept_call(ringing.call_id, session={"type": "realtime"})
            await rest.hangup_call(ringing.call_id)
    assert (refused.status, refused.reject_status) == ("rejected", 486)
    assert (transferred.status, transferred.referred_to) == ("referred", "tel:+14155550123")
    assert ringing.status == "ended"
    assert twice.value.status_code == 409


@pytest.mark.parametrize("action", ["accept", "reject", "refer", "hangup"])
async def test_an_unknown_call_is_the_apis_404(action: str) -> None:
    async with (
        FakeRealtimeServer.serve() as server,
        open_rest_client(api_key=server.api_key, url=server.url) as rest,
    ):
        calls = {
            "accept": lambda: rest.accept_call("rtc_nope", session={"type": "realtime"}),
            "reject": lambda: rest.reject_call("rtc_nope"),
            "refer": lambda: rest.refer_call("rtc_nope", "tel:+1"),
            "hangup": lambda: rest.hangup_call("rtc_nope"),
        }
        with pytest.raises(HTTPStatusError) as caught:
            await calls[action]()
    assert (caught.value.status_code, caught.value.code) == (404, "call_not_found")


async def test_a_call_id_is_one_path_segment() -> None:
    async with open_rest_client(api_key="sk-x", url="ws://127.0.0.1:9/v1/realtime") as rest:
        with pytest.raises(ConfigurationError):
            await rest.hangup_call("../client_secrets")


async def test_a_webrtc_offer_gets_an_answer_and_a_call_to_attach_to() -> None:
    offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    async with (
        FakeRealtimeServer.serve() as server,
        open_rest_client(api_key=server.api_key, url=server.url) as rest,
    ):
        answer = await rest.create_call(
            offer, session=SessionProperties(model="gpt-realtime", instructions="WebRTC.")
        )
        answer2, call_id = await rest.create_call_with_id(offer)
        with pytest.raises(HTTPStatusError) as bad:
            await rest.create_call("not sdp")
        assert answer.startswith("v=0") and answer2.startswith("v=0")
        assert call_id is not None and server.calls.get(call_id) is not None
        (first,) = [c for c in server.calls.calls.values() if c.call_id != call_id]
        assert first.session == {
            "type": "realtime",
            "model": "gpt-realtime",
            "instructions": "WebRTC.",
        }
        with trio.fail_after(10):
            async with open_session(
                api_key=server.api_key, url=server.url, call_id=first.call_id
            ) as s:
                created = s.properties
        assert isinstance(created, SessionProperties) and created.instructions == "WebRTC."
    assert bad.value.status_code == 400


async def test_only_credentials_are_redacted_from_errors() -> None:
    async with (
        FakeRealtimeServer.serve() as server,
        open_rest_client(api_key=server.api_key, url=server.url) as rest,
    ):
        server.rest.fail_next(400, message="Expected Content-Type application/json.")
        with pytest.raises(HTTPStatusError) as caught:
            await rest.create_client_secret()
    assert caught.value.message == "Expected Content-Type application/json."


async def test_a_silent_server_is_a_request_timeout() -> None:
    async def never_answer(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, never_answer, listeners)
        url = f"ws://127.0.0.1:{port}/v1/realtime"
        no_retry = RetryPolicy(max_retries=0)
        async with open_rest_client(
            api_key="sk-x", url=url, request_timeout=0.2, retry=no_retry
        ) as rest:
            with trio.fail_after(10), pytest.raises(trealtime.RequestTimeout):
                await rest.create_client_secret()
        nursery.cancel_scope.cancel()
