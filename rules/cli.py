"""`spendlens rules ...`: manage a tenant's rules (a command group plugged into the CLI)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import ValidationError
from rich.table import Table

from rules.models import Rule, RuleValidationError, check_categories
from spendlens import cli as base

app = typer.Typer(
    help="Categorization rules: list, add, import, export, test.", no_args_is_help=True
)

TenantOpt = Annotated[str | None, typer.Option("--tenant", "-t", help="Tenant id.")]
_TEXT_FIELDS = ("description", "merchant", "memo")
_TEXT_OPS = ("contains", "equals", "starts_with", "ends_with", "regex", "fuzzy")
_AMOUNT_OPS = {">": "gt", "<": "lt", "=": "equals", "gt": "gt", "lt": "lt", "equals": "equals"}
_DATE_PARTS = ("day_of_week", "day_of_month", "month")


class WhenError(ValueError):
    """A `--when` expression we cannot read."""


def parse_when(expr: str) -> dict[str, Any]:
    """Turn one `--when` expression into a condition mapping.

    Examples: `merchant contains starbucks`, `description regex ^rent\\b`, `amount < 20`,
    `amount between 5 20`, `mcc = 5411`, `mcc in 5411,5499`, `mcc range 3000 3299`,
    `direction credit`, `currency USD,EUR`, `day_of_week 5,6`, `account checking`.
    """
    head, _, rest = expr.strip().partition(" ")
    rest = rest.strip()
    if head in _TEXT_FIELDS:
        op, _, value = rest.partition(" ")
        if op not in _TEXT_OPS or not value.strip():
            raise WhenError(f"{expr!r}: use '{head} <{'|'.join(_TEXT_OPS)}> <text>'")
        return {"kind": "text", "field": head, "op": op, "value": value.strip()}
    if head == "amount":
        parts = rest.split()
        if len(parts) == 3 and parts[0] == "between":
            return {"kind": "amount", "op": "between", "low": parts[1], "high": parts[2]}
        if len(parts) == 2 and parts[0] in _AMOUNT_OPS:
            return {"kind": "amount", "op": _AMOUNT_OPS[parts[0]], "value": parts[1]}
        raise WhenError(f"{expr!r}: use 'amount < 20', 'amount > 5' or 'amount between 5 20'")
    if head == "mcc":
        parts = rest.split()
        if len(parts) == 2 and parts[0] in ("=", "equals"):
            return {"kind": "mcc", "op": "equals", "values": [parts[1]]}
        if len(parts) == 2 and parts[0] == "in":
            return {"kind": "mcc", "op": "in", "values": parts[1].split(",")}
        if len(parts) == 3 and parts[0] == "range":
            return {"kind": "mcc", "op": "range", "low": parts[1], "high": parts[2]}
        raise WhenError(f"{expr!r}: use 'mcc = 5411', 'mcc in 5411,5499' or 'mcc range 3000 3299'")
    if head == "direction":
        return {"kind": "direction", "value": rest}
    if head == "currency":
        return {"kind": "currency", "values": [v for v in re.split(r"[,\s]+", rest) if v]}
    if head in _DATE_PARTS:
        try:
            values = [int(v) for v in re.split(r"[,\s]+", rest) if v]
        except ValueError as exc:
            raise WhenError(f"{expr!r}: {head} takes numbers, e.g. '{head} 1,15'") from exc
        return {"kind": "date", "part": head, "values": values}
    if head == "account":
        return {"kind": "account", "values": [v for v in re.split(r"[,\s]+", rest) if v]}
    raise WhenError(
        f"{expr!r}: start with one of {', '.join((*_TEXT_FIELDS, 'amount', 'mcc', 'direction'))}, "
        f"currency, {', '.join(_DATE_PARTS)}, account"
    )


def _labels(settings: Any, tenant: str, taxonomy: str) -> set[str]:
    from spendlens.storage import taxonomies  # noqa: PLC0415
    from spendlens.taxonomy import load_default_taxonomy  # noqa: PLC0415

    with base.sessions_for(settings)() as session:
        found = taxonomies.get_taxonomy(session, tenant, taxonomy)
    if found is None and taxonomy == "default":
        found = load_default_taxonomy()
    if found is None:
        raise RuleValidationError(f"tenant {tenant!r} has no taxonomy {taxonomy!r}")
    return set(found.labels)


def _save(settings: Any, tenant: str, rules: list[Rule]) -> int:
    from rules import store  # noqa: PLC0415
    from spendlens.storage.repository import ensure_tenant  # noqa: PLC0415

    with base.sessions_for(settings)() as session:
        ensure_tenant(session, tenant)
        version = store.save_rules(session, tenant, rules)
        session.commit()
    return version


@app.command("list")
def list_rules(
    ctx: typer.Context,
    tenant: TenantOpt = None,
    group: Annotated[str | None, typer.Option(help="Only this group, e.g. starter.")] = None,
) -> None:
    """The tenant's rules, highest priority first."""
    from rules import store  # noqa: PLC0415

    settings = base.settings_of(ctx)
    tenant_id = base.tenant_or_default(settings, tenant)
    with base.user_errors(), base.sessions_for(settings)() as session:
        rules = store.list_rules(session, tenant_id)
        version = store.rules_version(session, tenant_id)
    table = Table(title=f"{tenant_id}: {len(rules)} rules (version {version})")
    for column in ("id", "name", "category", "prio", "conf", "on", "by", "group", "when"):
        table.add_column(column)
    for rule in rules:
        if group and rule.group != group:
            continue
        when = f" {rule.match} ".join(_describe(c) for c in rule.conditions)
        table.add_row(
            rule.id,
            rule.name,
            rule.category,
            str(rule.priority),
            f"{rule.confidence:.2f}",
            "yes" if rule.enabled else "no",
            rule.created_by.value,
            rule.group or "",
            when,
        )
    base.console.print(table)


