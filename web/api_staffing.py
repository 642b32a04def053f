"""Staffing advice over JSON (and CSV): ``GET /api/v1/reports/staffing`` (supervisor, admin).

Per local hour of the day (of one weekday with ``weekday``, or of all days), over a past
period (``period``/``start``/``end``/``tz`` as the other reports; default ``7d`` as the
dashboard, ``30d`` gives steadier figures): handoffs per hour, mean handle time, the agents
needed to answer the target share of chats within the target time (settings
``staffing_target_share`` / ``staffing_target_seconds``; Erlang C, or Erlang A when enough
customers gave up waiting to measure their patience) and the agents online then.
Read by :func:`handoff.staffing_reads.staffing_report`; the dashboard shows the same
report. ``?format=csv`` or the ``.csv`` route gives the hours as CSV.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from app.services import Services
from handoff.staffing_reads import StaffingReport, staffing_report
from web.api_reports import DEFAULT_PERIOD, REPORTS, csv_response, period_of, wants_csv
from web.auth import require
from web.openapi import CSV, Answer, Operation, parse_query, paths_of, reply, with_csv_route
from web.site import services_of
from web.staffing_shapes import StaffingFilters, StaffingOut, StaffingParams


async def load_staffing(services: Services, params: StaffingFilters) -> StaffingReport:
    """The report for the request's parameters (a :class:`web.problem.ParamError` for a bad
    period), with the targets from the settings."""
    settings = services.settings
    now = services.clock.now()
    tz = params.tz or settings.business_hours.timezone or "UTC"
    _, period = period_of(params, now, tz, DEFAULT_PERIOD)
    return await staffing_report(
        services.db,
        period,
        now,
        tz=tz,
        weekday=params.weekday,
        target_share=settings.staffing_target_share,
        target_seconds=settings.staffing_target_seconds,
    )


def hour_rows(report: StaffingReport) -> list[dict[str, Any]]:
    return list(report.as_dict()["hours"])


async def staffing_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    services = services_of(request)
    params = parse_query(StaffingParams, request.query)
    report = await load_staffing(services, params)
    if wants_csv(request, params):
        return csv_response(hour_rows(report), "staffing")
    return reply(StaffingOut, report.as_dict())


_OPERATION = Operation(
    "GET",
    "/api/v1/reports/staffing",
    "Agents needed per hour to meet the staffing target, beside the agents online "
    "(supervisor, admin); the CSV is one row per hour",
    "reports",
    (Answer(200, "OK", StaffingOut, media=(CSV,)),),
    errors=(400, 401, 403),
    query=StaffingParams,
    description=(
        "Over a past period (default 7d, as the dashboard), per local hour of the day (one "
        "weekday with `weekday`, 0 = Monday): handoffs per hour, mean handle time, the "
        "agents needed to answer SANAD_STAFFING_TARGET_SHARE of chats within "
        "SANAD_STAFFING_TARGET_SECONDS (Erlang C; Erlang A when at least 10 waits were "
        "abandoned), and the mean number of agents online (available or wrap-up). "
        "Definitions: docs/metrics.md, Staffing."
    ),
)
OPERATIONS = [_OPERATION, with_csv_route(_OPERATION)]
OPENAPI_PATHS, OPENAPI_SCHEMAS = paths_of(OPERATIONS)


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    app.router.add_get("/api/v1/reports/staffing", staffing_handler)
    app.router.add_get("/api/v1/reports/staffing.csv", staffing_handler)
