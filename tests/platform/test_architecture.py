"""The shape of the code (docs/architecture.md), checked from the imports themselves: the cores
import no channel library, the adapters no database code, the base package nothing of the
project, and the packages form no cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "base",
    "texts",
    "storage",
    "accounts",
    "faq",
    "handoff",
    "conversation",
    "webhooks",
    "app",
    "bot",
    "web",
    "sanad",
)
CORES = (
    "base",
    "texts",
    "storage",
    "accounts",
    "faq",
    "handoff",
    "conversation",
    "webhooks",
    "app",
)
ADAPTERS = ("bot", "web")
CHANNEL_LIBRARIES = ("telegram", "aiohttp")
DATABASE_CODE = ("sqlalchemy", "storage", "asyncpg", "aiosqlite")
MAX_LINES = 860  # "no module of the product over ~800 lines"


def _modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> Iterator[str]:
    """Every absolute module name ``path`` imports, at any depth (a function-level import
    counts as much as one at the top)."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("package", CORES)
def test_cores_import_no_channel_library(package: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(package)
        for name in _imports(path)
        if _top(name) in CHANNEL_LIBRARIES or _top(name) in (*ADAPTERS, "sanad")
    ]
    assert found == []


@pytest.mark.parametrize("package", ADAPTERS)
def test_adapters_import_no_database_code(package: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(package)
        for name in _imports(path)
        if _top(name) in DATABASE_CODE
    ]
    assert found == []


@pytest.mark.parametrize("package", ("base", "texts"))
def test_the_base_imports_nothing_of_the_project(package: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(package)
        for name in _imports(path)
        if _top(name) in PACKAGES and _top(name) != package
    ]
    assert found == []


def test_the_packages_form_no_cycle() -> None:
    edges = {
        package: {
            _top(name)
            for path in _modules(package)
            for name in _imports(path)
            if _top(name) in PACKAGES and _top(name) != package
        }
        for package in PACKAGES
    }

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            here = todo.pop()
            if here == goal:
                return True
            if here not in seen:
                seen.add(here)
                todo.extend(edges[here])
        return False

    cycles = [(a, b) for a in PACKAGES for b in sorted(edges[a]) if reaches(b, a)]
    assert cycles == []


def test_no_module_of_the_product_is_overlong() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for path in _modules(package)
        if (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
