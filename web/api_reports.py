"""Reports, knowledge gaps and tickets over JSON (and CSV).

* ``/api/v1/reports/...`` (supervisor, admin): the support KPIs, their daily series and the
  per-agent table, read by :mod:`handoff.reports` (figures of :mod:`handoff.metrics`), so the
  dashboard, the API and the CSV exports always agree.
* ``/api/v1/gaps/...`` (editor, supervisor, admin; writes: editor, admin): what customers ask
  and what the FAQ does not answer, from :mod:`faq.gaps`; an unanswered group becomes a new
  article, or phrasings of an existing one, through :mod:`faq.curation` (events written) and
  the FAQ index is rebuilt at once.
* ``/api/v1/gaps/suggestions`` (editor, supervisor, admin): articles suggested from what
  agents answered again and again (:mod:`faq.drafts`); one becomes a **draft** article (not
  published, not matched) through :func:`faq.drafts.create_draft` (events written). A draft
  publishes nothing, so supervisors may make one too; an editor publishes it.
* ``/api/v1/tickets`` (supervisor, admin): the ticket list with filters and one ticket with its
  customer, transcript, internal notes, events and ratings.

Periods: ``period`` is ``today``, ``7d``, ``30d``, ``year`` (whole local days ending today, in
the business-hours time zone unless ``tz`` is given) or ``custom`` with ``start`` and ``end``
(dates ``YYYY-MM-DD``, both days included, or ISO 8601 instants). Any table is CSV with
``?format=csv`` or the ``.csv`` route. The shapes are :mod:`web.shapes`'.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel

from accounts.tokens import Principal
from app.services import Services
from base.periods import Period, period_named
from faq import curation, drafts
from faq.articles import ArticleError, validate_article
from faq.curation import ArticleRef, StoredArticle
from handoff import metrics, reports
from handoff.metrics import Filters
from handoff.reports import TicketPage, TicketQuery
from web import shapes, shapes_drafts, shapes_gaps
from web.auth import require
from web.openapi import (
    CSV,
    Answer,
    Operation,
    json_object,
    parse_query,
    paths_of,
    reply,
    with_csv_route,
)
from web.openapi import validate as validate_model
from web.problem import ParamError, Problem
from web.shapes import (
    GapFilters,
    GapParams,
    PeriodParams,
    ReportFilters,
    ReportParams,
    TicketFilters,
    TicketParams,
)
from web.site import services_of

DEFAULT_PERIOD = "7d"
DEFAULT_GAPS_PERIOD = "30d"
MAX_CUSTOM_DAYS = 3 * 366
LANGS = reports.LANGS
READ_GAPS = ("editor", "supervisor")
WRITE_GAPS = ("editor",)
DRAFTS = ("editor", "supervisor")
SUGGESTIONS_LIMIT = 20
REPORTS = ("supervisor",)
GAP_LIMITS = {"queries": 20, "terms": 30, "unanswered": 30, "articles": shapes.MAX_LIMIT}


# ---------------------------------------------------------------------- parameters


def _instant(value: str, key: str, zone: ZoneInfo, *, end: bool) -> datetime:
    """A date (a whole local day: its start, or the next midnight for ``end``) or an instant."""
    value = value.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParamError(
            f"{key}: expected a date YYYY-MM-DD or an ISO 8601 time, got {value!r}", field=key
        ) from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    return at.astimezone(UTC)


def period_of(
    params: PeriodParams, now: datetime, tz: str, default: str = DEFAULT_PERIOD
) -> tuple[str, Period]:
    """``(name, period)`` from ``period`` / ``start`` / ``end``."""
    name = params.period or default
    if name != "custom":
        return name, period_named(name, now, tz)
    if not params.start or not params.end:
        raise ParamError("period=custom needs start and end (YYYY-MM-DD, both days included)")
    zone = ZoneInfo(tz)
    first = _instant(params.start, "start", zone, end=False)
    last = _instant(params.end, "end", zone, end=True)
    if last <= first:
        raise ParamError("end must not be before start")
    if last - first > timedelta(days=MAX_CUSTOM_DAYS):
        raise ParamError(f"a custom period is at most {MAX_CUSTOM_DAYS} days")
    return name, Period(first, last)


def filters_of(params: shapes.FilterParams) -> Filters:
    return Filters(
        category=params.category,
        agent_id=params.agent_id,
        priority=params.priority,
        channel=params.channel,
        language=params.language,
    )


@dataclass(frozen=True)
class ReportQuery:
    period_name: str
    period: Period
    filters: Filters
    tz: str
    now: datetime


def _zone(params: PeriodParams, services: Services) -> str:
    return params.tz or services.settings.business_hours.timezone or "UTC"


def report_query(params: ReportFilters, services: Services) -> ReportQuery:
    now = services.clock.now()
    tz = _zone(params, services)
    name, period = period_of(params, now, tz)
    return ReportQuery(name, period, filters_of(params), tz, now)


def gaps_params(
    params: GapFilters, services: Services, limit: int
) -> tuple[Period, str | None, int]:
    _, period = period_of(
        params, services.clock.now(), _zone(params, services), DEFAULT_GAPS_PERIOD
    )
    return period, params.lang, params.limit or limit


def ticket_query(
    params: TicketFilters, services: Services, involving: int | None = None
) -> TicketQuery:
    period = None
    if params.period:
        _, period = period_of(params, services.clock.now(), _zone(params, services))
    return TicketQuery(
        filters=filters_of(params),
        state=params.state,
        period=period,
        limit=params.limit,
        offset=params.offset,
        involving=involving,
    )


# ---------------------------------------------------------------------- reads (shared with pages)


async def load_kpis(services: Services, rq: ReportQuery) -> dict[str, Any]:
    return await reports.kpis(services.db, rq.period, rq.filters, rq.now, rq.tz)


async def load_agent_table(services: Services, rq: ReportQuery) -> list[dict[str, Any]]:
    return await reports.agent_table(services.db, rq.period, rq.filters, rq.now)


def kpi_rows(figures: Mapping[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """The KPI dict as ``figure, value`` rows (nested figures dotted), without the series."""
    rows: list[dict[str, Any]] = []
    for key, value in figures.items():
        if not prefix and key == "series":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += kpi_rows(value, f"{name}.")
        else:
            rows.append({"figure": name, "value": value})
    return rows


# ---------------------------------------------------------------------- gap actions (shared)


def _actor(principal: Principal) -> str:
    return f"{principal.role}:{principal.name}"[:64]


def gap_article_json(article: StoredArticle) -> dict[str, Any]:
    return {
        "article_id": article.id,
        "id": article.slug,
        "lang": article.lang,
        "question": article.question,
        "phrasings": list(article.phrasings),
        "answer": article.answer,
        "category": article.category,
        "tags": list(article.tags),
        "status": article.status,
    }


async def _group(services: Services, group_id: str, given: shapes_gaps.GapPeriod) -> dict[str, Any]:
    params = validate_model(PeriodParams, given.model_dump(exclude_none=True))
    _, period = period_of(
        params, services.clock.now(), _zone(params, services), DEFAULT_GAPS_PERIOD
    )
    try:
        return await curation.find_group(services.db, period, group_id)
    except curation.NotFound as exc:
        raise Problem(404, str(exc)) from None


async def group_to_article(
    services: Services, group_id: str, data: Mapping[str, Any], principal: Principal
) -> dict[str, Any]:
    """A new article answering the group's questions (``id``, ``answer`` required)."""
    body = validate_model(shapes_gaps.GapArticleIn, dict(data))
    group = await _group(services, group_id, body)
    lang = (body.lang or group["lang"]).strip().lower()
    if lang != group["lang"]:
        raise ParamError(f"lang: this group's questions are in {group['lang']!r}, not {lang!r}")
    question = (body.question or "").strip() or group["representative"]
    phrasings = [p.strip() for p in body.phrasings or group["queries"] if p.strip()]
    record: dict[str, Any] = {
        "id": body.id or body.slug,
        "lang": lang,
        "question": question,
        "answer": body.answer,
        "phrasings": [p for p in phrasings if p != question],
        "category": body.category or "",
        "tags": [t.strip() for t in body.tags or [] if t.strip()],
        "status": body.status or "published",
    }
    try:
        new = validate_article(record)
        article = await curation.group_to_article(
            services.db, new, services.clock.now(), _actor(principal)
        )
    except ArticleError as exc:
        raise ParamError(str(exc)) from exc
    except curation.Conflict as exc:
        raise Problem(409, str(exc)) from None
    await services.faq.reload()
    return {"article": gap_article_json(article), "group": group}


