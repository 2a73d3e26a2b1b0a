"""API keys in the database: create, authenticate, revoke, list (see spendlens.auth).

Only the SHA-256 digest of a key is stored. Functions flush but never commit: the caller owns
the transaction. Everything a tenant can do is scoped by its tenant id; `authenticate` is the
one lookup without a tenant, because the key itself says whose it is.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from spendlens.auth import (
    ApiKeyError,
    ApiKeyInfo,
    format_scopes,
    hash_key,
    key_prefix,
    new_key,
    parse_scopes,
)
from spendlens.storage.models import ApiKey, utcnow
from spendlens.storage.repository import ensure_tenant, validate_tenant_id

MAX_NAME_CHARS = 200
# Prefixes are 32 random bits; a clash is rare, and a second draw settles it.
_PREFIX_ATTEMPTS = 5


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; storage always writes UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        prefix=row.prefix,
        scopes=parse_scopes(row.scopes),
        created_at=_aware(row.created_at),
        revoked_at=_aware(row.revoked_at) if row.revoked_at is not None else None,
    )


def create_key(
    session: Session, tenant_id: str, name: str, scopes: str | Iterable[str]
) -> tuple[str, ApiKeyInfo]:
    """Create a key for a tenant (creating the tenant on first use).

    Returns:
        The plaintext key, which is not stored and cannot be recovered later, and its info.

    Raises:
        ApiKeyError: unknown or no scopes, or an empty or too long name.
        TenantError: the tenant id is not a valid slug.
    """
    parsed = parse_scopes(scopes)
    clean_name = name.strip()
    if not clean_name or len(clean_name) > MAX_NAME_CHARS:
        raise ApiKeyError(f"a key name needs 1-{MAX_NAME_CHARS} characters, got {name!r}")
    ensure_tenant(session, tenant_id)
    for _ in range(_PREFIX_ATTEMPTS):
        plaintext, prefix, digest = new_key()
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break
    else:  # five clashes in a row of 32 random bits: something is broken
        raise RuntimeError("could not draw an unused key prefix")
    row = ApiKey(
        tenant_id=tenant_id,
        name=clean_name,
        prefix=prefix,
        key_hash=digest,
        scopes=format_scopes(parsed),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return plaintext, _info(row)


def authenticate(session: Session, key: str) -> ApiKeyInfo | None:
    """The key's info when it is a stored, unrevoked key; None for anything else.

    The row is found by the key's public prefix, then the digests are compared in constant
    time, so a right prefix with a wrong secret fails without telling how close it was.
    """
    prefix = key_prefix(key)
    if prefix is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None:
        return None
    if not hmac.compare_digest(row.key_hash.encode("ascii"), hash_key(key).encode("ascii")):
        return None
    if row.revoked_at is not None:
        return None
    return _info(row)


def revoke_key(session: Session, tenant_id: str, key_id_or_prefix: str) -> bool:
    """Revoke one of the tenant's keys, found by id or prefix.

    Returns:
        True when the tenant has that key (revoked now, or already before: the first
        revocation time is kept); False when it has no such key. Another tenant's key is
        never found.
    """
    row = session.scalar(
        select(ApiKey).where(
            ApiKey.tenant_id == validate_tenant_id(tenant_id),
            or_(ApiKey.id == key_id_or_prefix, ApiKey.prefix == key_id_or_prefix),
        )
    )
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return True


def list_keys(session: Session, tenant_id: str) -> list[ApiKeyInfo]:
    """The tenant's keys, revoked ones included, oldest first (no hashes, no plaintext)."""
    rows = session.scalars(
        select(ApiKey)
        .where(ApiKey.tenant_id == validate_tenant_id(tenant_id))
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    return [_info(row) for row in rows]
