"""MLflow tracking: one experiment per tenant and taxonomy, one run per trained candidate.

Nothing is configured at import. Every function takes `Settings` and talks to the store named by
`resolved_mlflow_tracking_uri`: the client gets the URI explicitly, and the fluent API (needed by
`mlflow.sklearn.log_model`) is pointed at it only inside `mlflow_uris`, which restores the
previous process-wide URIs afterwards. Experiments are always created with an explicit artifact
location under the state dir, so nothing lands in `./mlruns` of whatever directory we run in.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from spendlens.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

__all__ = [
    "HELDOUT_ARTIFACT",
    "MODEL_ARTIFACT_NAME",
    "MODEL_URI_TAG",
    "PINNED_PACKAGES",
    "REFERENCE_ARTIFACT",
    "TRAIN_MERCHANTS_ARTIFACT",
    "Lineage",
    "LoggedRun",
    "experiment_for",
    "experiment_name",
    "git_commit",
    "input_data_hash",
    "log_candidate",
    "mlflow_uris",
    "pinned_requirements",
    "run_url",
    "tracking_client",
    "use_uri",
]

# Where the registry's promotion step finds the challenger's held-out set.
HELDOUT_ARTIFACT = "heldout/heldout.parquet"
# Monitoring's drift reference: a sample of the training data with the model's held-out
# predictions, and every merchant id the model was trained on (for merchant novelty).
REFERENCE_ARTIFACT = "reference/reference.parquet"
TRAIN_MERCHANTS_ARTIFACT = "reference/train_merchants.parquet"
MODEL_ARTIFACT_NAME = "model"
# Run tag pointing at the run's logged model, so a run id is enough to register it.
MODEL_URI_TAG = "spendlens.model_uri"
# What a loaded model needs at inference time; pinned to the versions that trained it.
PINNED_PACKAGES: tuple[str, ...] = ("scikit-learn", "lightgbm", "pandas", "numpy", "cloudpickle")
UI_BASE_URL = "http://127.0.0.1:5000"
PROJECT_ROOT = Path(__file__).resolve().parents[1]

_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_SHA = re.compile(r"^[0-9a-f]{7,64}$")
# MLflow's URI globals and the environment variables it mirrors them into.
_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@dataclass(frozen=True)
class Lineage:
    """Where a model came from: the data, the split, the features and the code."""

    input_data_hash: str
    n_rows: int
    n_train: int
    n_test: int
    n_unseen: int
    feature_service: str
    git_commit: str
    tenant: str
    taxonomy: str
    source: str  # "db" | "file:<name>" | "generated"

    def as_tags(self) -> dict[str, str]:
        """Run tags `lineage.<field>`, searchable in the MLflow UI."""
        return {f"lineage.{key}": str(value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class LoggedRun:
    """A finished candidate run; `version` is set when the model was registered."""

    run_id: str
    experiment_id: str
    model_uri: str
    model_id: str | None
    version: str | None
    url: str


def _import_mlflow() -> Any:
    # Telemetry would try to phone home; the client reads this at import and on every event.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow  # noqa: PLC0415

    return mlflow


def _safe_segment(part: str) -> str:
    return _UNSAFE_PATH_CHARS.sub("_", part).strip(".") or "_"


def _ensure_sqlite_parent(uri: str) -> None:
    # SQLite creates the file but not its directory.
    if uri.startswith("sqlite:///"):
        path = uri.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def tracking_client(settings: Settings) -> MlflowClient:
    """An MlflowClient on the settings' tracking and registry URI (no global state touched)."""
    mlflow = _import_mlflow()
    uri = settings.resolved_mlflow_tracking_uri
    _ensure_sqlite_parent(uri)
    client: MlflowClient = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    return client


