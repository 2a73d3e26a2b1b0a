"""The Feast store end to end: point-in-time reads, online serving, rebuilds, backends.

Feast costs ~8 s to import and a build a few seconds more, so the SQLite tests share one store
built per module (and per xdist worker, in its own state dir).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.store import (
    FeatureBuild,
    build_features,
    historical_features,
    online_feature_columns,
    online_features,
    open_store,
    repo_config,
)
from features.transforms import (
    FEATURE_COLUMNS,
    MERCHANT_KEY,
    TIMESTAMP,
    account_merchant_features,
    account_merchant_keys,
    feature_defaults,
    merchant_features,
    merchant_keys,
    with_defaults,
)
from spendlens.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def ts(day: str, hour: int = 0) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=hour)


def txn_frame(rows: list[tuple[str, str, str, str, float]], tenant: str = "acme") -> pd.DataFrame:
    """(id, account, merchant, day, amount) rows as a canonical txns frame."""
    ids, accounts, merchants, days, amounts = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "transaction_id": ids,
            "tenant_id": tenant,
            "account_id": accounts,
            "merchant_id": merchants,
            "event_timestamp": [ts(d) for d in days],
            "amount": amounts,
            "direction": "debit",
        }
    )


def label_frame(rows: list[tuple[str, str, str, pd.Timestamp]]) -> pd.DataFrame:
    """(transaction id, category, source, label time) rows as a canonical labels frame."""
    ids, categories, sources, times = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "transaction_id": ids,
            "category": categories,
            "label_source": sources,
            "label_timestamp": list(times),
        }
    )


def story(tenant: str = "acme") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two merchants whose answers change if any label leaks into the past.

    shop: s1 on day 1 is confirmed as Groceries on day 5; s10 follows on day 10.
    cafe: c1 and c2 are imported as Dining; on the 20th, feedback corrects them (and c3) to
    Coffee. c3 (day 5) must still see Dining; c4 (day 25) sees Coffee.
    """
    txns = txn_frame(
        [
            ("s1", "acc1", "shop", "2024-03-01", 25.0),
            ("s10", "acc1", "shop", "2024-03-10", 30.0),
            ("c1", "acc1", "cafe", "2024-03-01", 4.5),
            ("c2", "acc1", "cafe", "2024-03-03", 4.5),
            ("c3", "acc1", "cafe", "2024-03-05", 5.0),
            ("c4", "acc1", "cafe", "2024-03-25", 5.0),
        ],
        tenant,
    )
    labels = label_frame(
        [
            ("s1", "Groceries", "feedback", ts("2024-03-05", 10)),
            ("c1", "Dining", "import", ts("2024-03-01")),
            ("c2", "Dining", "import", ts("2024-03-03")),
            ("c1", "Coffee", "feedback", ts("2024-03-20", 9)),
            ("c2", "Coffee", "feedback", ts("2024-03-20", 9)),
            ("c3", "Coffee", "feedback", ts("2024-03-20", 9)),
        ]
    )
    return txns, labels


def random_history(seed: int, tenant: str = "acme") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random transactions and (re)labels of three merchants, ids prefixed with r."""
    rng = np.random.default_rng(seed)
    n = 40
    txns = pd.DataFrame(
        {
            "transaction_id": [f"r{i}" for i in range(n)],
            "tenant_id": tenant,
            "account_id": rng.choice(["a1", "a2"], n),
            "merchant_id": rng.choice(["r1", "r2", "r3"], n),
            "event_timestamp": ts("2024-02-01") + pd.to_timedelta(rng.integers(0, 40, n), "D"),
            "amount": rng.choice([5.0, 9.99, 20.0], n),
            "direction": rng.choice(["debit", "credit"], n),
        }
    )
    picked = rng.choice(n, 50)
    labels = pd.DataFrame(
        {
            "transaction_id": txns["transaction_id"].iloc[picked].to_numpy(),
            "category": rng.choice(["A", "B", "C"], len(picked)),
            "label_source": "feedback",
            "label_timestamp": txns["event_timestamp"].iloc[picked].reset_index(drop=True)
            + pd.to_timedelta(rng.integers(0, 20, len(picked)) * 7, "h"),
        }
    )
    return txns, labels


@dataclass(frozen=True)
class Built:
    settings: Settings
    store: Any
    txns: pd.DataFrame
    labels: pd.DataFrame
    build: FeatureBuild


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The story and a random history of tenant acme, built into a SQLite + parquet store."""
    settings = Settings(state_dir=tmp_path_factory.mktemp("state"))
    story_txns, story_labels = story()
    random_txns, random_labels = random_history(7)
    txns = pd.concat([story_txns, random_txns], ignore_index=True)
    labels = pd.concat([story_labels, random_labels], ignore_index=True)
    build = build_features(settings, txns, labels, "acme", "default")
    return Built(settings, open_store(settings), txns, labels, build)


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("transaction_id")


