"""`spendlens serve` (a top-level command): run the BentoML API with `bentoml serve`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from spendlens.cli import settings_of

app = typer.Typer(help="Serve the categorization API.")

SERVICE = "serving.service:Spendlens"


def bentoml_command(host: str, port: int) -> list[str]:
    """The argv that serves the API: the venv's `bentoml`, next to this interpreter."""
    bentoml = Path(sys.executable).parent / "bentoml"
    return [str(bentoml), "serve", SERVICE, "--host", host, "--port", str(port)]


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Interface to bind; loopback unless you expose it on purpose.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the HTTP API.")] = 3000,
) -> None:
    """Serve POST /categorize and /categorize_batch (plus /livez, /readyz) with BentoML."""
    settings = settings_of(ctx)
    state = settings.ensure_state_dir()
    os.environ.setdefault("BENTOML_HOME", str(state / "bentoml"))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    # The service reads the same settings; pin the state dir for the child process.
    os.environ.setdefault("SPENDLENS_STATE_DIR", str(state))
    argv = bentoml_command(host, port)
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # noqa: S606 -- replaces this process with the server
