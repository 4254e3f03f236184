"""Money on the wire (google.type.Money) <-> minor units: exact, validated field by field, bounded."""

from __future__ import annotations

import grpc
import pytest
from google.type import money_pb2

from services.runtime.errors import ServiceError
from services.runtime.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT_MAJOR,
    MAX_PRICE_MAJOR,
    Amount,
    currency_mismatch,
    exponent,
    format_minor,
    from_minor,
    is_known_currency,
    max_minor,
    money_of,
    money_violations,
    to_minor,
)


def _money(code: str, units: int = 0, nanos: int = 0) -> money_pb2.Money:
    return money_pb2.Money(currency_code=code, units=units, nanos=nanos)


def _fields(error: ServiceError) -> dict[str, str]:
    return {violation.field: violation.description for violation in error.violations}


def test_exponents_follow_iso_4217() -> None:
    assert exponent("EUR") == 2
    assert exponent("USD") == 2
    assert exponent("JPY") == 0
    assert exponent("KRW") == 0
    assert exponent("KWD") == 3
    assert exponent("BHD") == 3
    assert exponent("UYW") == 4
    assert all(code.isalpha() and code.isupper() and len(code) == 3 for code in CURRENCY_EXPONENTS)
    assert not is_known_currency("eur")
    assert not is_known_currency("XXX")
    assert not is_known_currency("XAU")


@pytest.mark.parametrize(
    ("money", "expected"),
    [
        (_money("EUR", 12, 500_000_000), Amount(1250, "EUR")),
        (_money("EUR", 0, 10_000_000), Amount(1, "EUR")),
        (_money("EUR"), Amount(0, "EUR")),
        (_money("JPY", 3000), Amount(3000, "JPY")),
        (_money("KWD", 1, 5_000_000), Amount(1005, "KWD")),
        (_money("UYW", 2, 100_000), Amount(20_001, "UYW")),
    ],
)
def test_to_minor_is_exact(money: money_pb2.Money, expected: Amount) -> None:
    assert to_minor(money) == expected
    assert from_minor(expected.minor, expected.currency) == money
    assert money_of(expected) == money


def test_from_minor_keeps_money_sign_rules() -> None:
    assert from_minor(-175, "USD") == _money("USD", -1, -750_000_000)
    assert from_minor(-5, "USD") == _money("USD", 0, -50_000_000)


def test_nanos_must_be_whole_minor_units() -> None:
    with pytest.raises(ServiceError) as raised:
        to_minor(_money("EUR", 12, 345_000_000), "price")
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "price.nanos" in _fields(raised.value)
    assert "multiple of 10,000,000" in _fields(raised.value)["price.nanos"]
    with pytest.raises(ServiceError) as raised:
        to_minor(_money("JPY", 100, 500_000_000), "price")
    assert "price.nanos" in _fields(raised.value)


def test_currency_is_required_and_known() -> None:
    with pytest.raises(ServiceError) as raised:
        to_minor(_money("", 1), "price")
    assert _fields(raised.value) == {"price.currency_code": "is required"}
    for code in ("eur", "EURO", "ABC"):
        with pytest.raises(ServiceError) as raised:
            to_minor(_money(code, 1), "price")
        assert list(_fields(raised.value)) == ["price.currency_code"]


def test_sign_rules_and_negative_amounts_are_refused() -> None:
    problems = {v.field for v in money_violations(_money("EUR", 1, -10_000_000), "amount")}
    assert problems == {"amount.nanos", "amount"}
    problems = {v.field for v in money_violations(_money("EUR", -1, 0), "amount")}
    assert problems == {"amount"}
    problems = {v.field for v in money_violations(_money("EUR", 0, 1_000_000_000), "amount")}
    assert problems == {"amount.nanos"}


def test_every_problem_is_named_at_once() -> None:
    problems = {v.field for v in money_violations(_money("nope", -1, 5), "price")}
    assert problems == {"price.currency_code", "price.nanos", "price"}


def test_bounds_on_prices_and_amounts() -> None:
    assert to_minor(_money("EUR", MAX_PRICE_MAJOR), max_major=MAX_PRICE_MAJOR).minor == 100_000_000
    with pytest.raises(ServiceError) as raised:
        to_minor(_money("EUR", MAX_PRICE_MAJOR, 10_000_000), "price", max_major=MAX_PRICE_MAJOR)
    assert _fields(raised.value) == {"price": "must be at most 1,000,000 EUR"}
    with pytest.raises(ServiceError):
        to_minor(_money("USD", 2**62), "amount")
    # The largest amount in the currency with the most digits still fits a bigint many times over.
    assert max_minor("UYW", MAX_AMOUNT_MAJOR) * 1000 < 2**63
    assert max_minor("JPY", MAX_PRICE_MAJOR) == MAX_PRICE_MAJOR


def test_zero_can_be_refused() -> None:
    assert to_minor(_money("EUR")) == Amount(0, "EUR")
    with pytest.raises(ServiceError) as raised:
        to_minor(_money("EUR"), "amount", allow_zero=False)
    assert _fields(raised.value) == {"amount": "must be more than zero"}


def test_amounts_multiply_and_read_well() -> None:
    assert Amount(1250, "EUR").times(3) == Amount(3750, "EUR")
    assert str(Amount(123_450, "EUR")) == "1,234.50 EUR"
    assert format_minor(3000, "JPY") == "3,000 JPY"
    assert format_minor(1005, "KWD") == "1.005 KWD"
    assert format_minor(-5, "USD") == "-0.05 USD"


def test_currency_mismatch_names_the_field() -> None:
    error = currency_mismatch("amount", "EUR")
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert _fields(error) == {"amount.currency_code": "must be EUR"}
