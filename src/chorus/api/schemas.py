"""Request bodies as the ElevenLabs OpenAPI spec defines them (field names, defaults and bounds)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chorus.audio.formats import OUTPUT_FORMATS

OutputFormatName = Literal[OUTPUT_FORMATS]  # type: ignore[valid-type]
# Streamed responses cannot carry WAV (its header needs the final length).
StreamingOutputFormatName = Literal[tuple(f for f in OUTPUT_FORMATS if not f.startswith("wav_"))]  # type: ignore[valid-type]


class VoiceSettingsBody(BaseModel):
    """``VoiceSettingsResponseModel``: every field optional and nullable."""

    model_config = ConfigDict(extra="ignore")

    stability: float | None = Field(default=None, ge=0.0, le=1.0)
    similarity_boost: float | None = Field(default=None, ge=0.0, le=1.0)
    style: float | None = Field(default=None, ge=0.0, le=1.0)
    use_speaker_boost: bool | None = None
    speed: float | None = Field(default=None, ge=0.7, le=1.2)


class PronunciationDictionaryLocator(BaseModel):
    pronunciation_dictionary_id: str
    version_id: str | None = None


class TextToSpeechBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str
    model_id: str = "eleven_multilingual_v2"
    language_code: str | None = None
    voice_settings: VoiceSettingsBody | None = None
    pronunciation_dictionary_locators: list[PronunciationDictionaryLocator] | None = Field(
        default=None, max_length=3
    )
    seed: int | None = Field(default=None, ge=0, le=4_294_967_295)
    previous_text: str | None = None
    next_text: str | None = None
    previous_request_ids: list[str] | None = Field(default=None, max_length=3)
    next_request_ids: list[str] | None = Field(default=None, max_length=3)
    use_pvc_as_ivc: bool = False
    apply_text_normalization: Literal["auto", "on", "off"] = "auto"
    apply_language_text_normalization: bool = False


class HistoryDownloadBody(BaseModel):
    history_item_ids: list[str] = Field(min_length=1)
    output_format: str | None = None
