from __future__ import annotations

import copy
import json
from typing import Any, TypeVar

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trealtime._errors import ConfigurationError
from trealtime._wire._codec import to_dict
from trealtime._wire._notgiven import NOT_GIVEN, NotGiven, is_given
from trealtime._wire._session_models import (
    AudioConfig,
    AudioFormat,
    AudioInput,
    AudioOutput,
    FunctionTool,
    InputAudioTranscription,
    NoiseReduction,
    Prompt,
    Reasoning,
    SemanticVad,
    ServerVad,
    SessionProperties,
    Tool,
    TracingConfig,
)
from trealtime._wire._settings import (
    RealtimeSettings,
    ignored_settings,
    merge_session,
    session_update_for,
)

T = TypeVar("T")
SP = SessionProperties
M = "gpt-realtime-1.5"
FIELDS = [f.name for f in attrs.fields(RealtimeSettings) if f.name != "extra"]
FLAT_SP_KEYS = sorted({f.name for f in attrs.fields(SP)} - {"model"} - set(FIELDS))
NEVER_SENT = ("model", "id", "object", "expires_at")


def _default(**changes: Any) -> RealtimeSettings:
    """A full store, as a service would build it (pipecat's defaults)."""
    store = RealtimeSettings(
        model=M,
        system_instruction=None,
        temperature=None,
        max_tokens=None,
        top_p=None,
        top_k=None,
        frequency_penalty=None,
        presence_penalty=None,
        seed=None,
        filter_incomplete_user_turns=False,
        user_turn_completion_config=None,
        session_properties=SP(),
    )
    return attrs.evolve(store, **changes)


def _str_or_not_given(value: object) -> object:
    return value if isinstance(value, str) else NOT_GIVEN


def _assert_synced(s: RealtimeSettings) -> None:
    sp = s.session_properties
    if isinstance(sp, SP):
        assert sp.model == _str_or_not_given(s.model)
        assert sp.instructions == _str_or_not_given(s.system_instruction)


# -- the base semantics (pipecat §2.2) -------------------------------------------------------------


def test_changed_fields_map_to_old_values() -> None:
    store = RealtimeSettings(temperature=0.7, max_tokens=100)
    delta = RealtimeSettings(temperature=0.9, max_tokens=200, top_p=0.95)
    assert store.apply_update(delta) == {"temperature": 0.7, "max_tokens": 100, "top_p": NOT_GIVEN}
    assert (store.temperature, store.max_tokens, store.top_p) == (0.9, 200, 0.95)
    assert store.apply_update(delta) == {}
    assert store.apply_update(RealtimeSettings()) == {}


def test_none_is_a_value() -> None:
    store = RealtimeSettings()
    assert store.apply_update(RealtimeSettings(system_instruction=None)) == {
        "system_instruction": NOT_GIVEN
    }
    assert store.system_instruction is None


def test_extra_merges_key_by_key() -> None:
    store = RealtimeSettings(extra={"speed": 1.0, "stability": 0.5})
    assert store.apply_update(RealtimeSettings(extra={"speed": 1.2, "new": 1})) == {
        "speed": 1.0,
        "new": NOT_GIVEN,
    }
    assert store.extra == {"speed": 1.2, "stability": 0.5, "new": 1}


def test_given_fields_and_copy() -> None:
    s = RealtimeSettings(model="m", temperature=None, extra={"x": [1]})
    assert s.given_fields() == {"model": "m", "temperature": None, "x": [1]}
    duplicate = s.copy()
    assert duplicate == s
    duplicate.extra["x"].append(2)
    assert s.extra == {"x": [1]}


# -- apply_update with session properties (pipecat §2.3, edge rows fixed) --------------------------

_OLD_SP = SP(
    output_modalities=["audio", "text"],
    instructions="Old",
    audio=AudioConfig(output=AudioOutput(voice="marin")),
)

