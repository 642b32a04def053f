"""The admin API and page of the outgoing webhooks: admin only, the secret shown once and never
again (nor logged), a test delivery to a real receiver and its log line, changes and removal,
and the routes in the OpenAPI document."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any, get_args

import pytest
from aiohttp.test_utils import TestClient

from base.logs import install_redaction
from tests.conftest import bearer
from tests.webhooks.receiver import Receiver
from web.api_webhooks import WebhookType
from webhooks.outbox import TYPES

Client = TestClient[Any, Any]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = await Receiver().start()
    yield hook
    await hook.stop()


def test_the_api_offers_exactly_the_core_types() -> None:
    assert get_args(WebhookType) == TYPES


async def test_only_admins_reach_the_webhooks(client: Client, tokens: dict[str, str]) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "types": ["message"]}
    assert (await client.get("/api/v1/webhooks")).status == 401
    for role in ("editor", "supervisor"):
        auth = bearer(tokens[role])
        assert (await client.get("/api/v1/webhooks", headers=auth)).status == 403
        assert (await client.post("/api/v1/webhooks", json=body, headers=auth)).status == 403
        page = await client.get("/webhooks", headers=auth)
        assert page.status == 403
    assert (await client.get("/api/v1/webhooks", headers=bearer(tokens["admin"]))).status == 200


async def test_add_test_log_change_and_remove_an_endpoint(
    client: Client,
    tokens: dict[str, str],
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As `sanad run` does: every record redacted as it is made (base.logs); the database
    # driver's DEBUG lines carry statement parameters, the secret among them.
    factory = logging.getLogRecordFactory()
    install_redaction()
    caplog.set_level(logging.DEBUG)
    try:
        await _add_test_log_change_and_remove(client, tokens, receiver, caplog)
    finally:
        logging.setLogRecordFactory(factory)


async def _add_test_log_change_and_remove(
    client: Client, tokens: dict[str, str], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    auth = bearer(tokens["admin"])
    bad = await client.post(
        "/api/v1/webhooks", json={"url": "ftp://x", "types": ["message"]}, headers=auth
    )
    assert bad.status == 400 and "http" in (await bad.json())["error"]
    bad = await client.post(
        "/api/v1/webhooks", json={"url": receiver.url, "types": ["nope"]}, headers=auth
    )
    assert bad.status == 400 and "types" in (await bad.json())["error"]

    made = await client.post(
        "/api/v1/webhooks",
        json={"name": "CRM", "url": receiver.url, "types": ["ticket_assigned", "message"]},
        headers=auth,
    )
    assert made.status == 201
    created = await made.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    hook_id = created["id"]

    listed = await (await client.get("/api/v1/webhooks", headers=auth)).json()
    assert listed["types"] == list(TYPES)
    [item] = listed["items"]
    assert item["types"] == ["ticket_assigned", "message"] and "secret" not in item
    one = await (await client.get(f"/api/v1/webhooks/{hook_id}", headers=auth)).json()
    assert one == item

    tested = await client.post(f"/api/v1/webhooks/{hook_id}/test", headers=auth)
    result = await tested.json()
    assert tested.status == 200
    assert (result["type"], result["state"], result["last_status"]) == ("ping", "delivered", 200)
    [ping] = receiver.requests
    assert ping.signed_with(secret) and ping.json["type"] == "ping"
    assert ping.json["id"] == result["event_id"]

    receiver.statuses = [500]
    failed = await (await client.post(f"/api/v1/webhooks/{hook_id}/test", headers=auth)).json()
    assert (failed["state"], failed["last_status"], failed["last_error"]) == (
        "failed",
        500,
        "HTTP 500",
    )
    log = await (await client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=auth)).json()
    assert [d["state"] for d in log["items"]] == ["failed", "delivered"]  # newest first

    changed = await client.put(
        f"/api/v1/webhooks/{hook_id}", json={"active": False, "name": "CRM (paused)"}, headers=auth
    )
    view = await changed.json()
    assert changed.status == 200 and view["active"] is False and view["name"] == "CRM (paused)"
    assert view["url"] == receiver.url and view["types"] == ["ticket_assigned", "message"]
    new_secret = "a-new-secret-of-the-admins-choice"
    changed = await client.put(
        f"/api/v1/webhooks/{hook_id}", json={"secret": new_secret}, headers=auth
    )
    assert changed.status == 200
    await client.post(f"/api/v1/webhooks/{hook_id}/test", headers=auth)
    assert receiver.requests[-1].signed_with(new_secret)
    assert not receiver.requests[-1].signed_with(secret)

    assert (await client.delete(f"/api/v1/webhooks/{hook_id}", headers=auth)).status == 204
    assert (await client.get(f"/api/v1/webhooks/{hook_id}", headers=auth)).status == 404
    assert (await client.post(f"/api/v1/webhooks/{hook_id}/test", headers=auth)).status == 404

    assert secret not in caplog.text and new_secret not in caplog.text


async def test_the_routes_are_in_the_openapi_document(
    client: Client, tokens: dict[str, str]
) -> None:
    answer = await client.get("/api/v1/openapi.json", headers=bearer(tokens["editor"]))
    document = await answer.json()
    paths = document["paths"]
    assert set(paths["/api/v1/webhooks"]) == {"get", "post"}
    assert set(paths["/api/v1/webhooks/{id}"]) == {"get", "put", "delete"}
    assert "post" in paths["/api/v1/webhooks/{id}/test"]
    assert "get" in paths["/api/v1/webhooks/{id}/deliveries"]
    assert "secret" in document["components"]["schemas"]["WebhookCreated"]["properties"]
    assert "secret" not in document["components"]["schemas"]["WebhookOut"]["properties"]


async def test_the_page_adds_an_endpoint_shows_its_secret_once_and_sends_a_test(
    client: Client, tokens: dict[str, str], receiver: Receiver
) -> None:
    assert (await client.post("/login", data={"token": tokens["admin"]})).status == 200
    page = await client.get("/webhooks?lang=ar")
    text = await page.text()
    assert page.status == 200 and 'dir="rtl"' in text and "الويب هوك" in text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1), "name": "Slack", "url": receiver.url}
    refused = await client.post("/webhooks", data=form)  # no type chosen
    assert refused.status == 400 and 'id="hook-error"' in await refused.text()
    added = await client.post("/webhooks", data={**form, "types": "ticket_opened"})
    text = await added.text()
    secret = re.search(r'id="created-secret" dir="ltr">([^<]+)<', text)
    assert added.status == 201 and secret is not None
    hook_id = int(re.findall(r'href="/webhooks/(\d+)"', text)[0])
    again = await (await client.get("/webhooks")).text()
    assert secret.group(1) not in again  # shown once

    tested = await client.post(
        f"/webhooks/{hook_id}/test", data={"csrf_token": csrf.group(1)}, allow_redirects=False
    )
    assert tested.status == 302
    detail = await (await client.get(tested.headers["Location"].split("#")[0])).text()
    assert 'id="test-result" data-state="delivered"' in detail
    assert 'data-state="delivered" data-type="ping"' in detail
    assert receiver.requests[0].signed_with(secret.group(1))

    disabled = await client.post(
        f"/webhooks/{hook_id}",
        data={
            "csrf_token": csrf.group(1),
            "name": "Slack",
            "url": receiver.url,
            "types": "ticket_opened",
        },  # the "active" box left unticked
        allow_redirects=False,
    )
    assert disabled.status == 302
    listing = await (await client.get("/webhooks")).text()
    assert f'id="hook-{hook_id}" data-active="no"' in listing
    removed = await client.post(
        f"/webhooks/{hook_id}/delete", data={"csrf_token": csrf.group(1)}, allow_redirects=False
    )
    assert removed.status == 302 and 'id="no-hooks"' in await (await client.get("/webhooks")).text()
