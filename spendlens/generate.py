"""Realistic labeled synthetic transactions in the default taxonomy, written as CSV, JSON or SMS.

`generate_transactions` simulates a few bank accounts in different countries (US, GB, DE, FR,
NL, IN, KE; currencies USD, GBP, EUR, INR, KES) month by month from `start`: salary and other
income, rent, utilities, subscriptions and loan repayments on fixed days, card purchases at
catalog brands and at synthetic local merchants (hundreds per category, built from per-country
name templates), transfers between own accounts and to people, ATM withdrawals, bank fees and
refunds. Descriptors carry the noise real statements have: processor prefixes (`SQ *`,
`TST* `, `PAYPAL *`, `AMZN Mktp US*`), store numbers, city and state suffixes, reference ids,
truncation to the 22-25 character name field, mixed case, and PII in about 1% of rows.

Labelling decisions:

* A refund from a shop is a credit labelled with the category of the purchase it reverses
  (a returned pair of shoes is negative clothing spend, not income).
* `merchant` is the counterparty a person would name: the brand or local business, the
  employer or payroll provider for wages, the P2P app or the person for transfers, and the
  account's own bank for fees, interest, ATM withdrawals and moves between own accounts.
* `country` is where the merchant is; it differs from the account's country for purchases
  abroad, which also bring a foreign transaction fee unless both sides use the same currency.
* Kenyan accounts are M-PESA wallets: their statement lines look like M-PESA's and carry no
  MCC; elsewhere about 70% of card purchases carry one.

Everything is deterministic for a seed: one `random.Random(seed)` drives generation, name pools
are built from fixed per-country seeds, and SMS alerts are seeded by transaction id.

The words, names and templates, and the per-country and per-category tables (spending, bills),
are data: `spendlens/data/generator_vocab.yaml`, read and validated on first use (`_vocab`).
This module reads top to bottom as: the public API; the knobs that shape the simulation; the
simulation itself (accounts, income, spending, transfers, descriptors); the merchants it pays;
SMS alerts; small helpers; and last, the loader of the vocabulary file.
"""

from __future__ import annotations

import calendar
import csv
import dataclasses
import datetime as dt
import functools
import itertools
import json
import math
import random
import re
import string
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import yaml

from spendlens.catalog import load_merchant_catalog
from spendlens.ingest.types import Direction
from spendlens.money import currency_exponent, from_minor, is_currency_code
from spendlens.taxonomy import load_default_taxonomy

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DEBIT, CREDIT = Direction.DEBIT, Direction.CREDIT
CSV_HEADER = ("Date", "Description", "Amount", "Currency", "MCC", "Account", "Category")


# --- public API ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeneratedTransaction:
    """One labeled synthetic transaction; `amount_minor` is absolute, the sign is `direction`."""

    id: str
    account: str
    account_tail: str
    date: dt.date
    description: str
    merchant: str
    amount_minor: int
    currency: str
    direction: Direction
    mcc: str | None
    category: str
    country: str


