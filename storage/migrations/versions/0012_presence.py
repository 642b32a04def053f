"""Presence: which process holds whose sockets, agents' absence and where they set their status

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "agents", sa.Column("absent_since", storage.types.UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "agents",
        sa.Column("status_origin", sa.String(length=16), server_default="system", nullable=False),
    )
    op.create_index("ix_agents_absent_since", "agents", ["absent_since"])
    op.create_table(
        "presence_processes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("started_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_presence_processes_last_seen", "presence_processes", ["last_seen"])
    op.create_table(
        "presence",
        sa.Column("process_id", sa.String(length=32), nullable=False),
        sa.Column("place", sa.String(length=16), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("since", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_active", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("process_id", "place", "key"),
    )
    op.create_index("ix_presence_place_key", "presence", ["place", "key"])


def downgrade() -> None:
    op.drop_index("ix_presence_place_key", table_name="presence")
    op.drop_table("presence")
    op.drop_index("ix_presence_processes_last_seen", table_name="presence_processes")
    op.drop_table("presence_processes")
    op.drop_index("ix_agents_absent_since", table_name="agents")
    op.drop_column("agents", "status_origin")
    op.drop_column("agents", "absent_since")
