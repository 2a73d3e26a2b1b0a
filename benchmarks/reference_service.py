"""The reference the serving benchmark compares against: plain FastAPI + scikit-learn.

What a user would write by hand: a TF-IDF (word + character n-grams) LogisticRegression
trained on the same labels, loaded once, with one endpoint for a transaction and one for a
batch, served by uvicorn with one worker. No rules, no normalization, no feature store, no
API keys and no decision log: it is the floor spendlens' extra work is measured against.

Run: `python -m benchmarks.reference_service --data labels.csv --port 8000` where the CSV has
`description` and `label` columns (benchmarks/serving.py writes it from the demo tenant).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_BATCH = 10_000


class Transaction(BaseModel):
    """One transaction, the same JSON shape spendlens' /categorize takes."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    description: str = Field(min_length=1, max_length=2000)
    amount: Decimal
    currency: str = "USD"
    date: dt.date
    mcc: str | None = None


class Batch(BaseModel):
    """Up to MAX_BATCH transactions."""

    transactions: list[Transaction] = Field(max_length=MAX_BATCH)


class Prediction(BaseModel):
    """The best category and its probability."""

    category: str
    confidence: float


class BatchPrediction(BaseModel):
    """One prediction per transaction, in order."""

    count: int
    results: list[Prediction]


def train(texts: Sequence[str], labels: Sequence[str]) -> Any:
    """A fitted TF-IDF + LogisticRegression pipeline (a sklearn `Pipeline`)."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import FeatureUnion, Pipeline  # noqa: PLC0415

    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
            (
                "chars",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
            ),
        ]
    )
    model = Pipeline([("tfidf", features), ("clf", LogisticRegression(max_iter=1000, C=10.0))])
    model.fit(list(texts), list(labels))
    return model


def read_labels(path: Path) -> tuple[list[str], list[str]]:
    """(descriptions, labels) from a CSV with `description` and `label` columns."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path} has no labeled rows")
    return [r["description"] for r in rows], [r["label"] for r in rows]


def create_app(model: Any) -> Any:
    """The FastAPI app serving `model` (anything with predict_proba and classes_)."""
    import numpy as np  # noqa: PLC0415
    from fastapi import FastAPI  # noqa: PLC0415

    app = FastAPI(title="reference categorizer")
    classes = [str(c) for c in model.classes_]

    def predict(texts: list[str]) -> list[Prediction]:
        proba = model.predict_proba(texts)
        best = np.argmax(proba, axis=1)
        return [
            Prediction(category=classes[j], confidence=float(proba[i, j]))
            for i, j in enumerate(best)
        ]

    # Plain `def` endpoints: FastAPI runs them in its thread pool, as most users would write.
    @app.post("/categorize")
    def categorize(txn: Transaction) -> Prediction:
        return predict([txn.description])[0]

    @app.post("/categorize_batch")
    def categorize_batch(batch: Batch) -> BatchPrediction:
        results = predict([t.description for t in batch.transactions])
        return BatchPrediction(count=len(results), results=results)

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Train on --data, then serve on 127.0.0.1:--port with one uvicorn worker."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, required=True, help="CSV with description,label")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    import uvicorn  # noqa: PLC0415

    texts, labels = read_labels(args.data)
    app = create_app(train(texts, labels))
    uvicorn.run(app, host=args.host, port=args.port, workers=1, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