def _describe(condition: Any) -> str:
    """Short text of a condition for listings."""
    data = condition.model_dump(exclude_defaults=True, exclude={"kind"})
    return f"{condition.kind}(" + ", ".join(f"{k}={v}" for k, v in data.items()) + ")"


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the rule is for.")],
    category: Annotated[str, typer.Option(help="A label of the tenant's taxonomy.")],
    when: Annotated[list[str], typer.Option(help="Condition, repeatable: 'merchant contains x'.")],
    any_: Annotated[bool, typer.Option("--any", help="Match when any condition holds.")] = False,
    priority: int = 100,
    confidence: float = 0.95,
    rule_id: Annotated[str | None, typer.Option("--id", help="Default: derived from name.")] = None,
    taxonomy: str = "default",
    tenant: TenantOpt = None,
) -> None:
    """Create a rule from `--when` conditions (validated before it is stored)."""
    from rules.io import rule_id_from_name  # noqa: PLC0415

    settings = base.settings_of(ctx)
    tenant_id = base.tenant_or_default(settings, tenant)
    with base.user_errors(RuleValidationError, WhenError):
        try:
            rule = Rule.model_validate(
                {
                    "id": rule_id or rule_id_from_name(name),
                    "tenant": tenant_id,
                    "name": name,
                    "category": category,
                    "priority": priority,
                    "confidence": confidence,
                    "match": "any" if any_ else "all",
                    "conditions": [parse_when(w) for w in when],
                }
            )
        except ValidationError as exc:
            raise RuleValidationError(_plain(exc)) from None
        check_categories([rule], _labels(settings, tenant_id, taxonomy))
        version = _save(settings, tenant_id, [rule])
    base.console.print(f"added {rule.id} -> {rule.category} (rules version {version})")


def _plain(exc: ValidationError) -> str:
    """Pydantic errors as 'field: message; ...' for one terminal line."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )


@app.command("import")
def import_rules(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(exists=True, dir_okay=False)] = None,
    starter: Annotated[bool, typer.Option(help="Import the shipped starter set.")] = False,
    taxonomy: str = "default",
    tenant: TenantOpt = None,
) -> None:
    """Import rules from a YAML file (or the starter set); all-or-nothing."""
    from rules.io import load_rules_yaml, load_starter_rules  # noqa: PLC0415

    if (path is None) == (not starter):
        base.err.print("[red]error:[/red] give a YAML file or --starter (one of them)")
        raise typer.Exit(2)
    settings = base.settings_of(ctx)
    tenant_id = base.tenant_or_default(settings, tenant)
    with base.user_errors(RuleValidationError):
        labels = _labels(settings, tenant_id, taxonomy)
        if path is not None:
            rules = load_rules_yaml(path.read_text(encoding="utf-8"), labels=labels)
        else:
            rules = load_starter_rules()
            check_categories(rules, labels)
        version = _save(settings, tenant_id, rules)
    base.console.print(f"imported {len(rules)} rules (rules version {version})")


@app.command("export")
def export_rules(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Write the tenant's rules as YAML (the import format)."""
    from rules import store  # noqa: PLC0415
    from rules.io import dump_rules_yaml  # noqa: PLC0415

    settings = base.settings_of(ctx)
    tenant_id = base.tenant_or_default(settings, tenant)
    with base.user_errors(), base.sessions_for(settings)() as session:
        text = dump_rules_yaml(store.list_rules(session, tenant_id))
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        base.err.print(f"wrote {out}")


