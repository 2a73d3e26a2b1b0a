"""The `spendlens` command line: a thin shell over the library (no business logic here)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from typer.models import CommandInfo

from spendlens.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from spendlens.ingest.loader import IngestSummary

# Locals in tracebacks could hold unmasked transaction text: never print them.
app = typer.Typer(
    help="spendlens: load, normalize and categorize money transactions.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
transactions_app = typer.Typer(help="Stored transactions.", no_args_is_help=True)
batches_app = typer.Typer(help="Ingestion batches and their rejected rows.", no_args_is_help=True)
taxonomy_app = typer.Typer(help="Category taxonomies and crosswalks.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Per-tenant API keys with scopes.", no_args_is_help=True)
app.add_typer(transactions_app, name="transactions")
app.add_typer(batches_app, name="batches")
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

console = Console()
err = Console(stderr=True)
T = TypeVar("T")

TenantOpt = Annotated[
    str | None, typer.Option("--tenant", "-t", help="Tenant id (default: settings).")
]


@app.callback()
def main(ctx: typer.Context) -> None:
    """Build the settings once; every command reads them from the context."""
    global console, err
    # Rich fixes a console's width when it is built; build them for the terminal we print to now.
    console, err = Console(), Console(stderr=True)
    ctx.obj = Settings()


def settings_of(ctx: typer.Context) -> Settings:
    """The settings built by the callback (command groups of other packages use this too)."""
    settings = ctx.obj
    assert isinstance(settings, Settings)  # noqa: S101 -- set by the callback above
    return settings


@contextmanager
def user_errors(*extra: type[Exception]) -> Iterator[None]:
    """Turn expected input problems into one red line and exit code 2 (no traceback).

    Args:
        extra: further exception types a command group treats as user errors.
    """
    from spendlens.ingest.types import NotAStatementError  # noqa: PLC0415 -- lazy: fast --help
    from spendlens.storage.repository import TenantError  # noqa: PLC0415
    from spendlens.taxonomy import TaxonomyError  # noqa: PLC0415

    expected: tuple[type[Exception], ...] = (
        NotAStatementError,
        TenantError,
        TaxonomyError,
        FileNotFoundError,
        *extra,
    )
    try:
        yield
    except expected as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def sessions_for(settings: Settings, *, migrate_first: bool = True) -> sessionmaker[Session]:
    """A session factory for the configured database, migrated first by default."""
    from spendlens.storage.db import engine_from_settings, migrate, session_factory  # noqa: PLC0415

    engine = engine_from_settings(settings)
    if migrate_first:
        migrate(engine)
    return session_factory(engine)


def tenant_or_default(settings: Settings, tenant: str | None) -> str:
    """The tenant given on the command line, else the settings' default tenant."""
    return tenant or settings.default_tenant


