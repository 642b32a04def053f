"""Sanad's tables, as typed SQLAlchemy 2 models.

Schema changes go through Alembic (``storage/migrations``); ``sanad db upgrade`` and start-up
apply them. Every state change also writes an :class:`Event` row in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UTCDateTime

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite, so autoincrement works on both.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[int]: JSON,
    }


class Customer(Base):
    """Somebody who writes to the bot, on one channel."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_customers_person", "person_id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    language_chosen: Mapped[bool] = mapped_column(default=False)
    awaiting_comment_ticket_id: Mapped[int | None]
    tier: Mapped[str] = mapped_column(String(16), default="normal")
    unreachable: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # IANA name, when the channel tells it (the web chat's browser); None on Telegram.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    followup_opt_out: Mapped[bool] = mapped_column(default=False)  # "don't ask me again"
    # Linked as one person with another identity (``handoff.people.merge``): the id of the
    # person's first identity, which holds the profile's attributes; None when unlinked.
    person_id: Mapped[int | None] = mapped_column(Integer)


class CustomerAttribute(Base):
    """A free key/value about a customer (email, plan, order id), edited on the profile."""

    __tablename__ = "customer_attributes"
    __table_args__ = (
        UniqueConstraint("customer_id", "key"),
        Index("ix_customer_attributes_key_value", "key", "value"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(512))
    updated_at: Mapped[datetime]


class CustomerNote(Base):
    """An internal note about a customer (not about one ticket), shown on the profile."""

    __tablename__ = "customer_notes"
    __table_args__ = (Index("ix_customer_notes_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class VipEntry(Base):
    """A VIP registered ahead (``sanad customers vip``): by a channel's id or username, or by
    email; a customer matching it is VIP from their first contact (``matched_*``)."""

    __tablename__ = "vip_list"
    __table_args__ = (UniqueConstraint("kind", "channel", "value"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # id | username | email
    channel: Mapped[str] = mapped_column(String(32))  # "" for email
    value: Mapped[str] = mapped_column(String(256))
    note: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime]
    matched_customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    matched_at: Mapped[datetime | None]


class Article(Base):
    """An FAQ article in one language; ``(slug, lang)`` is its identity across imports."""

    __tablename__ = "articles"
    __table_args__ = (UniqueConstraint("slug", "lang"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    slug: Mapped[str] = mapped_column(String(128))
    lang: Mapped[str] = mapped_column(String(8))
    question: Mapped[str] = mapped_column(Text)
    phrasings: Mapped[list[str]] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="published")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Agent(Base):
    """A person who takes over chats (``role`` agent) or also oversees them (supervisor)."""

    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_absent_since", "absent_since"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    telegram_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="agent")
    status: Mapped[str] = mapped_column(String(16), default="offline")
    capacity: Mapped[int] = mapped_column(default=1)
    skills: Mapped[list[str]] = mapped_column(default=list)
    languages: Mapped[list[str]] = mapped_column(default=list)
    routing_priority: Mapped[int] = mapped_column(default=0)
    idle_since: Mapped[datetime]
    no_answer_streak: Mapped[int] = mapped_column(default=0)
    wrap_up_until: Mapped[datetime | None]
    offline_since: Mapped[datetime | None]
    unreachable: Mapped[bool] = mapped_column(default=False)
    current_ticket_id: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Presence (handoff/presence.py): since when no console of theirs is open on any process
    # (None: one is, or presence does not govern them), and where they last set their status
    # (``telegram``, ``web``, ``idle``, ``presence``, ``system``).
    absent_since: Mapped[datetime | None]
    status_origin: Mapped[str] = mapped_column(
        String(16), default="system", server_default="system"
    )


class PresenceProcess(Base):
    """A running Sanad process, alive while its heartbeat (``last_seen``) is fresh."""

    __tablename__ = "presence_processes"
    __table_args__ = (Index("ix_presence_processes_last_seen", "last_seen"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime]
    last_seen: Mapped[datetime]


class Presence(Base):
    """A place someone is present at through a process: an agent's console sockets
    (``console``, key: agent id) or a web visitor's chat sockets (``chat``, key: customer id)."""

    __tablename__ = "presence"
    __table_args__ = (Index("ix_presence_place_key", "place", "key"),)

    process_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    place: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    since: Mapped[datetime]
    last_active: Mapped[datetime]


class Ticket(Base):
    """One customer contact, from the first message to its close."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_customer_state", "customer_id", "state"),
        Index("ix_tickets_state_rank", "state", "rank_at", "id"),
        Index("ix_tickets_assignee_state", "assignee_id", "state"),
        Index("ix_tickets_resolved", "resolved_at"),
        Index("ix_tickets_created", "created_at"),
        Index("ix_tickets_followup_due", "followup_due_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="bot")
    category: Mapped[str] = mapped_column(String(64), default="")
    language: Mapped[str] = mapped_column(String(8))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    tags: Mapped[list[str]] = mapped_column(default=list)
    resolution: Mapped[str | None] = mapped_column(String(32))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL", name="fk_tickets_assignee_id_agents")
    )
    rank_at: Mapped[float | None]
    failed_agents: Mapped[list[int]] = mapped_column(default=list)
    target_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL", name="fk_tickets_target_agent_id_agents")
    )
    waiting_for_hours: Mapped[bool] = mapped_column(default=False)
    reopened_count: Mapped[int] = mapped_column(default=0)
    notified_position: Mapped[int | None]
    notified_at: Mapped[datetime | None]
    sla_first_response_due_at: Mapped[datetime | None]
    sla_resolution_due_at: Mapped[datetime | None]
    sla_flags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    handoff_requested_at: Mapped[datetime | None]
    first_queued_at: Mapped[datetime | None]
    first_offered_at: Mapped[datetime | None]
    assigned_at: Mapped[datetime | None]
    first_agent_reply_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # The follow-up after resolve (handoff/followup.py): when it is due (set only while
    # scheduled), its state (scheduled | sent | confirmed | reopened | skipped), the cycle it
    # asks about, when it was sent, and the agent who resolved that cycle (credited in KPIs).
    followup_due_at: Mapped[datetime | None]
    followup_state: Mapped[str | None] = mapped_column(String(16))
    followup_cycle: Mapped[int | None]
    followup_sent_at: Mapped[datetime | None]
    followup_agent_id: Mapped[int | None]

    customer: Mapped[Customer] = relationship(lazy="raise")


class Offer(Base):
    """One offer of a ticket to one agent. The partial unique indexes make "one pending offer
    per ticket and per agent" a database guarantee, so two processes can never double-offer."""

    __tablename__ = "offers"
    __table_args__ = (
        Index(
            "ux_offers_pending_ticket",
            "ticket_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index(
            "ux_offers_pending_agent",
            "agent_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    made_at: Mapped[datetime]
    deadline: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    agent_message: Mapped[str | None] = mapped_column(String(64))


class Note(Base):
    """An internal note on a ticket: for agents and supervisors, never shown to the customer."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Message(Base):
    """One line of a ticket's transcript: from the customer, the bot, an agent or the system."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_ticket", "ticket_id", "id"),
        # A customer's messages: resend dedupe, reconnect history, the agent's transcript.
        Index("ix_messages_customer", "customer_id", "id"),
        Index("ix_messages_created", "created_at"),
        # The resend check: is a line with this client id already kept for the customer?
        # Only lines sent with one are in it.
        Index(
            "ix_messages_client",
            "customer_id",
            "client_id",
            sqlite_where=text("client_id IS NOT NULL"),
            postgresql_where=text("client_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="text")
    text: Mapped[str] = mapped_column(Text, default="")
    channel_message_id: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # ``meta["client_id"]`` (the id the sender's page gave the line, so that a resend is
    # recognised), as a column of its own so that an index serves the check: set on every
    # insert from ``meta`` (:func:`client_id_of`), never written by hand.
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class QueryLog(Base):
    """A question the bot tried to answer: best article, score, outcome, and the feedback."""

    __tablename__ = "query_log"
    __table_args__ = (
        Index("ix_query_log_created", "created_at"),
        Index("ix_query_log_ticket", "ticket_id", "id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    query: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(16))
    best_article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL")
    )
    score: Mapped[float | None]
    suggested_article_ids: Mapped[list[str]] = mapped_column(default=list)
    helpful: Mapped[bool | None]
    created_at: Mapped[datetime]


class Event(Base):
    """The audit log: one row per state change, written in the change's transaction."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_ticket", "ticket_id", "id"),
        Index("ix_events_kind_created", "kind", "created_at"),
        Index("ix_events_customer", "customer_id", "id"),
        # The tickets an agent was ever assigned (an agent's own tickets: pages, search).
        Index(
            "ix_events_assigned_actor",
            "actor",
            "ticket_id",
            sqlite_where=text("kind = 'ticket_assigned'"),
            postgresql_where=text("kind = 'ticket_assigned'"),
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(64), default="system")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class Relay(Base):
    """One message carried between a customer and an agent: where it came from and where its
    copy went, so replies and edits route back (``copy_message`` returns only the new id)."""

    __tablename__ = "relays"
    __table_args__ = (
        Index("ix_relays_target", "target_chat", "target_message"),
        Index("ix_relays_source", "source_chat", "source_message"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(16))  # to_agent | to_customer
    source_chat: Mapped[str] = mapped_column(String(64))
    source_message: Mapped[str] = mapped_column(String(64))
    target_chat: Mapped[str] = mapped_column(String(64))
    target_message: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Rating(Base):
    """The customer's 1-5 stars for one ticket cycle (a reopen starts a new cycle), credited to
    the agent who handled it."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("ticket_id", "cycle"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    cycle: Mapped[int] = mapped_column(default=0)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    stars: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    commented_at: Mapped[datetime | None]


class CannedReply(Base):
    """A reply agents insert with ``/t SHORTCUT``; placeholders like ``{name}`` are filled."""

    __tablename__ = "canned_replies"
    __table_args__ = (UniqueConstraint("shortcut", "lang"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8), default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiToken(Base):
    """A credential for the web API and pages: a role, stored as a SHA-256 hash only."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE", name="fk_api_tokens_agent_id_agents")
    )
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Account(Base):
    """A person who logs in with a username (or email) and a password: a role, and for an
    agent (or a supervisor who also takes chats) the agent they are. Only an argon2 hash of
    the password is stored."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class AccountLink(Base):
    """A one-time, expiring link: ``setup`` (the first admin), ``invite`` (a new account with
    this role, and agent) or ``reset`` (a new password for an account). Only the key's hash
    is stored."""

    __tablename__ = "account_links"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WebSession(Base):
    """A browser session opened by logging in with a password (``account_id``) or a token
    (``token_id``); the cookie holds only its id."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_account", "account_id"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE", name="fk_web_sessions_account_id_accounts")
    )
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class LoginLink(Base):
    """A one-time link that logs an agent into the console (sent by the bot for ``/console``);
    only the key's hash is stored."""

    __tablename__ = "login_links"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Attachment(Base):
    """A file sent in a web chat conversation (by the customer or an agent); the message that
    carries it has kind ``file`` and ``meta["attachment_id"]``."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_ticket", "ticket_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class Readiness(Base):
    """One row that ``/readyz`` writes, to prove the database takes writes (not only reads)."""

    __tablename__ = "readiness"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checked_at: Mapped[datetime]


class TextEmbedding(Base):
    """A sentence embedding of one normalised FAQ text by one model (float32 bytes), computed
    once and reused at every start and edit; ``text_hash`` is the SHA-256 of the text."""

    __tablename__ = "text_embeddings"

    model: Mapped[str] = mapped_column(String(96), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class WebhookEndpoint(Base):
    """An outgoing webhook: where to POST, the signing secret, the event types it wants."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    types: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookOutbox(Base):
    """An event or transcript line that webhooks may have to hear about, written in the same
    transaction as its source row (``source`` ``event`` or ``message``); the webhooks worker
    fans it out into deliveries and deletes it."""

    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[int] = mapped_column(IdType)
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    """One payload for one endpoint, with its retry state and last result (the delivery log).
    ``event_id`` is the payload's ``id``: unique per endpoint, so a fan-out never queues the
    same event twice for one endpoint."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "state", "next_try_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SearchDoc(Base):
    """What ticket search looks in (``storage/search.py``): one row per transcript line
    (``message_id`` set) and one per ticket (``message_id`` NULL: the customer's name, username
    and external id, and the ticket's tags), as normalised words plus their light stems. Rows
    are written by mapper events in the transaction that writes the message or ticket. The
    full-text index over ``body`` is per backend, made by the migration (not modelled here): an
    FTS5 external-content table ``search_fts`` on SQLite; on PostgreSQL a stored generated
    column ``terms`` (``to_tsvector('simple', body)``) with a GIN index.
    """

    __tablename__ = "search_docs"
    __table_args__ = (Index("ix_search_docs_ticket", "ticket_id", "message_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(IdType)
    body: Mapped[str] = mapped_column(Text, default="")


CLIENT_ID_MAX = 64


def client_id_of(meta: dict[str, Any] | None) -> str | None:
    """The ``client_id`` a line's ``meta`` carries, as :attr:`Message.client_id` keeps it
    (None when absent, not a string, or longer than the column: such a line is simply not
    recognised as a resend; the channels accept 1-64 characters)."""
    value = (meta or {}).get("client_id")
    return value if isinstance(value, str) and 0 < len(value) <= CLIENT_ID_MAX else None


@event.listens_for(Message, "before_insert")
def _client_id_column(_mapper: Any, _conn: Any, message: Message) -> None:
    message.client_id = client_id_of(message.meta)
