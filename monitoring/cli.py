"""`spendlens monitor` (a top-level command): one monitoring run, its summary and decision."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from spendlens.cli import console, sessions_for, settings_of, tenant_or_default, user_errors

if TYPE_CHECKING:
    from monitoring.job import MonitorResult

app = typer.Typer(help="Monitor drift and accuracy of the serving model.")

DEFAULT_TAXONOMY = "default"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render(result: MonitorResult) -> list[str | Table]:
    """What the command prints: header lines, the drift table, accuracy and the decision."""
    out: list[str | Table] = []
    champion = result.champion
    model = "none" if champion is None else f"{champion.name} version {champion.version}"
    out.append(
        f"[bold]{result.tenant}/{result.taxonomy}[/bold]: {result.status}; champion {model}; "
        f"window {result.window.start:%Y-%m-%d %H:%M} - {result.window.end:%Y-%m-%d %H:%M} UTC"
    )
    if result.note:
        out.append(f"[yellow]{result.note}[/yellow]")
    summary = result.summary
    if summary is not None:
        counts = summary.counts
        sources = ", ".join(f"{k} {v}" for k, v in sorted(counts.by_source.items())) or "-"
        out.append(
            f"{counts.decisions:,} decisions ({sources}); reference rows {counts.reference_rows:,}"
        )
        columns = (*summary.data_drift, *summary.prediction_drift)
        if columns:
            share = "-" if summary.drift_share is None else f"{summary.drift_share:.2f}"
            table = Table(title=f"Drift (data drift share {share})")
            for name in ("column", "kind", "method", "score", "threshold", "drifted"):
                table.add_column(name)
            for c in columns:
                flag = "[red]yes[/red]" if c.drifted else "no"
                table.add_row(
                    c.column, str(c.kind), c.method, f"{c.score:.4g}", f"{c.threshold:g}", flag
                )
            out.append(table)
        acc = summary.accuracy
        out.append(
            f"accuracy from feedback: {_pct(acc.accuracy)} on {acc.n_feedback} decisions "
            f"(model {_pct(acc.model_accuracy)} n={acc.model_n}, auto {_pct(acc.auto_accuracy)} "
            f"n={acc.auto_n}, ECE {'-' if acc.ece is None else f'{acc.ece:.3f}'})"
        )
    verdict = "[red]RETRAIN[/red]" if result.retrain else "[green]no retrain[/green]"
    out.append(f"decision: {verdict}: {result.decision.reason}")
    if result.html_path is not None:
        out.append(f"report: {result.html_path}")
    if result.json_path is not None:
        out.append(f"summary: {result.json_path}")
    if result.mlflow_run_id is not None:
        out.append(f"MLflow run: {result.mlflow_run_id}")
    return out


@app.command()
def monitor(
    ctx: typer.Context,
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="Tenant id (default: settings).")
    ] = None,
    taxonomy: Annotated[str, typer.Option(help="Taxonomy of the model.")] = DEFAULT_TAXONOMY,
    hours: Annotated[
        float | None,
        typer.Option(min=0.01, help="Window in hours (default SPENDLENS_MONITOR_WINDOW_HOURS)."),
    ] = None,
    text_drift: Annotated[
        bool | None,
        typer.Option("--text-drift/--no-text-drift", help="Also test text drift (slow)."),
    ] = None,
) -> None:
    """Drift of recent decisions vs the champion's training data, accuracy from feedback, and
    whether to retrain. Exit code 0 either way; the decision is printed and stored."""
    from training.cli import quiet_libraries  # noqa: PLC0415

    quiet_libraries()
    from monitoring.job import run_monitor  # noqa: PLC0415

    settings = settings_of(ctx)
    settings.ensure_state_dir()
    with user_errors():
        result = run_monitor(
            settings,
            sessions_for(settings),
            tenant_or_default(settings, tenant),
            taxonomy,
            hours=hours,
            text_drift=text_drift,
        )
    for item in render(result):
        console.print(item)
