"""Feature-store fixtures: Redis availability (PostgreSQL comes from tests/conftest.py)."""

from __future__ import annotations

import os
import socket
from functools import cache

import pytest

REDIS_URL = os.environ.get("SPENDLENS_TEST_REDIS_URL", "127.0.0.1:6379")


@cache
def _redis_unavailable() -> str | None:
    """Why Redis cannot be used, or None when it answers PING."""
    host, _, port = REDIS_URL.split(",")[0].partition(":")
    try:
        with socket.create_connection((host, int(port or 6379)), timeout=3) as conn:
            conn.sendall(b"PING\r\n")
            reply = conn.recv(64)
    except OSError as exc:
        return f"Redis at {REDIS_URL} is not reachable: {type(exc).__name__}: {exc}"
    if not reply.startswith(b"+PONG"):
        return f"Redis at {REDIS_URL} did not answer PING: {reply!r}"
    return None


def require_redis() -> None:
    """Skip locally, fail in CI (CI=true), when Redis is not there."""
    reason = _redis_unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the Redis tests: {reason}")
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    """host:port of a reachable Redis (skips or fails as `require_redis` says)."""
    require_redis()
    return REDIS_URL