@app.command()
def init(ctx: typer.Context, tenant: TenantOpt = None) -> None:
    """Create the state dir, run migrations and register the default tenant and taxonomy."""
    from spendlens.storage import repository as repo  # noqa: PLC0415
    from spendlens.storage.taxonomies import ensure_default_taxonomy  # noqa: PLC0415

    settings = settings_of(ctx)
    settings.ensure_state_dir()
    with user_errors():
        sessions = sessions_for(settings)
        with sessions() as session:
            tenant_id = repo.ensure_tenant(session, tenant_or_default(settings, tenant)).id
            taxonomy = ensure_default_taxonomy(session, tenant_id)
            session.commit()
    console.print(f"state dir    {settings.state_dir}")
    console.print(f"database     {_safe_url(settings.resolved_database_url)}")
    console.print(f"tenant       {tenant_id} (taxonomy {taxonomy.name} v{taxonomy.version})")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations to the configured database."""
    sessions_for(settings_of(ctx))
    console.print("database is at the newest schema")


def _parse_map(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise typer.BadParameter(f"expected field=Column, got {pair!r}", param_hint="--map")
        mapping[field.strip().lower()] = column.strip()
    return mapping


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path], typer.Argument(help="Files to load.", exists=True, dir_okay=False)
    ],
    fmt: Annotated[
        Literal["auto", "csv", "json", "sms"], typer.Option("--format", "-f", help="Input format.")
    ] = "auto",
    tenant: TenantOpt = None,
    account: Annotated[str | None, typer.Option(help="Account name for every row.")] = None,
    account_tail: Annotated[
        str | None, typer.Option(help="Last 4 digits of that account (links SMS alerts).")
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="Column override field=Header, e.g. description=Narration."),
    ] = None,
    date_order: Annotated[
        Literal["auto", "dmy", "mdy"], typer.Option(help="How to read 05/11/2024.")
    ] = "auto",
    decimal_mark: Annotated[
        Literal["auto", ".", ","], typer.Option(help="Decimal separator of amounts.")
    ] = "auto",
    amount_sign: Annotated[
        Literal["negative_is_debit", "positive_is_debit"],
        typer.Option(help="Meaning of the sign of a single amount column."),
    ] = "negative_is_debit",
    currency: Annotated[
        str | None, typer.Option(help="Currency when the file has none (default: settings).")
    ] = None,
    taxonomy: Annotated[
        str, typer.Option(help="Taxonomy of a category column; a new name registers one.")
    ] = "default",
    show_rejects: Annotated[int, typer.Option(help="How many rejected rows to print.")] = 20,
) -> None:
    """Load bank-statement CSVs, JSON feeds or SMS alert dumps."""
    from spendlens.ingest.loader import (  # noqa: PLC0415
        IngestOptions,
        csv_options_from_settings,
        default_normalizer,
        ingest_file,
    )

    settings = settings_of(ctx)
    csv_options = csv_options_from_settings(
        settings,
        column_map=_parse_map(mapping or []),
        date_order=date_order,
        decimal_mark=decimal_mark,
        amount_sign=amount_sign,
        default_currency=currency.upper() if currency else None,
    )
    options = IngestOptions(
        tenant=tenant_or_default(settings, tenant),
        format=fmt,
        account=account,
        account_tail=account_tail,
        csv=csv_options,
        taxonomy=taxonomy,
    )
    failed = False
    with user_errors():
        sessions = sessions_for(settings)
        normalizer = default_normalizer(settings)
        for path in paths:
            try:
                with _progress(path.name) as progress:
                    summary = ingest_file(
                        path, sessions, settings, options, normalizer=normalizer, progress=progress
                    )
            except (ValueError, OSError) as exc:
                err.print(f"[red]error:[/red] {path}: {exc}")
                failed = True
                continue
            _print_summary(summary, show_rejects)
    if failed:
        raise typer.Exit(2)


@contextmanager
def _progress(name: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar that only appears for large files."""
    from rich.progress import Progress, TaskID  # noqa: PLC0415

    with Progress(console=err, transient=True) as bar:
        task: list[TaskID] = []

        def update(done: int, total: int) -> None:
            if total < 10_000:
                return
            if not task:
                task.append(bar.add_task(f"storing {name}", total=total))
            bar.update(task[0], completed=done)

        yield update


def _print_summary(summary: IngestSummary, show_rejects: int) -> None:
    source = summary.source.value if summary.source else "?"
    console.print(
        f"[bold]{summary.filename}[/bold] ({source}): "
        f"[green]{summary.loaded} loaded[/green], {summary.duplicates} duplicates, "
        f"{summary.linked} linked, "
        f"[{'red' if summary.rejected else 'green'}]{summary.rejected} rejected[/], "
        f"{summary.labels} labels  [dim]batch {summary.batch_id}[/dim]"
    )
    detected = ", ".join(f"{k}: {v}" for k, v in summary.detected.items())
    if detected:
        console.print(f"  detected  {detected}", markup=False)
    for warning in summary.warnings:
        console.print(f"  [yellow]warning[/yellow] {warning}")
    for reject in summary.rejects[:show_rejects]:
        console.print(f"  line {reject.line_no}: {reject.reason}", markup=False)
    if summary.rejected > show_rejects:
        console.print(
            f"  ... {summary.rejected - show_rejects} more: "
            f"spendlens batches show {summary.batch_id}"
        )


