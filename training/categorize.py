"""Offline batch categorization: the rules engine first, then the model for the rest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from rules.engine import CompiledRules, RuleInput
from spendlens.money import currency_exponent

OUTPUT_COLUMNS = ("category", "confidence", "source", "rule_id", "model_version")


def rule_inputs(txns: pd.DataFrame) -> list[RuleInput]:
    """What the rules engine sees of each canonical transaction row."""
    out: list[RuleInput] = []
    for row in txns.itertuples(index=False):
        scale = 10 ** currency_exponent(row.currency)
        out.append(
            RuleInput(
                description=row.description,
                merchant=row.merchant_name,
                memo=None,
                amount_minor=round(float(row.amount) * scale),
                currency=row.currency,
                direction=row.direction,
                date=_date(row.event_timestamp),
                mcc=row.mcc,
                account=row.account_id,
                account_tail=None,
            )
        )
    return out


def _date(value: Any) -> dt.date:
    day: dt.date = pd.Timestamp(value).date()
    return day


def categorize(
    txns: pd.DataFrame,
    model_input: pd.DataFrame,
    *,
    rules: CompiledRules | None,
    model: Any | None,
    model_version: str,
) -> pd.DataFrame:
    """Category, confidence, source, rule id and model version per row of `txns`.

    A matching rule decides (its confidence); the model decides the other rows. Without a
    model, unmatched rows get no category (source `none`).
    """
    n = len(txns)
    category = np.full(n, "", dtype=object)
    confidence = np.zeros(n)
    source = np.full(n, "none", dtype=object)
    rule_id = np.full(n, "", dtype=object)
    if rules is not None and n:
        for i, evaluation in enumerate(rules.evaluate_many(rule_inputs(txns))):
            if evaluation.winner is not None:
                category[i] = evaluation.winner.category
                confidence[i] = evaluation.winner.confidence
                source[i] = "rule"
                rule_id[i] = evaluation.winner.rule_id
    rest = np.flatnonzero(source == "none")
    if model is not None and len(rest):
        proba = model.predict_proba(model_input.iloc[rest])
        classes = np.asarray(model.classes_, dtype=object)
        best = proba.argmax(axis=1)
        category[rest] = classes[best]
        confidence[rest] = proba[np.arange(len(rest)), best]
        source[rest] = "model"
    return pd.DataFrame(
        {
            "category": category,
            "confidence": np.round(confidence, 4),
            "source": source,
            "rule_id": rule_id,
            "model_version": np.where(source == "model", model_version, ""),
        },
        index=txns.index,
    )
