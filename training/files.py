"""A user's file (CSV, JSON feed, SMS dump) as canonical frames, without storing anything."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spendlens.frames import empty_labels, frame_of, record_of
from spendlens.ingest.loader import (
    IngestOptions,
    csv_options_from_settings,
    default_normalizer,
    parse_input,
)
from spendlens.ingest.text import decode_text
from spendlens.ingest.types import Reject, Source
from spendlens.settings import Settings


@dataclass(frozen=True)
class FileFrame:
    """The parsed rows of a file: canonical txns (id `line-N`), labels, rejects, raw rows."""

    txns: pd.DataFrame
    labels: pd.Series  # transaction_id -> category, only rows that had one
    line_numbers: list[int]
    rejects: list[Reject]
    source: Source
    original: pd.DataFrame | None  # CSV only: every input column, indexed by line number


def column_map(
    text_column: str | None = None,
    label_column: str | None = None,
    amount_column: str | None = None,
    date_column: str | None = None,
) -> dict[str, str]:
    """The ingest column map for the columns a user named."""
    named = {
        "description": text_column,
        "category": label_column,
        "amount": amount_column,
        "date": date_column,
    }
    return {field: column for field, column in named.items() if column}


def read_file(
    path: Path,
    settings: Settings,
    tenant: str,
    *,
    mapping: dict[str, str] | None = None,
) -> FileFrame:
    """Parse and normalize a file in memory (PII is masked as when storing it).

    Raises:
        NotAStatementError: the file is not a statement (a ValueError).
    """
    data = path.read_bytes()
    options = IngestOptions(
        tenant=tenant, csv=csv_options_from_settings(settings, column_map=mapping or {})
    )
    source, parsed = parse_input(data, path.name, options, settings)
    normalize = default_normalizer(settings)
    records: list[dict[str, object]] = []
    labels: dict[str, str] = {}
    lines: list[int] = []
    for raw in parsed.rows:
        row = normalize(raw)
        txn_id = f"line-{row.line_no}"
        lines.append(row.line_no)
        account = row.account_ref or row.account_tail or path.stem
        records.append(record_of(row, txn_id, tenant, account))
        if row.category:
            labels[txn_id] = row.category
    original = _original_rows(data, settings, parsed.detected) if source is Source.CSV else None
    return FileFrame(
        txns=frame_of(records),
        labels=pd.Series(labels, dtype=object, name="label"),
        line_numbers=lines,
        rejects=list(parsed.rejects),
        source=source,
        original=original,
    )


def _original_rows(data: bytes, settings: Settings, detected: dict[str, str]) -> pd.DataFrame:
    """Every column of the CSV as read, indexed by physical line number (for output files)."""
    text, _ = decode_text(data, settings.max_file_bytes)
    header_line = (
        int(detected["header_line"]) if detected.get("header_line", "none") != "none" else 0
    )
    reader = csv.reader(io.StringIO(text), delimiter=detected.get("delimiter", ","))
    header: list[str] | None = None
    rows: dict[int, list[str]] = {}
    for values in reader:
        line = reader.line_num
        if header_line and line < header_line:
            continue
        if header_line and line == header_line:
            header = values
            continue
        rows[line] = values
    width = max((len(r) for r in rows.values()), default=len(header or []))
    names = list(header or [])
    names += [f"column_{i + 1}" for i in range(len(names), width)]
    frame = pd.DataFrame.from_dict(
        {line: values + [""] * (width - len(values)) for line, values in rows.items()},
        orient="index",
        columns=names[:width] if width else names,
    )
    frame.index.name = "line_no"
    return frame


def as_of(
    entities: pd.DataFrame, snapshots: pd.DataFrame, key: str, columns: Sequence[str]
) -> pd.DataFrame:
    """Each entity row's newest snapshot at or before its event time (Feast's point-in-time join).

    Returns `columns` aligned with `entities` (NaN where no snapshot existed yet).
    """
    left = entities[[key, "event_timestamp"]].reset_index(names="_row")
    left = left.sort_values("event_timestamp", kind="stable")
    right = snapshots[[key, "event_timestamp", *columns]].sort_values("event_timestamp")
    joined = pd.merge_asof(left, right, on="event_timestamp", by=key, direction="backward")
    return joined.set_index("_row").sort_index()[list(columns)].reset_index(drop=True)


def model_frame(txns: pd.DataFrame, tenant: str, taxonomy: str) -> pd.DataFrame:
    """Model input for transactions that are not stored: features from the file's own history.

    The file's labels are never used here, so evaluating on it cannot leak the answers; the
    merchant statistics come from the file's earlier rows, as they would for a new tenant.
    """
    from features import transforms as ft  # noqa: PLC0415
    from training.pipeline import INPUT_COLUMNS  # noqa: PLC0415

    no_labels = empty_labels()
    rows = txns.reset_index(drop=True)
    entities = rows.assign(
        **{
            ft.MERCHANT_KEY: ft.merchant_keys(rows, tenant, taxonomy),
            ft.ACCOUNT_MERCHANT_KEY: ft.account_merchant_keys(rows, tenant, taxonomy),
        }
    )
    merchant = as_of(
        entities,
        ft.merchant_features(rows, no_labels, tenant, taxonomy),
        ft.MERCHANT_KEY,
        ft.MERCHANT_COLUMNS,
    )
    account = as_of(
        entities,
        ft.account_merchant_features(rows, no_labels, tenant, taxonomy),
        ft.ACCOUNT_MERCHANT_KEY,
        ft.ACCOUNT_MERCHANT_COLUMNS,
    )
    features = ft.with_defaults(pd.concat([merchant, account], axis=1))
    return pd.concat([rows[list(INPUT_COLUMNS)], features[ft.FEATURE_COLUMNS]], axis=1)


def output_frame(parsed: FileFrame, decided: pd.DataFrame) -> pd.DataFrame:
    """Every input column (CSV) or the canonical columns, plus the decision columns."""
    decided = decided.reset_index(drop=True)
    if parsed.original is not None:
        base = parsed.original.reindex(parsed.line_numbers).reset_index()
    else:
        base = parsed.txns.reset_index(drop=True).assign(line_no=parsed.line_numbers)
    clash = [c for c in decided.columns if c in base.columns]
    return pd.concat([base, decided.add_prefix("spendlens_") if clash else decided], axis=1)
