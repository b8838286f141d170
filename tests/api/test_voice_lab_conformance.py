"""Voice-lab routes against the spec: 422s for what the spec's schemas refuse, and saved voices (designed or
cloned) through the other routes: TTS stream vs convert, remix, voice settings, speech-to-speech formats.

One app serves the module; one design (with ``stream_previews``, so nothing is rendered up front) and one
clone (flite candidates only, no speaker embedder) are made once and shared.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from typing import Any

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, make_settings

RMS = premade_voice_id("flite", "rms")
AWB = premade_voice_id("flite", "awb")
RATE = 16_000
DESCRIPTION = "A deep voice, slow and calm, the kind you hear late at night on the radio."
# 100+ characters (the spec's minimum for a preview text), short enough to render quickly.
PREVIEW_TEXT = (
    "The river was calm this morning, so we took the small boat out past the old bridge and the mill."
    " What a sight!"
)
SPEECH = "Please remember to lock the front door before you leave tonight."


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("voicelab") / "data")
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as test_client:
        yield test_client


def _wav(pcm: bytes, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def _tts(client: TestClient, voice_id: str, text: str = SPEECH, **body: Any) -> bytes:
    response = client.post(
        f"/v1/text-to-speech/{voice_id}", params={"output_format": "pcm_16000"}, json={"text": text, **body}
    )
    assert response.status_code == 200, response.text
    return response.content


def _seconds(audio: bytes) -> float:
    with av.open(io.BytesIO(audio)) as container:
        return sum(frame.samples / frame.sample_rate for frame in container.decode(audio=0))


@pytest.fixture(scope="module")
def source_pcm(client: TestClient) -> bytes:
    """About 3 s of flite awb speech, 16 kHz s16le: clone sample and speech-to-speech input."""
    return _tts(client, AWB)


@pytest.fixture(scope="module")
def generated(client: TestClient) -> str:
    """A saved designed voice (category ``generated``)."""
    design = client.post(
        "/v1/text-to-voice/design",
        json={"voice_description": DESCRIPTION, "text": PREVIEW_TEXT, "seed": 7, "stream_previews": True},
    )
    assert design.status_code == 200, design.text
    saved = client.post(
        "/v1/text-to-voice",
        json={
            "voice_name": "Night radio",
            "voice_description": DESCRIPTION,
            "generated_voice_id": design.json()["previews"][0]["generated_voice_id"],
        },
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["category"] == "generated"
    return saved.json()["voice_id"]


@pytest.fixture(scope="module")
def cloned(client: TestClient, source_pcm: bytes) -> str:
    """A cloned voice; the base is picked among two flite voices without the embedder (fast)."""
    service = client.app.state.services.voice_clone  # type: ignore[attr-defined]
    service.candidates = [("flite", "rms"), ("flite", "slt")]
    service._embedder, service._embedder_checked = None, True
    response = client.post(
        "/v1/voices/add",
        data={"name": "Awb clone"},
        files=[("files", ("awb.wav", _wav(source_pcm), "audio/wav"))],
    )
    assert response.status_code == 200, response.text
    return response.json()["voice_id"]


@pytest.fixture(params=["generated", "cloned"])
def saved_voice(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(request.param)


# --- (a) what the spec's schemas refuse gets a 422 -------------------------------------------------------


def _is_422(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and any(field in map(str, item["loc"]) for item in detail), detail


def test_voices_add_requires_name_and_files(client: TestClient) -> None:
    good = ("files", ("a.wav", _wav(b"\x00\x00" * 1600), "audio/wav"))
    _is_422(client.post("/v1/voices/add", data={"name": "x"}), "files")
    _is_422(client.post("/v1/voices/add", files=[good]), "name")
    # A blank name is present, so it passes the schema and is refused by the route.
    blank = client.post("/v1/voices/add", data={"name": "  "}, files=[good])
    assert blank.status_code == 400 and blank.json()["detail"]["status"] == "invalid_name"


@pytest.mark.parametrize("path", ["/v1/speech-to-speech/{}", "/v1/voice-changer/{}/stream"])
def test_speech_to_speech_file_format_is_the_spec_enum(client: TestClient, path: str) -> None:
    audio = {"audio": ("in.wav", _wav(b"\x00\x00" * 1600), "audio/wav")}
    _is_422(client.post(path.format(RMS), data={"file_format": "mp3"}, files=audio), "file_format")


@pytest.mark.parametrize(
    "path",
    ["/v1/text-to-voice/design", "/v1/text-to-voice/create-previews", f"/v1/text-to-voice/{RMS}/remix"],
)
def test_design_routes_refuse_wav(client: TestClient, path: str) -> None:
    # AllowedOutputFormats for these routes lists no wav_*.
    response = client.post(
        path, params={"output_format": "wav_16000"}, json={"voice_description": DESCRIPTION}
    )
    _is_422(response, "output_format")


def test_save_voice_limits(client: TestClient) -> None:
    body = {"voice_name": "x", "voice_description": DESCRIPTION}
    # The spec sets no length on generated_voice_id: a long one is just unknown.
    long_id = client.post("/v1/text-to-voice", json={**body, "generated_voice_id": "g" * 41})
    assert long_id.status_code == 404 and long_id.json()["detail"]["status"] == "generated_voice_not_found"
    empty_name = client.post("/v1/text-to-voice", json={**body, "voice_name": "", "generated_voice_id": "g"})
    assert empty_name.status_code == 400 and empty_name.json()["detail"]["status"] == "invalid_voice_name"
    _is_422(
        client.post("/v1/text-to-voice", json={**body, "voice_name": "n" * 201, "generated_voice_id": "g"}),
        "voice_name",
    )


# --- (b)-(d) saved voices through the other routes -------------------------------------------------------


def test_designed_voice_streams_the_same_pcm_as_convert(client: TestClient, generated: str) -> None:
    body = {"text": SPEECH, "seed": 11}
    params = {"output_format": "pcm_16000"}
    converted = client.post(f"/v1/text-to-speech/{generated}", params=params, json=body)
    streamed = client.post(f"/v1/text-to-speech/{generated}/stream", params=params, json=body)
    assert converted.status_code == 200 and streamed.status_code == 200, (converted.text, streamed.text)
    assert len(converted.content) > RATE  # over half a second of speech
    assert streamed.content == converted.content


def test_remix_of_a_saved_voice_gives_three_different_previews(client: TestClient, saved_voice: str) -> None:
    response = client.post(
        f"/v1/text-to-voice/{saved_voice}/remix",
        params={"output_format": "pcm_16000"},
        json={"voice_description": "higher and faster", "text": PREVIEW_TEXT, "seed": 3},
    )
    assert response.status_code == 200, response.text
    previews = response.json()["previews"]
    assert len(previews) == 3
    audio = [p["audio_base_64"] for p in previews]
    assert all(audio) and len(set(audio)) == 3
    assert len({p["generated_voice_id"] for p in previews}) == 3


def test_voice_settings_edit_changes_tts(client: TestClient, saved_voice: str) -> None:
    before = _tts(client, saved_voice, seed=5)
    edited = client.post(f"/v1/voices/{saved_voice}/settings/edit", json={"speed": 0.7, "stability": 0.3})
    assert edited.status_code == 200, edited.text
    settings = client.get(f"/v1/voices/{saved_voice}/settings").json()
    assert settings["speed"] == pytest.approx(0.7) and settings["stability"] == pytest.approx(0.3)
    slower = _tts(client, saved_voice, seed=5)
    # Speed 0.7 from the default 1.0: the same text takes clearly longer.
    assert len(slower) > 1.2 * len(before), (len(before), len(slower))


# --- (e) speech-to-speech output formats -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_format", "media_type"),
    [
        ("mp3_22050_32", "audio/mpeg"),
        ("pcm_16000", "audio/pcm"),
        ("ulaw_8000", "audio/basic"),
        ("opus_48000_32", "audio/ogg"),
        ("wav_16000", "audio/wav"),
    ],
)
def test_speech_to_speech_formats(
    client: TestClient, source_pcm: bytes, output_format: str, media_type: str
) -> None:
    response = client.post(
        f"/v1/speech-to-speech/{RMS}",
        params={"output_format": output_format},
        data={"file_format": "pcm_s16le_16", "seed": "1"},
        files={"audio": ("in.pcm", source_pcm, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    audio = response.content
    if output_format == "pcm_16000":
        seconds = len(audio) / 2 / RATE
    elif output_format == "ulaw_8000":
        samples = _ulaw_decode(audio)
        assert np.abs(samples).max() > 0.05  # speech, not silence
        seconds = samples.size / 8000
    else:
        seconds = _seconds(audio)
    assert seconds == pytest.approx(len(source_pcm) / 2 / RATE, abs=0.15)


def _ulaw_decode(audio: bytes) -> np.ndarray:
    """G.711 mu-law to float samples."""
    u = ~np.frombuffer(audio, np.uint8)
    sign = np.where(u & 0x80, -1.0, 1.0)
    magnitude = ((((u & 0x0F).astype(np.int32) << 3) + 0x84) << ((u >> 4) & 0x07)) - 0x84
    return sign * magnitude / 32768


def test_speech_to_speech_stream_refuses_wav(client: TestClient) -> None:
    audio = {"audio": ("in.wav", _wav(b"\x00\x00" * 1600), "audio/wav")}
    response = client.post(
        f"/v1/speech-to-speech/{RMS}/stream", params={"output_format": "wav_16000"}, files=audio
    )
    _is_422(response, "output_format")
