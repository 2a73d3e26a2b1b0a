"""The offline store of a FeatureStore that reads only the online store: the serving worker's.

Feast imports a RepoConfig's offline store class while it validates the config. The default
(file) store lives in the module that imports dask, about 17 MB resident (measured) that a
process which only reads online features never uses.
"""

from __future__ import annotations

from typing import Literal

from feast.infra.offline_stores.offline_store import OfflineStore
from feast.repo_config import FeastConfigBaseModel


class OnlineOnlyOfflineStoreConfig(FeastConfigBaseModel):
    """The config of `OnlineOnlyOfflineStore`: nothing but its type."""

    # The name `features.store.repo_config` gives: Feast imports the class by it.
    type: Literal["features.online_only.OnlineOnlyOfflineStore"] = (
        "features.online_only.OnlineOnlyOfflineStore"
    )


class OnlineOnlyOfflineStore(OfflineStore):
    """No offline reads or writes: every method is the base class's NotImplementedError."""
