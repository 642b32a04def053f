"""Report pages: the supervisor dashboard, knowledge gaps and tickets (English and Arabic).

The pages read through the same functions as the API (:mod:`web.api_reports`, which calls
:mod:`handoff.metrics` and :mod:`faq.gaps`), so a figure on a page equals the API's and the CSV
export's. Charts are inline SVG drawn by :mod:`web.charts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

import texts
from faq import curation
from handoff import reports
from handoff.model import HandoffError
from handoff.staffing_reads import StaffingReport
from texts import duration, value
from web import charts
from web.api_reports import (
    DEFAULT_GAPS_PERIOD,
    DRAFTS,
    LANGS,
    ReportQuery,
    gaps_params,
    group_to_article,
    group_to_phrasings,
    load_agent_table,
    load_kpis,
    load_suggestions,
    report_query,
    suggestion_to_draft,
    ticket_query,
)
from web.api_staffing import load_staffing
from web.auth import principal_of, require
from web.openapi import parse_query
from web.problem import ParamError, Problem, Query
from web.shapes import PERIODS, GapFilters, ReportFilters, TicketFilters
from web.site import SERVICES, render, request_lang
from web.staffing_shapes import StaffingFilters

DASH = "—"


# ---------------------------------------------------------------------- formatting


def fmt_rate(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.0f}%"


def fmt_number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return DASH
    return f"{value:,.{digits}f}"


def fmt_duration(seconds: float | None) -> str:
    """45s, 3m 20s, 1h 05m, 2d 3h (English; pages use :func:`formats` for their language)."""
    return duration(seconds, "en")


def fmt_time(value: str | None) -> str:
    """An ISO instant as ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    if not value:
        return DASH
    return value[:19].replace("T", " ")


FORMATS: dict[str, Any] = {
    "fmt_rate": fmt_rate,
    "fmt_number": fmt_number,
    "fmt_duration": fmt_duration,
    "fmt_time": fmt_time,
}


def formats(lang: str) -> dict[str, Any]:
    """The page's formatters, durations in ``lang`` (2m 57s, or in Arabic units)."""
    return FORMATS | {"fmt_duration": lambda seconds: duration(seconds, lang)}


def _qs(query: Query, drop: tuple[str, ...] = ("lang",), **extra: Any) -> str:
    pairs = [(k, v) for k, v in query.items() if k not in drop and k not in extra and v != ""]
    pairs += [(k, str(v)) for k, v in extra.items() if v is not None]
    return urlencode(pairs)


# ---------------------------------------------------------------------- dashboard


def kpi_cards(k: Mapping[str, Any], t: Any, lang: str = "en") -> list[dict[str, str]]:
    """``id``, ``label``, ``value``, ``sub`` for each card, formatted from the KPI dict."""
    sla = k["sla"]
    fr, res = sla["first_response"], sla["resolution"]
    sla_met = fr["met"] + res["met"]
    sla_breached = fr["breached"] + res["breached"]

    def timing(prefix: str) -> tuple[str, str]:
        return (
            duration(k[f"{prefix}_mean_s"], lang),
            f"{t('page.rp_p90')} {duration(k[f'{prefix}_p90_s'], lang)} · "
            f"{t('page.rp_n')} {k[f'{prefix}_n']}",
        )

    cards = [
        ("opened", "page.kpi_opened", str(k["opened"]), ""),
        (
            "resolved",
            "page.kpi_resolved",
            str(k["resolved"]),
            f"{k['resolved_bot']} {t('page.kpi_by_bot')} · "
            f"{k['resolved_agent']} {t('page.kpi_by_agents')}",
        ),
        ("open-now", "page.kpi_open_now", str(k["open_now"]), ""),
        (
            "deflection",
            "page.kpi_deflection",
            fmt_rate(k["bot_deflection_rate"]),
            str(k["deflected"]),
        ),
        ("handoff-rate", "page.kpi_handoff_rate", fmt_rate(k["handoff_rate"]), str(k["handoffs"])),
        ("queue-wait", "page.kpi_queue_wait", *timing("queue_wait")),
        ("frt", "page.kpi_frt", *timing("frt")),
        ("reaction", "page.kpi_reaction", *timing("reaction")),
        ("resolution", "page.kpi_resolution", *timing("resolution")),
        ("fcr", "page.kpi_fcr", fmt_rate(k["fcr_rate"]), str(k["fcr_count"])),
        ("missed", "page.kpi_missed", str(k["missed_offers"]), ""),
        ("abandoned", "page.kpi_abandoned", str(k["abandoned"]), fmt_rate(k["abandon_rate"])),
        (
            "csat",
            "page.kpi_csat",
            fmt_rate(k["csat"]),
            f"{k['ratings_count']} {t('page.kpi_ratings')}",
        ),
        ("rating-mean", "page.kpi_rating_mean", fmt_number(k["rating_mean"], 2), ""),
        (
            "response-rate",
            "page.kpi_response_rate",
            fmt_rate(k["rating_response_rate"]),
            f"{k['ratings_count']} / {k['surveys_sent']}",
        ),
        (
            "followup-confirmed",
            "page.kpi_followup_confirmed",
            fmt_rate(k["followup"]["confirmed_rate"]),
            f"{k['followup']['confirmed']} / {k['followup']['sent']}",
        ),
        (
            "followup-reopened",
            "page.kpi_followup_reopened",
            fmt_rate(k["followup"]["reopen_rate"]),
            f"{k['followup']['reopened']} / {k['followup']['sent']}",
        ),
        (
            "sla-met",
            "page.kpi_sla_met",
            fmt_rate(sla_met / (sla_met + sla_breached) if sla_met + sla_breached else None),
            f"{t('page.kpi_first_response')} {fmt_rate(fr['met_rate'])} · "
            f"{t('page.kpi_resolution_target')} {fmt_rate(res['met_rate'])}",
        ),
        (
            "sla-breached",
            "page.kpi_sla_breached",
            str(sla_breached),
            f"{t('page.kpi_first_response')} {fr['breached']} · "
            f"{t('page.kpi_resolution_target')} {res['breached']}",
        ),
    ]
    return [{"id": i, "label": t(label), "value": v, "sub": sub} for i, label, v, sub in cards]


