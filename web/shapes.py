"""The web API's shapes, declared once: what each route takes (query parameters, JSON bodies)
and what it answers.

Request models validate input before a handler uses it (:func:`web.openapi.parse_query`,
:func:`web.openapi.parse_body`: a 400 naming the field). Response models are what a route sends:
each answer is checked against its model (:func:`web.openapi.reply`), and the OpenAPI document
at ``/api/v1/openapi.json`` is generated from the same models, so the document cannot drift from
the API. Instants are ISO 8601 text in UTC, as the read models write them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)

from faq.articles import LANGUAGES, STATUSES
from handoff.acd import AgentStatus
from handoff.agents import MAX_CAPACITY
from handoff.tickets import State

Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Lang = Literal["en", "ar"]
Priority = Literal["low", "normal", "high", "urgent"]  # handoff.priority.PRIORITIES (tested)
MAX_TEXT_PARAM = 64
MAX_LIMIT = 500
TICKET_PAGE = 50
MAX_TICKET_PAGE = 200
INT_LIMIT = 1_000_000  # capacity, routing priority: small numbers (Integer columns)
MAX_LIST = 50
MAX_WORD = 64


class Out(BaseModel):
    """A response: exactly these fields (an undeclared one fails the route's tests)."""

    model_config = ConfigDict(extra="forbid")


class Body(BaseModel):
    """A JSON request body: types as JSON has them (no "5" for 5), no unknown field."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Params(BaseModel):
    """Query parameters: text converted to numbers, unknown parameters ignored (``lang`` is
    the interface language, for instance)."""

    model_config = ConfigDict(extra="ignore")


# ---------------------------------------------------------------------- validators


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _short_text(value: str, info: ValidationInfo) -> str:
    if len(value) > MAX_TEXT_PARAM:
        raise ValueError(f"{info.field_name}: at most {MAX_TEXT_PARAM} characters")
    return value


def _known_zone(value: str | None) -> str | None:
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"tz: unknown time zone {value!r}") from None
    return value


def _not_blank(value: str, info: ValidationInfo) -> str:
    if not value.strip():
        raise ValueError(f"'{info.field_name}' is empty")
    return value


Choice = BeforeValidator(_lower)
ShortText = Annotated[str, BeforeValidator(_strip), AfterValidator(_short_text)]
Word = Annotated[str, Choice, AfterValidator(_short_text)]


# ---------------------------------------------------------------------- common


class Error(Out):
    """Every refusal: the message says what is wrong (and which field)."""

    model_config = ConfigDict(extra="allow")

    error: str
    status: int
    field: str | None = None


class ImportLine(Out):
    line: int
    reason: str


class ImportRefused(Error):
    """A refused import: nothing was written; every bad row with its line."""

    errors: list[ImportLine]


# ---------------------------------------------------------------------- reports: parameters


PERIODS = ("today", "7d", "30d", "year", "custom")


class PeriodParams(Params):
    period: Annotated[Literal["today", "7d", "30d", "year", "custom"] | None, Choice] = Field(
        default=None, description="today, 7d, 30d, year or custom (default 7d; gaps: 30d)"
    )
    start: str | None = Field(
        default=None, description="custom period: first day YYYY-MM-DD (or an ISO 8601 instant)"
    )
    end: str | None = Field(
        default=None,
        description="custom period: last day YYYY-MM-DD, included (or an ISO 8601 instant)",
    )
    tz: Annotated[str | None, AfterValidator(_known_zone)] = Field(
        default=None, description="IANA time zone of the days (default: the business-hours zone)"
    )


class FormatParams(Params):
    format: Annotated[Literal["json", "csv"], Choice] = Field(
        default="json", description="json (default) or csv"
    )


class FilterParams(Params):
    category: Word | None = Field(default=None, description="ticket category")
    agent_id: int | None = Field(
        default=None, ge=1, le=2**62, description="tickets the agent was assigned to"
    )
    priority: Annotated[Priority | None, Choice] = Field(
        default=None, description="ticket priority"
    )
    channel: ShortText | None = Field(default=None, description="channel, e.g. telegram")
    language: Annotated[Lang | None, Choice] = Field(
        default=None, description="conversation language"
    )


class ReportFilters(PeriodParams, FilterParams):
    """A report: the tickets created in the period that pass the filters."""


class ReportParams(ReportFilters, FormatParams):
    """A report, as JSON or CSV."""


class GapFilters(PeriodParams):
    lang: Annotated[Lang | None, Choice] = Field(
        default=None, description="only questions or articles in this language"
    )
    limit: int | None = Field(
        default=None, ge=1, le=MAX_LIMIT, description="at most this many rows"
    )


class GapParams(GapFilters, FormatParams):
    """A knowledge-gaps table, as JSON or CSV."""


class TicketFilters(FilterParams, PeriodParams):
    """Which tickets (the period filters their creation, when given)."""

    state: Annotated[State | None, Choice] = Field(default=None, description="ticket state")
    limit: int = Field(default=TICKET_PAGE, ge=1, le=MAX_TICKET_PAGE, description="page size")
    offset: int = Field(default=0, ge=0, le=2**62, description="rows to skip")


class TicketParams(TicketFilters, FormatParams):
    """The ticket list, as JSON or CSV."""


# ---------------------------------------------------------------------- reports: answers


class PeriodOut(Out):
    start: Instant
    end: Instant


class FiltersOut(Out):
    """The filters applied (only those given)."""

    category: str | None = None
    agent_id: int | None = None
    priority: str | None = None
    channel: str | None = None
    language: str | None = None


class SlaFigures(Out):
    met: int
    breached: int
    met_rate: float | None


class SlaOut(Out):
    first_response: SlaFigures
    resolution: SlaFigures


class SeriesDay(Out):
    """One local day of the cohort."""

    date: str = Field(json_schema_extra={"format": "date"})
    opened: int
    resolved_bot: int
    resolved_agent: int
    handoffs: int
    opened_by_channel: dict[str, int]
    frt_mean_s: float | None
    resolution_mean_s: float | None


class QueueNow(Out):
    """Tickets waiting for an agent now (queued or offered), whenever created."""

    total: int
    by_priority: dict[str, int]
    held_for_hours: int
    oldest_wait_s: float | None


class FollowUpCounts(Out):
    """Follow-ups after resolve sent about the cohort, and how customers answered them."""

    sent: int
    confirmed: int
    reopened: int
    unanswered: int
    confirmed_rate: float | None  # confirmed-resolved rate: confirmed / sent
    reopen_rate: float | None  # reopen-after-follow-up rate: reopened / sent


class FollowUps(FollowUpCounts):
    by_agent: dict[str, FollowUpCounts]  # by the id of the agent who resolved the cycle
    by_category: dict[str, FollowUpCounts]


class Kpis(Out):
    """The support KPIs of the tickets created in the period (``handoff.metrics.kpis``;
    docs/metrics.md defines each). Durations in seconds, rates in [0, 1]; null when there is
    no data."""

    period: PeriodOut
    filters: FiltersOut
    now: Instant
    opened: int
    resolved: int
    resolved_bot: int
    resolved_agent: int
    deflected: int
    open_now: int
    open_now_by_state: dict[str, int]
    handoffs: int
    bot_deflection_rate: float | None
    handoff_rate: float | None
    queue_wait_mean_s: float | None
    queue_wait_p90_s: float | None
    queue_wait_n: int
    frt_mean_s: float | None
    frt_p90_s: float | None
    frt_n: int
    reaction_mean_s: float | None
    reaction_p90_s: float | None
    reaction_n: int
    resolution_mean_s: float | None
    resolution_p90_s: float | None
    resolution_n: int
    fcr_count: int
    fcr_rate: float | None
    missed_offers: int
    missed_offers_by_agent: dict[str, int]
    abandoned: int
    abandoned_total: int
    abandon_rate: float | None
    ratings_count: int
    csat: float | None
    rating_mean: float | None
    rating_distribution: dict[str, int]
    surveys_sent: int
    rating_response_rate: float | None
    sla: SlaOut
    followup: FollowUps
    series: list[SeriesDay]
    queue_now: QueueNow


class SeriesOut(Out):
    items: list[SeriesDay]


class AgentRow(Out):
    """One agent over the period's cohort, and their status and load now."""

    agent_id: int
    name: str
    status: str
    chats_handled: int
    resolved: int
    frt_mean_s: float | None
    resolution_mean_s: float | None
    fcr_rate: float | None
    csat: float | None
    rating_mean: float | None
    ratings_count: int
    missed_offers: int
    followup_confirmed_rate: float | None
    followup_reopen_rate: float | None
    load: int
    capacity: int
    load_ratio: float | None


class AgentRowsOut(Out):
    items: list[AgentRow]


# ---------------------------------------------------------------------- tickets


class TicketFields(Out):
    """A ticket's stored fields."""

    id: int
    customer_id: int
    channel: str
    state: State
    category: str
    language: str
    priority: str
    tags: list[str]
    resolution: str | None
    assignee_id: int | None
    rank_at: float | None
    failed_agents: list[int]
    target_agent_id: int | None
    waiting_for_hours: bool
    reopened_count: int
    notified_position: int | None
    notified_at: Instant | None
    sla_first_response_due_at: Instant | None
    sla_resolution_due_at: Instant | None
    sla_flags: list[str]
    created_at: Instant
    handoff_requested_at: Instant | None
    first_queued_at: Instant | None
    first_offered_at: Instant | None
    assigned_at: Instant | None
    first_agent_reply_at: Instant | None
    resolved_at: Instant | None
    closed_at: Instant | None
    # The follow-up after resolve: scheduled | sent | confirmed | reopened | skipped.
    followup_due_at: Instant | None
    followup_state: str | None
    followup_cycle: int | None
    followup_sent_at: Instant | None
    followup_agent_id: int | None
    assignee_name: str | None


class TicketRow(TicketFields):
    customer_name: str


class TicketsOut(Out):
    items: list[TicketRow]
    total: int
    limit: int
    offset: int


class CustomerOut(Out):
    id: int
    channel: str
    name: str
    username: str | None
    language: str
    tier: str
    created_at: Instant


class MessageOut(Out):
    """A transcript line as people read it (``text`` lists the options a bot line offered;
    a button press reads as a choice)."""

    id: int
    ticket_id: int
    sender: str
    kind: str
    text: str
    channel_message_id: str | None
    meta: dict[str, Any]
    created_at: Instant
    options: list[str]


class NoteOut(Out):
    id: int
    ticket_id: int
    agent_id: int | None
    text: str
    created_at: Instant
    agent_name: str | None


class EventOut(Out):
    id: int
    kind: str
    ticket_id: int | None
    customer_id: int | None
    actor: str
    data: dict[str, Any]
    created_at: Instant


class RatingOut(Out):
    id: int
    ticket_id: int
    cycle: int
    agent_id: int | None
    stars: int
    comment: str | None
    created_at: Instant
    commented_at: Instant | None
    agent_name: str | None


class TicketDetail(TicketFields):
    """One ticket with its customer, transcript, internal notes, events and ratings
    (``rating``: the last one)."""

    customer: CustomerOut | None
    messages: list[MessageOut]
    notes: list[NoteOut]
    events: list[EventOut]
    ratings: list[RatingOut]
    rating: RatingOut | None


# ---------------------------------------------------------------------- agents and canned


def _telegram_id(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value == "":
        return None
    if value is not None and not isinstance(value, str):
        raise ValueError("'telegram_id' must be a number or text of digits")
    if value is not None and (len(value) > 32 or not value.strip().lstrip("-").isdigit()):
        raise ValueError(f"a Telegram id is a number, got {value!r}")
    return value.strip() if value is not None else None


def _words(value: object, info: ValidationInfo) -> object:
    """A list of short texts, lower case; a form field sends them comma-separated."""
    key = info.field_name
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{key}' must be a list of texts")
    if len(value) > MAX_LIST or any(len(v) > MAX_WORD for v in value):
        raise ValueError(f"'{key}': at most {MAX_LIST} items of {MAX_WORD} characters")
    return [v.strip().lower() for v in value if v.strip()]


def _name(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("'name' must be a non-empty text")
    return value.strip() if value is not None else None


Words = Annotated[list[str] | None, BeforeValidator(_words)]


class AgentChange(Body):
    """An agent as an admin writes it; in a change, a field left out keeps its value. The
    read-only fields of an agent (``id``, ``load``, times) may be sent back and are ignored."""

    name: Annotated[str | None, AfterValidator(_name)] = Field(default=None, max_length=128)
    telegram_id: Annotated[str | None, BeforeValidator(_telegram_id)] = Field(
        default=None, json_schema_extra={"type": ["string", "integer", "null"]}
    )
    role: Literal["agent", "supervisor"] | None = None
    skills: Words = None
    languages: Words = None
    capacity: int | None = Field(default=None, ge=1, le=MAX_CAPACITY)
    routing_priority: int | None = Field(default=None, ge=-INT_LIMIT, le=INT_LIMIT)
    status: Literal["offline", "available", "away"] | None = None
    id: int | None = Field(default=None, description="read-only: must be the one in the path")
    load: int | None = Field(default=None, description="read-only, ignored")
    created_at: str | None = Field(default=None, description="read-only, ignored")
    updated_at: str | None = Field(default=None, description="read-only, ignored")


class AgentNew(AgentChange):
    """A new agent, or a change of the one with this ``telegram_id``."""

    name: Annotated[str, AfterValidator(_name)] = Field(max_length=128)


class AgentOut(Out):
    id: int
    name: str
    role: str
    telegram_id: str | None
    status: AgentStatus
    capacity: int
    load: int = Field(description="open chats (assigned or pending)")
    skills: list[str]
    languages: list[str]
    routing_priority: int
    created_at: Instant
    updated_at: Instant


class AgentsOut(Out):
    items: list[AgentOut]


class CannedIn(Body):
    shortcut: str = Field(json_schema_extra={"pattern": "^[a-z0-9_-]{1,64}$"})
    text: str
    lang: str | None = Field(default=None, json_schema_extra={"enum": ["", "en", "ar", None]})


class CannedOut(Out):
    shortcut: str
    lang: str
    text: str
    created_at: Instant
    updated_at: Instant


class CannedListOut(Out):
    items: list[CannedOut]


# ---------------------------------------------------------------------- FAQ


class ArticleFilterParams(Params):
    lang: Lang | None = Field(default=None, description="only articles in this language")
    status: Literal["published", "draft"] | None = None
    category: Annotated[str | None, Choice] = None
    q: Annotated[str | None, BeforeValidator(_strip)] = Field(
        default=None, description="text in the id, question, phrasings, answer, tags"
    )


class ArticleParams(ArticleFilterParams):
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=10**9)


class ImportParams(Params):
    format: str | None = Field(
        default=None, description="jsonl or csv (default: from the file name or content type)"
    )


class ExportParams(Params):
    format: Literal["jsonl", "csv"] = "jsonl"
    lang: Lang | None = None


class ArticleRecord(Body):
    """The JSON Lines record of an article; ``id`` is its slug (``slug`` also works). In a
    change ``id`` and ``lang`` may be left out (they cannot change); the read-only fields of
    an article may be sent back and are ignored. Texts are checked by ``faq.articles``."""

    id: str | int | None = None
    slug: str | None = None
    lang: str | None = Field(default=None, json_schema_extra={"enum": [*LANGUAGES, None]})
    question: str | None = None
    phrasings: list[str] | None = None
    answer: str | None = None
    category: str | None = None
    tags: list[str] | None = None
    status: str | None = Field(default=None, json_schema_extra={"enum": [*STATUSES, None]})
    created_at: str | None = Field(default=None, description="read-only, ignored")
    updated_at: str | None = Field(default=None, description="read-only, ignored")


class ArticleOut(Out):
    id: int = Field(description="database id")
    slug: str = Field(description="the record's id, shared by translations")
    lang: str
    category: str
    tags: list[str]
    question: str
    phrasings: list[str]
    answer: str
    status: str
    created_at: Instant
    updated_at: Instant


class ArticlesOut(Out):
    items: list[ArticleOut]
    total: int
    limit: int
    offset: int


class ImportOut(Out):
    created: int
    updated: int
    unchanged: int


class TryIn(Body):
    question: Annotated[str, AfterValidator(_not_blank)]
    lang: Lang | None = None


class Hit(Out):
    article_id: int
    slug: str | None
    lang: str | None
    question: str | None
    score: float
    lexical: float | None
    semantic: float | None


class ThresholdsOut(Out):
    answer_min: float
    answer_margin: float
    suggest_min: float
    max_suggestions: int


class TryOut(Out):
    """What the bot would answer, and why."""

    question: str
    lang: str
    mode: str
    group: str = Field(
        description="whose thresholds decided: en, ar-msa or ar-dialect (Arabic with dialect"
        " words), or the language; decisive: a clear lexical match decided alone"
    )
    matching: str
    outcome: Literal["answer", "suggest", "no_match"]
    answer: Hit | None
    suggested: list[Hit]
    hits: list[Hit]
    thresholds: ThresholdsOut
