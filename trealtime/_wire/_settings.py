"""The settings store and its deltas, and the ``session.update`` that sends what a delta changed.

:class:`RealtimeSettings` is both the full store a session keeps and a sparse update: fields left
``NOT_GIVEN`` in a delta leave the store alone, at any depth of the session properties.
:meth:`RealtimeSettings.apply_update` reports the old value of every field it changed; when
``session_properties`` is among them, :func:`session_update_for` turns the old and new session
properties into the ``session.update`` to send: what changed, and nothing else.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Mapping
from copy import deepcopy
from typing import Any

import attrs

from .._errors import ConfigurationError
from ._codec import from_dict, to_dict
from ._notgiven import NOT_GIVEN, NotGiven, is_given
from ._session_models import Session, SessionProperties, TranscriptionSessionProperties
from ._typecheck import check_fields

__all__ = [
    "IgnoredSettingsLog",
    "RealtimeSettings",
    "ignored_settings",
    "merge_session",
    "session_update_for",
]

logger = logging.getLogger("trealtime")


@attrs.define(kw_only=True)
class RealtimeSettings:
    """Runtime settings of a realtime session: the full store, or a sparse delta of it.

    Every field but ``extra`` defaults to ``NOT_GIVEN``; ``None`` is a value, not "not given".
    ``extra`` holds keys this class does not know (see :meth:`from_mapping`). A value of the
    wrong type is refused on construction with a :class:`ConfigurationError`.

    Only ``model`` (the connection's), ``system_instruction`` and ``session_properties`` reach
    the server: the GA session has no field for the other base fields (``temperature``,
    ``max_tokens`` …) nor for ``extra``; a session logs them once as ignored
    (:func:`ignored_settings`). ``session_properties`` may be a :class:`SessionProperties` or,
    for a transcription-only session, a :class:`TranscriptionSessionProperties` (which has no
    model or instructions to sync).

    **Sync invariant.** Whenever ``session_properties`` is a :class:`SessionProperties`,
    ``session_properties.model`` is ``model`` if that is a string and ``NOT_GIVEN`` otherwise
    (``None`` included), and ``session_properties.instructions`` is likewise
    ``system_instruction`` or ``NOT_GIVEN``. It is
    established on construction and after every :meth:`apply_update` (not on assignment):

    1. a top-level ``model`` / ``system_instruction`` that is given wins over the session
       properties' value, even when they disagree;
    2. one that is not given is taken from the session properties' ``model`` / ``instructions``
       when those are given;
    3. the session properties are then replaced by a copy holding the top-level values
       (``attrs.evolve``; the object passed in is never changed).

    Construction syncs too, so a delta already shows what it will do to a store:
    ``RealtimeSettings(session_properties=SessionProperties(instructions="x"))`` has
    ``system_instruction == "x"``.
    """

    model: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)
    system_instruction: str | NotGiven | None = NOT_GIVEN
    temperature: float | NotGiven | None = NOT_GIVEN
    max_tokens: int | NotGiven | None = NOT_GIVEN
    top_p: float | NotGiven | None = NOT_GIVEN
    top_k: int | NotGiven | None = NOT_GIVEN
    frequency_penalty: float | NotGiven | None = NOT_GIVEN
    presence_penalty: float | NotGiven | None = NOT_GIVEN
    seed: int | NotGiven | None = NOT_GIVEN
    filter_incomplete_user_turns: bool | NotGiven | None = NOT_GIVEN
    user_turn_completion_config: dict[str, Any] | NotGiven | None = NOT_GIVEN
    session_properties: Session | NotGiven = NOT_GIVEN

    def __attrs_post_init__(self) -> None:
        check_fields(self)
        self._sync()

    def _sync(self) -> None:
        sp = self.session_properties
        if not isinstance(sp, SessionProperties):
            return
        if not is_given(self.model):
            self.model = sp.model
        if not is_given(self.system_instruction):
            self.system_instruction = sp.instructions
        model = _str_or_not_given(self.model)
        instructions = _str_or_not_given(self.system_instruction)
        if (sp.model, sp.instructions) != (model, instructions):
            self.session_properties = attrs.evolve(sp, model=model, instructions=instructions)

    def _given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _OWN if is_given(getattr(self, name))}

    def given_fields(self) -> dict[str, Any]:
        """Every given field except ``extra``, then the ``extra`` entries at the top level."""
        return {**self._given(), **self.extra}

    def copy(self) -> RealtimeSettings:
        """A deep copy."""
        return deepcopy(self)

    def apply_update(self, delta: RealtimeSettings) -> dict[str, Any]:
        """Merge ``delta`` into this store; return ``{name: old value}`` of what changed.

        Every given field of ``delta`` replaces the stored one; a given ``session_properties`` is
        merged into the stored one (:func:`merge_session`: what the delta leaves ``NOT_GIVEN``,
        at any depth, keeps its stored value; ``None`` is a value). ``extra`` is merged key by
        key and its changes are reported under their own keys (old value ``NOT_GIVEN`` for a
        new key). Then the sync invariant is restored, the delta's top-level values winning. A
        field is reported only if its final value differs from the old one, whatever the sync
        did on the way. ``delta`` is neither changed nor shared: the store keeps copies.
        """
        delta = delta.copy()
        delta._sync()  # a delta changed by assignment after construction may be out of sync
        before = {name: getattr(self, name) for name in _OWN}
        for name, value in delta._given().items():
            if name == "session_properties":
                value = merge_session(self.session_properties, value)
            setattr(self, name, value)
        self._sync()
        changed = {name: old for name, old in before.items() if getattr(self, name) != old}
        for key, value in delta.extra.items():
            old = self.extra.get(key, NOT_GIVEN)
            if old != value:
                self.extra[key] = value
                changed[key] = old
        return changed

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> RealtimeSettings:
        """Build a delta from a plain dict, checking every value.

        - The names of this class's fields (but ``extra``), ``model`` among them, go to the top
          level. That includes ``temperature``, although ``SessionProperties`` has one too.
        - The other ``SessionProperties`` field names (``instructions``, ``audio``, ``tools`` …)
          go into ``session_properties``, as JSON values or as model objects. An explicit
          ``session_properties`` key (a ``SessionProperties`` or a dict) is their base: the
          flat keys are laid over it.
        - Any other key goes to ``extra`` unchanged.
        - Keys whose value is ``NOT_GIVEN`` are ignored.

        Raises :class:`ConfigurationError` naming the key (or the path inside the session
        properties) of a value of the wrong type.
        """
        top: dict[str, Any] = {}
        flat: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in mapping.items():
            if is_given(value):
                target = top if key in _OWN else flat if key in _SP_KEYS else extra
                target[key] = value
        base = top.pop("session_properties", NOT_GIVEN)
        hints = typing.get_type_hints(cls)
        fields = {key: _structured(repr(key), value, hints[key]) for key, value in top.items()}
        if is_given(base) or flat:
            fields["session_properties"] = _session_properties(base, flat)
        return cls(**fields, extra=extra)

    def to_mapping(self) -> dict[str, Any]:
        """The plain-dict form, such that ``from_mapping(s.to_mapping()) == s``.

        Session properties are flattened into top-level keys, with JSON values. Their ``model``
        and ``instructions`` are left out, as the sync restores them from the top level; hence
        the round trip holds for every object in sync (any object not changed by assignment
        since it was built or last updated). Their ``temperature``, whose name the top-level
        field takes, goes under a ``session_properties`` key, which also stands in for session
        properties with nothing else given. Transcription session properties go whole (with their
        ``type``) under the ``session_properties`` key.
        ``extra`` entries are merged in last; a key that names a field does not round-trip.
        """
        mapping = {name: to_dict(value) for name, value in self._given().items()}
        sp = mapping.pop("session_properties", None)
        if isinstance(self.session_properties, TranscriptionSessionProperties):
            mapping["session_properties"] = sp
        elif sp is not None:
            for key in ("type", "model", "instructions"):
                sp.pop(key, None)  # the synced two are restored from the top level
            nested = {key: sp.pop(key) for key in _SHADOWED if key in sp}
            if nested or not sp:
                mapping["session_properties"] = nested
            mapping.update(sp)
        mapping.update(deepcopy(self.extra))
        return mapping


_OWN = tuple(field.name for field in attrs.fields(RealtimeSettings) if field.name != "extra")
_SP_FIELDS = frozenset(field.name for field in attrs.fields(SessionProperties)) - {"model"}
_SP_KEYS = _SP_FIELDS - set(_OWN)
"""Session property names that :meth:`RealtimeSettings.from_mapping` accepts as top-level keys."""
_SHADOWED = _SP_FIELDS & set(_OWN)
"""Session property names taken by a top-level field (``temperature``)."""


def _str_or_not_given(value: str | NotGiven | None) -> str | NotGiven:
    return value if isinstance(value, str) else NOT_GIVEN


def _structured(what: str, value: Any, cls: Any) -> Any:
    try:
        return from_dict(value, cls)
    except ValueError as exc:
        raise ConfigurationError(f"invalid {what}: {exc}") from None


def _session_properties(base: Any, flat: dict[str, Any]) -> Session:
    if isinstance(base, Mapping):
        base = dict(base)
    elif not isinstance(base, SessionProperties | TranscriptionSessionProperties | NotGiven):
        raise ConfigurationError(
            "invalid 'session_properties': expected a SessionProperties,"
            f" a TranscriptionSessionProperties or a dict, got {type(base).__name__}"
        )
    merged = {**(to_dict(base) if is_given(base) else {}), **to_dict(flat)}
    cls: type[Session] = SessionProperties
    if merged.get("type") == TranscriptionSessionProperties.TYPE:
        cls = TranscriptionSessionProperties
    result: Session = _structured("session properties", merged, cls)
    return result


# -- ignored settings ------------------------------------------------------------------------------

_NO_GA_FIELD: dict[str, str] = {
    "temperature": "the GA session has no temperature",
    "max_tokens": "use session_properties.max_output_tokens",
    "top_p": "the GA session has no top_p",
    "top_k": "the GA session has no top_k",
    "frequency_penalty": "the GA session has no frequency_penalty",
    "presence_penalty": "the GA session has no presence_penalty",
    "seed": "the GA session has no seed",
    "filter_incomplete_user_turns": "use turn_detection (semantic_vad) in audio.input",
    "user_turn_completion_config": "use turn_detection (semantic_vad) in audio.input",
}
_BETA_KEYS: dict[str, str] = {
    "voice": "use audio.output.voice",
    "turn_detection": "use audio.input.turn_detection",
    "modalities": "use output_modalities",
    "input_audio_format": "use audio.input.format",
    "output_audio_format": "use audio.output.format",
    "input_audio_transcription": "use audio.input.transcription",
    "input_audio_noise_reduction": "use audio.input.noise_reduction",
    "max_response_output_tokens": "use max_output_tokens",
}


def ignored_settings(settings: RealtimeSettings) -> dict[str, str]:
    """``{name: what to use instead}`` for every given setting that no GA session field carries.

    The base fields (``temperature``, ``max_tokens`` …) and the ``extra`` keys are kept in the
    store but never sent.
    """
    ignored = {
        name: advice
        for name, advice in _NO_GA_FIELD.items()
        if is_given(getattr(settings, name)) and getattr(settings, name) is not None
    }
    for key in settings.extra:
        ignored[key] = _BETA_KEYS.get(key, "not a field of the GA session")
    if isinstance(settings.session_properties, TranscriptionSessionProperties):
        for name in ("model", "system_instruction"):
            if isinstance(getattr(settings, name), str):
                ignored[name] = "a transcription session has none: use audio.input.transcription"
    return ignored


@attrs.define
class IgnoredSettingsLog:
    """Warns once per setting name (per session) that a setting is kept but never sent."""

    _warned: set[str] = attrs.field(factory=set)

    def check(self, settings: RealtimeSettings) -> None:
        """Log every ignored setting of ``settings`` not logged before."""
        for name, advice in ignored_settings(settings).items():
            if name not in self._warned:
                self._warned.add(name)
                logger.warning("setting %r is ignored (never sent): %s", name, advice)


# -- session.update --------------------------------------------------------------------------------

_NEVER_SENT = ("model", "id", "object", "expires_at")
_SESSION_KINDS = (SessionProperties, TranscriptionSessionProperties)
_CLEARED: dict[tuple[type[Any], str], Any] = {(SessionProperties, "instructions"): ""}
"""How to clear a field that the sync left ``NOT_GIVEN`` (``system_instruction=None``)."""


def merge_session(stored: Session | NotGiven, delta: Session) -> Session:
    """``stored`` with every given field of ``delta`` laid over it, at any depth.

    Objects of the same class whose fields are all optional (the session, ``audio``,
    ``audio.input``, a ``server_vad`` …) merge field by field; anything else given in ``delta``
    (a list, a different variant, ``None``) replaces the stored value. A realtime delta for a
    transcription session may carry only the fields a transcription session has.
    """
    if isinstance(stored, TranscriptionSessionProperties) and isinstance(delta, SessionProperties):
        delta = _as_transcription(delta)
    merged: Session = _merged(stored, delta)
    return merged


def _merged(old: Any, new: Any) -> Any:
    if not is_given(new):
        return old
    if type(old) is not type(new) or not _all_optional(type(new)):
        return deepcopy(new)
    return type(new)(
        **{
            field.name: _merged(getattr(old, field.name), getattr(new, field.name))
            for field in attrs.fields(type(new))
        }
    )


def _as_transcription(delta: SessionProperties) -> TranscriptionSessionProperties:
    given = {f.name for f in attrs.fields(SessionProperties) if is_given(getattr(delta, f.name))}
    allowed = {f.name for f in attrs.fields(TranscriptionSessionProperties)}
    if given - allowed:
        raise ConfigurationError(
            "a transcription session has no " + ", ".join(sorted(given - allowed))
        )
    return TranscriptionSessionProperties(**{name: getattr(delta, name) for name in given})


def session_update_for(previous: Session | NotGiven, new: Session) -> Session | None:
    """The session properties that turn ``previous`` into ``new`` on the server: what changed.

    Both are session properties (``SessionProperties``, or ``TranscriptionSessionProperties``
    for a transcription session; a store's ``session_properties``), not
    :class:`RealtimeSettings`: anything else raises :class:`TypeError`.
    ``previous`` is what the server last received (``NOT_GIVEN``: nothing yet); ``new`` is it
    with a delta merged in (:func:`merge_session`), so a field the delta left out is unchanged
    and never sent. Returns ``None`` when there is nothing to send. The codec always writes
    ``session.type``.

    - Objects of the same class whose fields are all optional (``audio``, ``audio.input``,
      ``tracing`` …) are diffed field by field; everything else that changed is sent whole: a
      turn-detection variant (with all its settings, so that the server cannot fall back to
      defaults for the ones not sent), objects with required fields (formats, prompts,
      tools), lists.
    - ``None`` is sent as ``null`` (``turn_detection``, ``transcription``, ``tracing`` …: off).
      ``NOT_GIVEN`` is never sent; the one field that goes from given to ``NOT_GIVEN`` is
      ``instructions`` (``system_instruction=None``), cleared with ``""``.
    - ``model`` (fixed at connect) and the read-only ``id``, ``object`` and ``expires_at`` are
      never sent.
    """
    for name, value, allowed in (
        ("previous", previous, (*_SESSION_KINDS, NotGiven)),
        ("new", new, _SESSION_KINDS),
    ):
        if not isinstance(value, allowed):
            hint = (
                " (pass settings.session_properties)" if isinstance(value, RealtimeSettings) else ""
            )
            raise TypeError(
                f"session_update_for takes SessionProperties, got {type(value).__name__}"
                f" for {name}{hint}"
            )
    base = previous if type(previous) is type(new) else type(new)()
    changes = _diff(type(new), base, new)
    for name in _NEVER_SENT:
        changes.pop(name, None)
    return type(new)(**changes) if changes else None


def _diff(cls: type[Any], old: Any, new: Any) -> dict[str, Any]:
    """The fields of ``cls`` to send to turn ``old`` into ``new``."""
    changes = {}
    for field in attrs.fields(cls):
        value = _change(cls, field.name, getattr(old, field.name), getattr(new, field.name))
        if is_given(value):
            changes[field.name] = value
    return changes


def _change(owner: type[Any], name: str, old: Any, new: Any) -> Any:
    """What to send for field ``name`` of ``owner`` going from ``old`` to ``new``, or NOT_GIVEN."""
    if not is_given(new):
        new = deepcopy(_CLEARED.get((owner, name), NOT_GIVEN)) if is_given(old) else NOT_GIVEN
    if new == old or not is_given(new):
        return NOT_GIVEN
    if type(old) is type(new) and _all_optional(type(new)) and not hasattr(new, "TYPE"):
        changes = _diff(type(new), old, new)
        return type(new)(**changes) if changes else NOT_GIVEN
    return new


def _all_optional(cls: type[Any]) -> bool:
    return attrs.has(cls) and all(f.default is not attrs.NOTHING for f in attrs.fields(cls))
