"""Business hours: weekly opening intervals in a time zone, with holidays.

Pure and free of I/O: every question takes the instant it is about (a timezone-aware
``datetime``, normally UTC from the injected clock) and answers in UTC.

Semantics:

* Opening intervals are half-open, ``[start, end)`` in local wall-clock time: open at 09:00:00,
  closed again at 17:00:00. An end of ``00:00`` (or ``"24:00"`` in the config) is the midnight
  that ends the day, so ``00:00-24:00`` is the whole day.
* An interval whose end is before its start crosses midnight (``"22:00-02:00"`` on Monday is
  Monday 22:00-24:00 plus Tuesday 00:00-02:00). Overlapping or touching intervals merge.
* A holiday closes its whole local date, including the part of an overnight interval that
  spills into it.
* Daylight-saving time: a local wall-clock time maps to the *first* instant at which the wall
  clock reads that time or later. A time skipped by a spring-forward gap therefore maps to the
  end of the gap (an interval ``02:30-05:00`` on that day opens at 03:00 new time); a time that
  occurs twice in a fall-back overlap maps to its first occurrence (so ``01:00-04:00`` on that day
  lasts four real hours, and ``00:00-02:30`` closes at the first 02:30). Open time is always
  counted in real elapsed seconds.
* Answers look ahead at most :data:`LOOKAHEAD_DAYS` days past the last opening found: a schedule
  closed for longer than that counts as never opening again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_KEYS = tuple(name.lower() for name in DAY_NAMES)
LOOKAHEAD_DAYS = 400
_CONFIG_KEYS = ("timezone", *DAY_KEYS, "holidays")
_DAY_S = 86_400
_MAX_HOLIDAY_RANGE_DAYS = 366

_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

Span = tuple[datetime, datetime]


class HoursError(ValueError):
    """A bad business-hours configuration; the message starts with the offending key."""


def _zone(name: object, key: str) -> ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise HoursError(f"{key}: expected an IANA time zone name like 'Asia/Riyadh', got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise HoursError(f"{key}: unknown time zone {name!r}") from None


def _utc(at: datetime, what: str = "at") -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {at!r}")
    return at.astimezone(UTC)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _to_seconds(value: object, key: str) -> int:
    if not isinstance(value, time):
        raise HoursError(f"{key}: expected datetime.time values, got {value!r}")
    if value.tzinfo is not None:
        raise HoursError(f"{key}: times are local wall-clock times; drop the tzinfo from {value}")
    if value.second or value.microsecond:
        raise HoursError(f"{key}: times must be whole minutes, got {value}")
    return value.hour * 3600 + value.minute * 60


def _normalise(
    weekly: Mapping[int, Sequence[tuple[time, time]]],
) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per weekday, the sorted, merged ``(start_s, end_s)`` intervals (end up to 86400)."""
    per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for day, intervals in weekly.items():
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise HoursError(
                f"business_hours.weekly: weekdays are 0 (Monday) to 6 (Sunday), got {day!r}"
            )
        key = f"business_hours.{DAY_KEYS[day]}"
        for interval in intervals:
            if not isinstance(interval, tuple) or len(interval) != 2:
                raise HoursError(f"{key}: expected (start, end) pairs of times, got {interval!r}")
            start, end = _to_seconds(interval[0], key), _to_seconds(interval[1], key)
            if end == 0:
                end = _DAY_S
            if start == end:
                raise HoursError(
                    f"{key}: empty interval {_clock(start)}-{_clock(end)} "
                    "(use 00:00-24:00 for the whole day)"
                )
            if start < end:
                per_day[day].append((start, end))
            else:  # crosses midnight: split across the two days
                per_day[day].append((start, _DAY_S))
                per_day[(day + 1) % 7].append((0, end))
    result = []
    for intervals_s in per_day:
        merged: list[tuple[int, int]] = []
        for start, end in sorted(intervals_s):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        result.append(tuple(merged))
    return tuple(result)


