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
