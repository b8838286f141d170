"""Speech-to-text options through the HTTP API: diarization, speaker roles, entities and redaction,
no_verbatim, multichannel, export formats, audio events, and the rules between options.

Audio is made by Chorus' own TTS (two flite voices as two speakers), so no data set is needed.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.services.voices import premade_voice_id
from chorus.testing.asr import word_error_rate
from tests.conftest import ADMIN_KEY, make_settings

RMS = premade_voice_id("flite", "rms")
SLT = premade_voice_id("flite", "slt")
FIRST = "Thank you for calling the city library, how can I help you today?"
SECOND = "Hello, I would like to renew the books I borrowed last month please."


def say(client: TestClient, voice: str, text: str) -> np.ndarray:
    response = client.post(
        f"/v1/text-to-speech/{voice}",
        params={"output_format": "pcm_16000", "enable_logging": "false"},
        json={"text": text},
    )
    assert response.status_code == 200, response.text
    return np.frombuffer(response.content, dtype="<i2")


def wav(samples: np.ndarray, rate: int = 16_000) -> bytes:
    """Mono (1-D) or multichannel (channels x samples) int16 as a WAV file."""
    planes = samples.reshape(1, -1) if samples.ndim == 1 else samples
    layout = {1: "mono", 2: "stereo"}[planes.shape[0]]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(planes.T.reshape(1, -1)), format="s16", layout=layout
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One server for the module: the diarizer's encoder loads once."""
    settings = make_settings(tmp_path_factory.mktemp("stt-features"))
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def dialogue(client_module: TestClient) -> tuple[np.ndarray, float]:
    """Two voices taking turns (rms, then slt, then rms again), and where the second turn starts (s)."""
    gap = np.zeros(8000, np.int16)
    a = say(client_module, RMS, FIRST)
    b = say(client_module, SLT, SECOND)
    c = say(client_module, RMS, "Of course, can I have your library card number?")
    audio = np.concatenate([a, gap, b, gap, c])
    return audio, (a.size + gap.size) / 16_000


def stt(client: TestClient, audio: bytes, **fields: object):  # type: ignore[no-untyped-def]
    data = {"model_id": "scribe_v1", "tag_audio_events": "false"}
    data.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})
    return client.post("/v1/speech-to-text", data=data, files={"file": ("a.wav", audio)})


def words_of(body: dict) -> list[dict]:
    return [w for w in body["words"] if w["type"] == "word"]


def test_diarization_labels_two_voices_and_roles(client_module: TestClient, dialogue) -> None:  # type: ignore[no-untyped-def]
    audio, second_start = dialogue
    body = stt(client_module, wav(audio), diarize="true").json()
    words = words_of(body)
    assert {w["speaker_id"] for w in words} == {"speaker_0", "speaker_1"}
    first_turn = [w["speaker_id"] for w in words if w["end"] < second_start - 0.1]
    second_turn = [w["speaker_id"] for w in words if second_start + 0.1 < w["start"] < second_start + 3.0]
    assert first_turn.count("speaker_0") >= 0.9 * len(first_turn)
    assert second_turn and second_turn.count("speaker_1") >= 0.9 * len(second_turn)
    assert all(s["speaker_id"] is not None for s in body["words"] if s["type"] == "spacing")
    capped = stt(client_module, wav(audio), diarize="true", num_speakers="1").json()
    assert {w["speaker_id"] for w in words_of(capped)} == {"speaker_0"}
    roles = stt(client_module, wav(audio), diarize="true", detect_speaker_roles="true").json()
    by_role = [w["speaker_id"] for w in words_of(roles) if w["end"] < second_start - 0.1]
    assert set(by_role) == {"agent"}  # "thank you for calling ... how can I help"
    assert "customer" in {w["speaker_id"] for w in words_of(roles)}


