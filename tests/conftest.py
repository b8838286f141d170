"""Shared fixtures: settings in a temporary data dir, an in-process client, a live uvicorn server, and the
in-process flite engine (skips where flite cannot load)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.config import Settings

ADMIN_KEY = "sk_test_admin_0123456789abcdef"
POSTGRES_URL = os.environ.get("CHORUS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def flite():  # type: ignore[no-untyped-def]
    """flite with all its voices, in process; the test skips when flite cannot load."""
    from chorus.engines.flite import FliteEngine

    engine = FliteEngine()
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "flite unavailable")
    return engine


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    # Engines run in process unless a test asks for worker processes.
    values: dict[str, object] = {"data_dir": data_dir, "admin_api_key": ADMIN_KEY, "engine_workers": 0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as test_client:
        yield test_client


def speech_wav(client: TestClient, voice_id: str, text: str) -> bytes:
    """``text`` spoken by ``voice_id`` as a 16 kHz WAV (not kept in history): test input for speech to text."""
    response = client.post(
        f"/v1/text-to-speech/{voice_id}",
        params={"output_format": "wav_16000", "enable_logging": "false"},
        json={"text": text},
    )
    assert response.status_code == 200, response.text
    return response.content


def postgres_available(url: str = POSTGRES_URL) -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=2):
            return True
    except Exception:
        return False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema-less PostgreSQL database for one test (skips when no server is reachable)."""
    if not postgres_available():
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    import uuid

    import psycopg

    name = f"chorus_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class LiveServer:
    url: str
    settings: Settings
    server: uvicorn.Server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(settings: Settings) -> tuple[LiveServer, threading.Thread]:
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", settings, server), thread


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real uvicorn server on a free port, shared by the contract tests."""
    # The contract server runs engines in worker processes, as a deployed server does.
    settings = make_settings(
        tmp_path_factory.mktemp("live") / "data", max_concurrent_requests=64, engine_workers=2
    )
    live, thread = start_server(settings)
    try:
        yield live
    finally:
        live.server.should_exit = True
        thread.join(timeout=10)


def http_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path) of every HTTP route, flattening included routers on any FastAPI version."""
    from fastapi.routing import APIRoute

    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers
        contexts = [route for route in app.routes if isinstance(route, APIRoute)]
    else:
        contexts = [rc for rc in iter_route_contexts(app.routes) if isinstance(rc.original_route, APIRoute)]
    found = []
    for route in contexts:
        for method in sorted(set(route.methods or ()) - {"HEAD", "OPTIONS"}):
            found.append((method, route.path))
    return found
