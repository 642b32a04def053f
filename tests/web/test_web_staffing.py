"""The staffing advice on the web: ``GET /api/v1/reports/staffing`` (roles, parameters, CSV,
OpenAPI) and the dashboard's staffing section (chart and table, English and Arabic), on a
small history made by the real handoff service on the services' virtual clock; the figures
equal :func:`handoff.staffing_reads.staffing_report`'s."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from app.services import Services
from base.clock import VirtualClock
from base.periods import period_named
from handoff import staffing
from handoff.staffing_reads import staffing_report
from tests.conftest import bearer
from tests.handoff_harness import Harness

Client = TestClient[Any, Any]
URL = "/api/v1/reports/staffing"
MONDAY_9 = datetime(2026, 1, 5, 9, tzinfo=UTC)


async def build_history(services: Services) -> None:
    """Monday: agent Amal online 09:00-11:00; six customers ask between 09:05 and 09:55
    (one every ten minutes), each taken after 10 s and resolved 5 minutes later. Tuesday
    10:00 (the services' clock ends there): the report's "now"."""
    clock = services.clock
    assert isinstance(clock, VirtualClock)
    clock.set(MONDAY_9)
    h = await Harness.create(services.db, clock)
    agent = await h.agent("Amal")
    for i in range(6):
        clock.set(MONDAY_9 + timedelta(minutes=5 + 10 * i))
        ticket = await h.ask(f"help {i}")
        await h.advance(10)
        assert (await h.service.accept_offer(h.last_offer(agent).offer_id, agent)).ok
        await h.advance(300)
        await h.service.resolve_ticket(ticket, agent)
    clock.set(MONDAY_9 + timedelta(hours=2))
    await h.service.set_agent_status(agent, "offline")
    clock.set(MONDAY_9 + timedelta(days=1, hours=1))


async def _login(client: Client, token: str) -> None:
    response = await client.post("/login", data={"token": token}, allow_redirects=False)
    assert response.status == 302


async def test_roles_parameters_and_the_figures(
    client: Client, tokens: dict[str, str], services: Services, agent_token: dict[str, Any]
) -> None:
    await build_history(services)
    assert (await client.get(URL)).status == 401
    for token in (tokens["editor"], agent_token["token"]):
        forbidden = await client.get(URL, headers=bearer(token))
        assert forbidden.status == 403
    for role in ("supervisor", "admin"):
        assert (await client.get(URL, headers=bearer(tokens[role]))).status == 200

    response = await client.get(URL + "?period=7d&tz=UTC", headers=bearer(tokens["supervisor"]))
    body = await response.json()
    now = services.clock.now()
    expected = await staffing_report(
        services.db,
        period_named("7d", now, "UTC"),
        now,
        tz="UTC",
        weekday=None,
        target_share=0.8,
        target_seconds=60.0,
    )
    assert body == expected.as_dict()
    nine = body["hours"][9]
    assert nine["arrivals"] == 6
    # Seven days of history, the last one observed up to 10:00: every 09:00 hour was seen.
    assert nine["exposure_h"] == 7
    assert nine["arrivals_per_hour"] == 6 / 7
    assert nine["handle_used_s"] == 300
    slots = staffing.slots_needed(6 / 7 / 3600, 1 / 300, 0.8, 60).slots
    assert nine["agents_needed"] == slots == 1
    assert nine["online"] == 1 / 7  # one agent online in one of the seven 09:00 hours
    assert nine["gap"] == 1 / 7 - 1
    assert body["hours"][10]["exposure_h"] == 6  # today's 10:00 hour begins at "now"
    assert body["hours"][10]["online"] == 1 / 6
    assert body["hours"][11]["online"] == 0
    assert body["hours"][23]["exposure_h"] == 6  # today's 23:00 has not come yet
    assert body["model"] == "erlang_c" and body["patience_rate"] is None

    monday = await (
        await client.get(URL + "?weekday=0&tz=UTC", headers=bearer(tokens["admin"]))
    ).json()
    assert monday["weekday"] == 0
    assert monday["hours"][9]["arrivals_per_hour"] == 6
    assert monday["hours"][9]["online"] == 1
    tuesday = await (
        await client.get(URL + "?weekday=1&tz=UTC", headers=bearer(tokens["admin"]))
    ).json()
    assert tuesday["hours"][9]["arrivals"] == 0 and tuesday["hours"][9]["online"] == 0
    assert tuesday["hours"][12]["exposure_h"] == 0 and tuesday["hours"][12]["online"] is None

    for query, fragment in (
        ("weekday=7", "weekday"),
        ("weekday=monday", "weekday"),
        ("period=week", "period"),
        ("tz=Mars/Olympus", "tz"),
    ):
        bad = await client.get(f"{URL}?{query}", headers=bearer(tokens["admin"]))
        assert bad.status == 400, query
        assert fragment in (await bad.json())["error"], query


async def test_targets_come_from_the_settings(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    await build_history(services)
    services.settings = replace(
        services.settings, staffing_target_share=0.99, staffing_target_seconds=5.0
    )
    body = await (
        await client.get(URL + "?weekday=0&tz=UTC", headers=bearer(tokens["admin"]))
    ).json()
    assert (body["target_share"], body["target_seconds"]) == (0.99, 5.0)
    needed = staffing.slots_needed(6 / 3600, 1 / 300, 0.99, 5.0)
    assert body["hours"][9]["slots_needed"] == needed.slots > 1
    assert body["hours"][9]["service_level"] >= 0.99


async def test_csv_and_openapi(client: Client, tokens: dict[str, str], services: Services) -> None:
    await build_history(services)
    for url in (URL + ".csv?tz=UTC", URL + "?format=csv&tz=UTC"):
        response = await client.get(url, headers=bearer(tokens["supervisor"]))
        assert response.status == 200 and response.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await response.text())))
        assert [int(r["hour"]) for r in rows] == list(range(24))
        assert rows[9]["arrivals"] == "6" and rows[9]["agents_needed"] == "1"
    doc = await (await client.get("/api/v1/openapi.json", headers=bearer(tokens["admin"]))).json()
    for path in (URL, URL + ".csv"):
        operation = doc["paths"][path]["get"]
        names = {p["name"] for p in operation["parameters"]}
        assert {"period", "start", "end", "tz", "weekday"} <= names
        assert "400" in operation["responses"] and "403" in operation["responses"]
    ok = doc["paths"][URL]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/StaffingOut"}
    schema = doc["components"]["schemas"]["StaffingOut"]
    assert {"hours", "model", "patience_rate", "mean_capacity"} <= set(schema["properties"])


async def test_dashboard_shows_the_staffing_chart_and_table_in_both_languages(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    await build_history(services)
    await _login(client, tokens["supervisor"])
    html = await (await client.get("/dashboard?period=7d&tz=UTC&weekday=0")).text()
    assert 'id="staffing"' in html and "Staffing advice" in html
    assert '<svg id="chart-staffing"' in html
    assert "answer 80% of chats within 1m 00s" in html
    assert "Model: Erlang C" in html
    # Monday 09:00: 6 chats an hour of 5 minutes (0.5 Erlang): one agent would answer only
    # 55% within a minute, so two are needed; one was online.
    assert staffing.service_level(1, 6 / 3600, 1 / 300, 60) < 0.8
    row = re.search(r'<tr id="staffing-hour-9" class="short">.*?</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="(\w+)"><bdi dir="ltr">([^<]*)</bdi>', row.group(0))
    assert dict(cells) == {
        "arrivals": "6.0",
        "handle": "5m 00s",
        "needed": "2",
        "online": "1.0",
        "gap": "-1.0",
    }
    # Monday is selected; the form keeps the period; the CSV link carries the weekday.
    assert re.search(r'<option value="0" selected>Monday</option>', html)
    assert '<input type="hidden" name="period" value="7d">' in html
    assert 'href="/api/v1/reports/staffing.csv?period=7d&amp;tz=UTC&amp;weekday=0"' in html
    # All days: 09:00 needs one agent and had one 1/7 of the time.
    all_days = await (await client.get("/dashboard?period=7d&tz=UTC")).text()
    short = re.search(r'<tr id="staffing-hour-9" class="short">.*?</tr>', all_days, re.S)
    assert short is not None and "-0.9" in short.group(0)

    arabic = await (await client.get("/dashboard?period=7d&tz=UTC&weekday=0&lang=ar")).text()
    assert 'dir="rtl"' in arabic
    assert "توصيات التوظيف" in arabic and "الموظفون اللازمون" in arabic
    assert '<option value="0" selected>الاثنين</option>' in arabic
    assert '<svg id="chart-staffing"' in arabic
    bad = await client.get("/dashboard?weekday=9")
    assert bad.status == 400 and "weekday" in await bad.text()
