"""Paid events in the events domain: refund policy and payment hold bounds, defaults, updates, and
the price rule once an event has bookings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import duration_pb2
from google.type import money_pb2

from seatmesh.events.v1 import events_pb2
from services.events import convert, domain
from services.events.domain import EventFields
from services.runtime.errors import ServiceError
from services.runtime.money import Amount

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
EUR_12_50 = Amount(1250, "EUR")


def _fields(**overrides: object) -> EventFields:
    base = EventFields(
        title="Concert",
        description="",
        start_time=NOW + timedelta(days=1),
        end_time=NOW + timedelta(days=1, hours=2),
        time_zone="Europe/Berlin",
        city="Berlin",
        venue="",
        capacity=100,
        max_seats_per_booking=0,
        tags=(),
        requires_approval=False,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def _problems(fields: EventFields) -> list[str]:
    try:
        domain.validate_fields(domain.normalize_fields(fields), now=NOW, start_must_be_future=True)
    except ServiceError as error:
        return [violation.field for violation in error.violations]
    return []


def test_a_new_event_is_free_with_the_default_hold_and_full_refunds_until_the_start() -> None:
    fields = domain.normalize_fields(_fields())
    assert fields.price is None
    assert fields.payment_hold == domain.DEFAULT_PAYMENT_HOLD == timedelta(minutes=15)
    assert fields.refund_policy == 0


@pytest.mark.parametrize(
    ("hold", "ok"),
    [
        (timedelta(minutes=2), True),
        (timedelta(hours=24), True),
        (timedelta(minutes=2) - timedelta(seconds=1), False),
        (timedelta(hours=24, seconds=1), False),
        (timedelta(seconds=-600), False),
    ],
)
def test_the_payment_hold_is_two_minutes_to_a_day(hold: timedelta, ok: bool) -> None:
    assert _problems(_fields(payment_hold=hold)) == ([] if ok else ["event.payment_hold"])


@pytest.mark.parametrize(("hours", "ok"), [(0, True), (48, True), (8_760, True), (8_761, False), (-1, False)])
def test_the_refund_policy_is_zero_hours_to_a_year(hours: int, ok: bool) -> None:
    expected = [] if ok else ["event.refund_policy.full_refund_until_hours_before_start"]
    assert _problems(_fields(refund_policy=hours)) == expected


def test_naming_the_payment_hold_without_a_value_restores_the_default() -> None:
    current = domain.normalize_fields(_fields(payment_hold=timedelta(hours=2)))
    patch = domain.normalize_fields(_fields(), fill_defaults=False)
    merged = domain.merge_update(current, patch, ["payment_hold"])
    assert merged.payment_hold == domain.DEFAULT_PAYMENT_HOLD
    assert domain.changed_fields(current, merged) == ("payment_hold",)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, EUR_12_50),  # free -> paid
        (EUR_12_50, None),  # paid -> free
        (EUR_12_50, Amount(1250, "USD")),  # another currency
    ],
)
def test_once_reserved_the_price_keeps_its_currency_and_free_stays_free(
    before: Amount | None, after: Amount | None
) -> None:
    domain.check_price_change(_fields(price=before), _fields(price=after), has_reservations=False)
    with pytest.raises(ServiceError) as raised:
        domain.check_price_change(_fields(price=before), _fields(price=after), has_reservations=True)
    assert raised.value.violations[0].field.startswith("event.price")


def test_once_reserved_the_amount_may_still_change() -> None:
    domain.check_price_change(
        _fields(price=EUR_12_50), _fields(price=Amount(1500, "EUR")), has_reservations=True
    )


# -- the contract ---------------------------------------------------------------------------------


def _message(**values: object) -> events_pb2.Event:
    return events_pb2.Event(title="Concert", capacity=10, **values)  # type: ignore[arg-type]


def test_a_price_is_read_in_minor_units_of_its_currency() -> None:
    fields = convert.fields_from_proto(_message(price=money_pb2.Money(currency_code="JPY", units=3000)))
    assert fields.price == Amount(3000, "JPY")
    fields = convert.fields_from_proto(
        _message(price=money_pb2.Money(currency_code="KWD", units=2, nanos=500_000_000))
    )
    assert fields.price == Amount(2500, "KWD")


@pytest.mark.parametrize(
    ("price", "field"),
    [
        (money_pb2.Money(currency_code="EUR"), "event.price"),  # zero: leave it unset instead
        (money_pb2.Money(currency_code="eur", units=10), "event.price.currency_code"),
        (money_pb2.Money(currency_code="XYZ", units=10), "event.price.currency_code"),
        (money_pb2.Money(currency_code="EUR", units=10, nanos=5_000_000), "event.price.nanos"),
        (money_pb2.Money(currency_code="EUR", units=-10), "event.price"),
        (money_pb2.Money(currency_code="EUR", units=1_000_001), "event.price"),
    ],
)
def test_a_bad_price_names_its_field(price: money_pb2.Money, field: str) -> None:
    with pytest.raises(ServiceError) as raised:
        convert.fields_from_proto(_message(price=price))
    assert field in [violation.field for violation in raised.value.violations]


def test_a_payment_hold_must_be_whole_seconds() -> None:
    with pytest.raises(ServiceError) as raised:
        convert.fields_from_proto(_message(payment_hold=duration_pb2.Duration(seconds=300, nanos=1)))
    assert [violation.field for violation in raised.value.violations] == ["event.payment_hold"]
    fields = convert.fields_from_proto(_message(payment_hold=duration_pb2.Duration(seconds=300)))
    assert fields.payment_hold == timedelta(minutes=5)
