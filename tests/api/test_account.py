"""User, subscription, usage, limits and error handling over HTTP."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from chorus.services.plans import UNLIMITED_REPORTED
from chorus.services.voices import premade_voice_id

RMS = premade_voice_id("flite", "rms")


def _key(client: TestClient, **kwargs: object) -> dict[str, str]:
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    created = client.portal.call(lambda: accounts.create_key("k", **kwargs))  # type: ignore[union-attr]
    return {"xi-api-key": created.secret}


def test_admin_is_unlimited_but_counted(client: TestClient) -> None:
    before = client.get("/v1/user/subscription").json()
    assert before["character_limit"] == UNLIMITED_REPORTED and before["tier"] == "enterprise"
    client.post(f"/v1/text-to-speech/{RMS}", json={"text": "count me"})
    after = client.get("/v1/user/subscription").json()
    assert after["character_count"] == before["character_count"] + 8
    user = client.get("/v1/user").json()
    assert user["subscription"]["character_count"] == after["character_count"]
    assert user["seat_type"] == "workspace_admin" and user["xi_api_key_preview"].endswith("cdef")


def test_plan_limits_and_quota_exhaustion(client: TestClient) -> None:
    headers = _key(client, user_name="small", plan="free", character_limit=30)
    sub = client.get("/v1/user/subscription", headers=headers).json()
    assert (sub["tier"], sub["character_limit"], sub["status"]) == ("free", 10_000, "free")
    ok = client.post(f"/v1/text-to-speech/{RMS}", json={"text": "x" * 20}, headers=headers)
    assert ok.status_code == 200
    refused = client.post(f"/v1/text-to-speech/{RMS}", json={"text": "y" * 20}, headers=headers)
    assert refused.status_code == 401
    detail = refused.json()["detail"]
    assert detail["status"] == "quota_exceeded" and "10 credits remaining" in detail["message"]
    assert client.get("/v1/user/subscription", headers=headers).json()["character_count"] == 20


def test_usage_character_stats(client: TestClient) -> None:
    start = int(time.time() * 1000) - 60_000
    client.post(f"/v1/text-to-speech/{RMS}", json={"text": "abcdefghij"})
    client.post(f"/v1/text-to-speech/{RMS}", json={"text": "abcdefghij", "model_id": "eleven_flash_v2_5"})
    end = int(time.time() * 1000) + 60_000
    stats = client.get("/v1/usage/character-stats", params={"start_unix": start, "end_unix": end}).json()
    assert len(stats["time"]) == len(stats["usage"]["All"]) >= 1
    assert sum(stats["usage"]["All"]) == 15
    by_model = client.get(
        "/v1/usage/character-stats",
        params={
            "start_unix": start,
            "end_unix": end,
            "breakdown_type": "model",
            "aggregation_interval": "cumulative",
        },
    ).json()
    assert by_model["usage"] == {"eleven_multilingual_v2": [10.0], "eleven_flash_v2_5": [5.0]}
    assert client.get("/v1/usage/character-stats", params={"start_unix": start}).status_code == 422
    bad = client.get("/v1/usage/character-stats", params={"start_unix": end, "end_unix": start})
    assert bad.status_code == 400


def test_rate_limit_answers_429_with_retry_after(client: TestClient) -> None:
    headers = _key(client, rate_limit_per_minute=2)
    assert client.get("/v1/models", headers=headers).status_code == 200
    assert client.get("/v1/models", headers=headers).status_code == 200
    limited = client.get("/v1/models", headers=headers)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["detail"]["status"] == "rate_limit_exceeded"


def test_concurrency_limit(client: TestClient) -> None:
    headers = _key(client, max_concurrent_requests=1)
    services = client.app.state.services  # type: ignore[attr-defined]
    principal = client.portal.call(services.accounts.authenticate, headers["xi-api-key"])  # type: ignore[union-attr]
    lease = services.concurrency.acquire(principal.key_id, 1)  # a request already in flight
    busy = client.post(f"/v1/text-to-speech/{RMS}", json={"text": "hi"}, headers=headers)
    assert busy.status_code == 429
    assert busy.headers["current-concurrent-requests"] == "1"
    assert busy.headers["maximum-concurrent-requests"] == "1"
    lease.release()
    done = client.post(f"/v1/text-to-speech/{RMS}", json={"text": "hi"}, headers=headers)
    assert done.status_code == 200 and done.headers["maximum-concurrent-requests"] == "1"


def test_odd_characters_are_spoken_or_refused_cleanly(client: TestClient) -> None:
    for text in ("\x00\u202e\U0001f600 ünïcödé", "\U0001f600\U0001f600", "\u0000", "漢字かな", "🙂 " * 50):
        response = client.post(f"/v1/text-to-speech/{RMS}", json={"text": text})
        assert response.status_code in (200, 400), (text, response.status_code, response.text)


def test_no_input_produces_a_500(client: TestClient) -> None:
    nasty = [
        ("POST", f"/v1/text-to-speech/{RMS}", {"content": b"{not json"}),
        (
            "POST",
            f"/v1/text-to-speech/{RMS}",
            {"content": b"\xff\xfe\x00", "headers": {"content-type": "application/json"}},
        ),
        ("POST", f"/v1/text-to-speech/{RMS}", {"json": {"text": 5}}),
        ("POST", f"/v1/text-to-speech/{RMS}", {"json": {"text": "a", "voice_settings": "loud"}}),
        ("POST", f"/v1/text-to-speech/{RMS}", {"json": {"text": "a", "seed": -1}}),
        ("POST", f"/v1/text-to-speech/{RMS}", {"json": ["text"]}),
        ("POST", f"/v1/text-to-speech/{RMS}?optimize_streaming_latency=9", {"json": {"text": "a"}}),
        ("GET", "/v1/history?page_size=0", {}),
        ("GET", "/v1/history?start_after_history_item_id=zzz", {}),
        ("GET", "/v1/history?date_before_unix=abc", {}),
        (
            "GET",
            "/v1/usage/character-stats?start_unix=0&end_unix=99999999999999&aggregation_interval=hour",
            {},
        ),
        ("GET", "/v1/usage/character-stats?start_unix=0&end_unix=1&breakdown_type=zzz", {}),
        ("POST", "/v1/history/download", {"json": {"history_item_ids": ["nope"]}}),
        ("POST", "/v1/history/download", {"json": {"history_item_ids": ["nope"], "output_format": "flac"}}),
        ("POST", f"/v1/voices/{RMS}/edit", {"data": {}}),
        (
            "POST",
            f"/v1/voices/{RMS}/settings/edit",
            {"content": b"[]", "headers": {"content-type": "application/json"}},
        ),
        ("GET", "/v2/voices?next_page_token=LTE%3D", {}),
        ("GET", "/v1/nowhere", {}),
        ("PUT", "/v1/models", {}),
    ]
    for method, path, kwargs in nasty:
        response = client.request(method, path, **kwargs)
        assert 400 <= response.status_code < 500, (method, path, response.status_code, response.text)
        body = response.json()
        assert "detail" in body, body
        if response.status_code != 422:
            assert {"status", "message"} <= set(body["detail"]), body
