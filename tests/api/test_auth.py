"""Authentication and permissions at the edge."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.config import Settings
from tests.conftest import ADMIN_KEY, http_routes

UNAUTHENTICATED = {"/health"}


def test_every_route_but_health_requires_a_key(settings: Settings) -> None:
    app = create_app(settings)
    routes = http_routes(app)
    assert len(routes) >= 15, routes
    with TestClient(app) as anonymous:
        for method, path in routes:
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            response = anonymous.request(method, concrete)
            if path in UNAUTHENTICATED:
                assert response.status_code == 200, (method, path)
                continue
            assert response.status_code == 401, (method, path, response.status_code, response.text)
            detail = response.json()["detail"]
            assert detail["status"] == "needs_authorization"
            assert "xi-api-key" in detail["message"]
            wrong = anonymous.request(method, concrete, headers={"xi-api-key": "sk_wrong"})
            assert wrong.status_code == 401
            assert wrong.json()["detail"]["status"] == "invalid_api_key"


def test_bearer_token_is_accepted(settings: Settings) -> None:
    with TestClient(create_app(settings)) as anonymous:
        response = anonymous.get("/v1/models", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert response.status_code == 200
        assert anonymous.get("/v1/models", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_error_body_has_elevenlabs_shape_and_request_id(client: TestClient) -> None:
    response = client.get("/v1/models", headers={"xi-api-key": "sk_bad"})
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert set(detail) >= {"status", "message", "type", "code", "request_id"}
    assert detail["type"] == "authentication_error"
    assert detail["request_id"] == response.headers["request-id"] == response.headers["xi-request-id"]


def test_permissions_are_enforced(client: TestClient) -> None:
    secret = client.portal.call(  # type: ignore[union-attr]
        lambda: client.app.state.services.accounts.create_key("reader", permissions=["voices_read"])  # type: ignore[attr-defined]
    ).secret
    headers = {"xi-api-key": secret}
    assert client.get("/v1/voices", headers=headers).status_code == 200
    denied = client.get("/v1/models", headers=headers)
    assert denied.status_code == 403
    assert denied.json()["detail"]["status"] == "missing_permissions"
    assert "models_read" in denied.json()["detail"]["message"]
    voice_id = client.get("/v1/voices", headers=headers).json()["voices"][0]["voice_id"]
    tts = client.post(f"/v1/text-to-speech/{voice_id}", json={"text": "hi"}, headers=headers)
    assert tts.status_code == 403


def test_revoked_key_stops_working(client: TestClient) -> None:
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    created = client.portal.call(lambda: accounts.create_key("temp"))  # type: ignore[union-attr]
    headers = {"xi-api-key": created.secret}
    assert client.get("/v1/user", headers=headers).status_code == 200
    client.portal.call(lambda: accounts.revoke_key(created.key_id))  # type: ignore[union-attr]
    assert client.get("/v1/user", headers=headers).status_code == 401


def test_keys_are_hashed_at_rest(client: TestClient) -> None:
    import sqlite3

    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    with sqlite3.connect(settings.data_dir / "chorus.db") as db:
        rows = db.execute("select key_hash, hint from api_keys").fetchall()
    assert rows
    for key_hash, hint in rows:
        assert ADMIN_KEY not in key_hash and len(key_hash) == 64
        assert len(hint) == 4


@pytest.mark.parametrize("value", ["", "   "])
def test_blank_key_is_rejected(client: TestClient, value: str) -> None:
    assert client.get("/v1/models", headers={"xi-api-key": value}).status_code == 401
