"""API keys and their scopes (pure: no database, no I/O).

A key looks like ``sl_<prefix>_<secret>``: ``sl`` marks it as a spendlens key, ``<prefix>`` is
8 lowercase hex digits that are public (they find the key's row and name it in listings) and
``<secret>`` is 32 random bytes, URL-safe base64. Only the SHA-256 digest of the whole key is
stored: the key carries 256 bits of randomness, so a plain digest cannot be brute-forced and no
slow password hash is needed, and the plaintext cannot be recovered from storage.

Scopes say what a key may do. `Scope.ADMIN` implies every other scope: `allows` and
`ApiKeyInfo.allows` answer True for any scope when a key holds ``admin``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

KEY_MARKER = "sl"
PREFIX_CHARS = 8
SECRET_BYTES = 32
# Longer input is not one of our keys; refuse it before hashing.
MAX_KEY_CHARS = 200
_PREFIX_RE = re.compile(rf"[0-9a-f]{{{PREFIX_CHARS}}}")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]+")


class Scope(StrEnum):
    """What an API key may do. ADMIN implies every other scope."""

    CATEGORIZE = "categorize"
    FEEDBACK = "feedback"
    REVIEW = "review"
    ADMIN = "admin"


DEFAULT_SCOPES: frozenset[Scope] = frozenset({Scope.CATEGORIZE, Scope.FEEDBACK})


class ApiKeyError(ValueError):
    """An API key request that cannot be honoured: unknown scopes, a bad key name."""


def parse_scopes(value: str | Iterable[str]) -> frozenset[Scope]:
    """Scopes from ``"categorize,feedback"`` or a list (items may hold commas too).

    Case and surrounding whitespace are ignored.

    Raises:
        ApiKeyError: a scope is unknown (all unknown ones are named), or none is given.
    """
    items = [value] if isinstance(value, str) else list(value)
    names = [part.strip().lower() for item in items for part in item.split(",")]
    names = [name for name in names if name]
    known = {scope.value: scope for scope in Scope}
    unknown = sorted({name for name in names if name not in known})
    if unknown:
        raise ApiKeyError(
            f"unknown scope{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"use {', '.join(scope.value for scope in Scope)}"
        )
    if not names:
        raise ApiKeyError(f"no scope given; use {', '.join(scope.value for scope in Scope)}")
    return frozenset(known[name] for name in names)


def format_scopes(scopes: Iterable[Scope]) -> str:
    """Scopes as comma-separated text in declaration order (how they are stored)."""
    held = set(scopes)
    return ",".join(scope.value for scope in Scope if scope in held)


def allows(scopes: Iterable[Scope], needed: Scope) -> bool:
    """Whether a key holding `scopes` may do what `needed` covers (admin may do anything)."""
    held = set(scopes)
    return Scope.ADMIN in held or needed in held


def hash_key(key: str) -> str:
    """SHA-256 hex digest (64 characters) of the whole key: the only form that is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str, str]:
    """A fresh random key: (plaintext ``sl_<prefix>_<secret>``, prefix, SHA-256 hex of it)."""
    prefix = secrets.token_hex(PREFIX_CHARS // 2)
    plaintext = f"{KEY_MARKER}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return plaintext, prefix, hash_key(plaintext)


def key_prefix(key: str) -> str | None:
    """The public prefix of a well-formed key, None for anything that is not shaped like one."""
    if len(key) > MAX_KEY_CHARS:
        return None
    marker, _, rest = key.partition("_")
    prefix, sep, secret = rest.partition("_")
    if marker != KEY_MARKER or not sep or not _PREFIX_RE.fullmatch(prefix):
        return None
    if not _SECRET_RE.fullmatch(secret):
        return None
    return prefix


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about a stored key: never its hash, never its plaintext."""

    id: str
    tenant_id: str
    name: str
    prefix: str
    scopes: frozenset[Scope]
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked (a revoked key never authenticates)."""
        return self.revoked_at is not None

    def allows(self, needed: Scope) -> bool:
        """Whether this key may do what `needed` covers (admin implies every scope)."""
        return allows(self.scopes, needed)
