"""The real loader behind the service's categorizer pool: champion from the MLflow registry,
enabled rules from the database, Feast online features; plus a local cache of the champion.

Every champion the service loads from the registry is also written to
`<state>/serving/champions/<model name>/` (the native model, pickled, and its version), so a
service starting while MLflow is down serves the last champion it knew instead of rules only.
Reloads load the exact version the alias pointed at when checked (`name/version`), so a second
promotion in between cannot produce a model that reports the wrong version.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.feature_cache import cached
from serving.reload import Versions
from serving.routing import RoutingPolicy, policy_of
from serving.runtime import Categorizer, FeatureReader, ServingModel
from spendlens.settings import Settings

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

CACHE_MODEL = "model.pkl"
CACHE_META = "meta.json"


def default_policy(settings: Settings) -> RoutingPolicy:
    """The routing policy every tenant starts from (settings `route_*`)."""
    return RoutingPolicy(
        auto_threshold=settings.route_auto_threshold,
        suggest_threshold=settings.route_suggest_threshold,
        review_categories=frozenset(settings.route_review_categories),
        review_amount_over=settings.route_review_amount_over,
    )


def limit_registry_retries(settings: Settings) -> None:
    """Make MLflow's HTTP client give up fast (its default retries for minutes).

    MLflow reads these from the environment on every request and has no other knob; only the
    service's entry point calls this, and explicit environment values win.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.registry_http_retries))
    os.environ.setdefault(
        "MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.registry_http_timeout_seconds)
    )
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")


def cache_dir(settings: Settings, name: str) -> Path:
    """Where the last champion of registered model `name` is cached."""
    return settings.serving_cache_dir / name


def write_cache(settings: Settings, model: ServingModel) -> None:
    """Keep `model` as the last known champion (written atomically: a crash leaves the old)."""
    import cloudpickle  # noqa: PLC0415

    folder = cache_dir(settings, model.name)
    folder.mkdir(parents=True, exist_ok=True)
    tmp_model = folder / f".{CACHE_MODEL}.tmp"
    tmp_model.write_bytes(cloudpickle.dumps(model.model))
    tmp_meta = folder / f".{CACHE_META}.tmp"
    tmp_meta.write_text(json.dumps({"name": model.name, "version": model.version}))
    tmp_model.replace(folder / CACHE_MODEL)
    tmp_meta.replace(folder / CACHE_META)


def read_cache(settings: Settings, name: str) -> ServingModel | None:
    """The cached champion of `name`, None when there is none or it cannot be read."""
    import cloudpickle  # noqa: PLC0415

    folder = cache_dir(settings, name)
    try:
        meta = json.loads((folder / CACHE_META).read_text())
        model = cloudpickle.loads((folder / CACHE_MODEL).read_bytes())
    except FileNotFoundError:
        return None
    except Exception:
        logger.warning("the cached champion in %s cannot be read", folder, exc_info=True)
        return None
    return ServingModel(model=model, name=meta["name"], version=meta["version"], source="cache")


