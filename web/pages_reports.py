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
from sqlalchemy import select

from faq import gaps
from storage.models import Agent, Article
from web import charts
from web.api_reports import (
    DEFAULT_GAPS_PERIOD,
    LANGS,
    PERIODS,
    ReportQuery,
    agent_was_assigned,
    filter_choices,
    gaps_params,
    group_to_article,
    group_to_phrasings,
    list_tickets,
    load_agent_table,
    load_kpis,
    report_query,
    ticket_detail,
)
from web.app import SERVICES, render
from web.auth import principal_of, require
from web.i18n import TEXTS, duration, request_lang, tr, value
from web.problem import ParamError, Query

TEXTS.update(
    {
        "rp_period": {"en": "Period", "ar": "الفترة"},
        "rp_today": {"en": "Today", "ar": "اليوم"},
        "rp_7d": {"en": "Last 7 days", "ar": "آخر 7 أيام"},
        "rp_30d": {"en": "Last 30 days", "ar": "آخر 30 يوماً"},
        "rp_year": {"en": "Last year", "ar": "آخر سنة"},
        "rp_custom": {"en": "Custom", "ar": "مخصصة"},
        "rp_start": {"en": "From", "ar": "من"},
        "rp_end": {"en": "To", "ar": "إلى"},
        "rp_apply": {"en": "Apply", "ar": "تطبيق"},
        "rp_any": {"en": "Any", "ar": "الكل"},
        "rp_category": {"en": "Category", "ar": "الفئة"},
        "rp_agent": {"en": "Agent", "ar": "الموظف"},
        "rp_priority": {"en": "Priority", "ar": "الأولوية"},
        "rp_channel": {"en": "Channel", "ar": "القناة"},
        "rp_language": {"en": "Language", "ar": "اللغة"},
        "rp_state": {"en": "State", "ar": "الحالة"},
        "rp_lang_en": {"en": "English", "ar": "الإنجليزية"},
        "rp_lang_ar": {"en": "Arabic", "ar": "العربية"},
        "rp_download_csv": {"en": "Download CSV", "ar": "تنزيل CSV"},
        "rp_csv_kpis": {"en": "KPIs (CSV)", "ar": "المؤشرات (CSV)"},
        "rp_csv_series": {"en": "Daily figures (CSV)", "ar": "الأرقام اليومية (CSV)"},
        "rp_csv_agents": {"en": "Agents (CSV)", "ar": "الموظفون (CSV)"},
        "rp_no_data": {"en": "No data for this period.", "ar": "لا توجد بيانات لهذه الفترة."},
        "rp_mean": {"en": "mean", "ar": "المتوسط"},
        "rp_p90": {"en": "p90", "ar": "المئين 90"},
        "rp_of": {"en": "of", "ar": "من"},
        "rp_n": {"en": "count", "ar": "العدد"},
        # KPI cards
        "kpi_opened": {"en": "Conversations opened", "ar": "المحادثات المفتوحة"},
        "kpi_resolved": {"en": "Resolved", "ar": "المحلولة"},
        "kpi_open_now": {"en": "Open now", "ar": "مفتوحة الآن"},
        "kpi_deflection": {"en": "Bot deflection", "ar": "الحل الذاتي بالبوت"},
        "kpi_handoff_rate": {"en": "Handoff rate", "ar": "نسبة التحويل لموظف"},
        "kpi_queue_wait": {"en": "Queue wait", "ar": "الانتظار في الطابور"},
        "kpi_frt": {"en": "First response time", "ar": "زمن الرد الأول"},
        "kpi_reaction": {"en": "Agent reaction time", "ar": "زمن تفاعل الموظف"},
        "kpi_resolution": {"en": "Resolution time", "ar": "زمن الحل"},
        "kpi_fcr": {"en": "First-contact resolution", "ar": "الحل من أول تواصل"},
        "kpi_missed": {"en": "Missed offers", "ar": "العروض الفائتة"},
        "kpi_abandoned": {"en": "Abandoned in queue", "ar": "المتروكة في الطابور"},
        "kpi_csat": {"en": "CSAT", "ar": "رضا العملاء"},
        "kpi_rating_mean": {"en": "Mean rating", "ar": "متوسط التقييم"},
        "kpi_response_rate": {"en": "Rating response rate", "ar": "نسبة الاستجابة للتقييم"},
        "kpi_sla_met": {"en": "SLA met", "ar": "الالتزام باتفاقية الخدمة"},
        "kpi_sla_breached": {"en": "SLA breached", "ar": "مخالفات اتفاقية الخدمة"},
        "kpi_first_response": {"en": "first response", "ar": "الرد الأول"},
        "kpi_resolution_target": {"en": "resolution", "ar": "الحل"},
        "kpi_ratings": {"en": "ratings", "ar": "تقييمات"},
        "kpi_by_bot": {"en": "by the bot", "ar": "بواسطة البوت"},
        "kpi_by_agents": {"en": "by agents", "ar": "بواسطة الموظفين"},
        # charts
        "ch_volume": {
            "en": "Conversations by day and channel",
            "ar": "المحادثات حسب اليوم والقناة",
        },
        "ch_ratings": {"en": "Rating distribution", "ar": "توزيع التقييمات"},
        "ch_trends": {
            "en": "First response and resolution time by day",
            "ar": "زمن الرد الأول وزمن الحل حسب اليوم",
        },
        "ch_queue": {"en": "Queue now by priority", "ar": "الطابور الآن حسب الأولوية"},
        "ch_frt": {"en": "First response (mean)", "ar": "الرد الأول (المتوسط)"},
        "ch_resolution": {"en": "Resolution (mean)", "ar": "الحل (المتوسط)"},
        "ch_queue_empty": {"en": "Nobody is waiting.", "ar": "لا أحد في الانتظار."},
        "ch_waiting": {"en": "Waiting", "ar": "بالانتظار"},
        "ch_stars": {"en": "Ratings", "ar": "التقييمات"},
        # agent table
        "ag_table": {"en": "Agents", "ar": "الموظفون"},
        "ag_name": {"en": "Name", "ar": "الاسم"},
        "ag_status": {"en": "Status", "ar": "الحالة"},
        "ag_chats": {"en": "Chats", "ar": "المحادثات"},
        "ag_resolved": {"en": "Resolved", "ar": "المحلولة"},
        "ag_frt": {"en": "FRT (mean)", "ar": "الرد الأول (متوسط)"},
        "ag_resolution": {"en": "Resolution (mean)", "ar": "الحل (متوسط)"},
        "ag_fcr": {"en": "FCR", "ar": "الحل من أول تواصل"},
        "ag_csat": {"en": "CSAT", "ar": "الرضا"},
        "ag_rating": {"en": "Mean rating", "ar": "متوسط التقييم"},
        "ag_missed": {"en": "Missed offers", "ar": "عروض فائتة"},
        "ag_load": {"en": "Load", "ar": "الحمل"},
        "ag_none": {"en": "No agents yet.", "ar": "لا يوجد موظفون بعد."},
        # gaps
        "gp_terms": {"en": "Top search terms", "ar": "أكثر كلمات البحث"},
        "gp_queries": {"en": "Top questions", "ar": "أكثر الأسئلة"},
        "gp_unanswered": {
            "en": "Unanswered or not helpful",
            "ar": "أسئلة بلا إجابة أو إجابة غير مفيدة",
        },
        "gp_articles": {"en": "Articles", "ar": "المقالات"},
        "gp_term": {"en": "Term", "ar": "الكلمة"},
        "gp_query": {"en": "Question", "ar": "السؤال"},
        "gp_count": {"en": "Count", "ar": "العدد"},
        "gp_answered": {"en": "Answered", "ar": "أجيب"},
        "gp_suggested": {"en": "Suggested", "ar": "اقتراحات"},
        "gp_no_match": {"en": "No match", "ar": "بلا تطابق"},
        "gp_helpful": {"en": "Helpful", "ar": "مفيد"},
        "gp_not_helpful": {"en": "Not helpful", "ar": "غير مفيد"},
        "gp_views": {"en": "Views", "ar": "المشاهدات"},
        "gp_led_to_handoff": {"en": "Led to handoff", "ar": "أدى لطلب موظف"},
        "gp_examples": {"en": "Wordings", "ar": "الصيغ"},
        "gp_new_article": {"en": "Create an article", "ar": "إنشاء مقالة"},
        "gp_add_phrasing": {"en": "Add as phrasings of", "ar": "إضافة كصيغ لمقالة"},
        "gp_slug": {"en": "Article id (slug)", "ar": "معرّف المقالة"},
        "gp_answer": {"en": "Answer", "ar": "الإجابة"},
        "gp_create": {"en": "Create", "ar": "إنشاء"},
        "gp_add": {"en": "Add", "ar": "إضافة"},
        "gp_created": {"en": "Article created", "ar": "تم إنشاء المقالة"},
        "gp_added": {"en": "Phrasings added to", "ar": "أضيفت الصيغ إلى"},
        "gp_nothing": {"en": "Nothing here for this period.", "ar": "لا شيء هنا لهذه الفترة."},
        "gp_all_langs": {"en": "All languages", "ar": "كل اللغات"},
        # tickets
        "tk_id": {"en": "#", "ar": "#"},
        "tk_customer": {"en": "Customer", "ar": "العميل"},
        "tk_created": {"en": "Created", "ar": "أنشئت"},
        "tk_assignee": {"en": "Agent", "ar": "الموظف"},
        "tk_resolution": {"en": "Resolution", "ar": "طريقة الحل"},
        "tk_none": {"en": "No tickets match.", "ar": "لا توجد تذاكر مطابقة."},
        "tk_prev": {"en": "Previous", "ar": "السابق"},
        "tk_next": {"en": "Next", "ar": "التالي"},
        "tk_showing": {"en": "Showing", "ar": "عرض"},
        "tk_ticket": {"en": "Ticket", "ar": "تذكرة"},
        "tk_transcript": {"en": "Transcript", "ar": "المحادثة"},
        "tk_notes": {"en": "Internal notes", "ar": "ملاحظات داخلية"},
        "tk_events": {"en": "Events", "ar": "الأحداث"},
        "tk_rating": {"en": "Rating", "ar": "التقييم"},
        "tk_no_rating": {"en": "Not rated.", "ar": "لم يقيّم."},
        "tk_no_notes": {"en": "No notes.", "ar": "لا توجد ملاحظات."},
        "tk_details": {"en": "Details", "ar": "التفاصيل"},
        "tk_back": {"en": "All tickets", "ar": "كل التذاكر"},
        "tk_json": {"en": "JSON", "ar": "JSON"},
    }
)

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
    """The page's formatters, durations in ``lang`` (2m 57s, or 2د 57ث in Arabic)."""
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
            f"{t('rp_p90')} {duration(k[f'{prefix}_p90_s'], lang)} · "
            f"{t('rp_n')} {k[f'{prefix}_n']}",
        )

    cards = [
        ("opened", "kpi_opened", str(k["opened"]), ""),
        (
            "resolved",
            "kpi_resolved",
            str(k["resolved"]),
            f"{k['resolved_bot']} {t('kpi_by_bot')} · {k['resolved_agent']} {t('kpi_by_agents')}",
        ),
        ("open-now", "kpi_open_now", str(k["open_now"]), ""),
        ("deflection", "kpi_deflection", fmt_rate(k["bot_deflection_rate"]), str(k["deflected"])),
        ("handoff-rate", "kpi_handoff_rate", fmt_rate(k["handoff_rate"]), str(k["handoffs"])),
        ("queue-wait", "kpi_queue_wait", *timing("queue_wait")),
        ("frt", "kpi_frt", *timing("frt")),
        ("reaction", "kpi_reaction", *timing("reaction")),
        ("resolution", "kpi_resolution", *timing("resolution")),
        ("fcr", "kpi_fcr", fmt_rate(k["fcr_rate"]), str(k["fcr_count"])),
        ("missed", "kpi_missed", str(k["missed_offers"]), ""),
        ("abandoned", "kpi_abandoned", str(k["abandoned"]), fmt_rate(k["abandon_rate"])),
        ("csat", "kpi_csat", fmt_rate(k["csat"]), f"{k['ratings_count']} {t('kpi_ratings')}"),
        ("rating-mean", "kpi_rating_mean", fmt_number(k["rating_mean"], 2), ""),
        (
            "response-rate",
            "kpi_response_rate",
            fmt_rate(k["rating_response_rate"]),
            f"{k['ratings_count']} / {k['surveys_sent']}",
        ),
        (
            "sla-met",
            "kpi_sla_met",
            fmt_rate(sla_met / (sla_met + sla_breached) if sla_met + sla_breached else None),
            f"{t('kpi_first_response')} {fmt_rate(fr['met_rate'])} · "
            f"{t('kpi_resolution_target')} {fmt_rate(res['met_rate'])}",
        ),
        (
            "sla-breached",
            "kpi_sla_breached",
            str(sla_breached),
            f"{t('kpi_first_response')} {fr['breached']} · "
            f"{t('kpi_resolution_target')} {res['breached']}",
        ),
    ]
    return [{"id": i, "label": t(label), "value": v, "sub": sub} for i, label, v, sub in cards]


