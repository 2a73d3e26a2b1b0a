"""The one typed settings object; build it in entry points and pass it down."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DateOrder = Literal["auto", "dmy", "mdy"]
OnlineStoreKind = Literal["sqlite", "postgres", "redis"]
OfflineStoreKind = Literal["file", "postgres"]


class Settings(BaseSettings):
    """Every knob of spendlens; read from `SPENDLENS_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SPENDLENS_", extra="ignore")

    state_dir: Path = Field(default=Path(".spendlens"), description="Where embedded state lives.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file in the state dir. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    default_tenant: str = "default"

    # Ingestion limits: refuse, never crash on, hostile or broken input.
    max_file_bytes: int = 512 * 1024 * 1024
    max_field_chars: int = 2_000
    max_sms_chars: int = 2_000
    default_currency: str = "USD"
    # When a file's dates could be read either way, assume this order (reported to the user).
    ambiguous_date_order: Literal["dmy", "mdy"] = "mdy"
    # Region used to recognise phone numbers written without a country code.
    phone_region: str = "US"
    # An SMS alert and a statement row are one transaction when these agree.
    link_max_days: int = 2
    link_min_merchant_similarity: float = 70.0
    insert_chunk_rows: int = 5_000

    # Governed learning: a merchant corrected to one category this many times, with no
    # contradicting correction, gets a learned rule at this priority and confidence.
    learn_min_corrections: int = Field(default=2, ge=1)
    learned_rule_priority: int = 10_000
    learned_rule_confidence: float = Field(default=0.98, ge=0, le=1)

    # Features (Feast). Embedded by default: SQL registry and online store in SQLite files,
    # offline store in parquet files, all under <state_dir>/features.
    feature_registry_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the Feast registry; default SQLite file."
    )
    feature_online_store: OnlineStoreKind = "sqlite"
    feature_offline_store: OfflineStoreKind = "file"
    feature_postgres_url: str | None = Field(
        default=None,
        description="postgresql://user[:password]@host:port/db for the Postgres online/offline "
        "store (required when either is postgres).",
    )
    feature_postgres_schema: str = "public"
    feature_redis_url: str = "127.0.0.1:6379"

    # MLflow: tracking + registry in a SQLite file under the state dir unless a URI is given.
    mlflow_tracking_uri: str | None = None
    mlflow_artifact_root: Path | None = None
    model_prefix: str = "spendlens"

    # Training: held-out rows are every row of `unseen_merchant_fraction` of the merchants plus
    # `seen_test_fraction` of the other rows, so one fit measures both new and known merchants.
    train_seed: int = 42
    unseen_merchant_fraction: float = Field(default=0.2, gt=0, lt=1)
    seen_test_fraction: float = Field(default=0.1, gt=0, lt=1)
    prior_rows: int = Field(default=30_000, ge=1_000)

    # Promotion gate: a challenger may be this much worse than the champion and still pass.
    gate_macro_f1_tolerance: float = Field(default=0.01, ge=0)
    gate_unseen_accuracy_tolerance: float = Field(default=0.02, ge=0)
    gate_ece_tolerance: float = Field(default=0.02, ge=0)

    # Monitoring (monitoring/): drift of the last `monitor_window_hours` of decisions against
    # the champion's training snapshot, accuracy from feedback on the decisions of the last
    # `monitor_feedback_window_hours`, and when to ask for retraining.
    monitor_window_hours: float = Field(default=24.0, gt=0)
    monitor_feedback_window_hours: float = Field(default=168.0, gt=0)
    # Retrain when more than this share of the monitored data columns drifted.
    monitor_drift_share_threshold: float = Field(default=0.5, ge=0, le=1)
    # Retrain when accuracy from feedback is this many percentage points below the champion's.
    monitor_accuracy_drop_points: float = Field(default=5.0, ge=0)
    # Fewer model decisions with feedback than this say nothing about accuracy.
    monitor_min_feedback: int = Field(default=30, ge=1)
    # Fewer decisions in the window than this say nothing about drift.
    monitor_min_decisions: int = Field(default=100, ge=1)
    # Retrain when this many corrections arrived since the champion was trained.
    monitor_new_feedback_retrain: int = Field(default=500, ge=1)
    # Rows of the training snapshot logged with each trained model as the drift reference.
    monitor_reference_rows: int = Field(default=20_000, ge=100)
    # Text drift of descriptions: ~10 s per run even on small data, so off unless asked for.
    monitor_text_drift: bool = False

    # Prefect deployments (`spendlens flows serve`): monitor on an interval, retrain on a cron
    # (UTC); retrain only trains when the newest monitoring run of the champion asked for it.
    monitor_schedule_seconds: int = Field(default=3600, ge=60)
    retrain_cron: str = "0 2 * * *"

    # Serving: review routing (per-tenant overrides in `routing_overrides`, e.g.
    # SPENDLENS_ROUTING_OVERRIDES='{"acme": {"auto_threshold": 0.95}}'), which tenants to load
    # at start (others load on their first request), and how often to look for a new champion
    # or changed rules.
    route_auto_threshold: float = Field(default=0.9, ge=0, le=1)
    route_suggest_threshold: float = Field(default=0.6, ge=0, le=1)
    route_review_categories: list[str] = Field(default_factory=list)
    route_review_amount_over: Decimal | None = Field(default=None, ge=0)
    routing_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    serve_tenants: list[str] = Field(default_factory=list)
    serve_taxonomy: str = "default"
    reload_interval_seconds: float = Field(default=5.0, gt=0)
    # How long the service reuses an (account, merchant)'s online features before asking Feast
    # again (0: every request asks). They change only when a flow materializes them.
    feature_cache_seconds: float = Field(default=60.0, ge=0)
    # How long the service trusts a valid API key before looking it up again (0: every request
    # looks it up), i.e. how long a revoked key may still work in a running service.
    key_cache_seconds: float = Field(default=5.0, ge=0)
    # How far (MB) a serving worker may grow past its size at start before it empties its memos
    # (normalization, rules, vectorizers, online features; 0: never). They are sized for
    # statement files and otherwise grow with every new descriptor the service sees.
    cache_memory_mb: float = Field(default=40.0, ge=0)
    # Registry calls from the service fail fast, so a down MLflow means the local cache, not
    # minutes of retries.
    registry_http_retries: int = Field(default=1, ge=0)
    registry_http_timeout_seconds: int = Field(default=5, ge=1)

    @field_validator("state_dir")
    @classmethod
    def _absolute_state_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The configured database URL, or the default SQLite file in the state dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'spendlens.db'}"

    @property
    def serving_cache_dir(self) -> Path:
        """Where the service keeps the last champion it loaded, for when MLflow is down."""
        return self.state_dir / "serving" / "champions"

    @property
    def feature_dir(self) -> Path:
        """Where the Feast registry, online SQLite file and offline parquet files live."""
        return self.state_dir / "features"

    @property
    def resolved_feature_registry_url(self) -> str:
        """The Feast registry URL (absolute: Feast resolves relative paths against the cwd)."""
        return self.feature_registry_url or f"sqlite:///{self.feature_dir / 'registry.db'}"

    @property
    def resolved_mlflow_tracking_uri(self) -> str:
        """The MLflow tracking and registry URI."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.state_dir / 'mlflow.db'}"

    @property
    def resolved_mlflow_artifact_root(self) -> Path:
        """Where MLflow experiments created by spendlens store artifacts."""
        return (self.mlflow_artifact_root or self.state_dir / "mlartifacts").expanduser().resolve()

    def ensure_state_dir(self) -> Path:
        """Create the state dir (only entry points call this, never imports)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir
