"""Every implemented JSON endpoint's body validates against the official OpenAPI response schema."""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, http_routes, make_settings
from tests.contract.openapi import SPEC_PATH, spec, validate_response

pytestmark = [
    pytest.mark.contract,
    pytest.mark.skipif(not SPEC_PATH.exists(), reason=f"ElevenLabs OpenAPI spec not found at {SPEC_PATH}"),
]
RMS = premade_voice_id("flite", "rms")


@pytest.fixture
def populated(client: TestClient) -> TestClient:
    client.post(f"/v1/text-to-speech/{RMS}", json={"text": "Schema check one."})
    client.post(f"/v1/text-to-speech/{RMS}", json={"text": "Schema check two.", "model_id": "eleven_v3"})
    return client


def _history_id(client: TestClient) -> str:
    return client.get("/v1/history").json()["history"][0]["history_item_id"]


CASES = [
    ("GET", "/v1/models", lambda c: "/v1/models"),
    ("GET", "/v1/voices", lambda c: "/v1/voices"),
    ("GET", "/v2/voices", lambda c: "/v2/voices?page_size=3"),
    ("GET", "/v1/voices/{voice_id}", lambda c: f"/v1/voices/{RMS}"),
    ("GET", "/v1/voices/{voice_id}/settings", lambda c: f"/v1/voices/{RMS}/settings"),
    ("GET", "/v1/voices/settings/default", lambda c: "/v1/voices/settings/default"),
    ("GET", "/v1/user", lambda c: "/v1/user"),
    ("GET", "/v1/user/subscription", lambda c: "/v1/user/subscription"),
    ("GET", "/v1/history", lambda c: "/v1/history"),
    ("GET", "/v1/history/{history_item_id}", lambda c: f"/v1/history/{_history_id(c)}"),
    (
        "GET",
        "/v1/usage/character-stats",
        lambda c: (
            f"/v1/usage/character-stats?start_unix=0&end_unix={int(time.time() * 1000)}&aggregation_interval=month"
        ),
    ),
]


@pytest.mark.parametrize(("method", "spec_path", "url"), CASES, ids=[c[1] for c in CASES])
def test_json_responses_match_spec(populated: TestClient, method: str, spec_path: str, url) -> None:  # type: ignore[no-untyped-def]
    response = populated.request(method, url(populated))
    assert response.status_code == 200, response.text
    errors = validate_response(method, spec_path, response.json())
    assert errors == [], errors


DESCRIPTION = "A warm, friendly woman with a British accent, reading the news."
PREVIEW_TEXT = (  # the spec's minimum is 100 characters
    "The river was calm this morning, so we took the small boat out past the old bridge and the mill."
    " What a sight!"
)


def _design(c: TestClient) -> Any:
    # stream_previews: ids and estimated durations only, nothing rendered (cheap).
    body = {"voice_description": DESCRIPTION, "text": PREVIEW_TEXT, "seed": 1, "stream_previews": True}
    return c.post("/v1/text-to-voice/design", json=body)


def _save_preview(c: TestClient) -> Any:
    generated_voice_id = _design(c).json()["previews"][0]["generated_voice_id"]
    body = {
        "voice_name": "Schema",
        "voice_description": DESCRIPTION,
        "generated_voice_id": generated_voice_id,
    }
    return c.post("/v1/text-to-voice", json=body)


def _clone(c: TestClient) -> Any:
    service = c.app.state.services.voice_clone  # type: ignore[attr-defined]
    service.candidates = [("flite", "rms")]  # one base, no speaker embedder: the body is under test
    service._embedder, service._embedder_checked = None, True
    pcm = c.post(
        f"/v1/text-to-speech/{RMS}", params={"output_format": "pcm_16000"}, json={"text": PREVIEW_TEXT}
    ).content
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(pcm)
    files = [("files", ("sample.wav", buffer.getvalue(), "audio/wav"))]
    return c.post("/v1/voices/add", data={"name": "Schema clone"}, files=files)


# JSON bodies of the routes that create things: (spec path, the request).
POST_CASES = [
    ("/v1/text-to-voice/design", _design),
    (
        "/v1/text-to-voice/create-previews",
        lambda c: c.post(
            "/v1/text-to-voice/create-previews",
            params={"output_format": "pcm_16000"},
            json={"voice_description": DESCRIPTION, "text": PREVIEW_TEXT, "seed": 1},
        ),
    ),
    (
        "/v1/text-to-voice/{voice_id}/remix",
        lambda c: c.post(
            f"/v1/text-to-voice/{RMS}/remix",
            json={"voice_description": "deeper and slower", "text": PREVIEW_TEXT, "stream_previews": True},
        ),
    ),
    ("/v1/text-to-voice", _save_preview),
    ("/v1/voices/add", _clone),
    (
        "/v1/text-to-speech/{voice_id}/with-timestamps",
        lambda c: c.post(f"/v1/text-to-speech/{RMS}/with-timestamps", json={"text": "Schema check."}),
    ),
]


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the POST cases: voice design analyses its base voices once per app (seconds of CPU)."""
    settings = make_settings(tmp_path_factory.mktemp("schemas") / "data")
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as test_client:
        yield test_client


@pytest.mark.parametrize(("spec_path", "send"), POST_CASES, ids=[c[0] for c in POST_CASES])
def test_post_json_responses_match_spec(shared_client: TestClient, spec_path: str, send) -> None:  # type: ignore[no-untyped-def]
    response = send(shared_client)
    assert response.status_code == 200, response.text
    errors = validate_response("POST", spec_path, response.json())
    assert errors == [], errors


def test_write_endpoints_match_spec(populated: TestClient) -> None:
    edited = populated.post(f"/v1/voices/{RMS}/settings/edit", json={"stability": 0.4})
    assert validate_response("POST", "/v1/voices/{voice_id}/settings/edit", edited.json()) == []
    deleted = populated.delete(f"/v1/history/{_history_id(populated)}")
    assert validate_response("DELETE", "/v1/history/{history_item_id}", deleted.json()) == []


def test_validation_errors_match_spec(populated: TestClient) -> None:
    response = populated.post(f"/v1/text-to-speech/{RMS}", json={})
    assert response.status_code == 422
    assert validate_response("POST", "/v1/text-to-speech/{voice_id}", response.json(), status="422") == []


# Paths the official SDK calls that the shipped spec names differently: each is an alias of a spec path.
SDK_ALIASES = {
    "/v1/voice-changer/{voice_id}": "/v1/speech-to-speech/{voice_id}",  # elevenlabs 2.78 speech_to_speech
    "/v1/voice-changer/{voice_id}/stream": "/v1/speech-to-speech/{voice_id}/stream",
}

# Chorus' own routes, outside the spec: each is where a spec body field points (a URL the spec leaves open).
CHORUS_EXTENSIONS = {
    # AudioIsolationHistoryItemResponseModel.download_url
    ("GET", "/v1/audio-isolation/history/{history_item_id}/audio"),
}


def test_every_implemented_route_is_in_the_spec(populated: TestClient) -> None:
    paths = spec()["paths"]
    for method, path in http_routes(populated.app):
        if path != "/health" and (method, path) not in CHORUS_EXTENSIONS:
            path = SDK_ALIASES.get(path, path)
            assert path in paths, path
            assert method.lower() in paths[path], (method, path)


def test_validator_catches_a_broken_body() -> None:
    broken = {"voices": [{"voice_id": "x"}]}  # name, category and others missing
    assert validate_response("GET", "/v1/voices", broken)
