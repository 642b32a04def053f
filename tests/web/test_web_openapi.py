"""The OpenAPI document is generated from the shapes the API validates with (web/shapes.py):
every API route is in it, every answer has a real schema, it is a valid OpenAPI 3.1 document,
and what the routes send fits what it says."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from pydantic import ValidationError

from app.services import Services
from faq.articles import LANGUAGES
from handoff.agents import ROLES
from handoff.priority import PRIORITIES
from tests.conftest import bearer
from tests.web.test_web_reports import build_history
from web import shapes
from web.openapi import problem_of

Client = TestClient[Any, Any]
# The agent console (web/console.py) still writes its document by hand: these answers are bare
# objects there. The list may only shrink; a new bare answer anywhere fails the test.
VERBS = ("accept", "decline")


async def _document(client: Client, token: str) -> dict[str, Any]:
    response = await client.get("/api/v1/openapi.json", headers=bearer(token))
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    return document


def _api_routes(app: web.Application) -> set[tuple[str, str]]:
    """Every API route of the app as ``(method, OpenAPI path)``."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if route.method == "HEAD" or not (path.startswith("/api/") or path == "/metrics"):
            continue
        if path == "/api/v1/openapi.json":
            continue
        if path.endswith("/{verb}"):  # {verb:accept|decline}: one route, two documented paths
            found |= {(route.method, path.replace("{verb}", v)) for v in VERBS}
        else:
            found.add((route.method, path))
    return found


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _bare(schema: dict[str, Any], document: dict[str, Any]) -> bool:
    """An object schema that says nothing about its fields."""
    schema = _resolve(schema, document)
    if schema.get("type") == "object" and not schema.get("properties"):
        return not schema.get("additionalProperties")
    for part in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        if _bare(part, document):
            return True
    return False


async def test_every_api_route_is_documented_with_a_real_schema(
    client: Client, tokens: dict[str, str]
) -> None:
    document = await _document(client, tokens["admin"])
    assert client.app is not None
    routes = _api_routes(client.app)
    assert len(routes) > 40
    bare = set()
    for method, path in sorted(routes):
        operation = document["paths"].get(path, {}).get(method.lower())
        assert operation is not None, f"{method} {path} is not in the OpenAPI document"
        answers = {c: r for c, r in operation["responses"].items() if c.startswith("2")}
        assert answers, f"{method} {path} documents no success answer"
        for code, answer in answers.items():
            content = answer.get("content", {})
            if code == "204":
                assert not content
                continue
            assert content, f"{method} {path} {code} has no content"
            for media, spec in content.items():
                assert "schema" in spec, (method, path, media)
                if media == "application/json" and _bare(spec["schema"], document):
                    bare.add((method, path))
        for code in ("401",):
            assert code in operation["responses"], (method, path)
    assert bare == set()  # the console's answers too, since they have models


async def test_the_document_is_valid_openapi_3_1(client: Client, tokens: dict[str, str]) -> None:
    document = await _document(client, tokens["editor"])
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any structural fault (a dangling $ref included)
    kpis = document["paths"]["/api/v1/reports/kpis"]["get"]
    schema = _resolve(kpis["responses"]["200"]["content"]["application/json"]["schema"], document)
    assert {"opened", "frt_p90_s", "sla", "series", "queue_now"} <= set(schema["properties"])
    ticket = document["paths"]["/api/v1/tickets/{ticket_id}"]["get"]
    detail = _resolve(ticket["responses"]["200"]["content"]["application/json"]["schema"], document)
    assert {"state", "customer", "messages", "notes", "events", "ratings"} <= set(
        detail["properties"]
    )
    params = {p["name"]: p for p in kpis["parameters"]}
    assert params["priority"]["schema"]["anyOf"][0]["enum"] == list(PRIORITIES)
    assert params["period"]["in"] == "query" and not params["period"]["required"]


async def test_answers_fit_their_documented_shapes(
    client: Client, tokens: dict[str, str], services: Services
) -> None:
    """The routes check what they send against the model (a mismatch would be a 500): with a
    real history every table and the ticket detail answer 200."""
    history = await build_history(services)
    auth = bearer(tokens["admin"])
    for url in (
        "/api/v1/reports/kpis?period=30d",
        "/api/v1/reports/series?period=30d",
        "/api/v1/reports/agents?period=30d",
        "/api/v1/reports/staffing?period=30d",
        "/api/v1/gaps/queries",
        "/api/v1/gaps/terms",
        "/api/v1/gaps/unanswered",
        "/api/v1/gaps/articles",
        "/api/v1/tickets?limit=200",
        f"/api/v1/tickets/{history.t1}",
        "/api/v1/agents",
        "/api/v1/canned",
        "/api/v1/faq/articles?limit=500",
    ):
        response = await client.get(url, headers=auth)
        assert response.status == 200, (url, await response.text())
    detail = await (await client.get(f"/api/v1/tickets/{history.t1}", headers=auth)).json()
    shapes.TicketDetail.model_validate(detail)
    assert detail["messages"] and detail["events"]


def test_the_shapes_offer_what_the_domain_allows() -> None:
    assert get_args(shapes.Priority) == PRIORITIES
    assert get_args(get_args(shapes.AgentChange.model_fields["role"].annotation)[0]) == ROLES
    assert get_args(shapes.Lang) == LANGUAGES


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "A", "capacity": "2"}, "'capacity' must be a whole number"),
        ({"name": "A", "capacity": 0}, "capacity must be from 1 to 50, got 0"),
        ({"name": "A", "role": "boss"}, "'role' must be one of agent, supervisor, got 'boss'"),
        ({"name": "A", "skills": [1]}, "'skills' must be a list of texts"),
        ({"name": "A", "a": 1, "b": 2}, "unknown field(s): a, b"),
        ({"capacity": 2}, "'name' is missing"),
    ],
)
def test_a_refused_body_names_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        shapes.AgentNew.model_validate(body)
    problem = problem_of(caught.value, shapes.AgentNew)
    assert problem.status == 400 and message in problem.message
    assert problem.extra["field"]
