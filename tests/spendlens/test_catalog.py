"""The packaged merchant catalog: coverage, consistency, and refusal of broken entries."""

from __future__ import annotations

from collections import Counter

import pytest

from spendlens.catalog import CatalogEntry, _parse_catalog, load_merchant_catalog
from spendlens.normalize.mcc import describe_mcc
from spendlens.taxonomy import load_default_taxonomy

REQUIRED_COUNTRIES = {"US", "GB", "DE", "FR", "NL", "IN", "KE"}

GOOD_ENTRY = """\
- name: KING SOOPERS
  category: FOOD_AND_DRINK_GROCERIES
  mcc: "5411"
  countries: [US]
  aliases: [KING SOOP]
"""


@pytest.fixture(scope="module")
def catalog() -> tuple[CatalogEntry, ...]:
    return load_merchant_catalog()


def _by_alias(catalog: tuple[CatalogEntry, ...]) -> dict[str, CatalogEntry]:
    return {alias: entry for entry in catalog for alias in entry.aliases}


def test_catalog_is_large_and_spans_the_required_countries(
    catalog: tuple[CatalogEntry, ...],
) -> None:
    assert len(catalog) >= 300
    countries = Counter(c for entry in catalog for c in entry.countries)
    assert set(countries) >= REQUIRED_COUNTRIES
    # Every required country has enough brands to feel local, not a token entry or two.
    assert min(countries[c] for c in REQUIRED_COUNTRIES) >= 50


def test_every_category_is_a_detailed_default_label(catalog: tuple[CatalogEntry, ...]) -> None:
    leaves = set(load_default_taxonomy().leaves())
    assert {entry.category for entry in catalog} <= leaves


def test_catalog_covers_most_spend_categories(catalog: tuple[CatalogEntry, ...]) -> None:
    tax = load_default_taxonomy()
    # Fees, income and money moved between own accounts have no merchant brands to speak of.
    no_brands = {"BANK_FEES", "INCOME", "TRANSFER_IN"}
    own_accounts = {
        "TRANSFER_OUT_SAVINGS",
        "TRANSFER_OUT_WITHDRAWAL",
        "TRANSFER_OUT_OTHER_TRANSFER_OUT",
    }
    spend = {
        label
        for label in tax.leaves()
        if tax.primary_of(label) not in no_brands and label not in own_accounts
    }
    assert sorted(spend - {entry.category for entry in catalog}) == []


def test_names_are_unique_upper_case_and_the_first_alias(
    catalog: tuple[CatalogEntry, ...],
) -> None:
    names = [entry.name for entry in catalog]
    assert len(names) == len(set(names))
    for entry in catalog:
        assert entry.name == entry.name.upper()
        assert entry.aliases[0] == entry.name
        assert all(alias == alias.upper() for alias in entry.aliases), entry.name


def test_no_alias_belongs_to_two_merchants(catalog: tuple[CatalogEntry, ...]) -> None:
    owners = Counter(alias for entry in catalog for alias in set(entry.aliases))
    assert [alias for alias, n in owners.items() if n > 1] == []


def test_mccs_are_known_iso_18245_codes(catalog: tuple[CatalogEntry, ...]) -> None:
    codes = {entry.mcc for entry in catalog if entry.mcc is not None}
    assert all(len(code) == 4 and code.isdigit() for code in codes)
    assert [code for code in codes if describe_mcc(code) is None] == []
    # Card merchants carry a code; only non-card counterparties (lenders, payroll) lack one.
    assert sum(entry.mcc is not None for entry in catalog) / len(catalog) > 0.85


