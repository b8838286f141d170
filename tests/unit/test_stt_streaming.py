"""Live transcription with pocketsphinx: the streams' own decoder configuration and cutting an utterance
short (a realtime commit) while the stream goes on. Real LibriSpeech speech; skipped without the data."""

from __future__ import annotations

import numpy as np
import pytest

from chorus.stt.base import Final, Partial, StreamEvent, TranscribeOptions
from chorus.testing.asr import word_errors
from tests.unit.test_stt_engine import clip

RATE = 16_000


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    pytest.importorskip("pocketsphinx")
    from chorus.stt.pocketsphinx_engine import PocketsphinxEngine

    stt = PocketsphinxEngine(max_decoders=2)
    if not stt.available():
        pytest.skip(stt.unavailable_reason() or "pocketsphinx unavailable")
    yield stt
    stt.close()


def feed(stream, pcm: bytes, chunk_s: float = 0.1) -> list[StreamEvent]:  # type: ignore[no-untyped-def]
    step = int(RATE * chunk_s) * 2
    events: list[StreamEvent] = []
    for start in range(0, len(pcm), step):
        events += stream.feed(pcm[start : start + step])
    return events


def finals(events: list[StreamEvent]) -> list[Final]:
    return [e for e in events if isinstance(e, Final)]


def test_streams_decode_with_their_own_configuration(engine) -> None:  # type: ignore[no-untyped-def]
    from chorus.stt.pocketsphinx_engine import (
        STREAM_DECODER_CONFIG,
        PocketsphinxEngine,
        PocketsphinxSettings,
    )

    batch, stream = engine.decoder_config(), engine.stream_decoder_config()
    assert {k: v for k, v in stream.items() if batch.get(k) != v} == dict(STREAM_DECODER_CONFIG)
    # A stream configuration that cannot recognise anything (a beam that prunes every path at once) leaves
    # batch requests exactly as they were, and makes streams deaf: the two are decoded apart.
    pcm, _ = clip("7859-102519-0005")
    deaf = PocketsphinxEngine(
        max_decoders=1,
        settings=PocketsphinxSettings(stream_decoder_config={"beam": 0.9, "wbeam": 0.9, "pbeam": 0.9}),
    )
    try:
        assert deaf.transcribe(pcm, RATE, TranscribeOptions()) == engine.transcribe(
            pcm, RATE, TranscribeOptions()
        )
        heard = engine.stream(RATE, TranscribeOptions())
        normal = " ".join(f.text for f in finals(feed(heard, pcm) + heard.finish()))
        muted = deaf.stream(RATE, TranscribeOptions())
        events = feed(muted, pcm) + muted.finish()
        assert len(normal.split()) > 10
        assert len(" ".join(f.text for f in finals(events)).split()) < len(normal.split()) // 2
    finally:
        deaf.close()


def test_cut_ends_the_utterance_and_the_stream_goes_on(engine) -> None:  # type: ignore[no-untyped-def]
    first, first_text = clip("7859-102519-0005")
    second, second_text = clip("4640-19188-0000")
    stream = engine.stream(RATE, TranscribeOptions())
    events = feed(stream, first)
    # No pause after the last word: the utterance is still open, and only the cut settles it.
    cut = stream.cut()
    assert len(finals(cut)) == 1 and not [e for e in cut if isinstance(e, Partial)]
    heard_first = " ".join(f.text for f in finals(events + cut))
    errors, total = word_errors(first_text, heard_first)
    assert errors / total <= 0.4, heard_first
    first_end = len(first) / 2 / RATE
    assert cut[-1].end_s == pytest.approx(first_end, abs=1e-3)

    # The stream's clock runs on: the next words are timed after the cut, never before it.
    events = feed(stream, second + bytes(2 * RATE)) + stream.cut()
    later = finals(events)
    assert later and all(f.start_s >= first_end - 1e-6 for f in later)
    assert all(w.start_s >= first_end - 1e-6 for f in later for w in f.words)
    heard_second = " ".join(f.text for f in later)
    errors, total = word_errors(second_text, heard_second)
    assert errors / total <= 0.4, heard_second

    assert stream.cut() == []  # nothing new since: nothing to settle
    assert stream.position_s == pytest.approx(first_end + len(second) / 2 / RATE + 1.0)
    assert stream.finish() == []
    with pytest.raises(RuntimeError):
        stream.cut()


def test_cut_in_silence_and_short_noise_gives_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    stream = engine.stream(RATE, TranscribeOptions())
    assert feed(stream, bytes(RATE)) == [] and stream.cut() == []
    click = np.round(rng.standard_normal(RATE // 20) * 3000).astype("<i2").tobytes()  # 50 ms: not speech
    events = feed(stream, click) + stream.cut()
    assert finals(events) == []
    stream.close()


def test_the_same_audio_gives_the_same_transcript_however_it_is_chunked(engine) -> None:  # type: ignore[no-untyped-def]
    """A client's chunk size, or a decoder catching up on a backlog in larger steps, changes nothing: the
    loudness gain, the live search and the cepstral mean each utterance leaves for the next depend only on
    the audio (one utterance's words used to change with the chunking, so a loaded server heard otherwise)."""
    first, _ = clip("7859-102519-0005")
    second, _ = clip("4640-19188-0000")
    quiet = (np.frombuffer(second, dtype="<i2") // 8).astype("<i2").tobytes()  # the gain has work to do
    pcm = first + bytes(2 * RATE) + second + bytes(RATE) + quiet + bytes(RATE) + first

    def heard(chunk_s: float) -> list[tuple[str, float, float, tuple[float, ...]]]:
        stream = engine.stream(RATE, TranscribeOptions())
        events = feed(stream, pcm, chunk_s) + stream.finish()
        return [(f.text, f.start_s, f.end_s, tuple(w.start_s for w in f.words)) for f in finals(events)]

    reference = heard(0.1)
    assert len(reference) >= 5 and all(text for text, *_ in reference)
    for chunk_s in (0.02, 0.037, 0.25, 1.0, 3.0):
        assert heard(chunk_s) == reference, chunk_s
