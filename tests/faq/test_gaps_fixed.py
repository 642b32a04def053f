""" "Add as phrasings" fixes a gap: the group's questions leave the list of unanswered questions
(API and page), while a later, different unanswered question still shows."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from app.services import Services
from storage.models import Article
from tests.conftest import bearer
from tests.web.test_web_reports import LOYALTY, ask_bot


async def test_adding_phrasings_takes_the_group_off_the_gap_list(
    client: TestClient[Any, Any], tokens: dict[str, str], services: Services
) -> None:
    await ask_bot(services, *LOYALTY)
    auth = bearer(tokens["admin"])
    groups = (await (await client.get("/api/v1/gaps/unanswered", headers=auth)).json())["items"]
    group = groups[0]
    async with services.db.transaction() as session:
        target = (
            await session.execute(select(Article.id).where(Article.lang == "en").limit(1))
        ).scalar_one()
    page = await (await client.get("/gaps", headers=auth)).text()
    assert f'id="group-{group["id"]}"' in page

    services.clock.advance(60)  # type: ignore[attr-defined]
    added = await client.post(
        f"/api/v1/gaps/unanswered/{group['id']}/phrasing", json={"article_id": target}, headers=auth
    )
    assert added.status == 200, await added.text()

    after = (await (await client.get("/api/v1/gaps/unanswered", headers=auth)).json())["items"]
    assert group["id"] not in {g["id"] for g in after}
    left = {q for g in after for q in g["queries"]}
    assert not left & set(group["queries"])
    page = await (await client.get("/gaps", headers=auth)).text()
    assert f'id="group-{group["id"]}"' not in page

    # A new gap asked afterwards still shows.
    await ask_bot(services, "zebra xylophone quantum")
    later = (await (await client.get("/api/v1/gaps/unanswered", headers=auth)).json())["items"]
    assert any("zebra" in q for g in later for q in g["queries"])
