"""``chorus models``: list, pull and remove neural models (Piper, Kokoro, Whisper) in the models folder."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from chorus.config import Settings

models_app = typer.Typer(
    help="List, download and remove neural models (Piper voices, Kokoro, faster-whisper).",
    no_args_is_help=True,
)


def _settings() -> Settings:
    return Settings()


@models_app.command("list")
def models_list(
    show_catalogue: Annotated[
        bool, typer.Option("--catalogue", help="Also list suggested models that can be pulled.")
    ] = False,
) -> None:
    """List the models installed in the models folder (CHORUS_MODELS_DIR, default <data dir>/models)."""
    from chorus.models.store import ModelStore, catalogue, human_size

    store = ModelStore.from_settings(_settings())
    installed = store.list_models()
    typer.echo(f"models folder: {store.root}")
    if not installed:
        typer.echo("no models installed; try: chorus models pull en_US-lessac-medium")
    else:
        typer.echo(f"{'name':32} {'kind':9} {'size':>9}  source")
        for model in installed:
            source = model.source or "(copied by hand)"
            typer.echo(f"{model.name[:32]:32} {model.kind:9} {human_size(model.size_bytes):>9}  {source}")
    if show_catalogue:
        names = {model.name for model in installed}
        typer.echo("\nsuggested (any Piper voice name from rhasspy/piper-voices works too):")
        for entry in catalogue():
            mark = "installed" if entry.name in names else ""
            typer.echo(f"  {entry.name:30} {entry.description} {mark}".rstrip())


@models_app.command("pull")
def models_pull(
    name: Annotated[
        str,
        typer.Argument(
            help="A Piper voice (en_US-lessac-medium), kokoro-v1.0, faster-whisper-small or openvoice-v2."
        ),
    ],
    hub: Annotated[
        str | None,
        typer.Option("--hub", help="Hugging Face compatible hub URL (default: CHORUS_MODEL_HUB_URL)."),
    ] = None,
    revision: Annotated[str | None, typer.Option(help="Repository revision (branch, tag or commit).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a folder in the way even if it was not pulled.")
    ] = False,
) -> None:
    """Download a model into the models folder (atomically: a failed download installs nothing)."""
    from chorus.models.store import ModelError, ModelStore, human_size

    settings = _settings()
    store = ModelStore.from_settings(settings)
    hub_url = hub or settings.model_hub_url
    state = {"file": "", "shown": -1}

    def progress(file: str, done: int, total: int | None) -> None:
        if not sys.stderr.isatty():
            if file != state["file"]:
                state["file"] = file
                typer.echo(f"  {file}", err=True)
            return
        percent = int(done * 100 / total) if total else -1
        if file != state["file"] or percent != state["shown"]:
            state["file"], state["shown"] = file, percent
            shown = f"{percent:3d}%" if percent >= 0 else human_size(done)
            typer.echo(f"\r  {file}: {shown}", nl=False, err=True)

    typer.echo(f"pulling {name} from {hub_url}", err=True)
    try:
        installed = store.pull(name, hub_url, revision=revision, force=force, progress=progress)
    except ModelError as exc:
        if sys.stderr.isatty():
            typer.echo("", err=True)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if sys.stderr.isatty():
        typer.echo("", err=True)
    typer.echo(f"installed {installed.name} ({human_size(installed.size_bytes)}) in {installed.path}")


@models_app.command("remove")
def models_remove(
    name: Annotated[str, typer.Argument(help="The model's name, as `chorus models list` shows it.")],
) -> None:
    """Delete an installed model."""
    from chorus.models.store import ModelError, ModelStore

    store = ModelStore.from_settings(_settings())
    try:
        removed = store.remove(name)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"removed {removed.name} ({removed.path})")