def dashboard_charts(k: Mapping[str, Any], t: Any, lang: str = "en") -> dict[str, Markup]:
    series = k["series"]
    labels = [day["date"][5:] for day in series]  # MM-DD
    channels = sorted({c for day in series for c in day["opened_by_channel"]})
    empty = t("rp_no_data")
    volume = charts.bar_chart(
        "chart-volume",
        t("ch_volume"),
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
        t("ch_ratings"),
        [f"{n}★" for n in range(1, 6)],
        [(t("ch_stars"), [distribution[str(n)] for n in range(1, 6)])],
        empty=empty,
    )
    trends = charts.line_chart(
        "chart-trends",
        t("ch_trends"),
        labels,
        [
            (t("ch_frt"), [day["frt_mean_s"] for day in series]),
            (t("ch_resolution"), [day["resolution_mean_s"] for day in series]),
        ],
        fmt=charts.duration_label,
        empty=empty,
        steps=charts.DURATION_STEPS,
    )
    by_priority = k["queue_now"]["by_priority"]
    queue = charts.bar_chart(
        "chart-queue",
        t("ch_queue"),
        [value("priority", p, lang) for p in by_priority],
        [(t("ch_waiting"), list(by_priority.values()))],
        empty=t("ch_queue_empty"),
    )
    return {"volume": volume, "ratings": ratings, "trends": trends, "queue": queue}


