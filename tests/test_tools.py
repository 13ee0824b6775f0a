"""Tools from callables: schema derivation, docstrings, the registry, arguments and outputs."""

from __future__ import annotations

import enum
import functools
import math
from typing import Annotated, Any, Literal

import attrs
import orjson
import pytest

from trealtime import ConfigurationError
from trealtime._agent._tools import (
    COMPLETED,
    ToolArgumentsError,
    ToolRegistry,
    ToolSpec,
    encode_result,
    error_output,
    parse_arguments,
    tool_from_callable,
)
from trealtime.events import FunctionTool


class Unit(enum.Enum):
    CELSIUS = "C"
    FAHRENHEIT = "F"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Place:
    """A place on Earth.

    Attributes:
        city: The city's name.
    """

    city: str
    country: Annotated[str, "ISO code"] = "FR"


@attrs.frozen
class Node:
    children: list[Node]


def properties(fn: Any) -> dict[str, Any]:
    props: dict[str, Any] = tool_from_callable(fn).parameters["properties"]
    return props


def required(fn: Any) -> list[str]:
    names: list[str] = tool_from_callable(fn).parameters["required"]
    return names


# -- schemas --------------------------------------------------------------------------------------


def test_primitives() -> None:
    def f(s: str, i: int, x: float, b: bool, a: Any) -> None: ...

    assert properties(f) == {
        "s": {"type": "string"},
        "i": {"type": "integer"},
        "x": {"type": "number"},
        "b": {"type": "boolean"},
        "a": {},
    }
    assert required(f) == ["s", "i", "x", "b", "a"]


def test_containers() -> None:
    def f(xs: list[int], m: dict[str, float], bare: list, obj: dict) -> None: ...  # type: ignore[type-arg]

    assert properties(f) == {
        "xs": {"type": "array", "items": {"type": "integer"}},
        "m": {"type": "object", "additionalProperties": {"type": "number"}},
        "bare": {"type": "array"},
        "obj": {"type": "object"},
    }


def test_optional_and_defaults_are_not_required() -> None:
    def f(a: str, b: int | None, c: int = 3, d: list[int | None] | None = None) -> None: ...

    props = properties(f)
    assert props["b"] == {"type": "integer"}
    assert props["d"] == {
        "type": "array",
        "items": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    }
    assert required(f) == ["a"]


def test_union_literal_and_enums() -> None:
    def f(
        u: int | str, lit: Literal["a", "b"], mixed: Literal[1, "x"], unit: Unit, lv: Level
    ) -> None: ...

    assert properties(f) == {
        "u": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "lit": {"type": "string", "enum": ["a", "b"]},
        "mixed": {"enum": [1, "x"]},
        "unit": {"type": "string", "enum": ["C", "F"]},
        "lv": {"type": "integer", "enum": [1, 2]},
    }


def test_attrs_class_is_a_nested_object() -> None:
    def f(place: Place) -> None: ...

    assert properties(f)["place"] == {
        "description": "A place on Earth.",
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city's name."},
            "country": {"type": "string", "description": "ISO code"},
        },
        "required": ["city"],
    }


def test_annotated_description_wins_over_the_docstring() -> None:
    def f(a: Annotated[int, "from the hint"], b: Annotated[int | None, "maybe"] = None) -> None:
        """Do it.

        Args:
            a: from the docstring
        """

    assert properties(f) == {
        "a": {"type": "integer", "description": "from the hint"},
        "b": {"type": "integer", "description": "maybe"},
    }


def test_docstring_summary_and_google_args() -> None:
    async def lookup(city: str, days: int = 1, *, verbose: bool = False) -> None:
        """Look up the weather
        in a city.

        More detail that the model does not need.

        Args:
            city (str): The city,
                e.g. "Paris".
            days: How many days.

        Returns:
            A forecast.
        """

    spec = tool_from_callable(lookup)
    assert spec.name == "lookup"
    assert spec.description == "Look up the weather in a city."
    assert spec.is_async
    assert spec.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": 'The city, e.g. "Paris".'},
            "days": {"type": "integer", "description": "How many days."},
            "verbose": {"type": "boolean"},
        },
        "required": ["city"],
    }


def test_no_docstring_and_no_parameters() -> None:
    spec = tool_from_callable(lambda: None, name="noop")
    assert spec.description == ""
    assert spec.parameters == {"type": "object", "properties": {}, "required": []}
    assert spec.function_tool() == FunctionTool(name="noop", parameters=spec.parameters)


