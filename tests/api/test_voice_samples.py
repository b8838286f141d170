"""Editing a cloned voice's samples over HTTP: ``POST /v1/voices/{id}/edit`` with ``files`` and
``DELETE /v1/voices/{id}/samples/{sample_id}``, each re-building the clone from the samples it then has.

Samples are Chorus' own TTS (flite awb, a low male voice, and slt, a higher female one), so no data set is
needed; what the clone was built from is read back from the stored model (``transform.reference.target``:
the speech seconds and median F0 the analysis measured on the samples).
"""

from __future__ import annotations

import asyncio
import io
import wave
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chorus.services.voices import premade_voice_id
from tests.contract.openapi import SPEC_PATH, validate_response

AWB = premade_voice_id("flite", "awb")
SLT = premade_voice_id("flite", "slt")
RMS = premade_voice_id("flite", "rms")
TEXT = "The old lighthouse keeper walked slowly along the rocky shore every morning."
OTHER = "Seven bright kites drifted over the harbour while the fishing boats came home."


def _fast(client: TestClient) -> None:
    """One or two base voices, no embedder: the HTTP layer is under test, not clone quality."""
    service = client.app.state.services.voice_clone  # type: ignore[attr-defined]
    service.candidates = [("flite", "rms"), ("flite", "slt")]
    service._embedder, service._embedder_checked = None, True


def _wav(client: TestClient, voice_id: str, text: str) -> bytes:
    response = client.post(
        f"/v1/text-to-speech/{voice_id}",
        params={"output_format": "pcm_16000", "enable_logging": "false"},
        json={"text": text},
    )
    assert response.status_code == 200, response.text
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(response.content)
    return buffer.getvalue()


def _speaks(client: TestClient, voice_id: str) -> bool:
    response = client.post(
        f"/v1/text-to-speech/{voice_id}",
        params={"output_format": "pcm_16000", "enable_logging": "false"},
        json={"text": "Hello there, how are you?"},
    )
    return response.status_code == 200 and len(response.content) > 16_000


async def _row(services: Any, voice_id: str) -> Any:
    from chorus.storage.models import Voice

    async with services.db.sessions() as session:
        return await session.get(Voice, voice_id)


def _model(client: TestClient, voice_id: str) -> dict[str, Any]:
    """The stored voice model: base voice and transform."""
    row = client.portal.call(_row, client.app.state.services, voice_id)  # type: ignore[union-attr,attr-defined]
    return {"engine": row.engine, "native_voice": row.native_voice, "transform": row.transform}


def _target(client: TestClient, voice_id: str) -> dict[str, Any]:
    return _model(client, voice_id)["transform"]["reference"]["target"]


def _spec_ok(method: str, path: str, body: Any) -> None:
    if SPEC_PATH.exists():
        assert validate_response(method, path, body) == [], body


def _error(response: Any, http_status: int, status: str) -> None:
    assert response.status_code == http_status, response.text
    detail = response.json()["detail"]
    assert detail["status"] == status and detail["code"] == status and detail["message"]


@pytest.fixture
def awb_sample(client: TestClient) -> bytes:
    return _wav(client, AWB, TEXT + " " + TEXT)


@pytest.fixture
def clone(client: TestClient, awb_sample: bytes) -> str:
    _fast(client)
    response = client.post(
        "/v1/voices/add",
        data={"name": "Awb", "labels": '{"accent": "scottish"}'},
        files=[("files", ("awb.wav", awb_sample, "audio/wav"))],
    )
    assert response.status_code == 200, response.text
    return str(response.json()["voice_id"])


