"""The Feast feature store of spendlens: configure, build (offline + online) and read features.

Feast is imported inside the functions (it costs ~8 s), never at module import.

Layout: one offline table per feature view holds every tenant and taxonomy (parquet files under
`<feature_dir>/offline/`, or PostgreSQL tables in `feature_postgres_schema`); a build replaces
only its own tenant+taxonomy's rows (entity keys start with "tenant|taxonomy|"), applies the
definitions and materializes the new snapshots into the online store. Builds of one store are
meant to run one at a time (the parquet rewrite is read-modify-write).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, create_engine, make_url, text

from features.transforms import (
    ACCOUNT_MERCHANT_COLUMNS,
    ACCOUNT_MERCHANT_KEY,
    ACCOUNT_MERCHANT_VIEW,
    FEATURE_COLUMNS,
    MERCHANT_COLUMNS,
    MERCHANT_KEY,
    MERCHANT_VIEW,
    TIMESTAMP,
    account_merchant_features,
    account_merchant_keys,
    coerce_feature,
    key_prefix,
    merchant_features,
    merchant_keys,
    with_defaults,
)
from spendlens.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore, RepoConfig

PROJECT = "spendlens"
FEATURE_SERVICE = "categorizer_v1"
# How long a process trusts its cached copy of the registry (writes refresh it at once).
REGISTRY_CACHE_TTL_SECONDS = 60
_KEYS = {MERCHANT_VIEW: MERCHANT_KEY, ACCOUNT_MERCHANT_VIEW: ACCOUNT_MERCHANT_KEY}
_SERVICE_REFS = [f"{MERCHANT_VIEW}:{name}" for name in MERCHANT_COLUMNS] + [
    f"{ACCOUNT_MERCHANT_VIEW}:{name}" for name in ACCOUNT_MERCHANT_COLUMNS
]
# `features.online_only.OnlineOnlyOfflineStore` by name: Feast imports it, this module must not
# (it imports feast).
ONLINE_ONLY_STORE = "features.online_only.OnlineOnlyOfflineStore"


@dataclass(frozen=True)
class FeatureBuild:
    """What one build wrote for one tenant and taxonomy."""

    tenant: str
    taxonomy: str
    rows: dict[str, int]  # view -> snapshot rows of this tenant+taxonomy
    locations: dict[str, str]  # view -> parquet path or schema-qualified table
    materialized: tuple[datetime, datetime] | None  # online window, None without rows


def repo_config(settings: Settings, *, online_only: bool = False) -> RepoConfig:
    """The Feast repo config the settings describe (what feature_store.yaml spells out).

    Args:
        online_only: with no offline store (`features.online_only`), for a process that only
            reads online features.
    """
    from feast import RepoConfig  # noqa: PLC0415 -- lazy: feast costs ~8 s to import

    return RepoConfig(
        project=PROJECT,
        provider="local",
        # A dict, as from YAML: Feast turns it into SqlRegistryConfig (a plain RegistryConfig
        # object with registry_type="sql" fails SqlRegistry's type check).
        registry={
            "registry_type": "sql",
            "path": settings.resolved_feature_registry_url,
            "cache_ttl_seconds": REGISTRY_CACHE_TTL_SECONDS,
        },
        online_store=_online_store(settings),
        offline_store={"type": ONLINE_ONLY_STORE} if online_only else _offline_store(settings),
        entity_key_serialization_version=3,
        # Materialize reads only the newest snapshot of each key, not every day's.
        materialization={"pull_latest_features": True},
        repo_path=settings.feature_dir,
    )


def feast_cli_env(settings: Settings) -> dict[str, str]:
    """Environment variables feature_store.yaml reads, for running the `feast` CLI."""
    return {
        "SPENDLENS_FEAST_REGISTRY_URL": settings.resolved_feature_registry_url,
        "SPENDLENS_FEAST_ONLINE_PATH": str(_online_sqlite_path(settings)),
    }


def offline_parquet_path(settings: Settings, view: str) -> Path:
    """The parquet file of a view in the file offline store (all tenants and taxonomies)."""
    return settings.feature_dir / "offline" / f"{view}.parquet"


def open_store(settings: Settings, *, online_only: bool = False) -> FeatureStore:
    """A FeatureStore on the configured registry, online and offline stores.

    Args:
        online_only: without the offline store (what serving opens): the process imports
            neither the offline store's libraries nor other online stores' clients.
    """
    from feast import FeatureStore  # noqa: PLC0415 -- lazy: feast costs ~8 s to import

    config = repo_config(settings, online_only=online_only)
    store = FeatureStore(config=config, repo_path=str(settings.feature_dir))
    if online_only:
        _answer_versioned_reads(store)
    return store


def _answer_versioned_reads(store: FeatureStore) -> None:
    """Tell a SQLite online store up front that it supports versioned reads.

    On its first read Feast asks whether the store supports versioned reads by importing every
    online store module it knows (PostgreSQL, Redis, ...) for an isinstance check, and caches
    the answer on the store. SQLite is on Feast's own list of supporting stores; setting that
    cache spares a SQLite-backed server ~18 MB of psycopg and redis (measured). Feast 0.67's
    private cache: `test_serving_reads_import_no_other_store` fails if it moves.
    """
    from feast.infra.online_stores.sqlite import SqliteOnlineStore  # noqa: PLC0415

    online = store._get_provider().online_store
    if isinstance(online, SqliteOnlineStore):
        online._versioned_read_supported = True


def build_features(
    settings: Settings,
    txns: pd.DataFrame,
    labels: pd.DataFrame,
    tenant: str,
    taxonomy: str,
    *,
    store: FeatureStore | None = None,
    materialize: bool = True,
) -> FeatureBuild:
    """Compute a tenant+taxonomy's snapshots, write them offline, apply and materialize online.

    Args:
        materialize: also load the newest values into the online store (serving reads them);
            training alone needs only the offline store, so it may do this later.
    """
    frames = {
        MERCHANT_VIEW: merchant_features(txns, labels, tenant, taxonomy),
        ACCOUNT_MERCHANT_VIEW: account_merchant_features(txns, labels, tenant, taxonomy),
    }
    _ensure_local_dirs(settings)
    prefix = key_prefix(tenant, taxonomy)
    if settings.feature_offline_store == "file":
        locations = {
            view: str(
                _replace_parquet_rows(offline_parquet_path(settings, view), frame, view, prefix)
            )
            for view, frame in frames.items()
        }
    else:
        locations = _replace_table_rows(settings, frames, prefix)

    from features.definitions import definitions  # noqa: PLC0415 -- imports feast

    store = store or open_store(settings)
    store.apply(definitions(settings.feature_offline_store, locations).objects())
    window = _window(frames.values())
    if window is not None and materialize:
        materialize_online(settings, window, store=store)
    return FeatureBuild(
        tenant=tenant,
        taxonomy=taxonomy,
        rows={view: len(frame) for view, frame in frames.items()},
        locations=locations,
        materialized=window,
    )


def materialize_online(
    settings: Settings, window: tuple[datetime, datetime], *, store: FeatureStore | None = None
) -> None:
    """Load the newest feature values of the window into the online store."""
    store = store or open_store(settings)
    with _feast_chatter_to_stderr():
        store.materialize(start_date=window[0], end_date=window[1])


def historical_features(
    settings: Settings,
    entity_df: pd.DataFrame,
    tenant: str,
    taxonomy: str,
    *,
    store: FeatureStore | None = None,
) -> pd.DataFrame:
    """Point-in-time features of transactions, for training and batch scoring.

    Each view of the `categorizer_v1` service is read on its own, for the distinct (key,
    timestamp) pairs, and joined back on them: features are a function of exactly that pair.
    One request over both views would lose rows, because the file offline store drops an entity
    row when any view has only newer snapshots of its key, and keeps one row per (keys,
    timestamp).

    Args:
        entity_df: transaction_id, account_id, merchant_id and event_timestamp per row.

    Returns:
        transaction_id + FEATURE_COLUMNS, one row per input row in input order (same index),
        defaults where no snapshot precedes the transaction.
    """
    rows = entity_df.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "transaction_id": rows["transaction_id"].astype(str),
            MERCHANT_KEY: merchant_keys(rows, tenant, taxonomy),
            ACCOUNT_MERCHANT_KEY: account_merchant_keys(rows, tenant, taxonomy),
            TIMESTAMP: _utc(rows["event_timestamp"]),
        }
    )
    if len(out):
        store = store or open_store(settings)
        for projection in store.get_feature_service(FEATURE_SERVICE).feature_view_projections:
            key = _KEYS[projection.name]
            names = [field.name for field in projection.features]
            wanted = out[[key, TIMESTAMP]].drop_duplicates()
            job = store.get_historical_features(
                entity_df=wanted, features=[f"{projection.name}:{n}" for n in names]
            )
            found = job.to_df()
            found[TIMESTAMP] = _utc(found[TIMESTAMP])
            found = found[[key, TIMESTAMP, *names]].drop_duplicates([key, TIMESTAMP])
            out = out.merge(found, on=[key, TIMESTAMP], how="left")
    out = with_defaults(out)[["transaction_id", *FEATURE_COLUMNS]]
    out.index = entity_df.index
    return out


def online_features(
    settings: Settings,
    rows: Sequence[dict[str, Any]] | pd.DataFrame,
    *,
    store: FeatureStore | None = None,
) -> pd.DataFrame:
    """The latest materialized features for serving.

    Args:
        rows: tenant (or tenant_id), taxonomy, account_id and merchant_id per row.

    Returns:
        FEATURE_COLUMNS, one row per input row in input order, defaults for unknown keys.
    """
    if isinstance(rows, pd.DataFrame):
        records: list[dict[str, Any]] = rows.to_dict("records")
        index = rows.index
    else:
        records = list(rows)
        index = pd.RangeIndex(len(records))
    return pd.DataFrame(online_feature_columns(settings, records, store=store), index=index)


def online_feature_columns(
    settings: Settings,
    rows: Sequence[dict[str, Any]],
    *,
    store: FeatureStore | None = None,
) -> dict[str, np.ndarray]:
    """`online_features` as typed arrays, FEATURE_COLUMNS in order (what serving reads)."""
    # Plain dicts and lists end to end: serving asks for one or a few rows per request, where
    # building frames (rows in, Feast's `to_df()` out) cost far more than the lookup itself.
    if not rows:
        return {column: coerce_feature([], column) for column in FEATURE_COLUMNS}
    # A batch names the same merchant (and account) many times: Feast reads each distinct
    # pair once (it decodes every value it returns in Python), then rows take their pair's.
    pairs: dict[tuple[str, str], int] = {}
    position = []
    for row in rows:
        tenant = row["tenant"] if "tenant" in row else row["tenant_id"]
        prefix = key_prefix(str(tenant), str(row["taxonomy"]))
        merchant = str(row["merchant_id"])
        pair = (prefix + merchant, f"{prefix}{row['account_id']!s}|{merchant}")
        position.append(pairs.setdefault(pair, len(pairs)))
    merchant_entities = [merchant for merchant, _ in pairs]
    account_entities = [account for _, account in pairs]
    store = store or open_store(settings)
    # The `categorizer_v1` service's features by reference (features.definitions builds the
    # service from the same two views and columns): looking the service up in the registry
    # cost more than reading the features.
    response = store.get_online_features(
        features=_SERVICE_REFS,
        entity_rows={MERCHANT_KEY: merchant_entities, ACCOUNT_MERCHANT_KEY: account_entities},
    )
    found = response.to_dict()
    absent: list[Any] = [None] * len(pairs)
    distinct = {
        column: coerce_feature(found.get(column, absent), column) for column in FEATURE_COLUMNS
    }
    if len(pairs) == len(rows):  # every pair once, in row order
        return distinct
    take = np.asarray(position, dtype=np.intp)
    return {column: values[take] for column, values in distinct.items()}


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


def _online_sqlite_path(settings: Settings) -> Path:
    return settings.feature_dir / "online.db"


def _online_store(settings: Settings) -> dict[str, Any]:
    kind = settings.feature_online_store
    if kind == "sqlite":
        return {"type": "sqlite", "path": str(_online_sqlite_path(settings))}
    if kind == "redis":
        return {"type": "redis", "connection_string": settings.feature_redis_url}
    return {"type": "postgres", **_postgres_options(settings)}


def _offline_store(settings: Settings) -> dict[str, Any]:
    if settings.feature_offline_store == "file":
        return {"type": "file"}
    return {"type": "postgres", **_postgres_options(settings)}


def _postgres_options(settings: Settings) -> dict[str, Any]:
    """Feast's PostgreSQL connection fields from `feature_postgres_url`."""
    url = make_url(_postgres_url(settings))
    sslmode = url.query.get("sslmode", "prefer")
    return {
        "host": url.host or "localhost",
        "port": url.port or 5432,
        "database": url.database or "postgres",
        "db_schema": settings.feature_postgres_schema,
        "user": url.username or "postgres",
        "password": url.password or "",
        "sslmode": sslmode if isinstance(sslmode, str) else sslmode[0],
    }


