"""Backfill: re-categorize a tenant's stored transactions with the current champion and rules.

A run walks the tenant's canonical transactions (linked SMS duplicates left out, as training
does) in transaction-id order, in chunks. Each chunk is computed from the stored columns, which
are already normalized, without the per-request pydantic/normalizer path: rule inputs and the
model input frame are built straight from the rows, and every row goes through the same
`serving.cascade.cascade` as the online service.

Features: the point-in-time features of `features/transforms.py`, computed once per run over
the tenant's whole history (transactions and labels of the taxonomy) and joined as of each
transaction's date. That is exactly what training gives the model (Feast's historical features
are these snapshots, joined the same way), so a historical transaction is scored as the model
learned to score transactions of that day, and it needs no online store. The online service
instead reads the latest snapshot; for recent transactions the two agree.

Writes: a row of `transaction_categories` is written only when its decision changed: category,
route, source, rule id, model name or model version (a confidence-only change of the same model
is not a change). Each written row gets the run id (and no `decision_id`: no service decision
set it) and an audit record in `backfill_changes` (run, transaction, previous and new
category). The audit is not a `decisions` row on purpose: the decision log is live traffic,
which monitoring windows and the review queue read, and a re-decided history is not; a narrow
table with one index also costs a fraction of a decision-log row with its four indexes.
Human labels live in `labels` and are never touched. Rows without a stored decision get a plain
INSERT, the others an UPDATE; on SQLite the rows go to the driver's executemany as tuples (see
`_executemany`).

Resumability: each chunk commits its writes together with the run's `cursor` (the chunk's last
transaction id) and counters, so a crashed run rerun with `resume=run_id` (or by default the
newest unfinished run of the same tenant, taxonomy and dates) continues after the last committed
chunk. A chunk committed twice is skipped, so retries are harmless. A resumed run whose champion
or rule set changed since it started is marked `superseded` and a fresh run starts instead, so
every transaction ends with the newest decision. In `run_backfill` the next chunk is decided
while the previous one commits (one writer, a thread or a process; commits stay in order), and
decider processes can take a share of the chunks (`Processes`).
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import pickle
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Select, String, bindparam, func, insert, select, type_coerce, update
from sqlalchemy.orm import Session, sessionmaker

from rules.engine import CompiledRules, RuleInput, RuleMatch
from serving.cascade import cascade
from serving.routing import RoutingPolicy, Source
from serving.runtime import ServingModel
from spendlens.money import currency_exponent
from spendlens.storage.models import (
    Account,
    BackfillChange,
    BackfillRun,
    Base,
    Transaction,
    TransactionCategory,
    new_id,
    utcnow,
)
from spendlens.storage.repository import validate_tenant_id

if TYPE_CHECKING:
    from spendlens.settings import Settings
    from spendlens.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 20_000
# The decision columns a chunk produces; the first ones are compared with the stored row.
COMPARED = ("category", "route", "source", "rule_id", "model_name", "model_version")
DECISION_COLUMNS = (
    "transaction_id",
    *COMPARED,
    "primary_category",
    "confidence",
)
_ZERO = Decimal(0)
_Select = TypeVar("_Select", bound=Select[*tuple[Any, ...]])


class RunStatus(StrEnum):
    """Where a backfill run stands."""

    RUNNING = "running"
    FAILED = "failed"  # stopped by an error; resumable
    DONE = "done"
    SUPERSEDED = "superseded"  # the champion or rules changed before it finished: a new run


UNFINISHED = (RunStatus.RUNNING.value, RunStatus.FAILED.value)


class BackfillError(RuntimeError):
    """A backfill cannot proceed; the message says why."""


@dataclass(frozen=True)
class Scope:
    """Which transactions a run re-categorizes: a tenant's, in one taxonomy, optionally dated."""

    tenant: str
    taxonomy: str = "default"
    date_from: dt.date | None = None
    date_until: dt.date | None = None

    def __post_init__(self) -> None:
        validate_tenant_id(self.tenant)
        if self.date_from and self.date_until and self.date_from > self.date_until:
            raise ValueError(f"date_from {self.date_from} is after date_until {self.date_until}")


@dataclass(frozen=True)
class ChunkBounds:
    """Transactions with `after` < id <= `last` (`after` None: from the first)."""

    index: int
    after: str | None
    last: str
    size: int


class FeatureSource(Protocol):
    """Model features for a txns frame (spendlens.frames columns): FEATURE_COLUMNS per row."""

    def __call__(self, txns: pd.DataFrame) -> pd.DataFrame:
        """One row per input row, in order."""


@dataclass(frozen=True)
class PointInTimeFeatures:
    """Each transaction's features as of its own date, from the tenant's feature snapshots."""

    tenant: str
    taxonomy: str
    merchant: pd.DataFrame  # merchant_stats snapshots, sorted by event_timestamp
    account_merchant: pd.DataFrame  # account_merchant snapshots, sorted by event_timestamp

    @classmethod
    def build(
        cls, txns: pd.DataFrame, labels: pd.DataFrame, tenant: str, taxonomy: str
    ) -> PointInTimeFeatures:
        """Snapshots of the whole history (see features/transforms.py)."""
        from features import transforms as ft  # noqa: PLC0415

        merchant = ft.merchant_features(txns, labels, tenant, taxonomy)
        account = ft.account_merchant_features(txns, labels, tenant, taxonomy)
        return cls(
            tenant,
            taxonomy,
            merchant.sort_values(ft.TIMESTAMP, kind="stable").reset_index(drop=True),
            account.sort_values(ft.TIMESTAMP, kind="stable").reset_index(drop=True),
        )

    def __call__(self, txns: pd.DataFrame) -> pd.DataFrame:
        """FEATURE_COLUMNS of each row: its keys' newest snapshot at or before its timestamp."""
        from features import transforms as ft  # noqa: PLC0415

        rows = txns.reset_index(drop=True)
        left = pd.DataFrame(
            {
                ft.MERCHANT_KEY: ft.merchant_keys(rows, self.tenant, self.taxonomy),
                ft.ACCOUNT_MERCHANT_KEY: ft.account_merchant_keys(rows, self.tenant, self.taxonomy),
                ft.TIMESTAMP: _utc_ns(rows["event_timestamp"]),
            }
        )
        left["_row"] = np.arange(len(left))
        left = left.sort_values(ft.TIMESTAMP, kind="stable")
        for key, snapshots, columns in (
            (ft.MERCHANT_KEY, self.merchant, ft.MERCHANT_COLUMNS),
            (ft.ACCOUNT_MERCHANT_KEY, self.account_merchant, ft.ACCOUNT_MERCHANT_COLUMNS),
        ):
            right = snapshots[[key, ft.TIMESTAMP, *columns]]
            left = pd.merge_asof(left, right, on=ft.TIMESTAMP, by=key, direction="backward")
        joined = left.sort_values("_row").reset_index(drop=True)
        features: pd.DataFrame = ft.with_defaults(joined)[ft.FEATURE_COLUMNS]
        return features


