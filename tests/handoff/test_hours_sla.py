"""Business hours (time zones, DST, holidays, overnight intervals) and SLA targets."""

from __future__ import annotations

import random
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handoff.hours import BusinessHours, HoursError
from handoff.sla import PRIORITIES, SlaError, SlaPolicy, parse_duration

RIYADH = ZoneInfo("Asia/Riyadh")  # UTC+3 all year
BERLIN = ZoneInfo("Europe/Berlin")  # 2026: CEST from Sun 29 Mar, CET again from Sun 25 Oct
NEW_YORK = ZoneInfo("America/New_York")  # 2026: EDT from Sun 8 Mar


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


SAUDI = {
    "timezone": "Asia/Riyadh",
    "sunday": "09:00-17:00",
    "monday": "09:00-17:00",
    "tuesday": "09:00-17:00",
    "wednesday": "09:00-17:00",
    "thursday": "09:00-17:00",
    "friday": "closed",
    "holidays": ["2026-09-23"],  # a Wednesday
}  # Saturday absent: closed


def office(zone: str) -> BusinessHours:
    days = ("monday", "tuesday", "wednesday", "thursday", "friday")
    return BusinessHours.from_config({"timezone": zone, **dict.fromkeys(days, "09:00-17:00")})


# -- business hours: open / next_open / next_close --------------------------------------------


def test_intervals_are_half_open_open_at_start_closed_at_end() -> None:
    hours = BusinessHours.from_config(SAUDI)
    assert not hours.is_open(utc("2026-09-20T05:59:59"))  # Sunday 08:59:59 Riyadh
    assert hours.is_open(utc("2026-09-20T06:00:00"))  # 09:00
    assert hours.is_open(local("2026-09-20T16:59:59", RIYADH))
    assert not hours.is_open(local("2026-09-20T17:00:00", RIYADH))
    assert not hours.is_open(local("2026-09-25T12:00", RIYADH))  # Friday closed
    assert not hours.is_open(local("2026-09-26T12:00", RIYADH))  # Saturday absent = closed
    assert not hours.is_always_open


def test_next_open_inside_outside_and_at_the_boundaries() -> None:
    hours = BusinessHours.from_config(SAUDI)
    inside = utc("2026-09-20T10:00")
    assert hours.next_open(inside) == inside
    assert hours.next_open(utc("2026-09-20T06:00")) == utc("2026-09-20T06:00")  # at opening
    assert hours.next_open(utc("2026-09-20T03:00")) == utc("2026-09-20T06:00")  # before
    # At Monday's close: Tuesday morning.
    assert hours.next_open(utc("2026-09-21T14:00")) == utc("2026-09-22T06:00")
    # Thursday's close: Friday closed, Saturday absent -> Sunday.
    assert hours.next_open(utc("2026-09-24T14:00")) == utc("2026-09-27T06:00")
    # Result is UTC even when asked in local time.
    result = hours.next_open(local("2026-09-20T08:00", RIYADH))
    assert result is not None and result.utcoffset() == timedelta(0)


def test_next_close() -> None:
    hours = BusinessHours.from_config(SAUDI)
    assert hours.next_close(utc("2026-09-20T06:00")) == utc("2026-09-20T14:00")
    assert hours.next_close(utc("2026-09-20T13:59:59")) == utc("2026-09-20T14:00")
    closed = utc("2026-09-20T14:00")
    assert hours.next_close(closed) == closed  # already closed: now
    assert BusinessHours.always_open().next_close(closed) is None


def test_holidays_close_the_whole_local_day() -> None:
    hours = BusinessHours.from_config(SAUDI)
    assert not hours.is_open(local("2026-09-23T10:00", RIYADH))
    assert hours.is_open(local("2026-09-22T10:00", RIYADH))
    # Tuesday's close -> skip Wednesday's holiday -> Thursday 09:00.
    assert hours.next_open(local("2026-09-22T17:00", RIYADH)) == local("2026-09-24T09:00", RIYADH)
    assert hours.business_seconds_between(
        local("2026-09-22T09:00", RIYADH), local("2026-09-25T00:00", RIYADH)
    ) == (2 * 8 * 3600)