def dashboard_charts(k: Mapping[str, Any], t: Any, lang: str = "en") -> dict[str, Markup]:
    series = k["series"]
    labels = [day["date"][5:] for day in series]  # MM-DD
    channels = sorted({c for day in series for c in day["opened_by_channel"]})
    empty = t("page.rp_no_data")
    volume = charts.bar_chart(
        "chart-volume",
        t("page.ch_volume"),
        labels,
        [
            (value("channel", c, lang), [day["opened_by_channel"].get(c, 0) for day in series])
            for c in channels
        ],
        empty=empty,
    )
    distribution = k["rating_distribution"]
    ratings = charts.bar_chart(
        "chart-ratings",
        t("page.ch_ratings"),
        [f"{n}★" for n in range(1, 6)],
        [(t("page.ch_stars"), [distribution[str(n)] for n in range(1, 6)])],
        empty=empty,
    )
    trends = charts.line_chart(
        "chart-trends",
        t("page.ch_trends"),
        labels,
        [
            (t("page.ch_frt"), [day["frt_mean_s"] for day in series]),
            (t("page.ch_resolution"), [day["resolution_mean_s"] for day in series]),
        ],
        fmt=charts.duration_label,
        empty=empty,
        steps=charts.DURATION_STEPS,
    )
    by_priority = k["queue_now"]["by_priority"]
    queue = charts.bar_chart(
        "chart-queue",
        t("page.ch_queue"),
        [value("priority", p, lang) for p in by_priority],
        [(t("page.ch_waiting"), list(by_priority.values()))],
        empty=t("page.ch_queue_empty"),
    )
    return {"volume": volume, "ratings": ratings, "trends": trends, "queue": queue}


def fmt_gap(gap: float | None) -> str:
    """+1.5 / -2.0 / 0.0: the sign says whether the hour had more or fewer agents than
    needed."""
    if gap is None:
        return DASH
    return f"{gap:+.1f}" if round(gap, 1) else "0.0"


