"""Routes described once: each API module lists its :class:`Operation` s (method, path, the
models of :mod:`web.shapes` it takes and answers), and the OpenAPI 3.1 document is generated
from them (:func:`paths_of`, :func:`document`). The same models validate requests
(:func:`parse_query`, :func:`parse_body`) and check answers (:func:`reply`).

A request that does not fit its model is a 400 in the house format (:mod:`web.problem`) whose
message names the field: ``'capacity' must be a whole number``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from pydantic_core import ErrorDetails

from web.inputs import parse_json
from web.problem import ParamError, Problem, Query
from web.shapes import Error

M = TypeVar("M", bound=BaseModel)
REF = "#/components/schemas/{model}"
ERROR_TEXTS = {
    400: "A parameter or body field is wrong; the message says which and why.",
    401: "No token, or an unknown or revoked one.",
    403: "The token's role cannot do this (or the CSRF token is missing).",
    404: "Not found.",
    409: "Conflict with what is stored.",
    413: "Too large.",
}
CSV = "text/csv"


@dataclass(frozen=True)
class Answer:
    """One documented answer: a JSON model, or other media (a file, text)."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    media: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    """One route as the OpenAPI document shows it."""

    method: str
    path: str
    summary: str
    tag: str
    answers: tuple[Answer, ...]
    errors: tuple[int, ...] = (401, 403)
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_media: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    description: str | None = None
    public: bool = False
    path_params: Mapping[str, str] = field(default_factory=dict)  # name: JSON type


# ---------------------------------------------------------------------- the document


def _models(operations: Iterable[Operation]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"Error": Error}
    for op in operations:
        for model in (op.query, op.body, *(a.model for a in op.answers)):
            if model is not None:
                found[model.__name__] = model
    return list(found.values())


def schemas_of(
    operations: Iterable[Operation],
) -> tuple[dict[type[BaseModel], Any], dict[str, Any]]:
    """Each model's reference and the component schemas they refer to."""
    models = _models(operations)
    refs, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    components: dict[str, Any] = top.get("$defs", {})
    return {m: refs[(m, "validation")] for m in models}, components


def _parameters(op: Operation, components: Mapping[str, Any]) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": kind}}
        for name, kind in op.path_params.items()
    ]
    if op.query is not None:
        schema = components[op.query.__name__]
        for name, prop in schema["properties"].items():
            prop = dict(prop)
            description = prop.pop("description", None)
            prop.pop("title", None)
            param: dict[str, Any] = {"name": name, "in": "query", "required": False}
            if description:
                param["description"] = description
            params.append(param | {"schema": prop})
    return params


def error_responses(*codes: int) -> dict[str, Any]:
    """Error responses for the OpenAPI document, all of them the ``Error`` schema."""
    error = json_content({"$ref": REF.format(model="Error")})
    return {str(c): {"description": ERROR_TEXTS[c], "content": error} for c in codes}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(
    op: Operation, refs: Mapping[type[BaseModel], Any], components: Mapping[str, Any]
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for answer in op.answers:
        content: dict[str, Any] = {}
        if answer.model is not None:
            content["application/json"] = {"schema": refs[answer.model]}
        for media in answer.media:
            content[media] = {"schema": {"type": "string"}}
        responses[str(answer.status)] = {"description": answer.description} | (
            {"content": content} if content else {}
        )
    for code, error in error_responses(*op.errors).items():
        responses.setdefault(code, error)
    spec: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "responses": responses}
    if op.description:
        spec["description"] = op.description
    parameters = _parameters(op, components)
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None or op.body_media:
        content = {"application/json": {"schema": refs[op.body]}} if op.body is not None else {}
        spec["requestBody"] = {"required": True, "content": content | dict(op.body_media)}
    if op.public:
        spec["security"] = []
    return spec


