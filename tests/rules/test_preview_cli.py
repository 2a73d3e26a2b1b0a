"""`spendlens rules preview` and `rules report` on ingested statements, as a user runs them.

Every test runs twice: on SQLite and on PostgreSQL (an empty schema of its own, which the CLI
reaches through SPENDLENS_DATABASE_URL alone).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, inspect, select, table, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from rules.inputs import iter_row_chunks, load_rows
from spendlens.cli import build_app
from spendlens.storage.models import Transaction

# Labels: one agrees with a coffee rule, one disagrees, one row is unlabeled; the card number
# is masked at ingest and must stay masked in the samples.
STATEMENT_A = (
    "Date,Description,Amount,Category\n"
    "2024-11-01,SQ *STARBUCKS #1234 DENVER,-4.50,FOOD_AND_DRINK_COFFEE\n"
    "2024-11-02,STARBUCKS STORE 99,-5.25,FOOD_AND_DRINK_FAST_FOOD\n"
    "2024-11-03,STARBUCKS 4111111111111111,-6.00,\n"
    "2024-11-04,KING SOOPERS #0412,-53.76,FOOD_AND_DRINK_GROCERIES\n"
    "2024-11-06,PAYROLL ACME CORP,2500.00,\n"
)
# Another tenant with more coffee: none of it may show up in tenant a's numbers.
STATEMENT_B = (
    "Date,Description,Amount\n"
    "2024-11-01,STARBUCKS STORE 7,-3.10\n"
    "2024-11-02,STARBUCKS STORE 8,-3.20\n"
    "2024-11-03,STARBUCKS STORE 9,-3.30\n"
)
COFFEE_RULES = """
rules:
  - id: coffee
    name: coffee
    category: FOOD_AND_DRINK_COFFEE
    conditions:
      - {kind: text, field: merchant, op: contains, value: starbucks}