def _bind_processor(compiled: Any, name: str, dialect: Any) -> Callable[[Any], Any] | None:
    """How SQLAlchemy renders parameter `name` of `compiled` for the driver (None: as is)."""
    processor: Callable[[Any], Any] | None = (
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
    )
    return processor


def _tuples(session: Session, stmt: Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows of a SELECT as plain tuples, without result processing.

    On SQLite straight from the driver's cursor: building SQLAlchemy's rows took as long as
    fetching them (1.5 s each on a million-row history). Columns therefore come as the driver
    gives them (dates as ISO text on SQLite); bound parameters are processed as SQLAlchemy
    would. Other drivers, or a statement this cannot bind, go through Core.
    """
    connection = session.connection()
    dialect = connection.dialect
    compiled = stmt.compile(dialect=dialect)
    names = compiled.positiontup or ()
    if dialect.name != "sqlite" or "POSTCOMPILE" in compiled.string:
        return [tuple(row) for row in connection.execute(stmt)]
    params = []
    for name in names:
        process = _bind_processor(compiled, name, dialect)
        value = compiled.params[name]
        params.append(process(value) if process is not None else value)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.string, params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return list(rows)


# The columns of a transaction the point-in-time features read (features/transforms.py).
HISTORY_COLUMNS = (
    "transaction_id",
    "account_id",
    "merchant_id",
    "event_timestamp",
    "amount",
    "direction",
)


def load_history(session: Session, tenant: str, taxonomy: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tenant's canonical transactions (feature columns only) and labels in `taxonomy`.

    The same rows, in the same order, as `spendlens.frames.load_frames`, but only what the
    features need, fetched as plain tuples and converted column-wise: the whole history is
    loaded once per run and per-row objects dominated its cost.

    Returns:
        (txns with HISTORY_COLUMNS, labels with frames.LABEL_COLUMNS)
    """
    from spendlens.frames import empty_labels, empty_txns, label_events  # noqa: PLC0415

    t = Transaction
    stmt = (
        select(
            t.id,
            t.account_id,
            t.merchant_id,
            # The stored text as is: parsed below for all rows at once, not a date per row.
            type_coerce(t.txn_date, String),
            t.amount_minor,
            t.currency,
            t.direction,
        )
        .where(t.tenant_id == tenant, t.linked_to_id.is_(None))
        .order_by(t.txn_date, t.id)
    )
    rows = _tuples(session, stmt)
    if not rows:
        return empty_txns(), empty_labels()
    names = ("transaction_id", "account_id", "merchant_id", "txn_date", "minor", "currency")
    columns = dict(zip((*names, "direction"), zip(*rows, strict=True), strict=True))
    currency = pd.Series(columns["currency"], dtype=object)
    scale = currency.map({c: 10.0 ** currency_exponent(c) for c in set(columns["currency"])})
    txns = pd.DataFrame(
        {
            "transaction_id": pd.Series(columns["transaction_id"], dtype=object),
            "account_id": pd.Series(columns["account_id"], dtype=object),
            "merchant_id": pd.Series(columns["merchant_id"], dtype=object),
            "event_timestamp": pd.to_datetime(
                pd.Series(columns["txn_date"], dtype=object).astype(str), format="ISO8601"
            ).dt.tz_localize("UTC"),
            "amount": np.asarray(columns["minor"], dtype="float64") / scale.to_numpy(dtype=float),
            "direction": pd.Series(columns["direction"], dtype=object),
        }
    )
    labels = label_events(session, tenant, taxonomy, txns)
    return txns, labels


def _utc_ns(values: pd.Series) -> pd.Series:
    """Timestamps as datetime64[ns, UTC]; already tz-aware ones without a per-value pass."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


@dataclass(frozen=True)
class Versions:
    """The model (None: rules only) and rule-set version a run decides with."""

    model_name: str | None
    model_version: str | None
    rules_version: int


@dataclass(frozen=True)
class Resources:
    """What a chunk is decided with: the champion, the enabled rules and the features."""

    model: ServingModel | None
    rules: CompiledRules | None
    rules_version: int
    features: FeatureSource
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    taxonomy: Taxonomy | None = None

    @property
    def versions(self) -> Versions:
        """The versions runs record."""
        if self.model is None:
            return Versions(None, None, self.rules_version)
        return Versions(self.model.name, self.model.version, self.rules_version)


@dataclass(frozen=True)
class RunInfo:
    """A backfill run as stored."""

    id: str
    scope: Scope
    status: str
    cursor: str | None
    scanned: int
    changed: int
    model_name: str | None
    model_version: str | None
    rules_version: int | None
    resumed: bool = False
    superseded: str | None = None  # the unfinished run this one replaced


@dataclass(frozen=True)
class ChunkDecisions:
    """The decisions of one chunk (DECISION_COLUMNS) and the seconds each phase took."""

    bounds: ChunkBounds
    frame: pd.DataFrame
    timings: dict[str, float]


@dataclass(frozen=True)
class ChunkResult:
    """What committing one chunk did; `skipped` when it had been committed before."""

    bounds: ChunkBounds
    scanned: int
    changed: int
    skipped: bool
    seconds: float


@dataclass(frozen=True)
class Progress:
    """Reported after each committed chunk."""

    run_id: str
    chunk: int
    chunks: int
    scanned: int  # of the run so far
    changed: int
    cursor: str | None


@dataclass(frozen=True)
class BackfillResult:
    """A finished run and where its time went (seconds per phase, summed over chunks)."""

    run: RunInfo
    chunks: int
    timings: dict[str, float]


ProgressFn = Callable[[Progress], None]


# --- run bookkeeping -------------------------------------------------------------------------


def _info(row: BackfillRun, *, resumed: bool = False, superseded: str | None = None) -> RunInfo:
    return RunInfo(
        id=row.id,
        scope=Scope(row.tenant_id, row.taxonomy, row.date_from, row.date_until),
        status=row.status,
        cursor=row.cursor,
        scanned=row.scanned,
        changed=row.changed,
        model_name=row.model_name,
        model_version=row.model_version,
        rules_version=row.rules_version,
        resumed=resumed,
        superseded=superseded,
    )


def get_run(session: Session, tenant: str, run_id: str) -> RunInfo:
    """A run of the tenant.

    Raises:
        BackfillError: no such run for this tenant.
    """
    row = session.get(BackfillRun, run_id)
    if row is None or row.tenant_id != tenant:
        raise BackfillError(f"no backfill run {run_id!r} for tenant {tenant!r}")
    return _info(row)


def _versions(row: BackfillRun) -> Versions:
    return Versions(row.model_name, row.model_version, row.rules_version or 0)


def _same_scope(row: BackfillRun, scope: Scope) -> bool:
    return (row.taxonomy, row.date_from, row.date_until) == (
        scope.taxonomy,
        scope.date_from,
        scope.date_until,
    )


def open_run(
    session: Session,
    scope: Scope,
    versions: Versions,
    *,
    resume: str | None = None,
    fresh: bool = False,
) -> RunInfo:
    """The run to work on: `resume`, else the newest unfinished run of the scope, else a new one.

    An unfinished run whose champion version or rule-set version differs from `versions` is
    marked superseded and a new run starts (its decisions would not be the newest). `fresh`
    always starts a new run (older unfinished runs of the scope are superseded). Commits.

    Raises:
        BackfillError: `resume` names no run of the tenant, or one of another scope.
    """
    candidate: BackfillRun | None = None
    if resume is not None:
        candidate = session.get(BackfillRun, resume)
        if candidate is None or candidate.tenant_id != scope.tenant:
            raise BackfillError(f"no backfill run {resume!r} for tenant {scope.tenant!r}")
        if not _same_scope(candidate, scope):
            raise BackfillError(
                f"run {resume!r} covers taxonomy {candidate.taxonomy!r}, dates "
                f"{candidate.date_from}..{candidate.date_until}: not this scope"
            )
        if candidate.status == RunStatus.DONE:
            return _info(candidate, resumed=True)
    elif not fresh:
        unfinished = session.scalars(
            select(BackfillRun)
            .where(BackfillRun.tenant_id == scope.tenant, BackfillRun.status.in_(UNFINISHED))
            .order_by(BackfillRun.started_at.desc(), BackfillRun.id.desc())
        ).all()
        candidate = next((r for r in unfinished if _same_scope(r, scope)), None)
    superseded: str | None = None
    if candidate is not None and candidate.status in UNFINISHED:
        same = _versions(candidate) == versions
        if same and not fresh:
            candidate.status = RunStatus.RUNNING
            candidate.error = None
            info = _info(candidate, resumed=True)
            session.commit()
            return info
        candidate.status = RunStatus.SUPERSEDED
        candidate.finished_at = utcnow()
        superseded = candidate.id
    if fresh:
        for row in session.scalars(
            select(BackfillRun).where(
                BackfillRun.tenant_id == scope.tenant, BackfillRun.status.in_(UNFINISHED)
            )
        ):
            if _same_scope(row, scope):
                row.status = RunStatus.SUPERSEDED
                row.finished_at = utcnow()
    row = BackfillRun(
        id=new_id(),
        tenant_id=scope.tenant,
        taxonomy=scope.taxonomy,
        date_from=scope.date_from,
        date_until=scope.date_until,
        status=RunStatus.RUNNING,
        model_name=versions.model_name,
        model_version=versions.model_version,
        rules_version=versions.rules_version,
        scanned=0,
        changed=0,
        started_at=utcnow(),
    )
    session.add(row)
    session.flush()
    info = _info(row, superseded=superseded)
    session.commit()
    return info


def finish_run(session: Session, run_id: str) -> RunInfo:
    """Mark a run done. Commits."""
    row = session.get(BackfillRun, run_id)
    if row is None:
        raise BackfillError(f"no backfill run {run_id!r}")
    row.status = RunStatus.DONE
    row.finished_at = utcnow()
    info = _info(row)
    session.commit()
    return info


def fail_run(session: Session, run_id: str, error: str) -> None:
    """Mark a run failed (resumable) with the error. Commits."""
    row = session.get(BackfillRun, run_id)
    if row is not None and row.status == RunStatus.RUNNING:
        row.status = RunStatus.FAILED
        row.error = error[:4000]
        session.commit()


# --- planning and reading --------------------------------------------------------------------


def _in_scope(stmt: _Select, scope: Scope, *, id_range: bool = False) -> _Select:
    """`stmt` limited to the scope's transactions.

    With `id_range` the scope's own conditions are written so no index can serve them: the
    chunk's id range must be the access path. Otherwise the planner (SQLite without statistics
    at least) walks the tenant's whole index for every chunk, which is quadratic in the history.
    """
    tenant = Transaction.tenant_id.concat("") if id_range else Transaction.tenant_id
    linked = func.coalesce(Transaction.linked_to_id, "") if id_range else Transaction.linked_to_id
    stmt = stmt.where(tenant == scope.tenant)
    stmt = stmt.where(linked == "") if id_range else stmt.where(linked.is_(None))
    if scope.date_from is not None:
        stmt = stmt.where(Transaction.txn_date >= scope.date_from)
    if scope.date_until is not None:
        stmt = stmt.where(Transaction.txn_date <= scope.date_until)
    return stmt


def plan_chunks(
    session: Session, scope: Scope, after: str | None, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> list[ChunkBounds]:
    """Id ranges of at most `chunk_size` transactions in scope, after the cursor `after`."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    stmt = _in_scope(select(Transaction.id), scope)
    if after is not None:
        stmt = stmt.where(Transaction.id > after)
    ids = [row[0] for row in _tuples(session, stmt.order_by(Transaction.id))]
    bounds: list[ChunkBounds] = []
    previous = after
    for index, start in enumerate(range(0, len(ids), chunk_size)):
        part = ids[start : start + chunk_size]
        bounds.append(ChunkBounds(index, previous, part[-1], len(part)))
        previous = part[-1]
    return bounds