def staffing_view(report: StaffingReport, t: Any, lang: str) -> dict[str, Any]:
    """The staffing section: its sentences, the chart and one table row per hour."""
    labels = [f"{h.hour:02d}" for h in report.hours]
    chart = charts.line_chart(
        "chart-staffing",
        t("page.st_chart"),
        labels,
        [
            (t("page.st_needed"), [h.agents_needed for h in report.hours]),
            (t("page.st_online"), [h.online for h in report.hours]),
        ],
        empty=t("page.rp_no_data"),
    )
    if report.patience_rate:
        model = t("page.st_model_erlang_a", patience=duration(1 / report.patience_rate, lang))
    else:
        model = t("page.st_model_erlang_c")
    rows = [
        {
            "hour": h.hour,
            "label": f"{h.hour:02d}:00",
            "arrivals": fmt_number(h.arrivals_per_hour, 1),
            "handle": duration(h.handle_used_s, lang),
            "needed": DASH if h.agents_needed is None else str(h.agents_needed),
            "online": fmt_number(h.online, 1),
            "gap": fmt_gap(h.gap),
            "short": h.gap is not None and h.gap < 0,
        }
        for h in report.hours
    ]
    return {
        "target": t(
            "page.st_target",
            share=fmt_rate(report.target_share),
            seconds=duration(report.target_seconds, lang),
        ),
        "model": model,
        "facts": t(
            "page.st_facts",
            arrivals=report.arrivals,
            handled=report.handled,
            handle=duration(report.handle_mean_s, lang),
            abandoned=report.abandoned,
            waits=report.waits,
            capacity=fmt_number(report.mean_capacity, 1),
        ),
        "chart": chart,
        "rows": rows,
        "weekday": report.weekday,
    }


def _t(request: web.Request) -> Any:
    services = request.app[SERVICES]
    lang = request_lang(request, services.settings.default_language)
    return lambda key, **values: texts.text(key, lang, **values)


