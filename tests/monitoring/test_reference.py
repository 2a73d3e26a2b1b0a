"""The training snapshot logged with each model, and loading it back by champion."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.reference import NoReferenceError, find_champion, load_reference
from spendlens.settings import Settings
from tests.monitoring.factories import CHAMPION_ACCURACY, TAXONOMY, TENANT, labeled_frame
from training.evaluation import split_holdout
from training.pipeline import reference_snapshot, train_merchants


def test_reference_snapshot_is_sampled_and_predicts_only_held_out_rows() -> None:
    labeled = labeled_frame(rows=600)
    split = split_holdout(labeled["merchant_id"].to_numpy(dtype=object), 0.2, 0.1, 42)
    classes = ["coffee", "groceries", "transport"]
    proba = np.tile([0.1, 0.7, 0.2], (len(split.test_index), 1))

    full = reference_snapshot(labeled, split, classes, proba, max_rows=10_000, seed=1)
    small = reference_snapshot(labeled, split, classes, proba, max_rows=100, seed=1)

    assert len(full) == 600
    assert len(small) == 100
    heldout = full[full["split"] == "heldout"]
    assert len(heldout) == len(split.test_index)
    assert set(heldout["predicted_category"]) == {"groceries"}
    assert heldout["confidence"].tolist() == pytest.approx([0.7] * len(heldout))
    assert full.loc[full["split"] == "train", "predicted_category"].isna().all()
    assert int(full["unseen"].sum()) == split.n_unseen
    assert full["has_mcc"].tolist() == labeled["mcc"].notna().tolist()
    assert (full["description_length"] == labeled["description"].str.len()).all()


def test_train_merchants_are_the_distinct_merchants_of_training_rows_only() -> None:
    labeled = labeled_frame(rows=600)
    split = split_holdout(labeled["merchant_id"].to_numpy(dtype=object), 0.2, 0.1, 42)

    merchants = set(train_merchants(labeled, split)["merchant_id"])

    assert merchants == set(labeled["merchant_id"].iloc[split.train_index])
    unseen = labeled["merchant_id"].iloc[split.test_index][split.unseen]
    assert merchants.isdisjoint(set(unseen))


def test_champion_and_its_reference_load_back_from_mlflow(champion_settings: Settings) -> None:
    champion = find_champion(champion_settings, TENANT, TAXONOMY)

    assert champion is not None
    assert (champion.name, champion.version) == ("spendlens-acme-default", "1")
    assert champion.accuracy == CHAMPION_ACCURACY
    reference = load_reference(champion_settings, champion)
    assert len(reference.frame) == 600
    assert "m_0" in reference.train_merchants or "m_1" in reference.train_merchants
    assert find_champion(champion_settings, "nobody", TAXONOMY) is None


def test_a_champion_run_without_a_snapshot_is_a_clear_error(champion_settings: Settings) -> None:
    from dataclasses import replace  # noqa: PLC0415

    from training.tracking import experiment_for, tracking_client  # noqa: PLC0415

    champion = find_champion(champion_settings, TENANT, TAXONOMY)
    assert champion is not None
    client = tracking_client(champion_settings)
    bare = client.create_run(experiment_for(champion_settings, TENANT, TAXONOMY)).info.run_id

    with pytest.raises(NoReferenceError, match="trained before monitoring snapshots"):
        load_reference(champion_settings, replace(champion, run_id=bare))
