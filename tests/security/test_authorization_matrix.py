"""The authorization matrix: every RPC of every service, as every kind of caller, on their own and
on someone else's resources, with the outcome authorization.md says (read that file first).

Each cell runs directly against the service, so the service's own checks are proven with no edge in
front, and through Envoy: as REST when the RPC has a route, and as native gRPC always, so the edge's
RBAC and its jwt_authn rules (written separately for REST paths and gRPC paths) must agree with the
services. An `OK` is checked for what it shows: the resource itself, so a reply that hides
everything cannot pass for an allowed call.

A cell that succeeds changes things (a booking cancelled, an event deleted, a refresh token used
up), so for every RPC in MUTATING a cell expected to succeed gets a resource of its own, made just
before; the cells expected to be refused share one, which a refusal leaves as it was.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from google.api import httpbody_pb2
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message
from google.type import money_pb2

from scripts.fake_stripe import sign
from scripts.mesh import Mesh
from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.events.v1 import events_pb2
from seatmesh.notifications.v1 import notifications_pb2
from seatmesh.payments.v1 import payments_pb2
from seatmesh.users.v1 import users_pb2
from tests.security import matrix
from tests.security.contract import Rpc, every_rpc
from tests.security.matrix import CALLERS, Expected, Resource, Row
from tests.security.transport import MeshClient, Outcome, Via
from tests.security.world import Caller, Setup, ok, sign_in_everyone, until
from tests.support.accounts import PASSWORD, verification_code

pytestmark = pytest.mark.e2e

ROWS = matrix.load()

# RPCs whose success changes the resource so that the next cell would meet another one.
MUTATING = {
    "RegisterUser",
    "VerifyEmail",
    "RefreshToken",
    "Logout",
    "SendPhoneCode",
    "VerifyPhone",
    "SetUserRole",
    "UpdateEvent",
    "DeleteEvent",
    "CancelEvent",
    "ReserveSeats",
    "ReleaseSeats",
    "CreateBooking",
    "CancelBooking",
    "ApproveBooking",
    "RejectBooking",
    "ReviewBooking",
    "RateGuest",
    "OpenCheckout",
}

# Guests attend this many short events, one per way a review or rating is sent, plus one that
# tells when reviews have opened (the last to end) and is the review ListReviews shows.
ATTENDED_EVENTS = len(Via) + 1


@dataclass(frozen=True)
class Request:
    message: Message
    metadata: tuple[tuple[str, str], ...] = ()


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


@dataclass
class World:
    """The matrix's callers and the resources its rows name, made as they are first needed."""

    mesh: Mesh
    rest: httpx.Client
    client: MeshClient
    people: dict[str, Caller]
    setup: Setup
    attended: list[dict[str, Any]]
    _shared: dict[str, Any] = field(default_factory=dict)
    _attended_taken: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Caller:
        return self.people[name]

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    # -- users ------------------------------------------------------------------------------------

    def register(self) -> tuple[str, str]:
        """A new, unverified participant: (id, email)."""
        address = f"matrix-{uuid.uuid4().hex[:12]}@example.com"
        created = ok(
            self.rest.post(
                "/v1/users:register",
                json={"email": address, "password": PASSWORD, "displayName": "Newcomer"},
            )
        )
        return created["id"], address

    def sign_in(self, who: Caller) -> dict[str, Any]:
        assert who.account is not None
        return ok(self.rest.post("/v1/auth:login", json={"email": who.account.email, "password": PASSWORD}))

    def new_phone(self, who: Caller) -> str:
        phone = f"+4915{uuid.uuid4().int % 10**9:09d}"
        ok(
            self.rest.patch(
                "/v1/users/me", params={"updateMask": "phone"}, json={"phone": phone}, headers=who.headers
            )
        )
        return phone

    def phone_code(self, phone: str) -> str:
        """The code the console SMS provider printed for `phone` (notifications' log)."""
        log = self.mesh.var / "log" / "notifications.log"
        line = re.compile(rf"sms to {re.escape(phone)}: .*?\b(\d{{6}})\b")

        def printed() -> str | None:
            found = line.search(log.read_text(encoding="utf-8", errors="replace")) if log.exists() else None
            return found[1] if found else None

        return until(printed, f"the SMS code to {phone}")

    # -- events and bookings ----------------------------------------------------------------------

    def event(self, **fields: Any) -> dict[str, Any]:
        return self.setup.event(self["organizer"], **fields)

    def the_event(self) -> dict[str, Any]:
        """The organizer's event most rows name; it has a city of its own, so a list can find it."""
        return self.shared("event", lambda: self.event(city=f"Matrix {uuid.uuid4().hex[:10]}"))

    def the_booking(self) -> dict[str, Any]:
        return self.shared("booking", lambda: self.setup.book(self["participant"], self.the_event()["id"]))

    def approval_request(self) -> dict[str, Any]:
        booking = self.setup.book(self["participant"], self.event(requiresApproval=True)["id"])
        assert booking["state"] == "AWAITING_APPROVAL", booking
        return booking

    def attended_booking(self, rpc: str, fresh: bool) -> dict[str, Any]:
        """A confirmed booking of an event that is over, once bookings has heard it is."""
        probe = self.shared("reviews open", self._wait_until_reviews_open)
        if not fresh:
            return probe
        taken = self._attended_taken.get(rpc, 0)
        self._attended_taken[rpc] = taken + 1
        return self.attended[taken]

    def _wait_until_reviews_open(self) -> dict[str, Any]:
        probe = self.attended[-1]
        guest = self["participant"]

        def reviewed() -> bool:
            response = self.rest.post(
                f"/v1/bookings/{probe['id']}:review",
                json={"eventRating": 5, "hostRating": 4, "comment": "Worth it"},
                headers=guest.headers,
            )
            if response.status_code == 400 and "EVENT_NOT_COMPLETED" in response.text:
                return False
            ok(response)
            return True

        until(reviewed, "the short events completed and reviews opened", within=120)
        return probe

    def review(self) -> Resource:
        def find() -> Resource:
            probe = self.attended_booking("ListReviews", fresh=False)
            url = f"/v1/events/{probe['eventId']}/reviews"
            found = until(lambda: ok(self.rest.get(url))["reviews"], "the review reached events")
            return Resource(found[0]["id"], private=probe["id"], data={"event_id": probe["eventId"]})

        return self.shared("review", find)

    # -- notifications ----------------------------------------------------------------------------

    def notification_of(self, who: Caller) -> str:
        def first() -> str | None:
            listed = ok(self.rest.get("/v1/notifications", headers=who.headers))["notifications"]
            return listed[-1]["id"] if listed else None

        return self.shared(f"notification {who.name}", lambda: until(first, f"a notification for {who.name}"))

    # -- payments ---------------------------------------------------------------------------------

    def paid_booking(self) -> dict[str, Any]:
        event = self.event(price={"currencyCode": "EUR", "units": "25"})
        booking = self.setup.book(self["participant"], event["id"])
        assert booking["state"] == "AWAITING_PAYMENT", booking
        return until(
            lambda: (found := self.setup.booking(self["participant"], booking["id"]))["paymentId"] and found,
            "the booking's checkout opened",
        )

    def payment(self) -> dict[str, Any]:
        return self.shared("payment", self.paid_booking)

    def paid_payment(self) -> dict[str, Any]:
        def pay() -> dict[str, Any]:
            booking = self.paid_booking()
            guest = self["participant"]
            opened = ok(
                self.rest.post(
                    "/v1/payments:checkout", json={"bookingId": booking["id"]}, headers=guest.headers
                )
            )
            assert httpx.post(opened["checkoutUrl"] + "/complete", timeout=20).status_code == 303
            url = f"/v1/payments/{opened['id']}"
            return until(
                lambda: (
                    (found := ok(self.rest.get(url, headers=guest.headers)))["state"] == "SUCCEEDED" and found
                ),
                "the payment succeeded",
            )

        return self.shared("paid payment", pay)

    def reported_event(self) -> str:
        """The paid event, once payments' sales report (built from the bus) knows it."""

        def reported() -> str:
            event_id = str(self.payment()["eventId"])
            organizer = self["organizer"]

            def shown() -> bool:
                response = self.rest.get(
                    "/v1/payments/report", params={"eventId": event_id}, headers=organizer.headers
                )
                return response.status_code == 200

            until(shown, "the sales report shows the paid event")
            return event_id

        return self.shared("reported event", reported)

    def webhook(self, *, signed: bool) -> Resource:
        # An event type payments does not act on: the answer is about the signature alone.
        payload = json.dumps(
            {
                "id": f"evt_matrix_{uuid.uuid4().hex}",
                "object": "event",
                "type": "customer.created",
                "data": {"object": {}},
            }
        )
        secret = self.mesh.service_env["SEATMESH_STRIPE_WEBHOOK_SECRET"]
        signature = sign(payload, secret) if signed else "t=1700000000,v1=" + "0" * 64
        return Resource("", data={"payload": payload, "signature": signature})


