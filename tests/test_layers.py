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


SANS_IO = ["_session/_core.py", "_session/_actions.py"]
"""Modules that must run without trio, and so must everything of ours they import."""


@pytest.mark.parametrize("module", SANS_IO)
def test_the_sans_io_core_imports_no_trio_even_indirectly(module: str) -> None:
    # A package's __init__ runs on import anyway (trealtime's own imports trio): only the
    # modules themselves are followed.
    seen: set[Path] = set()
    todo = [PACKAGE / module]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        names = _all_imports(path)
        trio = sorted(name for name in names if name == "trio" or name.startswith("trio."))
        assert not trio, f"{path.relative_to(PACKAGE)} (for {module}) imports {trio}"
        for name in names:
            source = PACKAGE.parent.joinpath(*name.split(".")).with_suffix(".py")
            if name.startswith("trealtime.") and source.is_file():
                todo.append(source)
    assert len(seen) > 5  # the walk did follow the imports