@transactions_app.command("list")
def transactions_list(
    ctx: typer.Context,
    tenant: TenantOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    since: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    until: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    search: Annotated[str | None, typer.Option(help="Text in description or merchant.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    include_linked: Annotated[
        bool, typer.Option("--all", help="Also show SMS alerts linked to a statement row.")
    ] = False,
    output: Annotated[Literal["table", "json"], typer.Option("--output", "-o")] = "table",
) -> None:
    """Show what is stored, newest first."""
    from spendlens.money import from_minor  # noqa: PLC0415
    from spendlens.storage import repository as repo  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    filters = repo.TransactionFilter(
        since=since.date() if since else None,
        until=until.date() if until else None,
        search=search,
        account=account,
        include_linked=include_linked,
    )
    with user_errors(), sessions_for(settings)() as session:
        repo.validate_tenant_id(tenant_id)
        total = repo.count_transactions(session, tenant_id, filters)
        rows = repo.list_transactions(session, tenant_id, filters, limit=limit, offset=offset)
        labels = repo.labels_for(session, tenant_id, [t.id for t in rows])
    if output == "json":
        payload = [
            {
                "id": t.id,
                "date": t.txn_date.isoformat(),
                "description": t.description,
                "merchant": t.merchant_name,
                "merchant_id": t.merchant_id,
                "processor": t.processor,
                "amount": str(from_minor(t.amount_minor, t.currency)),
                "currency": t.currency,
                "direction": t.direction,
                "mcc": t.mcc,
                "mcc_description": t.mcc_description,
                "source": t.source,
                "label": labels.get(t.id),
                "linked_to": t.linked_to_id,
            }
            for t in rows
        ]
        sys.stdout.write(json.dumps({"total": total, "transactions": payload}, indent=2) + "\n")
        return
    table = Table(title=f"{tenant_id}: {len(rows)} of {total} transactions")
    for column in ("date", "description", "merchant", "amount", "cur", "mcc", "src", "label"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for t in rows:
        amount = from_minor(t.amount_minor, t.currency)
        sign = "-" if t.direction == "debit" else "+"
        table.add_row(
            t.txn_date.isoformat(),
            t.description[:40],
            t.merchant_name[:24],
            f"{sign}{amount}",
            t.currency,
            t.mcc or "",
            t.source + ("*" if t.linked_to_id else ""),
            labels.get(t.id, ""),
        )
    console.print(table)


@batches_app.command("list")
def batches_list(ctx: typer.Context, tenant: TenantOpt = None, limit: int = 20) -> None:
    """Recent ingestion batches with their counts."""
    from spendlens.storage import repository as repo  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors(), sessions_for(settings)() as session:
        batches = repo.list_batches(session, repo.validate_tenant_id(tenant_id), limit)
    table = Table(title=f"{tenant_id}: ingestion batches")
    for column in ("batch", "started", "file", "src", "status", "total", "loaded", "dup", "linked"):
        table.add_column(column)
    table.add_column("rejected")
    for b in batches:
        table.add_row(
            b.id,
            b.started_at.strftime("%Y-%m-%d %H:%M"),
            b.filename,
            b.source,
            b.status,
            *(str(n) for n in (b.rows_total, b.loaded, b.duplicates, b.linked, b.rejected)),
        )
    console.print(table)


@batches_app.command("show")
def batches_show(ctx: typer.Context, batch_id: str, tenant: TenantOpt = None) -> None:
    """One batch: what was detected, and every rejected row with its reason."""
    from spendlens.storage import repository as repo  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors(), sessions_for(settings)() as session:
        batch = repo.get_batch(session, repo.validate_tenant_id(tenant_id), batch_id)
        if batch is None:
            err.print(f"[red]error:[/red] tenant {tenant_id!r} has no batch {batch_id!r}")
            raise typer.Exit(2)
        rejects = repo.batch_rejects(session, tenant_id, batch_id)
    console.print(f"[bold]{batch.filename}[/bold] {batch.source} {batch.status}")
    if batch.error:
        console.print(f"  error: {batch.error}", markup=False)
    for key, value in batch.detected.items():
        if value:
            console.print(f"  {key}: {value}", markup=False)
    console.print(
        f"  {batch.rows_total} rows: {batch.loaded} loaded, {batch.duplicates} duplicates, "
        f"{batch.linked} linked, {batch.rejected} rejected"
    )
    for r in rejects:
        console.print(f"  line {r.line_no}: {r.reason}  | {r.excerpt}", markup=False)


@app.command()
def generate(
    rows: Annotated[int, typer.Option(min=1, max=10_000_000)] = 1000,
    seed: int = 7,
    fmt: Annotated[Literal["csv", "json", "sms"], typer.Option("--format", "-f")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Output file (default: stdout).")] = None,
    start: Annotated[dt.datetime, typer.Option(formats=["%Y-%m-%d"])] = dt.datetime(2024, 1, 1),
) -> None:
    """Write realistic labeled synthetic transactions (deterministic for a seed)."""
    from spendlens import generate as gen  # noqa: PLC0415

    txns = gen.generate_transactions(rows, seed=seed, start=start.date())
    writer = {"csv": gen.write_csv, "json": gen.write_json, "sms": gen.write_sms}[fmt]
    if out is None:
        writer(txns, sys.stdout)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer(txns, handle)
    err.print(f"wrote {len(txns)} {fmt} transactions to {out}")


@app.command()
def demo(
    ctx: typer.Context,
    rows: Annotated[int, typer.Option(min=10)] = 3000,
    seed: int = 7,
    tenant: TenantOpt = None,
) -> None:
    """Generate a demo statement and SMS alerts into the state dir and load both."""
    from spendlens import generate as gen  # noqa: PLC0415
    from spendlens.ingest.loader import (  # noqa: PLC0415
        IngestOptions,
        csv_options_from_settings,
        default_normalizer,
        ingest_file,
    )

    settings = settings_of(ctx)
    folder = settings.ensure_state_dir() / "demo"
    folder.mkdir(exist_ok=True)
    txns = gen.generate_transactions(rows, seed=seed)
    statement, alerts = folder / "statement.csv", folder / "alerts.txt"
    with statement.open("w", encoding="utf-8", newline="") as handle:
        gen.write_csv(txns, handle)
    with alerts.open("w", encoding="utf-8") as handle:
        gen.write_sms(txns[: rows // 5], handle)
    with user_errors():
        sessions = sessions_for(settings)
        normalizer = default_normalizer(settings)
        base = IngestOptions(
            tenant=tenant_or_default(settings, tenant), csv=csv_options_from_settings(settings)
        )
        # Alerts carry no year; the received date must be after the generated transactions.
        received = max(t.date for t in txns) + dt.timedelta(days=1)
        for path, options in (
            (statement, base),
            (alerts, IngestOptions(tenant=base.tenant, format="sms", received=received)),
        ):
            summary = ingest_file(path, sessions, settings, options, normalizer=normalizer)
            _print_summary(summary, show_rejects=3)


@taxonomy_app.command("list")
def taxonomy_list(ctx: typer.Context, tenant: TenantOpt = None) -> None:
    """Taxonomies registered for a tenant, every version."""
    from spendlens.storage import taxonomies  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors(), sessions_for(settings)() as session:
        rows = taxonomies.list_taxonomies(session, tenant_id)
    table = Table(title=f"{tenant_id}: taxonomies")
    for column in ("name", "version", "labels"):
        table.add_column(column)
    for name, version, count in rows:
        table.add_row(name, str(version), str(count))
    console.print(table)


@taxonomy_app.command("show")
def taxonomy_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()] = "default",
    version: Annotated[int | None, typer.Option(help="Version (default: newest).")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Every label of a taxonomy with its parent and description."""
    from spendlens.storage import taxonomies  # noqa: PLC0415
    from spendlens.taxonomy import load_default_taxonomy  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors(), sessions_for(settings)() as session:
        found = taxonomies.get_taxonomy(session, tenant_id, name, version)
    if found is None and name == "default":
        found = load_default_taxonomy()
    if found is None:
        err.print(f"[red]error:[/red] tenant {tenant_id!r} has no taxonomy {name!r}")
        raise typer.Exit(2)
    table = Table(title=f"{found.name} v{found.version}: {len(found.categories)} labels")
    for column in ("label", "parent", "description"):
        table.add_column(column)
    for cat in found.categories:
        table.add_row(cat.label, cat.parent or "", cat.description)
    console.print(table)


@taxonomy_app.command("register")
def taxonomy_register(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".yaml, .csv or .txt")],
    name: Annotated[str | None, typer.Option(help="Name (default: from the file).")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Register a tenant's own taxonomy (a new version when the content changed)."""
    from dataclasses import replace  # noqa: PLC0415

    from spendlens.storage import repository as repo  # noqa: PLC0415
    from spendlens.storage import taxonomies  # noqa: PLC0415
    from spendlens.taxonomy import load_taxonomy_file  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors():
        loaded = load_taxonomy_file(path)
        if name:
            loaded = replace(loaded, name=name)
        with sessions_for(settings)() as session:
            repo.ensure_tenant(session, tenant_id)
            stored, created = taxonomies.register_taxonomy(session, tenant_id, loaded)
            session.commit()
    state = "registered" if created else "unchanged, already registered as"
    console.print(f"{state} {stored.name} v{stored.version} ({len(stored.categories)} labels)")


@taxonomy_app.command("crosswalk")
def taxonomy_crosswalk(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: from,to")],
    source: Annotated[str, typer.Option(help="Taxonomy the labels come from.")],
    target: Annotated[str, typer.Option(help="Taxonomy they map onto.")] = "default",
    tenant: TenantOpt = None,
) -> None:
    """Store a crosswalk mapping one taxonomy's labels onto another's."""
    from spendlens.storage import taxonomies  # noqa: PLC0415
    from spendlens.taxonomy import load_crosswalk_file  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors():
        crosswalk = load_crosswalk_file(path, source, target)
        with sessions_for(settings)() as session:
            unmapped = taxonomies.save_crosswalk(session, tenant_id, crosswalk)
            session.commit()
    console.print(f"stored crosswalk {source} -> {target} ({len(crosswalk.mapping)} labels)")
    if unmapped:
        console.print(f"[yellow]unmapped[/yellow] {', '.join(unmapped)}", markup=False)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. the calling service.")],
    tenant: TenantOpt = None,
    scopes: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            "-s",
            help="categorize, feedback, review or admin (admin implies all); repeat or "
            "comma-separate. Default: categorize, feedback.",
        ),
    ] = None,
) -> None:
    """Create an API key; its plaintext is printed once and cannot be shown again."""
    from spendlens.auth import DEFAULT_SCOPES, ApiKeyError, format_scopes  # noqa: PLC0415
    from spendlens.storage import keys  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors(ApiKeyError), sessions_for(settings)() as session:
        plaintext, info = keys.create_key(session, tenant_id, name, scopes or DEFAULT_SCOPES)
        session.commit()
    console.print(
        f"created key {info.name!r} for tenant {info.tenant_id} "
        f"(prefix {info.prefix}, scopes {format_scopes(info.scopes)})",
        markup=False,
        highlight=False,
    )
    console.print(plaintext, markup=False, highlight=False, soft_wrap=True)
    console.print(
        "[yellow]Store this key now: it cannot be shown again (only its hash is kept).[/yellow]"
    )


@keys_app.command("list")
def keys_list(ctx: typer.Context, tenant: TenantOpt = None) -> None:
    """A tenant's API keys, revoked ones included (never a key or its hash)."""
    from spendlens.auth import format_scopes  # noqa: PLC0415
    from spendlens.storage import keys  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors(), sessions_for(settings)() as session:
        found = keys.list_keys(session, tenant_id)
    table = Table(title=f"{tenant_id}: API keys")
    for column in ("name", "prefix", "id", "scopes", "created", "revoked"):
        table.add_column(column)
    for key in found:
        table.add_row(
            key.name,
            key.prefix,
            key.id,
            format_scopes(key.scopes),
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="ID_OR_PREFIX", help="The key's id or prefix.")],
    tenant: TenantOpt = None,
) -> None:
    """Revoke one of a tenant's API keys; it stops authenticating at once."""
    from spendlens.storage import keys  # noqa: PLC0415

    settings = settings_of(ctx)
    tenant_id = tenant_or_default(settings, tenant)
    with user_errors(), sessions_for(settings)() as session:
        found = keys.revoke_key(session, tenant_id, key)
        session.commit()
    if not found:
        err.print(f"error: tenant {tenant_id!r} has no API key {key!r}", markup=False)
        raise typer.Exit(2)
    console.print(f"revoked key {key} of tenant {tenant_id}", markup=False)


