"""The FAQ editor and the agents pages (server-rendered, English and Arabic).

``/faq`` lists the articles with filters, the import form, export links and a "try it" box;
``/faq/new`` and ``/faq/{id}`` are the article form. ``/agents`` shows the roster with status
and load; admins add and change agents and canned replies there. Forms post to these routes
with the session's CSRF token; the work itself is done by the API modules' functions, so pages
and API apply the same checks.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from accounts import people
from faq.articles import LANGUAGES, STATUSES
from faq.curation import ArticleFilters, StoredArticle
from handoff.agents import MAX_CAPACITY, ROLES
from web.api_admin import (
    SETTABLE_STATUSES,
    agent_from_body,
    agents_with_load,
    canned_list,
    change_agent,
    delete_agent,
    delete_canned,
    save_agent,
    save_canned,
)
from web.api_faq import (
    create_article,
    delete_article,
    filters_from,
    find_articles,
    import_file,
    load_article,
    pick_format,
    record_from_body,
    try_question,
    update_article,
)
from web.auth import Principal, actor_of, require
from web.problem import Problem
from web.site import render, services_of

OPENAPI_PATHS: dict[str, Any] = {}


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _commas(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _article_form(form: Any) -> dict[str, Any]:
    """The article form's fields as a JSON Lines record (what the API takes)."""
    record: dict[str, Any] = {
        "question": _field(form, "question"),
        "phrasings": _lines(_field(form, "phrasings")),
        "answer": _field(form, "answer"),
        "category": _field(form, "category"),
        "tags": _commas(_field(form, "tags")),
        "status": _field(form, "status") or "published",
    }
    if "slug" in form:
        record["id"] = _field(form, "slug")
    if "lang" in form:
        record["lang"] = _field(form, "lang")
    return record


def _row_values(row: StoredArticle) -> dict[str, Any]:
    return {
        "slug": row.slug,
        "lang": row.lang,
        "question": row.question,
        "phrasings": "\n".join(row.phrasings),
        "answer": row.answer,
        "category": row.category,
        "tags": ", ".join(row.tags),
        "status": row.status,
    }


def _form_values(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": record.get("id", ""),
        "lang": record.get("lang", "en"),
        "question": record.get("question", ""),
        "phrasings": "\n".join(record.get("phrasings", [])),
        "answer": record.get("answer", ""),
        "category": record.get("category", ""),
        "tags": ", ".join(record.get("tags", [])),
        "status": record.get("status", "published"),
    }


async def _try(request: web.Request) -> tuple[str, dict[str, Any] | None]:
    question = request.query.get("try", "").strip()
    if not question:
        return "", None
    lang = request.query.get("try_lang")
    result = await try_question(services_of(request), question, lang if lang in LANGUAGES else None)
    return question, result


def _common(principal: Principal) -> dict[str, Any]:
    return {"languages": LANGUAGES, "statuses": STATUSES, "principal_role": principal.role}


# ---------------------------------------------------------------------- FAQ pages


async def _faq_list(
    request: web.Request, principal: Principal, http_status: int = 200, **extra: Any
) -> web.Response:
    services = services_of(request)
    try:
        filters = filters_from(request.query)
        filter_error = None
    except Problem as problem:
        filters, filter_error = ArticleFilters(), problem.message
    rows = await find_articles(services, filters)
    question, result = await _try(request)
    context: dict[str, Any] = {
        "active": "faq",
        "articles": rows,
        "filters": filters,
        "filter_error": filter_error,
        "try_question": question,
        "try_lang": request.query.get("try_lang", ""),
        "try_result": result,
        "try_action": "/faq",
        "deleted": request.query.get("deleted"),
        "import_result": None,
        "import_error": None,
        "import_errors": [],
        **_common(principal),
    }
    context.update(extra)
    return render(request, "faq_list.html", http_status, **context)


async def faq_list(request: web.Request) -> web.Response:
    principal = require(request, "editor")
    return await _faq_list(request, principal)


async def faq_import(request: web.Request) -> web.Response:
    principal = require(request, "editor")
    form = await request.post()
    field = form.get("file")
    if not isinstance(field, web.FileField) or not field.filename:
        return await _faq_list(
            request, principal, 400, import_error="choose a file to import", import_errors=[]
        )
    chosen = _field(form, "format")
    try:
        fmt = pick_format(chosen if chosen in ("jsonl", "csv") else None, field.filename, "")
        result = await import_file(
            services_of(request), field.file.read(), fmt, actor_of(principal)
        )
    except Problem as problem:
        return await _faq_list(
            request,
            principal,
            problem.status,
            import_error=problem.message,
            import_errors=problem.extra.get("errors", []),
        )
    counts = {
        "created": len(result.created),
        "updated": len(result.updated),
        "unchanged": len(result.unchanged),
    }
    return await _faq_list(request, principal, import_result=counts)