def test_a_label_counts_only_for_transactions_after_the_day_it_was_confirmed(
    built: Built,
) -> None:
    shop = built.txns[built.txns["merchant_id"] == "shop"]

    features = by_id(historical_features(built.settings, shop, "acme", "default"))

    assert features.loc["s1", "m_confirmed_count"] == 0
    assert features.loc["s1", "m_confirmed_top"] == ""
    assert features.loc["s1", "m_txn_count"] == 0
    assert features.loc["s10", "m_confirmed_count"] == 1
    assert features.loc["s10", "m_confirmed_top"] == "Groceries"
    assert features.loc["s10", "am_last_category"] == "Groceries"
    assert features.loc["s10", "m_txn_count"] == 1
    assert features.loc["s10", "m_amount_median"] == 25.0
    # The transforms' own snapshots say the same.
    snapshots = merchant_features(built.txns, built.labels, "acme", "default")
    shop_rows = snapshots[snapshots[MERCHANT_KEY] == "acme|default|shop"]
    seen_by_s1 = shop_rows[shop_rows[TIMESTAMP] <= ts("2024-03-01")]
    seen_by_s10 = shop_rows[shop_rows[TIMESTAMP] <= ts("2024-03-10")].iloc[-1]
    assert seen_by_s1.empty
    assert seen_by_s10["m_confirmed_top"] == "Groceries"


def test_a_later_contradicting_label_does_not_leak_into_earlier_transactions(
    built: Built,
) -> None:
    cafe = built.txns[built.txns["merchant_id"] == "cafe"]

    features = by_id(
        historical_features(built.settings, cafe, "acme", "default", store=built.store)
    )

    # Known on the 5th: c1 and c2 were Dining; the Coffee corrections came on the 20th.
    c3 = features.loc["c3"]
    assert (c3["m_confirmed_count"], c3["m_confirmed_top"], c3["m_confirmed_top_share"]) == (
        2,
        "Dining",
        1.0,
    )
    assert (c3["am_last_category"], c3["am_last_category_count"]) == ("Dining", 2)
    # An import label dated like its transaction is not visible to that transaction.
    assert features.loc["c1", "m_confirmed_count"] == 0
    assert features.loc["c2", "m_confirmed_top"] == "Dining"
    c4 = features.loc["c4"]
    assert (c4["m_confirmed_count"], c4["m_confirmed_top"]) == (3, "Coffee")
    assert (c4["am_last_category"], c4["am_last_category_count"]) == ("Coffee", 3)


def test_historical_features_equal_the_snapshots_before_each_transaction_in_input_order(
    built: Built,
) -> None:
    rows = built.txns.sample(frac=1.0, random_state=3)
    rows.index = pd.RangeIndex(1000, 1000 + len(rows))
    stranger = rows.iloc[:1].assign(transaction_id="x", merchant_id="never-seen", account_id="z")
    rows = pd.concat([rows, stranger])

    features = historical_features(built.settings, rows, "acme", "default", store=built.store)

    assert list(features.index) == list(rows.index)
    assert list(features["transaction_id"]) == list(rows["transaction_id"])
    expected = expected_features(rows, built.txns, built.labels)
    pd.testing.assert_frame_equal(features[FEATURE_COLUMNS], expected, check_dtype=True)
    assert features.iloc[-1][FEATURE_COLUMNS].to_dict() == pytest.approx(
        feature_defaults(), nan_ok=True
    )