_CHUNK_COLUMNS = (
    "transaction_id",
    "account_id",
    "account_name",
    "txn_date",
    "description",
    "memo",
    "merchant_name",
    "merchant_id",
    "amount_minor",
    "currency",
    "direction",
    "mcc",
    "mcc_description",
    "account_tail",
)


def read_chunk(session: Session, scope: Scope, bounds: ChunkBounds) -> pd.DataFrame:
    """The stored columns of a chunk's transactions, in id order."""
    stmt = _in_scope(
        select(
            Transaction.id,
            Transaction.account_id,
            Account.name,
            Transaction.txn_date,
            Transaction.description,
            Transaction.memo,
            Transaction.merchant_name,
            Transaction.merchant_id,
            Transaction.amount_minor,
            Transaction.currency,
            Transaction.direction,
            Transaction.mcc,
            Transaction.mcc_description,
            Transaction.account_tail,
        ).join(
            # Both sides tenant-filtered: an account id never leaks another tenant's name.
            Account,
            (Account.id == Transaction.account_id) & (Account.tenant_id == scope.tenant),
            isouter=True,
        ),
        scope,
        id_range=True,
    ).where(Transaction.id <= bounds.last)
    if bounds.after is not None:
        stmt = stmt.where(Transaction.id > bounds.after)
    frame = pd.DataFrame(_tuples(session, stmt.order_by(Transaction.id)), columns=_CHUNK_COLUMNS)
    # SQLite's driver gives dates as ISO text; the rules read `dt.date`s.
    frame["txn_date"] = [
        d if isinstance(d, dt.date) else dt.date.fromisoformat(d) for d in frame["txn_date"]
    ]
    return frame


