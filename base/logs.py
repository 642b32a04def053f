"""Logging: secrets never reach a log line, and lines are structured (text or JSON).

Secrets that could otherwise end up in a log:

- the Telegram bot token: every Bot API URL contains it (``httpx`` logs each request, and
  exceptions quote the URL);
- the webhook secret, Sanad's API tokens (``sanad_...``), the web chat's visitor secrets
  (``v_...``) and one-time login keys (``?key=...``), e.g. in aiohttp's access log.

Two layers stop them, for every logger and every handler (pytest's too):

1. a log-record factory (:func:`install_redaction`) formats each record's message as it is
   made and redacts it, so no handler ever sees the raw text;
2. the formatter (:class:`RedactingFormatter`) redacts the finished line again, tracebacks
   included.

``ticket_id``, ``agent_id`` and ``customer_id`` passed in ``extra=`` (or set for a block with
:func:`log_context`) are written as fields of the line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "<redacted>"
# A Telegram bot token: the bot's numeric id, a colon and 35 url-safe characters.
TELEGRAM_TOKEN_RE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
# Sanad's API tokens, web chat visitor secrets, and secrets passed in a query string.
SANAD_TOKEN_RE = re.compile(r"sanad_[A-Za-z0-9_-]{16,}")
VISITOR_RE = re.compile(r"\bv_[A-Za-z0-9_-]{20,64}")
QUERY_SECRET_RE = re.compile(r"([?&](?:key|visitor|token|sig|secret)=)[^&\s\"']+", re.IGNORECASE)
CONTEXT_FIELDS = ("ticket_id", "agent_id", "customer_id")

_extra_secrets: set[str] = set()
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "sanad_log_context", default=None
)


def add_secret(*values: str) -> None:
    """Redact these exact values too (the configured bot token, the webhook secret)."""
    _extra_secrets.update(v for v in values if v and len(v) >= 6)


def redact(text: str) -> str:
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = TELEGRAM_TOKEN_RE.sub(REDACTED, text)
    text = SANAD_TOKEN_RE.sub(REDACTED, text)
    text = QUERY_SECRET_RE.sub(lambda m: m.group(1) + REDACTED, text)
    return VISITOR_RE.sub(REDACTED, text)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``ticket_id=...`` (and the like) to every line logged in this block."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in fields.items() if v is not None})
    token = _context.set(current)
    try:
        yield
    finally:
        _context.reset(token)


_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep the record as logging would
        return record
    record.msg = redact(message)
    record.args = None
    for key, value in (_context.get() or {}).items():
        if not hasattr(record, key):
            setattr(record, key, value)
    return record


def install_redaction() -> None:
    """Redact every record as it is made (idempotent)."""
    if logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)


class RedactingFormatter(logging.Formatter):
    """``key=value`` text or one JSON object per line; the whole line redacted."""

    def __init__(self, fmt: str = "text") -> None:
        super().__init__()
        self.json = fmt == "json"

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        context = {k: getattr(record, k) for k in CONTEXT_FIELDS if hasattr(record, k)}
        error = self.formatException(record.exc_info) if record.exc_info else None
        at = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        if self.json:
            data: dict[str, Any] = {
                "at": at,
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": message,
                **context,
            }
            if error:
                data["error"] = error
            return redact(json.dumps(data, ensure_ascii=False, default=str))
        fields = "".join(f" {k}={v}" for k, v in context.items())
        line = f"{at} level={record.levelname.lower()} logger={record.name}{fields} {message}"
        if error:
            line += "\n" + error
        return redact(line)


def setup_logging(
    level: str = "info",
    fmt: str = "text",
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> logging.Handler:
    """Sanad's logging: one redacting handler on the root logger (replacing any other), the
    level, and chatty libraries quieted. Returns the handler."""
    add_secret(*secrets)
    install_redaction()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # One line per Bot API request (getUpdates every few seconds) is noise below debug
    # (and redacted at any level).
    logging.getLogger("httpx").setLevel(
        logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING
    )
    return handler
