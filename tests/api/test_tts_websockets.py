"""The stream-input and multi-stream-input WebSockets, message by message."""

from __future__ import annotations

import base64
import json
import queue
import threading
import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY

RMS = premade_voice_id("flite", "rms")
SINGLE = f"/v1/text-to-speech/{RMS}/stream-input"
MULTI = f"/v1/text-to-speech/{RMS}/multi-stream-input"


def _drain(ws) -> tuple[list[dict], int | None]:  # type: ignore[no-untyped-def]
    """Read messages until the server closes; return them and the close code."""
    messages = []
    while True:
        try:
            messages.append(json.loads(ws.receive_text()))
        except WebSocketDisconnect as closed:
            return messages, closed.code


def test_stream_input_full_exchange(client: TestClient) -> None:
    with client.websocket_connect(
        f"{SINGLE}?output_format=pcm_16000&model_id=eleven_flash_v2_5", headers=NO_KEY
    ) as ws:
        ws.send_text(json.dumps({"text": " ", "xi_api_key": ADMIN_KEY, "voice_settings": {"speed": 1.0},
                                 "generation_config": {"chunk_length_schedule": [50]}}))  # fmt: skip
        ws.send_text(json.dumps({"text": "Hello there, this first part is long enough to start audio. "}))
        first = json.loads(ws.receive_text())  # generation starts before the end of input
        assert first["audio"] and first["alignment"]["chars"]
        ws.send_text(json.dumps({"text": "And this is the end. "}))
        ws.send_text(json.dumps({"text": ""}))
        rest, code = _drain(ws)
    messages = [first, *rest]
    assert code == 1000
    assert messages[-1]["isFinal"] is True
    audio_messages = [m for m in messages if m.get("audio")]
    pcm = b"".join(base64.b64decode(m["audio"]) for m in audio_messages)
    assert len(pcm) / 32000 > 2.0
    chars = "".join("".join(m["alignment"]["chars"]) for m in messages if m.get("alignment"))
    assert chars == "Hello there, this first part is long enough to start audio. And this is the end. "
    for m in messages:
        if m.get("alignment"):
            a = m["alignment"]
            assert len(a["chars"]) == len(a["charStartTimesMs"]) == len(a["charDurationsMs"])
            assert a["charStartTimesMs"] == sorted(a["charStartTimesMs"])
            assert all(d >= 0 for d in a["charDurationsMs"])
            assert m["normalizedAlignment"]["chars"]


def test_flush_generates_buffered_text(client: TestClient) -> None:
    with client.websocket_connect(SINGLE, headers={"xi-api-key": ADMIN_KEY}) as ws:
        ws.send_text(json.dumps({"text": " "}))
        ws.send_text(json.dumps({"text": "Short. ", "flush": True}))
        message = json.loads(ws.receive_text())
        assert message["audio"]
        ws.send_text(json.dumps({"text": " "}))  # keep-alive
        ws.send_text(json.dumps({"text": ""}))
        messages, code = _drain(ws)
    assert code == 1000 and messages[-1] == {"isFinal": True}


NO_KEY = {"xi-api-key": ""}  # the test client sends the admin key by default


def test_bad_key_is_refused_with_a_message(client: TestClient) -> None:
    with client.websocket_connect(SINGLE, headers=NO_KEY) as ws:
        ws.send_text(json.dumps({"text": " ", "xi_api_key": "sk_wrong"}))
        messages, code = _drain(ws)
    assert code == 1008
    assert messages == [{"message": "Invalid API key", "error": "invalid_api_key", "code": 1008}]


