"""Turn a (PII-masked) bank descriptor into a canonical merchant name, a stable id and processor.

`_clean` runs these steps, in this order, each a small function below:

1. `_prepare`: upper-case, transliterate ("GLÜCK" -> "GLUECK"), drop apostrophes, read masked
   PII and phones as reference numbers, join dotted initials ("B.V." -> "BV");
2. `_strip_transaction_types`: drop leading words that say how money moved ("KARTENZAHLUNG",
   "BEA, BETAALPAS", "PRLV SEPA", "NEFT-<ref>-", "BUY GOODS <till>"), repeatedly;
3. `_strip_location_column`: the card network's fixed-width city and state/country columns;
4. `_platform`, `_strip_processor`: a platform that is the merchant itself ("AMZN MKTP") ends
   the cleaning; a payment processor ("SQ *", "ZETTLE_*", "PAYTM*") is split off and kept;
5. `_strip_references`: an order id after '*', an unknown billing code, web domains, dates;
6. `_drop_leading_refs`, `_cut_at_store_number`: the name starts after reference numbers and
   ends at the first store or reference number;
7. `_strip_trailing`: what banks print after a name: text after a legal form ("LTD VIA API"),
   payment-type suffixes ("DIR DEP", "SALARIS JAN"), country and state codes, known cities;
8. `_join_words`: the canonical spelling every name gets (see `canonical_name`).

The per-country tables these steps use (prefixes, suffixes, processors, cities) are data in
`spendlens/data/bank_formats.yaml`, loaded once on first use. An optional catalog then maps the
cleaned text to a curated canonical name by alias, prefix and fuzzy match. Results are cached
because statements repeat the same descriptors many times.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml

# Entries per cache: a 100,000-row statement file has some 80,000 distinct descriptors.
_CACHE_SIZE = 1 << 17
_FUZZY_THRESHOLD = 88.0
# A cleaned descriptor this long that is a prefix of exactly one catalog name is that name
# truncated by the bank's 22-25 character field; shorter prefixes are too ambiguous.
_MIN_TRUNCATED_LEN = 8
# Banks stack a few transaction-type words ("REFUND CONTACTLESS ..."); more means a loop.
_MAX_PREFIXES = 6
UNKNOWN = "UNKNOWN"
BANK_FORMATS_RESOURCE = "bank_formats.yaml"


@dataclass(frozen=True, slots=True)
class Merchant:
    """A canonical merchant: display name, stable id and the processor seen in the descriptor."""

    name: str
    merchant_id: str
    processor: str | None


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One curated merchant: canonical upper-case name and the descriptor prefixes banks print."""

    name: str
    aliases: tuple[str, ...]


def merchant_id(name: str) -> str:
    """Stable id for a canonical name: "m_" + the first 16 hex digits of its sha256."""
    return "m_" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]


def canonical_name(name: str) -> str:
    """The canonical spelling of a merchant name: what `Merchant.name` holds.

    Upper case and transliterated ("GLÜCK" -> "GLUECK"); apostrophes dropped and a possessive
    "S" a bank split off rejoined ("JAMES'S" and "JAMES S" -> "JAMESS"); initials joined
    ("B.V." and "B V" -> "BV"); a web domain reduced to its name ("SHOP.CO.UK" -> "SHOP");
    other punctuation turned into spaces ("CO-OP" -> "CO OP"), except "&" and a "+" after a
    letter ("H&M", "DISNEY+"). Canonical names are fixed points: applying it again is a no-op.
    Two spellings name the same merchant when their `merchant_id(canonical_name(...))` agree.
    """
    text = _prepare(name)
    if "." in text:
        text = _URL_RE.sub(_domain_label, text)
    return _join_words(_tokenize(text))


# --- bank-format tables --------------------------------------------------------------------


# Regexes matched at the start of a descriptor, with what each one names (a processor or a
# platform; "" for transaction types), keyed by their first two characters: a dict lookup
# picks the few rules worth trying.
_LeadingRules = Mapping[str, tuple[tuple[re.Pattern[str], str], ...]]


