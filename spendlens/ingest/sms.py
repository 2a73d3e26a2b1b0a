"""Parse bank and mobile-money SMS alerts into raw transactions.

Every supported alert shape is one `SmsPattern` in `SMS_PATTERNS`; to support a new bank's
format, append an entry there (and a test). Messages that are not transactions (OTPs,
offers, reminders, declines, balance notices) are recognised by `NON_TRANSACTION_RULES`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass

from spendlens.ingest.amounts import CURRENCY_SYMBOLS, AmountError, parse_amount
from spendlens.ingest.dates import DateError, DateOrder, parse_datetime
from spendlens.ingest.text import decode_text
from spendlens.ingest.types import (
    Direction,
    NotAStatementError,
    ParseResult,
    RawTransaction,
    Reject,
    Source,
)
from spendlens.money import to_minor

EXCERPT_CHARS = 200
# Alerts are stamped in the bank's local time and `received` in the reader's, so an alert
# may legitimately carry the next calendar day.
_CLOCK_SKEW = dt.timedelta(days=1)

_CURRENCY = "|".join(
    re.escape(s)
    for s in sorted({*CURRENCY_SYMBOLS, *CURRENCY_SYMBOLS.values()}, key=len, reverse=True)
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_REF = (
    r"\b(?:(?:UPI|IMPS|NEFT|RTGS) )?(?:Ref(?:erence)?|RRN|Txn ID|Transaction ID)"
    r"(?: No| Number)?\.?:? ?#?(?P<ref>[A-Z0-9]*\d[A-Z0-9]*)"
)

# Building blocks for templates, written `{name}` in a template. Each defines at most one
# named group, so a template can use each fragment once (re.compile rejects duplicates).
_FRAGMENTS: dict[str, str] = {
    # Currency is optional so a bank that writes bare numbers can rely on SmsPattern.currency;
    # the look-behind keeps "XX1234" or "500.00" from being read from the middle.
    "amount": rf"(?P<amount>(?<![\w.,])(?:(?:{_CURRENCY}) ?)?\d(?:[\d,.]*\d)?)",
    "account": (
        r"\b(?:a/c|acct|account|card|ac)(?: no\.?| number| ending(?: in| with)?)?:? ?"
        r"(?:[X*.#-]+ ?)?(?P<account>\d{3,})"
    ),
    # Deliberately looser than a valid date: "35-13-24" is captured so it can be rejected as
    # an unreadable date instead of silently failing to match.
    "date": (
        r"(?<![\d.,/-])(?P<date>\d{4}-\d{1,2}-\d{1,2}"
        rf"|\d{{1,2}}(?:st|nd|rd|th)? ?-?{_MONTH}(?:[-, ]+\d{{2,4}}(?![\d:]))?"
        rf"|{_MONTH} ?\d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?"
        r"|\d{1,2}[-/.]\d{1,2}(?:[-/.]\d{2,4})?)(?![\d/])"
        r"(?:(?:,? (?:at )?|[T:])(?P<time>\d{1,2}:\d{2}(?::\d{2})?(?: ?[AP]M\b)?))?"
    ),
    # Lazy, so the literal text after it in the template (or `{end}`) decides where it stops.
    "merchant": r"(?P<merchant>[^\s.,(][^(]*?)",
    # A full stop ends the merchant unless it closes an initial or a title inside the name:
    # "from J. SMITH & CO.", "at DR. REDDY S CLINIC", "from ST. JUDE HOSPITAL".
    "end": (
        r"(?=\.? (?:on|avl|avbl|bal|ref|via|new|info|not|call|if|using|upi|imps|neft|txn)\b"
        r"|\.?$|(?<!\b[a-z])(?<!\bdr)(?<!\bmr)(?<!\bms)(?<!\bmrs)(?<!\bst)(?<!\bmt)\. |,| ?\()"
    ),
    "vpa": r"(?P<vpa>[\w.-]+@[A-Za-z][\w-]*(?:\.[A-Za-z][\w-]*)*)",
    "ref": _REF,
    # Reference numbers sit anywhere after the match start; optional, so it never blocks one.
    "ref_ahead": rf"(?=(?:.*?{_REF})?)",
    "mpesa_code": r"(?:(?<!\S)(?P<ref>[A-Z0-9]{10}) )?Confirmed\.?",
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _compile(template: str) -> re.Pattern[str]:
    """Expand `{fragment}` placeholders and compile case-insensitively.

    Templates are matched against whitespace-normalised text, so a literal space in a template
    stands for any run of whitespace in the message.
    """
    return re.compile(_PLACEHOLDER.sub(lambda m: _FRAGMENTS[m.group(1)], template), re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SmsPattern:
    """One alert shape: a regex with named groups and how to read what it captures.

    Groups `amount` and `date` are required; `time`, `merchant`, `vpa` (its local part becomes
    the merchant), `account` and `ref` are used when present. `currency` is assumed only when
    the captured amount has no symbol.
    """

    name: str
    regex: re.Pattern[str]
    direction: Direction
    date_order: DateOrder = "dmy"
    currency: str | None = None

    def __post_init__(self) -> None:
        missing = {"amount", "date"} - set(self.regex.groupindex)
        if missing:
            raise ValueError(f"SMS pattern {self.name!r} lacks groups {sorted(missing)}")


_DEBIT, _CREDIT = Direction.DEBIT, Direction.CREDIT
_CHANNEL = r"(?:NEFT|IMPS|RTGS|UPI|cash|cheque|transfer)"

# Tried in order, first match wins: keep specific shapes (UPI with a VPA) before the general
# ones they would otherwise fall into.
SMS_PATTERNS: tuple[SmsPattern, ...] = (
    SmsPattern(
        "upi_debit",
        _compile(
            r"{amount} (?:has been |is |was )?debited from (?:your )?{account}"
            r"(?=.*?\b(?:to|VPA) (?:VPA )?{vpa})(?=.*? on {date}){ref_ahead}"
        ),
        _DEBIT,
        currency="INR",
    ),
    SmsPattern(
        "upi_credit",
        _compile(
            r"{amount} (?:has been |is |was )?credited to (?:your )?{account}"
            r"(?=.*?\b(?:from|by) (?:VPA )?{vpa})(?=.*? on {date}){ref_ahead}"
        ),
        _CREDIT,
        currency="INR",
    ),
    SmsPattern(
        "account_debit",
        _compile(
            r"{amount} (?:has been |is |was )?debited from (?:your )?{account} on {date}"
            r"(?: (?:at|to|towards|for|info:?) {merchant}{end})?{ref_ahead}"
        ),
        _DEBIT,
        currency="INR",
    ),
    SmsPattern(
        "refund_credit",
        _compile(
            r"\b(?:refund|reversal) (?:of|for) {amount}(?: (?:from|by) {merchant})?"
            # "for order 123" / "for failed payment": why, not who; not kept.
            r"(?: for [\w ]*?)? (?:has been |is |was )?credited to (?:your )?{account}"
            r" on {date}{ref_ahead}"
        ),
        _CREDIT,
        currency="INR",
    ),
    SmsPattern(
        "account_credited_with",
        _compile(
            r"{account} (?:is |has been |was )?credited (?:with|by) {amount} on {date}"
            rf"(?: by {_CHANNEL})?(?: (?:from|by) {{merchant}}{{end}})?{{ref_ahead}}"
        ),
        _CREDIT,
        currency="INR",
    ),
    SmsPattern(
        "account_credit",
        _compile(
            r"{amount} (?:has been |is |was )?credited to (?:your )?{account} on {date}"
            rf"(?: by {_CHANNEL})?(?: (?:from|by) {{merchant}}{{end}})?{{ref_ahead}}"
        ),
        _CREDIT,
        currency="INR",
    ),
    SmsPattern(
        "account_transfer",
        _compile(
            r"{amount} (?:has been |is |was )?(?:transferred|sent) from (?:your )?{account}"
            # A payee written as a masked account number is not a merchant: match, don't keep.
            r" to (?:(?:a/c|acct|account)(?: no\.?)? ?[X*.]*\d+|{merchant})"
            rf"(?: via {_CHANNEL})?(?: {{ref}})? on {{date}}"
        ),
        _DEBIT,
        currency="INR",
    ),
    SmsPattern(
        "card_spent",
        _compile(
            r"{amount} (?:was )?spent (?:on|using|via|with) (?:your )?(?:\S+ ){0,3}?{account}"
            r" at {merchant} on {date}{ref_ahead}"
        ),
        _DEBIT,
        currency="INR",
    ),
    SmsPattern(
        "card_charged",
        _compile(
            r"{account} (?:was|has been) (?:charged|debited)(?: for)? {amount}"
            r" at {merchant} on {date}"
        ),
        _DEBIT,
        date_order="mdy",
        currency="USD",
    ),
    SmsPattern(
        "mpesa_paid",
        _compile(r"{mpesa_code} {amount} (?:paid|sent) to {merchant}\.? on {date}"),
        _DEBIT,
        currency="KES",
    ),
    SmsPattern(
        "mpesa_received",
        _compile(r"{mpesa_code} You have received {amount} from {merchant}\.? on {date}"),
        _CREDIT,
        currency="KES",
    ),
    SmsPattern(
        "you_spent",
        _compile(r"\bYou(?: have)? spent {amount} at {merchant} on (?:your )?{account} on {date}"),
        _DEBIT,
        currency="GBP",
    ),
    SmsPattern(
        "deposit_made",
        _compile(
            r"\bdeposit of {amount} (?:was|has been) (?:made|posted|credited)"
            r" (?:to|into) (?:your )?{account} on {date}"
        ),
        _CREDIT,
        date_order="mdy",
        currency="USD",
    ),
)


@dataclass(frozen=True, slots=True)
class NonTransactionRule:
    """Wording that marks an alert as not a transaction.

    `before_patterns` rules win over transaction patterns: an OTP or a decline quotes an amount
    and a merchant and would otherwise be read as a purchase. The others (balance, due date,
    offers) also appear in footers of genuine alerts, so they decide only when no pattern
    matched. `unless` exempts messages that also contain the given wording.
    """

    reason: str
    regex: re.Pattern[str]
    before_patterns: bool
    unless: re.Pattern[str] | None = None


_OTP_WORD = r"(?:OTP|one[- ]time pass\w*|verification code)"
NON_TRANSACTION_RULES: tuple[NonTransactionRule, ...] = (
    NonTransactionRule(
        "one-time password",
        # Names the OTP as the subject; genuine alerts end with "never share your OTP".
        re.compile(
            rf"\b\d{{4,8}} is (?:your|the) {_OTP_WORD}\b|\b{_OTP_WORD}(?: is\b|:| for\b)"
            rf"|\b(?:use|enter) (?:the )?{_OTP_WORD}\b",
            re.IGNORECASE,
        ),
        before_patterns=True,
    ),
    NonTransactionRule(
        "failed or declined transaction",
        re.compile(
            r"\b(?:declined|failed|unsuccessful|could not be (?:processed|completed))\b",
            re.IGNORECASE,
        ),
        before_patterns=True,
        # A refund for a failed payment is money coming back; "will be credited" is not yet.
        unless=re.compile(r"(?<!will be )(?<!to be )\b(?:credited|refunded)\b", re.IGNORECASE),
    ),
    NonTransactionRule(
        "payment reminder",
        re.compile(
            r"\b(?:is|are|was|falls?|will be) due\b|\bdue (?:on|by|date)\b|\breminder\b"
            r"|\b(?:minimum|min\.?|total) (?:amount )?due\b|\boverdue\b",
            re.IGNORECASE,
        ),
        before_patterns=False,
    ),
    NonTransactionRule(
        "promotional message",
        re.compile(
            r"\b(?:cashback|offers?|discount|coupon|voucher|hurry|limited period|pre-?approved"
            r"|apply now|click|win)\b|\bT&C\b|\d+ ?% off\b",
            re.IGNORECASE,
        ),
        before_patterns=False,
    ),
    NonTransactionRule(
        "balance notice",
        re.compile(r"\b(?:balance|bal)\b(?: is\b|:| as (?:on|of)\b)", re.IGNORECASE),
        before_patterns=False,
    ),
)

# Used only to explain why an unmatched message was rejected.
_MONEY_MOVED = re.compile(
    r"(?<!will be )(?<!to be )\b(?:debited|credited|spent|paid|received|charged|transferred"
    r"|withdrawn|refunded)\b",
    re.IGNORECASE,
)
_MARKED_AMOUNT = re.compile(rf"(?<![\w.,])(?:{_CURRENCY}) ?\d", re.IGNORECASE)
_ANY_DATE = re.compile(_FRAGMENTS["date"], re.IGNORECASE)
# M-PESA writes the counterparty's phone after the name ("JOHN DOE 0712345678").
_TRAILING_PHONE = re.compile(r"\s*\+?\d{9,13}$")


MAX_ALERT_LINES = 6


def split_messages(text: str) -> list[tuple[int, str]]:
    """Split an export into `(message_no, message)` pairs, numbered from 1.

    One message per line; when the text has a blank line between messages, each
    blank-line-separated block is one (possibly multi-line) message instead.
    """
    return _split(text)[0]


def _split(text: str) -> tuple[list[tuple[int, str]], bool]:
    """Split into numbered messages; also say whether blank-line blocks were used."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        stripped = line.strip()
        if stripped:
            blocks[-1].append(stripped)
        elif blocks[-1]:
            blocks.append([])
    blocks = [block for block in blocks if block]
    # A real multi-line alert is a few lines long; a long block means a one-per-line export with
    # a stray blank line, and merging its lines would silently lose alerts.
    if len(blocks) > 1 and max(len(block) for block in blocks) <= MAX_ALERT_LINES:
        return [(i, "\n".join(block)) for i, block in enumerate(blocks, start=1)], True
    lines = [line for block in blocks for line in block]
    return list(enumerate(lines, start=1)), False


