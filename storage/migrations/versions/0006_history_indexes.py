"""indexes for a database that ages: a customer's messages, periods, resolved tickets

Every hot query is served by an index (tests/storage/test_query_plans.py checks the plans): the web
chat's resend dedupe and reconnect history look messages up by customer; reports and the
knowledge-gap figures read messages and tickets by period; the average handle time reads the
latest resolved tickets; a ticket's category comes from its latest query.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_messages_customer", "messages", ["customer_id", "id"]),
    ("ix_messages_created", "messages", ["created_at"]),
    ("ix_tickets_resolved", "tickets", ["resolved_at"]),
    ("ix_tickets_created", "tickets", ["created_at"]),
    ("ix_query_log_ticket", "query_log", ["ticket_id", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