def test_option_rules_are_400s(client_module: TestClient, dialogue) -> None:  # type: ignore[no-untyped-def]
    audio = wav(dialogue[0][:32000])
    cases = [
        ({"detect_speaker_roles": "true"}, "diarize"),
        ({"diarization_threshold": "0.3"}, "diarize"),
        ({"no_verbatim": "true"}, "scribe_v2"),
        ({"use_multi_channel": "true", "multichannel_output_style": "combined",
          "timestamps_granularity": "none"}, "timestamps"),
        ({"entity_detection": ["phone_number"], "entity_redaction": ["credit_card"]}, "subset"),
        ({"entity_detection": ["not_a_type"]}, "entity"),
        ({"additional_formats": [{"format": "odt"}]}, "format"),
        ({"entity_redaction_mode": "shout", "entity_detection": "all", "entity_redaction": "all"}, "mode"),
    ]  # fmt: skip
    for fields, word in cases:
        response = stt(client_module, audio, **fields)
        assert response.status_code == 400, (fields, response.text)
        assert word in response.json()["detail"]["message"], (fields, response.text)


def test_entities_detected_and_redacted(client_module: TestClient) -> None:
    text = "My number is five five five one two three four and my name is John."
    audio = wav(say(client_module, RMS, text))
    found = stt(client_module, audio, entity_detection="all").json()
    assert found["entities"], found["text"]
    for entity in found["entities"]:
        assert found["text"][entity["start_char"] : entity["end_char"]] == entity["text"]
    types = {e["entity_type"] for e in found["entities"]}
    hidden = stt(
        client_module, audio, entity_detection="all", entity_redaction="all",
        entity_redaction_mode="entity_type",
    ).json()  # fmt: skip
    assert hidden["entities"] is None
    for entity in found["entities"]:
        assert entity["text"] not in hidden["text"]
    assert any("{" + t.upper() + "}" in hidden["text"] for t in types)


def test_exports_come_back_in_every_format(client_module: TestClient, dialogue) -> None:  # type: ignore[no-untyped-def]
    audio, _ = dialogue
    formats = [{"format": f} for f in ("srt", "txt", "segmented_json", "html", "docx", "pdf")]
    body = stt(client_module, wav(audio), diarize="true", additional_formats=formats).json()
    got = {item["requested_format"]: item for item in body["additional_formats"]}
    assert set(got) == {f["format"] for f in formats}
    assert "-->" in got["srt"]["content"] and not got["srt"]["is_base64_encoded"]
    segments = json.loads(got["segmented_json"]["content"])["segments"]
    assert {s["speaker"] for s in segments} >= {"speaker_0", "speaker_1"}
    assert base64.b64decode(got["pdf"]["content"]).startswith(b"%PDF-")
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(got["docx"]["content"]))) as docx:
        assert "word/document.xml" in docx.namelist()
    assert body["text"].split()[0] in got["txt"]["content"]


def test_multichannel_separate_and_combined(client_module: TestClient) -> None:
    left = say(client_module, RMS, FIRST)
    right = say(client_module, SLT, SECOND)
    n = max(left.size, right.size) + 16000
    stereo = np.zeros((2, n), np.int16)
    stereo[0, : left.size] = left
    stereo[1, 8000 : 8000 + right.size] = right
    separate = stt(client_module, wav(stereo), use_multi_channel="true").json()
    assert [t["channel_index"] for t in separate["transcripts"]] == [0, 1]
    assert word_error_rate(FIRST, separate["transcripts"][0]["text"]) <= 0.35
    assert word_error_rate(SECOND, separate["transcripts"][1]["text"]) <= 0.35
    assert separate["audio_duration_secs"] == pytest.approx(n / 16_000, abs=0.01)
    combined = stt(client_module, wav(stereo), use_multi_channel="true", multichannel_output_style="combined")
    words = words_of(combined.json())
    assert {w["channel_index"] for w in words} == {0, 1}
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    # Each channel is billed in full.
    mono = client_module.get("/v1/user").json()["subscription"]["character_count"]
    stt(client_module, wav(stereo), use_multi_channel="true")
    after = client_module.get("/v1/user").json()["subscription"]["character_count"]
    assert after - mono == 2 * int(np.ceil(n / 16_000))


def test_no_verbatim_drops_fillers(client_module: TestClient) -> None:
    audio = wav(say(client_module, RMS, "Um, I think, uh, we should go to the the station now."))
    verbatim = stt(client_module, audio, model_id="scribe_v2").json()
    clean = stt(client_module, audio, model_id="scribe_v2", no_verbatim="true").json()
    assert len(words_of(clean)) < len(words_of(verbatim)), (verbatim["text"], clean["text"])
    for filler in ("um", "uh"):
        assert filler not in clean["text"].lower().split()
