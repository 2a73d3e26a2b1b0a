"""serving.transactions on SQLite and PostgreSQL: ingestion with categorization, the listing
with its shown category, the spend report and the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from serving import transactions as txns
from serving.decisions import SqlDecisionLog
from spendlens.ingest.loader import default_normalizer
from spendlens.ingest.types import NotAStatementError
from spendlens.settings import Settings
from spendlens.storage.models import Decision, Label, Transaction, TransactionCategory
from spendlens.storage.repository import record_feedback
from spendlens.storage.taxonomies import taxonomy_id
from tests.serving.review_fakes import COFFEE, GROCERIES, BrokenCategorizer, RoutingCategorizer

TENANT, OTHER = "acme", "globex"
# Line 1 is the header; lines 4 and 6 are malformed.
STATEMENT = b"""Date,Description,Amount
2026-03-01,STARBUCKS STORE 12,-4.50
2026-03-03,MEGAMART 7,-20.00
2026-03-04,MEGAMART 7,abc
2026-03-20,ACME PAYROLL,1000.00
not-a-date,X,-1
2026-04-02,STARBUCKS STORE 12,-3.25
2026-04-10,MEGAMART 7,-12.75
"""


def _ingest(
    sessions: sessionmaker[Session],
    settings: Settings,
    data: bytes = STATEMENT,
    tenant: str = TENANT,
    categorizer: RoutingCategorizer | BrokenCategorizer | None = None,
) -> txns.IngestOutcome:
    return txns.ingest(
        data,
        "statement.csv",
        tenant=tenant,
        sessions=sessions,
        settings=settings,
        categorizer=categorizer or RoutingCategorizer(),
        decisions=SqlDecisionLog(sessions, settings),
        normalizer=default_normalizer(settings),
    )


def test_ingest_reports_rejects_and_categorizes_the_stored_rows(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    outcome = _ingest(sessions, settings)
    summary = outcome.summary
    assert (summary.loaded, summary.rejected) == (5, 2)
    assert [(r.line_no, r.reason) for r in summary.rejects] == [
        (4, "unparseable amount 'abc'"),
        (6, "bad date 'not-a-date'"),
    ]
    assert (outcome.categorized, outcome.review, outcome.uncategorized) == (5, 3, 0)
    with sessions() as session:
        stored = {t.id: t for t in session.scalars(select(Transaction))}
        categories = {c.transaction_id: c for c in session.scalars(select(TransactionCategory))}
        decisions = {d.transaction_id: d for d in session.scalars(select(Decision))}
    assert set(categories) == set(stored) == set(decisions)
    for txn_id, row in categories.items():
        assert row.decision_id == decisions[txn_id].id
        assert row.tenant_id == TENANT
        assert row.taxonomy == "default"
    by_text = {t.description: categories[t.id] for t in stored.values()}
    assert by_text["STARBUCKS STORE 12"].category == COFFEE
    review = [d for d in decisions.values() if d.route == "review"]
    assert len(review) == 3
    megamart = next(d for d in review if d.category == GROCERIES)
    assert megamart.features["alternatives"][1] == {"category": COFFEE, "confidence": 0.3}
    assert megamart.features["reason"].startswith("confidence 0.55")


def test_reingesting_stores_and_categorizes_nothing_new(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _ingest(sessions, settings)
    again = _ingest(sessions, settings)
    assert (again.summary.loaded, again.summary.duplicates, again.categorized) == (0, 5, 0)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 5


def test_rows_stay_stored_when_categorizing_fails(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    outcome = _ingest(sessions, settings, categorizer=BrokenCategorizer())
    assert (outcome.summary.loaded, outcome.categorized, outcome.uncategorized) == (5, 0, 5)
    assert "not categorized" in outcome.warnings[0]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Transaction)) == 5
        assert session.scalar(select(func.count()).select_from(TransactionCategory)) == 0
        page = txns.list_transactions(session, TENANT)
    assert {(t.category, t.category_source, t.confidence) for t in page.items} == {
        (None, None, None)
    }


def test_an_unusable_upload_raises(sessions: sessionmaker[Session], settings: Settings) -> None:
    with pytest.raises(NotAStatementError):
        _ingest(sessions, settings, data=b"")


def _label(sessions: sessionmaker[Session], txn_id: str, category: str) -> None:
    with sessions.begin() as session:
        tax = taxonomy_id(session, TENANT, "default")
        record_feedback(session, TENANT, txn_id, category, tax, by="ann")


def _ids(sessions: sessionmaker[Session], description: str) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Transaction.id)
                .where(Transaction.tenant_id == TENANT, Transaction.description == description)
                .order_by(Transaction.txn_date)
            )
        )


def test_a_label_outranks_the_machine_category(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _ingest(sessions, settings)
    first_megamart = _ids(sessions, "MEGAMART 7")[0]
    _label(sessions, first_megamart, COFFEE)
    with sessions() as session:
        page = txns.list_transactions(session, TENANT)
        shown = {t.id: (t.category, t.category_source) for t in page.items}
        assert shown[first_megamart] == (COFFEE, "label")
        payroll = next(t for t in page.items if t.description == "ACME PAYROLL")
        assert (payroll.category, payroll.category_source) == (None, "fallback")
        coffee = txns.list_transactions(session, TENANT, txns.ListFilter(category=COFFEE))
        groceries = txns.list_transactions(session, TENANT, txns.ListFilter(category=GROCERIES))
    assert page.total == 5
    assert [t.date for t in page.items] == sorted((t.date for t in page.items), reverse=True)
    assert {t.description for t in coffee.items} == {"STARBUCKS STORE 12", "MEGAMART 7"}
    assert coffee.total == 3
    assert [(t.date, t.category_source) for t in groceries.items] == [
        (dt.date(2026, 4, 10), "model")
    ]


def test_listing_filters_and_cursor_pages(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _ingest(sessions, settings)
    _ingest(sessions, settings, tenant=OTHER)
    with sessions() as session:
        march = txns.list_transactions(
            session,
            TENANT,
            txns.ListFilter(date_from=dt.date(2026, 3, 2), date_until=dt.date(2026, 3, 31)),
        )
        search = txns.list_transactions(session, TENANT, txns.ListFilter(search="starbucks"))
        wildcard = txns.list_transactions(session, TENANT, txns.ListFilter(search="%"))
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = txns.list_transactions(session, TENANT, limit=2, cursor=cursor)
            seen.extend(t.id for t in page.items)
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        everything = txns.list_transactions(session, TENANT, limit=100)
        with pytest.raises(txns.InvalidCursorError):
            txns.list_transactions(session, TENANT, cursor="not-a-cursor")
    assert [t.description for t in march.items] == ["ACME PAYROLL", "MEGAMART 7"]
    assert search.total == 2
    assert wildcard.total == 0  # LIKE wildcards in the search text are literal
    assert pages == 3
    assert seen == [t.id for t in everything.items]
    assert len(seen) == 5  # globex's five rows are not acme's


def test_spend_report_totals_debits_by_month_and_category(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _ingest(sessions, settings)
    _ingest(sessions, settings, tenant=OTHER)
    _label(sessions, _ids(sessions, "MEGAMART 7")[1], COFFEE)  # the April one
    with sessions() as session:
        report = txns.spend_report(session, TENANT)
        april = txns.spend_report(session, TENANT, dt.date(2026, 4, 1), dt.date(2026, 4, 30))
    # March: coffee 4.50, groceries 20.00, payroll is a credit. April: coffee 3.25 + 12.75.
    assert [(s.month, s.category, s.currency, s.total_minor, s.count) for s in report.lines] == [
        ("2026-03", GROCERIES, "USD", 2000, 1),
        ("2026-03", COFFEE, "USD", 450, 1),
        ("2026-04", COFFEE, "USD", 1600, 2),
    ]
    assert [(c.month, c.total_minor, c.count) for c in report.credits] == [("2026-03", 100000, 1)]
    assert [(s.month, s.total_minor) for s in april.lines] == [("2026-04", 1600)]
    assert april.credits == []


def test_csv_export_parses_back_to_the_listing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _ingest(sessions, settings, data=STATEMENT + b"2026-04-11,=HYPERLINK(1),-1.00\n")
    with sessions() as session:
        text = txns.export_csv(session, TENANT)
        listed = txns.list_transactions(session, TENANT, limit=100).items
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [t.id for t in listed]
    assert rows[0]["description"] == "'=HYPERLINK(1)"  # a formula is never live in a sheet
    coffee = next(r for r in rows if r["description"] == "STARBUCKS STORE 12")
    assert (coffee["amount"], coffee["category"], coffee["category_source"]) == (
        "-3.25",
        COFFEE,
        "rule",
    )


def test_labels_of_another_tenant_never_show(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _ingest(sessions, settings)
    _ingest(sessions, settings, tenant=OTHER)
    with sessions.begin() as session:
        other_txn = session.scalar(select(Transaction.id).where(Transaction.tenant_id == OTHER))
        assert other_txn is not None
        tax = taxonomy_id(session, OTHER, "default")
        session.add(
            Label(
                tenant_id=OTHER, transaction_id=other_txn, taxonomy_id=tax, category="X", source="f"
            )
        )
    with sessions() as session:
        page = txns.list_transactions(session, TENANT)
    assert other_txn not in {t.id for t in page.items}
    assert "X" not in {t.category for t in page.items}