def txns_frame(rows: pd.DataFrame, tenant: str) -> pd.DataFrame:
    """The canonical txns frame (spendlens.frames.TXN_COLUMNS) of stored chunk rows."""
    from spendlens.frames import TXN_COLUMNS  # noqa: PLC0415

    scale = rows["currency"].map(lambda c: 10.0 ** currency_exponent(c))
    frame = pd.DataFrame(
        {
            "transaction_id": rows["transaction_id"],
            "tenant_id": tenant,
            "account_id": rows["account_id"],
            # datetime64[D] converts the date objects in C; to_datetime inspects each one.
            "event_timestamp": pd.Series(
                np.asarray(rows["txn_date"].tolist(), dtype="datetime64[D]").astype(
                    "datetime64[ns]"
                ),
                index=rows.index,
            ).dt.tz_localize("UTC"),
            "description": rows["description"],
            "merchant_name": rows["merchant_name"],
            "merchant_id": rows["merchant_id"],
            "amount": rows["amount_minor"].astype(float) / scale,
            "currency": rows["currency"],
            "direction": rows["direction"],
            "mcc": rows["mcc"],
            "mcc_description": rows["mcc_description"],
        }
    )
    return frame[list(TXN_COLUMNS)].reset_index(drop=True)


# --- deciding --------------------------------------------------------------------------------


def model_best(model: ServingModel, frame: pd.DataFrame) -> tuple[list[str], list[float]]:
    """The top category and its probability (rounded as the service rounds) per row."""
    proba = np.asarray(model.model.predict_proba(frame), dtype=float)
    classes = np.asarray(model.model.classes_, dtype=object)
    best = np.argmax(proba, axis=1)  # first maximum, like the service's stable sort
    # Python's round, as the service's: np.round differs from it on some halfway floats.
    confidence = [round(p, 4) for p in proba[np.arange(len(best)), best].tolist()]
    return [str(c) for c in classes[best]], confidence


