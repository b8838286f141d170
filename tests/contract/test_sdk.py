"""The official ``elevenlabs`` Python SDK, unmodified, against a real Chorus server (only base_url changed)."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile

import httpx
import pytest
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError

from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, LiveServer, make_settings, start_server

pytestmark = pytest.mark.contract
RMS = premade_voice_id("flite", "rms")


@pytest.fixture(scope="module")
def sdk(live_server: LiveServer) -> ElevenLabs:
    return ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)


def test_models(sdk: ElevenLabs) -> None:
    models = sdk.models.list()
    ids = {m.model_id for m in models}
    assert {"eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_multilingual_v2", "eleven_v3"} <= ids
    multilingual = next(m for m in models if m.model_id == "eleven_multilingual_v2")
    assert multilingual.can_do_text_to_speech and multilingual.languages
    assert multilingual.model_rates.character_cost_multiplier == 1.0


def test_voices_v1_and_v2(sdk: ElevenLabs) -> None:
    voices = sdk.voices.get_all().voices
    assert len(voices) >= 4 and RMS in {v.voice_id for v in voices}
    page = sdk.voices.search(page_size=2, sort="name", sort_direction="asc")
    assert len(page.voices) == 2 and page.has_more and page.total_count == len(voices)
    nxt = sdk.voices.search(
        page_size=2, sort="name", sort_direction="asc", next_page_token=page.next_page_token
    )
    assert {v.voice_id for v in nxt.voices}.isdisjoint({v.voice_id for v in page.voices})
    voice = sdk.voices.get(RMS)
    assert voice.name and voice.category == "premade" and voice.labels["gender"] == "male"
    assert sdk.voices.settings.get_default().stability == 0.5
    assert sdk.voices.settings.get(RMS).similarity_boost is not None


def test_user_and_subscription(sdk: ElevenLabs) -> None:
    user = sdk.user.get()
    assert user.user_id and user.subscription.tier == "enterprise"
    subscription = sdk.user.subscription.get()
    assert subscription.character_limit > 0 and subscription.status == "active"
    assert subscription.open_invoices == []


def test_tts_convert_and_history(sdk: ElevenLabs) -> None:
    audio = b"".join(sdk.text_to_speech.convert(RMS, text="The official client works unchanged."))
    assert audio[:3] == b"ID3" or audio[0] == 0xFF
    pcm = b"".join(
        sdk.text_to_speech.convert(
            RMS,
            text="Pulse code modulation.",
            model_id="eleven_turbo_v2_5",
            output_format="pcm_16000",
            voice_settings={"stability": 0.3, "speed": 1.1},
        )
    )
    assert len(pcm) > 16000

    listing = sdk.history.list(page_size=10)
    texts = [h.text for h in listing.history]
    assert texts[:2] == ["Pulse code modulation.", "The official client works unchanged."]
    latest = listing.history[0]
    assert latest.model_id == "eleven_turbo_v2_5" and latest.output_format == "pcm_16000"
    item = sdk.history.get(latest.history_item_id)
    assert item.text == latest.text and item.voice_id == RMS
    assert b"".join(sdk.history.get_audio(latest.history_item_id)) == pcm
    both = b"".join(sdk.history.download(history_item_ids=[h.history_item_id for h in listing.history[:2]]))
    assert len(zipfile.ZipFile(io.BytesIO(both)).namelist()) == 2
    assert sdk.history.delete(latest.history_item_id).status == "ok"
    with pytest.raises(ApiError) as info:
        sdk.history.get(latest.history_item_id)
    assert info.value.status_code == 404


def test_usage(sdk: ElevenLabs) -> None:
    now = int(time.time() * 1000)
    before = sdk.usage.get(start_unix=now - 86_400_000, end_unix=now + 60_000)
    text = "Usage is counted."
    assert b"".join(sdk.text_to_speech.convert(RMS, text=text))
    stats = sdk.usage.get(start_unix=now - 86_400_000, end_unix=now + 60_000)
    assert stats.time == before.time
    total = sum(sum(v) for v in stats.usage.values())
    assert total == sum(sum(v) for v in before.usage.values()) + len(text)


def test_bad_key(live_server: LiveServer) -> None:
    bad = ElevenLabs(api_key="sk_not_a_key", base_url=live_server.url)
    with pytest.raises(ApiError) as info:
        bad.models.list()
    assert info.value.status_code == 401
    assert info.value.body["detail"]["status"] == "invalid_api_key"


def test_missing_field(sdk: ElevenLabs, live_server: LiveServer) -> None:
    response = httpx.post(
        f"{live_server.url}/v1/text-to-speech/{RMS}",
        json={"model_id": "eleven_v3"},
        headers={"xi-api-key": ADMIN_KEY},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "text"]
    with pytest.raises(ApiError) as info:
        b"".join(sdk.text_to_speech.convert(RMS, text="ok", voice_settings={"speed": 5.0}))
    assert info.value.status_code == 422


def test_unknown_voice(sdk: ElevenLabs) -> None:
    with pytest.raises(ApiError) as info:
        b"".join(sdk.text_to_speech.convert("doesnotexist12345678", text="hello"))
    assert info.value.status_code == 404
    assert info.value.body["detail"]["status"] == "voice_not_found"
    with pytest.raises(ApiError):
        sdk.voices.get("doesnotexist12345678")


def test_quota_exhaustion(live_server: LiveServer) -> None:
    accounts_key = _create_key(live_server, character_limit=25, name="tiny")
    client = ElevenLabs(api_key=accounts_key, base_url=live_server.url)
    assert b"".join(client.text_to_speech.convert(RMS, text="twenty characters!!!"))
    with pytest.raises(ApiError) as info:
        b"".join(client.text_to_speech.convert(RMS, text="twenty characters!!!"))
    assert info.value.status_code == 401
    assert info.value.body["detail"]["status"] == "quota_exceeded"


def _create_key(live: LiveServer, **kwargs: object) -> str:
    """Keys are made with the CLI's service in the server's own database."""
    from chorus.services.accounts import AccountService
    from chorus.storage.db import Database

    async def make() -> str:
        db = Database(live.settings.resolved_database_url)
        try:
            created = await AccountService(db.sessions, "free").create_key(
                str(kwargs.pop("name", "k")), user_name=f"user-{time.time_ns()}", **kwargs
            )
            return created.secret
        finally:
            await db.close()

    return asyncio.run(make())


def test_fifty_concurrent_requests_never_overdraw(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """50 parallel TTS requests at the edge of a key's limit: exactly as many succeed as fit."""
    live, thread = start_server(make_settings(tmp_path / "data", max_concurrent_requests=100))
    try:
        secret = _create_key(live, character_limit=205, max_concurrent_requests=100, name="edge")

        async def fire() -> list[int]:
            async with httpx.AsyncClient(
                base_url=live.url, headers={"xi-api-key": secret}, timeout=60
            ) as http:
                responses = await asyncio.gather(
                    *(
                        http.post(
                            f"/v1/text-to-speech/{RMS}",
                            params={"output_format": "pcm_16000", "enable_logging": "false"},
                            json={"text": "ten chars!"},
                        )
                        for _ in range(50)
                    )
                )
                return [r.status_code for r in responses]

        codes = asyncio.run(fire())
        assert codes.count(200) == 20
        assert codes.count(401) == 30
        admin = httpx.get(f"{live.url}/v1/user/subscription", headers={"xi-api-key": secret}).json()
        assert admin["character_count"] == 200
    finally:
        live.server.should_exit = True
        thread.join(timeout=10)
