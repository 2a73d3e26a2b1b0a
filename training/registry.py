"""The model registry: one registered model per tenant and taxonomy, moved by aliases only.

`challenger` marks the newest candidate, `champion` the model that serves. Promotion re-measures
the champion on the challenger's held-out set (same rows, same metric code) before the gate
decides; the versions the champion alias has left are kept in the registered-model tag
`champion_history` so `rollback` can walk back. Stages and `latest` are never used.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spendlens.settings import Settings
from training.gate import GateDecision, GateTolerances, decide
from training.tracking import (
    HELDOUT_ARTIFACT,
    MODEL_URI_TAG,
    mlflow_uris,
    tracking_client,
    use_uri,
)

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "HISTORY_TAG",
    "LoadedModel",
    "PromotionResult",
    "RegistryError",
    "RollbackResult",
    "default_evaluate",
    "load_model",
    "model_name",
    "parse_model_ref",
    "promote",
    "register_challenger",
    "rollback",
]

CHALLENGER = "challenger"
CHAMPION = "champion"
HISTORY_TAG = "champion_history"

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_VERSION = re.compile(r"^[1-9][0-9]*$")

Evaluate = Callable[[Any, "pd.DataFrame"], Mapping[str, float]]


class RegistryError(RuntimeError):
    """A registry operation cannot proceed; the message says why and what to do."""


@dataclass(frozen=True)
class LoadedModel:
    """A native sklearn model and the registry version it came from."""

    model: Any
    name: str
    version: str
    alias: str | None
    run_id: str | None
    tenant: str
    taxonomy: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`name/version`: names exactly this model (an alias may move later)."""
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class PromotionResult:
    """What `promote` measured and did."""

    name: str
    challenger_version: str
    previous_champion: str | None
    promoted: bool
    forced: bool
    decision: GateDecision
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None

    @property
    def champion_version(self) -> str | None:
        """The version holding `champion` after the call."""
        return self.challenger_version if self.promoted else self.previous_champion

    def __str__(self) -> str:
        was = f"version {self.previous_champion}" if self.previous_champion else "no champion"
        if self.forced:
            action = "forced to champion despite the gate"
        elif self.promoted:
            action = "promoted to champion"
        else:
            action = "refused; champion unchanged"
        return (
            f"{self.name} version {self.challenger_version} {action} (was {was}); "
            f"gate {self.decision.summary}"
        )


@dataclass(frozen=True)
class RollbackResult:
    """Which version `champion` left and which it went back to."""

    name: str
    from_version: str
    to_version: str
    remaining_history: tuple[str, ...]

    def __str__(self) -> str:
        moved = f"from version {self.from_version} to {self.to_version}"
        return f"{self.name}: champion moved back {moved}"


def model_name(settings: Settings, tenant: str, taxonomy: str) -> str:
    """The registered model of one tenant's taxonomy: `<prefix>-<tenant>-<taxonomy>`, sanitized."""
    raw = f"{settings.model_prefix}-{tenant}-{taxonomy}"
    return _UNSAFE_NAME_CHARS.sub("_", raw)


def parse_model_ref(ref: str) -> tuple[str, str | None, str | None]:
    """`name@alias` or `name/version` (optionally prefixed `models:/`) -> (name, alias, version)."""
    body = ref.removeprefix("models:/")
    if "@" in body:
        name, _, alias = body.partition("@")
        if name and alias and "/" not in body:
            return name, alias, None
    elif "/" in body:
        name, _, version = body.partition("/")
        if name and _VERSION.match(version):
            return name, None, version
    raise RegistryError(
        f"model reference {ref!r} is not 'name@alias' or 'name/version' "
        f"(e.g. 'spendlens-default-default@{CHAMPION}' or 'spendlens-default-default/3')"
    )


def _registered_model(client: MlflowClient, name: str) -> RegisteredModel:
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(
                f"registered model {name!r} does not exist; train one first"
            ) from exc
        raise


def _alias_version(model: RegisteredModel, alias: str) -> str | None:
    aliases: dict[str, str] = dict(model.aliases or {})
    version = aliases.get(alias)
    return None if version is None else str(version)


def _history(model: RegisteredModel) -> list[str]:
    raw = (model.tags or {}).get(HISTORY_TAG, "")
    return [v for v in (part.strip() for part in raw.split(",")) if v]


def _model_version(client: MlflowClient, name: str, version: str) -> ModelVersion:
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        return client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"version {version} of {name!r} does not exist: {exc}") from exc


# Run tags copied onto each registered version, so a loaded model knows what it categorizes.
_RUN_TAGS_ON_VERSION = (
    "spendlens.tenant",
    "spendlens.taxonomy",
    "spendlens.candidate",
    "lineage.input_data_hash",
)


