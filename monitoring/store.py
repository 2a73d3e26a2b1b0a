"""Database reads and writes of monitoring: decision windows, feedback, `monitor_runs` rows.

Feedback on a decision is its `corrected_category`, or a human label (source `feedback` or
`review`) on the decision's transaction in the monitored taxonomy. A feedback call stores both
when the transaction is known, so counts de-duplicate by transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitoring.accuracy import FEEDBACK_COLUMNS
from monitoring.frames import DECISION_COLUMNS, empty_decisions
from monitoring.summary import Window
from spendlens.storage.models import Decision, Label, MonitorRun, Taxonomy, Tenant
from spendlens.storage.repository import TenantError

# Label sources that are a person's correction (as rules.governance.CORRECTION_SOURCES).
CORRECTION_SOURCES = ("feedback", "review")
# Bound parameters per IN (...) query, below SQLite's limit.
_IN_CHUNK = 5_000


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def require_tenant(sessions: sessionmaker[Session], tenant: str) -> None:
    """Raise TenantError (a user error in the CLI) unless the tenant exists."""
    with sessions() as session:
        if session.get(Tenant, tenant) is None:
            raise TenantError(f"unknown tenant {tenant!r}: nothing to monitor")


def load_decisions(sessions: sessionmaker[Session], tenant: str, window: Window) -> pd.DataFrame:
    """The tenant's decisions created in the window (columns: `frames.DECISION_COLUMNS`).

    The few `features` values drift needs are read with SQL JSON functions, so the stored model
    input (the bulk of each row) is never decoded.
    """
    features = Decision.features
    query = (
        select(
            Decision.created_at,
            Decision.description,
            Decision.category,
            Decision.confidence,
            Decision.route,
            Decision.source,
            Decision.model_version,
            features["merchant_id"].as_string().label("merchant_id"),
            features["mcc"].as_string().label("mcc"),
            features["amount_minor"].as_integer().label("amount_minor"),
            features["currency"].as_string().label("currency"),
        )
        .where(
            Decision.tenant_id == tenant,
            Decision.created_at >= _utc(window.start),
            Decision.created_at < _utc(window.end),
        )
        .execution_options(yield_per=20_000)
    )
    with sessions() as session:
        rows = session.execute(query).all()
    if not rows:
        return empty_decisions()
    return pd.DataFrame.from_records(rows, columns=list(DECISION_COLUMNS))


def _feedback_labels(
    session: Session, tenant: str, taxonomy: str, since: dt.datetime
) -> list[tuple[str, str, dt.datetime]]:
    """(transaction id, category, created at) of the corrections labelled since `since`."""
    query = (
        select(Label.transaction_id, Label.category, Label.created_at)
        .join(Taxonomy, Taxonomy.id == Label.taxonomy_id)
        .where(
            Label.tenant_id == tenant,
            Taxonomy.name == taxonomy,
            Label.source.in_(CORRECTION_SOURCES),
            Label.created_at >= _utc(since),
        )
    )
    return [(str(t), str(c), _utc(at)) for t, c, at in session.execute(query).all()]


def load_feedback(
    sessions: sessionmaker[Session], tenant: str, taxonomy: str, window: Window
) -> pd.DataFrame:
    """Decisions created in the window that got feedback, with `truth` (columns: FEEDBACK_COLUMNS).

    The decision's own correction wins; otherwise the newest correction label of its transaction.
    """
    with sessions() as session:
        newest: dict[str, tuple[dt.datetime, str]] = {}
        for txn, category, at in _feedback_labels(session, tenant, taxonomy, window.start):
            if txn not in newest or at >= newest[txn][0]:
                newest[txn] = (at, category)
        in_window = (
            Decision.tenant_id == tenant,
            Decision.created_at >= _utc(window.start),
            Decision.created_at < _utc(window.end),
        )
        columns = (
            Decision.id,
            Decision.category,
            Decision.confidence,
            Decision.route,
            Decision.source,
            Decision.transaction_id,
            Decision.corrected_category,
        )
        rows: list[Any] = list(
            session.execute(
                select(*columns).where(*in_window, Decision.corrected_category.is_not(None))
            ).all()
        )
        txns = list(newest)
        for start in range(0, len(txns), _IN_CHUNK):
            labelled = select(*columns).where(
                *in_window,
                Decision.corrected_category.is_(None),
                Decision.transaction_id.in_(txns[start : start + _IN_CHUNK]),
            )
            rows.extend(session.execute(labelled).all())
    records = [
        {
            "category": category,
            "confidence": confidence,
            "route": route,
            "source": source,
            "truth": corrected if corrected is not None else newest[str(txn)][1],
        }
        for _, category, confidence, route, source, txn, corrected in rows
    ]
    return pd.DataFrame.from_records(records, columns=list(FEEDBACK_COLUMNS))


def count_new_feedback(
    sessions: sessionmaker[Session], tenant: str, taxonomy: str, since: dt.datetime
) -> int:
    """Corrections that arrived since `since`: corrected decisions plus correction labels of
    transactions none of those decisions names (one feedback call writes both)."""
    with sessions() as session:
        corrected = session.execute(
            select(Decision.id, Decision.transaction_id).where(
                Decision.tenant_id == tenant, Decision.corrected_at >= _utc(since)
            )
        ).all()
        labels = _feedback_labels(session, tenant, taxonomy, since)
    seen = {str(txn) for _, txn in corrected if txn is not None}
    return len(corrected) + len({txn for txn, _, _ in labels} - seen)


@dataclass(frozen=True)
class MonitorRunRecord:
    """One stored `monitor_runs` row."""

    id: str
    tenant_id: str
    taxonomy: str
    created_at: dt.datetime
    model_name: str | None
    model_version: str | None
    summary: dict[str, Any]
    retrain: bool
    reason: str
    report_path: str | None
    mlflow_run_id: str | None


def record_monitor_run(
    sessions: sessionmaker[Session],
    *,
    tenant: str,
    taxonomy: str,
    created_at: dt.datetime,
    model_name: str | None,
    model_version: str | None,
    summary: dict[str, Any],
    retrain: bool,
    reason: str,
    report_path: str | None,
    mlflow_run_id: str | None,
) -> str:
    """Store one monitoring run; returns its id. The reason is cut to the column's 1,000 chars."""
    row = MonitorRun(
        tenant_id=tenant,
        taxonomy=taxonomy,
        created_at=_utc(created_at),
        model_name=model_name,
        model_version=model_version,
        summary=summary,
        retrain=retrain,
        reason=reason[:1000],
        report_path=report_path,
        mlflow_run_id=mlflow_run_id,
    )
    with sessions.begin() as session:
        session.add(row)
        session.flush()
        return row.id


def list_monitor_runs(
    sessions: sessionmaker[Session], tenant: str, *, limit: int = 20
) -> list[MonitorRunRecord]:
    """The tenant's monitoring runs, newest first."""
    query = (
        select(MonitorRun)
        .where(MonitorRun.tenant_id == tenant)
        .order_by(MonitorRun.created_at.desc(), MonitorRun.id)
        .limit(limit)
    )
    with sessions() as session:
        return [
            MonitorRunRecord(
                id=row.id,
                tenant_id=row.tenant_id,
                taxonomy=row.taxonomy,
                created_at=_utc(row.created_at),
                model_name=row.model_name,
                model_version=row.model_version,
                summary=dict(row.summary),
                retrain=row.retrain,
                reason=row.reason,
                report_path=row.report_path,
                mlflow_run_id=row.mlflow_run_id,
            )
            for row in session.scalars(query)
        ]
