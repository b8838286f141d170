"""The realtime speech-to-text WebSocket and single-use tokens, message by message, on a real server.

Speech is made by Chorus' own TTS (flite), so no data set is needed; it is sent much faster than real time.
A real uvicorn server and the ``websockets`` client are used (not the TestClient) so that every read has a
timeout and several sessions really run at once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chorus.services.tokens import (
    DatabaseTokenStore,
    TokenService,
    single_use_tokens,
)
from chorus.services.voices import premade_voice_id
from chorus.stt.base import Final, Partial, STTCapabilities
from chorus.testing.asr import word_error_rate
from tests.conftest import ADMIN_KEY, LiveServer, make_settings, start_server
from tests.contract.test_sdk import _create_key

RMS = premade_voice_id("flite", "rms")
PATH = "/v1/speech-to-text/realtime"
TIMEOUT = 60.0
SENTENCES = {
    "door": "Please remember to lock the front door tonight.",
    "weather": "The weather was warm and sunny all day long.",
    "apples": "Seven green apples fell from the old tree.",
}


# --- fixtures and helpers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live, thread = start_server(make_settings(tmp_path_factory.mktemp("rt") / "data"))
    services = live.server.config.app.state.services  # type: ignore[attr-defined]
    engine = services.realtime_stt.engine
    if engine is None or not engine.available():
        live.server.should_exit = True
        pytest.skip(f"no speech-to-text engine: {engine and engine.unavailable_reason()}")
    try:
        yield live
    finally:
        live.server.should_exit = True
        thread.join(timeout=10)


def services_of(live: LiveServer) -> Any:
    return live.server.config.app.state.services  # type: ignore[attr-defined]


@pytest.fixture
def service(server: LiveServer) -> Iterator[Any]:
    """The realtime service; limits and engine changed by a test are put back after it."""
    realtime = services_of(server).realtime_stt
    limits, engine = realtime.limits, realtime.engine
    realtime.limits = replace(limits)
    try:
        yield realtime
    finally:
        realtime.limits, realtime.engine = limits, engine


@pytest.fixture(scope="module")
def speech(server: LiveServer) -> dict[str, bytes]:
    """Each sentence as pcm_16000 (``name``), and two in other formats (``name_format``)."""
    out: dict[str, bytes] = {}
    with httpx.Client(base_url=server.url, headers={"xi-api-key": ADMIN_KEY}, timeout=60) as http:
        for name, text in SENTENCES.items():
            response = http.post(
                f"/v1/text-to-speech/{RMS}",
                params={"output_format": "pcm_16000", "enable_logging": "false"},
                json={"text": text},
            )
            assert response.status_code == 200, response.text
            out[name] = response.content
        for name, fmt in [("door", "ulaw_8000"), ("weather", "pcm_24000")]:
            response = http.post(
                f"/v1/text-to-speech/{RMS}",
                params={"output_format": fmt, "enable_logging": "false"},
                json={"text": SENTENCES[name]},
            )
            assert response.status_code == 200, response.text
            out[f"{name}_{fmt}"] = response.content
    return out


def ws_url(live: LiveServer, query: str = "model_id=scribe_v2_realtime") -> str:
    return live.url.replace("http://", "ws://") + PATH + (f"?{query}" if query else "")


def session(live: LiveServer, query: str = "model_id=scribe_v2_realtime", key: str | None = ADMIN_KEY) -> Any:
    headers = {"xi-api-key": key} if key else {}
    return connect(ws_url(live, query), additional_headers=headers, open_timeout=TIMEOUT)


async def recv(ws: ClientConnection, wait_s: float = TIMEOUT) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), wait_s))


async def recv_until(ws: ClientConnection, *types: str, wait_s: float = TIMEOUT) -> list[dict[str, Any]]:
    """Messages up to and including the first of one of ``types``."""
    messages = []
    while True:
        message = await recv(ws, wait_s)
        messages.append(message)
        if message["message_type"] in types:
            return messages


async def until_closed(
    ws: ClientConnection, wait_s: float = TIMEOUT
) -> tuple[list[dict[str, Any]], int | None]:
    """Messages until the server closes the socket, and the close code."""
    messages = []
    try:
        while True:
            messages.append(await recv(ws, wait_s))
    except ConnectionClosed:
        pass
    return messages, ws.close_code


def chunk(audio: bytes, rate: int = 16000, commit: bool = False, **extra: Any) -> str:
    return json.dumps(
        {
            "message_type": "input_audio_chunk",
            "audio_base_64": base64.b64encode(audio).decode(),
            "commit": commit,
            "sample_rate": rate,
            **extra,
        }
    )


async def send_audio(ws: ClientConnection, audio: bytes, rate: int = 16000, width: int = 2) -> None:
    """``audio`` in 100 ms chunks as fast as the socket takes them, with ``previous_text: null`` as the
    Python SDK sends it."""
    step = rate // 10 * width
    for start in range(0, len(audio), step):
        await ws.send(chunk(audio[start : start + step], rate, previous_text=None))


def silence(seconds: float, rate: int = 16000) -> bytes:
    return bytes(2 * int(seconds * rate))


def commit_message(rate: int = 16000) -> str:
    return json.dumps(
        {"message_type": "input_audio_chunk", "audio_base_64": "", "commit": True, "sample_rate": rate}
    )


def key_usage(live: LiveServer, secret: str) -> int:
    """Credits used so far by the key whose secret is ``secret`` (read from the server's database)."""
    from chorus.services.accounts import hash_key
    from chorus.storage.db import Database
    from chorus.storage.models import ApiKey

    async def read() -> int:
        db = Database(live.settings.resolved_database_url)
        try:
            async with db.sessions() as s:
                from sqlalchemy import select

                key = (
                    await s.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
                ).scalar_one()
                return int(key.character_count)
        finally:
            await db.close()

    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(read())))
    thread.start()
    thread.join()
    return result[0]