def _edit_page(
    request: web.Request,
    principal: Principal,
    *,
    row: StoredArticle | None,
    values: dict[str, Any],
    error: str | None = None,
    http_status: int = 200,
    try_question: str = "",
    try_result: dict[str, Any] | None = None,
) -> web.Response:
    return render(
        request,
        "faq_edit.html",
        http_status,
        active="faq",
        row=row,
        values=values,
        error=error,
        saved=request.query.get("saved") == "1",
        try_question=try_question,
        try_lang=request.query.get("try_lang", ""),
        try_result=try_result,
        try_action=f"/faq/{row.id}" if row is not None else "/faq",
        **_common(principal),
    )


async def faq_new(request: web.Request) -> web.Response:
    principal = require(request, "editor")
    lang = request.query.get("lang_article") or "en"
    values = _form_values({"lang": lang if lang in LANGUAGES else "en"})
    return _edit_page(request, principal, row=None, values=values)


async def faq_create(request: web.Request) -> web.Response:
    principal = require(request, "editor")
    record = _article_form(await request.post())
    try:
        article = record_from_body(record)
        row = await create_article(services_of(request), article, actor_of(principal))
    except Problem as problem:
        values = _form_values(record)
        return _edit_page(
            request,
            principal,
            row=None,
            values=values,
            error=problem.message,
            http_status=problem.status,
        )
    raise web.HTTPFound(f"/faq/{row.id}?saved=1")


def _page_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such article") from None


async def _article_or_404(request: web.Request, article_id: int) -> StoredArticle:
    try:
        return await load_article(services_of(request), article_id)
    except Problem as problem:
        raise web.HTTPNotFound(text=problem.message) from None


async def faq_edit(request: web.Request) -> web.Response:
    principal = require(request, "editor")
    row = await _article_or_404(request, _page_id(request))
    question, result = await _try(request)
    return _edit_page(
        request,
        principal,
        row=row,
        values=_row_values(row),
        try_question=question,
        try_result=result,
    )


async def faq_update(request: web.Request) -> web.Response:
    principal = require(request, "editor")
    article_id = _page_id(request)
    row = await _article_or_404(request, article_id)
    record = _article_form(await request.post())
    record.pop("id", None)
    record.pop("lang", None)
    try:
        await update_article(services_of(request), article_id, record, actor_of(principal))
    except Problem as problem:
        if problem.status == 404:
            raise web.HTTPNotFound(text=problem.message) from None
        values = _form_values({**record, "id": row.slug, "lang": row.lang})
        return _edit_page(
            request,
            principal,
            row=row,
            values=values,
            error=problem.message,
            http_status=problem.status,
        )
    raise web.HTTPFound(f"/faq/{article_id}?saved=1")


async def faq_delete(request: web.Request) -> web.Response:
    principal = require(request, "editor")
    try:
        row = await delete_article(services_of(request), _page_id(request), actor_of(principal))
    except Problem as problem:
        raise web.HTTPNotFound(text=problem.message) from None
    raise web.HTTPFound(f"/faq?deleted={quote(f'{row.slug} ({row.lang})')}")


# ---------------------------------------------------------------------- agents pages


async def _agents_page(
    request: web.Request, principal: Principal, http_status: int = 200, **extra: Any
) -> web.Response:
    services = services_of(request)
    context: dict[str, Any] = {
        "active": "agents",
        "agents": await agents_with_load(services),
        "canned": await canned_list(services),
        "is_admin": principal.can("admin"),
        # An admin invites an agent without an account from their row (the People page).
        "without_account": {a.id for a in await people.agents_without_account(services.db)},
        "roles": ROLES,
        "max_capacity": MAX_CAPACITY,
        "saved": request.query.get("saved") == "1",
        "removed": request.query.get("removed") == "1",
        "agent_error": None,
        "agent_values": {
            "name": "",
            "telegram_id": "",
            "role": "agent",
            "skills": "",
            "languages": "",
            "capacity": "1",
            "routing_priority": "0",
        },
        "canned_error": None,
        "canned_values": {"shortcut": "", "text": "", "lang": ""},
    }
    context.update(extra)
    return render(request, "agents.html", http_status, **context)


async def agents_page(request: web.Request) -> web.Response:
    principal = require(request, "supervisor")
    return await _agents_page(request, principal)


def _number(form: Any, name: str) -> int | None:
    raw = _field(form, name).strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise Problem(400, f"'{name}' must be a whole number") from None


