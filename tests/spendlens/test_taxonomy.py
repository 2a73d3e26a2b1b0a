"""Taxonomies and crosswalks: the packaged default, validation, file formats, label mapping."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from spendlens.taxonomy import (
    Category,
    Crosswalk,
    Taxonomy,
    TaxonomyError,
    load_default_taxonomy,
    load_taxonomy_file,
)


def _tax(*cats: tuple[str, str | None], name: str = "t") -> Taxonomy:
    return Taxonomy(name, 1, tuple(Category(label, parent) for label, parent in cats))


# --- the packaged default taxonomy -----------------------------------------------------------


def test_default_taxonomy_has_16_primaries_and_about_100_detailed_labels() -> None:
    tax = load_default_taxonomy()
    assert tax.name == "default"
    assert len(tax.primaries()) == 16
    assert 95 <= len(tax.leaves()) <= 110
    assert len(tax) == len(tax.primaries()) + len(tax.leaves())


def test_every_default_label_has_a_description_and_detailed_labels_sit_under_their_primary() -> (
    None
):
    tax = load_default_taxonomy()
    for cat in tax.categories:
        assert cat.description.strip(), cat.label
        if cat.parent is not None:
            assert cat.parent in tax
            assert tax.parent_of(cat.parent) is None, "the default taxonomy has two levels"
            assert cat.label.startswith(cat.parent + "_"), cat.label


def test_default_taxonomy_is_loaded_once() -> None:
    assert load_default_taxonomy() is load_default_taxonomy()


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cats", "message"),
    [
        pytest.param((("A", None), ("A", None)), "duplicate label 'A'", id="duplicate"),
        pytest.param((("A", None), ("B", "NOPE")), "unknown parent 'NOPE'", id="unknown-parent"),
        pytest.param((("A", "B"), ("B", "A")), "cycle", id="two-cycle"),
        pytest.param((("A", "A"),), "cycle", id="self-parent"),
        pytest.param((("A", None), ("  ", None)), "must not be empty", id="blank-label"),
        pytest.param((("", None),), "must not be empty", id="empty-label"),
    ],
)
def test_invalid_hierarchies_are_refused(
    cats: tuple[tuple[str, str | None], ...], message: str
) -> None:
    with pytest.raises(TaxonomyError, match=message):
        _tax(*cats)


def test_a_blank_taxonomy_name_is_refused() -> None:
    with pytest.raises(TaxonomyError, match="name"):
        _tax(("A", None), name=" ")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"name": "x", "categories": []}, "non-empty list"),
        ({"name": "x", "version": 0, "categories": ["A"]}, "positive integer"),
        ({"name": "x", "version": True, "categories": ["A"]}, "positive integer"),
        ({"name": 3, "categories": ["A"]}, "`name` must be a string"),
        ({"name": "x", "categories": [{"parent": "A"}]}, "string `label`"),
        ({"name": "x", "categories": [{"label": "A", "parent": 1}]}, "`parent`"),
        ({"name": "x", "categories": [7]}, "mapping or a label"),
    ],
)
def test_malformed_documents_are_refused(document: dict[str, object], message: str) -> None:
    with pytest.raises(TaxonomyError, match=message):
        Taxonomy.from_mapping(document)


def test_mapping_round_trips_and_bare_labels_are_flat_categories() -> None:
    tax = load_default_taxonomy()
    assert Taxonomy.from_mapping(tax.to_mapping()) == tax
    flat = Taxonomy.from_mapping({"name": "x", "categories": ["A", "B"]})
    assert flat.primaries() == ("A", "B")


# --- hierarchy queries -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "primary"),
    [
        ("FOOD_AND_DRINK_COFFEE", "FOOD_AND_DRINK"),
        ("INCOME_WAGES", "INCOME"),
        ("RENT_AND_UTILITIES_WATER", "RENT_AND_UTILITIES"),
        ("TRAVEL", "TRAVEL"),
    ],
)
def test_primary_of_is_the_root_ancestor(label: str, primary: str) -> None:
    assert load_default_taxonomy().primary_of(label) == primary


def test_hierarchy_queries_follow_a_three_level_tree() -> None:
    tax = _tax(("A", None), ("B", "A"), ("C", "B"), ("D", "A"))
    assert tax.ancestors("C") == ("B", "A")
    assert tax.primary_of("C") == "A"
    assert tax.children("A") == ("B", "D")
    assert tax.children("C") == ()
    assert tax.leaves() == ("C", "D")
    assert tax.get("Z") is None
    assert "B" in tax
    assert 3 not in tax


def test_unknown_labels_raise_key_error() -> None:
    tax = _tax(("A", None))
    for query in (tax.primary_of, tax.parent_of, tax.ancestors, tax.children):
        with pytest.raises(KeyError, match="'Z'"):
            query("Z")


# --- content hash ----------------------------------------------------------------------------


def test_content_hash_ignores_order_name_and_version() -> None:
    a = Taxonomy("a", 1, (Category("X", None, "x"), Category("Y", "X", "y")))
    b = Taxonomy("b", 7, (Category("Y", "X", "y"), Category("X", None, "x")))
    assert a.content_hash() == b.content_hash()


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param((Category("X", None, "x"), Category("Y", None, "y")), id="parent"),
        pytest.param((Category("X", None, "x"), Category("Y", "X", "why")), id="description"),
        pytest.param((Category("X", None, "x"), Category("Z", "X", "y")), id="label"),
        pytest.param((Category("X", None, "x"),), id="removed"),
    ],
)
def test_content_hash_changes_with_content(changed: tuple[Category, ...]) -> None:
    base = Taxonomy("a", 1, (Category("X", None, "x"), Category("Y", "X", "y")))
    assert Taxonomy("a", 1, changed).content_hash() != base.content_hash()


# --- flat taxonomies and files ---------------------------------------------------------------


def test_from_labels_builds_a_flat_taxonomy() -> None:
    tax = Taxonomy.from_labels("mine", ["Dining", "Groceries"], version=2)
    assert (tax.name, tax.version) == ("mine", 2)
    assert tax.primaries() == tax.leaves() == ("Dining", "Groceries")
    assert all(c.parent is None and c.description == "" for c in tax.categories)


def test_yaml_file_is_read_with_the_stem_as_default_name(tmp_path: Path) -> None:
    path = tmp_path / "household.yaml"
    path.write_text(
        "version: 3\ncategories:\n"
        "  - {label: Food, parent: null, description: Eating}\n"
        "  - {label: Dining, parent: Food}\n",
        encoding="utf-8",
    )
    tax = load_taxonomy_file(path)
    assert (tax.name, tax.version) == ("household", 3)
    assert tax.get("Dining") == Category("Dining", "Food", "")
    assert tax.get("Food") == Category("Food", None, "Eating")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "label\nDining\nGroceries\n",
            (Category("Dining", None), Category("Groceries", None)),
            id="label-only",
        ),
        pytest.param(
            "Label,Parent,Description\nFood,,All food\nDining, Food ,Eating out\n\n,,\n",
            (Category("Food", None, "All food"), Category("Dining", "Food", "Eating out")),
            id="parent-and-description",
        ),
        pytest.param(
            "\ufefflabel,parent\nFood,\nDining,Food\n",
            (Category("Food", None), Category("Dining", "Food")),
            id="bom",
        ),
    ],
)
def test_csv_file_reads_label_parent_description(
    tmp_path: Path, text: str, expected: tuple[Category, ...]
) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(text, encoding="utf-8")
    tax = load_taxonomy_file(path)
    assert tax.name == "mine"
    assert tax.categories == expected


def test_txt_file_is_one_label_per_line_without_blanks_or_comments(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("# my labels\nDining\n\n  Groceries  \nSalary\n", encoding="utf-8")
    assert load_taxonomy_file(path).labels == ("Dining", "Groceries", "Salary")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.xlsx", "label\nA\n", "unsupported taxonomy format"),
        ("t.csv", "name\nA\n", "needs a `label` column"),
        ("t.yaml", "categories: [A, {label: [\n", "cannot parse"),
        ("t.txt", "A\nA\n", "duplicate label"),
        ("t.csv", "label,parent\nB,A\n", "unknown parent"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy_file(path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"Caf\xe9\n")
    with pytest.raises(TaxonomyError, match="not UTF-8"):
        load_taxonomy_file(path)


# --- crosswalks ------------------------------------------------------------------------------

SOURCE = _tax(("Food", None), ("Dining", "Food"), ("Groceries", "Food"), ("Salary", None))
TARGET = Taxonomy.from_labels("target", ["FOOD", "RESTAURANT", "WAGES"])


def test_validate_reports_unknown_source_and_target_labels() -> None:
    walk = Crosswalk("t", "target", {"Dining": "RESTAURANT", "Pets": "FOOD", "Salary": "PAY"})
    problems = walk.validate(SOURCE, TARGET)
    assert len(problems) == 2
    assert any("unknown source label 'Pets'" in p for p in problems)
    assert any("'Salary' maps to unknown target label 'PAY'" in p for p in problems)


def test_a_complete_crosswalk_validates_cleanly() -> None:
    walk = Crosswalk("t", "target", {"Food": "FOOD", "Dining": "RESTAURANT", "Salary": "WAGES"})
    assert walk.validate(SOURCE, TARGET) == []
    assert walk.unmapped(SOURCE) == []


@pytest.mark.parametrize(
    ("label", "with_taxonomy", "expected"),
    [
        ("Dining", False, "RESTAURANT"),
        ("Dining", True, "RESTAURANT"),  # the exact mapping beats the parent's
        ("Groceries", True, "FOOD"),  # falls back to its parent Food
        ("Groceries", False, None),  # no hierarchy known without the taxonomy
        ("Salary", True, None),
        ("Unknown", True, None),
    ],
)
def test_map_uses_the_exact_label_then_the_nearest_mapped_ancestor(
    label: str, with_taxonomy: bool, expected: str | None
) -> None:
    walk = Crosswalk("t", "target", {"Food": "FOOD", "Dining": "RESTAURANT"})
    assert walk.map(label, SOURCE if with_taxonomy else None) == expected


def test_unmapped_lists_labels_no_ancestor_covers() -> None:
    walk = Crosswalk("t", "target", {"Dining": "RESTAURANT"})
    assert walk.unmapped(SOURCE) == ["Food", "Groceries", "Salary"]


def test_crosswalk_mapping_is_read_only_and_hashable() -> None:
    source = {"Dining": "RESTAURANT"}
    walk = Crosswalk("t", "target", source)
    source["Food"] = "FOOD"
    assert "Food" not in walk.mapping
    assert hash(walk) == hash(Crosswalk("t", "target", {"Dining": "RESTAURANT"}))


def test_a_taxonomy_survives_a_pickle_round_trip() -> None:
    # Backfill decider processes get a pickled copy of the run's taxonomy.
    default = load_default_taxonomy()
    copy = pickle.loads(pickle.dumps(default))  # noqa: S301 - our own object, just pickled

    assert copy == default
    assert [c.label for c in copy.categories] == [c.label for c in default.categories]
    leaf = next(c.label for c in default.categories if c.parent is not None)
    assert copy.primary_of(leaf) == default.primary_of(leaf)