def generate_transactions(
    rows: int, seed: int, start: dt.date = dt.date(2024, 1, 1)
) -> list[GeneratedTransaction]:
    """Exactly `rows` labeled transactions dated from `start` on, sorted by date.

    The data set has a few accounts (3, plus one per 3,000 rows, at most 40), spread over the
    supported countries; the same seed always gives the same transactions.

    Raises:
        ValueError: `rows` is negative.
    """
    if rows < 0:
        raise ValueError(f"rows must not be negative, got {rows}")
    if rows == 0:
        return []
    simulation = _Simulation(random.Random(seed), min(40, 3 + rows // 3000))
    drafts = simulation.run(rows, start)
    drafts.sort(key=lambda d: d.date)  # stable: same-day rows keep their generation order
    return [
        GeneratedTransaction(
            id=f"gen-{seed}-{number:08d}",
            account=d.account.number,
            account_tail=d.account.tail,
            date=d.date,
            description=d.description,
            merchant=d.merchant,
            amount_minor=d.amount_minor,
            currency=d.account.currency,
            direction=d.direction,
            mcc=d.mcc,
            category=d.category,
            country=d.country,
        )
        for number, d in enumerate(drafts[:rows], start=1)
    ]


def signed_amount(txn: GeneratedTransaction) -> str:
    """The amount as a plain signed decimal in major units: money out is negative."""
    minor = -txn.amount_minor if txn.direction is DEBIT else txn.amount_minor
    return f"{from_minor(minor, txn.currency):f}"


def write_csv(txns: Sequence[GeneratedTransaction], out: TextIO) -> None:
    """Write a bank-statement CSV: `Date,Description,Amount,Currency,MCC,Account,Category`.

    `Account` is the 4-digit account tail; `Amount` is signed (negative is money out).
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(
        (
            t.date.isoformat(),
            t.description,
            signed_amount(t),
            t.currency,
            t.mcc or "",
            t.account_tail,
            t.category,
        )
        for t in txns
    )


def write_json(txns: Sequence[GeneratedTransaction], out: TextIO) -> None:
    """Write the JSON bank feed: `{"transactions": [...]}`, `merchant_name` on about half."""
    items = []
    for t in txns:
        item: dict[str, str | None] = {
            "id": t.id,
            "account": t.account,
            "date": t.date.isoformat(),
            "amount": signed_amount(t),
            "currency": t.currency,
            "description": t.description,
        }
        # Feeds enrich some transactions only; keyed on the id so output stays deterministic.
        if zlib.crc32(t.id.encode("ascii")) % 2 == 0:
            item["merchant_name"] = t.merchant
        item["mcc"] = t.mcc
        item["category"] = t.category
        items.append(json.dumps(item, ensure_ascii=False))
    # One transaction per line: valid JSON that still diffs and greps well.
    out.write('{"transactions": [\n')
    out.write(",\n".join(items))
    out.write("\n]}\n")


def write_sms(txns: Sequence[GeneratedTransaction], out: TextIO) -> None:
    """Write one SMS alert per line for the transactions that have one, plus OTP/promo noise."""
    for _, line in sms_alerts(txns):
        out.write(line + "\n")


def sms_alerts(
    txns: Sequence[GeneratedTransaction],
) -> Iterator[tuple[GeneratedTransaction | None, str]]:
    """The lines `write_sms` writes, each with its transaction (None for OTP/promo noise).

    Each alert carries the transaction's account tail, amount, currency, date and canonical
    merchant; its shape depends on the currency (Indian bank, US card, UK/EU app, M-PESA).
    Transactions without a sensible alert (a US direct debit, a fee) get none. Every line is
    seeded by its transaction's id, so alerts do not depend on which slice is written.
    """
    for txn in txns:
        rng = random.Random(f"sms:{txn.id}")
        if rng.random() < _SMS_NOISE_RATE:
            yield None, _noise_sms(txn, rng)
        alert = _sms_alert(txn, rng)
        if alert is not None:
            yield txn, alert


# --- knobs that shape the simulation -------------------------------------------------------
# Word lists, templates, spending and bill tables and category groups are in the vocabulary
# file (`_vocab`); these are the rates and amounts the code below applies to them.

_PII_RATE = 0.01  # share of rows whose descriptor carries a name, number or card number
_MCC_RATE = 0.7  # share of card purchases whose statement line carries an MCC
_WHOLE_UNITS = {"INR": 0.7, "KES": 0.9}  # how often amounts are whole rupees or shillings
_ATM_AMOUNTS: dict[str, tuple[int, ...]] = {
    "USD": (20, 40, 60, 80, 100, 200),
    "GBP": (10, 20, 30, 50, 100),
    "EUR": (20, 50, 100, 150, 200),
    "INR": (500, 1000, 2000, 5000, 10000),
    "KES": (500, 1000, 2000, 3000, 5000, 10000),
}
_SMS_NOISE_RATE = 0.027  # per transaction: about 3% of the lines, as some rows get no alert
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€"}


# --- the simulation ------------------------------------------------------------------------

_DayFn = Callable[[int], dt.date]  # day of the simulated month -> date


@dataclass(slots=True)
class _Bill:
    """One recurring payment of one account."""

    category: str
    merchant: _Merchant | None  # None: owed to the account's own bank
    amount: float  # local currency, major units
    vary: float
    day: int  # days after the start of the month
    by_card: bool
    every: int
    phase: int  # paid in months where index % every == phase


@dataclass(slots=True)
class _Account:
    """A simulated account holder and their habits."""

    country: _Country
    bank: str
    number: str  # the account reference; its last four digits are the tail
    tail: str
    savings_tail: str
    activity: float  # mean card purchases per month
    categories: tuple[str, ...]
    cumulative: tuple[float, ...]  # cumulative category weights, for random.choices
    bills: list[_Bill]
    employer: str  # who pays the wages (a payroll provider or the employer)
    employer_alias: str
    income: str  # "wages" or "pension"
    pay: float  # monthly take-home, local currency
    pay_day: int
    biweekly: bool
    unemployed_months: int
    savings: float  # monthly transfer to savings (0: none)
    broker: _Merchant | None
    investment: float
    cash_per_month: float  # mean ATM withdrawals per month
    monthly_fee: bool
    refund_month: int  # month of the year a tax refund arrives (0: none)
    favorites: dict[str, list[_Merchant]] = field(default_factory=dict)

    @property
    def currency(self) -> str:
        """The account's currency: its country's."""
        return self.country.currency


@dataclass(slots=True)
class _Draft:
    """A transaction before it is sorted and given its id."""

    date: dt.date
    account: _Account
    description: str
    merchant: str
    amount_minor: int
    direction: Direction
    mcc: str | None
    category: str
    country: str


class _Simulation:
    """Month-by-month simulation of a few accounts, driven by one seeded PRNG."""

    def __init__(self, rng: random.Random, n_accounts: int) -> None:
        """Set up `n_accounts` account holders, spread over the countries in random order."""
        self.rng = rng
        self.vocab = _vocab()
        self.drafts: list[_Draft] = []
        countries = self.vocab.countries
        order = rng.sample(countries, len(countries))
        tails: set[str] = set()
        self.accounts = [self._account(order[i % len(order)], tails) for i in range(n_accounts)]
        self._cast_life_events()

    # - setting up accounts -

    def _cast_life_events(self) -> None:
        """Make sure a data set has a retiree and someone who starts out of work.

        Both are account-wide traits a handful of random accounts could all lack, which would
        leave pension and unemployment income out of small data sets.
        """
        if len(self.accounts) < 3:
            return
        retiree, *others = self.rng.sample(self.accounts, len(self.accounts))
        retiree.income = "pension"
        benefits = self.vocab.payers["INCOME_UNEMPLOYMENT"]
        jobless = next((a for a in others if a.country.code in benefits), None)
        if jobless is not None:
            jobless.unemployed_months = max(jobless.unemployed_months, 3)

    def _account(self, country: _Country, tails: set[str]) -> _Account:
        """A new account holder in `country`, with randomly drawn habits and bills."""
        rng, vocab = self.rng, self.vocab
        bank = rng.choice(country.banks)
        number = self._number(country, bank, tails)
        savings_tail = _digits(rng, 4)
        weights = {c: spec.weight * rng.lognormvariate(0.0, 0.5) for c, spec in vocab.spend.items()}
        if rng.random() < 0.25:  # no car
            for category in vocab.no_car:
                weights[category] *= 0.03
        if rng.random() < 0.65:  # no pet
            for category in vocab.no_pet:
                weights[category] *= 0.02
        categories = tuple(weights)
        cumulative = tuple(itertools.accumulate(weights[c] for c in categories))
        pay = country.wage * rng.lognormvariate(0.0, 0.4)
        employer, employer_alias = self._employer(country)
        broker = None
        if rng.random() < 0.4:
            brokers, _ = _merchants_in(country.code, "TRANSFER_OUT_INVESTMENT_AND_RETIREMENT_FUNDS")
            broker = rng.choice(brokers) if brokers else None
        account = _Account(
            country=country,
            bank=bank,
            number=number,
            tail=number[-4:],
            savings_tail=savings_tail,
            activity=rng.uniform(30, 85),
            categories=categories,
            cumulative=cumulative,
            bills=[],
            employer=employer,
            employer_alias=employer_alias,
            income="pension" if rng.random() < 0.05 else "wages",
            pay=pay,
            pay_day=rng.choice((0, 0, 14, 24, 27)),
            biweekly=country.code == "US" and rng.random() < 0.4,
            unemployed_months=3 if rng.random() < 0.06 else 0,
            savings=_round_transfer(pay * rng.uniform(0.05, 0.15)) if rng.random() < 0.6 else 0,
            broker=broker,
            investment=_round_transfer(pay * rng.uniform(0.04, 0.1)),
            cash_per_month=rng.choice((0.2, 1.0, 2.0, 4.0)),
            monthly_fee=rng.random() < 0.35,
            refund_month=rng.choice((3, 4, 5)) if rng.random() < 0.45 else 0,
        )
        account.bills = self._bills(account)
        return account

    def _number(self, country: _Country, bank: str, tails: set[str]) -> str:
        """An account reference ("IN-HDFC-4820193377") whose last 4 digits are unique here."""
        rng = self.rng
        code = self.vocab.bank_codes.get(bank) or re.sub(r"[^A-Z0-9]", "", bank)
        while True:
            if country.code == "KE":  # an M-PESA wallet is a phone number
                number = f"KE-MPESA-2547{_digits(rng, 8)}"
            else:
                number = f"{country.code}-{code}-{_digits(rng, 10)}"
            if number[-4:] not in tails:
                tails.add(number[-4:])
                return number

    def _employer(self, country: _Country) -> tuple[str, str]:
        """(merchant, printed name) of whoever pays the wages."""
        providers, _ = _merchants_in(country.code, "INCOME_WAGES")
        if providers and self.rng.random() < (0.35 if country.code == "US" else 0.08):
            provider = self.rng.choice(providers)
            return provider.name, self.rng.choice(provider.aliases)
        name = self.rng.choice(_employers(country.code))
        return name, name

    def _bills(self, account: _Account) -> list[_Bill]:
        """The recurring payments an account has: some of the vocabulary's bills, and housing."""
        rng, vocab = self.rng, self.vocab
        code = account.country.code
        specs = [
            s
            for s in vocab.bills
            if (s.countries is None or code in s.countries) and rng.random() < s.share
        ]
        housing = rng.random()  # renting and owning with a mortgage exclude each other
        if housing < vocab.rent.share:
            specs.append(vocab.rent)
        elif housing < vocab.rent.share + vocab.mortgage.share:
            specs.append(vocab.mortgage)
        bills = []
        for spec in specs:
            merchant = self._bill_merchant(spec, code)
            amount = self._local(account.country, spec.median) * rng.lognormvariate(
                0.0, spec.spread
            )
            if spec.by_card:
                amount = self._nice_price(amount, account.currency)
            bills.append(
                _Bill(
                    category=spec.category,
                    merchant=merchant,
                    amount=amount,
                    vary=spec.vary,
                    day=rng.randrange(28),
                    by_card=spec.by_card and code != "KE",
                    every=spec.every,
                    phase=rng.randrange(spec.every),
                )
            )
        return bills

    def _bill_merchant(self, spec: _BillSpec, country: str) -> _Merchant | None:
        """Who a bill is paid to: a brand, a local business, or (None) the account's bank."""
        brands, local = _merchants_in(country, spec.category)
        if spec.category in self.vocab.bank_loan_products and (
            not brands or self.rng.random() < 0.4
        ):
            return None
        # Subscriptions are almost always big brands; utilities and landlords are mixed.
        brand_share = 0.9 if spec.by_card else 0.6
        if brands and (not local or self.rng.random() < brand_share):
            return self.rng.choice(brands)
        return self.rng.choice(local) if local else None

    # - amounts -

    @staticmethod
    def _local(country: _Country, usd: float) -> float:
        """A US-dollar amount at US prices, in the country's currency at its prices."""
        return usd * country.price * country.fx

    def _money(self, median: float, spread: float, currency: str) -> int:
        """A log-normal amount around `median` (major units) in exact minor units."""
        rng = self.rng
        value = median * rng.lognormvariate(0.0, spread)
        scale = _scale(currency)
        if rng.random() < _WHOLE_UNITS.get(currency, 0.04):
            return max(1, round(value)) * scale
        return max(1, round(value * scale))

    @staticmethod
    def _nice_price(value: float, currency: str) -> float:
        """Subscription-style price: 15.99, 499 rupees, 1,000 shillings."""
        if currency == "INR":
            return float(max(49, round(value / 50) * 50 - 1))
        if currency == "KES":
            return float(max(50, round(value / 50) * 50))
        return math.floor(value) + 0.99

    @staticmethod
    def _minor(value: float, currency: str) -> int:
        """Major units to minor units, at least one."""
        return max(1, round(value * _scale(currency)))

    def _planned(self, amount: float, currency: str) -> int:
        """Minor units of a planned payment: whole rupees and shillings, cents elsewhere."""
        if currency in _WHOLE_UNITS:
            amount = round(amount)
        return self._minor(amount, currency)

    # - the simulation -

    def run(self, rows: int, start: dt.date) -> list[_Draft]:
        """Simulate whole months until `rows` transactions are dated before the next month.

        Refunds land a few days after their purchase, possibly in the next month; rows dated
        before the month end are final once that month has been simulated.
        """
        late: list[_Draft] = []
        index = 0
        while True:
            begin, end = _add_months(start, index), _add_months(start, index + 1)
            before = len(self.drafts)
            for account in self.accounts:
                self._month(account, index, begin, end)
            late = [d for d in itertools.chain(late, self.drafts[before:]) if d.date >= end]
            if len(self.drafts) - len(late) >= rows:
                return self.drafts
            index += 1

    def _month(self, account: _Account, index: int, begin: dt.date, end: dt.date) -> None:
        """One month of one account: income, bills, purchases, transfers, cash and fees."""
        rng = self.rng
        days = (end - begin).days

        def on(offset: int) -> dt.date:
            """The date `offset` days into the month, clamped to its last day."""
            return begin + dt.timedelta(days=min(offset, days - 1))

        self._income(account, index, begin, on)
        for bill in account.bills:
            if index % bill.every == bill.phase:
                self._bill(account, bill, on(bill.day))
        purchases = max(0, round(rng.gauss(account.activity, account.activity * 0.2)))
        for _ in range(purchases):
            self._purchase(account, on(rng.randrange(days)))
        self._transfers(account, on, days)
        self._cash(account, on, days)
        self._bank_fees(account, on, days)

    # - income -

    def _income(self, account: _Account, index: int, begin: dt.date, on: _DayFn) -> None:
        """The month's wages or benefits, and the occasional refund, dividend or side income."""
        rng, payers = self.rng, self.vocab.payers
        code = account.country.code
        benefits = payers["INCOME_UNEMPLOYMENT"].get(code)
        if index < account.unemployed_months and benefits:
            payer = benefits[int(account.tail) % len(benefits)]
            for offset in (3, 17):
                self._benefit(account, on(offset), payer, account.pay * 0.2, "INCOME_UNEMPLOYMENT")
        elif account.income == "pension":
            pensions = payers["INCOME_RETIREMENT_PENSION"][code]
            payer = pensions[int(account.tail) % len(pensions)]
            self._benefit(
                account, on(account.pay_day), payer, account.pay * 0.7, "INCOME_RETIREMENT_PENSION"
            )
        elif account.biweekly:
            for offset in (account.pay_day % 14, account.pay_day % 14 + 14):
                self._wages(account, on(offset), account.pay * 12 / 26)
        else:
            self._wages(account, on(account.pay_day), account.pay)
        if begin.month == account.refund_month:
            refunds = payers["INCOME_TAX_REFUND"][code]
            payer = refunds[int(account.tail) % len(refunds)]
            amount = self._local(account.country, 900) * rng.lognormvariate(0.0, 0.8)
            self._benefit(account, on(rng.randrange(28)), payer, amount, "INCOME_TAX_REFUND")
        if account.broker is not None and begin.month % 3 == 0:
            self._dividend(account, on(rng.randrange(28)), account.broker)
        if account.savings:
            self._interest(account, on(27))
        if rng.random() < 0.06:
            self._side_income(account, on(rng.randrange(28)))

    def _wages(self, account: _Account, day: dt.date, amount: float) -> None:
        """A salary payment from the account's employer."""
        template = self.rng.choice(self.vocab.formats["salary"][account.country.code])
        values = {"name": account.employer_alias, **_date_fields(day)}
        minor = self._planned(amount, account.currency)
        description = _fill(template, self.rng, values)
        self._emit(account, day, description, account.employer, minor, CREDIT, "INCOME_WAGES")

    def _benefit(
        self, account: _Account, day: dt.date, payer: tuple[str, str], amount: float, category: str
    ) -> None:
        """A pension, unemployment benefit or tax refund from `payer` (merchant, printed)."""
        merchant, printed = payer
        template = self.rng.choice(self.vocab.formats["benefit"][account.country.code])
        description = _fill(template, self.rng, {"name": printed, **_date_fields(day)})
        minor = self._planned(amount, account.currency)
        self._emit(account, day, description, merchant, minor, CREDIT, category)

    def _dividend(self, account: _Account, day: dt.date, broker: _Merchant) -> None:
        """A quarterly dividend paid out by the account's broker."""
        rng = self.rng
        template = rng.choice(self.vocab.formats["dividend"][account.country.code])
        description = _fill(template, rng, {"name": rng.choice(broker.aliases)})
        minor = self._money(account.investment * 0.15, 0.7, account.currency)
        self._emit(account, day, description, broker.name, minor, CREDIT, "INCOME_DIVIDENDS")

    def _interest(self, account: _Account, day: dt.date) -> None:
        """Interest the account's bank pays on savings."""
        template = self.rng.choice(self.vocab.formats["interest"][account.country.code])
        description = _fill(template, self.rng, _date_fields(day))
        minor = self._money(account.savings * 0.02, 0.9, account.currency)
        self._emit(account, day, description, account.bank, minor, CREDIT, "INCOME_INTEREST_EARNED")

    def _side_income(self, account: _Account, day: dt.date) -> None:
        """A payout from a gig or marketplace platform."""
        rng = self.rng
        payer = rng.choice(self.vocab.side_income_payers)
        template = rng.choice(self.vocab.formats["side_income"][account.country.code])
        minor = self._money(self._local(account.country, 250), 0.8, account.currency)
        description = _fill(template, rng, {"name": payer})
        self._emit(account, day, description, payer, minor, CREDIT, "INCOME_OTHER_INCOME")

    # - spending -

    def _bill(self, account: _Account, bill: _Bill, day: dt.date) -> None:
        """One payment of a recurring bill, by card or direct debit."""
        rng = self.rng
        amount = bill.amount * (rng.lognormvariate(0.0, bill.vary) if bill.vary else 1.0)
        minor = self._planned(amount, account.currency)
        mcc = None
        if bill.merchant is None:
            product = self.vocab.bank_loan_products.get(bill.category, "PAYMENT")
            merchant, country = account.bank, account.country.code
            description = self._direct_debit(account, f"{account.bank} {product}", day)
        else:
            merchant, country = bill.merchant.name, bill.merchant.country
            if bill.by_card:
                description = self._card_descriptor(account, bill.merchant, day)
                mcc = self._card_mcc(account, bill.merchant)
            else:
                name = rng.choice(bill.merchant.aliases)
                description = self._direct_debit(account, name, day)
        self._emit(account, day, description, merchant, minor, DEBIT, bill.category, mcc, country)

    def _direct_debit(self, account: _Account, name: str, day: dt.date) -> str:
        """The statement line of a direct debit to `name`."""
        template = self.rng.choice(self.vocab.formats["direct_debit"][account.country.code])
        return _fill(template, self.rng, {"name": name, **_date_fields(day)})

    def _purchase(self, account: _Account, day: dt.date) -> None:
        """A card purchase, sometimes abroad (with a fee), now and then refunded."""
        rng, vocab = self.rng, self.vocab
        category = rng.choices(account.categories, cum_weights=account.cumulative)[0]
        spec = vocab.spend[category]
        home = account.country
        where = home
        if category in vocab.abroad and home.code != "KE" and rng.random() < 0.04:
            where = rng.choice([c for c in vocab.countries if c.code not in (home.code, "KE")])
            merchant = self._fresh(where.code, category)
        else:
            merchant = self._merchant(account, category)
        # Prices follow where the shop is; the statement shows the account's currency.
        minor = self._money(spec.median * where.price * home.fx, spec.spread, account.currency)
        description = self._card_descriptor(account, merchant, day)
        mcc = self._card_mcc(account, merchant)
        name = merchant.name
        self._emit(account, day, description, name, minor, DEBIT, category, mcc, where.code)
        if where.currency != home.currency:
            fee = max(1, round(minor * 0.03))
            self._fee(account, day, "BANK_FEES_FOREIGN_TRANSACTION_FEES", minor=fee)
        if rng.random() < 0.012:
            self._refund(account, day, description, merchant, minor, category, mcc, where.code)

    def _merchant(self, account: _Account, category: str) -> _Merchant:
        """Mostly the holder's usual places for the category, sometimes somewhere new."""
        rng = self.rng
        favorites = account.favorites.get(category)
        if favorites is None:
            code = account.country.code
            favorites = [self._fresh(code, category) for _ in range(rng.randint(2, 7))]
            account.favorites[category] = favorites
        if rng.random() < 0.65:
            return rng.choice(favorites)
        return self._fresh(account.country.code, category)

    def _fresh(self, country: str, category: str) -> _Merchant:
        """A merchant of the category: a brand (big ones more often) or a local business."""
        brands, local = _merchants_in(country, category)
        if brands and (not local or self.rng.random() < 0.5):
            return self.rng.choices(brands, cum_weights=_brand_weights(country, category))[0]
        return self.rng.choice(local)

    def _card_mcc(self, account: _Account, merchant: _Merchant) -> str | None:
        """The MCC a statement shows, if any: M-PESA never does, card statements often."""
        if account.country.code == "KE" or self.rng.random() >= _MCC_RATE:
            return None
        spec = self.vocab.spend.get(merchant.category)
        return merchant.mcc or (self.rng.choice(spec.mccs) if spec else None)

    def _refund(
        self,
        account: _Account,
        day: dt.date,
        purchase: str,
        merchant: _Merchant,
        minor: int,
        category: str,
        mcc: str | None,
        country: str,
    ) -> None:
        """A full or partial refund of a purchase, labelled with the purchase's category."""
        rng = self.rng
        when = day + dt.timedelta(days=rng.randint(2, 20))
        amount = minor if rng.random() < 0.7 else max(1, round(minor * rng.uniform(0.2, 0.8)))
        template = rng.choice(self.vocab.formats["refund"][account.country.code])
        description = _fill(template, rng, {"name": purchase})
        name = merchant.name
        self._emit(account, when, description, name, amount, CREDIT, category, mcc, country)

    # - card descriptors -

    def _card_descriptor(self, account: _Account, merchant: _Merchant, day: dt.date) -> str:
        """The statement line of a card purchase, with the noise real statements have."""
        rng, vocab = self.rng, self.vocab
        code = account.country.code
        values = {"tail": account.tail, **_date_fields(day)}
        if code == "KE":
            return _fill(rng.choice(vocab.card_prefixes["KE"]), rng, values) + merchant.name
        if merchant.name == "AMAZON" and merchant.country in vocab.amazon_formats:
            formats = vocab.amazon_formats[merchant.country]
            text = _fill(rng.choice(formats), rng, {"ref": _alnum(rng, 9)})
        else:
            text = self._located(self._merchant_text(merchant), merchant)
        if rng.random() < 0.1:
            text = f"{text} {_digits(rng, rng.randint(6, 11))}"
        if rng.random() < 0.3:
            text = _fill(rng.choice(vocab.card_prefixes[code]), rng, values) + text
        casing = rng.random()
        if casing < 0.12:
            return text.title()
        return text.lower() if casing < 0.15 else text

    def _merchant_text(self, merchant: _Merchant) -> str:
        """The merchant part: an alias with a store number, or a processor-fronted name."""
        rng = self.rng
        if not merchant.brand:
            name = merchant.name
            if "'" in name and rng.random() < 0.6:  # many terminals cannot print apostrophes
                name = name.replace("'", rng.choice(("", " ")))
            toast = merchant.country == "US" and merchant.category in self.vocab.toast
            if toast and rng.random() < 0.3:
                return "TST* " + name
            processors = self.vocab.processors[merchant.country]
            if processors and rng.random() < 0.25:
                return rng.choice(processors) + name
            return name
        alias = merchant.name if rng.random() < 0.5 else rng.choice(merchant.aliases)
        star_ref = merchant.category in self.vocab.star_ref
        if star_ref and "*" not in alias and rng.random() < 0.5:
            return f"{alias}*{_alnum(rng, 8)}"
        if rng.random() < 0.45:
            store = rng.choice((" #{:04d}", " {:04d}", " #{:03d}", " STORE {:04d}", " {:05d}"))
            return alias + store.format(rng.randrange(1, 3000))
        return alias

    def _located(self, text: str, merchant: _Merchant) -> str:
        """Maybe add the city (and state) the way card networks print them, maybe truncate."""
        rng = self.rng
        if rng.random() >= 0.5:
            return self._truncated(text)
        place = merchant.city or rng.choice(self.vocab.country_by_code[merchant.country].cities)
        city, _, region = place.partition("/")
        if not region and rng.random() < 0.4:
            region = merchant.country
        if region and rng.random() < 0.35:
            # The fixed-width layout: a 25-character name field, a 13-character city field.
            return f"{text[:25]:<25}{city[:13]:<13}{region}"
        return " ".join(part for part in (self._truncated(text), city, region) if part)

    def _truncated(self, text: str) -> str:
        """Often cut a long name to the 22-25 characters a terminal's name field holds."""
        if len(text) > 22 and self.rng.random() < 0.6:
            return text[: self.rng.randint(22, 25)].rstrip()
        return text

    # - transfers, cash and fees -

    def _transfers(self, account: _Account, on: _DayFn, days: int) -> None:
        """The month's savings, investments, P2P payments and occasional other transfers."""
        rng = self.rng
        if account.savings:
            self._own(account, on(account.pay_day + 1), "savings_out", account.savings)
            if rng.random() < 0.06:
                amount = account.savings * rng.uniform(0.5, 3.0)
                self._own(account, on(rng.randrange(days)), "savings_in", amount)
        broker = account.broker
        if broker is not None:
            self._brokerage(account, broker, on(account.pay_day + 2), DEBIT, account.investment)
            if rng.random() < 0.08:
                amount = account.investment * rng.uniform(1.0, 6.0)
                self._brokerage(account, broker, on(rng.randrange(days)), CREDIT, amount)
        for _ in range(self._count(1.5)):
            self._p2p(account, on(rng.randrange(days)), DEBIT)
        for _ in range(self._count(0.7)):
            self._p2p(account, on(rng.randrange(days)), CREDIT)
        if rng.random() < 0.07:
            self._other_transfer(account, on(rng.randrange(days)), "deposit", CREDIT, 300)
        if rng.random() < 0.03:
            self._other_transfer(account, on(rng.randrange(days)), "loan_in", CREDIT, 3000)
        if rng.random() < 0.035:
            self._other_transfer(account, on(rng.randrange(days)), "wire_in", CREDIT, 800)
        if rng.random() < 0.04:
            self._other_transfer(account, on(rng.randrange(days)), "wire_out", DEBIT, 400)

    def _own(self, account: _Account, day: dt.date, kind: str, amount: float) -> None:
        """Money moved between the holder's current and savings accounts."""
        template = self.rng.choice(self.vocab.formats[kind][account.country.code])
        description = _fill(template, self.rng, {"other": account.savings_tail})
        out = kind == "savings_out"
        category = "TRANSFER_OUT_SAVINGS" if out else "TRANSFER_IN_SAVINGS"
        minor = self._planned(amount, account.currency)
        direction = DEBIT if out else CREDIT
        self._emit(account, day, description, account.bank, minor, direction, category)

    def _brokerage(
        self,
        account: _Account,
        broker: _Merchant,
        day: dt.date,
        direction: Direction,
        amount: float,
    ) -> None:
        """Money paid into (DEBIT) or taken out of (CREDIT) the holder's investments."""
        kind = "invest_out" if direction is DEBIT else "invest_in"
        template = self.rng.choice(self.vocab.formats[kind][account.country.code])
        description = _fill(template, self.rng, {"name": self.rng.choice(broker.aliases)})
        way = "OUT" if direction is DEBIT else "IN"
        category = f"TRANSFER_{way}_INVESTMENT_AND_RETIREMENT_FUNDS"
        minor = self._planned(amount, account.currency)
        self._emit(account, day, description, broker.name, minor, direction, category)

    def _p2p(self, account: _Account, day: dt.date, direction: Direction) -> None:
        """Money sent to or received from another person, directly or through an app."""
        rng = self.rng
        country = account.country
        person = f"{rng.choice(country.first_names)} {rng.choice(country.surnames)}"
        kind = "p2p_out" if direction is DEBIT else "p2p_in"
        template = rng.choice(self.vocab.formats[kind][country.code])
        description = _fill(template, rng, {"person": person})
        # The counterparty is the person when the bank prints one, else the app.
        merchant = person
        if "{person}" not in template:
            merchant = next(app for app in self.vocab.p2p_apps if template.startswith(app))
        minor = self._money(self._local(country, 60), 0.8, account.currency)
        way = "OUT" if direction is DEBIT else "IN"
        category = f"TRANSFER_{way}_ACCOUNT_TRANSFER"
        self._emit(account, day, description, merchant, minor, direction, category)
        if country.code == "KE" and direction is DEBIT and rng.random() < 0.7:
            self._fee(account, day, "BANK_FEES_OTHER_BANK_FEES", usd=0.2)

    def _other_transfer(
        self, account: _Account, day: dt.date, kind: str, direction: Direction, usd: float
    ) -> None:
        """A cash or cheque deposit, a loan paid out, or a wire or cheque in or out."""
        rng = self.rng
        country = account.country
        category, merchant = {
            "deposit": ("TRANSFER_IN_DEPOSIT", account.bank),
            "loan_in": ("TRANSFER_IN_CASH_ADVANCES_AND_LOANS", account.bank),
            "wire_in": ("TRANSFER_IN_OTHER_TRANSFER_IN", ""),
            "wire_out": ("TRANSFER_OUT_OTHER_TRANSFER_OUT", account.bank),
        }[kind]
        person = f"{rng.choice(country.first_names)} {rng.choice(country.surnames)}"
        if kind == "loan_in":
            lenders, _ = _merchants_in(country.code, "LOAN_PAYMENTS_PERSONAL_LOAN_PAYMENT")
            if lenders and rng.random() < 0.6:
                merchant = rng.choice(lenders).name
        values = {
            "name": merchant,
            "person": person,
            "bank": account.bank,
            "city": rng.choice(country.cities).split("/")[0],
            "agent": f"{rng.choice(country.words)} AGENCIES",
        }
        template = rng.choice(self.vocab.formats[kind][country.code])
        description = _fill(template, rng, values)
        minor = self._money(self._local(country, usd), 0.7, account.currency)
        self._emit(account, day, description, merchant or person, minor, direction, category)

    def _cash(self, account: _Account, on: _DayFn, days: int) -> None:
        """The month's ATM (or M-PESA agent) withdrawals, some with a fee."""
        rng = self.rng
        country = account.country
        for _ in range(self._count(account.cash_per_month)):
            day = on(rng.randrange(days))
            values = {
                "bank": account.bank,
                "city": rng.choice(country.cities).split("/")[0],
                "agent": f"{rng.choice(country.words)} AGENCIES",
                **_date_fields(day),
            }
            template = rng.choice(self.vocab.formats["atm"][country.code])
            description = _fill(template, rng, values)
            minor = self._minor(rng.choice(_ATM_AMOUNTS[account.currency]), account.currency)
            category = "TRANSFER_OUT_WITHDRAWAL"
            self._emit(account, day, description, account.bank, minor, DEBIT, category)
            # Own-network ATMs are free; other banks' machines and M-PESA agents are not.
            if country.code == "KE" or rng.random() < 0.3:
                self._fee(account, day, "BANK_FEES_ATM_FEES", usd=3.0)

    def _bank_fees(self, account: _Account, on: _DayFn, days: int) -> None:
        """The month's account fee, and the occasional overdraft, bounce or interest charge."""
        rng = self.rng
        if account.monthly_fee:
            self._fee(account, on(days - 1), "BANK_FEES_OTHER_BANK_FEES", usd=12.0)
        if rng.random() < 0.03:
            self._fee(account, on(rng.randrange(days)), "BANK_FEES_OVERDRAFT_FEES", usd=35.0)
        if rng.random() < 0.025:
            self._fee(account, on(rng.randrange(days)), "BANK_FEES_INSUFFICIENT_FUNDS", usd=35.0)
        if rng.random() < 0.03:
            self._fee(account, on(rng.randrange(days)), "BANK_FEES_INTEREST_CHARGE", usd=18.0)

    def _fee(
        self, account: _Account, day: dt.date, category: str, usd: float = 0.0, minor: int = 0
    ) -> None:
        """A bank fee: `minor` when the fee is a share of something, else about `usd`."""
        formats = self.vocab.fees[category][account.country.code]
        description = _fill(self.rng.choice(formats), self.rng, {"bank": account.bank})
        if not minor:
            minor = self._money(self._local(account.country, usd), 0.15, account.currency)
        self._emit(account, day, description, account.bank, minor, DEBIT, category)

    def _count(self, mean: float) -> int:
        """A Poisson-distributed count (Knuth's method; means here are small)."""
        limit, k, product = math.exp(-mean), 0, self.rng.random()
        while product > limit:
            k += 1
            product *= self.rng.random()
        return k

    # - output -

    def _emit(
        self,
        account: _Account,
        day: dt.date,
        description: str,
        merchant: str,
        amount_minor: int,
        direction: Direction,
        category: str,
        mcc: str | None = None,
        country: str | None = None,
    ) -> None:
        """Record a transaction, now and then with personal data in its descriptor."""
        if self.rng.random() < _PII_RATE:
            description = self._with_pii(account, description, merchant, direction, category)
        country = country or account.country.code
        self.drafts.append(
            _Draft(
                day, account, description, merchant, amount_minor, direction, mcc, category, country
            )
        )

    def _with_pii(
        self,
        account: _Account,
        description: str,
        merchant: str,
        direction: Direction,
        category: str,
    ) -> str:
        """The descriptor with personal data a masker must catch: names, numbers, a PAN."""
        rng = self.rng
        country = account.country
        to = "TO" if direction is DEBIT else "FROM"
        if category.endswith("_ACCOUNT_TRANSFER"):
            person = merchant
            if merchant in self.vocab.p2p_apps:
                person = f"{rng.choice(country.first_names)} {rng.choice(country.surnames)}"
            variant = rng.randrange(3)
            if variant == 0:
                return f"TRANSFER {to} {person} ACCT {_digits(rng, rng.randint(9, 12))}"
            if variant == 1:
                app = "ZELLE" if country.code == "US" else "PAYMENT"
                return f"{app} {to} {self._email(person)}"
            return f"PAYMENT {to} {self._phone(country)}"
        roll = rng.random()
        if roll < 0.5:
            return f"{description} CARD {rng.choice(self.vocab.test_pans)}"
        if roll < 0.75:
            return f"{description} {self._phone(country)}"
        person = f"{rng.choice(country.first_names)} {rng.choice(country.surnames)}"
        return f"{description} {self._email(person)}"

    def _phone(self, country: _Country) -> str:
        """A phone number in the country's format."""
        return re.sub("#", lambda _: str(self.rng.randrange(10)), country.phone)

    def _email(self, person: str) -> str:
        """An example.com address made from a person's name."""
        first, _, last = person.lower().partition(" ")
        local = f"{first}.{last.replace(' ', '')}" if self.rng.random() < 0.7 else first
        return f"{local}{self.rng.choice(('', '', '7', '84'))}@example.com"


# --- merchants -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Merchant:
    """Someone an account can pay: a catalog brand or a synthetic local business."""

    name: str  # canonical name, the ground truth
    category: str
    country: str
    mcc: str | None
    aliases: tuple[str, ...]  # spellings banks print; synthetic merchants have just the name
    brand: bool
    city: str = ""  # where a local business is ("AUSTIN/TX"); brands are everywhere


def _merchants_in(
    country: str, category: str
) -> tuple[tuple[_Merchant, ...], tuple[_Merchant, ...]]:
    """(catalog brands, synthetic local merchants) of a category in a country."""
    return _brands().get((country, category), ()), _local_merchants(country).get(category, ())


@functools.cache
def _brands() -> dict[tuple[str, str], tuple[_Merchant, ...]]:
    """Catalog merchants by (country, category)."""
    countries = _vocab().country_by_code
    found: dict[tuple[str, str], list[_Merchant]] = {}
    for entry in load_merchant_catalog():
        for country in entry.countries:
            if country in countries:
                merchant = _Merchant(
                    entry.name, entry.category, country, entry.mcc, entry.aliases, brand=True
                )
                found.setdefault((country, entry.category), []).append(merchant)
    return {key: tuple(value) for key, value in found.items()}


@functools.cache
def _brand_weights(country: str, category: str) -> tuple[float, ...]:
    """Cumulative Zipf-like popularity of a category's brands in a country.

    The catalog lists each category's market leaders first (Amazon, Walmart, Starbucks), so
    rank stands in for market share.
    """
    brands = _brands().get((country, category), ())
    return tuple(itertools.accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(brands))))