def _switch(
    ctx: typer.Context, enabled: bool, ids: list[str], group: str | None, tenant: str | None
) -> None:
    from rules import store  # noqa: PLC0415

    if not ids and not group:
        base.err.print("[red]error:[/red] name rule ids or --group")
        raise typer.Exit(2)
    settings = base.settings_of(ctx)
    tenant_id = base.tenant_or_default(settings, tenant)
    with base.user_errors(), base.sessions_for(settings)() as session:
        changed = store.set_enabled(session, tenant_id, enabled, rule_ids=ids, group=group)
        session.commit()
    base.console.print(f"{'enabled' if enabled else 'disabled'} {changed} rules")


@app.command("enable")
def enable(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Argument()] = None,
    group: Annotated[str | None, typer.Option(help="A whole group, e.g. starter.")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Switch rules on, by id or by group."""
    _switch(ctx, True, ids or [], group, tenant)


@app.command("disable")
def disable(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Argument()] = None,
    group: Annotated[str | None, typer.Option(help="A whole group, e.g. starter.")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Switch rules off, by id or by group (they stay stored and listed)."""
    _switch(ctx, False, ids or [], group, tenant)


@app.command("remove")
def remove(ctx: typer.Context, rule_id: str, tenant: TenantOpt = None) -> None:
    """Delete one rule."""
    from rules import store  # noqa: PLC0415

    settings = base.settings_of(ctx)
    tenant_id = base.tenant_or_default(settings, tenant)
    with base.user_errors(), base.sessions_for(settings)() as session:
        removed = store.delete_rule(session, tenant_id, rule_id)
        session.commit()
    if not removed:
        base.err.print(f"[red]error:[/red] tenant {tenant_id!r} has no rule {rule_id!r}")
        raise typer.Exit(2)
    base.console.print(f"removed {rule_id}")


@app.command("test")
def try_transaction(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The description as the bank prints it.")],
    amount: Annotated[str, typer.Option(help="Amount, e.g. 4.50 (money out unless --credit).")],
    date: Annotated[str, typer.Option(help="ISO date, e.g. 2024-11-05.")],
    currency: str = "USD",
    credit: Annotated[bool, typer.Option("--credit", help="Money in.")] = False,
    mcc: str | None = None,
    account: str | None = None,
    tenant: TenantOpt = None,
) -> None:
    """Run one transaction through the tenant's enabled rules and show every match and why."""
    import datetime as dt  # noqa: PLC0415
    from decimal import Decimal, InvalidOperation  # noqa: PLC0415

    from rules import store  # noqa: PLC0415
    from rules.engine import CompiledRules  # noqa: PLC0415
    from rules.inputs import rule_input_of_normalized  # noqa: PLC0415
    from spendlens.ingest.loader import default_normalizer  # noqa: PLC0415
    from spendlens.ingest.types import Direction, RawTransaction, Source  # noqa: PLC0415
    from spendlens.money import to_minor  # noqa: PLC0415

    settings = base.settings_of(ctx)
    tenant_id = base.tenant_or_default(settings, tenant)
    try:
        day = dt.date.fromisoformat(date)
        minor = to_minor(abs(Decimal(amount)), currency.upper())
    except (ValueError, InvalidOperation) as exc:
        base.err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    raw = RawTransaction(
        line_no=1,
        source=Source.CSV,
        txn_date=day,
        description=text,
        amount_minor=minor,
        currency=currency.upper(),
        direction=Direction.CREDIT if credit else Direction.DEBIT,
        mcc=mcc,
    )
    row = default_normalizer(settings)(raw)
    with base.user_errors(), base.sessions_for(settings)() as session:
        rules = store.list_rules(session, tenant_id, enabled_only=True)
    evaluation = CompiledRules.compile(rules).evaluate(rule_input_of_normalized(row, account))
    base.console.print(f"merchant {row.merchant.name}  ({len(rules)} enabled rules)", markup=False)
    if evaluation.winner is None:
        base.console.print("no rule matches")
        return
    for i, match in enumerate(evaluation.matches):
        label = "winner  " if i == 0 else "also    "
        base.console.print(
            f"{label}{match.rule_id} -> {match.category} (priority {match.priority}, "
            f"confidence {match.confidence:.2f}): {'; '.join(match.fired)}",
            markup=False,
        )
    for conflict in evaluation.conflicts:
        base.console.print(
            f"conflict: {conflict.rule_id} has the same priority but says {conflict.category}",
            markup=False,
        )


def _money(minor: int, currency: str, direction: str) -> str:
    """Signed amount for a listing: '-4.50 USD' for money out."""
    from spendlens.money import from_minor  # noqa: PLC0415

    sign = "-" if direction == "debit" else "+"
    return f"{sign}{from_minor(minor, currency)} {currency}"


OutputOpt = Annotated[
    Literal["text", "json"], typer.Option("--output", "-o", help="text for people, json for tools.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Same as --output json.")]
ChunkOpt = Annotated[
    int,
    typer.Option(min=1, help="Transactions read and evaluated at a time (bounds memory)."),
]


def _print_json(data: dict[str, Any]) -> None:
    """One JSON document on stdout (no rich wrapping, so tools can parse it)."""
    import json  # noqa: PLC0415

    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@app.command("preview")
def preview_rules(
    ctx: typer.Context,
    rule_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Rules YAML to add (same ids replace)."),
    ] = None,
    rule_id: Annotated[
        str | None, typer.Option(help="Switch this stored rule on (or off when it is on).")
    ] = None,
    taxonomy: str = "default",
    samples: Annotated[int, typer.Option(min=0, max=50, help="Example rows per change.")] = 3,
    tenant: TenantOpt = None,
    output: OutputOpt = "text",
    json_: JsonOpt = False,
    chunk_rows: ChunkOpt = 50_000,
) -> None:
    """Show how many stored transactions would change category; writes nothing."""
    from rules import store  # noqa: PLC0415
    from rules.analysis import (  # noqa: PLC0415
        preview_as_dict,
        preview_chunks,
        toggle_rule,
        with_rules,
    )
    from rules.engine import CompiledRules  # noqa: PLC0415
    from rules.inputs import iter_row_chunks  # noqa: PLC0415
    from rules.io import load_rules_yaml  # noqa: PLC0415

    if (rule_file is None) == (rule_id is None):
        base.err.print("[red]error:[/red] give --rule-file or --rule-id (one of them)")
        raise typer.Exit(2)
    settings = base.settings_of(ctx)
    tenant_id = base.tenant_or_default(settings, tenant)
    with base.user_errors(RuleValidationError):
        if rule_file is not None:
            # Validated exactly like `rules import`, before anything is read.
            labels = _labels(settings, tenant_id, taxonomy)
            added = load_rules_yaml(rule_file.read_text(encoding="utf-8"), labels=labels)
        # Read-only: the session is closed without a commit.
        with base.sessions_for(settings)() as session:
            current = store.list_rules(session, tenant_id)
            if rule_id is not None:
                try:
                    before, after = toggle_rule(current, rule_id)
                except KeyError:
                    message = f"tenant {tenant_id!r} has no rule {rule_id!r}"
                    raise RuleValidationError(message) from None
                target = next(r for r in current if r.id == rule_id)
                what = f"{'disabling' if target.enabled else 'enabling'} {rule_id}"
            else:
                before = [r for r in current if r.enabled]
                after = with_rules(before, added)
                what = f"adding {len(added)} rules from {rule_file.name if rule_file else ''}"
            # Streamed: a chunk of transactions at a time, however many the tenant has.
            report = preview_chunks(
                CompiledRules.compile(before),
                CompiledRules.compile(after),
                iter_row_chunks(session, tenant_id, chunk_rows=chunk_rows),
                samples=samples,
            )
    if output == "json" or json_:
        _print_json({"tenant": tenant_id, "preview": what, **preview_as_dict(report)})
        return
    print_ = base.console.print
    print_(f"{tenant_id}: preview of {what} (nothing is written)", markup=False)
    print_(
        f"{report.changed} of {report.total} transactions would change category; "
        f"labeled: {report.agree} agree, {report.disagree} disagree",
        markup=False,
    )
    for change in report.changes:
        print_(
            f"{change.before} -> {change.after}: {change.count} "
            f"(agree {change.agree}, disagree {change.disagree}, unlabeled {change.unlabeled})",
            markup=False,
        )
        for s in change.samples:
            print_(
                f"    {s.date.isoformat()}  {s.description}  [{s.merchant}]  "
                f"{_money(s.amount_minor, s.currency, s.direction)}  label {s.label or '-'}",
                markup=False,
            )