def paths_of(operations: Iterable[Operation]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(paths, component schemas)`` of the operations."""
    operations = list(operations)
    refs, components = schemas_of(operations)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, components)
    return paths, components


PATH_PARAM = re.compile(r"\{([^}:]+)\}")


def complete_path_parameters(paths: dict[str, Any]) -> dict[str, Any]:
    """Declare every ``{name}`` of a path on each of its operations (a string unless it is
    declared already), as OpenAPI requires: hand-written paths sometimes leave one out."""
    for path, item in paths.items():
        names = PATH_PARAM.findall(path)
        shared = {p["name"] for p in item.get("parameters", []) if p.get("in") == "path"}
        for method, operation in item.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            given = shared | {
                p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"
            }
            missing = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in names
                if name not in given
            ]
            if missing:
                operation["parameters"] = [*operation.get("parameters", []), *missing]
    return paths


def with_csv_route(op: Operation) -> Operation:
    """The ``.csv`` twin of a table route: the same query without ``format``, a CSV file."""
    return Operation(
        method=op.method,
        path=op.path + ".csv",
        summary=op.summary + " (CSV attachment)",
        tag=op.tag,
        answers=(Answer(200, "CSV attachment", media=(CSV,)),),
        errors=op.errors,
        query=op.query,
        description=op.description,
    )


# ---------------------------------------------------------------------- requests


def _field(loc: tuple[int | str, ...]) -> str:
    """``tags`` for ``("tags",)``; ``tags`` entry 2 for ``("tags", 1)``."""
    names = [str(part) for part in loc if isinstance(part, str)]
    return names[0] if names else "body"


def _choices(expected: str) -> str:
    return ", ".join(re.findall(r"'([^']*)'", expected)) or expected


def _message(error: ErrorDetails, model: type[BaseModel] | None) -> str:
    loc = error["loc"]
    name = _field(loc)
    kind = error["type"]
    ctx = error.get("ctx", {})
    given = error.get("input")
    index = next((p for p in loc[1:] if isinstance(p, int)), None)
    subject = f"'{name}'" if index is None else f"'{name}' entry {index + 1}"
    if kind == "missing":
        return f"{subject} is missing"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{subject} must be a whole number, got {given!r}"
    if kind in ("string_type",):
        return f"{subject} must be text"
    if kind in ("list_type",):
        return f"{subject} must be a list of texts"
    if kind in ("bool_type", "bool_parsing"):
        return f"{subject} must be true or false"
    if kind in ("literal_error", "enum"):
        return f"{subject} must be one of {_choices(str(ctx.get('expected', '')))}, got {given!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"{name} must be {_bounds(model, name, ctx)}, got {given!r}"
    if kind == "string_too_long":
        return f"{subject}: at most {ctx.get('max_length')} characters"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"{subject}: {error['msg']}"


def _bounds(model: type[BaseModel] | None, name: str, ctx: Mapping[str, Any]) -> str:
    """``from 1 to 50`` when the field has both bounds, else the one broken."""
    info = model.model_fields.get(name) if model is not None else None
    low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None) if info else None
    high = next((m.le for m in info.metadata if hasattr(m, "le")), None) if info else None
    if low is not None and high is not None:
        return f"from {low} to {high}"
    return f"at least {ctx['ge']}" if "ge" in ctx else f"at most {ctx['le']}"


def problem_of(exc: ValidationError, model: type[BaseModel] | None = None) -> ParamError:
    """A 400 whose message names every wrong field (unknown fields together)."""
    errors = exc.errors()
    unknown = sorted(_field(e["loc"]) for e in errors if e["type"] == "extra_forbidden")
    messages = [f"unknown field(s): {', '.join(unknown)}"] if unknown else []
    seen: set[str] = set()
    for error in errors:
        name = _field(error["loc"])
        if error["type"] == "extra_forbidden" or name in seen:
            continue  # one message per field (a union reports each of its types)
        seen.add(name)
        messages.append(_message(error, model))
    first = _field(errors[0]["loc"]) if errors else None
    return ParamError("; ".join(messages), **({"field": first} if first else {}))


def validate(model: type[M], data: Any) -> M:
    """``data`` as ``model``, or a 400 naming the fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise problem_of(exc, model) from None


def parse_query(model: type[M], query: Query) -> M:
    """The query parameters as ``model``; an empty value counts as absent."""
    return validate(model, {k: v for k, v in query.items() if str(v).strip()})


async def json_object(request: web.Request, *, empty: dict[str, Any] | None = None) -> Any:
    """The request's JSON object (bounded, checked: :func:`web.inputs.parse_json`); an empty
    body is ``empty`` when given, else a 400."""
    raw = await request.read() if request.can_read_body else b""
    if not raw.strip():
        if empty is not None:
            return empty
        raise Problem(400, "the request body is empty: send a JSON object")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise Problem(400, f"the request body must be a JSON object, got {_json_type(body)}")
    return body


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``."""
    return validate(model, await json_object(request))


# ---------------------------------------------------------------------- answers


def reply(model: type[BaseModel], data: Any, status: int = 200, **kwargs: Any) -> web.Response:
    """Send ``data`` as JSON once it fits ``model`` (the documented shape): the bytes are the
    read model's, the check keeps the document true."""
    model.model_validate(data)
    return web.json_response(data, status=status, **kwargs)
