"""Decode exported text files (statements, alert dumps) and refuse binary or empty input."""

from __future__ import annotations

from spendlens.ingest.types import NotAStatementError

_BINARY_SNIFF_CHARS = 8192
_MAX_BINARY_SHARE = 0.05


def decode_text(data: bytes, max_file_bytes: int | None = None) -> tuple[str, str]:
    """Decode statement bytes and name the encoding, refusing empty, oversized and binary input.

    Tries UTF-16 (only with its BOM), UTF-8 with BOM, UTF-8, then cp1252 and latin-1.
    """
    if max_file_bytes is not None and len(data) > max_file_bytes:
        raise NotAStatementError(
            f"the file is {len(data):,} bytes, over the {max_file_bytes:,}-byte limit"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, encoding = data.decode("utf-16", errors="replace"), "utf-16"
    elif b"\x00" in data[:_BINARY_SNIFF_CHARS]:
        raise NotAStatementError("the file is binary (it contains NUL bytes), not a text export")
    elif data.startswith(b"\xef\xbb\xbf"):
        text, encoding = data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    else:
        text, encoding = _decode_legacy(data)
    if not text.strip():
        raise NotAStatementError("the file is empty")
    head = text[:_BINARY_SNIFF_CHARS]
    if sum(1 for ch in head if _is_binary_char(ch)) > _MAX_BINARY_SHARE * len(head):
        raise NotAStatementError("the file is binary (mostly non-text bytes), not a text export")
    return text, encoding


def _is_binary_char(ch: str) -> bool:
    # Control characters and decoding replacements; not str.isprintable(), which also
    # rejects the no-break spaces that group digits in French amounts.
    return (ch < " " and ch not in "\t\n\r\f\v") or "\x7f" <= ch <= "\x9f" or ch == "\ufffd"


def _decode_legacy(data: bytes) -> tuple[str, str]:
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"  # decodes any byte sequence
