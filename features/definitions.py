"""The Feast objects: two entities, two feature views and the `categorizer_v1` service.

`definitions(...)` builds them for one offline source kind; `features.store` applies what it
returns. The module-level objects at the bottom are the same definitions over the parquet files
of the state dir the environment configures (SPENDLENS_STATE_DIR, default `.spendlens`), for
the `feast` CLI run from the repo root. Importing this module imports Feast (~8 s): only Feast
code paths import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
)
from feast.types import Float64, Int64, String

from features.store import FEATURE_SERVICE, offline_parquet_path
from features.transforms import (
    ACCOUNT_MERCHANT_FEATURES,
    ACCOUNT_MERCHANT_KEY,
    ACCOUNT_MERCHANT_VIEW,
    MERCHANT_FEATURES,
    MERCHANT_KEY,
    MERCHANT_VIEW,
    TIMESTAMP,
    FeatureKind,
)
from spendlens.settings import Settings

VIEWS = (MERCHANT_VIEW, ACCOUNT_MERCHANT_VIEW)
# Snapshots are cumulative: the newest one stays valid however old it is. 0 = never expires.
NEVER_EXPIRES = timedelta(0)

_FEAST_TYPES = {"int": Int64, "float": Float64, "str": String}


@dataclass(frozen=True)
class Definitions:
    """Everything `FeatureStore.apply` needs for spendlens features."""

    merchant: Entity
    account_merchant: Entity
    merchant_stats: FeatureView
    account_merchant_stats: FeatureView
    categorizer: FeatureService

    def objects(self) -> list[Any]:
        """All objects, in the order `apply` takes them."""
        return [
            self.merchant,
            self.account_merchant,
            self.merchant_stats,
            self.account_merchant_stats,
            self.categorizer,
        ]


def definitions(offline: Literal["file", "postgres"], locations: Mapping[str, str]) -> Definitions:
    """The Feast objects over one kind of offline source.

    Args:
        offline: "file" (one parquet file per view) or "postgres" (one table per view).
        locations: view name -> absolute parquet path, or schema-qualified table name.
    """
    where = dict(locations)

    merchant = Entity(
        name="merchant",
        join_keys=[MERCHANT_KEY],
        value_type=ValueType.STRING,
        description="A merchant of one tenant in one taxonomy: tenant|taxonomy|merchant_id.",
    )
    account_merchant = Entity(
        name="account_merchant",
        join_keys=[ACCOUNT_MERCHANT_KEY],
        value_type=ValueType.STRING,
        description="A merchant as seen by one account: tenant|taxonomy|account_id|merchant_id.",
    )
    merchant_stats = FeatureView(
        name=MERCHANT_VIEW,
        entities=[merchant],
        ttl=NEVER_EXPIRES,
        schema=[Field(name=MERCHANT_KEY, dtype=String), *_fields(MERCHANT_FEATURES)],
        source=_source(offline, MERCHANT_VIEW, where[MERCHANT_VIEW]),
        online=True,
        description="Daily cumulative merchant statistics and confirmed categories.",
    )
    account_merchant_stats = FeatureView(
        name=ACCOUNT_MERCHANT_VIEW,
        entities=[account_merchant],
        ttl=NEVER_EXPIRES,
        schema=[
            Field(name=ACCOUNT_MERCHANT_KEY, dtype=String),
            *_fields(ACCOUNT_MERCHANT_FEATURES),
        ],
        source=_source(offline, ACCOUNT_MERCHANT_VIEW, where[ACCOUNT_MERCHANT_VIEW]),
        online=True,
        description="Daily cumulative confirmed categories of one account at one merchant.",
    )
    categorizer = FeatureService(
        name=FEATURE_SERVICE,
        features=[merchant_stats, account_merchant_stats],
        description="The features the categorizer trains and serves with.",
    )
    return Definitions(
        merchant, account_merchant, merchant_stats, account_merchant_stats, categorizer
    )


def _fields(kinds: Mapping[str, FeatureKind]) -> list[Field]:
    return [Field(name=column, dtype=_FEAST_TYPES[kind]) for column, kind in kinds.items()]


def _source(offline: Literal["file", "postgres"], view: str, location: str) -> Any:
    if offline == "file":
        return FileSource(name=f"{view}_source", path=location, timestamp_field=TIMESTAMP)
    return PostgreSQLSource(name=f"{view}_source", table=location, timestamp_field=TIMESTAMP)


def default_parquet_locations(settings: Settings | None = None) -> dict[str, str]:
    """view -> absolute parquet path in the (environment's) state dir.

    Absolute, because a relative FileSource path resolves against whichever repo path reads
    it: the repo root for the CLI, the feature dir for `features.store`.
    """
    settings = settings or Settings()
    return {view: str(offline_parquet_path(settings, view)) for view in VIEWS}


# For `feast plan` / `feast apply` from the repo root.
_default = definitions("file", default_parquet_locations())
merchant = _default.merchant
account_merchant = _default.account_merchant
merchant_stats = _default.merchant_stats
account_merchant_stats = _default.account_merchant_stats
categorizer_v1 = _default.categorizer