async def group_to_phrasings(
    services: Services, group_id: str, data: Mapping[str, Any], principal: Principal
) -> dict[str, Any]:
    """Add the group's questions as phrasings of an existing article of the same language."""
    body = validate_model(shapes_gaps.GapPhrasingIn, dict(data))
    group = await _group(services, group_id, body)
    slug = (body.id or body.slug or "").strip()
    if body.article_id is None and not slug:
        raise ParamError("send article_id (or id, the article's slug)")
    target = ArticleRef(body.article_id, slug or None, body.lang)
    try:
        article, added = await curation.group_to_phrasings(
            services.db, group, target, services.clock.now(), _actor(principal)
        )
    except ArticleError as exc:
        raise ParamError(str(exc)) from exc
    except curation.NotFound as exc:
        raise Problem(404, str(exc)) from None
    await services.faq.reload()
    return {"article": gap_article_json(article), "added": added, "group": group}


# ---------------------------------------------------------------------- suggested articles


def suggestion_json(suggestion: drafts.Suggestion) -> dict[str, Any]:
    return {
        "id": suggestion.id,
        "lang": suggestion.lang,
        "question": suggestion.question,
        "phrasings": list(suggestion.phrasings),
        "answer": suggestion.answer,
        "tickets": suggestion.tickets,
        "replies": suggestion.replies,
        "example_ticket_ids": list(suggestion.example_ticket_ids),
        "last_at": suggestion.last_at.isoformat(),
        "slug": drafts.suggestion_slug(suggestion),
    }


