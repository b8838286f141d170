"""The official Python SDK's text_to_voice methods (design, create_previews, create, remix, preview.stream)
against a live server."""

from __future__ import annotations

import base64
import io

import av
import pytest
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError

from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, LiveServer

pytestmark = pytest.mark.contract
TEXT = (
    "Welcome aboard, everyone. Please find your seats, stow your bags, and enjoy the view as we leave the"
    " harbour."
)


def _seconds(audio: bytes) -> float:
    with av.open(io.BytesIO(audio)) as container:
        return sum(frame.samples / frame.sample_rate for frame in container.decode(audio=0))


def test_design_save_stream_and_speak(live_server: LiveServer) -> None:
    sdk = ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)
    result = sdk.text_to_voice.design(
        voice_description="A warm, friendly ship captain with a deep voice and a slow, steady pace.",
        text=TEXT,
        seed=21,
        loudness=0.0,
        guidance_scale=5,
        output_format="mp3_22050_32",
    )
    assert result.text == TEXT
    assert len(result.previews) == 3
    for preview in result.previews:
        assert preview.media_type == "audio/mpeg" and preview.language == "en"
        assert _seconds(base64.b64decode(preview.audio_base_64)) == pytest.approx(
            preview.duration_secs, abs=0.2
        )
    chosen = result.previews[0]
    streamed = b"".join(sdk.text_to_voice.preview.stream(chosen.generated_voice_id))
    assert streamed == base64.b64decode(chosen.audio_base_64)
    voice = sdk.text_to_voice.create(
        voice_name="Captain",
        voice_description="A warm, friendly ship captain with a deep voice and a slow, steady pace.",
        generated_voice_id=chosen.generated_voice_id,
        labels={"use_case": "narration"},
    )
    assert voice.category == "generated" and voice.name == "Captain"
    assert voice.labels and voice.labels["use_case"] == "narration"
    assert sdk.voices.get(voice.voice_id).voice_id == voice.voice_id
    speech = b"".join(
        sdk.text_to_speech.convert(voice.voice_id, text="All hands on deck.", output_format="mp3_22050_32")
    )
    assert _seconds(speech) > 0.5
    sdk.voices.delete(voice.voice_id)


def test_stream_previews_create_previews_and_remix(live_server: LiveServer) -> None:
    sdk = ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)
    ids_only = sdk.text_to_voice.design(
        voice_description="A cheerful young woman with a bright, clear voice.",
        auto_generate_text=True,
        stream_previews=True,
        model_id="eleven_multilingual_ttv_v2",
    )
    assert len(ids_only.previews) == 3 and len(ids_only.text) >= 100
    assert all(p.audio_base_64 == "" for p in ids_only.previews)
    audio = b"".join(sdk.text_to_voice.preview.stream(ids_only.previews[1].generated_voice_id))
    assert _seconds(audio) > 2.0
    older = sdk.text_to_voice.create_previews(
        voice_description="A calm old man with a gentle, raspy voice.",
        text=TEXT,
        seed=4,
        output_format="pcm_16000",
    )
    assert len(older.previews) == 3 and all(p.media_type == "audio/pcm" for p in older.previews)
    remixed = sdk.text_to_voice.remix(
        premade_voice_id("flite", "slt"),
        voice_description="Make her deeper and slower.",
        text=TEXT,
        seed=8,
        stream_previews=True,
    )
    assert len(remixed.previews) == 3 and remixed.text == TEXT


def test_errors_reach_the_sdk(live_server: LiveServer) -> None:
    sdk = ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)
    with pytest.raises(ApiError) as short:
        sdk.text_to_voice.design(voice_description="too short")
    assert short.value.status_code == 422
    with pytest.raises(ApiError) as missing:
        sdk.text_to_voice.create(
            voice_name="x",
            voice_description="A description that is long enough.",
            generated_voice_id="not-a-preview",
        )
    assert missing.value.status_code == 404
    with pytest.raises(ApiError) as unknown:
        sdk.text_to_voice.remix("no-such-voice", voice_description="deeper please")
    assert unknown.value.status_code == 404
