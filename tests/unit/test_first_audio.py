"""First audio first: jobs with audio out give way, between engine calls, to jobs that have none yet."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.engines.base import AudioChunk, PCMFormat, SynthesisRequest
from chorus.services.render import RenderPlan, render
from chorus.services.tts import FirstAudioFirst
from chorus.services.voices import merge_settings, premade_voice_id
from tests.conftest import ADMIN_KEY, make_settings

KAL = premade_voice_id("flite", "kal16")


def _waits(gate: FirstAudioFirst, ahead_s: float) -> float:
    start = time.monotonic()
    gate.pace(ahead_s)
    return time.monotonic() - start


def test_no_waiting_without_newcomers() -> None:
    gate = FirstAudioFirst(max_wait_s=1.0, keep_s=0.2)
    assert _waits(gate, 5.0) < 0.05


def test_gives_way_until_the_newcomer_has_audio() -> None:
    gate = FirstAudioFirst(max_wait_s=2.0, keep_s=0.2)
    newcomer = gate.admit()
    timer = threading.Timer(0.2, newcomer.release)
    timer.start()
    waited = _waits(gate, 5.0)
    timer.join()
    assert 0.15 < waited < 1.0
    assert gate.waiting == 0


def test_never_waits_past_its_bounds() -> None:
    gate = FirstAudioFirst(max_wait_s=0.3, keep_s=0.2)
    newcomer = gate.admit()
    assert _waits(gate, 0.15) < 0.05  # less audio ahead than it must keep: no waiting at all
    assert 0.05 < _waits(gate, 0.3) < 0.2  # ahead by 0.3 s, keeps 0.2 s: waits about 0.1 s
    assert 0.25 < _waits(gate, 10.0) < 0.6  # far ahead: at most max_wait_s
    newcomer.release()


def test_release_is_idempotent_and_counts_once() -> None:
    gate = FirstAudioFirst()
    first, second = gate.admit(), gate.admit()
    assert gate.waiting == 2
    first.release()
    first.release()
    assert gate.waiting == 1
    second.release()
    assert gate.waiting == 0


class _Clauses:
    """An engine that says each request as one chunk of 0.5 s of silence per word."""

    name = "fake"

    def output_format(self) -> PCMFormat:
        return PCMFormat(16_000)

    def synthesize(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        words = request.text.split()
        yield AudioChunk(b"\x00\x00" * 8_000 * len(words), PCMFormat(16_000), 0, len(request.text), ())


def test_render_paces_before_each_engine_call_with_the_audio_so_far() -> None:
    plan = RenderPlan(
        text="Hello, how can I help you today?",
        engine=_Clauses(),  # type: ignore[arg-type]
        native_voice="x",
        language=None,
        settings=merge_settings({"use_speaker_boost": False}),
        early_first_chunk=True,
    )
    calls: list[float] = []
    chunks = list(render(plan, pace=calls.append))
    assert calls == [0.0, 0.5]  # "Hello," alone first, then the rest once 0.5 s is out
    assert sum(c.duration_s for c in chunks) == pytest.approx(3.5)


def test_every_request_releases_its_place(tmp_path: Path) -> None:
    """Streams, whole clips and refused requests alike: nobody is left holding the others back."""
    app = create_app(make_settings(tmp_path / "data"))
    with TestClient(app, headers={"xi-api-key": ADMIN_KEY}) as client:
        gate = app.state.services.tts.first_audio
        body = {"text": "Hello, how can I help you today?", "model_id": "eleven_flash_v2_5"}
        with client.stream("POST", f"/v1/text-to-speech/{KAL}/stream", json=body) as response:
            assert response.status_code == 200
            next(response.iter_raw())  # the client leaves after the first bytes
        assert client.post(f"/v1/text-to-speech/{KAL}", json=body).status_code == 200
        assert client.post(f"/v1/text-to-speech/{KAL}/with-timestamps", json=body).status_code == 200
        assert client.post("/v1/text-to-speech/nosuchvoice", json=body).status_code == 404
        assert client.post(f"/v1/text-to-speech/{KAL}", json={"text": "  "}).status_code == 400
        deadline = time.monotonic() + 5
        while gate.waiting and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gate.waiting == 0