async def load_suggestions(
    services: Services, period: Period, lang: str | None, limit: int = SUGGESTIONS_LIMIT
) -> list[dict[str, Any]]:
    found = await drafts.suggest_articles(services.db, services.faq, period, lang, limit)
    return [suggestion_json(s) for s in found]


async def suggestion_to_draft(
    services: Services, suggestion_id: str, data: Mapping[str, Any], principal: Principal
) -> dict[str, Any]:
    """A draft article from a suggestion as edited (unset fields: the suggestion's)."""
    body = validate_model(shapes_drafts.DraftIn, dict(data))
    params = validate_model(
        PeriodParams, body.model_dump(include={"period", "start", "end", "tz"}, exclude_none=True)
    )
    _, period = period_of(
        params, services.clock.now(), _zone(params, services), DEFAULT_GAPS_PERIOD
    )
    try:
        suggestion = await drafts.find_suggestion(services.db, services.faq, period, suggestion_id)
    except curation.NotFound as exc:
        raise Problem(404, str(exc)) from None
    edit = drafts.DraftEdit(
        slug=(body.id or body.slug or "").strip() or drafts.suggestion_slug(suggestion),
        question=(body.question or "").strip() or suggestion.question,
        answer=(body.answer or "").strip() or suggestion.answer,
        phrasings=None if body.phrasings is None else tuple(body.phrasings),
        category=(body.category or "").strip(),
    )
    try:
        article = await drafts.create_draft(
            services.db, suggestion, edit, services.clock.now(), _actor(principal)
        )
    except ArticleError as exc:
        raise ParamError(str(exc)) from exc
    except curation.Conflict as exc:
        raise Problem(409, str(exc)) from None
    return {"article": gap_article_json(article), "suggestion": suggestion_json(suggestion)}


# ---------------------------------------------------------------------- responses


def wants_csv(request: web.Request, params: shapes.FormatParams) -> bool:
    return params.format == "csv" or request.path.endswith(".csv")


