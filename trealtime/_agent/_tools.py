"""Tools as Python callables: JSON schemas from type hints, argument parsing, result encoding.

Sans-IO: nothing here runs a handler (see :mod:`trealtime._agent._tool_runner`).

::

    registry = ToolRegistry()

    @registry.tool
    async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, Any]:
        \"""Current weather in a city.

        Args:
            city: The city's name, e.g. "Paris".
        \"""

    settings = ...(tools=registry.function_tools())

Supported parameter types: ``str``, ``int``, ``float``, ``bool``, ``Any``, ``list[X]``,
``dict[str, X]``, ``X | None`` (optional), other unions (``anyOf``), ``Literal[...]`` and
``enum.Enum`` subclasses (``enum``), attrs classes (nested objects) and
``Annotated[X, "description"]``. :func:`parse_arguments` checks the model's arguments against the
same types and converts them (enum members, attrs instances), so a handler gets what it declared.
"""

from __future__ import annotations

import enum
import functools
import inspect
import operator
import re
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Annotated, Any, Literal, TypedDict, TypeVar, Union, Unpack, overload

import attrs
import orjson

from .._errors import ConfigurationError
from .._wire._notgiven import NOT_GIVEN
from .._wire._session_models import FunctionTool

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "ToolArgumentsError",
    "ToolOptions",
    "ToolProgress",
    "ToolRegistry",
    "ToolSpec",
    "encode_result",
    "error_output",
    "parse_arguments",
    "tool_from_callable",
]

COMPLETED = "COMPLETED"
"""The output sent for a handler that returned ``None`` or ``""`` (as pipecat does)."""
CANCELLED = "CANCELLED"
"""The output sent for a call cancelled by an interruption (as pipecat does)."""

F = TypeVar("F", bound=Callable[..., Any])
_NONE = type(None)
_UNIONS = (Union, types.UnionType)
_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_JSON_NAMES: dict[type, str] = {
    **_PRIMITIVES,
    _NONE: "null",
    list: "array",
    dict: "object",
}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SECTION = re.compile(r"[A-Z][A-Za-z ]*:")
_PARAMS_SECTION = re.compile(r"(Args|Arguments|Parameters|Attributes):")
_PARAM_LINE = re.compile(r"\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)")


class ToolArgumentsError(ValueError):
    """The model's arguments for a tool are not valid JSON or don't fit its parameters."""


@attrs.frozen
class _Param:
    """One typed parameter of a handler (or field of an attrs class)."""

    type: Any
    required: bool
    none_if_missing: bool
    """Typed ``X | None`` without a default: passed as ``None`` when the model leaves it out."""


def _check_name(_: object, __: object, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigurationError(f"tool name {name!r} must be 1-64 letters, digits, '_' or '-'")


def _check_timeout(_: object, __: object, timeout: float | None) -> None:
    if timeout is not None and not timeout > 0:
        raise ConfigurationError(f"a tool's timeout must be positive or None, not {timeout!r}")


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 -- an instance with an async __call__
    )


class ToolProgress:
    """Give a tool handler a parameter annotated ``ToolProgress`` to report intermediate results.

    ``await progress(result)`` sends ``result`` to the model as an intermediate result (a system
    message; the call stays open), e.g. "searching flights…" while a slow lookup runs. The
    parameter is filled in by the runner and is not part of the schema the model sees.
    Async handlers only.
    """

    def __init__(self, send: Callable[[Any], Awaitable[None]]) -> None:
        self._send = send

    async def __call__(self, result: Any) -> None:
        await self._send(result)


def _progress_param(fn: Callable[..., Any]) -> str | None:
    """The name of ``fn``'s ``ToolProgress`` parameter, if it has one."""
    target = fn.func if isinstance(fn, functools.partial) else fn
    try:
        hints = typing.get_type_hints(
            target if inspect.isroutine(target) else type(target).__call__
        )
    except (NameError, TypeError):
        return None
    return next((name for name, hint in hints.items() if hint is ToolProgress), None)


@attrs.frozen(kw_only=True)
class ToolSpec:
    """A tool: the schema the model sees and the handler that runs it.

    ``timeout`` is in seconds; ``None`` means the runner's default (use ``math.inf`` for none).
    A ``must_complete`` call keeps running when the user interrupts.
    """

    name: str = attrs.field(validator=_check_name)
    description: str = ""
    parameters: dict[str, Any]
    """The JSON Schema (``type: object``) of the arguments."""
    handler: Callable[..., Any]
    """Called with the arguments as keywords; a coroutine function is awaited."""
    is_async: bool = attrs.field()
    must_complete: bool = False
    timeout: float | None = attrs.field(default=None, validator=_check_timeout)
    progress_param: str | None = None
    """The handler's :class:`ToolProgress` parameter, filled in by the runner."""
    _params: Mapping[str, _Param] | None = attrs.field(default=None, alias="params", repr=False)

    @is_async.default
    def _is_async_default(self) -> bool:
        return _is_async(self.handler)

    def function_tool(self) -> FunctionTool:
        """The ``FunctionTool`` to put in the session's ``tools``."""
        return FunctionTool(
            name=self.name, description=self.description or NOT_GIVEN, parameters=self.parameters
        )