@functools.cache
def _local_merchants(country_code: str) -> dict[str, tuple[_Merchant, ...]]:
    """Synthetic local businesses of one country, per category; the same for every seed.

    Names are unique within the country across categories (so a name has one label) and
    never start like a catalog brand (so the brand's aliases keep meaning the brand).
    """
    vocab = _vocab()
    country = vocab.country_by_code[country_code]
    rng = random.Random(f"spendlens-local-merchants:{country_code}")
    used: set[str] = set()
    pools: dict[str, tuple[_Merchant, ...]] = {}
    for category, by_country in vocab.merchant_templates.items():
        spec = vocab.spend.get(category)
        size = spec.pool if spec else 40
        templates = by_country[country_code]
        pool: list[_Merchant] = []
        for _ in range(size * 6):
            if len(pool) >= size:
                break
            fields = _name_fields(rng, country)
            name = rng.choice(templates).format(**fields)
            if len(name) > 34 or name in used or _looks_like_brand(name):
                continue
            used.add(name)
            mcc = rng.choice(spec.mccs) if spec else None
            pool.append(
                _Merchant(name, category, country_code, mcc, (name,), False, fields["place"])
            )
        pools[category] = tuple(pool)
    return pools


@functools.cache
def _employers(country_code: str) -> tuple[str, ...]:
    """Synthetic employers of one country; the same for every seed."""
    vocab = _vocab()
    country = vocab.country_by_code[country_code]
    rng = random.Random(f"spendlens-employers:{country_code}")
    names = {
        rng.choice(vocab.company_templates).format(**_name_fields(rng, country)) for _ in range(300)
    }
    return tuple(sorted(n for n in names if not _looks_like_brand(n)))


