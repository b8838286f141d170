"""Text to speech and its history, in process."""

from __future__ import annotations

import io
import time
import zipfile

import av
import pytest
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY

RMS = premade_voice_id("flite", "rms")


def _duration(audio: bytes) -> float:
    with av.open(io.BytesIO(audio)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def test_convert_returns_mp3_with_headers(client: TestClient) -> None:
    response = client.post(f"/v1/text-to-speech/{RMS}", json={"text": "Hello from Chorus."})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["character-cost"] == "18"
    assert response.headers["history-item-id"]
    assert response.headers["request-id"]
    assert response.headers["current-concurrent-requests"] == "1"
    assert int(response.headers["maximum-concurrent-requests"]) >= 1
    assert 0.5 < _duration(response.content) < 4.0


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("pcm_16000", lambda b: len(b) % 2 == 0 and len(b) > 16000),
        ("wav_22050", lambda b: b[:4] == b"RIFF"),
        ("ulaw_8000", lambda b: len(b) > 4000),
        ("opus_48000_64", lambda b: b[:4] == b"OggS"),
    ],
)
def test_output_formats(client: TestClient, fmt: str, check) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        f"/v1/text-to-speech/{RMS}",
        params={"output_format": fmt},
        json={"text": "Format check, one two three."},
    )
    assert response.status_code == 200, response.text
    assert check(response.content)


def test_unknown_output_format_is_422(client: TestClient) -> None:
    response = client.post(
        f"/v1/text-to-speech/{RMS}", params={"output_format": "mp3_1_1"}, json={"text": "x"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "output_format"]


def test_speed_setting_is_audible(client: TestClient) -> None:
    text = "The quick brown fox jumps over the lazy dog near the river bank."
    durations = []
    for speed in (0.7, 1.2):
        response = client.post(
            f"/v1/text-to-speech/{RMS}",
            params={"output_format": "pcm_16000", "enable_logging": "false"},
            json={"text": text, "voice_settings": {"speed": speed}},
        )
        durations.append(len(response.content) / 32000)
    assert durations[0] > durations[1] * 1.3


def test_errors(client: TestClient) -> None:
    missing = client.post(f"/v1/text-to-speech/{RMS}", json={})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "text"]
    unknown = client.post("/v1/text-to-speech/nosuchvoice", json={"text": "hi"})
    assert unknown.status_code == 404 and unknown.json()["detail"]["status"] == "voice_not_found"
    model = client.post(f"/v1/text-to-speech/{RMS}", json={"text": "hi", "model_id": "nope"})
    assert model.status_code == 400 and model.json()["detail"]["status"] == "model_not_found"
    too_long = client.post(f"/v1/text-to-speech/{RMS}", json={"text": "a" * 5001, "model_id": "eleven_v3"})
    assert (
        too_long.status_code == 400 and too_long.json()["detail"]["status"] == "max_character_limit_exceeded"
    )
    blank = client.post(f"/v1/text-to-speech/{RMS}", json={"text": "   "})
    assert blank.status_code == 400
    espeak_voice = next(
        v["voice_id"] for v in client.get("/v1/voices").json()["voices"] if v.get("engine") == "espeak-ng"
    )
    mismatch = client.post(
        f"/v1/text-to-speech/{espeak_voice}", json={"text": "hi", "model_id": "chorus_flite"}
    )
    assert mismatch.status_code == 400


def test_errors_are_not_charged(client: TestClient) -> None:
    before = client.get("/v1/user/subscription").json()["character_count"]
    client.post("/v1/text-to-speech/nosuchvoice", json={"text": "hello"})
    client.post(f"/v1/text-to-speech/{RMS}", json={"text": "hello", "model_id": "nope"})
    assert client.get("/v1/user/subscription").json()["character_count"] == before


def test_seed_is_deterministic(client: TestClient) -> None:
    body = {"text": "Same seed, same bytes.", "seed": 7}
    first = client.post(f"/v1/text-to-speech/{RMS}", json=body).content
    second = client.post(f"/v1/text-to-speech/{RMS}", json=body).content
    assert first == second


