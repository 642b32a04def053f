"""``sanad customers vip``: a list file registers customers not seen yet, who are VIP from
their first message; seen customers become VIP at once; bad lines change nothing."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handoff.customers import touch_customer
from sanad.cli import main
from storage.db import Database


async def first_contact(url: str, channel: str, external_id: str, username: str | None) -> str:
    db = Database(url)
    try:
        async with db.transaction() as session:
            customer = await touch_customer(
                session,
                channel=channel,
                external_id=external_id,
                name="New",
                username=username,
                language_code="ar",
                default_language="en",
                at=datetime(2026, 12, 6, tzinfo=UTC),
            )
            return customer.tier
    finally:
        await db.dispose()


def test_vip_list_from_a_file_and_the_command_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SANAD_DATABASE_URL", url)

    def cli(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        return main(list(argv), out=out), out.getvalue()

    vips = tmp_path / "vips.csv"
    vips.write_text("who,note\ntelegram:9001,gold\n@Layla_A,\nboss@example.com,ceo\n")
    code, out = cli("customers", "vip", "--file", str(vips))
    assert code == 0, out
    assert "telegram:9001: not seen yet, VIP from their first message" in out
    code, out = cli("customers", "vip", "--list")
    assert out.splitlines() == [
        "telegram:9001\tgold",
        "telegram:@layla_a",
        "email:boss@example.com\tceo",
    ]
    assert asyncio.run(first_contact(url, "telegram", "9001", None)) == "vip"
    assert asyncio.run(first_contact(url, "telegram", "9002", "layla_a")) == "vip"
    assert asyncio.run(first_contact(url, "telegram", "9003", "other")) == "normal"
    code, out = cli("customers", "vip", "--list")
    assert "telegram:9001\tgold\tmatched customer 1" in out

    # Seen already: VIP at once (the older command still works for them too).
    code, out = cli("customers", "vip", "telegram:9003")
    assert code == 0 and "telegram:9003: VIP now (customers 3)" in out
    assert cli("customers", "tier", "--telegram-id", "9003", "normal")[0] == 0

    assert cli("customers", "vip", "--remove", "email:boss@example.com")[0] == 0
    assert cli("customers", "vip", "--remove", "email:boss@example.com")[0] == 1
    assert "not on the VIP list" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("telegram:1\ntelegram:abc\n")
    assert cli("customers", "vip", "--file", str(bad))[0] == 1
    assert "line 2" in capsys.readouterr().err
    listed = [line.split("\t")[0] for line in cli("customers", "vip", "--list")[1].splitlines()]
    assert listed == ["telegram:9001", "telegram:@layla_a"]  # nothing of the bad file
