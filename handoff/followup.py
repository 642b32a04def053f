"""The follow-up after resolve: when to ask a customer "Is your problem still solved?".

Configured in the TOML ``[followup]`` table (every key optional)::

    [followup]
    after_h = 24              # hours after the resolve; 0 (or "off") disables the follow-up
    business_hours = true     # count only open hours of [business_hours] (else calendar time)
    window_h = 72             # the question's buttons answer for this long after it was sent
    night = "21:00-09:00"     # never sent then in the customer's own time zone ("" = never)
    categories = { billing = 48, spam = 0 }   # after_h per ticket category (0: not asked)

The due time is stored on the ticket (``followup_due_at``) and armed as one engine timer
(:mod:`handoff.actions.followup`), so it survives restarts and costs nothing while idle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handoff.hours import BusinessHours

# The states of a ticket's follow-up (``tickets.followup_state``).
SCHEDULED = "scheduled"
SENT = "sent"
CONFIRMED = "confirmed"
REOPENED = "reopened"
SKIPPED = "skipped"  # not asked: blocked the bot, opted out, or the ticket moved on

_KEYS = ("after_h", "business_hours", "window_h", "night", "categories")


class FollowUpError(ValueError):
    """A bad ``[followup]`` configuration; the message names the key."""


def _hours(value: object, key: str) -> float:
    if isinstance(value, str) and value.strip().lower() in {"off", "no", "false"}:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 24 * 90:
        raise FollowUpError(f'{key}: expected hours between 0 and 2160 (or "off"), got {value!r}')
    return float(value)


def _clock(text: str, key: str) -> time:
    try:
        hh, mm = text.strip().split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise FollowUpError(f'{key}: expected "HH:MM-HH:MM", got {text!r}') from None


def _night(value: object) -> tuple[time, time] | None:
    if not isinstance(value, str):
        raise FollowUpError(f'followup.night: expected "21:00-09:00" or "", got {value!r}')
    if not value.strip():
        return None
    start, _, end = value.partition("-")
    night = (_clock(start, "followup.night"), _clock(end, "followup.night"))
    if night[0] == night[1]:
        raise FollowUpError("followup.night: start and end are the same")
    return night


def zone_of(name: str | None) -> ZoneInfo | None:
    """The customer's IANA time zone, or None when unknown or not a zone this system knows."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class FollowUpPolicy:
    """When a resolved ticket's customer is asked whether the problem is still solved."""

    after_s: float = 24 * 3600.0
    business_hours: bool = True
    window_s: float = 72 * 3600.0
    night: tuple[time, time] | None = (time(21, 0), time(9, 0))
    categories: Mapping[str, float] = field(default_factory=dict)  # category -> after_s

    @classmethod
    def from_config(cls, table: Mapping[str, object]) -> FollowUpPolicy:
        for key in table:
            if key not in _KEYS:
                raise FollowUpError(
                    f"followup.{key}: unknown setting; expected one of {', '.join(_KEYS)}"
                )
        values: dict[str, object] = {}
        if "after_h" in table:
            values["after_s"] = _hours(table["after_h"], "followup.after_h") * 3600.0
        if "window_h" in table:
            window = _hours(table["window_h"], "followup.window_h")
            if window <= 0:
                raise FollowUpError("followup.window_h: must be more than 0")
            values["window_s"] = window * 3600.0
        if "business_hours" in table:
            if not isinstance(table["business_hours"], bool):
                raise FollowUpError("followup.business_hours: expected true or false")
            values["business_hours"] = table["business_hours"]
        if "night" in table:
            values["night"] = _night(table["night"])
        categories = table.get("categories", {})
        if not isinstance(categories, Mapping):
            raise FollowUpError("followup.categories: expected a table of category = hours")
        values["categories"] = {
            str(name): _hours(hours, f"followup.categories.{name}") * 3600.0
            for name, hours in categories.items()
        }
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def off(cls) -> FollowUpPolicy:
        return cls(after_s=0.0)

    def delay_s(self, category: str) -> float:
        """Seconds (of business time, when counted so) after the resolve; 0: not asked."""
        return self.categories.get(category, self.after_s)

    def due(self, category: str, resolved_at: datetime, hours: BusinessHours) -> datetime | None:
        """When the follow-up of a ticket of ``category`` resolved at ``resolved_at`` is due;
        None when it is not asked."""
        delay = self.delay_s(category)
        if delay <= 0:
            return None
        if self.business_hours and not hours.is_always_open:
            return hours.add_business_seconds(resolved_at, delay)
        return resolved_at + timedelta(seconds=delay)

    def morning(self, at: datetime, zone: ZoneInfo | None) -> datetime | None:
        """When ``at`` is night in ``zone``: the end of that night (the next local morning,
        in UTC); None when it is not night there, or the zone is unknown."""
        if zone is None or self.night is None:
            return None
        start, end = self.night
        local = at.astimezone(zone)
        now = local.time()
        crosses = start > end  # 21:00-09:00
        at_night = (now >= start or now < end) if crosses else (start <= now < end)
        if not at_night:
            return None
        day = local.date()
        if crosses and now >= start:
            day += timedelta(days=1)
        wake = datetime.combine(day, end, tzinfo=zone)
        return wake.astimezone(at.tzinfo)
