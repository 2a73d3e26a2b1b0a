"""An invalid rule is refused when it is created, with a message naming the problem."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rules.models import Rule, RuleValidationError, check_categories


def _rule(*conditions: dict[str, object], **kw: object) -> Rule:
    values: dict[str, object] = {
        "id": "r1",
        "name": "test rule",
        "category": "FOOD_AND_DRINK_COFFEE",
        "conditions": list(conditions),
    }
    values.update(kw)
    return Rule.model_validate(values)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"kind": "text", "op": "regex", "value": "(["}, "invalid regex"),
        ({"kind": "text", "op": "contains", "value": "   "}, "blank"),
        ({"kind": "text", "op": "fuzzy", "value": "shop", "threshold": 120}, "less than or equal"),
        ({"kind": "text", "op": "sounds_like", "value": "x"}, "sounds_like"),
        ({"kind": "amount", "op": "between", "low": "50", "high": "5"}, "inverted"),
        ({"kind": "amount", "op": "gt"}, "needs a value"),
        ({"kind": "mcc", "op": "range", "low": "5999", "high": "5000"}, "inverted"),
        ({"kind": "mcc", "op": "equals", "values": ["541"]}, "4 digits"),
        ({"kind": "mcc", "op": "equals", "values": ["5411", "5412"]}, "exactly one"),
        ({"kind": "currency", "values": ["DOLLARS"]}, "not currency codes"),
        ({"kind": "date", "part": "month", "values": [13]}, "1..12"),
        ({"kind": "date", "part": "day_of_week", "values": [7]}, "0..6"),
        ({"kind": "direction", "value": "sideways"}, "debit"),
        ({"kind": "weather", "value": "sunny"}, "weather"),
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v.get('kind')}-{v.get('op', v.get('part', ''))}",
)
def test_an_invalid_condition_is_refused_with_its_reason(
    condition: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _rule(condition)


def test_a_rule_without_conditions_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 1"):
        _rule()


@pytest.mark.parametrize(
    ("field", "value"), [("confidence", 1.5), ("priority", -1), ("match", "most"), ("name", "")]
)
def test_out_of_range_rule_fields_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        _rule({"kind": "direction", "value": "debit"}, **{field: value})


def test_a_category_outside_the_tenants_taxonomy_is_refused() -> None:
    good = _rule({"kind": "direction", "value": "debit"})
    bad = _rule({"kind": "direction", "value": "debit"}, id="r2", category="NOT_A_LABEL")
    check_categories([good], {"FOOD_AND_DRINK_COFFEE"})
    with pytest.raises(RuleValidationError, match=r"r2.*NOT_A_LABEL"):
        check_categories([good, bad], {"FOOD_AND_DRINK_COFFEE"})


def test_every_condition_kind_accepts_a_valid_shape() -> None:
    rule = _rule(
        {"kind": "text", "field": "memo", "op": "regex", "value": r"^rent\s+\d+"},
        {"kind": "amount", "op": "between", "low": "10", "high": "10"},
        {"kind": "direction", "value": "credit"},
        {"kind": "currency", "values": ["usd", "eur"]},
        {"kind": "date", "part": "day_of_month", "values": [1, 31]},
        {"kind": "mcc", "op": "in", "values": ["5411", "5499"]},
        {"kind": "account", "values": ["checking", "1234"]},
        match="any",
    )
    assert len(rule.conditions) == 7
    assert rule.conditions[3].values == ("USD", "EUR")  # type: ignore[union-attr]
