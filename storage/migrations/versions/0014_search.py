"""ticket search: search documents, their full-text index, and the backfill

One document per transcript line and one per ticket (customer name, username, external id,
tags), as normalised words and stems (storage/search.py). SQLite: an FTS5 external-content
table ``search_fts`` kept in step by triggers; PostgreSQL: a stored generated tsvector column
``terms`` (``to_tsvector('simple', body)``) with a GIN index. Also a partial index of
``ticket_assigned`` events by actor (an agent's own tickets, which search filters by).

The existing tickets and messages are indexed here, in the migration's transaction
(bench/search.py times it: minutes per million messages); ``sanad search reindex`` rebuilds
the documents at any time (after a bulk load that bypassed the ORM, for instance).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage import search

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "search_docs",
        sa.Column("id", id_type, nullable=False),
        sa.Column("ticket_id", id_type, nullable=False),
        sa.Column("message_id", id_type, nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_search_docs_ticket", "search_docs", ["ticket_id", "message_id"])
    assigned = sa.text("kind = 'ticket_assigned'")
    op.create_index(
        "ix_events_assigned_actor",
        "events",
        ["actor", "ticket_id"],
        sqlite_where=assigned,
        postgresql_where=assigned,
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(search.PG_DDL)
        bind.exec_driver_sql(search.PG_STATISTICS)
        search.reindex(bind)
        bind.exec_driver_sql(search.PG_GIN)  # built once, after the rows
    else:
        search.install_sqlite_index(bind)
        search.reindex(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in search.SQLITE_DROP:
            bind.exec_driver_sql(statement)
    else:
        op.drop_index(search.PG_INDEX, table_name="search_docs")
    op.drop_index("ix_events_assigned_actor", table_name="events")
    op.drop_index("ix_search_docs_ticket", table_name="search_docs")
    op.drop_table("search_docs")