def decide_chunk(
    rows: pd.DataFrame, scope: Scope, resources: Resources, bounds: ChunkBounds
) -> ChunkDecisions:
    """The cascade's decision for each stored row (no database access)."""
    from training.pipeline import model_input  # noqa: PLC0415

    timings: dict[str, float] = {}
    started = time.perf_counter()
    n = len(rows)
    winners: list[RuleMatch | None] = [None] * n
    if resources.rules is not None and n:
        inputs = [
            RuleInput(*values)
            for values in zip(
                rows["description"],
                rows["merchant_name"],
                rows["memo"],
                rows["amount_minor"],
                rows["currency"],
                rows["direction"],
                rows["txn_date"],
                rows["mcc"],
                rows["account_name"],
                rows["account_tail"],
                strict=True,
            )
        ]
        winners = [e.winner for e in resources.rules.evaluate_many(inputs)]
    timings["rules_s"] = time.perf_counter() - started

    best: dict[int, tuple[str, float]] = {}
    model = resources.model
    undecided = [i for i, w in enumerate(winners) if w is None]
    timings["features_s"] = timings["model_s"] = 0.0
    if model is not None and undecided:
        started = time.perf_counter()
        txns = txns_frame(rows.iloc[undecided], scope.tenant)
        frame = model_input(txns, resources.features(txns))
        timings["features_s"] = time.perf_counter() - started
        started = time.perf_counter()
        categories, confidences = model_best(model, frame)
        best = dict(zip(undecided, zip(categories, confidences, strict=True), strict=True))
        timings["model_s"] = time.perf_counter() - started

    started = time.perf_counter()
    policy = resources.policy
    # route() reads the amount only against a review limit: skip building Decimals otherwise.
    amounts: Sequence[Decimal]
    if policy.review_amount_over is not None:
        amounts = [
            Decimal(int(m)).scaleb(-currency_exponent(c))
            for m, c in zip(rows["amount_minor"], rows["currency"], strict=True)
        ]
    else:
        amounts = [_ZERO] * n
    primary = _primary_of(resources.taxonomy)
    name = model.name if model else None
    version = model.version if model else None
    out: dict[str, list[Any]] = {c: [] for c in COMPARED}
    out.update(primary_category=[], confidence=[])
    for i in range(n):
        decided = cascade(winners[i], best.get(i), amounts[i], policy)
        by_model = decided.source is Source.MODEL
        out["category"].append(decided.category)
        out["route"].append(decided.route.value)
        out["source"].append(decided.source.value)
        out["rule_id"].append(decided.rule.rule_id if decided.rule else None)
        out["model_name"].append(name if by_model else None)
        out["model_version"].append(version if by_model else None)
        out["primary_category"].append(primary(decided.category))
        out["confidence"].append(decided.confidence)
    frame = pd.DataFrame(
        {
            "transaction_id": rows["transaction_id"].to_numpy(),
            **out,
        }
    )
    timings["cascade_s"] = time.perf_counter() - started
    return ChunkDecisions(bounds, frame[list(DECISION_COLUMNS)], timings)


def _primary_of(taxonomy: Taxonomy | None) -> Callable[[str | None], str | None]:
    """The service's primary category of a label (the label itself outside the taxonomy)."""
    cache: dict[str | None, str | None] = {}

    def primary(category: str | None) -> str | None:
        if category in cache:
            return cache[category]
        value = category or None
        if category and taxonomy is not None and category in taxonomy:
            value = taxonomy.primary_of(category)
        cache[category] = value
        return value

    return primary


def compute_chunk(
    session: Session, scope: Scope, bounds: ChunkBounds, resources: Resources
) -> ChunkDecisions:
    """Read a chunk and decide it (reads only)."""
    started = time.perf_counter()
    rows = read_chunk(session, scope, bounds)
    read_s = time.perf_counter() - started
    decided = decide_chunk(rows, scope, resources, bounds)
    decided.timings["read_s"] = read_s
    return decided


# --- writing ---------------------------------------------------------------------------------


def commit_chunk(session: Session, run_id: str, decided: ChunkDecisions) -> ChunkResult:
    """Write the chunk's changed decisions and advance the run's cursor, in one transaction.

    Idempotent: a chunk at or before the run's cursor was committed already and is skipped.

    Raises:
        BackfillError: the run is unknown, not running, or the chunk does not follow its cursor.
    """
    started = time.perf_counter()
    bounds = decided.bounds
    run = session.get(BackfillRun, run_id, with_for_update=True)
    if run is None:
        raise BackfillError(f"no backfill run {run_id!r}")
    if run.status != RunStatus.RUNNING:
        raise BackfillError(f"backfill run {run_id} is {run.status}, not running")
    if run.cursor is not None and run.cursor >= bounds.last:
        session.rollback()
        return ChunkResult(bounds, 0, 0, True, time.perf_counter() - started)
    if run.cursor != bounds.after:
        raise BackfillError(
            f"chunk {bounds.index} starts after {bounds.after!r} but run {run_id} is at "
            f"{run.cursor!r}: chunks must be committed in order"
        )
    frame = decided.frame
    n = len(frame)
    # Column lists, not per-row objects: the writes below are column-wise too.
    values = {c: frame[c].tolist() for c in DECISION_COLUMNS}
    values["confidence"] = frame["confidence"].astype(float).tolist()
    ids = values["transaction_id"]
    stored = _stored(session, run.tenant_id, run.taxonomy, bounds)
    previous: list[tuple[Any, ...] | None] = [stored.get(t) for t in ids] if stored else [None] * n
    if stored:
        keys = zip(*(values[c] for c in COMPARED), strict=True)
        changed_rows = [i for i, key in enumerate(keys) if key != previous[i]]
    else:
        changed_rows = list(range(n))
    if len(changed_rows) < n:
        values = {c: [column[i] for i in changed_rows] for c, column in values.items()}
        previous = [previous[i] for i in changed_rows]
    _write_changes(session, run, values, previous)
    changed = len(changed_rows)
    run.cursor = bounds.last
    run.scanned += n
    run.changed += changed
    session.commit()
    return ChunkResult(bounds, n, changed, False, time.perf_counter() - started)


def _write_changes(
    session: Session,
    run: BackfillRun,
    rows: dict[str, list[Any]],
    previous: list[tuple[Any, ...] | None],
) -> None:
    """Write changed decisions (DECISION_COLUMNS lists) and their audit records (no commit).

    Args:
        previous: each row's stored decision (COMPARED values), None where it has no row yet.
    """
    now = utcnow()

    def part(new: bool) -> dict[str, list[Any]]:
        picked = [i for i, before in enumerate(previous) if (before is None) == new]
        size = len(picked)
        return {
            "transaction_id": [rows["transaction_id"][i] for i in picked],
            "taxonomy": [run.taxonomy] * size,
            "tenant_id": [run.tenant_id] * size,
            **{c: [rows[c][i] for i in picked] for c in _WRITTEN},
            "decision_id": [None] * size,
            "run_id": [run.id] * size,
            "updated_at": [now] * size,
        }

    categories = Base.metadata.tables[TransactionCategory.__tablename__]
    inserts, updates = part(new=True), part(new=False)
    if inserts["transaction_id"]:
        # Known to have no row yet: a plain INSERT, no upsert.
        _executemany(session, insert(categories), inserts)
    if updates["transaction_id"]:
        updates["key_id"] = updates.pop("transaction_id")
        updates["key_taxonomy"] = updates.pop("taxonomy")
        del updates["tenant_id"]
        by_key = (categories.c.transaction_id == bindparam("key_id")) & (
            categories.c.taxonomy == bindparam("key_taxonomy")
        )
        written = {c: bindparam(c, type_=categories.c[c].type) for c in _UPDATED}
        _executemany(session, update(categories).where(by_key).values(written), updates)
    if previous:
        _executemany(
            session,
            insert(Base.metadata.tables[BackfillChange.__tablename__]),
            {
                "run_id": [run.id] * len(previous),
                "transaction_id": rows["transaction_id"],
                "previous_category": [p[0] if p else None for p in previous],
                "category": rows["category"],
            },
        )


