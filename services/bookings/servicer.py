"""gRPC handlers of BookingService: proto <-> domain, and who may do what.

The domain (`domain.py`) decides; the saga (`saga.py`) talks to events; the store (`store/`) keeps;
`convert.py` translates.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import grpc
from google.protobuf.message import Message

from seatmesh.bookings.v1 import bookings_pb2, bookings_pb2_grpc
from services.bookings import convert, domain, metrics
from services.bookings.cache import EventFactsCache
from services.bookings.domain import Booking, RefusalReason, State
from services.bookings.saga import Saga, utcnow
from services.bookings.store import BookingStore, BookingTransaction
from services.runtime.app import method_access
from services.runtime.auth import Principal, Role, require_principal, require_role, require_verified
from services.runtime.clients import PeerUnavailable
from services.runtime.errors import ServiceError, not_found, parse_uuid
from services.runtime.pagination import PageTokens, page_size

SERVICE = bookings_pb2.DESCRIPTOR.services_by_name["BookingService"]
ACCESS = method_access(SERVICE)

# Roles that book seats (a service credential books nothing on its own).
GUEST_ROLES = (Role.PARTICIPANT, Role.ORGANIZER, Role.ADMIN)

# How often a change retries when the booking changed between reading and writing it.
CHANGE_ATTEMPTS = 3

# ListBookings pages by (create_time, id), newest first.
LIST_KEY = (datetime, uuid.UUID)


class BookingServiceServicer(bookings_pb2_grpc.BookingServiceServicer):
    def __init__(
        self,
        store: BookingStore,
        saga: Saga,
        facts: EventFactsCache,
        pages: PageTokens,
        *,
        require_email_verification: bool,
        events_deadline: float,
        reconcile_after: float,
    ) -> None:
        self.store = store
        self.saga = saga
        self.facts = facts
        self.pages = pages
        self.require_email_verification = require_email_verification
        self.events_deadline = events_deadline
        self.reconcile_after = reconcile_after

    def _budget(self, context: grpc.aio.ServicerContext) -> float:
        """Time events may take: the configured deadline, or less if the caller's deadline is nearer."""
        remaining = context.time_remaining()
        budget = self.events_deadline
        if remaining is not None:
            budget = min(budget, max(remaining - 0.2, 0.05))
        return budget

    async def _visible(self, tx: BookingTransaction, booking_id: str, principal: Principal) -> Booking:
        booking = await tx.get(domain.parse_booking_id(booking_id))
        return domain.visible(booking, principal, booking_id)

    # -- create -----------------------------------------------------------------------------------

    async def CreateBooking(
        self, request: bookings_pb2.CreateBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.Booking:
        principal = require_role(*GUEST_ROLES)
        require_verified(principal, self.require_email_verification)
        draft = domain.validate_draft(
            request.booking.event_id, request.booking.seats, request.booking.join_waitlist, request.request_id
        )
        budget = self._budget(context)
        try:
            event = await self.facts.get(draft.event_id)
            if event is None:
                raise not_found("event", draft.event_id)
            domain.check_bookable(event, draft, principal.user_id, utcnow())
        except (ServiceError, PeerUnavailable) as refusal:
            # A repeat of a request accepted before gets its booking, whatever changed since.
            if draft.request_id:
                first = await self.store.find_by_request(principal.user_id, draft.request_id)
                if first is not None:
                    return convert.booking_to_proto(await self.saga.repeat(first, draft, budget=budget))
            if isinstance(refusal, PeerUnavailable):
                raise domain.events_unavailable() from None
            raise
        booking = await self.saga.create(principal.user_id, draft, event, budget=budget)
        return convert.booking_to_proto(booking)

    # -- read -------------------------------------------------------------------------------------

    async def GetBooking(
        self, request: bookings_pb2.GetBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.Booking:
        principal = require_principal()
        booking = await self.store.get(domain.parse_booking_id(request.booking_id))
        return convert.booking_to_proto(domain.visible(booking, principal, request.booking_id))

    async def ListBookings(
        self, request: bookings_pb2.ListBookingsRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.ListBookingsResponse:
        principal = require_principal()
        host = convert.lists_as_host(request.perspective)
        state = convert.state_filter_from_proto(request.state)
        size = page_size(request.page_size)
        event_id = str(parse_uuid(request.event_id, "event_id")) if request.event_id else ""
        filters = {
            "host": host,
            "user": principal.user_id,
            "state": state.value if state else "",
            "event": event_id,
            "upcoming": request.upcoming_only,
        }
        after = self.pages.decode(request.page_token, filters, LIST_KEY)
        rows = await self.store.list_bookings(
            host=host,
            user_id=principal.user_id,
            state=state,
            event_id=event_id,
            upcoming_only=request.upcoming_only,
            after_key=(after[0], after[1]) if after is not None else None,
            limit=size + 1,
        )
        page, next_token = self.pages.page(
            rows, size, filters, lambda booking: (booking.create_time, booking.id)
        )
        return bookings_pb2.ListBookingsResponse(
            bookings=[convert.booking_to_proto(booking) for booking in page], next_page_token=next_token
        )

    # -- cancel, approve, reject ------------------------------------------------------------------

    async def CancelBooking(
        self, request: bookings_pb2.CancelBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.Booking:
        principal = require_principal()
        reason = domain.validate_reason(request.reason)
        for _ in range(CHANGE_ATTEMPTS):
            async with self.store.transaction() as tx:
                booking = await self._visible(tx, request.booking_id, principal)
                actor = domain.cancel_actor(booking, principal, utcnow())
                if booking.state == State.CANCELLED:
                    # Cancelling twice is not an error: the booking is what the caller wanted.
                    return convert.booking_to_proto(booking)
                domain.check_cancellable(booking)
                cancelled = await tx.cancel(booking, actor, reason, self.reconcile_after)
                if cancelled is None:
                    continue
                await tx.publish(convert.booking_cancelled(cancelled, booking.state))
                if domain.refused_on_cancel(cancelled, booking.state):
                    await tx.publish(convert.accepted_payment_refused(cancelled, RefusalReason.BOOKING_ENDED))
            if cancelled.release_pending:
                await self.saga.release(cancelled, budget=self._budget(context))
            return convert.booking_to_proto(cancelled)
        raise domain.concurrent_change()

    async def ApproveBooking(
        self, request: bookings_pb2.ApproveBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.Booking:
        principal = require_principal()
        approved = await self._answer_request(
            request.booking_id,
            principal,
            lambda tx, booking: tx.approve(booking, domain.approval(booking, utcnow()), self.reconcile_after),
            convert.approval_announcement,
        )
        metrics.count_confirmed(approved)
        if approved.needs_checkout:
            approved = await self.saga.open_checkout(approved, budget=self._budget(context))
        return convert.booking_to_proto(approved)

    async def RejectBooking(
        self, request: bookings_pb2.RejectBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.Booking:
        principal = require_principal()
        reason = domain.validate_reason(request.reason)
        rejected = await self._answer_request(
            request.booking_id,
            principal,
            lambda tx, booking: tx.reject(booking, reason, self.reconcile_after),
            convert.booking_rejected,
        )
        await self.saga.release(rejected, budget=self._budget(context))
        return convert.booking_to_proto(rejected)

    async def _answer_request(
        self,
        booking_id: str,
        principal: Principal,
        answer: Callable[[BookingTransaction, Booking], Awaitable[Booking | None]],
        announce: Callable[[Booking], Message],
    ) -> Booking:
        """The host's answer (approve, reject) to a request still awaiting it, with its bus event."""
        for _ in range(CHANGE_ATTEMPTS):
            async with self.store.transaction() as tx:
                booking = await self._visible(tx, booking_id, principal)
                domain.require_host(booking, principal)
                domain.check_awaiting(booking, utcnow())
                answered = await answer(tx, booking)
                if answered is None:
                    continue
                await tx.publish(announce(answered))
            return answered
        raise domain.concurrent_change()

    # -- reviews ----------------------------------------------------------------------------------
    # ReviewBooking (the guest's) and RateGuest (the host's) take the same steps in the same order,
    # which decides which error a caller sees first; each step is the role's own, so they stay two.

    async def ReviewBooking(
        self, request: bookings_pb2.ReviewBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.BookingReview:
        principal = require_principal()
        async with self.store.transaction() as tx:
            booking = await self._visible(tx, request.booking_id, principal)
            domain.require_guest(booking, principal)
            comment = domain.validate_review(request.event_rating, request.host_rating, request.comment)
            domain.check_attended(booking, await tx.is_completed(booking.event_id))
            review = await tx.insert_review(booking, request.event_rating, request.host_rating, comment)
            if review is None:
                raise domain.already_reviewed()
            await tx.publish(convert.review_submitted(review))
        return convert.review_to_proto(review)

    async def RateGuest(
        self, request: bookings_pb2.RateGuestRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.GuestRating:
        principal = require_principal()
        async with self.store.transaction() as tx:
            booking = await self._visible(tx, request.booking_id, principal)
            domain.require_rating_host(booking, principal)
            domain.validate_guest_rating(request.rating)
            domain.check_attended(booking, await tx.is_completed(booking.event_id))
            rating = await tx.insert_guest_rating(booking, request.rating)
            if rating is None:
                raise domain.already_rated()
            await tx.publish(convert.guest_rated(rating))
        return convert.guest_rating_to_proto(rating)