def _name_fields(rng: random.Random, country: _Country) -> dict[str, str]:
    """Values for every name-template placeholder (`_NAME_FIELDS`), from the country's lists."""
    surname, surname2 = rng.sample(country.surnames, 2)
    place = rng.choice(country.cities)
    return {
        "surname": surname,
        "surname2": surname2,
        "first": rng.choice(country.first_names),
        "place": place,
        "city": place.split("/")[0],
        "word": rng.choice(country.words),
        "industry": rng.choice(country.industries),
        "corp": rng.choice(country.corp_suffixes),
    }


def _looks_like_brand(name: str) -> bool:
    """Whether a synthetic name starts like a catalog alias, which it must not."""
    words = _collapse(name).split()
    reserved = _brand_prefixes()
    return any(" ".join(words[:n]) in reserved for n in range(1, len(words) + 1))


@functools.cache
def _brand_prefixes() -> frozenset[str]:
    """Every catalog alias, collapsed: a synthetic name must not start like a brand."""
    return frozenset(
        _collapse(alias) for entry in load_merchant_catalog() for alias in entry.aliases
    )


# --- SMS alerts ----------------------------------------------------------------------------


def _sms_alert(txn: GeneratedTransaction, rng: random.Random) -> str | None:
    """The alert a bank texts about `txn` (by currency), or None if it sends none."""
    if txn.currency == "INR":
        return _inr_alert(txn, rng)
    if txn.currency == "KES":
        return _mpesa_alert(txn, rng)
    symbol = _SYMBOLS.get(txn.currency)
    if symbol is None:
        return None
    amount, tail, merchant = f"{symbol}{_grouped(txn)}", txn.account_tail, txn.merchant
    card = txn.category in _card_alert_categories()
    if txn.currency == "USD":
        mdy = txn.date.strftime("%m/%d/%y")
        if txn.direction is CREDIT:
            return f"A deposit of {amount} was made to your account ending {tail} on {mdy}."
        if not card:
            return None
        return rng.choice(
            (
                f"Your card ending {tail} was charged {amount} at {merchant} on {mdy}.",
                f"Your debit card ending in {tail} has been charged for {amount} at {merchant}"
                f" on {mdy} at {_clock(rng)}. Reply STOP to end alerts.",
            )
        )
    dmy = txn.date.strftime("%d/%m/%Y")
    if txn.direction is CREDIT:
        source = f" from {merchant}" if rng.random() < 0.6 else ""
        return f"{amount} has been credited to your account ending {tail} on {dmy}{source}."
    if not card:
        return None
    return f"You spent {amount} at {merchant} on your card ending {tail} on {dmy}"


