"""MLflow fixtures for tests/training: stores built once per session and copied per test.

Creating MLflow's tables runs its whole Alembic history (3-12 s on SQLite), so it happens once
per session (shared by the xdist workers through a file lock) and each test gets a copy.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from spendlens.settings import Settings

BuildOnce = Callable[[str, Callable[[Path], None]], Path]


@pytest.fixture(scope="session")
def build_once(tmp_path_factory: pytest.TempPathFactory) -> BuildOnce:
    """`build_once(name, build)`: a directory filled by `build` once per test session.

    Under xdist every worker has its own base temp dir; their common parent is per session.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent

    def get(name: str, build: Callable[[Path], None]) -> Path:
        target = root / name
        with (root / f"{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir()
                build(target)
                (target / ".complete").touch()
        return target

    return get


def _create_mlflow_tables(state: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        from training.tracking import tracking_client  # noqa: PLC0415 - after the env is set

        tracking_client(Settings(state_dir=state)).search_experiments()  # creates the tables


@pytest.fixture(scope="session")
def mlflow_empty_db(build_once: BuildOnce) -> Path:
    """An MLflow SQLite database with every table created and no data (do not modify)."""
    return build_once("mlflow-empty", _create_mlflow_tables) / "mlflow.db"


@pytest.fixture
def mlflow_settings(tmp_path: Path, mlflow_empty_db: Path) -> Settings:
    """Settings whose state dir already holds an empty MLflow database of its own."""
    state = tmp_path / "state"
    state.mkdir()
    shutil.copyfile(mlflow_empty_db, state / "mlflow.db")
    return Settings(state_dir=state)