def test_unknown_voice_and_bad_messages(client: TestClient) -> None:
    with client.websocket_connect(
        "/v1/text-to-speech/nobody/stream-input", headers={"xi-api-key": ADMIN_KEY}
    ) as ws:
        ws.send_text(json.dumps({"text": " "}))
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "voice_not_found"
    with client.websocket_connect(SINGLE, headers={"xi-api-key": ADMIN_KEY}) as ws:
        ws.send_text("not json")
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "invalid_message"
    with client.websocket_connect(
        f"{SINGLE}?output_format=wav_16000", headers={"xi-api-key": ADMIN_KEY}
    ) as ws:
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "invalid_output_format"
    with client.websocket_connect(SINGLE, headers={"xi-api-key": ADMIN_KEY}) as ws:
        ws.send_text(json.dumps({"text": " ", "generation_config": {"chunk_length_schedule": [5]}}))
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "invalid_generation_config"


def test_inactivity_timeout(client: TestClient) -> None:
    with client.websocket_connect(f"{SINGLE}?inactivity_timeout=1", headers={"xi-api-key": ADMIN_KEY}) as ws:
        ws.send_text(json.dumps({"text": " "}))
        messages, code = _drain(ws)
    assert code == 1008 and messages[-1]["error"] == "input_timeout_exceeded"


def test_quota_exhaustion_mid_socket(client: TestClient) -> None:
    accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    secret = client.portal.call(lambda: accounts.create_key("ws", character_limit=30)).secret  # type: ignore[union-attr]
    with client.websocket_connect(SINGLE, headers={"xi-api-key": secret}) as ws:
        ws.send_text(json.dumps({"text": " "}))
        ws.send_text(json.dumps({"text": "Twenty five characters. ", "flush": True}))
        ws.send_text(json.dumps({"text": "Another twenty five chars. ", "flush": True}))
        messages, code = _drain(ws)
    assert code == 1008
    assert any(m.get("audio") for m in messages)
    assert messages[-1]["error"] == "quota_exceeded"


def test_multi_stream_contexts(client: TestClient) -> None:
    with client.websocket_connect(
        f"{MULTI}?output_format=pcm_16000", headers={"xi-api-key": ADMIN_KEY}
    ) as ws:
        ws.send_text(json.dumps({"text": " ", "context_id": "a"}))
        ws.send_text(json.dumps({"text": "Context A speaks first. ", "context_id": "a", "flush": True}))
        ws.send_text(json.dumps({"text": "Context B answers. ", "context_id": "b", "flush": True}))
        ws.send_text(json.dumps({"text": "", "context_id": "a"}))  # keep-alive, not an end
        ws.send_text(json.dumps({"text": "Never finished text ", "context_id": "c"}))
        ws.send_text(json.dumps({"context_id": "c", "close_context": True}))
        ws.send_text(json.dumps({"close_socket": True}))
        messages, code = _drain(ws)
    assert code == 1000
    by_context: dict[str, str] = {}
    finals = [m["contextId"] for m in messages if m.get("isFinal")]
    for m in messages:
        if m.get("alignment"):
            by_context[m["contextId"]] = by_context.get(m["contextId"], "") + "".join(m["alignment"]["chars"])
    assert by_context == {"a": "Context A speaks first. ", "b": "Context B answers. "}
    assert sorted(finals) == ["a", "b", "c"]


def test_multi_stream_requires_auth(client: TestClient) -> None:
    with client.websocket_connect(MULTI, headers=NO_KEY) as ws:
        ws.send_text(json.dumps({"text": " ", "context_id": "a"}))
        messages, code = _drain(ws)
    assert code == 1008 and messages[0]["error"] == "needs_authorization"


@pytest.mark.parametrize("path", [SINGLE, MULTI])
def test_query_authorization(client: TestClient, path: str) -> None:
    with client.websocket_connect(f"{path}?authorization=Bearer%20{ADMIN_KEY}", headers=NO_KEY) as ws:
        ws.send_text(json.dumps({"text": "Hi there. ", "flush": True}))
        assert json.loads(ws.receive_text())["audio"]


