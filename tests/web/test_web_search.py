"""Ticket search on the web: ``GET /api/v1/tickets/search`` (shapes in the OpenAPI document,
rights as the ticket pages) and the search box of the tickets page, in English and Arabic."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from app.services import Services
from tests.conftest import bearer
from tests.web.test_web_pages_roles import _agent_token
from tests.web.test_web_reports import build_history

Client = TestClient[Any, Any]
URL = "/api/v1/tickets/search"


def _tickets(body: dict[str, Any]) -> list[int]:
    return [item["ticket_id"] for item in body["items"]]


async def test_api_finds_lines_and_numbers_with_rights(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    history = await build_history(services)
    boss = bearer(tokens["supervisor"])
    response = await client.get(URL, params={"q": "REFUNDS"}, headers=boss)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert _tickets(body) == [history.t2] and body["next_before"] is None
    hit = body["items"][0]
    assert hit["source"] == "message" and hit["sender"] == "customer"
    assert [f["text"] for f in hit["snippet"] if f["hit"]] == ["refund"]
    assert "".join(f["text"] for f in hit["snippet"]) == "I want a refund"

    number = await (await client.get(URL, params={"q": f"#{history.t3}"}, headers=boss)).json()
    assert _tickets(number)[0] == history.t3 and number["items"][0]["source"] == "number"

    amal = bearer(await _agent_token(services, history.agent))
    theirs = await (await client.get(URL, params={"q": "hello"}, headers=amal)).json()
    assert history.t3 in _tickets(
        await (await client.get(URL, params={"q": "hello"}, headers=boss)).json()
    )
    assert history.t3 not in _tickets(theirs)
    mine = await (await client.get(URL, params={"q": "order"}, headers=amal)).json()
    assert _tickets(mine) == [history.t1]
    hidden = await (await client.get(URL, params={"q": str(history.t3)}, headers=amal)).json()
    assert hidden["items"] == []

    assert (await client.get(URL, params={"q": "x"})).status == 401
    editor = await client.get(URL, params={"q": "x"}, headers=bearer(tokens["editor"]))
    assert editor.status == 403
    empty = await client.get(URL, params={"q": ""}, headers=boss)
    assert empty.status == 400 and "q" in (await empty.json())["error"]
    # Not taken by /api/v1/tickets/{ticket_id}.
    assert (await client.get(URL, headers=boss)).status == 400


async def test_openapi_documents_the_search(client: Client, tokens: dict[str, str]) -> None:
    doc = await (
        await client.get("/api/v1/openapi.json", headers=bearer(tokens["supervisor"]))
    ).json()
    operation = doc["paths"][URL]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"q", "limit", "before"}
    assert "SearchOut" in doc["components"]["schemas"]
    assert "snippet" in doc["components"]["schemas"]["SearchHitOut"]["properties"]


async def test_tickets_page_search_box_english_and_arabic(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    history = await build_history(services)
    boss = bearer(tokens["supervisor"])
    page = await client.get("/tickets", params={"q": "order"}, headers=boss)
    html = await page.text()
    assert page.status == 200
    assert 'id="ticket-search"' in html and 'id="search-results"' in html
    assert re.findall(r'id="hit-(\d+)"', html) == [str(history.t1)]
    assert "<mark>order</mark>" in html
    assert "Results for" in html

    arabic = await client.get("/tickets", params={"q": "zzzz", "lang": "ar"}, headers=boss)
    html = await arabic.text()
    assert 'dir="rtl"' in html
    assert "البحث في التذاكر" in html and "نتائج البحث عن" in html
    assert 'id="search-none"' in html and "لم يُعثر على شيء." in html

    plain = await (await client.get("/tickets", headers=boss)).text()
    assert 'id="ticket-search"' in plain and 'id="search-results"' not in plain
