"""accounts with passwords, invitation / reset / setup links, sessions of an account

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("agent_id", ID, nullable=True),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("password_changed_at", AT, nullable=False),
        sa.Column("last_login_at", AT, nullable=True),
        sa.Column("disabled_at", AT, nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("agent_id"),
    )
    op.create_table(
        "account_links",
        sa.Column("id", ID, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("agent_id", ID, nullable=True),
        sa.Column("account_id", ID, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("expires_at", AT, nullable=False),
        sa.Column("used_at", AT, nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    with op.batch_alter_table("web_sessions") as batch:
        batch.alter_column("token_id", existing_type=ID, nullable=True)
        batch.add_column(sa.Column("account_id", ID, nullable=True))
        batch.create_foreign_key(
            "fk_web_sessions_account_id_accounts",
            "accounts",
            ["account_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_web_sessions_account", ["account_id"])


def downgrade() -> None:
    op.execute("DELETE FROM web_sessions WHERE token_id IS NULL")
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_index("ix_web_sessions_account")
        batch.drop_constraint("fk_web_sessions_account_id_accounts", type_="foreignkey")
        batch.drop_column("account_id")
        batch.alter_column("token_id", existing_type=ID, nullable=False)
    op.drop_table("account_links")
    op.drop_table("accounts")
