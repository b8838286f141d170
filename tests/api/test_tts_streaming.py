"""The streaming and timestamped TTS routes, markup and normalisation, in process."""

from __future__ import annotations

import base64
import io
import json

import av
from fastapi.testclient import TestClient

from chorus.services.voices import premade_voice_id

RMS = premade_voice_id("flite", "rms")
IVY = premade_voice_id("espeak-ng", "en-us+f5")


def _pcm_seconds(data: bytes, rate: int = 16000) -> float:
    return len(data) / 2 / rate


def _decoded_seconds(audio: bytes) -> float:
    with av.open(io.BytesIO(audio)) as container:
        stream = container.streams.audio[0]
        return sum(f.samples for f in container.decode(stream)) / stream.codec_context.sample_rate


def _check_alignment(alignment: dict, text: str, duration: float) -> None:
    assert "".join(alignment["characters"]) == text
    starts, ends = alignment["character_start_times_seconds"], alignment["character_end_times_seconds"]
    assert len(starts) == len(ends) == len(text)
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        assert 0 <= start <= end <= duration + 0.01, (i, start, end, duration)
        if i:
            assert start >= starts[i - 1] - 1e-6


def test_stream_sends_decodable_audio_in_several_chunks(client: TestClient) -> None:
    text = "The first sentence is short. The second one follows it. And a third closes the paragraph."
    with client.stream("POST", f"/v1/text-to-speech/{RMS}/stream", json={"text": text}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers["history-item-id"] and response.headers["character-cost"] == str(len(text))
        pieces = list(response.iter_raw())
    audio = b"".join(pieces)
    assert len(pieces) >= 3
    assert _decoded_seconds(audio) > 3.0
    history = client.get(f"/v1/history/{response.headers['history-item-id']}")
    assert history.status_code == 200 and history.json()["text"] == text
    assert client.get(f"/v1/history/{response.headers['history-item-id']}/audio").content == audio


def test_stream_rejects_wav(client: TestClient) -> None:
    response = client.post(
        f"/v1/text-to-speech/{RMS}/stream", params={"output_format": "wav_16000"}, json={"text": "x"}
    )
    assert response.status_code == 422


def test_with_timestamps_one_timing_per_character(client: TestClient) -> None:
    text = "Chorus costs $5 today, said Dr. Smith."
    response = client.post(
        f"/v1/text-to-speech/{RMS}/with-timestamps",
        params={"output_format": "pcm_16000"},
        json={"text": text},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    audio = base64.b64decode(body["audio_base64"])
    duration = _pcm_seconds(audio)
    _check_alignment(body["alignment"], text, duration)
    normalized = "".join(body["normalized_alignment"]["characters"])
    assert "five dollars" in normalized and "Doctor" in normalized and "$" not in normalized
    _check_alignment(body["normalized_alignment"], normalized, duration)
    # The word "Smith" is spoken near the end, "Chorus" near the start.
    starts = body["alignment"]["character_start_times_seconds"]
    assert starts[text.index("Smith")] > duration * 0.6
    assert starts[text.index("Chorus")] < duration * 0.2
    item = client.get(f"/v1/history/{response.headers['history-item-id']}").json()
    assert item["alignments"]["alignment"]["characters"] == list(text)


def test_espeak_voice_timestamps(client: TestClient) -> None:
    text = "One two three. Four five six."
    body = client.post(
        f"/v1/text-to-speech/{IVY}/with-timestamps",
        params={"output_format": "pcm_22050"},
        json={"text": text},
    ).json()
    duration = _pcm_seconds(base64.b64decode(body["audio_base64"]), 22050)
    _check_alignment(body["alignment"], text, duration)
    starts = body["alignment"]["character_start_times_seconds"]
    assert starts[text.index("Four")] > starts[text.index("three")] > starts[text.index("two")]


def test_stream_with_timestamps_is_ndjson(client: TestClient) -> None:
    text = "Streaming with timestamps. Each line is one JSON object. The last line ends it."
    with client.stream(
        "POST",
        f"/v1/text-to-speech/{RMS}/stream/with-timestamps",
        params={"output_format": "pcm_16000"},
        json={"text": text},
    ) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    chunks = [json.loads(line) for line in lines]
    assert len(chunks) >= 3
    audio = b"".join(base64.b64decode(c["audio_base64"]) for c in chunks)
    chars = "".join("".join(c["alignment"]["characters"]) for c in chunks if c["alignment"])
    assert chars == text
    last_end = max(max(c["alignment"]["character_end_times_seconds"]) for c in chunks if c["alignment"])
    assert abs(last_end - _pcm_seconds(audio)) < 0.2


def test_break_tag_inserts_silence_and_is_not_spoken(client: TestClient) -> None:
    def seconds(text: str) -> float:
        response = client.post(
            f"/v1/text-to-speech/{RMS}",
            params={"output_format": "pcm_16000", "enable_logging": "false"},
            json={"text": text},
        )
        return _pcm_seconds(response.content)

    plain = seconds("Wait for it. Now.")
    with_break = seconds('Wait for it. <break time="1.5s" /> Now.')
    assert 1.2 < with_break - plain < 1.8


def test_v3_audio_tags(client: TestClient) -> None:
    def body(model: str) -> dict:
        return client.post(
            f"/v1/text-to-speech/{RMS}/with-timestamps",
            params={"output_format": "pcm_16000", "enable_logging": "false"},
            json={"text": "[whispers] Come closer. [long pause] Now run!", "model_id": model},
        ).json()

    v3 = body("eleven_v3")
    spoken_v3 = "".join(v3["normalized_alignment"]["characters"])
    assert "whispers" not in spoken_v3 and "pause" not in spoken_v3
    other = body("eleven_multilingual_v2")
    assert "whispers" in "".join(other["normalized_alignment"]["characters"])
    assert "".join(v3["alignment"]["characters"]).startswith("[whispers]")


def test_text_normalization_switch(client: TestClient) -> None:
    def normalized(mode: str) -> str:
        body = client.post(
            f"/v1/text-to-speech/{RMS}/with-timestamps",
            params={"enable_logging": "false"},
            json={"text": "Call 555-0100 at 14:30.", "apply_text_normalization": mode},
        ).json()
        return "".join(body["normalized_alignment"]["characters"])

    assert "fourteen thirty" in normalized("on")
    assert "14:30" in normalized("off")


def test_multilingual_tier_speaks_other_languages_with_a_capable_engine(client: TestClient) -> None:
    def speak(model: str, language: str | None) -> bytes:
        body = {"text": "Guten Morgen, wie geht es Ihnen?", "model_id": model}
        if language:
            body["language_code"] = language
        response = client.post(
            f"/v1/text-to-speech/{premade_voice_id('flite', 'slt')}",
            params={"output_format": "pcm_16000", "enable_logging": "false"},
            json=body,
        )
        assert response.status_code == 200, response.text
        return response.content

    english = speak("eleven_multilingual_v2", None)
    german = speak("eleven_multilingual_v2", "de")
    assert german != english  # rendered by an engine that speaks German, not flite's English
    assert speak("eleven_multilingual_v2", "en") == english


def test_model_engines_setting_maps_a_tier_to_its_engine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from chorus.api.app import create_app
    from tests.conftest import ADMIN_KEY, make_settings

    settings = make_settings(tmp_path / "data", model_engines={"eleven_flash_v2_5": ["espeak-ng"]})
    params = {"output_format": "pcm_16000", "enable_logging": "false"}

    def speak(client: TestClient, voice: str, model: str) -> bytes:
        response = client.post(
            f"/v1/text-to-speech/{voice}", params=params, json={"text": "Good morning.", "model_id": model}
        )
        assert response.status_code == 200, response.text
        return response.content

    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as mapped:
        # A flite voice on the tier the setting gives to eSpeak NG speaks through eSpeak NG (any voice works
        # with any model on ElevenLabs), with eSpeak's first English voice of the same gender (Rowan, flite
        # rms, is male): the same bytes as that eSpeak voice on the same tier.
        via_tier = speak(mapped, RMS, "eleven_flash_v2_5")
        espeak = mapped.app.state.services.tts.engines.get("espeak-ng")  # type: ignore[attr-defined]
        male = next(v for v in espeak.voices() if v.language == "en" and v.gender == "male")
        assert via_tier == speak(mapped, premade_voice_id("espeak-ng", male.native_id), "eleven_flash_v2_5")
        assert via_tier != speak(mapped, RMS, "eleven_turbo_v2_5")  # other tiers keep the voice's engine
        assert speak(mapped, IVY, "eleven_flash_v2_5")  # the tier's own engine's voices, as before
        # Chorus' engine model ids name an engine outright: another engine's voice is refused there.
        refused = mapped.post(f"/v1/text-to-speech/{IVY}", json={"text": "hi", "model_id": "chorus_flite"})
        assert (
            refused.status_code == 400
            and refused.json()["detail"]["status"] == "voice_not_supported_by_model"
        )
        flash = next(m for m in mapped.get("/v1/models").json() if m["model_id"] == "eleven_flash_v2_5")
        assert len(flash["languages"]) > 50  # eSpeak NG's languages, not flite's English only


def test_phoneme_tag_changes_pronunciation(client: TestClient) -> None:
    def pcm(text: str) -> bytes:
        return client.post(
            f"/v1/text-to-speech/{RMS}",
            params={"output_format": "pcm_16000", "enable_logging": "false"},
            json={"text": text},
        ).content

    import numpy as np

    from chorus.testing.asr import transcribe

    plain = pcm("Say zorblax now.")
    tagged = pcm('Say <phoneme alphabet="cmu-arpabet" ph="HH AH0 L OW1">zorblax</phoneme> now.')
    assert plain != tagged
    assert "hello" in transcribe(np.frombuffer(tagged, dtype="<i2"), 16000)
    body = client.post(
        f"/v1/text-to-speech/{RMS}/with-timestamps",
        params={"enable_logging": "false"},
        json={"text": 'Say <phoneme alphabet="ipa" ph="həˈloʊ">zorblax</phoneme> now.'},
    ).json()
    assert "".join(body["alignment"]["characters"]).startswith("Say <phoneme")


def test_v3_emotion_tags_move_pitch(client: TestClient) -> None:
    def pcm(text: str) -> bytes:
        return client.post(
            f"/v1/text-to-speech/{premade_voice_id('flite', 'slt')}",
            params={"output_format": "pcm_16000", "enable_logging": "false"},
            json={"text": text, "model_id": "eleven_v3"},
        ).content

    sentence = "I cannot believe we finally made it to the top of the mountain."
    assert pcm(f"[excited] {sentence}") != pcm(sentence) != pcm(f"[sad] {sentence}")
