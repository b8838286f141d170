"""``chorus tts`` and ``chorus voices``: in process through the services, or over HTTP to a server.

Audio is written to the sink chunk by chunk as it is produced, so ``-o -`` pipes into a player while
the rest is still being synthesised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import httpx

from chorus.audio.encode import StreamEncoder
from chorus.audio.formats import parse_output_format
from chorus.config import Settings
from chorus.errors import ChorusError
from chorus.services.voices import default_voice_id

Sink = Callable[[bytes], None]


class CliError(RuntimeError):
    """A failure to report in one line (no traceback)."""


def speak(
    settings: Settings,
    *,
    text: str,
    voice: str | None,
    model: str,
    output_format: str,
    server: str | None,
    api_key: str | None,
    sink: Sink,
) -> None:
    fmt = parse_output_format(output_format)
    if server:
        if not fmt.streamable:
            raise CliError(
                f"{output_format} cannot be streamed; pick mp3, pcm, opus, ulaw or alaw with --server"
            )
        _speak_remote(server, api_key, text, voice, model, output_format, sink)
    else:
        asyncio.run(_speak_local(settings, text, voice, model, output_format, sink))


def list_voices(settings: Settings, server: str | None, api_key: str | None) -> list[dict[str, Any]]:
    if server:
        with _client(server, api_key) as client:
            return _get(client, "/v1/voices")["voices"]  # type: ignore[no-any-return]
    return asyncio.run(_local_voices(settings))


def list_models(settings: Settings, server: str | None, api_key: str | None) -> list[dict[str, Any]]:
    if server:
        with _client(server, api_key) as client:
            return _get(client, "/v1/models")  # type: ignore[no-any-return]
    return asyncio.run(_local_models(settings))


def _client(server: str, api_key: str | None) -> httpx.Client:
    headers = {"xi-api-key": api_key} if api_key else {}
    return httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=120)


def _get(client: httpx.Client, path: str) -> Any:
    try:
        response = client.get(path)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the server: {exc}") from None
    _raise_for(response)
    return response.json()


def _speak_remote(
    server: str, api_key: str | None, text: str, voice: str | None, model: str, output_format: str, sink: Sink
) -> None:
    with _client(server, api_key) as client:
        voice_id = (
            voice
            if voice is not None and _looks_like_id(voice)
            else _pick(_get(client, "/v1/voices")["voices"], voice)
        )
        try:
            with client.stream(
                "POST",
                f"/v1/text-to-speech/{voice_id}/stream",
                params={"output_format": output_format},
                json={"text": text, "model_id": model},
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for(response)
                for chunk in response.iter_raw():
                    sink(chunk)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the server: {exc}") from None


def _raise_for(response: httpx.Response) -> None:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        message = detail.get("message") if isinstance(detail, dict) else detail
        raise CliError(f"server answered {response.status_code}: {message}")


def _looks_like_id(value: str) -> bool:
    return len(value) == 20 and value.isalnum() and value.upper() == value


def _pick(voices: list[dict[str, Any]], wanted: str | None) -> str:
    if not voices:
        raise CliError("no voices are available")
    if wanted is None:
        return str(voices[0]["voice_id"])
    for v in voices:
        if wanted == v["voice_id"] or v["name"].lower() == wanted.lower():
            return str(v["voice_id"])
    raise CliError(f"no voice named {wanted!r}; try one of: {', '.join(v['name'] for v in voices)}")


async def _services(settings: Settings):  # type: ignore[no-untyped-def]
    from chorus.services.container import Services

    # One command: worker processes would cost more to start than they save, and it runs no jobs (a
    # server sharing the data directory does).
    return await Services.start(settings.model_copy(update={"engine_workers": 0, "job_workers": 0}))


async def _local_voices(settings: Settings) -> list[dict[str, Any]]:
    services = await _services(settings)
    try:
        principal = await services.accounts.local_principal()
        return [
            services.voices.describe(v, await services.voices.settings_for(principal, v), principal)
            for v in await services.voices.visible(principal)
        ]
    finally:
        await services.close()


async def _local_models(settings: Settings) -> list[dict[str, Any]]:
    services = await _services(settings)
    try:
        return [services.catalogue.describe(spec) for spec in services.catalogue.specs()]
    finally:
        await services.close()


async def _speak_local(
    settings: Settings, text: str, voice: str | None, model: str, output_format: str, sink: Sink
) -> None:
    from chorus.services.tts import TTSInput

    fmt = parse_output_format(output_format)
    services = await _services(settings)
    try:
        principal = await services.accounts.local_principal()
        voices = [{"voice_id": v.voice_id, "name": v.name} for v in await services.voices.visible(principal)]
        default = default_voice_id(settings)
        if voice:
            voice_id = _pick(voices, voice)
        else:
            voice_id = default if default in {v["voice_id"] for v in voices} else _pick(voices, None)
        try:
            job = await services.tts.start(
                principal,
                voice_id,
                TTSInput(
                    text=text, model_id=model, output_format_name=output_format,
                    content_type=fmt.media_type, file_extension=fmt.file_extension,
                ),
            )  # fmt: skip
        except ChorusError as exc:
            raise CliError(exc.message) from None
        encoder = StreamEncoder(job.pcm_format, fmt)
        written: list[bytes] = []
        try:
            async with aclosing(job.chunks(encoder.feed)) as chunks:
                async for _chunk, data in chunks:
                    if data and fmt.streamable:
                        sink(data)
                    written.append(data)
            tail = encoder.flush()
            written.append(tail)
        except BaseException:
            await job.abort()
            raise
        audio = b"".join(written)
        if fmt.streamable:
            if tail:
                sink(tail)
        else:
            sink(audio)  # WAV needs its length in the header: written whole
        await job.finish(audio)
    finally:
        await services.close()
