"""The ``chorus`` command line: keys, text to speech and speech to text, in process and remote."""

from __future__ import annotations

import io
import re
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from chorus.cli.main import app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CHORUS_DATA_DIR": str(tmp_path / "data"), "CHORUS_ADMIN_API_KEY": ""}


def test_keys_create_list_revoke(env: dict[str, str]) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        ["keys", "create", "--name", "app", "--user", "alice", "--plan", "creator",
         "--permissions", "text_to_speech,voices_read", "--character-limit", "500"],
        env=env,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    secret = re.search(r"secret: (sk_\w+)", created.output).group(1)  # type: ignore[union-attr]
    listed = runner.invoke(app, ["keys", "list"], env=env)
    assert listed.exit_code == 0
    line = next(row for row in listed.output.splitlines() if " app " in row)
    assert "alice" in line and "500" in line and "text_to_speech,voices_read" in line and "active" in line
    assert secret not in listed.output
    key_id = line.split()[0]
    revoked = runner.invoke(app, ["keys", "revoke", key_id], env=env)
    assert revoked.exit_code == 0 and key_id in revoked.output
    assert "revoked" in next(
        row for row in runner.invoke(app, ["keys", "list"], env=env).output.splitlines() if key_id in row
    )


def test_first_start_prints_an_admin_key_once(env: dict[str, str]) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["keys", "list"], env=env)
    assert "administrator API key" in first.output
    second = runner.invoke(app, ["keys", "list"], env=env)
    assert "administrator API key" not in second.output


def test_bad_permission_is_reported(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--name", "x", "--permissions", "fly"], env=env)
    assert result.exit_code == 2 and "unknown permission" in result.output


def test_tts_in_process(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "hello.mp3"
    result = CliRunner().invoke(
        app, ["tts", "Hello from the command line.", "-v", "Rowan", "-o", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    with av.open(io.BytesIO(out.read_bytes())) as container:
        assert container.streams.audio[0].codec_context.name.startswith("mp3")
    wav = tmp_path / "hello.wav"
    assert CliRunner().invoke(app, ["tts", "Wave file.", "-o", str(wav)], env=env).exit_code == 0
    assert wav.read_bytes()[:4] == b"RIFF"
    unknown = CliRunner().invoke(app, ["tts", "x", "-v", "Nobody", "-o", str(out)], env=env)
    assert unknown.exit_code == 1 and "no voice named" in unknown.output


def test_tts_to_stdout_and_listings(env: dict[str, str]) -> None:
    runner = CliRunner()
    piped = runner.invoke(app, ["tts", "Piped audio.", "-o", "-", "-f", "pcm_16000"], env=env)
    assert piped.exit_code == 0
    assert len(piped.stdout_bytes) > 16000  # raw PCM on stdout
    voices = runner.invoke(app, ["voices"], env=env)
    assert voices.exit_code == 0 and "Rowan" in voices.output and "flite" in voices.output
    assert "Rowan" in runner.invoke(app, ["tts", "--list-voices"], env=env).output
    models = runner.invoke(app, ["tts", "--list-models"], env=env).output
    assert "eleven_multilingual_v2" in models and "chorus_flite" in models
    assert runner.invoke(app, ["tts"], env=env).exit_code == 1


def test_tts_through_a_server(live_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import ADMIN_KEY

    out = tmp_path / "remote.mp3"
    result = CliRunner().invoke(
        app,
        [
            "tts",
            "Spoken by the server.",
            "-v",
            "Sally",
            "-o",
            str(out),
            "--server",
            live_server.url,
            "--api-key",
            ADMIN_KEY,
        ],
    )
    assert result.exit_code == 0, result.output
    with av.open(io.BytesIO(out.read_bytes())) as container:
        assert container.streams.audio[0].codec_context.name.startswith("mp3")
    bad = CliRunner().invoke(app, ["tts", "x", "--server", live_server.url, "--api-key", "sk_bad"])
    assert bad.exit_code == 1 and "401" in bad.output


def test_stt_in_process_and_through_a_server(env: dict[str, str], live_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from chorus.testing.asr import word_error_rate
    from tests.conftest import ADMIN_KEY

    text = "Please remember to lock the front door before you leave."
    wav = tmp_path / "speech.wav"
    runner = CliRunner()
    assert runner.invoke(app, ["tts", text, "-o", str(wav)], env=env).exit_code == 0
    plain = runner.invoke(app, ["stt", str(wav)], env=env)
    assert plain.exit_code == 0, plain.output
    assert word_error_rate(text, plain.stdout) <= 0.3
    srt = tmp_path / "speech.srt"  # the format follows the extension
    assert runner.invoke(app, ["stt", str(wav), "-o", str(srt), "--diarize"], env=env).exit_code == 0
    cues = srt.read_text()
    assert cues.startswith("1\n") and "-->" in cues
    remote = runner.invoke(
        app, ["stt", str(wav), "-f", "json", "--server", live_server.url, "--api-key", ADMIN_KEY]
    )
    assert remote.exit_code == 0, remote.output
    import json

    body = json.loads(remote.stdout)
    assert body["language_code"] == "eng" and word_error_rate(text, body["text"]) <= 0.3
    missing = runner.invoke(app, ["stt", str(tmp_path / "none.wav")], env=env)
    assert missing.exit_code == 1 and "no such file" in missing.output
    bad = runner.invoke(app, ["stt", str(wav), "-f", "odt"], env=env)
    assert bad.exit_code == 1 and "unknown format" in bad.output