@contextmanager
def use_uri(uri: str) -> Iterator[str]:
    """Point MLflow's fluent API (tracking and registry) at `uri` for this block, then restore.

    Needed wherever MLflow itself builds a default `MlflowClient()`: `log_model`,
    `mlflow.sklearn.load_model("models:/...")` and registering a `models:/<id>` source.
    """
    mlflow = _import_mlflow()
    from mlflow.tracking._model_registry import utils as registry_utils  # noqa: PLC0415
    from mlflow.tracking._tracking_service import utils as tracking_utils  # noqa: PLC0415

    _ensure_sqlite_parent(uri)
    saved_env = {key: os.environ.get(key) for key in _URI_ENV}
    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield uri
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def mlflow_uris(settings: Settings) -> AbstractContextManager[str]:
    """`use_uri` with the settings' tracking URI."""
    return use_uri(settings.resolved_mlflow_tracking_uri)


def experiment_name(tenant: str, taxonomy: str) -> str:
    """The experiment of one tenant's taxonomy."""
    return f"spendlens/{tenant}/{taxonomy}"


def experiment_for(settings: Settings, tenant: str, taxonomy: str) -> str:
    """The id of `spendlens/<tenant>/<taxonomy>`, created (or restored) if needed.

    Its artifact location is `<artifact root>/<tenant>/<taxonomy>` as a file URI.
    """
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    client = tracking_client(settings)
    name = experiment_name(tenant, taxonomy)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            client.restore_experiment(existing.experiment_id)
        return str(existing.experiment_id)
    location = settings.resolved_mlflow_artifact_root / _safe_segment(tenant)
    location = location / _safe_segment(taxonomy)
    try:
        return client.create_experiment(
            name,
            artifact_location=location.as_uri(),
            tags={"spendlens.tenant": tenant, "spendlens.taxonomy": taxonomy},
        )
    except MlflowException:
        # Another process may have created it between our lookup and create.
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