class _Reader:
    """Reads a test WebSocket in a thread, so a test can wait for a message with a time limit."""

    def __init__(self, ws) -> None:  # type: ignore[no-untyped-def]
        self.messages: queue.Queue[dict | int] = queue.Queue()  # a message, then the close code
        self._thread = threading.Thread(target=self._run, args=(ws,), daemon=True)
        self._thread.start()

    def _run(self, ws) -> None:  # type: ignore[no-untyped-def]
        while True:
            try:
                self.messages.put(json.loads(ws.receive_text()))
            except WebSocketDisconnect as closed:
                self.messages.put(closed.code)
                return
            except Exception:  # the session was torn down: report it as an odd close code
                self.messages.put(-1)
                return

    def next(self, within: float = 30.0) -> dict | int | None:
        """The next message (or the close code), or None if nothing came within ``within`` seconds."""
        try:
            return self.messages.get(timeout=within)
        except queue.Empty:
            return None

    def until_close(self, within: float = 30.0) -> tuple[list[dict], int]:
        messages: list[dict] = []
        while True:
            item = self.next(within)
            assert item is not None, f"no close within {within} s after {messages}"
            if isinstance(item, int):
                return messages, item
            messages.append(item)


def test_multi_stream_inactivity_is_per_context(client: TestClient) -> None:
    with client.websocket_connect(
        f"{MULTI}?inactivity_timeout=1&output_format=pcm_16000", headers={"xi-api-key": ADMIN_KEY}
    ) as ws:
        reader = _Reader(ws)
        ws.send_text(json.dumps({"text": " ", "context_id": "alive"}))
        ws.send_text(json.dumps({"text": " ", "context_id": "idle"}))
        # Keep-alives ("" for that context) keep "alive" open for 2.5 s, far past the 1 s timeout.
        started = time.monotonic()
        while time.monotonic() - started < 2.5:
            ws.send_text(json.dumps({"text": "", "context_id": "alive"}))
            time.sleep(0.2)
        # Only "idle" timed out, with its final message; the socket is still open.
        assert reader.next(5) == {"isFinal": True, "contextId": "idle"}
        assert reader.next(0.3) is None
        ws.send_text(json.dumps({"text": "Still here. ", "context_id": "alive", "flush": True}))
        audio = reader.next()
        assert isinstance(audio, dict) and audio["audio"] and audio["contextId"] == "alive"
        ws.send_text(json.dumps({"close_socket": True}))
        rest, code = reader.until_close()
    assert code == 1000
    assert [m["contextId"] for m in rest if m.get("isFinal")] == ["alive"]
    chars = "".join("".join(m["alignment"]["chars"]) for m in [audio, *rest] if m.get("alignment"))
    assert chars == "Still here. "


def test_multi_stream_socket_times_out_when_no_context_is_left(client: TestClient) -> None:
    with client.websocket_connect(f"{MULTI}?inactivity_timeout=1", headers={"xi-api-key": ADMIN_KEY}) as ws:
        reader = _Reader(ws)
        ws.send_text(json.dumps({"text": " ", "context_id": "a"}))
        ws.send_text(json.dumps({"text": "Never flushed ", "context_id": "a"}))
        messages, code = reader.until_close()
    assert code == 1008
    # The idle context ends first, its unflushed text dropped (no audio); then the socket itself.
    assert messages[0] == {"isFinal": True, "contextId": "a"}
    assert [m["error"] for m in messages[1:]] == ["input_timeout_exceeded"]
    # A socket whose contexts were all closed by the client times out the same way.
    with client.websocket_connect(f"{MULTI}?inactivity_timeout=1", headers={"xi-api-key": ADMIN_KEY}) as ws:
        reader = _Reader(ws)
        ws.send_text(json.dumps({"text": " ", "context_id": "a"}))
        ws.send_text(json.dumps({"context_id": "a", "close_context": True}))
        messages, code = reader.until_close()
    assert code == 1008
    assert messages[0] == {"isFinal": True, "contextId": "a"}
    assert messages[1]["error"] == "input_timeout_exceeded"


