"""MCC normalization and description through the iso18245 tables."""

from __future__ import annotations

import pytest

from spendlens.normalize.mcc import MccInfo, describe_mcc, normalize_mcc


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param("5411", "5411", id="string"),
        pytest.param(5411, "5411", id="int"),
        pytest.param(" 5411 ", "5411", id="padded-with-spaces"),
        pytest.param("742", "0742", id="leading-zero-lost"),
        pytest.param(742, "0742", id="int-leading-zero-lost"),
        pytest.param("0742", "0742", id="already-four-digits"),
        pytest.param(None, None, id="none"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param("abc", None, id="letters"),
        pytest.param("54 11", None, id="inner-space"),
        pytest.param("12345", None, id="five-digits"),
        pytest.param(12345, None, id="int-too-large"),
        pytest.param(-5411, None, id="negative"),
        pytest.param("-541", None, id="negative-string"),
        pytest.param("5411.0", None, id="float-string"),
        pytest.param("0", None, id="zero-placeholder"),
        pytest.param("0000", None, id="zero-placeholder-padded"),
        pytest.param(True, None, id="bool-is-not-a-code"),
        pytest.param("٥٤١١", None, id="non-ascii-digits"),
    ],
)
def test_normalize_mcc(raw: str | int | None, code: str | None) -> None:
    assert normalize_mcc(raw) == code


@pytest.mark.parametrize(
    ("code", "info"),
    [
        pytest.param(
            "5411",
            MccInfo("5411", "Groceries and supermarkets", "5000", "5599", "Retail outlets"),
            id="iso-description",
        ),
        pytest.param(
            "742",
            MccInfo("0742", "Veterinary services", "0700", "0999", "Agricultural services"),
            id="unpadded-input",
        ),
        pytest.param(
            "5815",
            MccInfo(
                "5815",
                "Digital Goods Media - Books, Movies, Digital artwork/images, Music",
                "5700",
                "5999",
                "Miscellaneous outlets",
            ),
            id="no-iso-description-falls-back",
        ),
        pytest.param(
            "5000",
            MccInfo("5000", "Retail outlets", "5000", "5599", "Retail outlets"),
            id="unlisted-code-gets-range-description",
        ),
        pytest.param(
            "3000",
            MccInfo("3000", "UNITED AIRLINES", "3000", "3350", "Airlines"),
            id="private-airline-block",
        ),
        pytest.param(
            "3999",
            MccInfo("3999", "Lodging", "3501", "3999", "Lodging"),
            id="unlisted-private-lodging-code",
        ),
    ],
)
def test_describe_mcc(code: str, info: MccInfo) -> None:
    assert describe_mcc(code) == info


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("1234", id="reserved-range-unlisted"),
        pytest.param("9100", id="reserved-for-iso-unlisted"),
        pytest.param("0000", id="zero"),
        pytest.param("abcd", id="malformed"),
        pytest.param("", id="empty"),
    ],
)
def test_describe_mcc_returns_none_for_unknown_codes(code: str) -> None:
    assert describe_mcc(code) is None