async def settled_usage(live: LiveServer, secret: str, expected: int) -> int:
    """The key's usage once the server has settled the session's credits (it does so as the session closes)."""
    for _ in range(100):
        used = key_usage(live, secret)
        if used == expected:
            break
        await asyncio.sleep(0.1)
    return used


def new_key(live: LiveServer, **kwargs: object) -> str:
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(_create_key(live, **kwargs)))
    thread.start()
    thread.join()
    return result[0]


def check_words(words: list[dict[str, Any]], duration: float) -> None:
    kinds = [w["type"] for w in words]
    assert kinds[0] == "word" and kinds[-1] == "word"
    assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False))  # spacing between words
    previous = 0.0
    for word in words:
        assert set(word) >= {"text", "start", "end", "type", "logprob"}
        assert previous - 1e-6 <= word["start"] <= word["end"] <= duration + 0.05
        assert word["logprob"] <= 0
        previous = word["end"]


# --- transcription -------------------------------------------------------------------------------------


async def test_manual_commit_partials_finals_and_timestamps(
    server: LiveServer, speech: dict[str, bytes]
) -> None:
    audio = speech["door"] + silence(0.3)
    query = (
        "model_id=scribe_v2_realtime&audio_format=pcm_16000&commit_strategy=manual&include_timestamps=true"
    )
    async with session(server, query) as ws:
        started = await recv(ws)
        assert started["message_type"] == "session_started" and started["session_id"]
        config = started["config"]
        assert config["commit_strategy"] == config["vad_commit_strategy"] == "manual"
        assert config["sample_rate"] == 16000 and config["audio_format"] == "pcm_16000"
        assert config["include_timestamps"] is True and config["model_id"] == "scribe_v2_realtime"
        assert config["vad_silence_threshold_secs"] == 1.5 and config["vad_threshold"] == 0.4

        await send_audio(ws, audio)
        # Partials arrive while the audio is still uncommitted.
        early = await recv_until(ws, "partial_transcript")
        assert early[-1]["text"]
        await ws.send(commit_message())
        messages = early + await recv_until(ws, "committed_transcript_with_timestamps")

    types = [m["message_type"] for m in messages]
    assert set(types) <= {"partial_transcript", "final_transcript", "committed_transcript",
                          "committed_transcript_with_timestamps"}  # fmt: skip
    assert types.count("committed_transcript") == 1
    committed = next(m for m in messages if m["message_type"] == "committed_transcript")
    timed = messages[-1]
    assert types.index("committed_transcript") == len(types) - 2  # the timestamps follow the commit
    assert word_error_rate(SENTENCES["door"], committed["text"]) <= 0.35, committed["text"]
    finals = [m["text"] for m in messages if m["message_type"] == "final_transcript"]
    assert " ".join(finals) == committed["text"]  # the settled utterances make up the commit
    assert all(m["text"] for m in messages if m["message_type"] == "partial_transcript")
    assert timed["text"] == committed["text"] and timed["language_code"] == "eng"
    check_words(timed["words"], len(audio) / 32000)
    assert " ".join(w["text"] for w in timed["words"] if w["type"] == "word") == committed["text"]


