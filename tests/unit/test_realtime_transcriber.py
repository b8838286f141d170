"""The decoding side of a realtime session (:class:`SegmentTranscriber`) over scripted engine streams: how
commits reach the engine, and where the session's limits come from."""

from __future__ import annotations

from typing import Any

from chorus.config import Settings
from chorus.services.realtime_stt import RealtimeConfig, RealtimeLimits, SegmentTranscriber
from chorus.stt.base import Final, StreamEvent, STTCapabilities, Word


class _Stream:
    """Reports each stretch of audio between two ends as one word, ``w<bytes>``, timed on its own clock."""

    def __init__(self, engine: _Engine) -> None:
        self.engine = engine
        self.position = 0  # samples fed
        self.open_from: int | None = None
        self.finished = False

    def feed(self, pcm: bytes) -> list[StreamEvent]:
        assert not self.finished
        if self.open_from is None:
            self.open_from = self.position
        self.position += len(pcm) // 2
        return []

    def _end(self) -> list[StreamEvent]:
        if self.open_from is None:
            return []
        start, end = self.open_from / 16000, self.position / 16000
        self.open_from = None
        text = f"w{2 * round((end - start) * 16000)}"
        return [Final(text, (Word(text, start, end, -0.1),), start, end, "eng", 1.0)]

    def finish(self) -> list[StreamEvent]:
        self.engine.finished += 1
        self.finished = True
        return self._end()

    def close(self) -> None:
        self.engine.closed += 1
        self.finished = True


class _CuttingStream(_Stream):
    def cut(self) -> list[StreamEvent]:
        self.engine.cuts += 1
        return self._end()


class _Engine:
    def __init__(self, cutting: bool) -> None:
        self.cutting = cutting
        self.streams: list[_Stream] = []
        self.finished = 0
        self.closed = 0
        self.cuts = 0

    def capabilities(self) -> STTCapabilities:
        return STTCapabilities(languages=("eng",), word_timestamps=True, streaming=True)

    def stream(self, sample_rate: int, options: Any) -> _Stream:
        stream = (_CuttingStream if self.cutting else _Stream)(self)
        self.streams.append(stream)
        return stream


def _session(engine: _Engine) -> list[list[dict[str, Any]]]:
    """Three commits (0.5 s of audio, 0.25 s, then nothing) with timestamps; the messages of each."""
    transcriber = SegmentTranscriber(
        engine, RealtimeConfig(model_id="scribe_v2_realtime", include_timestamps=True), None
    )
    out = [
        transcriber.process(bytes(16000), commit=True),
        transcriber.process(bytes(8000), commit=True),
        transcriber.process(b"", commit=True),
    ]
    transcriber.close()
    return out


def _committed(messages: list[dict[str, Any]]) -> tuple[str, list[tuple[float, float]]]:
    timed = next(m for m in messages if m["message_type"] == "committed_transcript_with_timestamps")
    text = next(m["text"] for m in messages if m["message_type"] == "committed_transcript")
    return text, [(w["start"], w["end"]) for w in timed["words"] if w["type"] == "word"]


def test_a_stream_that_can_cut_serves_the_whole_session() -> None:
    engine = _Engine(cutting=True)
    commits = _session(engine)
    assert len(engine.streams) == 1 and engine.cuts == 3
    assert engine.finished == 0 and engine.closed == 1  # the session's end abandons it, without decoding
    assert [_committed(c) for c in commits] == [("w16000", [(0.0, 0.5)]), ("w8000", [(0.5, 0.75)]), ("", [])]


def test_other_streams_are_finished_at_each_commit() -> None:
    engine = _Engine(cutting=False)
    commits = _session(engine)
    # A new stream per committed stretch of audio; its own clock is shifted onto the session's.
    assert len(engine.streams) == 2 and engine.finished == 2 and engine.closed == 0
    assert [_committed(c) for c in commits] == [("w16000", [(0.0, 0.5)]), ("w8000", [(0.5, 0.75)]), ("", [])]


def test_limits_come_from_the_settings() -> None:
    settings = Settings(
        realtime_stt_max_sessions=3,
        realtime_stt_max_chunk_s=2.5,
        realtime_stt_max_backlog_s=20,
        realtime_stt_max_session_s=600,
        realtime_stt_charge_block_s=5,
        realtime_stt_max_batch_s=0.5,
    )
    assert RealtimeLimits.from_settings(settings) == RealtimeLimits(
        max_sessions=3,
        max_chunk_s=2.5,
        max_backlog_s=20,
        max_session_s=600,
        charge_block_s=5,
        max_batch_s=0.5,
    )
    assert RealtimeLimits.from_settings(Settings()) == RealtimeLimits()  # the documented defaults


def test_limits_read_from_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("CHORUS_REALTIME_STT_MAX_SESSIONS", "4")
    monkeypatch.setenv("CHORUS_REALTIME_STT_MAX_BACKLOG_S", "12.5")
    limits = RealtimeLimits.from_settings(Settings())
    assert limits.max_sessions == 4 and limits.max_backlog_s == 12.5
