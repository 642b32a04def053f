"""Untrusted input, bounded and checked before anything else looks at it.

- **Bodies** are bounded while they are read, chunked or not: each route has a limit
  (:func:`body_limit`), applied by the middleware as the request's ``client_max_size``, which
  aiohttp enforces chunk by chunk in ``read()``, ``json()`` and ``post()``. Multipart uploads
  read by hand (:func:`read_upload`) bound the number of parts and each part's size too.
- **JSON** (:func:`parse_json`) is nested at most :data:`MAX_JSON_DEPTH` deep, and every
  string and number in it must fit the database: no NUL character, no lone surrogate (not
  Unicode; neither SQLite nor PostgreSQL can store it), whole numbers within 64 bits, no
  NaN or infinity. The error names the field (``body.phrasings[2]``).
- **Ids in paths** must fit a 64-bit integer (:func:`path_ids_ok`), else 404.

Every refusal is a :class:`~web.problem.Problem` (a 4xx with a JSON body), never a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from web.problem import Problem

KIB = 1024
MIB = 1024 * KIB
DEFAULT_BODY_BYTES = 256 * KIB  # JSON and form posts
IMPORT_BODY_BYTES = 10 * MIB  # FAQ import files
UPDATE_BODY_BYTES = 1 * MIB  # one Telegram update (the webhook)
MULTIPART_OVERHEAD = 64 * KIB  # form fields and part headers next to one file
MAX_PARTS = 8  # a chat upload has a file, a client_id and perhaps a csrf token
MAX_FIELD_BYTES = 1 * KIB  # one non-file field of an upload
MAX_JSON_DEPTH = 32
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def body_limit(path: str, *, upload_max: int, webhook_path: str) -> int:
    """The most bytes a request to ``path`` may carry."""
    if path == webhook_path:
        return UPDATE_BODY_BYTES
    if path in ("/api/v1/faq/import", "/faq/import"):
        return IMPORT_BODY_BYTES
    if path == "/chat/upload" or (path.startswith("/api/v1/agent/chats/") and "/files" in path):
        return upload_max + MULTIPART_OVERHEAD
    return DEFAULT_BODY_BYTES


def path_ids_ok(match_info: dict[str, str]) -> bool:
    """False when a numeric path segment cannot be an id (more than 63 bits)."""
    for value in match_info.values():
        if value.isdigit() and (len(value) > 19 or int(value) > INT64_MAX):
            return False
    return True


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored, or None: NUL characters and lone surrogates."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (a lone surrogate)"
    return None


def printable(value: str) -> str:
    """``value`` without NUL characters and with lone surrogates replaced (for a display
    name, where refusing would be unkind and nothing is lost)."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def check_text(value: str, field: str, max_length: int | None = None) -> str:
    """``value`` if it can be stored in a column of ``max_length`` characters, else a 400."""
    problem = text_problem(value)
    if problem is not None:
        raise Problem(400, f"{field}: {problem}", field=field)
    if max_length is not None and len(value) > max_length:
        raise Problem(
            400, f"{field}: at most {max_length} characters, got {len(value)}", field=field
        )
    return value


def check_json(value: Any, root: str = "body") -> None:
    """Walk a parsed JSON value (without recursion) and refuse what the database cannot
    keep, naming the field; and anything nested deeper than :data:`MAX_JSON_DEPTH`."""
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise Problem(400, f"{where}: nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, str):
            check_text(item, where)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise Problem(400, f"{where}: number out of range", field=where)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise Problem(400, f"{where}: not a finite number", field=where)
        elif isinstance(item, dict):
            for key, sub in item.items():
                check_text(key, f"{where} key")
                stack.append((sub, f"{where}.{key}", depth + 1))
        elif isinstance(item, list):
            for index, sub in enumerate(item):
                stack.append((sub, f"{where}[{index}]", depth + 1))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes | str, root: str = "body") -> Any:
    """Parse and check JSON text (see :func:`check_json`); a 400 that says what is wrong."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Problem(400, f"{root}: not UTF-8 text") from None
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise Problem(400, f"{root}: nested more than {MAX_JSON_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise Problem(
            400, f"{root}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise Problem(400, f"{root}: {exc}") from None
    check_json(value, root)
    return value


async def read_upload(
    request: web.Request, limit: int
) -> tuple[dict[str, str], tuple[str, str, bytes]]:
    """The form fields and the one file of a multipart upload: at most :data:`MAX_PARTS`
    parts, :data:`MAX_FIELD_BYTES` per field and ``limit`` bytes of file (413); a form
    without a file, or a broken one, is a 400."""
    if not request.content_type.startswith("multipart/"):
        raise Problem(400, "send the file as multipart/form-data with a file field")
    fields: dict[str, str] = {}
    upload: tuple[str, str, bytes] | None = None
    try:
        reader = await request.multipart()
        parts = 0
        while (part := await reader.next()) is not None:
            parts += 1
            if parts > MAX_PARTS:
                raise Problem(400, f"the form has more than {MAX_PARTS} parts")
            if not isinstance(part, BodyPartReader):
                raise Problem(400, "nested multipart forms are not accepted")
            if part.name == "file":
                data = await _read_part(part, limit, "file", 413)
                name = (part.filename or "file").replace("/", "_").replace("\\", "_")[:255]
                name = check_text(name, "file name")
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                upload = (name, check_text(content_type[:128], "file content type"), data)
            elif part.name:
                raw = await _read_part(part, MAX_FIELD_BYTES, part.name, 400)
                try:
                    fields[part.name] = check_text(raw.decode("utf-8"), part.name)
                except UnicodeDecodeError:
                    raise Problem(400, f"{part.name}: not UTF-8 text") from None
    except (ValueError, AssertionError, LookupError, HttpProcessingError) as exc:
        # aiohttp's multipart reader says a form is broken with these.
        raise Problem(400, f"the multipart form is malformed ({exc})") from None
    if upload is None or not upload[2]:
        raise Problem(400, "the form has no file, or the file is empty")
    return fields, upload


async def _read_part(part: BodyPartReader, limit: int, name: str, status: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * KIB):
        size += len(chunk)
        if size > limit:
            if status == 413:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
            raise Problem(status, f"{name}: at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
