"""Ingestion speed: a 100,000-row generated CSV into SQLite, against a plain csv+sqlite3 loader."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from spendlens.generate import generate_transactions, write_csv
from spendlens.ingest.loader import (
    IngestOptions,
    csv_options_from_settings,
    default_normalizer,
    ingest_file,
    parse_input,
)
from spendlens.settings import Settings
from spendlens.storage.db import make_engine, migrate, session_factory

ROWS = int(os.environ.get("SPENDLENS_BENCH_ROWS", "100000"))
REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "capitalone_card.csv"


def _plain_baseline(path: Path, db: Path) -> float:
    """What a user would write first: csv.reader + sqlite3.executemany, no checks at all."""
    start = time.perf_counter()
    conn = sqlite3.connect(db)
    conn.execute(
        "create table t (date text, description text, amount text, currency text, "
        "mcc text, account text, category text)"
    )
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        conn.executemany("insert into t values (?,?,?,?,?,?,?)", reader)
    conn.commit()
    conn.close()
    return time.perf_counter() - start


def run() -> dict[str, Any]:
    """Time parse, normalize and the full load; reload to prove idempotency."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(state_dir=folder / "state")
        path = folder / "statement.csv"
        buffer = io.StringIO()
        write_csv(generate_transactions(ROWS, seed=1), buffer)
        path.write_text(buffer.getvalue(), encoding="utf-8")
        options = IngestOptions(csv=csv_options_from_settings(settings))

        start = time.perf_counter()
        _, parsed = parse_input(path.read_bytes(), path.name, options, settings)
        parse_s = time.perf_counter() - start
        normalizer = default_normalizer(settings)
        start = time.perf_counter()
        for raw in parsed.rows:
            normalizer(raw)
        normalize_s = time.perf_counter() - start

        engine = make_engine(f"sqlite:///{folder / 'spendlens.db'}")
        migrate(engine)
        sessions = session_factory(engine)
        start = time.perf_counter()
        first = ingest_file(
            path, sessions, settings, options, normalizer=default_normalizer(settings)
        )
        end_to_end_s = time.perf_counter() - start
        start = time.perf_counter()
        again = ingest_file(
            path, sessions, settings, options, normalizer=default_normalizer(settings)
        )
        reload_s = time.perf_counter() - start
        engine.dispose()
        baseline_s = _plain_baseline(path, folder / "plain.db")

        result: dict[str, Any] = {
            "rows": ROWS,
            "backend": "sqlite",
            "end_to_end_s": round(end_to_end_s, 2),
            "rows_per_s": round(ROWS / end_to_end_s),
            "target_s": 20,
            "parse_s": round(parse_s, 2),
            "normalize_s_cold_cache": round(normalize_s, 2),
            "loaded": first.loaded,
            "rejected": first.rejected,
            "reload_s": round(reload_s, 2),
            "reload_loaded": again.loaded,
            "reload_duplicates": again.duplicates,
            "plain_csv_sqlite3_baseline_s": round(baseline_s, 2),
            "ratio_vs_plain_baseline": round(end_to_end_s / baseline_s, 1),
        }
        result["real_data"] = _real_data(folder, settings)
        return result


def _real_data(folder: Path, settings: Settings) -> dict[str, Any]:
    """Load ../shared/data/capitalone_card.csv twice, when it exists (never committed here)."""
    if not REAL_DATA.exists():
        return {"skipped": f"{REAL_DATA} not present"}
    engine = make_engine(f"sqlite:///{folder / 'real.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    options = IngestOptions(
        tenant="real", csv=csv_options_from_settings(settings), taxonomy="capitalone"
    )
    first = ingest_file(REAL_DATA, sessions, settings, options)
    again = ingest_file(REAL_DATA, sessions, settings, options)
    engine.dispose()
    return {
        "file": REAL_DATA.name,
        "rows": first.rows_total,
        "loaded": first.loaded,
        "rejected": first.rejected,
        "labels": first.labels,
        "mapping": first.detected.get("mapping", ""),
        "second_load_loaded": again.loaded,
    }
