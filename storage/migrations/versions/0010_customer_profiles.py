"""Customer profiles: a person link between identities, attributes, customer notes, the VIP
pre-registration list, and the index the profile's event read needs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        # No foreign key: adding one would make SQLite rebuild the table (customers are
        # never deleted; an unlinked identity has NULL).
        batch.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
        batch.create_index("ix_customers_person", ["person_id"])
    op.create_table(
        "customer_attributes",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "key"),
    )
    op.create_index("ix_customer_attributes_key_value", "customer_attributes", ["key", "value"])
    op.create_table(
        "customer_notes",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_customer_notes_customer", "customer_notes", ["customer_id", "id"])
    op.create_table(
        "vip_list",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("note", sa.String(length=256), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("matched_customer_id", ID, nullable=True),
        sa.Column("matched_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["matched_customer_id"], ["customers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "channel", "value"),
    )
    op.create_index("ix_events_customer", "events", ["customer_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_customer", table_name="events")
    op.drop_table("vip_list")
    op.drop_index("ix_customer_notes_customer", table_name="customer_notes")
    op.drop_table("customer_notes")
    op.drop_index("ix_customer_attributes_key_value", table_name="customer_attributes")
    op.drop_table("customer_attributes")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index("ix_customers_person")
        batch.drop_column("person_id")
