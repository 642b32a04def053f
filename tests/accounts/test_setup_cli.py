"""``sanad admin setup-link`` on a real SQLite file: a new one-time admin link each time (the
first admin's lost, or every admin's password), which the web page then accepts."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from accounts import people
from sanad.cli import main
from storage.db import Database


def test_setup_link_command_makes_a_working_admin_link(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SANAD_DATABASE_URL", url)
    monkeypatch.setenv("SANAD_PUBLIC_URL", "https://support.example.com")
    keys = []
    for _ in range(2):
        out = io.StringIO()
        assert main(["admin", "setup-link"], out=out) == 0
        found = re.search(r"https://support\.example\.com/setup/([\w-]+)", out.getvalue())
        assert found, out.getvalue()
        keys.append(found.group(1))
    assert keys[0] != keys[1]

    async def use() -> str:
        db = Database(url)
        try:
            _, admin = await people.accept_link(
                db,
                keys[1],
                "setup",
                username="rescue",
                password="a long new secret",
                at=datetime.now(UTC),
            )
            return admin.role
        finally:
            await db.dispose()

    assert asyncio.run(use()) == "admin"
