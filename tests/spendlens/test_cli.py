"""The command line as a user drives it: init, ingest, list, batches, taxonomy, generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spendlens.cli import app

STATEMENT = (
    "Booking Date,Narration,Value\n"
    "2024-11-05,KING SOOPERS #0412,-53.76\n"
    "2024-11-06,PAYROLL ACME CORP,2500.00\n"
    "2024-11-07,TST* DOG HAUS 123,oops\n"
)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose state dir (and so its SQLite database) is private to the test."""
    monkeypatch.setenv("SPENDLENS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("SPENDLENS_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich truncates tables to the terminal width
    return CliRunner()


def _statement(tmp_path: Path) -> Path:
    path = tmp_path / "statement.csv"
    path.write_text(STATEMENT, encoding="utf-8")
    return path


def test_init_creates_the_state_dir_database_and_default_taxonomy(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "state" / "spendlens.db").exists()
    listed = runner.invoke(app, ["taxonomy", "list"])
    assert "default" in listed.output


def test_ingest_reports_counts_and_a_second_load_adds_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = _statement(tmp_path)
    first = runner.invoke(app, ["ingest", str(path)])
    assert first.exit_code == 0, first.output
    assert "2 loaded" in first.output
    assert "1 rejected" in first.output
    assert "line 4" in first.output
    second = runner.invoke(app, ["ingest", str(path)])
    assert "0 loaded, 2 duplicates" in second.output


def test_explicit_column_map_overrides_detection(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("When,What,HowMuch\n2024-11-05,COFFEE,-3.50\n", encoding="utf-8")
    refused = runner.invoke(app, ["ingest", str(path)])
    assert refused.exit_code == 2
    overrides = ["--map", "date=When", "--map", "description=What", "--map", "amount=HowMuch"]
    mapped = runner.invoke(app, ["ingest", str(path), *overrides])
    assert mapped.exit_code == 0, mapped.output
    assert "1 loaded" in mapped.output


def test_a_non_statement_exits_2_with_one_clear_line_and_no_traceback(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 2
    assert "error:" in result.output
    assert "Traceback" not in result.output


def test_transactions_list_as_json_shows_normalized_merchants(
    runner: CliRunner, tmp_path: Path
) -> None:
    runner.invoke(app, ["ingest", str(_statement(tmp_path))])
    result = runner.invoke(app, ["transactions", "list", "--output", "json"])
    payload = json.loads(result.stdout)
    assert payload["total"] == 2
    merchants = {t["merchant"] for t in payload["transactions"]}
    assert "KING SOOPERS" in merchants
    debit = next(t for t in payload["transactions"] if t["merchant"] == "KING SOOPERS")
    assert (debit["amount"], debit["direction"]) == ("53.76", "debit")


def test_batches_show_lists_every_rejected_row(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(app, ["ingest", str(_statement(tmp_path))])
    listed = runner.invoke(app, ["batches", "list"])
    assert "statement.csv" in listed.output
    from spendlens.settings import Settings  # noqa: PLC0415
    from spendlens.storage.db import engine_from_settings, session_factory  # noqa: PLC0415
    from spendlens.storage.repository import list_batches  # noqa: PLC0415

    with session_factory(engine_from_settings(Settings()))() as session:
        batch_id = list_batches(session, "default")[0].id
    shown = runner.invoke(app, ["batches", "show", batch_id])
    assert "line 4" in shown.output
    other_tenant = runner.invoke(app, ["batches", "show", batch_id, "--tenant", "someone-else"])
    assert other_tenant.exit_code == 2


def test_generate_is_deterministic_for_a_seed(runner: CliRunner, tmp_path: Path) -> None:
    outputs = []
    for name in ("a.csv", "b.csv"):
        out = tmp_path / name
        result = runner.invoke(app, ["generate", "--rows", "50", "--seed", "3", "--out", str(out)])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1]
    assert outputs[0].count("\n") == 51


def test_a_tenant_registers_its_taxonomy_and_a_crosswalk(runner: CliRunner, tmp_path: Path) -> None:
    labels = tmp_path / "mine.txt"
    labels.write_text("Dining\nGroceries\nSalary\n", encoding="utf-8")
    walk = tmp_path / "walk.csv"
    walk.write_text(
        "from,to\nDining,FOOD_AND_DRINK_RESTAURANT\nGroceries,FOOD_AND_DRINK_GROCERIES\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["init"]).exit_code == 0
    registered = runner.invoke(app, ["taxonomy", "register", str(labels), "--name", "mine"])
    assert "registered mine v1 (3 labels)" in registered.output
    again = runner.invoke(app, ["taxonomy", "register", str(labels), "--name", "mine"])
    assert "unchanged" in again.output
    stored = runner.invoke(app, ["taxonomy", "crosswalk", str(walk), "--source", "mine"])
    assert stored.exit_code == 0, stored.output
    assert "Salary" in stored.output  # reported as unmapped
    bad = tmp_path / "bad.csv"
    bad.write_text("from,to\nDining,NOT_A_LABEL\n", encoding="utf-8")
    refused = runner.invoke(app, ["taxonomy", "crosswalk", str(bad), "--source", "mine"])
    assert refused.exit_code == 2
    assert "NOT_A_LABEL" in refused.output


@pytest.mark.postgres
def test_one_env_var_moves_the_cli_onto_postgresql(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_schema_url: tuple[str, str],
) -> None:
    url, schema = postgres_schema_url
    monkeypatch.setenv("SPENDLENS_DATABASE_URL", f"{url}?options=-csearch_path%3D{schema}")
    path = _statement(tmp_path)
    assert runner.invoke(app, ["ingest", str(path)]).exit_code == 0
    again = runner.invoke(app, ["ingest", str(path)])
    assert "0 loaded, 2 duplicates" in again.output
    assert not (tmp_path / "state" / "spendlens.db").exists()
