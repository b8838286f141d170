"""Voice design through the HTTP API: previews, determinism, measured F0/rate/loudness, saving, remix, errors.

F0 is measured with Praat (parselmouth), independently of the pipeline's own analysis; the rate as the length
of the speech (silence trimmed) for one text; loudness with pyloudnorm (ITU-R BS.1770). One app serves the
whole module and the designs it needs are made once, so the file stays fast.
"""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Iterator
from typing import Any

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.services.voices import premade_voice_id
from chorus.voicelab.voice_model import VoiceTransform
from tests.conftest import ADMIN_KEY, make_settings
from tests.contract.openapi import SPEC_PATH, validate_response

RMS = premade_voice_id("flite", "rms")
RATE = 16_000
# 100+ characters (the spec's minimum), short enough to render quickly.
TEXT = (
    "The river was calm this morning, so we took the small boat out past the old bridge and the mill."
    " What a sight!"
)
DEEP = "A deep voice, slow and calm, the kind you hear late at night on the radio."
HIGH = "A high-pitched voice, quick and cheerful, like a bubbly children's TV host."


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("ttv") / "data")
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as test_client:
        yield test_client


def _design(client: TestClient, description: str, **body: Any) -> dict[str, Any]:
    output_format = body.pop("output_format", "pcm_16000")
    response = client.post(
        "/v1/text-to-voice/design",
        params={"output_format": output_format},
        json={"voice_description": description, **body},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _samples(preview: dict[str, Any]) -> np.ndarray:
    assert preview["media_type"] == "audio/pcm"
    return np.frombuffer(base64.b64decode(preview["audio_base_64"]), "<i2").astype(np.float64) / 32768


def _f0(samples: np.ndarray) -> float:
    import parselmouth

    pitch = parselmouth.Sound(samples, RATE).to_pitch(time_step=0.01, pitch_floor=50, pitch_ceiling=600)
    values = pitch.selected_array["frequency"]
    return float(np.median(values[values > 0]))


def _speech_seconds(samples: np.ndarray) -> float:
    """Length from the first to the last 20 ms frame within 35 dB of the loudest."""
    frames = samples[: samples.size // 320 * 320].reshape(-1, 320)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    active = np.flatnonzero(level > level.max() - 35)
    return (active[-1] - active[0] + 1) * 0.02


def _seconds(audio: bytes) -> float:
    with av.open(io.BytesIO(audio)) as container:
        return sum(frame.samples / frame.sample_rate for frame in container.decode(audio=0))


def _loudness(samples: np.ndarray) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(RATE).integrated_loudness(samples))


@pytest.fixture(scope="module")
def deep(client: TestClient) -> dict[str, Any]:
    return _design(client, DEEP, text=TEXT, seed=42, loudness=0.0)


@pytest.fixture(scope="module")
def high(client: TestClient) -> dict[str, Any]:
    return _design(client, HIGH, text=TEXT, seed=42, loudness=0.0)


# --- previews ------------------------------------------------------------------------------------


def test_design_returns_three_previews_in_the_spec_shape(deep: dict[str, Any]) -> None:
    assert set(deep) == {"previews", "text"} and deep["text"] == TEXT
    assert len(deep["previews"]) == 3
    ids = set()
    for preview in deep["previews"]:
        assert set(preview) == {
            "audio_base_64",
            "generated_voice_id",
            "media_type",
            "duration_secs",
            "language",
        }
        samples = _samples(preview)
        assert preview["duration_secs"] == pytest.approx(samples.size / RATE, abs=0.01)
        assert preview["language"] == "en"
        ids.add(preview["generated_voice_id"])
    assert len(ids) == 3
    if SPEC_PATH.exists():
        assert validate_response("POST", "/v1/text-to-voice/design", deep) == []


def test_the_three_previews_differ(deep: dict[str, Any], high: dict[str, Any]) -> None:
    for result in (deep, high):
        f0s = sorted(_f0(_samples(p)) for p in result["previews"])
        # Measured medians at least 2.5 % apart (the designs ask for about a semitone or more).
        assert all(b / a > 1.025 for a, b in itertools.pairwise(f0s)), f0s
        audio = [p["audio_base_64"] for p in result["previews"]]
        assert len(set(audio)) == 3


def test_a_seed_makes_previews_byte_identical_and_is_charged_like_tts(
    client: TestClient, deep: dict[str, Any]
) -> None:
    # The older create-previews route runs the same design: same inputs and seed, the same bytes.
    before = client.get("/v1/user/subscription").json()["character_count"]
    response = client.post(
        "/v1/text-to-voice/create-previews",
        params={"output_format": "pcm_16000"},
        json={"voice_description": DEEP, "text": TEXT, "seed": 42, "loudness": 0.0},
    )
    assert response.status_code == 200, response.text
    again = response.json()
    assert again["text"] == TEXT
    assert [p["audio_base_64"] for p in again["previews"]] == [p["audio_base_64"] for p in deep["previews"]]
    assert {p["generated_voice_id"] for p in again["previews"]}.isdisjoint(
        p["generated_voice_id"] for p in deep["previews"]
    )
    # One charge for the preview text's characters, as for TTS.
    assert response.headers["character-cost"] == str(len(TEXT))
    assert client.get("/v1/user/subscription").json()["character_count"] == before + len(TEXT)


def test_deep_and_high_pitched_differ_in_f0_and_fast_and_slow_in_rate(
    deep: dict[str, Any], high: dict[str, Any]
) -> None:
    deep_f0 = [_f0(_samples(p)) for p in deep["previews"]]
    high_f0 = [_f0(_samples(p)) for p in high["previews"]]
    # Every high-pitched preview at least 40 % above every deep one.
    assert min(high_f0) >= 1.4 * max(deep_f0), (deep_f0, high_f0)
    slow = [_speech_seconds(_samples(p)) for p in deep["previews"]]
    quick = [_speech_seconds(_samples(p)) for p in high["previews"]]
    assert min(slow) > 1.2 * max(quick), (slow, quick)


def test_loudness_lands_within_2_lu_of_the_target(client: TestClient, deep: dict[str, Any]) -> None:
    for preview in deep["previews"]:  # loudness 0: about -24 LUFS
        assert _loudness(_samples(preview)) == pytest.approx(-24.0, abs=2.0)
    service = client.app.state.services.voice_design  # type: ignore[attr-defined]
    for loudness in (-1.0, 1.0):  # the quietest and the loudest, one preview each (the same pipeline)
        _, _, _, designs = service._plan_design(DEEP, TEXT, 7, 5.0, loudness)
        rendered = service.render_preview(designs[0], TEXT)
        samples = rendered.samples.astype(np.float64)
        assert rendered.sample_rate == RATE
        assert _loudness(samples) == pytest.approx(-24 + 10 * loudness, abs=2.0)
        assert np.abs(samples).max() < 1.0


def test_timbre_words_change_the_voice(client: TestClient) -> None:
    from parselmouth import Sound
    from parselmouth.praat import call

    from chorus.voicelab.design import BaseVoice, design_voices, parse_description

    service = client.app.state.services.voice_design  # type: ignore[attr-defined]
    rms = BaseVoice("flite", "rms", "male", "american", "middle_aged", "en", sample_rate=RATE)

    def shimmer(description: str) -> float:
        # One base voice and one seed: the two designs differ only in what the words ask for.
        design = design_voices(parse_description(description), [rms], guidance_scale=8, seed=11)[0]
        sound = Sound(service.render_preview(design, TEXT).samples.astype(np.float64), RATE)
        points = call(sound, "To PointProcess (periodic, cc)", 60, 400)
        return float(call([sound, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6))

    smooth, raspy = shimmer("A smooth man's voice."), shimmer("A raspy, gravelly man's voice.")
    assert raspy > 1.15 * smooth, (smooth, raspy)


def test_auto_generated_text_fits_the_description(client: TestClient) -> None:
    result = _design(
        client, "An old pirate captain with a gravelly voice, shouting orders on deck.", auto_generate_text=True,
        seed=1, stream_previews=True,
    )  # fmt: skip
    assert 100 <= len(result["text"]) <= 1000
    assert any(word in result["text"].lower() for word in ("sea", "sail", "deck", "landlubber"))
    spanish = _design(client, "A Spanish-speaking woman, warm and friendly.", seed=1, stream_previews=True)
    assert all(p["language"] == "es" for p in spanish["previews"])
    assert "de" in spanish["text"].split()


# --- saving and streaming ------------------------------------------------------------------------


def test_saving_a_preview_makes_a_generated_voice_with_its_transform(
    client: TestClient, deep: dict[str, Any]
) -> None:
    preview = deep["previews"][1]
    response = client.post(
        "/v1/text-to-voice",
        json={
            "voice_name": "Night radio",
            "voice_description": DEEP,
            "generated_voice_id": preview["generated_voice_id"],
            "labels": {"use_case": "radio"},
        },
    )
    assert response.status_code == 200, response.text
    voice = response.json()
    assert voice["category"] == "generated" and voice["name"] == "Night radio"
    assert voice["labels"]["use_case"] == "radio" and voice["labels"]["gender"] == "male"
    assert voice["is_owner"] is True
    if SPEC_PATH.exists():
        assert validate_response("POST", "/v1/text-to-voice", voice) == []
    stored = _voice_row(client, voice["voice_id"])
    transform = VoiceTransform.from_json(stored.transform)
    assert stored.engine == "flite" and stored.native_voice in ("rms", "awb", "kal16")
    assert transform.f0_median_hz is not None and transform.f0_median_hz < 120
    assert transform.rate < 1.0 and transform.loudness_lufs == -24.0
    # The preview's own measured F0 is what the transform asked for.
    assert _f0(_samples(preview)) == pytest.approx(transform.f0_median_hz, rel=0.12)
    # The voice is listed and speaks in the TTS routes.
    assert voice["voice_id"] in {v["voice_id"] for v in client.get("/v1/voices").json()["voices"]}
    tts = client.post(
        f"/v1/text-to-speech/{voice['voice_id']}",
        params={"output_format": "pcm_16000"},
        json={"text": "Good evening, and welcome to the late show."},
    )
    assert tts.status_code == 200 and len(tts.content) > RATE


def test_a_saved_voice_speaks_like_its_preview_in_tts(client: TestClient, deep: dict[str, Any]) -> None:
    preview = deep["previews"][0]
    saved = client.post(
        "/v1/text-to-voice",
        json={
            "voice_name": "Slow",
            "voice_description": DEEP,
            "generated_voice_id": preview["generated_voice_id"],
        },
    ).json()
    tts = client.post(
        f"/v1/text-to-speech/{saved['voice_id']}", params={"output_format": "pcm_16000"}, json={"text": TEXT}
    )
    assert tts.status_code == 200
    spoken = np.frombuffer(tts.content, "<i2").astype(np.float64) / 32768
    expected = _samples(preview)
    assert _f0(spoken) == pytest.approx(_f0(expected), rel=0.08)
    assert _speech_seconds(spoken) == pytest.approx(_speech_seconds(expected), rel=0.1)


def _voice_row(client: TestClient, voice_id: str) -> Any:
    from chorus.storage.models import Voice

    sessions = client.app.state.services.db.sessions  # type: ignore[attr-defined]

    async def load() -> Any:
        async with sessions() as session:
            return await session.get(Voice, voice_id)

    return client.portal.call(load)  # type: ignore[union-attr]


def test_stream_previews_render_on_demand(client: TestClient, deep: dict[str, Any]) -> None:
    result = _design(
        client, "A warm, friendly woman with a British accent.", text=TEXT, seed=5, stream_previews=True
    )
    assert all(p["audio_base_64"] == "" and p["duration_secs"] > 0 for p in result["previews"])
    generated = result["previews"][0]["generated_voice_id"]
    first = client.get(f"/v1/text-to-voice/{generated}/stream")
    assert first.status_code == 200 and first.headers["content-type"] == "audio/mpeg"
    assert _seconds(first.content) > 1.0
    assert client.get(f"/v1/text-to-voice/{generated}/stream").content == first.content
    # A preview delivered as PCM streams as MP3 (the route's format), the same length.
    pcm = deep["previews"][2]
    streamed = client.get(f"/v1/text-to-voice/{pcm['generated_voice_id']}/stream")
    assert streamed.status_code == 200 and streamed.headers["content-type"] == "audio/mpeg"
    assert _seconds(streamed.content) == pytest.approx(pcm["duration_secs"], abs=0.1)


# --- remix ---------------------------------------------------------------------------------------


def test_remix_moves_f0_and_rate_in_the_asked_direction(client: TestClient) -> None:
    source = client.post(
        f"/v1/text-to-speech/{RMS}", params={"output_format": "pcm_16000"}, json={"text": TEXT, "seed": 1}
    )
    assert source.status_code == 200
    original = np.frombuffer(source.content, "<i2").astype(np.float64) / 32768
    response = client.post(
        f"/v1/text-to-voice/{RMS}/remix",
        params={"output_format": "pcm_16000"},
        json={"voice_description": "deeper, slower, more excited", "text": TEXT, "seed": 3},
    )
    assert response.status_code == 200, response.text
    previews = response.json()["previews"]
    assert len(previews) == 3
    for preview in previews:
        samples = _samples(preview)
        assert _f0(samples) < 0.95 * _f0(original)
        assert _speech_seconds(samples) > 1.05 * _speech_seconds(original)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "params"),
    [
        ({"voice_description": "too short"}, {}),
        ({"voice_description": "x" * 1001}, {}),
        ({"voice_description": DEEP, "text": "Too short to preview."}, {}),
        ({"voice_description": DEEP, "loudness": 1.5}, {}),
        ({"voice_description": DEEP, "guidance_scale": 101}, {}),
        ({"voice_description": DEEP, "seed": -1}, {}),
        ({"voice_description": DEEP, "model_id": "eleven_v3"}, {}),
        ({"voice_description": DEEP}, {"output_format": "mp3_1_2"}),
        ({}, {}),
    ],
)
def test_invalid_design_requests_get_422(
    client: TestClient, body: dict[str, Any], params: dict[str, str]
) -> None:
    response = client.post("/v1/text-to-voice/design", params=params, json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


def test_other_errors(client: TestClient) -> None:
    remix_short = client.post(f"/v1/text-to-voice/{RMS}/remix", json={"voice_description": "low"})
    assert remix_short.status_code == 422
    unknown_voice = client.post("/v1/text-to-voice/nope/remix", json={"voice_description": "deeper please"})
    assert unknown_voice.status_code == 404
    assert unknown_voice.json()["detail"]["status"] == "voice_not_found"
    missing = client.post(
        "/v1/text-to-voice",
        json={"voice_name": "x", "voice_description": DEEP, "generated_voice_id": "doesnotexist"},
    )
    assert missing.status_code == 404
    assert missing.json()["detail"]["status"] == "generated_voice_not_found"
    assert client.get("/v1/text-to-voice/doesnotexist/stream").status_code == 404
    reference = client.post(
        "/v1/text-to-voice/design",
        json={"voice_description": DEEP, "model_id": "eleven_ttv_v3", "reference_audio_base64": "AAAA"},
    )
    assert reference.status_code == 400
    assert reference.json()["detail"]["status"] == "unsupported_feature"


def test_permissions_and_ownership(client: TestClient, deep: dict[str, Any]) -> None:
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    reader = client.portal.call(lambda: accounts.create_key("tts", permissions=["text_to_speech"]))  # type: ignore[union-attr]
    denied = client.post(
        "/v1/text-to-voice/design", json={"voice_description": DEEP}, headers={"xi-api-key": reader.secret}
    )
    assert denied.status_code == 403 and "voice_generation" in denied.json()["detail"]["message"]
    # Another user's key cannot see, save or stream this user's previews.
    other = client.portal.call(lambda: accounts.create_key("other", user_name="someone-else"))  # type: ignore[union-attr]
    generated = deep["previews"][0]["generated_voice_id"]
    headers = {"xi-api-key": other.secret}
    assert client.get(f"/v1/text-to-voice/{generated}/stream", headers=headers).status_code == 404
    saved = client.post(
        "/v1/text-to-voice",
        json={"voice_name": "x", "voice_description": DEEP, "generated_voice_id": generated},
        headers=headers,
    )
    assert saved.status_code == 404
