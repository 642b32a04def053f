"""Acting on a ticket from the web: its page, the console's chat tools and the API.

One route takes every action on a ticket (``POST /api/v1/tickets/{id}/actions``, the body names
the action): priority, tags, pending, hand back to the bot, close, transfer, note, take over.
Each is one call of the handoff core with the caller as actor; the core decides who may
(:mod:`handoff.permissions`: the agent holding the chat, or a supervisor; taking over is for
supervisors), writes the event and tells the people concerned. The web only translates: a
refusal becomes 403, a state that does not allow it 409.

Supervisors watch a live chat from its page: ``GET /api/v1/tickets/{id}/watch?after=N`` gives
the lines after line N (the page asks every two seconds; it reads the database, so it sees
every process's lines), and "Take over" makes the chat theirs.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from app.services import Services
from handoff import views
from handoff.model import HandoffError, NotAllowed
from handoff.priority import PRIORITIES
from web.auth import principal_of, require
from web.console import console_messages
from web.console_openapi import ConsoleMessage
from web.openapi import Answer, Operation, json_object, paths_of, reply, validate
from web.shapes import Body, Out, Params
from web.site import SERVICES

BASE = "/api/v1/tickets/{ticket_id}"
TAG = "Tickets"
Action = Literal[
    "priority", "tag", "untag", "pending", "hand_back", "close", "transfer", "note", "take_over"
]


class TicketActionIn(Body):
    """One action on a ticket; the fields it needs: ``priority`` for priority, ``tag`` for
    tag and untag, ``text`` for note, ``agent_id`` or ``category`` for transfer."""

    action: Action
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    tag: str | None = Field(default=None, max_length=64)
    text: str | None = Field(default=None, max_length=4000)
    agent_id: int | None = None
    category: str | None = Field(default=None, max_length=64)


class TicketActionOut(Out):
    ok: bool
    tags: list[str] | None = None
    note_id: int | None = None


class WatchQuery(Params):
    after: int = Field(default=0, ge=0, description="the last line id the page has")


class WatchOut(Out):
    ticket_id: int
    state: str
    assignee_id: int | None
    assignee_name: str
    customer_name: str
    messages: list[ConsoleMessage]


def _ticket_id(request: web.Request) -> int:
    raw = request.match_info["ticket_id"]
    if not raw.isdigit():
        raise web.HTTPNotFound(text=f"no ticket {raw}")
    return int(raw)


def _actor(request: web.Request) -> int | None:
    """The agent acting, or None for a supervisor's or admin's token with no agent (the
    program: vetted here by its role)."""
    principal = principal_of(request)
    if principal.agent_id is not None:
        return principal.agent_id
    require(request, "supervisor")
    return None


def _needs(field: object, what: str) -> None:
    if field is None or field == "":
        raise web.HTTPBadRequest(text=f"this action needs {what}")


async def act(
    services: Services, ticket_id: int, agent_id: int | None, body: TicketActionIn
) -> TicketActionOut:
    """Run ``body``'s action as ``agent_id`` (None: the program)."""
    handoff = services.handoff
    actor = f"agent:{agent_id}" if agent_id is not None else "supervisor"
    out = TicketActionOut(ok=True)
    match body.action:
        case "priority":
            _needs(body.priority, "a priority: " + ", ".join(PRIORITIES))
            assert body.priority is not None
            await handoff.set_priority(ticket_id, body.priority, actor)
        case "tag":
            _needs(body.tag and body.tag.strip(), "a tag")
            assert body.tag is not None
            out.tags = await handoff.add_tag(ticket_id, body.tag, actor)
        case "untag":
            _needs(body.tag, "a tag")
            assert body.tag is not None
            out.tags = await handoff.remove_tag(ticket_id, body.tag, actor)
        case "pending":
            if agent_id is None:
                raise web.HTTPBadRequest(text="pending is set by an agent's account")
            await handoff.set_pending(ticket_id, agent_id)
        case "hand_back":
            await handoff.hand_back_to_bot(ticket_id, agent_id)
        case "close":
            await handoff.resolve_ticket(ticket_id, agent_id)
        case "transfer":
            if body.agent_id is None and not body.category:
                raise web.HTTPBadRequest(text="transfer needs agent_id or category")
            await handoff.transfer_ticket(
                ticket_id, agent_id, to_agent=body.agent_id, to_category=body.category or None
            )
        case "note":
            _needs(body.text and body.text.strip(), "some text")
            assert body.text is not None
            out.note_id = await handoff.add_note(ticket_id, agent_id, body.text)
        case "take_over":
            if agent_id is None:
                raise web.HTTPBadRequest(text="taking over needs a supervisor's agent account")
            await handoff.take_over(ticket_id, agent_id)
    return out


async def ticket_action(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    ticket_id = _ticket_id(request)
    agent_id = _actor(request)
    body = validate(TicketActionIn, await json_object(request))
    try:
        out = await act(services, ticket_id, agent_id, body)
    except NotAllowed as exc:
        raise web.HTTPForbidden(text=str(exc)) from exc
    except HandoffError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc
    return reply(TicketActionOut, out.model_dump())


async def watch(request: web.Request) -> web.Response:
    require(request, "supervisor")
    services = request.app[SERVICES]
    ticket_id = _ticket_id(request)
    query = validate(WatchQuery, dict(request.query))
    found = await views.watched(services.db, ticket_id, after=query.after)
    if found is None:
        raise web.HTTPNotFound(text=f"no ticket {ticket_id}")
    return reply(
        WatchOut,
        {
            "ticket_id": found.ticket_id,
            "state": found.state,
            "assignee_id": found.assignee_id,
            "assignee_name": found.assignee_name,
            "customer_name": found.customer_name,
            "messages": await console_messages(services, list(found.messages)),
        },
    )


OPERATIONS = [
    Operation(
        "POST",
        f"{BASE}/actions",
        "Act on a ticket: priority, tag, untag, pending, hand_back, close, transfer, note, "
        "take_over (the agent holding it, or a supervisor; take_over: supervisors)",
        TAG,
        (Answer(200, "Done", TicketActionOut),),
        errors=(400, 401, 403, 404, 409),
        body=TicketActionIn,
        path_params={"ticket_id": "integer"},
    ),
    Operation(
        "GET",
        f"{BASE}/watch",
        "Watch a chat: its state and the lines after ?after=N (supervisors)",
        TAG,
        (Answer(200, "OK", WatchOut),),
        errors=(400, 401, 403, 404),
        query=WatchQuery,
        path_params={"ticket_id": "integer"},
    ),
]
OPENAPI_PATHS, OPENAPI_SCHEMAS = paths_of(OPERATIONS)


def register(app: web.Application) -> None:
    app.router.add_post(BASE + "/actions", ticket_action)
    app.router.add_get(BASE + "/watch", watch)
