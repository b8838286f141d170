"""The official Python SDK's TTS methods: convert, stream, timestamps, and the realtime WebSocket helper."""

from __future__ import annotations

import base64
import subprocess
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from elevenlabs.client import ElevenLabs

from chorus.api.app import create_app
from chorus.services.voices import premade_voice_id
from tests.conftest import ADMIN_KEY, LiveServer, _free_port, make_settings

pytestmark = pytest.mark.contract
RMS = premade_voice_id("flite", "rms")


@pytest.fixture(scope="module")
def sdk(live_server: LiveServer) -> ElevenLabs:
    return ElevenLabs(api_key=ADMIN_KEY, base_url=live_server.url)


def test_stream(sdk: ElevenLabs) -> None:
    chunks = list(
        sdk.text_to_speech.stream(RMS, text="Streaming through the official client. It arrives in pieces.")
    )
    audio = b"".join(chunks)
    assert len(chunks) >= 2 and len(audio) > 10_000


def test_convert_with_timestamps(sdk: ElevenLabs) -> None:
    text = "Timestamps for every character."
    result = sdk.text_to_speech.convert_with_timestamps(RMS, text=text, output_format="pcm_16000")
    audio = base64.b64decode(result.audio_base_64)
    assert "".join(result.alignment.characters) == text
    assert len(result.alignment.character_start_times_seconds) == len(text)
    assert max(result.alignment.character_end_times_seconds) <= len(audio) / 32000 + 0.01
    assert result.normalized_alignment.characters


def test_stream_with_timestamps(sdk: ElevenLabs) -> None:
    text = "First sentence here. Second sentence there."
    chunks = list(sdk.text_to_speech.stream_with_timestamps(RMS, text=text, output_format="pcm_16000"))
    assert len(chunks) >= 2
    chars = "".join("".join(c.alignment.characters) for c in chunks if c.alignment)
    assert chars == text
    assert sum(len(base64.b64decode(c.audio_base_64)) for c in chunks) > 16000


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The SDK's convert_realtime always dials wss://, so this server terminates TLS itself."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {made.stderr.decode()[:200]}")
    port = _free_port()
    settings = make_settings(folder / "data")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
        )  # fmt: skip
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}", cert
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_convert_realtime_websocket(tls_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    url, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(Path(cert)))
    client = ElevenLabs(api_key=ADMIN_KEY, base_url=url)

    def words():  # type: ignore[no-untyped-def]
        yield "Hello from the realtime helper, "
        yield "streaming text in and audio out. "
        yield "This is the end."

    audio = b"".join(
        client.text_to_speech.convert_realtime(
            RMS, text=words(), model_id="eleven_flash_v2_5", output_format="pcm_16000"
        )
    )
    assert len(audio) / 32000 > 2.0


def test_client_hanging_up_mid_stream_is_refunded(live_server: LiveServer) -> None:
    import httpx

    from tests.contract.test_sdk import _create_key

    secret = _create_key(live_server, name="hangup")
    headers = {"xi-api-key": secret}
    text = "A long text that keeps the engine busy for a while. " * 30
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as http:
        with http.stream("POST", f"/v1/text-to-speech/{RMS}/stream", json={"text": text}) as response:
            assert response.status_code == 200
            next(response.iter_raw())
        # The client hung up after the first chunk: the credits come back and nothing is logged.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if http.get("/v1/user/subscription").json()["character_count"] == 0:
                break
            time.sleep(0.1)
        assert http.get("/v1/user/subscription").json()["character_count"] == 0
        assert http.get("/v1/history").json()["history"] == []
