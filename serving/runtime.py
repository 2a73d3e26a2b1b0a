"""The online categorizer: normalize (PII masked) -> rules -> model -> routing.

Everything it uses is injectable (model, compiled rules, feature reader, taxonomy, health
checks), so tests run with small fakes; `Categorizer.from_settings` wires the real ones:
the tenant's champion from the MLflow registry, its enabled rules from the database and the
Feast online store (falling back to feature defaults when the store is unavailable).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import pandas as pd

from rules.engine import CompiledRules, Evaluation
from rules.inputs import rule_input_of_normalized
from serving.cascade import cascade
from serving.decisions import DecisionInputs, new_decision_id
from serving.explain import merchant_evidence, occlusions, ranked_drops
from serving.reload import TenantMismatchError
from serving.routing import RoutingPolicy, Source
from serving.schemas import (
    EXPLAIN_MAX_ROWS,
    TOP_K,
    Alternative,
    CategorizeRequest,
    CategorizeResponse,
    Explanation,
    WordWeight,
)
from spendlens.ingest.types import Direction, RawTransaction
from spendlens.ingest.types import Source as InputSource
from spendlens.money import from_minor
from spendlens.normalize.transaction import NormalizedTransaction, Normalizer
from spendlens.settings import Settings
from spendlens.taxonomy import Taxonomy
from training.columns import Columns, as_columns

logger = logging.getLogger(__name__)

DEFAULT_TAXONOMY = "default"
UNKNOWN_ACCOUNT = "unknown"

# rows (tenant, taxonomy, account_id, merchant_id) -> FEATURE_COLUMNS, one row per input row
# (a frame, or name -> array as `features.store.online_feature_columns` returns them)
FeatureReader = Callable[[list[dict[str, Any]]], pd.DataFrame | Mapping[str, np.ndarray]]
HealthCheck = Callable[[], bool]


class Classifier(Protocol):
    """What the categorizer needs of a model: sklearn's classes_ and predict_proba.

    `predict_proba` gets a DataFrame, or `Columns` when the model has a true `reads_columns`
    attribute (the candidates of `training.candidates` do).
    """

    classes_: Any

    def predict_proba(self, frame: Any) -> Any:
        """Class probabilities, one row per input row, columns in `classes_` order."""


@dataclass(frozen=True)
class ServingModel:
    """A model with the registry name and version that decisions report."""

    model: Classifier
    name: str
    version: str
    source: str = "registry"  # or "cache": the registry was down when it loaded


@dataclass
class Categorizer:
    """Categorizes transactions of one tenant and taxonomy."""

    tenant: str
    normalizer: Normalizer
    taxonomy_name: str = DEFAULT_TAXONOMY
    model: ServingModel | None = None
    rules: CompiledRules | None = None
    features: FeatureReader | None = None
    taxonomy: Taxonomy | None = None
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    db_check: HealthCheck | None = None
    rules_version: int | None = None
    # Set after a batch whose features fell back to defaults (feature store unavailable).
    features_degraded: bool = field(default=False, init=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        tenant: str | None = None,
        taxonomy: str = DEFAULT_TAXONOMY,
    ) -> Categorizer:
        """The real wiring (serving.loading): champion from the registry (or its local cache),
        enabled rules, Feast online features, the tenant's routing policy."""
        from serving.loading import RegistryLoader  # noqa: PLC0415

        loader = RegistryLoader(settings, taxonomy=taxonomy)
        tenant = tenant or settings.default_tenant
        try:
            versions = loader.versions(tenant)
        except Exception:
            logger.warning("cannot ask the registry; using the cached champion", exc_info=True)
            return loader.build(tenant, None, None)[0]
        return loader.build(tenant, None, versions)[0]

    @property
    def model_source(self) -> str | None:
        """Where the model came from: registry, cache, or None without a model."""
        return self.model.source if self.model is not None else None

    def health(self) -> dict[str, bool]:
        """model_loaded, db_reachable (True without a check) and ready (both)."""
        model_loaded = self.model is not None
        db_reachable = self.db_check() if self.db_check is not None else True
        return {
            "model_loaded": model_loaded,
            "db_reachable": db_reachable,
            "ready": model_loaded and db_reachable,
        }

    def warm_up(self) -> None:
        """Score one made-up transaction through the model path, writing nothing.

        The model's first use sets up what it reads lazily (Feast's import and store, the
        prior's stacked weights: ~8 s); doing it here keeps that off the first request.
        """
        if self.model is None:
            return
        request = CategorizeRequest(
            description="WARM UP PURCHASE", amount=Decimal("-1.00"), date=dt.date.today()
        )
        self._predict([request], [self._normalize(0, request)])

    def clear_caches(self) -> None:
        """Empty every memo this categorizer fills as it works (normalization, rules, the
        model's vectorizers and prior, online features); they refill on use."""
        from training.memos import clear_model_memos  # noqa: PLC0415

        self.normalizer.clear_caches()
        if self.rules is not None:
            self.rules.clear_memos()
        if self.model is not None:
            clear_model_memos(self.model.model)
        clear = getattr(self.features, "clear", None)
        if callable(clear):
            clear()

    def categorize(self, requests: Sequence[CategorizeRequest]) -> list[CategorizeResponse]:
        """One decision per request, in order.

        Raises:
            TenantMismatchError: a request names another tenant.
        """
        return [response for response, _ in self.decide(requests)]

    def decide(
        self, requests: Sequence[CategorizeRequest]
    ) -> list[tuple[CategorizeResponse, DecisionInputs]]:
        """One decision per request, in order, with what it was based on (for the log).

        Raises:
            TenantMismatchError: a request names another tenant.
        """
        for request in requests:
            if request.tenant is not None and request.tenant != self.tenant:
                raise TenantMismatchError(
                    f"this service categorizes for tenant {self.tenant!r}, not {request.tenant!r}"
                )
        if not requests:
            return []
        normalized = [self._normalize(i, r) for i, r in enumerate(requests)]
        evaluations = self._evaluate_rules(requests, normalized)
        undecided = [i for i, e in enumerate(evaluations) if e is None or e.winner is None]
        predictions, model_inputs, words = self._predict(
            [requests[i] for i in undecided], [normalized[i] for i in undecided]
        )
        by_row = dict(zip(undecided, predictions, strict=True))
        inputs_by_row = dict(zip(undecided, model_inputs, strict=True))
        words_by_row = dict(zip(undecided, words, strict=True))
        decided = []
        for i, (request, norm, evaluation) in enumerate(
            zip(requests, normalized, evaluations, strict=True)
        ):
            response = self._decide(
                request,
                norm,
                evaluation,
                by_row.get(i),
                words_by_row.get(i, []),
                inputs_by_row.get(i, {}),
            )
            features: dict[str, Any] = {
                "merchant": norm.merchant.name,
                "merchant_id": norm.merchant.merchant_id,
                "mcc": norm.mcc,
                "mcc_description": norm.mcc_description,
                "amount_minor": norm.amount_minor,
                "currency": norm.currency,
                "direction": norm.direction.value,
                "date": norm.txn_date.isoformat(),
                "account_tail": norm.account_tail,
            }
            if response.source is Source.MODEL and i in inputs_by_row:
                features["model_input"] = inputs_by_row[i]
            # What a reviewer needs later (the review queue shows them).
            features["reason"] = response.explanation.reason
            features["alternatives"] = [a.model_dump() for a in response.alternatives]
            decided.append((response, DecisionInputs(norm.description, features)))
        return decided

    def _normalize(self, index: int, request: CategorizeRequest) -> NormalizedTransaction:
        raw = RawTransaction(
            line_no=index + 1,
            source=InputSource.JSON,
            txn_date=request.date,
            description=request.description,
            amount_minor=request.amount_minor,
            currency=request.currency,
            direction=Direction(request.resolved_direction),
            mcc=request.mcc,
            account_ref=request.account,
        )
        return self.normalizer(raw)

    def _evaluate_rules(
        self, requests: Sequence[CategorizeRequest], normalized: Sequence[NormalizedTransaction]
    ) -> list[Evaluation | None]:
        if self.rules is None:
            return [None] * len(requests)
        inputs = [
            rule_input_of_normalized(n, r.account)
            for r, n in zip(requests, normalized, strict=True)
        ]
        return list(self.rules.evaluate_many(inputs))

    def _predict(
        self, requests: Sequence[CategorizeRequest], normalized: Sequence[NormalizedTransaction]
    ) -> tuple[list[list[Alternative]], list[dict[str, Any]], list[list[WordWeight]]]:
        """Per row: top-K categories (best first), the model input values, and the words that
        carried the best category (only for requests of up to EXPLAIN_MAX_ROWS rows: each
        explained row costs one more scoring call).

        All lists are empty per row without a model.
        """
        if self.model is None or not requests:
            empty: list[Any] = [[] for _ in requests]
            return empty, [{} for _ in requests], list(empty)
        frame = self.model_input(requests, normalized)
        values = json_records(frame, skip=("description",))
        explain = len(requests) <= EXPLAIN_MAX_ROWS
        # The occluded copies of explained rows are scored in the same call as the rows.
        occluded = [occlusions(frame, i) for i in range(len(requests))] if explain else []
        scored = Columns.concat([frame, *(v for _, v in occluded)])
        scores = np.asarray(self.model.model.predict_proba(_for(self.model.model, scored)), float)
        proba = scores[: len(requests)]
        classes = np.asarray(self.model.model.classes_, dtype=object)
        k = min(TOP_K, len(classes))
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        alternatives = [
            [
                Alternative(category=str(classes[j]), confidence=round(float(proba[i, j]), 4))
                for j in order[i]
            ]
            for i in range(len(requests))
        ]
        words: list[list[WordWeight]] = [[] for _ in requests]
        start = len(requests)
        for i, (row_words, _) in enumerate(occluded):
            best = int(order[i, 0])
            stop = start + len(row_words)
            weights = ranked_drops(row_words, proba[i, best], scores[start:stop, best])
            words[i] = [WordWeight(word=w, weight=v) for w, v in weights]
            start = stop
        return alternatives, values, words

    def model_input(
        self, requests: Sequence[CategorizeRequest], normalized: Sequence[NormalizedTransaction]
    ) -> Columns:
        """The model's input columns as training builds them, with ONLINE features."""
        from training.candidates import MODEL_INPUT_COLUMNS  # noqa: PLC0415 - sklearn

        accounts = [
            r.account or n.account_tail or UNKNOWN_ACCOUNT
            for r, n in zip(requests, normalized, strict=True)
        ]
        merchants = [n.merchant.merchant_id for n in normalized]
        # The columns `training.pipeline.model_input` takes from a txns frame (`frame_of` of
        # `record_of` rows), built directly: a frame per request cost more than the model.
        texts: dict[str, list[Any]] = {
            "description": [n.description for n in normalized],
            "merchant_name": [n.merchant.name for n in normalized],
            "currency": [n.currency for n in normalized],
            "direction": [n.direction.value for n in normalized],
            "mcc": [n.mcc for n in normalized],
            "mcc_description": [n.mcc_description for n in normalized],
        }
        columns: dict[str, np.ndarray] = {name: _objects(v) for name, v in texts.items()}
        columns["amount"] = np.array(
            [float(from_minor(n.amount_minor, n.currency)) for n in normalized], dtype=np.float64
        )
        # UTC midnight of the transaction date (`spendlens.frames.day_start`), naive UTC.
        columns["event_timestamp"] = np.array(
            [n.txn_date for n in normalized], dtype="datetime64[ns]"
        )
        features = self._features(accounts, merchants)
        ordered = {name: columns[name] for name in MODEL_INPUT_COLUMNS}
        return Columns({**ordered, **{name: features[name] for name in features.columns}})

    def _features(self, accounts: list[str], merchants: list[str]) -> Columns:
        from features.transforms import FEATURE_COLUMNS, with_defaults  # noqa: PLC0415

        rows = [
            {
                "tenant": self.tenant,
                "taxonomy": self.taxonomy_name,
                "account_id": account,
                "merchant_id": merchant,
            }
            for account, merchant in zip(accounts, merchants, strict=True)
        ]
        self.features_degraded = False
        if self.features is not None:
            try:
                return as_columns(self.features(rows))[list(FEATURE_COLUMNS)]
            except Exception:
                logger.warning("online features unavailable, using defaults", exc_info=True)
        self.features_degraded = True
        defaults: pd.DataFrame = with_defaults(pd.DataFrame(index=range(len(rows))))
        return as_columns(defaults[FEATURE_COLUMNS])

    def _primary(self, category: str | None) -> str | None:
        if not category:
            return None
        if self.taxonomy is not None and category in self.taxonomy:
            return self.taxonomy.primary_of(category)
        return category

    def _decide(
        self,
        request: CategorizeRequest,
        norm: NormalizedTransaction,
        evaluation: Evaluation | None,
        alternatives: list[Alternative] | None,
        words: list[WordWeight],
        model_values: dict[str, Any],
    ) -> CategorizeResponse:
        winner = evaluation.winner if evaluation is not None else None
        evidence = {
            "merchant": norm.merchant.name,
            "merchant_id": norm.merchant.merchant_id,
            "mcc_description": norm.mcc_description,
        }
        best = alternatives[0] if alternatives and self.model is not None else None
        decided = cascade(
            winner,
            (best.category, best.confidence) if best is not None else None,
            request.amount,
            self.policy,
        )
        rule = decided.rule
        model = self.model if decided.source is Source.MODEL else None
        return CategorizeResponse(
            decision_id=new_decision_id(),
            primary_category=self._primary(decided.category),
            category=decided.category,
            confidence=decided.confidence,
            route=decided.route,
            source=decided.source,
            rule_id=rule.rule_id if rule is not None else None,
            model_name=model.name if model is not None else None,
            model_version=model.version if model is not None else None,
            alternatives=(alternatives or []) if model is not None else [],
            explanation=Explanation(
                reason=decided.reason,
                rule_id=rule.rule_id if rule is not None else None,
                rule_name=rule.name if rule is not None else None,
                conditions=list(rule.fired) if rule is not None else [],
                words=words if model is not None else [],
                merchant_evidence=merchant_evidence(model_values) if model is not None else {},
                **evidence,
            ),
        )