def test_history_lifecycle(client: TestClient) -> None:
    ids = []
    for text in ("first item", "second item", "third item"):
        response = client.post(
            f"/v1/text-to-speech/{RMS}", json={"text": text, "model_id": "eleven_flash_v2_5"}
        )
        ids.append(response.headers["history-item-id"])
        time.sleep(0.01)
    client.post(f"/v1/text-to-speech/{RMS}", params={"enable_logging": "false"}, json={"text": "not logged"})
    listing = client.get("/v1/history").json()
    assert [h["history_item_id"] for h in listing["history"]] == ids[::-1]
    assert listing["has_more"] is False
    item = listing["history"][0]
    assert item["text"] == "third item" and item["model_id"] == "eleven_flash_v2_5"
    assert item["voice_id"] == RMS and item["voice_category"] == "premade" and item["state"] == "created"
    assert item["character_count_change_to"] - item["character_count_change_from"] == 5  # 10 chars x 0.5
    assert item["settings"]["stability"] == 0.5

    page = client.get("/v1/history", params={"page_size": 2}).json()
    assert page["has_more"] is True and len(page["history"]) == 2
    rest = client.get(
        "/v1/history", params={"page_size": 2, "start_after_history_item_id": page["last_history_item_id"]}
    ).json()
    assert [h["history_item_id"] for h in rest["history"]] == [ids[0]] and rest["has_more"] is False
    assert (
        client.get("/v1/history", params={"search": "second"}).json()["history"][0]["history_item_id"]
        == ids[1]
    )
    ascending = client.get("/v1/history", params={"sort_direction": "asc"}).json()["history"]
    assert [h["history_item_id"] for h in ascending] == ids
    assert client.get("/v1/history", params={"voice_id": "other"}).json()["history"] == []

    audio = client.get(f"/v1/history/{ids[0]}/audio")
    assert (
        audio.status_code == 200
        and audio.headers["content-type"] == "audio/mpeg"
        and _duration(audio.content) > 0.3
    )

    single = client.post("/v1/history/download", json={"history_item_ids": [ids[0]]})
    assert single.content == audio.content
    as_wav = client.post("/v1/history/download", json={"history_item_ids": [ids[0]], "output_format": "wav"})
    assert as_wav.content[:4] == b"RIFF"
    bundle = client.post("/v1/history/download", json={"history_item_ids": ids})
    assert bundle.headers["content-type"] == "application/zip"
    assert len(zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()) == 3
    assert client.post("/v1/history/download", json={"history_item_ids": []}).status_code == 422

    assert client.delete(f"/v1/history/{ids[1]}").json() == {"status": "ok"}
    assert client.get(f"/v1/history/{ids[1]}").status_code == 404
    assert client.get(f"/v1/history/{ids[1]}/audio").status_code == 404
    assert len(client.get("/v1/history").json()["history"]) == 2


def test_identical_audio_is_stored_once(client: TestClient) -> None:
    body = {"text": "Stored once.", "seed": 1}
    first = client.post(f"/v1/text-to-speech/{RMS}", json=body).headers["history-item-id"]
    second = client.post(f"/v1/text-to-speech/{RMS}", json=body).headers["history-item-id"]
    blobs = client.app.state.services.settings.data_dir / "blobs" / "audio"  # type: ignore[attr-defined]
    assert len(list(blobs.iterdir())) == 1
    client.delete(f"/v1/history/{first}")
    assert client.get(f"/v1/history/{second}/audio").status_code == 200  # still referenced
    client.delete(f"/v1/history/{second}")
    assert list(blobs.iterdir()) == []


def test_history_and_keys_survive_restart(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as first:
        history_id = first.post(f"/v1/text-to-speech/{RMS}", json={"text": "persist me"}).headers[
            "history-item-id"
        ]
        audio = first.get(f"/v1/history/{history_id}/audio").content
        used = first.get("/v1/user/subscription").json()["character_count"]
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as second:
        assert second.get(f"/v1/history/{history_id}/audio").content == audio
        assert second.get("/v1/user/subscription").json()["character_count"] == used