# The decision columns a written row takes from the chunk's frame.
_WRITTEN = (
    "category",
    "primary_category",
    "confidence",
    "route",
    "source",
    "rule_id",
    "model_name",
    "model_version",
)
_UPDATED = (*_WRITTEN, "decision_id", "run_id", "updated_at")


def _executemany(session: Session, stmt: Any, columns: dict[str, list[Any]]) -> None:
    """Execute `stmt` once per row of `columns` (equal-length lists named like its parameters).

    With a positional driver (SQLite) the rows go to the driver's executemany as plain tuples:
    SQLAlchemy's per-row parameter handling costs more than the insert itself. Each parameter's
    type processing (datetime and JSON rendering) is applied column-wise, so the stored values
    are exactly what SQLAlchemy would have bound. Other drivers get Core's executemany.
    """
    connection = session.connection()
    dialect = connection.dialect
    # An INSERT names the given columns only; an UPDATE's SET is its own `values`.
    keys = list(columns) if stmt.is_insert else None
    compiled = stmt.compile(dialect=dialect, column_keys=keys)
    names = list(compiled.positiontup or ()) if compiled.positional else []
    if not names or set(names) - set(columns):
        # Named parameters (or a parameter this fast path cannot fill): Core's executemany.
        rows = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
        session.execute(stmt, rows)
        return
    ordered: list[list[Any]] = []
    for name in names:
        column = columns[name]
        process = _bind_processor(compiled, name, dialect)
        if process is not None:
            # Columns repeat a few objects (the chunk's timestamp): render
            # each object once. Keyed by identity: `column` keeps every object alive meanwhile.
            rendered: dict[int, Any] = {}
            column = [
                rendered[id(v)] if id(v) in rendered else rendered.setdefault(id(v), process(v))
                for v in column
            ]
        ordered.append(column)
    connection.exec_driver_sql(compiled.string, list(zip(*ordered, strict=True)))


def _stored(
    session: Session, tenant: str, taxonomy: str, bounds: ChunkBounds
) -> dict[str, tuple[Any, ...]]:
    """The stored decision (COMPARED values) of each transaction of the chunk's id range."""
    tc = TransactionCategory
    stmt = select(
        tc.transaction_id,
        tc.category,
        tc.route,
        tc.source,
        tc.rule_id,
        tc.model_name,
        tc.model_version,
    ).where(
        # Not indexable on purpose: the primary key's id range is the access path (see _in_scope).
        tc.tenant_id.concat("") == tenant,
        tc.taxonomy == taxonomy,
        tc.transaction_id <= bounds.last,
    )
    if bounds.after is not None:
        stmt = stmt.where(tc.transaction_id > bounds.after)
    return {row[0]: tuple(row[1:]) for row in session.execute(stmt)}


# --- wiring ----------------------------------------------------------------------------------


def tenant_policy(settings: Settings, tenant: str) -> RoutingPolicy:
    """The tenant's routing policy, as the service builds it (settings `route_*` + overrides)."""
    from serving.loading import default_policy  # noqa: PLC0415
    from serving.routing import policy_of  # noqa: PLC0415

    return policy_of(default_policy(settings), settings.routing_overrides, tenant)


def current_versions(
    settings: Settings, session: Session, tenant: str, taxonomy: str = "default"
) -> Versions:
    """The tenant's champion version (None without one) and rule-set version right now."""
    from rules.store import rules_version  # noqa: PLC0415
    from training.registry import CHAMPION, alias_version, model_name  # noqa: PLC0415

    name = model_name(settings, tenant, taxonomy)
    version = alias_version(settings, name, CHAMPION)
    return Versions(name if version else None, version, rules_version(session, tenant))


def load_resources(
    settings: Settings,
    sessions: sessionmaker[Session],
    tenant: str,
    taxonomy: str = "default",
    *,
    pinned: Versions | None = None,
) -> Resources:
    """The real champion, enabled rules, point-in-time features and routing policy.

    Without a champion in the registry, rules decide alone (logged), like the service.

    Args:
        pinned: a run's versions: load exactly that model version (or none), and fail when the
            rules have changed since.

    Raises:
        BackfillError: the rules are no longer at the pinned version.
    """
    from rules.store import list_rules, rules_version  # noqa: PLC0415
    from spendlens.taxonomy import load_default_taxonomy  # noqa: PLC0415
    from training.registry import CHAMPION, RegistryError, load_model, model_name  # noqa: PLC0415

    name = model_name(settings, tenant, taxonomy)
    ref: str | None = f"{name}@{CHAMPION}"
    if pinned is not None:
        ref = f"{pinned.model_name}/{pinned.model_version}" if pinned.model_version else None
    model: ServingModel | None = None
    if ref is not None:
        try:
            loaded = load_model(settings, ref)
            model = ServingModel(model=loaded.model, name=loaded.name, version=loaded.version)
        except RegistryError:
            if pinned is not None:
                raise
            logger.warning("no model %s; the backfill uses rules only", ref, exc_info=True)
    with sessions() as session:
        enabled = list_rules(session, tenant, enabled_only=True)
        version = rules_version(session, tenant)
        txns, labels = load_history(session, tenant, taxonomy)
    if pinned is not None and version != pinned.rules_version:
        raise BackfillError(
            f"the rules of tenant {tenant!r} changed during the run (version "
            f"{pinned.rules_version} -> {version}); run the backfill again to start a new run"
        )
    features = PointInTimeFeatures.build(txns, labels, tenant, taxonomy)
    return Resources(
        model=model,
        rules=CompiledRules.compile(enabled) if enabled else None,
        rules_version=version,
        features=features,
        policy=tenant_policy(settings, tenant),
        taxonomy=load_default_taxonomy() if taxonomy == "default" else None,
    )


