"""The official Python SDK's webhooks methods, ``speech_to_text.convert(webhook=True)``, and its
signature verifier (``webhooks.construct_event``) on what Chorus delivers, against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from elevenlabs import WebhookHmacSettings
from elevenlabs.client import ElevenLabs
from elevenlabs.errors import BadRequestError

from chorus.services.voices import premade_voice_id
from chorus.testing.asr import word_error_rate
from tests.api.test_webhooks import FAST_JOBS, Receiver
from tests.conftest import ADMIN_KEY, LiveServer, make_settings, start_server

pytestmark = pytest.mark.contract
SENTENCE = "The weather was warm and sunny, so we walked to the park."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Its own server: the shared one refuses http:// and loopback webhook targets, as production does.
    data_dir: Path = tmp_path_factory.mktemp("webhooks") / "data"
    live, thread = start_server(make_settings(data_dir, **FAST_JOBS))
    try:
        yield live
    finally:
        live.server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def _signature(headers: dict[str, str]) -> str:
    return {k.lower(): v for k, v in headers.items()}["elevenlabs-signature"]


def test_webhook_crud(server: LiveServer) -> None:
    sdk = ElevenLabs(api_key=ADMIN_KEY, base_url=server.url)
    created = sdk.webhooks.create(
        settings=WebhookHmacSettings(name="crud", webhook_url="https://hooks.example.com/x")
    )
    assert created.webhook_id and created.webhook_secret
    updated = sdk.webhooks.update(
        created.webhook_id, is_disabled=True, name="renamed", events=["speech_to_text"]
    )
    assert updated.status == "ok"
    listed = {w.webhook_id: w for w in sdk.webhooks.list(include_usages=True).webhooks}
    hook = listed[created.webhook_id]
    assert hook.name == "renamed" and hook.is_disabled and hook.auth_type == "hmac"
    assert hook.events == ["speech_to_text"] and [u.usage_type for u in hook.usage or []] == [
        "Speech to Text"
    ]
    assert sdk.webhooks.delete(created.webhook_id).status == "ok"
    assert created.webhook_id not in {w.webhook_id for w in sdk.webhooks.list().webhooks}


def test_convert_with_webhook_verifies_with_the_sdk(server: LiveServer, receiver: Receiver) -> None:
    sdk = ElevenLabs(api_key=ADMIN_KEY, base_url=server.url)
    created = sdk.webhooks.create(settings=WebhookHmacSettings(name="stt", webhook_url=receiver.url))
    sdk.webhooks.update(created.webhook_id, is_disabled=False, name="stt", events=["speech_to_text"])
    audio = b"".join(
        sdk.text_to_speech.convert(
            premade_voice_id("flite", "rms"), text=SENTENCE, output_format="mp3_44100_128"
        )
    )
    try:
        accepted = sdk.speech_to_text.convert(
            file=("speech.mp3", audio, "audio/mpeg"),
            model_id="scribe_v1",
            webhook=True,
            webhook_metadata={"order": "A-1", "customer": {"tier": "gold"}},
        )
        assert accepted.request_id and accepted.transcription_id and accepted.message
        ((headers, body),) = receiver.wait_for(1)
        event = sdk.webhooks.construct_event(body, _signature(headers), created.webhook_secret)
        assert event["type"] == "speech_to_text_transcription"
        data = event["data"]
        assert data["request_id"] == accepted.request_id
        assert data["webhook_metadata"] == {"order": "A-1", "customer": {"tier": "gold"}}
        assert data["transcription"]["transcription_id"] == accepted.transcription_id
        assert word_error_rate(SENTENCE, data["transcription"]["text"]) <= 0.3
        stored = sdk.speech_to_text.transcripts.get(accepted.transcription_id)
        assert stored.text == data["transcription"]["text"]
        # The verifier really checks: another secret, or a changed body, is refused.
        with pytest.raises(BadRequestError):
            sdk.webhooks.construct_event(body, _signature(headers), "wsec_not_the_secret")
        with pytest.raises(BadRequestError):
            sdk.webhooks.construct_event(
                body.replace("A-1", "A-2"), _signature(headers), created.webhook_secret
            )
    finally:
        sdk.webhooks.delete(created.webhook_id)


def test_convert_to_one_webhook_with_string_metadata(server: LiveServer, receiver: Receiver) -> None:
    sdk = ElevenLabs(api_key=ADMIN_KEY, base_url=server.url)
    created = sdk.webhooks.create(settings=WebhookHmacSettings(name="one", webhook_url=receiver.url))
    audio = b"".join(
        sdk.text_to_speech.convert(
            premade_voice_id("flite", "rms"), text="Good morning.", output_format="mp3_44100_128"
        )
    )
    try:
        accepted = sdk.speech_to_text.convert(
            file=("speech.mp3", audio, "audio/mpeg"),
            model_id="scribe_v1",
            webhook=True,
            webhook_id=created.webhook_id,  # not subscribed to speech_to_text: named explicitly
            webhook_metadata='{"ticket": 7}',
            enable_logging=False,
        )
        ((headers, body),) = receiver.wait_for(1)
        event = sdk.webhooks.construct_event(body, _signature(headers), created.webhook_secret)
        assert event["data"]["request_id"] == accepted.request_id
        assert event["data"]["webhook_metadata"] == {"ticket": 7}
    finally:
        sdk.webhooks.delete(created.webhook_id)
