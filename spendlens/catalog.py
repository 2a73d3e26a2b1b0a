"""The packaged catalog of well-known merchants: canonical name, category, MCC, aliases."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from spendlens.taxonomy import load_default_taxonomy

MERCHANTS_RESOURCE = "merchants.yaml"
_MCC_RE = re.compile(r"[0-9]{4}")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One well-known merchant.

    `category` is a detailed label of the default taxonomy; `aliases` are the upper-case
    descriptor prefixes banks print for it, starting with the canonical `name` itself.
    """

    name: str
    category: str
    mcc: str | None
    countries: tuple[str, ...]
    aliases: tuple[str, ...]


@functools.cache
def load_merchant_catalog() -> tuple[CatalogEntry, ...]:
    """The packaged merchant catalog, validated and loaded once.

    Raises:
        ValueError: an entry is malformed (the message names it).
    """
    text = (
        resources.files("spendlens")
        .joinpath("data", MERCHANTS_RESOURCE)
        .read_text(encoding="utf-8")
    )
    return _parse_catalog(text)


def _parse_catalog(text: str) -> tuple[CatalogEntry, ...]:
    """Parse and validate catalog YAML: a list of entries (see `spendlens/data/merchants.yaml`).

    Raises:
        ValueError: not a list of entries, a malformed entry, a duplicate name, or an alias
            claimed by two merchants (a lookup could not tell them apart).
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"merchant catalog: cannot parse YAML: {exc}") from exc
    if not isinstance(data, list) or not data:
        raise ValueError("merchant catalog must be a non-empty list of entries")
    labels = frozenset(load_default_taxonomy().leaves())
    entries: list[CatalogEntry] = []
    names: set[str] = set()
    alias_owner: dict[str, str] = {}
    for number, item in enumerate(data, start=1):
        entry = _entry(item, number, labels)
        if entry.name in names:
            raise ValueError(f"merchant catalog entry #{number}: duplicate name {entry.name!r}")
        names.add(entry.name)
        for alias in entry.aliases:
            owner = alias_owner.setdefault(alias, entry.name)
            if owner != entry.name:
                where = "name" if alias == entry.name else "alias"
                raise ValueError(
                    f"merchant catalog entry #{number} {entry.name!r}: {where} {alias!r} "
                    f"is already used by {owner!r}"
                )
        entries.append(entry)
    return tuple(entries)


def _entry(item: Any, number: int, labels: frozenset[str]) -> CatalogEntry:
    """Validate one parsed YAML item.

    Raises:
        ValueError: naming the entry by position and, when readable, by name.
    """
    if not isinstance(item, dict):
        raise ValueError(f"merchant catalog entry #{number} must be a mapping")
    name = item.get("name")
    where = f"merchant catalog entry #{number} {name!r}"
    if not isinstance(name, str) or not name.strip() or name != name.strip().upper():
        raise ValueError(f"{where}: `name` must be a non-empty upper-case string")
    category = item.get("category")
    if category not in labels:
        raise ValueError(
            f"{where}: category {category!r} is not a detailed label of the default taxonomy"
        )
    mcc = item.get("mcc")
    # YAML reads an unquoted 0742 as an integer, so only quoted 4-digit strings are safe.
    if mcc is not None and not (isinstance(mcc, str) and _MCC_RE.fullmatch(mcc)):
        raise ValueError(f"{where}: `mcc` must be a quoted 4-digit string, got {mcc!r}")
    countries = _strings(item.get("countries"), where, "countries")
    if not countries or not all(_COUNTRY_RE.fullmatch(c) for c in countries):
        raise ValueError(f"{where}: `countries` must list ISO 3166 alpha-2 codes")
    aliases = _strings(item.get("aliases", []), where, "aliases")
    for alias in aliases:
        if not alias.strip() or alias != alias.upper():
            raise ValueError(f"{where}: alias {alias!r} must be non-empty and upper case")
    # The name is always an alias; dict.fromkeys drops repeats but keeps the order.
    all_aliases = tuple(dict.fromkeys((name, *(a.strip() for a in aliases))))
    return CatalogEntry(name, str(category), mcc, countries, all_aliases)


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    """A YAML list of strings as a tuple.

    Raises:
        ValueError: `value` is not a list of strings.
    """
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: `{key}` must be a list of strings")
    return tuple(value)
