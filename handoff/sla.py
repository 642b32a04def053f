"""SLA targets per priority: first response and resolution, optionally in business time.

Pure and free of I/O: every question takes its instants as timezone-aware ``datetime`` arguments.
Both clocks start at ``start``, the time the customer asked for a person.

Deadlines are half-open like business hours: the target is met by an action strictly before
``due``; at ``due`` itself the status is already ``"breached"`` (so a timer scheduled for ``due``
sees the breach) and an action at ``due`` is ``"missed"``. Likewise ``"warning"`` starts at
``warn_at``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from handoff.hours import BusinessHours

PRIORITIES = ("low", "normal", "high", "urgent")
KINDS = ("first_response", "resolution")
STATUSES = ("none", "ok", "warning", "breached", "met", "missed")
_CONFIG_KEYS = ("warn_fraction", "business_hours_only", *KINDS)
_DISABLED = ("none", "off")

_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION_RE = re.compile(
    rf"(?:{_NUMBER}\s*d)?\s*(?:{_NUMBER}\s*h)?\s*(?:{_NUMBER}\s*m)?\s*(?:{_NUMBER}\s*s)?",
    re.IGNORECASE,
)
_UNIT_S = (86_400.0, 3_600.0, 60.0, 1.0)

_DEFAULT_FIRST_RESPONSE_S = {"urgent": 300.0, "high": 900.0, "normal": 3_600.0, "low": 14_400.0}
_DEFAULT_RESOLUTION_S = {
    "urgent": 4 * 3_600.0,
    "high": 8 * 3_600.0,
    "normal": 24 * 3_600.0,
    "low": 72 * 3_600.0,
}


class SlaError(ValueError):
    """A bad SLA configuration or question; config messages start with the offending key."""


def parse_duration(value: object, key: str) -> float:
    """Seconds from a number (seconds) or a string ``"90s"``, ``"15m"``, ``"4h"``, ``"2d"``,
    ``"1h30m"`` (units in the order d, h, m, s, each at most once; decimals allowed, ``"1.5h"``;
    a bare number string counts seconds). Must be positive and finite."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(_NUMBER, text):
            seconds = float(text)
        else:
            match = _DURATION_RE.fullmatch(text)
            if match is not None and text and any(match.groups()):
                seconds = sum(
                    float(amount) * unit
                    for amount, unit in zip(match.groups(), _UNIT_S, strict=True)
                    if amount is not None
                )
    if seconds is None:
        raise SlaError(
            f"{key}: expected a duration like 90s, 15m, 4h, 2d or 1h30m, or a number of "
            f"seconds, got {value!r}"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise SlaError(f"{key}: the duration must be positive, got {value!r}")
    return seconds


def _utc(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {at!r}")
    return at.astimezone(UTC)


def _targets(kind: str, targets: Mapping[str, float]) -> Mapping[str, float]:
    checked: dict[str, float] = {}
    for priority, seconds in targets.items():
        if priority not in PRIORITIES:
            raise SlaError(
                f"sla.{kind}.{priority}: unknown priority; expected one of {', '.join(PRIORITIES)}"
            )
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise SlaError(f"sla.{kind}.{priority}: expected positive seconds, got {seconds!r}")
        checked[priority] = float(seconds)
    return MappingProxyType(checked)


@dataclass(frozen=True)
class SlaPolicy:
    """Targets in seconds per priority (a priority missing from a mapping has no target).

    With ``business_hours`` set the targets count open time only.
    """

    first_response_s: Mapping[str, float] = field(hash=False)
    resolution_s: Mapping[str, float] = field(hash=False)
    warn_fraction: float = 0.8
    business_hours: BusinessHours | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "first_response_s", _targets(KINDS[0], self.first_response_s))
        object.__setattr__(self, "resolution_s", _targets(KINDS[1], self.resolution_s))
        fraction = self.warn_fraction
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not 0 < fraction <= 1
        ):
            raise SlaError(
                f"sla.warn_fraction: expected a number above 0 and at most 1, got {fraction!r}"
            )
        object.__setattr__(self, "warn_fraction", float(fraction))

    @classmethod
    def default(cls) -> SlaPolicy:
        """First response: urgent 5 min, high 15 min, normal 1 h, low 4 h. Resolution: urgent
        4 h, high 8 h, normal 24 h, low 72 h. Warn at 80 %, wall-clock time."""
        return cls(dict(_DEFAULT_FIRST_RESPONSE_S), dict(_DEFAULT_RESOLUTION_S))

    @classmethod
    def from_config(
        cls, table: Mapping[str, object], business_hours: BusinessHours | None
    ) -> SlaPolicy:
        """From the TOML ``[sla]`` table.

        ``[sla.first_response]`` / ``[sla.resolution]`` map priorities to durations
        (:func:`parse_duration`) or ``"none"`` (no target); a priority not listed keeps its
        default target. ``business_hours_only`` defaults to true when ``business_hours`` are
        given and not always open; true without business hours is an error.
        """
        if not isinstance(table, Mapping):
            raise SlaError(f"sla: expected a table, got {table!r}")
        for key in table:
            if key not in _CONFIG_KEYS:
                raise SlaError(
                    f"sla.{key}: unknown setting; expected one of {', '.join(_CONFIG_KEYS)}"
                )
        targets = {KINDS[0]: dict(_DEFAULT_FIRST_RESPONSE_S), KINDS[1]: dict(_DEFAULT_RESOLUTION_S)}
        for kind in KINDS:
            section = table.get(kind, {})
            if not isinstance(section, Mapping):
                raise SlaError(
                    f"sla.{kind}: expected a table of priority = duration, got {section!r}"
                )
            for priority, value in section.items():
                key = f"sla.{kind}.{priority}"
                if priority not in PRIORITIES:
                    raise SlaError(
                        f"{key}: unknown priority; expected one of {', '.join(PRIORITIES)}"
                    )
                if isinstance(value, str) and value.strip().lower() in _DISABLED:
                    targets[kind].pop(priority, None)
                else:
                    targets[kind][priority] = parse_duration(value, key)
        warn_fraction = table.get("warn_fraction", 0.8)
        if (
            isinstance(warn_fraction, bool)
            or not isinstance(warn_fraction, int | float)
            or not 0 < warn_fraction <= 1
        ):
            raise SlaError(
                f"sla.warn_fraction: expected a number above 0 and at most 1, got {warn_fraction!r}"
            )
        only = table.get(
            "business_hours_only",
            business_hours is not None and not business_hours.is_always_open,
        )
        if not isinstance(only, bool):
            raise SlaError(f"sla.business_hours_only: expected true or false, got {only!r}")
        if only and business_hours is None:
            raise SlaError(
                "sla.business_hours_only: true needs business hours; add a [business_hours] "
                "table or set business_hours_only = false"
            )
        return cls(
            targets[KINDS[0]],
            targets[KINDS[1]],
            float(warn_fraction),
            business_hours if only else None,
        )

    def target_s(self, kind: str, priority: str) -> float | None:
        """The target in seconds (business seconds with business hours), ``None`` if none."""
        if kind not in KINDS:
            raise SlaError(f"unknown SLA kind {kind!r}; expected one of {', '.join(KINDS)}")
        if priority not in PRIORITIES:
            raise SlaError(
                f"unknown priority {priority!r}; expected one of {', '.join(PRIORITIES)}"
            )
        targets = self.first_response_s if kind == KINDS[0] else self.resolution_s
        return targets.get(priority)

    def _after(self, start: datetime, seconds: float) -> datetime:
        start = _utc(start, "start")
        if self.business_hours is None:
            return start + timedelta(seconds=seconds)
        return self.business_hours.add_business_seconds(start, seconds)

    def due(self, kind: str, priority: str, start: datetime) -> datetime | None:
        """The deadline (UTC), ``None`` when the priority has no target for ``kind``."""
        target = self.target_s(kind, priority)
        return None if target is None else self._after(start, target)

    def warn_at(self, kind: str, priority: str, start: datetime) -> datetime | None:
        """When ``warn_fraction`` of the target has elapsed (UTC); ``None`` without a target."""
        target = self.target_s(kind, priority)
        return None if target is None else self._after(start, target * self.warn_fraction)

    def status(
        self,
        kind: str,
        priority: str,
        start: datetime,
        at: datetime,
        done_at: datetime | None,
    ) -> str:
        """``"none"`` without a target; once done (``done_at`` given, whatever ``at``) ``"met"``
        if ``done_at < due`` else ``"missed"``; otherwise ``"breached"`` from ``due`` on,
        ``"warning"`` from ``warn_at`` on, else ``"ok"``."""
        at = _utc(at, "at")
        due = self.due(kind, priority, start)
        if due is None:
            return "none"
        if done_at is not None:
            return "met" if _utc(done_at, "done_at") < due else "missed"
        if at >= due:
            return "breached"
        warn_at = self.warn_at(kind, priority, start)
        assert warn_at is not None
        return "warning" if at >= warn_at else "ok"
