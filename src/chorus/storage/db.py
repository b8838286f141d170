"""Database engine, sessions and migrations (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> tuple[str, str]:
    """Return (async URL, sync URL) for one database URL.

    ``postgresql://`` and ``postgres://`` use psycopg 3, which speaks both sync (migrations) and async.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return (
            str(parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)),
            str(parsed.set(drivername="sqlite").render_as_string(hide_password=False)),
        )
    if backend == "postgresql":
        fixed = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return fixed, fixed
    return url, url


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets readers proceed while one writer charges credits; busy_timeout makes writers queue, not fail.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """Owns the async engine and session factory for one database."""

    def __init__(self, url: str) -> None:
        self.async_url, self.sync_url = normalise_url(url)
        self.is_sqlite = self.async_url.startswith("sqlite")
        if self.is_sqlite:
            db_path = make_url(self.sync_url).database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            # Connections past the pool's size are opened and closed per use; for aiosqlite that is a new
            # thread, a file open and the pragmas below, per request once more than a handful run at once.
            self.engine: AsyncEngine = create_async_engine(
                self.async_url, connect_args={"timeout": 30}, pool_size=32, max_overflow=32
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            # The same file through the synchronous driver, for hot writes done in one thread trip.
            self.sync_engine: Engine | None = create_engine(
                self.sync_url, connect_args={"timeout": 30}, pool_size=8, max_overflow=16
            )
            event.listen(self.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.sync_engine = None
            self.engine = create_async_engine(
                self.async_url, pool_size=10, max_overflow=20, pool_pre_ping=True
            )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)

    def _sync_engine(self) -> Engine:
        engine = create_engine(self.sync_url)
        if self.is_sqlite:
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        engine = self._sync_engine()
        try:
            with engine.begin() as connection:
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS_DIR))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            engine.dispose()

    async def close(self) -> None:
        await self.engine.dispose()
        if self.sync_engine is not None:
            self.sync_engine.dispose()
