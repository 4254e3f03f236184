"""Issue 11 on the events service, over gRPC: forged page tokens, far-future times, oversized repeated
fields, live streams capped per client and per process, public review pages that link nobody to an
attendance beyond the author's name, and deletions announced on the bus."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from sqlalchemy import insert

from seatmesh.events.v1 import bus_pb2, events_pb2
from seatmesh.users.v1 import users_pb2, users_pb2_grpc
from services.events import tables
from services.runtime.auth import Role
from services.runtime.edge import CLIENT_ADDRESS_HEADER, EDGE_HEADER
from services.runtime.errors import error_metadata, error_reason, status_details
from tests.integration.test_events_helpers import (
    EventsClient,
    event_message,
    events_client,
    eventually,
    stamp,
    violations_of,
)
from tests.support.engines import Engines
from tests.support.tokens import TokenFactory, bearer

# The issue's example: a sort key of the wrong types, in the token shape of old, unsigned.
ISSUE_TOKEN = base64.urlsafe_b64encode(b'{"k":["2030-01-01T00:00:00+00:00",1]}').decode().rstrip("=")


@pytest.fixture(scope="module")
async def client(tokens: TokenFactory, engines: Engines) -> AsyncIterator[EventsClient]:
    async with events_client(tokens, engines) as running:
        yield running


async def refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def add_reviews(
    client: EventsClient, event_id: str, authors: list[str], start: datetime | None = None
) -> list[str]:
    """Reviews as the bus consumer stores them, one per author a minute apart from `start` (an hour
    ago by default), newest last; their booking ids."""
    booking_ids = [str(uuid.uuid4()) for _ in authors]
    start = start or datetime.now(UTC) - timedelta(hours=1)
    async with client.database.transaction() as tx:
        for index, (author, booking_id) in enumerate(zip(authors, booking_ids, strict=True)):
            await tx.execute(
                insert(tables.reviews).values(
                    id=uuid.uuid4(),
                    event_id=uuid.UUID(event_id),
                    booking_id=booking_id,
                    author_id=author,
                    event_rating=5,
                    host_rating=4,
                    comment=f"review {index}",
                    create_time=start + timedelta(minutes=index),
                )
            )
    return booking_ids


# -- defect 2: page tokens this list did not issue for this query ---------------------------------

ListCall = Callable[[str], Awaitable[Any]]


async def assert_refuses_foreign_tokens(call: ListCall, genuine: str, *foreign: str) -> None:
    """`call(token)` lists with `token`: the genuine one works; forged, truncated and foreign ones
    are INVALID_ARGUMENT naming page_token, never INTERNAL."""
    await call(genuine)
    for token in (ISSUE_TOKEN, genuine[:-3], genuine[: len(genuine) // 2], genuine + "A", *foreign):
        error = await refused(call(token))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (token, error)
        assert violations_of(error) == ["page_token"], token


async def test_list_events_refuses_page_tokens_it_did_not_issue_for_the_query(client: EventsClient) -> None:
    for tag in ("alpha", "beta", "gamma"):
        await client.create(city="Trondheim", tags=[tag])
    first = await client.stub.ListEvents(events_pb2.ListEventsRequest(page_size=1, city="Trondheim"))
    tags = await client.stub.ListTags(events_pb2.ListTagsRequest(page_size=1))
    assert first.next_page_token
    assert tags.next_page_token

    async def trondheim(token: str) -> Any:
        return await client.stub.ListEvents(
            events_pb2.ListEventsRequest(page_size=1, city="Trondheim", page_token=token)
        )

    await assert_refuses_foreign_tokens(trondheim, first.next_page_token, tags.next_page_token)
    # The same list with other filters: another city, another order.
    for other_filters in (
        events_pb2.ListEventsRequest(page_size=1, city="Bergen", page_token=first.next_page_token),
        events_pb2.ListEventsRequest(
            page_size=1, city="Trondheim", order_by="rating desc", page_token=first.next_page_token
        ),
    ):
        assert violations_of(await refused(client.stub.ListEvents(other_filters))) == ["page_token"]


async def test_list_reviews_refuses_page_tokens_it_did_not_issue_for_the_event(client: EventsClient) -> None:
    event = await client.create()
    other = await client.create()
    await add_reviews(client, event.id, [str(uuid.uuid4()) for _ in range(3)])
    await add_reviews(client, other.id, [str(uuid.uuid4()) for _ in range(3)])
    first = await client.stub.ListReviews(events_pb2.ListReviewsRequest(event_id=event.id, page_size=1))
    of_other = await client.stub.ListReviews(events_pb2.ListReviewsRequest(event_id=other.id, page_size=1))
    events_page = await client.stub.ListEvents(events_pb2.ListEventsRequest(page_size=1))
    assert first.next_page_token
    assert of_other.next_page_token
    assert events_page.next_page_token

    async def reviews(token: str) -> Any:
        return await client.stub.ListReviews(
            events_pb2.ListReviewsRequest(event_id=event.id, page_size=1, page_token=token)
        )

    await assert_refuses_foreign_tokens(
        reviews, first.next_page_token, of_other.next_page_token, events_page.next_page_token
    )


async def test_list_tags_refuses_page_tokens_it_did_not_issue(client: EventsClient) -> None:
    await client.create(tags=["alpha", "beta", "gamma"])
    first = await client.stub.ListTags(events_pb2.ListTagsRequest(page_size=1))
    events_page = await client.stub.ListEvents(events_pb2.ListEventsRequest(page_size=1))
    assert first.next_page_token
    assert events_page.next_page_token

    async def tags(token: str) -> Any:
        return await client.stub.ListTags(events_pb2.ListTagsRequest(page_size=1, page_token=token))

    await assert_refuses_foreign_tokens(tags, first.next_page_token, events_page.next_page_token)


# -- defect 4: times within a sane window ---------------------------------------------------------


async def test_far_future_and_month_long_events_are_refused_naming_the_fields(client: EventsClient) -> None:
    far = datetime(9999, 6, 1, 22, tzinfo=UTC)
    error = await refused(client.create(start=far))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(error) == ["event.start_time", "event.end_time"]
    start = datetime.now(UTC) + timedelta(days=3)
    too_long = event_message(start_time=stamp(start), end_time=stamp(start + timedelta(days=32)))
    error = await refused(
        client.stub.CreateEvent(events_pb2.CreateEventRequest(event=too_long), metadata=client.organizer())
    )
    assert violations_of(error) == ["event.end_time"]
    event = await client.create()
    moved = events_pb2.Event(id=event.id, end_time=stamp(datetime(9999, 1, 1, tzinfo=UTC)))
    error = await refused(
        client.stub.UpdateEvent(
            events_pb2.UpdateEventRequest(
                event=moved, update_mask=field_mask_pb2.FieldMask(paths=["end_time"])
            ),
            metadata=client.organizer(),
        )
    )
    assert violations_of(error) == ["event.end_time"]


# -- repeated fields are capped ------------------------------------------------------------------


async def test_oversized_repeated_fields_are_one_small_error_naming_the_field(client: EventsClient) -> None:
    many_tags = event_message(tags=["jazz"] * 1000)
    error = await refused(
        client.stub.CreateEvent(events_pb2.CreateEventRequest(event=many_tags), metadata=client.organizer())
    )
    assert (error.code(), violations_of(error)) == (grpc.StatusCode.INVALID_ARGUMENT, ["event.tags"])
    event = await client.create()
    error = await refused(
        client.stub.UpdateEvent(
            events_pb2.UpdateEventRequest(
                event=events_pb2.Event(id=event.id, title="New"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"] * 1000),
            ),
            metadata=client.organizer(),
        )
    )
    assert violations_of(error) == ["update_mask"]
    error = await refused(client.stub.ListEvents(events_pb2.ListEventsRequest(tags=["x" * 60] * 1000)))
    assert violations_of(error) == ["tags"]


# -- defect 13: WatchAvailability streams are capped ---------------------------------------------

EDGE_SECRET = "events-hardening-edge-secret"


def from_edge(client_address: str) -> tuple[tuple[str, str], ...]:
    """What Envoy adds to every call: the client's address, and the proof that Envoy says so."""
    return ((EDGE_HEADER, EDGE_SECRET), (CLIENT_ADDRESS_HEADER, client_address))


