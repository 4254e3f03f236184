"""Protobuf <-> domain for the users service: the User message, roles, tokens, the profile update
of a request, the bus events it publishes and the ratings it reads from bookings' events.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from datetime import datetime

from seatmesh.bookings.v1 import bus_pb2 as bookings_bus_pb2
from seatmesh.users.v1 import bus_pb2, users_pb2
from services.runtime.auth import Role
from services.runtime.timestamps import timestamp
from services.users import domain
from services.users.domain import CodeChannel, RatingKind, RatingTotals, Tokens, User

_ROLE_TO_PROTO = {
    Role.PARTICIPANT: users_pb2.ROLE_PARTICIPANT,
    Role.ORGANIZER: users_pb2.ROLE_ORGANIZER,
    Role.ADMIN: users_pb2.ROLE_ADMIN,
    Role.SERVICE: users_pb2.ROLE_SERVICE,
}
_ROLE_FROM_PROTO = {value: key for key, value in _ROLE_TO_PROTO.items()}


def role_to_proto(role: Role) -> users_pb2.Role:
    return _ROLE_TO_PROTO[role]


def role_from_proto(value: users_pb2.Role) -> Role | None:
    """The role a request names; None for ROLE_UNSPECIFIED and numbers this contract does not know."""
    return _ROLE_FROM_PROTO.get(value)


def registered_role_from_proto(value: users_pb2.Role) -> Role | None:
    """RegisterUser's role: unset means participant, the contract's default."""
    return Role.PARTICIPANT if value == users_pb2.ROLE_UNSPECIFIED else role_from_proto(value)


def user_filter_from_proto(request: users_pb2.ListUsersRequest) -> domain.UserFilter:
    return domain.validate_user_filter(
        role_from_proto(request.role),
        role_given=request.role != users_pb2.ROLE_UNSPECIFIED,
        email_prefix=request.email_prefix,
    )


def profile_update_from_proto(
    request: users_pb2.UpdateCurrentUserRequest,
) -> tuple[list[str], dict[str, str]]:
    """The paths to update and the request's values for those a person may change.

    AIP-134: no mask means every (updatable) field the request sets.
    """
    paths = list(request.update_mask.paths) or [
        name for name in domain.UPDATABLE_PROFILE_FIELDS if getattr(request.user, name)
    ]
    values = {name: getattr(request.user, name) for name in paths if name in domain.UPDATABLE_PROFILE_FIELDS}
    return paths, values


def user_ids_from_proto(values: Iterable[str]) -> list[uuid.UUID]:
    """The ids asked for, each once, in order; what is not a UUID is no id of ours, so unknown:
    left out like any other."""
    wanted: dict[uuid.UUID, None] = {}
    for value in values:
        with contextlib.suppress(ValueError):
            wanted[uuid.UUID(value)] = None
    return list(wanted)


def _rating(totals: RatingTotals) -> users_pb2.Rating:
    return users_pb2.Rating(average=totals.average, count=totals.count)


def user_to_proto(user: User, *, full: bool) -> users_pb2.User:
    """The whole account for its owner, admins and services; name and ratings for everyone else."""
    message = users_pb2.User(
        id=str(user.id),
        display_name=user.display_name,
        host_rating=_rating(user.host_rating),
        guest_rating=_rating(user.guest_rating),
    )
    if full:
        message.email = user.email
        message.phone = user.phone
        message.role = role_to_proto(user.role)
        message.email_verified = user.email_verified
        message.phone_verified = user.phone_verified
        message.pending_email = user.pending_email or ""
        message.time_zone = user.time_zone
        message.locale = user.locale
        message.create_time.CopyFrom(timestamp(user.created_at))
        message.update_time.CopyFrom(timestamp(user.updated_at))
    return message


def tokens_to_proto(tokens: Tokens) -> users_pb2.AuthTokens:
    return users_pb2.AuthTokens(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        token_type="Bearer",
    )


# -- bus events published -------------------------------------------------------------------------


def user_registered(user: User) -> bus_pb2.UserRegistered:
    return bus_pb2.UserRegistered(
        user_id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        phone=user.phone,
        role=role_to_proto(user.role),
        locale=user.locale,
    )


# The purpose each code event's sealed_code is sealed for (runtime.sealing.Sealer): the field's full
# name, which is what bus.proto tells notifications to open it with.
SEALING_PURPOSES = {
    CodeChannel.EMAIL: bus_pb2.VerificationCodeIssued.DESCRIPTOR.fields_by_name["sealed_code"].full_name,
    CodeChannel.PHONE: bus_pb2.PhoneCodeIssued.DESCRIPTOR.fields_by_name["sealed_code"].full_name,
}


def code_issued(
    channel: CodeChannel, user: User, address: str, sealed_code: bytes, expires_at: datetime
) -> bus_pb2.VerificationCodeIssued | bus_pb2.PhoneCodeIssued:
    """What asks notifications to send a code to `address` (an email address or a phone number).
    The code travels sealed to the user: the clear-text `code` field stays empty."""
    # The two messages differ only in the field that holds the address.
    message: bus_pb2.VerificationCodeIssued | bus_pb2.PhoneCodeIssued = (
        bus_pb2.PhoneCodeIssued(phone=address)
        if channel is CodeChannel.PHONE
        else bus_pb2.VerificationCodeIssued(email=address)
    )
    message.user_id = str(user.id)
    message.display_name = user.display_name
    message.sealed_code = sealed_code
    message.expire_time.CopyFrom(timestamp(expires_at))
    message.locale = user.locale
    return message


def email_verified(user: User) -> bus_pb2.EmailVerified:
    return bus_pb2.EmailVerified(user_id=str(user.id), email=user.email)


# -- bus events consumed --------------------------------------------------------------------------


def host_rating_from_proto(message: bookings_bus_pb2.ReviewSubmitted) -> domain.Rating | None:
    """A guest reviewed an event they attended: the host's rating (None when not rated)."""
    review = message.review
    return domain.given_rating(review.booking_id, RatingKind.HOST, review.host_id, review.host_rating)


def guest_rating_from_proto(message: bookings_bus_pb2.GuestRated) -> domain.Rating | None:
    """A host rated a guest of their event: the guest's rating."""
    rating = message.rating
    return domain.given_rating(rating.booking_id, RatingKind.GUEST, rating.guest_id, rating.rating)
