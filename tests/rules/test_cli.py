"""`spendlens rules ...` as a user drives it (the group is plugged in through an entry point)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules.cli import WhenError, parse_when
from spendlens.cli import build_app


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner with a private state dir and a wide terminal."""
    monkeypatch.setenv("SPENDLENS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("SPENDLENS_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("merchant contains starbucks", {"field": "merchant", "op": "contains"}),
        ("description regex ^rent\\b", {"op": "regex", "value": "^rent\\b"}),
        ("amount < 20", {"kind": "amount", "op": "lt", "value": "20"}),
        ("amount between 5 20", {"op": "between", "low": "5", "high": "20"}),
        ("mcc in 5411,5499", {"kind": "mcc", "op": "in", "values": ["5411", "5499"]}),
        ("mcc range 3000 3299", {"op": "range", "low": "3000", "high": "3299"}),
        ("direction credit", {"kind": "direction", "value": "credit"}),
        ("currency USD, EUR", {"kind": "currency", "values": ["USD", "EUR"]}),
        ("day_of_week 5,6", {"kind": "date", "part": "day_of_week", "values": [5, 6]}),
        ("account checking", {"kind": "account", "values": ["checking"]}),
    ],
)
def test_when_expressions_become_conditions(expr: str, expected: dict[str, object]) -> None:
    parsed = parse_when(expr)
    assert expected.items() <= parsed.items()


@pytest.mark.parametrize(
    "expr",
    ["merchant sounds_like x", "amount about 5", "mcc near 5411", "weather sunny", "month x"],
)
def test_unreadable_when_expressions_say_how_to_write_them(expr: str) -> None:
    with pytest.raises(WhenError, match=r"use|start with|takes numbers"):
        parse_when(expr)


def test_add_list_disable_export_and_remove_a_rule(runner: CliRunner, tmp_path: Path) -> None:
    app = build_app()
    rule = ["--name", "coffee", "--category", "FOOD_AND_DRINK_COFFEE", "--id", "coffee"]
    conditions = ["--when", "merchant contains starbucks", "--when", "amount < 20"]
    added = runner.invoke(app, ["rules", "add", *rule, *conditions])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["rules", "list"])
    assert "coffee" in listed.output
    assert "FOOD_AND_DRINK_COFFEE" in listed.output
    assert runner.invoke(app, ["rules", "disable", "coffee"]).output.startswith("disabled 1")
    out = tmp_path / "rules.yaml"
    assert runner.invoke(app, ["rules", "export", "--out", str(out)]).exit_code == 0
    assert "starbucks" in out.read_text(encoding="utf-8")
    assert runner.invoke(app, ["rules", "remove", "coffee"]).exit_code == 0
    assert runner.invoke(app, ["rules", "remove", "coffee"]).exit_code == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--category", "NOT_A_LABEL", "--when", "merchant contains x"], "NOT_A_LABEL"),
        (["--category", "FOOD_AND_DRINK_COFFEE", "--when", "description regex (["], "regex"),
        (["--category", "FOOD_AND_DRINK_COFFEE", "--when", "amount between 9 1"], "inverted"),
        (["--category", "FOOD_AND_DRINK_COFFEE", "--when", "weather sunny"], "start with"),
    ],
)
def test_an_invalid_rule_is_refused_with_a_clear_message_and_nothing_is_stored(
    runner: CliRunner, args: list[str], message: str
) -> None:
    app = build_app()
    result = runner.invoke(app, ["rules", "add", "--name", "bad", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert "0 rules" in runner.invoke(app, ["rules", "list"]).output


def test_the_starter_set_imports_and_can_be_switched_off_as_a_group(runner: CliRunner) -> None:
    app = build_app()
    imported = runner.invoke(app, ["rules", "import", "--starter"])
    assert imported.exit_code == 0, imported.output
    count = int(imported.output.split()[1])
    assert count > 20
    disabled = runner.invoke(app, ["rules", "disable", "--group", "starter"])
    assert disabled.output.startswith(f"disabled {count}")
    again = runner.invoke(app, ["rules", "import", "--starter"])
    assert f"imported {count}" in again.output  # re-import replaces, never duplicates
    assert f"{count} rules" in runner.invoke(app, ["rules", "list"]).output


def test_rules_test_shows_the_winner_every_other_match_and_why(runner: CliRunner) -> None:
    app = build_app()
    coffee = ["--name", "coffee", "--category", "FOOD_AND_DRINK_COFFEE", "--id", "coffee"]
    runner.invoke(app, ["rules", "add", *coffee, "--when", "merchant contains starbucks"])
    small = ["--name", "small", "--category", "FOOD_AND_DRINK_FAST_FOOD", "--id", "small"]
    runner.invoke(app, ["rules", "add", *small, "--when", "amount < 10", "--priority", "50"])
    result = runner.invoke(
        app, ["rules", "test", "SQ *STARBUCKS #1234", "--amount", "4.50", "--date", "2024-11-05"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    winner = next(line for line in lines if line.startswith("winner"))
    also = next(line for line in lines if line.startswith("also"))
    assert "coffee -> FOOD_AND_DRINK_COFFEE" in winner
    assert "starbucks" in winner
    assert "small -> FOOD_AND_DRINK_FAST_FOOD" in also
    none = runner.invoke(
        app, ["rules", "test", "RENT NOVEMBER", "--amount", "1200", "--date", "2024-11-01"]
    )
    assert "no rule matches" in none.output


def test_rules_learn_turns_two_agreeing_corrections_into_a_listed_learned_rule(
    runner: CliRunner, tmp_path: Path
) -> None:
    from spendlens.settings import Settings  # noqa: PLC0415
    from spendlens.storage.db import engine_from_settings, session_factory  # noqa: PLC0415
    from spendlens.storage.repository import list_transactions, record_feedback  # noqa: PLC0415
    from spendlens.storage.taxonomies import taxonomy_id  # noqa: PLC0415

    app = build_app()
    path = tmp_path / "s.csv"
    path.write_text(
        "Date,Description,Amount\n2024-11-01,MEGAMART 12,-20.00\n2024-11-02,MEGAMART 12,-9.00\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["ingest", str(path)]).exit_code == 0
    with session_factory(engine_from_settings(Settings()))() as session:
        tax = taxonomy_id(session, "default", "default")
        for txn in list_transactions(session, "default"):
            record_feedback(session, "default", txn.id, "FOOD_AND_DRINK_GROCERIES", tax, by="a")
        session.commit()
    learned = runner.invoke(app, ["rules", "learn"])
    assert learned.exit_code == 0, learned.output
    assert "1 changed" in learned.output
    assert "learned from corrections" in learned.output
    listed = runner.invoke(app, ["rules", "list", "--group", "learned"])
    assert "FOOD_AND_DRINK_GROCERIES" in listed.output
    assert "learned" in listed.output
