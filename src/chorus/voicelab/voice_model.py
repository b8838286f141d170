"""The voice model that every engine can render: a base engine voice plus a transform.

A saved voice (cloned, designed, remixed) is stored as the premade engine voice it starts from (``engine`` and
``native_voice`` on the voice row) and a :class:`VoiceTransform` (JSON in the voice row). The transform is
applied to the engine's PCM in the streaming path (see :mod:`chorus.voicelab.render`), so a transformed voice
works in every TTS route, WebSocket and output format.

Every field has a neutral value, and :meth:`VoiceTransform.is_identity` says when the transform does
nothing (then rendering costs nothing). Fields are plain numbers so they can be interpolated (remix,
``guidance_scale``) and compared (tests, benchmarks).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class VoiceTransform:
    """How to turn a base voice's speech into this voice's speech.

    - ``f0_median_hz``: target median F0 of voiced speech; None keeps the base voice's. The renderer scales
      F0 by ``f0_median_hz / base median``, measured on what the engine produced.
    - ``f0_range``: multiplier on F0 excursions around the median in the log domain (1 = unchanged,
      0.5 = flatter, 1.5 = livelier).
    - ``formant_shift``: frequency-warp ratio of the spectral envelope (1 = unchanged, 1.15 = a shorter vocal
      tract: brighter, younger, more feminine; 0.88 = a longer one: darker, deeper, more masculine).
    - ``tilt_db_per_octave``: spectral tilt added above 500 Hz (negative = darker/warmer, positive =
      brighter).
    - ``envelope_db``: optional per-band (mel-spaced, ``len(envelope_db)`` bands from 0 Hz to Nyquist)
      correction of the long-term spectral envelope in dB, e.g. learnt from a speaker's samples.
    - ``rate``: speaking-rate multiplier (1 = unchanged, 1.2 = 20% faster), applied by the engine when it
      can (its duration controls) and by time-scale modification otherwise.
    - ``breathiness``: 0..1, aspiration noise shaped by the envelope in voiced frames, the harmonics ducked
      (0.6 is clearly breathy: Praat's HNR of flite speech 6-8 dB lower; 1 is near a whisper).
    - ``roughness``: 0..1, cycle-to-cycle F0 and amplitude perturbation (jitter/shimmer): raspy, creaky.
    - ``loudness_lufs``: integrated loudness of the output; None leaves the engine's level.
    - ``seed``: makes the stochastic parts (breath noise, jitter) reproducible.
    - ``frames``: the target speaker's spectral frames for a clone (a
      :class:`chorus.voicelab.transform_dsp.FrameBank` in its compact text form, about 100-250 kB for
      30-40 s of samples; "" = none). Each frame of the base voice takes the envelope of its nearest
      frame here, which is what makes a clone sound like its speaker rather than like the base voice.
    - ``frames_source_db``: the base voice's mean spectral shape (``BANK_BANDS`` mel band levels in dB,
      measured when the clone was built), which frame matching subtracts to compare like with like.
    - ``frames_warp``: frequency warp applied to the base voice's frames before they are compared with
      ``frames`` (a vocal-tract length ratio, chosen when the clone was built); only the matching sees it.
    - ``tone_color``: the target speaker's tone color (256 values) for a neural converter that takes the
      reference audio directly (:mod:`chorus.voicelab.tone_color`, OpenVoice); () = none. When the converter
      is installed it re-voices the base voice's speech instead of the frame-bank DSP; without it the
      voice renders through ``frames`` as any clone.
    - ``tone_source``: the base voice's tone color at the clone's pitch (what the converter converts from).
    - ``reference``: free-form facts about the source (e.g. the speaker embedding of a clone, measured F0
      statistics), kept for neural engines that take the reference directly and for re-analysis.
    """

    f0_median_hz: float | None = None
    f0_range: float = 1.0
    formant_shift: float = 1.0
    tilt_db_per_octave: float = 0.0
    envelope_db: tuple[float, ...] = ()
    rate: float = 1.0
    breathiness: float = 0.0
    roughness: float = 0.0
    loudness_lufs: float | None = None
    seed: int = 0
    frames: str = field(default="", repr=False)
    frames_source_db: tuple[float, ...] = field(default=(), repr=False)
    frames_warp: float = 1.0
    tone_color: tuple[float, ...] = field(default=(), repr=False)
    tone_source: tuple[float, ...] = field(default=(), repr=False)
    reference: dict[str, Any] = field(default_factory=dict, compare=False)

    def is_identity(self) -> bool:
        """True when rendering would return the engine's audio unchanged."""
        return (
            self.f0_median_hz is None
            and math.isclose(self.f0_range, 1.0)
            and math.isclose(self.formant_shift, 1.0)
            and self.tilt_db_per_octave == 0.0
            and not any(self.envelope_db)
            and math.isclose(self.rate, 1.0)
            and self.breathiness == 0.0
            and self.roughness == 0.0
            and self.loudness_lufs is None
            and not self.frames
            and not self.tone_color
        )

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["envelope_db"] = list(self.envelope_db)
        data["frames_source_db"] = list(self.frames_source_db)
        data["tone_color"] = list(self.tone_color)
        data["tone_source"] = list(self.tone_source)
        data["version"] = SCHEMA_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> VoiceTransform:
        """The transform stored as ``data`` (unknown keys are ignored, so older servers read newer rows)."""
        if not data:
            return cls()
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "envelope_db" in values:
            values["envelope_db"] = tuple(float(x) for x in values["envelope_db"] or ())
        if "frames_source_db" in values:
            values["frames_source_db"] = tuple(float(x) for x in values["frames_source_db"] or ())
        for name in ("tone_color", "tone_source"):
            if name in values:
                values[name] = tuple(float(x) for x in values[name] or ())
        if "frames" in values:
            values["frames"] = str(values["frames"] or "")
        return cls(**values)

    def replace(self, **changes: Any) -> VoiceTransform:
        return dataclasses.replace(self, **changes)
