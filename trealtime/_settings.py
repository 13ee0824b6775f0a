"""The settings store and its deltas, and the minimal ``session.update`` between two sessions.

:class:`RealtimeSettings` is both the full store a session keeps and a sparse update: fields left
``NOT_GIVEN`` in a delta leave the store alone. :meth:`RealtimeSettings.apply_update` reports the
old value of every field it changed; when ``session_properties`` is among them,
:func:`session_update_for` turns the old and new session properties into the ``session.update``
to send.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from copy import deepcopy
from typing import Any

import attrs

from ._codec import from_dict, to_dict
from ._errors import ConfigurationError
from ._notgiven import NOT_GIVEN, NotGiven, is_given
from ._session_models import SessionProperties

__all__ = ["RealtimeSettings", "session_update_for"]


@attrs.define(kw_only=True)
class RealtimeSettings:
    """Runtime settings of a realtime session: the full store, or a sparse delta of it.

    Every field but ``extra`` defaults to ``NOT_GIVEN``; ``None`` is a value, not "not given".
    ``extra`` holds keys this class does not know (see :meth:`from_mapping`).

    **Sync invariant.** Whenever ``session_properties`` is given, ``session_properties.model`` is
    ``model`` if that is a string and ``NOT_GIVEN`` otherwise (``None`` included), and
    ``session_properties.instructions`` is likewise ``system_instruction`` or ``NOT_GIVEN``. It is
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
    session_properties: SessionProperties | NotGiven = NOT_GIVEN

    def __attrs_post_init__(self) -> None:
        self._sync()

    def _sync(self) -> None:
        sp = self.session_properties
        if not is_given(sp):
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

        Every given field of ``delta`` replaces the stored one; a given ``session_properties``
        replaces the stored one wholesale (no merge). ``extra`` is merged key by key and its
        changes are reported under their own keys (old value ``NOT_GIVEN`` for a new key). Then
        the sync invariant is restored, the delta's top-level values winning. A field is reported
        only if its final value differs from the old one, whatever the sync did on the way.
        ``delta`` is neither changed nor shared: the store keeps copies.
        """
        delta = delta.copy()
        delta._sync()  # a delta changed by assignment after construction may be out of sync
        before = {name: getattr(self, name) for name in _OWN}
        for name, value in delta._given().items():
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
        properties with nothing else given (they still replace the stored ones in an update).
        ``extra`` entries are merged in last; a key that names a field does not round-trip.
        """
        mapping = {name: to_dict(value) for name, value in self._given().items()}
        sp = mapping.pop("session_properties", None)
        if sp is not None:
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


def _session_properties(base: Any, flat: dict[str, Any]) -> SessionProperties:
    if isinstance(base, Mapping):
        base = dict(base)
    elif not isinstance(base, SessionProperties | NotGiven):
        raise ConfigurationError(
            f"invalid 'session_properties': expected a SessionProperties or a dict, got {base!r}"
        )
    merged = {**(to_dict(base) if is_given(base) else {}), **to_dict(flat)}
    result: SessionProperties = _structured("session properties", merged, SessionProperties)
    return result


# -- session.update --------------------------------------------------------------------------------

_NEVER_SENT = ("model", "id", "object", "expires_at")
_CLEARED: dict[tuple[type[Any], str], Any] = {
    (SessionProperties, "instructions"): "",
    (SessionProperties, "tools"): [],
}
"""How to clear a field that does not accept ``None``."""


def session_update_for(
    previous: SessionProperties | NotGiven, new: SessionProperties
) -> SessionProperties | None:
    """The minimal session properties that turn ``previous`` into ``new`` on the server.

    Both are :class:`SessionProperties` (a store's ``session_properties``), not
    :class:`RealtimeSettings`: anything else raises :class:`TypeError`. ``previous`` is what the
    server last received (``NOT_GIVEN``: nothing yet). Returns ``None`` when there is nothing to
    send. The codec always writes ``session.type``.

    - Nested objects of the same class whose fields are all optional are diffed field by
      field (``audio``, ``audio.input``, ``turn_detection``, ``tracing`` …); everything else
      that changed is sent whole: a tagged variant of another class (``server_vad`` to
      ``semantic_vad``), objects with required fields (formats, prompts, tools), lists.
    - A field given before and ``NOT_GIVEN`` or ``None`` now is cleared: sent as ``null`` if it
      accepts ``None`` (``turn_detection``, ``transcription``, ``noise_reduction``, ``tracing``,
      ``prompt``, ``include``, ``reasoning`` …), as ``""`` for ``instructions`` and ``[]`` for
      ``tools``; an object that cannot be ``null`` (``audio``) has its fields cleared the same
      way. Any other field cannot be cleared and is left out: the server keeps its value
      (``output_modalities``, ``tool_choice``, ``max_output_tokens``, ``voice`` …).
    - ``model`` (fixed at connect) and the read-only ``id``, ``object`` and ``expires_at`` are
      never sent.
    """
    for name, value, allowed in (
        ("previous", previous, (SessionProperties, NotGiven)),
        ("new", new, SessionProperties),
    ):
        if not isinstance(value, allowed):
            hint = (
                " (pass settings.session_properties)" if isinstance(value, RealtimeSettings) else ""
            )
            raise TypeError(
                f"session_update_for takes SessionProperties, got {type(value).__name__}"
                f" for {name}{hint}"
            )
    changes = _diff(SessionProperties, previous or SessionProperties(), new)
    for name in _NEVER_SENT:
        changes.pop(name, None)
    return SessionProperties(**changes) if changes else None


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
    if is_given(old) and not is_given(new):
        new = _cleared(owner, name, old)
    if new == old:
        return NOT_GIVEN
    if type(old) is type(new) and _all_optional(type(new)):
        changes = _diff(type(new), old, new)
        return type(new)(**changes) if changes else NOT_GIVEN
    return new


def _cleared(owner: type[Any], name: str, old: Any) -> Any:
    if type(None) in typing.get_args(typing.get_type_hints(owner)[name]):
        return None
    if (owner, name) in _CLEARED:
        return deepcopy(_CLEARED[owner, name])
    if _all_optional(type(old)):
        return type(old)()
    return NOT_GIVEN


def _all_optional(cls: type[Any]) -> bool:
    return attrs.has(cls) and all(f.default is not attrs.NOTHING for f in attrs.fields(cls))
