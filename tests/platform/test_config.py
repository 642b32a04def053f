"""Settings: defaults, environment over TOML, and errors that name the setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import ConfigError, Settings, load_settings
from sanad.cli import main


def test_defaults_are_a_local_sqlite_file_and_telegram_polling() -> None:
    s = load_settings(env={})
    assert s.database_url == "sqlite+aiosqlite:///sanad.db"
    assert s.telegram_base_url == "https://api.telegram.org/bot"
    assert s.telegram_base_file_url == "https://api.telegram.org/file/bot"
    assert s.telegram_mode == "polling"
    assert s.telegram_token == ""
    assert (s.web_host, s.web_port, s.default_language) == ("127.0.0.1", 8080, "en")


def test_environment_overrides_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "sanad.toml"
    cfg.write_text('web_port = 9000\ndefault_language = "ar"\ntelegram_token = "1:A"\n')
    s = load_settings(env={"SANAD_WEB_PORT": "9100"}, config_file=cfg)
    assert s.web_port == 9100
    assert s.default_language == "ar"
    assert s.telegram_token == "1:A"


def test_sanad_table_in_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "sanad.toml"
    cfg.write_text('[sanad]\nweb_host = "0.0.0.0"\n')
    assert load_settings(env={}, config_file=cfg).web_host == "0.0.0.0"


def test_plain_database_schemes_map_to_async_drivers() -> None:
    s = load_settings(env={"SANAD_DATABASE_URL": "postgresql://u@h/db"})
    assert s.database_url == "postgresql+asyncpg://u@h/db"
    s = load_settings(env={"SANAD_DATABASE_URL": "sqlite:////var/lib/sanad.db"})
    assert s.database_url == "sqlite+aiosqlite:////var/lib/sanad.db"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SANAD_WEB_PORT": "eighty"}, "SANAD_WEB_PORT"),
        ({"SANAD_WEB_PORT": "70000"}, "SANAD_WEB_PORT"),
        ({"SANAD_TELEGRAM_MODE": "push"}, "SANAD_TELEGRAM_MODE"),
        ({"SANAD_DEFAULT_LANGUAGE": "fr"}, "SANAD_DEFAULT_LANGUAGE"),
        ({"SANAD_DATABASE_URL": "mysql://x"}, "SANAD_DATABASE_URL"),
        ({"SANAD_TELEGRAM_BASE_URL": "ftp://x"}, "SANAD_TELEGRAM_BASE_URL"),
        ({"SANAD_FAQ_ANSWER_MIN": "2"}, "SANAD_FAQ_ANSWER_MIN"),
        ({"SANAD_LOAD_SAMPLE_FAQ": "maybe"}, "SANAD_LOAD_SAMPLE_FAQ"),
        (
            {"SANAD_TELEGRAM_MODE": "webhook", "SANAD_TELEGRAM_TOKEN": "1:A"},
            "SANAD_WEBHOOK_URL",
        ),
        (
            {
                "SANAD_TELEGRAM_MODE": "webhook",
                "SANAD_TELEGRAM_TOKEN": "1:A",
                "SANAD_WEBHOOK_URL": "https://x.example/hook",
            },
            "SANAD_WEBHOOK_SECRET",
        ),
        ({"SANAD_WEBHOOK_SECRET": "has space"}, "SANAD_WEBHOOK_SECRET"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env=env)


def test_bad_toml_and_unknown_keys(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("web_port = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={}, config_file=bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("web_prot = 1\n")
    with pytest.raises(ConfigError, match="web_prot: unknown setting"):
        load_settings(env={}, config_file=unknown)
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(env={}, config_file=tmp_path / "missing.toml")
    toml_bad = tmp_path / "port.toml"
    toml_bad.write_text('web_port = "x"\n')
    with pytest.raises(ConfigError, match=r"web_port \(in .*port.toml\)"):
        load_settings(env={}, config_file=toml_bad)


def test_webhook_path_comes_from_the_public_url() -> None:
    s = Settings(webhook_url="https://bot.example.com/tg/hook-1")
    assert s.webhook_path == "/tg/hook-1"
    assert Settings().webhook_path == "/telegram/webhook"


def test_cli_stops_on_a_bad_setting_and_names_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SANAD_WEB_PORT", "abc")
    assert main(["db", "upgrade"]) == 2
    assert "SANAD_WEB_PORT" in capsys.readouterr().err


def test_handoff_settings_from_env_and_toml_tables(tmp_path: Path) -> None:
    cfg = tmp_path / "sanad.toml"
    cfg.write_text(
        """
