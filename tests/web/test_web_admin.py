"""The admin API and the agents page: the roster (reaching routing at once), canned replies,
the Prometheus metrics and the OpenAPI paths."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from app.services import Services
from faq.service import sample_articles
from storage.models import Agent, CannedReply, Customer, Event, Offer, Ticket
from tests.conftest import bearer

Client = TestClient[Any, Any]
AGENTS = "/api/v1/agents"
CANNED = "/api/v1/canned"
RANA = {
    "name": "Rana",
    "telegram_id": 1001,
    "skills": ["Billing", "returns"],
    "languages": ["ar", "en"],
    "capacity": 2,
}


async def _error(response: Any, status: int) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["status"] == status
    message: str = body["error"]
    return message


async def _add(client: Client, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(AGENTS, json=body, headers=bearer(token))
    assert response.status in (200, 201), await response.text()
    agent: dict[str, Any] = await response.json()
    return agent


async def _assigned_ticket(services: Services, agent_id: int | None, state: str) -> int:
    now = services.clock.now()
    async with services.db.transaction() as session:
        customer = Customer(
            channel="telegram",
            external_id=uuid.uuid4().hex[:16],
            language="en",
            created_at=now,
            last_seen_at=now,
        )
        session.add(customer)
        await session.flush()
        ticket = Ticket(
            customer_id=customer.id,
            channel="telegram",
            language="en",
            state=state,
            assignee_id=agent_id,
            created_at=now,
        )
        session.add(ticket)
        await session.flush()
        return ticket.id


async def test_roles_on_the_admin_api(client: Client, tokens: dict[str, str]) -> None:
    for method, path in (
        ("GET", AGENTS),
        ("POST", AGENTS),
        ("PUT", f"{AGENTS}/1"),
        ("DELETE", f"{AGENTS}/1"),
        ("GET", CANNED),
        ("POST", CANNED),
        ("DELETE", f"{CANNED}/hi"),
    ):
        assert "Bearer" in await _error(await client.request(method, path, json={}), 401)
        response = await client.request(method, path, json={}, headers=bearer(tokens["editor"]))
        assert await _error(response, 403)
    for method, path in (
        ("POST", AGENTS),
        ("PUT", f"{AGENTS}/1"),
        ("DELETE", f"{AGENTS}/1"),
        ("POST", CANNED),
        ("DELETE", f"{CANNED}/hi"),
    ):
        response = await client.request(method, path, json={}, headers=bearer(tokens["supervisor"]))
        assert "admin" in await _error(response, 403)
    for role in ("supervisor", "admin"):
        for path in (AGENTS, CANNED):
            response = await client.get(path, headers=bearer(tokens[role]))
            assert response.status == 200 and (await response.json()) == {"items": []}


async def test_add_list_change_and_remove_agents(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    admin = tokens["admin"]
    response = await client.post(AGENTS, json=RANA, headers=bearer(admin))
    assert response.status == 201
    rana = await response.json()
    assert rana["telegram_id"] == "1001" and rana["status"] == "offline" and rana["load"] == 0
    assert rana["skills"] == ["billing", "returns"] and rana["capacity"] == 2
    # add_agent semantics: the same Telegram id again updates that agent.
    response = await client.post(
        AGENTS, json={**RANA, "name": "Rana K.", "capacity": 3}, headers=bearer(admin)
    )
    assert response.status == 200
    assert (await response.json())["id"] == rana["id"]
    omar = await _add(client, admin, {"name": "Omar", "role": "supervisor"})
    assert omar["telegram_id"] is None and omar["role"] == "supervisor"

    await _assigned_ticket(services, rana["id"], "assigned")
    await _assigned_ticket(services, rana["id"], "pending")
    await _assigned_ticket(services, rana["id"], "closed")
    response = await client.get(AGENTS, headers=bearer(tokens["supervisor"]))
    items = (await response.json())["items"]
    assert [(a["name"], a["load"], a["capacity"]) for a in items] == [
        ("Rana K.", 2, 3),
        ("Omar", 0, 1),
    ]
    assert set(items[0]) >= {
        "id",
        "name",
        "role",
        "telegram_id",
        "status",
        "capacity",
        "skills",
        "languages",
        "load",
    }

    # A change reaches routing at once.
    url = f"{AGENTS}/{rana['id']}"
    response = await client.put(
        url,
        json={"capacity": 5, "skills": ["delivery"], "status": "available"},
        headers=bearer(admin),
    )
    assert response.status == 200, await response.text()
    changed = await response.json()
    assert changed["capacity"] == 5 and changed["skills"] == ["delivery"]
    assert changed["name"] == "Rana K." and changed["status"] == "available"
    routed = services.handoff.acd.agents[rana["id"]]
    assert routed.capacity == 5 and routed.skills == frozenset({"delivery"})
    assert routed.active == 2

    response = await client.put(
        f"{AGENTS}/{omar['id']}", json={"telegram_id": "2002", "capacity": 4}, headers=bearer(admin)
    )
    assert (await response.json())["telegram_id"] == "2002"
    assert services.handoff.acd.agents[omar["id"]].capacity == 4
    response = await client.put(
        f"{AGENTS}/{omar['id']}",
        json={"telegram_id": None, "languages": ["AR"]},
        headers=bearer(admin),
    )
    body = await response.json()
    assert body["telegram_id"] is None and body["languages"] == ["ar"] and body["capacity"] == 4

    response = await client.delete(url, headers=bearer(admin))
    assert "set them offline first" in await _error(response, 409)
    await client.put(url, json={"status": "offline"}, headers=bearer(admin))
    response = await client.delete(url, headers=bearer(admin))
    assert response.status == 204
    assert rana["id"] not in services.handoff.acd.agents
    response = await client.delete(url, headers=bearer(admin))
    assert "no agent" in await _error(response, 404)
    async with services.db.transaction() as session:
        kinds = (
            (await session.execute(select(Event.kind).where(Event.kind.like("agent_%"))))
            .scalars()
            .all()
        )
    assert {"agent_added", "agent_updated", "agent_removed", "agent_status_changed"} <= set(kinds)


async def test_agent_validation(client: Client, tokens: dict[str, str]) -> None:
    headers = bearer(tokens["admin"])
    cases = [
        ({}, "'name' is missing"),
        ({"name": "  "}, "'name' must be a non-empty text"),
        ({"name": "A", "capacity": 0}, "capacity must be from 1 to 50"),
        ({"name": "A", "capacity": "2"}, "'capacity' must be a whole number"),
        ({"name": "A", "capacity": True}, "'capacity' must be a whole number"),
        ({"name": "A", "role": "boss"}, "'role' must be one of agent, supervisor"),
        ({"name": "A", "telegram_id": "abc"}, "a Telegram id is a number"),
        ({"name": "A", "telegram_id": [1]}, "'telegram_id' must be a number"),
        ({"name": "A", "skills": [1]}, "'skills' must be a list of texts"),
        ({"name": "A", "status": "asleep"}, "'status' must be one of"),
        ({"name": "A", "colour": "red"}, "unknown field(s): colour"),
        ({"name": "A", "id": 7}, "leave 'id' out"),
    ]
    for body, message in cases:
        response = await client.post(AGENTS, json=body, headers=headers)
        assert message in await _error(response, 400), body
    response = await client.post(AGENTS, data=b"{", headers=headers)
    assert "not valid JSON" in await _error(response, 400)
    first = await _add(client, tokens["admin"], {"name": "A", "telegram_id": "1"})
    second = await _add(client, tokens["admin"], {"name": "B", "telegram_id": "2"})
    response = await client.put(
        f"{AGENTS}/{second['id']}", json={"telegram_id": "1"}, headers=headers
    )
    assert "belongs to A already" in await _error(response, 409)
    response = await client.put(f"{AGENTS}/{first['id']}", json={"capacity": 99}, headers=headers)
    assert "capacity" in await _error(response, 400)
    response = await client.put(f"{AGENTS}/{first['id']}", json={"id": 12345}, headers=headers)
    assert "differs" in await _error(response, 400)
    for path in (f"{AGENTS}/999", f"{AGENTS}/x"):
        response = await client.put(path, json={"name": "Z"}, headers=headers)
        assert "no agent" in await _error(response, 404)


async def test_canned_replies(client: Client, tokens: dict[str, str], services: Services) -> None:
    headers = bearer(tokens["admin"])
    response = await client.post(
        CANNED, json={"shortcut": "Hello", "text": "Hi {name}, I am {agent}."}, headers=headers
    )
    assert response.status == 201
    assert (await response.json())["shortcut"] == "hello"
    response = await client.post(
        CANNED, json={"shortcut": "hello", "text": "أهلاً {name}", "lang": "ar"}, headers=headers
    )
    assert response.status == 201
    response = await client.post(
        CANNED, json={"shortcut": "hello", "text": "Hello {name}!"}, headers=headers
    )
    assert response.status == 200  # replaced
    listed = (await (await client.get(CANNED, headers=bearer(tokens["supervisor"]))).json())[
        "items"
    ]
    assert [(c["shortcut"], c["lang"], c["text"]) for c in listed] == [
        ("hello", "", "Hello {name}!"),
        ("hello", "ar", "أهلاً {name}"),
    ]
    for body, message in (
        ({"shortcut": "no spaces", "text": "x"}, "a shortcut uses only"),
        ({"shortcut": "ok", "text": " "}, "the text must have 1 to 4000"),
        ({"shortcut": "ok", "text": "x", "lang": "fr"}, "lang must be en, ar or empty"),
        ({"shortcut": 5, "text": "x"}, "'shortcut' must be text"),
        ({"shortcut": "ok", "text": "x", "extra": 1}, "unknown field(s): extra"),
    ):
        response = await client.post(CANNED, json=body, headers=headers)
        assert message in await _error(response, 400), body
    response = await client.delete(f"{CANNED}/hello", headers=headers)
    assert response.status == 204
    async with services.db.transaction() as session:
        assert (await session.execute(select(CannedReply))).scalars().all() == []
    response = await client.delete(f"{CANNED}/hello", headers=headers)
    assert "no canned reply" in await _error(response, 404)


def _sample(text: str, name: str, labels: str = "") -> float:
    series = f"{name}{{{labels}}}" if labels else name
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, f"{series} not in the metrics"
    return float(match.group(1))


async def test_metrics_exposition(client: Client, services: Services) -> None:
    now = services.clock.now()
    async with services.db.transaction() as session:
        for question in ("How long does delivery take?", "How long does delivery take?", "zzz"):
            await services.faq.answer(session, question, language="en", at=now)
        agents = [
            Agent(name=n, status=s, idle_since=now, created_at=now, updated_at=now)
            for n, s in (("a", "available"), ("b", "away"), ("c", "offline"), ("d", "offline"))
        ]
        session.add_all(agents)
        await session.flush()
        agent_id = agents[0].id
    ticket_ids = [
        await _assigned_ticket(services, None, "queued"),
        await _assigned_ticket(services, None, "queued"),
        await _assigned_ticket(services, agent_id, "offered"),
        await _assigned_ticket(services, agent_id, "assigned"),
    ]
    async with services.db.transaction() as session:
        for n, state in enumerate(("accepted", "expired", "expired", "pending")):
            session.add(
                Offer(
                    id=f"o{n}",
                    ticket_id=ticket_ids[n],
                    agent_id=agent_id,
                    state=state,
                    made_at=now,
                    deadline=now + timedelta(seconds=30),
                )
            )
    response = await client.get("/metrics")  # public by default
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = await response.text()
    assert "# HELP sanad_faq_articles " in text and "# TYPE sanad_faq_articles gauge" in text
    assert "# TYPE sanad_faq_queries_total counter" in text
    per_language = len(sample_articles()) // 2
    assert _sample(text, "sanad_faq_articles", 'lang="en"') == per_language
    assert _sample(text, "sanad_faq_articles", 'lang="ar"') == per_language
    assert _sample(text, "sanad_faq_index_articles") == 2 * per_language
    assert _sample(text, "sanad_faq_queries_total", 'outcome="answer"') == 2
    assert _sample(text, "sanad_faq_queries_total", 'outcome="no_match"') == 1
    assert _sample(text, "sanad_faq_queries_total", 'outcome="suggest"') == 0
    assert _sample(text, "sanad_tickets", 'state="queued"') == 2
    assert _sample(text, "sanad_tickets", 'state="assigned"') == 1
    assert _sample(text, "sanad_tickets", 'state="closed"') == 0
    assert _sample(text, "sanad_queue_length") == 3
    assert _sample(text, "sanad_agents", 'status="offline"') == 2
    assert _sample(text, "sanad_agents", 'status="available"') == 1
    assert _sample(text, "sanad_agents", 'status="wrap_up"') == 0
    assert _sample(text, "sanad_offers_total", 'state="expired"') == 2
    assert _sample(text, "sanad_offers_total", 'state="accepted"') == 1
    for line in text.splitlines():  # every line is a comment or "name{labels} number"
        assert line.startswith("# ") or re.match(r"^[a-z_]+(\{[^}]*\})? \d+(\.\d+)?$", line), line


async def test_agents_page(client: Client, tokens: dict[str, str], services: Services) -> None:
    response = await client.post("/login", data={"token": tokens["admin"]}, allow_redirects=False)
    assert response.status == 302
    page = await client.get("/agents")
    text = await page.text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert page.status == 200 and csrf and 'id="no-agents"' in text and 'id="agent-form"' in text
    form = {
        "csrf_token": csrf.group(1),
        "name": "Rana",
        "telegram_id": "1001",
        "role": "agent",
        "capacity": "2",
        "routing_priority": "0",
        "skills": "billing, returns",
        "languages": "ar",
    }
    bad = await client.post("/agents", data={**form, "capacity": "lots"})
    assert bad.status == 400 and "&#39;capacity&#39; must be a whole number" in await bad.text()
    added = await client.post("/agents", data=form, allow_redirects=False)
    assert added.status == 302
    async with services.db.transaction() as session:
        agent = (await session.execute(select(Agent))).scalar_one()
    assert agent.skills == ["billing", "returns"] and agent.capacity == 2
    listing = await (await client.get("/agents")).text()
    assert f'id="agent-{agent.id}"' in listing and "0 / 2" in listing
    edit = await client.get(f"/agents/{agent.id}")
    assert edit.status == 200 and 'value="billing, returns"' in await edit.text()
    changed = await client.post(
        f"/agents/{agent.id}",
        data={**form, "capacity": "4", "status": "away"},
        allow_redirects=False,
    )
    assert changed.status == 302
    assert services.handoff.acd.agents[agent.id].capacity == 4
    refused = await client.post(
        f"/agents/{agent.id}/delete", data={"csrf_token": form["csrf_token"]}
    )
    assert refused.status == 409 and 'id="agent-error"' in await refused.text()
    canned = await client.post(
        "/agents/canned",
        data={"csrf_token": form["csrf_token"], "shortcut": "hi", "text": "Hi {name}", "lang": ""},
    )
    assert canned.status == 200 and 'id="canned-table"' in await canned.text()
    removed = await client.post(
        "/agents/canned/hi/delete", data={"csrf_token": form["csrf_token"]}, allow_redirects=False
    )
    assert removed.status == 302

    client.session.cookie_jar.clear()
    await client.post("/login", data={"token": tokens["supervisor"]})
    seen = await client.get("/agents?lang=ar")
    seen_text = await seen.text()
    assert seen.status == 200 and 'dir="rtl"' in seen_text and "غير متواجد" in seen_text
    assert 'id="agent-form"' not in seen_text  # supervisors only look
    assert (await client.get(f"/agents/{agent.id}")).status == 403
    client.session.cookie_jar.clear()
    await client.post("/login", data={"token": tokens["editor"]})
    assert (await client.get("/agents")).status == 403


async def test_openapi_lists_the_admin_paths(client: Client, tokens: dict[str, str]) -> None:
    response = await client.get("/api/v1/openapi.json", headers=bearer(tokens["admin"]))
    paths = (await response.json())["paths"]
    assert set(paths[AGENTS]) == {"get", "post"}
    assert {"put", "delete"} <= set(paths[f"{AGENTS}/{{id}}"])
    assert set(paths[CANNED]) == {"get", "post"} and "delete" in paths[f"{CANNED}/{{shortcut}}"]
    assert "get" in paths["/metrics"]
    responses = paths[f"{AGENTS}/{{id}}"]["delete"]["responses"]
    for code in ("401", "403", "404", "409"):
        ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"