@dataclass(frozen=True, slots=True)
class _BankFormats:
    """`bank_formats.yaml`, compiled for the cleaning steps."""

    transaction_types: _LeadingRules
    processors: _LeadingRules
    platforms: _LeadingRules
    suffixes: Mapping[str, tuple[tuple[str, ...], ...]]  # keyed by their last word
    months: frozenset[str]
    legal_forms: frozenset[str]
    codes: frozenset[str]  # country codes, US states and Canadian provinces
    ambiguous_codes: frozenset[str]
    regions: frozenset[str]  # US states and Canadian provinces that are not country codes
    city_prefixes: frozenset[str]
    city_connectors: frozenset[str]
    cities: frozenset[tuple[str, ...]]
    unambiguous_cities: frozenset[tuple[str, ...]]
    max_city_words: int
    location_column: re.Pattern[str]


# A reference, till or account number: has a digit, may have letters or be masked by the bank
# ("4591XXXXXXXX7508", "07******233", "SBIN0001234").
_REF = r"(?:[A-Z*]*\d[A-Z0-9*]*)"
_DATE = r"(?:\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?|\d{4})"
# After a transaction-type prefix: the separators banks put before the counterparty.
_SEPARATORS = r"[\s,.:;/\\_-]*"
# The prefix ends at a word boundary: "POS" must not match "POSTMATES".
_WORD_END = r"(?:(?<=[A-Z0-9])(?![A-Z0-9])|(?<![A-Z0-9]))"


@cache
def _formats() -> _BankFormats:
    """The packaged bank-format tables, compiled once on first use.

    Raises:
        ValueError: the data file is malformed (the message says where).
    """
    text = (
        resources.files("spendlens")
        .joinpath("data", BANK_FORMATS_RESOURCE)
        .read_text(encoding="utf-8")
    )
    # The C loader when PyYAML has it: ~8x faster than the pure-Python one on this file.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return _compile_formats(yaml.load(text, Loader=loader))  # noqa: S506 (a safe loader)


def _compile_formats(data: Any) -> _BankFormats:
    """Validate and compile the parsed YAML (see `spendlens/data/bank_formats.yaml`)."""
    if not isinstance(data, dict):
        raise ValueError(f"{BANK_FORMATS_RESOURCE}: expected a mapping at the top level")
    months = _word_set(data, "months")
    placeholders = {
        "{ref}": _REF,
        "{date}": _DATE,
        "{month}": "(?:" + "|".join(sorted(months, key=len, reverse=True)) + ")",
    }
    types = [
        (re.sub(r"\{[a-z]+\}", lambda m: placeholders[m.group()], source) + _WORD_END, "")
        for source in _per_country(data, "transaction_types")
    ]
    suffixes: defaultdict[str, list[tuple[str, ...]]] = defaultdict(list)
    for phrase in _per_country(data, "suffixes"):
        words = tuple(phrase.split())
        suffixes[words[-1]].append(words)
    country_codes = _word_set(data, "country_codes")
    states = _word_set(data, "us_states") | _word_set(data, "ca_provinces")
    ambiguous_cities = {tuple(c.split()) for c in _word_list(data, "ambiguous_cities")}
    cities = {tuple(city.split()) for city in _per_country(data, "cities")}
    if not ambiguous_cities <= cities:
        raise ValueError(f"{BANK_FORMATS_RESOURCE}: ambiguous_cities must be listed in cities")
    codes = country_codes | states
    column = "|".join(sorted(codes))
    return _BankFormats(
        transaction_types=_leading_rules(types, after=_SEPARATORS),
        processors=_leading_rules(_named(data, "processors"), after=r"\s*"),
        platforms=_leading_rules(_named(data, "platforms"), after=""),
        suffixes={
            key: tuple(sorted(set(found), key=len, reverse=True)) for key, found in suffixes.items()
        },
        months=months,
        legal_forms=_word_set(data, "legal_forms"),
        codes=codes,
        ambiguous_codes=_word_set(data, "ambiguous_country_codes")
        | _word_set(data, "ambiguous_regions"),
        regions=states - country_codes,
        city_prefixes=_word_set(data, "city_prefixes"),
        city_connectors=_word_set(data, "city_connectors"),
        cities=frozenset(cities),
        unambiguous_cities=frozenset(cities - ambiguous_cities),
        max_city_words=max(len(city) for city in cities),
        # "STARBUCKS  SEATTLE     CO": a wide gap, then city words and a code, then the end.
        location_column=re.compile(
            rf"^(?P<name>\S.*?\S)\s{{2,}}(?:[A-Z .-]+\s|[A-Z][A-Z .-]{{12}})?"
            rf"(?P<code>{column})(?:\s+\d+)?\s*$",
            re.ASCII,
        ),
    )


