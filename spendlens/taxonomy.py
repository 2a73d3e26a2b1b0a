"""Category taxonomies (the default one and tenants' own) and crosswalks between them."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

DEFAULT_TAXONOMY_RESOURCE = "taxonomy_default.yaml"


class TaxonomyError(ValueError):
    """A taxonomy or crosswalk is malformed: duplicates, unknown parents, cycles, bad files."""


@dataclass(frozen=True, slots=True)
class Category:
    """One label of a taxonomy; `parent` is None for a top-level (primary) category."""

    label: str
    parent: str | None
    description: str = ""


@dataclass(frozen=True)
class Taxonomy:
    """A validated set of categories: unique non-empty labels, known parents, no cycles.

    Labels are free-form strings (tenants bring their own); the hierarchy is optional, so a flat
    list of labels is a valid taxonomy.
    """

    name: str
    version: int
    categories: tuple[Category, ...]
    _by_label: Mapping[str, Category] = field(init=False, repr=False, compare=False)
    _children: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Accept any iterable of categories but store a tuple, so instances stay hashable.
        object.__setattr__(self, "categories", tuple(self.categories))
        if not self.name.strip():
            raise TaxonomyError("taxonomy name must not be empty")
        by_label: dict[str, Category] = {}
        for cat in self.categories:
            if not isinstance(cat, Category):
                raise TaxonomyError(f"not a Category: {cat!r}")
            if not cat.label.strip():
                raise TaxonomyError("category labels must not be empty")
            if cat.label in by_label:
                raise TaxonomyError(f"duplicate label {cat.label!r}")
            by_label[cat.label] = cat
        children: dict[str, list[str]] = {}
        for cat in self.categories:
            if cat.parent is None:
                continue
            if cat.parent not in by_label:
                raise TaxonomyError(f"{cat.label!r} has unknown parent {cat.parent!r}")
            children.setdefault(cat.parent, []).append(cat.label)
        for cat in self.categories:
            _check_no_cycle(cat.label, by_label)
        object.__setattr__(self, "_by_label", MappingProxyType(by_label))
        object.__setattr__(
            self, "_children", MappingProxyType({k: tuple(v) for k, v in children.items()})
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its fields, validated again when loaded (read-only maps do not pickle)."""
        return (Taxonomy, (self.name, self.version, self.categories))

    def get(self, label: str) -> Category | None:
        """The category with this label, or None."""
        return self._by_label.get(label)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and label in self._by_label

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def labels(self) -> tuple[str, ...]:
        """All labels in file order."""
        return tuple(c.label for c in self.categories)

    def parent_of(self, label: str) -> str | None:
        """The parent label of `label` (None for a top-level category).

        Raises:
            KeyError: unknown label.
        """
        return self._require(label).parent

    def ancestors(self, label: str) -> tuple[str, ...]:
        """Ancestors of `label`, nearest first (empty for a top-level category).

        Raises:
            KeyError: unknown label.
        """
        chain: list[str] = []
        parent = self._require(label).parent
        while parent is not None:
            chain.append(parent)
            parent = self._by_label[parent].parent
        return tuple(chain)

    def primary_of(self, label: str) -> str:
        """The root ancestor of `label`; the label itself when it has no parent.

        Raises:
            KeyError: unknown label.
        """
        chain = self.ancestors(label)
        return chain[-1] if chain else label

    def children(self, label: str) -> tuple[str, ...]:
        """Direct children of `label`, in file order."""
        self._require(label)
        return self._children.get(label, ())

    def primaries(self) -> tuple[str, ...]:
        """Labels without a parent, in file order."""
        return tuple(c.label for c in self.categories if c.parent is None)

    def leaves(self) -> tuple[str, ...]:
        """Labels without children (the detailed labels a classifier predicts), in file order."""
        return tuple(c.label for c in self.categories if c.label not in self._children)

    def content_hash(self) -> str:
        """SHA-256 of the categories, independent of their order.

        Name and version identify a taxonomy rather than describe it, so they are left out:
        re-uploading the same categories under a new version yields the same hash.
        """
        rows = sorted((c.label, c.parent or "", c.description) for c in self.categories)
        payload = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, default_name: str | None = None) -> Taxonomy:
        """Build from `{name, version, categories: [{label, parent, description}]}`.

        Args:
            data: the parsed YAML/JSON document.
            default_name: used when the document has no `name` (e.g. the file stem).

        Raises:
            TaxonomyError: missing or mistyped fields, or an invalid hierarchy.
        """
        if not isinstance(data, Mapping):
            raise TaxonomyError("a taxonomy document must be a mapping")
        name = data.get("name", default_name)
        if not isinstance(name, str):
            raise TaxonomyError("taxonomy `name` must be a string")
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise TaxonomyError("taxonomy `version` must be a positive integer")
        raw = data.get("categories")
        if not isinstance(raw, list) or not raw:
            raise TaxonomyError("taxonomy `categories` must be a non-empty list")
        categories = []
        for i, item in enumerate(raw, start=1):
            if isinstance(item, str):  # a bare label is a flat category
                categories.append(Category(item, None, ""))
                continue
            if not isinstance(item, Mapping):
                raise TaxonomyError(f"category #{i} must be a mapping or a label")
            label, parent = item.get("label"), item.get("parent")
            description = item.get("description") or ""
            if not isinstance(label, str):
                raise TaxonomyError(f"category #{i} needs a string `label`")
            if parent is not None and not isinstance(parent, str):
                raise TaxonomyError(f"category {label!r}: `parent` must be a string or null")
            if not isinstance(description, str):
                raise TaxonomyError(f"category {label!r}: `description` must be a string")
            categories.append(Category(label, parent or None, description))
        return cls(name, version, tuple(categories))

    def to_mapping(self) -> dict[str, Any]:
        """The document `from_mapping` reads back (round-trips exactly)."""
        return {
            "name": self.name,
            "version": self.version,
            "categories": [
                {"label": c.label, "parent": c.parent, "description": c.description}
                for c in self.categories
            ],
        }

    @classmethod
    def from_labels(cls, name: str, labels: Iterable[str], version: int = 1) -> Taxonomy:
        """A flat taxonomy (no hierarchy, no descriptions) from a list of labels."""
        return cls(name, version, tuple(Category(label, None, "") for label in labels))

    def _require(self, label: str) -> Category:
        cat = self._by_label.get(label)
        if cat is None:
            raise KeyError(f"unknown label {label!r} in taxonomy {self.name!r}")
        return cat


