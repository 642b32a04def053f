"""Suggested articles from agents' answers on the knowledge-gaps page and in the API: listed for
editors and supervisors (the sample FAQ's payment question left out), a draft created from the
page's form and from the API with the edited texts (status draft, events written, not matched
by the bot), roles, CSRF, Arabic page, and the OpenAPI document."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from markupsafe import escape
from sqlalchemy import select

from app.services import Services
from faq.curation import load_article
from storage.models import Event
from tests.conftest import bearer
from tests.drafts_history import COVERED, PLANTED, History, plant_history
from tests.web.test_web_reports import _login

Client = TestClient[Any, Any]
SUGGESTIONS = "/api/v1/gaps/suggestions"


async def _history(services: Services) -> History:
    return await plant_history(services.db, services.clock.now() - timedelta(days=3))


def _label(history: History, item: dict[str, Any]) -> str | None:
    return history.labels[item["example_ticket_ids"][0]]


async def test_the_api_lists_suggestions_and_makes_a_draft(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    history = await _history(services)
    for role in ("editor", "supervisor", "admin"):
        response = await client.get(SUGGESTIONS, headers=bearer(tokens[role]))
        assert response.status == 200, role
    items = (await response.json())["items"]
    assert sorted(_label(history, i) or "" for i in items) == sorted(g.label for g in PLANTED)
    assert COVERED.label not in {_label(history, i) for i in items}  # the sample FAQ answers it
    arabic = await client.get(f"{SUGGESTIONS}?lang=ar", headers=bearer(tokens["editor"]))
    assert {i["lang"] for i in (await arabic.json())["items"]} == {"ar"}
    assert (await client.get(SUGGESTIONS)).status == 401
    assert (
        await client.get(f"{SUGGESTIONS}?period=century", headers=bearer(tokens["admin"]))
    ).status == 400

    loyalty = next(i for i in items if _label(history, i) == "loyalty-ar")
    url = f"{SUGGESTIONS}/{loyalty['id']}/draft"
    body = {"id": "loyalty-points", "answer": "كل 100 نقطة بعشرة ريالات عند الدفع."}
    made = await client.post(url, json=body, headers=bearer(tokens["supervisor"]))
    assert made.status == 201, await made.text()
    article = (await made.json())["article"]
    assert article["status"] == "draft" and article["lang"] == "ar"
    assert article["question"] == loyalty["question"] and article["answer"] == body["answer"]
    stored = await load_article(services.db, article["article_id"])
    assert stored.status == "draft" and stored.answer == body["answer"]
    async with services.db.transaction() as session:
        kinds = (await session.execute(select(Event.kind, Event.actor, Event.data))).all()
    drafted = [(actor, data) for kind, actor, data in kinds if kind == "article_drafted"]
    assert drafted == [
        (
            "supervisor:supervisor test",
            {
                "article": "loyalty-points",
                "lang": "ar",
                "article_id": article["article_id"],
                "suggestion": loyalty["id"],
                "tickets": loyalty["tickets"],
                "replies": loyalty["replies"],
                "example_ticket_ids": loyalty["example_ticket_ids"],
            },
        )
    ]
    # the draft is not matched, and the suggestion is gone
    await services.faq.wait_idle()
    _, _, verdict = await services.faq.verdict(loyalty["question"], "ar")
    assert str(article["article_id"]) not in {s.article_id for s in verdict.scored}
    after = (await (await client.get(SUGGESTIONS, headers=bearer(tokens["editor"]))).json())[
        "items"
    ]
    assert loyalty["id"] not in {i["id"] for i in after} and len(after) == len(items) - 1
    gone = await client.post(url, json=body, headers=bearer(tokens["editor"]))
    assert gone.status == 404

    wrap = next(i for i in after if _label(history, i) == "gift-wrap")
    wrap_url = f"{SUGGESTIONS}/{wrap['id']}/draft"
    taken = await client.post(
        wrap_url, json={"id": "loyalty-points", "answer": "x"}, headers=bearer(tokens["editor"])
    )
    assert taken.status == 201  # another language: (slug, lang) is free
    clash = next(i for i in after if _label(history, i) == "warranty")
    conflict = await client.post(
        f"{SUGGESTIONS}/{clash['id']}/draft",
        json={"id": "loyalty-points"},
        headers=bearer(tokens["editor"]),
    )
    assert conflict.status == 409
    bad = await client.post(
        f"{SUGGESTIONS}/{clash['id']}/draft",
        json={"id": "has space"},
        headers=bearer(tokens["editor"]),
    )
    assert bad.status == 400


async def test_the_openapi_document_describes_the_routes(
    client: Client, tokens: dict[str, str]
) -> None:
    response = await client.get("/api/v1/openapi.json", headers=bearer(tokens["editor"]))
    document = await response.json()
    listing = document["paths"][SUGGESTIONS]["get"]
    assert "SuggestionsOut" in str(listing["responses"]["200"])
    draft = document["paths"][f"{SUGGESTIONS}/{{suggestion_id}}/draft"]["post"]
    assert "DraftIn" in str(draft["requestBody"]) and "DraftOut" in str(draft["responses"]["201"])
    fields = document["components"]["schemas"]["SuggestedArticle"]["properties"]
    assert {"question", "phrasings", "answer", "tickets", "example_ticket_ids"} <= set(fields)


async def test_the_gaps_page_shows_suggestions_and_its_form_makes_a_draft(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    history = await _history(services)
    csrf = await _login(client, tokens["editor"])
    page = await (await client.get("/gaps")).text()
    assert "Suggested articles from agents&#39; answers" in page
    forms = re.findall(r'action="/gaps/suggestions/([0-9a-f]+)/draft"', page)
    assert len(forms) == len(PLANTED)
    api = (await (await client.get(SUGGESTIONS)).json())["items"]
    wrap = next(i for i in api if _label(history, i) == "gift-wrap")
    section = page[page.index(f'id="suggestion-{wrap["id"]}"') :]
    section = section[: section.index("</form>")]
    assert f'value="{escape(wrap["question"])}"' in section
    assert escape(wrap["answer"]) in section
    assert f'value="{wrap["slug"]}"' in section

    url = f"/gaps/suggestions/{wrap['id']}/draft"
    form = {
        "id": "gift-wrap",
        "question": "Do you gift wrap?",
        "answer": "Yes, 15 SAR.",
        "period": "30d",
    }
    refused = await client.post(url, data=form, allow_redirects=False)
    assert refused.status == 403  # no CSRF token
    done = await client.post(url, data=form | {"csrf_token": csrf}, allow_redirects=False)
    assert done.status == 303 and "done=draft" in done.headers["Location"]
    after = await (await client.get(done.headers["Location"])).text()
    assert 'id="gaps-done"' in after and "gift-wrap/en" in after
    assert f'id="suggestion-{wrap["id"]}"' not in after
    link = re.search(r'href="/faq/(\d+)" id="gaps-open-draft"', after)
    assert link is not None
    article = await load_article(services.db, int(link.group(1)))
    assert (article.status, article.question, article.answer) == (
        "draft",
        form["question"],
        form["answer"],
    )
    again = await client.post(url, data=form | {"csrf_token": csrf})
    assert again.status == 404 and 'id="gaps-form-error"' in await again.text()


async def test_the_arabic_page_and_who_may_draft(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    await _history(services)
    await _login(client, tokens["supervisor"])
    page = await (await client.get("/gaps?lang=ar&lang_filter=ar")).text()
    assert 'dir="rtl"' in page and "مقالات مقترحة من إجابات الموظفين" in page
    assert "إنشاء مسودة مقالة" in page and 'lang="ar" dir="auto"' in page
    assert len(re.findall(r'id="suggestion-', page)) == len([g for g in PLANTED if g.lang == "ar"])
    assert 'href="/tickets/' in page  # supervisors may open the example tickets
    editor = await client.get("/gaps?lang=ar", headers=bearer(tokens["editor"]))
    assert 'href="/tickets/' not in await editor.text()  # editors may not