def _t(request: web.Request) -> Any:
    services = request.app[SERVICES]
    lang = request_lang(request, services.settings.default_language)
    return lambda key: tr(key, lang)


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
        rq = report_query(request.query, services)
    except ParamError as exc:
        error = str(exc)
        rq = report_query({}, services)
    figures = await load_kpis(services, rq)
    agents = await load_agent_table(services, rq)
    qs = _qs(request.query, drop=("lang", "format")) if error is None else ""
    return render(
        request,
        "dashboard.html",
        400 if error else 200,
        active="dashboard",
        error=error,
        form=_form_values(request.query, rq),
        periods=PERIODS,
        choices=await filter_choices(services),
        k=figures,
        cards=kpi_cards(figures, t, _lang(request)),
        charts=dashboard_charts(figures, t, _lang(request)),
        agents=agents,
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
        period, lang, _ = gaps_params(query, services, 30)
    except ParamError as exc:
        error = str(exc)
        period, lang, _ = gaps_params({}, services, 30)
    async with services.db.transaction() as session:
        terms = await gaps.top_terms(session, period, lang, 30)
        queries = await gaps.top_queries(session, period, lang, 20)
        groups = await gaps.unanswered_groups(session, period, lang, 30)
        articles = await gaps.article_stats(session, period, lang)
        choices = (
            await session.execute(
                select(Article.id, Article.slug, Article.lang).order_by(Article.slug, Article.lang)
            )
        ).all()
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
        "terms": terms,
        "queries": queries,
        "groups": groups,
        "articles": articles,
        "article_choices": [{"id": a, "slug": s, "lang": lg} for a, s, lg in choices],
        "can_edit": principal_of(request).can("editor"),
        "csv_qs": _qs(query, drop=("done", "article", "format", "lang_filter")),
        "done": str(request.query.get("done") or ""),
        "done_article": str(request.query.get("article") or ""),
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
    except ParamError as exc:
        message = str(exc)
        status = 400
    except web.HTTPException as exc:
        if exc.status not in (404, 409):
            raise
        message, status = exc.text or exc.reason, exc.status
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
        items, total, limit, offset = await list_tickets(services, query, involving=own)
    except ParamError as exc:
        error = str(exc)
        items, total, limit, offset = await list_tickets(services, {}, involving=own)
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
        choices=await filter_choices(services),
        own_only=own is not None,
        prev_qs=prev_qs,
        next_qs=next_qs,
        csv_qs=_qs(query, drop=("lang", "offset", "limit", "format")),
        **formats(_lang(request)),
    )


