"""``chorus``: serve the API, manage keys, and speak text from the shell."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from chorus.cli.models import models_app
from chorus.config import Settings

app = typer.Typer(
    help="Chorus: a self-hosted voice AI platform that speaks the ElevenLabs API.", no_args_is_help=True
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")


def _settings() -> Settings:
    return Settings()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the API server (data in CHORUS_DATA_DIR, default ./data)."""
    import uvicorn

    from chorus.api.app import create_app

    settings = _settings()
    if workers > 1:
        # Each worker builds its own app from the environment's settings.
        uvicorn.run(
            "chorus.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
        )
        return
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


async def _with_services(settings: Settings, work):  # type: ignore[no-untyped-def]
    from chorus.services.container import Services

    # Key management needs no engines or job runner (a server on the same data directory runs the jobs).
    services = await Services.start(settings.model_copy(update={"engine_workers": 0, "job_workers": 0}))
    try:
        if services.bootstrap_secret:
            typer.echo(f"Created the first administrator API key: {services.bootstrap_secret}", err=True)
        return await work(services)
    finally:
        await services.close()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label for the key.")],
    user: Annotated[str, typer.Option(help="The user the key belongs to (created if new).")] = "default",
    plan: Annotated[str | None, typer.Option(help="Plan of a new user, or a new plan for the user.")] = None,
    permissions: Annotated[
        str, typer.Option(help="'all' or comma-separated ElevenLabs permission names.")
    ] = "all",
    character_limit: Annotated[int | None, typer.Option(help="Credits this key may spend in all.")] = None,
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per minute (default from settings).")
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option(help="Concurrent requests (default from settings).")
    ] = None,
) -> None:
    """Create a key and print its secret (shown only once)."""

    async def work(services):  # type: ignore[no-untyped-def]
        return await services.accounts.create_key(
            name,
            user_name=user,
            plan=plan,
            permissions=permissions,
            character_limit=character_limit,
            rate_limit_per_minute=rate_limit,
            max_concurrent_requests=max_concurrent,
        )

    try:
        created = asyncio.run(_with_services(_settings(), work))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"key_id: {created.key_id}\nuser:   {created.user_name}\nsecret: {created.secret}")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""

    async def work(services):  # type: ignore[no-untyped-def]
        return await services.accounts.list_keys()

    rows = asyncio.run(_with_services(_settings(), work))
    typer.echo(
        f"{'key_id':32}  {'name':24} {'user':12} {'hint':6} {'used':>8} {'limit':>8} state     permissions"
    )
    for key, user in rows:
        limit = "-" if key.character_limit is None else str(key.character_limit)
        perms = key.permissions if isinstance(key.permissions, str) else ",".join(key.permissions)
        state = "revoked" if key.is_disabled else "active"
        typer.echo(
            f"{key.id:32}  {key.name[:24]:24} {user.name[:12]:12} ...{key.hint:3} {key.character_count:>8} "
            f"{limit:>8} {state:9} {perms}"
        )


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="key_id or name of the key.")]) -> None:
    """Revoke a key: it stops working at once."""
    from chorus.errors import ChorusError

    async def work(services):  # type: ignore[no-untyped-def]
        return await services.accounts.revoke_key(key)

    try:
        revoked = asyncio.run(_with_services(_settings(), work))
    except ChorusError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked {revoked.id} ({revoked.name})")


def _remote_options() -> tuple[str | None, str | None]:
    return os.environ.get("CHORUS_SERVER"), os.environ.get("ELEVENLABS_API_KEY") or os.environ.get(
        "CHORUS_API_KEY"
    )


