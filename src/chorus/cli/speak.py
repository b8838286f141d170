"""``chorus tts``: in process through the services, or over HTTP to a running server."""

from __future__ import annotations

import asyncio

import httpx

from chorus.audio.formats import parse_output_format
from chorus.config import Settings
from chorus.errors import ChorusError
from chorus.services.voices import default_voice_id


def speak(
    settings: Settings,
    *,
    text: str,
    voice: str | None,
    model: str,
    output_format: str,
    server: str | None,
    api_key: str | None,
) -> bytes:
    if server:
        return _speak_remote(server, api_key, text, voice, model, output_format)
    return asyncio.run(_speak_local(settings, text, voice, model, output_format))


def _speak_remote(
    server: str, api_key: str | None, text: str, voice: str | None, model: str, output_format: str
) -> bytes:
    headers = {"xi-api-key": api_key} if api_key else {}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=120) as client:
        voice_id = voice
        if voice_id is None or not _looks_like_id(voice_id):
            listing = client.get("/v1/voices")
            _raise_for(listing)
            voices = listing.json()["voices"]
            voice_id = _pick(voices, voice)
        response = client.post(
            f"/v1/text-to-speech/{voice_id}",
            params={"output_format": output_format},
            json={"text": text, "model_id": model},
        )
        _raise_for(response)
        return response.content


def _raise_for(response: httpx.Response) -> None:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        message = detail.get("message") if isinstance(detail, dict) else detail
        raise RuntimeError(f"server answered {response.status_code}: {message}")


def _looks_like_id(value: str) -> bool:
    return len(value) == 20 and value.isalnum() and value.upper() == value


def _pick(voices: list[dict], wanted: str | None) -> str:
    if not voices:
        raise RuntimeError("the server lists no voices")
    if wanted is None:
        return str(voices[0]["voice_id"])
    for v in voices:
        if wanted in (v["voice_id"],) or v["name"].lower() == wanted.lower():
            return str(v["voice_id"])
    raise RuntimeError(f"no voice named {wanted!r}; try one of: {', '.join(v['name'] for v in voices)}")


async def _speak_local(
    settings: Settings, text: str, voice: str | None, model: str, output_format: str
) -> bytes:
    from chorus.api.audio_out import render_whole
    from chorus.services.container import Services
    from chorus.services.tts import TTSInput

    fmt = parse_output_format(output_format)
    # One request: worker processes would cost more to start than they save.
    services = await Services.start(settings.model_copy(update={"engine_workers": 0}))
    try:
        principal = await services.accounts.local_principal()
        voices = await services.voices.visible(principal)
        described = [{"voice_id": v.voice_id, "name": v.name} for v in voices]
        default = default_voice_id(settings)
        known = {v["voice_id"] for v in described}
        voice_id = (
            _pick(described, voice) if voice else (default if default in known else _pick(described, None))
        )
        try:
            job = await services.tts.start(
                principal,
                voice_id,
                TTSInput(
                    text=text, model_id=model, output_format_name=output_format,
                    content_type=fmt.media_type, file_extension=fmt.file_extension,
                ),
            )  # fmt: skip
            audio, _, _ = await render_whole(job, fmt)
            await job.finish(audio)
        except ChorusError as exc:
            raise RuntimeError(exc.message) from None
        return audio
    finally:
        await services.close()