@functools.cache
def _card_alert_categories() -> frozenset[str]:
    """Card alerts only for what is bought by card: insurance or childcare arrive by debit."""
    vocab = _vocab()
    return frozenset(vocab.spend) - {b.category for b in vocab.bills if not b.by_card}


def _inr_alert(txn: GeneratedTransaction, rng: random.Random) -> str:
    """An Indian bank's alert: card spend, UPI, IMPS or NEFT, debit or credit."""
    amount = rng.choice(("INR {}", "Rs.{}", "Rs {}", "₹{}")).format(_grouped(txn, indian=True))
    ac = f"A/c XX{txn.account_tail}"
    dmy = txn.date.strftime("%d-%m-%y")
    balance = f"INR {_balance(txn, rng)}"
    person = txn.category.endswith("_ACCOUNT_TRANSFER")
    spend = _vocab().spend
    if txn.direction is CREDIT:
        if txn.category in spend:
            return (
                f"Refund of {amount} from {txn.merchant} has been credited to your {ac} on {dmy}."
            )
        if person and rng.random() < 0.5:
            return (
                f"{amount} credited to {ac} on {dmy} from VPA {_vpa(txn.merchant, rng)}"
                f" (UPI Ref No {_digits(rng, 12)})"
            )
        return f"Your {ac} is credited with {amount} on {dmy} by NEFT from {txn.merchant}."
    if person:
        if rng.random() < 0.5:
            return (
                f"{amount} transferred from {ac} to {txn.merchant} via IMPS"
                f" Ref {_digits(rng, 12)} on {dmy}."
            )
        return (
            f"{amount} debited from {ac} on {dmy} to VPA {_vpa(txn.merchant, rng)}."
            f" UPI Ref No {_digits(rng, 12)}. Not you? Call 18001234567"
        )
    if txn.category in spend and rng.random() < 0.4:
        bank = txn.account.split("-")[1]
        day = f"{txn.date.day:02d}-{_MONTHS[txn.date.month - 1].title()}-{txn.date:%y}"
        return (
            f"{amount} spent on your {bank} Debit Card XX{txn.account_tail} at {txn.merchant}"
            f" on {day}. Avl bal: {balance}"
        )
    return f"{amount} debited from {ac} on {dmy} at {txn.merchant}. Avl bal {balance}"


