"""Reports, knowledge gaps and tickets over JSON (and CSV).

* ``/api/v1/reports/...`` (supervisor, admin): the support KPIs, their daily series and the
  per-agent table. Every figure comes from :mod:`handoff.metrics` (``kpis``, ``agent_table``),
  so the dashboard, the API and the CSV exports always agree.
* ``/api/v1/gaps/...`` (editor, supervisor, admin; writes: editor, admin): what customers ask
  and what the FAQ does not answer, from :mod:`faq.gaps`; an unanswered group becomes a new
  article, or phrasings of an existing one, through :mod:`faq.articles` (events written) and
  the FAQ index is rebuilt at once.
* ``/api/v1/tickets`` (supervisor, admin): the ticket list with filters and one ticket with its
  customer, transcript, internal notes, events and ratings.

Periods: ``period`` is ``today``, ``7d``, ``30d``, ``year`` (whole local days ending today, in
the business-hours time zone unless ``tz`` is given) or ``custom`` with ``start`` and ``end``
(dates ``YYYY-MM-DD``, both days included, or ISO 8601 instants). Any table is CSV with
``?format=csv`` or the ``.csv`` route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from faq import gaps
from faq.articles import ArticleError, get_article, upsert_articles, validate_article
from handoff import metrics
from handoff.metrics import Filters, Period
from handoff.priority import PRIORITIES
from handoff.tickets import State, offered_options, transcript, transcript_text
from sanad.services import Services
from storage.models import Agent, Article, Customer, Event, Note, Rating, Ticket
from web.app import services_of
from web.auth import Principal, require
from web.inputs import parse_json
from web.problem import ParamError, Query, int_param

PERIODS = (*metrics.PERIOD_NAMES, "custom")
DEFAULT_PERIOD = "7d"
DEFAULT_GAPS_PERIOD = "30d"
MAX_CUSTOM_DAYS = 3 * 366
MAX_TEXT_PARAM = 64
MAX_LIMIT = 500
TICKET_PAGE = 50
MAX_TICKET_PAGE = 200
LANGS = ("en", "ar")
STATES = tuple(s.value for s in State)
READ_GAPS = ("editor", "supervisor")
WRITE_GAPS = ("editor",)
REPORTS = ("supervisor",)


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)


# ---------------------------------------------------------------------- parameters


def _zone_name(query: Query, services: Services) -> str:
    name = str(query.get("tz") or services.settings.business_hours.timezone or "UTC")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ParamError(f"tz: unknown time zone {name!r}") from exc
    return name


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
            f"{key}: expected a date YYYY-MM-DD or an ISO 8601 time, got {value!r}"
        ) from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    return at.astimezone(UTC)


def parse_period(
    query: Query, now: datetime, tz: str, default: str = DEFAULT_PERIOD
) -> tuple[str, Period]:
    """``(name, period)`` from ``period`` / ``start`` / ``end``."""
    name = str(query.get("period") or default)
    if name not in PERIODS:
        raise ParamError(f"period: expected one of {', '.join(PERIODS)}, got {name!r}")
    zone = ZoneInfo(tz)
    if name != "custom":
        return name, metrics.period_named(name, now, tz)
    start, end = query.get("start"), query.get("end")
    if not start or not end:
        raise ParamError("period=custom needs start and end (YYYY-MM-DD, both days included)")
    first = _instant(str(start), "start", zone, end=False)
    last = _instant(str(end), "end", zone, end=True)
    if last <= first:
        raise ParamError("end must not be before start")
    if last - first > timedelta(days=MAX_CUSTOM_DAYS):
        raise ParamError(f"a custom period is at most {MAX_CUSTOM_DAYS} days")
    return name, Period(first, last)


def _text_param(query: Query, key: str) -> str | None:
    value = str(query.get(key) or "").strip()
    if not value:
        return None
    if len(value) > MAX_TEXT_PARAM:
        raise ParamError(f"{key}: at most {MAX_TEXT_PARAM} characters")
    return value


def _choice(query: Query, key: str, choices: tuple[str, ...]) -> str | None:
    value = _text_param(query, key)
    if value is not None:
        value = value.lower()
        if value not in choices:
            raise ParamError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def parse_filters(query: Query) -> Filters:
    category = _text_param(query, "category")
    return Filters(
        category=category.lower() if category else None,
        agent_id=int_param(query, "agent_id", None, 1, 2**62),
        priority=_choice(query, "priority", PRIORITIES),
        channel=_text_param(query, "channel"),
        language=_choice(query, "language", LANGS),
    )


@dataclass(frozen=True)
class ReportQuery:
    period_name: str
    period: Period
    filters: Filters
    tz: str
    now: datetime


def report_query(query: Query, services: Services, default: str = DEFAULT_PERIOD) -> ReportQuery:
    now = services.clock.now()
    tz = _zone_name(query, services)
    name, period = parse_period(query, now, tz, default)
    return ReportQuery(name, period, parse_filters(query), tz, now)


def gaps_params(query: Query, services: Services, limit: int) -> tuple[Period, str | None, int]:
    now = services.clock.now()
    tz = _zone_name(query, services)
    _, period = parse_period(query, now, tz, DEFAULT_GAPS_PERIOD)
    lang = _choice(query, "lang", LANGS)
    size = int_param(query, "limit", limit, 1, MAX_LIMIT)
    assert size is not None
    return period, lang, size


# ---------------------------------------------------------------------- data (shared with pages)


async def load_kpis(services: Services, rq: ReportQuery) -> dict[str, Any]:
    async with services.db.transaction() as session:
        return await metrics.kpis(session, rq.period, rq.filters, rq.now, tz=rq.tz)


async def load_agent_table(services: Services, rq: ReportQuery) -> list[dict[str, Any]]:
    async with services.db.transaction() as session:
        return await metrics.agent_table(session, rq.period, rq.filters, rq.now)


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


async def filter_choices(services: Services) -> dict[str, list[Any]]:
    """What the filter menus offer: categories and channels seen on tickets, agents."""
    async with services.db.transaction() as session:
        categories = (
            (await session.execute(select(Ticket.category).distinct().order_by(Ticket.category)))
            .scalars()
            .all()
        )
        channels = (
            (await session.execute(select(Ticket.channel).distinct().order_by(Ticket.channel)))
            .scalars()
            .all()
        )
        agents = (await session.execute(select(Agent.id, Agent.name).order_by(Agent.name))).all()
    return {
        "categories": [c for c in categories if c],
        "channels": [c for c in channels if c],
        "agents": [{"id": a_id, "name": name} for a_id, name in agents],
        "priorities": list(PRIORITIES),
        "languages": list(LANGS),
        "states": list(STATES),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _columns(row: Any) -> dict[str, Any]:
    return {c.key: _jsonable(getattr(row, c.key)) for c in row.__table__.columns}


def article_json(row: Article) -> dict[str, Any]:
    return {
        "article_id": row.id,
        "id": row.slug,
        "lang": row.lang,
        "question": row.question,
        "phrasings": list(row.phrasings),
        "answer": row.answer,
        "category": row.category,
        "tags": list(row.tags),
        "status": row.status,
    }


async def list_tickets(
    services: Services, query: Query, involving: int | None = None
) -> tuple[list[dict[str, Any]], int, int, int]:
    """``(items, total, limit, offset)`` of the tickets matching the query, newest first;
    ``involving``: only the tickets that agent was ever assigned (an agent's own tickets)."""
    conditions: list[ColumnElement[bool]] = []
    if involving is not None:
        conditions.append(
            Ticket.id.in_(
                select(Event.ticket_id).where(
                    Event.kind == "ticket_assigned", Event.actor == f"agent:{involving}"
                )
            )
            | (Ticket.assignee_id == involving)
        )
    state = _choice(query, "state", STATES)
    if state:
        conditions.append(Ticket.state == state)
    filters = parse_filters(query)
    if filters.category:
        conditions.append(Ticket.category == filters.category)
    if filters.priority:
        conditions.append(Ticket.priority == filters.priority)
    if filters.channel:
        conditions.append(Ticket.channel == filters.channel)
    if filters.language:
        conditions.append(Ticket.language == filters.language)
    if filters.agent_id:
        conditions.append(Ticket.assignee_id == filters.agent_id)
    if query.get("period"):
        rq = report_query(query, services)
        conditions += [Ticket.created_at >= rq.period.start, Ticket.created_at < rq.period.end]
    limit = int_param(query, "limit", TICKET_PAGE, 1, MAX_TICKET_PAGE)
    offset = int_param(query, "offset", 0, 0, 2**62)
    assert limit is not None and offset is not None
    async with services.db.transaction() as session:
        total = int(
            (await session.execute(select(func.count(Ticket.id)).where(*conditions))).scalar_one()
        )
        rows = (
            await session.execute(
                select(Ticket, Customer.name, Agent.name)
                .join(Customer, Customer.id == Ticket.customer_id)
                .outerjoin(Agent, Agent.id == Ticket.assignee_id)
                .where(*conditions)
                .order_by(Ticket.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    items = [
        _columns(ticket) | {"customer_name": customer, "assignee_name": agent}
        for ticket, customer, agent in rows
    ]
    return items, total, limit, offset


async def agent_was_assigned(services: Services, ticket_id: int, agent_id: int) -> bool:
    """Whether the agent was ever assigned the ticket (their own past tickets)."""
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return False
        if ticket.assignee_id == agent_id:
            return True
        found = await session.execute(
            select(Event.id)
            .where(
                Event.ticket_id == ticket_id,
                Event.kind == "ticket_assigned",
                Event.actor == f"agent:{agent_id}",
            )
            .limit(1)
        )
        return found.first() is not None


async def ticket_detail(services: Services, ticket_id: int) -> dict[str, Any] | None:
    async with services.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return None
        customer = await session.get(Customer, ticket.customer_id)
        names = {a: n for a, n in (await session.execute(select(Agent.id, Agent.name))).all()}
        messages = await transcript(session, ticket_id)
        notes = (
            (
                await session.execute(
                    select(Note).where(Note.ticket_id == ticket_id).order_by(Note.id)
                )
            )
            .scalars()
            .all()
        )
        events = (
            (
                await session.execute(
                    select(Event).where(Event.ticket_id == ticket_id).order_by(Event.id)
                )
            )
            .scalars()
            .all()
        )
        ratings = (
            (
                await session.execute(
                    select(Rating).where(Rating.ticket_id == ticket_id).order_by(Rating.cycle)
                )
            )
            .scalars()
            .all()
        )
    result = _columns(ticket)
    result["assignee_name"] = names.get(ticket.assignee_id) if ticket.assignee_id else None
    result["customer"] = (
        {
            k: v
            for k, v in _columns(customer).items()
            if k in ("id", "channel", "name", "username", "language", "tier", "created_at")
        }
        if customer is not None
        else None
    )
    # The text as read by people: the options a bot line offered, a press as a choice.
    result["messages"] = [
        {k: v for k, v in _columns(m).items() if k != "customer_id"}
        | {"text": transcript_text(m), "options": [o["label"] for o in offered_options(m)]}
        for m in messages
    ]
    result["notes"] = [
        _columns(n) | {"agent_name": names.get(n.agent_id) if n.agent_id else None} for n in notes
    ]
    result["events"] = [_columns(e) for e in events]
    result["ratings"] = [
        _columns(r) | {"agent_name": names.get(r.agent_id) if r.agent_id else None} for r in ratings
    ]
    result["rating"] = result["ratings"][-1] if result["ratings"] else None
    return result


# ---------------------------------------------------------------------- gap actions


async def _find_group(services: Services, group_id: str, query: Query) -> dict[str, Any]:
    now = services.clock.now()
    tz = _zone_name(query, services)
    _, period = parse_period(query, now, tz, DEFAULT_GAPS_PERIOD)
    async with services.db.transaction() as session:
        groups = await gaps.unanswered_groups(session, period, None, limit=100_000)
    for group in groups:
        if group["id"] == group_id:
            return group
    raise web.HTTPNotFound(
        text=f"no unanswered group {group_id!r} in this period (the list may have changed)"
    )


def _actor(principal: Principal) -> str:
    return f"{principal.role}:{principal.name}"[:64]


def _strings(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise ParamError(f"'{key}' must be a list of texts")


async def group_to_article(
    services: Services, group_id: str, body: Mapping[str, Any], principal: Principal
) -> dict[str, Any]:
    """A new article answering the group's questions (``id``, ``answer`` required)."""
    group = await _find_group(services, group_id, body)
    lang = str(body.get("lang") or group["lang"]).strip().lower()
    if lang != group["lang"]:
        raise ParamError(f"lang: this group's questions are in {group['lang']!r}, not {lang!r}")
    question = str(body.get("question") or "").strip() or group["representative"]
    phrasings = (
        _strings(body.get("phrasings"), "phrasings")
        if body.get("phrasings")
        else list(group["queries"])
    )
    record: dict[str, Any] = {
        "id": body.get("id") or body.get("slug"),
        "lang": lang,
        "question": question,
        "answer": body.get("answer"),
        "phrasings": [p for p in phrasings if p != question],
        "category": body.get("category") or "",
        "tags": _strings(body.get("tags"), "tags"),
        "status": body.get("status") or "published",
    }
    try:
        article = validate_article(record)
    except ArticleError as exc:
        raise ParamError(str(exc)) from exc
    now = services.clock.now()
    async with services.db.transaction() as session:
        if await get_article(session, article.id, article.lang) is not None:
            raise web.HTTPConflict(
                text=f"article {article.id}/{article.lang} already exists; add the questions "
                "as its phrasings instead"
            )
        await upsert_articles(session, [article], now, actor=_actor(principal))
        row = await get_article(session, article.id, article.lang)
        assert row is not None
        result = article_json(row)
    await services.faq.reload()
    return {"article": result, "group": group}


async def _target_article(session: AsyncSession, body: Mapping[str, Any], lang: str) -> Article:
    raw = body.get("article_id")
    if raw not in (None, ""):
        try:
            article_id = int(str(raw))
        except ValueError as exc:
            raise ParamError(f"article_id: expected a whole number, got {raw!r}") from exc
        row = await session.get(Article, article_id)
    else:
        slug = str(body.get("id") or body.get("slug") or "").strip()
        if not slug:
            raise ParamError("send article_id (or id, the article's slug)")
        row = await get_article(session, slug, str(body.get("lang") or lang))
    if row is None:
        raise web.HTTPNotFound(text="no such article")
    return row


async def group_to_phrasings(
    services: Services, group_id: str, body: Mapping[str, Any], principal: Principal
) -> dict[str, Any]:
    """Add the group's questions as phrasings of an existing article of the same language."""
    group = await _find_group(services, group_id, body)
    now = services.clock.now()
    async with services.db.transaction() as session:
        row = await _target_article(session, body, group["lang"])
        if row.lang != group["lang"]:
            raise ParamError(
                f"article {row.slug} is in {row.lang!r} but this group's questions are in "
                f"{group['lang']!r}"
            )
        existing = [row.question, *row.phrasings]
        added = [q for q in group["queries"] if q not in existing]
        record = article_json(row)
        del record["article_id"]
        record["phrasings"] = [*row.phrasings, *added]
        try:
            article = validate_article(record)
        except ArticleError as exc:
            raise ParamError(str(exc)) from exc
        await upsert_articles(session, [article], now, actor=_actor(principal))
        result = article_json(row)
    await services.faq.reload()
    return {"article": result, "added": added, "group": group}


# ---------------------------------------------------------------------- responses


def wants_csv(request: web.Request) -> bool:
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ParamError(f"format: expected json or csv, got {fmt!r}")
    return fmt == "csv" or request.path.endswith(".csv")


def csv_response(rows: list[dict[str, Any]], name: str) -> web.Response:
    response = web.Response(text=metrics.to_csv(rows), content_type="text/csv", charset="utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="sanad-{name}.csv"'
    return response


def _table(request: web.Request, rows: list[dict[str, Any]], name: str) -> web.Response:
    if wants_csv(request):
        return csv_response(rows, name)
    return web.json_response({"items": rows})


def _params_errors(handler: Any) -> Any:
    """Turn a :class:`ParamError` into a 400 with its message."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except ParamError as exc:
            raise bad_request(str(exc)) from exc

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise ParamError("the body must be a JSON object")
    return body


# ---------------------------------------------------------------------- handlers


@_params_errors
async def kpis_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    services = services_of(request)
    csv = wants_csv(request)
    figures = await load_kpis(services, report_query(request.query, services))
    if csv:
        return csv_response(kpi_rows(figures), "kpis")
    return web.json_response(figures)


@_params_errors
async def series_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    services = services_of(request)
    wants_csv(request)
    figures = await load_kpis(services, report_query(request.query, services))
    return _table(request, figures["series"], "series")


@_params_errors
async def agents_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    services = services_of(request)
    wants_csv(request)
    rows = await load_agent_table(services, report_query(request.query, services))
    return _table(request, rows, "agents")


def _gaps_handler(kind: str) -> Any:
    limits = {"queries": 20, "terms": 30, "unanswered": 30, "articles": MAX_LIMIT}

    @_params_errors
    async def handler(request: web.Request) -> web.Response:
        require(request, *READ_GAPS)
        services = services_of(request)
        wants_csv(request)
        period, lang, limit = gaps_params(request.query, services, limits[kind])
        async with services.db.transaction() as session:
            if kind == "queries":
                rows = await gaps.top_queries(session, period, lang, limit)
            elif kind == "terms":
                rows = await gaps.top_terms(session, period, lang, limit)
            elif kind == "unanswered":
                rows = await gaps.unanswered_groups(session, period, lang, limit)
            else:
                rows = (await gaps.article_stats(session, period, lang))[:limit]
        return _table(request, rows, f"gaps-{kind}")

    handler.__name__ = f"gaps_{kind}_handler"
    return handler


@_params_errors
async def gap_article_handler(request: web.Request) -> web.Response:
    principal = require(request, *WRITE_GAPS)
    services = services_of(request)
    body = {**request.query, **await _json_body(request)}
    result = await group_to_article(services, request.match_info["group_id"], body, principal)
    return web.json_response(result, status=201)


@_params_errors
async def gap_phrasing_handler(request: web.Request) -> web.Response:
    principal = require(request, *WRITE_GAPS)
    services = services_of(request)
    body = {**request.query, **await _json_body(request)}
    result = await group_to_phrasings(services, request.match_info["group_id"], body, principal)
    return web.json_response(result)


@_params_errors
async def tickets_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    services = services_of(request)
    csv = wants_csv(request)
    items, total, limit, offset = await list_tickets(services, request.query)
    if csv:
        return csv_response(items, "tickets")
    return web.json_response({"items": items, "total": total, "limit": limit, "offset": offset})


@_params_errors
async def ticket_handler(request: web.Request) -> web.Response:
    require(request, *REPORTS)
    raw = request.match_info["ticket_id"]
    if not raw.isdigit():
        raise ParamError(f"ticket id must be a whole number, got {raw!r}")
    detail = await ticket_detail(services_of(request), int(raw))
    if detail is None:
        raise web.HTTPNotFound(text=f"ticket {raw} not found")
    return web.json_response(detail)


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    tables: list[tuple[str, Any]] = [
        ("/api/v1/reports/kpis", kpis_handler),
        ("/api/v1/reports/series", series_handler),
        ("/api/v1/reports/agents", agents_handler),
        ("/api/v1/gaps/queries", _gaps_handler("queries")),
        ("/api/v1/gaps/terms", _gaps_handler("terms")),
        ("/api/v1/gaps/unanswered", _gaps_handler("unanswered")),
        ("/api/v1/gaps/articles", _gaps_handler("articles")),
        ("/api/v1/tickets", tickets_handler),
    ]
    for path, handler in tables:
        app.router.add_get(path, handler)
        app.router.add_get(path + ".csv", handler)
    app.router.add_post("/api/v1/gaps/unanswered/{group_id}/article", gap_article_handler)
    app.router.add_post("/api/v1/gaps/unanswered/{group_id}/phrasing", gap_phrasing_handler)
    app.router.add_get(r"/api/v1/tickets/{ticket_id}", ticket_handler)


# ---------------------------------------------------------------------- OpenAPI


def _param(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "A parameter or body field is wrong; the message says which and why.",
        401: "No token, or an unknown or revoked one.",
        403: "The token's role cannot do this (or the CSRF token is missing).",
        404: "Not found.",
        409: "It already exists.",
    }
    return {
        str(code): {
            "description": texts[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }


_PERIOD_PARAMS = [
    _param("period", "today, 7d, 30d, year or custom", {"type": "string", "enum": list(PERIODS)}),
    _param("start", "custom period: first day YYYY-MM-DD (or an ISO 8601 instant)"),
    _param("end", "custom period: last day YYYY-MM-DD, included (or an ISO 8601 instant)"),
    _param("tz", "IANA time zone of the days (default: the business-hours zone)"),
]
_FILTER_PARAMS = [
    _param("category", "ticket category"),
    _param("agent_id", "tickets the agent was assigned to", {"type": "integer"}),
    _param("priority", "ticket priority", {"type": "string", "enum": list(PRIORITIES)}),
    _param("channel", "channel, e.g. telegram"),
    _param("language", "conversation language", {"type": "string", "enum": list(LANGS)}),
]
_FORMAT = _param("format", "json (default) or csv", {"type": "string", "enum": ["json", "csv"]})
_LANG = _param("lang", "only questions or articles in this language", {"enum": list(LANGS)})
_LIMIT = _param("limit", f"at most this many rows (1-{MAX_LIMIT})", {"type": "integer"})
_CSV = {"text/csv": {"schema": {"type": "string"}}}
_ITEMS = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}}}}


def _get(
    summary: str, tag: str, params: list[dict[str, Any]], schema: dict[str, Any], csv: bool = True
) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if csv:
        content |= _CSV
    return {
        "get": {
            "summary": summary,
            "tags": [tag],
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": content},
                **_errors(400, 401, 403),
            },
        }
    }


def _with_csv_routes(paths: dict[str, Any]) -> dict[str, Any]:
    result = dict(paths)
    for path, spec in paths.items():
        if "get" in spec and "text/csv" in spec["get"]["responses"]["200"]["content"]:
            result[path + ".csv"] = {
                "get": {
                    **spec["get"],
                    "summary": spec["get"]["summary"] + " (CSV attachment)",
                    "parameters": [p for p in spec["get"]["parameters"] if p["name"] != "format"],
                    "responses": {
                        "200": {"description": "CSV attachment", "content": _CSV},
                        **_errors(400, 401, 403),
                    },
                }
            }
    return result


def _gap_write(summary: str, body: dict[str, Any], status: int) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "tags": ["gaps"],
            "description": "Roles: editor, admin. The group is looked up in the period given "
            "(query or body: period/start/end, default 30d). The FAQ index is rebuilt at once.",
            "parameters": [
                {"name": "group_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            },
            "responses": {
                str(status): {
                    "description": "Done",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **_errors(400, 401, 403, 404, *((409,) if status == 201 else ())),
            },
        }
    }


_REPORT_PARAMS = [*_PERIOD_PARAMS, *_FILTER_PARAMS, _FORMAT]
_GAP_PARAMS = [*_PERIOD_PARAMS, _LANG, _LIMIT, _FORMAT]
_TICKET_PARAMS = [
    _param("state", "ticket state", {"type": "string", "enum": list(STATES)}),
    *[p for p in _FILTER_PARAMS if p["name"] != "agent_id"],
    _param("agent_id", "assigned agent", {"type": "integer"}),
    *_PERIOD_PARAMS,
    _param("limit", f"page size (1-{MAX_TICKET_PAGE}, default {TICKET_PAGE})", {"type": "integer"}),
    _param("offset", "rows to skip", {"type": "integer"}),
    _FORMAT,
]

OPENAPI_PATHS: dict[str, Any] = _with_csv_routes(
    {
        "/api/v1/reports/kpis": _get(
            "Support KPIs of the tickets created in the period (supervisor, admin); the CSV is "
            "one figure per row",
            "reports",
            _REPORT_PARAMS,
            {"type": "object", "description": "handoff.metrics.kpis; see docs/metrics.md"},
        ),
        "/api/v1/reports/series": _get(
            "The KPIs per local day (supervisor, admin)", "reports", _REPORT_PARAMS, _ITEMS
        ),
        "/api/v1/reports/agents": _get(
            "One row per agent: chats, FRT, resolution, CSAT, missed offers, load (supervisor, "
            "admin)",
            "reports",
            _REPORT_PARAMS,
            _ITEMS,
        ),
        "/api/v1/gaps/queries": _get(
            "Most frequent questions (editor, supervisor, admin)", "gaps", _GAP_PARAMS, _ITEMS
        ),
        "/api/v1/gaps/terms": _get(
            "Most frequent search terms (editor, supervisor, admin)", "gaps", _GAP_PARAMS, _ITEMS
        ),
        "/api/v1/gaps/unanswered": _get(
            "Unanswered or not-helpful questions grouped by similarity (editor, supervisor, admin)",
            "gaps",
            _GAP_PARAMS,
            _ITEMS,
        ),
        "/api/v1/gaps/articles": _get(
            "Per-article views, helpful / not helpful, led to handoff (editor, supervisor, admin)",
            "gaps",
            _GAP_PARAMS,
            _ITEMS,
        ),
        "/api/v1/gaps/unanswered/{group_id}/article": _gap_write(
            "Turn an unanswered group into a new article",
            {
                "type": "object",
                "required": ["id", "answer"],
                "properties": {
                    "id": {"type": "string", "description": "the article's slug"},
                    "lang": {"type": "string", "description": "default: the group's"},
                    "question": {"type": "string", "description": "default: representative"},
                    "answer": {"type": "string"},
                    "phrasings": {"type": "array", "items": {"type": "string"}},
                    "category": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "status": {"type": "string", "enum": ["published", "draft"]},
                },
            },
            201,
        ),
        "/api/v1/gaps/unanswered/{group_id}/phrasing": _gap_write(
            "Add an unanswered group's questions as phrasings of an existing article",
            {
                "type": "object",
                "properties": {
                    "article_id": {"type": "integer", "description": "the article's number"},
                    "id": {"type": "string", "description": "or its slug (with lang)"},
                    "lang": {"type": "string"},
                },
            },
            200,
        ),
        "/api/v1/tickets": _get(
            "Tickets, newest first, with filters and pagination (supervisor, admin)",
            "tickets",
            _TICKET_PARAMS,
            {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"type": "object"}},
                    "total": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "offset": {"type": "integer"},
                },
            },
        ),
        "/api/v1/tickets/{ticket_id}": {
            "get": {
                "summary": "One ticket: fields, customer, transcript, internal notes, events, "
                "ratings (supervisor, admin)",
                "tags": ["tickets"],
                "parameters": [
                    {
                        "name": "ticket_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_errors(400, 401, 403, 404),
                },
            }
        },
    }
)