def _parse_time(text: str, key: str, *, is_end: bool) -> int:
    match = _TIME_RE.fullmatch(text.strip())
    if match is None:
        raise HoursError(f"{key}: expected a time HH:MM, got {text.strip()!r}")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise HoursError(f"{key}: {text.strip()!r} is not a time of day (00:00 to 24:00)")
    if hours == 24 and not is_end:
        raise HoursError(f"{key}: 24:00 can only end an interval")
    return hours * 3600 + minutes * 60


def _parse_day(key: str, value: object) -> tuple[tuple[time, time], ...]:
    """A day: "09:00-17:00", "09:00-13:00, 14:00-18:00", a list of such strings, or "closed"."""
    if isinstance(value, str):
        if value.strip().lower() == "closed":
            return ()
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = value
    else:
        raise HoursError(
            f'{key}: expected a string like "09:00-17:00" or "09:00-13:00, 14:00-18:00" '
            f'or "closed", got {value!r}'
        )
    if not parts:
        raise HoursError(f'{key}: no intervals given (write "closed" for a closed day)')
    intervals = []
    for part in parts:
        pieces = part.split("-")
        if len(pieces) != 2:
            raise HoursError(f"{key}: expected an interval HH:MM-HH:MM, got {part.strip()!r}")
        start = _parse_time(pieces[0], key, is_end=False)
        end = _parse_time(pieces[1], key, is_end=True)
        if start == end and start != 0:  # 00:00-00:00 ends at midnight: the whole day
            raise HoursError(f"{key}: empty interval {part.strip()!r}")
        intervals.append((time(start // 3600, start % 3600 // 60), _time_of(end)))
    return tuple(intervals)


def _time_of(seconds: int) -> time:
    """A time of day; the midnight ending the day (86400) is ``time(0, 0)``."""
    seconds %= _DAY_S
    return time(seconds // 3600, seconds % 3600 // 60)


def _parse_date(value: object, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_RE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise HoursError(f"{key}: expected a date YYYY-MM-DD, got {value!r}")


def _parse_holidays(value: object) -> frozenset[date]:
    key = "business_hours.holidays"
    if not isinstance(value, list):
        raise HoursError(f'{key}: expected a list of dates like ["2026-12-25"], got {value!r}')
    days: set[date] = set()
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        if isinstance(item, str) and ".." in item:
            first_text, _, last_text = item.partition("..")
            first, last = _parse_date(first_text, item_key), _parse_date(last_text, item_key)
            if last < first:
                raise HoursError(f"{item_key}: range {item!r} ends before it starts")
            if (last - first).days >= _MAX_HOLIDAY_RANGE_DAYS:
                raise HoursError(f"{item_key}: range {item!r} is longer than a year")
            days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
        else:
            days.add(_parse_date(item, item_key))
    return frozenset(days)


@dataclass(frozen=True)
class BusinessHours:
    """Weekly opening hours in ``timezone`` (weekday 0 = Monday), closed on ``holidays``.

    The constructor validates and normalises ``weekly``: every weekday present (``()`` = closed),
    intervals sorted and merged, midnight-crossing intervals split, ``time(0, 0)`` as an end
    meaning the midnight that ends the day.
    """

    timezone: str
    weekly: Mapping[int, tuple[tuple[time, time], ...]] = field(hash=False)
    holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    _intervals: tuple[tuple[tuple[int, int], ...], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", _zone(self.timezone, "business_hours.timezone"))
        if not isinstance(self.weekly, Mapping):
            raise HoursError(f"business_hours.weekly: expected a mapping, got {self.weekly!r}")
        intervals = _normalise(self.weekly)
        object.__setattr__(self, "_intervals", intervals)
        canonical = {
            day: tuple((_time_of(start), _time_of(end)) for start, end in intervals[day])
            for day in range(7)
        }
        object.__setattr__(self, "weekly", MappingProxyType(canonical))
        holidays = frozenset(self.holidays)
        for day in holidays:
            if not isinstance(day, date) or isinstance(day, datetime):
                raise HoursError(f"business_hours.holidays: expected dates, got {day!r}")
        object.__setattr__(self, "holidays", holidays)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def always_open(cls) -> BusinessHours:
        """Open around the clock, every day: the default when nothing is configured."""
        return cls("UTC", {day: ((time(0, 0), time(0, 0)),) for day in range(7)})

    @classmethod
    def from_config(cls, table: Mapping[str, object]) -> BusinessHours:
        """From the TOML ``[business_hours]`` table; an empty table means always open.

        ``timezone`` is required; each of ``monday`` ... ``sunday`` is ``"09:00-17:00"``,
        ``"09:00-13:00, 14:00-18:00"`` (or a list of such strings) or ``"closed"``; an absent
        day is closed. ``holidays`` lists local dates ``"2026-12-25"`` or inclusive ranges
        ``"2026-03-19..2026-03-22"``.
        """
        if not isinstance(table, Mapping):
            raise HoursError(f"business_hours: expected a table, got {table!r}")
        if not table:
            return cls.always_open()
        for key in table:
            if key not in _CONFIG_KEYS:
                raise HoursError(
                    f"business_hours.{key}: unknown setting; expected one of "
                    f"{', '.join(_CONFIG_KEYS)}"
                )
        if "timezone" not in table:
            raise HoursError(
                "business_hours.timezone: required, an IANA time zone name like 'Asia/Riyadh'"
            )
        weekly = {
            day: _parse_day(f"business_hours.{name}", table[name])
            for day, name in enumerate(DAY_KEYS)
            if name in table
        }
        holidays = _parse_holidays(table.get("holidays", []))
        timezone = table["timezone"]
        _zone(timezone, "business_hours.timezone")
        assert isinstance(timezone, str)
        hours = cls(timezone, weekly, holidays)
        if not any(hours._intervals):
            raise HoursError(
                'business_hours: no opening hours on any day; set e.g. monday = "09:00-17:00", '
                "or remove the [business_hours] table to be always open"
            )
        return hours

    # -- questions --------------------------------------------------------------------------

    @property
    def is_always_open(self) -> bool:
        return not self.holidays and all(day == ((0, _DAY_S),) for day in self._intervals)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` falls inside an opening interval (``[start, end)``)."""
        at = _utc(at)
        if self.is_always_open:
            return True
        local_day = at.astimezone(self._zone).date()
        for offset in (-1, 0, 1):
            for start, end in self._day_spans(local_day + timedelta(days=offset)):
                if start <= at < end:
                    return True
        return False

    def next_open(self, at: datetime) -> datetime | None:
        """``at`` itself (in UTC) when open, else the next opening instant; ``None`` if never."""
        at = _utc(at)
        if self.is_always_open:
            return at
        for start, _end in self._spans(at):
            return max(start, at)
        return None

    def next_close(self, at: datetime) -> datetime | None:
        """When the current opening ends (across midnight when the next day opens at 00:00).

        ``at`` itself when closed; ``None`` when always open (or open past the look-ahead).
        """
        at = _utc(at)
        if self.is_always_open:
            return None
        for start, end in self._spans(at):
            if start > at:
                return at
            if end - start >= timedelta(days=LOOKAHEAD_DAYS):
                return None
            return end
        return at

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Open time, in real seconds, within ``[start, end)``; 0.0 when ``end <= start``."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            return 0.0
        if self.is_always_open:
            return (end - start).total_seconds()
        total = timedelta()
        for span_start, span_end in self._spans(start):
            if span_start >= end:
                break
            total += min(span_end, end) - max(span_start, start)
        return total.total_seconds()

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime:
        """The first instant (UTC) by which ``seconds`` of open time have elapsed after ``start``.

        Zero seconds is ``start`` itself; a target used up exactly at a closing time is that
        closing time. Raises :class:`HoursError` when the hours never open again.
        """
        start = _utc(start, "start")
        if not seconds >= 0 or seconds == float("inf"):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        if seconds == 0:
            return start
        if self.is_always_open:
            return start + timedelta(seconds=seconds)
        remaining = timedelta(seconds=seconds)
        for span_start, span_end in self._spans(start):
            span_start = max(span_start, start)
            if remaining <= span_end - span_start:
                return span_start + remaining
            remaining -= span_end - span_start
        raise HoursError(
            f"business_hours: never open after {start.isoformat()}; cannot count business time"
        )

    # -- texts ------------------------------------------------------------------------------

    def weekly_rows(self) -> list[tuple[int, int, str]]:
        """``(first weekday, last weekday, "09:00-17:00" | "closed")`` per run of equal days.

        Runs wrap around the week (``(6, 3, ...)`` is Sunday to Thursday); the rows start with the
        run that contains Monday. Multiple intervals read ``"09:00-13:00, 14:00-18:00"``.
        """
        texts = [
            ", ".join(f"{_clock(start)}-{_clock(end)}" for start, end in day) or "closed"
            for day in self._intervals
        ]
        if len(set(texts)) == 1:
            return [(0, 6, texts[0])]
        first = 0
        while texts[(first - 1) % 7] == texts[first]:
            first = (first - 1) % 7
        rows: list[tuple[int, int, str]] = []
        for step in range(7):
            day = (first + step) % 7
            if rows and rows[-1][2] == texts[day]:
                rows[-1] = (rows[-1][0], day, texts[day])
            else:
                rows.append((day, day, texts[day]))
        return rows

    def describe(self) -> list[tuple[str, str]]:
        """``weekly_rows`` with English day names: ``[("Sunday-Thursday", "09:00-17:00"), ...]``."""
        return [
            (DAY_NAMES[first] if first == last else f"{DAY_NAMES[first]}-{DAY_NAMES[last]}", text)
            for first, last, text in self.weekly_rows()
        ]

    # -- internals --------------------------------------------------------------------------

    def _resolve(self, day: date, seconds: int) -> datetime:
        """The first instant (UTC) at which the local wall clock reads ``day`` + ``seconds``."""
        naive = datetime.combine(day, time()) + timedelta(seconds=seconds)
        first = naive.replace(tzinfo=self._zone).astimezone(UTC)
        if first.astimezone(self._zone).replace(tzinfo=None) == naive:
            return first  # exists; fold=0 is the earlier of two occurrences in an overlap
        # Skipped by a gap: find the transition, the first whole second whose wall time is later.
        other = naive.replace(tzinfo=self._zone, fold=1).astimezone(UTC)
        lo, hi = sorted((int(first.timestamp()), int(other.timestamp())))
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self._zone).replace(tzinfo=None) >= naive:
                hi = mid
            else:
                lo = mid
        return datetime.fromtimestamp(hi, UTC)

    def _day_spans(self, day: date) -> list[Span]:
        """The opening spans (UTC) of one local date."""
        if day in self.holidays:
            return []
        spans = []
        for start_s, end_s in self._intervals[day.weekday()]:
            start, end = self._resolve(day, start_s), self._resolve(day, end_s)
            if start < end:
                spans.append((start, end))
        return spans

    def _spans(self, at: datetime) -> Iterator[Span]:
        """Merged opening spans (UTC) that end after ``at``, in order.

        Stops after ``LOOKAHEAD_DAYS`` closed days in a row; a span open for longer than that
        is yielded in ``LOOKAHEAD_DAYS`` chunks.
        """
        if not any(self._intervals):
            return
        day = at.astimezone(self._zone).date() - timedelta(days=1)
        horizon = timedelta(days=LOOKAHEAD_DAYS)
        pending: Span | None = None
        closed_days = 0
        while closed_days <= LOOKAHEAD_DAYS:
            spans = self._day_spans(day)
            day += timedelta(days=1)
            closed_days = 0 if spans else closed_days + 1
            for start, end in spans:
                if end <= at:
                    continue
                if pending is None:
                    pending = (start, end)
                elif start <= pending[1]:
                    pending = (pending[0], max(pending[1], end))
                else:
                    yield pending
                    pending = (start, end)
            if pending is not None and pending[1] - pending[0] >= horizon:
                yield pending
                pending = None
        if pending is not None:
            yield pending
