"""Exact money: decimal amounts <-> integer minor units per ISO 4217 currency."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not 2 digits; everything else uses cents.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


def currency_exponent(currency: str) -> int:
    """Number of minor-unit digits of a currency (2 unless ISO 4217 says otherwise)."""
    return _EXPONENTS.get(currency.upper(), 2)


def is_currency_code(code: str) -> bool:
    """True for a syntactically valid ISO 4217 alpha code (three ASCII letters)."""
    return len(code) == 3 and code.isascii() and code.isalpha()


def to_minor(amount: Decimal, currency: str) -> int:
    """Convert an exact decimal amount to integer minor units.

    Raises:
        ValueError: the amount has more decimals than the currency allows (we never round money).
    """
    exponent = currency_exponent(currency)
    try:
        scaled = amount.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{amount} has more than {exponent} decimals for {currency}")
        return int(scaled)
    except InvalidOperation as exc:
        raise ValueError(f"not a finite amount: {amount}") from exc


def from_minor(minor: int, currency: str) -> Decimal:
    """Convert integer minor units back to an exact decimal amount."""
    return Decimal(minor).scaleb(-currency_exponent(currency))
