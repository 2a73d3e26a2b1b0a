"""The Prefect flows run the training loop end to end under Prefect's test harness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spendlens.generate import generate_transactions, write_csv
from spendlens.ingest.loader import IngestOptions, csv_options_from_settings, ingest_file
from spendlens.settings import Settings
from spendlens.storage.db import engine_from_settings, migrate, session_factory


@pytest.fixture
def prefect_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A state dir with a tenant's labeled statement, and a throwaway Prefect API."""
    root = tmp_path_factory.mktemp("flows")
    patch = pytest.MonkeyPatch()
    patch.setenv("SPENDLENS_STATE_DIR", str(root / "state"))
    patch.delenv("SPENDLENS_DATABASE_URL", raising=False)
    patch.setenv("SPENDLENS_PRIOR_ROWS", "2000")
    patch.setenv("PREFECT_HOME", str(root / "prefect"))
    patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    patch.setenv("MPLCONFIGDIR", str(root / "mpl"))
    settings = Settings()
    settings.ensure_state_dir()
    statement = root / "statement.csv"
    with statement.open("w", newline="") as handle:
        write_csv(generate_transactions(800, seed=5), handle)
    engine = engine_from_settings(settings)
    migrate(engine)
    options = IngestOptions(tenant="flowco", csv=csv_options_from_settings(settings))
    summary = ingest_file(statement, session_factory(engine), settings, options)
    assert summary.labels > 700
    from prefect.testing.utilities import prefect_test_harness  # noqa: PLC0415

    with prefect_test_harness(server_startup_timeout=120):
        yield settings
    patch.undo()


def test_build_train_and_promote_flows_produce_a_champion_and_refuse_a_missing_model(
    prefect_state: Settings,
) -> None:
    from flows.training import build_features_flow, promote_flow, train_flow  # noqa: PLC0415
    from training.registry import alias_version, model_name  # noqa: PLC0415

    built = build_features_flow(tenant="flowco")
    assert built["transactions"] >= 800

    trained = train_flow(tenant="flowco")
    assert trained["model"] == "spendlens-flowco-default"
    assert trained["version"] == "1"
    assert 0.0 < trained["metrics"]["macro_f1"] <= 1.0

    promoted = promote_flow(tenant="flowco")
    assert promoted["promoted"] is True
    name = model_name(prefect_state, "flowco", "default")
    assert alias_version(prefect_state, name, "champion") == "1"
    assert alias_version(prefect_state, name, "challenger") is None

    # A user's mistake fails the flow with its message at once (no retries).
    from training.registry import RegistryError  # noqa: PLC0415

    with pytest.raises(RegistryError, match="does not exist"):
        promote_flow(tenant="nobody")
