"""Sanad's settings: one typed object, from environment variables and an optional TOML file.

Precedence: environment (``SANAD_*``) over the TOML file over the defaults. In the TOML file a
setting is written as its environment name without the ``SANAD_`` prefix, in lower case
(``web_port = 8080``); a ``[sanad]`` table is accepted too. A bad value raises
:class:`ConfigError` naming the setting, and ``sanad`` stops with that message.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from handoff.acd import Strategy
from handoff.followup import FollowUpError, FollowUpPolicy
from handoff.hours import BusinessHours, HoursError
from handoff.priority import PriorityError, PriorityRules, parse_head_starts
from handoff.sla import SlaError, SlaPolicy

ENV_PREFIX = "SANAD_"
# Flood control off: for benchmarks and fuzzers whose clients all come from this machine at
# machine speed (which flood control would rightly refuse). Never for a real deployment.
FLOOD_CONTROL_OFF = {
    "SANAD_FLOOD_MESSAGE_BURST": "0",
    "SANAD_FLOOD_NEW_VISITORS_PER_IP": "0",
    "SANAD_FLOOD_HANDOFFS_PER_IP": "0",
    "SANAD_LOGIN_FAILURES_PER_IP": "0",
    "SANAD_LOGIN_FAILURES_PER_USER": "0",
}
LANGUAGES = ("en", "ar")


class ConfigError(ValueError):
    """A setting has a value Sanad cannot use; the message names the setting."""


def _as_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value.strip()


def _as_int(lo: int, hi: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        try:
            number = int(value) if isinstance(value, int) else int(str(value).strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if not lo <= number <= hi:
            raise ValueError(f"expected a number from {lo} to {hi}, got {number}")
        return number

    return parse


def _as_float(lo: float, hi: float) -> Callable[[object], float]:
    def parse(value: object) -> float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            number = float(value) if isinstance(value, int | float) else float(str(value))
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
        if not lo <= number <= hi:
            raise ValueError(f"expected a number from {lo} to {hi}, got {number}")
        return number

    return parse


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _optional(parse: Callable[[object], Any]) -> Callable[[object], Any]:
    def wrapped(value: object) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return parse(value)

    return wrapped


def _one_of(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _as_str(value).lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def _http_url(optional: bool) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _as_str(value)
        if not text and optional:
            return ""
        parsed = urlparse(text)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return text

    return parse


def _database_url(value: object) -> str:
    text = _as_str(value)
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if scheme not in {"sqlite+aiosqlite", "postgresql+asyncpg", "sqlite", "postgresql"}:
        raise ValueError(
            f"expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB, got {value!r}"
        )
    # Plain scheme names are accepted and mapped to the async drivers Sanad uses.
    if scheme == "sqlite":
        text = "sqlite+aiosqlite" + text[len("sqlite") :]
    elif scheme == "postgresql":
        text = "postgresql+asyncpg" + text[len("postgresql") :]
    return text


def _ip_networks(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else _as_str(value).split(",")
    networks = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ValueError(f"expected IP addresses or networks, got {text!r}") from None
    return tuple(networks)


def _setting(default: Any, parse: Callable[[object], Any], doc: str) -> Any:
    return field(default=default, metadata={"parse": parse, "doc": doc})


def _seconds_or_inf(value: object) -> float:
    if isinstance(value, str) and value.strip().lower() in {"inf", "infinity", "strict"}:
        return math.inf
    return _as_float(-1e9, 1e9)(value)


def _table(default_factory: Callable[[], Any], doc: str) -> Any:
    """A setting that only the TOML file holds, as a table (business hours, SLA, rules)."""
    return field(default_factory=default_factory, metadata={"table": True, "doc": doc})


@dataclass(frozen=True)
class Settings:
    database_url: str = _setting(
        "sqlite+aiosqlite:///sanad.db",
        _database_url,
        "Database URL; SQLite file in the working directory by default.",
    )
    db_pool_size: int = _setting(
        10, _as_int(1, 1000), "PostgreSQL: connections each process keeps open."
    )
    db_pool_overflow: int = _setting(
        10, _as_int(0, 1000), "PostgreSQL: extra connections a process may open at peaks."
    )
    db_pool_recycle_s: int = _setting(
        1800, _as_int(1, 86400), "PostgreSQL: reopen a connection after this many seconds."
    )
    telegram_token: str = _setting("", _as_str, "Bot token from @BotFather; empty: web only.")
    telegram_base_url: str = _setting(
        "https://api.telegram.org/bot",
        _http_url(optional=False),
        "Bot API base URL (the token is appended); any Bot API server works.",
    )
    telegram_base_file_url: str = _setting(
        "https://api.telegram.org/file/bot",
        _http_url(optional=False),
        "Bot API base URL for file downloads.",
    )
    telegram_max_rate: float = _setting(
        30.0,
        _as_float(0.1, 100_000),
        "Messages a second the bot sends at most (Telegram's limit is about 30; a "
        "self-hosted Bot API server allows more).",
    )
    telegram_concurrent_updates: int = _setting(
        64,
        _as_int(1, 4096),
        "Telegram updates handled at once (different chats; one chat's stay in order).",
    )
    telegram_connections: int = _setting(
        32,
        _as_int(1, 1024),
        "Bot API calls in flight at once (one connection each); more wait their turn.",
    )
    telegram_mode: str = _setting(
        "polling", _one_of("polling", "webhook"), "How updates arrive: polling or webhook."
    )
    webhook_url: str = _setting(
        "", _http_url(optional=True), "Public HTTPS URL Telegram posts updates to (webhook mode)."
    )
    webhook_secret: str = _setting(
        "", _as_str, "Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token (webhook mode)."
    )
    web_host: str = _setting("127.0.0.1", _as_str, "Address the web server listens on.")
    web_port: int = _setting(8080, _as_int(0, 65535), "Port the web server listens on.")
    default_language: str = _setting(
        "en", _one_of(*LANGUAGES), "Language for customers whose language is unknown."
    )
    faq_answer_min: float | None = _setting(
        None, _optional(_as_float(0.0, 1.0)), "Matcher score needed to answer (unset: tuned)."
    )
    faq_answer_margin: float | None = _setting(
        None,
        _optional(_as_float(0.0, 1.0)),
        "Lead over the runner-up needed to answer (unset: tuned).",
    )
    faq_suggest_min: float | None = _setting(
        None, _optional(_as_float(0.0, 1.0)), "Matcher score needed to suggest (unset: tuned)."
    )
    faq_semantic: str = _setting(
        "auto",
        _one_of("auto", "on", "off"),
        "Semantic FAQ matching (embeddings fused with lexical): auto (on when the model "
        "loads), on (refuse to start without it) or off (lexical only).",
    )
    faq_semantic_threads: int = _setting(
        1, _as_int(1, 64), "Threads the embedding model may use per query (FAQ semantic)."
    )
    faq_query_tokens: int | None = _setting(
        None,
        _optional(_as_int(8, 512)),
        "Cap, in the model's tokens, on what is embedded of a question (unset: its first 24 "
        "words). 24 bounds the CPU per question near 30 ms at 10,000 articles and costs about "
        "one point of Arabic direct answers (docs/BENCHMARKS.md).",
    )
    bus: str = _setting(
        "auto",
        _one_of("auto", "off"),
        "Delivery between Sanad processes sharing a PostgreSQL database (LISTEN/NOTIFY): auto "
        "(on with PostgreSQL) or off (one process; SQLite never needs it).",
    )
    bus_url: str = _setting(
        "",
        _as_str,
        "PostgreSQL URL the bus listens on, when it must differ from the database URL (a "
        "pgbouncer in transaction mode in front of the pools cannot pass LISTEN).",
    )
    brand_name: str = _setting("Sanad", _as_str, "Name the bot greets customers with.")
    public_url: str = _setting(
        "",
        _http_url(optional=True),
        "Address people reach the web part at (login links); empty: http://localhost:PORT.",
    )
    web_upload_max_mb: float = _setting(
        5.0, _as_float(0.01, 9.0), "Largest file a web chat customer or agent may send, in MB."
    )
    metrics_enabled: bool = _setting(
        True, _as_bool, "Serve Prometheus metrics at /metrics without a token."
    )
    load_sample_faq: bool = _setting(
        True, _as_bool, "Load the bundled sample FAQ on first run when the FAQ is empty."
    )
    log_level: str = _setting(
        "info", _one_of("debug", "info", "warning", "error"), "Logging level."
    )
    log_format: str = _setting(
        "text", _one_of("text", "json"), "Log lines as key=value text or one JSON object each."
    )
    flood_message_burst: int = _setting(
        10, _as_int(0, 10_000), "Messages a customer may send at once (0: no message limit)."
    )
    flood_message_per_min: float = _setting(
        30.0, _as_float(0.1, 100_000), "Messages a minute a customer may keep sending."
    )
    flood_new_visitors_per_ip: int = _setting(
        30, _as_int(0, 1_000_000), "New web chat visitors one IP address may start per window."
    )
    flood_handoffs_per_ip: int = _setting(
        5, _as_int(0, 1_000_000), "Requests for a person per IP address (or customer) per window."
    )
    flood_window_min: float = _setting(
        10.0, _as_float(0.1, 24 * 60), "The window of the two caps above, in minutes."
    )
    login_failures_per_ip: int = _setting(
        10, _as_int(0, 1_000_000), "Wrong logins per IP address per 15 minutes (0: no limit)."
    )
    login_failures_per_user: int = _setting(
        10,
        _as_int(0, 1_000_000),
        "Wrong passwords per username (from any address) per 15 minutes (0: no limit).",
    )
    account_link_hours: float = _setting(
        72.0,
        _as_float(0.05, 24 * 365),
        "Hours an invitation, password reset or setup link stays valid (used once).",
    )
    trusted_proxies: tuple[str, ...] = _setting(
        ("127.0.0.0/8", "::1/128"),
        _ip_networks,
        "Comma-separated addresses/networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (default: this machine).",
    )
    offer_timeout_s: float = _setting(
        30.0, _as_float(0.05, 3600), "Seconds an agent has to accept an offered chat."
    )
    max_no_answer: int = _setting(
        3, _as_int(1, 100), "Consecutive missed offers that set an agent away."
    )
    routing_strategy: str = _setting(
        Strategy.LONGEST_IDLE.value,
        _one_of(*(s.value for s in Strategy)),
        "How the ACD picks among eligible agents.",
    )
    wrap_up_s: float = _setting(
        0.0, _as_float(0, 3600), "Pause after a chat before the next offer."
    )
    reopen_window_h: float = _setting(
        24.0, _as_float(0, 24 * 90), "Hours after resolve in which a customer message reopens."
    )
    bot_idle_close_h: float = _setting(
        24.0, _as_float(0.01, 24 * 90), "Hours of silence after which a bot conversation closes."
    )
    exclusion_lapse_s: float = _setting(
        60.0, _as_float(0, 86400), "When every agent missed a chat, seconds until they may retry."
    )
    offline_grace_s: float = _setting(
        120.0, _as_float(0, 86400), "Seconds before an offline agent's chats go back to the queue."
    )
    presence_grace_s: float = _setting(
        45.0,
        _as_float(0, 86400),
        "Seconds after an agent's last console closed (on every process) before they are set "
        "offline (a reload or reconnect within it changes nothing).",
    )
    idle_away_s: float = _setting(
        600.0,
        _as_float(0, 86400),
        "Seconds without activity in an agent's console before they are set away (0: never).",
    )
    presence_heartbeat_s: float = _setting(
        10.0,
        _as_float(1, 600),
        "Seconds between a process's presence heartbeats; a process silent for three is gone.",
    )
    position_update_s: float = _setting(
        60.0, _as_float(0, 3600), "Minimum seconds between queue-position updates to a customer."
    )
    waiting_reminder_s: float = _setting(
        120.0,
        _as_float(0, 86400),
        "When offers lapse, seconds after the last notice before a waiting customer is told "
        "again where they stand.",
    )
    webhooks_timeout_s: float = _setting(
        10.0, _as_float(1, 120), "Outgoing webhooks: seconds before a POST is given up."
    )
    webhooks_max_attempts: int = _setting(
        10, _as_int(1, 50), "Outgoing webhooks: attempts before a delivery is marked failed."
    )
    webhooks_retry_first_s: float = _setting(
        10.0, _as_float(1, 3600), "Outgoing webhooks: wait after the first failure (doubles)."
    )
    webhooks_retry_cap_s: float = _setting(
        3600.0, _as_float(1, 86400), "Outgoing webhooks: longest wait between two attempts."
    )
    webhooks_keep_days: float = _setting(
        14.0, _as_float(0.01, 3650), "Outgoing webhooks: days the delivery log is kept."
    )
    webhooks_poll_s: float = _setting(
        5.0,
        _as_float(0.5, 300),
        "Outgoing webhooks: seconds between looks for other processes' events (this "
        "process's own wake the worker at once).",
    )
    head_start_low_s: float = _setting(
        -600.0, _seconds_or_inf, "Queue head start of low priority (seconds; inf = strict)."
    )
    head_start_normal_s: float = _setting(
        0.0, _seconds_or_inf, "Queue head start of normal priority (seconds)."
    )
    head_start_high_s: float = _setting(
        600.0, _seconds_or_inf, "Queue head start of high priority (seconds; inf = strict)."
    )
    head_start_urgent_s: float = _setting(
        math.inf, _seconds_or_inf, "Queue head start of urgent priority (inf = strict)."
    )
    staffing_target_share: float = _setting(
        0.8,
        _as_float(0.01, 0.999),
        "Staffing advice: share of chats to answer within the target time (0.8 = 80%).",
    )
    staffing_target_seconds: float = _setting(
        60.0,
        _as_float(1, 3600),
        "Staffing advice: the target time, in seconds, to answer that share of chats within.",
    )
    # _table() returns a dataclasses.field with a default_factory: nothing is shared.
    business_hours: BusinessHours = _table(  # noqa: RUF009
        BusinessHours.always_open, "[business_hours]: time zone, weekly hours, holidays."
    )
    sla: SlaPolicy = _table(  # noqa: RUF009
        SlaPolicy.default, "[sla]: first-response and resolution targets."
    )
    priority_rules: PriorityRules = _table(  # noqa: RUF009
        PriorityRules, "[priority]: VIP, repeat contact, categories, keywords."
    )
    followup: FollowUpPolicy = _table(  # noqa: RUF009
        FollowUpPolicy,
        '[followup]: ask "Is your problem still solved?" after resolve (after_h, '
        "business_hours, window_h, night, categories; after_h = 0 disables).",
    )

    def __post_init__(self) -> None:
        if self.telegram_mode == "webhook" and self.telegram_token:
            if not self.webhook_url:
                raise ConfigError(
                    "SANAD_WEBHOOK_URL: required when SANAD_TELEGRAM_MODE=webhook "
                    "(the public HTTPS URL Telegram will post updates to)"
                )
            if not self.webhook_secret:
                raise ConfigError(
                    "SANAD_WEBHOOK_SECRET: required when SANAD_TELEGRAM_MODE=webhook "
                    "(1-256 characters A-Z, a-z, 0-9, _ and -)"
                )
        if self.webhook_secret and not all(
            c.isascii() and (c.isalnum() or c in "_-") for c in self.webhook_secret
        ):
            raise ConfigError(
                "SANAD_WEBHOOK_SECRET: only A-Z, a-z, 0-9, _ and - are allowed by Telegram"
            )

    @property
    def head_start_s(self) -> dict[str, float]:
        return {
            "low": self.head_start_low_s,
            "normal": self.head_start_normal_s,
            "high": self.head_start_high_s,
            "urgent": self.head_start_urgent_s,
        }

    @property
    def webhook_path(self) -> str:
        """Path of the webhook route on Sanad's own web server."""
        path = urlparse(self.webhook_url).path if self.webhook_url else ""
        return path if path and path != "/" else "/telegram/webhook"


def setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings)]


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"--config: file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {path} is not valid TOML: {exc}") from None
    table = data.get("sanad", data)
    if not isinstance(table, dict):
        raise ConfigError(f"--config: [sanad] in {path} must be a table")
    return table


def load_settings(
    env: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Build the settings from ``env`` (default: ``os.environ``) and an optional TOML file."""
    environ = os.environ if env is None else env
    file_values = _read_toml(Path(config_file)) if config_file else {}
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    tables = {"business_hours", "sla", "priority", "followup"}
    for key in file_values:
        if key in tables:
            if not isinstance(file_values[key], dict):
                raise ConfigError(f"[{key}] in {config_file} must be a table")
        elif key not in fields or fields[key].metadata.get("table"):
            raise ConfigError(f"{key}: unknown setting in {config_file}")
    values: dict[str, Any] = _parse_tables(file_values)
    for name, fld in fields.items():
        if fld.metadata.get("table"):
            continue
        raw: object
        source = env_name(name)
        if source in environ:
            raw = environ[source]
        elif name in file_values:
            raw, source = file_values[name], f"{name} (in {config_file})"
        else:
            continue
        try:
            values[name] = fld.metadata["parse"](raw)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return Settings(**values)


def _parse_tables(file_values: Mapping[str, Any]) -> dict[str, Any]:
    """The TOML-only tables; their own errors already name the key (``sla.resolution.x``)."""
    values: dict[str, Any] = {}
    try:
        hours = BusinessHours.from_config(file_values.get("business_hours", {}))
        values["business_hours"] = hours
        values["sla"] = (
            SlaPolicy.from_config(file_values["sla"], hours)
            if "sla" in file_values
            else SlaPolicy.default()
        )
        priority = dict(file_values.get("priority", {}))
        head = priority.pop("head_start_s", None)
        values["priority_rules"] = PriorityRules.from_config(priority)
        if head is not None:
            if not isinstance(head, dict):
                raise PriorityError("priority.head_start_s: expected a table of level = seconds")
            for level, seconds in parse_head_starts(head).items():
                if level in head:
                    values[f"head_start_{level}_s"] = seconds
        values["followup"] = FollowUpPolicy.from_config(file_values.get("followup", {}))
    except (HoursError, SlaError, PriorityError, FollowUpError) as exc:
        raise ConfigError(str(exc)) from None
    return values