async def test_successive_manual_commits_split_the_session(
    server: LiveServer, speech: dict[str, bytes]
) -> None:
    """Each commit holds what was said since the previous one, timed on the session's clock; a commit in
    the middle of a sentence splits it without losing or repeating words."""
    first = speech["door"] + silence(0.3)
    second = speech["apples"] + silence(0.3)
    weather = speech["weather"]
    half = len(weather) // 4 * 2
    query = "model_id=scribe_v2_realtime&include_timestamps=true"
    committed: list[dict[str, Any]] = []
    async with session(server, query) as ws:
        await recv(ws)
        for audio in (first, second, weather[:half], weather[half:] + silence(0.3)):
            await send_audio(ws, audio)
            await ws.send(commit_message())
            messages = await recv_until(ws, "committed_transcript_with_timestamps")
            committed.append(messages[-1])
    assert word_error_rate(SENTENCES["door"], committed[0]["text"]) <= 0.35, committed[0]["text"]
    assert word_error_rate(SENTENCES["apples"], committed[1]["text"]) <= 0.35, committed[1]["text"]
    split = f"{committed[2]['text']} {committed[3]['text']}"
    assert word_error_rate(SENTENCES["weather"], split) <= 0.4, [c["text"] for c in committed[2:]]
    assert committed[2]["text"] and committed[3]["text"]  # both halves were heard
    ends = np.cumsum([len(a) / 32000 for a in (first, second, weather[:half], weather[half:])])
    for index, message in enumerate(committed):
        words = [w for w in message["words"] if w["type"] == "word"]
        assert words, message
        start, end = (ends[index - 1] if index else 0.0) - 0.05, ends[index] + 0.05
        assert all(start <= w["start"] <= w["end"] <= end for w in words), (index, words)


async def test_vad_commits_after_silence_one_segment_each(
    server: LiveServer, speech: dict[str, bytes]
) -> None:
    query = (
        "model_id=scribe_v2_realtime&commit_strategy=vad&vad_silence_threshold_secs=0.5"
        "&vad_threshold=0.5&min_speech_duration_ms=100&min_silence_duration_ms=100"
    )
    async with session(server, query) as ws:
        config = (await recv(ws))["config"]
        assert config["commit_strategy"] == config["vad_commit_strategy"] == "vad"
        assert config["vad_silence_threshold_secs"] == 0.5 and config["vad_threshold"] == 0.5
        # Silence alone commits nothing.
        await send_audio(ws, silence(1.5))
        # No commit was sent: the server commits each sentence once the silence after it is long enough.
        await send_audio(ws, speech["door"] + silence(1.0))
        first = await recv_until(ws, "committed_transcript")
        await send_audio(ws, speech["apples"] + silence(1.0))
        second = await recv_until(ws, "committed_transcript")
        # A manual commit still works in VAD mode; nothing new was said.
        await ws.send(commit_message())
        third = await recv_until(ws, "committed_transcript")
    assert word_error_rate(SENTENCES["door"], first[-1]["text"]) <= 0.35, first[-1]["text"]
    assert word_error_rate(SENTENCES["apples"], second[-1]["text"]) <= 0.35, second[-1]["text"]
    assert third[-1]["text"] == ""


