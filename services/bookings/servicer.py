"""gRPC handlers of BookingService: proto <-> domain, and who may do what.

The rules (`rules.py`) decide; the saga (`saga.py`) talks to events; the store (`store.py`) keeps.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from seatmesh.bookings.v1 import bookings_pb2, bookings_pb2_grpc, bus_pb2
from services.bookings import messages, rules, store
from services.bookings.inventory import EventsUnavailable
from services.bookings.rules import Booking, State
from services.bookings.saga import Saga, utcnow
from services.runtime.app import method_access
from services.runtime.auth import Principal, Role, require_principal, require_role, require_verified
from services.runtime.errors import ServiceError, aborted, already_exists, bad_field, not_found
from services.runtime.pagination import decode_token, encode_token, page_size

SERVICE = bookings_pb2.DESCRIPTOR.services_by_name["BookingService"]
ACCESS = method_access(SERVICE)

# Roles that book seats (a service credential books nothing on its own).
GUEST_ROLES = (Role.PARTICIPANT, Role.ORGANIZER, Role.ADMIN)

# How often a change retries when the booking changed between reading and writing it.
CHANGE_ATTEMPTS = 3


def _booking_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        # Not an id we could have issued: it does not exist.
        raise rules.booking_not_found(value) from None


class BookingServiceServicer(bookings_pb2_grpc.BookingServiceServicer):
    def __init__(self, saga: Saga) -> None:
        self.saga = saga
        self.settings = saga.settings
        self.engine = saga.engine
        self.autocommit = saga.autocommit

    def _budget(self, context: grpc.aio.ServicerContext) -> float:
        """Time events may take: the configured deadline, or less if the caller's deadline is nearer."""
        remaining = context.time_remaining()
        budget = self.settings.events_deadline
        if remaining is not None:
            budget = min(budget, max(remaining - 0.2, 0.05))
        return budget

    async def _visible(self, connection: AsyncConnection, booking_id: str, principal: Principal) -> Booking:
        booking = await store.get(connection, _booking_id(booking_id))
        return rules.visible(booking, principal, booking_id)

    # -- create -----------------------------------------------------------------------------------

    async def CreateBooking(
        self, request: bookings_pb2.CreateBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.Booking:
        principal = require_role(*GUEST_ROLES)
        require_verified(principal, self.settings.require_email_verification)
        draft = rules.validate_draft(
            request.booking.event_id, request.booking.seats, request.booking.join_waitlist, request.request_id
        )
        budget = self._budget(context)
        try:
            event = await self.saga.cache.get(draft.event_id)
            if event is None:
                raise not_found("event", draft.event_id)
            rules.check_bookable(event, draft, principal.user_id, utcnow())
        except (ServiceError, EventsUnavailable) as refusal:
            # A repeat of a request accepted before gets its booking, whatever changed since.
            if draft.request_id:
                first = await store.find_by_request(self.saga.hot, principal.user_id, draft.request_id)
                if first is not None:
                    return messages.booking_proto(await self.saga.repeat(first, draft, budget=budget))
            if isinstance(refusal, EventsUnavailable):
                raise rules.events_unavailable() from None
            raise
        booking = await self.saga.create(principal.user_id, draft, event, budget=budget)
        return messages.booking_proto(booking)

    # -- read -------------------------------------------------------------------------------------

    async def GetBooking(
        self, request: bookings_pb2.GetBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.Booking:
        principal = require_principal()
        booking = await store.fetch(self.saga.hot, _booking_id(request.booking_id))
        return messages.booking_proto(rules.visible(booking, principal, request.booking_id))

    async def ListBookings(
        self, request: bookings_pb2.ListBookingsRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.ListBookingsResponse:
        principal = require_principal()
        host = getattr(request, "as") == bookings_pb2.ListBookingsRequest.HOST
        state: State | None = None
        if request.state:
            state = messages.STATE_BY_NUMBER.get(request.state)
            if state is None:
                raise bad_field("state", "is not a booking state")
        size = page_size(request.page_size)
        filters = {
            "host": host,
            "user": principal.user_id,
            "state": state.value if state else "",
            "event": request.event_id,
            "upcoming": request.upcoming_only,
        }
        key = decode_token(request.page_token, filters)
        after: tuple[datetime, uuid.UUID] | None = None
        if key is not None:
            try:
                after = (datetime.fromisoformat(key[0]), uuid.UUID(key[1]))
            except (ValueError, TypeError, IndexError):
                raise bad_field("page_token", "is not a page token this API issued") from None
        async with self.autocommit.connect() as connection:
            rows = await store.list_bookings(
                connection,
                host=host,
                user_id=principal.user_id,
                state=state,
                event_id=request.event_id,
                upcoming_only=request.upcoming_only,
                after=after,
                limit=size + 1,
            )
        response = bookings_pb2.ListBookingsResponse(
            bookings=[messages.booking_proto(booking) for booking in rows[:size]]
        )
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = encode_token([last.create_time.isoformat(), str(last.id)], filters)
        return response

    # -- cancel, approve, reject ------------------------------------------------------------------

    async def CancelBooking(
        self, request: bookings_pb2.CancelBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.Booking:
        principal = require_principal()
        reason = rules.validate_reason(request.reason)
        for _ in range(CHANGE_ATTEMPTS):
            async with self.engine.begin() as connection:
                booking = await self._visible(connection, request.booking_id, principal)
                actor = rules.cancel_actor(booking, principal, utcnow())
                if booking.state == State.CANCELLED:
                    # Cancelling twice is not an error: the booking is what the caller wanted.
                    return messages.booking_proto(booking)
                rules.check_cancellable(booking)
                values = store.cancel_values(booking.state, actor, reason, self.settings.reconcile_after)
                cancelled = await store.transition(connection, booking, values)
                if cancelled is None:
                    continue
                await store.publish_event(connection, messages.cancelled(cancelled, booking.state))
            if cancelled.release_pending:
                await self.saga.release(cancelled, budget=self._budget(context))
            return messages.booking_proto(cancelled)
        raise _changed_meanwhile()

    async def ApproveBooking(
        self, request: bookings_pb2.ApproveBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.Booking:
        principal = require_principal()
        for _ in range(CHANGE_ATTEMPTS):
            async with self.engine.begin() as connection:
                booking = await self._visible(connection, request.booking_id, principal)
                rules.require_host(booking, principal)
                rules.check_awaiting(booking, utcnow())
                approved = await store.transition(connection, booking, store.approve_values())
                if approved is None:
                    continue
                await store.publish_event(connection, messages.approved(approved))
            return messages.booking_proto(approved)
        raise _changed_meanwhile()

    async def RejectBooking(
        self, request: bookings_pb2.RejectBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.Booking:
        principal = require_principal()
        reason = rules.validate_reason(request.reason)
        for _ in range(CHANGE_ATTEMPTS):
            async with self.engine.begin() as connection:
                booking = await self._visible(connection, request.booking_id, principal)
                rules.require_host(booking, principal)
                rules.check_awaiting(booking, utcnow())
                rejected = await store.transition(
                    connection, booking, store.reject_values(reason, self.settings.reconcile_after)
                )
                if rejected is None:
                    continue
                await store.publish_event(connection, messages.rejected(rejected))
            await self.saga.release(rejected, budget=self._budget(context))
            return messages.booking_proto(rejected)
        raise _changed_meanwhile()

    # -- reviews ----------------------------------------------------------------------------------

    async def ReviewBooking(
        self, request: bookings_pb2.ReviewBookingRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.BookingReview:
        principal = require_principal()
        async with self.engine.begin() as connection:
            booking = await self._visible(connection, request.booking_id, principal)
            rules.require_guest(booking, principal)
            comment = rules.validate_review(request.event_rating, request.host_rating, request.comment)
            rules.check_attended(booking, await store.is_completed(connection, booking.event_id))
            row = await store.insert_review(
                connection, booking, request.event_rating, request.host_rating, comment
            )
            if row is None:
                raise already_exists("ALREADY_REVIEWED", "you have already reviewed this booking")
            review = messages.review_proto(row)
            await store.publish_event(connection, bus_pb2.ReviewSubmitted(review=review))
        return review

    async def RateGuest(
        self, request: bookings_pb2.RateGuestRequest, context: grpc.aio.ServicerContext
    ) -> bookings_pb2.GuestRating:
        principal = require_principal()
        async with self.engine.begin() as connection:
            booking = await self._visible(connection, request.booking_id, principal)
            rules.require_rating_host(booking, principal)
            rules.validate_guest_rating(request.rating)
            rules.check_attended(booking, await store.is_completed(connection, booking.event_id))
            row = await store.insert_guest_rating(connection, booking, request.rating)
            if row is None:
                raise already_exists("ALREADY_RATED", "you have already rated the guest of this booking")
            rating = messages.guest_rating_proto(row)
            await store.publish_event(connection, bus_pb2.GuestRated(rating=rating))
        return rating


def _changed_meanwhile() -> ServiceError:
    return aborted("CONCURRENT_CHANGE", "the booking changed while this request was handled; try again")
