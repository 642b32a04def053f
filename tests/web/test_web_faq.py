"""The FAQ API and pages: roles, validation, import all or nothing, export round trip, "try it",
and changes reaching the bot's match index at once."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from app.services import Services
from faq.fusion import DECISIVE, Mode
from faq.service import sample_articles
from storage.models import Article, Event, QueryLog
from tests.conftest import bearer

Client = TestClient[Any, Any]
ARTICLES = "/api/v1/faq/articles"
NEW = {
    "id": "gift-wrap",
    "lang": "en",
    "question": "Do you offer gift wrapping?",
    "phrasings": ["can you wrap my order as a present"],
    "answer": "Yes: choose gift wrapping at checkout for 10 SAR.",
    "category": "Orders",
    "tags": ["Gifts"],
}
ODD_QUESTION = "Which telescope fits a beginner astronomer"


async def _articles(client: Client, token: str, query: str = "") -> dict[str, Any]:
    response = await client.get(f"{ARTICLES}{query}", headers=bearer(token))
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _by_slug(client: Client, token: str, slug: str, lang: str = "en") -> dict[str, Any]:
    items = (await _articles(client, token, f"?lang={lang}&limit=500"))["items"]
    return next(i for i in items if i["slug"] == slug)


async def _error(response: Any, status: int) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["status"] == status
    message: str = body["error"]
    return message


# ---------------------------------------------------------------------- roles


async def test_faq_api_needs_a_token_and_the_editor_role(
    client: Client, tokens: dict[str, str]
) -> None:
    calls = [
        ("GET", ARTICLES),
        ("POST", ARTICLES),
        ("GET", f"{ARTICLES}/1"),
        ("PUT", f"{ARTICLES}/1"),
        ("DELETE", f"{ARTICLES}/1"),
        ("POST", "/api/v1/faq/import?format=jsonl"),
        ("GET", "/api/v1/faq/export"),
        ("POST", "/api/v1/faq/try"),
    ]
    for method, path in calls:
        response = await client.request(method, path, json={})
        assert "Bearer" in await _error(response, 401)
        response = await client.request(method, path, json={}, headers=bearer(tokens["supervisor"]))
        assert "editor" in await _error(response, 403)
    for role in ("editor", "admin"):
        assert (await _articles(client, tokens[role]))["total"] == len(sample_articles())


# ---------------------------------------------------------------------- list and filters


async def test_list_filters_and_pagination(client: Client, tokens: dict[str, str]) -> None:
    token = tokens["editor"]
    everything = await _articles(client, token)
    assert everything["total"] == len(everything["items"]) == len(sample_articles())
    item = everything["items"][0]
    assert set(item) == {
        "id",
        "slug",
        "lang",
        "category",
        "tags",
        "question",
        "phrasings",
        "answer",
        "status",
        "created_at",
        "updated_at",
    }
    assert isinstance(item["id"], int)
    arabic = await _articles(client, token, "?lang=ar")
    assert arabic["total"] == len(sample_articles()) // 2
    assert {i["lang"] for i in arabic["items"]} == {"ar"}
    delivery = await _articles(client, token, "?category=delivery&lang=en")
    assert delivery["total"] >= 2 and all(i["category"] == "delivery" for i in delivery["items"])
    found = await _articles(client, token, "?q=TRACKING%20NUMBER")
    assert [i["slug"] for i in found["items"]] == ["track-order"]
    found_ar = await _articles(client, token, "?q=" + "رسوم التوصيل")
    assert "delivery-cost" in {i["slug"] for i in found_ar["items"]}
    page = await _articles(client, token, "?limit=5&offset=10")
    assert page["total"] == len(sample_articles()) and page["limit"] == 5 and page["offset"] == 10
    assert [i["id"] for i in page["items"]] == [i["id"] for i in everything["items"][10:15]]
    assert (await _articles(client, token, "?status=draft"))["total"] == 0
    for query, word in (
        ("?lang=fr", "lang"),
        ("?status=gone", "status"),
        ("?limit=0", "limit"),
        ("?limit=x", "limit"),
        ("?offset=-1", "offset"),
    ):
        response = await client.get(f"{ARTICLES}{query}", headers=bearer(token))
        assert word in await _error(response, 400)


# ---------------------------------------------------------------------- create to delete


async def test_create_get_update_delete_reach_the_bot_at_once(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    token = tokens["editor"]
    before = len(services.faq.index)
    response = await client.post(ARTICLES, json=NEW, headers=bearer(token))
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["slug"] == "gift-wrap" and created["category"] == "orders"
    assert created["tags"] == ["gifts"] and created["status"] == "published"
    assert response.headers["Location"] == f"{ARTICLES}/{created['id']}"
    article_id = created["id"]
    assert len(services.faq.index) == before + 1
    decision = services.faq.index.decide("Do you offer gift wrapping?", "en")
    assert decision.outcome.value == "answer" and decision.best is not None
    assert int(decision.best.article_id) == article_id

    got = await client.get(f"{ARTICLES}/{article_id}", headers=bearer(token))
    assert got.status == 200 and (await got.json()) == created

    changed = {**created, "answer": "Gift wrapping is free this month.", "status": "draft"}
    response = await client.put(f"{ARTICLES}/{article_id}", json=changed, headers=bearer(token))
    assert response.status == 200, await response.text()
    updated = await response.json()
    assert updated["answer"] == "Gift wrapping is free this month."
    assert updated["id"] == article_id and updated["status"] == "draft"
    assert services.faq.article(article_id) is None  # drafts are not answered
    assert len(services.faq.index) == before

    response = await client.put(
        f"{ARTICLES}/{article_id}",
        json={"question": "Do you offer gift wrapping?", "answer": "Yes."},
        headers=bearer(tokens["admin"]),
    )
    assert response.status == 200
    replaced = await response.json()
    assert replaced["phrasings"] == [] and replaced["status"] == "published"  # PUT replaces
    view = services.faq.article(article_id)
    assert view is not None and view.answer == "Yes."

    response = await client.delete(f"{ARTICLES}/{article_id}", headers=bearer(token))
    assert response.status == 204
    assert services.faq.article(article_id) is None
    assert len(services.faq.index) == before
    assert "no article" in await _error(
        await client.get(f"{ARTICLES}/{article_id}", headers=bearer(token)), 404
    )
    async with services.db.transaction() as session:
        kinds = (
            (
                await session.execute(
                    select(Event.kind).where(Event.kind.like("article_%")).order_by(Event.id)
                )
            )
            .scalars()
            .all()
        )
    assert kinds[-4:] == [
        "article_created",
        "article_updated",
        "article_updated",
        "article_removed",
    ]


async def test_create_validation_and_conflicts(client: Client, tokens: dict[str, str]) -> None:
    headers = bearer(tokens["editor"])
    cases = [
        ({**NEW, "question": ""}, "'question' is empty"),
        ({k: v for k, v in NEW.items() if k != "answer"}, "'answer' is missing"),
        ({**NEW, "lang": "fr"}, "'lang' must be one of en, ar"),
        ({**NEW, "id": "has space"}, "must not contain spaces"),
        ({**NEW, "phrasings": "one string"}, "'phrasings' must be a list"),
        ({**NEW, "tags": [1]}, "'tags' entry 1 must be text"),
        ({**NEW, "status": "live"}, "'status' must be one of"),
        ({**NEW, "answer": 5}, "'answer' must be text"),
        ({**NEW, "color": "red"}, "unknown field(s): color"),
        ({**NEW, "slug": "other"}, "'id' and 'slug' differ"),
    ]
    for body, message in cases:
        response = await client.post(ARTICLES, json=body, headers=headers)
        assert message in await _error(response, 400), body
    for raw, message in (
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got an array"),
        (b"", "empty"),
        (b"\xff\xfe", "not UTF-8"),
    ):
        response = await client.post(
            ARTICLES, data=raw, headers={**headers, "Content-Type": "application/json"}
        )
        assert message in await _error(response, 400)
    response = await client.post(
        ARTICLES, json={**NEW, "id": None, "slug": "wrap2"}, headers=headers
    )
    assert response.status == 201  # "slug" works as the record's id
    response = await client.post(ARTICLES, json={**NEW, "id": "delivery-time"}, headers=headers)
    assert "already exists" in await _error(response, 409)
    response = await client.post(
        ARTICLES, json={**NEW, "id": "delivery-time", "lang": "ar"}, headers=headers
    )
    assert response.status == 409


async def test_update_and_delete_errors(client: Client, tokens: dict[str, str]) -> None:
    headers = bearer(tokens["editor"])
    article = await _by_slug(client, tokens["editor"], "delivery-time")
    url = f"{ARTICLES}/{article['id']}"
    for path in (f"{ARTICLES}/999999", f"{ARTICLES}/abc"):
        assert (await client.get(path, headers=headers)).status == 404
        assert (await client.put(path, json=NEW, headers=headers)).status == 404
        assert (await client.delete(path, headers=headers)).status == 404
    response = await client.put(url, json={**article, "lang": "ar"}, headers=headers)
    assert "cannot change" in await _error(response, 400)
    response = await client.put(url, json={**article, "slug": "renamed"}, headers=headers)
    assert "cannot change" in await _error(response, 400)
    response = await client.put(url, json={**article, "question": None}, headers=headers)
    assert "'question' is missing" in await _error(response, 400)
    response = await client.put(url, data=b"nope", headers=headers)
    assert "not valid JSON" in await _error(response, 400)
    unchanged = await client.put(url, json=article, headers=headers)  # the GET shape round-trips
    assert (
        unchanged.status == 200 and (await unchanged.json())["updated_at"] == article["updated_at"]
    )


# ---------------------------------------------------------------------- import and export


def _jsonl(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


async def test_import_is_all_or_nothing(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    headers = bearer(tokens["editor"])
    good = {**NEW}
    changed = {
        **(await _by_slug(client, tokens["editor"], "delivery-cost")),
    }
    record = {k: changed[k] for k in ("lang", "question", "answer", "phrasings", "tags")}
    record = {**record, "id": "delivery-cost", "answer": "Delivery is free for everyone now."}
    bad_file = _jsonl(good, record) + b'{"id": "x", "lang": "en"}\n' + b"not json\n"
    response = await client.post("/api/v1/faq/import?format=jsonl", data=bad_file, headers=headers)
    assert response.status == 400
    body = await response.json()
    assert "nothing was imported" in body["error"] and body["status"] == 400
    assert body["errors"][0] == {"line": 3, "reason": "'question' is missing"}
    assert body["errors"][1]["line"] == 4 and "not valid JSON" in body["errors"][1]["reason"]
    total = len(sample_articles())
    assert (await _articles(client, tokens["editor"]))["total"] == total  # nothing changed
    cost = await _by_slug(client, tokens["editor"], "delivery-cost")
    assert cost["answer"] != "Delivery is free for everyone now."

    response = await client.post(
        "/api/v1/faq/import?format=jsonl", data=_jsonl(good, record), headers=headers
    )
    assert response.status == 200, await response.text()
    assert await response.json() == {"created": 1, "updated": 1, "unchanged": 0}
    assert len(services.faq.index) == total + 1
    decision = services.faq.index.decide("can you wrap my order as a present", "en")
    assert decision.best is not None
    view = services.faq.article(int(decision.best.article_id))
    assert view is not None and view.slug == "gift-wrap"

    # The same file again, as a multipart upload whose name says the format.
    form = FormData()
    form.add_field("file", _jsonl(good, record), filename="faq.jsonl")
    response = await client.post("/api/v1/faq/import", data=form, headers=headers)
    assert await response.json() == {"created": 0, "updated": 0, "unchanged": 2}


async def test_import_errors(client: Client, tokens: dict[str, str]) -> None:
    headers = bearer(tokens["admin"])
    cases = [
        ("/api/v1/faq/import?format=xml", b"x", "unknown format"),
        ("/api/v1/faq/import", b"x", "?format=jsonl"),
        ("/api/v1/faq/import?format=jsonl", b"\n\n", "no articles in the file"),
        ("/api/v1/faq/import?format=jsonl", b"\xff\xfe", "not UTF-8"),
        ("/api/v1/faq/import?format=csv", b"a,b\n1,2\n", "lacks column(s) id, lang"),
    ]
    for path, data, message in cases:
        response = await client.post(path, data=data, headers=headers)
        assert message in await _error(response, 400), path
    rows = ["id,lang,question,answer", "ok,en,A question?,An answer.", "ok,en,Twice?,Again."]
    csv_file = "\n".join([*rows, "bad,xx,Q?,A.", ""]).encode()
    response = await client.post("/api/v1/faq/import?format=csv", data=csv_file, headers=headers)
    body = await response.json()
    assert response.status == 400
    assert [e["line"] for e in body["errors"]] == [3, 4]
    assert "already appears on line 2" in body["errors"][0]["reason"]
    form = FormData()
    form.add_field("other", "x")
    response = await client.post("/api/v1/faq/import?format=csv", data=form, headers=headers)
    assert "field 'file'" in await _error(response, 400)


async def test_export_round_trip(client: Client, tokens: dict[str, str]) -> None:
    headers = bearer(tokens["editor"])
    response = await client.get("/api/v1/faq/export?format=jsonl", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    assert 'attachment; filename="sanad-faq.jsonl"' in response.headers["Content-Disposition"]
    jsonl = await response.read()
    assert len(jsonl.decode().splitlines()) == len(sample_articles())
    response = await client.get("/api/v1/faq/export?format=csv&lang=ar", headers=headers)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "sanad-faq-ar.csv" in response.headers["Content-Disposition"]
    csv_text = await response.text()
    assert csv_text.startswith("id,lang,")
    assert len(csv_text.strip().splitlines()) == len(sample_articles()) // 2 + 1
    # Importing what was exported changes nothing, in both formats.
    for fmt, data in (("jsonl", jsonl), ("csv", csv_text.encode())):
        response = await client.post(f"/api/v1/faq/import?format={fmt}", data=data, headers=headers)
        body = await response.json()
        assert body["created"] == 0 and body["updated"] == 0, (fmt, body)
    for query in ("format=xml", "lang=fr"):
        response = await client.get(f"/api/v1/faq/export?{query}", headers=headers)
        assert response.status == 400


# ---------------------------------------------------------------------- try it


async def _try(client: Client, token: str, body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/faq/try", json=body, headers=bearer(token))
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def test_try_it_follows_an_edit_and_logs_nothing(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    token = tokens["editor"]
    result = await _try(client, token, {"question": "How long does delivery take?"})
    assert result["outcome"] == "answer" and result["lang"] == "en"
    assert result["answer"]["slug"] == "delivery-time" and result["answer"]["score"] >= 0.5
    assert result["hits"][0]["slug"] == "delivery-time" and len(result["hits"]) <= 5
    # The exact question: the lexical score is decisive, the query is not embedded.
    assert result["mode"] == "lexical" and result["matching"] == "fused"
    assert result["hits"][0]["semantic"] is None
    assert result["thresholds"]["answer_min"] == DECISIVE.answer_min
    assert result["group"] == "decisive"
    # A paraphrase: both scores of every candidate, decided by the fused score (the model
    # ships with the package, so the default install matches on meaning too).
    fused = await _try(client, token, {"question": "the thing I bought arrived broken"})
    assert fused["mode"] == "fused" and fused["answer"]["slug"] == "damaged-item"
    best = fused["hits"][0]
    assert 0 < best["lexical"] <= 1 and 0 < best["semantic"] <= 1
    assert best["score"] == pytest.approx(0.2 * best["lexical"] + 0.8 * best["semantic"], abs=2e-3)
    assert fused["group"] == "en"
    used = services.faq.matcher.thresholds_for("en", Mode.FUSED)
    assert fused["thresholds"] == {
        "answer_min": used.answer_min,
        "answer_margin": used.answer_margin,
        "suggest_min": used.suggest_min,
        "max_suggestions": used.max_suggestions,
    }
    arabic = await _try(client, token, {"question": "كم تكلفة التوصيل؟", "lang": "en"})
    assert arabic["lang"] == "ar" and arabic["answer"]["slug"] == "delivery-cost"
    assert arabic["group"] == "decisive"  # an exact phrasing: clear on words alone
    # Dialect words: the dialect group's thresholds decide (fused mode, where they differ).
    dialect = await _try(client, token, {"question": "بدي أعرف شو تكلفة التوصيل بالزبط"})
    assert dialect["group"] == "ar-dialect" and dialect["mode"] == "fused"
    used = services.faq.matcher.thresholds_for("ar-dialect", Mode.FUSED)
    assert dialect["thresholds"]["answer_min"] == used.answer_min
    assert used != services.faq.matcher.thresholds_for("ar-msa", Mode.FUSED)

    before = await _try(client, token, {"question": ODD_QUESTION})
    assert before["outcome"] != "answer" and before["answer"] is None
    target = await _by_slug(client, token, "damaged-item")
    edited = {**target, "phrasings": [*target["phrasings"], ODD_QUESTION]}
    response = await client.put(f"{ARTICLES}/{target['id']}", json=edited, headers=bearer(token))
    assert response.status == 200
    after = await _try(client, token, {"question": ODD_QUESTION})
    assert after["outcome"] == "answer" and after["answer"]["article_id"] == target["id"]
    decision = services.faq.index.decide(ODD_QUESTION, "en", services.faq.thresholds)
    assert decision.best is not None and int(decision.best.article_id) == target["id"]

    async with services.db.transaction() as session:
        logged = (await session.execute(select(func.count(QueryLog.id)))).scalar_one()
    assert logged == 0


async def test_try_it_rejects_bad_input(client: Client, tokens: dict[str, str]) -> None:
    headers = bearer(tokens["editor"])
    for body, message in (
        ({}, "'question' is missing"),
        ({"question": 5}, "'question' must be text"),
        ({"question": "   "}, "'question' is empty"),
        ({"question": "hi", "lang": "de"}, "'lang' must be one of en, ar"),
        ({"question": "hi", "extra": 1}, "unknown field(s): extra"),
        (["question"], "must be a JSON object"),
    ):
        response = await client.post("/api/v1/faq/try", json=body, headers=headers)
        assert message in await _error(response, 400)


# ---------------------------------------------------------------------- OpenAPI


async def test_openapi_lists_the_faq_paths(client: Client, tokens: dict[str, str]) -> None:
    response = await client.get("/api/v1/openapi.json", headers=bearer(tokens["editor"]))
    doc = await response.json()
    paths = doc["paths"]
    assert set(paths[ARTICLES]) == {"get", "post"}
    assert {"get", "put", "delete"} <= set(paths[f"{ARTICLES}/{{id}}"])
    assert "post" in paths["/api/v1/faq/import"] and "post" in paths["/api/v1/faq/try"]
    assert "get" in paths["/api/v1/faq/export"]
    post = paths[ARTICLES]["post"]
    for code in ("400", "401", "403", "409"):
        schema = post["responses"][code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    assert "404" in paths[f"{ARTICLES}/{{id}}"]["get"]["responses"]


# ---------------------------------------------------------------------- pages


async def _login(client: Client, token: str) -> str:
    response = await client.post("/login", data={"token": token}, allow_redirects=False)
    assert response.status == 302
    page = await client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert match
    return match.group(1)


async def test_faq_pages_edit_validate_import_and_delete(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    csrf = await _login(client, tokens["editor"])
    listing = await client.get("/faq?lang=en&q=delivery")
    text = await listing.text()
    assert listing.status == 200 and 'id="articles-table"' in text and "delivery-time" in text
    assert "كم تستغرق" not in text  # the lang filter

    new = await client.get("/faq/new")
    assert new.status == 200 and 'id="article-form"' in await new.text()
    form = {
        "csrf_token": csrf,
        "slug": "gift-wrap",
        "lang": "en",
        "question": "Do you offer gift wrapping?",
        "phrasings": "wrap my order\n\ncan you wrap a present\n",
        "answer": "Yes.",
        "category": "orders",
        "tags": "gifts, wrapping",
        "status": "published",
    }
    bad = await client.post("/faq/new", data={**form, "answer": " "})
    assert bad.status == 400
    bad_text = await bad.text()
    assert 'id="form-error"' in bad_text and "&#39;answer&#39; is empty" in bad_text
    assert 'value="Do you offer gift wrapping?"' in bad_text  # what was typed is kept
    no_csrf = await client.post(
        "/faq/new", data={k: v for k, v in form.items() if k != "csrf_token"}
    )
    assert no_csrf.status == 403
    created = await client.post("/faq/new", data=form, allow_redirects=False)
    assert created.status == 302
    location = created.headers["Location"]
    article_id = int(location.split("/")[2].split("?")[0])
    view = services.faq.article(article_id)
    assert view is not None and view.slug == "gift-wrap"
    again = await client.post("/faq/new", data=form)
    assert again.status == 409 and "already exists" in await again.text()

    edit = await client.get(location)
    edit_text = await edit.text()
    assert 'id="saved-message"' in edit_text and "can you wrap a present" in edit_text
    update = {**form, "phrasings": f"wrap my order\n{ODD_QUESTION}"}
    response = await client.post(f"/faq/{article_id}", data=update, allow_redirects=False)
    assert response.status == 302
    tried = await client.get(f"/faq/{article_id}?try={ODD_QUESTION}")
    tried_text = await tried.text()
    assert 'id="try-result" data-outcome="answer"' in tried_text
    assert 'id="try-answer">gift-wrap<' in tried_text
    invalid = await client.post(f"/faq/{article_id}", data={**update, "status": "live"})
    assert invalid.status == 400 and "&#39;status&#39; must be one of" in await invalid.text()
    assert (await client.get("/faq/999999")).status == 404

    upload = FormData()
    upload.add_field("csrf_token", csrf)
    upload.add_field(
        "file", _jsonl(NEW | {"id": "x1"}) + b'{"id": "x2", "lang": "en"}\n', filename="a.jsonl"
    )
    failed = await client.post("/faq/import", data=upload)
    failed_text = await failed.text()
    assert failed.status == 400 and 'id="import-errors"' in failed_text
    assert "<td>2</td><td>&#39;question&#39; is missing</td>" in failed_text
    upload = FormData()
    upload.add_field("csrf_token", csrf)
    upload.add_field("format", "csv")
    upload.add_field("file", b"id,lang,question,answer\nx3,en,Q three?,A.\n", filename="b.txt")
    imported = await client.post("/faq/import", data=upload)
    assert imported.status == 200
    assert "Imported: 1 new, 0 updated, 0 unchanged." in await imported.text()

    deleted = await client.post(
        f"/faq/{article_id}/delete", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert deleted.status == 302 and deleted.headers["Location"].startswith("/faq?deleted=")
    assert services.faq.article(article_id) is None
    async with services.db.transaction() as session:
        assert await session.get(Article, article_id) is None


async def test_faq_pages_need_the_editor_role_and_speak_arabic(
    client: Client, tokens: dict[str, str]
) -> None:
    response = await client.get("/faq", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/login?next=/faq"
    await _login(client, tokens["supervisor"])
    assert (await client.get("/faq")).status == 403
    assert (await client.get("/faq/new")).status == 403
    client.session.cookie_jar.clear()
    await _login(client, tokens["admin"])
    arabic = await client.get("/faq?lang=ar")
    text = await arabic.text()
    assert arabic.status == 200 and 'dir="rtl"' in text and "مقالات الأسئلة الشائعة" in text