async def test_language_detection_sends_delayed_final(server: LiveServer) -> None:
    async with session(
        server, "model_id=scribe_v2_realtime&include_language_detection=true&language_code=en"
    ) as ws:
        config = (await recv(ws))["config"]
        assert config["include_language_detection"] is True and config["language_code"] == "en"
        await ws.send(chunk(silence(0.5), commit=True))
        messages = await recv_until(ws, "final_transcript_with_timestamps")
    assert [m["message_type"] for m in messages] == [
        "committed_transcript",
        "final_transcript_with_timestamps",
    ]
    assert messages[-1] == {"message_type": "final_transcript_with_timestamps", "text": "", "language_code": "eng",
                            "words": None}  # fmt: skip


async def test_concurrent_sessions_are_isolated(server: LiveServer, speech: dict[str, bytes]) -> None:
    """Three sessions at once, each with its own sentence and audio format (u-law, resampled PCM, PCM)."""
    cases = [
        ("door", "ulaw_8000", 8000, 1, speech["door_ulaw_8000"] + bytes([0xFF]) * 2400),  # 0xFF: u-law zero
        ("weather", "pcm_24000", 24000, 2, speech["weather_pcm_24000"] + silence(0.3, 24000)),
        ("apples", "pcm_16000", 16000, 2, speech["apples"] + silence(0.3)),
    ]

    async def run(audio_format: str, rate: int, width: int, audio: bytes) -> list[dict[str, Any]]:
        async with session(server, f"model_id=scribe_v2_realtime&audio_format={audio_format}") as ws:
            config = (await recv(ws))["config"]
            assert config["audio_format"] == audio_format and config["sample_rate"] == rate
            await send_audio(ws, audio, rate, width)
            await ws.send(commit_message(rate))
            return await recv_until(ws, "committed_transcript")

    results = await asyncio.gather(*(run(*case[1:]) for case in cases))
    names = [case[0] for case in cases]
    for name, messages in zip(names, results, strict=True):
        assert "committed_transcript_with_timestamps" not in [m["message_type"] for m in messages]
        text = messages[-1]["text"]
        own = word_error_rate(SENTENCES[name], text)
        assert own <= 0.4, (name, text)
        for other in names:
            if other != name:
                assert word_error_rate(SENTENCES[other], text) > own + 0.3, (name, other, text)


# --- protocol rules ------------------------------------------------------------------------------------


async def test_previous_text_only_with_the_first_chunk(server: LiveServer) -> None:
    async with session(server) as ws:
        await recv(ws)
        await ws.send(chunk(silence(0.1), previous_text="Earlier, we talked about doors."))
        await ws.send(chunk(silence(0.1), previous_text=None))  # null counts as absent
        await ws.send(chunk(silence(0.1)))  # as the JS SDK sends it: no previous_text at all
        await ws.send(chunk(silence(0.1), previous_text="Too late."))
        error = await recv(ws)
        assert error == {
            "message_type": "input_error",
            "error": "previous_text can only be sent with the first audio chunk.",
        }
        await ws.send(commit_message())  # the session goes on
        assert (await recv_until(ws, "committed_transcript"))[-1]["text"] == ""


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (chunk(b"", rate=8000), "sample_rate 8000 does not match"),
        (
            '{"message_type": "input_audio_chunk", "audio_base_64": "***", "commit": false}',
            "not valid base64",
        ),
        ('{"message_type": "input_audio_chunk", "audio_base_64": "", "commit": "yes"}', "commit must be"),
        ('{"message_type": "hello"}', "only input_audio_chunk"),
        ("not json", "JSON objects"),
        (b"\x00\x01", "Binary frames"),
    ],
    ids=["sample_rate", "base64", "commit", "message_type", "json", "binary"],
)
async def test_bad_chunks_are_input_errors(server: LiveServer, frame: str | bytes, fragment: str) -> None:
    async with session(server) as ws:
        await recv(ws)
        await ws.send(frame)
        error = await recv(ws)
        assert error["message_type"] == "input_error" and fragment in error["error"], error
        await ws.send(commit_message())
        assert (await recv_until(ws, "committed_transcript"))[-1]["text"] == ""


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("", "model_id is required"),
        ("model_id=scribe_v1", "model_id must be one of"),
        ("model_id=scribe_v2_realtime&audio_format=mp3_44100_128", "audio_format must be one of"),
        ("model_id=scribe_v2_realtime&commit_strategy=auto", "commit_strategy must be"),
        ("model_id=scribe_v2_realtime&vad_silence_threshold_secs=5", "vad_silence_threshold_secs must be"),
        ("model_id=scribe_v2_realtime&vad_threshold=0.95", "vad_threshold must be"),
        ("model_id=scribe_v2_realtime&min_speech_duration_ms=10", "min_speech_duration_ms must be"),
        ("model_id=scribe_v2_realtime&min_silence_duration_ms=1.5", "min_silence_duration_ms must be"),
        ("model_id=scribe_v2_realtime&include_timestamps=maybe", "include_timestamps must be true or false"),
        ("model_id=scribe_v2_realtime&language_code=fr", "not supported"),
        ("model_id=scribe_v2_realtime&keyterms=" + "x" * 21, "keyterm"),
        (
            "model_id=scribe_v2_realtime&include_timestamps=true&filter_background_audio=true",
            "cannot be combined",
        ),
        ("model_id=scribe_v2_realtime&entity_detection=pii", "entity_detection"),
    ],
)
async def test_invalid_parameters(server: LiveServer, query: str, fragment: str) -> None:
    async with session(server, query) as ws:
        messages, code = await until_closed(ws)
    assert code == 1008
    assert len(messages) == 1 and messages[0]["message_type"] == "invalid_request", messages
    assert fragment in messages[0]["error"]


