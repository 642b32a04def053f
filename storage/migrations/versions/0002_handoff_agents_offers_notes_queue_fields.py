"""handoff: agents, offers, notes, queue fields

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:26:55.477392
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("telegram_id", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("routing_priority", sa.Integer(), nullable=False),
        sa.Column("idle_since", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("no_answer_streak", sa.Integer(), nullable=False),
        sa.Column("wrap_up_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("offline_since", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unreachable", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("telegram_id"),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index("ix_notes_ticket", ["ticket_id", "id"], unique=False)

    op.create_table(
        "offers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("made_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(
            "ux_offers_pending_agent",
            ["agent_id"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch_op.create_index(
            "ux_offers_pending_ticket",
            ["ticket_id"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "assignee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("rank_at", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("failed_agents", sa.JSON(), nullable=False))
        batch_op.add_column(
            sa.Column(
                "target_agent_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("waiting_for_hours", sa.Boolean(), nullable=False))
        batch_op.add_column(sa.Column("reopened_count", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("notified_position", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("notified_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "sla_first_response_due_at", storage.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "sla_resolution_due_at", storage.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("sla_flags", sa.JSON(), nullable=False))
        batch_op.create_index("ix_tickets_assignee_state", ["assignee_id", "state"], unique=False)
        batch_op.create_index("ix_tickets_state_rank", ["state", "rank_at", "id"], unique=False)
        batch_op.create_foreign_key(
            "fk_tickets_assignee_id_agents", "agents", ["assignee_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            "fk_tickets_target_agent_id_agents",
            "agents",
            ["target_agent_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint("fk_tickets_target_agent_id_agents", type_="foreignkey")
        batch_op.drop_constraint("fk_tickets_assignee_id_agents", type_="foreignkey")
        batch_op.drop_index("ix_tickets_state_rank")
        batch_op.drop_index("ix_tickets_assignee_state")
        batch_op.drop_column("sla_flags")
        batch_op.drop_column("sla_resolution_due_at")
        batch_op.drop_column("sla_first_response_due_at")
        batch_op.drop_column("notified_at")
        batch_op.drop_column("notified_position")
        batch_op.drop_column("reopened_count")
        batch_op.drop_column("waiting_for_hours")
        batch_op.drop_column("target_agent_id")
        batch_op.drop_column("failed_agents")
        batch_op.drop_column("rank_at")
        batch_op.drop_column("assignee_id")

    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_offers_pending_ticket",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch_op.drop_index(
            "ux_offers_pending_agent",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )

    op.drop_table("offers")
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index("ix_notes_ticket")

    op.drop_table("notes")
    op.drop_table("agents")