def test_holiday_ranges_and_toml_dates() -> None:
    config = tomllib.loads(
        """
        [business_hours]
        timezone = "Asia/Riyadh"
        sunday = "09:00-17:00"
        monday = ["09:00-12:00", "13:00-17:00"]
        holidays = [2026-12-25, "2027-03-19..2027-03-22"]
        """
    )["business_hours"]
    hours = BusinessHours.from_config(config)
    expected = {date(2026, 12, 25)} | {date(2027, 3, d) for d in (19, 20, 21, 22)}
    assert hours.holidays == expected
    assert hours.weekly[0] == ((time(9), time(12)), (time(13), time(17)))


def test_interval_crossing_midnight_is_split_and_merged_back() -> None:
    hours = BusinessHours.from_config(
        {
            "timezone": "Asia/Riyadh",
            "friday": "20:00-02:00",
            "sunday": "22:00-01:00",  # wraps into Monday
            "monday": "09:00-12:00",
        }
    )
    assert hours.weekly[4] == ((time(20), time(0)),)
    assert hours.weekly[5] == ((time(0), time(2)),)
    assert hours.weekly[0] == ((time(0), time(1)), (time(9), time(12)))
    assert hours.is_open(local("2026-09-25T23:30", RIYADH))  # Friday night
    assert hours.is_open(local("2026-09-26T01:59", RIYADH))  # Saturday early morning
    assert not hours.is_open(local("2026-09-26T02:00", RIYADH))
    # The opening runs on past midnight: it closes Saturday 02:00, not Friday 24:00.
    assert hours.next_close(local("2026-09-25T23:00", RIYADH)) == local("2026-09-26T02:00", RIYADH)
    assert hours.next_open(local("2026-09-27T12:00", RIYADH)) == local("2026-09-27T22:00", RIYADH)
    assert hours.is_open(local("2026-09-28T00:30", RIYADH))  # Monday, from Sunday's interval


def test_holiday_closes_the_part_of_an_overnight_interval_on_that_date() -> None:
    hours = BusinessHours.from_config(
        {"timezone": "Asia/Riyadh", "friday": "20:00-02:00", "holidays": ["2026-09-26"]}
    )
    assert hours.next_close(local("2026-09-25T23:00", RIYADH)) == local("2026-09-26T00:00", RIYADH)
    assert not hours.is_open(local("2026-09-26T01:00", RIYADH))


def test_overlapping_and_touching_intervals_merge() -> None:
    hours = BusinessHours.from_config(
        {"timezone": "UTC", "monday": "12:00-18:00, 09:00-13:00, 18:00-19:00, 20:00-24:00"}
    )
    assert hours.weekly[0] == ((time(9), time(19)), (time(20), time(0)))
    assert hours.next_close(utc("2026-09-21T10:00")) == utc("2026-09-21T19:00")


def test_closed_weekend_across_spring_dst_change_in_berlin() -> None:
    hours = office("Europe/Berlin")
    friday_close = utc("2026-03-27T16:00")  # 17:00 CET
    monday_open = utc("2026-03-30T07:00")  # 09:00 CEST
    assert hours.next_close(utc("2026-03-27T12:00")) == friday_close
    assert hours.next_open(friday_close) == monday_open
    assert hours.business_seconds_between(utc("2026-03-27T15:00"), utc("2026-03-30T08:00")) == 7200
    # Autumn: Friday closes at 15:00Z (CEST), Monday opens at 08:00Z (CET).
    assert hours.next_open(utc("2026-10-23T15:00")) == utc("2026-10-26T08:00")


