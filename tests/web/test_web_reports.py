"""Reports, knowledge gaps and tickets over the web: roles, parameters, CSV, and figures that
equal :mod:`handoff.metrics` / :mod:`faq.gaps` on a small history built with the real handoff
service on the services' virtual clock."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from app.services import Services
from base.clock import VirtualClock
from base.periods import period_named
from faq import gaps
from faq.articles import get_article
from faq.matcher import Outcome
from handoff import metrics
from storage.models import Article, Event
from tests.conftest import bearer
from tests.handoff_harness import Harness
from web.charts import DURATION_STEPS, bar_chart, line_chart, nice_max

Client = TestClient[Any, Any]


@dataclass
class History:
    agent: int
    t1: int
    t2: int
    t3: int
    note_id: int


def _clock(services: Services) -> VirtualClock:
    assert isinstance(services.clock, VirtualClock)
    return services.clock


async def build_history(services: Services) -> History:
    """Two tickets handled by Amal and rated 5 and 2 stars, one the bot kept, one note."""
    h = await Harness.create(services.db, _clock(services))
    agent = await h.agent("Amal")
    t1 = await h.ask("my order never came")
    await h.advance(10)
    assert (await h.service.accept_offer(h.last_offer(agent).offer_id, agent)).ok
    await h.advance(20)
    await h.service.agent_message(t1, agent, "On it.", origin="web")
    note_id = await h.service.add_note(t1, agent, "customer sounds upset")
    await h.advance(270)
    await h.service.resolve_ticket(t1, agent)
    assert await h.service.rate(t1, (await h.ticket(t1)).customer_id, 5)
    await h.service.end_wrap_up(agent)

    t2 = await h.ask("I want a refund", language="ar")
    await h.advance(25)
    assert (await h.service.accept_offer(h.last_offer(agent).offer_id, agent)).ok
    await h.advance(60)
    await h.service.agent_message(t2, agent, "On it.", origin="web")
    await h.advance(120)
    await h.service.resolve_ticket(t2, agent)
    assert await h.service.rate(t2, (await h.ticket(t2)).customer_id, 2)

    t3 = await h.customer("hello")
    return History(agent, t1, t2, t3, note_id)


async def ask_bot(services: Services, *questions: str) -> None:
    async with services.db.transaction() as session:
        for q in questions:
            await services.faq.answer(session, q, language="en", at=services.clock.now())


# ---------------------------------------------------------------------- access


REPORT_URLS = (
    "/api/v1/reports/kpis",
    "/api/v1/reports/series",
    "/api/v1/reports/agents",
    "/api/v1/tickets",
)
GAP_URLS = (
    "/api/v1/gaps/queries",
    "/api/v1/gaps/terms",
    "/api/v1/gaps/unanswered",
    "/api/v1/gaps/articles",
)


async def test_roles_and_401(client: Client, tokens: dict[str, str]) -> None:
    for url in (*REPORT_URLS, *GAP_URLS, "/api/v1/tickets/1"):
        response = await client.get(url)
        assert response.status == 401, url
        assert (await response.json())["status"] == 401
    for url in REPORT_URLS:
        forbidden = await client.get(url, headers=bearer(tokens["editor"]))
        assert forbidden.status == 403, url
        body = await forbidden.json()
        assert body["status"] == 403 and "supervisor" in body["error"]
        for role in ("supervisor", "admin"):
            assert (await client.get(url, headers=bearer(tokens[role]))).status == 200, url
    for url in GAP_URLS:
        for role in ("editor", "supervisor", "admin"):
            response = await client.get(url, headers=bearer(tokens[role]))
            assert response.status == 200, (url, role)
            assert isinstance((await response.json())["items"], list)
    # gap writes: editor or admin only (the group id need not exist for the role check)
    for action in ("article", "phrasing"):
        url = f"/api/v1/gaps/unanswered/abc/{action}"
        response = await client.post(url, json={}, headers=bearer(tokens["supervisor"]))
        assert response.status == 403
        assert (await client.post(url, json={})).status == 401
        missing = await client.post(url, json={}, headers=bearer(tokens["editor"]))
        assert missing.status == 404 and (await missing.json())["status"] == 404


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("period=week", "period"),
        ("period=custom", "start and end"),
        ("period=custom&start=2026-01-10&end=2026-01-01", "end must not be before start"),
        ("period=custom&start=yesterday&end=2026-01-01", "start"),
        ("priority=whenever", "priority"),
        ("agent_id=abc", "agent_id"),
        ("language=fr", "language"),
        ("format=xml", "format"),
        ("tz=Mars/Olympus", "tz"),
    ],
)
async def test_bad_parameters_are_400_with_a_clear_message(
    client: Client, tokens: dict[str, str], query: str, fragment: str
) -> None:
    response = await client.get(f"/api/v1/reports/kpis?{query}", headers=bearer(tokens["admin"]))
    assert response.status == 400
    body = await response.json()
    assert body["status"] == 400 and fragment in body["error"]


async def test_other_bad_parameters(client: Client, tokens: dict[str, str]) -> None:
    auth = bearer(tokens["admin"])
    for url in (
        "/api/v1/gaps/terms?lang=de",
        "/api/v1/gaps/queries?limit=0",
        "/api/v1/tickets?state=lost",
        "/api/v1/tickets?limit=1000",
        "/api/v1/tickets/abc",
    ):
        response = await client.get(url, headers=auth)
        assert response.status == 400, url
        assert (await response.json())["error"]
    missing = await client.get("/api/v1/tickets/999", headers=auth)
    assert missing.status == 404 and "999" in (await missing.json())["error"]
    bad_body = await client.post(
        "/api/v1/gaps/unanswered/x/article", data="[1]", headers=auth | {"Content-Type": "x"}
    )
    assert bad_body.status == 400


# ---------------------------------------------------------------------- figures


async def test_kpis_equal_the_metrics_functions_and_a_hand_count(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    history = await build_history(services)
    auth = bearer(tokens["supervisor"])
    response = await client.get("/api/v1/reports/kpis?period=today", headers=auth)
    assert response.status == 200
    figures = await response.json()
    now = services.clock.now()
    async with services.db.transaction() as session:
        expected = await metrics.kpis(session, period_named("today", now), metrics.Filters(), now)
        agents = await metrics.agent_table(
            session, period_named("today", now), metrics.Filters(), now
        )
    assert figures == json.loads(json.dumps(expected))
    # by hand: 3 conversations, 2 handed to Amal, rated 5 and 2 stars
    assert figures["opened"] == 3 and figures["handoffs"] == 2
    assert figures["resolved_agent"] == 2
    assert figures["csat"] == 0.5 and figures["rating_mean"] == 3.5
    assert figures["rating_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert figures["queue_wait_mean_s"] == 17.5  # accepted after 10 s and 25 s
    assert figures["missed_offers"] == 0

    table = await client.get("/api/v1/reports/agents?period=7d", headers=auth)
    assert (await table.json())["items"] == json.loads(json.dumps(agents))

    filtered = await client.get(
        f"/api/v1/reports/kpis?period=30d&language=ar&agent_id={history.agent}"
        "&priority=normal&channel=test",
        headers=auth,
    )
    body = await filtered.json()
    assert body["opened"] == 1 and body["csat"] == 0.0
    assert body["filters"] == {
        "agent_id": history.agent,
        "priority": "normal",
        "channel": "test",
        "language": "ar",
    }

    day = now.date().isoformat()
    custom = await client.get(
        f"/api/v1/reports/series?period=custom&start={day}&end={day}", headers=auth
    )
    items = (await custom.json())["items"]
    assert [d["date"] for d in items] == [day] and items[0]["opened"] == 3
    assert items[0]["opened_by_channel"] == {"test": 3}


async def test_csv_exports(client: Client, tokens: dict[str, str], services: Services) -> None:
    await build_history(services)
    await ask_bot(services, *LOYALTY)
    auth = bearer(tokens["admin"])
    for url, name in (
        ("/api/v1/reports/kpis?format=csv", "kpis"),
        ("/api/v1/reports/kpis.csv", "kpis"),
        ("/api/v1/reports/series.csv?period=7d", "series"),
        ("/api/v1/reports/agents?format=csv", "agents"),
        ("/api/v1/gaps/articles.csv", "gaps-articles"),
        ("/api/v1/gaps/queries.csv", "gaps-queries"),
        ("/api/v1/gaps/terms.csv", "gaps-terms"),
        ("/api/v1/gaps/unanswered.csv", "gaps-unanswered"),
        ("/api/v1/tickets.csv", "tickets"),
    ):
        response = await client.get(url, headers=auth)
        assert response.status == 200, url
        assert response.content_type == "text/csv" and response.charset == "utf-8"
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="sanad-{name}.csv"'
        )
        rows = list(csv.reader(io.StringIO(await response.text())))
        assert rows, url
    kpis_csv = await client.get("/api/v1/reports/kpis.csv?period=today", headers=auth)
    figures = {r["figure"]: r["value"] for r in csv.DictReader(io.StringIO(await kpis_csv.text()))}
    assert figures["csat"] == "0.5" and figures["opened"] == "3"
    assert figures["sla.first_response.met"] != "" and "series" not in figures
    agents_csv = await client.get("/api/v1/reports/agents.csv", headers=auth)
    agent_rows = list(csv.DictReader(io.StringIO(await agents_csv.text())))
    assert agent_rows[0]["name"] == "Amal" and agent_rows[0]["csat"] == "0.5"


# ---------------------------------------------------------------------- gaps


LOYALTY = (
    "loyalty points program",
    "loyalty points program",
    "the loyalty points program",
    "loyalty points programs",
)


async def test_gap_reads_equal_the_gaps_functions(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    await ask_bot(services, *LOYALTY, "where is my order")
    auth = bearer(tokens["editor"])
    now = services.clock.now()
    period = period_named("30d", now)
    async with services.db.transaction() as session:
        expected = {
            "queries": await gaps.top_queries(session, period, "en", 20),
            "terms": await gaps.top_terms(session, period, "en", 30),
            "unanswered": await gaps.unanswered_groups(session, period, "en", 30),
            "articles": await gaps.article_stats(session, period, "en"),
        }
    for kind, rows in expected.items():
        response = await client.get(f"/api/v1/gaps/{kind}?lang=en", headers=auth)
        assert (await response.json())["items"] == json.loads(json.dumps(rows)), kind
    groups = expected["unanswered"]
    assert groups[0]["count"] == 4 and groups[0]["representative"] == "loyalty points program"


async def test_an_unanswered_group_becomes_an_article_the_bot_answers_with(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    await ask_bot(services, *LOYALTY)
    assert services.faq.index.decide(LOYALTY[0], "en").outcome != Outcome.ANSWER
    auth = bearer(tokens["editor"])
    groups = (await (await client.get("/api/v1/gaps/unanswered", headers=auth)).json())["items"]
    group = groups[0]
    url = f"/api/v1/gaps/unanswered/{group['id']}/article"
    no_answer = await client.post(url, json={"id": "loyalty"}, headers=auth)
    assert no_answer.status == 400 and "answer" in (await no_answer.json())["error"]
    wrong_lang = await client.post(
        url, json={"id": "loyalty", "answer": "x", "lang": "ar"}, headers=auth
    )
    assert wrong_lang.status == 400
    created = await client.post(
        url,
        json={"id": "loyalty", "answer": "You earn 1 point per riyal.", "category": "account"},
        headers=auth,
    )
    assert created.status == 201, await created.text()
    article = (await created.json())["article"]
    assert article["question"] == "loyalty points program"
    assert set(article["phrasings"]) == {"the loyalty points program", "loyalty points programs"}
    decision = services.faq.index.decide("loyalty points program", "en", services.faq.thresholds)
    assert decision.outcome == Outcome.ANSWER
    assert decision.best is not None and int(decision.best.article_id) == article["article_id"]
    again = await client.post(url, json={"id": "loyalty", "answer": "x"}, headers=auth)
    assert again.status == 404  # the article covers the group's wordings: no gap any more
    async with services.db.transaction() as session:
        assert await get_article(session, "loyalty", "en") is not None
    events = await client.get("/api/v1/gaps/articles?lang=en", headers=auth)
    assert any(a["slug"] == "loyalty" for a in (await events.json())["items"])


async def test_an_unanswered_group_becomes_phrasings_of_an_existing_article(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    await ask_bot(services, *LOYALTY)
    auth = bearer(tokens["admin"])
    group = (await (await client.get("/api/v1/gaps/unanswered", headers=auth)).json())["items"][0]
    async with services.db.transaction() as session:
        target_id = (
            await session.execute(select(Article.id).where(Article.lang == "en").limit(1))
        ).scalar_one()
        arabic = (
            await session.execute(select(Article.id).where(Article.lang == "ar").limit(1))
        ).scalar_one()
    url = f"/api/v1/gaps/unanswered/{group['id']}/phrasing"
    mismatch = await client.post(url, json={"article_id": arabic}, headers=auth)
    assert mismatch.status == 400 and "in 'ar'" in (await mismatch.json())["error"]
    response = await client.post(url, json={"article_id": target_id}, headers=auth)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert set(body["added"]) == set(group["queries"])
    assert set(group["queries"]) <= set(body["article"]["phrasings"])
    decision = services.faq.index.decide("loyalty points program", "en", services.faq.thresholds)
    assert decision.best is not None and int(decision.best.article_id) == target_id
    async with services.db.transaction() as session:
        kinds = (await session.execute(select(Event.kind, Event.actor))).all()
    assert ("article_updated", "admin:admin test") in kinds


# ---------------------------------------------------------------------- tickets


async def test_ticket_list_filters_and_detail_with_notes_and_events(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    history = await build_history(services)
    auth = bearer(tokens["supervisor"])
    listing = await (await client.get("/api/v1/tickets", headers=auth)).json()
    assert listing["total"] == 3 and [t["id"] for t in listing["items"]] == [
        history.t3,
        history.t2,
        history.t1,
    ]
    page = await (await client.get("/api/v1/tickets?limit=1&offset=1", headers=auth)).json()
    assert [t["id"] for t in page["items"]] == [history.t2] and page["total"] == 3
    resolved = await (await client.get("/api/v1/tickets?state=resolved", headers=auth)).json()
    assert {t["id"] for t in resolved["items"]} == {history.t1, history.t2}
    arabic = await (
        await client.get(f"/api/v1/tickets?language=ar&agent_id={history.agent}", headers=auth)
    ).json()
    assert [t["id"] for t in arabic["items"]] == [history.t2]
    assert arabic["items"][0]["assignee_name"] == "Amal"

    detail = await (await client.get(f"/api/v1/tickets/{history.t1}", headers=auth)).json()
    assert detail["customer"]["name"] == "Customer 1"
    assert detail["messages"][0]["text"] == "my order never came"
    assert [n["text"] for n in detail["notes"]] == ["customer sounds upset"]
    assert detail["notes"][0]["agent_name"] == "Amal"
    kinds = [e["kind"] for e in detail["events"]]
    assert kinds[:2] == ["ticket_opened", "handoff_requested"]
    assert {"note_added", "ticket_resolved", "rating_given"} <= set(kinds)
    assert detail["rating"]["stars"] == 5 and detail["rating"]["agent_name"] == "Amal"


# ---------------------------------------------------------------------- pages


async def _login(client: Client, token: str) -> str:
    response = await client.post("/login", data={"token": token}, allow_redirects=False)
    assert response.status == 302
    page = await client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert match
    return match.group(1)


async def test_dashboard_page_shows_the_api_figures(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    await build_history(services)
    await _login(client, tokens["supervisor"])
    response = await client.get("/dashboard?period=today")
    assert response.status == 200
    html = await response.text()
    assert re.search(r'id="kpi-csat".*?50%', html, re.S)
    assert re.search(r'id="kpi-opened".*?<bdi dir="ltr">3</bdi>', html, re.S)
    for chart in ("chart-volume", "chart-ratings", "chart-trends", "chart-queue"):
        assert f'<svg id="{chart}"' in html
    assert 'id="agent-table"' in html and "Amal" in html
    assert 'href="/api/v1/reports/kpis.csv?period=today"' in html
    arabic = await (await client.get("/dashboard?period=today&lang=ar")).text()
    assert 'dir="rtl"' in arabic and "رضا العملاء" in arabic
    bad = await client.get("/dashboard?period=century")
    assert bad.status == 400 and "period" in await bad.text()


async def test_editor_is_sent_from_the_dashboard_to_the_faq(
    client: Client, tokens: dict[str, str]
) -> None:
    await _login(client, tokens["editor"])
    response = await client.get("/dashboard", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/faq"
    assert (await client.get("/tickets")).status == 403
    assert (await client.get("/gaps")).status == 200


async def test_gaps_page_form_creates_an_article(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    await ask_bot(services, *LOYALTY)
    csrf = await _login(client, tokens["editor"])
    html = await (await client.get("/gaps")).text()
    match = re.search(r'action="/gaps/unanswered/([0-9a-f]+)/article"', html)
    assert match and 'id="gaps-terms"' in html and 'id="gaps-articles"' in html
    url = f"/gaps/unanswered/{match.group(1)}/article"
    form = {"id": "loyalty", "answer": "1 point per riyal", "period": "30d", "lang": "en"}
    refused = await client.post(url, data=form, allow_redirects=False)
    assert refused.status == 403  # no CSRF token
    done = await client.post(url, data=form | {"csrf_token": csrf}, allow_redirects=False)
    assert done.status == 303 and "done=article" in done.headers["Location"]
    page = await (await client.get(done.headers["Location"])).text()
    assert 'id="gaps-done"' in page and "loyalty/en" in page
    decision = services.faq.index.decide("loyalty points program", "en", services.faq.thresholds)
    assert decision.outcome == Outcome.ANSWER
    again = await client.post(url, data=form | {"csrf_token": csrf})
    assert again.status == 404  # fixed: the group left the gap list
    assert 'id="gaps-form-error"' in await again.text()


async def test_ticket_pages(client: Client, tokens: dict[str, str], services: Services) -> None:
    history = await build_history(services)
    await _login(client, tokens["supervisor"])
    listing = await (await client.get("/tickets?state=resolved")).text()
    assert f'id="ticket-row-{history.t1}"' in listing
    assert f'id="ticket-row-{history.t3}"' not in listing
    detail = await (await client.get(f"/tickets/{history.t1}")).text()
    assert "customer sounds upset" in detail and "note_added" in detail
    assert 'id="ticket-rating"' in detail and "5/5" in detail
    assert (await client.get("/tickets/999")).status == 404


# ---------------------------------------------------------------------- charts and OpenAPI


def test_charts_are_accessible_left_to_right_svg() -> None:
    svg = bar_chart("c", "Volume <by day>", ["01-01", "01-02"], [("telegram", [2, 0])])
    assert svg.startswith('<svg id="c"') and "direction: ltr" in svg
    assert '<title id="c-title">Volume &lt;by day&gt;</title>' in svg
    assert 'aria-labelledby="c-title c-desc"' in svg
    assert svg.count('class="bar"') == 1 and 'data-value="2"' in svg
    empty = line_chart("l", "Trend", ["a", "b"], [("frt", [None, None])], empty="nothing")
    assert "nothing" in empty and "polyline" not in empty
    assert (nice_max(3, integer=True), nice_max(1, integer=True), nice_max(255)) == (4, 4, 400)
    assert nice_max(255, steps=DURATION_STEPS) == 480  # 2-minute gridlines
    line = line_chart("l", "Trend", ["a", "b", "c"], [("frt", [1.0, None, 3.0])])
    assert line.count('class="point"') == 2 and "polyline" not in line  # a gap, not a zero


async def test_openapi_lists_the_report_paths(client: Client, tokens: dict[str, str]) -> None:
    doc = await (await client.get("/api/v1/openapi.json", headers=bearer(tokens["admin"]))).json()
    for path in (
        *REPORT_URLS,
        *GAP_URLS,
        "/api/v1/reports/kpis.csv",
        "/api/v1/tickets/{ticket_id}",
        "/api/v1/gaps/unanswered/{group_id}/article",
        "/api/v1/gaps/unanswered/{group_id}/phrasing",
    ):
        assert path in doc["paths"], path
        for operation in doc["paths"][path].values():
            for code in ("401", "403"):
                ref = operation["responses"][code]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/Error"}
