"""Wiring of the payments service: every part of one process, each handed exactly what it needs."""

from __future__ import annotations

from functools import partial

from seatmesh.payments.v1 import payments_pb2_grpc
from services.payments.clients.stripe import StripeClient
from services.payments.consumers import PaymentConsumers
from services.payments.jobs import RefundWorker
from services.payments.providers.base import PaymentProvider
from services.payments.providers.manual import ManualProvider
from services.payments.providers.stripe import StripeProvider
from services.payments.servicer import ACCESS, SERVICE, PaymentServiceServicer
from services.payments.settings import PaymentsSettings
from services.payments.store import PaymentStore, PaymentTransaction
from services.runtime.app import Runtime
from services.runtime.auth import TokenVerifier
from services.runtime.clients import TokenSource
from services.runtime.server import Service


def stripe_provider(settings: PaymentsSettings) -> StripeProvider:
    client = StripeClient(
        api_key=settings.stripe_api_key.get_secret_value(),
        api_base=settings.stripe_api_base,
        deadline=settings.stripe_deadline,
    )
    return StripeProvider(
        client,
        webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
        webhook_tolerance=settings.stripe_webhook_tolerance,
        public_url=settings.public_url,
    )


async def build(
    settings: PaymentsSettings,
    *,
    verifier: TokenVerifier | None = None,
    credentials: TokenSource | None = None,
) -> Service:
    """`verifier` and `credentials` are for tests that run payments without a users service."""
    runtime = Runtime.create(settings, "payments", verifier=verifier, credentials=credentials)
    store = PaymentStore(runtime.database)
    stripe = stripe_provider(settings) if settings.payments_provider == "stripe" else None
    provider: PaymentProvider = stripe if stripe is not None else ManualProvider()
    refunds = RefundWorker(store, provider, interval=settings.refund_retry_interval)
    consumers = PaymentConsumers(provider, refunds_due=refunds.refunds_due)
    servicer = PaymentServiceServicer(
        store=store, provider=provider, stripe=stripe, refunds=refunds, pages=runtime.pages
    )
    return runtime.service(
        descriptor=SERVICE,
        register=partial(payments_pb2_grpc.add_PaymentServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[
            runtime.relay().run,
            runtime.consumer(
                PaymentTransaction, sources=["events", "bookings"], handlers=consumers.handlers()
            ).run,
            refunds.run,
        ],
    )