offer_timeout_s = 20
[business_hours]
timezone = "Asia/Riyadh"
sunday = "09:00-17:00"
holidays = ["2026-12-02"]
[sla.first_response]
high = "10m"
[priority]
vip = "urgent"
keywords = { fraud = "urgent" }
[priority.head_start_s]
high = "inf"
"""
    )
    s = load_settings(env={"SANAD_ROUTING_STRATEGY": "least_busy"}, config_file=cfg)
    assert s.offer_timeout_s == 20
    assert s.routing_strategy == "least_busy"
    assert s.business_hours.timezone == "Asia/Riyadh"
    assert s.sla.first_response_s["high"] == 600
    assert s.priority_rules.vip == "urgent"
    assert s.head_start_s["high"] == float("inf")
    assert s.head_start_s["normal"] == 0
    env = load_settings(env={"SANAD_HEAD_START_HIGH_S": "inf", "SANAD_MAX_NO_ANSWER": "5"})
    assert (env.head_start_high_s, env.max_no_answer) == (float("inf"), 5)


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[business_hours]\ntimezone = "Mars/Base"\nmonday = "09:00-17:00"\n', "business_hours"),
        ('[sla.first_response]\ncritical = "1h"\n', "sla.first_response.critical"),
        ('[priority]\nvip = "mega"\n', "priority.vip"),
        ('[priority.head_start_s]\nhigh = "soon"\n', "priority.head_start_s.high"),
        ("business_hours = 3\n", "[business_hours]"),
    ],
)
def test_bad_tables_name_the_key(tmp_path: Path, toml: str, named: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_settings(env={}, config_file=cfg)


def test_bad_handoff_env_values_name_the_setting() -> None:
    for env, named in (
        ({"SANAD_ROUTING_STRATEGY": "fastest"}, "SANAD_ROUTING_STRATEGY"),
        ({"SANAD_OFFER_TIMEOUT_S": "0"}, "SANAD_OFFER_TIMEOUT_S"),
        ({"SANAD_MAX_NO_ANSWER": "-1"}, "SANAD_MAX_NO_ANSWER"),
    ):
        with pytest.raises(ConfigError, match=named):
            load_settings(env=env)


def test_staffing_targets_from_env_and_checked() -> None:
    default = load_settings(env={})
    assert (default.staffing_target_share, default.staffing_target_seconds) == (0.8, 60.0)
    s = load_settings(
        env={"SANAD_STAFFING_TARGET_SHARE": "0.9", "SANAD_STAFFING_TARGET_SECONDS": "20"}
    )
    assert (s.staffing_target_share, s.staffing_target_seconds) == (0.9, 20.0)
    for env, named in (
        ({"SANAD_STAFFING_TARGET_SHARE": "1"}, "SANAD_STAFFING_TARGET_SHARE"),
        ({"SANAD_STAFFING_TARGET_SHARE": "80%"}, "SANAD_STAFFING_TARGET_SHARE"),
        ({"SANAD_STAFFING_TARGET_SECONDS": "0"}, "SANAD_STAFFING_TARGET_SECONDS"),
        ({"SANAD_STAFFING_TARGET_SECONDS": "7200"}, "SANAD_STAFFING_TARGET_SECONDS"),
    ):
        with pytest.raises(ConfigError, match=named):
            load_settings(env=env)