async def dashboard(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if not principal.can("supervisor"):
        if principal.can("editor"):
            raise web.HTTPFound("/faq")
        require(request, "supervisor")
    services = request.app[SERVICES]
    t = _t(request)
    error = None
    try:
        rq = report_query(parse_query(ReportFilters, request.query), services)
    except ParamError as exc:
        error = str(exc)
        rq = report_query(ReportFilters(), services)
    figures = await load_kpis(services, rq)
    agents = await load_agent_table(services, rq)
    try:
        wanted = parse_query(StaffingFilters, request.query)
    except ParamError as exc:
        error = error or str(exc)
        wanted = StaffingFilters()
    try:
        staffing = await load_staffing(services, wanted)
    except ParamError:  # the period's error is shown already; the default period then
        staffing = await load_staffing(services, StaffingFilters(weekday=wanted.weekday))
    qs = _qs(request.query, drop=("lang", "format", "weekday")) if error is None else ""
    return render(
        request,
        "dashboard.html",
        400 if error else 200,
        active="dashboard",
        error=error,
        form=_form_values(request.query, rq),
        periods=PERIODS,
        choices=await reports.filter_choices(services.db),
        k=figures,
        cards=kpi_cards(figures, t, _lang(request)),
        charts=dashboard_charts(figures, t, _lang(request)),
        agents=agents,
        staffing=staffing_view(staffing, t, _lang(request)),
        staffing_keep=[
            (k, str(v)) for k, v in request.query.items() if k not in ("weekday", "lang")
        ],
        staffing_qs=_qs(request.query, drop=("lang", "format")) if error is None else "",
        csv_qs=qs,
        **formats(_lang(request)),
    )


def _form_values(query: Query, rq: ReportQuery | None) -> dict[str, str]:
    values = {
        key: str(query.get(key) or "")
        for key in ("period", "start", "end", "category", "agent_id", "priority")
    }
    values |= {key: str(query.get(key) or "") for key in ("channel", "language", "state")}
    if rq is not None:
        values["period"] = rq.period_name
        if rq.period_name == "custom":
            values["start"] = values["start"] or rq.period.start.date().isoformat()
    return values


# ---------------------------------------------------------------------- gaps


async def _gaps_context(request: web.Request, query: Query) -> dict[str, Any]:
    services = request.app[SERVICES]
    error = None
    try:
        period, lang, _ = gaps_params(parse_query(GapFilters, query), services, 30)
    except ParamError as exc:
        error = str(exc)
        period, lang, _ = gaps_params(GapFilters(), services, 30)
    tables = await curation.gaps_overview(services.db, period, lang)
    period_query = {k: str(query.get(k) or "") for k in ("period", "start", "end")}
    if not period_query["period"]:
        period_query["period"] = DEFAULT_GAPS_PERIOD
    return {
        "active": "gaps",
        "error": error,
        "periods": PERIODS,
        "langs": LANGS,
        "form": {**period_query, "lang_filter": str(query.get("lang_filter") or "")},
        "period_query": period_query,
        "terms": tables["terms"],
        "queries": tables["queries"],
        "groups": tables["groups"],
        "articles": tables["articles"],
        "article_choices": await curation.article_choices(services.db),
        "suggestions": await load_suggestions(services, period, lang),
        "can_edit": principal_of(request).can("editor"),
        "can_draft": principal_of(request).can(*DRAFTS),
        "can_see_tickets": principal_of(request).can("supervisor"),
        "csv_qs": _qs(query, drop=("done", "article", "format", "lang_filter")),
        "done": str(request.query.get("done") or ""),
        "done_article": str(request.query.get("article") or ""),
        "done_article_id": str(request.query.get("article_id") or ""),
        "form_error": None,
        **formats(_lang(request)),
    }


def _gaps_query(request: web.Request) -> dict[str, str]:
    """The gaps page filters by ``lang_filter`` (``lang`` switches the interface language)."""
    query = {k: v for k, v in request.query.items() if k != "lang"}
    if request.query.get("lang_filter"):
        query["lang"] = request.query["lang_filter"]
    return query


async def gaps_page(request: web.Request) -> web.Response:
    require(request, "editor", "supervisor")
    context = await _gaps_context(request, _gaps_query(request))
    return render(request, "gaps.html", 400 if context["error"] else 200, **context)


async def gaps_action(request: web.Request) -> web.Response:
    principal = require(request, "editor")
    services = request.app[SERVICES]
    form = await request.post()
    body: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    group_id = request.match_info["group_id"]
    action = request.match_info["action"]
    try:
        if action == "article":
            result = await group_to_article(services, group_id, body, principal)
        else:
            result = await group_to_phrasings(services, group_id, body, principal)
    except Problem as exc:
        message, status = exc.message, exc.status
    else:
        article = result["article"]
        back = {k: body.get(k, "") for k in ("period", "start", "end", "lang_filter")}
        back = {k: v for k, v in back.items() if v}
        back |= {"done": action, "article": f"{article['id']}/{article['lang']}"}
        raise web.HTTPSeeOther(f"/gaps?{urlencode(back)}")
    query = {k: body.get(k, "") for k in ("period", "start", "end")}
    context = await _gaps_context(request, query)
    context["form_error"] = message
    return render(request, "gaps.html", status, **context)


async def draft_action(request: web.Request) -> web.Response:
    """The form of a suggested article: a draft article with the edited question and answer."""
    principal = require(request, *DRAFTS)
    services = request.app[SERVICES]
    form = await request.post()
    body: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    try:
        result = await suggestion_to_draft(
            services, request.match_info["suggestion_id"], body, principal
        )
    except Problem as exc:
        query = {k: body.get(k, "") for k in ("period", "start", "end")}
        context = await _gaps_context(request, query)
        context["form_error"] = exc.message
        return render(request, "gaps.html", exc.status, **context)
    article = result["article"]
    back = {k: body.get(k, "") for k in ("period", "start", "end", "lang_filter")}
    back = {k: v for k, v in back.items() if v}
    back |= {
        "done": "draft",
        "article": f"{article['id']}/{article['lang']}",
        "article_id": str(article["article_id"]),
    }
    raise web.HTTPSeeOther(f"/gaps?{urlencode(back)}")


# ---------------------------------------------------------------------- tickets


def _own_tickets_only(request: web.Request) -> int | None:
    """Supervisors see every ticket; an agent sees the tickets they were assigned (their
    agent id is returned); anyone else may not open the ticket pages."""
    principal = principal_of(request)
    if principal.can("supervisor"):
        return None
    if principal.agent_id is not None:
        return principal.agent_id
    require(request, "supervisor")
    return None


async def tickets_page(request: web.Request) -> web.Response:
    own = _own_tickets_only(request)
    services = request.app[SERVICES]
    query = {k: v for k, v in request.query.items() if k != "lang"}
    if own is not None:
        query.pop("agent_id", None)
    error = None
    try:
        wanted = ticket_query(parse_query(TicketFilters, query), services, own)
    except ParamError as exc:
        error = str(exc)
        wanted = ticket_query(TicketFilters(), services, own)
    page = await reports.list_tickets(services.db, wanted)
    items, total, limit, offset = page.items, page.total, page.limit, page.offset
    prev_qs = _qs(query, offset=max(0, offset - limit)) if offset > 0 else None
    next_qs = _qs(query, offset=offset + limit) if offset + limit < total else None
    return render(
        request,
        "tickets.html",
        400 if error else 200,
        active="tickets",
        error=error,
        items=items,
        total=total,
        limit=limit,
        offset=offset,
        form=_form_values(query, None),
        choices=await reports.filter_choices(services.db),
        own_only=own is not None,
        prev_qs=prev_qs,
        next_qs=next_qs,
        csv_qs=_qs(query, drop=("lang", "offset", "limit", "format")),
        **formats(_lang(request)),
    )


async def ticket_page(request: web.Request) -> web.Response:
    own = _own_tickets_only(request)
    raw = request.match_info["ticket_id"]
    db = request.app[SERVICES].db
    detail = await reports.ticket_detail(db, int(raw)) if raw.isdigit() else None
    if detail is None or (
        own is not None and not await reports.agent_was_assigned(db, int(raw), own)
    ):
        raise web.HTTPNotFound(text=texts.text("page.not_found", _lang(request)))
    lang = _lang(request)
    names = await reports.agent_names(db)
    return render(
        request,
        "tickets_detail.html",
        active="tickets",
        ticket=detail,
        events=[readable_event(e, names, lang) for e in detail["events"]],
        own_only=own is not None,
        actions=await _ticket_actions(request, detail),
        **formats(lang),
    )


async def _ticket_actions(request: web.Request, detail: Mapping[str, Any]) -> dict[str, Any]:
    """What the page offers to do with the ticket (the core decides again when it is done):
    a supervisor acts on any live ticket and watches it; an agent on the chat they hold."""
    principal = principal_of(request)
    services = request.app[SERVICES]
    supervisor = principal.can("supervisor")
    state = detail["state"]
    with_agent = state in ("assigned", "pending")
    waiting = state in ("queued", "offered")
    holder = (
        with_agent
        and principal.agent_id is not None
        and detail["assignee_id"] == principal.agent_id
    )
    targets: list[tuple[int, str]] = []
    categories: list[str] = []
    if with_agent and (supervisor or holder):
        try:
            found = await services.handoff.transfer_targets(detail["id"], principal.agent_id)
            targets, categories = list(found.agents), list(found.categories)
        except HandoffError:
            pass
    return {
        "can_act": with_agent and (supervisor or holder),
        "can_hand_back": (with_agent and (supervisor or holder)) or (waiting and supervisor),
        "can_watch": supervisor and (with_agent or waiting),
        "can_take_over": supervisor
        and principal.agent_id is not None
        and (waiting or (with_agent and not holder)),
        "can_tag": supervisor or holder,
        "priorities": ("low", "normal", "high", "urgent"),
        "targets": targets,
        "categories": categories,
        "last_message_id": max((m["id"] for m in detail["messages"]), default=0),
    }


# Event data that says nothing to a reader (ids of rows shown elsewhere on the page).
HIDDEN_EVENT_FIELDS = ("ticket_id", "offer_id", "cycle", "message_id")
AGENT_FIELDS = ("agent_id", "to_agent", "from_agent", "target_agent_id")


def readable_event(event: Mapping[str, Any], names: Mapping[int, str], lang: str) -> dict[str, Any]:
    """An event as a reader sees it: what happened, who did it, and its details as
    ``label: value`` pairs in the page's language (never raw JSON)."""

    def shown(key: str, raw: Any) -> str:
        if key in AGENT_FIELDS and isinstance(raw, int):
            return names.get(raw, f"#{raw}")
        if key in ("priority", "resolution", "channel", "language", "state", "status", "tier"):
            return value(key, raw, lang)
        if key.endswith("_s") and isinstance(raw, int | float):
            return duration(raw, lang)
        if isinstance(raw, list):
            return ", ".join(str(x) for x in raw)
        if isinstance(raw, dict):
            return ", ".join(f"{k}: {x}" for k, x in raw.items())
        return str(raw)

    actor = str(event.get("actor") or "")
    kind, _, rest = actor.partition(":")
    if kind == "agent" and rest.isdigit():
        who = names.get(int(rest), f"#{rest}")
    else:
        who = value("sender", actor, lang) if actor else ""
    data = event.get("data") or {}
    details = [
        (value("field", key, lang), shown(key, raw))
        for key, raw in data.items()
        if key not in HIDDEN_EVENT_FIELDS and raw not in (None, "", [], {})
    ]
    return {
        "kind": event.get("kind"),
        "label": value("event", event.get("kind"), lang),
        "actor": who,
        "created_at": event.get("created_at"),
        "details": details,
    }


def _lang(request: web.Request) -> str:
    return request_lang(request, request.app[SERVICES].settings.default_language)


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/gaps", gaps_page)
    app.router.add_post(r"/gaps/unanswered/{group_id}/{action:article|phrasing}", gaps_action)
    app.router.add_post(r"/gaps/suggestions/{suggestion_id}/draft", draft_action)
    app.router.add_get("/tickets", tickets_page)
    app.router.add_get(r"/tickets/{ticket_id}", ticket_page)
