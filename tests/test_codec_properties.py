"""Property tests of the codec, driven by ``trealtime.testing.strategies``.

- every event class round-trips: ``decode(encode(event)) == event``;
- so does every nested model through ``to_dict`` / ``from_dict``;
- nothing a peer sends makes the decoders raise: arbitrary JSON, JSON objects with known ``type``
  tags and made-up bodies, valid events with one value broken, arbitrary bytes and text; in strict
  mode the only exception is ``RemoteProtocolError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trealtime
from trealtime import events as ev
from trealtime.testing import strategies as rts

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SERVER_CLASSES = [pytest.param(cls, id=cls.TYPE) for cls in ev.SERVER_EVENT_CLASSES]
CLIENT_CLASSES = [pytest.param(cls, id=cls.TYPE) for cls in ev.CLIENT_EVENT_CLASSES]
MODEL_CLASSES = sorted(
    (
        cls
        for name in ev.__all__
        if isinstance(cls := getattr(ev, name), type)
        and attrs.has(cls)
        and not issubclass(cls, ev.ServerEvent | ev.ClientEvent)
    ),
    key=lambda cls: cls.__name__,
)

# -- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", SERVER_CLASSES)
@PROPERTY
@given(data=st.data())
def test_server_event_round_trips(cls: type[ev.ServerEvent], data: st.DataObject) -> None:
    event = data.draw(rts.events_of(cls))
    assert type(event) is cls
    text = ev.encode_server_event(event)
    assert ev.decode_server_event(text) == event
    assert ev.decode_server_event(text.encode(), strict=True) == event


@pytest.mark.parametrize("cls", CLIENT_CLASSES)
@PROPERTY
@given(data=st.data())
def test_client_event_round_trips(cls: type[ev.ClientEvent], data: st.DataObject) -> None:
    event = data.draw(rts.events_of(cls))
    assert type(event) is cls
    text = ev.encode_client_event(event)
    assert ev.decode_client_event(text) == event
    assert ev.decode_client_event(text.encode(), strict=True) == event


@PROPERTY
@given(event=rts.events_of(ev.UnknownServerEvent))
def test_unknown_server_event_round_trips(event: ev.UnknownServerEvent) -> None:
    assert event.type not in {cls.TYPE for cls in ev.SERVER_EVENT_CLASSES}
    assert event.raw["type"] == event.type
    assert ev.decode_server_event(ev.encode_server_event(event), strict=True) == event


@PROPERTY
@given(event=rts.events_of(ev.UnknownClientEvent))
def test_unknown_client_event_round_trips(event: ev.UnknownClientEvent) -> None:
    assert event.raw["type"] == event.type
    assert ev.decode_client_event(ev.encode_client_event(event), strict=True) == event


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=[cls.__name__ for cls in MODEL_CLASSES])
@PROPERTY
@given(data=st.data())
def test_model_round_trips_through_dicts(cls: type[Any], data: st.DataObject) -> None:
    value = data.draw(rts.models_of(cls))
    assert type(value) is cls
    assert ev.from_dict(orjson.loads(orjson.dumps(ev.to_dict(value))), cls) == value


@PROPERTY
@given(
    server=rts.server_events(include_unknown=True),
    client=rts.client_events(include_unknown=True),
)
def test_union_strategies(server: ev.ServerEvent, client: ev.ClientEvent) -> None:
    assert isinstance(server, (*ev.SERVER_EVENT_CLASSES, ev.UnknownServerEvent))
    assert isinstance(client, (*ev.CLIENT_EVENT_CLASSES, ev.UnknownClientEvent))
    assert ev.decode_server_event(ev.encode_server_event(server)) == server
    assert ev.decode_client_event(ev.encode_client_event(client)) == client


@PROPERTY
@given(
    item=rts.items(),
    part=rts.content_parts(),
    tool=rts.tools(),
    turn_detection=rts.turn_detections(),
)
def test_nested_union_strategies_round_trip(
    item: ev.Item, part: ev.ContentPart, tool: ev.Tool, turn_detection: ev.TurnDetection
) -> None:
    event = ev.SessionUpdate(
        session=ev.SessionProperties(
            tools=[tool], audio=ev.AudioConfig(input=ev.AudioInput(turn_detection=turn_detection))
        )
    )
    assert ev.decode_client_event(ev.encode_client_event(event)) == event
    added = ev.ConversationItemAdded(item=item)
    assert ev.decode_server_event(ev.encode_server_event(added)) == added
    message = ev.ConversationItemCreate(item=ev.MessageItem(role="assistant", content=[part]))
    assert ev.decode_client_event(ev.encode_client_event(message)) == message


@PROPERTY
@given(event=rts.events_of(ev.InvalidServerEvent))
def test_invalid_server_events_decode_as_invalid(event: ev.InvalidServerEvent) -> None:
    decoded = ev.decode_server_event(ev.encode_server_event(event))
    assert type(decoded) is ev.InvalidServerEvent
    assert (decoded.type, decoded.event_id, decoded.raw) == (event.type, event.event_id, event.raw)


@PROPERTY
@given(event=rts.events_of(ev.InvalidClientEvent))
def test_invalid_client_events_decode_as_invalid(event: ev.InvalidClientEvent) -> None:
    decoded = ev.decode_client_event(ev.encode_client_event(event))
    assert type(decoded) is ev.InvalidClientEvent
    assert (decoded.type, decoded.event_id, decoded.raw) == (event.type, event.event_id, event.raw)


@FUZZ
@given(audio=st.binary(max_size=4096), event_id=st.text() | st.just(trealtime.NOT_GIVEN))
def test_audio_bytes_round_trip(audio: bytes, event_id: str | trealtime.NotGiven) -> None:
    append = ev.InputAudioBufferAppend.from_bytes(audio, event_id=event_id)
    decoded = ev.decode_client_event(ev.encode_client_event(append))
    assert isinstance(decoded, ev.InputAudioBufferAppend)
    assert decoded.audio_bytes() == audio
    delta = ev.ResponseOutputAudioDelta(
        response_id="resp_1", item_id="item_1", output_index=0, content_index=0, delta=append.audio
    )
    decoded_delta = ev.decode_server_event(ev.encode_server_event(delta))
    assert isinstance(decoded_delta, ev.ResponseOutputAudioDelta)
    assert decoded_delta.audio_bytes() == audio
    assert ev.InputAudio(audio=append.audio).audio_bytes() == audio


# -- decoding never raises ------------------------------------------------------------------------


def _tags(classes: Any) -> set[str]:
    return {tag for cls in classes if isinstance(tag := getattr(cls, "TYPE", None), str)}


_MODEL_TAGS = _tags(MODEL_CLASSES) | {"text", "audio"}
KNOWN_TAGS = sorted(
    _tags(ev.SERVER_EVENT_CLASSES) | set(ev.BETA_ALIASES) | _tags(ev.CLIENT_EVENT_CLASSES)
)
ANY_TAGS = sorted(set(KNOWN_TAGS) | _MODEL_TAGS)
FIELD_NAMES = sorted(
    {
        field.name
        for cls in (*MODEL_CLASSES, *ev.SERVER_EVENT_CLASSES, *ev.CLIENT_EVENT_CLASSES)
        for field in attrs.fields(cls)
    }
)
_KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "inf", "auto", "audio/pcm", *ANY_TAGS[:10]])
    | st.text(max_size=8)
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    tagged = st.builds(
        lambda tag, body: {**body, "type": tag},
        st.sampled_from(ANY_TAGS),
        st.dictionaries(_KEYS, children, max_size=5),
    )
    return st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=5) | tagged


JSON_VALUES = st.recursive(_SCALARS, _containers, max_leaves=25)
EVENT_LIKE = st.builds(
    lambda tag, body: {**body, "type": tag},
    st.sampled_from(KNOWN_TAGS),
    st.dictionaries(_KEYS, JSON_VALUES, max_size=8),
)


def _jsonable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits inside
        return False
    return True


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid server or client event with one value replaced or removed somewhere inside."""
    event: ev.ServerEvent | ev.ClientEvent = draw(rts.server_events() | rts.client_events())
    if isinstance(event, ev.ServerEvent):
        obj = orjson.loads(ev.encode_server_event(event))
    else:
        obj = orjson.loads(ev.encode_client_event(event))
    slots: list[tuple[Any, Any]] = []

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                slots.append((value, key))
                collect(child)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                slots.append((value, index))
                collect(child)

    collect(obj)
    container, key = draw(st.sampled_from(slots))
    if isinstance(container, dict) and draw(st.booleans()):
        del container[key]
    else:
        container[key] = draw(JSON_VALUES.filter(_jsonable))
    return orjson.dumps(obj)


