"""`bentoml build` of bentofile.yaml works offline and packs the service and the pinned lock.

The build runs into a temporary BENTOML_HOME with a proxy that refuses every connection, so
any attempt to reach a package index fails the build instead of passing by luck. ~5-10 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers there

pytestmark = pytest.mark.slow  # informational: it runs in the normal suite and in CI


def _pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line."""
    return {
        m.group(1).lower(): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", text, flags=re.MULTILINE)
    }


@pytest.fixture(scope="module")
def bento(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of the bento `bentoml build` made from the project."""
    home = tmp_path_factory.mktemp("bentoml-home")
    env = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "PIP_NO_INDEX": "1",
    }
    bentoml = str(Path(sys.executable).parent / "bentoml")
    done = subprocess.run(  # noqa: S603 -- the venv's bentoml, fixed arguments
        [bentoml, "build", "--output", "tag", str(ROOT)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"bentoml build failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    [built] = [p for p in (home / "bentos" / "spendlens").iterdir() if p.is_dir()]
    return built


def test_bento_contains_the_service_code_and_what_it_imports(bento: Path) -> None:
    src = bento / "src"
    for module in (
        "serving/service.py",
        "serving/runtime.py",
        "serving/decisions.py",
        "rules/engine.py",
        "spendlens/settings.py",
        "training/registry.py",
        "features/store.py",
    ):
        assert (src / module).is_file(), f"{module} is missing from the bento"
    assert any((src / "spendlens" / "migrations").rglob("*.py"))


def test_bento_leaves_out_state_tests_and_tools(bento: Path) -> None:
    src = bento / "src"
    for absent in (".spendlens", ".venv", "tests", "benchmarks", "flows", "monitoring"):
        assert not (src / absent).exists(), f"{absent} must not be in the bento"
    assert not list(src.rglob("__pycache__"))
    assert not list(src.rglob("*.db"))


def test_bento_requirements_are_the_pinned_lock(bento: Path) -> None:
    packed = (bento / "env" / "python" / "requirements.txt").read_text(encoding="utf-8")
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins, locked = _pins(packed), _pins(lock)
    assert locked, "requirements.lock has no pins"
    assert {k: pins.get(k) for k in locked} == locked
    for package in ("bentoml", "mlflow", "feast", "scikit-learn", "sqlalchemy", "pandas"):
        assert package in pins, f"{package} is not pinned in the bento"
    # No unpinned requirement slipped in, and nothing was re-locked against an index.
    unpinned = [
        line
        for line in packed.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-")) and "==" not in line
    ]
    assert unpinned == []
    assert not (bento / "env" / "python" / "requirements.lock.txt").exists()