async def test_authentication(server: LiveServer) -> None:
    for key, fragment in [(None, "Neither authorization header"), ("sk_wrong", "Invalid API key")]:
        async with session(server, key=key) as ws:
            messages, code = await until_closed(ws)
        assert code == 1008 and messages == [{"message_type": "auth_error", "error": messages[0]["error"]}]
        assert fragment in messages[0]["error"]
    reader = new_key(server, permissions=["voices_read"], name="reader")
    async with session(server, key=reader) as ws:
        messages, code = await until_closed(ws)
    assert code == 1008 and messages[0]["message_type"] == "auth_error"
    assert "speech_to_text" in messages[0]["error"]


# --- single-use tokens -----------------------------------------------------------------------------------


def create_token(
    live: LiveServer, token_type: str = "realtime_scribe", key: str = ADMIN_KEY
) -> httpx.Response:
    return httpx.post(f"{live.url}/v1/single-use-token/{token_type}", headers={"xi-api-key": key}, timeout=30)


async def test_token_used_once_bound_to_its_key(server: LiveServer) -> None:
    secret = new_key(server, name="token owner")
    response = create_token(server, key=secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["token"] and body["token"].startswith("sutkn_")
    token = body["token"]

    async with session(server, f"model_id=scribe_v2_realtime&token={token}", key=None) as ws:
        assert (await recv(ws))["message_type"] == "session_started"
        await ws.send(chunk(silence(2.5), commit=True))
        assert (await recv_until(ws, "committed_transcript"))[-1]["text"] == ""
    # Charged to the key that made the token: 3 started seconds (settled as the session closes).
    assert await settled_usage(server, secret, 3) == 3

    async with session(server, f"model_id=scribe_v2_realtime&token={token}", key=None) as ws:
        messages, code = await until_closed(ws)
    assert code == 1008 and messages[0]["message_type"] == "auth_error"
    assert "already been used" in messages[0]["error"]


async def test_token_expiry_type_and_permissions(server: LiveServer) -> None:
    tokens = services_of(server).tokens
    expired = create_token(server).json()["token"]
    clock = tokens.clock
    tokens.clock = lambda: clock() + 15 * 60 + 1
    try:
        async with session(server, f"model_id=scribe_v2_realtime&token={expired}", key=None) as ws:
            messages, _ = await until_closed(ws)
    finally:
        tokens.clock = clock
    assert messages[0]["message_type"] == "auth_error" and "expired" in messages[0]["error"]

    other = create_token(server, "tts_websocket").json()["token"]
    async with session(server, f"model_id=scribe_v2_realtime&token={other}", key=None) as ws:
        messages, _ = await until_closed(ws)
    assert messages[0]["message_type"] == "auth_error" and "tts_websocket" in messages[0]["error"]

    async with session(server, "model_id=scribe_v2_realtime&token=sutkn_made_up", key=None) as ws:
        messages, _ = await until_closed(ws)
    assert messages[0] == {"message_type": "auth_error", "error": "Invalid single-use token."}

    assert create_token(server, "batch_scribe").status_code == 200
    assert create_token(server, "not_a_type").status_code == 422
    reader = new_key(server, permissions=["text_to_speech"], name="tts only")
    refused = create_token(server, "realtime_scribe", key=reader)
    assert refused.status_code == 403 and refused.json()["detail"]["status"] == "missing_permissions"
    assert create_token(server, "tts_websocket", key=reader).status_code == 200


def test_token_response_matches_the_spec(server: LiveServer) -> None:
    from tests.contract.openapi import SPEC_PATH, validate_response

    if not SPEC_PATH.exists():
        pytest.skip(f"ElevenLabs OpenAPI spec not found at {SPEC_PATH}")
    body = create_token(server).json()
    assert validate_response("POST", "/v1/single-use-token/{token_type}", body) == []


async def test_database_token_store_consumes_once(tmp_path: Path) -> None:
    """Tokens in the database (shared by every worker); concurrent redeems of one token: one wins."""
    from chorus.services.accounts import AccountService
    from chorus.storage.db import Database

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'tokens.db'}")
    try:
        db.migrate()  # migration 0005 creates the table
        accounts = AccountService(db.sessions, "free")
        tokens = await TokenService.open(db.engine, db.sessions, accounts)
        assert isinstance(tokens.store, DatabaseTokenStore)
        created = await accounts.create_key("k", user_name="u")
        principal = await accounts.authenticate(created.secret)
        issued = await tokens.issue(principal, "realtime_scribe")
        results = await asyncio.gather(
            *(tokens.redeem(issued.token, "realtime_scribe") for _ in range(5)), return_exceptions=True
        )
        winners = [r for r in results if not isinstance(r, Exception)]
        assert len(winners) == 1 and winners[0].key_id == created.key_id
        assert all("already been used" in str(r) for r in results if isinstance(r, Exception))
        async with db.sessions() as s:
            stored = (await s.execute(single_use_tokens.select())).all()
        assert len(stored) == 1 and issued.token not in str(stored)  # only the hash is kept
    finally:
        await db.close()


