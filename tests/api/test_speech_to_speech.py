"""Speech to speech through the HTTP API (source and target speech made by Chorus' own flite voices).

Source: flite awb (male, Scottish) reads a sentence; target: the premade flite slt voice (female). The
output must keep the words (pocketsphinx WER) and move toward the target (resemblyzer embedding closer to
slt than to awb, when the encoder's weights are installed).
"""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from fastapi.testclient import TestClient

from chorus.services.speech_to_speech import sts_credits
from chorus.services.voices import premade_voice_id
from chorus.stt.audio_input import decode_any
from chorus.testing.asr import transcribe, word_error_rate

SOURCE = premade_voice_id("flite", "awb")
TARGET = premade_voice_id("flite", "slt")
TEXT = "Please remember to lock the front door before you leave the house tonight."


def _tts(client: TestClient, voice_id: str, text: str = TEXT) -> bytes:
    response = client.post(
        f"/v1/text-to-speech/{voice_id}", params={"output_format": "pcm_16000"}, json={"text": text}
    )
    assert response.status_code == 200, response.text
    return response.content


def _wav(pcm: bytes, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def test_convert_keeps_words_and_moves_the_voice(client: TestClient) -> None:
    source = _tts(client, SOURCE)
    response = client.post(
        f"/v1/speech-to-speech/{TARGET}",
        params={"output_format": "pcm_16000"},
        data={"model_id": "eleven_english_sts_v2", "seed": "3", "voice_settings": '{"stability": 0.5}'},
        files={"audio": ("in.wav", _wav(source), "audio/wav")},
    )
    assert response.status_code == 200, response.text
    out = np.frombuffer(response.content, "<i2")
    assert abs(out.size - len(source) // 2) <= 160  # timing kept
    assert int(response.headers["character-cost"]) == sts_credits(len(source) / 2 / 16_000)
    wer = word_error_rate(TEXT, transcribe(out, 16_000))
    assert wer <= 0.4, wer
    from chorus.stt.speaker_embedding import SpeakerEmbedder

    embedder = SpeakerEmbedder()
    if embedder.unavailable_reason():
        pytest.skip(embedder.unavailable_reason() or "")
    from chorus.voicelab.analysis import cosine, pcm_to_float, speech_only, utterance_embedding

    def embed(pcm: bytes | np.ndarray) -> np.ndarray:
        return utterance_embedding(embedder, speech_only(pcm_to_float(pcm)))

    converted = embed(out)
    target = embed(_tts(client, TARGET, "Nobody knew where the little boat had gone after the storm."))
    source_emb = embed(source)
    print(f"to target {cosine(converted, target):.3f} to source {cosine(converted, source_emb):.3f}")
    assert cosine(converted, target) > cosine(converted, source_emb)


def test_stream_pcm_input_and_voice_changer_path(client: TestClient) -> None:
    source = _tts(client, SOURCE)
    response = client.post(
        f"/v1/voice-changer/{TARGET}/stream",
        params={"output_format": "mp3_22050_32"},
        data={"file_format": "pcm_s16le_16", "remove_background_noise": "true"},
        files={"audio": ("in.pcm", source, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    pcm, rate = decode_any(response.content)
    assert abs(len(pcm) / 2 / rate - len(source) / 2 / 16_000) < 0.2


def test_errors(client: TestClient) -> None:
    audio = {"audio": ("in.wav", _wav(b"\x00\x00" * 16_000), "audio/wav")}

    def post(path: str = f"/v1/speech-to-speech/{TARGET}", **data: str):  # type: ignore[no-untyped-def]
        return client.post(path, data=data, files=audio)

    assert post(model_id="eleven_multilingual_v2").json()["detail"]["status"] == "invalid_model_id"
    assert post(voice_settings="{bad").json()["detail"]["status"] == "invalid_voice_settings"
    assert post().json()["detail"]["status"] == "no_speech"  # silence
    assert post("/v1/speech-to-speech/nosuchvoice").status_code == 404
    bad = client.post(f"/v1/speech-to-speech/{TARGET}", files={"audio": ("x.mp3", b"garbage", "audio/mpeg")})
    assert bad.status_code == 400 and bad.json()["detail"]["status"] == "invalid_audio"
    odd = client.post(
        f"/v1/speech-to-speech/{TARGET}", data={"file_format": "pcm_s16le_16"}, files={"audio": ("x", b"abc")}
    )
    assert odd.status_code == 400


def test_conversions_go_to_history_as_sts_unless_logging_is_off(client: TestClient) -> None:
    source = _wav(_tts(client, SOURCE, "Good morning to you."))
    files = {"audio": ("in.wav", source, "audio/wav")}
    converted = client.post(
        f"/v1/speech-to-speech/{TARGET}", params={"output_format": "mp3_22050_32"}, files=files
    )
    assert converted.status_code == 200, converted.text
    item_id = converted.headers["history-item-id"]
    streamed = client.post(
        f"/v1/speech-to-speech/{TARGET}/stream", params={"output_format": "pcm_16000"}, files=files
    )
    assert streamed.status_code == 200, streamed.text
    streamed_id = streamed.headers["history-item-id"]
    off = client.post(f"/v1/speech-to-speech/{TARGET}", params={"enable_logging": "false"}, files=files)
    assert off.status_code == 200 and "history-item-id" not in off.headers

    listed = client.get("/v1/history", params={"source": "STS"}).json()["history"]
    assert [h["history_item_id"] for h in listed] == [streamed_id, item_id]  # newest first; nothing else
    item = client.get(f"/v1/history/{item_id}").json()
    assert (
        item["source"] == "STS" and item["voice_id"] == TARGET and item["model_id"] == "eleven_english_sts_v2"
    )
    assert item["output_format"] == "mp3_22050_32" and item["content_type"] == "audio/mpeg"
    charged = int(converted.headers["character-cost"])
    assert item["character_count_change_to"] - item["character_count_change_from"] == charged
    # The stored audio is what the client got, for the whole response and for the stream.
    assert client.get(f"/v1/history/{item_id}/audio").content == converted.content
    assert client.get(f"/v1/history/{streamed_id}/audio").content == streamed.content
    assert all(
        h["source"] == "TTS" for h in client.get("/v1/history", params={"source": "TTS"}).json()["history"]
    )


def test_the_neural_converter_revoices_the_input_when_installed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With OpenVoice's tone color models installed the input is re-voiced by the converter (the DSP moves
    only the pitch); the output keeps the input's length and differs from the frame-bank conversion."""
    from chorus.api.app import create_app
    from tests.conftest import ADMIN_KEY, make_settings
    from tests.unit.tiny_openvoice import install_openvoice

    def convert(client: TestClient, source: bytes) -> bytes:
        response = client.post(
            f"/v1/speech-to-speech/{TARGET}",
            params={"output_format": "pcm_16000"},
            data={"model_id": "eleven_english_sts_v2", "seed": "3"},
            files={"audio": ("in.wav", _wav(source), "audio/wav")},
        )
        assert response.status_code == 200, response.text
        return response.content

    plain = make_settings(tmp_path / "plain")
    with TestClient(create_app(plain), headers={"xi-api-key": ADMIN_KEY}) as client:
        source = _tts(client, SOURCE)
        dsp = convert(client, source)
    settings = make_settings(tmp_path / "data")
    install_openvoice(settings.resolved_models_dir / "openvoice")
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as client:
        neural = convert(client, source)
        assert neural == convert(client, source)  # seeded
    assert len(neural) == len(dsp) == len(source)
    assert neural != dsp
