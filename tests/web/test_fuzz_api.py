"""A bounded fuzz of the JSON API: hypothesis draws operations from /api/v1/openapi.json,
a role (or none), path ids (including ones beyond 64 bits), query values and bodies (any
JSON: deep, huge numbers, NaN, lone surrogates, NUL; or raw bytes), and checks that Sanad
answers every one of them without a 5xx, and is still ready afterwards.

``SANAD_FUZZ_EXAMPLES`` sets the number of requests (default 300, about half a minute on
two shared cores); the run is derandomized so ``make test`` is repeatable."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_harness import ROLES, FuzzServer

EXAMPLES = int(os.environ.get("SANAD_FUZZ_EXAMPLES", "300"))
PARAM_RE = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    running = FuzzServer(Path(tmp_path_factory.mktemp("fuzz-api")) / "fuzz.db").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def operations(server: FuzzServer) -> list[tuple[str, str, dict[str, Any]]]:
    status, text = server.run(server.request("GET", "/api/v1/openapi.json", "admin"))
    assert status == 200
    document = json.loads(text)
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method.upper(), path, operation))
    assert len(found) > 20
    return found


ANY_TEXT = st.text(st.characters(codec=None), max_size=40)  # lone surrogates and NUL too
URL_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
NUMBERS = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True))
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)
IDS = st.one_of(
    st.sampled_from(["1", "2", "0", "-1", "9" * 25, str(2**63), str(2**63 - 1)]),
    st.integers(-5, 2**70).map(str),
    URL_TEXT.filter(bool).map(lambda s: quote(s, safe="")),
)


def _body(operation: dict[str, Any]) -> st.SearchStrategy[Any]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    properties = schema.get("properties", {})
    shaped = st.fixed_dictionaries({}, optional={name: JSON for name in properties})
    deep = st.integers(30, 3000).map(lambda n: "[" * n + "]" * n)
    return st.one_of(
        shaped.map(lambda v: ("json", v)),
        JSON.map(lambda v: ("json", v)),
        st.binary(max_size=300).map(lambda v: ("bytes", v)),
        deep.map(lambda v: ("bytes", v.encode())),
    )


@st.composite
def calls(draw: st.DrawFn, operations: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    method, template, operation = draw(st.sampled_from(operations))
    path = PARAM_RE.sub(lambda _m: draw(IDS), template)
    query = {}
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and draw(st.booleans()):
            query[parameter["name"]] = draw(
                st.one_of(URL_TEXT, st.integers(-(2**70), 2**70).map(str))
            )
    call: dict[str, Any] = {
        "method": method,
        "path": path,
        "role": draw(st.sampled_from((*ROLES, None))),
        "params": query,
    }
    if method in ("POST", "PUT", "PATCH") and draw(st.integers(0, 9)) > 0:
        kind, value = draw(_body(operation))
        if kind == "json":
            call["data"] = json.dumps(value).encode()
        else:
            call["data"] = value
        call["headers"] = {"Content-Type": "application/json"}
    return call


def test_no_api_call_gets_a_server_error(
    server: FuzzServer, operations: list[tuple[str, str, dict[str, Any]]]
) -> None:
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=os.environ.get("SANAD_FUZZ_RANDOM") is None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(calls(operations))
    def one(call: dict[str, Any]) -> None:
        method, path, role = call.pop("method"), call.pop("path"), call.pop("role")
        status, text = server.run(server.request(method, path, role, **call))
        seen[status] = seen.get(status, 0) + 1
        assert status < 500, (method, path, role, call, text[:300])

    one()
    print("statuses:", sorted(seen.items()))
    assert any(400 <= s < 500 for s in seen) and any(s < 300 for s in seen), seen
    status, text = server.run(server.request("GET", "/readyz"))
    assert status == 200, text
