"""The neural cloning engine (OpenVoice's tone color converter) with tiny random models of its real signature:
loading, spectrogram, extraction, conversion, the provider, the render path and cloning."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from chorus.services.render import RenderPlan, render
from chorus.voicelab.tone_color import (
    TONE_DIMS,
    ToneColorConverter,
    ToneColorProvider,
    ToneStream,
    spectrogram,
)
from chorus.voicelab.voice_model import VoiceTransform
from tests.unit.tiny_openvoice import install_openvoice

RATE = 16_000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_openvoice(tmp_path_factory.mktemp("models") / "openvoice")


@pytest.fixture(scope="module")
def converter(model_dir: Path) -> ToneColorConverter:
    return ToneColorConverter.load(model_dir)


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, int(seconds * RATE)).astype(np.float32)


def _tone(hz: float, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sign(np.sin(2 * np.pi * hz * t))).astype(np.float32)  # harmonics up to Nyquist


def test_spectrogram_is_openvoices_definition() -> None:
    audio = np.random.default_rng(3).normal(0, 0.2, 5000).astype(np.float32)
    n_fft, hop = 1024, 256
    spec = spectrogram(audio, n_fft, hop, n_fft)
    padded = np.pad(audio.astype(np.float64), (n_fft - hop) // 2, mode="reflect")
    assert spec.shape == ((padded.size - n_fft) // hop + 1, n_fft // 2 + 1)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann, as torch's
    for frame in (0, 7, spec.shape[0] - 1):
        x = np.fft.rfft(padded[frame * hop : frame * hop + n_fft] * window)
        np.testing.assert_allclose(spec[frame], np.sqrt(np.abs(x) ** 2 + 1e-6), rtol=1e-4, atol=1e-5)
    # Too short to reflect-pad: zero-padded to one frame rather than an error.
    assert spectrogram(np.ones(10, np.float32), n_fft, hop, n_fft).shape == (1, n_fft // 2 + 1)


def test_tone_colors_differ_between_spectra_and_need_enough_audio(converter: ToneColorConverter) -> None:
    low = converter.extract([_tone(110)], RATE)
    high = converter.extract([_tone(440)], RATE)
    assert low.shape == high.shape == (TONE_DIMS,)
    assert np.array_equal(low, converter.extract([_tone(110)], RATE))
    assert np.abs(low - high).max() > 0.05
    with pytest.raises(ValueError, match="too little"):
        converter.extract([_tone(110, 0.2)], RATE)


def test_conversion_keeps_the_length_follows_the_target_and_the_seed(converter: ToneColorConverter) -> None:
    audio = _noise(2.3)
    source = converter.extract([_tone(110)], RATE)
    target = converter.extract([_tone(440)], RATE)
    out = converter.convert(audio, RATE, source, target, seed=5)
    assert out.shape == audio.shape and np.all(np.isfinite(out)) and np.abs(out).max() > 0.01
    assert np.array_equal(out, converter.convert(audio, RATE, source, target, seed=5))
    assert not np.array_equal(out, converter.convert(audio, RATE, source, target, seed=6))
    assert not np.allclose(out, converter.convert(audio, RATE, source, source, seed=5), atol=1e-3)
    one_second = _noise(converter.sample_rate / RATE)  # a second at the model's rate: no resampling
    assert converter.convert(one_second, converter.sample_rate, source, target).size == converter.sample_rate
    with pytest.raises(ValueError, match="256"):
        converter.convert(audio, RATE, source[:10], target)


def test_loading_refuses_missing_and_foreign_files(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ToneColorConverter.load(tmp_path)
    foreign = tmp_path / "foreign"
    shutil.copytree(model_dir, foreign)
    shutil.copy(foreign / "tone_color_extract_model.onnx", foreign / "tone_clone_model.onnx")
    with pytest.raises(ValueError, match="tone color"):
        ToneColorConverter.load(foreign)


def test_provider_names_the_fix_and_finds_a_model_installed_later(model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "openvoice"
    provider = ToneColorProvider(folder)
    assert "chorus models pull openvoice-v2" in (provider.status() or "")
    assert provider.get() is None
    assert "chorus models pull openvoice-v2" in (provider.unavailable_reason() or "")
    shutil.copytree(model_dir, folder)
    assert provider.status() is None  # installed: loads on first use
    assert isinstance(provider.get(), ToneColorConverter) and provider.unavailable_reason() is None
    off = ToneColorProvider(folder, enabled=False)
    assert off.get() is None and "turned off" in (off.unavailable_reason() or "")
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "tone_clone_model.onnx").write_bytes(b"not a model")
    bad = ToneColorProvider(broken)
    assert bad.get() is None and "could not be loaded" in (bad.unavailable_reason() or "")
    assert "could not be loaded" in (bad.status() or "")


def test_tone_stream_converts_a_whole_sentence_at_flush(converter: ToneColorConverter) -> None:
    audio = _noise(1.5, seed=4)
    pcm = (audio * 32768).astype("<i2").tobytes()
    source, target = converter.extract([_tone(110)], RATE), converter.extract([_tone(440)], RATE)
    stream = ToneStream(converter, source, target, RATE, seed=2)
    assert stream.process(pcm[:1001]) == b"" and stream.process(pcm[1001:]) == b""
    out = stream.flush()
    assert len(out) == len(pcm)
    whole = converter.convert(np.frombuffer(pcm, "<i2") / np.float32(32768), RATE, source, target, seed=2)
    expected = (np.clip(whole, -1, 32767 / 32768) * 32768).astype("<i2").tobytes()
    assert out == expected
    assert stream.flush() == b""


def _clone_transform(converter: ToneColorConverter, flite) -> VoiceTransform:  # type: ignore[no-untyped-def]
    from chorus.voicelab.clone import clone_voice

    text = "The quick brown fox jumps over the lazy dog while the children watch from the garden wall."
    samples = []
    for voice in ("slt", "slt"):
        pcm = b"".join(c.pcm for c in flite.synthesize(_request(text, voice)))
        samples.append((pcm, flite.output_format().sample_rate))
    result = clone_voice(samples, engines=[flite], candidates=[("flite", "rms")], tone=converter)
    return result.transform


def _request(text: str, voice: str):  # type: ignore[no-untyped-def]
    from chorus.engines.base import SynthesisRequest

    return SynthesisRequest(text=text, native_voice=voice, seed=0)


def test_a_clone_gets_tone_colors_and_renders_through_the_converter(
    converter: ToneColorConverter, flite
) -> None:  # type: ignore[no-untyped-def]
    transform = _clone_transform(converter, flite)
    assert len(transform.tone_color) == len(transform.tone_source) == TONE_DIMS
    assert transform.tone_color != transform.tone_source
    assert transform.frames and transform.reference["tone_model"] == "openvoice-v2"
    assert VoiceTransform.from_json(transform.to_json()) == transform

    plan = RenderPlan(
        text="Hello there. How are you today?",
        engine=flite,
        native_voice="rms",
        language="en",
        settings={"use_speaker_boost": False},
        transform=transform,
        tone=lambda: converter,
    )
    neural = list(render(plan))
    fallback = list(render(replace(plan, tone=lambda: None)))
    neural_pcm = b"".join(c.pcm for c in neural)
    fallback_pcm = b"".join(c.pcm for c in fallback)
    # Same length sentence by sentence, so the character times are those of the DSP clone.
    assert len(neural_pcm) == len(fallback_pcm) > 16_000
    assert neural_pcm != fallback_pcm
    assert [c.alignment for c in neural if c.alignment.chars] == [
        c.alignment for c in fallback if c.alignment.chars
    ]
    assert b"".join(c.pcm for c in render(plan)) == neural_pcm  # deterministic
    # What the converter was fed is the base voice's speech: each sentence converted whole.
    no_tone = replace(transform, tone_color=(), tone_source=(), frames="", frames_source_db=())
    base = b"".join(c.pcm for c in render(replace(plan, text="Hello there.", transform=no_tone, tone=None)))
    stream = ToneStream(converter, transform.tone_source, transform.tone_color, RATE, seed=transform.seed)
    stream.process(base)
    first = b"".join(c.pcm for c in render(replace(plan, text="Hello there.")))
    assert first == stream.flush()


def test_a_clone_without_the_converter_has_no_tone_color(flite) -> None:  # type: ignore[no-untyped-def]
    from chorus.voicelab.clone import clone_voice

    pcm = b"".join(
        c.pcm for c in flite.synthesize(_request("A short sentence to clone from, said twice.", "slt"))
    )
    result = clone_voice([(pcm, RATE)] * 2, engines=[flite], candidates=[("flite", "rms")])
    assert result.transform.tone_color == () and result.transform.frames


def test_speech_to_speech_pieces_cut_at_pauses_and_keep_the_length(converter: ToneColorConverter) -> None:
    from chorus.voicelab.tone_color import _quiet_cut, convert_pieces

    # 20 s of "speech" with a silent gap inside each piece's last part: the cut lands in the gap.
    audio = _noise(20.0, seed=7)
    audio[int(6.5 * RATE) : int(6.8 * RATE)] = 0
    assert 6.5 * RATE <= _quiet_cut(audio[: 8 * RATE], RATE) < 6.8 * RATE
    pcm = (audio * 32768).astype("<i2").tobytes()
    target = converter.extract([_tone(440)], RATE)
    fallback = converter.extract([_tone(110)], RATE)
    steps = [pcm[i : i + 16_001] for i in range(0, len(pcm), 16_001)]  # odd sizes split samples
    out = list(convert_pieces(iter(steps), RATE, converter, target, fallback, seed=1))
    assert sum(len(o) for o in out) == len(pcm) and len(out) >= 3
    assert b"".join(out) == b"".join(convert_pieces(iter([pcm]), RATE, converter, target, fallback, seed=1))
    first_cut = len(out[0]) // 2
    piece = (np.frombuffer(pcm, "<i2") / np.float32(32768.0))[:first_cut].astype(np.float32)
    expected = converter.convert(piece, RATE, converter.extract([piece], RATE), target, seed=1)
    assert out[0] == (np.clip(expected, -1, 32767 / 32768) * 32768).astype("<i2").tobytes()
