"""Persistence: SQLAlchemy models and database, and the blob store."""
