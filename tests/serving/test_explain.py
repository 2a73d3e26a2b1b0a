"""Explanations of model decisions: words by occlusion, merchant evidence by name."""

from __future__ import annotations

import math

from serving.explain import MAX_WORDS, merchant_evidence, without, words_of


def test_words_skip_numbers_placeholders_and_repeats() -> None:
    assert words_of("SQ *BLUE BOTTLE 0042 blue <CARD> #12") == ["SQ", "BLUE", "BOTTLE", "CARD"]


def test_at_most_max_words_are_tried() -> None:
    assert len(words_of(" ".join(f"w{chr(97 + i)}x" for i in range(20)))) == MAX_WORDS


def test_leaving_a_word_out_removes_every_whole_occurrence_only() -> None:
    assert without("Blue BOTTLE blue bluest", "blue") == "BOTTLE bluest"


def test_merchant_evidence_leaves_unknown_values_out() -> None:
    features = {
        "m_txn_count": 12,
        "m_confirmed_count": 0,
        "m_confirmed_top": "",
        "m_confirmed_top_share": math.nan,
        "am_last_category": "FOOD_AND_DRINK_COFFEE",
    }
    assert merchant_evidence(features) == {
        "transactions_seen": 12,
        "confirmed_labels": 0,
        "account_last_category": "FOOD_AND_DRINK_COFFEE",
    }