def test_dst_gap_and_overlap_inside_an_interval() -> None:
    hours = BusinessHours.from_config(
        {"timezone": "Europe/Berlin", "sunday": "01:00-04:00", "saturday": "02:30-05:00"}
    )
    day = timedelta(days=1)
    # Spring forward (02:00 -> 03:00): 01:00-04:00 lasts two real hours ...
    spring = local("2026-03-29T00:00", BERLIN)
    assert hours.business_seconds_between(spring, spring + day) == 2 * 3600
    # ... and autumn's repeated hour makes it four.
    autumn = local("2026-10-25T00:00", BERLIN)
    assert hours.business_seconds_between(autumn, autumn + day) == 4 * 3600
    assert hours.next_close(utc("2026-10-25T01:30")) == utc("2026-10-25T03:00")  # 04:00 CET

    gap = BusinessHours.from_config({"timezone": "Europe/Berlin", "sunday": "02:30-05:00"})
    # 02:30 does not exist on 29 March: it opens when the clock jumps, at 03:00 CEST.
    assert gap.next_open(utc("2026-03-28T12:00")) == utc("2026-03-29T01:00")
    # 02:30 happens twice on 25 October: it opens at the first one (CEST).
    assert gap.next_open(utc("2026-10-24T12:00")) == utc("2026-10-25T00:30")


def test_an_interval_that_lies_wholly_in_the_gap_is_skipped_that_day() -> None:
    hours = BusinessHours.from_config({"timezone": "America/New_York", "sunday": "02:00-03:00"})
    # 8 March 2026 jumps 02:00 EST -> 03:00 EDT: no opening that day, the next Sunday instead.
    assert hours.next_open(utc("2026-03-07T12:00")) == utc("2026-03-15T06:00")


def test_business_seconds_and_add_business_seconds_are_inverse() -> None:
    hours = BusinessHours.from_config(
        {
            "timezone": "Europe/Berlin",
            "monday": "09:00-17:00",
            "tuesday": "09:00-12:30, 13:30-17:00",
            "wednesday": "22:00-03:00",
            "friday": "08:00-24:00",
            "sunday": "01:00-04:00",
            "holidays": ["2026-04-03", "2026-10-26"],
        }
    )
    rng = random.Random(7)
    for _ in range(60):
        # Around both DST changes.
        base = utc(rng.choice(["2026-03-20T00:00", "2026-10-16T00:00"]))
        start = base + timedelta(seconds=rng.randrange(0, 20 * 86400))
        seconds = float(rng.randrange(1, 40 * 3600))
        due = hours.add_business_seconds(start, seconds)
        assert due > start
        assert hours.business_seconds_between(start, due) == pytest.approx(seconds, abs=1e-6)
        # The first such instant: one second earlier is not enough.
        assert hours.business_seconds_between(start, due - timedelta(seconds=1)) < seconds
        end = start + timedelta(seconds=rng.randrange(0, 20 * 86400))
        elapsed = hours.business_seconds_between(start, end)
        back = hours.add_business_seconds(start, elapsed)
        assert back <= end
        assert hours.business_seconds_between(back, end) == 0


def test_add_business_seconds_edges() -> None:
    hours = office("America/New_York")
    friday = utc("2026-03-06T21:00")  # 16:00 EST
    # One hour before the close, then DST weekend: Monday 10:00 EDT.
    assert hours.add_business_seconds(friday, 2 * 3600) == utc("2026-03-09T14:00")
    # Used up exactly at the close: the close itself, not Monday's opening.
    assert hours.add_business_seconds(friday, 3600) == utc("2026-03-06T22:00")
    assert hours.add_business_seconds(friday, 0) == friday
    assert hours.business_seconds_between(friday, friday - timedelta(hours=1)) == 0.0
    with pytest.raises(ValueError, match="seconds"):
        hours.add_business_seconds(friday, -1)


