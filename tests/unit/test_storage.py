"""Database migrations and the blob store on each backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from chorus.config import Settings
from chorus.storage.blobs import BlobStore
from chorus.storage.db import Database, normalise_url

TABLES = {
    "users",
    "api_keys",
    "voices",
    "user_voice_settings",
    "history_items",
    "usage_events",
    "transcripts",
    "jobs",
    "webhooks",
    "voice_samples",
    "voice_previews",
    "single_use_tokens",
    "audio_isolation_items",
    "alembic_version",
}


def test_url_normalisation() -> None:
    assert normalise_url("sqlite:///x.db") == ("sqlite+aiosqlite:///x.db", "sqlite:///x.db")
    assert normalise_url("postgres://u@h/db")[0] == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql://u:p@h/db")[1] == "postgresql+psycopg://u:p@h/db"


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_sqlite_migrations_are_idempotent(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/m.db")
    db.migrate()
    db.migrate()
    assert await _tables(db) == TABLES
    await db.close()


async def test_postgres_migrations(postgres_url: str) -> None:
    db = Database(postgres_url)
    db.migrate()
    db.migrate()
    assert await _tables(db) == TABLES
    await db.close()


async def _exercise(store: BlobStore) -> None:
    key = await store.put_content(b"abc", "mp3")
    assert key == BlobStore.content_key(b"abc", "mp3") and key.startswith("audio/") and key.endswith(".mp3")
    assert await store.put_content(b"abc", "mp3") == key
    assert await store.get(key) == b"abc"
    assert await store.exists(key)
    await store.delete(key)
    assert not await store.exists(key)
    await store.delete(key)  # deleting twice is harmless
    with pytest.raises(FileNotFoundError):
        await store.get(key)


async def test_local_blobs(tmp_path: Path) -> None:
    store = BlobStore.from_settings(Settings(data_dir=tmp_path))
    await _exercise(store)
    await store.put_content(b"keep", "wav")
    assert len(list((tmp_path / "blobs" / "audio").iterdir())) == 1


async def test_memory_blobs(tmp_path: Path) -> None:
    await _exercise(BlobStore.from_settings(Settings(data_dir=tmp_path, blob_url="memory://")))


async def test_s3_blobs(tmp_path: Path) -> None:
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="k",
            aws_secret_access_key="s",
        ).create_bucket(Bucket="chorus")
        settings = Settings(
            data_dir=tmp_path,
            blob_url="s3://chorus/prefix",
            s3_endpoint_url=endpoint,
            s3_access_key_id="k",
            s3_secret_access_key="s",
        )
        store = BlobStore.from_settings(settings)
        await _exercise(store)
        key = await store.put_content(b"persisted", "mp3")
        listed = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="k",
            aws_secret_access_key="s",
        ).list_objects_v2(Bucket="chorus")
        assert [o["Key"] for o in listed["Contents"]] == [f"prefix/{key}"]
    finally:
        server.stop()