def _word_list(data: dict[str, Any], key: str) -> list[str]:
    """`data[key]`, checked to be a list of non-empty strings."""
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{BANK_FORMATS_RESOURCE}: {key} must be a list of non-empty strings")
    return value


def _word_set(data: dict[str, Any], key: str) -> frozenset[str]:
    """`data[key]` as a set of words."""
    return frozenset(_word_list(data, key))


def _per_country(data: dict[str, Any], key: str) -> list[str]:
    """The lists under `data[key]`'s country codes, concatenated in file order."""
    value = data.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{BANK_FORMATS_RESOURCE}: {key} must map country codes to lists")
    return [item for country in value for item in _word_list(value, country)]


def _named(data: dict[str, Any], key: str) -> list[tuple[str, str]]:
    """(regex, name) pairs from a mapping of names to lists of regexes."""
    table = data.get(key)
    if not isinstance(table, dict):
        raise ValueError(f"{BANK_FORMATS_RESOURCE}: {key} must map names to lists of regexes")
    return [(source, name) for name in table for source in _word_list(table, name)]


def _leading_rules(rules: list[tuple[str, str]], after: str) -> _LeadingRules:
    """Compile (regex, name) pairs, in order, keyed by the regex's two literal first characters.

    Raises:
        ValueError: a regex does not start with two literal characters.
    """
    keyed: defaultdict[str, list[tuple[re.Pattern[str], str]]] = defaultdict(list)
    for source, name in rules:
        if not re.match(r"[A-Z0-9]{2}(?![?*+{])", source):
            raise ValueError(
                f"{BANK_FORMATS_RESOURCE}: {source!r} must start with two literal characters"
            )
        keyed[source[:2]].append((re.compile(f"(?:{source}){after}", re.ASCII), name))
    return {lead: tuple(found) for lead, found in keyed.items()}


def _leading_match(text: str, rules: _LeadingRules) -> tuple[int, str] | None:
    """Where the first rule matching at the start of `text` ends, and its name."""
    for pattern, name in rules.get(text[:2], ()):
        match = pattern.match(text)
        if match:
            return match.end(), name
    return None


# --- 1. prepare ----------------------------------------------------------------------------

# Umlauts as German banks spell them without diacritics; typographic apostrophes as plain ones.
_SPELLED_OUT = str.maketrans({"Ä": "AE", "Ö": "OE", "Ü": "UE", "ẞ": "SS", "’": "'", "‘": "'"})
# Masked PII (card, account, phone, reference numbers, e-mail) and phones the masker left
# (international ones) read as a reference number: the name ends before it.
_MASK_RE = re.compile(
    r"(?:<[A-Z]+>"
    r"|(?<![A-Z0-9])\+\d{1,3}(?:[ .-]?\d){6,12}"  # +44 7700 900123
    r"|(?:\(\d{3}\) ?|\b\d{3}[-. ])\d{3}[-. ]\d{4}\b)"  # (866) 712-7753
    r"(?P<state>\s+[A-Z]{2}\s*$)?",
    re.ASCII,
)
_MASKED_REF = "00000"
_INITIALS_RE = re.compile(r"\b([A-Z])\.(?=[A-Z]\b)", re.ASCII)


def _prepare(text: str) -> str:
    """Upper-case and transliterate; drop apostrophes and phones; unmask refs; join initials."""
    text = text.upper()
    if not text.isascii():
        text = _transliterate(text)
    if "'" in text or "`" in text:
        text = text.replace("'", "").replace("`", "")
    text = _MASK_RE.sub(_unmask, text)
    if "." in text:
        text = _INITIALS_RE.sub(r"\1", text)
    return text


