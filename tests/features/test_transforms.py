"""Feature snapshots: hand-checked values and a brute-force point-in-time reference."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from features.transforms import (
    ACCOUNT_MERCHANT_COLUMNS,
    ACCOUNT_MERCHANT_KEY,
    FEATURE_COLUMNS,
    MERCHANT_COLUMNS,
    MERCHANT_KEY,
    TIMESTAMP,
    account_merchant_features,
    account_merchant_key,
    feature_defaults,
    merchant_features,
    merchant_key,
    with_defaults,
)

DAY = pd.Timedelta(days=1)


def ts(day: str, hour: int = 0) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=hour)


def txn_frame(rows: list[tuple[str, str, str, str, float, str]]) -> pd.DataFrame:
    """(id, account, merchant, day, amount, direction) rows as a canonical txns frame."""
    ids, accounts, merchants, days, amounts, directions = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "transaction_id": ids,
            "tenant_id": "acme",
            "account_id": accounts,
            "merchant_id": merchants,
            "event_timestamp": [ts(d) for d in days],
            "amount": amounts,
            "direction": directions,
        }
    )


def label_frame(rows: list[tuple[str, str, pd.Timestamp]]) -> pd.DataFrame:
    """(transaction id, category, label time) rows as a canonical labels frame."""
    if not rows:
        return pd.DataFrame(
            {
                "transaction_id": pd.Series(dtype=object),
                "category": pd.Series(dtype=object),
                "label_source": pd.Series(dtype=object),
                "label_timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
            }
        )
    ids, categories, times = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "transaction_id": ids,
            "category": categories,
            "label_source": "feedback",
            "label_timestamp": list(times),
        }
    )


def snapshot_at(frame: pd.DataFrame, key_column: str, key: str, at: pd.Timestamp) -> pd.Series:
    """The newest snapshot row of `key` with event_timestamp <= `at` (what a PIT join returns)."""
    rows = frame[(frame[key_column] == key) & (frame[TIMESTAMP] <= at)]
    assert not rows.empty, f"no snapshot of {key} at {at}"
    return rows.sort_values(TIMESTAMP).iloc[-1]


def test_snapshot_is_dated_the_day_after_its_events_and_accumulates() -> None:
    # 2024-03-01 is a Friday, 03-02 a Saturday.
    txns = txn_frame(
        [
            ("t1", "a", "shop", "2024-03-01", 10.0, "debit"),
            ("t2", "a", "shop", "2024-03-01", 30.0, "credit"),
            ("t3", "b", "shop", "2024-03-02", 20.0, "debit"),
            ("t4", "a", "shop", "2024-03-05", 100.0, "debit"),
        ]
    )
    out = merchant_features(txns, label_frame([]), "acme", "default")

    key = merchant_key("acme", "default", "shop")
    assert out[MERCHANT_KEY].eq(key).all()
    assert list(out[TIMESTAMP]) == [ts("2024-03-02"), ts("2024-03-03"), ts("2024-03-06")]
    assert list(out["m_txn_count"]) == [2, 3, 4]
    assert list(out["m_amount_median"]) == [20.0, 20.0, 25.0]
    assert list(out["m_weekend_share"]) == [0.0, pytest.approx(1 / 3), 0.25]
    assert list(out["m_credit_share"]) == [0.5, pytest.approx(1 / 3), 0.25]
    # Amounts 10, 20, 30, 100: q25 17.5, q75 47.5, median 25.
    assert out["m_amount_spread"].iloc[-1] == pytest.approx(30 / 25)
    assert out["m_confirmed_count"].eq(0).all()
    assert out["m_confirmed_top"].eq("").all()


def test_recurring_share_counts_amounts_seen_in_another_month_from_when_they_are() -> None:
    txns = txn_frame(
        [
            ("t1", "a", "gym", "2024-01-15", 9.99, "debit"),
            ("t2", "a", "gym", "2024-01-20", 12.0, "debit"),
            ("t3", "a", "gym", "2024-02-15", 9.99, "debit"),
            ("t4", "a", "gym", "2024-02-16", 9.99, "debit"),
        ]
    )
    out = merchant_features(txns, label_frame([]), "acme", "default").set_index(TIMESTAMP)

    assert out.loc[ts("2024-01-21"), "m_recurring_share"] == 0.0
    # The February charge makes both 9.99 charges recurring: 2 of 3.
    assert out.loc[ts("2024-02-16"), "m_recurring_share"] == pytest.approx(2 / 3)
    assert out.loc[ts("2024-02-17"), "m_recurring_share"] == pytest.approx(3 / 4)


def test_newest_label_of_a_transaction_wins_from_its_own_day_on() -> None:
    txns = txn_frame(
        [
            ("t1", "acc", "shop", "2024-03-01", 10.0, "debit"),
            ("t2", "acc", "shop", "2024-03-02", 10.0, "debit"),
            ("t3", "acc", "shop", "2024-03-03", 10.0, "debit"),
        ]
    )
    labels = label_frame(
        [
            ("t1", "Dining", ts("2024-03-01")),
            ("t2", "Dining", ts("2024-03-02")),
            ("t3", "Groceries", ts("2024-03-03")),
            # t1 and t2 are corrected to Groceries on the 10th.
            ("t1", "Groceries", ts("2024-03-10", 9)),
            ("t2", "Groceries", ts("2024-03-10", 9)),
        ]
    )
    merchants = merchant_features(txns, labels, "acme", "default")
    pairs = account_merchant_features(txns, labels, "acme", "default")
    m_key = merchant_key("acme", "default", "shop")
    am_key = account_merchant_key("acme", "default", "acc", "shop")

    before = snapshot_at(merchants, MERCHANT_KEY, m_key, ts("2024-03-10"))
    assert before["m_confirmed_count"] == 3
    assert before["m_confirmed_top"] == "Dining"
    assert before["m_confirmed_top_share"] == pytest.approx(2 / 3)
    after = snapshot_at(merchants, MERCHANT_KEY, m_key, ts("2024-03-11"))
    assert after["m_confirmed_count"] == 3
    assert after["m_confirmed_top"] == "Groceries"
    assert after["m_confirmed_top_share"] == 1.0
    # A label-only day still carries the transaction statistics.
    assert after["m_txn_count"] == 3

    pair_before = snapshot_at(pairs, ACCOUNT_MERCHANT_KEY, am_key, ts("2024-03-04"))
    assert (pair_before["am_last_category"], pair_before["am_last_category_count"]) == (
        "Groceries",
        1,
    )
    pair_after = snapshot_at(pairs, ACCOUNT_MERCHANT_KEY, am_key, ts("2024-03-11"))
    assert pair_after["am_confirmed_count"] == 3
    assert pair_after["am_last_category_count"] == 3


def test_other_tenants_and_unknown_transactions_are_ignored() -> None:
    txns = txn_frame([("t1", "a", "shop", "2024-03-01", 10.0, "debit")])
    other = txn_frame([("t9", "a", "shop", "2024-03-01", 99.0, "debit")]).assign(tenant_id="b")
    labels = label_frame([("t9", "X", ts("2024-03-01")), ("nope", "Y", ts("2024-03-01"))])

    merchants = merchant_features(pd.concat([txns, other]), labels, "acme", "default")
    pairs = account_merchant_features(pd.concat([txns, other]), labels, "acme", "default")

    assert list(merchants["m_txn_count"]) == [1]
    assert list(merchants["m_confirmed_count"]) == [0]
    assert pairs.empty
    assert list(pairs.columns) == [ACCOUNT_MERCHANT_KEY, TIMESTAMP, *ACCOUNT_MERCHANT_COLUMNS]


def test_empty_input_gives_empty_typed_frames() -> None:
    empty = txn_frame([("t1", "a", "shop", "2024-03-01", 1.0, "debit")]).iloc[:0]

    merchants = merchant_features(empty, label_frame([]), "acme", "default")

    assert merchants.empty
    assert list(merchants.columns) == [MERCHANT_KEY, TIMESTAMP, *MERCHANT_COLUMNS]
    assert str(merchants[TIMESTAMP].dtype) == "datetime64[ns, UTC]"


def test_defaults_fill_missing_and_absent_columns() -> None:
    frame = pd.DataFrame({"m_txn_count": [np.nan, 3.0], "m_confirmed_top": [None, "Dining"]})

    out = with_defaults(frame)

    assert set(out.columns) == set(FEATURE_COLUMNS)
    assert list(out["m_txn_count"]) == [0, 3]
    assert out["m_txn_count"].dtype == "int64"
    assert list(out["m_confirmed_top"]) == ["", "Dining"]
    assert out["am_last_category"].eq("").all()
    assert out["m_credit_share"].eq(0.0).all()
    assert out["m_amount_median"].isna().all()
    defaults = feature_defaults()
    assert set(defaults) == set(FEATURE_COLUMNS)
    assert math.isnan(float(defaults["m_amount_spread"]))


def test_keys_refuse_separator_in_tenant_or_taxonomy() -> None:
    assert merchant_key("t", "x", "m") == "t|x|m"
    assert account_merchant_key("t", "x", "a", "m") == "t|x|a|m"
    with pytest.raises(ValueError, match="may not contain"):
        merchant_key("a|b", "x", "m")


def random_history(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small random history with repeated amounts, relabels and same-day events."""
    rng = np.random.default_rng(seed)
    n = 60
    txns = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "tenant_id": "acme",
            "account_id": rng.choice(["a1", "a2"], n),
            "merchant_id": rng.choice(["m1", "m2", "m3"], n),
            "event_timestamp": ts("2024-01-25") + pd.to_timedelta(rng.integers(0, 50, n), "D"),
            "amount": rng.choice([5.0, 9.99, 20.0, 31.5], n),
            "direction": rng.choice(["debit", "credit"], n, p=[0.8, 0.2]),
        }
    )
    picked = rng.choice(n, 80)
    labels = pd.DataFrame(
        {
            "transaction_id": txns["transaction_id"].to_numpy()[picked],
            "category": rng.choice(["A", "B", "C"], len(picked)),
            "label_source": "feedback",
            "label_timestamp": txns["event_timestamp"].iloc[picked].reset_index(drop=True)
            + pd.to_timedelta(rng.integers(0, 30, len(picked)) * 6, "h"),
        }
    )
    return txns, labels


