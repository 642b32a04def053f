"""The FAQ API: list, create, change and delete articles, import and export files, and "try it"
(what the bot would answer to a question, without logging it).

Roles: editor or admin. Every change is one transaction of :mod:`faq.curation` (which writes
the event rows) and then rebuilds the bot's match index at once.

An article as the API shows it is the JSON Lines record of :mod:`faq.io` with ``id`` being the
numeric database id and the record's id under ``slug``, plus ``created_at`` and ``updated_at``.
Request bodies use the JSON Lines record shape (``id`` is the slug; ``slug`` is accepted too).
The shapes are :mod:`web.shapes`'.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accounts.tokens import Principal
from app.services import Services
from faq import curation
from faq import io as faq_io
from faq.articles import ArticleError, ArticleIn, UpsertResult, validate_article
from faq.curation import ArticleFilters, StoredArticle
from web import shapes
from web.auth import actor_of, handler
from web.inputs import check_json
from web.openapi import (
    Answer,
    Operation,
    error_responses,
    json_content,
    json_object,
    parse_body,
    parse_query,
    paths_of,
    reply,
    validate,
)
from web.problem import Problem, Query
from web.site import services_of

# web/console.py builds its OpenAPI paths with these two, imported from here.
__all__ = ["error_responses", "json_content"]

WRITERS = ("editor",)
TRY_HITS = 5
READ_ONLY_FIELDS = ("created_at", "updated_at")
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


def article_json(article: StoredArticle) -> dict[str, Any]:
    record = article.article_in().as_record()
    record.pop("id")
    return {
        "id": article.id,
        "slug": article.slug,
        **record,
        "created_at": article.created_at.isoformat(),
        "updated_at": article.updated_at.isoformat(),
    }


def record_from_body(body: dict[str, Any], row: StoredArticle | None = None) -> ArticleIn:
    """Validate a JSON Lines record sent to the API (types by :class:`shapes.ArticleRecord`,
    texts by :func:`faq.articles.validate_article`). For a PUT (``row`` given) ``id`` and
    ``lang`` may be left out and must not change."""
    given = validate(shapes.ArticleRecord, body)
    record = given.model_dump(exclude_unset=True, exclude=set(READ_ONLY_FIELDS))
    if "slug" in record:
        slug = record.pop("slug")
        given_id = record.get("id")
        if (
            given_id is not None
            and given_id != slug
            and not (row is not None and given_id == row.id)
        ):
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


def filters_from(query: Query) -> ArticleFilters:
    params = parse_query(shapes.ArticleFilterParams, query)
    return ArticleFilters(params.lang, params.status, params.category or None, params.q or None)


async def find_articles(services: Services, filters: ArticleFilters) -> list[StoredArticle]:
    return await curation.find_articles(services.db, filters)


async def load_article(services: Services, article_id: int) -> StoredArticle:
    try:
        return await curation.load_article(services.db, article_id)
    except curation.NotFound as exc:
        raise Problem(404, str(exc)) from None


async def create_article(services: Services, article: ArticleIn, actor: str) -> StoredArticle:
    try:
        row = await curation.create_article(services.db, article, services.clock.now(), actor)
    except curation.Conflict as exc:
        raise Problem(409, str(exc)) from None
    await services.faq.reload()
    return row


async def update_article(
    services: Services, article_id: int, body: dict[str, Any], actor: str
) -> StoredArticle:
    try:
        row = await curation.update_article(
            services.db,
            article_id,
            lambda current: record_from_body(body, current),
            services.clock.now(),
            actor,
        )
    except curation.NotFound as exc:
        raise Problem(404, str(exc)) from None
    await services.faq.reload()
    return row


async def delete_article(services: Services, article_id: int, actor: str) -> StoredArticle:
    try:
        row = await curation.delete_article(services.db, article_id, services.clock.now(), actor)
    except curation.NotFound as exc:
        raise Problem(404, str(exc)) from None
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
    result = await curation.import_articles(
        services.db, parsed.articles, services.clock.now(), actor
    )
    await services.faq.reload()
    return result


async def export_text(services: Services, fmt: str, lang: str | None) -> str:
    articles = await curation.export_articles(services.db, lang)
    try:
        return faq_io.dump(articles, fmt)
    except faq_io.ImportFileError as exc:
        raise Problem(400, str(exc)) from None


async def try_question(services: Services, question: str, lang: str | None) -> dict[str, Any]:
    """What the bot would answer, decided the way it decides (the question's own language
    picks the articles searched; ``lang`` is used when the question has no letters), with
    each candidate's lexical and semantic score and which mode decided. Nothing is logged."""
    faq = services.faq
    await curation.refresh_index(services.db, faq)
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
        "group": verdict.group,
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


# ---------------------------------------------------------------------- handlers


def _article_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        return int(raw)
    except ValueError:
        raise Problem(404, f"no article with id {raw!r}") from None


