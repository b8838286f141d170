"""The model catalogue: ElevenLabs' four tiers plus Chorus' own engine model ids, mapped to engines."""

from __future__ import annotations

from dataclasses import dataclass, replace

from chorus.config import Settings
from chorus.engines.registry import EngineRegistry
from chorus.errors import BadRequest


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    name: str
    description: str
    max_characters: int
    # Engines whose voices this model may speak with; None means any installed engine.
    engines: tuple[str, ...] | None
    can_use_style: bool = True
    concurrency_group: str = "standard"
    # The voice this tier is measured with (and the CLI's default for it): "<engine>:<engine voice>".
    default_voice: str = "flite:rms"


TIERS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "eleven_flash_v2_5",
        "Eleven Flash v2.5",
        "Chorus' fastest tier: lowest latency, every installed language.",
        40_000,
        None,
        can_use_style=False,
        default_voice="flite:kal16",
    ),
    ModelSpec(
        "eleven_turbo_v2_5",
        "Eleven Turbo v2.5",
        "Chorus' balanced tier: low latency with full prosody controls.",
        40_000,
        None,
    ),
    ModelSpec(
        "eleven_multilingual_v2",
        "Eleven Multilingual v2",
        "Chorus' default tier: the most intelligible installed engine for each language.",
        10_000,
        None,
    ),
    ModelSpec(
        "eleven_v3",
        "Eleven v3",
        "Chorus' most expressive tier.",
        5_000,
        None,
    ),
)

ENGINE_MODELS: dict[str, ModelSpec] = {
    "flite": ModelSpec(
        "chorus_flite",
        "Chorus Flite",
        "CMU Flite voices (statistical parametric and diphone), English, in process.",
        40_000,
        ("flite",),
    ),
    "piper": ModelSpec(
        "chorus_piper",
        "Chorus Piper",
        "Piper neural voices (VITS, ONNX) from the local models folder.",
        40_000,
        ("piper",),
    ),
    "kokoro": ModelSpec(
        "chorus_kokoro",
        "Chorus Kokoro",
        "Kokoro-82M neural voices (ONNX) from the local models folder.",
        10_000,
        ("kokoro",),
    ),
    "espeak-ng": ModelSpec(
        "chorus_espeak_ng",
        "Chorus eSpeak NG",
        "eSpeak NG formant synthesis in process: over 100 languages and accents.",
        40_000,
        ("espeak-ng",),
    ),
}

DEFAULT_MODEL_ID = "eleven_multilingual_v2"


class ModelCatalogue:
    def __init__(self, settings: Settings, engines: EngineRegistry) -> None:
        self._settings = settings
        self._engines = engines
        self._specs: dict[str, ModelSpec] = {
            m.model_id: replace(m, engines=tuple(settings.model_engines[m.model_id]))
            if m.model_id in settings.model_engines
            else m
            for m in TIERS
        }
        for engine_name, spec in ENGINE_MODELS.items():
            if engine_name in settings.engines:
                self._specs[spec.model_id] = spec

    def specs(self) -> list[ModelSpec]:
        """Models a client can use now: the tiers, and engine models whose engine is available."""
        return [spec for spec in self._specs.values() if self._usable(spec)]

    def _usable(self, spec: ModelSpec) -> bool:
        if spec.engines is None:
            return True
        return any(
            (engine := self._engines.get(name)) is not None and engine.available() for name in spec.engines
        )

    def get(self, model_id: str) -> ModelSpec:
        spec = self._specs.get(model_id)
        if spec is None:
            raise BadRequest(
                f"A model with model ID {model_id} does not exist. Known models: {', '.join(self._specs)}.",
                status="model_not_found",
            )
        return spec

    def languages(self, spec: ModelSpec) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        for engine in self._engines.available():
            if spec.engines is None or engine.name in spec.engines:
                for code, name in engine.languages():
                    seen.setdefault(code, name)
        return sorted(seen.items())

    def describe(self, spec: ModelSpec) -> dict[str, object]:
        """The ``ModelResponseModel`` body for one model."""
        multiplier = self._settings.credit_multiplier(spec.model_id)
        return {
            "model_id": spec.model_id,
            "name": spec.name,
            "can_be_finetuned": False,
            "can_do_text_to_speech": True,
            "can_do_voice_conversion": False,
            "can_use_style": spec.can_use_style,
            "can_use_speaker_boost": True,
            "serves_pro_voices": False,
            "token_cost_factor": multiplier,
            "description": spec.description,
            "requires_alpha_access": False,
            "max_characters_request_free_user": spec.max_characters,
            "max_characters_request_subscribed_user": spec.max_characters,
            "maximum_text_length_per_request": spec.max_characters,
            "languages": [{"language_id": code, "name": name} for code, name in self.languages(spec)],
            "model_rates": {"character_cost_multiplier": multiplier, "cost_discount_multiplier": 1.0},
            "concurrency_group": spec.concurrency_group,
        }
