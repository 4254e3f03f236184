"""Money, the same way in every service: `google.type.Money` on the wire, an integer of minor units
plus an ISO 4217 code everywhere else (domain code, databases, bus handlers).

    amount = to_minor(request.price, "event.price", max_major=MAX_PRICE_MAJOR)  # Amount(1250, "EUR")
    total = amount.times(seats)                                                 # Amount(3750, "EUR")
    reply.price.CopyFrom(from_minor(amount.minor, amount.currency))

Why integers of minor units: a float cannot hold 0.10 exactly, and sums of refunds must equal what
was captured to the cent. Why a table of exponents: "minor unit" means cents for EUR, nothing for
JPY (exponent 0) and fils for KWD (exponent 3); `nanos` that do not make a whole minor unit
(EUR 12.345) are the client's error, never silently rounded.

Bounds: a price per seat is at most 1,000,000.00 in the currency's major unit (`MAX_PRICE_MAJOR`);
any amount (a booking's total: price x at most 100,000 seats, a refund) at most `MAX_AMOUNT_MAJOR`.
With the largest exponent in the table (4) that is below 10^15 minor units, so every total and
every sum of a few thousand of them fits PostgreSQL's bigint (about 9.2 x 10^18) with room to spare.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from google.type import money_pb2

from services.runtime.errors import FieldViolation, ServiceError, invalid_argument

# A price per seat, in the currency's major unit (euros, yen, dinars).
MAX_PRICE_MAJOR = 1_000_000
# Any amount: a price for the most seats one event can have (events' MAX_CAPACITY, 100,000).
MAX_AMOUNT_MAJOR = MAX_PRICE_MAJOR * 100_000

_NANOS_PER_UNIT = 1_000_000_000

# ISO 4217 currencies in circulation and their minor-unit exponents (the list's "minor unit"
# column). Fund codes (BOV, CLF, USN, ...), precious metals (XAU, ...) and withdrawn codes (HRK,
# BGN since 2026, ANG, SLL, ...) are left out: nobody sells tickets in them.
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "UYW"
_EXPONENT_2 = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
    CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL
    HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH
    USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
"""
CURRENCY_EXPONENTS: Mapping[str, int] = {
    code: digits
    for codes, digits in ((_EXPONENT_0, 0), (_EXPONENT_2, 2), (_EXPONENT_3, 3), (_EXPONENT_4, 4))
    for code in codes.split()
}

# Minor units per major unit, by exponent.
_SCALES: Mapping[int, int] = {0: 1, 2: 100, 3: 1_000, 4: 10_000}


class Amount(NamedTuple):
    """An amount of money: `minor` units (cents, yen, fils) of `currency` (an ISO 4217 code)."""

    minor: int
    currency: str

    def times(self, count: int) -> Amount:
        return Amount(self.minor * count, self.currency)

    def __str__(self) -> str:
        return format_minor(self.minor, self.currency)


def is_known_currency(code: str) -> bool:
    return code in CURRENCY_EXPONENTS


def exponent(currency: str) -> int:
    """Digits after the decimal point of `currency` (KeyError for a code not in the table)."""
    return CURRENCY_EXPONENTS[currency]


def minor_per_major(currency: str) -> int:
    """How many minor units make one major unit: 100 for EUR, 1 for JPY, 1,000 for KWD."""
    return _SCALES[exponent(currency)]


def max_minor(currency: str, max_major: int = MAX_AMOUNT_MAJOR) -> int:
    """`max_major` whole units of `currency` in minor units."""
    return max_major * minor_per_major(currency)


def money_violations(
    money: money_pb2.Money,
    field_path: str,
    *,
    max_major: int = MAX_AMOUNT_MAJOR,
    allow_zero: bool = True,
) -> list[FieldViolation]:
    """Every problem of a client's Money, each naming its field (`price.nanos`), for validation
    that collects all of a request's problems at once. Amounts are never negative here: prices,
    totals and refunds are all paid one way."""
    problems: list[FieldViolation] = []
    code = money.currency_code
    if not code:
        problems.append(FieldViolation(f"{field_path}.currency_code", "is required"))
    elif not is_known_currency(code):
        problems.append(
            FieldViolation(
                f"{field_path}.currency_code",
                "must be an ISO 4217 currency code in upper case, such as EUR or JPY",
            )
        )
    if not -_NANOS_PER_UNIT < money.nanos < _NANOS_PER_UNIT:
        problems.append(FieldViolation(f"{field_path}.nanos", "must be between -999,999,999 and 999,999,999"))
    elif (money.units > 0 and money.nanos < 0) or (money.units < 0 and money.nanos > 0):
        problems.append(FieldViolation(f"{field_path}.nanos", "must have the same sign as units"))
    if money.units < 0 or money.nanos < 0:
        problems.append(FieldViolation(field_path, "must not be negative"))
    if problems or not is_known_currency(code):
        return problems
    digits = exponent(code)
    step = _NANOS_PER_UNIT // minor_per_major(code)
    if money.nanos % step:
        problems.append(
            FieldViolation(
                f"{field_path}.nanos",
                f"{code} has {digits} digits after the decimal point; nanos must be a multiple of {step:,}",
            )
        )
    if money.units > max_major or (money.units == max_major and money.nanos > 0):
        problems.append(FieldViolation(field_path, f"must be at most {max_major:,} {code}"))
    if not allow_zero and money.units == 0 and money.nanos == 0:
        problems.append(FieldViolation(field_path, "must be more than zero"))
    return problems


def to_minor(
    money: money_pb2.Money,
    field_path: str = "amount",
    *,
    max_major: int = MAX_AMOUNT_MAJOR,
    allow_zero: bool = True,
) -> Amount:
    """A client's Money as minor units; INVALID_ARGUMENT naming each problem's field otherwise."""
    problems = money_violations(money, field_path, max_major=max_major, allow_zero=allow_zero)
    if problems:
        raise invalid_argument(problems)
    scale = minor_per_major(money.currency_code)
    units, nanos = int(money.units), int(money.nanos)
    return Amount(units * scale + nanos // (_NANOS_PER_UNIT // scale), str(money.currency_code))


def from_minor(amount_minor: int, currency: str) -> money_pb2.Money:
    """Minor units of `currency` as a Money (units and nanos of the same sign, as Money requires)."""
    scale = minor_per_major(currency)
    sign = -1 if amount_minor < 0 else 1
    units, rest = divmod(abs(amount_minor), scale)
    return money_pb2.Money(
        currency_code=currency, units=sign * units, nanos=sign * rest * (_NANOS_PER_UNIT // scale)
    )


def money_of(amount: Amount) -> money_pb2.Money:
    return from_minor(amount.minor, amount.currency)


def format_minor(amount_minor: int, currency: str) -> str:
    """For people (receipts, logs, a checkout's line item): "1,234.50 EUR", "3,000 JPY"."""
    digits = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    units, rest = divmod(abs(amount_minor), minor_per_major(currency))
    fraction = f".{rest:0{digits}d}" if digits else ""
    return f"{sign}{units:,}{fraction} {currency}"


def currency_mismatch(field_path: str, expected: str) -> ServiceError:
    """Amounts of one payment are all in its currency; another one is the client's mistake."""
    return invalid_argument([FieldViolation(f"{field_path}.currency_code", f"must be {expected}")])