APPLY_CASES = [
    pytest.param(
        _default(),
        RealtimeSettings(model="m2"),
        {"model": M, "session_properties": SP(model=M)},
        _default(model="m2"),
        id="top-level model syncs into the SP",
    ),
    pytest.param(
        _default(),
        RealtimeSettings(system_instruction="Be helpful."),
        {"system_instruction": None, "session_properties": SP(model=M)},
        _default(system_instruction="Be helpful."),
        id="top-level instruction syncs into the SP",
    ),
    pytest.param(
        _default(system_instruction="Old", session_properties=_OLD_SP),
        RealtimeSettings(session_properties=SP(output_modalities=["text"])),
        {"session_properties": attrs.evolve(_OLD_SP, model=M)},
        _default(
            system_instruction="Old",
            session_properties=attrs.evolve(_OLD_SP, model=M, output_modalities=["text"]),
        ),
        id="SP merged (the audio kept), model and instructions re-synced from the top level",
    ),
    pytest.param(
        _default(),
        RealtimeSettings(session_properties=SP(model="sp-m")),
        {"model": M, "session_properties": SP(model=M)},
        _default(model="sp-m"),
        id="SP model pulled up",
    ),
    pytest.param(
        _default(),
        RealtimeSettings(session_properties=SP(instructions="New")),
        {"system_instruction": None, "session_properties": SP(model=M)},
        _default(system_instruction="New"),
        id="SP instructions pulled up",
    ),
    pytest.param(
        _default(),
        RealtimeSettings(model="top", session_properties=SP(model="sp")),
        {"model": M, "session_properties": SP(model=M)},
        _default(model="top"),
        id="top-level model wins",
    ),
    pytest.param(
        _default(),
        RealtimeSettings(system_instruction="top", session_properties=SP(instructions="sp")),
        {"system_instruction": None, "session_properties": SP(model=M)},
        _default(system_instruction="top"),
        id="top-level instruction wins",
    ),
    pytest.param(
        _default(system_instruction="Keep me.", session_properties=SP(instructions="Keep me.")),
        RealtimeSettings(temperature=0.5),
        {"temperature": None},
        _default(system_instruction="Keep me.", temperature=0.5),
        id="unsynced field leaves the SP alone",
    ),
    pytest.param(
        _default(),
        RealtimeSettings(model=M, session_properties=SP(model="sp")),
        {},
        _default(),
        id="edge: an unchanged top-level model still wins (pipecat: SP wins)",
    ),
    pytest.param(
        _default(system_instruction="same"),
        RealtimeSettings(system_instruction="same", session_properties=SP(instructions="sp")),
        {},
        _default(system_instruction="same"),
        id="edge: an unchanged top-level instruction still wins (pipecat: SP wins)",
    ),
    pytest.param(
        _default(system_instruction="x"),
        RealtimeSettings(system_instruction=None),
        {"system_instruction": "x", "session_properties": SP(model=M, instructions="x")},
        _default(),
        id="None instruction clears the SP's (NOT_GIVEN; pipecat: None)",
    ),
    pytest.param(
        _default(),
        RealtimeSettings(model=None),
        {"model": M, "session_properties": SP(model=M)},
        _default(model=None),
        id="None model clears the SP's (pipecat: left stale)",
    ),
    pytest.param(
        _default(session_properties=SP(output_modalities=["text"])),
        RealtimeSettings(session_properties=SP(output_modalities=["text"])),
        {},
        _default(session_properties=SP(output_modalities=["text"])),
        id="an equal SP is no change",
    ),
    pytest.param(
        _default(),
        RealtimeSettings(extra={"voice": "ash"}),
        {"voice": NOT_GIVEN},
        _default(extra={"voice": "ash"}),
        id="extra keys are reported by their own key",
    ),
]


