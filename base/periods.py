"""Periods of time the figures are about: half-open intervals of UTC instants, and the named
ones (``today``, ``7d``, ``30d``, ``year``) as whole local days in a time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PERIOD_NAMES = ("today", "7d", "30d", "year")
_PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30, "year": 365}


@dataclass(frozen=True)
class Period:
    """A half-open interval ``[start, end)`` of UTC instants."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"period {name} must be timezone-aware, got {value!r}")
            object.__setattr__(self, name, value.astimezone(UTC))
        if self.end <= self.start:
            raise ValueError(f"period end {self.end} is not after its start {self.start}")

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def zone_named(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def period_named(name: str, now: datetime, tz: str = "UTC") -> Period:
    """A named period of whole local days in ``tz``, ending with today.

    ``today`` is today; ``7d``, ``30d`` and ``year`` are the last 7, 30 and 365 days including
    today: from local midnight ``n - 1`` days ago to the next local midnight. ``custom`` is the
    caller's (build a :class:`Period`).
    """
    if name not in _PERIOD_DAYS:
        raise ValueError(f"unknown period {name!r}; expected one of {', '.join(PERIOD_NAMES)}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    zone = zone_named(tz)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=_PERIOD_DAYS[name] - 1)
    return Period(_local_midnight(first, zone), _local_midnight(today + timedelta(days=1), zone))