class RegistryLoader:
    """Builds each tenant's Categorizer from the registry, the database and Feast."""

    def __init__(
        self,
        settings: Settings,
        *,
        taxonomy: str | None = None,
        features: FeatureReader | None = None,
    ) -> None:
        """Args:
        features: the online feature reader; default Feast's online store.
        """
        from spendlens.ingest.loader import default_normalizer  # noqa: PLC0415
        from spendlens.storage.db import engine_from_settings, session_factory  # noqa: PLC0415
        from spendlens.taxonomy import load_default_taxonomy  # noqa: PLC0415

        self.settings = settings
        self.taxonomy = taxonomy or settings.serve_taxonomy
        self.engine = engine_from_settings(settings)
        self.sessions = session_factory(self.engine)
        self.normalizer = default_normalizer(settings)
        self.features: FeatureReader = features or cached(
            feast_reader(settings), settings.feature_cache_seconds
        )
        self.default_taxonomy = load_default_taxonomy()
        self.policy = default_policy(settings)
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _registry(self) -> Any:
        from training.tracking import tracking_client  # noqa: PLC0415

        with self._client_lock:
            if self._client is None:
                self._client = tracking_client(self.settings)
            return self._client

    def model_name(self, tenant: str) -> str:
        """The registered model of the tenant's served taxonomy."""
        from training.registry import model_name  # noqa: PLC0415

        return model_name(self.settings, tenant, self.taxonomy)

    def versions(self, tenant: str) -> Versions:
        """Ask the registry for the champion version and the database for the rules version."""
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        from rules.store import rules_version  # noqa: PLC0415
        from training.registry import CHAMPION  # noqa: PLC0415

        try:
            found = self._registry().get_model_version_by_alias(self.model_name(tenant), CHAMPION)
            model: str | None = str(found.version)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise
            model = None  # no such model or no champion alias: rules only
        with self.sessions() as session:
            rules = rules_version(session, tenant)
        return Versions(model, rules)

    def _model(self, tenant: str, version: str | None) -> ServingModel | None:
        from training.registry import load_model  # noqa: PLC0415

        if version is None:
            return None
        loaded = load_model(self.settings, f"{self.model_name(tenant)}/{version}")
        model = ServingModel(model=loaded.model, name=loaded.name, version=loaded.version)
        try:
            write_cache(self.settings, model)
        except OSError:
            logger.warning("cannot cache the champion of %s", tenant, exc_info=True)
        return model

    def build(
        self, tenant: str, previous: Categorizer | None, versions: Versions | None
    ) -> tuple[Categorizer, Versions]:
        """A categorizer for `versions`; reuses `previous`'s model or rules when unchanged.

        `versions` None means the registry could not be asked: the cached champion serves.
        """
        from rules.store import rules_version  # noqa: PLC0415

        if versions is None:
            model = read_cache(self.settings, self.model_name(tenant))
            if model is None:
                logger.warning("registry unreachable and no cached champion: rules only")
            with self.sessions() as session:
                rules_at = rules_version(session, tenant)
            versions = Versions(model.version if model else None, rules_at)
        elif previous is not None and _version(previous) == versions.model:
            model = previous.model
        else:
            model = self._model(tenant, versions.model)
        if previous is not None and previous.rules_version == versions.rules:
            compiled = previous.rules
        else:
            compiled = load_rules(self.sessions, tenant)
        if previous is not None:
            return replace(previous, model=model, rules=compiled, rules_version=versions.rules), (
                versions
            )
        categorizer = Categorizer(
            tenant=tenant,
            normalizer=self.normalizer,
            taxonomy_name=self.taxonomy,
            model=model,
            rules=compiled,
            rules_version=versions.rules,
            features=self.features,
            taxonomy=self.default_taxonomy if self.taxonomy == "default" else None,
            policy=policy_of(self.policy, self.settings.routing_overrides, tenant),
            db_check=self.db_check,
        )
        return categorizer, versions

    def db_check(self) -> bool:
        """The database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception:
            logger.warning("database is not reachable", exc_info=True)
            return False
        return True


def _version(categorizer: Categorizer) -> str | None:
    return categorizer.model.version if categorizer.model is not None else None


def load_rules(sessions: Callable[[], Any], tenant: str) -> Any:
    """The tenant's enabled rules, compiled; None when there are none.

    Raises:
        Exception: the database cannot be read (a reload then keeps the old rules).
    """
    from rules.engine import CompiledRules  # noqa: PLC0415
    from rules.store import list_rules  # noqa: PLC0415

    with sessions() as session:
        enabled = list_rules(session, tenant, enabled_only=True)
    return CompiledRules.compile(enabled) if enabled else None


def feast_reader(settings: Settings) -> FeatureReader:
    """Online features from Feast; the store opens on first use (Feast imports in ~8 s)."""
    store: list[Any] = []
    lock = threading.Lock()

    def read(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        from features.store import online_feature_columns, open_store  # noqa: PLC0415

        with lock:
            if not store:
                store.append(open_store(settings, online_only=True))
        return online_feature_columns(settings, rows, store=store[0])

    return read
