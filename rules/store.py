"""Persist a tenant's rules (typed `Rule` <-> `rules` table) with a version counter per tenant.

Every change bumps the tenant's rule-set version in the same transaction, so a running
service can poll one integer to know its compiled rules are stale.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.models import Rule
from spendlens.storage.models import MerchantFlag, RuleRow, RuleSetVersion, utcnow


def rules_version(session: Session, tenant: str) -> int:
    """The tenant's current rule-set version (0 before any rule was stored)."""
    row = session.get(RuleSetVersion, tenant)
    return row.version if row else 0


def _bump(session: Session, tenant: str) -> int:
    row = session.get(RuleSetVersion, tenant)
    if row is None:
        row = RuleSetVersion(tenant_id=tenant, version=0)
        session.add(row)
    row.version += 1
    row.updated_at = utcnow()
    session.flush()
    return row.version


def _to_rule(row: RuleRow) -> Rule:
    return Rule.model_validate(
        {**row.body, "tenant": row.tenant_id, "enabled": row.enabled, "id": row.id}
        | {"created_at": row.created_at, "updated_at": row.updated_at}
    )


def save_rules(session: Session, tenant: str, rules: Sequence[Rule]) -> int:
    """Insert or replace rules of one tenant (ids are per tenant); returns the new version."""
    now = utcnow()
    for rule in rules:
        body = rule.model_dump(mode="json", exclude={"tenant", "created_at", "updated_at"})
        row = session.get(RuleRow, (tenant, rule.id))
        if row is None:
            row = RuleRow(tenant_id=tenant, id=rule.id, created_at=rule.created_at or now)
            session.add(row)
        row.name = rule.name
        row.category = rule.category
        row.priority = rule.priority
        row.enabled = rule.enabled
        row.created_by = rule.created_by.value
        row.group = rule.group
        row.body = body
        row.updated_at = now
    return _bump(session, tenant)


def list_rules(session: Session, tenant: str, *, enabled_only: bool = False) -> list[Rule]:
    """A tenant's rules, highest priority first (never another tenant's)."""
    stmt = select(RuleRow).where(RuleRow.tenant_id == tenant)
    if enabled_only:
        stmt = stmt.where(RuleRow.enabled.is_(True))
    stmt = stmt.order_by(RuleRow.priority.desc(), RuleRow.id)
    return [_to_rule(row) for row in session.scalars(stmt)]


def get_rule(session: Session, tenant: str, rule_id: str) -> Rule | None:
    """One of the tenant's rules, or None (also for another tenant's rule id)."""
    row = session.get(RuleRow, (tenant, rule_id))
    return _to_rule(row) if row else None


def delete_rule(session: Session, tenant: str, rule_id: str) -> bool:
    """Remove one of the tenant's rules; False when it has no such rule."""
    row = session.get(RuleRow, (tenant, rule_id))
    if row is None:
        return False
    session.delete(row)
    _bump(session, tenant)
    return True


def set_enabled(
    session: Session,
    tenant: str,
    enabled: bool,
    *,
    rule_ids: Sequence[str] = (),
    group: str | None = None,
) -> int:
    """Switch rules on or off by id and/or by group (e.g. the whole `starter` set).

    Returns:
        How many rules changed state.
    """
    stmt = select(RuleRow).where(RuleRow.tenant_id == tenant)
    if group is not None:
        stmt = stmt.where(RuleRow.group == group)
    elif rule_ids:
        stmt = stmt.where(RuleRow.id.in_(list(rule_ids)))
    else:
        return 0
    changed = 0
    for row in session.scalars(stmt):
        if group is not None and rule_ids and row.id not in rule_ids:
            continue
        if row.enabled != enabled:
            row.enabled = enabled
            row.updated_at = utcnow()
            changed += 1
    if changed:
        _bump(session, tenant)
    return changed


def flag_merchant(
    session: Session, tenant: str, merchant_id: str, *, ambiguous: bool, reason: str
) -> None:
    """Record what governed learning concluded about a merchant of this tenant."""
    flag = session.get(MerchantFlag, (tenant, merchant_id))
    if flag is None:
        flag = MerchantFlag(tenant_id=tenant, merchant_id=merchant_id)
        session.add(flag)
    flag.ambiguous = ambiguous
    flag.reason = reason[:1000]
    flag.updated_at = utcnow()
    session.flush()


def ambiguous_merchants(session: Session, tenant: str) -> dict[str, str]:
    """merchant_id -> reason for the tenant's merchants marked ambiguous."""
    stmt = select(MerchantFlag).where(
        MerchantFlag.tenant_id == tenant, MerchantFlag.ambiguous.is_(True)
    )
    return {flag.merchant_id: flag.reason for flag in session.scalars(stmt)}
