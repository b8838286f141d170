"""The local models folder: what is installed, downloading from a Hugging Face compatible hub, removing.

Layout under ``Settings.resolved_models_dir`` (default ``<data_dir>/models``)::

    piper/<voice>/<voice>.onnx            a Piper voice, e.g. piper/en_US-lessac-medium/...
    piper/<voice>/<voice>.onnx.json
    piper/<voice>/chorus-manifest.json    written by `chorus models pull`
    kokoro/onnx/model.onnx                Kokoro v1.0 as onnx-community/Kokoro-82M-v1.0-ONNX lays it out
    kokoro/voices/<voice>.bin             (or kokoro-v1.0.onnx + voices-v1.0.bin, copied by hand)
    kokoro/chorus-manifest.json
    faster-whisper/<size>/model.bin       a CTranslate2 Whisper model (Systran/faster-whisper-<size>):
    faster-whisper/<size>/...             config.json, tokenizer.json, vocabulary.*, preprocessor_config.json
    openvoice/configuration.json          OpenVoice v2's tone color converter (neural cloning), as
    openvoice/tone_color_extract_model.onnx  seasonstudio/openvoice_tone_clone_onnx publishes it
    openvoice/tone_clone_model.onnx
    .partial/                             downloads in progress; never read by the engines

Files come from ``{hub}/{repo}/resolve/{revision}/{path}``, the Hugging Face download URL scheme
(redirects followed). Each file is streamed into a hidden staging folder under a temporary name,
checked against the length the server announced and, when the hub reports one (Hugging Face's
``X-Linked-Etag`` for LFS files), against its SHA-256, then renamed into place. Only when every file
is there is the manifest (name, source, revision, each file's size and SHA-256) written and the
staging folder renamed to its final place, so an interrupted or failed download never shows up as
installed. Anything copied in by hand works too; it is listed as not managed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

MANIFEST = "chorus-manifest.json"
PARTIAL_DIR = ".partial"
PIPER_REPO = "rhasspy/piper-voices"
PIPER_REVISION = "v1.0.0"
KOKORO_REPO = "onnx-community/Kokoro-82M-v1.0-ONNX"
KOKORO_REVISION = "main"
WHISPER_PREFIX = "faster-whisper-"
OPENVOICE_REPO = "seasonstudio/openvoice_tone_clone_onnx"
OPENVOICE_REVISION = "main"
OPENVOICE_NAME = "openvoice-v2"
OPENVOICE_FILES = ("configuration.json", "tone_color_extract_model.onnx", "tone_clone_model.onnx")
WHISPER_REVISION = "main"
# Whisper sizes → CTranslate2 conversions on the hub (as faster_whisper.utils._MODELS has them).
WHISPER_REPOS = {
    "tiny.en": "Systran/faster-whisper-tiny.en", "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en", "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en", "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en", "medium": "Systran/faster-whisper-medium",
    "large-v1": "Systran/faster-whisper-large-v1", "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}  # fmt: skip
_WHISPER_ALIASES = {"large": "large-v3", "turbo": "large-v3-turbo"}
DEFAULT_HUB = "https://huggingface.co"
_STALE_PARTIAL_S = 3600
_CHUNK = 1 << 20

# Piper voice names: <language>_<REGION>-<dataset>-<quality>, e.g. en_US-lessac-medium.
PIPER_NAME = re.compile(
    r"^(?P<family>[a-z]{2,3})_(?P<region>[A-Z]{2})-(?P<dataset>[A-Za-z0-9_]+)-(?P<quality>x_low|low|medium|high)$"
)

# Kokoro v1.0's voices, as published in onnx-community/Kokoro-82M-v1.0-ONNX/voices/<name>.bin.
KOKORO_VOICES = (
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova",
    "af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam",
    "am_michael", "am_onyx", "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily",
    "bm_daniel", "bm_fable", "bm_george", "bm_lewis", "ef_dora", "em_alex", "em_santa", "ff_siwis",
    "hf_alpha", "hf_beta", "hm_omega", "hm_psi", "if_sara", "im_nicola", "jf_alpha", "jf_gongitsune",
    "jf_nezumi", "jf_tebukuro", "jm_kumo", "pf_dora", "pm_alex", "pm_santa", "zf_xiaobei",
    "zf_xiaoni", "zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi", "zm_yunxia", "zm_yunyang",
)  # fmt: skip

ProgressCallback = Callable[[str, int, int | None], None]  # (file, bytes so far, total or None)


class ModelError(Exception):
    """Base of the errors this module raises; the message is meant for the user as it is."""


class UnknownModel(ModelError):
    """The name is neither in the catalogue nor a valid Piper voice name."""


class ModelNotInstalled(ModelError):
    """``remove`` was asked for a model that is not in the models folder."""


class ModelDownloadError(ModelError):
    """A download failed (offline, not found, truncated, corrupt); nothing was installed."""


@dataclass(frozen=True)
class HubFile:
    """One file of a model: where it lives in the hub repository and where it goes locally."""

    path: str  # in the repository
    target: str  # relative to the model's folder
    required: bool = True  # an optional file the hub does not have (404) is skipped


@dataclass(frozen=True)
class CatalogueEntry:
    """A model `chorus models pull` knows how to fetch."""

    name: str
    kind: str  # "piper" | "kokoro" | "whisper" | "openvoice"
    repo: str
    revision: str
    folder: str  # relative to the models folder
    files: tuple[HubFile, ...]
    description: str = ""
    min_optional: int = 0  # how many optional files must arrive (Kokoro: at least one voice)


@dataclass(frozen=True)
class InstalledModel:
    """A model found in the models folder."""

    name: str
    kind: str
    path: Path
    size_bytes: int
    managed: bool  # installed by `chorus models pull` (has a manifest)
    source: str | None = None  # "repo@revision" for managed models
    files: tuple[str, ...] = field(default_factory=tuple)


# --- the catalogue -----------------------------------------------------------------------------


def piper_entry(name: str, revision: str = PIPER_REVISION) -> CatalogueEntry:
    """The catalogue entry for any Piper voice name in rhasspy/piper-voices' layout."""
    match = PIPER_NAME.match(name)
    if match is None:
        raise UnknownModel(f"{name!r} is not a Piper voice name (like en_US-lessac-medium)")
    family, region, dataset, quality = match.group("family", "region", "dataset", "quality")
    base = f"{family}/{family}_{region}/{dataset}/{quality}/{name}"
    return CatalogueEntry(
        name=name,
        kind="piper",
        repo=PIPER_REPO,
        revision=revision,
        folder=f"piper/{name}",
        files=(
            HubFile(f"{base}.onnx", f"{name}.onnx"),
            HubFile(f"{base}.onnx.json", f"{name}.onnx.json"),
            HubFile(
                f"{family}/{family}_{region}/{dataset}/{quality}/MODEL_CARD", "MODEL_CARD", required=False
            ),
        ),
        description=f"Piper voice {dataset} ({family}_{region}, {quality} quality)",
    )


