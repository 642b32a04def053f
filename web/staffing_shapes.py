"""The staffing advice's shapes (``GET /api/v1/reports/staffing``): its query parameters and
its answer, in the OpenAPI document like every other route (:mod:`web.shapes` holds the rest).
"""

from __future__ import annotations

from pydantic import Field

from web.shapes import FormatParams, Out, PeriodOut, PeriodParams

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class StaffingFilters(PeriodParams):
    """A past period (default 7d) and, optionally, one weekday."""

    weekday: int | None = Field(
        default=None,
        ge=0,
        le=6,
        description="only this local weekday, 0 = Monday ... 6 = Sunday (default: all days)",
    )


class StaffingParams(StaffingFilters, FormatParams):
    """The staffing advice, as JSON or (its hours) CSV."""


class StaffingHour(Out):
    hour: int = Field(description="local hour of the day, 0-23")
    exposure_h: float = Field(description="hours of the period behind this row")
    arrivals: int = Field(description="handoff requests and reopens counted in this hour")
    arrivals_per_hour: float | None = Field(description="arrivals / exposure hours")
    handled: int = Field(description="chats whose handle time was measured in this hour")
    handle_mean_s: float | None = Field(description="this hour's mean handle time (min. 5)")
    handle_used_s: float | None = Field(description="handle time the formula used")
    slots_needed: int | None = Field(description="chat slots the target needs")
    agents_needed: int | None = Field(description="ceil(slots / mean capacity)")
    online: float | None = Field(description="mean number of agents online in this hour")
    gap: float | None = Field(description="online - needed (negative: short of agents)")
    model: str | None = Field(description="erlang_c, erlang_a or none (no arrivals)")
    service_level: float | None = Field(description="predicted share answered in time")
    mean_wait_s: float | None = Field(description="predicted mean wait (ASA)")


class StaffingOut(Out):
    """Agents needed per local hour to answer ``target_share`` of chats within
    ``target_seconds`` (Erlang C, or Erlang A with the measured patience), beside the agents
    online then (docs/metrics.md, "Staffing")."""

    period: PeriodOut
    observed_end: str = Field(
        json_schema_extra={"format": "date-time"}, description="end of the observed history"
    )
    tz: str
    weekday: int | None
    target_share: float
    target_seconds: float
    arrivals: int
    handled: int
    handle_mean_s: float | None
    waits: int
    abandoned: int
    waiting_s: float
    patience_rate: float | None = Field(description="abandoned / waiting seconds (Erlang A)")
    model: str = Field(description="erlang_a or erlang_c")
    mean_capacity: float = Field(description="chats per agent at once, weighted by time online")
    hours: list[StaffingHour]
