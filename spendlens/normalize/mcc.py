"""Merchant category codes (ISO 18245): normalize the code, describe it via `iso18245`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

_MCC_RE = re.compile(r"[0-9]{1,4}")
# Card networks carve the ISO "private use" block 3000-3999 into travel sub-ranges; these
# describe a hotel or airline code far better than "Reserved for private use".
_PRIVATE_RANGES = (
    ("3000", "3350", "Airlines"),
    ("3351", "3500", "Car rental"),
    ("3501", "3999", "Lodging"),
)


@dataclass(frozen=True, slots=True)
class MccInfo:
    """A code with its best description and the ISO range it belongs to."""

    code: str
    description: str
    range_start: str
    range_end: str
    range_description: str


def normalize_mcc(text: str | int | None) -> str | None:
    """Four-digit MCC string: '5411', 5411, ' 5411 ' -> '5411'; '742' -> '0742'.

    Returns None for missing, malformed or out-of-range input, and for 0/'0000', which feeds
    use as a "no MCC" placeholder.
    """
    if text is None or isinstance(text, bool):  # bool is an int, never an MCC
        return None
    if isinstance(text, int):
        code = text
    else:
        stripped = text.strip()
        if not _MCC_RE.fullmatch(stripped):
            return None
        code = int(stripped)
    if not 0 < code <= 9999:
        return None
    return f"{code:04d}"


def describe_mcc(code: str) -> MccInfo | None:
    """Description and range of an MCC; None for malformed codes and unassigned reserved ones.

    A code in a normal ISO range that no list names individually is described by its range.
    """
    normalized = normalize_mcc(code)
    return _describe(normalized) if normalized else None


@cache  # keyed by normalized codes only, so at most 9,999 entries
def _describe(code: str) -> MccInfo | None:
    # Deferred: iso18245 reads its CSV tables on first use; most imports never need them.
    import iso18245  # noqa: PLC0415

    mcc_range = iso18245.get_mcc_range(code)
    start, end, range_description = mcc_range.start, mcc_range.end, mcc_range.description
    for p_start, p_end, p_description in _PRIVATE_RANGES:
        if p_start <= code <= p_end:
            start, end, range_description = p_start, p_end, p_description
    try:
        mcc = iso18245.get_mcc(code)
    except iso18245.MCCNotFound:
        if mcc_range.reserved and range_description == mcc_range.description:
            return None
        return MccInfo(code, range_description, start, end, range_description)
    description = (
        mcc.iso_description
        or mcc.usda_description
        or mcc.visa_description
        or mcc.stripe_description
        or mcc.mastercard_description
        or mcc.amex_description
        or mcc.alipay_description
        or range_description
    )
    return MccInfo(code, description, start, end, range_description)