def _mpesa_alert(txn: GeneratedTransaction, rng: random.Random) -> str | None:
    """An M-PESA confirmation, or None for rows M-PESA does not text about."""
    if txn.category in _vocab().no_alert_ke or txn.category.startswith("BANK_FEES"):
        return None
    code = "".join(rng.choices(_ALNUM, k=10))
    amount = f"Ksh{_grouped(txn)}"
    when = f"{txn.date.day}/{txn.date.month}/{txn.date:%y} at {_clock(rng)}"
    balance = f"New M-PESA balance is Ksh{_balance(txn, rng)}."
    phone = f"07{_digits(rng, 8)}"
    if txn.direction is CREDIT:
        return (
            f"{code} Confirmed. You have received {amount} from {txn.merchant} {phone}"
            f" on {when} {balance}"
        )
    if txn.category.endswith("_ACCOUNT_TRANSFER"):
        return f"{code} Confirmed. {amount} sent to {txn.merchant} {phone} on {when}. {balance}"
    return (
        f"{code} Confirmed. {amount} paid to {txn.merchant}. on {when}. {balance}"
        " Transaction cost, Ksh0.00."
    )


def _noise_sms(txn: GeneratedTransaction, rng: random.Random) -> str:
    """An OTP, promotion or decline quoting the transaction: text a parser must reject."""
    symbol = {"INR": "Rs.", "KES": "Ksh"}.get(txn.currency) or _SYMBOLS.get(txn.currency, "")
    amount = f"{symbol}{_grouped(txn)}"
    otp = _digits(rng, 6)
    return rng.choice(
        (
            f"{otp} is your OTP for a transaction of {amount} at {txn.merchant} on card ending"
            f" {txn.account_tail}. Valid for 10 minutes. Do not share it with anyone.",
            f"Use OTP {otp} to complete your payment of {amount} at {txn.merchant}."
            " Never share your OTP.",
            f"Your verification code is {otp}. It expires in 10 minutes.",
            f"Get {rng.choice((5, 10, 15, 20))}% cashback on your next order at {txn.merchant}!"
            " Limited period offer. T&C apply.",
            f"Pre-approved personal loan of {symbol}{rng.choice(('5,000', '25,000', '2,00,000'))}"
            " is waiting for you. Apply now: example.com/loan",
            f"Your payment of {amount} at {txn.merchant} was declined due to insufficient funds.",
        )
    )


def _grouped(txn: GeneratedTransaction, *, indian: bool = False) -> str:
    """The absolute amount with thousands separators ("2,500.00"; "1,00,000.00" if Indian)."""
    text = f"{from_minor(txn.amount_minor, txn.currency):,f}"
    if not indian:
        return text
    whole, dot, cents = text.replace(",", "").partition(".")
    if len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        head = ",".join(re.findall(r"\d{1,2}(?=(?:\d{2})*$)", head))
        whole = f"{head},{tail}"
    return whole + dot + cents


def _balance(txn: GeneratedTransaction, rng: random.Random) -> str:
    """A plausible available balance after the transaction."""
    minor = txn.amount_minor * rng.randint(2, 40) + rng.randrange(100)
    return f"{from_minor(minor, txn.currency):,f}"


def _clock(rng: random.Random) -> str:
    """A time of day as alerts print it ("9:05 PM")."""
    return f"{rng.randint(1, 12)}:{rng.randrange(60):02d} {rng.choice(('AM', 'PM'))}"


def _vpa(name: str, rng: random.Random) -> str:
    """A UPI virtual payment address made from a name."""
    handle = rng.choice(("okaxis", "ybl", "paytm", "icici", "okhdfcbank", "oksbi"))
    local = re.sub(r"[^a-z0-9.]", "", name.lower().replace(" ", "."))[:24] or "merchant"
    return f"{local}@{handle}"


# --- small helpers -------------------------------------------------------------------------

_FIELD_RE = re.compile(r"\{(\w+)\}")
_ALNUM = string.ascii_uppercase + string.digits


def _fill(template: str, rng: random.Random, values: dict[str, str]) -> str:
    """Substitute `{field}`s from `values`, drawing random numbers for the rest."""

    def one(match: re.Match[str]) -> str:
        """The value of one `{field}`."""
        key = match.group(1)
        return values[key] if key in values else _RANDOM_FIELDS[key](rng)

    return _FIELD_RE.sub(one, template)


def _digits(rng: random.Random, n: int) -> str:
    """A random `n`-digit number without a leading zero."""
    return str(rng.randrange(10 ** (n - 1), 10**n))


def _alnum(rng: random.Random, n: int) -> str:
    """A random upper-case alphanumeric reference."""
    return "".join(rng.choices(_ALNUM, k=n))


# The random numbers templates may use besides the values the caller fills in.
_RANDOM_FIELDS: dict[str, Callable[[random.Random], str]] = {
    "ref": lambda rng: _digits(rng, rng.randint(6, 11)),
    "ref2": lambda rng: _digits(rng, 3),
    "till": lambda rng: _digits(rng, 6),
    "checkno": lambda rng: str(rng.randint(1001, 4999)),
}


def _date_fields(day: dt.date) -> dict[str, str]:
    """The date placeholders of a template: {month} {year} {md} {mmdd} {ddmm} {yymmdd}."""
    return {
        "month": _MONTHS[day.month - 1],
        "year": str(day.year),
        "md": f"{day.month:02d}/{day.day:02d}",
        "mmdd": f"{day.month:02d}{day.day:02d}",
        "ddmm": f"{day.day:02d}/{day.month:02d}",
        "yymmdd": day.strftime("%y%m%d"),
    }