def _resolve_source(client: MlflowClient, source: str) -> tuple[str, str | None, str | None]:
    """(model URI, run id, logged model id) from a run id or a model URI."""
    if source.startswith("models:/"):
        model_id = source.removeprefix("models:/")
        if "/" in model_id or "@" in model_id:
            raise RegistryError(f"{source!r} names a registered model; pass a logged model URI")
        logged = client.get_logged_model(model_id)
        return source, logged.source_run_id, model_id
    if source.startswith("runs:/"):
        run_id = source.removeprefix("runs:/").split("/", 1)[0]
        return source, run_id, None
    run = client.get_run(source)
    uri = run.data.tags.get(MODEL_URI_TAG)
    if uri is None:
        outputs = run.outputs.model_outputs if run.outputs else []
        if len(outputs) != 1:
            raise RegistryError(
                f"run {source} has {len(outputs)} logged models and no {MODEL_URI_TAG} tag; "
                "pass the model URI instead"
            )
        uri = f"models:/{outputs[0].model_id}"
    return uri, source, uri.removeprefix("models:/") if uri.startswith("models:/") else None


def register_challenger(client: MlflowClient, name: str, source: str) -> str:
    """Register a logged model as a new version of `name` and give it the `challenger` alias.

    Args:
        source: a run id logged by `training.tracking.log_candidate`, or a model URI
            (`models:/<model id>` as returned by `log_model`, or `runs:/<run id>/<path>`).

    Returns:
        The new version number (as a string).
    """
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    uri, run_id, model_id = _resolve_source(client, source)
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        try:
            client.create_registered_model(
                name,
                description="spendlens categorizer of one tenant and taxonomy; "
                "alias champion serves, alias challenger is the newest candidate.",
            )
        except MlflowException as exc:
            # Created concurrently since the lookup: fine, add the version to it.
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
    run_tags = client.get_run(run_id).data.tags if run_id else {}
    tags = {key: run_tags[key] for key in _RUN_TAGS_ON_VERSION if key in run_tags}
    # The registry store resolves `models:/<id>` sources with a default client.
    with use_uri(str(client.tracking_uri)):
        version = client.create_model_version(
            name, source=uri, run_id=run_id, model_id=model_id, tags=tags
        )
    client.set_registered_model_alias(name, CHALLENGER, str(version.version))
    return str(version.version)


def _load_version(settings: Settings, name: str, version: str) -> Any:
    """The native sklearn model of one version (no pyfunc wrapper)."""
    import mlflow.sklearn  # noqa: PLC0415

    with mlflow_uris(settings):
        return mlflow.sklearn.load_model(f"models:/{name}/{version}")


def load_model(settings: Settings, ref: str) -> LoadedModel:
    """Load `name@alias` or `name/version` as a native sklearn model with its version info.

    Raises:
        RegistryError: bad reference, unknown model, alias or version.
    """
    name, alias, pinned = parse_model_ref(ref)
    client = tracking_client(settings)
    registered = _registered_model(client, name)
    version = pinned if alias is None else _alias_version(registered, alias)
    if version is None:
        raise RegistryError(f"model {name!r} has no alias {alias!r}")
    info = _model_version(client, name, version)
    tags: dict[str, str] = dict(info.tags or {})
    scope = _scope(client, name, info, tags)
    return LoadedModel(
        model=_load_version(settings, name, version),
        name=name,
        version=version,
        alias=alias,
        run_id=info.run_id,
        tenant=scope[0],
        taxonomy=scope[1],
        tags=tags,
    )


def _scope(
    client: MlflowClient, name: str, info: ModelVersion, tags: Mapping[str, str]
) -> tuple[str, str]:
    """(tenant, taxonomy) of a version: its tags, else its source run's tags."""
    if "spendlens.tenant" not in tags or "spendlens.taxonomy" not in tags:
        tags = client.get_run(info.run_id).data.tags if info.run_id else {}
    tenant, taxonomy = tags.get("spendlens.tenant"), tags.get("spendlens.taxonomy")
    if tenant is None or taxonomy is None:
        raise RegistryError(
            f"version {info.version} of {name!r} does not say which tenant and taxonomy it "
            "categorizes (no spendlens.tenant/spendlens.taxonomy tags): it was not trained by "
            "spendlens"
        )
    return tenant, taxonomy


def _heldout(client: MlflowClient, name: str, version: ModelVersion) -> pd.DataFrame:
    """The held-out set logged on the run that produced `version`."""
    import pandas as pd  # noqa: PLC0415
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    if not version.run_id:
        raise RegistryError(f"version {version.version} of {name!r} has no source run")
    with tempfile.TemporaryDirectory(prefix="spendlens-heldout-") as tmp:
        try:
            local = client.download_artifacts(version.run_id, HELDOUT_ARTIFACT, dst_path=tmp)
        except (MlflowException, OSError) as exc:
            raise RegistryError(
                f"run {version.run_id} of {name!r} version {version.version} has no "
                f"{HELDOUT_ARTIFACT} artifact to evaluate on: {exc}"
            ) from exc
        return pd.read_parquet(Path(local))


def _metric_tags(prefix: str, metrics: Mapping[str, float] | None) -> dict[str, str]:
    return {f"{prefix}.{key}": repr(float(value)) for key, value in (metrics or {}).items()}


