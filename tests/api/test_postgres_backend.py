"""The whole API on PostgreSQL instead of SQLite (skipped when no server is reachable)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, make_settings


def test_tts_history_and_credits_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", database_url=postgres_url)
    voice = premade_voice_id("flite", "slt")
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as client:
        response = client.post(f"/v1/text-to-speech/{voice}", json={"text": "Stored in PostgreSQL."})
        assert response.status_code == 200, response.text
        history_id = response.headers["history-item-id"]
        assert client.get("/v1/history").json()["history"][0]["history_item_id"] == history_id
        assert client.get("/v1/user/subscription").json()["character_count"] == 21
        assert not (tmp_path / "data" / "chorus.db").exists()
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as again:
        assert again.get(f"/v1/history/{history_id}/audio").content == response.content