def parse_sms(
    message: str, message_no: int, received: dt.date, max_chars: int = 2000
) -> RawTransaction | Reject:
    """Parse one alert into a transaction, or reject it with the reason.

    Args:
        message: the alert text as received.
        message_no: its 1-based number in the export, kept as `line_no`.
        received: when the alerts were received; supplies the year for dates written without
            one and bounds how late a date may be.
        max_chars: longer messages are rejected unread.
    """
    return _parse(message, message_no, received, max_chars)[0]


def parse_sms_file(data: bytes, received: dt.date, max_chars: int = 2000) -> ParseResult:
    """Decode an SMS export, split it into messages and parse each one.

    Raises:
        NotAStatementError: the data is binary or holds no messages at all.
    """
    result = ParseResult()
    text, encoding = decode_text(data)
    if encoding not in ("utf-8", "utf-8-sig"):
        result.warnings.append(f"not valid UTF-8; decoded as {encoding}")
    messages, blocks = _split(text)
    if not messages:
        raise NotAStatementError("no SMS messages in the input")
    matched: Counter[str] = Counter()
    for message_no, message in messages:
        parsed, pattern_name = _parse(message, message_no, received, max_chars)
        if isinstance(parsed, RawTransaction):
            result.rows.append(parsed)
        else:
            result.rejects.append(parsed)
        if pattern_name is not None:
            matched[pattern_name] += 1
    result.detected = {
        "format": "sms",
        "messages": str(len(messages)),
        "encoding": encoding,
        "layout": "blocks" if blocks else "lines",
        **{f"pattern.{name}": str(count) for name, count in sorted(matched.items())},
    }
    return result


