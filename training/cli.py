"""`spendlens train | evaluate | promote | rollback | categorize` (top-level commands)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from spendlens.cli import console, err, sessions_for, settings_of, tenant_or_default, user_errors

if TYPE_CHECKING:
    from training.evaluation import EvalReport

app = typer.Typer(help="Train, evaluate, promote and use categorization models.")

TenantOpt = Annotated[str | None, typer.Option("--tenant", "-t", help="Tenant id.")]
TaxonomyOpt = Annotated[
    str | None, typer.Option(help="Taxonomy of the labels (default: 'default', or the file's).")
]
TextColumn = Annotated[str | None, typer.Option(help="Column with the description text.")]
LabelColumn = Annotated[str | None, typer.Option(help="Column with the category label.")]
AmountColumn = Annotated[str | None, typer.Option(help="Column with the signed amount.")]
DateColumn = Annotated[str | None, typer.Option(help="Column with the date.")]
MODEL_SPEC_HELP = "Registered model and alias or version: NAME@champion, NAME@challenger, NAME/3."


def quiet_libraries() -> None:
    """Keep third-party chatter off a user's terminal (MLflow info lines, deprecations)."""
    import logging  # noqa: PLC0415
    import os  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    # MLflow configures its logger from these when it is imported (later, lazily).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    # MLflow's own SQLAlchemy usage and scikit-learn internals warn about their futures.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*noload.*")


def _training_errors() -> tuple[type[Exception], ...]:
    from training.pipeline import TrainingDataError  # noqa: PLC0415
    from training.registry import RegistryError  # noqa: PLC0415

    return (TrainingDataError, RegistryError)


def _taxonomy_of_file(path: Path) -> str:
    """A taxonomy name from a file name: `capitalone_card.csv` -> `capitalone_card`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", path.stem).strip("_").lower() or "custom"


def metrics_table(title: str, reports: dict[str, EvalReport]) -> Table:
    """One column per model, one row per metric."""
    table = Table(title=title)
    table.add_column("metric")
    for name in reports:
        table.add_column(name, justify="right")
    rows = [
        ("rows held out", "n_rows", "{:.0f}"),
        ("  of unseen merchants", "n_unseen", "{:.0f}"),
        ("accuracy", "accuracy", "{:.3f}"),
        ("macro-F1", "macro_f1", "{:.3f}"),
        ("unseen-merchant accuracy", "unseen_merchant_accuracy", "{:.3f}"),
        ("unseen-merchant macro-F1", "unseen_merchant_macro_f1", "{:.3f}"),
        ("seen-merchant accuracy", "seen_accuracy", "{:.3f}"),
        ("ECE", "ece", "{:.3f}"),
        ("coverage at 95% precision", "coverage_at_95_precision", "{:.3f}"),
        ("  threshold", "threshold_at_95_precision", "{:.3f}"),
    ]
    metrics = {name: report.as_metrics() for name, report in reports.items()}
    for label, key, fmt in rows:
        values = [metrics[name].get(key) for name in reports]
        table.add_row(label, *("n/a" if v is None else fmt.format(v) for v in values))
    return table


@app.command()
def train(
    ctx: typer.Context,
    tenant: TenantOpt = None,
    taxonomy: TaxonomyOpt = None,
    data: Annotated[
        Path | None,
        typer.Option(help="A labeled file to load into the tenant and train on.", dir_okay=False),
    ] = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    amount_column: AmountColumn = None,
    date_column: DateColumn = None,
    candidate: Annotated[
        list[str] | None, typer.Option(help="Train only these candidates (linear, lightgbm).")
    ] = None,
    promote: Annotated[
        bool, typer.Option(help="Promote the new challenger through the gate right away.")
    ] = False,
    if_no_champion: Annotated[
        bool, typer.Option(help="Do nothing when the model already has a champion (cold start).")
    ] = False,
) -> None:
    """Train candidates on a tenant's labels, log them to MLflow, register the best."""
    from spendlens.frames import load_frames  # noqa: PLC0415
    from training import pipeline, registry  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    quiet_libraries()
    with user_errors(*_training_errors()):
        if if_no_champion and data is None:
            name = registry.model_name(settings, tenant_id, taxonomy or "default")
            version = registry.alias_version(settings, name, "champion")
            if version is not None:
                console.print(f"{name} already has a champion (version {version})", markup=False)
                return
        sessions = sessions_for(settings)
        if data is not None:
            if not data.exists():
                raise typer.BadParameter(f"{data} does not exist", param_hint="--data")
            taxonomy = taxonomy or _taxonomy_of_file(data)
            _load_labeled_file(
                ctx,
                data,
                tenant_id,
                taxonomy,
                text_column,
                label_column,
                amount_column,
                date_column,
            )
        taxonomy = taxonomy or "default"
        with sessions() as session:
            frames = load_frames(session, tenant_id, taxonomy)
        result = pipeline.train(
            settings,
            frames,
            tenant_id,
            taxonomy,
            source=f"file:{data.name}" if data else "db",
            candidates=candidate,
            progress=lambda message: err.print(f"[dim]{message}[/dim]"),
        )
        console.print(
            metrics_table(
                f"{result.model_name}: {result.n_rows:,} labeled rows",
                {c.name: c.report for c in result.candidates},
            )
        )
        for c in result.candidates:
            console.print(f"run {c.name:<9} {c.run_id}  {c.run_url}", markup=False, soft_wrap=True)
        console.print(
            f"challenger: {result.model_name} version {result.version} ({result.best})",
            markup=False,
        )
        if promote:
            _print_promotion(registry.promote(settings, result.model_name))


