"""The models folder and `chorus models`, against a local HTTP server standing in for the hub."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chorus.cli.models import models_app
from chorus.models import ModelDownloadError, ModelNotInstalled, ModelStore, UnknownModel, resolve
from chorus.models.store import MANIFEST, PARTIAL_DIR, file_url

PIPER_BASE = "/rhasspy/piper-voices/resolve/v1.0.0/en/en_US/tiny/medium"
KOKORO_BASE = "/onnx-community/Kokoro-82M-v1.0-ONNX/resolve/main"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    truncate_to: int | None = None  # announce len(body) but send only this many bytes, then hang up
    redirect_to: str | None = None


class Hub:
    """A tiny Hugging Face stand-in: exact paths → responses; everything else is 404."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                hub.requests.append(self.path)
                route = hub.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if route.redirect_to is not None:
                    self.send_response(302)
                    self.send_header("Location", route.redirect_to)
                    for key, value in route.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Length", str(len(route.body)))
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                body = route.body if route.truncate_to is None else route.body[: route.truncate_to]
                self.wfile.write(body)
                if route.truncate_to is not None:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = Hub()
    yield server
    server.close()


def piper_files(name: str = "en_US-tiny-medium") -> tuple[bytes, bytes]:
    from tests.unit.test_piper import build_piper_model, piper_config

    pytest.importorskip("onnx")
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        model = build_piper_model(Path(folder) / f"{name}.onnx").read_bytes()
    return model, json.dumps(piper_config()).encode()


def serve_piper(hub: Hub, *, via_cdn: bool = False, linked_sha: str | None = None) -> tuple[bytes, bytes]:
    model, config = piper_files()
    if via_cdn:  # Hugging Face answers LFS files with a redirect carrying the SHA-256
        hub.routes["/cdn/model"] = Route(model)
        headers = {"X-Linked-Etag": f'"{linked_sha or hashlib.sha256(model).hexdigest()}"'}
        hub.routes[f"{PIPER_BASE}/en_US-tiny-medium.onnx"] = Route(redirect_to="/cdn/model", headers=headers)
    else:
        hub.routes[f"{PIPER_BASE}/en_US-tiny-medium.onnx"] = Route(model)
    hub.routes[f"{PIPER_BASE}/en_US-tiny-medium.onnx.json"] = Route(config)
    return model, config


