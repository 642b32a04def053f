"""Secrets never reach the logs: the bot token in Bot API URLs (httpx logs each request),
API tokens, visitor secrets and login keys; lines are key=value text or JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import load_settings
from app.services import Services
from base.clock import VirtualClock
from base.logs import log_context, redact, setup_logging
from bot.app import build_application, start_application, stop_application
from tests.fakes.bot_api import FakeBotApi

# The shape of a real token from @BotFather (numeric id, colon, 35 characters).
TOKEN = "7312345678:AAE" + "x9Kq_Lm-2ZpQwErTyUiOpAsDfGhJk"


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, list[logging.Handler]]]:
    """Sanad's logging set up as ``sanad run`` does it, into a buffer; restored afterwards."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    buffer = io.StringIO()
    yield buffer, saved
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("level", ["debug", "info"])
async def test_polling_mode_never_logs_the_bot_token(
    tmp_path: Path, captured: tuple[io.StringIO, list[logging.Handler]], level: str
) -> None:
    buffer, _ = captured
    setup_logging(level, "text", stream=buffer)  # no explicit secret: the pattern alone
    fake = FakeBotApi(token=TOKEN)
    await fake.start()
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            "SANAD_TELEGRAM_TOKEN": fake.token,
            "SANAD_TELEGRAM_BASE_URL": fake.base_url,
            "SANAD_TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        }
    )
    services = Services.create(settings, VirtualClock())
    app = build_application(services)
    await services.start(run_timers=False)
    try:
        await start_application(app, services)
        sara = fake.user(1001, "Sara", language_code="en")
        fake.send_text(sara, "how many days does delivery take?")
        reply = await fake.wait_for_message(sara)
        assert "2-4 working days" in reply["text"]
        logging.getLogger("bot.test").error("failed: %s", f"{fake.base_url}{TOKEN}/getMe")
    finally:
        await stop_application(app)
        await services.close()
        await fake.stop()
    output = buffer.getvalue()
    assert output  # something was logged
    if level == "debug":  # httpx logs every Bot API request at this level: redacted
        assert "getUpdates" in output and "<redacted>" in output
    assert TOKEN not in output
    assert TOKEN.split(":")[1] not in output


def test_other_secrets_are_redacted_in_any_line() -> None:
    line = (
        "GET /chat/files/3?visitor=v_abcdefghijklmnopqrstuvwx&x=1"
        ' "Bearer sanad_AbCdEf1234567890xyz"'
        " /agent/login?key=Zz9_secret-key"
    )
    out = redact(line)
    assert "v_abcdefghijklmnopqrstuvwx" not in out
    assert "sanad_AbCdEf1234567890xyz" not in out
    assert "Zz9_secret-key" not in out
    assert "x=1" in out and "/chat/files/3" in out


def test_json_lines_with_ticket_context(
    captured: tuple[io.StringIO, list[logging.Handler]],
) -> None:
    buffer, _ = captured
    setup_logging("info", "json", stream=buffer, secrets=["webhook-secret-123"])
    with log_context(ticket_id=7, agent_id=2):
        logging.getLogger("sanad.test").info("offer made with webhook-secret-123")
    line = json.loads(buffer.getvalue().strip().splitlines()[-1])
    assert line["ticket_id"] == 7 and line["agent_id"] == 2
    assert line["level"] == "info" and line["logger"] == "sanad.test"
    assert "webhook-secret-123" not in line["message"]


def test_a_request_about_a_ticket_logs_with_its_id() -> None:
    from aiohttp.test_utils import make_mocked_request

    from web.app import _ticket_in_path

    chat = make_mocked_request(
        "POST", "/api/v1/agent/chats/12/close", match_info={"ticket_id": "12"}
    )
    page = make_mocked_request("GET", "/tickets/5", match_info={"ticket_id": "5"})
    other = make_mocked_request("GET", "/api/v1/faq/articles/9", match_info={"id": "9"})
    assert (_ticket_in_path(chat), _ticket_in_path(page), _ticket_in_path(other)) == (12, 5, None)