def _unmask(match: re.Match[str]) -> str:
    """A reference number, or nothing for a phone and the state after it that end the line.

    In "APPLE.COM/BILL <PHONE> CA" the state must not become the name.
    """
    return " " if match["state"] else _MASKED_REF


def _transliterate(text: str) -> str:
    """German umlauts as banks spell them without diacritics ("UE"); other accents dropped."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPELLED_OUT))
    # Letters without an ASCII form (other scripts) cannot be matched by the rules below.
    return "".join(c if c.isascii() else " " for c in decomposed if not unicodedata.combining(c))


# --- 2. transaction types ------------------------------------------------------------------


def _strip_transaction_types(text: str, formats: _BankFormats) -> str:
    """Drop leading transaction-type words ("KARTENZAHLUNG", "BEA, BETAALPAS"), repeatedly."""
    text = text.lstrip(" ,.:;/-")
    for _ in range(_MAX_PREFIXES):
        found = _leading_match(text, formats.transaction_types)
        if found is None:
            break
        text = text[found[0] :]
    return text


# --- 3. location column --------------------------------------------------------------------


# Card networks print a 22-25 character name field, a 13-character city field and a state or
# country code. A full name field runs straight into the city, or leaves one space before it:
# "SACRAMENTO REGIONAL TRANSSACRAMENTO   CA".
_CITY_FIELD = 13
_MIN_NAME_FIELD = 20  # a little under 22: apostrophes are gone by now


def _strip_location_column(text: str, formats: _BankFormats) -> str:
    """Drop the fixed-width city and state/country column: "JET   HEIDELBERG   DE"."""
    if "  " not in text:
        return text
    match = formats.location_column.match(text)
    if match is None:
        return text
    code_at = match.start("code")
    city_at = code_at - _CITY_FIELD
    full_name_field = city_at >= _MIN_NAME_FIELD and text[city_at] != " "
    if text[code_at - 1] != " ":  # only a full city field runs into the code: "...CTYUT"
        return text[:city_at] if full_name_field else text
    if full_name_field and text[city_at:code_at].endswith("  "):
        return text[:city_at]
    return match["name"]


# --- 4. platforms and processors -----------------------------------------------------------


def _platform(text: str, formats: _BankFormats) -> str | None:
    """The platform named at the start when it is the merchant itself ("AMZN MKTP", "LYFT")."""
    found = _leading_match(text, formats.platforms)
    return found[1] if found else None


def _strip_processor(text: str, formats: _BankFormats) -> tuple[str, str | None]:
    """Split a leading payment processor ("SQ *", "ZETTLE_*") from the merchant after it."""
    found = _leading_match(text, formats.processors)
    if found is None:
        return text, None
    end, processor = found
    return text[end:], processor


# --- 5. references -------------------------------------------------------------------------

# After '*': an order/reference id (has a digit) ends the name: "SPOTIFY*P12AB34".
_STAR_REF_RE = re.compile(r"\s*\*\s*[A-Z]*\d[A-Z0-9]*\b.*$", re.ASCII)
# An unknown short code before '*' ("CNK*CINEMARK.COM") is a billing prefix, not the name.
_SHORT_PREFIX_RE = re.compile(r"^[A-Z0-9]{2,4} ?\*\s*(?=[A-Z0-9])", re.ASCII)
_URL_RE = re.compile(
    r"\b(?:HTTPS?://)?(?:WWW\.)?(?:[A-Z0-9-]+\.)*?(?P<label>[A-Z0-9-]+)"
    r"\.(?:CO\.UK|GOV\.UK|ORG\.UK|CO\.IN|GOV\.IN|CO\.KE|GO\.KE"
    r"|COM|NET|ORG|IO|CO|AI|TV|APP|US|CA|UK|DE|FR|NL|IN|KE|EU|ME|BIZ|INFO|SHOP)\b(?:/\S*)?",
    re.ASCII,
)
# A date after the name ("LYFT 1 RIDE 08-07"); at the start it is a name ("7-11").
_DATE_RE = re.compile(r"(?<=\s)\d{1,2}(?:/\d{1,2}(?:/\d{2,4})?|-\d{1,2})\b", re.ASCII)


def _strip_references(text: str) -> str:
    """Drop an order id after '*', an unknown billing code before it, web domains and dates."""
    if "*" in text:
        text = _STAR_REF_RE.sub("", text)
        short = _SHORT_PREFIX_RE.match(text)
        if short:
            text = text[short.end() :]
        text = text.replace("*", " ")
    if "." in text:
        text = text.strip()
        domain = _URL_RE.match(text)
        if domain:  # a web domain that starts the name is all of it ("ROSESHOP.COM LEEDS")
            return domain["label"]
        text = _URL_RE.sub(_domain_label, text)  # "JUST EAT.CO.UK" -> "JUST EAT"
    if "/" in text or "-" in text:
        text = _DATE_RE.sub(" ", text)
    return text


def _domain_label(match: re.Match[str]) -> str:
    """The name in a web domain: "TFL" in "TFL.GOV.UK"."""
    return match["label"]


# --- 6. words and store numbers ------------------------------------------------------------

_STORE_HASH_RE = re.compile(r"#\s*(?=\d)", re.ASCII)
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789&#+")
# '&' and a '+' after a letter are part of names ("H&M", "DISNEY+"); '#' marks store numbers.
_PUNCT_TO_SPACE = bytes(c if chr(c) in _NAME_CHARS else ord(" ") for c in range(256))
_LONE_PLUS_RE = re.compile(r"(?<![A-Z])\+", re.ASCII)
_STORE_CODE_RE = re.compile(r"^(?:#\d*|\d{3,}|[A-Z]{1,2}\d{3,})$", re.ASCII)
# A reference before the name: a long number or a masked card ("4591XXXXXXXX7508").
_LEADING_REF_RE = re.compile(r"#?(?:\d{5,}|\d*X{4,}\d+)", re.ASCII)
_NOT_LETTERS = str.maketrans("", "", "0123456789&#+")
_MAX_STORE_DIGITS = 6


def _tokenize(text: str) -> list[str]:
    """Words, with '#' kept on store numbers so "#0073" and "# 0107" read alike."""
    if "#" in text:
        text = _STORE_HASH_RE.sub(" #", text)
    # Text is ASCII here (see `_prepare`); bytes.translate is several times faster than str's.
    text = text.encode("ascii").translate(_PUNCT_TO_SPACE).decode("ascii")
    if "+" in text:
        text = _LONE_PLUS_RE.sub(" ", text)
    return text.split()


def _drop_leading_refs(words: list[str]) -> list[str]:
    """Drop reference numbers printed before the name ("<CARD> WALMART")."""
    start = 0
    while start < len(words) and (words[start] == "#" or _LEADING_REF_RE.fullmatch(words[start])):
        start += 1
    return words[start:] if start else words


def _cut_at_store_number(words: list[str]) -> list[str]:
    """Drop the first store number (after the name) and everything after it."""
    letters = 0
    for i, word in enumerate(words):
        # "E 225 WINE AND LIQUOR": a number right after a one-letter word is part of the name.
        if i and letters >= 3 and _STORE_CODE_RE.match(word):
            return words[:i]
        # "STARBUCKS STORE 00518" (a longer number is a reference: "DOLLAR STORE 967028698").
        if word == "STORE" and i and i + 1 < len(words) and _is_store_number(words[i + 1]):
            return words[:i]
        letters += len(word) if word.isalpha() else len(word.translate(_NOT_LETTERS))
    # "HARBOR FREIGHT TOOLS 4": a short trailing number is a store number too, but only after
    # two words, so "FOREVER 21" and "PHILLIPS 66" keep theirs.
    if len(words) >= 3 and len(words[-1]) <= 2 and words[-1].isdigit():
        return words[:-1]
    return words


def _is_store_number(word: str) -> bool:
    """A store number after "STORE": a short one ("STORE 00296"), not a reference."""
    return word.isdigit() and len(word) <= _MAX_STORE_DIGITS


# --- 7. trailing words ---------------------------------------------------------------------


def _strip_trailing(words: list[str], formats: _BankFormats) -> list[str]:
    """Drop what banks print after the name, as long as one word is left."""
    words = _cut_after_legal_form(words, formats)
    while len(words) > 1:
        end = _suffix_start(words, formats)
        if end is None:
            end = _location_start(words, formats)
        if end is None:
            break
        words = words[:end]
    return words


def _cut_after_legal_form(words: list[str], formats: _BankFormats) -> list[str]:
    """A legal form ends a company's name: "NAKURU INVESTMENTS LTD VIA API" -> "... LTD"."""
    if formats.legal_forms.isdisjoint(words):
        return words
    for i in range(len(words) - 1, 0, -1):
        if words[i] in formats.legal_forms:
            return words[: i + 1]
    return words


