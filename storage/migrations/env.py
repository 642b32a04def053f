"""Alembic environment: runs on the connection Sanad hands over (see ``storage.db.upgrade``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from storage.models import Base
from storage.search import is_modelled

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through `sanad db upgrade` (storage.db.upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=is_modelled,
)
with context.begin_transaction():
    context.run_migrations()
