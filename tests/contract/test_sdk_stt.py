"""The official Python SDK's speech_to_text methods against a live server."""

from __future__ import annotations

import pytest
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError

from chorus.services.voices import premade_voice_id
from chorus.testing.asr import word_error_rate
from tests.conftest import ADMIN_KEY, LiveServer

pytestmark = pytest.mark.contract
SENTENCE = "The weather was warm and sunny, so we decided to walk to the park after lunch."


def test_convert_get_delete(live_server: LiveServer) -> None:
    sdk = ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)
    audio = b"".join(
        sdk.text_to_speech.convert(
            premade_voice_id("flite", "rms"), text=SENTENCE, output_format="mp3_44100_128"
        )
    )
    result = sdk.speech_to_text.convert(
        file=("speech.mp3", audio, "audio/mpeg"), model_id="scribe_v1", keyterms=["park"]
    )
    assert word_error_rate(SENTENCE, result.text) <= 0.3
    assert result.language_code == "eng"
    words = [w for w in result.words if w.type == "word"]
    assert words and all(w.logprob <= 0 and w.start is not None for w in words)
    stored = sdk.speech_to_text.transcripts.get(result.transcription_id)
    assert stored.text == result.text
    sdk.speech_to_text.transcripts.delete(result.transcription_id)
    with pytest.raises(ApiError) as info:
        sdk.speech_to_text.transcripts.get(result.transcription_id)
    assert info.value.status_code == 404


def test_convert_with_diarize_keyterms_formats_and_entities(live_server: LiveServer) -> None:
    sdk = ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)
    first = b"".join(
        sdk.text_to_speech.convert(premade_voice_id("flite", "rms"), text=SENTENCE, output_format="pcm_16000")
    )
    second = b"".join(
        sdk.text_to_speech.convert(
            premade_voice_id("flite", "slt"), text="My phone number is five five five one two one two.",
            output_format="pcm_16000",
        )
    )  # fmt: skip
    audio = first + b"\0\0" * 8000 + second
    result = sdk.speech_to_text.convert(
        file=("dialogue.pcm", audio, "application/octet-stream"),
        file_format="pcm_s16le_16",
        model_id="scribe_v2",
        diarize=True,
        tag_audio_events=False,
        keyterms=["sunny", "Chorus"],
        additional_formats=[{"format": "srt"}, {"format": "segmented_json"}],
        entity_detection=["phone_number"],
        timestamps_granularity="character",
    )
    words = [w for w in result.words if w.type == "word"]
    assert {w.speaker_id for w in words} == {"speaker_0", "speaker_1"}
    assert all(w.characters and "".join(c.text for c in w.characters) == w.text for w in words)
    formats = {f.requested_format: f for f in result.additional_formats or []}
    assert set(formats) == {"srt", "segmented_json"} and "-->" in formats["srt"].content
    assert result.entities and all(e.entity_type == "phone_number" for e in result.entities)
    assert result.text[result.entities[0].start_char : result.entities[0].end_char] == result.entities[0].text
    with pytest.raises(ApiError) as info:
        sdk.speech_to_text.convert(
            file=("d.pcm", audio, "application/octet-stream"), file_format="pcm_s16le_16",
            model_id="scribe_v1", detect_speaker_roles=True,
        )  # fmt: skip
    assert info.value.status_code == 400
