"""Mask personal data (cards, IBANs, accounts, e-mails, phones, UPI ids, references) in text.

Every detector runs on a work copy of the text in which already-claimed spans are blanked out,
so a span is only ever claimed once and later, weaker detectors (long references) never see the
digits of an earlier, stronger one (a card). The output is spliced once at the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

# Fills claimed spans in the work copy: not a digit, letter, space or separator, so no
# detector can match across it (the output tokens "<CARD>" behave the same way).
_FILL = "\x00"

# Cheap gate: nothing below can match without '@', three consecutive digits, a "+<digit>" or
# seven digits with separators (a phone written in pairs).
_GATE_RE = re.compile(r"@|\d{3}|\+\s?\(?\d|\d(?:[ ().-]{1,2}\d){6}")

# local@domain; a dotted domain is an e-mail address, a bare handle is a UPI id (VPA).
_AT_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][\w.%+-]*@(?P<domain>[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*)"
)

# IBAN candidates, compact or in groups of four; validated with mod-97 and trimmed if a
# following word was swallowed.
_IBAN_RE = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}"
    r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)"
    r"(?![A-Za-z0-9])"
)

# "A/c XX1234", "acct ending 9876", "Account no. 123456789", "Acc: 12345678". A bare "AC"
# only counts before a mask or "no", because "AC" also starts merchant names (AC HOTEL);
# "SAV"/"CHK" only before a mask ("TRANSFER TO SAV XXXXXX1234"), as "CHK 1234" is a cheque.
_FILLER = r"(?:[\s:#.-]|no\b|num\b|number\b|ending\b|ends\b|in\b|with\b)*?"
_ACCT_RE = re.compile(
    r"\b(?:a/c|account|acct|acc|ac(?=[\s:#.-]*(?:no\b|[x*•]))"
    r"|(?:sav|savings|chk|checking)(?=[\s:#-]*(?:[x*•]|\.\.)))\b\.?"
    + _FILLER
    + r"(?P<num>[x*•]*\d{3,}(?:[ -]\d{4}(?![\d.,:/]))*)(?!\d)",
    re.IGNORECASE,
)
# "card ending 1234" keeps its four digits (they identify nothing alone) but sets card_tail;
# "card XX1234" is a masked PAN and becomes <CARD>. A bare "GIFT CARD 2024" is neither.
_CARD_CTX_RE = re.compile(
    r"\bcard\b[\s:.-]*(?P<kw>(?:(?:no|num|number|ending|ends|end)\b|#)[\s:#.-]*"
    r"(?:(?:in|with)\b[\s:#.-]*)?)?(?P<mask>[x*•]*)(?P<tail>\d{4})(?![ -]?\d)",
    re.IGNORECASE,
)
# Already-masked PANs: "XXXX XXXX XXXX 1234", "************1234", "4111********1111".
_MASKED_PAN_RE = re.compile(
    r"(?<![\w*•])(?:\d{4,6}[ -]?)?(?:[x*•]{4}[ -]?){1,4}[x*•]{0,4}(?P<tail>\d{4})(?!\d)",
    re.IGNORECASE,
)

# Digit runs joined by single spaces or dashes: the shape of PANs and long references.
_RUN_RE = re.compile(r"\d+(?:[ -]\d+)*")
_GROUP_RE = re.compile(r"\d+")
# Dates inside a dash/space run must not join it into a 13+ digit "reference".
_DASH_DATE_RE = re.compile(
    r"(?<!\d)(?:(?:19|20)\d\d-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])-(?:0?[1-9]|[12]\d|3[01])-(?:19|20)?\d\d)(?!\d)"
)
_LONG_DIGITS_RE = re.compile(r"(?<!\d)\d{9,}(?!\d)")
_DECIMALS_RE = re.compile(r"[.,]\d{1,2}(?!\d)")

# Phones: a cheap look for 7+ digits with separators gates the slow PhoneNumberMatcher.
_PHONE_HINT_RE = re.compile(r"\+?\(?\d(?:[ ().-]{0,2}\d){6,}")
# Mobiles that must be masked whatever the configured region: India and Kenya.
_MOBILE_RES = (
    re.compile(r"(?<![\d+])(?:(?:\+|00)91[ -]?|0)?[6-9]\d{4}[ -]?\d{5}(?!\d)"),
    re.compile(r"(?<![\d+])(?:(?:\+|00)254[ -]?|0)[17]\d{2}[ -]?\d{3}[ -]?\d{3}(?!\d)"),
)


@dataclass(frozen=True, slots=True)
class MaskResult:
    """Masked text plus the identifiers a transaction may keep (last four digits only)."""

    text: str
    card_tail: str | None
    account_tail: str | None
    kinds: tuple[str, ...]


class _Hit(NamedTuple):
    start: int
    end: int
    kind: str


class _Masker:
    """Collects non-overlapping hits over a work copy of the text."""

    __slots__ = ("account_tails", "card_tails", "hits", "text", "work")

    def __init__(self, text: str) -> None:
        self.text = text
        self.work = text
        self.hits: list[_Hit] = []
        self.card_tails: list[tuple[int, str]] = []
        self.account_tails: list[tuple[int, str]] = []

    def claim(self, start: int, end: int, kind: str) -> None:
        self.hits.append(_Hit(start, end, kind))
        self.work = self.work[:start] + _FILL * (end - start) + self.work[end:]

    def free(self, start: int, end: int) -> bool:
        return _FILL not in self.work[start:end]

    def result(self) -> MaskResult:
        hits = sorted(self.hits)
        parts: list[str] = []
        pos = 0
        for hit in hits:
            parts.append(self.text[pos : hit.start])
            parts.append(f"<{hit.kind}>")
            pos = hit.end
        parts.append(self.text[pos:])
        return MaskResult(
            text="".join(parts),
            card_tail=min(self.card_tails)[1] if self.card_tails else None,
            account_tail=min(self.account_tails)[1] if self.account_tails else None,
            kinds=tuple(dict.fromkeys(hit.kind for hit in hits)),
        )


def mask_pii(text: str, region: str = "US") -> MaskResult:
    """Replace personal data in `text` with typed tokens (<CARD>, <IBAN>, <ACCT>, ...).

    Args:
        text: free text such as a bank descriptor, memo or SMS alert.
        region: ISO country code used to recognise national phone numbers.

    Returns:
        The masked text, the last four digits of the first card and account number, and the
        kinds of token inserted. Masking masked text changes nothing.
    """
    if not _GATE_RE.search(text):
        return MaskResult(text, None, None, ())
    masker = _Masker(text)
    if "@" in text:
        _mask_handles(masker)
    _mask_ibans(masker)
    _mask_accounts(masker)
    _mask_card_context(masker)
    _mask_pans(masker)
    _mask_phones(masker, region)
    _mask_references(masker)
    return masker.result()


def _mask_handles(m: _Masker) -> None:
    for match in _AT_RE.finditer(m.work):
        m.claim(*match.span(), "EMAIL" if "." in match["domain"] else "VPA")


def iban_valid(candidate: str) -> bool:
    """Whether `candidate` (spaces allowed) passes the IBAN length and mod-97 checks."""
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    # int(c, 36) maps 0-9 to themselves and A-Z to 10-35, exactly the IBAN letter encoding.
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _mask_ibans(m: _Masker) -> None:
    for match in _IBAN_RE.finditer(m.work):
        start = match.start()
        candidate = match.group()
        # A spaced IBAN may have swallowed a following four-letter word: drop groups from the
        # right until it validates.
        while not iban_valid(candidate) and " " in candidate:
            candidate = candidate.rsplit(" ", 1)[0]
        if iban_valid(candidate):
            m.claim(start, start + len(candidate), "IBAN")


def _mask_accounts(m: _Masker) -> None:
    for match in _ACCT_RE.finditer(m.work):
        start, end = match.span("num")
        digits = "".join(c for c in match["num"] if c.isdigit())
        m.account_tails.append((start, digits[-4:]))
        m.claim(start, end, "ACCT")


def _mask_card_context(m: _Masker) -> None:
    for match in _CARD_CTX_RE.finditer(m.work):
        if not (match["kw"] or match["mask"]):
            continue
        m.card_tails.append((match.start("tail"), match["tail"]))
        if match["mask"]:
            m.claim(match.start("mask"), match.end("tail"), "CARD")
    for match in _MASKED_PAN_RE.finditer(m.work):
        m.card_tails.append((match.start(), match["tail"]))
        m.claim(*match.span(), "CARD")


def luhn_valid(digits: str) -> bool:
    """Whether the digit string passes the Luhn checksum used by payment card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _groups(run: re.Match[str]) -> list[tuple[int, int]]:
    base = run.start()
    return [(base + g.start(), base + g.end()) for g in _GROUP_RE.finditer(run.group())]


