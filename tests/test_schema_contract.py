"""The official schema is the contract: whatever it accepts decodes to its class and round-trips.

For every server event type (the ``openai`` package's ``RealtimeServerEvent`` union, 46 types)
and every client event type (``RealtimeClientEvent``, 11), payloads are drawn from the pydantic
model's own JSON schema (``model_json_schema()``), and the official model itself checks each
one (``model_validate``). Each must decode to trealtime's class for that wire type (never
``Unknown*``/``Invalid*``) and encode back to the same JSON, up to the nulls the schema treats
as absent: every nullable field of these models is ``Optional[X] = None``, so ``null`` and a
missing key mean the same thing there, and the codec may write either.

The generator is :func:`from_schema` below, not hypothesis-jsonschema: that package (0.23, its
latest) calls a private Hypothesis helper that current Hypothesis no longer has, and it
re-canonicalises the inlined schema on every draw (about 1.5 s per example of an item event).
The schemas use a small set of keywords (``type``, ``properties``, ``required``,
``additionalProperties``, ``items``, ``anyOf``, ``enum``, ``const``, ``$ref``/``$defs``, and
annotations); :func:`from_schema` covers exactly those and refuses any other.

What is narrowed, and why (nothing else is):
- Objects with declared properties get no other keys. The models accept unknown keys; the codec
  ignores them by design (tests/test_codec_examples.py), so they are not part of a round trip.
  Free-form values (``parameters``, ``input_schema``, ``metadata`` …) stay free-form.
- Integers are within 64 bits: orjson, the codec's JSON library, reads and writes no others;
  an integer written where the schema says ``number`` is within 2**53, where a float holds it
  exactly (the codec reads a number as a float).
- Strings, arrays and free-form objects are short, to keep many examples cheap.

And one corner is compared modulo what it cannot carry: the schema describes a content part as
one flat object whose fields are all optional (``type``, ``text``, ``audio``, ``transcript``,
``image_url``, ``detail``), so it accepts, say, an ``input_text`` part with an ``image_url``.
The protocol gives each part type its own fields (reference §4), and trealtime's part classes
hold exactly those: a field of another part type is dropped on decoding (``PART_FIELDS``). A
part without a ``type`` has no class at all; it decodes to ``UnknownContentPart``, which keeps
and re-encodes it whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

import orjson
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import BaseModel

import trealtime
from trealtime import NOT_GIVEN
from trealtime import events as ev
from trealtime._wire._client_events import CLIENT_EVENT_CLASSES
from trealtime._wire._server_events import SERVER_EVENT_CLASSES
from trealtime.testing import FakeRealtimeServer

INT64 = (-(2**63), 2**63 - 1)
_ANNOTATIONS = {"title", "description", "default"}
_TEXT = st.text(max_size=12)
_ANY_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(*INT64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "string": _TEXT,
    "integer": st.integers(*INT64),
    # An integer where a number is expected is read as a float: exact up to 2**53.
    "number": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53),
    "boolean": st.booleans(),
    "null": st.none(),
}


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the JSON schema ``schema`` (as pydantic writes it) accepts."""
    definitions: dict[str, Any] = schema.get("$defs", {})
    refs: dict[str, st.SearchStrategy[Any]] = {}

    def ref(name: str) -> st.SearchStrategy[Any]:
        if name not in refs:
            refs[name] = st.deferred(lambda: node(definitions[name]))
        return refs[name]

    def node(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        keywords = set(schema) - _ANNOTATIONS - {"$defs"}
        if "$ref" in schema:
            return ref(schema["$ref"].removeprefix("#/$defs/"))
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "anyOf" in schema:
            return st.one_of([node(option) for option in schema["anyOf"]])
        kind = schema.get("type")
        if kind is None:
            assert not keywords, f"unsupported schema keywords {keywords}"
            return _ANY_JSON
        if kind in _SCALARS:
            assert keywords == {"type"}, f"unsupported schema keywords {keywords}"
            return _SCALARS[kind]
        if kind == "array":
            assert keywords <= {"type", "items"}, f"unsupported schema keywords {keywords}"
            return st.lists(node(schema.get("items", {})), max_size=3)
        assert kind == "object", f"unsupported schema type {kind!r}"
        assert keywords <= {"type", "properties", "required", "additionalProperties"}, keywords
        if "properties" in schema:
            required = set(schema.get("required", ()))
            properties = {k: node(v) for k, v in schema["properties"].items()}
            return st.fixed_dictionaries(
                {k: v for k, v in properties.items() if k in required},
                optional={k: v for k, v in properties.items() if k not in required},
            )
        values = schema.get("additionalProperties", True)
        return st.dictionaries(_TEXT, _ANY_JSON if values is True else node(values), max_size=3)

    return node(schema)


def _union_members(union: Any) -> tuple[type[BaseModel], ...]:
    """The models of an ``Annotated[Union[...], discriminator]`` union."""
    members: tuple[type[BaseModel], ...] = get_args(get_args(union)[0])
    return members


SERVER_MODELS = _union_members(RealtimeServerEvent)
CLIENT_MODELS = _union_members(RealtimeClientEvent)


def _wire_type(model: type[BaseModel]) -> str:
    tag: str = model.model_json_schema()["properties"]["type"]["const"]
    return tag


def payloads(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects the model's schema accepts (and the model itself validates)."""
    strategy: st.SearchStrategy[dict[str, Any]] = from_schema(model.model_json_schema())
    return strategy


PART_FIELDS = {
    "input_text": {"type", "text"},
    "input_audio": {"type", "audio", "transcript"},
    "input_image": {"type", "image_url", "detail"},
    "output_text": {"type", "text"},
    "output_audio": {"type", "audio", "transcript"},
    "text": {"type", "text"},  # the part types of response.content_part.*
    "audio": {"type", "audio", "transcript"},
}


def _own_fields(part: Any) -> Any:
    fields = PART_FIELDS.get(str(part.get("type"))) if isinstance(part, dict) else None
    return part if fields is None else {k: v for k, v in part.items() if k in fields}


def comparable(value: Any) -> Any:
    """``value`` without ``null``-valued keys, and each content part with its own fields only."""
    if isinstance(value, dict):
        value = {k: comparable(v) for k, v in value.items() if v is not None}
        if isinstance(value.get("part"), dict):
            value["part"] = _own_fields(value["part"])
        if isinstance(value.get("content"), list):
            value["content"] = [_own_fields(part) for part in value["content"]]
        return value
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


SERVER_CLASSES = {cls.TYPE: cls for cls in SERVER_EVENT_CLASSES}
CLIENT_CLASSES = {cls.TYPE: cls for cls in CLIENT_EVENT_CLASSES}

# Each example is a whole generated event; the big ones (sessions, responses with items) take
# a while to draw, hence too_slow. No shrinking: on these schemas it takes minutes, and the
# example is reported as found. 46 + 11 types x EXAMPLES: about 30 s on a loaded 2-core machine.
EXAMPLES = 100
CONTRACT = settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)


def test_the_schema_lists_the_event_types_trealtime_has() -> None:
    server = {_wire_type(m) for m in SERVER_MODELS}
    client = {_wire_type(m) for m in CLIENT_MODELS}
    assert (len(server), len(client)) == (46, 11)
    assert server == set(SERVER_CLASSES)
    # trealtime also knows the legacy transcription_session.update, which GA has dropped.
    assert client == set(CLIENT_CLASSES) - {ev.TranscriptionSessionUpdate.TYPE}


def check_round_trip(
    model: type[BaseModel],
    expected: type[Any],
    decode: Callable[[bytes], Any],
    encode: Callable[[Any], str],
) -> None:
    @CONTRACT
    @given(payloads(model))
    def check(payload: dict[str, Any]) -> None:
        model.model_validate(payload)  # the official model accepts it: a fair example
        event = decode(orjson.dumps(payload))
        assert type(event) is expected, getattr(event, "error", event)
        again = orjson.loads(encode(event))
        assert comparable(again) == comparable(payload)

    check()


@pytest.mark.parametrize("model", SERVER_MODELS, ids=_wire_type)
def test_every_server_event_the_schema_accepts_decodes_and_round_trips(
    model: type[BaseModel],
) -> None:
    expected = SERVER_CLASSES[_wire_type(model)]
    check_round_trip(model, expected, ev.decode_server_event, ev.encode_server_event)


@pytest.mark.parametrize("model", CLIENT_MODELS, ids=_wire_type)
def test_every_client_event_the_schema_accepts_decodes_and_round_trips(
    model: type[BaseModel],
) -> None:
    expected = CLIENT_CLASSES[_wire_type(model)]
    check_round_trip(model, expected, ev.decode_client_event, ev.encode_client_event)


# -- the cases the issue reported, by name -------------------------------------------------------

ISSUE_EXAMPLES = [
    ("server", {"type": "conversation.created", "event_id": "e", "conversation": {}}),
    (
        "server",
        {
            "type": "conversation.item.added",
            "event_id": "e",
            "item": {"type": "function_call", "id": "item_1", "name": "f", "arguments": "{}"},
        },
    ),
    (
        "server",
        {
            "type": "session.created",
            "event_id": "e",
            "session": {"type": "realtime", "audio": {"input": {"format": {"rate": 24000}}}},
        },
    ),
    (
        "client",
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"noise_reduction": {}}}},
        },
    ),
    *[
        (
            "server",
            {
                "type": f"response.content_part.{stage}",
                "event_id": "e",
                "response_id": "r",
                "item_id": "i",
                "output_index": 0,
                "content_index": 0,
                "part": part,
            },
        )
        for stage in ("added", "done")
        for part in ({"type": "audio", "transcript": "Hi"}, {"type": "text", "text": "Hi"})
    ],
]