def test_edit_adds_files_as_samples_and_rebuilds_from_all_of_them(
    client: TestClient, clone: str, awb_sample: bytes
) -> None:
    before = _target(client, clone)
    slt_sample = _wav(client, SLT, OTHER + " " + OTHER)
    response = client.post(
        f"/v1/voices/{clone}/edit",
        data={
            "name": "Awb and Slt",
            "description": "two speakers",
            "labels": '{"accent": "mixed"}',
            "remove_background_noise": "true",  # for the added file only
        },
        files=[("files", ("slt.wav", slt_sample, "audio/wav"))],
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}
    _spec_ok("POST", "/v1/voices/{voice_id}/edit", response.json())

    voice = client.get(f"/v1/voices/{clone}").json()
    assert voice["name"] == "Awb and Slt" and voice["description"] == "two speakers"
    assert voice["labels"] == {"accent": "mixed"}
    assert [s["file_name"] for s in voice["samples"]] == ["awb.wav", "slt.wav"]
    assert [s["remove_background_noise"] for s in voice["samples"]] == [False, True]
    added = voice["samples"][1]
    assert added["size_bytes"] == len(slt_sample)
    audio = client.get(f"/v1/voices/{clone}/samples/{added['sample_id']}/audio")
    assert audio.status_code == 200 and audio.content == slt_sample
    first = client.get(f"/v1/voices/{clone}/samples/{voice['samples'][0]['sample_id']}/audio")
    assert first.content == awb_sample

    # The model was re-built from both samples: more speech, and a median pitch pulled up by slt's.
    after = _target(client, clone)
    slt_seconds = added["duration_secs"]
    assert after["speech_s"] > before["speech_s"] + 0.5 * slt_seconds
    assert after["f0_median_hz"] > before["f0_median_hz"] * 1.1
    assert _speaks(client, clone)


def test_deleting_a_sample_rebuilds_from_the_rest(client: TestClient, clone: str) -> None:
    only_awb = _target(client, clone)
    slt_sample = _wav(client, SLT, OTHER + " " + OTHER)
    edited = client.post(
        f"/v1/voices/{clone}/edit",
        data={"name": "Awb"},
        files=[("files", ("slt.wav", slt_sample, "audio/wav"))],
    )
    assert edited.status_code == 200, edited.text
    samples = client.get(f"/v1/voices/{clone}").json()["samples"]
    slt_id = samples[1]["sample_id"]

    response = client.delete(f"/v1/voices/{clone}/samples/{slt_id}")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}
    _spec_ok("DELETE", "/v1/voices/{voice_id}/samples/{sample_id}", response.json())

    voice = client.get(f"/v1/voices/{clone}").json()
    assert [s["sample_id"] for s in voice["samples"]] == [samples[0]["sample_id"]]
    assert client.get(f"/v1/voices/{clone}/samples/{slt_id}/audio").status_code == 404
    blobs = client.app.state.services.blobs  # type: ignore[attr-defined]
    assert not asyncio.run(blobs.exists(f"voice_samples/{clone}/{slt_id}"))
    # Built from awb's sample alone again: the same measurements as the first build.
    rebuilt = _target(client, clone)
    assert rebuilt["speech_s"] == pytest.approx(only_awb["speech_s"], rel=0.02)
    assert rebuilt["f0_median_hz"] == pytest.approx(only_awb["f0_median_hz"], rel=0.02)
    _error(client.delete(f"/v1/voices/{clone}/samples/{slt_id}"), 404, "sample_not_found")


def test_deleting_the_last_sample_keeps_the_voice_speaking(
    client: TestClient, clone: str, awb_sample: bytes
) -> None:
    model = _model(client, clone)
    (sample,) = client.get(f"/v1/voices/{clone}").json()["samples"]
    response = client.delete(f"/v1/voices/{clone}/samples/{sample['sample_id']}")
    assert response.status_code == 200, response.text
    assert client.get(f"/v1/voices/{clone}").json()["samples"] == []
    kept = _model(client, clone)
    assert kept["engine"] == model["engine"] and kept["native_voice"] == model["native_voice"]
    assert kept["transform"]["reference"]["target"] == model["transform"]["reference"]["target"]
    assert _speaks(client, clone)
    # New files build the clone from those alone.
    slt_sample = _wav(client, SLT, OTHER + " " + OTHER)
    edited = client.post(
        f"/v1/voices/{clone}/edit",
        data={"name": "Now slt"},
        files=[("files", ("slt.wav", slt_sample, "audio/wav"))],
    )
    assert edited.status_code == 200, edited.text
    assert [s["file_name"] for s in client.get(f"/v1/voices/{clone}").json()["samples"]] == ["slt.wav"]
    assert _target(client, clone)["f0_median_hz"] > model["transform"]["reference"]["target"]["f0_median_hz"]


