"""Alembic environment: Chorus passes an open connection in ``config.attributes['connection']``."""

from alembic import context

from chorus.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - chorus always passes a connection
    raise RuntimeError("run migrations through chorus.storage.db.Database.migrate()")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
