"""gRPC handlers of PaymentService: proto <-> domain (`convert`), who may do what, then the domain's
rules (`domain`), the store and the provider; one method per RPC.

Calls to the provider never run inside a database transaction: a payment is written first (an open
payment, a refund counted against its payment), the provider is asked after the commit with an
idempotency key derived from that row, and its answer is recorded in a second transaction. A crash
in between leaves a row that says what is still to be done, and a retry asks the provider the same
question under the same key.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import UTC, datetime

import grpc
from google.protobuf import empty_pb2

from seatmesh.payments.v1 import payments_pb2
from services.payments import convert, domain
from services.payments.domain import CheckoutDraft, CheckoutStep, Payment, PaymentState, RefundOrder
from services.payments.jobs import RefundWorker
from services.payments.providers.base import OutcomeKind, PaymentProvider, ProviderEvent, ProviderUnavailable
from services.payments.providers.stripe import StripeProvider
from services.payments.store import PaymentStore, PaymentTransaction
from services.payments.store.payment_store import PaymentFilter
from services.payments.store.report import read_report
from services.runtime.app import method_access
from services.runtime.auth import require_principal
from services.runtime.errors import ServiceError, bad_field, failed_precondition, parse_uuid, unavailable
from services.runtime.idempotency import fingerprint, replay, request_id_or_none, request_id_reused
from services.runtime.interceptors import request_metadata
from services.runtime.pagination import PageTokens, page_size
from services.runtime.timestamps import timestamp

log = logging.getLogger(__name__)

SERVICE = payments_pb2.DESCRIPTOR.services_by_name["PaymentService"]
ACCESS = method_access(SERVICE, public={"ReceiveStripeWebhook"}, internal={"OpenCheckout"})

# ListPayments pages by (create_time, id), newest first; the report by (event start, event id).
LIST_KEY = (datetime, uuid.UUID)
REPORT_KEY = (datetime, uuid.UUID)


def _now() -> datetime:
    return datetime.now(UTC)


def _provider_unavailable() -> ServiceError:
    return unavailable(
        "PAYMENT_PROVIDER_UNAVAILABLE", "the payment provider did not answer; retry shortly", retry_after=2.0
    )


class PaymentServiceServicer:
    """Every RPC of PaymentService (registered with `add_PaymentServiceServicer_to_server`)."""

    def __init__(
        self,
        *,
        store: PaymentStore,
        provider: PaymentProvider,
        stripe: StripeProvider | None,
        refunds: RefundWorker,
        pages: PageTokens,
    ) -> None:
        self.store = store
        self.provider = provider
        # Set when this deployment takes Stripe payments: it verifies Stripe's webhooks.
        self.stripe = stripe
        self.refunds = refunds
        self.pages = pages

    # -- checkouts --------------------------------------------------------------------------------

    async def OpenCheckout(
        self, request: payments_pb2.OpenCheckoutRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.Payment:
        if not request.HasField("booking"):
            raise bad_field("booking", "is required")
        booking_id = parse_uuid(request.booking.booking_id, "booking.booking_id")
        request_id = request_id_or_none(request.request_id)
        body = fingerprint(request.booking)
        if request_id is not None:
            first = await replay(lambda: self.store.find_by_request(booking_id, request_id), body)
            if first is not None:
                return convert.payment_to_proto(await self._with_checkout(first))
        draft = domain.validate_checkout(convert.checkout_fields_from_proto(request.booking), now=_now())
        payment = await self._open(draft, request_id, body if request_id is not None else None)
        if payment is None and request_id is not None:
            # The same request id committed first, concurrently.
            payment = await replay(lambda: self.store.find_by_request(booking_id, request_id), body)
        if payment is None:
            raise RuntimeError("an open payment was in the way but could not be read")
        return convert.payment_to_proto(await self._with_checkout(payment))

    async def _open(self, draft: CheckoutDraft, request_id: str | None, body: str | None) -> Payment | None:
        """A new open payment for the booking, or the booking's open one (None when neither exists:
        the request id was used meanwhile)."""
        async with self.store.transaction() as tx:
            created = await tx.insert_payment(draft, self.provider.identifier, request_id, body)
            if created is not None:
                return created
            return _open_one(await tx.lock_booking_payments(draft.booking_id))

    async def _with_checkout(self, payment: Payment) -> Payment:
        """The payment with a provider checkout, opened now if it has none while its hold runs."""
        if domain.needs_checkout(payment, now=_now()):
            try:
                checkout = await self.provider.open_checkout(payment)
            except ProviderUnavailable:
                raise _provider_unavailable() from None
            async with self.store.transaction() as tx:
                updated = await tx.set_checkout(payment, checkout.checkout_id, checkout.url)
                if updated is not None:
                    await tx.publish(convert.payment_opened(updated))
            if updated is None:
                current = await self.store.get(payment.id)
                if current is None or current.checkout_id != checkout.checkout_id:
                    # The payment moved on meanwhile (expired, paid, or given another checkout).
                    await self.provider.close_checkout(
                        dataclasses.replace(payment, checkout_id=checkout.checkout_id)
                    )
        found = await self.store.get(payment.id)
        assert found is not None  # payments are never deleted
        return found

    async def CreateCheckout(
        self, request: payments_pb2.CreateCheckoutRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.Payment:
        principal = require_principal()
        booking_id = parse_uuid(request.booking_id, "booking_id")
        payments = await self.store.booking_payments(booking_id)
        if payments and payments[0].buyer_id != principal.subject:
            raise domain.payment_not_found(f"of booking {booking_id}")
        plan = domain.plan_checkout(payments, booking_id, now=_now())
        payment = plan.payment
        if plan.step is CheckoutStep.NEW_ATTEMPT:
            opened = await self._open(domain.retry_draft(plan.payment), None, None)
            if opened is None:
                raise RuntimeError("a new attempt found neither a payment to open nor an open one")
            payment = opened
        return convert.payment_to_proto(await self._with_checkout(payment))

    # -- reading ----------------------------------------------------------------------------------

    async def GetPayment(
        self, request: payments_pb2.GetPaymentRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.Payment:
        principal = require_principal()
        payment_id = parse_uuid(request.payment_id, "payment_id")
        return convert.payment_to_proto(
            domain.visible(await self.store.get(payment_id), principal, payment_id)
        )

    async def ListPayments(
        self, request: payments_pb2.ListPaymentsRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.ListPaymentsResponse:
        principal = require_principal()
        as_organizer = convert.lists_as_organizer(request.perspective)
        state = convert.state_filter_from_proto(request.state)
        event_id = parse_uuid(request.event_id, "event_id") if request.event_id else None
        booking_id = parse_uuid(request.booking_id, "booking_id") if request.booking_id else None
        where = PaymentFilter(
            buyer_id=None if as_organizer else principal.subject,
            organizer_id=principal.subject if as_organizer and not principal.is_admin else None,
            event_id=event_id,
            booking_id=booking_id,
            state=state,
        )
        size = page_size(request.page_size)
        filters = {
            "list": "payments",
            "caller": principal.subject,
            "organizer": as_organizer,
            "event": str(event_id or ""),
            "booking": str(booking_id or ""),
            "state": state.value if state else "",
        }
        after = self.pages.decode(request.page_token, filters, LIST_KEY)
        found = await self.store.list_payments(where, after, size + 1)
        page, next_token = self.pages.page(
            found, size, filters, lambda payment: (payment.create_time, payment.id)
        )
        return payments_pb2.ListPaymentsResponse(
            payments=[convert.payment_to_proto(payment) for payment in page], next_page_token=next_token
        )

    # -- money moved by people --------------------------------------------------------------------

    async def MarkPaid(
        self, request: payments_pb2.MarkPaidRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.Payment:
        principal = require_principal()
        payment_id = parse_uuid(request.payment_id, "payment_id")
        async with self.store.transaction() as tx:
            payment = domain.visible(await tx.lock_payment(payment_id), principal, payment_id)
            domain.check_manager(payment, principal)
            if domain.check_mark_paid(payment):
                paid = await tx.capture(
                    payment_id,
                    captured_minor=payment.amount_minor,
                    provider_payment_id=None,
                    capture_time=_now(),
                )
                await tx.publish(convert.payment_succeeded(paid))
        return convert.payment_to_proto(await self._read(payment_id))

    async def RefundPayment(
        self, request: payments_pb2.RefundPaymentRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.Payment:
        principal = require_principal()
        payment_id = parse_uuid(request.payment_id, "payment_id")
        request_id = request_id_or_none(request.request_id)
        if request_id is None:
            raise bad_field("request_id", "is required: it keeps a retried refund from being made twice")
        reason = domain.validate_reason(request.reason)
        requested = convert.refund_request_amount(request)
        body = fingerprint(request)
        refund_id = None
        async with self.store.transaction() as tx:
            payment = domain.visible(await tx.lock_payment(payment_id), principal, payment_id)
            domain.check_manager(payment, principal)
            first = await tx.find_refund(payment_id, request_id)
            if first is not None:
                if first[1] != body:
                    raise request_id_reused()
            else:
                order = RefundOrder(
                    amount_minor=domain.refund_amount(payment, requested),
                    initiated_by=domain.manager_role(principal),
                    reason=reason,
                    request_id=request_id,
                    fingerprint=body,
                    initiated_by_user_id=principal.subject,
                )
                added = await tx.add_refund(payment, order)
                assert added is not None  # its request id was free under the payment's lock
                refund_id = added[1].id
        if refund_id is not None:
            # Ask the provider now, so the answer usually shows the refund done; if it does not
            # answer, the refund stays pending and the worker asks again.
            await self.refunds.execute(refund_id)
        return convert.payment_to_proto(await self._read(payment_id))

    async def _read(self, payment_id: uuid.UUID) -> Payment:
        found = await self.store.get(payment_id)
        assert found is not None  # payments are never deleted
        return found

    # -- what Stripe says -------------------------------------------------------------------------

    async def ReceiveStripeWebhook(
        self, request: payments_pb2.ReceiveStripeWebhookRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        if self.stripe is None:
            raise failed_precondition(
                "STRIPE_NOT_CONFIGURED",
                "this deployment does not take Stripe payments (SEATMESH_PAYMENTS_PROVIDER)",
            )
        signature = request_metadata(context).get("stripe-signature", "")
        event = self.stripe.read_webhook(request.payload.data, signature)
        if event.event_id:
            async with self.store.transaction() as tx:
                if await tx.record_stripe_event(event.event_id, event.event_type):
                    await self._apply(tx, event)
        return empty_pb2.Empty()

    async def _apply(self, tx: PaymentTransaction, event: ProviderEvent) -> None:
        """A provider's news about a payment, applied once (the caller recorded its event id)."""
        if event.kind is None or event.payment_id is None:
            return
        payment = await tx.lock_payment(event.payment_id)
        if payment is None:
            log.warning("provider event for an unknown payment", extra={"payment_id": str(event.payment_id)})
            return
        if event.kind is OutcomeKind.CAPTURED and domain.counts_capture(payment):
            captured = payment.amount_minor
            if event.captured is not None and event.captured.currency == payment.currency:
                captured = event.captured.minor
            else:
                log.error(
                    "a capture in another currency; counted as the amount due",
                    extra={"payment_id": str(payment.id)},
                )
            paid = await tx.capture(
                payment.id,
                captured_minor=captured,
                provider_payment_id=event.provider_payment_id,
                capture_time=event.occurred_at,
            )
            await tx.publish(convert.payment_succeeded(paid))
        elif event.kind is OutcomeKind.FAILED and domain.counts_failure(payment):
            failed = await tx.fail(payment.id, event.failure_reason)
            await tx.publish(convert.payment_failed(failed))
        elif event.kind is OutcomeKind.CHECKOUT_CLOSED and domain.counts_checkout_closed(
            payment, event.checkout_id
        ):
            await tx.clear_checkout(payment.id)

    # -- the sales report -------------------------------------------------------------------------

    async def GetSalesReport(
        self, request: payments_pb2.GetSalesReportRequest, context: grpc.aio.ServicerContext
    ) -> payments_pb2.SalesReport:
        principal = require_principal()
        start = convert.optional_moment(request.start_time, request.HasField("start_time"), "start_time")
        end = convert.optional_moment(request.end_time, request.HasField("end_time"), "end_time")
        scope = domain.report_scope(
            principal,
            organizer_id=request.organizer_id,
            event_id=request.event_id,
            start=start,
            end=end,
            now=_now(),
        )
        size = page_size(
            request.page_size, default=domain.DEFAULT_REPORT_PAGE, maximum=domain.MAX_REPORT_PAGE
        )
        # What the client asked for: a default end (now) moves between pages without breaking them.
        filters = {
            "list": "sales",
            "organizer": scope.organizer_id or "",
            "event": str(scope.event_id or ""),
            "start": start.isoformat() if start else "",
            "end": end.isoformat() if end else "",
        }
        after = self.pages.decode(request.page_token, filters, REPORT_KEY)
        sales, totals = await read_report(self.store.database, scope, after, size + 1)
        if scope.event_id is not None and not sales and after is None:
            raise domain.event_not_in_report(scope.event_id)
        page, next_token = self.pages.page(
            sales, size, filters, lambda row: (row.event.start_time, row.event.event_id)
        )
        report = payments_pb2.SalesReport(
            end_time=timestamp(scope.end),
            events=[convert.event_sales_to_proto(row) for row in page],
            totals=[convert.totals_to_proto(total) for total in totals],
            next_page_token=next_token,
        )
        if scope.start is not None:
            report.start_time.CopyFrom(timestamp(scope.start))
        return report


def _open_one(payments: list[Payment]) -> Payment | None:
    return next((payment for payment in payments if payment.state is PaymentState.PENDING), None)
