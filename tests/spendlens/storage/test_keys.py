"""API keys in the database, on SQLite and PostgreSQL: hashed, scoped, revocable, per tenant."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from spendlens.auth import ApiKeyError, ApiKeyInfo, Scope, hash_key
from spendlens.storage import keys
from spendlens.storage.models import ApiKey, Tenant


def _create(
    sessions: sessionmaker[Session], tenant: str, name: str = "bot", scopes: str = "categorize"
) -> tuple[str, ApiKeyInfo]:
    with sessions() as session:
        created = keys.create_key(session, tenant, name, scopes)
        session.commit()
    return created


def test_a_created_key_authenticates_as_its_tenant_with_its_scopes(
    sessions: sessionmaker[Session],
) -> None:
    plaintext, info = _create(sessions, "acme", "ci-bot", "review,feedback")
    with sessions() as session:
        assert session.get(Tenant, "acme") is not None
        found = keys.authenticate(session, plaintext)
    assert found == info
    assert found.tenant_id == "acme"
    assert found.name == "ci-bot"
    assert found.scopes == {Scope.REVIEW, Scope.FEEDBACK}
    assert found.created_at.tzinfo is not None
    assert found.revoked_at is None


def test_right_prefix_with_a_wrong_secret_does_not_authenticate(
    sessions: sessionmaker[Session],
) -> None:
    plaintext, info = _create(sessions, "acme")
    last = plaintext[-1]
    forged = plaintext[:-1] + ("A" if last != "A" else "B")
    with sessions() as session:
        assert keys.authenticate(session, forged) is None
        assert keys.authenticate(session, f"sl_{info.prefix}_guess") is None
        assert keys.authenticate(session, plaintext) is not None


@pytest.mark.parametrize(
    "presented", ["", "not-a-key", "sl_0123abcd_unknownprefix", "sl_ZZZZZZZZ_x"]
)
def test_unknown_and_malformed_keys_do_not_authenticate(
    sessions: sessionmaker[Session], presented: str
) -> None:
    _create(sessions, "acme")
    with sessions() as session:
        assert keys.authenticate(session, presented) is None


def test_a_revoked_key_no_longer_authenticates_and_stays_listed(
    sessions: sessionmaker[Session],
) -> None:
    plaintext, info = _create(sessions, "acme")
    with sessions() as session:
        assert keys.revoke_key(session, "acme", info.prefix)
        session.commit()
    with sessions() as session:
        assert keys.authenticate(session, plaintext) is None
        [listed] = keys.list_keys(session, "acme")
    assert listed.id == info.id
    assert listed.revoked
    assert listed.revoked_at is not None


def test_revoking_by_id_works_and_a_second_revoke_keeps_the_first_time(
    sessions: sessionmaker[Session],
) -> None:
    _, info = _create(sessions, "acme")
    with sessions() as session:
        assert keys.revoke_key(session, "acme", info.id)
        session.commit()
        first = keys.list_keys(session, "acme")[0].revoked_at
    with sessions() as session:
        assert keys.revoke_key(session, "acme", info.prefix)
        session.commit()
        assert keys.list_keys(session, "acme")[0].revoked_at == first


def test_revoking_an_unknown_key_reports_false(sessions: sessionmaker[Session]) -> None:
    _create(sessions, "acme")
    with sessions() as session:
        assert not keys.revoke_key(session, "acme", "0123abcd")


def test_a_tenant_can_neither_revoke_nor_list_another_tenants_keys(
    sessions: sessionmaker[Session],
) -> None:
    plaintext_a, info_a = _create(sessions, "alpha", "a-bot")
    plaintext_b, info_b = _create(sessions, "beta", "b-bot")
    with sessions() as session:
        assert not keys.revoke_key(session, "alpha", info_b.prefix)
        assert not keys.revoke_key(session, "alpha", info_b.id)
        session.commit()
    with sessions() as session:
        assert keys.authenticate(session, plaintext_b) == info_b
        assert [k.id for k in keys.list_keys(session, "alpha")] == [info_a.id]
        assert [k.id for k in keys.list_keys(session, "beta")] == [info_b.id]
        assert keys.authenticate(session, plaintext_a) == info_a


def test_only_the_hash_is_stored_never_the_key(sessions: sessionmaker[Session]) -> None:
    plaintext, info = _create(sessions, "acme")
    secret = plaintext.split("_", 2)[2]
    with sessions() as session:
        rows = session.execute(text("SELECT * FROM api_keys")).all()
        stored = session.scalar(select(ApiKey.key_hash).where(ApiKey.id == info.id))
    assert len(rows) == 1
    values = [str(value) for value in rows[0]]
    assert all(secret not in value and plaintext not in value for value in values)
    assert stored == hash_key(plaintext)
    assert info.prefix in values


def test_listed_key_info_carries_no_hash_or_plaintext(sessions: sessionmaker[Session]) -> None:
    plaintext, _ = _create(sessions, "acme")
    with sessions() as session:
        [listed] = keys.list_keys(session, "acme")
        stored = session.scalar(select(ApiKey.key_hash))
    values = [str(getattr(listed, field.name)) for field in dataclasses.fields(listed)]
    assert stored not in values
    assert all(plaintext.split("_", 2)[2] not in value for value in values)


def test_bad_scopes_or_name_store_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(ApiKeyError, match="unknown scope 'write'"):
            keys.create_key(session, "acme", "bot", "categorize,write")
        with pytest.raises(ApiKeyError, match="key name"):
            keys.create_key(session, "acme", "   ", "categorize")
        assert session.scalars(select(ApiKey)).all() == []


def test_the_database_refuses_two_keys_with_one_prefix(sessions: sessionmaker[Session]) -> None:
    _, info = _create(sessions, "acme")
    with sessions() as session:
        session.add(
            ApiKey(tenant_id="acme", name="dup", prefix=info.prefix, key_hash="0" * 64, scopes="")
        )
        with pytest.raises(IntegrityError):
            session.flush()