def _suffix_start(words: list[str], formats: _BankFormats) -> int | None:
    """Where a trailing payment-type suffix starts ("DIR DEP", "SALARIS JAN"), if any."""
    end = len(words)
    if words[-1] in formats.months:
        end -= 1
    for suffix in formats.suffixes.get(words[end - 1], ()):
        start = end - len(suffix)
        if start >= 1 and tuple(words[start:end]) == suffix:
            return start
    return None


def _location_start(words: list[str], formats: _BankFormats) -> int | None:
    """Where a trailing location starts: a city, or a country/state code and its city.

    A code goes with a known city before it (even "IN" or "CO"); an unambiguous state code
    also takes the one word before it ("BOULDER CO" aside, "... SEATTLE WA"). A city without
    a code goes only when two words of name remain ("CAFE PARIS" stays a name).
    """
    size = len(words)
    last = words[-1]
    if last in formats.codes and last not in formats.legal_forms:  # "... VEEN NV" is a company
        city = _city_words(words, size - 1, formats.cities, formats)
        if city and size - 1 - city >= 1:
            return size - 1 - city
        if last in formats.ambiguous_codes:
            return None
        if last not in formats.regions:  # "XYZ SHOP SMALLTOWN GB"; "SANTANDER UK" is a name
            return size - 1 if size > 2 else None
        if size < 3:
            return None
        end = size - 2
        if end > 1 and words[end - 1] in formats.city_prefixes:
            end -= 1
        return end
    city = _city_words(words, size, formats.unambiguous_cities, formats)
    return size - city if city and size - city >= 2 else None