def retry_delay(error: grpc.aio.AioRpcError) -> float:
    status = status_details(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToMilliseconds()) / 1000
    raise AssertionError("no RetryInfo")


async def test_watch_streams_are_capped_per_client_address_and_per_process(
    tokens: TokenFactory, engines: Engines
) -> None:
    async with events_client(
        tokens,
        engines,
        edge_secret=EDGE_SECRET,
        availability_max_streams=3,
        availability_max_streams_per_client=2,
    ) as limited:
        event = await limited.create(capacity=10)
        request = events_pb2.WatchAvailabilityRequest(event_id=event.id)
        opened: list[Any] = []

        async def watch(metadata: tuple[tuple[str, str], ...]) -> Any:
            call = limited.stub.WatchAvailability(request, metadata=metadata)
            opened.append(call)
            first = await asyncio.wait_for(call.read(), 10)
            assert first.capacity == 10
            return call

        try:
            first_a = await watch(from_edge("203.0.113.5"))
            await watch(from_edge("203.0.113.5"))
            third_a = await refused(watch(from_edge("203.0.113.5")))
            assert (third_a.code(), error_reason(third_a)) == (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "TOO_MANY_STREAMS",
            )
            assert error_metadata(third_a)["limit"] == "client"
            assert retry_delay(third_a) > 0
            await watch(from_edge("198.51.100.7"))
            fourth = await refused(watch(from_edge("192.0.2.9")))
            assert error_metadata(fourth)["limit"] == "server"
            assert retry_delay(fourth) > 0

            # A stream that ends gives its slot back.
            first_a.cancel()

            async def reopened() -> bool:
                try:
                    await watch(from_edge("203.0.113.5"))
                except grpc.aio.AioRpcError:
                    return False
                return True

            await eventually(reopened, what="a slot freed by a stream that ended")
        finally:
            for call in opened:
                call.cancel()