@pytest.mark.parametrize(
    ("alias", "name", "category"),
    [
        ("WHOLEFDS", "WHOLE FOODS MARKET", "FOOD_AND_DRINK_GROCERIES"),
        ("WM SUPERCENTER", "WALMART", "GENERAL_MERCHANDISE_SUPERSTORES"),
        ("WM.COM", "WASTE MANAGEMENT", "RENT_AND_UTILITIES_SEWAGE_AND_WASTE_MANAGEMENT"),
        ("SBUX", "STARBUCKS", "FOOD_AND_DRINK_COFFEE"),
        ("AMZN MKTP US", "AMAZON", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
        ("UBER *EATS", "UBER EATS", "FOOD_AND_DRINK_RESTAURANT"),
        ("UBER *TRIP", "UBER", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"),
        ("KPLC PREPAID", "KENYA POWER", "RENT_AND_UTILITIES_GAS_AND_ELECTRICITY"),
        ("BUNDL TECHNOLOGIES", "SWIGGY", "FOOD_AND_DRINK_RESTAURANT"),
        ("TESCO STORES", "TESCO", "FOOD_AND_DRINK_GROCERIES"),
        ("DB VERTRIEB", "DEUTSCHE BAHN", "TRANSPORTATION_PUBLIC_TRANSIT"),
        ("ADP WAGE PAY", "ADP", "INCOME_WAGES"),
    ],
)
def test_common_bank_abbreviations_resolve_to_their_merchant(
    catalog: tuple[CatalogEntry, ...], alias: str, name: str, category: str
) -> None:
    entry = _by_alias(catalog)[alias]
    assert (entry.name, entry.category) == (name, category)


def test_catalog_is_loaded_once() -> None:
    assert load_merchant_catalog() is load_merchant_catalog()


def test_a_valid_entry_parses_with_its_name_added_as_first_alias() -> None:
    (entry,) = _parse_catalog(GOOD_ENTRY)
    assert entry == CatalogEntry(
        name="KING SOOPERS",
        category="FOOD_AND_DRINK_GROCERIES",
        mcc="5411",
        countries=("US",),
        aliases=("KING SOOPERS", "KING SOOP"),
    )


def test_mcc_may_be_null_and_aliases_omitted() -> None:
    (entry,) = _parse_catalog("- {name: ADP, category: INCOME_WAGES, mcc: null, countries: [US]}")
    assert entry.mcc is None
    assert entry.aliases == ("ADP",)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        pytest.param(
            "- {name: BAD CAT, category: GROCERIES, countries: [US]}",
            r"'BAD CAT'.*category 'GROCERIES' is not a detailed label",
            id="unknown-category",
        ),
        pytest.param(
            "- {name: PRIMARY, category: FOOD_AND_DRINK, countries: [US]}",
            r"'PRIMARY'.*not a detailed label",
            id="primary-category",
        ),
        pytest.param(
            "- {name: LOWER, category: FOOD_AND_DRINK_COFFEE, countries: [US], aliases: [Sbux]}",
            r"'LOWER'.*alias 'Sbux' must be non-empty and upper case",
            id="lower-case-alias",
        ),
        pytest.param(
            "- {name: Starbucks, category: FOOD_AND_DRINK_COFFEE, countries: [US]}",
            r"'Starbucks'.*upper-case",
            id="lower-case-name",
        ),
        pytest.param(
            "- {name: VET, category: MEDICAL_VETERINARY_SERVICES, mcc: 0742, countries: [US]}",
            r"'VET'.*quoted 4-digit string",
            id="unquoted-mcc",
        ),
        pytest.param(
            "- {name: SHORT, category: FOOD_AND_DRINK_COFFEE, mcc: '581', countries: [US]}",
            r"'SHORT'.*quoted 4-digit string",
            id="three-digit-mcc",
        ),
        pytest.param(
            "- {name: NOWHERE, category: FOOD_AND_DRINK_COFFEE, countries: []}",
            r"'NOWHERE'.*ISO 3166",
            id="no-countries",
        ),
        pytest.param(
            "- {name: USA, category: FOOD_AND_DRINK_COFFEE, countries: [USA]}",
            r"'USA'.*ISO 3166",
            id="three-letter-country",
        ),
        pytest.param(
            "- {name: ALIASES, category: FOOD_AND_DRINK_COFFEE, countries: [US], aliases: X}",
            r"'ALIASES'.*`aliases` must be a list",
            id="aliases-not-a-list",
        ),
        pytest.param(
            GOOD_ENTRY + GOOD_ENTRY,
            r"#2: duplicate name 'KING SOOPERS'",
            id="duplicate-name",
        ),
        pytest.param(
            GOOD_ENTRY + "- {name: KING, category: FOOD_AND_DRINK_GROCERIES, countries: [US],"
            " aliases: [KING SOOP]}",
            r"#2 'KING'.*alias 'KING SOOP' is already used by 'KING SOOPERS'",
            id="shared-alias",
        ),
        pytest.param("- just a string", r"entry #1 must be a mapping", id="not-a-mapping"),
        pytest.param("name: X", r"non-empty list", id="not-a-list"),
        pytest.param("- [unclosed", r"cannot parse YAML", id="bad-yaml"),
    ],
)
def test_broken_entries_are_refused_with_a_message_naming_them(broken: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _parse_catalog(broken)
