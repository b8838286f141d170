"""Blob store: local files by default, memory or S3-compatible by URL, all through obstore's one async API.

Keys are content addresses (``audio/<sha256>.<ext>``), so equal audio is stored once however many
records reference it.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from urllib.parse import urlparse

import obstore
from obstore.store import LocalStore, MemoryStore, S3Store

from chorus.config import Settings


class BlobStore:
    def __init__(self, store: object, description: str) -> None:
        self._store = store
        self.description = description

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStore:
        url = settings.resolved_blob_url
        parsed = urlparse(url)
        if parsed.scheme == "memory":
            return cls(MemoryStore(), "memory")
        if parsed.scheme == "s3":
            options: dict[str, object] = {"region": settings.s3_region}
            if settings.s3_endpoint_url:
                options["endpoint"] = settings.s3_endpoint_url
                options["allow_http"] = settings.s3_endpoint_url.startswith("http://")
                # Path-style addressing: MinIO, moto and most self-hosted S3 servers need it.
                options["virtual_hosted_style_request"] = False
            if settings.s3_access_key_id:
                options["access_key_id"] = settings.s3_access_key_id
            if settings.s3_secret_access_key:
                options["secret_access_key"] = settings.s3_secret_access_key
            prefix = parsed.path.lstrip("/") or None
            store = S3Store(parsed.netloc, prefix=prefix, **options)  # type: ignore[arg-type]
            return cls(store, f"s3://{parsed.netloc}/{prefix or ''}")
        path = Path(parsed.path if parsed.scheme == "file" else url)
        path.mkdir(parents=True, exist_ok=True)
        return cls(LocalStore(str(path.resolve())), str(path))

    @staticmethod
    def content_key(data: bytes, extension: str, namespace: str = "audio") -> str:
        return f"{namespace}/{hashlib.sha256(data).hexdigest()}.{extension}"

    async def put_content(self, data: bytes, extension: str, namespace: str = "audio") -> str:
        """Store ``data`` under its content address (skipping the write when it is already there)."""
        key = self.content_key(data, extension, namespace)
        if not await self.exists(key):
            await obstore.put_async(self._store, key, data)  # type: ignore[arg-type]
        return key

    async def put(self, key: str, data: bytes) -> None:
        await obstore.put_async(self._store, key, data)  # type: ignore[arg-type]

    async def get(self, key: str) -> bytes:
        result = await obstore.get_async(self._store, key)  # type: ignore[arg-type]
        return bytes(await result.bytes_async())

    async def exists(self, key: str) -> bool:
        try:
            await obstore.head_async(self._store, key)  # type: ignore[arg-type]
        except FileNotFoundError:
            return False
        return True

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await obstore.delete_async(self._store, key)  # type: ignore[arg-type]