def test_seed_range(client: TestClient) -> None:
    """0..4294967295, as over HTTP; anything else is refused like the other bad query parameters."""
    for query in ["seed=4294967296", "seed=-1", "seed=abc"]:
        with client.websocket_connect(f"{SINGLE}?{query}", headers={"xi-api-key": ADMIN_KEY}) as ws:
            messages, code = _drain(ws)
        assert code == 1008 and messages[0]["error"] == "invalid_request", query
        assert "seed" in messages[0]["message"]
    for seed in (0, 4294967295):
        with client.websocket_connect(f"{SINGLE}?seed={seed}", headers={"xi-api-key": ADMIN_KEY}) as ws:
            ws.send_text(json.dumps({"text": "Hi there. ", "flush": True}))
            assert json.loads(ws.receive_text())["audio"]


def test_chunk_length_schedule_numbers(client: TestClient) -> None:
    """The spec types the items as numbers: whole-valued floats count, other values are refused."""
    cases: list[tuple[list, bool]] = [
        ([50.0, 120.0], True),
        ([50, 500.0], True),
        ([50.5], False),
        ([49.0], False),
        ([600.0], False),
        ([True], False),
        (["120"], False),
        ([], False),
    ]
    for schedule, accepted in cases:
        with client.websocket_connect(SINGLE, headers={"xi-api-key": ADMIN_KEY}) as ws:
            ws.send_text(json.dumps({"text": " ", "generation_config": {"chunk_length_schedule": schedule}}))
            if accepted:
                ws.send_text(json.dumps({"text": "Hi there. ", "flush": True}))
                assert json.loads(ws.receive_text())["audio"], schedule
                continue
            messages, code = _drain(ws)
        assert code == 1008 and messages[0]["error"] == "invalid_generation_config", schedule


def test_float_schedule_drives_generation(client: TestClient) -> None:
    """A schedule of 50.0 starts audio after 50 characters, with no flush."""
    with client.websocket_connect(
        f"{SINGLE}?output_format=pcm_16000", headers={"xi-api-key": ADMIN_KEY}
    ) as ws:
        reader = _Reader(ws)
        ws.send_text(json.dumps({"text": " ", "generation_config": {"chunk_length_schedule": [50.0]}}))
        ws.send_text(json.dumps({"text": "This sentence is comfortably longer than fifty characters. "}))
        first = reader.next()
        assert isinstance(first, dict) and first["audio"]
        ws.send_text(json.dumps({"text": ""}))
        _, code = reader.until_close()
    assert code == 1000


def _first_audio_before_flush(client: TestClient, query: str, message: dict, wait: float) -> bool:
    """Send ``message`` after the opening " "; whether audio comes within ``wait`` s, before any flush.

    Either way the socket is then flushed and ended, and all the text must have been spoken.
    """
    with client.websocket_connect(
        f"{SINGLE}?output_format=pcm_16000&{query}", headers={"xi-api-key": ADMIN_KEY}
    ) as ws:
        reader = _Reader(ws)
        ws.send_text(json.dumps({"text": " "}))
        ws.send_text(json.dumps(message))
        early = reader.next(wait)
        ws.send_text(json.dumps({"text": ""}))
        rest, code = reader.until_close()
    assert code == 1000 and rest[-1] == {"isFinal": True}
    messages = [m for m in [early, *rest] if isinstance(m, dict)]
    chars = "".join("".join(m["alignment"]["chars"]) for m in messages if m.get("alignment"))
    assert chars == message["text"]
    if early is not None:
        assert isinstance(early, dict) and early["audio"]
    return early is not None


SENTENCE = {"text": "Hello there. "}  # far below the default schedule's 120 characters
SIXTY = {"text": "This text is sixty characters long, give or take a word ok. "}


def test_auto_mode_speaks_each_sentence_without_waiting(client: TestClient) -> None:
    assert _first_audio_before_flush(client, "auto_mode=true", SENTENCE, wait=30.0)