# --- limits, quota and failures --------------------------------------------------------------------------


async def test_quota_exceeded_ends_the_session(server: LiveServer) -> None:
    secret = new_key(server, character_limit=3, name="tiny")
    async with session(server, key=secret) as ws:
        await recv(ws)
        await send_audio(ws, silence(5.0))
        messages, code = await until_closed(ws)
    assert code == 1008
    assert messages[-1]["message_type"] == "quota_exceeded" and "limit of 3" in messages[-1]["error"]
    assert await settled_usage(server, secret, 3) == 3  # every credit could be used, none overdrawn


async def test_chunk_size_limit(server: LiveServer, service: Any) -> None:
    service.limits.max_chunk_s = 1.0
    async with session(server) as ws:
        await recv(ws)
        await ws.send(chunk(silence(1.5)))
        error = await recv(ws)
        assert error["message_type"] == "chunk_size_exceeded" and "at most 1 seconds" in error["error"]
        await ws.send(chunk(silence(1.0), commit=True))  # the session goes on
        assert (await recv_until(ws, "committed_transcript"))[-1]["text"] == ""


async def test_session_time_limit(server: LiveServer, service: Any) -> None:
    service.limits.max_session_s = 0.5
    async with session(server) as ws:
        await recv(ws)
        messages, code = await until_closed(ws)
    assert code == 1008 and messages[-1]["message_type"] == "session_time_limit_exceeded"


async def idle(service: Any) -> None:
    """Wait until the sessions of earlier tests have finished closing on the server."""
    for _ in range(200):
        if not service.active_sessions:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{service.active_sessions} realtime sessions stayed open")


async def test_server_session_limit(server: LiveServer, service: Any) -> None:
    await idle(service)
    service.limits.max_sessions = 1
    async with session(server) as first:
        assert (await recv(first))["message_type"] == "session_started"
        async with session(server) as second:
            messages, code = await until_closed(second)
        assert code == 1013 and messages[0]["message_type"] == "resource_exhausted"
    await idle(service)  # the first session's slot is free again once it closed
    async with session(server) as third:
        assert (await recv(third))["message_type"] == "session_started"


