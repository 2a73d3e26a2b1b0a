"""The whole loop, end to end: serve, shift, feedback, monitor, retrain, promote, hot reload.

A tenant's labeled statement trains the first champion (`retrain`, nothing to beat); a real
`bentoml serve` process serves it; traffic arrives, then a shift: merchants the champion never
saw, in a changed category mix, whose mistakes users correct through /feedback. `monitor` sees
it and asks for retraining, `retrain` trains on labels plus feedback, the challenger passes the
gate, `champion` moves, and the running service answers with the new version by itself. The
monitoring report is in MLflow. Slow (about two minutes), and it runs in `make test`.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from spendlens.generate import generate_transactions, signed_amount, write_csv
from spendlens.ingest.loader import IngestOptions, csv_options_from_settings, ingest_file
from spendlens.settings import Settings
from spendlens.storage.db import engine_from_settings, migrate, session_factory
from spendlens.storage.keys import create_key

TENANT = "loopco"
START_TIMEOUT_S = 120.0
# Merchants the champion never saw, each with the category users say it is: invented names,
# so neither the text nor the platform prior can know them.
SHIFT = {
    "QORVANTA": "ENTERTAINMENT_MUSIC_AND_AUDIO",
    "ZELMIRA": "MEDICAL_PHARMACIES_AND_SUPPLEMENTS",
    "TRUVEXO": "GENERAL_SERVICES_EDUCATION",
    "BLANDORF": "HOME_IMPROVEMENT_HARDWARE",
    "OSKELUND": "PERSONAL_CARE_HAIR_AND_BEAUTY",
    "VARNIQUE": "GENERAL_MERCHANDISE_BOOKSTORES_AND_NEWSSTANDS",
}


@dataclass
class Loop:
    settings: Settings
    env: dict[str, str]
    url: str
    key: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"bentoml serve exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"bentoml serve was not ready in {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    """State with a labeled statement of the tenant, a Prefect test API, an API key."""
    root = tmp_path_factory.mktemp("loop")
    env = {
        "SPENDLENS_STATE_DIR": str(root / "state"),
        "SPENDLENS_DEFAULT_TENANT": TENANT,
        "SPENDLENS_PRIOR_ROWS": "2000",
        "SPENDLENS_RELOAD_INTERVAL_SECONDS": "1",
        "SPENDLENS_MONITOR_NEW_FEEDBACK_RETRAIN": "100",
        # The held-out draw hashes transaction ids, which ingestion makes random: every run of
        # this test measures the gate on other held-out merchants. Learning the shifted world
        # cost the challenger up to 2.5 points on the old world's unseen merchants in the draws
        # seen, so at the default tolerance (2) the gate refused 2 of 7 runs. This test is
        # about the loop; the gate's thresholds are tested in tests/training/test_gate.py.
        "SPENDLENS_GATE_UNSEEN_ACCURACY_TOLERANCE": "0.05",
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "BENTOML_HOME": str(root / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "MPLCONFIGDIR": str(root / "mpl"),
    }
    patch = pytest.MonkeyPatch()
    for name, value in env.items():
        patch.setenv(name, value)
    patch.delenv("SPENDLENS_DATABASE_URL", raising=False)
    settings = Settings()
    settings.ensure_state_dir()
    statement = root / "statement.csv"
    with statement.open("w", newline="") as handle:
        write_csv(generate_transactions(1200, seed=11), handle)
    engine = engine_from_settings(settings)
    migrate(engine)
    sessions = session_factory(engine)
    options = IngestOptions(tenant=TENANT, csv=csv_options_from_settings(settings))
    assert ingest_file(statement, sessions, settings, options).labels > 1000
    with sessions.begin() as session:
        key, _ = create_key(session, TENANT, "loop app", "categorize,feedback")
    engine.dispose()
    from prefect.testing.utilities import prefect_test_harness  # noqa: PLC0415

    with prefect_test_harness(server_startup_timeout=120):
        yield Loop(settings, {**os.environ, **env}, "", key)
    patch.undo()


@contextmanager
def serving(loop: Loop) -> Iterator[Loop]:
    """`bentoml serve` of the service on a free port, over the loop's state."""
    port = _free_port()
    log = loop.settings.state_dir / "bentoml.log"
    bentoml = str(Path(sys.executable).parent / "bentoml")
    argv = [bentoml, "serve", "serving.service:Spendlens", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 -- the venv's bentoml, fixed arguments
            [*argv, "--port", str(port)],
            cwd=Path(__file__).resolve().parents[2],
            env=loop.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        loop.url = f"http://127.0.0.1:{port}"
        _wait_ready(loop.url, process, log)
        yield loop
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _traffic(count: int, seed: int) -> list[dict[str, Any]]:
    """Requests like the statement's: the world before the shift."""
    return [
        {
            "description": txn.description,
            "amount": str(signed_amount(txn)),
            "currency": txn.currency,
            "date": txn.date.isoformat(),
        }
        for txn in generate_transactions(count, seed=seed)
    ]


def _shifted(per_merchant: int, seed: int) -> list[tuple[dict[str, Any], str]]:
    """Requests at the new merchants, with what users say they are."""
    rng = random.Random(seed)
    today = dt.date.today()
    out = []
    for merchant, category in SHIFT.items():
        for _ in range(per_merchant):
            request = {
                "description": f"{merchant} {rng.randint(100, 999)} ONLINE",
                "amount": f"-{rng.randint(5, 80)}.{rng.randint(0, 99):02d}",
                "date": (today - dt.timedelta(days=rng.randint(0, 20))).isoformat(),
            }
            out.append((request, category))
    rng.shuffle(out)
    return out


def _categorize(loop: Loop, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{loop.url}/categorize_batch",
        json={"transactions": requests},
        headers={"Authorization": f"Bearer {loop.key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def _accuracy(decided: list[dict[str, Any]], truth: list[str]) -> float:
    right = sum(1 for d, t in zip(decided, truth, strict=True) if d["category"] == t)
    return right / len(truth)


def test_shift_with_feedback_triggers_retrain_and_the_running_service_serves_the_new_champion(
    loop: Loop,
) -> None:
    from flows.loop import monitor_flow, retrain_flow  # noqa: PLC0415

    first = retrain_flow(tenant=TENANT)  # no champion yet: trains and promotes
    assert first["retrained"] is True
    assert first["promoted"] is True
    assert first["champion_version"] == "1"

    with serving(loop) as served:
        _check_loop(served, monitor_flow, retrain_flow)


def _check_loop(loop: Loop, monitor_flow: Any, retrain_flow: Any) -> None:
    # Before the shift: the world the champion was trained on.
    before = _categorize(loop, _traffic(300, seed=12))
    assert {d["model_version"] for d in before if d["source"] == "model"} == {"1"}

    # The shift: new merchants; users correct every mistake.
    shifted = _shifted(per_merchant=40, seed=13)
    decided = _categorize(loop, [r for r, _ in shifted])
    truth = [c for _, c in shifted]
    accuracy_v1 = _accuracy(decided, truth)
    assert accuracy_v1 < 0.5  # invented names: the champion cannot know them
    corrected = 0
    for decision, category in zip(decided, truth, strict=True):
        if decision["category"] != category:
            feedback = {"decision_id": decision["decision_id"], "category": category, "by": "qa"}
            response = httpx.post(
                f"{loop.url}/feedback",
                json=feedback,
                headers={"Authorization": f"Bearer {loop.key}"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            corrected += 1
    assert corrected >= 100

    monitored = monitor_flow(tenant=TENANT)
    assert monitored["decision"]["retrain"] is True, monitored
    assert monitored["decision"]["reasons"]

    second = retrain_flow(tenant=TENANT)
    assert second["retrained"] is True
    assert second["promoted"] is True, second["gate"]
    assert second["champion_version"] == "2"

    # The running service picks the new champion up by itself, within seconds.
    deadline, probe = time.monotonic() + 60, [r for r, _ in shifted[:20]]
    versions: set[str] = set()
    while time.monotonic() < deadline:
        versions = {d["model_version"] for d in _categorize(loop, probe) if d["model_version"]}
        if versions == {"2"}:
            break
        time.sleep(1)
    assert versions == {"2"}
    again = _categorize(loop, [r for r, _ in _shifted(per_merchant=10, seed=14)])
    accuracy_v2 = _accuracy(again, [c for _, c in _shifted(per_merchant=10, seed=14)])
    assert accuracy_v2 > accuracy_v1 + 0.3

    # The monitoring report is in MLflow, next to the champion it watched.
    from training.tracking import experiment_for, tracking_client  # noqa: PLC0415

    client = tracking_client(loop.settings)
    runs = client.search_runs(
        [experiment_for(loop.settings, TENANT, "default")],
        filter_string="tags.`spendlens.kind` = 'monitoring'",
    )
    assert runs
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id, "monitoring")}
    assert any(p.endswith(".html") for p in artifacts)
    assert any(p.endswith(".json") for p in artifacts)