@pytest.mark.parametrize(("side", "payload"), ISSUE_EXAMPLES, ids=lambda v: str(v)[:40])
def test_the_reported_frames_decode_and_round_trip_unchanged(
    side: str, payload: dict[str, Any]
) -> None:
    if side == "server":
        event: Any = ev.decode_server_event(orjson.dumps(payload))
        again = ev.encode_server_event(event)
    else:
        event = ev.decode_client_event(orjson.dumps(payload))
        again = ev.encode_client_event(event)
    classes: dict[str, type[Any]] = SERVER_CLASSES if side == "server" else CLIENT_CLASSES
    assert type(event) is classes[payload["type"]], event
    assert orjson.loads(again) == payload


def test_a_format_without_type_is_the_api_default() -> None:
    event = ev.decode_server_event(orjson.dumps(ISSUE_EXAMPLES[2][1]))
    assert isinstance(event, ev.SessionCreated)
    assert isinstance(event.session.audio, ev.AudioConfig)
    assert isinstance(event.session.audio.input, ev.AudioInput)
    fmt = event.session.audio.input.format
    assert isinstance(fmt, ev.AudioFormat)
    assert (fmt.type, fmt.resolved_type, fmt.bytes_per_ms) == (NOT_GIVEN, "audio/pcm", 48)


