"""`sanad run` without a Telegram token: the web part alone, the first admin token, the help."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import aiohttp

from app.config import load_settings
from faq.service import sample_articles
from sanad.runner import serve


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _with_token_file(text: str) -> str:
    """The output, and the first-start token file's content when the tokens went there."""
    found = re.search(r"written to (\S+)", text)
    return text + Path(found.group(1)).read_text() if found else text


async def _run_once(db: Path) -> str:
    settings = load_settings(
        env={"SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "SANAD_WEB_PORT": "0"}
    )
    out, stop, ready = io.StringIO(), asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, out=out, ready=ready))
    await asyncio.wait_for(ready.wait(), 30)
    text = _with_token_file(out.getvalue())
    port = re.search(r"http://localhost:(\d+)/dashboard", text)
    assert port, text
    token = re.search(r"log in with: (\S+)", text)
    if token:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port.group(1)}/api/v1/openapi.json"
            ok = await http.get(url, headers={"Authorization": f"Bearer {token.group(1)}"})
            assert ok.status == 200
            health = await http.get(f"http://127.0.0.1:{port.group(1)}/healthz")
            loaded = (await health.json())["articles"]
            assert loaded == len(sample_articles())  # the sample FAQ was loaded
    stop.set()
    await task
    return text


async def test_first_start_prints_an_admin_token_and_how_to_connect_telegram(
    tmp_path: Path,
) -> None:
    first = await _run_once(tmp_path / "run.db")
    assert "log in with: sanad_" in first
    assert "talk to @BotFather" in first and "SANAD_TELEGRAM_BASE_URL" in first
    second = await _run_once(tmp_path / "run.db")
    assert "log in with" not in second  # shown once only


async def test_first_start_gives_the_whole_product_without_telegram(tmp_path: Path) -> None:
    """No configuration: the customer chat, the agent console (with a local agent and its
    token) and the dashboard, all served at the printed addresses."""
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
            "SANAD_WEB_PORT": "0",
        }
    )
    out, stop, ready = io.StringIO(), asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, out=out, ready=ready))
    await asyncio.wait_for(ready.wait(), 30)
    text = _with_token_file(out.getvalue())
    urls = dict(re.findall(r"(customer chat|agent console|web console):\s+(\S+)", text))
    agent_token = re.search(r"agent console \('Local agent'\):\s+log in with: (\S+)", text)
    assert set(urls) == {"customer chat", "agent console", "web console"} and agent_token, text
    async with aiohttp.ClientSession() as http:
        chat = await http.get(urls["customer chat"])
        assert chat.status == 200 and "chat.js" in await chat.text()
        auth = {"Authorization": f"Bearer {agent_token.group(1)}"}
        me = await http.get(
            urls["agent console"].replace("/agent", "/api/v1/agent/me"), headers=auth
        )
        assert (await me.json())["agent"]["name"] == "Local agent"
        console = await http.get(urls["agent console"], headers=auth)
        assert console.status == 200
    stop.set()
    await task


async def test_first_start_tokens_stay_out_of_service_logs(tmp_path: Path) -> None:
    """Not on a terminal (systemd, docker: output ends in logs), the tokens are written to a
    file only the user can read; on a terminal they are shown."""
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}",
            "SANAD_WEB_PORT": "0",
        }
    )
    out, stop, ready = io.StringIO(), asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, out=out, ready=ready))
    await asyncio.wait_for(ready.wait(), 30)
    stop.set()
    await task
    logged = out.getvalue()
    assert "sanad_" not in logged and "written to" in logged
    path = tmp_path / "sanad-first-start-tokens.txt"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().count("log in with: sanad_") == 2

    terminal = Terminal()
    settings = load_settings(
        env={
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tty.db'}",
            "SANAD_WEB_PORT": "0",
        }
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, out=terminal, ready=ready))
    await asyncio.wait_for(ready.wait(), 30)
    stop.set()
    await task
    assert terminal.getvalue().count("log in with: sanad_") == 2
