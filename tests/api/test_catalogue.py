"""Models, voices and voice settings through the HTTP API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chorus.services.voices import premade_voice_id

TIERS = {"eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_multilingual_v2", "eleven_v3"}


def test_models_list_tiers_and_engine_models(client: TestClient) -> None:
    models = client.get("/v1/models").json()
    ids = {m["model_id"] for m in models}
    assert ids >= TIERS
    assert {"chorus_flite", "chorus_espeak_ng"} <= ids
    by_id = {m["model_id"]: m for m in models}
    multilingual = by_id["eleven_multilingual_v2"]
    languages = {lang["language_id"] for lang in multilingual["languages"]}
    assert {"en", "de", "fr", "es"} <= languages
    assert by_id["eleven_flash_v2_5"]["model_rates"]["character_cost_multiplier"] == 0.5
    assert multilingual["maximum_text_length_per_request"] == 10_000
    assert by_id["chorus_flite"]["languages"] == [{"language_id": "en", "name": "English"}]


def test_premade_voices_from_engines(client: TestClient) -> None:
    voices = client.get("/v1/voices").json()["voices"]
    assert len(voices) >= 4
    genders = {v["labels"]["gender"] for v in voices}
    accents = {v["labels"]["accent"] for v in voices}
    assert {"male", "female"} <= genders
    assert len(accents) >= 2
    for v in voices:
        assert v["category"] == "premade"
        assert set(v) >= {
            "voice_id",
            "name",
            "category",
            "labels",
            "available_for_tiers",
            "high_quality_base_model_ids",
        }
    # Stable ids: derived from engine and engine voice, so equal across restarts and machines.
    assert premade_voice_id("flite", "rms") in {v["voice_id"] for v in voices}


def test_v2_search_sort_and_pages(client: TestClient) -> None:
    everything = client.get("/v2/voices", params={"page_size": 100}).json()
    total = everything["total_count"]
    assert total == len(everything["voices"]) and everything["has_more"] is False
    seen: list[str] = []
    token = None
    while True:
        params = {"page_size": 2, "sort": "name", "sort_direction": "asc"}
        if token:
            params["next_page_token"] = token
        page = client.get("/v2/voices", params=params).json()
        seen += [v["name"] for v in page["voices"]]
        assert page["total_count"] == total
        if not page["has_more"]:
            assert page["next_page_token"] is None
            break
        token = page["next_page_token"]
    assert len(seen) == total
    assert seen == sorted(seen, key=str.lower)
    female = client.get("/v2/voices", params={"gender": "female", "page_size": 100}).json()["voices"]
    assert female and all(v["labels"]["gender"] == "female" for v in female)
    name = seen[0]
    found = client.get("/v2/voices", params={"search": name[:4].lower()}).json()["voices"]
    assert name in {v["name"] for v in found}
    assert client.get("/v2/voices", params={"voice_type": "personal"}).json()["total_count"] == 0
    bad = client.get("/v2/voices", params={"next_page_token": "!!!"})
    assert bad.status_code == 400 and bad.json()["detail"]["status"] == "invalid_page_token"
    assert client.get("/v2/voices", params={"page_size": 1000}).status_code == 422


def test_voice_get_settings_and_errors(client: TestClient) -> None:
    voice_id = premade_voice_id("flite", "rms")
    voice = client.get(f"/v1/voices/{voice_id}").json()
    assert voice["voice_id"] == voice_id and voice["settings"]["stability"] == 0.5
    default = client.get("/v1/voices/settings/default").json()
    assert default == {
        "stability": 0.5,
        "similarity_boost": 0.75,
        "style": 0.0,
        "use_speaker_boost": True,
        "speed": 1.0,
    }
    edited = client.post(f"/v1/voices/{voice_id}/settings/edit", json={"stability": 0.9, "speed": 1.1})
    assert edited.json() == {"status": "ok"}
    settings = client.get(f"/v1/voices/{voice_id}/settings").json()
    assert settings["stability"] == 0.9 and settings["speed"] == 1.1 and settings["similarity_boost"] == 0.75
    assert client.post(f"/v1/voices/{voice_id}/settings/edit", json={"speed": 3}).status_code == 422
    missing = client.get("/v1/voices/doesnotexist")
    assert missing.status_code == 404 and missing.json()["detail"]["status"] == "voice_not_found"
    assert client.delete(f"/v1/voices/{voice_id}").status_code == 400
    assert client.post(f"/v1/voices/{voice_id}/edit", data={"name": "x"}).status_code == 400


def test_owned_voice_edit_and_delete(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    principal = client.portal.call(services.accounts.authenticate, client.headers["xi-api-key"])  # type: ignore[union-attr]
    voice = client.portal.call(  # type: ignore[union-attr]
        lambda: services.voices.create_owned(principal, name="Mine", engine="flite", native_voice="slt")
    )
    response = client.post(
        f"/v1/voices/{voice.voice_id}/edit",
        data={"name": "Renamed", "description": "d", "labels": '{"accent": "irish"}'},
    )
    assert response.json() == {"status": "ok"}
    fetched = client.get(f"/v1/voices/{voice.voice_id}").json()
    assert (fetched["name"], fetched["labels"], fetched["is_owner"]) == ("Renamed", {"accent": "irish"}, True)
    assert (
        client.post(f"/v1/voices/{voice.voice_id}/edit", data={"name": "x", "labels": "[1"}).status_code
        == 400
    )
    assert client.get("/v2/voices", params={"voice_type": "personal"}).json()["total_count"] == 1
    assert client.delete(f"/v1/voices/{voice.voice_id}").json() == {"status": "ok"}
    assert client.get(f"/v1/voices/{voice.voice_id}").status_code == 404