def _pan_candidates(work: str, groups: list[tuple[int, int]]) -> Iterator[tuple[bool, int, int]]:
    """Yield (badly_formatted, start, end) for each Luhn-valid 13-19 digit span of whole groups."""
    for i, (start, _) in enumerate(groups):
        if start and work[start - 1] == "+":  # "+44 ..." is a phone number, never a card
            continue
        digits = ""
        sep = ""
        sizes: list[int] = []
        for j in range(i, len(groups)):
            g_start, g_end = groups[j]
            if j > i:
                this_sep = work[g_start - 1]
                # Cards are written with one kind of separator; a mix is a date next to a number.
                if sep and this_sep != sep:
                    break
                sep = this_sep
            digits += work[g_start:g_end]
            sizes.append(g_end - g_start)
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_valid(digits):
                yield not _pan_shaped(sizes), start, g_end


def _pan_shaped(sizes: list[int]) -> bool:
    """Group sizes a card is printed with: one block, 4-4-4-(1..7), or Amex 4-6-5."""
    if len(sizes) == 1 or sizes == [4, 6, 5]:
        return True
    return all(s == 4 for s in sizes[:-1])


def _mask_pans(m: _Masker) -> None:
    for run in _RUN_RE.finditer(m.work):
        if run.end() - run.start() < 13:
            continue
        groups = _groups(run)
        # Card-shaped spans first ("5 4111 1111 1111 1111" is "5 <CARD>"), then leftmost,
        # then longest.
        candidates = sorted(
            _pan_candidates(m.work, groups), key=lambda c: (c[0], c[1], c[1] - c[2])
        )
        for _, start, end in candidates:
            if m.free(start, end):
                tail = "".join(c for c in m.work[start:end] if c.isdigit())[-4:]
                m.card_tails.append((start, tail))
                m.claim(start, end, "CARD")


