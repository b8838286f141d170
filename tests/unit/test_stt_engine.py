"""The speech-to-text layer: decoding any input, loudness, and the pocketsphinx engine on real speech."""

from __future__ import annotations

import io
import math
import os
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from chorus.stt.audio_input import (
    AudioTooLong,
    LevelTracker,
    Resampler16k,
    UndecodableAudio,
    decode_any,
    loudness_gain,
    normalize_loudness,
    prepare,
    to_16k,
)
from chorus.stt.base import (
    Final,
    Partial,
    STTEngine,
    STTUnavailable,
    TranscribeOptions,
    Transcript,
    UnsupportedLanguage,
    iso639_3,
)
from chorus.stt.vad import SileroVAD, SpeechSegment
from chorus.testing.asr import word_errors

SPEECH = Path(
    os.environ.get("CHORUS_SPEECH_DATA", Path(__file__).resolve().parents[3] / "shared/data/speech")
)
LIBRI = SPEECH / "librispeech-train-clean-5"


def read_transcripts() -> dict[str, str]:
    table = SPEECH / "transcripts.tsv"
    texts: dict[str, str] = {}
    for line in table.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        texts[Path(fields[0]).stem] = fields[-1]
    return texts


def clip(name: str) -> tuple[bytes, str]:
    """(16 kHz s16le, reference text) of a LibriSpeech clip; skips when the data is absent."""
    path = LIBRI / f"{name}.flac"
    if not path.is_file():
        pytest.skip(f"speech data not found at {SPEECH} (set CHORUS_SPEECH_DATA)")
    pcm, rate = decode_any(path.read_bytes())
    assert rate == 16_000
    return pcm, read_transcripts()[name]


# --- decoding any input ------------------------------------------------------------------------------


def tone(rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 440 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (np.tile(mono, (channels, 1)) * 32767).astype(np.int16)


def encode(container: str, codec: str, rate: int, seconds: float = 1.0, video: bool = False) -> bytes:
    """A small file made with PyAV: a stereo tone, plus a video stream when asked."""
    buffer = io.BytesIO()
    samples = tone(rate, seconds, channels=2)
    with av.open(buffer, mode="w", format=container) as out:
        if video:
            picture = out.add_stream("mpeg4", rate=10)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream(codec, rate=rate, layout="stereo")
        if video:
            for i in range(int(seconds * 10)):
                image = np.full((48, 64, 3), i * 20 % 255, np.uint8)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = i
                for packet in picture.encode(frame):
                    out.mux(packet)
            for packet in picture.encode(None):
                out.mux(packet)
        step = 1024
        layout_fmt = "s16p" if codec not in ("pcm_s16le", "flac") else "s16"
        for start in range(0, samples.shape[1], step):
            block = samples[:, start : start + step]
            if layout_fmt == "s16":
                frame = av.AudioFrame.from_ndarray(
                    block.T.reshape(1, -1).copy(), format="s16", layout="stereo"
                )
            else:
                frame = av.AudioFrame.from_ndarray(block.copy(), format="s16p", layout="stereo")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in sound.encode(frame):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("container", "codec", "rate", "video"),
    [
        ("wav", "pcm_s16le", 22_050, False),
        ("flac", "flac", 44_100, False),
        ("mp3", "libmp3lame", 24_000, False),
        ("mp4", "aac", 48_000, True),
    ],
)
def test_decode_any_reads_audio_and_video_containers(
    container: str, codec: str, rate: int, video: bool
) -> None:
    data = encode(container, codec, rate, seconds=1.0, video=video)
    pcm, got_rate = decode_any(data)
    assert got_rate == rate
    seconds = len(pcm) / 2 / rate
    assert 0.9 < seconds < 1.2  # codec priming/padding adds a little
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    assert 0.1 < np.sqrt(np.mean(samples**2)) < 0.35  # the tone survived the down-mix
    resampled = to_16k(pcm, rate)
    assert abs(len(resampled) / 2 - seconds * 16_000) <= 2


