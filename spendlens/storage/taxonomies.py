"""Persist tenants' versioned taxonomies and crosswalks (the domain objects live in taxonomy.py)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from spendlens.storage.models import Crosswalk as CrosswalkRow
from spendlens.storage.models import CrosswalkEntry, TaxonomyCategory
from spendlens.storage.models import Taxonomy as TaxonomyRow
from spendlens.taxonomy import Category, Crosswalk, Taxonomy, TaxonomyError, load_default_taxonomy


def register_taxonomy(
    session: Session, tenant_id: str, taxonomy: Taxonomy
) -> tuple[Taxonomy, bool]:
    """Store a taxonomy for a tenant as a new version unless identical content already exists.

    Returns:
        The stored taxonomy (with its version number) and whether a new version was created.
    """
    digest = taxonomy.content_hash()
    same = session.scalar(
        select(TaxonomyRow).where(
            TaxonomyRow.tenant_id == tenant_id,
            TaxonomyRow.name == taxonomy.name,
            TaxonomyRow.content_hash == digest,
        )
    )
    if same is not None:
        return _to_domain(session, same), False
    latest = session.scalar(
        select(func.max(TaxonomyRow.version)).where(
            TaxonomyRow.tenant_id == tenant_id, TaxonomyRow.name == taxonomy.name
        )
    )
    row = TaxonomyRow(
        tenant_id=tenant_id, name=taxonomy.name, version=(latest or 0) + 1, content_hash=digest
    )
    session.add(row)
    session.flush()
    session.add_all(
        TaxonomyCategory(
            taxonomy_id=row.id,
            label=cat.label,
            parent=cat.parent,
            description=cat.description,
            position=i,
        )
        for i, cat in enumerate(taxonomy.categories)
    )
    session.flush()
    return _to_domain(session, row), True


def ensure_default_taxonomy(session: Session, tenant_id: str) -> Taxonomy:
    """Make sure the tenant has the shipped default taxonomy registered."""
    return register_taxonomy(session, tenant_id, load_default_taxonomy())[0]


def _row(session: Session, tenant_id: str, name: str, version: int | None) -> TaxonomyRow | None:
    stmt = select(TaxonomyRow).where(TaxonomyRow.tenant_id == tenant_id, TaxonomyRow.name == name)
    if version is not None:
        stmt = stmt.where(TaxonomyRow.version == version)
    return session.scalar(stmt.order_by(TaxonomyRow.version.desc()).limit(1))


def _to_domain(session: Session, row: TaxonomyRow) -> Taxonomy:
    cats = session.scalars(
        select(TaxonomyCategory)
        .where(TaxonomyCategory.taxonomy_id == row.id)
        .order_by(TaxonomyCategory.position)
    )
    categories = tuple(Category(c.label, c.parent, c.description) for c in cats)
    return Taxonomy(name=row.name, version=row.version, categories=categories)


def get_taxonomy(
    session: Session, tenant_id: str, name: str, version: int | None = None
) -> Taxonomy | None:
    """A tenant's taxonomy by name (newest version unless one is given)."""
    row = _row(session, tenant_id, name, version)
    return _to_domain(session, row) if row else None


def taxonomy_id(session: Session, tenant_id: str, name: str, version: int | None = None) -> int:
    """Primary key of a tenant's taxonomy version; raises TaxonomyError when unknown."""
    row = _row(session, tenant_id, name, version)
    if row is None:
        raise TaxonomyError(f"tenant {tenant_id!r} has no taxonomy {name!r}")
    return row.id


def list_taxonomies(session: Session, tenant_id: str) -> list[tuple[str, int, int]]:
    """(name, version, number of labels) for every taxonomy version of a tenant."""
    stmt = (
        select(TaxonomyRow.name, TaxonomyRow.version, func.count(TaxonomyCategory.id))
        .join(TaxonomyCategory, TaxonomyCategory.taxonomy_id == TaxonomyRow.id, isouter=True)
        .where(TaxonomyRow.tenant_id == tenant_id)
        .group_by(TaxonomyRow.name, TaxonomyRow.version)
        .order_by(TaxonomyRow.name, TaxonomyRow.version)
    )
    return [(name, int(version), int(count)) for name, version, count in session.execute(stmt)]


def save_crosswalk(session: Session, tenant_id: str, crosswalk: Crosswalk) -> list[str]:
    """Validate and store a crosswalk between the newest versions of two taxonomies.

    Returns:
        Source labels the crosswalk leaves unmapped (stored anyway; mapping can be partial).

    Raises:
        TaxonomyError: a taxonomy is unknown or the crosswalk names labels they do not have.
    """
    source = get_taxonomy(session, tenant_id, crosswalk.source)
    target = get_taxonomy(session, tenant_id, crosswalk.target)
    if source is None or target is None:
        missing = crosswalk.source if source is None else crosswalk.target
        raise TaxonomyError(f"tenant {tenant_id!r} has no taxonomy {missing!r}")
    problems = crosswalk.validate(source, target)
    if problems:
        raise TaxonomyError("; ".join(problems))
    source_id = taxonomy_id(session, tenant_id, source.name, source.version)
    target_id = taxonomy_id(session, tenant_id, target.name, target.version)
    row = session.scalar(
        select(CrosswalkRow).where(
            CrosswalkRow.tenant_id == tenant_id,
            CrosswalkRow.source_taxonomy_id == source_id,
            CrosswalkRow.target_taxonomy_id == target_id,
        )
    )
    if row is None:
        row = CrosswalkRow(
            tenant_id=tenant_id, source_taxonomy_id=source_id, target_taxonomy_id=target_id
        )
        session.add(row)
        session.flush()
    else:
        for entry in session.scalars(
            select(CrosswalkEntry).where(CrosswalkEntry.crosswalk_id == row.id)
        ):
            session.delete(entry)
        session.flush()
    session.add_all(
        CrosswalkEntry(crosswalk_id=row.id, source_label=src, target_label=dst)
        for src, dst in sorted(crosswalk.mapping.items())
    )
    session.flush()
    return crosswalk.unmapped(source)


def get_crosswalk(session: Session, tenant_id: str, source: str, target: str) -> Crosswalk | None:
    """The stored crosswalk between the newest versions of two of a tenant's taxonomies."""
    source_row = _row(session, tenant_id, source, None)
    target_row = _row(session, tenant_id, target, None)
    if source_row is None or target_row is None:
        return None
    row = session.scalar(
        select(CrosswalkRow).where(
            CrosswalkRow.tenant_id == tenant_id,
            CrosswalkRow.source_taxonomy_id == source_row.id,
            CrosswalkRow.target_taxonomy_id == target_row.id,
        )
    )
    if row is None:
        return None
    entries = session.execute(
        select(CrosswalkEntry.source_label, CrosswalkEntry.target_label).where(
            CrosswalkEntry.crosswalk_id == row.id
        )
    )
    return Crosswalk(source=source, target=target, mapping=dict(entries.all()))