def current_categories(labels: pd.DataFrame, before: pd.Timestamp) -> pd.DataFrame:
    """Each transaction's newest label known before `before` (later row wins ties)."""
    ordered = labels.assign(order=range(len(labels)))
    known = ordered[ordered["label_timestamp"] < before]
    newest = known.sort_values(["label_timestamp", "order"], kind="stable")
    return newest.groupby("transaction_id").tail(1)


def expected_merchant(
    txns: pd.DataFrame, labels: pd.DataFrame, at: pd.Timestamp
) -> dict[str, object]:
    """Merchant features at `at` from scratch, straight from the definitions."""
    seen = txns[txns["event_timestamp"] < at]
    amounts = seen["amount"]
    months = seen["event_timestamp"].dt.year * 12 + seen["event_timestamp"].dt.month
    cents = (amounts * 100).round()
    recurring = [months[cents == c].nunique() > 1 for c in cents]
    labeled = current_categories(labels[labels["transaction_id"].isin(txns["transaction_id"])], at)
    tally = Counter(labeled["category"])
    top = min(tally, key=lambda c: (-tally[c], c)) if tally else ""
    median = float(amounts.median())
    iqr = float(amounts.quantile(0.75) - amounts.quantile(0.25))
    return {
        "m_txn_count": len(seen),
        "m_amount_median": median,
        "m_amount_spread": iqr / median,
        "m_weekend_share": float((seen["event_timestamp"].dt.dayofweek >= 5).mean()),
        "m_recurring_share": float(np.mean(recurring)),
        "m_credit_share": float((seen["direction"] == "credit").mean()),
        "m_confirmed_count": len(labeled),
        "m_confirmed_top": top,
        "m_confirmed_top_share": tally[top] / len(labeled) if tally else 0.0,
    }


