"""The customer profile API's shapes (:mod:`web.api_customers`): the pydantic models that
validate its requests and answers and generate its part of the OpenAPI document. Kept apart
from :mod:`web.shapes`, which is near the size limit."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from web.shapes import Body, Instant, Out, Params, ShortText

Tier = Literal["normal", "vip"]


class CustomerSearch(Params):
    q: ShortText = Field(
        default="",
        description="part of a name, @username, channel id, customer number or attribute value",
    )


class FoundOut(Out):
    id: int
    person_id: int
    channel: str
    external_id: str
    name: str
    username: str | None
    tier: str
    last_seen_at: Instant


class CustomersOut(Out):
    items: list[FoundOut]


class IdentityOut(Out):
    id: int
    channel: str
    external_id: str
    name: str
    username: str | None
    language: str
    tier: str
    unreachable: bool
    created_at: Instant
    last_seen_at: Instant
    first: bool


class TicketLineOut(Out):
    id: int
    customer_id: int
    channel: str
    state: str
    priority: str
    category: str
    created_at: Instant
    resolved_at: Instant | None
    closed_at: Instant | None
    assignee_id: int | None
    assignee_name: str | None
    stars: int | None


class RatingLineOut(Out):
    ticket_id: int
    cycle: int
    stars: int
    comment: str | None
    agent_name: str | None
    created_at: Instant


class NoteLineOut(Out):
    id: int
    ticket_id: int | None
    author: str
    text: str
    created_at: Instant


class AttributeOut(Out):
    key: str
    value: str
    customer_id: int
    updated_at: Instant


class MergeLineOut(Out):
    event_id: int
    created_at: Instant
    actor: str
    merged: list[int]


class ProfileEventOut(Out):
    id: int
    kind: str
    customer_id: int | None
    actor: str
    data: dict[str, Any]
    created_at: Instant


class RightsOut(Out):
    edit: bool
    manage: bool


class ProfileOut(Out):
    """A person: every identity, their tickets across channels, ratings, notes (``ticket_id``
    null: a note on the person), attributes, tier, the merges that can be undone, history."""

    id: int
    person_id: int
    name: str
    tier: str
    identities: list[IdentityOut]
    tickets: list[TicketLineOut]
    ratings: list[RatingLineOut]
    notes: list[NoteLineOut]
    attributes: list[AttributeOut]
    merges: list[MergeLineOut]
    events: list[ProfileEventOut]
    rights: RightsOut


class TierIn(Body):
    tier: Tier


class AttributeIn(Body):
    value: Annotated[str, Field(max_length=512, description="empty: remove the attribute")]


class NoteIn(Body):
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class MergeIn(Body):
    other_id: int = Field(ge=1, le=2**62, description="the customer to link into this person")


class MergedOut(Out):
    event_id: int = Field(description="undo with POST /api/v1/customers/merges/{event_id}/undo")
    profile: ProfileOut