def default_evaluate(model: Any, heldout: pd.DataFrame) -> dict[str, float]:
    """`training.evaluation` metrics of `model` on a held-out frame (input + label [+ unseen])."""
    from training.evaluation import evaluate_predictions  # noqa: PLC0415

    inputs = heldout.drop(columns=[c for c in ("label", "unseen") if c in heldout])
    unseen = heldout["unseen"].to_numpy(dtype=bool) if "unseen" in heldout else None
    report = evaluate_predictions(
        heldout["label"].to_numpy(dtype=object),
        model.predict_proba(inputs),
        list(model.classes_),
        unseen,
    )
    return report.as_metrics()


def promote(
    settings: Settings,
    name: str,
    *,
    evaluate: Evaluate | None = None,
    force: bool = False,
    tolerances: GateTolerances | None = None,
) -> PromotionResult:
    """Gate the `challenger` against the `champion` on the challenger's held-out set.

    Both versions are scored by `evaluate(model, heldout)` (default `default_evaluate`; heldout =
    model input columns + `label` + `unseen`). The verdict is tagged on the challenger version
    (`gate.*`). When it passes, or `force` is set (tagged `gate.forced=true`), `champion` moves
    to the challenger, `challenger` is removed and the old champion is appended to
    `champion_history`.

    Raises:
        RegistryError: no such model, or it has no challenger, or the held-out set is missing.
    """
    client = tracking_client(settings)
    registered = _registered_model(client, name)
    challenger_version = _alias_version(registered, CHALLENGER)
    if challenger_version is None:
        raise RegistryError(f"model {name!r} has no {CHALLENGER!r} version; train one first")
    champion_version = _alias_version(registered, CHAMPION)
    if champion_version == challenger_version:
        raise RegistryError(f"version {challenger_version} of {name!r} already is the champion")

    evaluate = evaluate or default_evaluate
    challenger = _model_version(client, name, challenger_version)
    heldout = _heldout(client, name, challenger)
    challenger_metrics = dict(evaluate(_load_version(settings, name, challenger_version), heldout))
    champion_metrics = None
    if champion_version is not None:
        champion_model = _load_version(settings, name, champion_version)
        champion_metrics = dict(evaluate(champion_model, heldout))
    decision = decide(
        challenger_metrics, champion_metrics, tolerances or GateTolerances.from_settings(settings)
    )
    promoted = decision.passed or force
    tags = {
        "gate.passed": str(decision.passed).lower(),
        "gate.reason": decision.summary[:5000],
        "gate.champion_version": champion_version or "none",
        "gate.heldout_rows": str(len(heldout)),
        **_metric_tags("gate.challenger", challenger_metrics),
        **_metric_tags("gate.champion", champion_metrics),
    }
    if force:
        tags["gate.forced"] = "true"
    for key, value in tags.items():
        client.set_model_version_tag(name, challenger_version, key, value)
    if promoted:
        _move_champion(client, registered, name, challenger_version, champion_version)
    return PromotionResult(
        name=name,
        challenger_version=challenger_version,
        previous_champion=champion_version,
        promoted=promoted,
        forced=force and not decision.passed,
        decision=decision,
        challenger_metrics=challenger_metrics,
        champion_metrics=champion_metrics,
    )


def _move_champion(
    client: MlflowClient,
    registered: RegisteredModel,
    name: str,
    new_version: str,
    old_version: str | None,
) -> None:
    if old_version is not None:
        history = [*_history(registered), old_version]
        # History first: if the alias move fails, rollback still knows the old champion.
        client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    client.set_registered_model_alias(name, CHAMPION, new_version)
    client.delete_registered_model_alias(name, CHALLENGER)


def rollback(settings: Settings, name: str) -> RollbackResult:
    """Move `champion` back to the previous champion (the last entry of `champion_history`).

    Raises:
        RegistryError: no such model, no champion, or no earlier champion to return to.
    """
    client = tracking_client(settings)
    registered = _registered_model(client, name)
    current = _alias_version(registered, CHAMPION)
    if current is None:
        raise RegistryError(f"model {name!r} has no {CHAMPION!r}: nothing to roll back")
    history = _history(registered)
    if not history:
        raise RegistryError(
            f"model {name!r} has no earlier champion to roll back to "
            f"(version {current} is the first champion)"
        )
    target = history[-1]
    _model_version(client, name, target)  # fail clearly if it was deleted
    remaining = history[:-1]
    client.set_registered_model_alias(name, CHAMPION, target)
    if remaining:
        client.set_registered_model_tag(name, HISTORY_TAG, ",".join(remaining))
    else:
        client.delete_registered_model_tag(name, HISTORY_TAG)
    client.set_model_version_tag(name, target, "rolled_back_from", current)
    return RollbackResult(
        name=name, from_version=current, to_version=target, remaining_history=tuple(remaining)
    )


def alias_version(settings: Settings, name: str, alias: str) -> str | None:
    """The version an alias points at, or None (also when the model does not exist)."""
    from training.tracking import tracking_client  # noqa: PLC0415

    try:
        model = _registered_model(tracking_client(settings), name)
    except RegistryError:
        return None
    return _alias_version(model, alias)