def _city_words(
    words: list[str], end: int, cities: frozenset[tuple[str, ...]], formats: _BankFormats
) -> int:
    """How many words before `end` name a known city that is not part of the name, or 0."""
    for size in range(min(formats.max_city_words, end), 0, -1):
        if tuple(words[end - size : end]) in cities:
            joined = end > size and words[end - size - 1] in formats.city_connectors
            return 0 if joined else size  # "PHARMACIE DE LYON" is a name
    return 0


# --- 8. canonical spelling -----------------------------------------------------------------


_LONE_LETTER_RE = re.compile(r"(?:^| )[A-Z](?= |$)", re.ASCII)


def _join_words(words: list[str]) -> str:
    """Join words canonically: initials run together ("B V" -> "BV"), "JAMES S" -> "JAMESS"."""
    text = " ".join(words)
    if "#" in text:
        text = " ".join(text.replace("#", " ").split())
    text = text.strip("& ")
    if _LONE_LETTER_RE.search(text):
        text = " ".join(_join_letters(text.split()))
    return text


def _join_letters(words: list[str]) -> list[str]:
    """Run initials together and reattach a possessive "S" to the word before it."""
    joined: list[str] = []
    i = 0
    while i < len(words):
        end = i
        while end < len(words) and len(words[end]) == 1 and words[end].isalpha():
            end += 1
        if end - i >= 2:  # a run of initials
            joined.append("".join(words[i:end]))
            i = end
            continue
        word = words[i]
        if word == "S" and joined and len(joined[-1]) >= 2 and joined[-1].isalpha():
            joined[-1] += "S"  # a possessive whose apostrophe the bank turned into a space
        else:
            joined.append(word)
        i += 1
    return joined


# --- the pipeline --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cleaned:
    """A cleaned descriptor: display name, texts to look up in a catalog, processor."""

    name: str
    keys: tuple[str, ...]
    processor: str | None