def _check_decoders(frame: str | bytes) -> None:
    """Both decoders return an event for ``frame``; strict mode raises only RemoteProtocolError,
    exactly when the lenient mode reports an invalid frame; and what decodes re-encodes stably."""
    sides: list[tuple[Callable[..., Any], Callable[[Any], str], type[Any], type[Any]]] = [
        (ev.decode_server_event, ev.encode_server_event, ev.ServerEvent, ev.InvalidServerEvent),
        (ev.decode_client_event, ev.encode_client_event, ev.ClientEvent, ev.InvalidClientEvent),
    ]
    for decode, encode, base, invalid in sides:
        event = decode(frame)
        assert isinstance(event, base)
        if type(event) is invalid:
            with pytest.raises(trealtime.RemoteProtocolError) as info:
                decode(frame, strict=True)
            assert info.value.raw == event.raw
        else:
            assert decode(frame, strict=True) == event
            assert decode(encode(event)) == event


@FUZZ
@given(value=JSON_VALUES)
def test_any_json_value_decodes(value: Any) -> None:
    try:
        frame = orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits; not something a peer can send
        return
    _check_decoders(frame)
    _check_decoders(frame.decode())


@FUZZ
@given(obj=EVENT_LIKE)
def test_known_type_with_any_body_decodes(obj: dict[str, Any]) -> None:
    try:
        frame = orjson.dumps(obj)
    except TypeError:
        return
    _check_decoders(frame)


@FUZZ
@given(frame=mutated_frames())
def test_broken_event_decodes(frame: bytes) -> None:
    _check_decoders(frame)


@FUZZ
@given(frame=st.binary(max_size=200) | st.text(max_size=200))
def test_any_bytes_or_text_decodes(frame: bytes | str) -> None:
    _check_decoders(frame)