def _agent_form(form: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": _field(form, "name"),
        "telegram_id": _field(form, "telegram_id").strip() or None,
        "role": _field(form, "role") or "agent",
        "skills": _commas(_field(form, "skills")),
        "languages": _commas(_field(form, "languages")),
    }
    for name in ("capacity", "routing_priority"):
        value = _number(form, name)
        if value is not None:
            body[name] = value
    status = _field(form, "status")
    if status:
        body["status"] = status
    return body


def _agent_values(form: Any) -> dict[str, str]:
    keys = ("name", "telegram_id", "role", "skills", "languages", "capacity", "routing_priority")
    return {k: _field(form, k) for k in keys}


async def agents_add(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    form = await request.post()
    try:
        await save_agent(services_of(request), agent_from_body(_agent_form(form)))
    except Problem as problem:
        return await _agents_page(
            request,
            principal,
            problem.status,
            agent_error=problem.message,
            agent_values=_agent_values(form),
        )
    raise web.HTTPFound("/agents?saved=1")


def _agent_page_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such agent") from None


async def _agent_or_404(request: web.Request, agent_id: int) -> dict[str, Any]:
    for agent in await agents_with_load(services_of(request)):
        if agent["id"] == agent_id:
            return agent
    raise web.HTTPNotFound(text=f"no agent with id {agent_id}")


def _agent_edit(
    request: web.Request,
    agent: dict[str, Any],
    values: dict[str, str],
    error: str | None = None,
    http_status: int = 200,
) -> web.Response:
    return render(
        request,
        "agents_edit.html",
        http_status,
        active="agents",
        agent=agent,
        values=values,
        error=error,
        roles=ROLES,
        max_capacity=MAX_CAPACITY,
        statuses=SETTABLE_STATUSES,
    )


async def agents_edit(request: web.Request) -> web.Response:
    require(request, "admin")
    agent = await _agent_or_404(request, _agent_page_id(request))
    values = {
        "name": agent["name"],
        "telegram_id": agent["telegram_id"] or "",
        "role": agent["role"],
        "skills": ", ".join(agent["skills"]),
        "languages": ", ".join(agent["languages"]),
        "capacity": str(agent["capacity"]),
        "routing_priority": str(agent["routing_priority"]),
    }
    return _agent_edit(request, agent, values)


async def agents_update(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    agent_id = _agent_page_id(request)
    agent = await _agent_or_404(request, agent_id)
    form = await request.post()
    try:
        await change_agent(services_of(request), agent_id, _agent_form(form), actor_of(principal))
    except Problem as problem:
        if problem.status == 404:
            raise web.HTTPNotFound(text=problem.message) from None
        return _agent_edit(request, agent, _agent_values(form), problem.message, problem.status)
    raise web.HTTPFound("/agents?saved=1")


async def agents_remove(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    try:
        await delete_agent(services_of(request), _agent_page_id(request))
    except Problem as problem:
        if problem.status == 404:
            raise web.HTTPNotFound(text=problem.message) from None
        return await _agents_page(request, principal, problem.status, agent_error=problem.message)
    raise web.HTTPFound("/agents?removed=1")


async def canned_save(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    form = await request.post()
    values = {k: _field(form, k) for k in ("shortcut", "text", "lang")}
    try:
        await save_canned(services_of(request), values["shortcut"], values["text"], values["lang"])
    except Problem as problem:
        return await _agents_page(
            request, principal, problem.status, canned_error=problem.message, canned_values=values
        )
    raise web.HTTPFound("/agents?saved=1#canned")


async def canned_remove(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    try:
        await delete_canned(services_of(request), request.match_info["shortcut"])
    except Problem as problem:
        return await _agents_page(request, principal, problem.status, canned_error=problem.message)
    raise web.HTTPFound("/agents?removed=1#canned")


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    app.router.add_get("/faq", faq_list)
    app.router.add_post("/faq/import", faq_import)
    app.router.add_get("/faq/new", faq_new)
    app.router.add_post("/faq/new", faq_create)
    app.router.add_get("/faq/{id}", faq_edit)
    app.router.add_post("/faq/{id}", faq_update)
    app.router.add_post("/faq/{id}/delete", faq_delete)
    app.router.add_get("/agents", agents_page)
    app.router.add_post("/agents", agents_add)
    app.router.add_post("/agents/canned", canned_save)
    app.router.add_post("/agents/canned/{shortcut}/delete", canned_remove)
    app.router.add_get("/agents/{id}", agents_edit)
    app.router.add_post("/agents/{id}", agents_update)
    app.router.add_post("/agents/{id}/delete", agents_remove)