@pytest.mark.parametrize(("store", "delta", "changed", "result"), APPLY_CASES)
def test_apply_update(
    store: RealtimeSettings,
    delta: RealtimeSettings,
    changed: dict[str, Any],
    result: RealtimeSettings,
) -> None:
    store = store.copy()
    assert store.apply_update(delta) == changed
    assert store == result
    _assert_synced(store)


def test_construction_syncs_and_top_level_wins() -> None:
    s = RealtimeSettings(model="m", session_properties=SP(model="sp", instructions="x"))
    assert s.model == "m"
    assert s.system_instruction == "x"
    assert s.session_properties == SP(model="m", instructions="x")


def test_store_keeps_the_sp_object_when_nothing_synced_changes() -> None:
    store = _default(system_instruction="Keep me.")
    sp = store.session_properties
    store.apply_update(RealtimeSettings(temperature=0.5))
    assert store.session_properties is sp


def test_store_never_shares_the_deltas_sp() -> None:
    delta_sp = SP(output_modalities=["text"], model=M)
    delta = RealtimeSettings(session_properties=delta_sp)
    store = _default()
    store.apply_update(delta)
    stored = store.session_properties
    assert isinstance(stored, SP)
    assert stored == delta_sp
    assert stored is not delta_sp
    assert isinstance(stored.output_modalities, list)
    stored.output_modalities.append("audio")
    assert delta_sp.output_modalities == ["text"]


def test_a_delta_changed_after_construction_still_obeys_top_level_wins() -> None:
    delta = RealtimeSettings(model="top")
    delta.session_properties = SP(model="sp", instructions="i")
    store = _default()
    store.apply_update(delta)
    assert (store.model, store.system_instruction) == ("top", "i")
    assert store.session_properties == SP(model="top", instructions="i")
    assert delta.session_properties == SP(model="sp", instructions="i")


# -- from_mapping / to_mapping (pipecat §2.4) ------------------------------------------------------


def test_from_mapping_routes_sp_keys_and_syncs() -> None:
    s = RealtimeSettings.from_mapping(
        {"instructions": "Be concise.", "output_modalities": ["text"]}
    )
    assert s.session_properties == SP(instructions="Be concise.", output_modalities=["text"])
    assert s.system_instruction == "Be concise."  # pipecat: only after apply_update


def test_from_mapping_top_level_keys() -> None:
    assert RealtimeSettings.from_mapping({"model": "m2"}) == RealtimeSettings(model="m2")
    s = RealtimeSettings.from_mapping(
        {"system_instruction": "si", "temperature": 0.3, "max_tokens": 5}
    )
    assert s == RealtimeSettings(system_instruction="si", temperature=0.3, max_tokens=5)
    assert RealtimeSettings.from_mapping({"foo": 1}) == RealtimeSettings(extra={"foo": 1})


def test_from_mapping_beta_keys_go_to_extra() -> None:
    beta = {
        "voice": "ash",
        "turn_detection": None,
        "modalities": ["text"],
        "input_audio_format": "pcm16",
        "input_audio_transcription": {"model": "whisper-1"},
    }
    assert RealtimeSettings.from_mapping(beta) == RealtimeSettings(extra=beta)


def test_from_mapping_structures_nested_values() -> None:
    s = RealtimeSettings.from_mapping(
        {"audio": {"output": {"voice": "ash"}}, "tool_choice": "none", "max_output_tokens": "inf"}
    )
    assert s.session_properties == SP(
        audio=AudioConfig(output=AudioOutput(voice="ash")),
        tool_choice="none",
        max_output_tokens="inf",
    )


def test_from_mapping_accepts_model_objects() -> None:
    audio = AudioConfig(input=AudioInput(turn_detection=SemanticVad(eagerness="low")))
    tools: list[Tool] = [FunctionTool(name="f", parameters={"type": "object"})]
    s = RealtimeSettings.from_mapping({"audio": audio, "tools": tools})
    assert s.session_properties == SP(audio=audio, tools=tools)