"""


DatabaseOf = Callable[[], Engine]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> DatabaseOf:
    """Point the CLI at SQLite (the state dir's file) or at a fresh PostgreSQL schema.

    Returns a factory of engines on the same database, for reading it behind the CLI's back.
    """
    monkeypatch.setenv("SPENDLENS_STATE_DIR", str(tmp_path / "state"))
    if request.param == "sqlite":
        monkeypatch.delenv("SPENDLENS_DATABASE_URL", raising=False)
        return lambda: create_engine(f"sqlite:///{tmp_path / 'state' / 'spendlens.db'}")
    # Fails under CI=true when PostgreSQL is unreachable, skips with the reason otherwise.
    url, schema = request.getfixturevalue("postgres_schema_url")
    monkeypatch.setenv("SPENDLENS_DATABASE_URL", f"{url}?options=-csearch_path%3D{schema}")
    return lambda: create_engine(url, connect_args={"options": f"-csearch_path={schema}"})


@pytest.fixture
def runner(database: DatabaseOf, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner with a private database and a wide terminal."""
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


@pytest.fixture
def engine(database: DatabaseOf) -> Iterator[Engine]:
    """An engine on the database the CLI uses."""
    eng = database()
    yield eng
    eng.dispose()


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(build_app(), list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def loaded(runner: CliRunner, tmp_path: Path) -> Path:
    """Tenants a and b with statements, tenant a with a grocery rule; returns the rules file."""
    for tenant, statement in (("a", STATEMENT_A), ("b", STATEMENT_B)):
        path = tmp_path / f"{tenant}.csv"
        path.write_text(statement, encoding="utf-8")
        _ok(runner, "ingest", str(path), "--tenant", tenant)
    grocery = ["--name", "grocery", "--id", "grocery", "--category", "FOOD_AND_DRINK_GROCERIES"]
    _ok(runner, "rules", "add", *grocery, "--when", "merchant contains king", "--tenant", "a")
    rules = tmp_path / "coffee.yaml"
    rules.write_text(COFFEE_RULES, encoding="utf-8")
    return rules


def _snapshot(engine: Engine) -> dict[str, Any]:
    """Row count of every table, plus the full rules and rule-version tables."""
    with engine.connect() as conn:
        counts = {
            name: conn.scalar(select(func.count()).select_from(table(name)))
            for name in inspect(conn).get_table_names()
        }
        rules = conn.execute(text("SELECT * FROM rules ORDER BY tenant_id, id")).all()
        versions = conn.execute(text("SELECT * FROM rule_set_versions ORDER BY 1")).all()
    return {"counts": counts, "rules": rules, "versions": versions}


def test_preview_of_a_rule_file_counts_changes_and_label_agreement(
    runner: CliRunner, loaded: Path
) -> None:
    output = _ok(runner, "rules", "preview", "--rule-file", str(loaded), "--tenant", "a")
    assert "3 of 5 transactions would change category" in output  # b's coffee is not counted
    assert "labeled: 1 agree, 1 disagree" in output
    assert "(none) -> FOOD_AND_DRINK_COFFEE: 3 (agree 1, disagree 1, unlabeled 1)" in output
    assert "STARBUCKS STORE 99" in output
    assert "-5.25 USD" in output
    assert "4111" not in output  # the card number stays masked
    assert "STORE 7" not in output  # tenant b's transactions are never read


def test_load_rows_reads_only_the_tenants_canonical_transactions_with_labels(
    loaded: Path, engine: Engine
) -> None:
    with Session(engine) as session:
        rows = load_rows(session, "a")
        since = load_rows(session, "a", since=date(2024, 11, 4))
        tenants = set(
            session.scalars(
                select(Transaction.tenant_id).where(Transaction.id.in_([r.id for r in rows]))
            )
        )
    assert tenants == {"a"}
    assert [r.merchant for r in rows][:2] == ["STARBUCKS", "STARBUCKS"]  # oldest first
    assert [r.label for r in rows] == [
        "FOOD_AND_DRINK_COFFEE",
        "FOOD_AND_DRINK_FAST_FOOD",
        None,
        "FOOD_AND_DRINK_GROCERIES",
        None,
    ]
    assert rows[0].input.account is not None  # joined from the tenant's account
    assert [r.date.day for r in since] == [4, 6]


def test_row_chunks_are_load_rows_cut_in_order(loaded: Path, engine: Engine) -> None:
    with Session(engine) as session:
        everything = load_rows(session, "a")
        chunks = list(iter_row_chunks(session, "a", chunk_rows=2))
        since = list(iter_row_chunks(session, "a", since=date(2024, 11, 4), chunk_rows=1))
        with pytest.raises(ValueError, match="at least 1"):
            next(iter_row_chunks(session, "a", chunk_rows=0))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [row for chunk in chunks for row in chunk] == everything
    assert [[r.date.day for r in c] for c in since] == [[4], [6]]


def test_preview_writes_nothing(runner: CliRunner, loaded: Path, engine: Engine) -> None:
    before = _snapshot(engine)
    assert before["counts"]["transactions"] == 8
    assert before["rules"]
    _ok(runner, "rules", "preview", "--rule-file", str(loaded), "--tenant", "a")
    _ok(runner, "rules", "preview", "--rule-id", "grocery", "--tenant", "a")
    _ok(runner, "rules", "report", "--tenant", "a")
    assert _snapshot(engine) == before


def test_preview_is_tenant_scoped(runner: CliRunner, loaded: Path) -> None:
    output = _ok(runner, "rules", "preview", "--rule-file", str(loaded), "--tenant", "b")
    assert "3 of 3 transactions would change category" in output
    assert "labeled: 0 agree, 0 disagree" in output
    assert "KING SOOPERS" not in output
    assert "DENVER" not in output
    # Tenant b has no `grocery` rule: a's rule ids are not visible either.
    refused = runner.invoke(build_app(), ["rules", "preview", "--rule-id", "grocery", "-t", "b"])
    assert refused.exit_code == 2
    assert "has no rule 'grocery'" in refused.output


def test_preview_of_switching_a_rule_off_shows_what_removing_it_changes(
    runner: CliRunner, loaded: Path
) -> None:
    output = _ok(runner, "rules", "preview", "--rule-id", "grocery", "--tenant", "a")
    assert "disabling grocery" in output
    assert "1 of 5 transactions would change category; labeled: 0 agree, 1 disagree" in output
    assert "FOOD_AND_DRINK_GROCERIES -> (none): 1" in output
    _ok(runner, "rules", "disable", "grocery", "--tenant", "a")
    output = _ok(runner, "rules", "preview", "--rule-id", "grocery", "--tenant", "a")
    assert "enabling grocery" in output
    assert "(none) -> FOOD_AND_DRINK_GROCERIES: 1 (agree 1, disagree 0, unlabeled 0)" in output


def test_preview_refuses_an_invalid_rule_file_and_needs_exactly_one_source(
    runner: CliRunner, loaded: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(COFFEE_RULES.replace("FOOD_AND_DRINK_COFFEE", "NOT_A_LABEL"), encoding="utf-8")
    refused = runner.invoke(build_app(), ["rules", "preview", "--rule-file", str(bad), "-t", "a"])
    assert refused.exit_code == 2
    assert "NOT_A_LABEL" in refused.output
    neither = runner.invoke(build_app(), ["rules", "preview", "-t", "a"])
    assert neither.exit_code == 2
    both = ["rules", "preview", "--rule-file", str(loaded), "--rule-id", "grocery", "-t", "a"]
    assert runner.invoke(build_app(), both).exit_code == 2


def test_report_lists_conflicts_shadowed_dead_rules_and_coverage(
    runner: CliRunner, loaded: Path
) -> None:
    _ok(runner, "rules", "import", str(loaded), "--tenant", "a")
    # Same priority as `coffee`, another category: a conflict, and it loses every tie (by id).
    snack = ["--name", "snack", "--id", "snack", "--category", "FOOD_AND_DRINK_FAST_FOOD"]
    _ok(runner, "rules", "add", *snack, "--when", "merchant contains starbucks", "-t", "a")
    travel = ["--name", "travel", "--id", "travel", "--category", "TRAVEL_FLIGHTS"]
    _ok(runner, "rules", "add", *travel, "--when", "merchant contains airline", "-t", "a")

    output = _ok(runner, "rules", "report", "--tenant", "a", "--days", "30")

    assert "4 enabled rules over 5 transactions; coverage 4/5 (80.0%)" in output
    assert "conflicts: 1" in output
    assert "coffee (FOOD_AND_DRINK_COFFEE) vs snack (FOOD_AND_DRINK_FAST_FOOD)" in output
    assert "priority 100: 3 transactions" in output
    assert "shadowed: 1" in output
    assert "snack (FOOD_AND_DRINK_FAST_FOOD) matches 3, never wins; coffee" in output
    assert "dead (no match since 2024-10-07): 1" in output  # 30 days before the newest row
    assert "travel (TRAVEL_FLIGHTS)" in output
    assert "FOOD_AND_DRINK: 4 (80.0%)" in output


def test_preview_and_report_print_json_that_tools_can_read(runner: CliRunner, loaded: Path) -> None:
    preview = json.loads(
        _ok(runner, "rules", "preview", "--rule-file", str(loaded), "-t", "a", "-o", "json")
    )
    assert (preview["total"], preview["changed"]) == (5, 3)
    assert (preview["agree"], preview["disagree"]) == (1, 1)
    (change,) = preview["changes"]
    assert change["before"] == "(none)"
    assert change["after"] == "FOOD_AND_DRINK_COFFEE"
    assert change["unlabeled"] == 1
    assert all("4111" not in s["description"] for s in change["samples"])
    report = json.loads(_ok(runner, "rules", "report", "-t", "a", "-o", "json"))
    assert report["rules"] == 1
    assert (report["total"], report["matched"]) == (5, 1)
    assert report["coverage"] == pytest.approx(0.2)
    assert report["dead"] == []
    assert report["since"] < "2024-11-06"


def test_json_flag_prints_the_same_document_as_output_json(runner: CliRunner, loaded: Path) -> None:
    preview = ["rules", "preview", "--rule-file", str(loaded), "-t", "a"]
    assert json.loads(_ok(runner, *preview, "--json")) == json.loads(
        _ok(runner, *preview, "-o", "json")
    )
    report = ["rules", "report", "-t", "a"]
    assert json.loads(_ok(runner, *report, "--json")) == json.loads(
        _ok(runner, *report, "-o", "json")
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["preview", "--rule-id", "coffee"], "3 of 5 transactions would change category"),
        (["report", "--days", "3"], "snack (FOOD_AND_DRINK_FAST_FOOD) matches 3, never wins"),
    ],
    ids=["preview", "report"],
)
def test_small_chunks_give_the_same_output_as_one_chunk(
    runner: CliRunner, loaded: Path, args: list[str], expected: str
) -> None:
    _ok(runner, "rules", "import", str(loaded), "--tenant", "a")
    snack = ["--name", "snack", "--id", "snack", "--category", "FOOD_AND_DRINK_FAST_FOOD"]
    _ok(runner, "rules", "add", *snack, "--when", "merchant contains starbucks", "-t", "a")
    command = ["rules", *args, "-t", "a"]
    whole = _ok(runner, *command)
    assert expected in whole
    assert _ok(runner, *command, "--chunk-rows", "1") == whole
    assert json.loads(_ok(runner, *command, "--chunk-rows", "2", "--json")) == json.loads(
        _ok(runner, *command, "--json")
    )
    refused = runner.invoke(build_app(), [*command, "--chunk-rows", "0"])
    assert refused.exit_code == 2
