"""Chorus settings: one object, built once at start-up from ``CHORUS_*`` variables and passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_MULTIPLIERS: dict[str, float] = {
    "eleven_flash_v2_5": 0.5,
    "eleven_turbo_v2_5": 0.5,
    "eleven_multilingual_v2": 1.0,
    "eleven_v3": 1.0,
}


class Settings(BaseSettings):
    """Every knob Chorus has. Nothing reads the environment after this object is built."""

    model_config = SettingsConfigDict(env_prefix="CHORUS_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="Where the database and blobs live.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite in the data dir."
    )
    blob_url: str | None = Field(
        default=None,
        description="Blob store URL: a local path (default: <data_dir>/blobs), memory://, or s3://bucket/prefix",
    )
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

    admin_api_key: str | None = Field(
        default=None, description="This key becomes an administrator with every permission and no limit."
    )
    # Neural engines without models report themselves unavailable (with how to get them) and stay out.
    engines: list[str] = Field(default_factory=lambda: ["flite", "espeak-ng", "piper", "kokoro"])
    # Worker processes per engine for parallel synthesis; 0 runs engines in the server process.
    # None: one per CPU core.
    engine_workers: int | None = Field(default=None, ge=0)
    # Threads per onnxruntime session (neural engines); None lets onnxruntime use every core.
    onnx_threads: int | None = Field(default=None, ge=1)
    # Folder of neural models (Piper voices, Kokoro), managed by `chorus models`.
    models_dir: Path | None = None
    # Clone voices with OpenVoice's tone color converter when its ONNX models are installed (`chorus models
    # pull openvoice-v2`); such clones keep the frame-bank transform as their fallback. False: DSP only.
    neural_cloning: bool = True
    # Where `chorus models pull` downloads from when online (a Hugging Face compatible hub).
    model_hub_url: str = "https://huggingface.co"
    # Which engines back each model id, e.g. {"eleven_flash_v2_5": ["flite"]}; unlisted: the voice's engine.
    # An eleven_* tier speaks a voice of another engine through its first available engine's closest voice.
    model_engines: dict[str, list[str]] = Field(default_factory=dict)
    # The voice used when a client names none (CLI): "<engine>:<engine voice>".
    default_voice: str = "flite:rms"

    # Speech to text engine: "pocketsphinx" (embedded, English), "faster-whisper" (Whisper on CTranslate2,
    # ~100 languages; needs a model, see `chorus models pull faster-whisper-small`), or "auto" (faster-whisper
    # when its model is installed, else pocketsphinx).
    stt_engine: Literal["pocketsphinx", "faster-whisper", "auto"] = "pocketsphinx"
    # The Whisper model: a name under <models_dir>/faster-whisper/ ("small", "large-v3", ...) or the path of
    # a CTranslate2 Whisper model folder.
    whisper_model: str = "small"
    whisper_device: str = "cpu"  # "cpu", "cuda" or "auto"
    whisper_compute_type: str = "int8"  # CTranslate2 quantization: int8, int8_float16, float16, float32 ...
    # Threads per transcription (0: CTranslate2's default) and transcriptions run in parallel.
    whisper_cpu_threads: int = Field(default=0, ge=0)
    whisper_workers: int = Field(default=1, ge=1)
    # Download a missing Whisper model from model_hub_url on first use (as `chorus models pull` would).
    whisper_download: bool = False

    # Realtime speech to text (/v1/speech-to-text/realtime), per server process: sessions open at once
    # (each may hold a decoder and a worker thread), the most audio one chunk may carry, the most received
    # audio that may wait to be decoded before the session ends (queue_overflow), how long a session may
    # stay open, credits taken ahead in blocks of this many seconds, and the most queued audio decoded in one
    # step when a session has fallen behind.
    realtime_stt_max_sessions: int = Field(default=16, ge=1)
    realtime_stt_max_chunk_s: float = Field(default=10.0, gt=0)
    realtime_stt_max_backlog_s: float = Field(default=60.0, gt=0)
    realtime_stt_max_session_s: float = Field(default=3600.0, gt=0)
    realtime_stt_charge_block_s: int = Field(default=10, ge=1)
    realtime_stt_max_batch_s: float = Field(default=1.0, gt=0)

    # Money: credits charged per character, by model.
    model_credit_multipliers: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_MODEL_MULTIPLIERS)
    )
    default_plan: str = "free"

    # Limits applied to keys that do not set their own.
    rate_limit_per_minute: int = Field(default=600, ge=1)
    max_concurrent_requests: int = Field(default=8, ge=1)

    # Redis URL for distributed limits (optional; in-process otherwise).
    redis_url: str | None = None

    max_upload_bytes: int = 50 * 1024 * 1024

    # Background jobs (services/jobs.py). 0 workers: this process only enqueues; another one runs them.
    job_workers: int = Field(default=2, ge=0)
    job_poll_interval_s: float = Field(default=1.0, gt=0)
    # A running job's runner renews its lease every third of this; a job whose lease ran out is re-queued.
    job_lease_s: float = Field(default=60.0, gt=0)
    job_retry_base_s: float = Field(default=2.0, ge=0)
    job_retry_max_s: float = Field(default=600.0, ge=0)
    # On shutdown, running jobs get this long to finish before they are stopped and re-queued.
    job_shutdown_grace_s: float = Field(default=5.0, ge=0)
    stt_webhook_max_attempts: int = Field(default=3, ge=1)

    # Webhook deliveries: per-request timeout and attempts (retried on network errors, 429 and 5xx).
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=6, ge=1)
    # Off in production: webhooks must be https:// to public addresses. On: http:// and private or
    # loopback targets are allowed too (tests, a LAN without TLS).
    webhook_allow_local_urls: bool = False

    @field_validator("engines", mode="before")
    @classmethod
    def _split_engines(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'chorus.db').resolve()}"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or (self.data_dir / "models")

    @property
    def resolved_engine_workers(self) -> int:
        if self.engine_workers is not None:
            return self.engine_workers
        return max(1, os.cpu_count() or 1)

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or str((self.data_dir / "blobs").resolve())

    def credit_multiplier(self, model_id: str) -> float:
        return self.model_credit_multipliers.get(model_id, 1.0)
