"""The agent console's API (``/api/v1/agent``, routes in :mod:`web.console`): its request and
answer shapes as pydantic models, and the OpenAPI paths generated from them (docs/webchat.md
describes the same shapes in words). The handlers send their answers through
:func:`web.openapi.reply`, so an answer that strays from its model fails the console's tests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from web.openapi import Answer, Operation, paths_of
from web.shapes import AgentOut, Body, Instant, Out, Params

TAG = "agent console"
BASE = "/api/v1/agent"
_TICKET = {"ticket_id": "integer"}


class ConsoleAgent(AgentOut):
    """The agent as the admin API shows them, with the end of their wrap-up."""

    wrap_up_until: Instant | None


class ConsoleFile(Out):
    id: int
    name: str
    size: int
    content_type: str
    url: str


class ConsoleMessage(Out):
    """A transcript line as the console shows it (the customer protocol's message, without
    buttons and client id, with its ticket)."""

    id: int
    ticket_id: int
    sender: Literal["customer", "bot", "agent", "system"]
    text: str
    kind: Literal["text", "file", "choice"]
    created_at: Instant
    agent: str | None
    file: ConsoleFile | None


class Offer(Out):
    offer_id: str
    ticket_id: int
    priority: str
    category: str
    language: str
    customer_name: str
    waiting_s: float
    deadline: Instant
    seconds_left: float
    last_messages: list[str]


class ChatCustomer(Out):
    id: int
    name: str


class Chat(Out):
    ticket_id: int
    state: str
    channel: str
    priority: str
    tags: list[str] = Field(default_factory=list, description="the ticket's tags")
    category: str
    language: str
    customer: ChatCustomer
    last_message: ConsoleMessage | None
    assigned_at: Instant | None
    customer_online: bool | None = Field(
        description="a web visitor has the chat open now; null on Telegram"
    )


class Note(Out):
    id: int
    text: str
    agent: str
    created_at: Instant


class MeOut(Out):
    agent: ConsoleAgent
    offers: list[Offer]
    chats: list[Chat]


class AgentAnswer(Out):
    agent: ConsoleAgent


class OfferAnswer(Out):
    ok: bool
    ticket_id: int | None


class ChatsOut(Out):
    chats: list[Chat]


class ChatOut(Out):
    chat: Chat
    messages: list[ConsoleMessage]
    notes: list[Note]


class MessageAnswer(Out):
    message: ConsoleMessage


class NoteAnswer(Out):
    note: Note


class Filled(Out):
    shortcut: str
    text: str


class CannedItem(Out):
    shortcut: str
    lang: str
    text: str


class CannedList(Out):
    canned: list[CannedItem]


class TargetAgent(Out):
    id: int
    name: str
    status: str


class TargetsOut(Out):
    agents: list[TargetAgent]
    categories: list[str]


class Done(Out):
    ok: bool


class StatusIn(Body):
    status: Literal["available", "away", "offline", "ready"]


class TextIn(Body):
    text: str
    client_id: str | None = None


class NoteIn(Body):
    text: str


class CannedIn(Body):
    shortcut: str


class TargetsQuery(Params):
    ticket_id: int = Field(description="the chat to transfer")


class TransferIn(Body):
    agent_id: int | None = None
    category: str | None = None


def _op(
    method: str,
    path: str,
    summary: str,
    answer: type[Out],
    *errors: int,
    body: type[Body] | None = None,
    body_media: dict[str, dict[str, Any]] | None = None,
    query: type[Params] | None = None,
) -> Operation:
    params = dict(_TICKET) if "{ticket_id}" in path else {}
    if "{offer_id}" in path:
        params["offer_id"] = "string"
    if "{shortcut}" in path:
        params["shortcut"] = "string"
    return Operation(
        method,
        f"{BASE}{path}",
        summary,
        TAG,
        (Answer(200, summary, answer),),
        errors=(401, 403, *errors),
        body=body,
        body_media=body_media or {},
        query=query,
        path_params=params,
    )


OPERATIONS = (
    _op("GET", "/me", "The agent, their pending offers and open chats", MeOut),
    _op(
        "POST",
        "/status",
        "Set status: available, away, offline, or ready (end wrap-up)",
        AgentAnswer,
        400,
        body=StatusIn,
    ),
    _op("POST", "/offers/{offer_id}/accept", "Accept an offer", OfferAnswer, 409),
    _op("POST", "/offers/{offer_id}/decline", "Decline an offer", OfferAnswer, 409),
    _op("GET", "/chats", "The agent's open chats, every channel", ChatsOut),
    _op("GET", "/chats/{ticket_id}", "A chat: transcript and internal notes", ChatOut, 404),
    _op(
        "POST",
        "/chats/{ticket_id}/messages",
        "Write to the customer",
        MessageAnswer,
        400,
        404,
        409,
        body=TextIn,
    ),
    _op(
        "POST",
        "/chats/{ticket_id}/files",
        "Send the customer a file (multipart: file, client_id)",
        MessageAnswer,
        400,
        404,
        409,
        413,
        body_media={"multipart/form-data": {"schema": {"type": "object"}}},
    ),
    _op(
        "POST",
        "/chats/{ticket_id}/canned",
        "Send a canned reply",
        MessageAnswer,
        404,
        409,
        body=CannedIn,
    ),
    _op(
        "GET",
        "/chats/{ticket_id}/canned/{shortcut}",
        "A canned reply filled in for this chat (not sent)",
        Filled,
        404,
    ),
    _op(
        "POST",
        "/chats/{ticket_id}/notes",
        "Add an internal note",
        NoteAnswer,
        400,
        404,
        body=NoteIn,
    ),
    _op(
        "POST",
        "/chats/{ticket_id}/transfer",
        "Transfer to an agent or a category",
        Done,
        400,
        409,
        body=TransferIn,
    ),
    _op(
        "POST",
        "/chats/{ticket_id}/close",
        "Close the chat (the customer is asked to rate)",
        Done,
        409,
    ),
    _op("GET", "/canned", "The canned replies", CannedList),
    _op(
        "GET",
        "/transfer-targets",
        "Who can take the chat now: agents and categories (?ticket_id=N)",
        TargetsOut,
        400,
        404,
        query=TargetsQuery,
    ),
)

OPENAPI_PATHS, OPENAPI_SCHEMAS = paths_of(OPERATIONS)