@app.command("tenants")
def tenants(ctx: typer.Context) -> None:
    """List tenants (operator view)."""
    from spendlens.storage import repository as repo  # noqa: PLC0415

    with sessions_for(settings_of(ctx))() as session:
        for tenant in repo.list_tenants(session):
            console.print(f"{tenant.id}  {tenant.name}  created {tenant.created_at:%Y-%m-%d}")


PLUGIN_GROUP = "spendlens.cli"
# Typer apps whose commands join the top level (`spendlens train`), not a group of their own.
COMMANDS_GROUP = "spendlens.cli.commands"


def build_app() -> typer.Typer:
    """The CLI with the command groups other packages register under `spendlens.cli`.

    `spendlens/` imports none of rules/, training/, serving/...; they plug in through entry
    points instead, so dependencies keep pointing one way.
    """
    from importlib.metadata import entry_points  # noqa: PLC0415

    known = {group.name for group in app.registered_groups}
    for entry in entry_points(group=PLUGIN_GROUP):
        if entry.name not in known:
            app.add_typer(entry.load(), name=entry.name)
    commands = {_command_name(command) for command in app.registered_commands}
    for entry in entry_points(group=COMMANDS_GROUP):
        plugin: typer.Typer = entry.load()
        for command in plugin.registered_commands:
            if _command_name(command) not in commands:
                app.registered_commands.append(command)
                commands.add(_command_name(command))
    return app


def _command_name(command: CommandInfo) -> str:
    """The name Typer shows for a command (its function's name unless one was given)."""
    if command.name:
        return command.name
    callback = command.callback
    return callback.__name__.replace("_", "-") if callback else ""


def run() -> None:
    """Console-script entry point."""
    build_app()()
