"""The customer profile over HTTP: the API (shapes, roles, tier, attributes, notes, merge and
undo), the OpenAPI document, and the pages in English and Arabic with their forms."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from accounts.tokens import create_token
from app.services import Services
from base.clock import VirtualClock
from tests.conftest import bearer
from tests.handoff.test_profiles import write
from tests.handoff_harness import Harness
from web.customer_shapes import MergedOut, ProfileOut

Client = TestClient[Any, Any]


async def served_customer(services: Services) -> tuple[Harness, int, int, int, str]:
    """A Telegram customer whose chat agent Amal took, and Amal's console token:
    (harness, customer, ticket, agent, token)."""
    assert isinstance(services.clock, VirtualClock)
    h = await Harness.create(services.db, services.clock)
    agent = await h.agent("Amal")
    customer, ticket = await write(h, "telegram", "4242", "my parcel is late")
    await h.service.request_human(ticket, reason="asked")
    assert (await h.service.accept_offer(h.last_offer(agent).offer_id, agent)).ok
    async with services.db.transaction() as session:
        _, raw = await create_token(
            session, name="amal", role="agent", at=services.clock.now(), agent_id=agent
        )
    return h, customer, ticket, agent, raw


async def test_profile_api_tier_attributes_notes_merge_and_undo(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    h, telegram, ticket, _, _ = await served_customer(services)
    web, web_ticket = await write(h, "web", "visitor-1", "hello from the site")
    sup = bearer(tokens["supervisor"])

    response = await client.get(f"/api/v1/customers/{web}", headers=sup)
    assert response.status == 200
    body = ProfileOut.model_validate(await response.json())
    assert body.tier == "normal" and [t.id for t in body.tickets] == [web_ticket]

    response = await client.put(f"/api/v1/customers/{web}/tier", json={"tier": "vip"}, headers=sup)
    assert response.status == 200 and (await response.json())["tier"] == "vip"
    response = await client.put(f"/api/v1/customers/{web}/tier", json={"tier": "gold"}, headers=sup)
    assert response.status == 400 and "tier" in (await response.json())["error"]

    response = await client.put(
        f"/api/v1/customers/{web}/attributes/email", json={"value": "Rana@Example.com"}, headers=sup
    )
    attributes = {a["key"]: a["value"] for a in (await response.json())["attributes"]}
    assert response.status == 200 and attributes == {"email": "rana@example.com"}
    response = await client.post(
        f"/api/v1/customers/{web}/notes", json={"text": "called twice about order 42"}, headers=sup
    )
    assert response.status == 201
    assert [n["text"] for n in (await response.json())["notes"]] == ["called twice about order 42"]

    found = await client.get("/api/v1/customers", params={"q": "rana@"}, headers=sup)
    assert [c["id"] for c in (await found.json())["items"]] == [web]

    response = await client.post(
        f"/api/v1/customers/{telegram}/merge", json={"other_id": web}, headers=sup
    )
    assert response.status == 200
    merged = MergedOut.model_validate(await response.json())
    assert {i.id for i in merged.profile.identities} == {telegram, web}
    assert {t.id for t in merged.profile.tickets} == {ticket, web_ticket}
    assert merged.profile.tier == "vip"
    again = await client.post(
        f"/api/v1/customers/{web}/merge", json={"other_id": telegram}, headers=sup
    )
    assert again.status == 400 and "one person already" in (await again.json())["error"]

    response = await client.post(f"/api/v1/customers/merges/{merged.event_id}/undo", headers=sup)
    assert response.status == 200
    apart = ProfileOut.model_validate(await response.json())
    assert [i.id for i in apart.identities] == [telegram] and apart.merges == []
    assert apart.tier == "normal"  # the merge had raised it; undone
    response = await client.get(f"/api/v1/customers/{web}", headers=sup)
    assert [t["id"] for t in (await response.json())["tickets"]] == [web_ticket]

    response = await client.delete(f"/api/v1/customers/{web}/attributes/email", headers=sup)
    assert response.status == 204
    response = await client.delete(f"/api/v1/customers/{web}/attributes/email", headers=sup)
    assert response.status == 404
    assert (await client.get("/api/v1/customers/999999", headers=sup)).status == 404


async def test_who_may_use_the_profile_api(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    h, customer, _, _, amal = await served_customer(services)
    stranger, _ = await write(h, "web", "someone-else")
    agent = bearer(amal)
    assert (await client.get(f"/api/v1/customers/{customer}")).status == 401
    editor = await client.get(f"/api/v1/customers/{customer}", headers=bearer(tokens["editor"]))
    assert editor.status == 403
    response = await client.get(f"/api/v1/customers/{customer}", headers=agent)
    assert response.status == 200 and (await response.json())["rights"]["manage"] is False
    response = await client.put(
        f"/api/v1/customers/{customer}/attributes/order", json={"value": "A-1"}, headers=agent
    )
    assert response.status == 200
    for method, path, body in (
        ("PUT", f"/api/v1/customers/{customer}/tier", {"tier": "vip"}),
        ("POST", f"/api/v1/customers/{customer}/merge", {"other_id": stranger}),
        ("GET", f"/api/v1/customers/{stranger}", None),
        ("GET", "/api/v1/customers", None),
    ):
        refused = await client.request(method, path, json=body, headers=agent)
        assert refused.status == 403, path


async def test_openapi_documents_the_profile_routes(client: Client, tokens: dict[str, str]) -> None:
    response = await client.get("/api/v1/openapi.json", headers=bearer(tokens["editor"]))
    document = await response.json()
    assert {"get"} <= set(document["paths"]["/api/v1/customers/{id}"])
    assert "post" in document["paths"]["/api/v1/customers/merges/{event_id}/undo"]
    assert "ProfileOut" in document["components"]["schemas"]
    assert "TierIn" in document["components"]["schemas"]


async def _login(client: Client, token: str) -> str:
    await client.post("/login", data={"token": token})
    page = await client.get("/customers")
    text = await page.text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, text[:500]
    return found.group(1)


async def test_profile_pages_in_english_and_arabic_with_their_forms(
    client: Client, services: Services, tokens: dict[str, str]
) -> None:
    h, telegram, ticket, _, _ = await served_customer(services)
    web, _ = await write(h, "web", "visitor-2")
    csrf = await _login(client, tokens["supervisor"])

    ticket_page = await (await client.get(f"/tickets/{ticket}")).text()
    assert f'href="/customers/{telegram}"' in ticket_page
    page = await (await client.get(f"/customers/{telegram}")).text()
    assert 'id="identities"' in page and f'href="/tickets/{ticket}"' in page
    assert 'id="tier-button"' in page and "Make VIP" in page

    done = await client.post(
        f"/customers/{telegram}/tier",
        data={"csrf_token": csrf, "tier": "vip"},
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"] == f"/customers/{telegram}?done=tier"
    page = await (await client.get(f"/customers/{telegram}?lang=ar")).text()
    assert 'dir="rtl"' in page and 'data-tier="vip"' in page and "تغيّرت الفئة" not in page
    assert "مميز" in page and "الهويات" in page

    done = await client.post(
        f"/customers/{telegram}/merge",
        data={"csrf_token": csrf, "other_id": str(web)},
        allow_redirects=False,
    )
    assert done.status == 303
    page = await (await client.get(f"/customers/{web}?done=merge&lang=en")).text()
    assert "Linked as one person." in page and page.count('class="identity"') == 2
    event = re.search(r'data-event="(\d+)"', page)
    assert event
    done = await client.post(
        f"/customers/merges/{event.group(1)}/undo", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"] == f"/customers/{telegram}?done=undo"
    page = await (await client.get(f"/customers/{telegram}")).text()
    assert page.count('class="identity"') == 1 and 'id="merges"' not in page

    bad = await client.post(
        f"/customers/{telegram}/merge", data={"csrf_token": csrf, "other_id": str(telegram)}
    )
    assert bad.status == 400 and 'id="profile-error"' in await bad.text()
    no_csrf = await client.post(f"/customers/{telegram}/tier", data={"tier": "normal"})
    assert no_csrf.status == 403
    listing = await (await client.get("/customers?q=visitor-2")).text()
    assert f'data-id="{web}"' in listing and f'data-id="{telegram}"' not in listing


async def test_an_agent_opens_the_profile_of_a_customer_they_serve_only(
    client: Client, services: Services
) -> None:
    h, customer, _, _, amal = await served_customer(services)
    stranger, _ = await write(h, "web", "not-theirs")
    await client.post("/login", data={"token": amal})
    page = await client.get(f"/customers/{customer}")
    text = await page.text()
    assert page.status == 200 and 'id="attribute-form"' in text and 'id="tier-form"' not in text
    assert (await client.get(f"/customers/{stranger}")).status == 404
    assert (await client.get("/customers")).status == 403