class ToolOptions(TypedDict, total=False):
    """The keyword options of :func:`tool_from_callable`, for :meth:`ToolRegistry.register`."""

    name: str
    description: str
    parameters: dict[str, Any]
    must_complete: bool
    timeout: float | None


# -- docstrings -----------------------------------------------------------------------------------


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The first paragraph, and the descriptions in a Google-style ``Args:`` section."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.fullmatch(line.strip()):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    in_section, current, indent = False, "", -1
    for line in lines:
        if not in_section:
            in_section = bool(_PARAMS_SECTION.fullmatch(line.rstrip()))
            continue
        if not line.strip():
            continue
        if not line[0].isspace():
            break
        width = len(line) - len(line.lstrip())
        indent = width if indent < 0 else indent
        match = _PARAM_LINE.fullmatch(line.strip())
        if width == indent and match:
            current = match[1]
            params[current] = match[2].strip()
        elif current:
            params[current] = f"{params[current]} {line.strip()}".strip()
    return " ".join(summary), params


# -- schemas --------------------------------------------------------------------------------------


def _unwrap(tp: Any) -> tuple[Any, bool, str | None]:
    """Peel an outer ``Annotated`` (its first str is a description) and ``| None``."""
    description = None
    if typing.get_origin(tp) is Annotated:
        tp, *meta = typing.get_args(tp)
        description = next((m for m in meta if isinstance(m, str)), None)
    args = typing.get_args(tp)
    if typing.get_origin(tp) in _UNIONS and _NONE in args:
        rest = [a for a in args if a is not _NONE]
        return functools.reduce(operator.or_, rest), True, description
    return tp, False, description


def _make_param(tp: Any, has_default: bool) -> _Param:
    nullable = _unwrap(tp)[1]
    return _Param(tp, not has_default and not nullable, nullable and not has_default)


def _function_params(fn: Callable[..., Any]) -> dict[str, _Param]:
    signature = inspect.signature(fn)
    if isinstance(fn, functools.partial):
        target: Callable[..., Any] = fn.func
    else:
        target = fn if inspect.isroutine(fn) else type(fn).__call__
    hints = typing.get_type_hints(target, include_extras=True)
    params = {}
    for name, p in signature.parameters.items():
        if hints.get(name) is ToolProgress:
            continue  # filled in by the runner, not by the model
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ConfigurationError(
                f"*{name} and **{name} parameters can't be described to the model; "
                "give explicit parameters, or pass parameters= with a JSON schema"
            )
        if p.kind is p.POSITIONAL_ONLY:
            raise ConfigurationError(f"parameter {name!r} is positional-only; tools get keywords")
        params[name] = _make_param(hints.get(name, Any), p.default is not p.empty)
    return params


@functools.cache
def _attrs_params(cls: type) -> dict[str, _Param]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return {
        f.alias: _make_param(hints.get(f.name, Any), f.default is not attrs.NOTHING)
        for f in attrs.fields(cls)
        if f.init
    }


def _object_schema(
    params: Mapping[str, _Param], docs: Mapping[str, str], seen: tuple[type, ...]
) -> dict[str, Any]:
    properties = {}
    for name, param in params.items():
        tp, _, text = _unwrap(param.type)
        try:
            schema = _schema(tp, seen)
        except ConfigurationError as exc:
            raise ConfigurationError(f"parameter {name!r}: {exc}") from None
        text = text or docs.get(name)
        properties[name] = {**schema, "description": text} if text else schema
    required = [name for name, param in params.items() if param.required]
    return {"type": "object", "properties": properties, "required": required}


def _enum_schema(values: Iterable[Any]) -> dict[str, Any]:
    values = list(values)
    kinds = {_JSON_NAMES.get(type(v)) for v in values}
    if not kinds <= {"string", "integer", "number", "boolean", "null"}:
        raise ConfigurationError(f"enum values must be JSON scalars, not {values!r}")
    return {"type": kinds.pop(), "enum": values} if len(kinds) == 1 else {"enum": values}