async def test_a_client_address_not_vouched_for_by_the_edge_is_ignored(
    tokens: TokenFactory, engines: Engines
) -> None:
    """Direct callers (no edge proof) are known by their peer address, whatever header they send."""
    async with events_client(
        tokens, engines, edge_secret=EDGE_SECRET, availability_max_streams_per_client=2
    ) as limited:
        event = await limited.create()
        request = events_pb2.WatchAvailabilityRequest(event_id=event.id)
        opened = []
        try:
            for index in range(2):
                forged = ((CLIENT_ADDRESS_HEADER, f"203.0.113.{index + 1}"),)
                call = limited.stub.WatchAvailability(request, metadata=forged)
                opened.append(call)
                await asyncio.wait_for(call.read(), 10)
            call = limited.stub.WatchAvailability(
                request, metadata=((CLIENT_ADDRESS_HEADER, "203.0.113.99"), (EDGE_HEADER, "wrong"))
            )
            opened.append(call)
            error = await refused(asyncio.wait_for(call.read(), 10))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            for call in opened:
                call.cancel()


# -- defect 13: public review pages --------------------------------------------------------------


class FakeUsers(users_pb2_grpc.UserServiceServicer):
    """The users service as events sees it: display names by id, and a count of the calls."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.calls = 0

    async def BatchGetUsers(
        self, request: users_pb2.BatchGetUsersRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.BatchGetUsersResponse:
        self.calls += 1
        return users_pb2.BatchGetUsersResponse(
            users=[
                users_pb2.User(id=user_id, display_name=self.names[user_id], email=f"{user_id}@example.com")
                for user_id in request.user_ids
                if user_id in self.names
            ]
        )


async def serve_fake_users(fake: FakeUsers) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    users_pb2_grpc.add_UserServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def test_public_reviews_show_the_authors_name_and_hide_who_attended(
    tokens: TokenFactory, engines: Engines
) -> None:
    ada, bob, gone = (str(uuid.uuid4()) for _ in range(3))
    fake = FakeUsers({ada: "Ada L.", bob: "Bob"})
    server, address = await serve_fake_users(fake)
    try:
        async with events_client(tokens, engines, users_address=address) as named:
            event = await named.create()
            ada_booking, bob_booking, gone_booking = await add_reviews(named, event.id, [ada, bob, gone])
            request = events_pb2.ListReviewsRequest(event_id=event.id)

            public = await named.stub.ListReviews(request)
            assert [(r.author_name, r.booking_id, r.author_id) for r in public.reviews] == [
                ("", "", ""),  # an author users no longer knows: no name
                ("Bob", "", ""),
                ("Ada L.", "", ""),
            ]
            assert [r.comment for r in public.reviews] == ["review 2", "review 1", "review 0"]
            assert all(
                r.event_rating == 5 and r.host_rating == 4 and r.create_time.seconds for r in public.reviews
            )

            as_participant = await named.stub.ListReviews(
                request, metadata=bearer(named.tokens.token(str(uuid.uuid4())))
            )
            assert {(r.booking_id, r.author_id) for r in as_participant.reviews} == {("", "")}
            as_organizer = await named.stub.ListReviews(request, metadata=named.organizer())
            assert {(r.booking_id, r.author_id) for r in as_organizer.reviews} == {("", "")}

            as_ada = await named.stub.ListReviews(request, metadata=bearer(named.tokens.token(ada)))
            assert [(r.booking_id, r.author_id) for r in as_ada.reviews] == [
                ("", ""),
                ("", ""),
                (ada_booking, ada),
            ]
            as_admin = await named.stub.ListReviews(
                request, metadata=bearer(named.tokens.token(str(uuid.uuid4()), Role.ADMIN))
            )
            assert [(r.booking_id, r.author_id) for r in as_admin.reviews] == [
                (gone_booking, gone),
                (bob_booking, bob),
                (ada_booking, ada),
            ]
            # Names come from a small per-process cache: one call to users for all those pages.
            assert fake.calls == 1

            # Users is down: the page still renders; names it knew stay, new ones are empty.
            await server.stop(0)
            newcomer = str(uuid.uuid4())
            await add_reviews(named, event.id, [newcomer], start=datetime.now(UTC))
            started = asyncio.get_running_loop().time()
            during_outage = await named.stub.ListReviews(request, timeout=10)
            assert asyncio.get_running_loop().time() - started < 5
            assert [r.author_name for r in during_outage.reviews] == ["", "", "Bob", "Ada L."]
    finally:
        await server.stop(0)


# -- defect 13: deleting an event is announced ---------------------------------------------------


async def test_delete_event_publishes_event_deleted_with_the_delete(client: EventsClient) -> None:
    event = await client.create()
    await client.stub.DeleteEvent(
        events_pb2.DeleteEventRequest(event_id=event.id), metadata=client.organizer()
    )
    deleted = [
        message
        for message in await client.outbox_messages(bus_pb2.EventDeleted)
        if message.event.id == event.id
    ]
    assert len(deleted) == 1
    assert deleted[0].event.title == event.title
    assert deleted[0].deleted_by == client.organizer_id

    # A refused delete announces nothing (the outbox row is part of the delete's transaction).
    kept = await client.create()
    await client.reserve(kept.id)
    await refused(
        client.stub.DeleteEvent(events_pb2.DeleteEventRequest(event_id=kept.id), metadata=client.organizer())
    )
    announced = {message.event.id for message in await client.outbox_messages(bus_pb2.EventDeleted)}
    assert kept.id not in announced