def expected_features(rows: pd.DataFrame, txns: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The newest snapshot at or before each row's timestamp, straight from the transforms."""
    keyed = rows.assign(
        merchant_key=merchant_keys(rows, "acme", "default"),
        account_merchant_key=account_merchant_keys(rows, "acme", "default"),
        order=range(len(rows)),
    ).sort_values(TIMESTAMP)
    for snapshots, key in (
        (merchant_features(txns, labels, "acme", "default"), "merchant_key"),
        (account_merchant_features(txns, labels, "acme", "default"), "account_merchant_key"),
    ):
        keyed = pd.merge_asof(keyed, snapshots.sort_values(TIMESTAMP), on=TIMESTAMP, by=key)
    expected = with_defaults(keyed.sort_values("order"))[FEATURE_COLUMNS]
    expected.index = rows.index
    return expected


def test_online_features_serve_the_newest_snapshot_and_defaults_for_unknown_keys(
    built: Built,
) -> None:
    rows = [
        {"tenant": "acme", "taxonomy": "default", "account_id": "nobody", "merchant_id": "x"},
        {"tenant": "acme", "taxonomy": "default", "account_id": "acc1", "merchant_id": "cafe"},
    ]

    features = online_features(built.settings, rows, store=built.store)

    assert features.iloc[0].to_dict() == pytest.approx(feature_defaults(), nan_ok=True)
    cafe = features.iloc[1]
    assert (cafe["m_txn_count"], cafe["m_confirmed_top"], cafe["m_confirmed_count"]) == (
        4,
        "Coffee",
        3,
    )
    assert (cafe["am_last_category"], cafe["am_last_category_count"]) == ("Coffee", 3)
    # A frame with the canonical tenant_id column works as well and keeps its index.
    frame = pd.DataFrame(rows[1:]).rename(columns={"tenant": "tenant_id"}).set_index(pd.Index([42]))
    again = online_features(built.settings, frame, store=built.store)
    assert list(again.index) == [42]
    assert again.iloc[0]["m_confirmed_top"] == "Coffee"


CAFE_ROWS = [
    {"tenant": "acme", "taxonomy": "default", "account_id": "acc1", "merchant_id": "cafe"},
    {"tenant": "acme", "taxonomy": "default", "account_id": "nobody", "merchant_id": "x"},
]


def test_an_online_only_store_reads_what_the_full_store_reads_and_refuses_offline_work(
    built: Built,
) -> None:
    online_only = open_store(built.settings, online_only=True)

    got = online_feature_columns(built.settings, CAFE_ROWS, store=online_only)
    full = online_feature_columns(built.settings, CAFE_ROWS, store=built.store)

    assert list(got) == list(full) == list(FEATURE_COLUMNS)
    for column in FEATURE_COLUMNS:
        assert got[column].tolist() == pytest.approx(full[column].tolist(), nan_ok=True), column
    assert got["m_confirmed_top"][0] == "Coffee"
    with pytest.raises(NotImplementedError):
        historical_features(
            built.settings, built.txns.head(3), "acme", "default", store=online_only
        )


def test_rows_repeating_a_merchant_in_one_read_each_get_their_own_features(
    built: Built,
) -> None:
    cafe, unknown = CAFE_ROWS
    stranger_at_cafe = {**cafe, "account_id": "nobody"}
    rows = [cafe, unknown, cafe, stranger_at_cafe, unknown, cafe]

    got = online_feature_columns(built.settings, rows, store=built.store)
    one_by_one = [online_feature_columns(built.settings, [row], store=built.store) for row in rows]

    for column in FEATURE_COLUMNS:
        expected = [single[column][0] for single in one_by_one]
        assert got[column].tolist() == pytest.approx(expected, nan_ok=True), column
    # The same merchant, another account: the merchant's features, not the account's.
    assert got["m_confirmed_top"].tolist()[2:4] == ["Coffee", "Coffee"]
    assert got["am_last_category"][2] == "Coffee"
    assert got["am_last_category"][3] != "Coffee"


def test_serving_reads_import_no_other_store(built: Built) -> None:
    # The serving worker reads online features only: with the SQLite online store it must not
    # load the file offline store's dask, nor the PostgreSQL and Redis clients (~35 MB).
    probe = (
        "import json, sys; from spendlens.settings import Settings; "
        "from features.store import online_feature_columns, open_store; "
        f"s = Settings(state_dir={str(built.settings.state_dir)!r}); "
        f"rows = {CAFE_ROWS!r}; "
        "got = online_feature_columns(s, rows, store=open_store(s, online_only=True)); "
        "print(json.dumps([got['m_confirmed_top'].tolist(), "
        "sorted({m.split('.')[0] for m in sys.modules})]))"
    )
    done = subprocess.run(  # noqa: S603 -- this interpreter, a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    tops, modules = json.loads(done.stdout.strip().splitlines()[-1])
    loaded = set(modules)
    assert tops[0] == "Coffee"  # the probe did read the store
    assert "feast" in loaded
    assert loaded.isdisjoint({"dask", "psycopg", "psycopg_pool", "redis"})


def test_a_rebuild_replaces_only_its_own_tenant_and_taxonomy(built: Built) -> None:
    txns, labels = story(tenant="zeta")
    build_features(built.settings, txns, labels, "zeta", "default", store=built.store)
    fewer = build_features(
        built.settings, txns.iloc[:2], labels.iloc[:1], "zeta", "default", store=built.store
    )

    merchants = pd.read_parquet(fewer.locations["merchant_stats"])
    by_prefix = merchants[MERCHANT_KEY].str.rsplit("|", n=1).str[0].value_counts()
    assert by_prefix["zeta|default"] == fewer.rows["merchant_stats"] == 3
    assert by_prefix["acme|default"] == built.build.rows["merchant_stats"]
    assert str(merchants[TIMESTAMP].dtype) == "datetime64[ns, UTC]"
    assert fewer.materialized == (ts("2024-03-02"), ts("2024-03-11") + pd.Timedelta(seconds=1))
    # A tenant without transactions writes and materializes nothing, and reads defaults.
    nothing = build_features(
        built.settings, txns.iloc[:0], labels.iloc[:0], "void", "default", store=built.store
    )
    assert nothing.rows == {"merchant_stats": 0, "account_merchant": 0}
    assert nothing.materialized is None
    unknown = historical_features(
        built.settings, txns.iloc[:1], "void", "default", store=built.store
    )
    assert unknown.iloc[0]["m_txn_count"] == 0


def test_feature_store_yaml_matches_the_default_repo_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feast.repo_config import load_repo_config  # noqa: PLC0415 -- feast is slow to import

    from features.store import feast_cli_env  # noqa: PLC0415

    settings = Settings(state_dir=tmp_path)
    for name, value in feast_cli_env(settings).items():
        monkeypatch.setenv(name, value)

    from_yaml = load_repo_config(REPO_ROOT, REPO_ROOT / "feature_store.yaml")
    ours = repo_config(settings)

    assert from_yaml.project == ours.project
    assert from_yaml.provider == ours.provider
    assert from_yaml.registry.registry_type == ours.registry.registry_type == "sql"
    assert from_yaml.registry.path == ours.registry.path
    assert from_yaml.registry.cache_ttl_seconds == ours.registry.cache_ttl_seconds
    assert from_yaml.online_store.type == ours.online_store.type == "sqlite"
    assert from_yaml.online_store.path == ours.online_store.path
    assert from_yaml.offline_store.type == ours.offline_store.type
    assert from_yaml.entity_key_serialization_version == ours.entity_key_serialization_version
    assert (
        from_yaml.materialization_config.pull_latest_features
        == ours.materialization_config.pull_latest_features
    )


@pytest.mark.postgres
def test_postgres_online_and_offline_store_roundtrip(
    postgres_schema_url: tuple[str, str], tmp_path: Path
) -> None:
    url, schema = postgres_schema_url
    settings = Settings(
        state_dir=tmp_path,
        feature_online_store="postgres",
        feature_offline_store="postgres",
        feature_postgres_url=url,
        feature_postgres_schema=schema,
    )
    txns, labels = story()

    build = build_features(settings, txns, labels, "acme", "default")
    store = open_store(settings)
    past = by_id(historical_features(settings, txns, "acme", "default", store=store))
    now = online_features(
        settings,
        [{"tenant": "acme", "taxonomy": "default", "account_id": "acc1", "merchant_id": "cafe"}],
        store=store,
    )

    assert build.locations["merchant_stats"] == f'"{schema}"."merchant_stats"'
    assert past.loc["s1", "m_confirmed_top"] == ""
    assert past.loc["s10", "m_confirmed_top"] == "Groceries"
    assert (past.loc["c3", "m_confirmed_top"], past.loc["c3", "am_last_category"]) == (
        "Dining",
        "Dining",
    )
    assert np.isnan(past.loc["s1", "m_amount_median"])
    assert (now.iloc[0]["m_confirmed_top"], now.iloc[0]["am_last_category_count"]) == ("Coffee", 3)
    served = online_feature_columns(
        settings, CAFE_ROWS[:1], store=open_store(settings, online_only=True)
    )
    assert (served["m_confirmed_top"][0], served["am_last_category_count"][0]) == ("Coffee", 3)


def test_redis_online_store_roundtrip(redis_url: str, tmp_path: Path) -> None:
    import redis  # noqa: PLC0415

    # Feast keys Redis by project and entity key: a unique tenant keeps parallel runs apart.
    tenant = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings(
        state_dir=tmp_path, feature_online_store="redis", feature_redis_url=redis_url
    )
    txns, labels = story(tenant)
    host, _, port = redis_url.partition(":")
    client = redis.Redis(host=host, port=int(port or 6379))
    try:
        build_features(settings, txns, labels, tenant, "default")
        row = {"tenant": tenant, "taxonomy": "default", "account_id": "acc1", "merchant_id": "cafe"}
        now = online_features(settings, [row])
        served = online_feature_columns(
            settings, [row], store=open_store(settings, online_only=True)
        )
    finally:
        for key in client.scan_iter(match=f"*{tenant}*"):
            client.delete(key)
        client.close()

    assert (now.iloc[0]["m_confirmed_top"], now.iloc[0]["m_txn_count"]) == ("Coffee", 4)
    assert now.iloc[0]["am_last_category"] == "Coffee"
    assert (served["m_confirmed_top"][0], served["m_txn_count"][0]) == ("Coffee", 4)