def _schema(tp: Any, seen: tuple[type, ...] = ()) -> dict[str, Any]:
    """The JSON schema of a type hint (``seen`` guards against recursive attrs classes)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        schema, text = (
            _schema(args[0], seen),
            next((m for m in args[1:] if isinstance(m, str)), None),
        )
        return {**schema, "description": text} if text else schema
    if tp is Any:
        return {}
    if tp in _PRIMITIVES or tp is _NONE:
        return {"type": _JSON_NAMES[tp]}
    if origin in _UNIONS:
        return {"anyOf": [_schema(a, seen) for a in args]}
    if origin is Literal:
        return _enum_schema(args)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema(member.value for member in tp)
    if tp is list or origin is list:
        return {"type": "array", "items": _schema(args[0], seen)} if args else {"type": "array"}
    if tp is dict or origin is dict:
        if not args:
            return {"type": "object"}
        if args[0] is not str:
            raise ConfigurationError(f"JSON object keys are strings, not {args[0]!r}")
        return {"type": "object", "additionalProperties": _schema(args[1], seen)}
    if isinstance(tp, type) and attrs.has(tp):
        if tp in seen:
            raise ConfigurationError(f"{tp.__qualname__} contains itself")
        summary, docs = _parse_docstring(tp.__doc__)
        schema = _object_schema(_attrs_params(tp), docs, (*seen, tp))
        return {"description": summary, **schema} if summary else schema
    raise ConfigurationError(f"no JSON schema for {tp!r}; pass parameters= with a JSON schema")


def tool_from_callable(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: dict[str, Any] | None = None,
    must_complete: bool = False,
    timeout: float | None = None,
) -> ToolSpec:
    """Describe a function (sync or async) as a tool.

    The name defaults to the function's, the description to its docstring's first paragraph,
    and ``parameters`` to a schema derived from its type hints, with per-parameter descriptions
    from ``Annotated[X, "..."]`` or the docstring's ``Args:`` section. Parameters with a default,
    or typed ``X | None``, are optional. Raises :class:`ConfigurationError` for what cannot be
    described (``*args``, ``**kwargs``, an unsupported type).
    """
    if name is None:
        name = str(getattr(fn, "__name__", type(fn).__name__))
    progress = _progress_param(fn)
    if progress is not None and not _is_async(fn):
        raise ConfigurationError(f"tool {name!r}: a ToolProgress parameter needs an async handler")
    summary, docs = _parse_docstring(inspect.getdoc(fn))
    params = None
    if parameters is None:
        try:
            params = _function_params(fn)
            parameters = _object_schema(params, docs, ())
        except (NameError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"tool {name!r}: {exc}") from None
    return ToolSpec(
        name=name,
        description=summary if description is None else description,
        parameters=parameters,
        handler=fn,
        must_complete=must_complete,
        timeout=timeout,
        progress_param=progress,
        params=params,
    )


# -- the registry ---------------------------------------------------------------------------------


class ToolRegistry:
    """The tools a session offers the model, by unique name."""

    def __init__(self, tools: Iterable[ToolSpec | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, ToolSpec] = {}
        for tool in tools:
            self.register(tool)

    def register(
        self, tool: ToolSpec | Callable[..., Any], **options: Unpack[ToolOptions]
    ) -> ToolSpec:
        """Add a tool: a :class:`ToolSpec`, or a callable with :func:`tool_from_callable`'s options.

        Raises :class:`ConfigurationError` if the name is taken.
        """
        if isinstance(tool, ToolSpec):
            if options:
                raise ConfigurationError("options apply to callables; use attrs.evolve on a spec")
            spec = tool
        else:
            spec = tool_from_callable(tool, **options)
        if spec.name in self._tools:
            raise ConfigurationError(f"a tool named {spec.name!r} is already registered")
        self._tools[spec.name] = spec
        return spec

    @overload
    def tool(self, fn: F, /) -> F: ...
    @overload
    def tool(self, /, **options: Unpack[ToolOptions]) -> Callable[[F], F]: ...
    def tool(self, fn: F | None = None, /, **options: Unpack[ToolOptions]) -> F | Callable[[F], F]:
        """Register as a decorator: ``@registry.tool`` or ``@registry.tool(must_complete=True)``.

        The function is returned unchanged.
        """

        def decorate(fn: F) -> F:
            self.register(fn, **options)
            return fn

        return decorate if fn is None else decorate(fn)

    def unregister(self, name: str) -> None:
        """Remove a tool (``KeyError`` if there is none by that name)."""
        del self._tools[name]

    def get(self, name: str) -> ToolSpec | None:
        """The tool called ``name``, or ``None``."""
        return self._tools.get(name)

    def function_tools(self) -> list[FunctionTool]:
        """The tools as ``FunctionTool`` models, for the session's ``tools``."""
        return [spec.function_tool() for spec in self._tools.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)


# -- arguments ------------------------------------------------------------------------------------