def _parse(
    message: str, message_no: int, received: dt.date, max_chars: int
) -> tuple[RawTransaction | Reject, str | None]:
    """Parse one alert; also return the name of the pattern that matched, if any."""
    excerpt = message.strip()[:EXCERPT_CHARS]
    if len(message) > max_chars:
        return Reject(message_no, f"message longer than {max_chars} characters", excerpt), None
    text = " ".join(message.split())
    if not text:
        return Reject(message_no, "empty message"), None
    # A datetime is also a date but cannot be compared with one.
    day = received.date() if isinstance(received, dt.datetime) else received

    reason = _non_transaction_reason(text, before_patterns=True)
    if reason is not None:
        return Reject(message_no, f"not a transaction: {reason}", excerpt), None
    for pattern in SMS_PATTERNS:
        match = pattern.regex.search(text)
        if match is not None:
            return _transaction(pattern, match, text, message_no, day, excerpt), pattern.name
    reason = _non_transaction_reason(text, before_patterns=False)
    if reason is not None:
        return Reject(message_no, f"not a transaction: {reason}", excerpt), None
    return Reject(message_no, _unmatched_reason(text), excerpt), None


def _non_transaction_reason(text: str, *, before_patterns: bool) -> str | None:
    """Reason of the first applicable rule of the given phase that matches, else None."""
    for rule in NON_TRANSACTION_RULES:
        if rule.before_patterns != before_patterns or not rule.regex.search(text):
            continue
        if rule.unless is None or not rule.unless.search(text):
            return rule.reason
    return None