def _check_no_cycle(label: str, by_label: Mapping[str, Category]) -> None:
    seen = {label}
    parent = by_label[label].parent
    while parent is not None:
        if parent in seen:
            raise TaxonomyError(f"cycle in parents involving {label!r}")
        seen.add(parent)
        parent = by_label[parent].parent


def load_taxonomy_file(path: str | Path) -> Taxonomy:
    """Load a tenant taxonomy; the name defaults to the file stem.

    Formats by suffix: `.yaml`/`.yml`/`.json` with the `from_mapping` shape; `.csv` with a
    `label` column and optional `parent` and `description` columns; `.txt` with one label per
    line (blank lines and `#` comments ignored).

    Raises:
        TaxonomyError: unknown suffix, unreadable content or an invalid taxonomy.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        text = p.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often add a BOM
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{p.name}: not UTF-8 text") from exc
    if suffix in {".yaml", ".yml", ".json"}:
        try:
            data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise TaxonomyError(f"{p.name}: cannot parse: {exc}") from exc
        return Taxonomy.from_mapping(data, default_name=p.stem)
    if suffix == ".csv":
        return _taxonomy_from_csv(text, p)
    if suffix == ".txt":
        labels = [ln.strip() for ln in text.splitlines()]
        return Taxonomy.from_labels(p.stem, [x for x in labels if x and not x.startswith("#")])
    raise TaxonomyError(f"{p.name}: unsupported taxonomy format (use .yaml, .json, .csv or .txt)")


def _taxonomy_from_csv(text: str, p: Path) -> Taxonomy:
    reader = csv.DictReader(text.splitlines())
    columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    if "label" not in columns:
        raise TaxonomyError(f"{p.name}: CSV needs a `label` column")
    categories = []
    for row in reader:
        label = (row.get(columns["label"]) or "").strip()
        if not label:
            continue
        parent = (row.get(columns["parent"]) or "").strip() if "parent" in columns else ""
        desc = (row.get(columns["description"]) or "").strip() if "description" in columns else ""
        categories.append(Category(label, parent or None, desc))
    return Taxonomy(p.stem, 1, tuple(categories))


@functools.cache
def load_default_taxonomy() -> Taxonomy:
    """The packaged default taxonomy (16 primary, ~100 detailed categories), loaded once."""
    text = (
        resources.files("spendlens")
        .joinpath("data", DEFAULT_TAXONOMY_RESOURCE)
        .read_text(encoding="utf-8")
    )
    return Taxonomy.from_mapping(yaml.safe_load(text))


@dataclass(frozen=True)
class Crosswalk:
    """A label mapping from one taxonomy (`source`) to another (`target`)."""

    source: str
    target: str
    mapping: Mapping[str, str]

    def __post_init__(self) -> None:
        # Copy into a read-only view so the frozen dataclass cannot change under its users.
        object.__setattr__(self, "mapping", MappingProxyType(dict(self.mapping)))

    def __hash__(self) -> int:
        return hash((self.source, self.target, frozenset(self.mapping.items())))

    def map(self, label: str, source_taxonomy: Taxonomy | None = None) -> str | None:
        """Target label for `label`: the exact mapping first, then its nearest mapped ancestor.

        Ancestors are only consulted when `source_taxonomy` is given (it knows the hierarchy).
        """
        hit = self.mapping.get(label)
        if hit is not None or source_taxonomy is None or label not in source_taxonomy:
            return hit
        for ancestor in source_taxonomy.ancestors(label):
            hit = self.mapping.get(ancestor)
            if hit is not None:
                return hit
        return None

    def validate(self, source: Taxonomy, target: Taxonomy) -> list[str]:
        """Problems with this crosswalk: source labels or target labels the taxonomies lack."""
        problems = [
            f"unknown source label {s!r} (not in {source.name!r})"
            for s in self.mapping
            if s not in source
        ]
        problems += [
            f"{s!r} maps to unknown target label {t!r} (not in {target.name!r})"
            for s, t in self.mapping.items()
            if t not in target
        ]
        return problems

    def unmapped(self, source: Taxonomy) -> list[str]:
        """Source labels that `map` cannot translate, even through an ancestor."""
        return [label for label in source.labels if self.map(label, source) is None]


def load_crosswalk_file(path: str | Path, source: str, target: str) -> Crosswalk:
    """Load a crosswalk CSV with columns `from,to` (or `source,target`).

    Raises:
        TaxonomyError: missing columns, or one source label mapped to two different targets.
    """
    p = Path(path)
    reader = csv.DictReader(p.read_text(encoding="utf-8-sig").splitlines())
    columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    for src_col, dst_col in (("from", "to"), ("source", "target")):
        if src_col in columns and dst_col in columns:
            break
    else:
        raise TaxonomyError(f"{p.name}: crosswalk CSV needs columns from,to (or source,target)")
    mapping: dict[str, str] = {}
    for row in reader:
        src = (row.get(columns[src_col]) or "").strip()
        dst = (row.get(columns[dst_col]) or "").strip()
        if not src and not dst:
            continue
        if not src or not dst:
            raise TaxonomyError(f"{p.name} line {reader.line_num}: both columns are required")
        if mapping.get(src, dst) != dst:
            raise TaxonomyError(f"{p.name}: {src!r} maps to both {mapping[src]!r} and {dst!r}")
        mapping[src] = dst
    return Crosswalk(source, target, mapping)
