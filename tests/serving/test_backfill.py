"""Backfill: chunked, idempotent, resumable re-categorization of stored transactions."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from features.transforms import FEATURE_COLUMNS, with_defaults
from rules.engine import CompiledRules
from rules.models import Rule, TextCondition
from serving.backfill import (
    HISTORY_COLUMNS,
    BackfillError,
    PointInTimeFeatures,
    Processes,
    Progress,
    Resources,
    RunStatus,
    Scope,
    commit_chunk,
    compute_chunk,
    get_run,
    load_history,
    plan_chunks,
    run_backfill,
)
from serving.review import review_queue
from serving.routing import RoutingPolicy
from serving.runtime import Categorizer, ServingModel
from serving.schemas import CategorizeRequest
from spendlens.frames import load_frames
from spendlens.ingest.types import Direction, RawTransaction, Source
from spendlens.normalize.transaction import Normalizer
from spendlens.storage.db import make_engine, migrate, session_factory
from spendlens.storage.models import (
    BackfillChange,
    BackfillRun,
    Decision,
    IngestionBatch,
    Label,
    Transaction,
    TransactionCategory,
)
from spendlens.storage.models import Taxonomy as TaxonomyRow
from spendlens.storage.repository import ensure_account, ensure_tenant
from spendlens.taxonomy import Category, Taxonomy

TENANT, OTHER = "acme", "globex"
ACCOUNT = "checking"
CLASSES = ["Food.Coffee", "Food.Groceries", "Travel.Taxi", "Shopping.Online"]
TAXONOMY = Taxonomy(
    "test",
    1,
    (
        Category("Food", None),
        Category("Travel", None),
        Category("Shopping", None),
        Category("Food.Coffee", "Food"),
        Category("Food.Groceries", "Food"),
        Category("Travel.Taxi", "Travel"),
        Category("Shopping.Online", "Shopping"),
    ),
)
# (description, amount in cents, day of March 2026): a rule hit, model auto / suggest / review.
ROWS = [
    ("STARBUCKS STORE 1234", 450, 1),
    ("UBER TRIP HELP.UBER.COM", 1890, 2),
    ("FARMERS MARKET SEATTLE", 3200, 3),
    ("ACME WIDGETS LTD", 9900, 4),
    ("STARBUCKS STORE 99", 520, 5),
    ("CORNER MARKET", 1200, 6),
    ("UBER TRIP", 25000, 7),
]


class FakeModel:
    """Probabilities keyed by a word of the description."""

    classes_ = np.array(CLASSES, dtype=object)

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        self.calls += 1
        assert list(frame.columns[-len(FEATURE_COLUMNS) :]) == FEATURE_COLUMNS
        rows = []
        for text in frame["description"]:
            if "UBER" in text.upper():
                rows.append([0.02, 0.03, 0.93, 0.02])
            elif "MARKET" in text.upper():
                rows.append([0.1, 0.7, 0.1, 0.1])
            else:
                rows.append([0.3, 0.25, 0.2, 0.25])
        return np.array(rows)


def default_features(txns: pd.DataFrame) -> pd.DataFrame:
    """What the online categorizer uses when its feature store is unavailable."""
    features: pd.DataFrame = with_defaults(pd.DataFrame(index=range(len(txns))))
    return features[FEATURE_COLUMNS]


def rule(rule_id: str, word: str, category: str, confidence: float = 0.95) -> Rule:
    return Rule(
        id=rule_id,
        name=f"{word} is {category}",
        category=category,
        confidence=confidence,
        conditions=(TextCondition(field="description", op="contains", value=word),),
    )


COFFEE = rule("r-coffee", "starbucks", "Food.Coffee")
GROCERIES = rule("r-market", "market", "Food.Groceries")


def resources(
    *,
    rules: Sequence[Rule] = (COFFEE,),
    rules_version: int = 1,
    model: Any = None,
    version: str = "7",
    with_model: bool = True,
    features: Any = default_features,
    policy: RoutingPolicy | None = None,
) -> Resources:
    serving = None
    if with_model:
        serving = ServingModel(model or FakeModel(), "spendlens-acme-default", version)
    return Resources(
        model=serving,
        rules=CompiledRules.compile(rules) if rules else None,
        rules_version=rules_version,
        features=features,
        policy=policy or RoutingPolicy(),
        taxonomy=TAXONOMY,
    )


def raw(description: str, cents: int, day: int) -> RawTransaction:
    return RawTransaction(
        line_no=1,
        source=Source.JSON,
        txn_date=dt.date(2026, 3, day),
        description=description,
        amount_minor=cents,
        currency="USD",
        direction=Direction.DEBIT,
        account_ref=ACCOUNT,
    )


def store(
    sessions: sessionmaker[Session],
    rows: Sequence[tuple[str, int, int]] = ROWS,
    tenant: str = TENANT,
    *,
    repeat: int = 1,
) -> list[str]:
    """Normalize and store rows as ingestion would; returns their ids."""
    normalizer = Normalizer()
    ids = []
    with sessions.begin() as session:
        ensure_tenant(session, tenant)
        account = ensure_account(session, tenant, ACCOUNT, "1234")
        batch = IngestionBatch(tenant_id=tenant, source="json", filename="test.json")
        session.add(batch)
        session.flush()
        for _ in range(repeat):
            for description, cents, day in rows:
                norm = normalizer(raw(description, cents, day))
                txn = Transaction(
                    id=uuid.uuid4().hex,
                    tenant_id=tenant,
                    account_id=account.id,
                    batch_id=batch.id,
                    source="json",
                    txn_date=norm.txn_date,
                    posted_date=norm.posted_date,
                    description=norm.description,
                    memo=norm.memo,
                    merchant_name=norm.merchant.name,
                    merchant_id=norm.merchant.merchant_id,
                    amount_minor=norm.amount_minor,
                    currency=norm.currency,
                    direction=norm.direction.value,
                    mcc=norm.mcc,
                    mcc_description=norm.mcc_description,
                    account_tail=norm.account_tail,
                    fingerprint=uuid.uuid4().hex + uuid.uuid4().hex,
                )
                session.add(txn)
                ids.append(txn.id)
    return ids


def categories(sessions: sessionmaker[Session], tenant: str = TENANT) -> dict[str, Any]:
    with sessions() as session:
        rows = session.scalars(
            select(TransactionCategory).where(TransactionCategory.tenant_id == tenant)
        ).all()
        session.expunge_all()
    return {r.transaction_id: r for r in rows}


def audits(sessions: sessionmaker[Session], run_id: str) -> list[BackfillChange]:
    with sessions() as session:
        rows = session.scalars(select(BackfillChange).where(BackfillChange.run_id == run_id)).all()
        session.expunge_all()
    return list(rows)


def decision_log(sessions: sessionmaker[Session]) -> list[Decision]:
    with sessions() as session:
        return list(session.scalars(select(Decision)).all())


def test_every_transaction_in_scope_is_categorized_once_and_labels_are_untouched(
    sessions: sessionmaker[Session],
) -> None:
    ids = store(sessions, repeat=3)
    with sessions.begin() as session:
        taxonomy = TaxonomyRow(tenant_id=TENANT, name="default", version=1, content_hash="x")
        session.add(taxonomy)
        session.flush()
        session.add(
            Label(
                tenant_id=TENANT,
                transaction_id=ids[3],
                taxonomy_id=taxonomy.id,
                category="X",
                source="user",
            )
        )
    seen: list[Progress] = []

    result = run_backfill(sessions, Scope(TENANT), resources(), chunk_size=4, progress=seen.append)

    stored = categories(sessions)
    assert sorted(stored) == sorted(ids)
    assert result.run.status == RunStatus.DONE
    assert (result.run.scanned, result.run.changed, result.chunks) == (21, 21, 6)
    assert [p.chunk for p in seen] == list(range(6))
    assert seen[-1].scanned == 21
    assert {r.run_id for r in stored.values()} == {result.run.id}
    coffee = [r for r in stored.values() if r.rule_id == "r-coffee"]
    assert len(coffee) == 6
    assert {(r.category, r.primary_category, r.source, r.route) for r in coffee} == {
        ("Food.Coffee", "Food", "rule", "auto")
    }
    assert {r.model_version for r in stored.values() if r.source == "model"} == {"7"}
    logged = {a.transaction_id: a for a in audits(sessions, result.run.id)}
    assert sorted(logged) == sorted(ids)
    assert all(a.previous_category is None for a in logged.values())  # all were undecided
    assert all(logged[t].category == r.category for t, r in stored.items())
    assert {r.decision_id for r in stored.values()} == {None}
    with sessions() as session:
        assert session.scalars(select(Label.category)).all() == ["X"]


def test_a_rerun_with_nothing_changed_writes_nothing(sessions: sessionmaker[Session]) -> None:
    store(sessions)
    first = run_backfill(sessions, Scope(TENANT), resources(), chunk_size=3)
    before = {k: (r.run_id, r.decision_id) for k, r in categories(sessions).items()}

    again = run_backfill(sessions, Scope(TENANT), resources(), chunk_size=3)

    assert again.run.id != first.run.id
    assert (again.run.scanned, again.run.changed) == (len(ROWS), 0)
    assert {k: (r.run_id, r.decision_id) for k, r in categories(sessions).items()} == before
    assert audits(sessions, again.run.id) == []


def test_after_a_rule_change_only_the_affected_rows_change(
    sessions: sessionmaker[Session],
) -> None:
    ids = store(sessions)
    first = run_backfill(sessions, Scope(TENANT), resources())
    markets = {i for i, (d, _, _) in zip(ids, ROWS, strict=True) if "MARKET" in d}

    changed = run_backfill(
        sessions, Scope(TENANT), resources(rules=(COFFEE, GROCERIES), rules_version=2)
    )

    assert changed.run.changed == len(markets) == 2
    stored = categories(sessions)
    assert {k for k, r in stored.items() if r.run_id == changed.run.id} == markets
    assert {stored[k].rule_id for k in markets} == {"r-market"}
    logged = audits(sessions, changed.run.id)
    assert {a.transaction_id for a in logged} == markets
    assert {(a.previous_category, a.category) for a in logged} == {
        ("Food.Groceries", stored[next(iter(markets))].category)
    }
    assert len(audits(sessions, first.run.id)) == len(ROWS)  # the first run's record stays


def test_a_new_model_version_rewrites_the_rows_it_decides(
    sessions: sessionmaker[Session],
) -> None:
    store(sessions)
    run_backfill(sessions, Scope(TENANT), resources())

    newer = run_backfill(sessions, Scope(TENANT), resources(version="8"))

    stored = categories(sessions)
    by_model = {k for k, r in stored.items() if r.source == "model"}
    assert newer.run.changed == len(by_model) == 5
    assert {stored[k].model_version for k in by_model} == {"8"}


class CrashError(RuntimeError):
    pass


def crash_after(chunk: int) -> Any:
    def progress(p: Progress) -> None:
        if p.chunk == chunk:
            raise CrashError(f"killed after chunk {chunk}")

    return progress


def test_a_crashed_run_resumes_after_its_last_committed_chunk(
    sessions: sessionmaker[Session],
) -> None:
    ids = store(sessions, repeat=3)
    with pytest.raises(CrashError):
        run_backfill(sessions, Scope(TENANT), resources(), chunk_size=5, progress=crash_after(1))
    with sessions() as session:
        crashed = session.scalars(select(BackfillRun)).one()
        assert (crashed.status, crashed.scanned) == ("failed", 10)
        assert "killed after chunk 1" in (crashed.error or "")
    assert len(categories(sessions)) == 10

    model = FakeModel()
    resumed = run_backfill(sessions, Scope(TENANT), resources(model=model), chunk_size=5)

    assert resumed.run.id == crashed.id
    assert resumed.run.resumed
    assert (resumed.run.status, resumed.run.scanned, resumed.run.changed) == ("done", 21, 21)
    assert resumed.chunks == 3  # only the 11 rows after the cursor: 5 + 5 + 1
    with sessions() as session:
        per_txn = session.execute(
            select(TransactionCategory.transaction_id, func.count()).group_by(
                TransactionCategory.transaction_id
            )
        ).all()
    assert sorted(t for t, _ in per_txn) == sorted(ids)
    assert {n for _, n in per_txn} == {1}
    assert len(audits(sessions, crashed.id)) == 21


def test_a_resume_after_the_rules_changed_starts_over_with_the_newest_decision(
    sessions: sessionmaker[Session],
) -> None:
    ids = store(sessions, repeat=2)
    with pytest.raises(CrashError):
        run_backfill(sessions, Scope(TENANT), resources(), chunk_size=4, progress=crash_after(0))

    newest = run_backfill(
        sessions, Scope(TENANT), resources(rules=(COFFEE, GROCERIES), rules_version=2)
    )

    assert newest.run.superseded is not None
    with sessions() as session:
        old = session.get(BackfillRun, newest.run.superseded)
        assert old is not None
        assert old.status == "superseded"
    stored = categories(sessions)
    assert sorted(stored) == sorted(ids)
    markets = [r for r in stored.values() if "MARKET" in (audit_description(sessions, r))]
    assert {r.rule_id for r in markets} == {"r-market"}


def audit_description(sessions: sessionmaker[Session], row: TransactionCategory) -> str:
    with sessions() as session:
        txn = session.get(Transaction, row.transaction_id)
        assert txn is not None
        return txn.description


def test_a_chunk_committed_twice_is_skipped_and_out_of_order_chunks_are_refused(
    sessions: sessionmaker[Session],
) -> None:
    store(sessions)
    scope = Scope(TENANT)
    res = resources()
    from serving.backfill import open_run  # noqa: PLC0415

    with sessions() as session:
        run = open_run(session, scope, res.versions)
        first, second, third = plan_chunks(session, scope, None, 3)
    with sessions() as session:
        assert not commit_chunk(session, run.id, compute_chunk(session, scope, first, res)).skipped
    with sessions() as session:
        assert commit_chunk(session, run.id, compute_chunk(session, scope, first, res)).skipped
    with sessions() as session, pytest.raises(BackfillError, match="in order"):
        commit_chunk(session, run.id, compute_chunk(session, scope, third, res))
    with sessions() as session:
        assert get_run(session, TENANT, run.id).scanned == 3
    assert second.after == first.last


def test_a_date_range_scopes_the_run(sessions: sessionmaker[Session]) -> None:
    ids = store(sessions)
    scope = Scope(TENANT, date_from=dt.date(2026, 3, 2), date_until=dt.date(2026, 3, 4))

    result = run_backfill(sessions, scope, resources())

    inside = {i for i, (_, _, day) in zip(ids, ROWS, strict=True) if 2 <= day <= 4}
    assert set(categories(sessions)) == inside
    assert result.run.scanned == 3
    with pytest.raises(ValueError, match="after"):
        Scope(TENANT, date_from=dt.date(2026, 3, 4), date_until=dt.date(2026, 3, 2))


def test_a_tenant_backfill_never_touches_another_tenant(
    sessions: sessionmaker[Session],
) -> None:
    mine = store(sessions)
    store(sessions, tenant=OTHER)

    result = run_backfill(sessions, Scope(TENANT), resources(), chunk_size=2)

    assert set(categories(sessions)) == set(mine)
    assert categories(sessions, OTHER) == {}
    assert result.run.scanned == len(ROWS)
    with sessions() as session, pytest.raises(BackfillError, match="no backfill run"):
        get_run(session, OTHER, result.run.id)


def test_a_pickled_copy_of_the_resources_decides_as_the_original(
    sessions: sessionmaker[Session],
) -> None:
    # Decider processes decide with a pickled copy of the run's resources.
    store(sessions, repeat=2)
    original = resources(rules=(COFFEE, GROCERIES))
    copy = pickle.loads(pickle.dumps(original, pickle.HIGHEST_PROTOCOL))  # noqa: S301 - ours
    scope = Scope(TENANT)

    with sessions() as session:
        (chunk,) = plan_chunks(session, scope, None, chunk_size=100)
        decided = compute_chunk(session, scope, chunk, original).frame
        again = compute_chunk(session, scope, chunk, copy).frame

    assert copy.versions == original.versions
    assert set(decided["source"]) == {"rule", "model"}
    pd.testing.assert_frame_equal(again, decided)


@pytest.mark.parametrize("with_model", [True, False], ids=["model", "rules-only"])
def test_the_cascade_decides_stored_rows_as_the_online_categorizer_does(
    sessions: sessionmaker[Session], with_model: bool
) -> None:
    ids = store(sessions)
    policy = RoutingPolicy(review_amount_over=Decimal("200"))
    model = FakeModel()
    res = resources(model=model, with_model=with_model, policy=policy)
    run_backfill(sessions, Scope(TENANT), res)
    online = Categorizer(
        tenant=TENANT,
        normalizer=Normalizer(),
        model=res.model,
        rules=res.rules,
        features=None,  # defaults, as `default_features` gives the backfill
        taxonomy=TAXONOMY,
        policy=policy,
    )
    requests = [
        CategorizeRequest(
            description=d,
            amount=Decimal(-cents) / 100,
            date=dt.date(2026, 3, day),
            account=ACCOUNT,
        )
        for d, cents, day in ROWS
    ]

    answers = online.categorize(requests)

    stored = categories(sessions)
    got = [
        (
            stored[i].category,
            stored[i].primary_category,
            stored[i].confidence,
            stored[i].route,
            stored[i].source,
            stored[i].rule_id,
            stored[i].model_version,
        )
        for i in ids
    ]
    want = [
        (
            a.category,
            a.primary_category,
            a.confidence,
            a.route.value,
            a.source.value,
            a.rule_id,
            a.model_version,
        )
        for a in answers
    ]
    assert got == want
    sources = {w[4] for w in want}
    assert sources == ({"rule", "model"} if with_model else {"rule", "fallback"})
    assert "review" in {w[3] for w in want}  # the 250.00 Uber trip is over the limit


def test_point_in_time_features_only_see_earlier_days(sessions: sessionmaker[Session]) -> None:
    store(sessions, [("STARBUCKS", 400, d) for d in (1, 2, 2, 3)])
    with sessions() as session:
        frames = load_frames(session, TENANT, "default")
    features = PointInTimeFeatures.build(frames.txns, frames.labels, TENANT, "default")

    got = features(frames.txns.sort_values("event_timestamp"))

    assert got["m_txn_count"].tolist() == [0, 1, 1, 3]
    assert list(got.columns) == FEATURE_COLUMNS


def test_the_history_loader_gives_the_features_the_same_rows_as_load_frames(
    sessions: sessionmaker[Session],
) -> None:
    ids = store(sessions, repeat=2)
    store(sessions, tenant=OTHER)
    with sessions.begin() as session:
        taxonomy = TaxonomyRow(tenant_id=TENANT, name="default", version=1, content_hash="x")
        session.add(taxonomy)
        session.flush()
        for txn_id, source in ((ids[0], "import"), (ids[5], "user")):
            session.add(
                Label(
                    tenant_id=TENANT,
                    transaction_id=txn_id,
                    taxonomy_id=taxonomy.id,
                    category="Food.Coffee",
                    source=source,
                )
            )
    with sessions() as session:
        frames = load_frames(session, TENANT, "default")
        txns, labels = load_history(session, TENANT, "default")

    want = frames.txns[list(HISTORY_COLUMNS)]
    pd.testing.assert_frame_equal(txns[list(HISTORY_COLUMNS)], want)
    pd.testing.assert_frame_equal(labels, frames.labels)
    built = PointInTimeFeatures.build(txns, labels, TENANT, "default")
    reference = PointInTimeFeatures.build(frames.txns, frames.labels, TENANT, "default")
    pd.testing.assert_frame_equal(built(frames.txns), reference(frames.txns))


def test_backfill_timestamps_compare_in_sql_like_orm_written_ones(
    sessions: sessionmaker[Session],
) -> None:
    # Rows go to the driver pre-rendered; a rendering unlike SQLAlchemy's would break range
    # queries on SQLite, where timestamps are compared as text.
    store(sessions)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    run_backfill(sessions, Scope(TENANT), resources(), chunk_size=3)
    changed = run_backfill(
        sessions, Scope(TENANT), resources(rules=(COFFEE, GROCERIES), rules_version=2)
    )
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

    with sessions() as session:
        updated = session.scalars(
            select(TransactionCategory).where(
                TransactionCategory.run_id == changed.run.id,
                TransactionCategory.updated_at >= before,
                TransactionCategory.updated_at < after,
            )
        ).all()
        stamp = updated[0].updated_at
        same_stamp = session.scalar(
            select(func.count())
            .select_from(TransactionCategory)
            .where(TransactionCategory.updated_at == stamp)
        )
    assert len(updated) == 2
    assert same_stamp == 2  # the value read back finds the row it came from: same rendering


def test_a_backfill_stays_out_of_the_decision_log_that_monitoring_and_review_read(
    sessions: sessionmaker[Session],
) -> None:
    ids = store(sessions)
    served = Decision(
        id=uuid.uuid4().hex,
        tenant_id=TENANT,
        fingerprint="f" * 64,
        description=ROWS[0][0],
        category="Food.Coffee",
        primary_category="Food",
        confidence=0.4,
        route="review",
        source="model",
        features={},
        transaction_id=ids[0],
    )
    with sessions.begin() as session:
        session.add(served)

    result = run_backfill(sessions, Scope(TENANT), resources(policy=RoutingPolicy(0.99, 0.98)))

    assert result.run.changed == len(ROWS)
    assert "review" in {r.route for r in categories(sessions).values()}
    assert [d.id for d in decision_log(sessions)] == [served.id]
    with sessions() as session:
        queue = review_queue(session, TENANT, limit=50)
    assert [item.decision_id for item in queue] == [served.id]


@pytest.fixture
def importable_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned worker processes can import this module (its `resources` builds theirs)."""
    # pytest imports tests without putting the repository on sys.path; a spawned process
    # gets this process's sys.path, and needs it to unpickle `resources` by its module name.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))


@pytest.mark.usefixtures("importable_tests")
def test_worker_processes_store_what_a_thread_stores_and_resume_alike(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stored: list[list[tuple[str, ...]]] = []
    for name in ("thread", "processes"):
        path = tmp_path_factory.mktemp(name) / "spendlens.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        sessions = session_factory(engine)
        store(sessions, repeat=3)
        # A writer process, and a decider process that is up before the first chunk.
        processes = Processes(f"sqlite:///{path}", deciders=1)
        options: dict[str, Any] = {"chunk_size": 4, "resources": resources()}
        if name == "processes":
            marker = path.parent / "decider-up"
            build = partial(after_the_decider, os.getpid(), str(marker), "7")
            options.update(resources=build, processes=processes)
        with pytest.raises(CrashError):
            run_backfill(sessions, Scope(TENANT), progress=crash_after(2), **options)
        if name == "processes":
            marker.unlink()  # the resumed run starts a decider of its own
        with sessions() as session:
            crashed = session.scalars(select(BackfillRun.scanned)).one()
        # Chunks 0-2 were committed; with a decider, chunk 3's commit may have been in flight.
        assert crashed in ((12,) if name == "thread" else (12, 16))
        seen: list[Progress] = []
        result = run_backfill(sessions, Scope(TENANT), progress=seen.append, **options)
        assert (result.run.resumed, result.run.scanned, result.run.changed) == (True, 21, 21)
        # Only a chunk a decider decided makes this process wait for one.
        assert ("decider_wait_s" in result.timings) is (name == "processes")
        left = -(-(21 - crashed) // 4)  # the rest of the rows after the cursor, in chunks of 4
        assert [p.chunk for p in seen] == list(range(left))
        rows = categories(sessions).values()
        assert {r.run_id for r in rows} == {result.run.id}
        stored.append(sorted((r.category, r.route, r.source, str(r.rule_id)) for r in rows))
        assert len(audits(sessions, result.run.id)) == 21
        engine.dispose()
    thread, processes_stored = stored
    assert len(thread) == 21
    assert thread == processes_stored


def after_the_decider(parent: int, marker: str, decider_version: str) -> Resources:
    """Resources (model version 7) that the process `parent` builds only once a decider is up.

    Deciders take chunks only once they are set up; without waiting, a run this small would
    be over before one is. A decider builds `decider_version` and then writes `marker`.
    """
    if os.getpid() != parent:
        built = resources(version=decider_version)
        Path(marker).touch()
        return built
    deadline = time.monotonic() + 120
    while not Path(marker).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no decider process came up in 120 s")
        time.sleep(0.05)
    time.sleep(0.5)  # its set-up no-op reports back to the pool
    return resources(version="7")


@pytest.mark.usefixtures("importable_tests")
def test_a_decider_process_with_other_versions_fails_the_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = tmp_path_factory.mktemp("versions") / "spendlens.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    sessions = session_factory(engine)
    store(sessions)
    build = partial(after_the_decider, os.getpid(), str(path.parent / "decider-up"), "8")

    with pytest.raises(BackfillError, match="the run uses"):
        run_backfill(
            sessions,
            Scope(TENANT),
            build,
            chunk_size=2,
            processes=Processes(f"sqlite:///{path}", deciders=1),
        )

    with sessions() as session:
        failed = session.scalars(select(BackfillRun)).one()
    assert failed.status == "failed"
    assert failed.scanned <= 2  # only this process's first chunk can have been committed
    engine.dispose()


def test_a_failure_while_a_chunk_commits_keeps_that_chunk_and_fails_the_run(
    sessions: sessionmaker[Session],
) -> None:
    store(sessions, repeat=3)
    calls = 0

    def failing_features(txns: pd.DataFrame) -> pd.DataFrame:
        nonlocal calls
        calls += 1
        if calls == 3:  # deciding chunk 2, while chunk 1 commits in the background
            raise CrashError("features went away")
        return default_features(txns)

    with pytest.raises(CrashError):
        run_backfill(sessions, Scope(TENANT), resources(features=failing_features), chunk_size=5)

    with sessions() as session:
        failed = session.scalars(select(BackfillRun)).one()
    assert (failed.status, failed.scanned, failed.changed) == ("failed", 10, 10)
    assert "features went away" in (failed.error or "")
    assert len(categories(sessions)) == 10