@dataclass(frozen=True)
class Processes:
    """Run a backfill's commits, and some of its chunks, in processes of their own.

    Every process connects to the database at `database_url` (the one the run's `sessions`
    open). One writer process commits, in order. Each of `deciders` processes, once it is set
    up with its copy of the run's resources, reads and decides a share of the chunks (of every
    deciders + 1 chunks, one is left to the caller).
    """

    database_url: str
    deciders: int = 0

    def __post_init__(self) -> None:
        if self.deciders < 0:
            raise ValueError(f"deciders must be >= 0, got {self.deciders}")


@dataclass
class _Worker:
    """What a writer or decider process holds: its database connection, and resources."""

    sessions: sessionmaker[Session]
    resources: Resources | None


_worker: _Worker | None = None  # set once in each worker process by `_start_worker`


def _start_worker(url: str, build: Callable[[], Resources] | None) -> None:
    """Initializer of a worker process: connect to the database, build resources once."""
    from spendlens.storage.db import make_engine, session_factory  # noqa: PLC0415

    global _worker  # noqa: PLW0603 - one per worker process, set at its start
    _worker = _Worker(session_factory(make_engine(url)), build() if build else None)


def _current_worker() -> _Worker:
    if _worker is None:  # pragma: no cover - the pool's initializer sets it
        raise BackfillError("this process was not started as a backfill worker")
    return _worker


def _commit_with(
    sessions: sessionmaker[Session], run_id: str, decided: ChunkDecisions
) -> ChunkResult:
    """`commit_chunk` in a session of its own."""
    with sessions() as session:
        return commit_chunk(session, run_id, decided)


def _commit_in_worker(run_id: str, decided: ChunkDecisions) -> ChunkResult:
    """`commit_chunk` in the writer process."""
    return _commit_with(_current_worker().sessions, run_id, decided)


def _decide_in_worker(scope: Scope, bounds: ChunkBounds, versions: Versions) -> ChunkDecisions:
    """`compute_chunk` in a decider process, with its resources if they are the run's."""
    worker = _current_worker()
    if worker.resources is None or worker.resources.versions != versions:
        built = worker.resources.versions if worker.resources else None
        raise BackfillError(f"a decider process built resources {built}, the run uses {versions}")
    with worker.sessions() as session:
        return compute_chunk(session, scope, bounds, worker.resources)


def _spawn(workers: int, url: str, build: Callable[[], Resources] | None) -> _Pool:
    """A pool of `workers` worker processes, started now (their start-up overlaps planning)."""
    # spawn, not fork: this process has open connections and threads a child must not inherit.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(url, build),
    )
    # Each submit without an idle process starts one; these finish once it is set up.
    return _Pool(pool, [pool.submit(int) for _ in range(workers)])


@dataclass(frozen=True)
class _Pool:
    """Worker processes, and a no-op per process that finishes once the process is set up."""

    executor: ProcessPoolExecutor
    started: list[Future[int]]

    def ready(self) -> bool:
        """Whether every process is set up (a failed set-up raises here)."""
        if not all(future.done() for future in self.started):
            return False
        for future in self.started:
            future.result()
        return True


@dataclass
class _Tally:
    """A run's counters and phase timings, updated as each chunk's commit is collected."""

    progress: ProgressFn | None
    run_id: str = ""
    chunks: int = 0
    scanned: int = 0
    changed: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def start(self, run: RunInfo) -> None:
        """Count on from what a resumed run had done."""
        self.run_id, self.scanned, self.changed = run.id, run.scanned, run.changed

    def add(self, phase: str, seconds: float) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + seconds

    def collect(self, pending: Future[ChunkResult], decided: ChunkDecisions) -> None:
        """Wait for a chunk's commit, count it, report progress."""
        started = time.perf_counter()
        result = pending.result()
        self.add("commit_wait_s", time.perf_counter() - started)
        for phase, seconds in decided.timings.items():
            self.add(phase, seconds)
        self.add("commit_s", result.seconds)
        self.scanned += result.scanned
        self.changed += result.changed
        if self.progress is not None:
            bounds = decided.bounds
            self.progress(
                Progress(
                    self.run_id, bounds.index, self.chunks, self.scanned, self.changed, bounds.last
                )
            )


@dataclass
class _Workers:
    """The writer (a thread, or a process) and, once started, the decider processes."""

    writer: Executor
    stack: ExitStack
    processes: Processes | None
    deciders: _Pool | None = None

    @property
    def deciders_due(self) -> bool:
        """Whether the run has decider processes that are not started yet."""
        return bool(self.processes and self.processes.deciders and self.deciders is None)

    def start_deciders(self, build: Callable[[], Resources]) -> None:
        """Start the decider processes (once), each building its resources with `build`."""
        if not self.deciders_due or self.processes is None:
            return
        self.deciders = _spawn(self.processes.deciders, self.processes.database_url, build)
        self.stack.enter_context(self.deciders.executor)
        self.stack.callback(self.deciders.executor.shutdown, wait=False, cancel_futures=True)


@contextmanager
def _workers(processes: Processes | None) -> Iterator[_Workers]:
    """The run's worker processes (or commit thread), stopped when leaving.

    Leaving waits for the work in flight, the writer's last, so no commit can still move the
    cursor after it; chunks queued for deciders and not started are dropped.
    """
    with ExitStack() as stack:
        writer: Executor
        if processes is None:
            writer = ThreadPoolExecutor(1, thread_name_prefix="backfill-commit")
        else:
            writer = _spawn(1, processes.database_url, None).executor
        stack.enter_context(writer)
        yield _Workers(writer, stack, processes)


