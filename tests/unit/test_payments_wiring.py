"""How the payments service is put together: its settings, who may call what, and which bus events
it listens to."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.events.v1 import bus_pb2 as events_bus
from services.payments.consumers import PaymentConsumers, booking_news_types
from services.payments.providers.manual import ManualProvider
from services.payments.servicer import ACCESS
from services.payments.settings import PaymentsSettings
from services.runtime.auth import Access

DATABASE = "postgresql://nobody@127.0.0.1:1/never"


async def _nothing() -> None:
    return None


def test_manual_is_the_default_and_stripe_needs_its_keys() -> None:
    assert PaymentsSettings(database_url=DATABASE).payments_provider == "manual"
    with pytest.raises(ValidationError) as raised:
        PaymentsSettings(database_url=DATABASE, payments_provider="stripe")
    assert {error["loc"][0] for error in raised.value.errors()} == {"stripe_api_key", "stripe_webhook_secret"}
    configured = PaymentsSettings(
        database_url=DATABASE, payments_provider="stripe", stripe_api_key="sk", stripe_webhook_secret="whsec"
    )
    assert configured.port == 50055
    with pytest.raises(ValidationError):
        PaymentsSettings(database_url=DATABASE, payments_provider="paypal")


def test_checkouts_are_opened_by_services_and_webhooks_need_no_token() -> None:
    service = "/seatmesh.payments.v1.PaymentService/"
    assert ACCESS[service + "OpenCheckout"] is Access.SERVICE
    assert ACCESS[service + "ReceiveStripeWebhook"] is Access.PUBLIC
    assert {ACCESS[service + name] for name in ("CreateCheckout", "RefundPayment", "GetSalesReport")} == {
        Access.USER
    }


def test_every_booking_event_feeds_the_report_and_money_events_act() -> None:
    news = set(booking_news_types())
    assert bookings_bus.BookingConfirmed.DESCRIPTOR.full_name in news
    assert bookings_bus.BookingAwaitingPayment.DESCRIPTOR.full_name in news
    assert bookings_bus.BookingDetails.DESCRIPTOR.full_name not in news
    handlers = PaymentConsumers(ManualProvider(), refunds_due=_nothing).handlers()
    for message in (
        bookings_bus.BookingCancelled,
        bookings_bus.BookingExpired,
        bookings_bus.BookingPaymentRefused,
        events_bus.EventCreated,
        events_bus.EventUpdated,
        events_bus.EventCancelled,
        events_bus.EventCompleted,
        events_bus.EventDeleted,
    ):
        assert message.DESCRIPTOR.full_name in handlers
