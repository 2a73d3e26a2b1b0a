"""Turn a (PII-masked) bank descriptor into a canonical merchant name, a stable id and processor.

Cleaning is rule based (noise phrases, processor prefixes, store numbers, locations); an
optional catalog then maps the cleaned text to a curated canonical name by alias, prefix and
fuzzy match. Results are cached because statements repeat the same descriptors many times.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

_CACHE_SIZE = 1 << 16
_FUZZY_THRESHOLD = 88.0
# A cleaned descriptor this long that is a prefix of exactly one catalog name is that name
# truncated by the bank's 22-25 character field; shorter prefixes are too ambiguous.
_MIN_TRUNCATED_LEN = 8
UNKNOWN = "UNKNOWN"


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


# --- cleaning rules ------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"<[A-Z]+>")
_NOISE_RE = re.compile(
    r"\b(?:POS (?:PURCHASE|DEBIT|WITHDRAWAL)|DEBIT CARD PURCHASE|CARD PURCHASE(?: WITH PIN)?"
    r"|PURCHASE AUTHORI[SZ]ED ON \d{1,2}/\d{1,2}|CHECKCARD \d{4}|VISA DDA PUR"
    r"|RECURRING (?:PAYMENT|PMT)|ACH DEBIT|CARD NO\b\.?|^POS)\b"
)

# Whole-descriptor families whose merchant is the platform itself: (pattern, name).
_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"^(?:AMZN MKTP|AMAZON MKTPL?(?:ACE)?|AMAZON MARKETPLACE)\b", "AMAZON MARKETPLACE"),
        (r"^AMAZON PRIME\b", "AMAZON PRIME"),
        (r"^(?:AMAZON\.COM|AMZN\.COM|AMAZON COM)\b", "AMAZON"),
        (r"^UBER\s*\*?\s*EATS\b", "UBER EATS"),
        (r"^UBER\b", "UBER"),
        (r"^LYFT\b", "LYFT"),
        (r"^(?:DD ?\*|DOORDASH\b)", "DOORDASH"),
    )
)

# Payment processors and aggregators that prefix the real merchant: (pattern, processor).
_PROCESSORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(r"^(?:" + pattern + r")\s*"), name)
    for pattern, name in (
        (r"SQ ?\*|SQU ?\*|SQUARE ?\*", "SQUARE"),
        (r"TST ?\*", "TOAST"),
        (r"PAYPAL ?\*|PP ?\*", "PAYPAL"),
        (r"GOOGLE ?\*|GOOG ?\*", "GOOGLE"),
        (r"APPLE\.COM/BILL\b|APL ?\*", "APPLE"),
        (r"SP ?\*", "SHOPIFY"),
        (r"IN ?\*", "INTUIT"),
        (r"EB ?\*", "EVENTBRITE"),
        (r"FS ?\*", "FASTSPRING"),
        (r"PADDLE\.NET ?\*", "PADDLE"),
        (r"WPY ?\*", "WEPAY"),
        (r"STRIPE ?\*", "STRIPE"),
        (r"AMAZON PAY ?\*|AMZ ?PAY ?\*", "AMAZON PAY"),
    )
)
# An unknown short code before '*' ("CNK*CINEMARK.COM") is a billing prefix, not the name.
_SHORT_PREFIX_RE = re.compile(r"^[A-Z0-9]{2,4} ?\*\s*(?=[A-Z0-9])")
# After '*': an order/reference id (has a digit) ends the name: "SPOTIFY*P12AB34".
_STAR_REF_RE = re.compile(r"\s*\*\s*[A-Z]*\d[A-Z0-9]*\b.*$")

_URL_RE = re.compile(
    r"\b(?:HTTPS?://)?(?:WWW\.)?(?:[A-Z0-9-]+\.)*(?P<label>[A-Z0-9-]+)"
    r"\.(?:COM|NET|ORG|IO|CO|AI|TV|APP|US|CA|UK|DE|ME|BIZ|INFO)\b(?:/\S*)?"
)
_DATE_RE = re.compile(r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|\b\d{1,2}-\d{1,2}\b")
_STORE_HASH_RE = re.compile(r"#\s*(?=\d)")
_APOSTROPHE_RE = re.compile(r"['`’]")
_PUNCT_RE = re.compile(r"[^A-Z0-9&#]+")
_STORE_CODE_RE = re.compile(r"^(?:#\d*|\d{3,8}|[A-Z]{1,2}\d{3,})$")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_US_STATES = _words(
    "AK AL AR AZ CA CO CT DC DE FL GA HI IA ID IL IN KS KY LA MA MD ME MI MN MO MS MT NC ND NE "
    "NH NJ NM NV NY OH OK OR PA RI SC SD TN TX UT VA VT WA WI WV WY PR"
)
_CA_PROVINCES = _words("AB BC MB NB NL NS NT NU ON PE QC SK YT")
_REGIONS = _US_STATES | _CA_PROVINCES
# Codes that are also words in names ("SLYCE PIZZA CO", "CHIPPERS HORSETOOTH ON"): only
# stripped when a wide gap shows the fixed-width location column.
_AMBIGUOUS_REGIONS = _words("AL CO DE HI ID IN LA MA ME OK ON OR")
# First words of multi-word city names: "... NEW YORK NY" drops both words.
_CITY_PREFIXES = _words(
    "SAN SANTA LOS LAS NEW FT FORT ST SAINT EL PALM SALT GRAND CEDAR COLORADO BATON"
)
_REGION_ALT = "|".join(sorted(_REGIONS))
# A phone (masked or not) and the state printed after it: "APPLE.COM/BILL <PHONE> CA".
_PHONE_TAIL_RE = re.compile(
    r"(?:<PHONE>|\(?\b\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b)(?:\s+(?:" + _REGION_ALT + r")\s*$)?"
)
_GAP_LOCATION_RE = re.compile(
    r"^(?P<name>\S.*?\S)\s{2,}(?:[A-Z .'-]+\s)?(?:" + _REGION_ALT + r")\s*$"
)


@dataclass(frozen=True, slots=True)
class _Cleaned:
    """A cleaned descriptor: display name, texts to look up in a catalog, processor."""

    name: str
    keys: tuple[str, ...]
    processor: str | None


def _collapse(text: str) -> str:
    """Upper-case, drop apostrophes, turn other punctuation into spaces, collapse whitespace."""
    text = _APOSTROPHE_RE.sub("", text.upper())
    return " ".join(_PUNCT_RE.sub(" ", text).replace("#", " ").split())


def _strip_processor(text: str) -> tuple[str, str | None]:
    for pattern, name in _PROCESSORS:
        match = pattern.match(text)
        if match:
            return text[match.end() :], name
    return text, None


def _family(text: str) -> str | None:
    for pattern, name in _FAMILIES:
        if pattern.match(text):
            return name
    return None


def _strip_url(match: re.Match[str]) -> str:
    # A domain that starts the name is the merchant ("NETFLIX.COM"); later ones are help or
    # billing sites ("UBER *TRIP HELP.UBER.COM") and are dropped.
    return match["label"] if match.start() == 0 else " "


def _cut_store_and_location(words: list[str]) -> list[str]:
    """Drop the first store number (after the name) and everything after it."""
    letters = 0
    for i, word in enumerate(words):
        # "E 470 WINE AND LIQUOR": a number right after a one-letter word is part of the name.
        if i and letters >= 3 and _STORE_CODE_RE.match(word):
            return words[:i]
        if word == "STORE" and i and i + 1 < len(words) and words[i + 1].isdigit():
            return words[:i]
        letters += sum(c.isalpha() for c in word)
    # "HARBOR FREIGHT TOOLS 6": a short trailing number is a store number too, but only after
    # two words, so "FOREVER 21" and "PHILLIPS 66" keep theirs.
    if len(words) >= 3 and len(words[-1]) <= 2 and words[-1].isdigit():
        return words[:-1]
    return words


def _strip_region(tokens: list[str]) -> list[str]:
    """Drop a trailing state/province code and the city word(s) before it."""
    if len(tokens) < 3 or tokens[-1] not in _REGIONS or tokens[-1] in _AMBIGUOUS_REGIONS:
        return tokens
    kept = tokens[:-2]
    if len(kept) > 1 and kept[-1] in _CITY_PREFIXES:
        kept = kept[:-1]
    return kept


def _clean(text: str) -> _Cleaned:
    """Apply the cleaning rules to one descriptor."""
    # Whitespace is kept as is for now: a wide gap marks the fixed-width location column.
    upper = _PHONE_TAIL_RE.sub(" ", text.upper())
    upper = _NOISE_RE.sub(" ", _TOKEN_RE.sub(" ", upper)).strip()
    family = _family(upper)
    if family:
        return _Cleaned(family, (family,), None)
    rest, processor = _strip_processor(upper)
    family = _family(rest) if processor else None  # "PAYPAL *UBER TRIP"
    if family:
        return _Cleaned(family, (family,), processor)
    short = _SHORT_PREFIX_RE.match(rest)
    if short:
        rest = rest[short.end() :]
    rest = _STAR_REF_RE.sub("", rest).replace("*", " ")
    rest = _URL_RE.sub(_strip_url, rest.strip())
    rest = _DATE_RE.sub(" ", rest)
    gap = _GAP_LOCATION_RE.match(rest)
    if gap:
        rest = gap["name"]
    rest = _STORE_HASH_RE.sub(" #", rest)
    # Keep '#' as its own token so "#0073" and "# 0107" both read as store numbers.
    tokens = _PUNCT_RE.sub(" ", _APOSTROPHE_RE.sub("", rest)).split()
    stage1 = " ".join(t.lstrip("#") for t in tokens if t.lstrip("#"))
    tokens = _strip_region(_cut_store_and_location(tokens))
    name = " ".join(t for t in tokens if t != "#").strip("& ")
    if not name:
        if processor:  # nothing but the processor: it is the merchant ("APPLE.COM/BILL")
            return _Cleaned(processor, (processor,), None)
        name = _collapse(upper) or UNKNOWN
    keys = (stage1, name) if stage1 and stage1 != name else (name,)
    return _Cleaned(name, keys, processor)


@lru_cache(maxsize=_CACHE_SIZE)
def _clean_cached(text: str) -> _Cleaned:
    return _clean(text)


def _merchant(text: str, hint: str | None, lookup: Callable[[str], str | None] | None) -> Merchant:
    """Clean `hint` (preferred) or `text`, then canonicalize through `lookup` if given."""
    described = _clean_cached(text)
    hinted = _clean_cached(hint) if hint and hint.strip() else None
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
    return Merchant(name=name, merchant_id=merchant_id(name), processor=processor)


@lru_cache(maxsize=_CACHE_SIZE)
def _merchant_no_catalog(text: str, hint: str | None) -> Merchant:
    return _merchant(text, hint, None)


# --- catalog -------------------------------------------------------------------------------


class MerchantCatalog:
    """Curated canonical names with alias, truncated-prefix and fuzzy lookup (immutable)."""

    __slots__ = ("_aliases", "_blocks", "_cached_merchant")

    def __init__(self, aliases: dict[str, str]) -> None:
        """Build from a mapping of collapsed alias (names included) to canonical name."""
        self._aliases = aliases
        blocks: defaultdict[str, list[str]] = defaultdict(list)
        for key in aliases:
            blocks[_first_token(key)].append(key)
            if key[:4] != _first_token(key):
                blocks[key[:4]].append(key)
        self._blocks = dict(blocks)
        # Per-instance cache: results depend on this catalog's content.
        self._cached_merchant = lru_cache(maxsize=_CACHE_SIZE)(self._resolve)

    @classmethod
    def from_entries(cls, entries: Iterable[CatalogEntry]) -> MerchantCatalog:
        """Index catalog entries; the first entry claiming an alias keeps it."""
        aliases: dict[str, str] = {}
        for entry in entries:
            name = " ".join(entry.name.upper().split())
            for alias in (entry.name, *entry.aliases):
                key = _collapse(alias)
                if key:
                    aliases.setdefault(key, name)
        return cls(aliases)

    def lookup(self, cleaned: str) -> str | None:
        """Canonical name for a cleaned descriptor, or None.

        Tries, in order: exact alias; the longest alias that is a word prefix of the text
        ("WHOLE FOODS MKT BOULD"); the text as a truncated prefix of exactly one alias
        ("SPROUTS FARMERS MARK"); a fuzzy match among aliases sharing the first word or first
        four characters.
        """
        key = _collapse(cleaned)
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
        return _merchant(text, hint, self.lookup)


def _first_token(key: str) -> str:
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
        Upper-case display name, its stable id, and the processor stripped from the text.
    """
    if catalog is None:
        return _merchant_no_catalog(text, hint)
    return catalog.normalize(text, hint)