def csv_response(rows: list[dict[str, Any]], name: str) -> web.Response:
    response = web.Response(text=metrics.to_csv(rows), content_type="text/csv", charset="utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="sanad-{name}.csv"'
    return response


def _table(
    request: web.Request,
    params: shapes.FormatParams,
    rows: list[dict[str, Any]],
    name: str,
    model: type[BaseModel],
) -> web.Response:
    if wants_csv(request, params):
        return csv_response(rows, name)
    return reply(model, {"items": rows})


# ---------------------------------------------------------------------- handlers


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def kpis_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    services = services_of(request)
    params = parse_query(ReportParams, request.query)
    figures = await load_kpis(services, report_query(params, services))
    if wants_csv(request, params):
        return csv_response(kpi_rows(figures), "kpis")
    return reply(shapes.Kpis, figures)


async def series_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    services = services_of(request)
    params = parse_query(ReportParams, request.query)
    figures = await load_kpis(services, report_query(params, services))
    return _table(request, params, figures["series"], "series", shapes.SeriesOut)


async def agents_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    services = services_of(request)
    params = parse_query(ReportParams, request.query)
    rows = await load_agent_table(services, report_query(params, services))
    return _table(request, params, rows, "agents", shapes.AgentRowsOut)


GAP_MODELS: dict[str, type[BaseModel]] = {
    "queries": shapes_gaps.QueriesOut,
    "terms": shapes_gaps.TermsOut,
    "unanswered": shapes_gaps.UnansweredOut,
    "articles": shapes_gaps.ArticleUsesOut,
}


def _gaps_handler(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        require(request, *READ_GAPS)
        services = services_of(request)
        params = parse_query(GapParams, request.query)
        period, lang, limit = gaps_params(params, services, GAP_LIMITS[kind])
        rows = await curation.gap_table(services.db, kind, period, lang, limit)
        return _table(request, params, rows, f"gaps-{kind}", GAP_MODELS[kind])

    handler.__name__ = f"gaps_{kind}_handler"
    return handler


async def _gap_body(request: web.Request) -> dict[str, Any]:
    """The query and the JSON body (if any) together: the period may come in either."""
    body: dict[str, Any] = await json_object(request, empty={})
    return {**request.query, **body}


async def gap_article_handler(request: web.Request) -> web.Response:
    principal = require(request, *WRITE_GAPS)
    services = services_of(request)
    data = await _gap_body(request)
    result = await group_to_article(services, request.match_info["group_id"], data, principal)
    return reply(shapes_gaps.GapArticleOut, result, status=201)


async def gap_phrasing_handler(request: web.Request) -> web.Response:
    principal = require(request, *WRITE_GAPS)
    services = services_of(request)
    data = await _gap_body(request)
    result = await group_to_phrasings(services, request.match_info["group_id"], data, principal)
    return reply(shapes_gaps.GapPhrasingOut, result)


async def suggestions_handler(request: web.Request) -> web.Response:
    require(request, *READ_GAPS)
    services = services_of(request)
    params = parse_query(GapFilters, request.query)
    period, lang, limit = gaps_params(params, services, SUGGESTIONS_LIMIT)
    items = await load_suggestions(services, period, lang, limit)
    return reply(shapes_drafts.SuggestionsOut, {"items": items})


async def draft_handler(request: web.Request) -> web.Response:
    principal = require(request, *DRAFTS)
    services = services_of(request)
    data = await _gap_body(request)
    result = await suggestion_to_draft(
        services, request.match_info["suggestion_id"], data, principal
    )
    return reply(shapes_drafts.DraftOut, result, status=201)


async def tickets_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    services = services_of(request)
    params = parse_query(TicketParams, request.query)
    page: TicketPage = await reports.list_tickets(services.db, ticket_query(params, services))
    if wants_csv(request, params):
        return csv_response(page.items, "tickets")
    return reply(
        shapes.TicketsOut,
        {"items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset},
    )


async def ticket_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    raw = request.match_info["ticket_id"]
    if not raw.isdigit():
        raise ParamError(f"ticket id must be a whole number, got {raw!r}")
    detail = await reports.ticket_detail(services_of(request).db, int(raw))
    if detail is None:
        raise web.HTTPNotFound(text=f"ticket {raw} not found")
    return reply(shapes.TicketDetail, detail)


# ---------------------------------------------------------------------- routes


def _table_op(
    path: str, summary: str, tag: str, query: type[BaseModel], model: type[BaseModel]
) -> list[Operation]:
    """A table route and its ``.csv`` twin."""
    op = Operation(
        "GET",
        path,
        summary,
        tag,
        (Answer(200, "OK", model, media=(CSV,)),),
        errors=(400, 401, 403),
        query=query,
    )
    return [op, with_csv_route(op)]


_GAP_WRITE = (
    "Roles: editor, admin. The group is looked up in the period given (query or body: "
    "period/start/end, default 30d). The FAQ index is rebuilt at once."
)
OPERATIONS = [
    *_table_op(
        "/api/v1/reports/kpis",
        "Support KPIs of the tickets created in the period (supervisor, admin); the CSV is "
        "one figure per row",
        "reports",
        ReportParams,
        shapes.Kpis,
    ),
    *_table_op(
        "/api/v1/reports/series",
        "The KPIs per local day (supervisor, admin)",
        "reports",
        ReportParams,
        shapes.SeriesOut,
    ),
    *_table_op(
        "/api/v1/reports/agents",
        "One row per agent: chats, FRT, resolution, CSAT, missed offers, load (supervisor, admin)",
        "reports",
        ReportParams,
        shapes.AgentRowsOut,
    ),
    *_table_op(
        "/api/v1/gaps/queries",
        "Most frequent questions (editor, supervisor, admin)",
        "gaps",
        GapParams,
        shapes_gaps.QueriesOut,
    ),
    *_table_op(
        "/api/v1/gaps/terms",
        "Most frequent search terms (editor, supervisor, admin)",
        "gaps",
        GapParams,
        shapes_gaps.TermsOut,
    ),
    *_table_op(
        "/api/v1/gaps/unanswered",
        "Unanswered or not-helpful questions grouped by similarity (editor, supervisor, admin)",
        "gaps",
        GapParams,
        shapes_gaps.UnansweredOut,
    ),
    *_table_op(
        "/api/v1/gaps/articles",
        "Per-article views, helpful / not helpful, led to handoff (editor, supervisor, admin)",
        "gaps",
        GapParams,
        shapes_gaps.ArticleUsesOut,
    ),
    Operation(
        "POST",
        "/api/v1/gaps/unanswered/{group_id}/article",
        "Turn an unanswered group into a new article",
        "gaps",
        (Answer(201, "Created", shapes_gaps.GapArticleOut),),
        errors=(400, 401, 403, 404, 409),
        body=shapes_gaps.GapArticleIn,
        description=_GAP_WRITE,
        path_params={"group_id": "string"},
    ),
    Operation(
        "POST",
        "/api/v1/gaps/unanswered/{group_id}/phrasing",
        "Add an unanswered group's questions as phrasings of an existing article",
        "gaps",
        (Answer(200, "Added", shapes_gaps.GapPhrasingOut),),
        errors=(400, 401, 403, 404),
        body=shapes_gaps.GapPhrasingIn,
        description=_GAP_WRITE,
        path_params={"group_id": "string"},
    ),
    Operation(
        "GET",
        "/api/v1/gaps/suggestions",
        "Articles suggested from agents' answers: similar replies to similar customer "
        "questions, across tickets, most recurring first (editor, supervisor, admin)",
        "gaps",
        (Answer(200, "OK", shapes_drafts.SuggestionsOut),),
        errors=(400, 401, 403),
        query=GapFilters,
        description="Questions the FAQ answers already are left out; how the groups are "
        "built: docs/metrics.md. Default period: 30d.",
    ),
    Operation(
        "POST",
        "/api/v1/gaps/suggestions/{suggestion_id}/draft",
        "Create a draft article (status draft: not published, not matched) from a suggestion",
        "gaps",
        (Answer(201, "Created", shapes_drafts.DraftOut),),
        errors=(400, 401, 403, 404, 409),
        body=shapes_drafts.DraftIn,
        description="Roles: editor, supervisor, admin. The suggestion is looked up in the "
        "period given (query or body: period/start/end, default 30d); unset fields take the "
        "suggestion's. Writes article_created and article_drafted.",
        path_params={"suggestion_id": "string"},
    ),
    *_table_op(
        "/api/v1/tickets",
        "Tickets, newest first, with filters and pagination (supervisor, admin)",
        "tickets",
        TicketParams,
        shapes.TicketsOut,
    ),
    Operation(
        "GET",
        "/api/v1/tickets/{ticket_id}",
        "One ticket: fields, customer, transcript, internal notes, events, ratings "
        "(supervisor, admin)",
        "tickets",
        (Answer(200, "OK", shapes.TicketDetail),),
        errors=(400, 401, 403, 404),
        path_params={"ticket_id": "integer"},
    ),
]
OPENAPI_PATHS, OPENAPI_SCHEMAS = paths_of(OPERATIONS)


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    tables: list[tuple[str, Handler]] = [
        ("/api/v1/reports/kpis", kpis_handler),
        ("/api/v1/reports/series", series_handler),
        ("/api/v1/reports/agents", agents_handler),
        *((f"/api/v1/gaps/{kind}", _gaps_handler(kind)) for kind in GAP_LIMITS),
        ("/api/v1/tickets", tickets_handler),
    ]
    for path, handler in tables:
        app.router.add_get(path, handler)
        app.router.add_get(path + ".csv", handler)
    app.router.add_post("/api/v1/gaps/unanswered/{group_id}/article", gap_article_handler)
    app.router.add_post("/api/v1/gaps/unanswered/{group_id}/phrasing", gap_phrasing_handler)
    app.router.add_get("/api/v1/gaps/suggestions", suggestions_handler)
    app.router.add_post("/api/v1/gaps/suggestions/{suggestion_id}/draft", draft_handler)
    app.router.add_get(r"/api/v1/tickets/{ticket_id}", ticket_handler)
