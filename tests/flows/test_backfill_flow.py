"""The backfill flow runs its chunks on a local Dask cluster under Prefect's test harness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from spendlens.generate import generate_transactions, write_csv
from spendlens.ingest.loader import IngestOptions, csv_options_from_settings, ingest_file
from spendlens.settings import Settings
from spendlens.storage.db import engine_from_settings, migrate, session_factory
from spendlens.storage.models import Transaction, TransactionCategory

TENANT = "flowco"
# One worker thread in this process: the cluster starts in about a second.
WORKERS, PROCESSES = 1, False


@pytest.fixture
def prefect_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A state dir with a tenant's statement and one rule, and a throwaway Prefect API."""
    root = tmp_path_factory.mktemp("backfill-flow")
    patch = pytest.MonkeyPatch()
    patch.setenv("SPENDLENS_STATE_DIR", str(root / "state"))
    patch.delenv("SPENDLENS_DATABASE_URL", raising=False)
    patch.setenv("PREFECT_HOME", str(root / "prefect"))
    patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    settings = Settings()
    settings.ensure_state_dir()
    statement = root / "statement.csv"
    with statement.open("w", newline="") as handle:
        write_csv(generate_transactions(120, seed=11), handle)
    engine = engine_from_settings(settings)
    migrate(engine)
    options = IngestOptions(tenant=TENANT, csv=csv_options_from_settings(settings))
    ingest_file(statement, session_factory(engine), settings, options)
    engine.dispose()
    from prefect.testing.utilities import prefect_test_harness  # noqa: PLC0415

    with prefect_test_harness(server_startup_timeout=120):
        yield settings
    patch.undo()


def _canonical(settings: Settings) -> int:
    with session_factory(engine_from_settings(settings))() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Transaction)
                .where(Transaction.tenant_id == TENANT, Transaction.linked_to_id.is_(None))
            )
            or 0
        )


def test_backfill_flow_categorizes_on_dask_resumes_and_then_writes_nothing_new(
    prefect_state: Settings,
) -> None:
    from flows.backfill import backfill_flow  # noqa: PLC0415
    from flows.training import FLOWS  # noqa: PLC0415
    from rules.models import Rule, TextCondition  # noqa: PLC0415
    from rules.store import save_rules  # noqa: PLC0415
    from serving.backfill import Scope, load_resources, run_backfill  # noqa: PLC0415

    assert FLOWS["backfill"] is backfill_flow
    sessions = session_factory(engine_from_settings(prefect_state))
    with sessions.begin() as session:
        save_rules(
            session,
            TENANT,
            [
                Rule(
                    id="r-any-purchase",
                    name="everything with an e is shopping",
                    category="GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE",
                    conditions=(TextCondition(field="description", op="contains", value="e"),),
                )
            ],
        )
    total = _canonical(prefect_state)
    # A run that crashed after its first chunk (no champion yet: rules and fallback decide).
    resources = load_resources(prefect_state, sessions, TENANT)
    assert resources.model is None

    def crash(progress: object) -> None:
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):
        run_backfill(sessions, Scope(TENANT), resources, chunk_size=40, progress=crash)

    resumed = backfill_flow(tenant=TENANT, chunk_size=40, workers=WORKERS, processes=PROCESSES)

    assert resumed["resumed"] is True
    assert resumed["status"] == "done"
    assert resumed["scanned"] == resumed["changed"] == total
    assert resumed["chunks"] == -(-(total - 40) // 40)
    with sessions() as session:
        per_txn = session.execute(
            select(TransactionCategory.transaction_id, func.count()).group_by(
                TransactionCategory.transaction_id
            )
        ).all()
        sources = set(session.scalars(select(TransactionCategory.source)))
    assert len(per_txn) == total
    assert {n for _, n in per_txn} == {1}
    assert sources == {"rule", "fallback"}

    again = backfill_flow(tenant=TENANT, chunk_size=40, workers=WORKERS, processes=PROCESSES)

    assert again["run_id"] != resumed["run_id"]
    assert (again["scanned"], again["changed"]) == (total, 0)


def test_the_local_runner_categorizes_with_worker_processes_and_then_writes_nothing_new(
    prefect_state: Settings,
) -> None:
    from flows.backfill import backfill_flow  # noqa: PLC0415

    total = _canonical(prefect_state)

    # This process, one decider process and the writer process.
    first = backfill_flow(tenant=TENANT, chunk_size=30, runner="local", workers=2)

    assert (first["status"], first["resumed"]) == ("done", False)
    assert first["scanned"] == first["changed"] == total
    assert first["chunks"] == -(-total // 30)
    sessions = session_factory(engine_from_settings(prefect_state))
    with sessions() as session:
        per_txn = session.execute(
            select(TransactionCategory.transaction_id, func.count()).group_by(
                TransactionCategory.transaction_id
            )
        ).all()
    assert len(per_txn) == total
    assert {n for _, n in per_txn} == {1}

    again = backfill_flow(tenant=TENANT, chunk_size=30, runner="local", workers=2)

    assert again["run_id"] != first["run_id"]
    assert (again["scanned"], again["changed"]) == (total, 0)


def test_the_local_runner_refuses_a_dask_address(prefect_state: Settings) -> None:
    from flows.backfill import backfill_flow  # noqa: PLC0415

    with pytest.raises(ValueError, match="drop dask_address"):
        backfill_flow(tenant=TENANT, runner="local", dask_address="tcp://127.0.0.1:8786")