def kokoro_entry(
    variant: str = "model", revision: str = KOKORO_REVISION, name: str = "kokoro-v1.0"
) -> CatalogueEntry:
    """Kokoro-82M v1.0 from onnx-community: ``onnx/<variant>.onnx``, the config and every voice."""
    files = [
        HubFile(f"onnx/{variant}.onnx", f"onnx/{variant}.onnx"),
        HubFile("config.json", "config.json", required=False),
    ]
    files += [HubFile(f"voices/{v}.bin", f"voices/{v}.bin", required=False) for v in KOKORO_VOICES]
    return CatalogueEntry(
        name=name,
        kind="kokoro",
        repo=KOKORO_REPO,
        revision=revision,
        folder="kokoro",
        files=tuple(files),
        description=f"Kokoro-82M v1.0 ({variant}.onnx) with its {len(KOKORO_VOICES)} voices",
        min_optional=1,
    )


def whisper_entry(size: str, revision: str = WHISPER_REVISION) -> CatalogueEntry:
    """A faster-whisper model (``small``, ``large-v3`` ...) into ``faster-whisper/<size>``."""
    size = _WHISPER_ALIASES.get(size, size)
    repo = WHISPER_REPOS.get(size)
    if repo is None:
        raise UnknownModel(
            f"unknown faster-whisper model {size!r}; known: "
            + ", ".join(WHISPER_PREFIX + known for known in WHISPER_REPOS)
        )
    files = (
        HubFile("model.bin", "model.bin"),
        HubFile("config.json", "config.json"),
        HubFile("tokenizer.json", "tokenizer.json"),
        HubFile("vocabulary.txt", "vocabulary.txt", required=False),  # older conversions
        HubFile("vocabulary.json", "vocabulary.json", required=False),  # newer ones
        HubFile("preprocessor_config.json", "preprocessor_config.json", required=False),
    )
    return CatalogueEntry(
        name=WHISPER_PREFIX + size,
        kind="whisper",
        repo=repo,
        revision=revision,
        folder=f"faster-whisper/{size}",
        files=files,
        description=f"Whisper {size} for faster-whisper (speech to text)",
        min_optional=1,
    )


