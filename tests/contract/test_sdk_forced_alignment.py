"""The official Python SDK's forced_alignment.create against a live server."""

from __future__ import annotations

import asyncio

import pytest
from elevenlabs.client import AsyncElevenLabs, ElevenLabs
from elevenlabs.core.api_error import ApiError

from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, LiveServer

pytestmark = pytest.mark.contract
SENTENCE = "The weather was warm and sunny, so we walked 2 miles to the park after lunch."


def _speech(sdk: ElevenLabs) -> bytes:
    return b"".join(
        sdk.text_to_speech.convert(
            premade_voice_id("flite", "rms"), text=SENTENCE, output_format="mp3_44100_128"
        )
    )


def test_create(live_server: LiveServer) -> None:
    sdk = ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)
    audio = _speech(sdk)
    result = sdk.forced_alignment.create(file=("speech.mp3", audio, "audio/mpeg"), text=SENTENCE)
    assert [w.text for w in result.words] == SENTENCE.split()
    assert "".join(c.text for c in result.characters) == SENTENCE
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and all(w.start <= w.end for w in result.words)
    assert all(w.loss >= 0 for w in result.words) and result.loss >= 0
    two = next(w for w in result.words if w.text == "2")
    assert two.end - two.start > 0.1  # "two" is said, so it takes time

    async def run() -> list[str]:
        client = AsyncElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)
        aligned = await client.forced_alignment.create(file=("speech.mp3", audio), text=SENTENCE)
        return [w.text for w in aligned.words]

    assert asyncio.run(run()) == SENTENCE.split()


def test_errors_surface_as_api_errors(live_server: LiveServer) -> None:
    sdk = ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)
    with pytest.raises(ApiError) as info:
        sdk.forced_alignment.create(file=("speech.mp3", b"not audio" * 50, "audio/mpeg"), text=SENTENCE)
    assert info.value.status_code == 400
    assert info.value.body["detail"]["status"] == "invalid_audio"
    with pytest.raises(ApiError) as empty:
        sdk.forced_alignment.create(file=("speech.mp3", _speech(sdk), "audio/mpeg"), text=" ")
    assert empty.value.status_code == 400
