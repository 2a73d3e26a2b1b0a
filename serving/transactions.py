"""Transactions through the API: ingestion, listing with the shown category, spend report, CSV.

Ingestion reuses the CLI's loader (`spendlens.ingest.loader.ingest_bytes`: same parsing, dedup,
linking and row-level rejects), then categorizes the rows this upload stored, logs those
decisions and writes their `transaction_categories` rows. The category shown for a
transaction is its newest human label in the taxonomy (`labels`), else its machine category
(`transaction_categories`). Every query is scoped by the tenant.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from serving.decisions import DEFAULT_TAXONOMY, DecisionInputs, DecisionLog, DecisionRecord
from serving.schemas import CategorizeRequest, CategorizeResponse
from spendlens.ingest.loader import (
    FormatName,
    IngestOptions,
    IngestSummary,
    csv_options_from_settings,
    ingest_bytes,
)
from spendlens.money import from_minor
from spendlens.normalize.transaction import Normalizer
from spendlens.settings import Settings
from spendlens.storage.models import Label, Transaction, TransactionCategory, utcnow
from spendlens.storage.models import Taxonomy as TaxonomyRow

logger = logging.getLogger(__name__)

CATEGORIZE_CHUNK = 1_000  # transactions per decide() call and per decision-log write
MAX_PAGE = 1_000
EXPORT_PAGE = 2_000
CategorySource = Literal["label", "rule", "model", "fallback"]


class Decider(Protocol):
    """What ingestion needs of a categorizer."""

    def decide(
        self, requests: Sequence[CategorizeRequest]
    ) -> list[tuple[CategorizeResponse, DecisionInputs]]:
        """One decision per request, in order, with what it was based on."""


class InvalidCursorError(ValueError):
    """A listing cursor that this service did not hand out."""


# --- ingestion ------------------------------------------------------------------------------


@dataclass
class IngestOutcome:
    """What the loader did, plus how many of the stored rows were categorized and reviewed."""

    summary: IngestSummary
    categorized: int = 0
    review: int = 0
    uncategorized: int = 0
    warnings: list[str] = field(default_factory=list)


def ingest(
    data: bytes,
    filename: str,
    *,
    tenant: str,
    sessions: sessionmaker[Session],
    settings: Settings,
    categorizer: Decider,
    decisions: DecisionLog,
    fmt: FormatName = "auto",
    account: str | None = None,
    normalizer: Normalizer | None = None,
    taxonomy: str = DEFAULT_TAXONOMY,
) -> IngestOutcome:
    """Load one upload for `tenant`, then categorize and log the rows it stored.

    Rows stored by the upload stay stored when categorizing them fails (the outcome says so
    in `warnings` and `uncategorized`); a backfill can categorize them later.

    Raises:
        NotAStatementError: the upload as a whole is unusable (nothing stored).
    """
    options = IngestOptions(
        tenant=tenant,
        format=fmt,
        account=account,
        csv=csv_options_from_settings(settings),
        taxonomy=taxonomy,
    )
    summary = ingest_bytes(data, filename, sessions, settings, options, normalizer=normalizer)
    outcome = IngestOutcome(summary=summary)
    with sessions() as session:
        stored = list(
            session.scalars(
                select(Transaction)
                .where(Transaction.tenant_id == tenant, Transaction.batch_id == summary.batch_id)
                .order_by(Transaction.txn_date, Transaction.id)
            )
        )
    for part in _chunks(stored, CATEGORIZE_CHUNK):
        try:
            decided = _categorize(part, tenant, sessions, categorizer, decisions, taxonomy)
        except Exception as exc:
            logger.exception("categorizing %d ingested transaction(s) failed", len(part))
            outcome.uncategorized += len(part)
            outcome.warnings.append(
                f"{len(part)} stored transaction(s) were not categorized "
                f"({type(exc).__name__}); a backfill can categorize them later"
            )
            continue
        outcome.categorized += len(decided)
        outcome.review += sum(1 for response in decided if response.route.value == "review")
    return outcome


def _chunks(items: Sequence[Transaction], size: int) -> Iterator[Sequence[Transaction]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def request_of(txn: Transaction) -> CategorizeRequest:
    """The categorization request of a stored transaction (amount signed by its direction)."""
    amount = from_minor(txn.amount_minor, txn.currency)
    return CategorizeRequest(
        description=txn.description or txn.merchant_name or "?",
        amount=-amount if txn.direction == "debit" else amount,
        direction="debit" if txn.direction == "debit" else "credit",
        currency=txn.currency,
        date=txn.txn_date,
        mcc=txn.mcc,
        account=txn.account_id,
        transaction_id=txn.id,
    )


def _categorize(
    txns: Sequence[Transaction],
    tenant: str,
    sessions: sessionmaker[Session],
    categorizer: Decider,
    decisions: DecisionLog,
    taxonomy: str,
) -> list[CategorizeResponse]:
    requests = [request_of(t) for t in txns]
    decided = categorizer.decide(requests)
    records = []
    for request, (response, inputs) in zip(requests, decided, strict=True):
        # The review queue shows the alternatives and the routing reason of these decisions.
        features = {
            **inputs.features,
            "alternatives": [a.model_dump(mode="json") for a in response.alternatives],
            "reason": response.explanation.reason,
        }
        records.append(
            DecisionRecord.of(
                tenant, request, response, DecisionInputs(inputs.description, features)
            )
        )
    decisions.record(records)
    with sessions.begin() as session:
        upsert_categories(session, tenant, taxonomy, [r for r, _ in decided], requests)
    return [response for response, _ in decided]


def upsert_categories(
    session: Session,
    tenant: str,
    taxonomy: str,
    responses: Sequence[CategorizeResponse],
    requests: Sequence[CategorizeRequest],
    *,
    run_id: str | None = None,
) -> None:
    """Write the machine category of each request's transaction (insert or replace)."""
    now = utcnow()
    rows = [
        {
            "transaction_id": request.transaction_id,
            "taxonomy": taxonomy,
            "tenant_id": tenant,
            "category": response.category,
            "primary_category": response.primary_category,
            "confidence": response.confidence,
            "route": response.route.value,
            "source": response.source.value,
            "rule_id": response.rule_id,
            "model_name": response.model_name,
            "model_version": response.model_version,
            "decision_id": response.decision_id,
            "run_id": run_id,
            "updated_at": now,
        }
        for response, request in zip(responses, requests, strict=True)
        if request.transaction_id is not None
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert_fn = sqlite_insert if dialect == "sqlite" else pg_insert
    stmt = insert_fn(TransactionCategory)
    replaced = {
        name: stmt.excluded[name]
        for name in rows[0]
        if name not in ("transaction_id", "taxonomy", "tenant_id")
    }
    session.execute(
        stmt.on_conflict_do_update(index_elements=["transaction_id", "taxonomy"], set_=replaced),
        rows,
    )


# --- listing --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListFilter:
    """Filters of the listing, the export and (dates only) the report; bounds are inclusive."""

    date_from: dt.date | None = None
    date_until: dt.date | None = None
    category: str | None = None  # the shown category
    search: str | None = None  # in description or merchant, case-insensitive
    taxonomy: str = DEFAULT_TAXONOMY


@dataclass(frozen=True, slots=True)
class ListedTransaction:
    """A stored transaction with the category shown for it and where that comes from."""

    id: str
    date: dt.date
    description: str
    merchant: str
    merchant_id: str
    amount_minor: int  # absolute; `direction` carries the sign
    currency: str
    direction: str
    mcc: str | None
    account_id: str
    category: str | None
    category_source: CategorySource | None
    confidence: float | None  # of the machine category; None for a label

    @property
    def amount(self) -> str:
        """The signed decimal amount, negative for a debit."""
        value = from_minor(self.amount_minor, self.currency)
        return str(-value if self.direction == "debit" else value)


@dataclass(frozen=True, slots=True)
class TransactionPage:
    """One page of the listing; `next_cursor` is None on the last page."""

    items: list[ListedTransaction]
    total: int
    next_cursor: str | None


def encode_cursor(date: dt.date, txn_id: str) -> str:
    """An opaque cursor: the last row of a page (newest first, then id)."""
    return base64.urlsafe_b64encode(f"{date.isoformat()}|{txn_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.date, str]:
    """The (date, id) of a cursor.

    Raises:
        InvalidCursorError: not a cursor of this listing.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        date_text, _, txn_id = text.partition("|")
        date = dt.date.fromisoformat(date_text)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursorError(f"invalid cursor {cursor!r}") from exc
    if not txn_id or len(txn_id) > 32:
        raise InvalidCursorError(f"invalid cursor {cursor!r}")
    return date, txn_id


def _latest_labels(tenant: str, taxonomy: str) -> Any:
    """Subquery: the newest label per transaction in (any version of) the named taxonomy."""
    rank = (
        func.row_number()
        .over(
            partition_by=Label.transaction_id,
            order_by=(Label.created_at.desc(), Label.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(Label.transaction_id, Label.category, rank)
        .join(TaxonomyRow, TaxonomyRow.id == Label.taxonomy_id)
        .where(
            Label.tenant_id == tenant, TaxonomyRow.tenant_id == tenant, TaxonomyRow.name == taxonomy
        )
        .subquery("ranked_labels")
    )
    return (
        select(ranked.c.transaction_id, ranked.c.category)
        .where(ranked.c.rank == 1)
        .subquery("latest_labels")
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _listing(tenant: str, filters: ListFilter) -> Select[Any]:
    """Transactions (SMS alerts linked to a statement row left out) with their shown category."""
    label = _latest_labels(tenant, filters.taxonomy)
    machine = TransactionCategory
    shown = func.coalesce(label.c.category, machine.category)
    # A fallback row (categorized, nothing decided) keeps its source: it differs from "never
    # categorized" (no row at all).
    source = case(
        (label.c.category.is_not(None), "label"),
        (machine.transaction_id.is_not(None), machine.source),
        else_=None,
    )
    stmt = (
        select(
            Transaction,
            shown.label("shown"),
            source.label("shown_source"),
            case((label.c.category.is_(None), machine.confidence), else_=None).label("conf"),
        )
        .outerjoin(label, label.c.transaction_id == Transaction.id)
        .outerjoin(
            machine,
            and_(
                machine.transaction_id == Transaction.id,
                machine.taxonomy == filters.taxonomy,
                machine.tenant_id == tenant,
            ),
        )
        .where(Transaction.tenant_id == tenant, Transaction.linked_to_id.is_(None))
    )
    if filters.date_from:
        stmt = stmt.where(Transaction.txn_date >= filters.date_from)
    if filters.date_until:
        stmt = stmt.where(Transaction.txn_date <= filters.date_until)
    if filters.category:
        stmt = stmt.where(shown == filters.category)
    if filters.search:
        pattern = f"%{_escape_like(filters.search.lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(Transaction.description).like(pattern, escape="\\"),
                func.lower(Transaction.merchant_name).like(pattern, escape="\\"),
            )
        )
    return stmt


def _listed(txn: Transaction, shown: str | None, source: str | None, conf: float | None) -> Any:
    return ListedTransaction(
        id=txn.id,
        date=txn.txn_date,
        description=txn.description,
        merchant=txn.merchant_name,
        merchant_id=txn.merchant_id,
        amount_minor=txn.amount_minor,
        currency=txn.currency,
        direction=txn.direction,
        mcc=txn.mcc,
        account_id=txn.account_id,
        category=shown,
        category_source=source if source in ("label", "rule", "model", "fallback") else None,  # type: ignore[arg-type]  # checked against the Literal's values
        confidence=conf,
    )


def list_transactions(
    session: Session,
    tenant: str,
    filters: ListFilter | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> TransactionPage:
    """A page of the tenant's transactions, newest first, after `cursor` (keyset pagination).

    Raises:
        InvalidCursorError: the cursor was not handed out by this listing.
    """
    filters = filters or ListFilter()
    limit = max(1, min(limit, MAX_PAGE))
    stmt = _listing(tenant, filters)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    if cursor:
        after_date, after_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                Transaction.txn_date < after_date,
                and_(Transaction.txn_date == after_date, Transaction.id > after_id),
            )
        )
    stmt = stmt.order_by(Transaction.txn_date.desc(), Transaction.id).limit(limit + 1)
    rows = [_listed(*row) for row in session.execute(stmt).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].date, rows[-1].id) if more and rows else None
    return TransactionPage(items=rows, total=total, next_cursor=next_cursor)


def iter_transactions(
    session: Session, tenant: str, filters: ListFilter | None = None
) -> Iterator[ListedTransaction]:
    """Every matching transaction in listing order, read page by page."""
    cursor: str | None = None
    while True:
        page = list_transactions(session, tenant, filters, limit=EXPORT_PAGE, cursor=cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


CSV_COLUMNS = (
    "id",
    "date",
    "description",
    "merchant",
    "amount",
    "currency",
    "direction",
    "mcc",
    "account_id",
    "category",
    "category_source",
    "confidence",
)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet runs a cell that starts like a formula: quote free text that does.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def export_csv(session: Session, tenant: str, filters: ListFilter | None = None) -> str:
    """The listing (same filters, every page) as CSV text with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in iter_transactions(session, tenant, filters):
        writer.writerow(
            [
                t.id,
                t.date.isoformat(),
                _cell(t.description),
                _cell(t.merchant),
                t.amount,
                t.currency,
                t.direction,
                t.mcc or "",
                t.account_id,
                _cell(t.category),
                t.category_source or "",
                "" if t.confidence is None else f"{t.confidence:.4f}",
            ]
        )
    return out.getvalue()


# --- spend report ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpendLine:
    """Debits of one month, shown category and currency; `category` None is uncategorized."""

    month: str  # YYYY-MM
    category: str | None
    currency: str
    total_minor: int
    count: int


@dataclass(frozen=True, slots=True)
class CreditLine:
    """Money in (refunds, income) of one month and currency: reported, never netted."""

    month: str
    currency: str
    total_minor: int
    count: int


@dataclass(frozen=True, slots=True)
class SpendReport:
    """Spending by month and category (debits only), and credits per month beside it."""

    date_from: dt.date | None
    date_until: dt.date | None
    lines: list[SpendLine]
    credits: list[CreditLine]


def spend_report(
    session: Session,
    tenant: str,
    date_from: dt.date | None = None,
    date_until: dt.date | None = None,
    *,
    taxonomy: str = DEFAULT_TAXONOMY,
) -> SpendReport:
    """Totals of debits by month and shown category, per currency (never converted).

    Credits are not subtracted from spending (a refund is not negative spending of the
    category it came back to); they are totalled per month in `credits`. SMS alerts linked to
    a statement row are left out, so a purchase counts once.
    """
    base = _listing(tenant, ListFilter(date_from, date_until, taxonomy=taxonomy)).subquery()
    stmt = select(
        base.c.txn_date,
        base.c.shown,
        base.c.currency,
        base.c.direction,
        func.sum(base.c.amount_minor),
        func.count(),
    ).group_by(base.c.txn_date, base.c.shown, base.c.currency, base.c.direction)
    spend: dict[tuple[str, str | None, str], list[int]] = defaultdict(lambda: [0, 0])
    credit: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    # Grouping by day in SQL and by month here keeps the query the same on SQLite and Postgres.
    for day, shown, currency, direction, total, count in session.execute(stmt).all():
        month = day.strftime("%Y-%m")
        bucket = spend[month, shown, currency] if direction == "debit" else credit[month, currency]
        bucket[0] += int(total or 0)
        bucket[1] += int(count)
    lines = [
        SpendLine(month, category, currency, total, count)
        for (month, category, currency), (total, count) in spend.items()
    ]
    lines.sort(key=lambda s: (s.month, s.currency, -s.total_minor, s.category or ""))
    credits = [
        CreditLine(month, currency, total, count)
        for (month, currency), (total, count) in sorted(credit.items())
    ]
    return SpendReport(date_from, date_until, lines, credits)