# -- what each row's resource is ------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    rpc: str
    caller: Caller
    # Whether the cell needs a resource of its own (it is expected to change it).
    fresh: bool


Make = Callable[[World, Cell], Resource | None]


def _own_account(world: World, cell: Cell) -> Resource | None:
    account = cell.caller.account
    return Resource(account.id, private=account.email) if account else None


def _new_account_code(world: World, cell: Cell) -> Resource:
    started = datetime.now(UTC).timestamp() - 1
    user_id, address = world.register()
    code = verification_code(world.mesh, address, newer_than=started)
    return Resource(user_id, private=address, data={"email": address, "code": code})


def _refresh_token(world: World, cell: Cell) -> Resource:
    def login() -> Resource:
        return Resource("", data={"token": world.sign_in(world["participant"])["refreshToken"]})

    return login() if cell.fresh else world.shared("refresh token", login)


def _new_phone(world: World, cell: Cell) -> Resource | None:
    if cell.caller.account is None:
        return None
    world.new_phone(cell.caller)
    return Resource("")


def _phone_code(world: World, cell: Cell) -> Resource | None:
    account = cell.caller.account
    if account is None:
        return None
    phone = world.new_phone(cell.caller)
    ok(world.rest.post("/v1/users/me:sendPhoneCode", json={}, headers=cell.caller.headers))
    return Resource(account.id, private=account.email, data={"code": world.phone_code(phone)})