def test_explicit_options_override_derivation() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}

    def search(**kwargs: Any) -> None:
        """Ignored."""

    spec = tool_from_callable(
        search, name="find", description="Find.", parameters=schema, must_complete=True, timeout=2
    )
    assert (spec.name, spec.description, spec.parameters) == ("find", "Find.", schema)
    assert spec.must_complete
    assert spec.timeout == 2
    assert not spec.is_async


def test_methods_partials_and_callable_objects() -> None:
    class Api:
        def method(self, q: str) -> None: ...

        async def __call__(self, n: int) -> None: ...

    def two(a: int, b: str) -> None: ...

    assert properties(Api().method) == {"q": {"type": "string"}}
    spec = tool_from_callable(Api())
    assert (spec.name, spec.is_async, required(Api())) == ("Api", True, ["n"])
    assert properties(functools.partial(two, 1)) == {"b": {"type": "string"}}


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda *args: None, r"\*args"),
        (lambda **kw: None, r"\*\*kw"),
    ],
)
def test_star_parameters_are_rejected(fn: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        tool_from_callable(fn, name="f")


def test_unsupported_types_are_rejected_with_the_parameter_named() -> None:
    def f(when: complex) -> None: ...

    def g(m: dict[int, str]) -> None: ...

    def h(node: Node) -> None: ...

    with pytest.raises(ConfigurationError, match=r"tool 'f': parameter 'when': no JSON schema"):
        tool_from_callable(f)
    with pytest.raises(ConfigurationError, match="keys are strings"):
        tool_from_callable(g)
    with pytest.raises(ConfigurationError, match="Node contains itself"):
        tool_from_callable(h)


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dot.ted"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ConfigurationError, match="tool name"):
        tool_from_callable(lambda: None, name=name)


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_bad_timeouts(timeout: float) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        tool_from_callable(lambda: None, name="f", timeout=timeout)


# -- the registry ---------------------------------------------------------------------------------


def test_registry_decorator_forms() -> None:
    registry = ToolRegistry()

    @registry.tool
    def plain(x: int) -> int:
        """Plain."""
        return x

    @registry.tool(must_complete=True, timeout=math.inf, name="careful")
    async def slow() -> None: ...

    assert plain(2) == 2  # the decorator returns the function itself
    assert [spec.name for spec in registry] == ["plain", "careful"]
    assert "careful" in registry
    assert len(registry) == 2
    careful = registry.get("careful")
    assert careful is not None
    assert careful.must_complete
    assert careful.timeout == math.inf
    assert registry.get("slow") is None
    assert registry.function_tools() == [
        FunctionTool(
            name="plain",
            description="Plain.",
            parameters={
                "type": "object",
                "properties": {"x": {"type": "integer"}},
                "required": ["x"],
            },
        ),
        FunctionTool(
            name="careful", parameters={"type": "object", "properties": {}, "required": []}
        ),
    ]
    registry.unregister("plain")
    assert [spec.name for spec in registry] == ["careful"]


def test_registry_takes_specs_and_rejects_duplicates() -> None:
    def a() -> None: ...

    spec = ToolSpec(name="b", parameters={"type": "object"}, handler=a)
    registry = ToolRegistry([a, spec])
    assert registry.get("b") is spec
    with pytest.raises(ConfigurationError, match="'a' is already registered"):
        registry.register(a)
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.register(lambda: None, name="b")
    with pytest.raises(ConfigurationError, match="options apply to callables"):
        registry.register(spec, timeout=1)


# -- arguments ------------------------------------------------------------------------------------


def weather(
    city: str,
    unit: Unit,
    level: Level,
    place: Place,
    days: list[int],
    extra: dict[str, float],
    ratio: float,
    kind: Literal["now", "later"] = "now",
    note: str | None = "n",
    maybe: int | None = None,
) -> None: ...


def no_default(a: int, b: int | None) -> None: ...


SPEC = tool_from_callable(weather)


def test_parse_and_convert_to_declared_types() -> None:
    arguments = {
        "city": "Paris",
        "unit": "C",
        "level": 2,
        "place": {"city": "Lyon"},
        "days": [1, 2.0],
        "extra": {"a": 1},
        "ratio": 2,
        "note": None,
    }
    assert parse_arguments(SPEC, orjson.dumps(arguments).decode()) == {
        **arguments,
        "unit": Unit.CELSIUS,
        "level": Level.HIGH,
        "place": Place("Lyon"),
        "days": [1, 2],
        "extra": {"a": 1.0},
        "ratio": 2.0,
    }


def test_optional_without_default_is_passed_as_none() -> None:
    spec = tool_from_callable(no_default)
    assert parse_arguments(spec, '{"a": 1}') == {"a": 1, "b": None}
    assert parse_arguments(spec, ' {"a": 1, "b": 2} ') == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("{", "not valid JSON"),
        ("[1, 2]", "must be a JSON object, not array"),
        ('"x"', "must be a JSON object, not string"),
        ('{"a": true}', "argument 'a': expected integer, got boolean"),
        ('{"a": 1.5}', "argument 'a': expected integer, got number"),
        ('{"a": 1, "b": "2"}', "argument 'b': expected integer or null, got string"),
        ('{"b": 1}', r"missing argument\(s\) \['a'\]"),
        ('{"a": 1, "zz": 0}', r"unexpected argument\(s\) \['zz'\]"),
    ],
)
def test_bad_arguments(arguments: str, message: str) -> None:
    with pytest.raises(ToolArgumentsError, match=message):
        parse_arguments(tool_from_callable(no_default), arguments)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unit": "K"}, r"argument 'unit': expected one of \['C', 'F'\]"),
        ({"level": True}, "argument 'level': expected one of"),
        ({"kind": "soon"}, "argument 'kind': expected one of"),
        ({"place": {"country": "DE"}}, r"missing argument\(s\) \['place.city'\]"),
        ({"place": {"city": 1}}, "argument 'place.city': expected string"),
        ({"place": "Lyon"}, "argument 'place': expected object, got string"),
        ({"days": [1, "2"]}, r"argument 'days\[1\]': expected integer"),
        ({"extra": {"a": "x"}}, "argument 'extra.a': expected number"),
    ],
)
def test_bad_nested_arguments(change: dict[str, Any], message: str) -> None:
    arguments = {"city": "P", "unit": "C", "level": 1, "place": {"city": "L"}, "days": []}
    arguments |= {"extra": {}, "ratio": 1.0, **change}
    with pytest.raises(ToolArgumentsError, match=message):
        parse_arguments(SPEC, orjson.dumps(arguments).decode())