def _mask_phones(m: _Masker, region: str) -> None:
    region = region.upper()
    for pattern in _MOBILE_RES:
        for match in pattern.finditer(m.work):
            m.claim(*match.span(), "PHONE")
    hints = [h.span() for h in _PHONE_HINT_RE.finditer(m.work)]
    if not hints:
        return
    min_digits = _min_national_digits(region)
    # Deferred: phonenumbers costs ~60 ms to import and most descriptors never need it.
    import phonenumbers  # noqa: PLC0415

    for h_start, h_end in hints:
        hint = m.work[h_start:h_end]
        # Store ids like "TARGET 00001352" are too short for a national number of the region;
        # skipping them avoids the matcher, which costs 50-300 us per call.
        if hint[0] != "+" and sum(c.isdigit() for c in hint) < min_digits:
            continue
        # Matching on the hint alone is much faster than on the whole text.
        for found in phonenumbers.PhoneNumberMatcher(hint, region):
            start, end = h_start + found.start, h_start + found.end
            if m.free(start, end):
                m.claim(start, end, "PHONE")


@lru_cache(maxsize=32)
def _min_national_digits(region: str) -> int:
    """Fewest digits a full national number of `region` has (unknown region: only +numbers)."""
    import phonenumbers  # noqa: PLC0415 - deferred like above

    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return 1 << 30
    return min(metadata.general_desc.possible_length, default=1)


def _mask_references(m: _Masker) -> None:
    for match in _LONG_DIGITS_RE.finditer(m.work):
        start, end = match.span()
        # "1234567890.00" is an amount; only up to 12 integer digits, so a card never hides here.
        if end - start <= 12 and _DECIMALS_RE.match(m.work, end):
            continue
        m.claim(start, end, "REF")
    # Runs like "1234 5678 9012 3456" that failed Luhn are still too identifying to keep.
    work = _DASH_DATE_RE.sub(lambda d: _FILL * len(d.group()), m.work)
    for run in _RUN_RE.finditer(work):
        if run.end() - run.start() >= 13 and sum(c.isdigit() for c in run.group()) >= 13:
            m.claim(*run.span(), "REF")