def _clean(text: str) -> _Cleaned:
    """Apply the cleaning steps (see the module docstring), in order, to one descriptor."""
    formats = _formats()
    text = _strip_transaction_types(_prepare(text), formats)
    # Before the processor goes: the card network's name field starts with it.
    text = _strip_location_column(text, formats)
    platform = _platform(text, formats)
    if platform:
        return _Cleaned(platform, (platform,), None)
    text, processor = _strip_processor(text, formats)
    if processor:
        text = _strip_transaction_types(text, formats)
        platform = _platform(text, formats)  # "PAYPAL *UBER TRIP"
        if platform:
            return _Cleaned(platform, (platform,), processor)
    # "TEMU*OYWEUNPU": an order id without digits is not recognisable as one, but the catalog
    # may know the merchant that bills before the '*'.
    billed = _join_words(_tokenize(text.split("*", 1)[0])) if "*" in text else ""
    words = _drop_leading_refs(_tokenize(_strip_references(text)))
    name = _join_words(_strip_trailing(_cut_at_store_number(words), formats))
    # The uncut words too: a catalog alias may include what looked like a store or a city.
    whole = _join_words(words)
    keys: tuple[str, ...] = (whole,) if whole == name else (whole, name)
    if billed and billed not in keys:
        keys += (billed,)
    if not name.strip("0123456789 "):  # nothing left, or only a number ("TRANSFER TO 5249")
        if processor:  # nothing but the processor: it is the merchant ("APPLE.COM/BILL")
            return _Cleaned(processor, (processor,), None)
        return _Cleaned(UNKNOWN, keys, None)  # a catalog may still know the number ("7-11")
    return _Cleaned(name, keys, processor)


# Descriptors are cleaned once per (descriptor, hint) by the callers' caches; hints repeat
# across descriptors ("Blue Bottle Coffee" on every feed row) and get their own cache.
_clean_hint = lru_cache(maxsize=_CACHE_SIZE)(_clean)


def _merchant(text: str, hint: str | None, lookup: Callable[[str], str | None] | None) -> Merchant:
    """Clean `hint` (preferred) or `text`, then canonicalize through `lookup` if given."""
    described = _clean(text)
    hinted = _clean_hint(hint) if hint and hint.strip() else None
    if hinted is not None and hinted.name == UNKNOWN:
        hinted = None
    primary = hinted or described
    processor = primary.processor or described.processor
    name = primary.name
    if lookup is not None:
        keys = primary.keys + (described.keys if hinted else ())
        for key in keys:
            canonical = lookup(key)
            if canonical:
                name = canonical
                break
    return _merchant_of(name, processor)


@lru_cache(maxsize=_CACHE_SIZE)
def _merchant_of(name: str, processor: str | None) -> Merchant:
    """One shared Merchant per (name, processor): ids are hashed once."""
    return Merchant(name=name, merchant_id=merchant_id(name), processor=processor)


@lru_cache(maxsize=_CACHE_SIZE)
def _merchant_no_catalog(text: str, hint: str | None) -> Merchant:
    """normalize_merchant() without a catalog (cached)."""
    return _merchant(text, hint, None)


def clear_module_caches() -> None:
    """Empty this module's memos (they refill on use): a long-running process calls it to
    bound its memory."""
    for memo in (_clean_hint, _merchant_of, _merchant_no_catalog):
        memo.cache_clear()


# --- catalog -------------------------------------------------------------------------------