@dataclass
class _Pipeline:
    """Decides a run's chunks here and on the deciders, and commits them in order."""

    sessions: sessionmaker[Session]
    scope: Scope
    resources: Resources
    writer: Executor
    commit_one: Callable[[ChunkDecisions], ChunkResult]
    deciders: _Pool | None
    share: int  # with deciders up: of every `share` chunks, one is decided here
    tally: _Tally
    in_flight: deque[tuple[Future[ChunkResult], ChunkDecisions]] = field(default_factory=deque)

    def run(self, plan: Sequence[ChunkBounds]) -> None:
        """Every chunk of `plan`, decided and committed; progress after each commit.

        Chunks go to the deciders only once they are set up (they build their resources as
        this process does): until then this process decides every chunk, so a small run never
        waits for them.
        """
        ahead: dict[int, Future[ChunkDecisions]] = {}  # chunks queued to deciders
        first: int | None = None  # the first chunk the deciders could take
        queued = 0  # chunks before this one were considered for queueing
        ready: ChunkDecisions | None = None  # decided, not yet committed
        deciders = self.deciders
        for index, bounds in enumerate(plan):
            if deciders is not None and first is None and deciders.ready():
                first = queued = index + 1
            end = min(len(plan), index + 2 * self.share)  # deciders work two rounds ahead
            while deciders is not None and first is not None and queued < end:
                if (queued - first) % self.share < self.share - 1:
                    ahead[queued] = deciders.executor.submit(
                        _decide_in_worker, self.scope, plan[queued], self.resources.versions
                    )
                queued += 1
            here = index not in ahead
            if here:
                started = time.perf_counter()
                with self.sessions() as session:
                    rows = read_chunk(session, self.scope, bounds)
                read_s = time.perf_counter() - started
            if ready is not None:
                self.in_flight.append((self.writer.submit(self.commit_one, ready), ready))
            if here:
                ready = decide_chunk(rows, self.scope, self.resources, bounds)
                ready.timings["read_s"] = read_s
            else:
                started = time.perf_counter()
                ready = ahead.pop(index).result()
                self.tally.add("decider_wait_s", time.perf_counter() - started)
            while len(self.in_flight) >= self.share:  # alone: wait for it before the next read
                self.tally.collect(*self.in_flight.popleft())
        if ready is not None:
            self.in_flight.append((self.writer.submit(self.commit_one, ready), ready))
        while self.in_flight:
            self.tally.collect(*self.in_flight.popleft())

    def settle(self) -> None:
        """Wait for the commits in flight (after a failure: none may move the cursor later)."""
        wait([pending for pending, _ in self.in_flight])


def run_backfill(
    sessions: sessionmaker[Session],
    scope: Scope,
    resources: Resources | Callable[[], Resources],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    resume: str | None = None,
    fresh: bool = False,
    progress: ProgressFn | None = None,
    processes: Processes | None = None,
) -> BackfillResult:
    """Re-categorize the scope chunk by chunk on this machine (resuming an unfinished run).

    Chunk i+1 is read, then decided while chunk i commits, so deciding and writing overlap.
    Commits stay strictly in order, one at a time, and `progress` is called after each, from
    this thread. Timings are per phase, summed over processes; `commit_wait_s` is how long
    deciding waited for a commit, `decider_wait_s` how long it waited for a decider process.

    Without `processes`, commits run on a thread of this process, and reading is kept out of
    their overlap: the reader and the writer each release the GIL on every row they step
    through SQLite, and run together each waited on the other at every row (reading took three
    times as long). With `processes`, commits run in a writer process (on a thread, writing and
    deciding shared the GIL, which slowed both by a third on a 1M-row run) and decider
    processes take a share of the chunks.

    Args:
        resources: what chunks are decided with, or a picklable callable (a module-level
            function, or a functools.partial of one) that builds them. Decider processes get
            a pickled copy of the resources; given the callable, each process calls it
            instead, at the same time as this one (for resources that do not pickle: on 2
            cores the copy is faster, the builds competed for the cores). Every chunk checks
            that its process has the run's model and rule versions.

    A failure marks the run failed (resumable) and is raised again.
    """
    tally = _Tally(progress)
    with _workers(processes) as workers:
        started = time.perf_counter()
        if isinstance(resources, Resources):
            mine = resources
        else:
            workers.start_deciders(resources)  # they build theirs while this process does
            mine = resources()
            tally.add("resources_s", time.perf_counter() - started)
        if workers.deciders_due:  # they get a copy of these: built once, not once per process
            started = time.perf_counter()
            copy = pickle.dumps(mine, pickle.HIGHEST_PROTOCOL)
            workers.start_deciders(partial(pickle.loads, copy))
            tally.add("copy_resources_s", time.perf_counter() - started)
        with sessions() as session:
            run = open_run(session, scope, mine.versions, resume=resume, fresh=fresh)
        if run.status == RunStatus.DONE:
            return BackfillResult(run, 0, tally.timings)
        tally.start(run)
        pipeline = _Pipeline(
            sessions,
            scope,
            mine,
            workers.writer,
            partial(_commit_with, sessions, run.id)
            if processes is None
            else partial(_commit_in_worker, run.id),
            workers.deciders,
            1 + (processes.deciders if processes is not None else 0),
            tally,
        )
        try:
            with sessions() as session:
                started = time.perf_counter()
                plan = plan_chunks(session, scope, run.cursor, chunk_size)
                tally.add("plan_s", time.perf_counter() - started)
            tally.chunks = len(plan)
            pipeline.run(plan)
        except Exception as exc:
            pipeline.settle()
            with sessions() as session:
                fail_run(session, run.id, f"{type(exc).__name__}: {exc}")
            raise
    with sessions() as session:
        finished = finish_run(session, run.id)
    finished = replace(finished, resumed=run.resumed, superseded=run.superseded)
    return BackfillResult(finished, tally.chunks, tally.timings)