def test_null_in_a_field_without_a_null_meaning_is_absent() -> None:
    frame = {
        "type": "conversation.item.input_audio_transcription.delta",
        "event_id": "e",
        "item_id": "i",
        "content_index": None,
        "delta": None,
    }
    event = ev.decode_server_event(orjson.dumps(frame))
    assert isinstance(event, ev.ConversationItemInputAudioTranscriptionDelta)
    assert (event.content_index, event.delta) == (NOT_GIVEN, NOT_GIVEN)
    # where null has a meaning, it stays: turn_detection null turns VAD off
    update = ev.decode_client_event(
        b'{"type":"session.update","session":{"type":"realtime",'
        b'"audio":{"input":{"turn_detection":null}}}}'
    )
    assert isinstance(update, ev.SessionUpdate)
    assert isinstance(update.session.audio, ev.AudioConfig)
    assert isinstance(update.session.audio.input, ev.AudioInput)
    assert update.session.audio.input.turn_detection is None


# -- the client copes with whatever the schema allows --------------------------------------------


async def _deliver(frames: list[dict[str, Any]]) -> list[ev.ServerEvent]:
    delivered: list[ev.ServerEvent] = []
    async with (
        FakeRealtimeServer.serve_in_memory() as server,
        trealtime.open_session(
            url=server.url, api_key=server.api_key, connect_stream=server.connect_stream
        ) as session,
        trio.open_nursery() as nursery,
    ):

        async def read() -> None:
            async for event in session:
                delivered.append(event)

        nursery.start_soon(read)
        for frame in frames:
            await server.send_raw(orjson.dumps(frame).decode())
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    return delivered


@settings(
    max_examples=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(st.lists(st.one_of([payloads(model) for model in SERVER_MODELS]), min_size=1, max_size=6))
def test_a_session_takes_any_schema_valid_frames_in_its_stride(
    frames: list[dict[str, Any]],
) -> None:
    # The mirror, the tools, playback and metrics all see these events; none may fail on a
    # field the schema lets the server leave out (the session would end with the error).
    clock = trio.testing.MockClock(autojump_threshold=0)
    delivered = trio.run(_deliver, frames, clock=clock)
    typed = [
        e for e in delivered if not isinstance(e, ev.UnknownServerEvent | ev.InvalidServerEvent)
    ]
    assert len(typed) == len(delivered) >= len(frames)