def _participant_account(world: World, cell: Cell) -> Resource:
    account = world["participant"].account
    assert account is not None
    return Resource(account.id, private=account.email)


def _new_participant(world: World, cell: Cell) -> Resource:
    user_id, address = world.register() if cell.fresh else world.shared("new participant", world.register)
    return Resource(user_id, private=address)


def _organizers_event(world: World, cell: Cell) -> Resource:
    event = world.event() if cell.fresh else world.the_event()
    return Resource(event["id"], data={"city": event["city"]})


def _reservation(world: World, cell: Cell) -> Resource:
    """A reservation id at the organizer's event: for a cell that succeeds, one held right now
    (ReleaseSeats gives it back; ReserveSeats is then asked again for it, which is idempotent)."""
    event_id = world.the_event()["id"]
    reservation_id = str(uuid.uuid4())
    if cell.fresh and cell.rpc == "ReleaseSeats":
        reserve = events_pb2.ReserveSeatsRequest(event_id=event_id, seats=1, reservation_id=reservation_id)
        held = world.client.call(
            _rpc("events", "ReserveSeats"), reserve, world["service"].metadata, Via.DIRECT
        )
        assert held.ok, held.describe()
    return Resource(reservation_id, data={"event_id": event_id})


def _booking(world: World, cell: Cell) -> Resource:
    guest = world["participant"]
    booking = world.setup.book(guest, world.event()["id"]) if cell.fresh else world.the_booking()
    return Resource(booking["id"], data={"event_id": booking["eventId"]})


def _approval_request(world: World, cell: Cell) -> Resource:
    booking = (
        world.approval_request() if cell.fresh else world.shared("approval request", world.approval_request)
    )
    return Resource(booking["id"])


def _attended(world: World, cell: Cell) -> Resource:
    return Resource(world.attended_booking(cell.rpc, cell.fresh)["id"])


def _own_notification(world: World, cell: Cell) -> Resource | None:
    return Resource(world.notification_of(cell.caller)) if cell.caller.account else None