def test_always_open_is_the_default() -> None:
    hours = BusinessHours.always_open()
    assert BusinessHours.from_config({}) == hours
    assert hours.is_always_open
    at = utc("2026-12-25T03:00")
    assert hours.is_open(at)
    assert hours.next_open(at) == at
    later = at + timedelta(days=3, seconds=5)
    assert hours.business_seconds_between(at, later) == (later - at).total_seconds()
    assert hours.add_business_seconds(at, 90) == at + timedelta(seconds=90)
    assert hours.describe() == [("Monday-Sunday", "00:00-24:00")]
    every_day = {
        day: "00:00-24:00"
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
    assert BusinessHours.from_config({"timezone": "Asia/Riyadh", **every_day}).is_always_open
    with_holiday = {"timezone": "Asia/Riyadh", **every_day, "holidays": ["2026-12-25"]}
    assert not BusinessHours.from_config(with_holiday).is_always_open


def test_twenty_four_seven_with_a_holiday() -> None:
    every_day = {
        day: "00:00-00:00"
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
    hours = BusinessHours.from_config(
        {"timezone": "Asia/Riyadh", **every_day, "holidays": ["2026-12-25"]}
    )
    assert hours.next_close(utc("2026-12-20T00:00")) == local("2026-12-25T00:00", RIYADH)
    assert hours.next_open(local("2026-12-25T10:00", RIYADH)) == local("2026-12-26T00:00", RIYADH)


def test_never_open_and_look_ahead_limit() -> None:
    never = BusinessHours("Asia/Riyadh", {})
    at = utc("2026-01-01T00:00")
    assert never.next_open(at) is None
    assert not never.is_open(at)
    assert never.business_seconds_between(at, at + timedelta(days=30)) == 0.0
    with pytest.raises(HoursError, match="never open"):
        never.add_business_seconds(at, 60)
    # Mondays only, but every day of the next ~500 days is a holiday.
    blocked = frozenset(date(2026, 1, 1) + timedelta(days=n) for n in range(500))
    far = BusinessHours("UTC", {0: ((time(9), time(17)),)}, blocked)
    assert far.next_open(at) is None


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        office("UTC").is_open(datetime(2026, 1, 1, 12))


def test_describe_groups_equal_consecutive_days_and_wraps_the_week() -> None:
    saudi = BusinessHours.from_config({**SAUDI, "saturday": "10:00-14:00"})
    assert saudi.describe() == [
        ("Sunday-Thursday", "09:00-17:00"),
        ("Friday", "closed"),
        ("Saturday", "10:00-14:00"),
    ]
    assert saudi.weekly_rows() == [(6, 3, "09:00-17:00"), (4, 4, "closed"), (5, 5, "10:00-14:00")]
    assert office("UTC").describe() == [
        ("Monday-Friday", "09:00-17:00"),
        ("Saturday-Sunday", "closed"),
    ]
    split = BusinessHours.from_config(
        {"timezone": "UTC", "monday": "09:00-13:00, 14:00-24:00", "wednesday": "09:00-17:00"}
    )
    assert split.weekly_rows() == [
        (0, 0, "09:00-13:00, 14:00-24:00"),
        (1, 1, "closed"),
        (2, 2, "09:00-17:00"),
        (3, 6, "closed"),
    ]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "business_hours.timezone: unknown time zone"),
        ({"timezone": 3, "monday": "09:00-17:00"}, "business_hours.timezone:"),
        ({"monday": "09:00-17:00"}, "business_hours.timezone: required"),
        ({"timezone": "UTC", "monday": "9-17"}, "business_hours.monday: expected a time HH:MM"),
        ({"timezone": "UTC", "monday": "09:00"}, "business_hours.monday: expected an interval"),
        ({"timezone": "UTC", "tuesday": "09:00-09:00"}, "business_hours.tuesday: empty interval"),
        ({"timezone": "UTC", "friday": "09:60-17:00"}, "business_hours.friday: '09:60'"),
        ({"timezone": "UTC", "friday": "24:00-17:00"}, "business_hours.friday: 24:00 can only"),
        ({"timezone": "UTC", "friday": "09:00-24:30"}, "business_hours.friday: '24:30'"),
        ({"timezone": "UTC", "sunday": 9}, "business_hours.sunday: expected a string"),
        ({"timezone": "UTC", "sunday": "09:00-12:00,"}, "business_hours.sunday:"),
        ({"timezone": "UTC", "mondays": "09:00-17:00"}, "business_hours.mondays: unknown setting"),
        ({"timezone": "UTC"}, "business_hours: no opening hours on any day"),
        ({"timezone": "UTC", "monday": "closed"}, "business_hours: no opening hours"),
        (
            {"timezone": "UTC", "monday": "09:00-17:00", "holidays": ["2026-12-25", "2026-13-01"]},
            "business_hours.holidays[1]: expected a date YYYY-MM-DD",
        ),
        (
            {"timezone": "UTC", "monday": "09:00-17:00", "holidays": ["2026-02-30"]},
            "business_hours.holidays[0]:",
        ),
        (
            {"timezone": "UTC", "monday": "09:00-17:00", "holidays": "2026-12-25"},
            "business_hours.holidays: expected a list",
        ),
        (
            {"timezone": "UTC", "monday": "09:00-17:00", "holidays": ["2026-12-26..2026-12-24"]},
            "business_hours.holidays[0]: range",
        ),
    ],
)
def test_config_errors_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(HoursError) as error:
        BusinessHours.from_config(table)
    assert str(error.value).startswith(message), str(error.value)
    assert isinstance(error.value, ValueError)