def openvoice_entry(revision: str = OPENVOICE_REVISION) -> CatalogueEntry:
    """OpenVoice v2's tone color converter in ONNX (neural cloning) into ``openvoice/``."""
    return CatalogueEntry(
        name=OPENVOICE_NAME,
        kind="openvoice",
        repo=OPENVOICE_REPO,
        revision=revision,
        folder="openvoice",
        files=tuple(HubFile(name, name) for name in OPENVOICE_FILES),
        description="OpenVoice v2 tone color converter (neural voice cloning from the reference audio)",
    )


# Short names beyond the rule-based Piper names.
_KOKORO_VARIANTS = {"kokoro-v1.0": "model", "kokoro": "model", "kokoro-v1.0-q8": "model_quantized"}
SUGGESTED = (
    "en_US-lessac-medium",
    "en_US-ryan-high",
    "en_US-amy-medium",
    "en_GB-alan-medium",
    "en_GB-jenny_dioco-medium",
    "de_DE-thorsten-medium",
    "fr_FR-siwis-medium",
    "es_ES-davefx-medium",
    "kokoro-v1.0",
    "kokoro-v1.0-q8",
    "faster-whisper-small",
    "faster-whisper-large-v3-turbo",
    OPENVOICE_NAME,
)


def resolve(name: str, revision: str | None = None) -> CatalogueEntry:
    """The catalogue entry for ``name``: "en_US-lessac-medium" (or "piper:..."), "kokoro-v1.0",
    "faster-whisper-small"."""
    key = name.strip()
    if key.lower().startswith(WHISPER_PREFIX):
        return whisper_entry(key[len(WHISPER_PREFIX) :].lower(), revision or WHISPER_REVISION)
    if key.lower() in (OPENVOICE_NAME, "openvoice"):
        return openvoice_entry(revision or OPENVOICE_REVISION)
    if key.startswith("piper:"):
        key = key.split(":", 1)[1]
    variant = _KOKORO_VARIANTS.get(key.lower())
    if variant is not None:
        canonical = "kokoro-v1.0" if key.lower() == "kokoro" else key.lower()
        return kokoro_entry(variant, revision or KOKORO_REVISION, canonical)
    if PIPER_NAME.match(key):
        return piper_entry(key, revision or PIPER_REVISION)
    raise UnknownModel(
        f"unknown model {name!r}: use a Piper voice name like en_US-lessac-medium "
        f"(see https://huggingface.co/rhasspy/piper-voices), one of: {', '.join(_KOKORO_VARIANTS)}, "
        f"a Whisper model like {WHISPER_PREFIX}small, or {OPENVOICE_NAME}"
    )


def catalogue() -> list[CatalogueEntry]:
    """The suggested models (any Piper voice name can be pulled, not only these)."""
    return [resolve(name) for name in SUGGESTED]


def file_url(hub_url: str, entry: CatalogueEntry, file: HubFile) -> str:
    """``{hub}/{repo}/resolve/{revision}/{path}``."""
    return f"{hub_url.rstrip('/')}/{entry.repo}/resolve/{entry.revision}/{file.path}"


# --- the store ---------------------------------------------------------------------------------


