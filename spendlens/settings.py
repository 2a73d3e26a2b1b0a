"""The one typed settings object; build it in entry points and pass it down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DateOrder = Literal["auto", "dmy", "mdy"]


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

    def ensure_state_dir(self) -> Path:
        """Create the state dir (only entry points call this, never imports)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir
