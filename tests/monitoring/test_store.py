"""Monitoring's database reads and `monitor_runs` rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitoring.store import (
    count_new_feedback,
    list_monitor_runs,
    load_decisions,
    load_feedback,
    record_monitor_run,
)
from monitoring.summary import Window
from tests.monitoring.factories import (
    TAXONOMY,
    TENANT,
    add_decisions,
    add_label,
    add_tenant,
    add_transaction,
    decision,
)

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
DAY = Window(NOW - dt.timedelta(hours=24), NOW)


def test_monitor_runs_are_stored_and_listed_newest_first_per_tenant(
    sessions: sessionmaker[Session],
) -> None:
    add_tenant(sessions)
    add_tenant(sessions, "other")
    common: dict[str, Any] = {
        "taxonomy": TAXONOMY,
        "model_name": "m",
        "report_path": None,
        "mlflow_run_id": None,
    }
    first = record_monitor_run(
        sessions,
        tenant=TENANT,
        created_at=NOW - dt.timedelta(days=1),
        model_version="1",
        summary={"status": "ok", "drift_share": 0.1},
        retrain=False,
        reason="no trigger fired",
        **common,
    )
    second = record_monitor_run(
        sessions,
        tenant=TENANT,
        created_at=NOW,
        model_version="2",
        summary={"status": "ok", "nested": {"drifted": ["amount"]}},
        retrain=True,
        reason="x" * 2_000,
        **common,
    )
    record_monitor_run(
        sessions,
        tenant="other",
        created_at=NOW,
        model_version="9",
        summary={},
        retrain=False,
        reason="",
        **common,
    )

    runs = list_monitor_runs(sessions, TENANT)

    assert [r.id for r in runs] == [second, first]
    assert runs[0].retrain is True
    assert runs[0].summary == {"status": "ok", "nested": {"drifted": ["amount"]}}
    assert runs[0].created_at == NOW
    assert len(runs[0].reason) == 1_000
    assert runs[1].model_version == "1"


def test_decisions_of_the_window_come_back_with_their_feature_values(
    sessions: sessionmaker[Session],
) -> None:
    add_tenant(sessions)
    add_tenant(sessions, "other")
    inside = decision(NOW - dt.timedelta(hours=1), merchant_id="m_7", amount_minor=1234, mcc=None)
    rule = decision(NOW - dt.timedelta(hours=23), source="rule", currency="EUR", mcc="5411")
    add_decisions(
        sessions,
        [
            inside,
            rule,
            decision(NOW - dt.timedelta(hours=25)),  # before the window
            decision(NOW),  # the end is excluded
            decision(NOW - dt.timedelta(hours=1), tenant="other"),
        ],
    )

    frame = load_decisions(sessions, TENANT, DAY).sort_values("amount_minor")

    assert len(frame) == 2
    first = frame.iloc[0].to_dict()
    assert (first["merchant_id"], first["amount_minor"], first["mcc"]) == ("m_7", 1234, None)
    assert (first["source"], first["category"], first["route"]) == ("model", "coffee", "auto")
    second = frame.iloc[1].to_dict()
    assert (second["source"], second["currency"], second["mcc"]) == ("rule", "EUR", "5411")


def test_empty_window_gives_an_empty_frame_with_every_column(
    sessions: sessionmaker[Session],
) -> None:
    add_tenant(sessions)

    frame = load_decisions(sessions, TENANT, DAY)

    assert frame.empty
    assert "amount_minor" in frame.columns


def test_feedback_is_the_decision_correction_else_the_newest_label_of_its_transaction(
    sessions: sessionmaker[Session],
) -> None:
    add_tenant(sessions)
    for txn in ("t1", "t2", "t3"):
        add_transaction(sessions, txn)
    hour = dt.timedelta(hours=1)
    add_decisions(
        sessions,
        [
            # corrected on the decision row (and labelled): the row wins
            decision(NOW - 5 * hour, transaction_id="t1", corrected_category="groceries"),
            # labelled twice: the newest label wins
            decision(NOW - 5 * hour, category="transport", transaction_id="t2"),
            # labelled in another taxonomy only: no feedback here
            decision(NOW - 5 * hour, transaction_id="t3"),
            # no feedback at all
            decision(NOW - 5 * hour),
        ],
    )
    add_label(sessions, "t1", "coffee", NOW - 4 * hour)
    add_label(sessions, "t2", "coffee", NOW - 4 * hour)
    add_label(sessions, "t2", "transport", NOW - 3 * hour, source="review")
    add_label(sessions, "t3", "coffee", NOW - 3 * hour, taxonomy="capitalone")

    frame = load_feedback(sessions, TENANT, TAXONOMY, DAY).sort_values("truth")

    assert frame[["category", "truth"]].values.tolist() == [
        ["coffee", "groceries"],
        ["transport", "transport"],
    ]


def test_new_feedback_counts_each_correction_once_since_the_given_time(
    sessions: sessionmaker[Session],
) -> None:
    add_tenant(sessions)
    for txn in ("t1", "t2", "t3"):
        add_transaction(sessions, txn)
    since = NOW - dt.timedelta(days=2)
    after, before = NOW - dt.timedelta(days=1), NOW - dt.timedelta(days=3)
    add_decisions(
        sessions,
        [
            # one feedback call: the decision row and a label of its transaction
            decision(
                after, transaction_id="t1", corrected_category="groceries", corrected_at=after
            ),
            # a correction of a decision without a stored transaction
            decision(after, corrected_category="groceries", corrected_at=after),
            # corrected before the champion was trained
            decision(before, corrected_category="groceries", corrected_at=before),
        ],
    )
    add_label(sessions, "t1", "groceries", after)
    add_label(sessions, "t2", "coffee", after, source="review")  # labelled in review
    add_label(sessions, "t3", "coffee", before)  # too old
    add_label(sessions, "t3", "coffee", after, source="import")  # not a correction

    assert count_new_feedback(sessions, TENANT, TAXONOMY, since) == 3
