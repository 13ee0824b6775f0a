"""The package's layers import only downward, as ARCHITECTURE.md draws them.

``_wire`` (the messages and their codec) < ``_transport`` (frames, handshake, connections) <
``_agent`` (the behaviours) < ``_session`` (state, correlation, the connection's life, the
facade) < ``_cli``, the public modules and ``testing``. ``_errors`` is the exception tree every
layer raises from.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "trealtime"
ORDER = ["_wire", "_transport", "_agent", "_session", "_cli"]
"""Each layer may import the ones before it, never the ones after."""
ALLOWED: dict[str, set[str]] = {
    "_wire": set(),
    "_transport": set(),  # frames and text: it knows no event
    "_agent": {"_wire"},
    "_session": {"_wire", "_transport", "_agent"},
    "_cli": {"_wire", "_transport", "_agent", "_session"},
}


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ORDER else None


def _imports(path: Path) -> set[str]:
    return {name for name in _all_imports(path) if name.startswith("trealtime")}


def _all_imports(path: Path) -> set[str]:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = (
        module.rsplit(".", 1)[0] if path.name != "__init__.py" else module[: -len(".__init__")]
    )
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


LAYERED = sorted(path for layer in ORDER for path in (PACKAGE / layer).rglob("*.py"))


def test_every_layer_exists() -> None:
    assert all((PACKAGE / layer / "__init__.py").is_file() for layer in ORDER)
    assert LAYERED


@pytest.mark.parametrize("path", LAYERED, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_the_layers_beneath_it(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0]
    upward = {
        name
        for name in _imports(path)
        if (layer := _layer_of(name)) is not None and layer != own and layer not in ALLOWED[own]
    }
    assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)}"


PUBLIC = ("trealtime.rest", "trealtime.webhooks", "trealtime.events", "trealtime.testing")


@pytest.mark.parametrize(
    "path",
    [path for path in LAYERED if path.relative_to(PACKAGE).parts[0] != "_cli"],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_the_layers_beneath_the_public_modules_never_import_them(path: Path) -> None:
    upward = {name for name in _imports(path) if name.startswith(PUBLIC)}
    assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)}"


SANS_IO = [
    "_session/_core.py",
    "_session/_actions.py",
    "_wire/_codec.py",
    "_wire/_settings.py",
    "_transport/_frames.py",
    "_transport/_handshake.py",
    "_transport/_deflate.py",
    "_agent/_playback.py",
    "_agent/_metrics.py",
    "_agent/_audio_input.py",
]
"""Modules that must run without trio, and so must everything of ours they import."""


def _trio_reached_from(module: str) -> list[str]:
    """The trio imports of ``module`` and of every module of ours it imports, transitively.

    A package's ``__init__`` runs on import anyway (trealtime's own imports trio): only the
    modules themselves are followed.
    """
    found: list[str] = []
    seen: set[Path] = set()
    todo = [PACKAGE / module]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        names = _all_imports(path)
        found += [
            f"{path.relative_to(PACKAGE)}: {name}"
            for name in sorted(names)
            if name == "trio" or name.startswith("trio.")
        ]
        for name in names:
            source = PACKAGE.parent.joinpath(*name.split(".")).with_suffix(".py")
            if name.startswith("trealtime.") and source.is_file():
                todo.append(source)
    return found


@pytest.mark.parametrize("module", SANS_IO)
def test_the_sans_io_parts_import_no_trio_even_indirectly(module: str) -> None:
    assert _trio_reached_from(module) == []


def test_the_trio_finder_follows_imports() -> None:
    # The supervisor imports trio itself, and reaches it again through the link module.
    assert any(
        found.startswith("_transport/_link.py")
        for found in _trio_reached_from("_session/_supervisor.py")
    )


# -- the fake server: a sans-IO protocol core beneath its transport -----------------------------

TESTING = PACKAGE / "testing"
FAKE_PROTOCOL = sorted((TESTING / "_protocol").rglob("*.py"))
FAKE_SERVER = sorted((TESTING / "_server").rglob("*.py"))
IO_LIBRARIES = ("trio", "trio_websocket", "wsproto", "h11", "httpx", "socket", "ssl", "select")
"""What a sans-IO core never imports: it takes frames and returns events, with no clock."""
PROTOCOL_PACKAGE = "trealtime.testing._protocol"


def _every_import(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (inside functions and ``TYPE_CHECKING`` too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return found | _imports(path)


def test_the_fake_has_a_protocol_core_and_a_server() -> None:
    assert (TESTING / "_protocol" / "__init__.py").is_file() and len(FAKE_PROTOCOL) > 1
    assert (TESTING / "_server" / "__init__.py").is_file() and len(FAKE_SERVER) > 1


@pytest.mark.parametrize("path", FAKE_PROTOCOL, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_fake_protocol_core_does_no_io(path: Path) -> None:
    io = {name for name in _every_import(path) if name.split(".")[0] in IO_LIBRARIES}
    assert not io, f"{path.relative_to(PACKAGE)} imports {sorted(io)}"


@pytest.mark.parametrize("path", FAKE_PROTOCOL, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_fake_protocol_core_never_imports_the_server(path: Path) -> None:
    upward = {
        name
        for name in _imports(path)
        if name.startswith("trealtime.testing.") and not name.startswith(PROTOCOL_PACKAGE)
    }
    assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)}"


# -- no import cycles anywhere in the package ---------------------------------------------------


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _targets(path: Path) -> set[str]:
    """The package's modules ``path`` imports: ``from pkg import mod`` names ``pkg.mod``, and
    ``from mod import name`` (or ``from pkg.mod.name import x``) the module ``mod``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            source = ".".join([*base, node.module or ""]).strip(".") if node.level else node.module
            for alias in node.names:
                full = f"{source}.{alias.name}"
                names.add(full if full in MODULES else source or "")
    targets = set()
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module:
            targets.add(name)
    return targets


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_package_imports_itself_through_others() -> None:
    """Counting imports inside functions and under ``TYPE_CHECKING``: a cycle hidden there is
    still two modules that cannot be understood (or moved) one without the other."""
    assert _cycles({module: _targets(path) for module, path in MODULES.items()}) == []
