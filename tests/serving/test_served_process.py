"""The service as a real `bentoml serve` process on a free loopback port, rules only.

A fresh state dir is migrated (`spendlens init`), the starter rules are imported and a key is
created through the CLI in-process; no model is trained (`spendlens train` costs ~70 s), so
the service answers from the rules, and start-up is awaited on /livez and POST /status rather
than /readyz (which may want a champion). Takes ~20-30 s, mostly BentoML's start-up (more on a
busy machine).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from spendlens.cli import build_app
from spendlens.settings import Settings
from spendlens.storage.db import engine_from_settings, session_factory
from spendlens.storage.models import Decision

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 150.0  # ~20 s on an idle 2-core box; CI runs other tests next to it
COFFEE = {
    "description": "POS PURCHASE STARBUCKS STORE 12345 SEATTLE WA",
    "amount": "-4.50",
    "date": "2026-03-01",
}

pytestmark = pytest.mark.slow  # informational: it runs in the normal suite and in CI


@dataclass(frozen=True)
class Served:
    """A running service, the key it accepts and its state dir."""

    url: str
    key: str
    state: Path
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(*args: str) -> str:
    result = CliRunner().invoke(build_app(), list(args))
    assert result.exit_code == 0, f"spendlens {' '.join(args)}: {result.output}"
    return result.output


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (its workers too), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _wait_started(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"bentoml serve exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            # /status needs the service instance (categorizer, rules, key check) to exist.
            if (
                httpx.get(f"{url}/livez", timeout=2).status_code == 200
                and httpx.post(f"{url}/status", timeout=2).status_code == 200
            ):
                return
        time.sleep(0.5)
    pytest.fail(
        f"bentoml serve did not start in {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("served")
    state = base / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDLENS_")}
    env.update(
        SPENDLENS_STATE_DIR=str(state),
        BENTOML_HOME=str(base / "bentoml"),
        BENTOML_DO_NOT_TRACK="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        MPLCONFIGDIR=str(base / "mpl"),
    )
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("SPENDLENS_")]:
            patch.delenv(name)
        patch.setenv("SPENDLENS_STATE_DIR", str(state))
        patch.setenv("COLUMNS", "200")
        _cli("init")
        _cli("rules", "import", "--starter")
        output = _cli("keys", "create", "served-test", "--scope", "categorize")
    key = next(line.strip() for line in output.splitlines() if line.strip().startswith("sl_"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = base / "bentoml.log"
    bentoml = str(Path(sys.executable).parent / "bentoml")
    argv = [
        bentoml,
        "serve",
        "serving.service:Spendlens",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 -- the venv's bentoml, fixed arguments
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: _stop takes the workers down too
        )
    try:
        _wait_started(url, process, log)
        yield Served(url, key, state, log)
    finally:
        _stop(process)


def test_served_process_categorizes_by_rule_and_logs_the_decision(served: Served) -> None:
    response = httpx.post(
        f"{served.url}/categorize",
        json=COFFEE,
        headers={"Authorization": f"Bearer {served.key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "rule"
    assert body["category"] == "FOOD_AND_DRINK_COFFEE"
    assert body["primary_category"] == "FOOD_AND_DRINK"
    assert body["route"] == "auto"  # the starter coffee rule's 0.92 is over the 0.9 threshold
    assert body["rule_id"]
    engine = engine_from_settings(Settings(state_dir=served.state))
    try:
        with session_factory(engine)() as session:
            row = session.scalar(select(Decision).where(Decision.id == body["decision_id"]))
    finally:
        engine.dispose()
    assert row is not None, "the returned decision is not in the decision log"
    assert (row.tenant_id, row.source, row.category, row.route, row.rule_id) == (
        "default",
        "rule",
        "FOOD_AND_DRINK_COFFEE",
        "auto",
        body["rule_id"],
    )


def test_served_process_refuses_a_request_without_a_key(served: Served) -> None:
    response = httpx.post(f"{served.url}/categorize", json=COFFEE, timeout=30)
    assert response.status_code == 401
    assert "API key" in response.json()["error"]


def test_served_process_logs_access_lines_except_for_the_decision_routes(served: Served) -> None:
    # Decisions are in the decision log; their access lines cost CPU on the hot path.
    headers = {"Authorization": f"Bearer {served.key}"}
    assert httpx.post(f"{served.url}/categorize", json=COFFEE, headers=headers).status_code == 200
    assert httpx.get(f"{served.url}/livez").status_code == 200
    assert httpx.post(f"{served.url}/status").status_code == 200
    deadline = time.monotonic() + 10
    while "path=/status" not in served.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = served.log.read_text()
    assert "path=/status" in text
    assert "path=/categorize" not in text
