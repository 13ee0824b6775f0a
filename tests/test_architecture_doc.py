"""ARCHITECTURE.md matches the tree: every module is on the map, and the map names no module
that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "trealtime"
DOC = (ROOT / "ARCHITECTURE.md").read_text()
TREE = DOC[DOC.index("```\ntrealtime/") : DOC.index("```", DOC.index("```\ntrealtime/") + 3)]


def _tree_paths() -> set[str]:
    """The paths the tree block draws, from its indentation."""
    paths: set[str] = set()
    stack: list[tuple[int, str]] = []
    for line in TREE.splitlines()[1:]:
        match = re.match(r"^([│ ]*)[├└]── (\S+)", line)
        if match is None:
            continue
        depth, name = len(match.group(1)) // 4, match.group(2)
        del stack[depth:]
        stack.append((depth, name.rstrip("/")))
        paths.add("/".join(part for _, part in stack))
    return paths


def test_the_tree_draws_every_module_and_package() -> None:
    drawn = _tree_paths()
    # A private subpackage's __init__ holds only its docstring: the package stands for it.
    drawn_inits = {"__init__.py", "testing/__init__.py"}
    modules = {
        name
        for name in (str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py"))
        if not name.endswith("__init__.py") or name in drawn_inits
    }
    packages = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*") if path.is_dir()}
    packages -= {p for p in packages if "__pycache__" in p}
    assert modules - drawn == set()
    assert packages - drawn == set()


def test_the_tree_draws_nothing_that_does_not_exist() -> None:
    assert {path for path in _tree_paths() if not (PACKAGE / path).exists()} == set()


def test_every_module_path_in_the_text_exists() -> None:
    named = set(re.findall(r"`((?:testing/)?(?:_[a-z]+/)?_?[a-z_]+\.py)`", DOC))
    named |= set(re.findall(r"`(tests/[a-z_]+\.py)", DOC))
    missing = {
        path for path in named if not (PACKAGE / path).exists() and not (ROOT / path).exists()
    }
    assert missing == set()
