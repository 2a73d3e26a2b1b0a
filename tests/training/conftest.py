"""MLflow fixtures for tests/training: a copy of the session's empty MLflow store per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spendlens.settings import Settings


@pytest.fixture
def mlflow_settings(tmp_path: Path, mlflow_empty_db: Path) -> Settings:
    """Settings whose state dir already holds an empty MLflow database of its own."""
    state = tmp_path / "state"
    state.mkdir()
    shutil.copyfile(mlflow_empty_db, state / "mlflow.db")
    return Settings(state_dir=state)