class MerchantCatalog:
    """Curated canonical names with alias, truncated-prefix and fuzzy lookup (immutable)."""

    __slots__ = ("_aliases", "_blocks", "_cached_lookup", "_cached_merchant")

    def __init__(self, aliases: dict[str, str]) -> None:
        """Build from a mapping of canonical alias (names included) to canonical name."""
        self._aliases = aliases
        blocks: defaultdict[str, list[str]] = defaultdict(list)
        for key in aliases:
            blocks[_first_token(key)].append(key)
            if key[:4] != _first_token(key):
                blocks[key[:4]].append(key)
        self._blocks = dict(blocks)
        # Per-instance caches: results depend on this catalog's content.
        self._cached_lookup = lru_cache(maxsize=_CACHE_SIZE)(self._lookup)
        self._cached_merchant = lru_cache(maxsize=_CACHE_SIZE)(self._resolve)

    @classmethod
    def from_entries(cls, entries: Iterable[CatalogEntry]) -> MerchantCatalog:
        """Index catalog entries by canonical name.

        The first entry listing an alias keeps it. Different aliases of different merchants
        that canonicalize alike ("APPLE.COM" of the store, "APPLE.COM/BILL" of the services)
        identify neither and are dropped.
        """
        aliases: dict[str, str] = {}
        spelled: dict[str, str] = {}
        ambiguous: set[str] = set()
        for entry in entries:
            name = canonical_name(entry.name)
            for alias in (entry.name, *entry.aliases):
                key = canonical_name(alias)
                if not key:
                    continue
                owner = aliases.setdefault(key, name)
                raw = spelled.setdefault(key, alias.upper())
                if owner != name and raw != alias.upper():
                    ambiguous.add(key)
        return cls({key: name for key, name in aliases.items() if key not in ambiguous})

    def lookup(self, cleaned: str) -> str | None:
        """Canonical name for a cleaned descriptor, or None.

        Tries, in order: exact alias; the longest alias that is a word prefix of the text
        ("WHOLE FOODS MKT BOULD"); the text as a truncated prefix of exactly one alias
        ("SPROUTS FARMERS MKT"); a fuzzy match among aliases sharing the first word or first
        four characters.
        """
        return self._cached_lookup(canonical_name(cleaned))

    def _lookup(self, key: str) -> str | None:
        if not key:
            return None
        exact = self._aliases.get(key)
        if exact:
            return exact
        words = key.split()
        for n in range(len(words) - 1, 0, -1):
            prefix = self._aliases.get(" ".join(words[:n]))
            if prefix:
                return prefix
        candidates = self._candidates(key)
        if len(key) >= _MIN_TRUNCATED_LEN:
            truncated = {self._aliases[c] for c in candidates if c.startswith(key)}
            if len(truncated) == 1:
                return truncated.pop()
        return self._fuzzy(key, candidates)

    def _candidates(self, key: str) -> list[str]:
        first = self._blocks.get(_first_token(key), [])
        by_chars = self._blocks.get(key[:4], [])
        return list(dict.fromkeys(first + by_chars)) if by_chars else first

    def _fuzzy(self, key: str, candidates: list[str]) -> str | None:
        if not candidates:
            return None
        # Deferred: rapidfuzz costs ~45 ms to import and is only needed for catalog misses.
        from rapidfuzz import fuzz, process  # noqa: PLC0415

        best = process.extractOne(key, candidates, scorer=fuzz.ratio, score_cutoff=_FUZZY_THRESHOLD)
        return self._aliases[best[0]] if best else None

    def normalize(self, text: str, hint: str | None = None) -> Merchant:
        """normalize_merchant() with this catalog (cached per catalog)."""
        return self._cached_merchant(text, hint)

    def _resolve(self, text: str, hint: str | None) -> Merchant:
        return _merchant(text, hint, self._cached_lookup)

    def clear_caches(self) -> None:
        """Empty this catalog's memos (they refill on use)."""
        self._cached_lookup.cache_clear()
        self._cached_merchant.cache_clear()


def _first_token(key: str) -> str:
    """The first word of a catalog key."""
    return key.split(" ", 1)[0]


def normalize_merchant(
    text: str, catalog: MerchantCatalog | None = None, hint: str | None = None
) -> Merchant:
    """Canonical merchant for a PII-masked descriptor.

    Args:
        text: the masked bank descriptor.
        catalog: curated names to map the cleaned descriptor to, if any.
        hint: an explicit merchant name from the source (JSON merchant_name, SMS counterparty);
            preferred over the descriptor, still cleaned.

    Returns:
        Canonical name (see `canonical_name`), its stable id, and the processor stripped from
        the text.
    """
    if catalog is None:
        return _merchant_no_catalog(text, hint)
    return catalog.normalize(text, hint)
