"""`spendlens flows`: parameters from the shell, and clear errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flows.cli import parse_params
from spendlens.cli import build_app


def test_flow_parameters_are_json_when_they_parse_and_strings_otherwise() -> None:
    params = parse_params(["tenant=acme", "force=true", "limit=3", "taxonomy=my tax"])
    assert params == {"tenant": "acme", "force": True, "limit": 3, "taxonomy": "my tax"}


@pytest.mark.parametrize("bad", ["tenant", "=acme", "   =x"])
def test_a_parameter_without_a_name_is_refused(bad: str) -> None:
    with pytest.raises(typer.BadParameter, match="key=value"):
        parse_params([bad])


def test_flows_list_names_every_flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPENDLENS_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(build_app(), ["flows", "list"])
    assert result.exit_code == 0, result.output
    for name in ("build_features", "train", "promote"):
        assert name in result.output


def test_running_an_unknown_flow_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SPENDLENS_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(build_app(), ["flows", "run", "nope"])
    assert result.exit_code == 2
    assert "unknown flow 'nope'" in result.output
    assert "Traceback" not in result.output