def _for(model: Any, frame: Columns) -> Any:
    """The model input as `model` takes it: Columns, or a frame like training's (UTC times)."""
    if getattr(model, "reads_columns", False):
        return frame
    out = frame.to_frame()
    out["event_timestamp"] = out["event_timestamp"].dt.tz_localize("UTC")
    return out


def _objects(values: list[Any]) -> np.ndarray:
    """A column of Python objects (str, None) as one object array, never split into chars."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def json_records(frame: Columns, *, skip: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Each row's values as JSON-ready Python values (NaN: None; times: ISO 8601 UTC, ms)."""
    names = [name for name in frame.columns if name not in skip]
    out: list[dict[str, Any]] = [{} for _ in range(len(frame))]
    for name in names:
        values = frame[name]
        if values.dtype.kind == "M":
            texts = np.datetime_as_string(values, unit="ms")
            cells: list[Any] = [None if t == "NaT" else f"{t}Z" for t in texts]
        else:
            cells = [_json_value(v) for v in values.tolist()]
        for record, cell in zip(out, cells, strict=True):
            record[name] = cell
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _account(request: CategorizeRequest, row: NormalizedTransaction) -> str:
    """The account a request's online features are keyed by."""
    return request.account or row.account_tail or UNKNOWN_ACCOUNT
