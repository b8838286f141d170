"""eSpeak NG's languages: ISO 639-1 codes where a language has one, ISO 639-3 codes for the rest."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from chorus.engines.base import SynthesisRequest
from chorus.engines.espeak import EspeakEngine, _is_language_code, _language_name
from chorus.services.voices import premade_voice_id

HAWAIIAN = "Aloha kākou. E komo mai i ko mākou hale."
CANTONESE = "你好，今日天氣好好。"
CHEROKEE = "ᏏᏲ, ᏙᎯᏧ?"


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    engine = EspeakEngine()
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "espeak-ng unavailable")
    return engine


def speak(engine: EspeakEngine, text: str, voice: str, **options: object) -> bytes:
    return b"".join(chunk.pcm for chunk in engine.synthesize(SynthesisRequest(text, voice, **options)))  # type: ignore[arg-type]


def test_three_letter_languages_are_listed(espeak: EspeakEngine) -> None:
    languages = dict(espeak.languages())
    # Languages eSpeak NG only knows by an ISO 639-3 code.
    assert languages["haw"] == "Hawaiian"
    assert languages["yue"] == "Chinese (Cantonese)"
    assert languages["cmn"] == "Chinese (Mandarin)"
    assert languages["chr"] == "Cherokee"  # its voice is only tagged "chr-us-qaaa-x-west"
    # The two-letter languages are still there, named as before.
    assert {"de", "fr", "es", "it", "zh", "hy"} <= set(languages)
    assert languages["de"] == "German" and languages["zh"] == "Chinese" and languages["en"] == "English"
    # Only ISO 639 codes: no private-use codes (Klingon "piqd", Belter "qdb"), no subtags.
    assert all(re.fullmatch(r"[a-z]{2}|[a-z]{3}", code) for code in languages)
    assert "piqd" not in languages and "qdb" not in languages
    assert sum(len(code) == 3 for code in languages) >= 10
    assert espeak.capabilities().languages == tuple(code for code, _ in espeak.languages())
    assert {"yue", "haw", "chr"} <= set(espeak.capabilities().languages)


def test_language_helpers() -> None:
    assert _is_language_code("en") and _is_language_code("yue") and _is_language_code("quc")
    assert not _is_language_code("qdb") and not _is_language_code("piqd") and not _is_language_code("e1")
    assert _language_name("English_(Great_Britain)") == "English"
    assert _language_name("Chinese_(Mandarin,_latin_as_English)", qualified=True) == "Chinese (Mandarin)"
    assert _language_name("Cherokee ", qualified=True) == "Cherokee"


@pytest.mark.parametrize(
    ("code", "text", "voice"), [("haw", HAWAIIAN, "haw"), ("yue", CANTONESE, "yue"), ("chr", CHEROKEE, "chr")]
)
def test_language_hint_switches_to_a_three_letter_language(
    espeak: EspeakEngine, code: str, text: str, voice: str
) -> None:
    switched = speak(espeak, text, "en-us", language=code)
    assert len(switched) > 2 * 22_050 // 4  # a quarter of a second at least
    assert switched != speak(espeak, text, "en-us")
    # The same as asking for that language's voice by name; region subtags are ignored.
    assert switched == speak(espeak, text, voice)
    assert speak(espeak, text, "en-us", language=f"{code}-US") == switched


def test_language_hint_keeps_the_variant(espeak: EspeakEngine) -> None:
    switched = speak(espeak, HAWAIIAN, "en-us+f5", language="haw")
    assert switched == speak(espeak, HAWAIIAN, "haw+f5")
    assert switched != speak(espeak, HAWAIIAN, "haw")


def test_multilingual_model_routes_a_three_letter_language_to_espeak(client: TestClient) -> None:
    models = {model["model_id"]: model for model in client.get("/v1/models").json()}
    listed = {lang["language_id"]: lang["name"] for lang in models["eleven_multilingual_v2"]["languages"]}
    assert listed.get("haw") == "Hawaiian" and listed.get("yue") == "Chinese (Cantonese)"

    def pcm(voice: str, language: str | None) -> bytes:
        body = {"text": HAWAIIAN, "model_id": "eleven_multilingual_v2"}
        if language:
            body["language_code"] = language
        response = client.post(
            f"/v1/text-to-speech/{voice}",
            params={"output_format": "pcm_16000", "enable_logging": "false"},
            json=body,
        )
        assert response.status_code == 200, response.text
        return response.content

    # A flite voice (English only) asked for Hawaiian speaks through eSpeak NG, as for two-letter codes.
    flite = premade_voice_id("flite", "slt")
    assert pcm(flite, "haw") != pcm(flite, None)
    assert pcm(flite, "haw")
    ivy = premade_voice_id("espeak-ng", "en-us+f5")
    assert pcm(ivy, "haw") != pcm(ivy, None)
