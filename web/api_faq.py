"""The FAQ API: list, create, change and delete articles, import and export files, and "try it"
(what the bot would answer to a question, without logging it).

Roles: editor or admin. Every change goes through :mod:`faq.articles` in one transaction (which
writes the event rows) and then rebuilds the bot's match index at once.

An article as the API shows it is the JSON Lines record of :mod:`faq.io` with ``id`` being the
numeric database id and the record's id under ``slug``, plus ``created_at`` and ``updated_at``.
Request bodies use the JSON Lines record shape (``id`` is the slug; ``slug`` is accepted too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from faq import io as faq_io
from faq.articles import (
    LANGUAGES,
    STATUSES,
    ArticleError,
    ArticleIn,
    UpsertResult,
    get_article,
    list_articles,
    remove_article,
    to_article_in,
    upsert_articles,
    validate_article,
)
from sanad.services import Services
from storage.models import Article
from web.app import services_of
from web.auth import Principal, require
from web.inputs import check_json, parse_json
from web.problem import Problem, int_param

WRITERS = ("editor",)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
TRY_HITS = 5
READ_ONLY_FIELDS = ("created_at", "updated_at")


def actor_of(principal: Principal) -> str:
    return f"web:{principal.name}"[:64]


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it (bounded depth,
    no NUL or lone surrogate, numbers that fit: :func:`web.inputs.parse_json`)."""
    raw = await request.read()
    if not raw.strip():
        raise Problem(400, "the request body is empty: send a JSON object")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise Problem(400, f"the request body must be a JSON object, got {_json_type(body)}")
    return body


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def article_json(row: Article) -> dict[str, Any]:
    record = to_article_in(row).as_record()
    record.pop("id")
    return {
        "id": row.id,
        "slug": row.slug,
        **record,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def record_from_body(body: dict[str, Any], row: Article | None = None) -> ArticleIn:
    """Validate a JSON Lines record sent to the API. For a PUT (``row`` given) ``id`` and
    ``lang`` may be left out and must not change."""
    record = {k: v for k, v in body.items() if k not in READ_ONLY_FIELDS}
    if "slug" in record:
        slug = record.pop("slug")
        given = record.get("id")
        if given is not None and given != slug and not (row is not None and given == row.id):
            raise Problem(400, "'id' and 'slug' differ: send the article's id once")
        record["id"] = slug
    if row is not None:
        if record.get("id") is None or record.get("id") == row.id:
            record["id"] = row.slug
        record.setdefault("lang", row.lang)
    try:
        article = validate_article(record)
    except ArticleError as exc:
        raise Problem(400, str(exc)) from None
    if row is not None and (article.id, article.lang) != (row.slug, row.lang):
        raise Problem(
            400,
            f"the id and language of an article cannot change (this is {row.slug!r}, "
            f"{row.lang}): create a new article and delete this one",
        )
    return article


# ---------------------------------------------------------------------- operations (also used
# by the pages)


@dataclass(frozen=True)
class ArticleFilters:
    lang: str | None = None
    status: str | None = None
    category: str | None = None
    q: str | None = None


def filters_from(query: Mapping[str, str]) -> ArticleFilters:
    lang = query.get("lang") or None
    if lang is not None and lang not in LANGUAGES:
        raise Problem(400, f"'lang' must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise Problem(400, f"'status' must be one of {', '.join(STATUSES)}, got {status!r}")
    category = (query.get("category") or "").strip().lower() or None
    q = (query.get("q") or "").strip() or None
    return ArticleFilters(lang, status, category, q)


def _matches(row: Article, q: str) -> bool:
    needle = q.casefold()
    texts = (row.slug, row.question, row.answer, row.category, *row.phrasings, *row.tags)
    return any(needle in text.casefold() for text in texts)


async def find_articles(services: Services, filters: ArticleFilters) -> list[Article]:
    query = select(Article).order_by(Article.slug, Article.lang)
    if filters.lang:
        query = query.where(Article.lang == filters.lang)
    if filters.status:
        query = query.where(Article.status == filters.status)
    if filters.category:
        query = query.where(Article.category == filters.category)
    async with services.db.transaction() as session:
        rows = list((await session.execute(query)).scalars().all())
    if filters.q:
        rows = [r for r in rows if _matches(r, filters.q)]
    return rows


async def load_article(services: Services, article_id: int) -> Article:
    async with services.db.transaction() as session:
        row = await session.get(Article, article_id)
    if row is None:
        raise Problem(404, f"no article with id {article_id}")
    return row


async def create_article(services: Services, article: ArticleIn, actor: str) -> Article:
    try:
        async with services.db.transaction() as session:
            if await get_article(session, article.id, article.lang) is not None:
                raise _exists(article)
            await upsert_articles(session, [article], services.clock.now(), actor=actor)
            row = await get_article(session, article.id, article.lang)
            assert row is not None
    except IntegrityError:  # created by somebody else at the same moment
        raise _exists(article) from None
    await services.faq.reload()
    return row


def _exists(article: ArticleIn) -> Problem:
    return Problem(
        409, f"article {article.id!r} ({article.lang}) already exists: change it with PUT"
    )


async def update_article(
    services: Services, article_id: int, body: dict[str, Any], actor: str
) -> Article:
    async with services.db.transaction() as session:
        row = await session.get(Article, article_id)
        if row is None:
            raise Problem(404, f"no article with id {article_id}")
        article = record_from_body(body, row)
        await upsert_articles(session, [article], services.clock.now(), actor=actor)
    await services.faq.reload()
    return row


async def delete_article(services: Services, article_id: int, actor: str) -> Article:
    async with services.db.transaction() as session:
        row = await session.get(Article, article_id)
        if row is None:
            raise Problem(404, f"no article with id {article_id}")
        await remove_article(session, row.slug, row.lang, services.clock.now(), actor=actor)
    await services.faq.reload()
    return row


def pick_format(explicit: str | None, filename: str | None, content_type: str) -> str:
    try:
        if explicit:
            return faq_io.guess_format("", explicit)
        if filename:
            return faq_io.guess_format(filename)
    except faq_io.ImportFileError as exc:
        raise Problem(400, str(exc)) from None
    if "csv" in content_type:
        return "csv"
    if "json" in content_type:
        return "jsonl"
    raise Problem(400, "say which format the file is in: ?format=jsonl or ?format=csv")


async def import_file(services: Services, data: bytes, fmt: str, actor: str) -> UpsertResult:
    """All or nothing: every row is checked first; any bad row means nothing is written."""
    try:
        parsed = faq_io.parse(data, fmt)
    except faq_io.ImportFileError as exc:
        raise Problem(400, str(exc), errors=[]) from None
    except RecursionError:
        raise Problem(400, "a line of the file is nested too deeply", errors=[]) from None
    for article in parsed.articles:  # what the database cannot store: NUL, lone surrogates
        check_json(article.as_record(), f"article {article.id!r} ({article.lang})")
    if parsed.errors:
        raise Problem(
            400,
            f"{len(parsed.errors)} bad row(s); nothing was imported. Fix them and import again.",
            errors=[{"line": e.line, "reason": e.reason} for e in parsed.errors],
        )
    if not parsed.articles:
        raise Problem(400, "no articles in the file; nothing was imported", errors=[])
    async with services.db.transaction() as session:
        result = await upsert_articles(session, parsed.articles, services.clock.now(), actor)
    await services.faq.reload()
    return result


async def export_text(services: Services, fmt: str, lang: str | None) -> str:
    async with services.db.transaction() as session:
        rows = await list_articles(session, lang=lang)
        articles = [to_article_in(r) for r in rows]
    try:
        return faq_io.dump(articles, fmt)
    except faq_io.ImportFileError as exc:
        raise Problem(400, str(exc)) from None


async def try_question(services: Services, question: str, lang: str | None) -> dict[str, Any]:
    """What the bot would answer, decided the way it decides (the question's own language
    picks the articles searched; ``lang`` is used when the question has no letters), with
    each candidate's lexical and semantic score and which mode decided. Nothing is logged."""
    faq = services.faq
    async with services.db.transaction() as session:
        await faq.refresh_if_changed(session)
    fallback = lang or services.settings.default_language
    query, used, verdict = await faq.verdict(question, fallback)
    decision, thresholds = verdict.decision, verdict.thresholds
    scores = {s.article_id: s for s in verdict.scored}

    def hit_json(article_id: str, score: float) -> dict[str, Any]:
        view = faq.article(int(article_id))
        parts = scores.get(article_id)
        semantic = parts.semantic if parts is not None else None
        return {
            "article_id": int(article_id),
            "slug": view.slug if view else None,
            "lang": view.lang if view else None,
            "question": view.question if view else None,
            "score": round(score, 4),
            "lexical": round(parts.lexical, 4) if parts is not None else None,
            "semantic": round(semantic, 4) if semantic is not None else None,
        }

    return {
        "question": query,
        "lang": used,
        "mode": verdict.mode.value,
        "matching": faq.mode,
        "outcome": decision.outcome.value,
        "answer": hit_json(decision.best.article_id, decision.best.score)
        if decision.outcome.value == "answer" and decision.best is not None
        else None,
        "suggested": [hit_json(h.article_id, h.score) for h in decision.hits]
        if decision.outcome.value == "suggest"
        else [],
        "hits": [hit_json(s.article_id, s.score) for s in verdict.scored[:TRY_HITS]],
        "thresholds": {
            "answer_min": thresholds.answer_min,
            "answer_margin": thresholds.answer_margin,
            "suggest_min": thresholds.suggest_min,
            "max_suggestions": thresholds.max_suggestions,
        },
    }


def try_args(body: dict[str, Any]) -> tuple[str, str | None]:
    unknown = sorted(set(body) - {"question", "lang"})
    if unknown:
        raise Problem(400, f"unknown field(s): {', '.join(unknown)}")
    question = body.get("question")
    if not isinstance(question, str):
        raise Problem(400, "'question' must be text")
    if not question.strip():
        raise Problem(400, "'question' is empty")
    lang = body.get("lang")
    if lang is not None and lang not in LANGUAGES:
        raise Problem(400, f"'lang' must be one of {', '.join(LANGUAGES)}")
    return question, lang


# ---------------------------------------------------------------------- handlers


def _article_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        return int(raw)
    except ValueError:
        raise Problem(404, f"no article with id {raw!r}") from None


Endpoint = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


def handler(
    *roles: str,
) -> Callable[[Endpoint], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Check the role, and turn a :class:`Problem` into its JSON error."""

    def wrap(fn: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            principal = require(request, *roles)
            try:
                return await fn(request, principal)
            except Problem as problem:
                return problem.response()

        run.__name__ = fn.__name__
        return run

    return wrap


@handler(*WRITERS)
async def list_handler(request: web.Request, principal: Principal) -> web.Response:
    filters = filters_from(request.query)
    limit = int_param(request.query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = int_param(request.query, "offset", 0, 0, 10**9)
    rows = await find_articles(services_of(request), filters)
    items = [article_json(r) for r in rows[offset : offset + limit]]
    return web.json_response({"items": items, "total": len(rows), "limit": limit, "offset": offset})


@handler(*WRITERS)
async def create_handler(request: web.Request, principal: Principal) -> web.Response:
    article = record_from_body(await json_body(request))
    row = await create_article(services_of(request), article, actor_of(principal))
    return web.json_response(
        article_json(row), status=201, headers={"Location": f"/api/v1/faq/articles/{row.id}"}
    )


@handler(*WRITERS)
async def get_handler(request: web.Request, principal: Principal) -> web.Response:
    row = await load_article(services_of(request), _article_id(request))
    return web.json_response(article_json(row))


@handler(*WRITERS)
async def put_handler(request: web.Request, principal: Principal) -> web.Response:
    article_id = _article_id(request)
    body = await json_body(request)
    row = await update_article(services_of(request), article_id, body, actor_of(principal))
    return web.json_response(article_json(row))


@handler(*WRITERS)
async def delete_handler(request: web.Request, principal: Principal) -> web.Response:
    await delete_article(services_of(request), _article_id(request), actor_of(principal))
    return web.Response(status=204)


@handler(*WRITERS)
async def import_handler(request: web.Request, principal: Principal) -> web.Response:
    explicit = request.query.get("format")
    filename: str | None = None
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        field = form.get("file")
        if not isinstance(field, web.FileField):
            raise Problem(400, "send the file in the multipart field 'file'")
        data = field.file.read()
        filename = field.filename
        explicit = explicit or str(form.get("format") or "") or None
    else:
        data = await request.read()
    fmt = pick_format(explicit, filename, request.content_type)
    result = await import_file(services_of(request), data, fmt, actor_of(principal))
    return web.json_response(
        {
            "created": len(result.created),
            "updated": len(result.updated),
            "unchanged": len(result.unchanged),
        }
    )


CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


@handler(*WRITERS)
async def export_handler(request: web.Request, principal: Principal) -> web.Response:
    fmt = request.query.get("format") or "jsonl"
    if fmt not in faq_io.FORMATS:
        raise Problem(400, f"'format' must be one of {', '.join(faq_io.FORMATS)}, got {fmt!r}")
    lang = filters_from(request.query).lang
    text = await export_text(services_of(request), fmt, lang)
    name = f"sanad-faq{'-' + lang if lang else ''}.{fmt}"
    return web.Response(
        text=text,
        content_type=CONTENT_TYPES[fmt],
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@handler(*WRITERS)
async def try_handler(request: web.Request, principal: Principal) -> web.Response:
    question, lang = try_args(await json_body(request))
    return web.json_response(await try_question(services_of(request), question, lang))


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    app.router.add_get("/api/v1/faq/articles", list_handler)
    app.router.add_post("/api/v1/faq/articles", create_handler)
    app.router.add_get("/api/v1/faq/articles/{id}", get_handler)
    app.router.add_put("/api/v1/faq/articles/{id}", put_handler)
    app.router.add_delete("/api/v1/faq/articles/{id}", delete_handler)
    app.router.add_post("/api/v1/faq/import", import_handler)
    app.router.add_get("/api/v1/faq/export", export_handler)
    app.router.add_post("/api/v1/faq/try", try_handler)


# ---------------------------------------------------------------------- OpenAPI


def error_responses(*codes: int) -> dict[str, Any]:
    """Error responses for the OpenAPI document, all of them the ``Error`` schema."""
    text = {
        400: "Bad request: the message says what is wrong",
        401: "No token, or an unknown or revoked one",
        403: "The token's role cannot do this (or the CSRF token is missing)",
        404: "Not found",
        409: "Conflict with the current state",
        413: "Too large",
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {str(c): {"description": text[c], "content": error} for c in codes}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_TEXT_LIST = {"type": "array", "items": {"type": "string"}}
ARTICLE_IN = {
    "type": "object",
    "description": "The JSON Lines record of an article; 'id' is its slug ('slug' also works).",
    "properties": {
        "id": {"type": "string"},
        "lang": {"type": "string", "enum": list(LANGUAGES)},
        "question": {"type": "string"},
        "phrasings": _TEXT_LIST,
        "answer": {"type": "string"},
        "category": {"type": "string"},
        "tags": _TEXT_LIST,
        "status": {"type": "string", "enum": list(STATUSES)},
    },
    "required": ["id", "lang", "question", "answer"],
}
ARTICLE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "description": "database id"},
        "slug": {"type": "string", "description": "the record's id, shared by translations"},
        **{k: v for k, v in ARTICLE_IN["properties"].items() if k != "id"},  # type: ignore[attr-defined]
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
HIT = {
    "type": "object",
    "properties": {
        "article_id": {"type": "integer"},
        "slug": {"type": "string"},
        "lang": {"type": "string"},
        "question": {"type": "string"},
        "score": {"type": "number"},
    },
}
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
_LANG_PARAM = {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["en", "ar"]}}
_FORMAT_PARAM = {
    "name": "format",
    "in": "query",
    "schema": {"type": "string", "enum": list(faq_io.FORMATS)},
}
_TAGS = ["faq"]

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/faq/articles": {
        "get": {
            "tags": _TAGS,
            "summary": "List articles (editor or admin)",
            "parameters": [
                _LANG_PARAM,
                {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}},
                {"name": "category", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "q",
                    "in": "query",
                    "description": "text in the id, question, phrasings, answer, tags",
                    "schema": {"type": "string"},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                },
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            ],
            "responses": {
                "200": {
                    "description": "A page of articles",
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": ARTICLE},
                                "total": {"type": "integer"},
                                "limit": {"type": "integer"},
                                "offset": {"type": "integer"},
                            },
                        }
                    ),
                },
                **error_responses(400, 401, 403),
            },
        },
        "post": {
            "tags": _TAGS,
            "summary": "Create an article (editor or admin); the bot answers with it at once",
            "requestBody": {"required": True, "content": json_content(ARTICLE_IN)},
            "responses": {
                "201": {"description": "Created", "content": json_content(ARTICLE)},
                **error_responses(400, 401, 403, 409),
            },
        },
    },
    "/api/v1/faq/articles/{id}": {
        "parameters": [_ID_PARAM],
        "get": {
            "tags": _TAGS,
            "summary": "One article",
            "responses": {
                "200": {"description": "The article", "content": json_content(ARTICLE)},
                **error_responses(401, 403, 404),
            },
        },
        "put": {
            "tags": _TAGS,
            "summary": "Replace an article (its id and lang cannot change)",
            "requestBody": {"required": True, "content": json_content(ARTICLE_IN)},
            "responses": {
                "200": {"description": "The article", "content": json_content(ARTICLE)},
                **error_responses(400, 401, 403, 404),
            },
        },
        "delete": {
            "tags": _TAGS,
            "summary": "Delete an article",
            "responses": {"204": {"description": "Deleted"}, **error_responses(401, 403, 404)},
        },
    },
    "/api/v1/faq/import": {
        "post": {
            "tags": _TAGS,
            "summary": "Import a JSON Lines or CSV file, all or nothing",
            "parameters": [_FORMAT_PARAM],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    },
                },
            },
            "responses": {
                "200": {
                    "description": "Imported",
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {
                                k: {"type": "integer"} for k in ("created", "updated", "unchanged")
                            },
                        }
                    ),
                },
                "400": {
                    "description": "Nothing imported: every bad row with its line number",
                    "content": json_content(
                        {
                            "allOf": [
                                {"$ref": "#/components/schemas/Error"},
                                {
                                    "type": "object",
                                    "properties": {
                                        "errors": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "line": {"type": "integer"},
                                                    "reason": {"type": "string"},
                                                },
                                            },
                                        }
                                    },
                                },
                            ]
                        }
                    ),
                },
                **error_responses(401, 403),
            },
        }
    },
    "/api/v1/faq/export": {
        "get": {
            "tags": _TAGS,
            "summary": "Export the articles as a file",
            "parameters": [_FORMAT_PARAM, _LANG_PARAM],
            "responses": {
                "200": {
                    "description": "The file (attachment)",
                    "content": {
                        "application/x-ndjson": {"schema": {"type": "string"}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **error_responses(400, 401, 403),
            },
        }
    },
    "/api/v1/faq/try": {
        "post": {
            "tags": _TAGS,
            "summary": "What the bot would answer to a question (nothing is logged)",
            "requestBody": {
                "required": True,
                "content": json_content(
                    {
                        "type": "object",
                        "properties": {
                            "question": {"type": "string"},
                            "lang": {"type": "string", "enum": list(LANGUAGES)},
                        },
                        "required": ["question"],
                    }
                ),
            },
            "responses": {
                "200": {
                    "description": "The decision, the top hits and the thresholds used",
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "question": {"type": "string"},
                                "lang": {"type": "string"},
                                "outcome": {"enum": ["answer", "suggest", "no_match"]},
                                "answer": {"oneOf": [HIT, {"type": "null"}]},
                                "suggested": {"type": "array", "items": HIT},
                                "hits": {"type": "array", "items": HIT},
                                "thresholds": {"type": "object"},
                            },
                        }
                    ),
                },
                **error_responses(400, 401, 403),
            },
        }
    },
}