def _unmatched_reason(text: str) -> str:
    """Explain a message no pattern matched, as specifically as the text allows."""
    if _MONEY_MOVED.search(text):
        if not _MARKED_AMOUNT.search(text):
            return "unreadable amount: no amount in the alert"
        if not _ANY_DATE.search(text):
            return "unreadable date: no date in the alert"
    return "unrecognised alert format"


def _transaction(
    pattern: SmsPattern,
    match: re.Match[str],
    text: str,
    message_no: int,
    received: dt.date,
    excerpt: str,
) -> RawTransaction | Reject:
    """Turn a pattern match into a transaction, or reject its unreadable amount or date."""
    groups = match.groupdict()
    try:
        # parse_amount knows "INR" or "Rs" in any case but ISO codes only in upper case.
        amount = parse_amount(match["amount"].upper())
    except AmountError as exc:
        return Reject(message_no, f"unreadable amount: {exc}", excerpt)
    currency = amount.currency or pattern.currency
    if currency is None:
        return Reject(message_no, "unreadable amount: no currency", excerpt)
    try:
        amount_minor = to_minor(amount.value, currency)
    except ValueError as exc:
        return Reject(message_no, f"unreadable amount: {exc}", excerpt)
    try:
        when, has_time = _read_when(match["date"], groups.get("time"), pattern, received)
    except DateError as exc:
        return Reject(message_no, f"unreadable date: {exc}", excerpt)
    if when.date() > received + _CLOCK_SKEW:
        return Reject(
            message_no,
            f"implausible date: {when.date().isoformat()} is after the received date "
            f"{received.isoformat()}",
            excerpt,
        )
    account = groups.get("account")
    return RawTransaction(
        line_no=message_no,
        source=Source.SMS,
        txn_date=when.date(),
        description=text,
        amount_minor=amount_minor,
        currency=currency,
        direction=pattern.direction,
        posted_at=when if has_time else None,
        merchant_hint=_merchant_hint(groups.get("vpa") or groups.get("merchant")),
        account_tail=account[-4:] if account else None,
        source_ref=groups.get("ref"),
    )