def _ensure_local_dirs(settings: Settings) -> None:
    """Create the feature dir and the directory of a SQLite registry before Feast opens them."""
    settings.feature_dir.mkdir(parents=True, exist_ok=True)
    registry = make_url(settings.resolved_feature_registry_url)
    if registry.get_backend_name() == "sqlite" and registry.database:
        Path(registry.database).parent.mkdir(parents=True, exist_ok=True)


def _replace_parquet_rows(path: Path, frame: pd.DataFrame, view: str, prefix: str) -> Path:
    """Rewrite the view's parquet file with `prefix`'s rows replaced by `frame`."""
    if path.exists():
        kept = pd.read_parquet(path)
        kept = kept[~kept[_KEYS[view]].str.startswith(prefix)]
        frame = pd.concat([kept, frame], ignore_index=True) if len(kept) else frame
    frame = frame.assign(**{TIMESTAMP: frame[TIMESTAMP].dt.tz_convert("UTC")})
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readers never see a half-written file.
    partial = path.with_name(path.name + ".partial")
    frame.to_parquet(partial, index=False)
    partial.replace(path)
    return path


def _replace_table_rows(
    settings: Settings, frames: dict[str, pd.DataFrame], prefix: str
) -> dict[str, str]:
    """Replace `prefix`'s rows in the views' PostgreSQL tables, in one transaction."""
    schema = settings.feature_postgres_schema
    url = make_url(_postgres_url(settings)).set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    locations: dict[str, str] = {}
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            for view, frame in frames.items():
                key = _KEYS[view]
                table = f'"{schema}"."{view}"'
                # Creates the table from the frame's dtypes the first time, else a no-op.
                frame.head(0).to_sql(view, conn, schema=schema, if_exists="append", index=False)
                index = f'"{view}_key_ts" ON {table} ("{key}", "{TIMESTAMP}")'
                conn.execute(text(f"CREATE INDEX IF NOT EXISTS {index}"))
                conn.execute(
                    text(f'DELETE FROM {table} WHERE left("{key}", :n) = :prefix'),
                    {"n": len(prefix), "prefix": prefix},
                )
                _copy_rows(conn, table, frame)
                locations[view] = table
    finally:
        engine.dispose()
    return locations


def _postgres_url(settings: Settings) -> str:
    """The configured PostgreSQL URL (any SQLAlchemy spelling of it)."""
    if not settings.feature_postgres_url:
        raise ValueError("SPENDLENS_FEATURE_POSTGRES_URL is required for a postgres feature store")
    return settings.feature_postgres_url


def _copy_rows(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """Bulk-load rows with COPY (INSERTs of 100k+ rows take many times longer)."""
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _window(frames: Iterable[pd.DataFrame]) -> tuple[datetime, datetime] | None:
    """The materialization window that covers every snapshot of the frames."""
    stamps = [frame[TIMESTAMP] for frame in frames if len(frame)]
    if not stamps:
        return None
    first = min(s.min() for s in stamps).to_pydatetime()
    last = max(s.max() for s in stamps).to_pydatetime()
    return first, last + timedelta(seconds=1)


@contextlib.contextmanager
def _feast_chatter_to_stderr() -> Iterator[None]:
    """Feast prints progress to stdout; keep stdout for the caller's own output."""
    with contextlib.redirect_stdout(sys.stderr):
        yield
