"""API keys and scopes without a database: parsing, admin, key shape, prefix extraction."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from spendlens.auth import (
    DEFAULT_SCOPES,
    ApiKeyError,
    ApiKeyInfo,
    Scope,
    allows,
    format_scopes,
    hash_key,
    key_prefix,
    new_key,
    parse_scopes,
)


def test_scopes_parse_from_comma_text_and_lists_ignoring_case_and_spaces() -> None:
    assert parse_scopes("categorize, Feedback") == {Scope.CATEGORIZE, Scope.FEEDBACK}
    assert parse_scopes(["review", "admin,categorize"]) == {
        Scope.REVIEW,
        Scope.ADMIN,
        Scope.CATEGORIZE,
    }
    assert parse_scopes([Scope.FEEDBACK, "feedback"]) == {Scope.FEEDBACK}


def test_unknown_scopes_are_refused_by_name() -> None:
    with pytest.raises(ApiKeyError, match=r"unknown scopes 'bogus', 'write'") as caught:
        parse_scopes(["categorize", "write", "bogus"])
    assert isinstance(caught.value, ValueError)
    assert "categorize, feedback, review, admin" in str(caught.value)


@pytest.mark.parametrize("empty", ["", " , ", []])
def test_no_scope_at_all_is_refused(empty: str | list[str]) -> None:
    with pytest.raises(ApiKeyError, match="no scope given"):
        parse_scopes(empty)


def test_scopes_are_stored_in_declaration_order_and_read_back_unchanged() -> None:
    scopes = frozenset({Scope.ADMIN, Scope.CATEGORIZE, Scope.REVIEW})
    assert format_scopes(scopes) == "categorize,review,admin"
    assert parse_scopes(format_scopes(scopes)) == scopes


def test_admin_implies_every_scope_and_others_only_themselves() -> None:
    admin = frozenset({Scope.ADMIN})
    assert all(allows(admin, scope) for scope in Scope)
    categorize = frozenset({Scope.CATEGORIZE})
    assert allows(categorize, Scope.CATEGORIZE)
    assert not allows(categorize, Scope.FEEDBACK)
    assert not allows(categorize, Scope.ADMIN)
    assert not allows(DEFAULT_SCOPES, Scope.REVIEW)


def test_key_info_answers_scope_questions_and_revocation() -> None:
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    info = ApiKeyInfo("id", "acme", "bot", "0123abcd", frozenset({Scope.REVIEW}), created)
    assert info.allows(Scope.REVIEW)
    assert not info.allows(Scope.CATEGORIZE)
    assert not info.revoked
    admin = frozenset({Scope.ADMIN})
    revoked = ApiKeyInfo("id", "acme", "bot", "0123abcd", admin, created, revoked_at=created)
    assert revoked.revoked
    assert revoked.allows(Scope.FEEDBACK)


def test_new_key_has_the_documented_shape_and_its_hash() -> None:
    plaintext, prefix, digest = new_key()
    assert re.fullmatch(r"sl_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", plaintext)
    assert plaintext.startswith(f"sl_{prefix}_")
    assert key_prefix(plaintext) == prefix
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == hash_key(plaintext)
    assert plaintext not in digest


def test_new_keys_differ_every_time() -> None:
    keys = [new_key() for _ in range(50)]
    assert len({plaintext for plaintext, _, _ in keys}) == 50
    assert len({prefix for _, prefix, _ in keys}) == 50


def test_hash_depends_on_every_part_of_the_key() -> None:
    base = "sl_0123abcd_secretpart"
    assert hash_key(base) == hash_key("sl_0123abcd_secretpart")
    assert hash_key(base) != hash_key("sl_0123abcd_secretparT")
    assert hash_key(base) != hash_key("sl_0123abce_secretpart")


def test_secrets_may_contain_underscores_and_dashes() -> None:
    assert key_prefix("sl_0123abcd_a_b-c") == "0123abcd"


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "sl",
        "sl_",
        "sl_0123abcd",
        "sl_0123abcd_",
        "xx_0123abcd_secret",
        "SL_0123abcd_secret",
        "sl_0123ABCD_secret",
        "sl_0123abc_secret",
        "sl_0123abcde_secret",
        "sl_0123abcz_secret",
        "sl_0123abcd_sec ret",
        "sl_0123abcd_secret\n",
        "sl_0123abcd_sécret",
        "Bearer sl_0123abcd_secret",
        "sl_0123abcd_" + "a" * 300,
    ],
)
def test_malformed_keys_have_no_prefix(malformed: str) -> None:
    assert key_prefix(malformed) is None
