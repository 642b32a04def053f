"""The layout rules of issue 12 for the customer conversation, checked on the source: the
customer-side adapters touch no database, and the conversation core knows no channel."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    """Every module a source file imports (``import a.b`` and ``from a.b import c`` give
    ``a.b``), wherever the import statement is (functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def under(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("adapter", ["bot/handlers.py", "web/chat.py"])
def test_customer_adapters_import_neither_sqlalchemy_nor_storage(adapter: str) -> None:
    found = sorted(n for n in imported(ROOT / adapter) if under(n, ("sqlalchemy", "storage")))
    assert found == [], f"{adapter} imports {found}: read through conversation.reads instead"


def test_the_conversation_core_imports_no_channel() -> None:
    sources = sorted((ROOT / "conversation").glob("*.py"))
    assert sources, "the conversation package is missing"
    for source in sources:
        found = sorted(
            n for n in imported(source) if under(n, ("telegram", "aiohttp", "bot", "web"))
        )
        assert found == [], f"{source.name} imports {found}"


def test_the_import_reader_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The check above would pass on anything if the reader missed an import."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from storage.models import Message\n    import sqlalchemy\n")
    assert imported(sample) == {"storage.models", "sqlalchemy"}
