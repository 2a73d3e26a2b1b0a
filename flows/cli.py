"""`spendlens flows list | run NAME [--param k=v]`: run a Prefect flow from the shell."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from spendlens.cli import console, settings_of, user_errors

app = typer.Typer(
    help="Prefect flows: monitor, retrain, backfill, build_features, train, promote.",
    no_args_is_help=True,
)


def prefect_environment(state_dir: Path) -> None:
    """Keep Prefect's home, database and UI files in the state dir unless configured."""
    os.environ.setdefault("PREFECT_HOME", str(state_dir / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_UI_STATIC_DIRECTORY", str(state_dir / "prefect" / "ui"))


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs; values are JSON when they parse as JSON (true, 3), else strings."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint="--param")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


@app.command("list")
def list_flows() -> None:
    """The flows and their parameters."""
    from flows.registry import FLOWS  # noqa: PLC0415

    for name, flow in FLOWS.items():
        console.print(f"{name:<16} {flow.description or ''}", markup=False)


@app.command()
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Flow name (see `spendlens flows list`).")],
    param: Annotated[list[str] | None, typer.Option(help="Flow parameter key=value.")] = None,
) -> None:
    """Run one flow now, in this process (visible in the dashboard when PREFECT_API_URL is set)."""
    settings = settings_of(ctx)
    params = parse_params(param or [])
    prefect_environment(settings.ensure_state_dir())
    from flows.registry import FLOWS  # noqa: PLC0415

    if name not in FLOWS:
        raise typer.BadParameter(f"unknown flow {name!r}; flows: {', '.join(FLOWS)}")
    with user_errors(TypeError):
        result = FLOWS[name](**params)
    console.print_json(json.dumps(result, default=str))


@app.command()
def serve(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Default tenant of every deployment.")] = None,
    taxonomy: Annotated[str, typer.Option(help="Default taxonomy.")] = "default",
) -> None:
    """Register the deployments with the Prefect server and run their flows until stopped.

    `monitor` runs on an interval, `retrain` nightly, the rest on demand; trigger any of them
    from the dashboard with parameters. Needs PREFECT_API_URL (`make up` sets it).
    """
    settings = settings_of(ctx)
    prefect_environment(settings.ensure_state_dir())
    if not os.environ.get("PREFECT_API_URL"):
        raise typer.BadParameter(
            "PREFECT_API_URL is not set: start a Prefect server (make up starts one on "
            "127.0.0.1:4200) and export PREFECT_API_URL=http://127.0.0.1:4200/api",
            param_hint="PREFECT_API_URL",
        )
    from prefect import serve as prefect_serve  # noqa: PLC0415

    from flows.registry import build_deployments, deployment_specs  # noqa: PLC0415

    for spec in deployment_specs(settings):
        console.print(f"{spec.flow}/{spec.name:<10} {spec.schedule}", markup=False)
    prefect_serve(*build_deployments(settings, tenant or settings.default_tenant, taxonomy))