def _participants_notification(world: World, cell: Cell) -> Resource:
    return Resource(world.notification_of(world["participant"]))


def _checkout_booking(world: World, cell: Cell) -> Resource:
    return Resource(str(uuid.uuid4()))


def _payment(world: World, cell: Cell) -> Resource:
    booking = world.payment()
    return Resource(booking["paymentId"], data={"booking_id": booking["id"]})


def _paid_payment(world: World, cell: Cell) -> Resource:
    return Resource(world.paid_payment()["id"])


RESOURCES: dict[str, Make] = {
    "—": lambda world, cell: None,
    "everyone": lambda world, cell: None,
    "a new account's code": _new_account_code,
    "participant's password": lambda world, cell: Resource(""),
    "participant's refresh token": _refresh_token,
    "own account": _own_account,
    "own account, new phone number": _new_phone,
    "own account, code sent to its phone": _phone_code,
    "participant's account": _participant_account,
    "a new participant's account": _new_participant,
    "the mesh's service secret": lambda world, cell: Resource(""),
    "a wrong service secret": lambda world, cell: Resource(""),
    "organizer's event": _organizers_event,
    "participant's review": lambda world, cell: world.review(),
    "a reservation at organizer's event": _reservation,
    "participant's booking": _booking,
    "participant's booking, as host": _booking,
    "participant's booking request": _approval_request,
    "participant's attended booking": _attended,
    "own notification": _own_notification,
    "participant's notification": _participants_notification,
    "a booking awaiting payment": _checkout_booking,
    "participant's payment": _payment,
    "participant's payment, as organizer": _payment,
    "participant's paid payment": _paid_payment,
    "a webhook Stripe signed": lambda world, cell: world.webhook(signed=True),
    "a webhook nobody signed": lambda world, cell: world.webhook(signed=False),
    "organizer's paid event": lambda world, cell: Resource(world.reported_event()),
}


# -- the request each row sends -------------------------------------------------------------------

Build = Callable[[World, Resource | None, Caller], Request]


def _id(resource: Resource | None) -> str:
    """The resource's id, or one nobody has when the caller has no such resource."""
    return resource.id if resource is not None else str(uuid.uuid4())


def _data(resource: Resource | None, key: str, default: str = "") -> str:
    return resource.data.get(key, default) if resource is not None else default


def _register(world: World, resource: Resource | None, caller: Caller) -> Request:
    address = f"matrix-{uuid.uuid4().hex[:12]}@example.com"
    return Request(users_pb2.RegisterUserRequest(email=address, password=PASSWORD, display_name="Newcomer"))


def _create_event(world: World, resource: Resource | None, caller: Caller) -> Request:
    start = world.setup.next_start()
    return Request(
        events_pb2.CreateEventRequest(
            event=events_pb2.Event(
                title="Matrix meetup",
                start_time=stamp(start),
                end_time=stamp(start + timedelta(hours=2)),
                time_zone="Europe/Berlin",
                city="Berlin",
                capacity=10,
            ),
            request_id=str(uuid.uuid4()),
        )
    )