def visible_entries(root: Path) -> list[str]:
    """Everything under the models folder except the (hidden) staging area."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if PARTIAL_DIR not in p.parts)


# --- the catalogue ---------------------------------------------------------------------------------


def test_piper_names_map_to_the_piper_voices_layout() -> None:
    entry = resolve("en_US-lessac-medium")
    assert (entry.repo, entry.revision, entry.folder) == (
        "rhasspy/piper-voices",
        "v1.0.0",
        "piper/en_US-lessac-medium",
    )
    assert [f.path for f in entry.files if f.required] == [
        "en/en_US/lessac/medium/en_US-lessac-medium.onnx",
        "en/en_US/lessac/medium/en_US-lessac-medium.onnx.json",
    ]
    assert file_url("https://huggingface.co/", entry, entry.files[0]) == (
        "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/en/en_US/lessac/medium/en_US-lessac-medium.onnx"
    )
    assert (
        resolve("piper:de_DE-thorsten_emotional-medium")
        .files[0]
        .path.startswith("de/de_DE/thorsten_emotional/")
    )


def test_kokoro_maps_to_onnx_community() -> None:
    entry = resolve("kokoro-v1.0")
    assert (entry.repo, entry.folder, entry.kind) == (
        "onnx-community/Kokoro-82M-v1.0-ONNX",
        "kokoro",
        "kokoro",
    )
    paths = [f.path for f in entry.files]
    assert (
        paths[0] == "onnx/model.onnx" and "voices/af_heart.bin" in paths and "voices/bm_george.bin" in paths
    )
    assert resolve("kokoro-v1.0-q8").files[0].path == "onnx/model_quantized.onnx"
    with pytest.raises(UnknownModel):
        resolve("gpt-5")


# --- pulling ---------------------------------------------------------------------------------------


def test_pull_installs_atomically_with_a_manifest(hub: Hub, tmp_path: Path) -> None:
    model, config = serve_piper(hub)
    store = ModelStore(tmp_path)
    seen: list[tuple[str, int]] = []
    installed = store.pull(
        "en_US-tiny-medium", hub.url, progress=lambda f, done, total: seen.append((f, done))
    )
    assert installed.name == "en_US-tiny-medium" and installed.managed and installed.kind == "piper"
    folder = tmp_path / "piper" / "en_US-tiny-medium"
    assert (folder / "en_US-tiny-medium.onnx").read_bytes() == model
    assert (folder / "en_US-tiny-medium.onnx.json").read_bytes() == config
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["repo"] == "rhasspy/piper-voices" and manifest["revision"] == "v1.0.0"
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        "en_US-tiny-medium.onnx": hashlib.sha256(model).hexdigest(),
        "en_US-tiny-medium.onnx.json": hashlib.sha256(config).hexdigest(),
    }  # the optional MODEL_CARD was 404: skipped
    assert seen[-1][1] > 0
    assert list((tmp_path / PARTIAL_DIR).iterdir()) == []
    assert [m.name for m in store.list_models()] == ["en_US-tiny-medium"]


def test_pulled_voice_is_usable_by_the_piper_engine(hub: Hub, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from chorus.config import Settings
    from chorus.engines.base import SynthesisRequest
    from chorus.engines.neural import build_piper

    serve_piper(hub)
    settings = Settings(data_dir=tmp_path)
    engine = build_piper(settings)
    assert not engine.available()
    ModelStore.from_settings(settings).pull("en_US-tiny-medium", hub.url)
    if not engine.available():
        pytest.skip(engine.unavailable_reason() or "")
    assert [v.native_id for v in engine.voices()] == ["en_US-tiny-medium"]
    audio = b"".join(c.pcm for c in engine.synthesize(SynthesisRequest("Hello.", "en_US-tiny-medium")))
    assert len(audio) > 0


def test_redirects_are_followed_and_the_linked_sha_checked(hub: Hub, tmp_path: Path) -> None:
    serve_piper(hub, via_cdn=True)
    ModelStore(tmp_path).pull("en_US-tiny-medium", hub.url)
    assert "/cdn/model" in hub.requests


def test_a_sha_mismatch_installs_nothing(hub: Hub, tmp_path: Path) -> None:
    serve_piper(hub, via_cdn=True, linked_sha="0" * 64)
    with pytest.raises(ModelDownloadError, match="SHA-256 mismatch"):
        ModelStore(tmp_path).pull("en_US-tiny-medium", hub.url)
    assert visible_entries(tmp_path) == []
    assert list((tmp_path / PARTIAL_DIR).iterdir()) == []


def test_a_truncated_download_installs_nothing(hub: Hub, tmp_path: Path) -> None:
    model, _ = serve_piper(hub)
    hub.routes[f"{PIPER_BASE}/en_US-tiny-medium.onnx"] = Route(model, truncate_to=len(model) // 2)
    store = ModelStore(tmp_path)
    with pytest.raises(ModelDownloadError):
        store.pull("en_US-tiny-medium", hub.url)
    assert visible_entries(tmp_path) == [] and store.list_models() == []
    assert list((tmp_path / PARTIAL_DIR).iterdir()) == []


def test_a_failure_on_a_later_file_installs_nothing(hub: Hub, tmp_path: Path) -> None:
    serve_piper(hub)
    del hub.routes[f"{PIPER_BASE}/en_US-tiny-medium.onnx.json"]
    with pytest.raises(ModelDownloadError, match="HTTP 404"):
        ModelStore(tmp_path).pull("en_US-tiny-medium", hub.url)
    assert visible_entries(tmp_path) == []


def test_an_invalid_config_installs_nothing(hub: Hub, tmp_path: Path) -> None:
    serve_piper(hub)
    hub.routes[f"{PIPER_BASE}/en_US-tiny-medium.onnx.json"] = Route(b"<html>login</html>")
    with pytest.raises(ModelDownloadError, match="not valid"):
        ModelStore(tmp_path).pull("en_US-tiny-medium", hub.url)
    assert visible_entries(tmp_path) == []


def test_offline_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ModelDownloadError, match="offline"):
        ModelStore(tmp_path).pull("en_US-lessac-medium", f"http://127.0.0.1:{port}", timeout=5)
    assert visible_entries(tmp_path) == []


def test_pull_again_replaces_and_hand_copied_folders_need_force(hub: Hub, tmp_path: Path) -> None:
    serve_piper(hub)
    store = ModelStore(tmp_path)
    store.pull("en_US-tiny-medium", hub.url)
    store.pull("en_US-tiny-medium", hub.url)  # managed: replaced in place
    assert [m.name for m in store.list_models()] == ["en_US-tiny-medium"]
    (tmp_path / "piper" / "en_US-tiny-medium" / MANIFEST).unlink()  # now it looks hand-copied
    with pytest.raises(ModelDownloadError, match="--force"):
        store.pull("en_US-tiny-medium", hub.url)
    assert store.pull("en_US-tiny-medium", hub.url, force=True).managed


def test_kokoro_pull_takes_the_voices_the_hub_has(hub: Hub, tmp_path: Path) -> None:
    voice = np.zeros((510, 1, 256), dtype="<f4").tobytes()
    hub.routes[f"{KOKORO_BASE}/onnx/model.onnx"] = Route(b"fake onnx bytes")
    hub.routes[f"{KOKORO_BASE}/voices/af_heart.bin"] = Route(voice)
    hub.routes[f"{KOKORO_BASE}/voices/bm_george.bin"] = Route(voice)
    store = ModelStore(tmp_path)
    installed = store.pull("kokoro-v1.0", hub.url)
    assert (installed.name, installed.kind, installed.path) == ("kokoro-v1.0", "kokoro", tmp_path / "kokoro")
    assert sorted(p.name for p in (tmp_path / "kokoro" / "voices").iterdir()) == [
        "af_heart.bin",
        "bm_george.bin",
    ]
    assert (tmp_path / "kokoro" / "onnx" / "model.onnx").read_bytes() == b"fake onnx bytes"


def test_kokoro_pull_without_any_voice_fails(hub: Hub, tmp_path: Path) -> None:
    hub.routes[f"{KOKORO_BASE}/onnx/model.onnx"] = Route(b"fake onnx bytes")
    with pytest.raises(ModelDownloadError, match="voices"):
        ModelStore(tmp_path).pull("kokoro-v1.0", hub.url)
    assert visible_entries(tmp_path) == []


def test_openvoice_pull_installs_the_tone_color_converter(hub: Hub, tmp_path: Path) -> None:
    from chorus.voicelab.tone_color import ToneColorProvider
    from tests.unit.tiny_openvoice import install_openvoice

    built = install_openvoice(tmp_path / "built")
    base = "/seasonstudio/openvoice_tone_clone_onnx/resolve/main"
    for file in built.iterdir():
        hub.routes[f"{base}/{file.name}"] = Route(file.read_bytes())
    assert resolve("openvoice").name == "openvoice-v2"
    models = tmp_path / "models"
    provider = ToneColorProvider(models / "openvoice")
    assert provider.get() is None  # not installed yet
    installed = ModelStore(models).pull("openvoice-v2", hub.url)
    assert (installed.name, installed.kind, installed.path) == (
        "openvoice-v2",
        "openvoice",
        models / "openvoice",
    )
    assert [m.name for m in ModelStore(models).list_models()] == ["openvoice-v2"]
    assert provider.get() is not None  # found without a restart


# --- listing and removing ------------------------------------------------------------------------------


def test_list_includes_hand_copied_models_and_skips_incomplete_ones(tmp_path: Path) -> None:
    (tmp_path / "piper" / "en_US-hand-medium").mkdir(parents=True)
    (tmp_path / "piper" / "en_US-hand-medium" / "en_US-hand-medium.onnx").write_bytes(b"x" * 10)
    (tmp_path / "piper" / "en_US-hand-medium" / "en_US-hand-medium.onnx.json").write_text("{}")
    (tmp_path / "piper" / "en_US-half-medium").mkdir()
    (tmp_path / "piper" / "en_US-half-medium" / "en_US-half-medium.onnx").write_bytes(b"x")  # no config
    (tmp_path / "piper" / "flat.onnx").write_bytes(b"y" * 5)
    (tmp_path / "piper" / "flat.onnx.json").write_text("{}")
    (tmp_path / "kokoro").mkdir()
    (tmp_path / "kokoro" / "kokoro-v1.0.onnx").write_bytes(b"z")
    models = {m.name: m for m in ModelStore(tmp_path).list_models()}
    assert set(models) == {"en_US-hand-medium", "flat", "kokoro"}
    assert not any(m.managed for m in models.values())
    assert models["en_US-hand-medium"].size_bytes == 12


def test_remove(hub: Hub, tmp_path: Path) -> None:
    serve_piper(hub)
    store = ModelStore(tmp_path)
    store.pull("en_US-tiny-medium", hub.url)
    removed = store.remove("en_US-tiny-medium")
    assert removed.name == "en_US-tiny-medium"
    assert store.list_models() == [] and not (tmp_path / "piper" / "en_US-tiny-medium").exists()
    with pytest.raises(ModelNotInstalled):
        store.remove("en_US-tiny-medium")
    (tmp_path / "piper" / "flat.onnx").write_bytes(b"y")
    (tmp_path / "piper" / "flat.onnx.json").write_text("{}")
    store.remove("flat")
    assert not (tmp_path / "piper" / "flat.onnx").exists()


# --- the CLI -----------------------------------------------------------------------------------------


def test_cli_pull_list_remove(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_piper(hub)
    monkeypatch.setenv("CHORUS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHORUS_MODEL_HUB_URL", hub.url)
    runner = CliRunner()
    result = runner.invoke(models_app, ["list"])
    assert result.exit_code == 0 and "no models installed" in result.output
    result = runner.invoke(models_app, ["pull", "en_US-tiny-medium"])
    assert result.exit_code == 0, result.output
    assert "installed en_US-tiny-medium" in result.output
    assert (tmp_path / "data" / "models" / "piper" / "en_US-tiny-medium" / MANIFEST).is_file()
    result = runner.invoke(models_app, ["list", "--catalogue"])
    assert "en_US-tiny-medium" in result.output and "rhasspy/piper-voices@v1.0.0" in result.output
    assert "kokoro-v1.0" in result.output
    result = runner.invoke(models_app, ["remove", "en_US-tiny-medium"])
    assert result.exit_code == 0 and "removed en_US-tiny-medium" in result.output
    result = runner.invoke(models_app, ["remove", "en_US-tiny-medium"])
    assert result.exit_code == 1 and "no model" in result.output


def test_cli_reports_download_errors(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHORUS_MODELS_DIR", str(tmp_path / "models"))
    result = CliRunner().invoke(models_app, ["pull", "en_US-missing-medium", "--hub", hub.url])
    assert result.exit_code == 1 and "not found on the hub" in result.output
    result = CliRunner().invoke(models_app, ["pull", "nonsense"])
    assert result.exit_code == 1 and "unknown model" in result.output