def _scale(currency: str) -> int:
    """Minor units per major unit (100 for cents)."""
    return int(10 ** currency_exponent(currency))


def _collapse(text: str) -> str:
    """Upper case, no apostrophes, other punctuation as spaces: how aliases are compared."""
    text = text.upper().replace("'", "")
    return " ".join(re.sub(r"[^A-Z0-9&]+", " ", text).split())


def _round_transfer(value: float) -> float:
    """Round a planned transfer the way people do: to 10, 50 or 100."""
    step = 100 if value > 2000 else 50 if value > 300 else 10
    return float(max(step, round(value / step) * step))


def _add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's end (Jan 31 + 1 -> Feb 29)."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


# --- the vocabulary file -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Country:
    """What varies by country: money, price levels, places, names and how banks print."""

    code: str
    currency: str
    fx: float  # local currency units per US dollar
    price: float  # price level relative to the US: the same basket costs less in Pune
    wage: float  # typical monthly take-home pay, local currency
    phone: str  # PII noise format; '#' is a random digit
    template_families: tuple[str, ...]  # merchant name template families, own first, then EN
    banks: tuple[str, ...]
    cities: tuple[str, ...]  # "AUSTIN/TX": city, then the region code banks print after it
    surnames: tuple[str, ...]
    first_names: tuple[str, ...]
    words: tuple[str, ...]  # single words for synthetic business names
    corp_suffixes: tuple[str, ...]
    industries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Spend:
    """How people buy in one category: how often, how much, under which codes."""

    weight: float  # relative share of card purchases
    median: float  # typical ticket in US dollars at US prices
    spread: float  # sigma of the log-normal around the median
    mccs: tuple[str, ...]  # codes given to synthetic merchants of the category
    pool: int  # synthetic local merchants per country


@dataclass(frozen=True, slots=True)
class _BillSpec:
    """A recurring payment some accounts have, on a fixed day of the month."""

    category: str
    share: float  # fraction of accounts that have it
    median: float  # amount per payment in US dollars at US prices
    spread: float  # how much the amount differs between accounts
    vary: float = 0.0  # month-to-month variation: metered utilities vary, loans do not
    by_card: bool = False  # a card subscription (has an MCC) rather than a direct debit
    every: int = 1  # months between payments
    countries: frozenset[str] | None = None  # where this kind of bill exists (None: all)


_PerCountry = Mapping[str, tuple[str, ...]]  # country code -> templates or names


@dataclass(frozen=True, slots=True)
class _Vocab:
    """The content of generator_vocab.yaml, validated; the file documents each table."""

    countries: tuple[_Country, ...]  # in file order, which seeded draws depend on
    country_by_code: Mapping[str, _Country]
    bank_codes: Mapping[str, str]
    spend: Mapping[str, _Spend]  # card purchases by category, in file order
    bills: tuple[_BillSpec, ...]
    rent: _BillSpec
    mortgage: _BillSpec
    bank_loan_products: Mapping[str, str]
    abroad: frozenset[str]
    star_ref: frozenset[str]
    toast: frozenset[str]
    no_car: tuple[str, ...]
    no_pet: tuple[str, ...]
    no_alert_ke: frozenset[str]
    merchant_templates: Mapping[str, _PerCountry]  # by category, in file order
    company_templates: tuple[str, ...]
    formats: Mapping[str, _PerCountry]  # by kind of row; EN where a country has none
    fees: Mapping[str, _PerCountry]  # by fee category; EN where a country has none
    payers: Mapping[str, Mapping[str, tuple[tuple[str, str], ...]]]  # (merchant, printed)
    side_income_payers: tuple[str, ...]
    p2p_apps: tuple[str, ...]
    amazon_formats: _PerCountry
    card_prefixes: _PerCountry
    processors: _PerCountry
    test_pans: tuple[str, ...]


_VOCAB_FILE = "generator_vocab.yaml"


@functools.cache
def _vocab() -> _Vocab:
    """The packaged vocabulary, read and validated once, on first use."""
    text = (resources.files("spendlens") / "data" / _VOCAB_FILE).read_text(encoding="utf-8")
    return _parse_vocab(yaml.safe_load(text))


# The {fields} each table's templates may use. Name templates get `_name_fields`; the others
# get what their caller fills in, and the random numbers of `_RANDOM_FIELDS`.
_NAME_FIELDS = ("surname", "surname2", "first", "place", "city", "word", "industry", "corp")
_DATE = ("month", "year", "md", "mmdd", "ddmm", "yymmdd")
_OTHER_TRANSFER = ("name", "person", "bank", "city", "agent")
_CARD_PREFIX_FIELDS = ("tail", *_DATE, *_RANDOM_FIELDS)
_FORMAT_FIELDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("direct_debit", "salary", "benefit"), ("name", *_DATE)),
    **dict.fromkeys(("dividend", "side_income", "invest_out", "invest_in", "refund"), ("name",)),
    **dict.fromkeys(("p2p_out", "p2p_in"), ("person",)),
    **dict.fromkeys(("savings_out", "savings_in"), ("other",)),
    **dict.fromkeys(("deposit", "loan_in", "wire_in", "wire_out"), _OTHER_TRANSFER),
    "interest": _DATE,
    "atm": ("bank", "city", "agent", *_DATE),
}
_FEE_CATEGORIES = (
    *("BANK_FEES_ATM_FEES", "BANK_FEES_FOREIGN_TRANSACTION_FEES", "BANK_FEES_OVERDRAFT_FEES"),
    *("BANK_FEES_INSUFFICIENT_FUNDS", "BANK_FEES_INTEREST_CHARGE", "BANK_FEES_OTHER_BANK_FEES"),
)
_PAYER_CATEGORIES = ("INCOME_RETIREMENT_PENSION", "INCOME_UNEMPLOYMENT", "INCOME_TAX_REFUND")
_GROUPS = ("abroad", "star_ref", "toast", "no_car", "no_pet", "no_alert_ke")
_TOP_KEYS = (
    *("countries", "bank_codes", "spend", "bills", "rent", "mortgage", "bank_loan_products"),
    *("category_groups", "merchant_templates", "company_templates", "formats", "fees"),
    *("payers", "side_income_payers", "p2p_apps", "amazon_formats", "card_prefixes"),
    *("processors", "test_pans"),
)