def test_a_failed_edit_changes_nothing(client: TestClient, clone: str, awb_sample: bytes) -> None:
    model = _model(client, clone)
    voice = client.get(f"/v1/voices/{clone}").json()
    files = [
        ("files", ("good.wav", awb_sample, "audio/wav")),
        ("files", ("bad.mp3", b"this is not audio" * 50, "audio/mpeg")),
    ]
    _error(
        client.post(f"/v1/voices/{clone}/edit", data={"name": "Renamed"}, files=files), 400, "invalid_audio"
    )
    _error(
        client.post(
            f"/v1/voices/{clone}/edit",
            data={"name": "Renamed"},
            files=[("files", ("b.wav", awb_sample, "audio/wav"))] * 25,
        ),
        400,
        "too_many_files",
    )
    assert client.get(f"/v1/voices/{clone}").json() == voice
    assert _model(client, clone) == model
    blobs = client.app.state.services.blobs  # type: ignore[attr-defined]
    stored = client.portal.call(  # type: ignore[union-attr]
        lambda: client.app.state.services.voice_clone.samples(clone)  # type: ignore[attr-defined]
    )
    assert len(stored) == 1 and asyncio.run(blobs.exists(stored[0].blob_key))


def test_metadata_edits_and_labels_forms(client: TestClient, clone: str) -> None:
    model = _model(client, clone)
    # The Python SDK sends labels it was given as a string JSON-encoded once more, and "null" when none.
    response = client.post(
        f"/v1/voices/{clone}/edit", data={"name": "Renamed", "labels": '"{\\"accent\\": \\"irish\\"}"'}
    )
    assert response.status_code == 200, response.text
    voice = client.get(f"/v1/voices/{clone}").json()
    assert voice["name"] == "Renamed" and voice["labels"] == {"accent": "irish"}
    assert (
        client.post(f"/v1/voices/{clone}/edit", data={"name": "Again", "labels": "null"}).status_code == 200
    )
    assert client.get(f"/v1/voices/{clone}").json()["labels"] == {"accent": "irish"}
    assert _model(client, clone) == model  # no files: the model is not touched
    _error(
        client.post(f"/v1/voices/{clone}/edit", data={"name": "x", "labels": "[1]"}), 400, "invalid_labels"
    )
    _error(client.post(f"/v1/voices/{clone}/edit", data={"name": "  "}), 400, "invalid_name")
    missing = client.post(f"/v1/voices/{clone}/edit", data={"description": "no name"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "name"]


def test_voices_that_cannot_take_samples(client: TestClient, awb_sample: bytes) -> None:
    files = [("files", ("awb.wav", awb_sample, "audio/wav"))]
    for sent in (files, None):
        _error(
            client.post(f"/v1/voices/{RMS}/edit", data={"name": "Mine"}, files=sent),
            400,
            "voice_not_editable",
        )
    assert client.get(f"/v1/voices/{RMS}").json()["name"] != "Mine"
    _error(
        client.post("/v1/voices/nosuchvoice/edit", data={"name": "x"}, files=files), 404, "voice_not_found"
    )
    _error(client.delete("/v1/voices/nosuchvoice/samples/x"), 404, "voice_not_found")
    _error(client.delete(f"/v1/voices/{RMS}/samples/x"), 404, "sample_not_found")
    services = client.app.state.services  # type: ignore[attr-defined]
    principal = client.portal.call(services.accounts.authenticate, client.headers["xi-api-key"])  # type: ignore[union-attr]
    designed = client.portal.call(  # type: ignore[union-attr]
        lambda: services.voices.create_owned(principal, name="Designed", engine="flite", native_voice="rms")
    )
    _error(
        client.post(f"/v1/voices/{designed.voice_id}/edit", data={"name": "x"}, files=files),
        400,
        "voice_not_cloned",
    )


def test_other_users_cannot_touch_a_clone(client: TestClient, clone: str) -> None:
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    other = client.portal.call(lambda: accounts.create_key("other", user_name="someone-else"))  # type: ignore[union-attr]
    headers = {"xi-api-key": other.secret}
    (sample,) = client.get(f"/v1/voices/{clone}").json()["samples"]
    deleted = client.delete(f"/v1/voices/{clone}/samples/{sample['sample_id']}", headers=headers)
    _error(deleted, 404, "voice_not_found")
    _error(
        client.post(f"/v1/voices/{clone}/edit", data={"name": "x"}, headers=headers), 404, "voice_not_found"
    )
    reader = client.portal.call(lambda: accounts.create_key("reader", permissions=["voices_read"]))  # type: ignore[union-attr]
    denied = client.delete(
        f"/v1/voices/{clone}/samples/{sample['sample_id']}", headers={"xi-api-key": reader.secret}
    )
    _error(denied, 403, "missing_permissions")
    assert len(client.get(f"/v1/voices/{clone}").json()["samples"]) == 1