def _read_when(
    date_text: str, time_text: str | None, pattern: SmsPattern, received: dt.date
) -> tuple[dt.datetime, bool]:
    """Read the alert's date (and time), taking a missing year from `received`.

    Raises:
        DateError: the date cannot be read.
    """
    text = date_text if time_text is None else f"{date_text} {time_text}"
    when, has_time = parse_datetime(text, pattern.date_order, default_year=received.year)
    if when.date() > received:
        earlier, _ = parse_datetime(text, pattern.date_order, default_year=received.year - 1)
        # Only a year-less date moves with default_year: "12/30" received on 2 January was
        # last December's.
        if earlier.year != when.year:
            when = earlier
    return when, has_time


def _merchant_hint(raw: str | None) -> str | None:
    """Clean a captured merchant: VPA local part, no trailing phone number or punctuation."""
    if raw is None:
        return None
    name = raw.strip(" .,;:-")
    vpa = next((token for token in name.split() if "@" in token), None)
    if vpa is not None:
        name = vpa.split("@", 1)[0]
    name = _TRAILING_PHONE.sub("", name).strip(" .,;:-")
    # A bare number (a phone-number VPA such as 9876543210@ybl) names a person, not a merchant.
    if not name or name.replace(" ", "").isdigit():
        return None
    return name
