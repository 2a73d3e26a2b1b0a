"""`spendlens serve`: options and the command it execs (no server is started here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spendlens.cli import build_app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("SPENDLENS_STATE_DIR", str(state))
    monkeypatch.setenv("COLUMNS", "200")
    # `serve` setdefaults these in os.environ: record them so the test leaves no trace.
    for name in ("BENTOML_HOME", "BENTOML_DO_NOT_TRACK"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return state


def test_serve_help_shows_host_and_port(env: Path) -> None:
    result = CliRunner().invoke(build_app(), ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "--host" in result.output
    assert "--port" in result.output
    assert "127.0.0.1" in result.output
    assert "3000" in result.output


def test_serve_execs_bentoml_with_local_state(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(os, "execvp", lambda file, argv: calls.append((file, list(argv))))
    result = CliRunner().invoke(build_app(), ["serve", "--port", "3123"])
    assert result.exit_code == 0, result.output
    [(file, argv)] = calls
    assert file == str(Path(sys.executable).parent / "bentoml")
    assert argv[1:] == [
        "serve",
        "serving.service:Spendlens",
        "--host",
        "127.0.0.1",
        "--port",
        "3123",
    ]
    assert os.environ["BENTOML_HOME"] == str(env / "bentoml")
    assert os.environ["BENTOML_DO_NOT_TRACK"] == "true"
