"""`spendlens monitor`: runs the job on the configured store and prints summary and decision."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from spendlens.cli import build_app, console, sessions_for
from spendlens.settings import Settings
from tests.monitoring.factories import TENANT, add_decisions, add_tenant, decision


@pytest.fixture
def cli_settings(champion_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SPENDLENS_STATE_DIR", str(champion_settings.state_dir))
    monkeypatch.setenv("COLUMNS", "200")
    # The CLI's console may have been created (and sized) by an earlier test in this process.
    monkeypatch.setattr(console, "width", 200)
    return champion_settings


def test_monitor_prints_the_drift_table_accuracy_and_decision(cli_settings: Settings) -> None:
    sessions = sessions_for(cli_settings)
    add_tenant(sessions)
    now = dt.datetime.now(dt.UTC)
    add_decisions(
        sessions,
        [
            decision(now - dt.timedelta(hours=2, minutes=i), amount_minor=2_000 + 37 * i)
            for i in range(60)
        ],
    )

    result = CliRunner().invoke(build_app(), ["monitor", "--tenant", TENANT, "--hours", "6"])

    assert result.exit_code == 0, result.output
    assert "acme/default: ok; champion spendlens-acme-default version 1" in result.output
    assert "60 decisions (model 60)" in result.output
    assert "merchant_novelty" in result.output
    assert "accuracy from feedback: - on 0 decisions" in result.output
    assert "decision: " in result.output
    assert "report: " in result.output
    assert (cli_settings.state_dir / "reports" / "monitoring" / TENANT / "default").is_dir()


def test_monitor_of_an_unknown_tenant_is_a_one_line_error(cli_settings: Settings) -> None:
    result = CliRunner().invoke(build_app(), ["monitor", "--tenant", "nobody"])

    assert result.exit_code == 2
    assert "unknown tenant 'nobody'" in result.output
    assert "Traceback" not in result.output
