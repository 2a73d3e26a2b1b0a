"""`spendlens train | evaluate | promote | rollback | categorize`, as a user runs them.

One state dir carries a tenant through the whole story (its own labeled CSV in its own
taxonomy -> challenger -> champion -> evaluate -> categorize -> a second challenger -> rollback)
in one test: the steps depend on each other, and pytest-xdist may spread separate tests over
workers. Each step is a function named after what it proves.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spendlens.cli import build_app
from spendlens.generate import generate_transactions, signed_amount
from spendlens.settings import Settings
from spendlens.taxonomy import load_default_taxonomy

# A tenant's own five-label taxonomy over the default primary categories.
OWN_LABELS = {
    "FOOD_AND_DRINK": "Eating",
    "GENERAL_MERCHANDISE": "Shopping",
    "TRANSPORTATION": "Getting around",
    "TRAVEL": "Getting around",
    "RENT_AND_UTILITIES": "Home",
    "INCOME": "Money in",
}
MODEL = "spendlens-acme-acme_export"
OWN = frozenset(OWN_LABELS.values())


def _write_tenant_csv(path: Path, rows: int, seed: int) -> list[str]:
    """A labeled export in the tenant's own column names and taxonomy; returns the labels."""
    parents = {c.label: c.parent for c in load_default_taxonomy().categories}
    labels: list[str] = []
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["When", "Text", "Value", "Currency", "Bucket", "Note"])
        for txn in generate_transactions(rows, seed=seed):
            own = OWN_LABELS.get(parents.get(txn.category) or txn.category)
            if own is None:
                continue
            labels.append(own)
            writer.writerow(
                [
                    txn.date.isoformat(),
                    txn.description,
                    signed_amount(txn),
                    txn.currency,
                    own,
                    "kept as is",
                ]
            )
    return labels


@pytest.fixture
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CliRunner, Path]]:
    """A runner whose environment points at one private state dir for the whole module."""
    root = tmp_path_factory.mktemp("cli-story")
    patch = pytest.MonkeyPatch()
    patch.setenv("SPENDLENS_STATE_DIR", str(root / "state"))
    patch.delenv("SPENDLENS_DATABASE_URL", raising=False)
    patch.setenv("SPENDLENS_PRIOR_ROWS", "3000")  # the real prior uses 30,000: slower, same code
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    patch.setenv("MPLCONFIGDIR", str(root / "mpl"))
    patch.setenv("COLUMNS", "200")
    _write_tenant_csv(root / "acme_export.csv", 1500, seed=3)
    _write_tenant_csv(root / "acme_later.csv", 400, seed=4)
    yield CliRunner(), root
    patch.undo()
    shutil.rmtree(root, ignore_errors=True)


def _run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(build_app(), list(args))
    assert result.exit_code == code, result.output
    return result.output


def _aliases(root: Path) -> dict[str, str]:
    from training.tracking import tracking_client  # noqa: PLC0415

    client = tracking_client(Settings(state_dir=root / "state"))
    return {k: str(v) for k, v in client.get_registered_model(MODEL).aliases.items()}


def training_on_a_tenant_file_registers_a_challenger_in_its_own_taxonomy(
    story: tuple[CliRunner, Path],
) -> None:
    runner, root = story
    out = _run(
        runner,
        "train",
        "-t",
        "acme",
        "--data",
        str(root / "acme_export.csv"),
        "--text-column",
        "Text",
        "--label-column",
        "Bucket",
        "--amount-column",
        "Value",
        "--date-column",
        "When",
    )
    assert "unseen-merchant accuracy" in out
    assert "challenger: spendlens-acme-acme_export version 1" in out
    assert "linear" in out
    assert "lightgbm" in out
    assert _aliases(root) == {"challenger": "1"}


def the_first_challenger_is_promoted_and_predicts_the_tenants_labels(
    story: tuple[CliRunner, Path],
) -> None:
    runner, root = story
    out = _run(runner, "promote", MODEL)
    assert "promoted" in out
    assert _aliases(root) == {"champion": "1"}
    from training.registry import load_model  # noqa: PLC0415

    loaded = load_model(Settings(state_dir=root / "state"), f"{MODEL}@champion")
    assert set(loaded.model.classes_) == OWN
    assert loaded.taxonomy == "acme_export"