async def test_key_concurrency_limit(server: LiveServer) -> None:
    secret = new_key(server, max_concurrent_requests=1, name="one at a time")
    async with session(server, key=secret) as first:
        assert (await recv(first))["message_type"] == "session_started"
        async with session(server, key=secret) as second:
            messages, code = await until_closed(second)
    assert code == 1008 and messages[0]["message_type"] == "rate_limited"
    assert "concurrent" in messages[0]["error"].lower()


async def test_key_rate_limit(server: LiveServer) -> None:
    secret = new_key(server, rate_limit_per_minute=1, name="slow caller")
    async with session(server, key=secret) as first:
        assert (await recv(first))["message_type"] == "session_started"
    async with session(server, key=secret) as second:
        messages, code = await until_closed(second)
    assert code == 1008 and messages[0]["message_type"] == "rate_limited"
    assert "1 requests per minute" in messages[0]["error"]


class _FakeStream:
    def __init__(self, engine: _FakeEngine) -> None:
        self.engine = engine
        self.fed = 0

    def feed(self, pcm: bytes) -> list[Any]:
        if self.engine.fail:
            raise RuntimeError("decoder exploded")
        time.sleep(self.engine.delay_s)
        self.fed += len(pcm)
        return [Partial(f"heard {self.fed} bytes", 0.0)]

    def finish(self) -> list[Any]:
        return [Final(f"heard {self.fed} bytes", (), 0.0, 0.0, "eng", 1.0)] if self.fed else []


class _FakeEngine:
    """A streaming engine that is slow (``delay_s`` per chunk) or broken (``fail``)."""

    name = "fake"

    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.delay_s, self.fail = delay_s, fail

    def available(self) -> bool:
        return True

    def unavailable_reason(self) -> None:
        return None

    def capabilities(self) -> STTCapabilities:
        return STTCapabilities(languages=("eng",), word_timestamps=True, streaming=True)

    def stream(self, sample_rate: int, options: Any) -> _FakeStream:
        return _FakeStream(self)


async def test_slow_decoder_keeps_the_socket_responsive(server: LiveServer, service: Any) -> None:
    service.engine = _FakeEngine(delay_s=1.0)
    async with session(server) as ws:
        await recv(ws)
        await ws.send(chunk(silence(0.1)))  # the decoder is now busy for a second
        start = time.monotonic()
        await ws.send("not json")
        assert (await recv(ws))["message_type"] == "input_error"
        assert time.monotonic() - start < 0.5
        assert (await recv(ws)) == {"message_type": "partial_transcript", "text": "heard 3200 bytes"}


async def test_flooding_a_slow_decoder_overflows_the_queue(server: LiveServer, service: Any) -> None:
    service.engine = _FakeEngine(delay_s=0.5)
    service.limits.max_backlog_s = 2.0
    async with session(server) as ws:
        await recv(ws)
        for _ in range(40):  # 4 s of audio at once, against 0.5 s of decoding per step
            await ws.send(chunk(silence(0.1)))
        messages, code = await until_closed(ws)
    assert code == 1008 and messages[-1]["message_type"] == "queue_overflow"
    assert "real-time" in messages[-1]["error"]


async def test_engine_failure_is_a_transcriber_error_and_refunded(server: LiveServer, service: Any) -> None:
    secret = new_key(server, name="unlucky")
    service.engine = _FakeEngine(fail=True)
    async with session(server, key=secret) as ws:
        await recv(ws)
        await ws.send(chunk(silence(1.0)))
        messages, code = await until_closed(ws)
    assert code == 1011
    assert messages[-1] == {
        "message_type": "transcriber_error",
        "error": "Transcription failed: decoder exploded",
    }
    assert await settled_usage(server, secret, 0) == 0


async def test_refused_handshake_is_not_an_http_error(server: LiveServer) -> None:
    """Errors are messages on an accepted socket, never a refused upgrade (both SDKs report those)."""
    try:
        async with session(server, "", key=None) as ws:
            assert (await recv(ws))["message_type"] == "auth_error"
    except InvalidStatus as exc:  # pragma: no cover - the failure this test guards against
        pytest.fail(f"handshake refused: {exc}")
