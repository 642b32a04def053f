"""Ticket search over JSON: ``GET /api/v1/tickets/search?q=`` (:mod:`handoff.search`).

Who sees what is the ticket pages' rule (:func:`web.auth.own_tickets_only`): a supervisor or
admin every ticket, an agent the tickets they are or were assigned. Results are tickets, newest
hit first, one per ticket in a page, each with a snippet whose matching words are marked
(``snippet``: pieces of text, ``hit`` true for a match); ``next_before`` asks for the next
page. The shapes are defined here and appear in the OpenAPI document.
"""

from __future__ import annotations

from datetime import UTC
from typing import Literal

from aiohttp import web
from pydantic import Field

from handoff import search
from handoff.search import SearchHit, SearchPage
from web.auth import own_tickets_only
from web.openapi import Answer, Operation, parse_query, paths_of, reply
from web.shapes import Instant, Out, Params
from web.site import services_of

PATH = "/api/v1/tickets/search"


class SearchParams(Params):
    q: str = Field(
        min_length=1,
        max_length=search.MAX_QUERY,
        description="words to find (every word must match one transcript line, or the "
        "ticket's customer and tags); a ticket number (123 or #123) finds that ticket",
    )
    limit: int = Field(default=search.PAGE, ge=1, le=search.MAX_PAGE, description="page size")
    before: int | None = Field(
        default=None, ge=1, le=2**62, description="the next_before of the previous page"
    )


class FragmentOut(Out):
    text: str
    hit: bool


class SearchHitOut(Out):
    ticket_id: int
    customer_id: int
    customer_name: str
    state: str
    channel: str
    source: Literal["message", "ticket", "number"] = Field(
        description="where it matched: a transcript line, the customer or tags, the number"
    )
    sender: str | None = Field(description="who wrote the line (for a transcript line)")
    snippet: list[FragmentOut]
    at: Instant = Field(description="when the line was written (else the ticket's creation)")


class SearchOut(Out):
    query: str
    items: list[SearchHitOut]
    next_before: int | None = Field(description="pass as before for the next page; null: last")


def hit_json(hit: SearchHit) -> dict[str, object]:
    return {
        "ticket_id": hit.ticket_id,
        "customer_id": hit.customer_id,
        "customer_name": hit.customer_name,
        "state": hit.state,
        "channel": hit.channel,
        "source": hit.source,
        "sender": hit.sender,
        "snippet": [{"text": f.text, "hit": f.hit} for f in hit.snippet],
        "at": hit.at.astimezone(UTC).isoformat(),
    }


def page_json(page: SearchPage) -> dict[str, object]:
    return {
        "query": page.query,
        "items": [hit_json(h) for h in page.hits],
        "next_before": page.next_before,
    }


async def search_handler(request: web.Request) -> web.Response:
    own = own_tickets_only(request)
    params = parse_query(SearchParams, request.query)
    page = await search.search_tickets(
        services_of(request).db,
        params.q,
        involving=own,
        before=params.before,
        limit=params.limit,
    )
    return reply(SearchOut, page_json(page))


OPERATIONS = [
    Operation(
        "GET",
        PATH,
        "Search tickets: transcripts, customer names, usernames and ids, tags, ticket numbers "
        "(supervisor, admin: every ticket; agent: their own tickets)",
        "tickets",
        (Answer(200, "OK", SearchOut),),
        errors=(400, 401, 403),
        query=SearchParams,
        description="Arabic is matched as the FAQ matcher reads it (alef, ya, ta marbuta "
        "forms and diacritics folded), English without case and with light stemming; a word "
        "typed with a trailing * (three characters or more) also matches the words it begins.",
    ),
]
OPENAPI_PATHS, OPENAPI_SCHEMAS = paths_of(OPERATIONS)


def register(app: web.Application) -> None:
    """Add the search route (before ``/api/v1/tickets/{ticket_id}`` would take it)."""
    app.router.add_get(PATH, search_handler)