def evaluate_scores_a_model_on_another_labeled_file(story: tuple[CliRunner, Path]) -> None:
    runner, root = story
    out = _run(
        runner,
        "evaluate",
        "--model",
        f"{MODEL}@champion",
        "--data",
        str(root / "acme_later.csv"),
        "--text-column",
        "Text",
        "--label-column",
        "Bucket",
        "--amount-column",
        "Value",
        "--date-column",
        "When",
        "-t",
        "acme",
    )
    accuracy = next(line for line in out.splitlines() if line.strip().startswith("│ accuracy"))
    value = float(accuracy.split("│")[2])
    # Five labels: chance is about 0.2-0.4 (the largest class); the model must do far better.
    assert value > 0.7, out


def categorize_keeps_every_input_column_and_adds_the_decision(
    story: tuple[CliRunner, Path],
) -> None:
    runner, root = story
    out_csv = root / "out" / "categorized.csv"
    _run(
        runner,
        "categorize",
        str(root / "acme_later.csv"),
        "--model",
        f"{MODEL}@champion",
        "--out",
        str(out_csv),
        "-t",
        "acme",
        "--text-column",
        "Text",
        "--amount-column",
        "Value",
        "--date-column",
        "When",
    )
    result = pd.read_csv(out_csv, keep_default_na=False)
    original = pd.read_csv(root / "acme_later.csv", keep_default_na=False)
    assert len(result) == len(original)
    for column in ("When", "Text", "Value", "Bucket", "Note"):
        assert column in result.columns
    assert (result["Text"] == original["Text"]).all()
    assert set(result["source"]) == {"model"}  # tenant acme has no rules
    assert result["model_version"].str.startswith(MODEL).all()
    assert set(result["category"]) <= OWN
    assert (result["category"] == result["Bucket"]).mean() > 0.7


def a_second_challenger_faces_the_gate_and_rollback_restores_the_first(
    story: tuple[CliRunner, Path],
) -> None:
    runner, root = story
    _run(runner, "train", "-t", "acme", "--taxonomy", "acme_export", "--candidate", "linear")
    assert _aliases(root) == {"champion": "1", "challenger": "2"}
    _run(runner, "promote", MODEL, "--force")
    assert _aliases(root) == {"champion": "2"}
    out = _run(runner, "rollback", MODEL)
    assert "1" in out
    assert _aliases(root)["champion"] == "1"
    refused = _run(runner, "rollback", MODEL, code=2)
    assert "error" in refused


def test_a_tenant_story_from_its_own_labeled_file_to_rollback(
    story: tuple[CliRunner, Path],
) -> None:
    training_on_a_tenant_file_registers_a_challenger_in_its_own_taxonomy(story)
    the_first_challenger_is_promoted_and_predicts_the_tenants_labels(story)
    evaluate_scores_a_model_on_another_labeled_file(story)
    categorize_keeps_every_input_column_and_adds_the_decision(story)
    a_second_challenger_faces_the_gate_and_rollback_restores_the_first(story)


def test_training_errors_are_one_clear_line(story: tuple[CliRunner, Path]) -> None:
    runner, _ = story
    out = _run(runner, "train", "-t", "nobody", code=2)
    assert "labeled transactions" in out
    missing = _run(runner, "promote", "spendlens-nobody-default", code=2)
    assert "does not exist" in missing
    assert "Traceback" not in out + missing


def test_cold_start_trains_and_promotes_the_default_model_once(
    story: tuple[CliRunner, Path],
) -> None:
    """What `make up` runs after the demo load: a fresh install gets a champion."""
    runner, root = story
    _run(runner, "init")
    _run(runner, "demo", "--rows", "600")
    out = _run(runner, "train", "--if-no-champion", "--promote")
    assert "promoted to champion" in out
    from training.registry import alias_version, load_model  # noqa: PLC0415

    settings = Settings(state_dir=root / "state")
    assert alias_version(settings, "spendlens-default-default", "champion") == "1"
    again = _run(runner, "train", "--if-no-champion", "--promote")
    assert "already has a champion (version 1)" in again
    champion = load_model(settings, "spendlens-default-default@champion").model
    default_labels = {c.label for c in load_default_taxonomy().categories}
    assert set(champion.classes_) <= default_labels