def test_explicit_schema_checks_required_keys_only() -> None:
    schema = {"type": "object", "properties": {"q": {}}, "required": ["q"]}
    spec = tool_from_callable(lambda **kw: None, name="f", parameters=schema)
    assert parse_arguments(spec, '{"q": 1, "other": [1]}') == {"q": 1, "other": [1]}
    with pytest.raises(ToolArgumentsError, match="missing"):
        parse_arguments(spec, "{}")


def test_blank_arguments_mean_none() -> None:
    spec = tool_from_callable(lambda: None, name="f")
    assert parse_arguments(spec, "") == {}
    assert parse_arguments(spec, "{}") == {}


def test_arguments_error_is_a_value_error() -> None:
    assert issubclass(ToolArgumentsError, ValueError)


# -- outputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "output"),
    [
        (None, COMPLETED),
        ("", COMPLETED),
        ("plain text", "plain text"),
        ('{"already": "json"}', '{"already": "json"}'),
        (COMPLETED, COMPLETED),
        (0, "0"),
        (False, "false"),
        ([], "[]"),
        ({}, "{}"),
        ({"t": 21.5, "city": "Zürich"}, '{"t":21.5,"city":"Zürich"}'),
        ({1: "one"}, '{"1":"one"}'),
        (Place("Lyon"), '{"city":"Lyon","country":"FR"}'),
        ([Unit.CELSIUS, {3}], '["C",[3]]'),
    ],
)
def test_encode_result(result: Any, output: str) -> None:
    assert encode_result(result) == output


def test_encode_result_falls_back_to_str() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "opaque"

    assert encode_result(Opaque()) == "opaque"
    assert encode_result({"x": Opaque()}) == "{'x': opaque}"


def test_error_output() -> None:
    assert orjson.loads(error_output(ValueError("bad city"))) == {
        "error": "bad city",
        "type": "ValueError",
    }
    assert orjson.loads(error_output(KeyError())) == {"error": "KeyError", "type": "KeyError"}