def test_decode_any_refuses_what_is_not_audio() -> None:
    with pytest.raises(UndecodableAudio):
        decode_any(b"")
    with pytest.raises(UndecodableAudio):
        decode_any(b"this is not a media file at all" * 50)
    silent_video = io.BytesIO()
    with av.open(silent_video, mode="w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(UndecodableAudio, match="no audio stream"):
        decode_any(silent_video.getvalue())


def test_decode_any_refuses_long_input() -> None:
    data = encode("wav", "pcm_s16le", 8000, seconds=3.0)
    with pytest.raises(AudioTooLong) as info:
        decode_any(data, max_duration_s=2.0)
    assert info.value.http_status == 400 and "2 seconds" in info.value.message
    pcm, _ = decode_any(data, max_duration_s=5.0)
    assert len(pcm) == 2 * 3 * 8000


def level_db(samples: np.ndarray) -> float:
    return 20 * math.log10(np.sqrt(np.mean((samples / 32768.0) ** 2)))


def test_loudness_normalisation_fixes_levels_far_off_and_never_clips() -> None:
    base = np.sin(2 * np.pi * 440 * np.arange(32_000) / 16_000)  # steady, peak 1.0, RMS -3 dB
    quiet = np.round(base * 32767 * 10 ** (-50 / 20)).astype(np.int16)  # peak -50 dBFS
    louder = normalize_loudness(quiet)
    assert -21.5 < level_db(louder) < -18.5  # brought to about -20 dBFS
    ok = np.round(base * 32767 * 10 ** (-22 / 20)).astype(np.int16)
    assert np.array_equal(normalize_loudness(ok), ok)  # a usual speech level is left alone
    hot = np.clip(np.round(base * 32767 * 4), -32768, 32767).astype(np.int16)  # clipped, about -1 dBFS RMS
    cooled = normalize_loudness(hot)
    assert -21.5 < level_db(cooled) < -18.5
    assert np.abs(cooled.astype(np.int32)).max() <= 32767 * 10 ** (-1 / 20) + 1
    whisper = np.round(base * 2).astype(np.int16)  # 1.4 LSB RMS: digital silence, not amplified
    assert np.array_equal(normalize_loudness(whisper), whisper)
    faint = np.round(base * 32767 * 10 ** (-80 / 20)).astype(np.int16)
    assert loudness_gain(faint) == pytest.approx(10 ** (45 / 20))  # +45 dB at most
    # Streaming: the same level once the tracker has heard some audio, and never clipping on the way.
    tracker = LevelTracker()
    chunks = [tracker.process(quiet[i : i + 1600]) for i in range(0, quiet.size, 1600)]
    tail = np.concatenate(chunks)[16_000:]
    assert abs(level_db(tail) - level_db(louder)) < 1.0
    tracker = LevelTracker()
    sudden = np.concatenate([quiet, hot])
    out = np.concatenate([tracker.process(sudden[i : i + 1600]) for i in range(0, sudden.size, 1600)])
    saturated = np.count_nonzero(np.abs(out.astype(np.int32)) >= 32767)
    assert saturated <= np.count_nonzero(np.abs(sudden.astype(np.int32)) >= 32767)  # gain never adds clipping
    assert prepare(quiet.tobytes(), 16_000).size == quiet.size


def test_streaming_input_does_not_depend_on_how_it_is_chunked() -> None:
    """Resampling and the streaming loudness gain give the same samples for any split of the same audio, as
    a live transcript must (and the gain still changes on the way: quiet, then a sudden loud burst)."""
    rng = np.random.default_rng(5)
    t = np.arange(8000 * 6) / 8000
    voice = np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)) + 0.1 * rng.standard_normal(
        t.size
    )
    quiet = np.round(voice * 300).astype("<i2")
    loud = np.round(voice * 20000).astype("<i2")
    audio = np.concatenate([quiet, loud]).tobytes()

    def run(step: int) -> tuple[bytes, bytes]:
        resampler, tracker = Resampler16k(8000), LevelTracker()
        parts = [resampler.feed(audio[i : i + step]) for i in range(0, len(audio), step)]
        parts.append(resampler.feed(b"", last=True))
        resampled = b"".join(parts)
        samples = np.frombuffer(resampled, dtype="<i2")
        levelled = [tracker.process(samples[i : i + step // 2]) for i in range(0, samples.size, step // 2)]
        return resampled, np.concatenate(levelled).tobytes()

    reference = run(320)
    levelled = np.frombuffer(reference[1], dtype="<i2")
    assert len(reference[0]) == 2 * 2 * quiet.size * 2  # 8 kHz -> 16 kHz, both halves
    assert np.abs(levelled[: levelled.size // 4]).max() > 4 * np.abs(quiet).max()  # the quiet part was raised
    for step in (162, 2000, 7777, 64000, len(audio)):
        assert run(step) == reference, step


def test_rising_peaks_do_not_re_estimate_the_gain_at_every_new_maximum() -> None:
    """Quiet audio with ever louder clicks: each new maximum would clip at the current gain, and each used to
    cost a re-estimate over the whole session's level history (783 in 20 s here)."""
    audio = np.zeros(16_000 * 20, np.int16)
    clicks = np.arange(0, audio.size, 400)
    audio[clicks] = np.round(np.linspace(100, 3000, clicks.size)).astype(np.int16)
    tracker = LevelTracker()
    estimates = 0
    update = tracker._update

    def counted(**kwargs: float) -> None:
        nonlocal estimates
        estimates += 1
        update(**kwargs)

    tracker._update = counted  # type: ignore[method-assign]
    out = np.concatenate([tracker.process(audio[i : i + 1600]) for i in range(0, audio.size, 1600)])
    assert tracker.gain > 2.0  # the quiet audio is raised ...
    assert np.abs(out.astype(np.int32)).max() <= 32767 * 10 ** (-1 / 20) + 1  # ... and never clipped
    assert estimates < 60  # 20 scheduled, a few more as the clicks grow


def test_language_codes() -> None:
    assert iso639_3("en") == iso639_3("en-US") == iso639_3("ENG") == iso639_3("en_GB") == "eng"
    assert iso639_3("de") == iso639_3("ger") == "deu"


# --- the engine --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    pytest.importorskip("pocketsphinx")
    from chorus.stt.pocketsphinx_engine import PocketsphinxEngine

    stt = PocketsphinxEngine(max_decoders=3)
    if not stt.available():
        pytest.skip(stt.unavailable_reason() or "pocketsphinx unavailable")
    yield stt
    stt.close()


def check_words(transcript: Transcript) -> None:
    previous_end = 0.0
    for word in transcript.words:
        assert word.text and " " not in word.text
        assert previous_end - 1e-6 <= word.start_s < word.end_s <= transcript.duration_s + 1e-6
        assert word.logprob <= 0.0
        previous_end = word.end_s
    assert transcript.text == " ".join(w.text for w in transcript.words)


def test_engine_contract_and_capabilities(engine) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(engine, STTEngine)
    caps = engine.capabilities()
    assert caps.languages == ("eng",) and caps.word_timestamps and caps.streaming and caps.keyterms
    assert caps.supports_language("en-US") and caps.supports_language(None)
    assert not caps.supports_language("de")
    with pytest.raises(UnsupportedLanguage, match="English"):
        engine.transcribe(b"\0\0" * 1600, 16_000, TranscribeOptions(language="de"))
    with pytest.raises(UnsupportedLanguage):
        engine.stream(16_000, TranscribeOptions(language="fra"))


def test_transcribes_librispeech_within_the_measured_error(engine) -> None:  # type: ignore[no-untyped-def]
    pcm, reference = clip("7859-102519-0005")
    result = engine.transcribe(pcm, 16_000, TranscribeOptions(language="en"))
    assert result.language == "eng" and result.language_probability == 1.0
    assert result.duration_s == pytest.approx(len(pcm) / 2 / 16_000)
    check_words(result)
    errors, total = word_errors(reference, result.text)
    assert errors / total <= 0.35, result.text


def test_confidence_tells_right_words_from_wrong_ones(engine) -> None:  # type: ignore[no-untyped-def]
    """Over a few clips, words the decoder is sure of are right far more often than the others."""
    import difflib

    right: list[float] = []
    wrong: list[float] = []
    for name in ("7859-102519-0005", "163-122947-0001", "1088-134315-0002"):
        pcm, reference = clip(name)
        result = engine.transcribe(pcm, 16_000, TranscribeOptions())
        hypothesis = [w.text for w in result.words]
        matcher = difflib.SequenceMatcher(a=reference.lower().split(), b=hypothesis, autojunk=False)
        matched = {block.b + i for block in matcher.get_matching_blocks() for i in range(block.size)}
        for index, word in enumerate(result.words):
            (right if index in matched else wrong).append(word.probability)
    assert right and wrong
    assert np.mean(right) > np.mean(wrong) + 0.15, (np.mean(right), np.mean(wrong))
    sure_right, sure_wrong = sum(p > 0.9 for p in right), sum(p > 0.9 for p in wrong)
    assert sure_right / (sure_right + sure_wrong) > 0.85  # what it is sure of is almost always right


def test_resampled_and_quiet_input_still_transcribes(engine) -> None:  # type: ignore[no-untyped-def]
    pcm, reference = clip("163-122947-0000")
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    import soxr

    quiet_44k = np.round(soxr.resample(samples * 0.03, 16_000, 44_100)).astype("<i2").tobytes()  # -30 dB
    result = engine.transcribe(quiet_44k, 44_100, TranscribeOptions())
    check_words(result)
    errors, total = word_errors(reference, result.text)
    assert errors / total <= 0.5, result.text


def test_silence_gives_an_empty_transcript(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.transcribe(b"\0\0" * 32_000, 16_000, TranscribeOptions())
    assert result.text == "" and result.words == () and result.duration_s == 2.0


def test_concurrent_requests_match_serial_ones(engine) -> None:  # type: ignore[no-untyped-def]
    pcms = [clip(name)[0] for name in ("163-122947-0000", "4640-19188-0000", "163-122947-0006")]
    serial = [engine.transcribe(pcm, 16_000, TranscribeOptions()) for pcm in pcms]
    results: dict[int, Transcript] = {}
    barrier = threading.Barrier(3)

    def work(index: int) -> None:
        barrier.wait()
        results[index] = engine.transcribe(pcms[index], 16_000, TranscribeOptions())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(3)] == serial


def test_streaming_gives_partials_then_a_final_matching_batch(engine) -> None:  # type: ignore[no-untyped-def]
    pcm, _ = clip("4640-19188-0000")
    samples = np.frombuffer(pcm, dtype="<i2")
    rate = 24_000  # the stream resamples too
    import soxr

    wide = np.round(soxr.resample(samples.astype(np.float32), 16_000, rate)).astype("<i2")
    padded = np.concatenate([wide, np.zeros(rate, "<i2")]).tobytes()  # a second of silence ends the speech
    batch = engine.transcribe(padded, rate, TranscribeOptions())
    stream = engine.stream(rate, TranscribeOptions())
    events: list[Partial | Final] = []
    step = rate // 10 * 2  # 100 ms chunks
    for start in range(0, len(padded), step):
        events += stream.feed(padded[start : start + step])
    finals_before_finish = [e for e in events if isinstance(e, Final)]
    events += stream.finish()
    partials = [e for e in events if isinstance(e, Partial) and e.text]
    finals = [e for e in events if isinstance(e, Final)]
    assert partials and finals and finals_before_finish  # VAD closed the utterance on the trailing silence
    assert events.index(partials[0]) < events.index(finals[0])
    text = " ".join(f.text for f in finals)
    errors, total = word_errors(batch.text, text)
    assert errors <= max(1, total // 5), (text, batch.text)
    for final in finals:
        assert final.language == "eng"
        for word in final.words:
            assert final.start_s - 1e-6 <= word.start_s < word.end_s <= final.end_s + 1e-6
            assert word.logprob <= 0.0
    assert stream.finish() == []


def test_keyterms_make_unknown_words_recognisable(engine) -> None:  # type: ignore[no-untyped-def]
    pcm, reference = clip("1088-134315-0001")
    assert reference.endswith("GEORGE GATHERCOLE")
    tail = pcm[-4 * 32_000 :]  # the last four seconds: "... most interesting man George Gathercole"
    plain = engine.transcribe(tail, 16_000, TranscribeOptions())
    assert "gathercole" not in plain.text.lower()  # not in pocketsphinx's dictionary
    boosted = engine.transcribe(tail, 16_000, TranscribeOptions(keyterms=("George Gathercole",)))
    assert "Gathercole" in boosted.text.split()  # recognised, and spelled as the client wrote it
    check_words(boosted)
    # The pool keeps the decoder with the added word for these keyterms only: plain requests are unaffected.
    assert engine.transcribe(tail, 16_000, TranscribeOptions()) == plain


def test_python_binding_fallback_agrees(engine) -> None:  # type: ignore[no-untyped-def]
    from chorus.stt.pocketsphinx_engine import PocketsphinxEngine

    pcm, _ = clip("163-122947-0006")
    fallback = PocketsphinxEngine(native=False, max_decoders=1)
    slow = fallback.transcribe(pcm, 16_000, TranscribeOptions())
    fast = engine.transcribe(pcm, 16_000, TranscribeOptions())
    fallback.close()
    assert slow.text == fast.text and slow.text
    for a, b in zip(slow.words, fast.words, strict=True):
        assert (a.text, a.start_s, a.end_s) == (b.text, b.start_s, b.end_s)
        assert a.logprob == pytest.approx(b.logprob, abs=1e-3)


def test_unavailable_when_a_model_is_missing(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    from chorus.stt.pocketsphinx_engine import PocketsphinxEngine

    no_vad = PocketsphinxEngine(vad=SileroVAD(tmp_path / "silero_vad.onnx"))
    assert not no_vad.available()
    assert "silero_vad.onnx" in (no_vad.unavailable_reason() or "")
    with pytest.raises(STTUnavailable, match="silero"):
        no_vad.transcribe(b"\0\0" * 16_000, 16_000, TranscribeOptions())
    with pytest.raises(STTUnavailable):
        no_vad.stream(16_000, TranscribeOptions())
    no_model = PocketsphinxEngine(model_dir=tmp_path / "en-us")
    assert not no_model.available()
    assert "model files are missing" in (no_model.unavailable_reason() or "")


def test_stream_of_silence_and_noise_stays_quiet_and_small(engine) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    stream = engine.stream(16_000, TranscribeOptions())
    for _ in range(40):  # 20 s of faint noise in 0.5 s chunks
        chunk = np.round(rng.standard_normal(8000) * 30).astype("<i2").tobytes()
        assert stream.feed(chunk) == []
    assert stream.position_s == 20.0
    assert stream._audio.end - stream._audio.start < 6 * 16_000  # old audio is dropped
    assert stream.finish() == []
    with pytest.raises(RuntimeError):
        stream.feed(b"\0\0")


def test_sample_buffer_keeps_absolute_positions() -> None:
    from chorus.stt.pocketsphinx_engine import _SampleBuffer

    buffer = _SampleBuffer()
    data = np.arange(200_000, dtype=np.int64) % 30_000
    for start in range(0, data.size, 7_777):
        buffer.append(data[start : start + 7_777].astype(np.int16))
    assert buffer.end == data.size
    assert np.array_equal(buffer.slice(1000, 1010), data[1000:1010])
    buffer.drop_before(150_000)
    assert buffer.start == 150_000 and np.array_equal(buffer.slice(149_990, 150_010), data[150_000:150_010])
    buffer.append(np.ones(5, np.int16))
    assert buffer.end == data.size + 5 and list(buffer.slice(data.size, data.size + 10)) == [1] * 5


def test_packing_joins_short_pauses_up_to_the_limit() -> None:
    from chorus.stt.pocketsphinx_engine import pack_segments

    s = 16_000
    segments = [SpeechSegment(0, 2 * s), SpeechSegment(2 * s + s // 2, 5 * s), SpeechSegment(7 * s, 9 * s),
                SpeechSegment(9 * s + s // 5, 12 * s)]  # fmt: skip
    packed = pack_segments(segments, 8.0, 1.0)
    # 0.5 s pause joined; the 2 s pause is not; the last two join (3 s + 0.2 s + 2.8 s < 8 s).
    assert packed == [SpeechSegment(0, 5 * s), SpeechSegment(7 * s, 12 * s)]
    assert pack_segments(segments, 4.0, 1.0) == [SpeechSegment(0, 2 * s), SpeechSegment(2 * s + s // 2, 5 * s),
                                                 SpeechSegment(7 * s, 9 * s), SpeechSegment(9 * s + s // 5, 12 * s)]  # fmt: skip
    assert pack_segments(segments, 0.0, 1.0) == segments and pack_segments([], 8.0, 1.0) == []
