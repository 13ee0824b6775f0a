"""Webhook verification: the Standard Webhooks scheme, checked against openai's own unwrap."""

from __future__ import annotations

import base64
import time

import orjson
import pytest

from trealtime import WebhookVerificationError, unwrap_webhook, verify_webhook
from trealtime.webhooks import (
    RealtimeCallIncoming,
    UnknownWebhookEvent,
    sign_webhook,
)

SECRET = "whsec_" + base64.b64encode(b"a test secret of some length").decode()
OTHER = "whsec_" + base64.b64encode(b"the secret before the rotation").decode()
BODY = orjson.dumps(
    {
        "object": "event",
        "id": "evt_685343a1381c819085d44c354e1b330e",
        "type": "realtime.call.incoming",
        "created_at": 1750287018,
        "data": {
            "call_id": "rtc_479a275623b54bdb9b6fbae2f7cbd408",
            "sip_headers": [
                {"name": "From", "value": "sip:+142555512112@sip.example.com"},
                {"name": "To", "value": "sip:+18005551212@sip.example.com"},
            ],
        },
    }
)
NOW = 1_790_000_000


def signed(body: bytes = BODY, secret: str = SECRET, timestamp: int = NOW) -> dict[str, str]:
    return sign_webhook(body, secret, webhook_id="wh_1", timestamp=timestamp)


def test_a_signed_incoming_call_verifies_and_parses() -> None:
    event = unwrap_webhook(BODY, signed(), secret=SECRET, now=NOW)
    assert isinstance(event, RealtimeCallIncoming)
    assert event.type == "realtime.call.incoming"
    assert event.data.call_id == "rtc_479a275623b54bdb9b6fbae2f7cbd408"
    assert event.data.sip_header("from") == "sip:+142555512112@sip.example.com"
    assert event.data.sip_media_security is None


def test_the_same_payload_verifies_in_the_openai_package_too() -> None:
    openai = pytest.importorskip("openai")
    headers = sign_webhook(BODY, SECRET, webhook_id="wh_1")  # now: openai reads the clock
    client = openai.OpenAI(api_key="sk-unused", webhook_secret=SECRET)
    theirs = client.webhooks.unwrap(BODY, headers)
    ours = unwrap_webhook(BODY, headers, secret=SECRET)
    assert isinstance(ours, RealtimeCallIncoming)
    assert theirs.type == ours.type
    assert theirs.data.call_id == ours.data.call_id
    # And a signature openai computes over a tampered body fails in both.
    tampered = BODY.replace(b"rtc_", b"rtX_")
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.verify_signature(tampered, headers)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_webhook(tampered, headers, secret=SECRET)


def test_a_tampered_body_or_a_wrong_secret_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_webhook(BODY + b" ", signed(), secret=SECRET, now=NOW)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_webhook(BODY, signed(), secret=OTHER, now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, -10_000])
def test_a_timestamp_outside_the_tolerance_is_refused(offset: int) -> None:
    headers = signed(timestamp=NOW + offset)
    with pytest.raises(WebhookVerificationError, match="off the clock"):
        verify_webhook(BODY, headers, secret=SECRET, now=NOW)


def test_the_tolerance_is_adjustable_and_inclusive() -> None:
    verify_webhook(BODY, signed(timestamp=NOW - 300), secret=SECRET, now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, signed(timestamp=NOW - 60), secret=SECRET, now=NOW, tolerance=30)


def test_any_of_several_signatures_and_several_secrets_may_match() -> None:
    ours = signed()["webhook-signature"]
    other = signed(secret=OTHER)["webhook-signature"]
    headers = {**signed(), "webhook-signature": f"v2,AAAA {other} {ours}"}
    verify_webhook(BODY, headers, secret=SECRET, now=NOW)
    # During a rotation the receiver holds both secrets; the sender signs with either.
    verify_webhook(BODY, signed(secret=OTHER), secret=[SECRET, OTHER], now=NOW)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook-signature": None}, "webhook-signature header is missing"),
        ({"webhook-id": None}, "webhook-id header is missing"),
        ({"webhook-timestamp": "yesterday"}, "malformed webhook-timestamp"),
        ({"webhook-signature": "v2,abc"}, "no v1 signature"),
    ],
)
def test_malformed_headers_are_refused(change: dict[str, str | None], message: str) -> None:
    headers = {k: v for k, v in {**signed(), **change}.items() if v is not None}
    with pytest.raises(WebhookVerificationError, match=message):
        verify_webhook(BODY, headers, secret=SECRET, now=NOW)


def test_header_names_are_case_insensitive() -> None:
    headers = {k.title(): v for k, v in signed().items()}
    verify_webhook(BODY, headers, secret=SECRET, now=NOW)


def test_the_secret_never_appears_in_the_error() -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook(BODY, signed(secret=OTHER), secret=SECRET, now=NOW)
    assert SECRET not in str(caught.value)
    assert SECRET.removeprefix("whsec_") not in str(caught.value)


def test_other_webhook_types_parse_as_unknown_events() -> None:
    body = orjson.dumps({"id": "evt_1", "type": "response.completed", "created_at": 5, "data": {}})
    event = unwrap_webhook(body, signed(body), secret=SECRET, now=NOW)
    assert isinstance(event, UnknownWebhookEvent)
    assert (event.type, event.created_at, event.raw["data"]) == ("response.completed", 5, {})


def test_a_verified_but_malformed_incoming_call_is_a_typed_error() -> None:
    body = orjson.dumps({"id": "evt_1", "type": "realtime.call.incoming", "created_at": 5})
    with pytest.raises(WebhookVerificationError, match=r"malformed realtime\.call\.incoming"):
        unwrap_webhook(body, signed(body), secret=SECRET, now=NOW)


def test_the_clock_defaults_to_now() -> None:
    verify_webhook(BODY, signed(timestamp=int(time.time())), secret=SECRET)
