"""The champion of a tenant's taxonomy and the training snapshot it was logged with.

Everything comes from MLflow: the `champion` alias, the version's source run (its `accuracy`
metric and end time), and the run's `reference/` artifacts written by `training.pipeline`.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from spendlens.settings import Settings

if TYPE_CHECKING:
    import pandas as pd


class NoReferenceError(LookupError):
    """The champion's run has no reference snapshot (it was trained before monitoring existed)."""


@dataclass(frozen=True)
class Champion:
    """The serving model of a tenant's taxonomy, as monitoring needs it."""

    name: str
    version: str
    run_id: str | None
    experiment_id: str | None
    trained_at: dt.datetime
    accuracy: float | None


def _from_millis(millis: int | None) -> dt.datetime | None:
    return None if millis is None else dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)


def find_champion(settings: Settings, tenant: str, taxonomy: str) -> Champion | None:
    """The champion version, its run's accuracy and when it was trained; None when there is none.

    Trained at = the run's end time, else the version's creation time.
    """
    from training.registry import CHAMPION, alias_version, model_name  # noqa: PLC0415
    from training.tracking import tracking_client  # noqa: PLC0415

    name = model_name(settings, tenant, taxonomy)
    version = alias_version(settings, name, CHAMPION)
    if version is None:
        return None
    client = tracking_client(settings)
    info = client.get_model_version(name, version)
    created = _from_millis(info.creation_timestamp) or dt.datetime.now(dt.UTC)
    if not info.run_id:
        return Champion(name, version, None, None, created, None)
    run = client.get_run(info.run_id)
    accuracy = run.data.metrics.get("accuracy")
    return Champion(
        name=name,
        version=version,
        run_id=info.run_id,
        experiment_id=str(run.info.experiment_id),
        trained_at=_from_millis(run.info.end_time) or created,
        accuracy=None if accuracy is None else float(accuracy),
    )


@dataclass(frozen=True)
class ReferenceSnapshot:
    """The champion's training snapshot and the merchant ids it was trained on."""

    frame: pd.DataFrame
    train_merchants: frozenset[str]


def load_reference(settings: Settings, champion: Champion) -> ReferenceSnapshot:
    """Download the champion run's `reference/` artifacts.

    Raises:
        NoReferenceError: the run has no reference snapshot.
    """
    import pandas as pd  # noqa: PLC0415
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    from training.tracking import (  # noqa: PLC0415
        REFERENCE_ARTIFACT,
        TRAIN_MERCHANTS_ARTIFACT,
        tracking_client,
    )

    if champion.run_id is None:
        raise NoReferenceError(f"{champion.name} version {champion.version} has no source run")
    client = tracking_client(settings)
    with tempfile.TemporaryDirectory(prefix="spendlens-reference-") as tmp:
        try:
            frame = pd.read_parquet(
                Path(client.download_artifacts(champion.run_id, REFERENCE_ARTIFACT, tmp))
            )
            merchants = pd.read_parquet(
                Path(client.download_artifacts(champion.run_id, TRAIN_MERCHANTS_ARTIFACT, tmp))
            )
        except (MlflowException, OSError) as exc:
            raise NoReferenceError(
                f"{champion.name} version {champion.version} (run {champion.run_id}) has no "
                f"{REFERENCE_ARTIFACT}: it was trained before monitoring snapshots were logged; "
                "train and promote a new model"
            ) from exc
    return ReferenceSnapshot(frame, frozenset(merchants["merchant_id"].astype(str)))