def _load_labeled_file(
    ctx: typer.Context,
    path: Path,
    tenant: str,
    taxonomy: str,
    text_column: str | None,
    label_column: str | None,
    amount_column: str | None,
    date_column: str | None,
) -> None:
    """Ingest a user's labeled file into the tenant, its labels into `taxonomy`."""
    from spendlens.ingest.loader import (  # noqa: PLC0415
        IngestOptions,
        csv_options_from_settings,
        default_normalizer,
        ingest_file,
    )
    from training.files import column_map  # noqa: PLC0415

    settings = settings_of(ctx)
    mapping = column_map(text_column, label_column, amount_column, date_column)
    options = IngestOptions(
        tenant=tenant,
        csv=csv_options_from_settings(settings, column_map=mapping),
        taxonomy=taxonomy,
    )
    summary = ingest_file(
        path, sessions_for(settings), settings, options, normalizer=default_normalizer(settings)
    )
    err.print(
        f"{path.name}: {summary.loaded} loaded, {summary.duplicates} already stored, "
        f"{summary.rejected} rejected, {summary.labels} labels in taxonomy {taxonomy!r}",
        markup=False,
    )
    for warning in summary.warnings:
        err.print(f"warning: {warning}", markup=False)


@app.command()
def evaluate(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help=MODEL_SPEC_HELP)],
    data: Annotated[Path, typer.Option(help="A labeled file.", exists=True, dir_okay=False)],
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    amount_column: AmountColumn = None,
    date_column: DateColumn = None,
    tenant: TenantOpt = None,
) -> None:
    """Metrics of a registered model on a labeled file (nothing is stored)."""
    quiet_libraries()
    from training import files, registry  # noqa: PLC0415
    from training.pipeline import evaluate_model  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors(*_training_errors()):
        mapping = files.column_map(text_column, label_column, amount_column, date_column)
        parsed = files.read_file(data, settings, tenant_id, mapping=mapping)
        if parsed.labels.empty:
            raise typer.BadParameter(
                "the file has no labels: name the column with --label-column", param_hint="--data"
            )
        loaded = registry.load_model(settings, model)
        labeled = parsed.txns[parsed.txns["transaction_id"].isin(parsed.labels.index)]
        heldout = files.model_frame(labeled, tenant_id, loaded.taxonomy).assign(
            label=labeled["transaction_id"].map(parsed.labels).to_numpy()
        )
        report = evaluate_model(loaded.model, heldout)
    console.print(metrics_table(f"{model} on {data.name}", {loaded.label: report}))
    if parsed.rejects:
        err.print(f"{len(parsed.rejects)} rows rejected (e.g. line {parsed.rejects[0].line_no})")


@app.command()
def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    force: Annotated[bool, typer.Option(help="Promote even if the gate refuses.")] = False,
) -> None:
    """Move `champion` to the challenger if it passes the gate."""
    quiet_libraries()
    from training import registry  # noqa: PLC0415

    settings = settings_of(ctx)
    with user_errors(*_training_errors()):
        result = registry.promote(settings, name, force=force)
    _print_promotion(result)
    if not result.promoted:
        raise typer.Exit(1)


def _print_promotion(result: object) -> None:
    promoted = getattr(result, "promoted", False)
    console.print(str(result), markup=False, style="green" if promoted else "yellow")


@app.command()
def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
) -> None:
    """Move `champion` back to the version it had before the last promotion."""
    quiet_libraries()
    from training import registry  # noqa: PLC0415

    settings = settings_of(ctx)
    with user_errors(*_training_errors()):
        result = registry.rollback(settings, name)
    console.print(str(result), markup=False)


@app.command()
def categorize(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="A file to categorize.", exists=True, dir_okay=False)
    ],
    model: Annotated[str, typer.Option(help=MODEL_SPEC_HELP)],
    out: Annotated[Path, typer.Option(help="Output CSV.", dir_okay=False)],
    tenant: TenantOpt = None,
    rules: Annotated[bool, typer.Option(help="Apply the tenant's enabled rules first.")] = True,
    text_column: TextColumn = None,
    amount_column: AmountColumn = None,
    date_column: DateColumn = None,
) -> None:
    """Categorize a file offline with rules + model; the output keeps every input column."""
    quiet_libraries()
    from rules.engine import CompiledRules  # noqa: PLC0415
    from rules.store import list_rules  # noqa: PLC0415
    from training import files, registry  # noqa: PLC0415
    from training.categorize import categorize as run_categorize  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors(*_training_errors()):
        mapping = files.column_map(text_column, None, amount_column, date_column)
        parsed = files.read_file(path, settings, tenant_id, mapping=mapping)
        loaded = registry.load_model(settings, model)
        compiled = None
        if rules:
            with sessions_for(settings)() as session:
                compiled = CompiledRules.compile(list_rules(session, tenant_id, enabled_only=True))
        decided = run_categorize(
            parsed.txns,
            files.model_frame(parsed.txns, tenant_id, loaded.taxonomy),
            rules=compiled,
            model=loaded.model,
            model_version=loaded.label,
        )
        output = files.output_frame(parsed, decided)
        out.parent.mkdir(parents=True, exist_ok=True)
        output.to_csv(out, index=False)
    counts = decided["source"].value_counts().to_dict()
    console.print(
        f"{len(decided):,} rows -> {out}  (rule {counts.get('rule', 0):,}, "
        f"model {counts.get('model', 0):,}, rejected {len(parsed.rejects):,})",
        markup=False,
    )
    for reject in parsed.rejects[:10]:
        err.print(f"  line {reject.line_no}: {reject.reason}", markup=False)
