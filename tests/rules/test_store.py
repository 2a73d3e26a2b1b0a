"""Rules in the database: typed round trip, version counter, enable/disable, tenant isolation."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from rules import store
from rules.models import Rule
from spendlens.storage.repository import ensure_tenant


def _rule(rule_id: str, group: str | None = None, **kw: object) -> Rule:
    values: dict[str, object] = {
        "id": rule_id,
        "name": f"rule {rule_id}",
        "category": "FOOD_AND_DRINK_COFFEE",
        "group": group,
        "conditions": [
            {"kind": "text", "field": "merchant", "op": "contains", "value": "starbucks"},
            {"kind": "amount", "op": "between", "low": "1.50", "high": "20"},
        ],
    }
    values.update(kw)
    return Rule.model_validate(values)


@pytest.fixture
def tenants(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions() as session:
        ensure_tenant(session, "alpha")
        ensure_tenant(session, "beta")
        session.commit()
    return sessions


def test_a_stored_rule_comes_back_identical_apart_from_timestamps(
    tenants: sessionmaker[Session],
) -> None:
    rule = _rule("r1")
    with tenants() as session:
        store.save_rules(session, "alpha", [rule])
        session.commit()
    with tenants() as session:
        loaded = store.get_rule(session, "alpha", "r1")
    assert loaded is not None
    assert loaded.model_dump(exclude={"tenant", "created_at", "updated_at"}) == rule.model_dump(
        exclude={"tenant", "created_at", "updated_at"}
    )
    assert loaded.tenant == "alpha"
    assert loaded.created_at is not None


def test_every_change_bumps_the_tenants_rule_set_version(tenants: sessionmaker[Session]) -> None:
    with tenants() as session:
        assert store.rules_version(session, "alpha") == 0
        store.save_rules(session, "alpha", [_rule("r1"), _rule("r2", group="starter")])
        v1 = store.rules_version(session, "alpha")
        assert store.set_enabled(session, "alpha", False, group="starter") == 1
        v2 = store.rules_version(session, "alpha")
        assert store.set_enabled(session, "alpha", False, group="starter") == 0
        assert store.rules_version(session, "alpha") == v2  # nothing changed, no bump
        assert store.delete_rule(session, "alpha", "r1")
        v3 = store.rules_version(session, "alpha")
        session.commit()
    assert v1 < v2 < v3
    with tenants() as session:
        enabled = store.list_rules(session, "alpha", enabled_only=True)
        assert enabled == []
        assert [r.id for r in store.list_rules(session, "alpha")] == ["r2"]


def test_a_tenant_never_sees_or_changes_another_tenants_rules(
    tenants: sessionmaker[Session],
) -> None:
    with tenants() as session:
        store.save_rules(session, "alpha", [_rule("shared-id")])
        store.save_rules(
            session, "beta", [_rule("shared-id", category="FOOD_AND_DRINK_RESTAURANT")]
        )
        session.commit()
    with tenants() as session:
        assert store.set_enabled(session, "beta", False, rule_ids=["shared-id"]) == 1
        assert store.delete_rule(session, "beta", "missing") is False
        session.commit()
    with tenants() as session:
        alpha = store.get_rule(session, "alpha", "shared-id")
        beta = store.get_rule(session, "beta", "shared-id")
        assert alpha is not None
        assert beta is not None
        assert (alpha.enabled, alpha.category) == (True, "FOOD_AND_DRINK_COFFEE")
        assert (beta.enabled, beta.category) == (False, "FOOD_AND_DRINK_RESTAURANT")
        assert store.rules_version(session, "alpha") == 1


def test_ambiguous_merchants_are_recorded_per_tenant(tenants: sessionmaker[Session]) -> None:
    with tenants() as session:
        store.flag_merchant(session, "alpha", "m_1", ambiguous=True, reason="c1 vs c2")
        store.flag_merchant(session, "alpha", "m_2", ambiguous=False, reason="agreed")
        session.commit()
        assert store.ambiguous_merchants(session, "alpha") == {"m_1": "c1 vs c2"}
        assert store.ambiguous_merchants(session, "beta") == {}