@handler(*WRITERS)
async def list_handler(request: web.Request, principal: Principal) -> web.Response:
    params = parse_query(shapes.ArticleParams, request.query)
    rows = await find_articles(services_of(request), filters_from(request.query))
    items = [article_json(r) for r in rows[params.offset : params.offset + params.limit]]
    return reply(
        shapes.ArticlesOut,
        {"items": items, "total": len(rows), "limit": params.limit, "offset": params.offset},
    )


@handler(*WRITERS)
async def create_handler(request: web.Request, principal: Principal) -> web.Response:
    article = record_from_body(await json_object(request))
    row = await create_article(services_of(request), article, actor_of(principal))
    return reply(
        shapes.ArticleOut,
        article_json(row),
        status=201,
        headers={"Location": f"/api/v1/faq/articles/{row.id}"},
    )


@handler(*WRITERS)
async def get_handler(request: web.Request, principal: Principal) -> web.Response:
    row = await load_article(services_of(request), _article_id(request))
    return reply(shapes.ArticleOut, article_json(row))


@handler(*WRITERS)
async def put_handler(request: web.Request, principal: Principal) -> web.Response:
    article_id = _article_id(request)
    body = await json_object(request)
    row = await update_article(services_of(request), article_id, body, actor_of(principal))
    return reply(shapes.ArticleOut, article_json(row))


@handler(*WRITERS)
async def delete_handler(request: web.Request, principal: Principal) -> web.Response:
    await delete_article(services_of(request), _article_id(request), actor_of(principal))
    return web.Response(status=204)


@handler(*WRITERS)
async def import_handler(request: web.Request, principal: Principal) -> web.Response:
    explicit = parse_query(shapes.ImportParams, request.query).format
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
    counts = {
        "created": len(result.created),
        "updated": len(result.updated),
        "unchanged": len(result.unchanged),
    }
    return reply(shapes.ImportOut, counts)


@handler(*WRITERS)
async def export_handler(request: web.Request, principal: Principal) -> web.Response:
    params = parse_query(shapes.ExportParams, request.query)
    text = await export_text(services_of(request), params.format, params.lang)
    name = f"sanad-faq{'-' + params.lang if params.lang else ''}.{params.format}"
    return web.Response(
        text=text,
        content_type=CONTENT_TYPES[params.format],
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@handler(*WRITERS)
async def try_handler(request: web.Request, principal: Principal) -> web.Response:
    given = await parse_body(request, shapes.TryIn)
    return reply(
        shapes.TryOut, await try_question(services_of(request), given.question, given.lang)
    )


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

_ID = {"id": "integer"}
_FILES = {
    "application/x-ndjson": {"schema": {"type": "string"}},
    "text/csv": {"schema": {"type": "string"}},
}
OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/faq/articles",
        "List articles (editor or admin)",
        "faq",
        (Answer(200, "A page of articles", shapes.ArticlesOut),),
        errors=(400, 401, 403),
        query=shapes.ArticleParams,
    ),
    Operation(
        "POST",
        "/api/v1/faq/articles",
        "Create an article (editor or admin); the bot answers with it at once",
        "faq",
        (Answer(201, "Created", shapes.ArticleOut),),
        errors=(400, 401, 403, 409),
        body=shapes.ArticleRecord,
    ),
    Operation(
        "GET",
        "/api/v1/faq/articles/{id}",
        "One article",
        "faq",
        (Answer(200, "The article", shapes.ArticleOut),),
        errors=(401, 403, 404),
        path_params=_ID,
    ),
    Operation(
        "PUT",
        "/api/v1/faq/articles/{id}",
        "Replace an article (its id and lang cannot change)",
        "faq",
        (Answer(200, "The article", shapes.ArticleOut),),
        errors=(400, 401, 403, 404),
        body=shapes.ArticleRecord,
        path_params=_ID,
    ),
    Operation(
        "DELETE",
        "/api/v1/faq/articles/{id}",
        "Delete an article",
        "faq",
        (Answer(204, "Deleted"),),
        errors=(401, 403, 404),
        path_params=_ID,
    ),
    Operation(
        "POST",
        "/api/v1/faq/import",
        "Import a JSON Lines or CSV file, all or nothing",
        "faq",
        (
            Answer(200, "Imported", shapes.ImportOut),
            Answer(
                400, "Nothing imported: every bad row with its line number", shapes.ImportRefused
            ),
        ),
        errors=(401, 403, 413),
        query=shapes.ImportParams,
        body_media={
            **_FILES,
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    ),
    Operation(
        "GET",
        "/api/v1/faq/export",
        "Export the articles as a file",
        "faq",
        (Answer(200, "The file (attachment)", media=tuple(_FILES)),),
        errors=(400, 401, 403),
        query=shapes.ExportParams,
    ),
    Operation(
        "POST",
        "/api/v1/faq/try",
        "What the bot would answer to a question (nothing is logged)",
        "faq",
        (Answer(200, "The decision, the top hits and the thresholds used", shapes.TryOut),),
        errors=(400, 401, 403),
        body=shapes.TryIn,
    ),
]
OPENAPI_PATHS, OPENAPI_SCHEMAS = paths_of(OPERATIONS)