def run_url(settings: Settings, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI (the tracking server when it is HTTP, else localhost)."""
    uri = settings.resolved_mlflow_tracking_uri
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else UI_BASE_URL
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def input_data_hash(frame: pd.DataFrame) -> str:
    """sha256 over the sorted (transaction_id, label) pairs of a training frame."""
    return _pairs_hash(zip(frame["transaction_id"], frame["label"], strict=True))


def _pairs_hash(pairs: Iterable[tuple[object, object]]) -> str:
    digest = hashlib.sha256()
    for txn_id, label in sorted((str(t), str(lab)) for t, lab in pairs):
        digest.update(f"{txn_id}\t{label}\n".encode())
    return digest.hexdigest()


def git_commit(repo_dir: Path | None = None, *, git: str | None = None) -> str:
    """HEAD of the repository holding the code, or "unknown" (no git, not a repo, any error)."""
    executable = git or shutil.which("git")
    if executable is None:
        return "unknown"
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [executable, "rev-parse", "HEAD"],
            cwd=repo_dir or PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and _SHA.match(sha) else "unknown"


def pinned_requirements(packages: Sequence[str] = PINNED_PACKAGES) -> list[str]:
    """`name==version` for each installed package (absent ones are left out)."""
    pins = []
    for package in packages:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def _naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with tz-aware datetime columns as naive UTC (MLflow schemas reject tz-aware)."""
    import pandas as pd  # noqa: PLC0415

    out = frame.reset_index(drop=True).copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def _infer_signature(model: Any, example: pd.DataFrame) -> Any:
    from mlflow.models import infer_signature  # noqa: PLC0415

    with warnings.catch_warnings():
        # Counts are integers by design (missing features default to 0, never NaN).
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        return infer_signature(example, model.predict(example))


def _checked_artifacts(artifacts: Mapping[str, Path]) -> list[tuple[PurePosixPath, Path]]:
    """(destination, local file) pairs; refuses paths escaping the run and missing files."""
    checked = []
    for destination, source in artifacts.items():
        target = PurePosixPath(destination)
        if target.is_absolute() or ".." in target.parts or not target.name:
            raise ValueError(f"artifact destination must be a relative file path: {destination!r}")
        local = Path(source)
        if not local.is_file():
            raise FileNotFoundError(f"artifact {destination!r}: {local} is not a file")
        checked.append((target, local))
    return checked


def _log_files(mlflow: Any, artifacts: list[tuple[PurePosixPath, Path]], staging: Path) -> None:
    """Log each local file at its destination path (`dir/name.ext`) inside the active run."""
    for index, (target, source) in enumerate(artifacts):
        local = source
        if local.name != target.name:
            # MLflow keeps the local file name: stage a copy under the wanted one.
            folder = staging / str(index)
            folder.mkdir()
            local = Path(shutil.copy2(source, folder / target.name))
        parent = str(target.parent)
        mlflow.log_artifact(str(local), artifact_path=None if parent == "." else parent)


def _finite_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    return {key: float(value) for key, value in metrics.items() if math.isfinite(float(value))}


def log_candidate(
    settings: Settings,
    tenant: str,
    taxonomy: str,
    *,
    candidate: str,
    model: Any,
    params: Mapping[str, object],
    metrics: Mapping[str, float],
    per_class: Sequence[Mapping[str, Any]],
    artifacts: Mapping[str, Path],
    lineage: Lineage,
    input_example: pd.DataFrame,
    registered_model_name: str | None = None,
) -> LoggedRun:
    """Log one trained candidate as a finished run in the tenant/taxonomy experiment.

    Args:
        candidate: candidate name; also the run name.
        model: fitted sklearn estimator; saved with cloudpickle so custom classes load back.
        metrics: scalar metrics; NaN/inf values are left out (MLflow charts cannot draw them).
        per_class: rows for `evaluation/per_class.json` (e.g. label, f1, support).
        artifacts: destination path inside the run (e.g. "heldout/heldout.parquet") -> local file.
        input_example: a few rows of model input; tz-aware datetimes are logged as naive UTC.
        registered_model_name: when given, the model becomes a new version with alias
            `challenger` (see `training.registry.register_challenger`).

    Returns:
        The run id, the model URI, the registered version (or None) and the UI URL.
    """
    # `mlflow.sklearn` is a lazily loaded attribute of the package.
    mlflow = _import_mlflow()
    files = _checked_artifacts(artifacts)
    experiment_id = experiment_for(settings, tenant, taxonomy)
    example = _naive_utc(input_example)
    signature = _infer_signature(model, example)
    tags = {
        "spendlens.tenant": tenant,
        "spendlens.taxonomy": taxonomy,
        "spendlens.candidate": candidate,
        "mlflow.source.git.commit": lineage.git_commit,
        **lineage.as_tags(),
    }
    with (
        mlflow_uris(settings),
        tempfile.TemporaryDirectory(prefix="spendlens-artifacts-") as staging,
        mlflow.start_run(experiment_id=experiment_id, run_name=candidate, tags=tags) as run,
    ):
        run_id: str = run.info.run_id
        mlflow.log_params({key: str(value) for key, value in params.items()})
        mlflow.log_metrics(_finite_metrics(metrics))
        mlflow.log_dict(asdict(lineage), "lineage.json")
        mlflow.log_dict(
            {"per_class": [dict(row) for row in per_class]}, "evaluation/per_class.json"
        )
        _log_files(mlflow, files, Path(staging))
        info = mlflow.sklearn.log_model(
            model,
            name=MODEL_ARTIFACT_NAME,
            serialization_format="cloudpickle",
            signature=signature,
            input_example=example,
            pip_requirements=pinned_requirements(),
        )
        model_uri: str = info.model_uri
        mlflow.set_tag(MODEL_URI_TAG, model_uri)
    version = None
    if registered_model_name is not None:
        from training.registry import register_challenger  # noqa: PLC0415

        version = register_challenger(tracking_client(settings), registered_model_name, model_uri)
    return LoggedRun(
        run_id=run_id,
        experiment_id=experiment_id,
        model_uri=model_uri,
        model_id=info.model_id,
        version=version,
        url=run_url(settings, experiment_id, run_id),
    )