def test_from_mapping_lays_flat_keys_over_an_explicit_sp() -> None:
    explicit = SP(instructions="A", output_modalities=["text"], temperature=0.7)
    s = RealtimeSettings.from_mapping({"session_properties": explicit, "instructions": "B"})
    # pipecat drops the explicit SP and keeps only ``instructions="B"``
    assert s.session_properties == SP(instructions="B", output_modalities=["text"], temperature=0.7)
    as_dict = RealtimeSettings.from_mapping({"session_properties": {"tool_choice": "auto"}})
    assert as_dict.session_properties == SP(tool_choice="auto")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"max_output_tokens": "lots"}, r"\$\.max_output_tokens"),
        (
            {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": "high"}}}},
            r"\$\.audio\.input\.turn_detection\.threshold",
        ),
        ({"tools": [{"type": "function", "name": 5}]}, r"\$\.tools\[0\]\.name"),
        ({"temperature": "hot"}, "'temperature'"),
        ({"seed": 1.5}, "'seed'"),
        ({"session_properties": 3}, "'session_properties'"),
        ({"session_properties": {"include": [1]}, "model": "m"}, r"\$\.include\[0\]"),
    ],
)
def test_from_mapping_rejects_bad_values(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RealtimeSettings.from_mapping(mapping)


def test_to_mapping_flattens_and_keeps_what_cannot_be_flat() -> None:
    s = RealtimeSettings(
        model="m",
        temperature=0.5,
        extra={"x": 1},
        session_properties=SP(instructions="i", temperature=0.8, tool_choice="auto"),
    )
    assert s.to_mapping() == {
        "model": "m",
        "system_instruction": "i",
        "temperature": 0.5,
        "session_properties": {"temperature": 0.8},
        "tool_choice": "auto",
        "x": 1,
    }
    # session properties holding only the synced fields still replace the stored ones
    only_synced = RealtimeSettings(model="m", session_properties=SP(instructions="i"))
    mapping = only_synced.to_mapping()
    assert mapping == {"model": "m", "system_instruction": "i", "session_properties": {}}
    assert RealtimeSettings.from_mapping(mapping) == only_synced


def test_mapping_round_trip_is_one_way() -> None:
    """``from_mapping`` then ``to_mapping`` normalises: SP instructions move to the top level."""
    s = RealtimeSettings.from_mapping({"instructions": "x"})
    assert s.to_mapping() == {"system_instruction": "x", "session_properties": {}}


# -- session_update_for ----------------------------------------------------------------------------

_VAD = ServerVad(threshold=0.5, silence_duration_ms=500)
_FULL = SP(
    model=M,
    id="sess_1",
    object="realtime.session",
    expires_at=1,
    instructions="i",
    output_modalities=["audio"],
    audio=AudioConfig(
        input=AudioInput(
            format=AudioFormat.pcm(),
            transcription=InputAudioTranscription(model="whisper-1"),
            noise_reduction=NoiseReduction(type="near_field"),
            turn_detection=_VAD,
        ),
        output=AudioOutput(voice="marin"),
    ),
    tools=[FunctionTool(name="f")],
    tool_choice="auto",
    reasoning=Reasoning(effort="low"),
    max_output_tokens=100,
    prompt=Prompt(id="p"),
    include=["item.input_audio_transcription.logprobs"],
    tracing="auto",
)


def _with_turn_detection(turn_detection: Any) -> SP:
    assert isinstance(_FULL.audio, AudioConfig)
    assert isinstance(_FULL.audio.input, AudioInput)
    audio_input = attrs.evolve(_FULL.audio.input, turn_detection=turn_detection)
    return attrs.evolve(_FULL, audio=attrs.evolve(_FULL.audio, input=audio_input))


def test_update_sends_only_the_changed_nested_field_and_a_variant_whole() -> None:
    vad = attrs.evolve(_VAD, threshold=0.6)
    update = session_update_for(_FULL, _with_turn_detection(vad))
    assert update == SP(audio=AudioConfig(input=AudioInput(turn_detection=vad)))
    assert to_dict(update) == {
        "type": "realtime",
        "audio": {"input": {"turn_detection": to_dict(vad)}},
    }


def test_update_sends_a_whole_new_variant() -> None:
    semantic = SemanticVad(eagerness="low")
    update = session_update_for(_FULL, _with_turn_detection(semantic))
    assert update == SP(audio=AudioConfig(input=AudioInput(turn_detection=semantic)))


def test_update_never_turns_not_given_into_null() -> None:
    # Only the instructions, which the sync leaves NOT_GIVEN for system_instruction=None, are
    # cleared; every other field left out keeps the server's value.
    update = session_update_for(_FULL, SP(model="other"))
    assert to_dict(update) == {"type": "realtime", "instructions": ""}


def test_update_sends_an_explicit_null() -> None:
    update = session_update_for(_FULL, _with_turn_detection(None))
    assert to_dict(update) == {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    assert to_dict(session_update_for(SP(), SP(tracing=None))) == {
        "type": "realtime",
        "tracing": None,
    }


def test_update_is_none_without_changes_and_never_sends_model_or_echo_fields() -> None:
    assert session_update_for(_FULL, _FULL) is None
    echo = attrs.evolve(_FULL, model="m2", id="sess_2", object="x", expires_at=2)
    assert session_update_for(_FULL, echo) is None
    assert session_update_for(SP(instructions=""), SP()) is None  # already cleared
    first = session_update_for(NOT_GIVEN, _FULL)
    assert first == attrs.evolve(
        _FULL, model=NOT_GIVEN, id=NOT_GIVEN, object=NOT_GIVEN, expires_at=NOT_GIVEN
    )
    assert session_update_for(NOT_GIVEN, SP(model=M)) is None


# -- properties ------------------------------------------------------------------------------------


def _opt(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | NotGiven]:
    return st.just(NOT_GIVEN) | strategy


def _nullable(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | NotGiven | None]:
    return st.just(NOT_GIVEN) | st.none() | strategy


_names = st.sampled_from(["a", "b"])
_turn_detection = st.one_of(
    st.none(),
    st.builds(
        ServerVad,
        threshold=_opt(st.sampled_from([0.5, 0.6])),
        silence_duration_ms=_opt(st.sampled_from([200, 500])),
    ),
    st.builds(SemanticVad, eagerness=_opt(st.sampled_from(["low", "high"]))),
)
_session_properties = st.builds(
    SP,
    model=_opt(_names),
    instructions=_opt(_names),
    output_modalities=_opt(st.sampled_from(["audio", "text"]).map(lambda m: [m])),
    audio=_opt(
        st.builds(
            AudioConfig,
            input=_opt(st.builds(AudioInput, turn_detection=_opt(_turn_detection))),
            output=_opt(st.builds(AudioOutput, voice=_opt(_names))),
        )
    ),
    tools=_opt(
        st.lists(st.builds(FunctionTool, name=_names, description=_opt(_names)), max_size=2)
    ),
    tool_choice=_opt(st.sampled_from(["auto", "none"])),
    max_output_tokens=_opt(st.sampled_from([100, "inf"])),
    tracing=_nullable(st.just("auto") | st.builds(TracingConfig, workflow_name=_opt(_names))),
    temperature=_opt(st.just(0.7)),
)
_extra = st.dictionaries(
    st.sampled_from(["x_voice", "x_speed"]),
    st.integers(0, 1) | st.lists(st.integers(0, 1), max_size=2),
    max_size=2,
)


_maybe_session_properties = _opt(
    _session_properties | st.builds(SP, model=_opt(_names), instructions=_opt(_names))
)


def _settings(
    session_properties: st.SearchStrategy[SP | NotGiven] = _maybe_session_properties,
    extra: st.SearchStrategy[dict[str, Any]] = _extra,
) -> st.SearchStrategy[RealtimeSettings]:
    floats = _nullable(st.sampled_from([0.5, 0.8]))
    ints = _nullable(st.integers(1, 2))
    return st.builds(
        RealtimeSettings,
        model=_nullable(_names),
        extra=extra,
        system_instruction=_nullable(_names),
        temperature=floats,
        max_tokens=ints,
        top_p=floats,
        top_k=ints,
        frequency_penalty=floats,
        presence_penalty=floats,
        seed=ints,
        filter_incomplete_user_turns=_nullable(st.booleans()),
        user_turn_completion_config=_nullable(
            st.dictionaries(_names, st.integers(0, 1), max_size=2)
        ),
        session_properties=session_properties,
    )


@st.composite
def _deltas(draw: st.DrawFn) -> RealtimeSettings:
    """Deltas, some with session properties set after construction (so not yet in sync)."""
    delta = draw(_settings())
    if draw(st.booleans()):
        delta.session_properties = draw(_maybe_session_properties)
    return delta


def _expected(store: RealtimeSettings, delta: RealtimeSettings) -> RealtimeSettings:
    """The merge contract, written out: given delta fields win, top level over SP."""
    delta_sp = delta.session_properties

    def synced(top: str, inner: str) -> Any:
        if is_given(getattr(delta, top)):
            return getattr(delta, top)
        if is_given(delta_sp) and is_given(getattr(delta_sp, inner)):
            return getattr(delta_sp, inner)
        return getattr(store, top)

    fields = {name: getattr(store, name) for name in FIELDS}
    fields.update({name: getattr(delta, name) for name in FIELDS if is_given(getattr(delta, name))})
    if not isinstance(delta_sp, NotGiven):
        fields["session_properties"] = merge_session(store.session_properties, delta_sp)
    model, instruction = synced("model", "model"), synced("system_instruction", "instructions")
    sp = fields["session_properties"]
    if is_given(sp):
        sp = attrs.evolve(
            sp, model=_str_or_not_given(model), instructions=_str_or_not_given(instruction)
        )
    fields.update(model=model, system_instruction=instruction, session_properties=sp)
    return RealtimeSettings(**fields, extra={**store.extra, **delta.extra})


def _scribble(s: RealtimeSettings) -> None:
    """Change every container the store holds, to expose any sharing with the delta."""
    sp = s.session_properties
    containers = [s.extra, *s.extra.values(), s.user_turn_completion_config]
    if isinstance(sp, SP):
        containers += [sp.output_modalities, sp.tools]
    for container in containers:
        if isinstance(container, list):
            container.append(9)
        elif isinstance(container, dict):
            container["scribble"] = 9


@settings(deadline=None, max_examples=100)
@given(store=_settings(), delta=_deltas())
def test_apply_update_contract(store: RealtimeSettings, delta: RealtimeSettings) -> None:
    before, snapshot = store.copy(), copy.deepcopy(delta)
    expected = _expected(store, delta)
    changed = store.apply_update(delta)
    assert store == expected
    _assert_synced(store)
    for name in FIELDS:
        old = getattr(before, name)
        if getattr(store, name) != old:
            assert name in changed
            assert changed[name] == old
        else:
            assert name not in changed
    extra_changed = {
        key: before.extra.get(key, NOT_GIVEN)
        for key in before.extra.keys() | store.extra.keys()
        if before.extra.get(key, NOT_GIVEN) != store.extra.get(key, NOT_GIVEN)
    }
    assert {key: old for key, old in changed.items() if key not in FIELDS} == extra_changed
    assert store.apply_update(delta) == {}
    _scribble(store)
    assert delta == snapshot


@settings(deadline=None, max_examples=100)
@given(store=_settings(), deltas=st.lists(_deltas(), max_size=4))
def test_sync_invariant_holds_after_any_updates(
    store: RealtimeSettings, deltas: list[RealtimeSettings]
) -> None:
    _assert_synced(store)
    for delta in deltas:
        store.apply_update(delta)
        _assert_synced(store)


@settings(deadline=None, max_examples=100)
@given(
    top=_settings(session_properties=st.just(NOT_GIVEN), extra=st.just({})),
    sp=_session_properties,
    unknown=_extra,
    as_json=st.booleans(),
)
def test_from_mapping_sends_every_key_to_one_place(
    top: RealtimeSettings, sp: SP, unknown: dict[str, Any], as_json: bool
) -> None:
    flat = {key: getattr(sp, key) for key in FLAT_SP_KEYS if is_given(getattr(sp, key))}
    mapping = {
        **top.given_fields(),
        **{key: to_dict(value) if as_json else value for key, value in flat.items()},
        **unknown,
    }
    assert RealtimeSettings.from_mapping(mapping) == RealtimeSettings(
        **top.given_fields(),
        session_properties=SP(**flat) if flat else NOT_GIVEN,
        extra=unknown,
    )


@settings(deadline=None, max_examples=100)
@given(s=_settings())
def test_from_mapping_inverts_to_mapping(s: RealtimeSettings) -> None:
    mapping = s.to_mapping()
    json.dumps(mapping)  # plain data only
    assert RealtimeSettings.from_mapping(mapping) == s


@settings(deadline=None, max_examples=100)
@given(previous=_maybe_session_properties, new=_session_properties)
def test_session_update_for_sends_only_changes(previous: SP | NotGiven, new: SP) -> None:
    update = session_update_for(previous, new)
    old = previous if is_given(previous) else SP()
    assert session_update_for(new, new) is None
    if update is None:
        return
    assert to_dict(update)["type"] == "realtime"
    for name in NEVER_SENT:
        assert getattr(update, name) is NOT_GIVEN
    for field in attrs.fields(SP):
        if getattr(old, field.name) == getattr(new, field.name):
            assert getattr(update, field.name) is NOT_GIVEN


@pytest.mark.parametrize("wrong", ["previous", "new"])
def test_session_update_for_refuses_settings_with_a_clear_type_error(wrong: str) -> None:
    settings = RealtimeSettings(system_instruction="Be brief.")
    properties = SessionProperties(instructions="Be brief.")
    arguments: dict[str, Any] = {"previous": properties, "new": properties, wrong: settings}
    with pytest.raises(TypeError, match=rf"SessionProperties, got RealtimeSettings for {wrong}"):
        session_update_for(arguments["previous"], arguments["new"])


# -- issue 14: a delta means what the user changed; the seed's three edges -------------------------


def _null_paths(value: Any, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    if value is None:
        return {path}
    if isinstance(value, dict):
        return {p for key, inner in value.items() for p in _null_paths(inner, (*path, key))}
    return set()


@settings(deadline=None, max_examples=200)
@given(store=_settings(), delta=_session_properties)
def test_not_given_never_becomes_null_on_the_wire(store: RealtimeSettings, delta: SP) -> None:
    """Every ``null`` sent is a ``None`` the delta gave; what it left out keeps its value."""
    before = _sp_of(store)
    store.apply_update(RealtimeSettings(session_properties=delta))
    update = session_update_for(before, _sp_of(store))
    sent = to_dict(update) if update is not None else {}
    assert _null_paths(sent) <= _null_paths(to_dict(delta))
    after = store.session_properties
    assert isinstance(after, SP)
    for field in attrs.fields(SP):
        if field.name not in ("model", "instructions") and not is_given(getattr(delta, field.name)):
            assert getattr(after, field.name) == getattr(before, field.name)


def _sp_of(store: RealtimeSettings) -> SP:
    sp = store.session_properties
    return sp if isinstance(sp, SP) else SP()


@settings(deadline=None, max_examples=100)
@given(
    store=_settings(session_properties=_session_properties),
    model=_names,
    instruction=_names,
)
def test_a_synced_top_level_change_is_reported_as_a_session_properties_change(
    store: RealtimeSettings, model: str, instruction: str
) -> None:
    before = store.copy()
    changed = store.apply_update(RealtimeSettings(model=model, system_instruction=instruction))
    assert isinstance(store.session_properties, SP)
    assert store.session_properties.model == model
    assert store.session_properties.instructions == instruction
    if store.session_properties != before.session_properties:
        assert changed["session_properties"] == before.session_properties


@settings(deadline=None, max_examples=100)
@given(store=_settings(session_properties=_session_properties))
def test_system_instruction_none_syncs_instructions_to_not_given(store: RealtimeSettings) -> None:
    store.apply_update(RealtimeSettings(system_instruction=None))
    assert store.system_instruction is None
    assert isinstance(store.session_properties, SP)
    assert store.session_properties.instructions is NOT_GIVEN
    assert RealtimeSettings(
        system_instruction=None, session_properties=SP(instructions="x")
    ).session_properties == SP(instructions=NOT_GIVEN)


@settings(deadline=None, max_examples=100)
@given(instruction=_names, sp=_session_properties)
def test_from_mapping_instructions_set_the_top_level_system_instruction(
    instruction: str, sp: SP
) -> None:
    flat = {key: to_dict(getattr(sp, key)) for key in FLAT_SP_KEYS if is_given(getattr(sp, key))}
    delta = RealtimeSettings.from_mapping({**flat, "instructions": instruction})
    assert delta.system_instruction == instruction
    assert isinstance(delta.session_properties, SP)
    assert delta.session_properties.instructions == instruction


def test_a_partial_audio_delta_keeps_turn_detection_and_transcription() -> None:
    store = RealtimeSettings(session_properties=_FULL)
    delta = RealtimeSettings(
        session_properties=SP(audio=AudioConfig(output=AudioOutput(voice="cedar")))
    )
    changed = store.apply_update(delta)
    assert changed == {"session_properties": _FULL}
    update = session_update_for(_FULL, _sp_of(store))
    assert to_dict(update) == {"type": "realtime", "audio": {"output": {"voice": "cedar"}}}
    audio = _sp_of(store).audio
    assert isinstance(audio, AudioConfig) and isinstance(audio.input, AudioInput)
    assert audio.input.turn_detection == _VAD


WRONG_TYPES: list[tuple[Any, dict[str, Any], str]] = [
    (RealtimeSettings, {"system_instruction": 123}, "int"),
    (SP, {"instructions": 5}, "int"),
    (AudioOutput, {"voice": 42}, "int"),
    (SP, {"output_modalities": "text"}, "str"),
    (SP, {"max_output_tokens": "lots"}, "str"),
    (ServerVad, {"threshold": "high"}, "str"),
    (RealtimeSettings, {"temperature": "hot"}, "str"),
]


@pytest.mark.parametrize(("cls", "kwargs", "type_name"), WRONG_TYPES)
def test_wrong_types_are_refused_when_built(
    cls: Any, kwargs: dict[str, Any], type_name: str
) -> None:
    (field,) = kwargs
    with pytest.raises(ConfigurationError, match=rf"{field} must be .*, got {type_name}$"):
        cls(**kwargs)
    with pytest.raises(ConfigurationError, match="instructions"):
        RealtimeSettings.from_mapping({"instructions": 5})


def test_ignored_settings_name_what_to_use_instead() -> None:
    settings_ = RealtimeSettings(temperature=0.5, max_tokens=10, seed=None, extra={"voice": "x"})
    ignored = ignored_settings(settings_)
    assert set(ignored) == {"temperature", "max_tokens", "voice"}
    assert "max_output_tokens" in ignored["max_tokens"]
    assert "audio.output.voice" in ignored["voice"]
