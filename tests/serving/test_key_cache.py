"""API keys remembered by the service: valid ones for a few seconds, invalid ones never."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from serving.service import sql_authenticator
from spendlens.storage.db import make_engine, migrate, session_factory
from spendlens.storage.keys import create_key, revoke_key

TENANT = "acme"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingSessions:
    """The session factory, counting the lookups (one session each)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.opened = 0

    def __call__(self) -> Any:
        self.opened += 1
        return self.sessions()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def new_key(sessions: sessionmaker[Session]) -> tuple[str, str]:
    with sessions.begin() as session:
        plaintext, info = create_key(session, TENANT, "app", "categorize")
    return plaintext, info.id


def revoke(sessions: sessionmaker[Session], key_id: str) -> None:
    with sessions.begin() as session:
        assert revoke_key(session, TENANT, key_id)


def test_a_valid_key_is_looked_up_once_per_ttl(sessions: sessionmaker[Session]) -> None:
    key, _ = new_key(sessions)
    counting, clock = CountingSessions(sessions), Clock()
    check = sql_authenticator(counting, 5.0, clock=clock)

    infos = [check(key) for _ in range(3)]
    clock.now += 6
    again = check(key)

    assert [i.tenant_id if i else None for i in [*infos, again]] == [TENANT] * 4
    assert counting.opened == 2  # the first call, and the first after the TTL


def test_a_key_revoked_while_remembered_stops_working_once_the_ttl_ends(
    sessions: sessionmaker[Session],
) -> None:
    key, key_id = new_key(sessions)
    clock = Clock()
    check = sql_authenticator(sessions, 5.0, clock=clock)
    assert check(key) is not None

    revoke(sessions, key_id)
    clock.now += 4.9
    assert check(key) is not None  # the documented window: up to the TTL
    clock.now += 0.2
    assert check(key) is None


def test_unknown_and_revoked_keys_are_never_remembered(sessions: sessionmaker[Session]) -> None:
    counting = CountingSessions(sessions)
    check = sql_authenticator(counting, 5.0, clock=Clock())
    key, key_id = new_key(sessions)
    revoke(sessions, key_id)

    for _ in range(3):
        assert check("sl_0000_nope") is None
        assert check(key) is None

    assert counting.opened == 6


def test_without_a_ttl_a_revoked_key_fails_at_once(sessions: sessionmaker[Session]) -> None:
    key, key_id = new_key(sessions)
    check = sql_authenticator(sessions, 0.0)
    assert check(key) is not None
    revoke(sessions, key_id)
    assert check(key) is None


def test_the_memo_stays_within_its_bound(sessions: sessionmaker[Session]) -> None:
    keys = [new_key(sessions)[0] for _ in range(5)]
    counting = CountingSessions(sessions)
    check = sql_authenticator(counting, 5.0, max_keys=2, clock=Clock())
    for key in keys:
        assert check(key) is not None
    assert check(keys[-1]) is not None  # the newest survives a restart of the memo
    assert counting.opened == 5