def test_constructor_validates_too() -> None:
    with pytest.raises(HoursError, match="weekdays are 0"):
        BusinessHours("UTC", {7: ((time(9), time(17)),)})
    with pytest.raises(HoursError, match=r"^business_hours\.monday: times must be whole minutes"):
        BusinessHours("UTC", {0: ((time(9, 0, 30), time(17)),)})
    with pytest.raises(HoursError, match=r"^business_hours\.timezone"):
        BusinessHours("Nowhere/City", {})
    # Normalised: all seven days, merged; equal schedules compare and hash equal.
    a = BusinessHours("UTC", {0: ((time(9), time(12)), (time(11), time(17)))})
    b = BusinessHours("UTC", {0: ((time(9), time(17)),)})
    assert a == b and hash(a) == hash(b)
    assert a.weekly[6] == ()


# -- SLA ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (300, 300.0),
        (1.5, 1.5),
        ("90s", 90.0),
        ("15m", 900.0),
        ("4h", 14400.0),
        ("2d", 172800.0),
        ("1h30m", 5400.0),
        ("1d 2h", 93600.0),
        ("1.5h", 5400.0),
        ("2H", 7200.0),
        ("300", 300.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value, "sla.x") == seconds


@pytest.mark.parametrize(
    "value", ["", "abc", "30m1h", "1h30", "h", "1w", True, None, 0, -5, "0m", float("nan"), [60]]
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(SlaError, match=r"^sla\.first_response\.high: "):
        parse_duration(value, "sla.first_response.high")


def test_default_policy() -> None:
    policy = SlaPolicy.default()
    start = utc("2026-09-20T10:00")
    assert policy.due("first_response", "urgent", start) == start + timedelta(minutes=5)
    assert policy.due("first_response", "high", start) == start + timedelta(minutes=15)
    assert policy.due("first_response", "normal", start) == start + timedelta(hours=1)
    assert policy.due("first_response", "low", start) == start + timedelta(hours=4)
    assert policy.due("resolution", "urgent", start) == start + timedelta(hours=4)
    assert policy.due("resolution", "low", start) == start + timedelta(hours=72)
    assert policy.warn_at("first_response", "normal", start) == start + timedelta(minutes=48)
    assert policy.business_hours is None
    assert SlaPolicy.from_config({}, None) == policy


def test_status_in_every_state() -> None:
    policy = SlaPolicy({"normal": 1000.0}, {}, warn_fraction=0.5)
    start = utc("2026-09-20T10:00")
    due = start + timedelta(seconds=1000)
    warn = start + timedelta(seconds=500)
    assert policy.due("first_response", "normal", start) == due
    assert policy.warn_at("first_response", "normal", start) == warn

    def status(at: datetime, done_at: datetime | None = None) -> str:
        return policy.status("first_response", "normal", start, at, done_at)

    assert status(start) == "ok"
    assert status(warn - timedelta(microseconds=1)) == "ok"
    assert status(warn) == "warning"
    assert status(due - timedelta(microseconds=1)) == "warning"
    assert status(due) == "breached"
    assert status(due + timedelta(days=1)) == "breached"
    assert status(due + timedelta(days=1), done_at=due - timedelta(seconds=1)) == "met"
    assert status(warn, done_at=warn) == "met"
    assert status(due + timedelta(days=1), done_at=due) == "missed"
    # No target: "none" everywhere.
    assert policy.status("first_response", "low", start, due, None) == "none"
    assert policy.status("resolution", "normal", start, due, due) == "none"
    assert policy.due("resolution", "normal", start) is None
    assert policy.warn_at("resolution", "normal", start) is None


def test_unknown_kind_or_priority() -> None:
    policy = SlaPolicy.default()
    with pytest.raises(SlaError, match="kind"):
        policy.due("first_reply", "normal", utc("2026-01-01T00:00"))
    with pytest.raises(SlaError, match="priority"):
        policy.due("resolution", "critical", utc("2026-01-01T00:00"))


def test_business_hours_targets_count_open_time_only() -> None:
    hours = office("America/New_York")
    policy = SlaPolicy.from_config({}, hours)  # business_hours_only defaults to true
    assert policy.business_hours == hours
    start = utc("2026-03-06T21:30")  # Friday 16:30 EST
    # 30 minutes before the weekend (clocks spring forward), 30 on Monday 09:00 EDT.
    assert policy.due("first_response", "normal", start) == utc("2026-03-09T13:30")
    assert policy.warn_at("first_response", "normal", start) == utc("2026-03-09T13:18")
    saturday = utc("2026-03-07T18:00")
    assert policy.status("first_response", "normal", start, saturday, None) == "ok"
    monday = utc("2026-03-09T13:20")
    assert policy.status("first_response", "normal", start, monday, None) == "warning"
    wall_clock = SlaPolicy.from_config({"business_hours_only": False}, hours)
    assert wall_clock.business_hours is None
    assert wall_clock.status("first_response", "normal", start, saturday, None) == "breached"


def test_sla_from_config() -> None:
    config = tomllib.loads(
        """
        [sla]
        warn_fraction = 0.5
        [sla.first_response]
        normal = "30m"
        urgent = 120
        low = "none"
        [sla.resolution]
        high = "1d12h"
        """
    )["sla"]
    policy = SlaPolicy.from_config(config, BusinessHours.always_open())
    assert policy.first_response_s == {"urgent": 120.0, "high": 900.0, "normal": 1800.0}
    assert policy.resolution_s["high"] == 36 * 3600
    assert policy.resolution_s["normal"] == 24 * 3600  # not listed: the default stays
    assert policy.warn_fraction == 0.5
    assert policy.business_hours is None  # always open: wall-clock time
    start = utc("2026-01-01T00:00")
    assert policy.due("first_response", "low", start) is None
    assert policy.warn_at("first_response", "normal", start) == start + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"warn": 0.5}, "sla.warn: unknown setting"),
        ({"warn_fraction": 0}, "sla.warn_fraction:"),
        ({"warn_fraction": 1.5}, "sla.warn_fraction:"),
        ({"warn_fraction": True}, "sla.warn_fraction:"),
        ({"business_hours_only": "yes"}, "sla.business_hours_only: expected true or false"),
        ({"business_hours_only": True}, "sla.business_hours_only: true needs business hours"),
        ({"first_response": "1h"}, "sla.first_response: expected a table"),
        ({"first_response": {"critical": "1h"}}, "sla.first_response.critical: unknown priority"),
        ({"resolution": {"high": "soon"}}, "sla.resolution.high: expected a duration"),
        ({"resolution": {"high": -1}}, "sla.resolution.high: the duration must be positive"),
    ],
)
def test_sla_config_errors_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(SlaError) as error:
        SlaPolicy.from_config(table, None)
    assert str(error.value).startswith(message), str(error.value)


def test_sla_constructor_validates() -> None:
    with pytest.raises(SlaError, match=r"^sla\.first_response\.critical"):
        SlaPolicy({"critical": 60.0}, {})
    with pytest.raises(SlaError, match=r"^sla\.resolution\.low"):
        SlaPolicy({}, {"low": 0.0})
    with pytest.raises(SlaError, match=r"^sla\.warn_fraction"):
        SlaPolicy({}, {}, warn_fraction=0.0)
    assert set(PRIORITIES) == {"low", "normal", "high", "urgent"}


def test_modules_stay_channel_agnostic_and_clock_free() -> None:
    root = Path(__file__).resolve().parents[2] / "handoff"
    for name in ("hours.py", "sla.py"):
        source = (root / name).read_text(encoding="utf-8")
        for forbidden in ("telegram", "aiohttp", ".now(", ".utcnow(", ".today(", "import time"):
            assert forbidden not in source, (name, forbidden)
