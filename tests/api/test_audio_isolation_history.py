"""Audio isolation history over HTTP: ``GET /v1/audio-isolation/history``, its items' ``download_url`` and
``DELETE /v1/audio-isolation/history/{history_item_id}``."""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, make_settings
from tests.contract.openapi import SPEC_PATH, validate_response

RMS = premade_voice_id("flite", "rms")
RATE = 16_000
PREVIEW = base64.b64encode(b"\x89PNG\r\n\x1a\n tiny preview").decode()


@pytest.fixture
def noisy(client: TestClient) -> np.ndarray:
    """TTS speech with white noise at 6 dB SNR, int16 at 16 kHz."""
    response = client.post(
        f"/v1/text-to-speech/{RMS}",
        params={"output_format": "pcm_16000", "enable_logging": "false"},
        json={"text": "Keep the history of what was cleaned."},
    )
    assert response.status_code == 200
    speech = np.frombuffer(response.content, "<i2").astype(np.float64) / 32768
    noise = np.random.default_rng(2).standard_normal(speech.size) * np.sqrt(np.mean(speech**2) / 4)
    return np.clip(np.round((speech + noise) * 32768), -32768, 32767).astype("<i2")


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def _isolate(client: TestClient, name: str, audio: bytes, **data: str) -> bytes:
    response = client.post("/v1/audio-isolation", files={"audio": (name, audio, "audio/wav")}, data=data)
    assert response.status_code == 200, response.text
    return response.content


def _history(client: TestClient, **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get("/v1/audio-isolation/history", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    if SPEC_PATH.exists():
        assert validate_response("GET", "/v1/audio-isolation/history", body) == []
    return body


def test_isolations_are_recorded_with_their_audio(client: TestClient, noisy: np.ndarray) -> None:
    assert _history(client) == {"items": [], "has_more": False}
    audio = _wav(noisy)
    converted = _isolate(client, "interview take 1.wav", audio, preview_b64=PREVIEW)
    with client.stream(
        "POST", "/v1/audio-isolation/stream", files={"audio": ("streamed.wav", audio, "audio/wav")}
    ) as response:
        assert response.status_code == 200
        streamed = b"".join(response.iter_raw())

    items = _history(client)["items"]
    assert [item["title"] for item in items] == ["streamed.wav", "interview take 1.wav"]  # newest first
    second, first = items
    assert first["format"] == "mp3_44100_128" and first["processing"] is False
    assert first["duration_seconds"] == pytest.approx(noisy.size / RATE, abs=0.01)
    assert first["preview_b64"] == PREVIEW and second["preview_b64"] is None
    assert first["supports_video"] is False and first["source_video_url"] is None
    assert first["created_at_unix"] <= second["created_at_unix"]
    # download_url serves exactly what the request answered, to the same API key only.
    for item, answered in ((first, converted), (second, streamed)):
        download = client.get(item["download_url"])
        assert download.status_code == 200 and download.content == answered
        assert download.headers["content-type"] == "audio/mpeg"
    anonymous = client.get(first["download_url"], headers={"xi-api-key": ""})
    assert anonymous.status_code == 401


def test_delete_removes_the_item_and_its_audio(client: TestClient, noisy: np.ndarray) -> None:
    _isolate(client, "a.wav", _wav(noisy[: 2 * RATE]))
    (item,) = _history(client)["items"]
    services = client.app.state.services  # type: ignore[attr-defined]
    principal = client.portal.call(services.accounts.authenticate, client.headers["xi-api-key"])  # type: ignore[union-attr]
    stored = client.portal.call(services.audio_isolation.history.get, principal.user_id, item["id"])  # type: ignore[union-attr]
    assert asyncio.run(services.blobs.exists(stored.blob_key))
    response = client.delete(f"/v1/audio-isolation/history/{item['id']}")
    assert response.status_code == 204 and response.content == b""
    assert _history(client)["items"] == []
    assert client.get(item["download_url"]).status_code == 404
    again = client.delete(f"/v1/audio-isolation/history/{item['id']}")
    assert again.status_code == 404
    assert again.json()["detail"]["status"] == "history_item_not_found"
    assert not asyncio.run(services.blobs.exists(stored.blob_key))


def test_pages_and_search(client: TestClient, noisy: np.ndarray) -> None:
    short = _wav(noisy[: RATE // 2])
    names = ["podcast 1.wav", "lecture.wav", "podcast 2.wav", "100%_done.wav"]
    for name in names:
        _isolate(client, name, short)
    newest_first = list(reversed(names))
    pages = [_history(client, page_size=3, page=page) for page in (1, 2, 3)]
    assert [i["title"] for i in pages[0]["items"]] == newest_first[:3] and pages[0]["has_more"] is True
    assert [i["title"] for i in pages[1]["items"]] == newest_first[3:] and pages[1]["has_more"] is False
    assert pages[2] == {"items": [], "has_more": False}
    found = _history(client, search="PODCAST", page_size=1)
    assert [i["title"] for i in found["items"]] == ["podcast 2.wav"] and found["has_more"] is True
    assert [i["title"] for i in _history(client, search="podcast", page_size=1, page=2)["items"]] == [
        "podcast 1.wav"
    ]
    # LIKE wildcards in a search are literal characters.
    assert [i["title"] for i in _history(client, search="%_")["items"]] == ["100%_done.wav"]
    for bad in ({"page_size": 0}, {"page_size": 1001}, {"page": 0}, {"page_size": "x"}):
        response = client.get("/v1/audio-isolation/history", params=bad)
        assert response.status_code == 422, bad


def test_failed_isolations_are_not_recorded(client: TestClient) -> None:
    response = client.post(
        "/v1/audio-isolation", files={"audio": ("junk.mp3", b"not audio" * 40, "audio/mpeg")}
    )
    assert response.status_code == 400
    assert _history(client)["items"] == []


def test_history_is_per_user_and_needs_the_permission(client: TestClient, noisy: np.ndarray) -> None:
    _isolate(client, "mine.wav", _wav(noisy[:RATE]))
    (item,) = _history(client)["items"]
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    other = client.portal.call(lambda: accounts.create_key("other", user_name="someone-else"))  # type: ignore[union-attr]
    headers = {"xi-api-key": other.secret}
    listed = client.get("/v1/audio-isolation/history", headers=headers)
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert client.get(item["download_url"], headers=headers).status_code == 404
    assert client.delete(f"/v1/audio-isolation/history/{item['id']}", headers=headers).status_code == 404
    tts_only = client.portal.call(lambda: accounts.create_key("tts", permissions=["text_to_speech"]))  # type: ignore[union-attr]
    denied = client.get("/v1/audio-isolation/history", headers={"xi-api-key": tts_only.secret})
    assert denied.status_code == 403
    assert len(_history(client)["items"]) == 1


def test_history_on_postgres(postgres_url: str, tmp_path: Path, noisy: np.ndarray) -> None:
    """The same listing, search (LIKE escaping differs between backends) and delete on PostgreSQL."""
    settings = make_settings(tmp_path / "pg", database_url=postgres_url)
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as pg:
        short = _wav(noisy[: RATE // 2])
        for name in ("50% off.wav", "500 off.wav"):
            _isolate(pg, name, short)
        assert [i["title"] for i in _history(pg)["items"]] == ["500 off.wav", "50% off.wav"]
        (item,) = _history(pg, search="0%")["items"]
        assert item["title"] == "50% off.wav"
        assert pg.delete(f"/v1/audio-isolation/history/{item['id']}").status_code == 204
        assert [i["title"] for i in _history(pg)["items"]] == ["500 off.wav"]