def test_without_auto_mode_short_text_waits_for_the_schedule(client: TestClient) -> None:
    assert not _first_audio_before_flush(client, "auto_mode=false", SENTENCE, wait=1.5)


def test_try_trigger_generation(client: TestClient) -> None:
    assert len(SIXTY["text"].strip()) >= 50
    # Past the 50-character minimum, the trigger starts a generation ahead of the schedule (120).
    assert _first_audio_before_flush(client, "", {**SIXTY, "try_trigger_generation": True}, wait=30.0)
    # Without it, or below the minimum, the text waits.
    assert not _first_audio_before_flush(client, "", SIXTY, wait=1.5)
    assert not _first_audio_before_flush(client, "", {**SENTENCE, "try_trigger_generation": True}, wait=1.5)


def _speak(
    client: TestClient, query: str, text: str, output_format: str = "pcm_16000"
) -> tuple[float, list[dict]]:
    """Seconds of audio for ``text`` (counted for pcm_16000), and the messages."""
    url = f"{SINGLE}?output_format={output_format}&{query}"
    with client.websocket_connect(url, headers={"xi-api-key": ADMIN_KEY}) as ws:
        ws.send_text(json.dumps({"text": " "}))
        ws.send_text(json.dumps({"text": text}))
        ws.send_text(json.dumps({"text": ""}))
        messages, code = _drain(ws)
    assert code == 1000 and messages[-1] == {"isFinal": True}
    pcm = b"".join(base64.b64decode(m["audio"]) for m in messages if m.get("audio"))
    return len(pcm) / 32000, messages


def test_enable_ssml_parsing(client: TestClient) -> None:
    plain, _ = _speak(client, "enable_ssml_parsing=true", "Wait. Go. ")
    pause, _ = _speak(client, "enable_ssml_parsing=true", 'Wait. <break time="1.5s" /> Go. ')
    assert 1.3 < pause - plain < 1.8
    # Off (the default), the tag is not a pause: its text is read out instead.
    spoken, _ = _speak(client, "", 'Wait. <break time="1.5s" /> Go. ')
    assert abs(spoken - pause) > 0.2


SYNC_TEXT = "First sentence here. " * 4 + 'Then a pause. <break time="0.5s" /> And the end. '


@pytest.mark.parametrize("output_format", ["mp3_44100_128", "ulaw_8000", "pcm_16000"])
def test_sync_alignment_puts_timing_on_every_audio_chunk(client: TestClient, output_format: str) -> None:
    _, messages = _speak(client, "sync_alignment=true&enable_ssml_parsing=true", SYNC_TEXT, output_format)
    audio = messages[:-1]  # one generation (the text passes the 120-character schedule at once)
    assert audio and all("audio" in m for m in audio)
    for m in audio:
        for key in ("alignment", "normalizedAlignment"):
            a = m[key]
            assert isinstance(a, dict), "sync_alignment: every audio message carries its timing"
            assert len(a["chars"]) == len(a["charStartTimesMs"]) == len(a["charDurationsMs"])
    # No alignment goes out ahead of its audio; only PCM (no encoder tail) may end a generation with
    # the zero-length characters after the last sample (the final space) in an audio-less message.
    held_back = audio[:-1] if output_format.startswith("pcm") else audio
    assert all(m["audio"] for m in held_back)
    assert "".join("".join(m["alignment"]["chars"]) for m in audio) == SYNC_TEXT


def test_without_sync_alignment_encoded_audio_and_timing_may_part(client: TestClient) -> None:
    _, messages = _speak(client, "enable_ssml_parsing=true", SYNC_TEXT, "mp3_44100_128")
    audio = messages[:-1]
    # The encoder's tail has no timing, and characters the encoder still holds go without audio.
    assert any(m["alignment"] is None for m in audio)
    assert any(not m["audio"] and m["alignment"] for m in audio[:-2])
    assert "".join("".join(m["alignment"]["chars"]) for m in audio if m["alignment"]) == SYNC_TEXT