def _parse_vocab(data: Mapping[str, Any]) -> _Vocab:
    """Validate the content of generator_vocab.yaml and build the typed tables from it.

    Raises:
        ValueError: a key is missing, unknown or malformed, e.g. a category that is not a
            detailed default-taxonomy label, an undefined country, or a template with a
            `{field}` its table does not fill; the message names the key.
    """
    top = _keys(data, "", _TOP_KEYS, "unknown key", _TOP_KEYS)
    labels = frozenset(load_default_taxonomy().leaves())
    countries = tuple(
        _record(_Country, entry, f"countries.{code}", code=code)
        for code, entry in _keys(top["countries"], "countries", None, "").items()
    )
    codes = tuple(c.code for c in countries)
    for country in countries:
        if not re.fullmatch(r"[A-Z]{2}", country.code):
            raise _bad(f"countries.{country.code}", "not a two-letter ISO 3166 code")
        if not is_currency_code(country.currency) or country.currency not in _ATM_AMOUNTS:
            problem = f"{country.currency!r} is not a currency of _ATM_AMOUNTS"
            raise _bad(f"countries.{country.code}.currency", problem)
    families = {"EN", *(family for c in countries for family in c.template_families)}

    def by_label(key: str) -> Mapping[str, Any]:
        """The top-level table `key`, keyed by detailed default-taxonomy labels."""
        return _keys(top[key], key, labels, "not a detailed default-taxonomy label")

    def by_country(key: str, required: Iterable[str] = ()) -> Mapping[str, Any]:
        """The top-level table `key`, keyed by the codes of defined countries."""
        return _keys(top[key], key, codes, "not a country defined under `countries`", required)

    def bill(entry: object, where: str) -> _BillSpec:
        """One `bills` entry, or `rent` or `mortgage`."""
        spec = _record(_BillSpec, entry, where)
        if spec.category not in labels:
            raise _bad(f"{where}.category", f"{spec.category} is not a default-taxonomy label")
        if spec.countries is not None and not spec.countries <= set(codes):
            raise _bad(f"{where}.countries", f"undefined country in {sorted(spec.countries)}")
        return spec

    def per_country(table: object, where: str, fields: Sequence[str], own: bool) -> _PerCountry:
        """Templates by family or country, resolved per country: its own, else EN's."""
        allowed = (*codes, "EN") if own else families
        by_key = _keys(table, where, allowed, "unknown template family")
        found = {key: _templates(value, f"{where}.{key}", fields) for key, value in by_key.items()}
        resolved = {}
        for country in countries:
            keys = (country.code,) if own else country.template_families
            templates = tuple(t for key in keys for t in found.get(key, ())) or found.get("EN")
            if not templates:
                raise _bad(where, f"no templates for {country.code}: add {country.code} or EN")
            resolved[country.code] = templates
        return resolved

    groups = _keys(top["category_groups"], "category_groups", _GROUPS, "unknown group", _GROUPS)
    group = {key: _strings(groups[key], f"category_groups.{key}") for key in _GROUPS}
    for key, members in group.items():
        _keys(dict.fromkeys(members), f"category_groups.{key}", labels, "not a taxonomy label")
    spend = {
        category: _record(_Spend, entry, f"spend.{category}")
        for category, entry in by_label("spend").items()
    }
    for category, spec in spend.items():
        if not all(re.fullmatch(r"[0-9]{4}", mcc) for mcc in spec.mccs):
            raise _bad(f"spend.{category}.mccs", "MCCs are quoted four-digit codes")
    bank_names = {bank for c in countries for bank in c.banks}
    bank_codes = _keys(top["bank_codes"], "bank_codes", bank_names, "not a bank of any country")
    payers = _keys(top["payers"], "payers", _PAYER_CATEGORIES, "unknown kind", _PAYER_CATEGORIES)
    formats = _keys(top["formats"], "formats", _FORMAT_FIELDS, "unknown kind", _FORMAT_FIELDS)
    fees = _keys(top["fees"], "fees", _FEE_CATEGORIES, "unknown fee category", _FEE_CATEGORIES)
    if not isinstance(top["bills"], list):
        raise _bad("bills", "expected a list of bills")
    vocab = _Vocab(
        countries=countries,
        country_by_code={c.code: c for c in countries},
        bank_codes={bank: _text(code, f"bank_codes.{bank}") for bank, code in bank_codes.items()},
        spend=spend,
        bills=tuple(bill(entry, f"bills[{i}]") for i, entry in enumerate(top["bills"])),
        rent=bill(top["rent"], "rent"),
        mortgage=bill(top["mortgage"], "mortgage"),
        bank_loan_products={
            category: _text(product, f"bank_loan_products.{category}")
            for category, product in by_label("bank_loan_products").items()
        },
        abroad=frozenset(group["abroad"]),
        star_ref=frozenset(group["star_ref"]),
        toast=frozenset(group["toast"]),
        no_car=group["no_car"],
        no_pet=group["no_pet"],
        no_alert_ke=frozenset(group["no_alert_ke"]),
        merchant_templates={
            category: per_country(table, f"merchant_templates.{category}", _NAME_FIELDS, False)
            for category, table in by_label("merchant_templates").items()
        },
        company_templates=_templates(top["company_templates"], "company_templates", _NAME_FIELDS),
        formats={
            kind: per_country(formats[kind], f"formats.{kind}", (*fields, *_RANDOM_FIELDS), True)
            for kind, fields in _FORMAT_FIELDS.items()
        },
        fees={
            category: per_country(
                fees[category], f"fees.{category}", ("bank", *_RANDOM_FIELDS), True
            )
            for category in _FEE_CATEGORIES
        },
        payers={
            category: _payers(payers[category], f"payers.{category}", codes, category)
            for category in _PAYER_CATEGORIES
        },
        side_income_payers=_strings(top["side_income_payers"], "side_income_payers"),
        p2p_apps=_strings(top["p2p_apps"], "p2p_apps"),
        amazon_formats={
            code: _templates(templates, f"amazon_formats.{code}", tuple(_RANDOM_FIELDS))
            for code, templates in by_country("amazon_formats").items()
        },
        card_prefixes={
            code: _templates(templates, f"card_prefixes.{code}", _CARD_PREFIX_FIELDS)
            for code, templates in by_country("card_prefixes", codes).items()
        },
        processors={
            code: _strings(names, f"processors.{code}", empty=True)
            for code, names in by_country("processors", codes).items()
        },
        test_pans=_strings(top["test_pans"], "test_pans"),
    )
    _cross_check(vocab)
    return vocab


def _cross_check(vocab: _Vocab) -> None:
    """Checks across tables: purchases find local merchants, P2P lines name a counterparty."""
    for category in vocab.spend:  # purchases need local merchants where no brand trades
        if category not in vocab.merchant_templates:
            raise _bad(f"merchant_templates.{category}", "missing (the category has `spend`)")
    for kind in ("p2p_out", "p2p_in"):  # the app is the counterparty when no person is printed
        for code, templates in vocab.formats[kind].items():
            for text in templates:
                if "{person}" not in text and not text.startswith(vocab.p2p_apps):
                    raise _bad(f"formats.{kind}.{code}", f"{text!r}: no {{person}}, no p2p app")


def _payers(
    data: object, where: str, codes: Sequence[str], category: str
) -> Mapping[str, tuple[tuple[str, str], ...]]:
    """One `payers` category: [merchant, printed] pairs per country (all but for benefits)."""
    required = () if category == "INCOME_UNEMPLOYMENT" else codes
    table = _keys(data, where, codes, "not a country defined under `countries`", required)
    found = {}
    for code, pairs in table.items():
        if not isinstance(pairs, list) or not pairs:
            raise _bad(f"{where}.{code}", "expected a non-empty list of [merchant, printed]")
        checked = [_strings(pair, f"{where}.{code}[{i}]") for i, pair in enumerate(pairs)]
        if any(len(pair) != 2 for pair in checked):
            raise _bad(f"{where}.{code}", "expected a list of [merchant, printed] pairs")
        found[code] = tuple((merchant, printed) for merchant, printed in checked)
    return found


def _templates(data: object, where: str, fields: Collection[str]) -> tuple[str, ...]:
    """A list of templates whose `{field}`s are all in `fields`, without format specs."""
    templates = _strings(data, where)
    for i, text in enumerate(templates):
        try:
            parts = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise _bad(f"{where}[{i}]", f"malformed template {text!r}: {exc}") from None
        for literal, name, spec, conversion in parts:
            if "{" in literal or "}" in literal:
                raise _bad(f"{where}[{i}]", f"stray brace in template {text!r}")
            if name is not None and name not in fields:
                known = ", ".join(sorted(fields))
                raise _bad(f"{where}[{i}]", f"unknown field {{{name}}} in {text!r}; known: {known}")
            if spec or conversion:
                raise _bad(f"{where}[{i}]", f"{{{name}}} takes no format spec in {text!r}")
    return templates


_D = TypeVar("_D", bound="DataclassInstance")


def _record(cls: type[_D], data: object, where: str, **given: Any) -> _D:
    """A dataclass from a mapping of its fields (those without a default are required)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in given}
    required = [name for name, f in fields.items() if f.default is dataclasses.MISSING]
    table = _keys(data, where, fields, "unknown key", required)
    for name, value in table.items():
        given[name] = _FIELD_TYPES[str(fields[name].type)](value, f"{where}.{name}")
    return cls(**given)


def _keys(
    data: object,
    where: str,
    allowed: Collection[str] | None,
    problem: str,
    required: Iterable[str] = (),
) -> Mapping[str, Any]:
    """A non-empty mapping whose keys are all `allowed` (else `problem`) and include `required`."""
    if not isinstance(data, Mapping) or not data or not all(isinstance(k, str) for k in data):
        raise _bad(where, "expected a non-empty mapping with string keys")
    for key in data:
        if allowed is not None and key not in allowed:
            raise _bad(f"{where}.{key}".lstrip("."), problem)
    for key in required:
        if key not in data:
            raise _bad(f"{where}.{key}".lstrip("."), "missing")
    return data


def _strings(data: object, where: str, *, empty: bool = False) -> tuple[str, ...]:
    """A list of non-empty strings (quote what YAML reads otherwise: NO, 0742, 1.5)."""
    if not isinstance(data, list) or not (data or empty):
        raise _bad(where, f"expected a non-empty list, got {data!r}")
    return tuple(_text(item, f"{where}[{i}]") for i, item in enumerate(data))


def _text(data: object, where: str) -> str:
    """A non-empty string."""
    if not isinstance(data, str) or not data.strip():
        raise _bad(where, f"expected a non-empty string, got {data!r}")
    return data


def _number(data: object, where: str) -> float:
    """A non-negative number."""
    if isinstance(data, bool) or not isinstance(data, int | float) or data < 0:
        raise _bad(where, f"expected a non-negative number, got {data!r}")
    return float(data)


def _whole(data: object, where: str) -> int:
    """A positive whole number."""
    if isinstance(data, bool) or not isinstance(data, int) or data < 1:
        raise _bad(where, f"expected a positive whole number, got {data!r}")
    return data


def _flag(data: object, where: str) -> bool:
    """true or false."""
    if not isinstance(data, bool):
        raise _bad(where, f"expected true or false, got {data!r}")
    return data


# How `_record` reads a field of each annotated type.
_FIELD_TYPES: dict[str, Callable[[object, str], object]] = {
    "str": _text,
    "float": _number,
    "int": _whole,
    "bool": _flag,
    "tuple[str, ...]": _strings,
    "frozenset[str] | None": lambda data, where: frozenset(_strings(data, where)),
}


def _bad(where: str, problem: str) -> ValueError:
    """The error for a malformed vocabulary entry, naming where it is."""
    return ValueError(f"{_VOCAB_FILE}: {where or 'top level'}: {problem}")
