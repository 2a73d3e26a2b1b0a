"""`spendlens keys create|list|revoke` as an operator drives them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spendlens.auth import ApiKeyInfo, Scope
from spendlens.cli import app
from spendlens.settings import Settings
from spendlens.storage.db import engine_from_settings, session_factory
from spendlens.storage.keys import authenticate

KEY_RE = re.compile(r"sl_[0-9a-f]{8}_[A-Za-z0-9_-]+")


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def runner(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose state dir (and so its SQLite database) is private to the test."""
    monkeypatch.setenv("SPENDLENS_STATE_DIR", str(state_dir))
    monkeypatch.delenv("SPENDLENS_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich truncates tables to the terminal width
    return CliRunner()


def _authenticate(state_dir: Path, key: str) -> ApiKeyInfo | None:
    engine = engine_from_settings(Settings(state_dir=state_dir))
    try:
        with session_factory(engine)() as session:
            return authenticate(session, key)
    finally:
        engine.dispose()


def _create(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, ["keys", "create", *args])
    assert result.exit_code == 0, result.output
    keys = KEY_RE.findall(result.output)
    assert len(keys) == 1, result.output
    return str(keys[0])


def test_create_prints_a_key_once_that_then_authenticates(
    runner: CliRunner, state_dir: Path
) -> None:
    result = runner.invoke(app, ["keys", "create", "ci-bot", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    [key] = KEY_RE.findall(result.output)
    assert "cannot be shown again" in result.output
    info = _authenticate(state_dir, key)
    assert info is not None
    assert info.tenant_id == "acme"
    assert info.name == "ci-bot"
    assert info.scopes == {Scope.CATEGORIZE, Scope.FEEDBACK}


def test_create_takes_repeated_and_comma_separated_scopes(
    runner: CliRunner, state_dir: Path
) -> None:
    key = _create(runner, "ops", "--scope", "review", "--scope", "admin,feedback")
    info = _authenticate(state_dir, key)
    assert info is not None
    assert info.tenant_id == "default"
    assert info.scopes == {Scope.REVIEW, Scope.ADMIN, Scope.FEEDBACK}


def test_list_shows_the_keys_but_never_their_secret(runner: CliRunner) -> None:
    key = _create(runner, "ci-bot", "--tenant", "acme", "--scope", "review")
    prefix, secret = key.split("_", 2)[1:]
    listed = runner.invoke(app, ["keys", "list", "--tenant", "acme"])
    assert listed.exit_code == 0, listed.output
    assert "ci-bot" in listed.output
    assert prefix in listed.output
    assert "review" in listed.output
    assert secret not in listed.output
    assert key not in listed.output
    other = runner.invoke(app, ["keys", "list", "--tenant", "beta"])
    assert prefix not in other.output


def test_revoke_stops_the_key_and_list_shows_it_revoked(runner: CliRunner, state_dir: Path) -> None:
    key = _create(runner, "ci-bot", "--tenant", "acme")
    prefix = key.split("_", 2)[1]
    revoked = runner.invoke(app, ["keys", "revoke", prefix, "--tenant", "acme"])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.output
    assert _authenticate(state_dir, key) is None
    listed = runner.invoke(app, ["keys", "list", "--tenant", "acme"])
    row = next(line for line in listed.output.splitlines() if prefix in line)
    # created and revoked: two timestamps (a live key shows only one)
    assert len(re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", row)) == 2, row


def test_an_unknown_scope_exits_2_with_one_clear_line(runner: CliRunner) -> None:
    result = runner.invoke(app, ["keys", "create", "bot", "--scope", "categorize,write"])
    assert result.exit_code == 2
    assert "unknown scope 'write'" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not KEY_RE.search(result.output)


def test_revoking_an_unknown_key_exits_2_with_one_clear_line(runner: CliRunner) -> None:
    result = runner.invoke(app, ["keys", "revoke", "0123abcd", "--tenant", "acme"])
    assert result.exit_code == 2
    assert "error: tenant 'acme' has no API key '0123abcd'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_tenant_cannot_revoke_another_tenants_key(runner: CliRunner, state_dir: Path) -> None:
    key = _create(runner, "bot", "--tenant", "alpha")
    prefix = key.split("_", 2)[1]
    result = runner.invoke(app, ["keys", "revoke", prefix, "--tenant", "beta"])
    assert result.exit_code == 2
    assert _authenticate(state_dir, key) is not None