def _json_name(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _mismatch(value: Any, expected: str, path: str) -> ToolArgumentsError:
    return ToolArgumentsError(f"argument {path!r}: expected {expected}, got {_json_name(value)}")


def _same(a: Any, b: Any) -> bool:
    # JSON keeps true and 1 apart; Python's == does not.
    return bool(a == b) and type(a) is type(b)


def _convert(value: Any, tp: Any, path: str) -> Any:
    """Check a decoded JSON value against a type hint and convert it (enum members, attrs)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return _convert(value, args[0], path)
    if tp is Any:
        return value
    if tp is float and type(value) is int:
        return float(value)
    if tp is int and type(value) is float and value.is_integer():
        return int(value)
    if tp in _PRIMITIVES or tp is _NONE:
        if type(value) is not tp:
            raise _mismatch(value, _JSON_NAMES[tp], path)
        return value
    if origin in _UNIONS:
        for option in args:
            try:
                return _convert(value, option, path)
            except ToolArgumentsError:
                pass
        raise _mismatch(value, " or ".join(_JSON_NAMES.get(a, repr(a)) for a in args), path)
    if origin is Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        choices = [(a, a) for a in args] if origin is Literal else [(m.value, m) for m in tp]
        for choice, result in choices:
            if _same(choice, value):
                return result
        raise ToolArgumentsError(f"argument {path!r}: expected one of {[c for c, _ in choices]!r}")
    if tp is list or origin is list:
        if not isinstance(value, list):
            raise _mismatch(value, "array", path)
        return (
            [_convert(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)] if args else value
        )
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise _mismatch(value, "object", path)
        return {k: _convert(v, args[1], f"{path}.{k}") for k, v in value.items()} if args else value
    if isinstance(tp, type) and attrs.has(tp):
        if not isinstance(value, dict):
            raise _mismatch(value, "object", path)
        fields = _convert_fields(value, _attrs_params(tp), f"{path}.")
        try:
            return tp(**fields)
        except (TypeError, ValueError) as exc:
            raise ToolArgumentsError(f"argument {path!r}: {exc}") from None
    return value


def _convert_fields(
    value: dict[str, Any], params: Mapping[str, _Param], prefix: str
) -> dict[str, Any]:
    unexpected = sorted(prefix + k for k in value.keys() - params.keys())
    missing = sorted(prefix + k for k, p in params.items() if p.required and k not in value)
    if unexpected or missing:
        problems = [f"unexpected argument(s) {unexpected}"] if unexpected else []
        problems += [f"missing argument(s) {missing}"] if missing else []
        raise ToolArgumentsError("; ".join(problems))
    converted = {k: _convert(v, params[k].type, prefix + k) for k, v in value.items()}
    converted |= {k: None for k, p in params.items() if p.none_if_missing and k not in value}
    return converted


def parse_arguments(spec: ToolSpec, arguments_json: str) -> dict[str, Any]:
    """Decode the model's arguments for ``spec`` into keyword arguments for its handler.

    Blank text means no arguments. For a tool derived from type hints the arguments are checked
    and converted to the declared types; for an explicit schema only its ``required`` keys are
    checked. Raises :class:`ToolArgumentsError` (with a message meant for the model).
    """
    try:
        value = orjson.loads(arguments_json.strip() or "{}")
    except orjson.JSONDecodeError as exc:
        raise ToolArgumentsError(f"the arguments are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ToolArgumentsError(f"the arguments must be a JSON object, not {_json_name(value)}")
    if spec._params is not None:
        return _convert_fields(value, spec._params, "")
    missing = sorted(k for k in spec.parameters.get("required", ()) if k not in value)
    if missing:
        raise ToolArgumentsError(f"missing argument(s) {missing}")
    return value


# -- outputs --------------------------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError


def encode_result(result: Any) -> str:
    """The ``function_call_output`` text for a handler's result.

    - ``None`` and ``""`` become ``"COMPLETED"``. Unlike pipecat, other falsy results (``0``,
      ``False``, ``[]``, ``{}``) are answers and are encoded as JSON.
    - A ``str`` goes as it is, whether JSON or plain text: it is never encoded twice.
    - Anything else is JSON (orjson; attrs instances as objects, sets as arrays, non-str keys
      allowed), or ``str(result)`` when it cannot be.
    """
    if isinstance(result, str):
        return result or COMPLETED
    if result is None:
        return COMPLETED
    try:
        return orjson.dumps(result, default=_to_json, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(result)


def error_output(exc: BaseException) -> str:
    """The output telling the model a call failed: ``{"error": "...", "type": "ValueError"}``."""
    kind = type(exc).__name__
    return orjson.dumps({"error": str(exc) or kind, "type": kind}).decode()
