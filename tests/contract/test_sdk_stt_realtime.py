"""The official Python SDK's realtime speech to text (``speech_to_text.realtime.connect``) and single-use
tokens (``tokens.single_use.create``) against a live server, with only the base URL changed.

The SDK turns ``http://`` into ``ws://`` for this helper (unlike ``convert_realtime``), so no TLS is needed.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import pytest
from elevenlabs import AudioFormat, CommitStrategy, RealtimeEvents
from elevenlabs.client import ElevenLabs
from elevenlabs.types import (
    CommittedTranscriptPayload,
    CommittedTranscriptWithTimestampsPayload,
    PartialTranscriptPayload,
    SessionStartedPayload,
)

from chorus.services.voices import premade_voice_id
from chorus.testing.asr import word_error_rate
from tests.conftest import ADMIN_KEY, LiveServer

pytestmark = pytest.mark.contract
RMS = premade_voice_id("flite", "rms")
SENTENCE = "Please remember to lock the front door tonight."
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def sdk(live_server: LiveServer) -> Iterator[ElevenLabs]:
    client = ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)
    engine = live_server.server.config.app.state.services.realtime_stt.engine  # type: ignore[attr-defined]
    if engine is None or not engine.available():
        pytest.skip(f"no speech-to-text engine: {engine and engine.unavailable_reason()}")
    yield client


@pytest.fixture(scope="module")
def speech(sdk: ElevenLabs) -> bytes:
    return b"".join(sdk.text_to_speech.convert(RMS, text=SENTENCE, output_format="pcm_16000"))


class Recorder:
    """Collects every event a connection emits, and lets a test wait for one."""

    def __init__(self, connection: Any) -> None:
        self.events: list[tuple[str, Any]] = []
        self._arrived = asyncio.Event()
        for event in RealtimeEvents:
            connection.on(event, self._handler(event.value))

    def _handler(self, name: str) -> Any:
        def handle(*args: Any) -> None:
            self.events.append((name, args[0] if args else None))
            self._arrived.set()

        return handle

    def of(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    async def wait_for(self, name: str) -> list[Any]:
        await self.wait_for_any(name)
        return self.of(name)

    async def wait_for_any(self, *names: str) -> None:
        async def arrived() -> None:
            while not any(self.of(name) for name in names):
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(arrived(), TIMEOUT)


async def send_speech(connection: Any, audio: bytes) -> None:
    step = 3200  # 100 ms at 16 kHz
    for start in range(0, len(audio), step):
        await connection.send({"audio_base_64": base64.b64encode(audio[start : start + step]).decode()})


def test_manual_session_with_timestamps(sdk: ElevenLabs, speech: bytes) -> None:
    async def run() -> Recorder:
        connection = await sdk.speech_to_text.realtime.connect(
            {
                "model_id": "scribe_v2_realtime",
                "audio_format": AudioFormat.PCM_16000,
                "sample_rate": 16000,
                "commit_strategy": CommitStrategy.MANUAL,
                "include_timestamps": True,
            }
        )
        recorder = Recorder(connection)
        await recorder.wait_for("session_started")
        await send_speech(connection, speech + bytes(9600))
        await recorder.wait_for("partial_transcript")
        await connection.commit()
        await recorder.wait_for("committed_transcript_with_timestamps")
        await connection.close()
        return recorder

    recorder = asyncio.run(run())
    started = recorder.of("session_started")[0]
    assert started["config"]["commit_strategy"] == "manual" and started["config"]["sample_rate"] == 16000
    # Every message validates against the SDK's own (Fern) models of the protocol.
    SessionStartedPayload.model_validate(started)
    for data in recorder.of("partial_transcript"):
        PartialTranscriptPayload.model_validate(data)
    CommittedTranscriptPayload.model_validate(recorder.of("committed_transcript")[0])
    CommittedTranscriptWithTimestampsPayload.model_validate(
        recorder.of("committed_transcript_with_timestamps")[0]
    )
    assert recorder.of("error") == []
    committed = recorder.of("committed_transcript")[0]["text"]
    assert word_error_rate(SENTENCE, committed) <= 0.35, committed
    timed = recorder.of("committed_transcript_with_timestamps")[0]
    assert timed["text"] == committed
    words = [w for w in timed["words"] if w["type"] == "word"]
    assert " ".join(w["text"] for w in words) == committed
    assert all(w["start"] <= w["end"] and w["logprob"] <= 0 for w in words)


def test_vad_commits_without_a_commit_message(sdk: ElevenLabs, speech: bytes) -> None:
    async def run() -> Recorder:
        connection = await sdk.speech_to_text.realtime.connect(
            {
                "model_id": "scribe_v2_realtime",
                "audio_format": AudioFormat.PCM_16000,
                "sample_rate": 16000,
                "commit_strategy": CommitStrategy.VAD,
                "vad_silence_threshold_secs": 0.5,
                "language_code": "en",
            }
        )
        recorder = Recorder(connection)
        await recorder.wait_for("session_started")
        await send_speech(connection, speech + bytes(32000))
        await recorder.wait_for("committed_transcript")
        await connection.close()
        return recorder

    recorder = asyncio.run(run())
    assert recorder.of("session_started")[0]["config"]["vad_commit_strategy"] == "vad"
    committed = recorder.of("committed_transcript")[0]["text"]
    assert word_error_rate(SENTENCE, committed) <= 0.35, committed


def test_single_use_token(sdk: ElevenLabs, live_server: LiveServer) -> None:
    token = sdk.tokens.single_use.create("realtime_scribe").token
    assert token.startswith("sutkn_")
    # A client holding only the token: the SDK sends no API key when a token is given.
    browser = ElevenLabs(api_key="sk_never_sent", base_url=live_server.url)

    async def session() -> Recorder:
        connection = await browser.speech_to_text.realtime.connect(
            {
                "model_id": "scribe_v2_realtime",
                "audio_format": AudioFormat.PCM_16000,
                "sample_rate": 16000,
                "token": token,
            }
        )
        recorder = Recorder(connection)
        await recorder.wait_for_any("session_started", "auth_error")
        if recorder.of("session_started"):
            await connection.send({"audio_base_64": base64.b64encode(bytes(16000)).decode()})
            await connection.commit()
            await recorder.wait_for("committed_transcript")
            await connection.close()
        else:
            await recorder.wait_for("close")
        return recorder

    first = asyncio.run(session())
    assert first.of("session_started") and first.of("committed_transcript")[0]["text"] == ""
    second = asyncio.run(session())  # the token was consumed by the first session
    assert second.of("session_started") == []
    assert "already been used" in second.of("auth_error")[0]["error"]
    assert second.of("error")  # the SDK also reports it as a generic error


def test_invalid_request_is_reported_and_closes(sdk: ElevenLabs) -> None:
    async def run() -> Recorder:
        connection = await sdk.speech_to_text.realtime.connect(
            {
                "model_id": "scribe_v2_realtime",
                "audio_format": AudioFormat.PCM_16000,
                "sample_rate": 16000,
                "vad_threshold": 0.95,  # the Python SDK does not check ranges; the server does
            }
        )
        recorder = Recorder(connection)
        await recorder.wait_for("close")
        return recorder

    recorder = asyncio.run(run())
    assert "vad_threshold" in recorder.of("invalid_request")[0]["error"]
    assert recorder.of("session_started") == []
    assert recorder.of("close")[0]["code"] == 1008
