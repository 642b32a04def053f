"""The agent console's API (``/api/v1/agent``, routes in :mod:`web.console`) in the OpenAPI
document; the shapes are in docs/webchat.md."""

from __future__ import annotations

from typing import Any


def _openapi() -> dict[str, Any]:
    from web.openapi import error_responses, json_content

    obj = {"type": "object"}
    ok = {"description": "Done", "content": json_content(obj)}
    ticket = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "integer"}}

    def op(summary: str, *codes: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "tags": ["agent console"],
            "summary": summary,
            "responses": {"200": ok, **error_responses(401, 403, *codes)},
        }
        if body is not None:
            spec["requestBody"] = {"required": True, "content": body}
        return spec

    text_body = json_content(
        {
            "type": "object",
            "properties": {"text": {"type": "string"}, "client_id": {"type": "string"}},
            "required": ["text"],
        }
    )
    base = "/api/v1/agent"
    return {
        f"{base}/me": {"get": op("The agent, their pending offers and open chats")},
        f"{base}/status": {
            "post": op(
                "Set status: available, away, offline, or ready (end wrap-up)",
                400,
                body=json_content({"type": "object", "properties": {"status": {"type": "string"}}}),
            )
        },
        f"{base}/offers/{{offer_id}}/accept": {"post": op("Accept an offer", 409)},
        f"{base}/offers/{{offer_id}}/decline": {"post": op("Decline an offer", 409)},
        f"{base}/chats": {"get": op("The agent's open chats, every channel")},
        f"{base}/chats/{{ticket_id}}": {
            "get": {**op("A chat: transcript and internal notes", 404), "parameters": [ticket]}
        },
        f"{base}/chats/{{ticket_id}}/messages": {
            "post": {
                **op("Write to the customer", 400, 404, 409, body=text_body),
                "parameters": [ticket],
            }
        },
        f"{base}/chats/{{ticket_id}}/files": {
            "post": {
                **op(
                    "Send the customer a file (multipart: file, client_id)",
                    400,
                    404,
                    409,
                    413,
                    body={"multipart/form-data": {"schema": obj}},
                ),
                "parameters": [ticket],
            }
        },
        f"{base}/chats/{{ticket_id}}/canned": {
            "post": {
                **op("Send a canned reply", 404, 409, body=json_content(obj)),
                "parameters": [ticket],
            }
        },
        f"{base}/chats/{{ticket_id}}/canned/{{shortcut}}": {
            "get": {
                **op("A canned reply filled in for this chat (not sent)", 404),
                "parameters": [
                    ticket,
                    {
                        "name": "shortcut",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
            }
        },
        f"{base}/chats/{{ticket_id}}/notes": {
            "post": {**op("Add an internal note", 400, 404, body=text_body), "parameters": [ticket]}
        },
        f"{base}/chats/{{ticket_id}}/transfer": {
            "post": {
                **op("Transfer to an agent or a category", 400, 409, body=json_content(obj)),
                "parameters": [ticket],
            }
        },
        f"{base}/chats/{{ticket_id}}/close": {
            "post": {
                **op("Close the chat (the customer is asked to rate)", 409),
                "parameters": [ticket],
            }
        },
        f"{base}/canned": {"get": op("The canned replies")},
        f"{base}/transfer-targets": {
            "get": {
                **op("Who can take the chat now: agents and categories", 400, 404),
                "parameters": [
                    {
                        "name": "ticket_id",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
            }
        },
    }


OPENAPI_PATHS = _openapi()