def expected_pair(txns: pd.DataFrame, labels: pd.DataFrame, at: pd.Timestamp) -> dict[str, object]:
    """Account+merchant features at `at` from scratch."""
    mine = labels[labels["transaction_id"].isin(txns["transaction_id"])]
    labeled = current_categories(mine, at)
    ordered = mine.assign(order=range(len(mine)))
    known = ordered[ordered["label_timestamp"] < at]
    last = known.sort_values(["label_timestamp", "order"], kind="stable")["category"].iloc[-1]
    return {
        "am_confirmed_count": len(labeled),
        "am_last_category": last,
        "am_last_category_count": int((labeled["category"] == last).sum()),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_snapshots_match_a_from_scratch_computation_at_every_day(seed: int) -> None:
    txns, labels = random_history(seed)
    merchants = merchant_features(txns, labels, "acme", "tax")
    pairs = account_merchant_features(txns, labels, "acme", "tax")

    for row in merchants.itertuples(index=False):
        mine = txns[txns["merchant_id"] == row.merchant_key.split("|")[2]]
        # Only events strictly before the snapshot's timestamp are inside it.
        expected = expected_merchant(mine, labels, row.event_timestamp)
        actual = {c: getattr(row, c) for c in MERCHANT_COLUMNS}
        assert actual == pytest.approx(expected, nan_ok=True), row
    for row in pairs.itertuples(index=False):
        _, _, account, merchant = row.account_merchant_key.split("|")
        mine = txns[(txns["account_id"] == account) & (txns["merchant_id"] == merchant)]
        expected = expected_pair(mine, labels, row.event_timestamp)
        assert {c: getattr(row, c) for c in ACCOUNT_MERCHANT_COLUMNS} == expected, row

    # A snapshot exists exactly for each day after a day with events of that merchant.
    event_days = pd.concat(
        [
            txns[["merchant_id", "event_timestamp"]],
            labels.merge(txns[["transaction_id", "merchant_id"]])[
                ["merchant_id", "label_timestamp"]
            ].rename(columns={"label_timestamp": "event_timestamp"}),
        ]
    )
    expected_rows = {
        (f"acme|tax|{m}", t.floor("D") + DAY) for m, t in event_days.itertuples(index=False)
    }
    assert set(zip(merchants[MERCHANT_KEY], merchants[TIMESTAMP], strict=True)) == expected_rows
