"""Load one input into storage: parse and normalize (pure), then deduplicate, link and store.

The loader is the only part of ingestion that touches the database. It commits chunk by chunk,
so a crash loses at most one chunk, and a rerun is safe: fingerprints make every insert
idempotent (`ON CONFLICT DO NOTHING`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import exists, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from spendlens.catalog import load_merchant_catalog
from spendlens.ingest.csv_statement import CsvOptions, parse_csv
from spendlens.ingest.detect import detect_format
from spendlens.ingest.json_feed import parse_json_feed
from spendlens.ingest.linking import LinkKey, match_links
from spendlens.ingest.sms import parse_sms_file
from spendlens.ingest.types import NotAStatementError, ParseResult, Reject, Source
from spendlens.normalize.merchant import CatalogEntry, MerchantCatalog
from spendlens.normalize.transaction import NormalizedTransaction, Normalizer, fingerprint
from spendlens.settings import Settings
from spendlens.storage import repository as repo
from spendlens.storage import taxonomies
from spendlens.storage.models import (
    Account,
    Base,
    IngestionBatch,
    IngestionReject,
    Label,
    Transaction,
    new_id,
    utcnow,
)
from spendlens.taxonomy import Taxonomy

FormatName = Literal["auto", "csv", "json", "sms"]
ProgressFn = Callable[[int, int], None]
DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True)
class IngestOptions:
    """What the user told us about one input (CLI flags / API parameters)."""

    tenant: str = "default"
    format: FormatName = "auto"
    account: str | None = None
    account_tail: str | None = None
    csv: CsvOptions = field(default_factory=CsvOptions)
    taxonomy: str = "default"
    received: dt.date | None = None


@dataclass
class IngestSummary:
    """What happened to one input; rejects carry masked excerpts only."""

    batch_id: str
    filename: str
    source: Source | None = None
    rows_total: int = 0
    loaded: int = 0
    duplicates: int = 0
    linked: int = 0
    rejected: int = 0
    labels: int = 0
    rejects: list[Reject] = field(default_factory=list)
    detected: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def csv_options_from_settings(settings: Settings, **overrides: Any) -> CsvOptions:
    """CSV options whose defaults come from the settings object."""
    values: dict[str, Any] = {
        "default_currency": settings.default_currency,
        "ambiguous_date_order": settings.ambiguous_date_order,
        "max_field_chars": settings.max_field_chars,
        "max_file_bytes": settings.max_file_bytes,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return CsvOptions(**values)


def parse_input(
    data: bytes, filename: str | None, options: IngestOptions, settings: Settings
) -> tuple[Source, ParseResult]:
    """Pick the parser (explicit format or detection) and run it. Pure."""
    if len(data) > settings.max_file_bytes:
        raise NotAStatementError(
            f"file is {len(data):,} bytes, over the {settings.max_file_bytes:,}-byte limit"
        )
    source = detect_format(data, filename) if options.format == "auto" else Source(options.format)
    if source is Source.CSV:
        return source, parse_csv(data, options.csv)
    if source is Source.JSON:
        return source, parse_json_feed(
            data, max_field_chars=settings.max_field_chars, max_file_bytes=settings.max_file_bytes
        )
    received = options.received or dt.datetime.now(dt.UTC).date()
    return source, parse_sms_file(data, received=received, max_chars=settings.max_sms_chars)


def default_normalizer(settings: Settings) -> Normalizer:
    """A normalizer with the shipped merchant catalog."""
    entries = (CatalogEntry(name=e.name, aliases=e.aliases) for e in load_merchant_catalog())
    return Normalizer(settings.phone_region, MerchantCatalog.from_entries(entries))


def ingest_file(
    path: Path,
    sessions: sessionmaker[Session],
    settings: Settings,
    options: IngestOptions,
    *,
    normalizer: Normalizer | None = None,
    progress: ProgressFn | None = None,
) -> IngestSummary:
    """Load a file from disk (see `ingest_bytes`)."""
    size = path.stat().st_size
    if size > settings.max_file_bytes:
        raise NotAStatementError(
            f"{path.name} is {size:,} bytes, over the {settings.max_file_bytes:,}-byte limit"
        )
    return ingest_bytes(
        path.read_bytes(),
        path.name,
        sessions,
        settings,
        options,
        normalizer=normalizer,
        progress=progress,
    )


def ingest_bytes(
    data: bytes,
    filename: str,
    sessions: sessionmaker[Session],
    settings: Settings,
    options: IngestOptions,
    *,
    normalizer: Normalizer | None = None,
    progress: ProgressFn | None = None,
) -> IngestSummary:
    """Parse, normalize and store one input for one tenant.

    Raises:
        NotAStatementError: the input as a whole is unusable (recorded as a failed batch).
    """
    tenant = repo.validate_tenant_id(options.tenant)
    with sessions() as session:
        repo.ensure_tenant(session, tenant)
        taxonomies.ensure_default_taxonomy(session, tenant)
        batch = IngestionBatch(tenant_id=tenant, source="?", filename=filename[:255])
        session.add(batch)
        session.commit()
        summary = IngestSummary(batch_id=batch.id, filename=filename)
    try:
        source, parsed = parse_input(data, filename, options, settings)
    except NotAStatementError as exc:
        _finish_batch(sessions, tenant, summary, status="failed", error=str(exc))
        raise
    summary.source = source
    summary.detected = dict(parsed.detected)
    summary.warnings = list(parsed.warnings)
    summary.rows_total = len(parsed.rows) + len(parsed.rejects)
    normalize = normalizer or default_normalizer(settings)

    rows: list[NormalizedTransaction] = []
    rejects = list(parsed.rejects)
    for raw in parsed.rows:
        try:
            rows.append(normalize(raw))
        except ValueError as exc:  # normalization is pure; a bad value must not stop the file
            rejects.append(Reject(raw.line_no, f"could not normalize: {exc}", raw.description))
    summary.rejects = sorted(
        (
            Reject(r.line_no, normalize.mask(r.reason).text, normalize.mask(r.excerpt).text[:200])
            for r in rejects
        ),
        key=lambda r: r.line_no,
    )
    summary.rejected = len(summary.rejects)
    try:
        _store(sessions, settings, options, tenant, source, rows, summary, normalize, progress)
    except Exception as exc:
        _finish_batch(sessions, tenant, summary, status="failed", error=type(exc).__name__)
        raise
    _finish_batch(sessions, tenant, summary, status="completed")
    return summary


def _store(
    sessions: sessionmaker[Session],
    settings: Settings,
    options: IngestOptions,
    tenant: str,
    source: Source,
    rows: Sequence[NormalizedTransaction],
    summary: IngestSummary,
    normalize: Normalizer,
    progress: ProgressFn | None,
) -> None:
    with sessions() as session:
        labels = _LabelTarget.resolve(session, tenant, options.taxonomy, rows, summary)
        accounts = _AccountResolver(session, tenant, options, normalize)
        records = _records(rows, accounts, tenant, summary.batch_id, source)
        categories = {rec["id"]: row.category for rec, row in zip(records, rows, strict=True)}
        session.commit()
        may_link = _has_counterparts(session, tenant, source)
        done = 0
        for chunk in repo.chunks(records, settings.insert_chunk_rows):
            inserted = _insert_new(session, chunk)
            new = [rec for rec in chunk if rec["id"] in inserted]
            summary.loaded += len(new)
            summary.duplicates += len(chunk) - len(new)
            if may_link:
                summary.linked += _link(session, settings, tenant, source, new)
            summary.labels += labels.store(session, tenant, summary.batch_id, new, categories)
            session.commit()
            done += len(chunk)
            if progress:
                progress(done, len(records))
        if progress and not records:
            progress(0, 0)


def _records(
    rows: Sequence[NormalizedTransaction],
    accounts: _AccountResolver,
    tenant: str,
    batch_id: str,
    source: Source,
) -> list[dict[str, Any]]:
    """Insert-ready dicts with fingerprints; identical rows of one file get distinct ones."""
    seen: Counter[str] = Counter()
    now = utcnow()
    records: list[dict[str, Any]] = []
    for row in rows:
        account = accounts.for_row(row)
        tail = row.account_tail or account.tail
        if source is Source.JSON and row.source_ref:
            key = f"json|{account.id}|{row.source_ref}"
            fp = fingerprint(key)
        else:
            key = row.content_key(account.id)
            fp = fingerprint(key, seen[key])
            seen[key] += 1
        records.append(
            {
                "id": new_id(),
                "tenant_id": tenant,
                "account_id": account.id,
                "batch_id": batch_id,
                "source": source.value,
                "source_ref": row.source_ref,
                "txn_date": row.txn_date,
                "posted_date": row.posted_date,
                "posted_at": row.posted_at,
                "description": row.description,
                "memo": row.memo,
                "merchant_name": row.merchant.name[:200],
                "merchant_id": row.merchant.merchant_id,
                "processor": row.merchant.processor,
                "amount_minor": row.amount_minor,
                "currency": row.currency,
                "direction": row.direction.value,
                "balance_minor": row.balance_minor,
                "mcc": row.mcc,
                "mcc_description": row.mcc_description,
                "account_tail": tail,
                "fingerprint": fp,
                "linked_to_id": None,
                "created_at": now,
            }
        )
    return records


def _insert_new(session: Session, records: Sequence[dict[str, Any]]) -> set[str]:
    """Insert rows whose fingerprint is new for the tenant; return the ids actually inserted."""
    if not records:
        return set()
    dialect = session.get_bind().dialect.name
    insert_fn = sqlite_insert if dialect == "sqlite" else pg_insert
    # Core insert on the table: the ORM bulk path splices RETURNING rows in quadratic time.
    table = Base.metadata.tables[Transaction.__tablename__]
    stmt = (
        insert_fn(table)
        .on_conflict_do_nothing(index_elements=["tenant_id", "fingerprint"])
        .returning(table.c.id)
    )
    return set(session.execute(stmt, list(records)).scalars())


def _has_counterparts(session: Session, tenant: str, source: Source) -> bool:
    # Most loads have nothing to link against; skip the per-chunk queries then.
    other = Transaction.source != "sms" if source is Source.SMS else Transaction.source == "sms"
    query = select(exists().where(Transaction.tenant_id == tenant, other))
    return bool(session.scalar(query))


def _link(
    session: Session,
    settings: Settings,
    tenant: str,
    source: Source,
    new: Sequence[dict[str, Any]],
) -> int:
    """Pair newly stored rows with stored SMS alerts / statement rows; mark the SMS as linked."""
    if not new:
        return 0
    window = dt.timedelta(days=settings.link_max_days)
    candidates = repo.link_candidates(
        session,
        tenant,
        sms=source is not Source.SMS,
        start=min(r["txn_date"] for r in new) - window,
        end=max(r["txn_date"] for r in new) + window,
        amounts=[r["amount_minor"] for r in new],
    )
    pairs = match_links(
        [_link_key(r) for r in new],
        [_link_key(c.__dict__) for c in candidates],
        settings.link_max_days,
        settings.link_min_merchant_similarity,
    )
    for new_id_, other_id in pairs:
        sms_id, statement_id = (new_id_, other_id) if source is Source.SMS else (other_id, new_id_)
        session.execute(
            update(Transaction)
            .where(Transaction.tenant_id == tenant, Transaction.id == sms_id)
            .values(linked_to_id=statement_id)
        )
    return len(pairs)


def _link_key(values: dict[str, Any]) -> LinkKey:
    return LinkKey(
        id=values["id"],
        txn_date=values["txn_date"],
        amount_minor=values["amount_minor"],
        currency=values["currency"],
        direction=values["direction"],
        account_tail=values["account_tail"],
        merchant=values["merchant_name"],
    )


class _AccountResolver:
    """Finds or creates the account of each row, without ever naming it after raw PII."""

    def __init__(
        self, session: Session, tenant: str, options: IngestOptions, normalize: Normalizer
    ) -> None:
        self._session = session
        self._tenant = tenant
        self._options = options
        self._mask = normalize.mask
        self._cache: dict[tuple[str, str | None], Account] = {}
        self._by_tail: dict[str, Account] = {}

    def _get(self, name: str, tail: str | None) -> Account:
        key = (name, tail)
        if key not in self._cache:
            self._cache[key] = repo.ensure_account(self._session, self._tenant, name, tail)
        return self._cache[key]

    def for_row(self, row: NormalizedTransaction) -> Account:
        """The account a row belongs to."""
        if self._options.account:
            return self._get(self._options.account, self._options.account_tail)
        if row.account_ref:
            name = row.account_ref
            if self._mask(name).kinds:  # a full account number or IBAN as the id: never store it
                digest = hashlib.sha256(name.encode()).hexdigest()[:8]
                name = f"account-{row.account_tail or digest}"
            return self._get(name[:128], row.account_tail)
        if row.account_tail:
            return self._for_tail(row.account_tail)
        return self._get(DEFAULT_ACCOUNT, self._options.account_tail)

    def _for_tail(self, tail: str) -> Account:
        """The tenant's only account with this tail, or a `card-<tail>` account."""
        if tail not in self._by_tail:
            known = repo.find_accounts_by_tail(self._session, self._tenant, tail)
            account = known[0] if len(known) == 1 else self._get(f"card-{tail}", tail)
            self._by_tail[tail] = account
        return self._by_tail[tail]