async def ticket_page(request: web.Request) -> web.Response:
    own = _own_tickets_only(request)
    raw = request.match_info["ticket_id"]
    detail = await ticket_detail(request.app[SERVICES], int(raw)) if raw.isdigit() else None
    if detail is None or (
        own is not None and not await agent_was_assigned(request.app[SERVICES], int(raw), own)
    ):
        raise web.HTTPNotFound(text=tr("not_found", _lang(request)))
    lang = _lang(request)
    async with request.app[SERVICES].db.transaction() as session:
        names = dict((await session.execute(select(Agent.id, Agent.name))).all())
    return render(
        request,
        "tickets_detail.html",
        active="tickets",
        ticket=detail,
        events=[readable_event(e, names, lang) for e in detail["events"]],
        own_only=own is not None,
        **formats(lang),
    )


# Event data that says nothing to a reader (ids of rows shown elsewhere on the page).
HIDDEN_EVENT_FIELDS = ("ticket_id", "offer_id", "cycle", "message_id")
AGENT_FIELDS = ("agent_id", "to_agent", "from_agent", "target_agent_id")


def readable_event(event: Mapping[str, Any], names: Mapping[int, str], lang: str) -> dict[str, Any]:
    """An event as a reader sees it: what happened, who did it, and its details as
    ``label: value`` pairs in the page's language (never raw JSON)."""

    def shown(key: str, raw: Any) -> str:
        if key in AGENT_FIELDS and isinstance(raw, int):
            return names.get(raw, f"#{raw}")
        if key in ("priority", "resolution", "channel", "language", "state", "status"):
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
    app.router.add_get("/tickets", tickets_page)
    app.router.add_get(r"/tickets/{ticket_id}", ticket_page)