@app.command()
def tts(
    text: Annotated[str | None, typer.Argument(help="Text to speak ('-' reads standard input).")] = None,
    voice: Annotated[str | None, typer.Option("-v", "--voice", help="Voice id or name.")] = None,
    output: Annotated[
        str, typer.Option("-o", "--output", help="Output file, or '-' for stdout.")
    ] = "out.mp3",
    model: Annotated[str, typer.Option("-m", "--model", help="Model id.")] = "eleven_multilingual_v2",
    output_format: Annotated[
        str | None, typer.Option("-f", "--format", help="ElevenLabs output format (default from extension).")
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(help="Use a running server at this URL (or CHORUS_SERVER) instead of in process."),
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="API key for --server (or ELEVENLABS_API_KEY).")] = None,
    list_voices: Annotated[bool, typer.Option("--list-voices", help="List voices and exit.")] = False,
    list_models: Annotated[bool, typer.Option("--list-models", help="List TTS models and exit.")] = False,
) -> None:
    """Speak TEXT, streaming audio to a file or stdout as it is synthesised."""
    from chorus.cli import speak as speaking

    env_server, env_key = _remote_options()
    server, api_key = server or env_server, api_key or env_key
    try:
        if list_voices:
            _print_voices(speaking.list_voices(_settings(), server, api_key))
            return
        if list_models:
            for m in speaking.list_models(_settings(), server, api_key):
                languages = ",".join(lang["language_id"] for lang in m["languages"][:8])
                more = "..." if len(m["languages"]) > 8 else ""
                typer.echo(f"{m['model_id']:26} {m['name']:26} {languages}{more}")
            return
        if text is None:
            raise speaking.CliError("give the text to speak (or --list-voices / --list-models)")
        if text == "-":
            text = sys.stdin.read()
        fmt_name = output_format or _format_for(Path(output))
        if output == "-":
            stream = sys.stdout.buffer

            def sink(data: bytes) -> None:
                stream.write(data)
                stream.flush()

            speaking.speak(_settings(), text=text, voice=voice, model=model, output_format=fmt_name,
                           server=server, api_key=api_key, sink=sink)  # fmt: skip
            return
        path = Path(output)
        size = 0
        with path.open("wb") as handle:

            def sink(data: bytes) -> None:
                nonlocal size
                handle.write(data)
                handle.flush()
                size += len(data)

            speaking.speak(_settings(), text=text, voice=voice, model=model, output_format=fmt_name,
                           server=server, api_key=api_key, sink=sink)  # fmt: skip
        typer.echo(f"wrote {size} bytes to {path}", err=True)
    except (speaking.CliError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def voices(
    server: Annotated[
        str | None, typer.Option(help="List a running server's voices (or CHORUS_SERVER).")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="API key for --server (or ELEVENLABS_API_KEY).")] = None,
) -> None:
    """List the voices (id, name, gender, accent, engine)."""
    from chorus.cli import speak as speaking

    env_server, env_key = _remote_options()
    try:
        _print_voices(speaking.list_voices(_settings(), server or env_server, api_key or env_key))
    except speaking.CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def stt(
    file: Annotated[Path, typer.Argument(help="Audio or video file to transcribe ('-' reads stdin).")],
    output: Annotated[str, typer.Option("-o", "--output", help="Output file, or '-' for stdout.")] = "-",
    output_format: Annotated[
        str | None,
        typer.Option(
            "-f",
            "--format",
            help="txt, json, srt, segmented_json, html, docx or pdf (default: "
            "from the output file's extension, else txt).",
        ),
    ] = None,  # fmt: skip
    diarize: Annotated[bool, typer.Option("--diarize", help="Label who speaks when.")] = False,
    num_speakers: Annotated[int | None, typer.Option(help="At most this many speakers.")] = None,
    language: Annotated[str | None, typer.Option("-l", "--language", help="Language code.")] = None,
    keyterm: Annotated[list[str] | None, typer.Option(help="A term to recognise (repeatable).")] = None,
    server: Annotated[
        str | None,
        typer.Option(help="Use a running server at this URL (or CHORUS_SERVER) instead of in process."),
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="API key for --server (or ELEVENLABS_API_KEY).")] = None,
) -> None:
    """Transcribe FILE to text, JSON or a subtitle/document format."""
    from chorus.cli import transcribe as transcribing
    from chorus.cli.speak import CliError

    env_server, env_key = _remote_options()
    try:
        fmt = transcribing.format_for(output, output_format)
        if str(file) == "-":
            audio, name = sys.stdin.buffer.read(), "stdin"
        elif file.is_file():
            audio, name = file.read_bytes(), file.name
        else:
            raise CliError(f"no such file: {file}")
        data = transcribing.transcribe(
            _settings(), audio=audio, filename=name, output_format=fmt, diarize=diarize,
            num_speakers=num_speakers, language=language, keyterms=keyterm or [],
            server=server or env_server, api_key=api_key or env_key,
        )  # fmt: skip
    except CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(output).write_bytes(data)
        typer.echo(f"wrote {len(data)} bytes to {output}", err=True)


def _print_voices(rows: list[dict]) -> None:  # type: ignore[type-arg]
    for v in rows:
        labels = v.get("labels") or {}
        typer.echo(
            f"{v['voice_id']:22} {v['name']:12} {labels.get('gender', ''):7} {labels.get('accent', ''):12} "
            f"{v.get('engine', '')}"
        )


def _format_for(path: Path) -> str:
    return {
        ".wav": "wav_22050",
        ".pcm": "pcm_22050",
        ".raw": "pcm_22050",
        ".opus": "opus_48000_64",
        ".ogg": "opus_48000_64",
        ".ulaw": "ulaw_8000",
        ".alaw": "alaw_8000",
    }.get(path.suffix.lower(), "mp3_44100_128")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
