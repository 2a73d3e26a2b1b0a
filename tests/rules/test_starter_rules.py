"""The starter rule set: valid for the default taxonomy, ranked sensibly, precise on data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import pytest

from rules.engine import CompiledRules, RuleInput
from rules.io import dump_rules_yaml, load_rules_yaml, load_starter_rules
from rules.models import CreatedBy, DirectionCondition, MccCondition, Rule
from spendlens.generate import generate_transactions
from spendlens.taxonomy import load_default_taxonomy

MIN_PRECISION = 0.9
MIN_COVERAGE = 0.5  # a floor against rules silently ceasing to match, not a target


@pytest.fixture(scope="module")
def starter() -> list[Rule]:
    return load_starter_rules()


@pytest.fixture(scope="module")
def compiled(starter: list[Rule]) -> CompiledRules:
    return CompiledRules.compile(starter)


def _is_mcc_only(rule: Rule) -> bool:
    """True for a rule that looks at nothing but the MCC (and perhaps the direction)."""
    kinds = {type(c) for c in rule.conditions}
    return MccCondition in kinds and kinds <= {MccCondition, DirectionCondition}


def test_starter_set_is_a_valid_import_for_the_default_taxonomy(starter: list[Rule]) -> None:
    labels = set(load_default_taxonomy().labels)

    assert 80 <= len(starter) <= 200
    assert len({r.id for r in starter}) == len(starter)
    assert [r for r in starter if r.category not in labels] == []
    assert {r.group for r in starter} == {"starter"}
    assert {r.created_by for r in starter} == {CreatedBy.IMPORT}
    assert all(r.tenant is None and r.enabled for r in starter)


def test_mcc_only_rules_rank_below_every_name_or_keyword_rule(starter: list[Rule]) -> None:
    mcc_only = [r for r in starter if _is_mcc_only(r)]
    others = [r for r in starter if not _is_mcc_only(r)]

    assert mcc_only
    assert max(r.priority for r in mcc_only) < min(r.priority for r in others)
    assert max(r.confidence for r in mcc_only) <= min(r.confidence for r in others)


def test_starter_set_round_trips_through_yaml(starter: list[Rule]) -> None:
    assert load_rules_yaml(dump_rules_yaml(starter)) == starter


@dataclass(frozen=True)
class Case:
    description: str
    expected: str | None  # None: no starter rule may claim it
    direction: Literal["debit", "credit"] = "debit"
    mcc: str | None = None
    merchant: str = ""


CASES = [
    Case("UBER *EATS PENDING", "FOOD_AND_DRINK_RESTAURANT"),
    Case("UBER *TRIP HELP.UBER.COM", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"),
    Case("UBER BV PAYOUT", None, direction="credit"),  # a driver's earnings are no taxi ride
    Case("AMZN MKTP US*2K4", None),  # marketplace, AWS or Prime: the starter set abstains
    Case("AMAZON WEB SERVICES", None),
    Case("TRINET PAYROLL DIR DEP", "INCOME_WAGES", direction="credit"),
    Case("LOHN/GEHALT ACME GMBH", "INCOME_WAGES", direction="credit"),
    Case("PAYROLL ADVANCE REPAYMENT", None),  # a debit is no wage
    Case("RENTEBIJSCHRIJVING JUL", "INCOME_INTEREST_EARNED", direction="credit"),
    Case("DEUTSCHE RENTENVERSICHERUNG RENTE", "INCOME_RETIREMENT_PENSION", direction="credit"),
    Case("ENTERPRISE RENT-A-CAR SFO", "TRAVEL_RENTAL_CARS"),
    Case("SHELL OIL 57442", "TRANSPORTATION_GAS"),
    Case("SHELLFISH SHACK", None),  # whole words only
    Case("TESCO PFS 3412", "TRANSPORTATION_GAS"),
    Case("TESCO STORES 2231", "FOOD_AND_DRINK_GROCERIES"),
    Case("TESCO MOBILE", "RENT_AND_UTILITIES_TELEPHONE"),
    Case("CASH WITHDRAWAL FEE", "BANK_FEES_ATM_FEES"),
    Case("ATM WITHDRAWAL 1123", "TRANSFER_OUT_WITHDRAWAL"),
    Case("AIRBNB PAYOUT", None, direction="credit"),
    Case("AIRBNB * HMQ2", "TRAVEL_LODGING"),
    Case("SUBWAY 31254", "FOOD_AND_DRINK_FAST_FOOD", merchant="SUBWAY"),
    Case("MTA SUBWAY FARE", "TRANSPORTATION_PUBLIC_TRANSIT"),
    Case("OVERBOEKING THIJS MEIJER", None),
    Case("CORNER STORE 12", "FOOD_AND_DRINK_GROCERIES", mcc="5411"),
    Case("PILOT TRAVEL CENTER", "TRANSPORTATION_GAS", mcc="5542"),
    Case("MEGA HOTEL", "TRAVEL_LODGING", mcc="3650"),
    Case("MOEBEL WOHNEN GMBH", None),
]


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_starter_rules_on_tricky_descriptions(compiled: CompiledRules, case: Case) -> None:
    txn = RuleInput(
        description=case.description,
        merchant=case.merchant,
        memo=None,
        amount_minor=1234,
        currency="USD",
        direction=case.direction,
        date=dt.date(2024, 5, 1),
        mcc=case.mcc,
        account=None,
        account_tail=None,
    )

    winner = compiled.evaluate(txn).winner

    assert (winner.category if winner else None) == case.expected


def test_starter_set_is_precise_on_generated_transactions(compiled: CompiledRules) -> None:
    """Precision of the winning rule against the generator's ground truth; coverage reported."""
    txns = generate_transactions(20_000, seed=5)
    matched = correct = 0
    for t in txns:
        winner = compiled.evaluate(
            RuleInput(
                description=t.description,
                merchant=t.merchant,
                memo=None,
                amount_minor=t.amount_minor,
                currency=t.currency,
                direction=t.direction.value,
                date=t.date,
                mcc=t.mcc,
                account=t.account,
                account_tail=t.account_tail,
            )
        ).winner
        if winner is not None:
            matched += 1
            correct += winner.category == t.category
    precision, coverage = correct / matched, matched / len(txns)
    print(f"starter rules: precision {precision:.4f}, coverage {coverage:.4f} of {len(txns)}")

    assert precision >= MIN_PRECISION, f"precision {precision:.4f}, coverage {coverage:.4f}"
    assert coverage >= MIN_COVERAGE, f"coverage {coverage:.4f}, precision {precision:.4f}"
