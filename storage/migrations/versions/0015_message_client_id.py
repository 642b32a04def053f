"""transcript lines: the client id as a column, with an index for the resend check

A customer's message carries the id their page gave it (``meta["client_id"]``) so that a
resend after a dropped socket is recognised. The check ran on every message and read the JSON
of every line the customer ever sent: its cost grew with the customer's history (8 ms per
message at 20,000 lines). The id is now also a column, set on every insert, with a partial
index on (customer_id, client_id) over the lines that have one. The existing lines get theirs
here, from their ``meta``.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

HAS_ONE = sa.text("client_id IS NOT NULL")


def upgrade() -> None:
    op.add_column("messages", sa.Column("client_id", sa.String(64), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        found = "meta::json ->> 'client_id'"
    else:
        found = "json_extract(meta, '$.client_id')"
    # Only ids the channels could have sent (1-64 characters); storage.models.client_id_of.
    bind.exec_driver_sql(
        f"UPDATE messages SET client_id = {found} "
        f"WHERE {found} IS NOT NULL AND length({found}) BETWEEN 1 AND 64"
    )
    op.create_index(
        "ix_messages_client",
        "messages",
        ["customer_id", "client_id"],
        sqlite_where=HAS_ONE,
        postgresql_where=HAS_ONE,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_client", table_name="messages")
    op.drop_column("messages", "client_id")