@dataclass
class _LabelTarget:
    """Where imported category labels go: a taxonomy id and its labels (case-insensitive)."""

    taxonomy_id: int | None
    labels: dict[str, str]

    @classmethod
    def resolve(
        cls,
        session: Session,
        tenant: str,
        name: str,
        rows: Sequence[NormalizedTransaction],
        summary: IngestSummary,
    ) -> _LabelTarget:
        wanted = sorted({r.category for r in rows if r.category})
        if not wanted:
            return cls(None, {})
        taxonomy = taxonomies.get_taxonomy(session, tenant, name)
        if taxonomy is None:
            # Naming a new taxonomy on a labeled file registers the file's labels as one.
            taxonomy, _ = taxonomies.register_taxonomy(
                session, tenant, Taxonomy.from_labels(name, wanted)
            )
            summary.warnings.append(
                f"registered taxonomy {name!r} v{taxonomy.version} with {len(wanted)} labels "
                "from this file"
            )
        labels = {label.lower(): label for label in taxonomy.labels}
        unknown = sorted({c for c in wanted if c.lower() not in labels})
        if unknown:
            summary.warnings.append(
                f"{len(unknown)} categories are not labels of taxonomy {name!r} and were not "
                f"stored as labels (e.g. {', '.join(repr(u) for u in unknown[:5])}); "
                "pass --taxonomy NAME to keep them in a taxonomy of their own"
            )
        tax_id = taxonomies.taxonomy_id(session, tenant, taxonomy.name, taxonomy.version)
        return cls(tax_id, labels)

    def store(
        self,
        session: Session,
        tenant: str,
        batch_id: str,
        new: Sequence[dict[str, Any]],
        categories: dict[str, str | None],
    ) -> int:
        """Insert import labels for newly stored rows; returns how many."""
        if self.taxonomy_id is None:
            return 0
        values = []
        for rec in new:
            category = categories.get(rec["id"])
            label = self.labels.get(category.lower()) if category else None
            if label:
                values.append(
                    {
                        "tenant_id": tenant,
                        "transaction_id": rec["id"],
                        "taxonomy_id": self.taxonomy_id,
                        "category": label,
                        "source": "import",
                        "created_by": f"batch:{batch_id}",
                        "created_at": rec["created_at"],
                    }
                )
        if values:
            session.execute(insert(Base.metadata.tables[Label.__tablename__]), values)
        return len(values)


def _finish_batch(
    sessions: sessionmaker[Session],
    tenant: str,
    summary: IngestSummary,
    *,
    status: str,
    error: str | None = None,
) -> None:
    with sessions() as session:
        batch = repo.get_batch(session, tenant, summary.batch_id)
        if batch is None:  # pragma: no cover - created at the start of this load
            return
        batch.source = summary.source.value if summary.source else "?"
        batch.status = status
        batch.error = error
        batch.detected = {**summary.detected, "warnings": "; ".join(summary.warnings)}
        batch.rows_total = summary.rows_total
        batch.loaded = summary.loaded
        batch.duplicates = summary.duplicates
        batch.linked = summary.linked
        batch.rejected = summary.rejected
        batch.finished_at = utcnow()
        session.add_all(
            IngestionReject(
                tenant_id=tenant,
                batch_id=summary.batch_id,
                line_no=r.line_no,
                reason=r.reason[:500],
                excerpt=r.excerpt[:200],
            )
            for r in summary.rejects
        )
        session.commit()
