"""Who may import what, for the web API and its core: the API and page modules read and write
through core functions (no database code of their own), and the core (tokens and sessions,
reports, FAQ curation, roster admin) knows nothing of HTTP or the channels."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_DATABASE = [
    "web/api_admin.py",
    "web/api_faq.py",
    "web/api_reports.py",
    "web/pages_faq.py",
    "web/pages_reports.py",
    "web/auth.py",
    "web/openapi.py",
    "web/shapes.py",
    "web/problem.py",
]
CORE = [
    "accounts/__init__.py",
    "accounts/tokens.py",
    "accounts/sessions.py",
    "faq/curation.py",
    "handoff/reports.py",
    "handoff/admin.py",
]


def imported(path: str) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _under(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("path", NO_DATABASE)
def test_the_api_and_pages_have_no_database_code(path: str) -> None:
    assert not [n for n in imported(path) if _under(n, ("sqlalchemy", "storage"))]


@pytest.mark.parametrize("path", CORE)
def test_the_core_knows_no_http_nor_channel(path: str) -> None:
    assert not [n for n in imported(path) if _under(n, ("aiohttp", "web", "bot", "telegram"))]


def test_the_rule_sees_imports() -> None:
    """The check itself: a module known to use the database is caught."""
    assert "sqlalchemy" in imported("handoff/reports.py")
    assert "storage.models" in imported("handoff/reports.py")
