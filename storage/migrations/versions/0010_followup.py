"""follow-up after resolve: due time and state on tickets, time zone and opt-out on customers

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("followup_opt_out", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(
            sa.Column("followup_due_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("followup_state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("followup_cycle", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("followup_sent_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("followup_agent_id", sa.Integer(), nullable=True))
    op.create_index("ix_tickets_followup_due", "tickets", ["followup_due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tickets_followup_due", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        for name in (
            "followup_agent_id",
            "followup_sent_at",
            "followup_cycle",
            "followup_state",
            "followup_due_at",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("followup_opt_out")
        batch.drop_column("time_zone")