class ModelStore:
    """The models folder. Methods raise :class:`ModelError` subclasses with user-facing messages."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Any) -> ModelStore:
        return cls(Path(settings.resolved_models_dir))

    # --- listing -------------------------------------------------------------------------------

    def list_models(self) -> list[InstalledModel]:
        """Every complete model in the folder: Piper voices, then Kokoro, Whisper models, OpenVoice."""
        found: list[InstalledModel] = []
        piper = self.root / "piper"
        if piper.is_dir():
            for folder in sorted(p for p in piper.iterdir() if p.is_dir() and not p.name.startswith(".")):
                for model in sorted(folder.glob("*.onnx")):
                    if model.with_name(model.name + ".json").is_file():
                        found.append(self._describe(folder, model.name[: -len(".onnx")], "piper"))
                        break
            for model in sorted(piper.glob("*.onnx")):  # voices copied straight into piper/
                config = model.with_name(model.name + ".json")
                if config.is_file():
                    size = model.stat().st_size + config.stat().st_size
                    files = (model.name, config.name)
                    found.append(
                        InstalledModel(model.name[: -len(".onnx")], "piper", model, size, False, None, files)
                    )
        kokoro = self.root / "kokoro"
        if kokoro.is_dir() and (any(kokoro.glob("*.onnx")) or any(kokoro.glob("onnx/*.onnx"))):
            found.append(self._describe(kokoro, "kokoro", "kokoro"))
        whisper = self.root / "faster-whisper"
        if whisper.is_dir():
            for folder in sorted(p for p in whisper.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if (folder / "model.bin").is_file() and (folder / "config.json").is_file():
                    found.append(self._describe(folder, WHISPER_PREFIX + folder.name, "whisper"))
        openvoice = self.root / "openvoice"
        if all((openvoice / name).is_file() for name in OPENVOICE_FILES):
            found.append(self._describe(openvoice, OPENVOICE_NAME, "openvoice"))
        return found

    def _describe(self, folder: Path, default_name: str, kind: str) -> InstalledModel:
        manifest = _read_manifest(folder)
        files = tuple(sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()))
        size = sum((folder / f).stat().st_size for f in files)
        if manifest is None:
            return InstalledModel(default_name, kind, folder, size, False, None, files)
        source = f"{manifest.get('repo')}@{manifest.get('revision')}"
        name = str(manifest.get("name") or default_name)
        return InstalledModel(name, kind, folder, size, True, source, files)

    def find(self, name: str) -> InstalledModel | None:
        """The installed model called ``name`` (a Piper voice name, "kokoro" or its pulled name)."""
        key = name.strip().removeprefix("piper:")
        for model in self.list_models():
            if key in (model.name, model.path.name) or (model.kind == "kokoro" and key.startswith("kokoro")):
                return model
        return None

    # --- removing ------------------------------------------------------------------------------

    def remove(self, name: str) -> InstalledModel:
        """Delete an installed model; raises :class:`ModelNotInstalled` when there is none."""
        model = self.find(name)
        if model is None:
            raise ModelNotInstalled(f"no model {name!r} in {self.root}")
        if model.path.is_file():  # a voice copied straight into piper/
            for file in model.files:
                with contextlib.suppress(FileNotFoundError):
                    (model.path.parent / file).unlink()
            return model
        trash = self._staging_root() / f"removing-{uuid.uuid4().hex}"
        os.replace(model.path, trash)  # gone from the engines' view at once
        shutil.rmtree(trash, ignore_errors=True)
        return model

    # --- pulling -------------------------------------------------------------------------------

    def pull(
        self,
        name: str,
        hub_url: str = DEFAULT_HUB,
        *,
        revision: str | None = None,
        force: bool = False,
        progress: ProgressCallback | None = None,
        client: httpx.Client | None = None,
        timeout: float = 60.0,
    ) -> InstalledModel:
        """Download ``name`` from ``hub_url`` and install it, replacing an earlier pull of it.

        A folder that is in the way but was not installed by a pull is only replaced with ``force``.
        Raises :class:`UnknownModel`, or :class:`ModelDownloadError` (nothing installed) when a file
        cannot be fetched or does not check out.
        """
        entry = resolve(name, revision)
        final = self.root / entry.folder
        if final.exists() and _read_manifest(final) is None and not force:
            raise ModelDownloadError(
                f"{final} exists and was not installed by `chorus models pull`; "
                "remove it or pull with --force"
            )
        self._clean_stale_partials()
        staging = self._staging_root() / f"{entry.name}-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        own_client = client is None
        http = client or httpx.Client(follow_redirects=True, timeout=httpx.Timeout(timeout, connect=15.0))
        try:
            records = self._download_all(http, hub_url, entry, staging, progress)
            manifest = {
                "name": entry.name,
                "kind": entry.kind,
                "hub": hub_url.rstrip("/"),
                "repo": entry.repo,
                "revision": entry.revision,
                "pulled_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "files": records,
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            self._install(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            if own_client:
                http.close()
        installed = self.find("kokoro" if entry.kind == "kokoro" else entry.name)
        assert installed is not None
        return installed

    def _download_all(
        self,
        http: httpx.Client,
        hub_url: str,
        entry: CatalogueEntry,
        staging: Path,
        progress: ProgressCallback | None,
    ) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        optional_found = 0
        for file in entry.files:
            url = file_url(hub_url, entry, file)
            record = _download(http, url, staging / file.target, file, progress, hub_url)
            if record is None:
                continue
            if not file.required:
                optional_found += 1
            records.append({"path": file.target, "source": file.path, **record})
        if optional_found < entry.min_optional:
            raise ModelDownloadError(
                f"{entry.name}: none of the optional files (voices) were found in "
                f"{entry.repo}@{entry.revision}"
            )
        if entry.kind == "whisper":
            _check_whisper(entry, staging)
        if entry.kind == "piper":
            config = staging / entry.files[1].target
            try:
                json.loads(config.read_text(encoding="utf-8"))["phoneme_id_map"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ModelDownloadError(
                    f"{entry.name}: the downloaded voice config is not valid: {exc}"
                ) from exc
        return records

    def _install(self, staging: Path, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        old: Path | None = None
        if final.exists():
            old = self._staging_root() / f"replaced-{uuid.uuid4().hex}"
            os.replace(final, old)
        try:
            os.replace(staging, final)
        except OSError:
            if old is not None:
                os.replace(old, final)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _staging_root(self) -> Path:
        path = self.root / PARTIAL_DIR
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _clean_stale_partials(self) -> None:
        folder = self.root / PARTIAL_DIR
        if not folder.is_dir():
            return
        now = time.time()
        for leftover in folder.iterdir():
            with contextlib.suppress(OSError):
                if now - leftover.stat().st_mtime > _STALE_PARTIAL_S:
                    shutil.rmtree(leftover, ignore_errors=True)


def _check_whisper(entry: CatalogueEntry, staging: Path) -> None:
    """A downloaded Whisper model needs a vocabulary and a readable config."""
    if not any((staging / name).is_file() for name in ("vocabulary.txt", "vocabulary.json")):
        raise ModelDownloadError(f"{entry.name}: {entry.repo}@{entry.revision} has no vocabulary file")
    try:
        json.loads((staging / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelDownloadError(f"{entry.name}: the downloaded config.json is not valid: {exc}") from exc


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _download(
    http: httpx.Client,
    url: str,
    target: Path,
    file: HubFile,
    progress: ProgressCallback | None,
    hub_url: str,
) -> dict[str, Any] | None:
    """Stream ``url`` to ``target`` via a temporary name; None for a missing optional file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    digest = hashlib.sha256()
    received = 0
    try:
        with http.stream("GET", url) as response:
            if response.status_code == 404 and not file.required:
                return None
            if response.status_code in (401, 403):
                raise ModelDownloadError(f"the hub refused {url} (HTTP {response.status_code}); is it gated?")
            if response.status_code == 404:
                raise ModelDownloadError(f"not found on the hub: {url} (HTTP 404)")
            if response.status_code != 200:
                raise ModelDownloadError(f"downloading {url} failed: HTTP {response.status_code}")
            expected_size = _int_header(response, "content-length")
            expected_sha = _expected_sha256(response)
            with open(temporary, "wb") as out:
                for block in response.iter_bytes(_CHUNK):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    if progress is not None:
                        progress(file.target, received, expected_size)
                out.flush()
                os.fsync(out.fileno())
        if expected_size is not None and received != expected_size:
            raise ModelDownloadError(f"{url}: download cut short ({received} of {expected_size} bytes)")
        sha256 = digest.hexdigest()
        if expected_sha is not None and sha256 != expected_sha:
            raise ModelDownloadError(f"{url}: SHA-256 mismatch (got {sha256}, the hub says {expected_sha})")
        os.replace(temporary, target)
    except httpx.TransportError as exc:
        raise ModelDownloadError(_transport_message(exc, url, hub_url)) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return {"size": received, "sha256": sha256}


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    if value is None or "content-encoding" in response.headers:
        return None  # a compressed body's length is not the file's
    try:
        return int(value)
    except ValueError:
        return None


def _expected_sha256(response: httpx.Response) -> str | None:
    """The SHA-256 the hub vouches for: Hugging Face's X-Linked-Etag (LFS files), on any hop."""
    for hop in [*response.history, response]:
        for header in ("x-linked-etag", "x-chorus-sha256"):
            value = hop.headers.get(header, "").strip().removeprefix("W/").strip('"').lower()
            if re.fullmatch(r"[0-9a-f]{64}", value):
                return value
    return None


def _transport_message(exc: httpx.TransportError, url: str, hub_url: str) -> str:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return (
            f"cannot reach {hub_url} ({exc.__class__.__name__}: {exc}). Are you offline? Set "
            "CHORUS_MODEL_HUB_URL to a reachable mirror, or copy the model files into the models folder "
            "by hand"
        )
    return f"downloading {url} failed: {exc.__class__.__name__}: {exc}"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
