"""``chorus stt``: transcribe a file in process through the services, or over HTTP to a running server.

Both paths produce the same ``SpeechToTextChunkResponseModel`` body; the output is either that body (``json``)
or one of the export formats the API renders (``txt``, ``srt``, ``segmented_json``, ``html``, ``docx``,
``pdf``), so the CLI and the API never disagree about a format.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx

from chorus.cli.speak import CliError, _client, _raise_for
from chorus.config import Settings
from chorus.errors import ChorusError

FORMATS = ("txt", "json", "srt", "segmented_json", "html", "docx", "pdf")
_EXTENSIONS = {".txt": "txt", ".json": "json", ".srt": "srt", ".html": "html", ".htm": "html",
               ".docx": "docx", ".pdf": "pdf"}  # fmt: skip


def format_for(path: str | None, requested: str | None) -> str:
    """The output format: as requested, else from the output file's extension, else plain text."""
    if requested:
        if requested not in FORMATS:
            raise CliError(f"unknown format {requested!r}; choose one of {', '.join(FORMATS)}")
        return requested
    if path and path != "-":
        return _EXTENSIONS.get(Path(path).suffix.lower(), "txt")
    return "txt"


def transcribe(
    settings: Settings,
    *,
    audio: bytes,
    filename: str,
    output_format: str,
    diarize: bool,
    num_speakers: int | None,
    language: str | None,
    keyterms: list[str],
    server: str | None,
    api_key: str | None,
) -> bytes:
    """The transcript of ``audio`` rendered as ``output_format``."""
    fields: dict[str, Any] = {
        "model_id": "scribe_v1",
        "diarize": diarize,
        "num_speakers": num_speakers,
        "language_code": language,
        "keyterms": keyterms,
        "tag_audio_events": True,
    }
    options: dict[str, Any] = {"format": output_format, "include_speakers": diarize}
    if output_format == "txt":  # plain text on the terminal; the other formats keep their times
        options["include_timestamps"] = False
    exports = [] if output_format == "json" else [options]
    if server:
        body = _remote(server, api_key, audio, filename, fields, exports)
    else:
        body = asyncio.run(_local(settings, audio, fields, exports))
    if output_format == "json":
        return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()
    for item in body.get("additional_formats") or []:
        if item and item.get("requested_format") == output_format:
            content = item["content"]
            return base64.b64decode(content) if item.get("is_base64_encoded") else content.encode()
    raise CliError(f"the server did not return the {output_format} format")


def _remote(
    server: str, api_key: str | None, audio: bytes, filename: str, fields: dict[str, Any], exports: list
) -> dict[str, Any]:
    data = {
        "model_id": fields["model_id"],
        "diarize": str(fields["diarize"]).lower(),
        "tag_audio_events": "true",
        "keyterms": json.dumps(fields["keyterms"]),
        "additional_formats": json.dumps(exports),
    }
    if fields["num_speakers"] is not None:
        data["num_speakers"] = str(fields["num_speakers"])
    if fields["language_code"]:
        data["language_code"] = fields["language_code"]
    with _client(server, api_key) as client:
        try:
            response = client.post(
                "/v1/speech-to-text", data=data, files={"file": (filename, audio)}, timeout=3600
            )
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the server: {exc}") from None
        _raise_for(response)
        return response.json()  # type: ignore[no-any-return]


async def _local(settings: Settings, audio: bytes, fields: dict[str, Any], exports: list) -> dict[str, Any]:
    from chorus.cli.speak import _services
    from chorus.services.stt import STTInput
    from chorus.stt.exports import parse_additional_formats

    services = await _services(settings)
    try:
        principal = await services.accounts.local_principal()
        request = STTInput(
            audio=audio,
            model_id=fields["model_id"],
            language_code=fields["language_code"],
            keyterms=tuple(fields["keyterms"]),
            enable_logging=False,
            diarize=fields["diarize"],
            num_speakers=fields["num_speakers"],
            additional_formats=tuple(
                dataclasses.asdict(e) for e in parse_additional_formats(json.dumps(exports))
            ),
        )
        try:
            return await services.stt.transcribe(principal, request)
        except ChorusError as exc:
            raise CliError(exc.message) from None
    finally:
        await services.close()