@app.command("report")
def report_rules(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=1, help="Dead = no match in this many days.")] = 90,
    taxonomy: str = "default",
    tenant: TenantOpt = None,
    output: OutputOpt = "text",
    json_: JsonOpt = False,
    chunk_rows: ChunkOpt = 50_000,
) -> None:
    """Conflicts, shadowed and dead rules, and coverage over stored transactions.

    The dead-rule window ends at the newest stored transaction (not today), so a report on
    an imported old statement is meaningful and repeatable; with no transactions it ends today.
    """
    import datetime as dt  # noqa: PLC0415

    from rules import store  # noqa: PLC0415
    from rules.analysis import report_as_dict, rule_report_chunks  # noqa: PLC0415
    from rules.engine import CompiledRules  # noqa: PLC0415
    from rules.inputs import iter_row_chunks  # noqa: PLC0415
    from spendlens.storage import taxonomies  # noqa: PLC0415
    from spendlens.taxonomy import load_default_taxonomy  # noqa: PLC0415

    settings = base.settings_of(ctx)
    tenant_id = base.tenant_or_default(settings, tenant)
    with base.user_errors(), base.sessions_for(settings)() as session:
        rules = store.list_rules(session, tenant_id, enabled_only=True)
        found = taxonomies.get_taxonomy(session, tenant_id, taxonomy)
        if found is None and taxonomy == "default":
            found = load_default_taxonomy()
        known = set(found.labels) if found is not None else set()

        def primary_of(category: str) -> str:
            if found is not None and category in known:
                return found.primary_of(category)
            return category

        # Streamed: a chunk of transactions at a time, however many the tenant has.
        report = rule_report_chunks(
            rules,
            CompiledRules.compile(rules),
            iter_row_chunks(session, tenant_id, chunk_rows=chunk_rows),
            days=days,
            today=dt.date.today(),
            primary_of=primary_of,
        )
    if output == "json" or json_:
        _print_json({"tenant": tenant_id, "rules": len(rules), **report_as_dict(report)})
        return
    print_ = base.console.print
    print_(
        f"{tenant_id}: {len(rules)} enabled rules over {report.total} transactions; "
        f"coverage {report.matched}/{report.total} ({report.coverage:.1%})",
        markup=False,
    )
    print_(f"conflicts: {len(report.conflicts)}", markup=False)
    for c in report.conflicts:
        print_(
            f"    {c.rule_a} ({c.category_a}) vs {c.rule_b} ({c.category_b}), priority "
            f"{c.priority}: {c.count} transactions, e.g. {c.example.date.isoformat()} "
            f"{c.example.description}",
            markup=False,
        )
    print_(f"shadowed: {len(report.shadowed)}", markup=False)
    for s in report.shadowed:
        print_(
            f"    {s.rule_id} ({s.category}) matches {s.matched}, never wins; "
            f"{s.by} ({s.by_category}) wins {s.by_count} of them",
            markup=False,
        )
    print_(f"dead (no match since {report.since.isoformat()}): {len(report.dead)}", markup=False)
    for d in report.dead:
        print_(f"    {d.rule_id} ({d.category}): {d.name}", markup=False)
    print_("coverage by primary category:", markup=False)
    for cov in report.categories:
        print_(f"    {cov.category}: {cov.count} ({cov.share:.1%})", markup=False)


@app.command("learn")
def learn(ctx: typer.Context, tenant: TenantOpt = None) -> None:
    """Apply governed learning to the tenant's stored corrections and say what it decided."""
    from rules import governance  # noqa: PLC0415

    settings = base.settings_of(ctx)
    tenant_id = base.tenant_or_default(settings, tenant)
    with base.user_errors(), base.sessions_for(settings)() as session:
        decisions = governance.learn(session, tenant_id, settings)
        session.commit()
    acted = [d for d in decisions if d.action != "none" or d.ambiguous]
    base.console.print(
        f"{tenant_id}: {len(decisions)} merchants with corrections, {len(acted)} changed"
    )
    for decision in acted:
        rule = decision.rule.id if decision.rule else "-"
        flag = " (ambiguous)" if decision.ambiguous else ""
        base.console.print(f"  {decision.action} {rule}{flag}: {decision.reason}", markup=False)