def _update_event(world: World, resource: Resource | None, caller: Caller) -> Request:
    return Request(
        events_pb2.UpdateEventRequest(
            event=events_pb2.Event(id=_id(resource), title="Security review night, revised"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        )
    )


def _checkout(world: World, resource: Resource | None, caller: Caller) -> Request:
    now = datetime.now(UTC)
    return Request(
        payments_pb2.OpenCheckoutRequest(
            booking=payments_pb2.CheckoutBooking(
                booking_id=_id(resource),
                event_id=world.the_event()["id"],
                event_title="Security review night",
                buyer_id=world["participant"].id,
                organizer_id=world["organizer"].id,
                seats=1,
                amount=money_pb2.Money(currency_code="EUR", units=25),
                hold_expire_time=stamp(now + timedelta(minutes=15)),
                event_start_time=stamp(now + timedelta(days=20)),
                event_time_zone="Europe/Berlin",
            ),
            request_id=str(uuid.uuid4()),
        )
    )


def _webhook(world: World, resource: Resource | None, caller: Caller) -> Request:
    assert resource is not None
    body = httpbody_pb2.HttpBody(content_type="application/json", data=resource.data["payload"].encode())
    return Request(
        payments_pb2.ReceiveStripeWebhookRequest(payload=body),
        metadata=(("stripe-signature", resource.data["signature"]),),
    )


def _guests_of(event_id: str) -> Request:
    return Request(
        notifications_pb2.SendNotificationRequest(
            event_id=event_id,
            title="Doors open at seven",
            body="See you there.",
            request_id=str(uuid.uuid4()),
        )
    )


REQUESTS: dict[tuple[str, str], Build] = {
    # users
    ("RegisterUser", "—"): _register,
    ("VerifyEmail", "a new account's code"): lambda w, r, c: Request(
        users_pb2.VerifyEmailRequest(email=_data(r, "email"), code=_data(r, "code"))
    ),
    ("ResendVerification", "—"): lambda w, r, c: Request(
        users_pb2.ResendVerificationRequest(email=f"nobody-{uuid.uuid4().hex[:12]}@example.com")
    ),
    ("Login", "participant's password"): lambda w, r, c: Request(
        users_pb2.LoginRequest(email=w["participant"].account.email, password=PASSWORD)  # type: ignore[union-attr]
    ),
    ("RefreshToken", "participant's refresh token"): lambda w, r, c: Request(
        users_pb2.RefreshTokenRequest(refresh_token=_data(r, "token"))
    ),
    ("Logout", "participant's refresh token"): lambda w, r, c: Request(
        users_pb2.LogoutRequest(refresh_token=_data(r, "token"))
    ),
    ("LogoutEverywhere", "—"): lambda w, r, c: Request(users_pb2.LogoutEverywhereRequest()),
    ("GetJwks", "—"): lambda w, r, c: Request(users_pb2.GetJwksRequest()),
    ("GetCurrentUser", "own account"): lambda w, r, c: Request(users_pb2.GetCurrentUserRequest()),
    ("UpdateCurrentUser", "own account"): lambda w, r, c: Request(
        users_pb2.UpdateCurrentUserRequest(
            user=users_pb2.User(display_name=f"{c.name.title()} (checked)"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    ),
    ("SendPhoneCode", "own account, new phone number"): lambda w, r, c: Request(
        users_pb2.SendPhoneCodeRequest()
    ),
    ("VerifyPhone", "own account, code sent to its phone"): lambda w, r, c: Request(
        users_pb2.VerifyPhoneRequest(code=_data(r, "code", "123456"))
    ),
    ("GetUser", "own account"): lambda w, r, c: Request(users_pb2.GetUserRequest(user_id=_id(r))),
    ("GetUser", "participant's account"): lambda w, r, c: Request(users_pb2.GetUserRequest(user_id=_id(r))),
    ("ListUsers", "participant's account"): lambda w, r, c: Request(
        users_pb2.ListUsersRequest(email_prefix=r.private if r else "", page_size=100)
    ),
    ("SetUserRole", "own account"): lambda w, r, c: Request(
        users_pb2.SetUserRoleRequest(user_id=_id(r), role=users_pb2.ROLE_ADMIN)
    ),
    ("SetUserRole", "a new participant's account"): lambda w, r, c: Request(
        users_pb2.SetUserRoleRequest(user_id=_id(r), role=users_pb2.ROLE_ORGANIZER)
    ),
    ("IssueServiceToken", "the mesh's service secret"): lambda w, r, c: Request(
        users_pb2.IssueServiceTokenRequest(
            service_name="bookings", secret=w.mesh.service_env["SEATMESH_SERVICE_SECRET"]
        )
    ),
    ("IssueServiceToken", "a wrong service secret"): lambda w, r, c: Request(
        users_pb2.IssueServiceTokenRequest(service_name="bookings", secret="not-the-secret-" + "x" * 32)
    ),
    ("BatchGetUsers", "participant's account"): lambda w, r, c: Request(
        users_pb2.BatchGetUsersRequest(user_ids=[_id(r)])
    ),
    # events
    ("CreateEvent", "—"): _create_event,
    ("GetEvent", "organizer's event"): lambda w, r, c: Request(events_pb2.GetEventRequest(event_id=_id(r))),
    ("ListEvents", "organizer's event"): lambda w, r, c: Request(
        events_pb2.ListEventsRequest(city=_data(r, "city"), organizer_id=w["organizer"].id)
    ),
    ("UpdateEvent", "organizer's event"): _update_event,
    ("DeleteEvent", "organizer's event"): lambda w, r, c: Request(
        events_pb2.DeleteEventRequest(event_id=_id(r))
    ),
    ("CancelEvent", "organizer's event"): lambda w, r, c: Request(
        events_pb2.CancelEventRequest(event_id=_id(r), reason="The venue flooded")
    ),
    ("ListTags", "—"): lambda w, r, c: Request(events_pb2.ListTagsRequest()),
    ("ListReviews", "participant's review"): lambda w, r, c: Request(
        events_pb2.ListReviewsRequest(event_id=_data(r, "event_id"))
    ),
    ("WatchAvailability", "organizer's event"): lambda w, r, c: Request(
        events_pb2.WatchAvailabilityRequest(event_id=_id(r))
    ),
    ("ReserveSeats", "a reservation at organizer's event"): lambda w, r, c: Request(
        events_pb2.ReserveSeatsRequest(event_id=_data(r, "event_id"), seats=1, reservation_id=_id(r))
    ),
    ("ReleaseSeats", "a reservation at organizer's event"): lambda w, r, c: Request(
        events_pb2.ReleaseSeatsRequest(reservation_id=_id(r))
    ),
    ("BatchGetEvents", "organizer's event"): lambda w, r, c: Request(
        events_pb2.BatchGetEventsRequest(event_ids=[_id(r)])
    ),
    # bookings
    ("CreateBooking", "organizer's event"): lambda w, r, c: Request(
        bookings_pb2.CreateBookingRequest(
            booking=bookings_pb2.Booking(event_id=_id(r), seats=1), request_id=str(uuid.uuid4())
        )
    ),
    ("GetBooking", "participant's booking"): lambda w, r, c: Request(
        bookings_pb2.GetBookingRequest(booking_id=_id(r))
    ),
    ("ListBookings", "participant's booking"): lambda w, r, c: Request(
        bookings_pb2.ListBookingsRequest(event_id=_data(r, "event_id"), page_size=100)
    ),
    ("ListBookings", "participant's booking, as host"): lambda w, r, c: Request(
        bookings_pb2.ListBookingsRequest(
            event_id=_data(r, "event_id"), page_size=100, perspective=bookings_pb2.ListBookingsRequest.HOST
        )
    ),
    ("CancelBooking", "participant's booking"): lambda w, r, c: Request(
        bookings_pb2.CancelBookingRequest(booking_id=_id(r), reason="Plans changed")
    ),
    ("ApproveBooking", "participant's booking request"): lambda w, r, c: Request(
        bookings_pb2.ApproveBookingRequest(booking_id=_id(r))
    ),
    ("RejectBooking", "participant's booking request"): lambda w, r, c: Request(
        bookings_pb2.RejectBookingRequest(booking_id=_id(r), reason="Full house")
    ),
    ("ReviewBooking", "participant's attended booking"): lambda w, r, c: Request(
        bookings_pb2.ReviewBookingRequest(booking_id=_id(r), event_rating=5, host_rating=5, comment="Great")
    ),
    ("RateGuest", "participant's attended booking"): lambda w, r, c: Request(
        bookings_pb2.RateGuestRequest(booking_id=_id(r), rating=5)
    ),
    # notifications
    ("ListNotifications", "own notification"): lambda w, r, c: Request(
        notifications_pb2.ListNotificationsRequest(page_size=100)
    ),
    ("ListNotifications", "participant's notification"): lambda w, r, c: Request(
        notifications_pb2.ListNotificationsRequest(page_size=100)
    ),
    ("MarkNotificationRead", "own notification"): lambda w, r, c: Request(
        notifications_pb2.MarkNotificationReadRequest(notification_id=_id(r))
    ),
    ("MarkNotificationRead", "participant's notification"): lambda w, r, c: Request(
        notifications_pb2.MarkNotificationReadRequest(notification_id=_id(r))
    ),
    ("MarkAllNotificationsRead", "—"): lambda w, r, c: Request(
        notifications_pb2.MarkAllNotificationsReadRequest()
    ),
    ("GetNotificationPreferences", "—"): lambda w, r, c: Request(
        notifications_pb2.GetNotificationPreferencesRequest()
    ),
    ("UpdateNotificationPreferences", "—"): lambda w, r, c: Request(
        notifications_pb2.UpdateNotificationPreferencesRequest(
            preferences=notifications_pb2.NotificationPreferences(
                kinds=[
                    notifications_pb2.KindPreference(
                        kind=notifications_pb2.KIND_REMINDER_1H, in_app=True, email=False, sms=False
                    )
                ]
            )
        )
    ),
    ("SendNotification", "organizer's event"): lambda w, r, c: _guests_of(_id(r)),
    ("SendNotification", "everyone"): lambda w, r, c: _guests_of(""),
    ("ListDeliveries", "—"): lambda w, r, c: Request(notifications_pb2.ListDeliveriesRequest()),
    ("ListDeadLetters", "—"): lambda w, r, c: Request(notifications_pb2.ListDeadLettersRequest()),
    ("WatchNotifications", "—"): lambda w, r, c: Request(notifications_pb2.WatchNotificationsRequest()),
    # payments
    ("OpenCheckout", "a booking awaiting payment"): _checkout,
    ("CreateCheckout", "participant's payment"): lambda w, r, c: Request(
        payments_pb2.CreateCheckoutRequest(booking_id=_data(r, "booking_id"))
    ),
    ("GetPayment", "participant's payment"): lambda w, r, c: Request(
        payments_pb2.GetPaymentRequest(payment_id=_id(r))
    ),
    ("ListPayments", "participant's payment"): lambda w, r, c: Request(
        payments_pb2.ListPaymentsRequest(booking_id=_data(r, "booking_id"))
    ),
    ("ListPayments", "participant's payment, as organizer"): lambda w, r, c: Request(
        payments_pb2.ListPaymentsRequest(
            booking_id=_data(r, "booking_id"), perspective=payments_pb2.ListPaymentsRequest.ORGANIZER
        )
    ),
    ("MarkPaid", "participant's payment"): lambda w, r, c: Request(
        payments_pb2.MarkPaidRequest(payment_id=_id(r))
    ),
    ("RefundPayment", "participant's paid payment"): lambda w, r, c: Request(
        payments_pb2.RefundPaymentRequest(
            payment_id=_id(r),
            amount=money_pb2.Money(currency_code="EUR", units=1),
            reason="Goodwill",
            request_id=str(uuid.uuid4()),
        )
    ),
    ("ReceiveStripeWebhook", "a webhook Stripe signed"): _webhook,
    ("ReceiveStripeWebhook", "a webhook nobody signed"): _webhook,
    ("GetSalesReport", "organizer's paid event"): lambda w, r, c: Request(
        payments_pb2.GetSalesReportRequest(event_id=_id(r))
    ),
}


def _rpc(service: str, name: str) -> Rpc:
    return next(rpc for rpc in every_rpc() if rpc.service == service and rpc.name == name)


def _ways(rpc: Rpc) -> list[Via]:
    return [Via.DIRECT, *([Via.EDGE_REST] if rpc.http is not None else []), Via.EDGE_GRPC]


# -- the world, made once -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(security_mesh: Mesh, rest: httpx.Client, client: MeshClient) -> World:
    people = sign_in_everyone(security_mesh, rest, prefix="Matrix ")
    setup = Setup(rest)
    organizer, guest = people["organizer"], people["participant"]
    # Short events first, so they are over by the time the review rows come: each starts seconds
    # from now, one after the other (a guest's bookings must not start at the same moment).
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=15)
    attended = [
        setup.book(
            guest,
            setup.event(organizer, start=soon + timedelta(seconds=index), duration=timedelta(seconds=1))[
                "id"
            ],
        )
        for index in range(ATTENDED_EVENTS)
    ]
    made = World(security_mesh, rest, client, people, setup, attended)
    # Everyone gets a notification of their own: a booking each (the organizer books the other
    # organizer's event, not their own).
    made.the_booking()
    for name in ("participant 2", "organizer 2", "admin"):
        setup.book(made[name], made.the_event()["id"])
    setup.book(made["organizer"], setup.event(made["organizer 2"])["id"])
    return made


def test_the_table_covers_every_rpc_and_only_them() -> None:
    listed = {(row.service, row.rpc) for row in ROWS}
    contract = {(rpc.service, rpc.name) for rpc in every_rpc()}
    assert contract - listed == set(), "RPCs nobody said who may call: add rows to authorization.md"
    assert listed - contract == set(), "rows for RPCs the contract does not have"
    assert {(row.rpc, row.resource) for row in ROWS} == set(REQUESTS), "rows and request builders differ"
    assert {row.resource for row in ROWS} <= set(RESOURCES)


def _event_is_gone(world: World, resource: Resource, outcome: Outcome) -> str | None:
    found = world.rest.get(f"/v1/events/{resource.id}")
    return None if found.status_code == 404 else f"the event is still there: {found.text[:200]}"


def _reached_the_guests(world: World, resource: Resource, outcome: Outcome) -> str | None:
    # The event has guests (see `world`): a message that reached nobody was not really sent.
    return None if re.search(r'[Cc]ount"?:\s*[1-9]', outcome.reply) else f"sent to nobody: {outcome.reply!r}"


# What proves a success whose reply names nothing (an Empty, a count): its effect.
PROOFS: dict[str, Callable[[World, Resource, Outcome], str | None]] = {
    "DeleteEvent": _event_is_gone,
    "SendNotification": _reached_the_guests,
}


@dataclass(frozen=True)
class PreparedCell:
    row: Row
    rpc: Rpc
    caller: Caller
    via: Via
    expected: Expected
    resource: Resource | None
    request: Request

    def run(self, world: World) -> str | None:
        metadata = [*self.caller.metadata, *self.request.metadata]
        outcome = world.client.call(self.rpc, self.request.message, metadata, self.via)
        proof = PROOFS.get(self.row.rpc) if self.resource is not None and self.resource.id else None
        problem = self.expected.problem(outcome, None if proof else self.resource)
        if problem is None and proof is not None and outcome.ok:
            assert self.resource is not None
            problem = proof(world, self.resource, outcome)
        return f"{self.row} as {self.caller.name} via {self.via.value}: {problem}" if problem else None


def _cells(world: World, row: Row) -> Iterator[PreparedCell]:
    """Every cell of `row`, its resource and request made as the cell comes up (a fresh resource
    can depend on the caller's state at that moment: their phone number, their sign-ins)."""
    rpc = _rpc(row.service, row.rpc)
    for caller_name in CALLERS:
        direct = row.cells[caller_name]
        if direct is None:
            continue
        caller = world[caller_name]
        for via in _ways(rpc):
            expected = row.edge if via is not Via.DIRECT and row.edge is not None else direct
            cell = Cell(row.rpc, caller, fresh=row.rpc in MUTATING and expected.code == grpc.StatusCode.OK)
            resource = RESOURCES[row.resource](world, cell)
            request = REQUESTS[(row.rpc, row.resource)](world, resource, caller)
            yield PreparedCell(row, rpc, caller, via, expected, resource, request)


@pytest.mark.parametrize("service", ["users", "events", "bookings", "notifications", "payments"])
def test_every_caller_gets_what_the_table_says(world: World, service: str) -> None:
    problems: list[str | None] = []
    for row in [row for row in ROWS if row.service == service]:
        if _rpc(service, row.rpc).streaming:
            # An accepted stream stays open, waiting: its cells (which change nothing) wait side by side.
            cells = list(_cells(world, row))
            with ThreadPoolExecutor(max_workers=len(cells)) as pool:
                problems.extend(pool.map(lambda cell: cell.run(world), cells))
        else:
            problems.extend(cell.run(world) for cell in _cells(world, row))
    found = [problem for problem in problems if problem]
    assert not found, f"{len(found)} cells disagree with authorization.md:\n" + "\n".join(found)
