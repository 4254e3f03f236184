"""gRPC handlers of UserService: proto <-> domain, and who may do what.

Access levels (ACCESS): sign-up, sign-in, JWKS and public profiles are open; BatchGetUsers is for
services only; IssueServiceToken is open at the RPC gate (it checks the service's secret itself)
and refused at the edge by Envoy's RBAC. ListUsers and SetUserRole check for the admin role here.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf import empty_pb2
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from seatmesh.users.v1 import bus_pb2, users_pb2, users_pb2_grpc
from services.runtime.app import method_access
from services.runtime.auth import (
    Principal,
    Role,
    access_claims,
    current_principal,
    require_principal,
    require_role,
)
from services.runtime.bus import publish
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    Violations,
    already_exists,
    bad_field,
    failed_precondition,
    invalid_argument,
    not_found,
    parse_uuid,
    permission_denied,
    resource_exhausted,
    unauthenticated,
)
from services.runtime.interceptors import request_metadata
from services.runtime.pagination import decode_token, encode_token, page_size
from services.runtime.timestamps import timestamp
from services.users import models, rules, store
from services.users.keyring import KeyRing
from services.users.passwords import PasswordHasher
from services.users.ratelimit import CodeThrottle, LoginThrottle, Verdict
from services.users.settings import UsersSettings

log = logging.getLogger(__name__)

SERVICE = users_pb2.DESCRIPTOR.services_by_name["UserService"]
ACCESS = method_access(
    SERVICE,
    public={
        "RegisterUser",
        "VerifyEmail",
        "ResendVerification",
        "Login",
        "RefreshToken",
        "GetJwks",
        "GetUser",
        "IssueServiceToken",
    },
    internal={"BatchGetUsers"},
)

BATCH_GET_LIMIT = 1000

_ROLE_TO_PROTO = {
    Role.PARTICIPANT: users_pb2.ROLE_PARTICIPANT,
    Role.ORGANIZER: users_pb2.ROLE_ORGANIZER,
    Role.ADMIN: users_pb2.ROLE_ADMIN,
    Role.SERVICE: users_pb2.ROLE_SERVICE,
}
_ROLE_FROM_PROTO = {value: key for key, value in _ROLE_TO_PROTO.items()}
_REGISTRABLE = {
    users_pb2.ROLE_UNSPECIFIED: Role.PARTICIPANT,
    users_pb2.ROLE_PARTICIPANT: Role.PARTICIPANT,
    users_pb2.ROLE_ORGANIZER: Role.ORGANIZER,
}


def _rating(total: int, count: int) -> users_pb2.Rating:
    return users_pb2.Rating(average=round(total / count, 2) if count else 0.0, count=count)


def user_proto(row: Row[Any], *, full: bool) -> users_pb2.User:
    """The whole account for its owner, admins and services; name and ratings for everyone else."""
    user = users_pb2.User(
        id=str(row.id),
        display_name=row.display_name,
        host_rating=_rating(row.host_rating_sum, row.host_rating_count),
        guest_rating=_rating(row.guest_rating_sum, row.guest_rating_count),
    )
    if full:
        user.email = row.email
        user.phone = row.phone
        user.role = _ROLE_TO_PROTO[Role(row.role)]
        user.email_verified = row.email_verified
        user.time_zone = row.time_zone
        user.locale = row.locale
        user.create_time.CopyFrom(timestamp(row.created_at))
        user.update_time.CopyFrom(timestamp(row.updated_at))
    return user


def _own_user_id(principal: Principal) -> uuid.UUID:
    """The caller's account id; services have none."""
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise permission_denied("only people have an account", reason="USER_REQUIRED") from None


def _email_taken() -> ServiceError:
    return already_exists("EMAIL_TAKEN", "an account with this email already exists")


def _too_many_logins(verdict: Verdict) -> ServiceError:
    return resource_exhausted(
        "TOO_MANY_LOGIN_ATTEMPTS",
        "too many failed sign-in attempts; try again later",
        retry_after=verdict.retry_after,
    )


def _too_many_codes(verdict: Verdict) -> ServiceError:
    return resource_exhausted(
        "TOO_MANY_VERIFICATION_CODES",
        "a code was sent recently; wait before asking for another one",
        retry_after=verdict.retry_after,
    )


@dataclass
class UserServiceServicer(users_pb2_grpc.UserServiceServicer):
    settings: UsersSettings
    engine: AsyncEngine
    keys: KeyRing
    hasher: PasswordHasher
    logins: LoginThrottle
    codes: CodeThrottle

    # -- shared steps ---------------------------------------------------------------------------

    def _access_token(self, user: Row[Any]) -> str:
        return self.keys.signing_key().sign(
            access_claims(
                subject=str(user.id),
                role=Role(user.role),
                issuer=self.settings.jwt_issuer,
                audience=self.settings.jwt_audience,
                ttl_seconds=self.settings.access_token_ttl_seconds,
                email_verified=user.email_verified,
            )
        )

    async def _issue_tokens(
        self, connection: AsyncConnection, user: Row[Any], family_id: uuid.UUID
    ) -> users_pb2.AuthTokens:
        refresh_token = rules.new_refresh_token()
        await store.insert_refresh_token(
            connection,
            user_id=user.id,
            family_id=family_id,
            token_hash=rules.hash_refresh_token(refresh_token),
            expires_at=datetime.now(UTC) + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
        )
        return users_pb2.AuthTokens(
            access_token=self._access_token(user),
            refresh_token=refresh_token,
            expires_in=self.settings.access_token_ttl_seconds,
            token_type="Bearer",
        )

    async def _issue_code(self, connection: AsyncConnection, user: Row[Any]) -> str:
        """A fresh code for the user's current email, stored hashed; notifications mails it."""
        code = rules.new_verification_code()
        expires_at = datetime.now(UTC) + timedelta(seconds=self.settings.verification_code_ttl_seconds)
        await store.save_verification_code(
            connection,
            user_id=user.id,
            email=user.email,
            code_hash=rules.hash_verification_code(str(user.id), user.email, code),
            expires_at=expires_at,
        )
        await publish(
            connection,
            models.outbox,
            bus_pb2.VerificationCodeIssued(
                user_id=str(user.id),
                email=user.email,
                display_name=user.display_name,
                code=code,
                expire_time=timestamp(expires_at),
                locale=user.locale,
            ),
            source="users",
        )
        return code

    def _announce_code(self, email: str, code: str) -> None:
        # Only for local development: a real deployment never writes codes to its logs.
        if self.settings.dev_mode:
            log.warning(f"dev mode: the verification code for {email} is {code}")

    # -- sign-up --------------------------------------------------------------------------------

    async def RegisterUser(
        self, request: users_pb2.RegisterUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        email = rules.normalize_email(request.email)
        display_name = request.display_name.strip()
        phone = request.phone.strip()
        violations = Violations()
        rules.check_registration(
            email=email,
            password=request.password,
            display_name=display_name,
            phone=phone,
            violations=violations,
        )
        role = _REGISTRABLE.get(request.role)
        if role is None:
            violations.add("role", "must be ROLE_PARTICIPANT or ROLE_ORGANIZER")
        violations.raise_if_any()
        assert role is not None
        # Cheap early answer for the common duplicate; the unique index settles races below.
        async with self.engine.connect() as connection:
            if await store.user_by_email(connection, email) is not None:
                raise _email_taken()
        password_hash = await self.hasher.hash(request.password)
        # The first code is always sent; this only starts the resend cooldown.
        await self.codes.take(email)
        async with self.engine.begin() as connection:
            try:
                user = await store.insert_user(
                    connection,
                    email=email,
                    password_hash=password_hash,
                    display_name=display_name,
                    phone=phone,
                    role=role.value,
                )
            except store.EmailTaken:
                raise _email_taken() from None
            await publish(
                connection,
                models.outbox,
                bus_pb2.UserRegistered(
                    user_id=str(user.id),
                    email=user.email,
                    display_name=user.display_name,
                    phone=user.phone,
                    role=_ROLE_TO_PROTO[role],
                    locale=user.locale,
                ),
                source="users",
            )
            code = await self._issue_code(connection, user)
        self._announce_code(email, code)
        return user_proto(user, full=True)

    async def VerifyEmail(
        self, request: users_pb2.VerifyEmailRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        email = rules.normalize_email(request.email)
        code = request.code.strip()
        violations = Violations()
        violations.check(bool(email), "email", "is required")
        violations.check(rules.is_code_shaped(code), "code", "must be the 6-digit code from the email")
        violations.raise_if_any()
        wrong_code = ServiceError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "this code is not valid for this email address",
            reason="VERIFICATION_CODE_INVALID",
            violations=(FieldViolation("code", "is not the code we sent to this address"),),
        )
        failure: ServiceError | None = None
        async with self.engine.begin() as connection:
            user = await store.user_by_email(connection, email)
            pending = await store.verification_code_for_update(connection, user.id) if user else None
            if user is None:
                failure = wrong_code
            elif pending is None or pending.email != user.email:
                failure = (
                    failed_precondition("ALREADY_VERIFIED", "this email address is already verified")
                    if user.email_verified
                    else wrong_code
                )
            elif pending.expires_at <= datetime.now(UTC):
                failure = failed_precondition(
                    "VERIFICATION_CODE_EXPIRED", "this code has expired; ask for a new one"
                )
            elif pending.attempts >= self.settings.verification_max_attempts:
                failure = failed_precondition(
                    "VERIFICATION_CODE_LOCKED", "too many wrong codes; ask for a new one"
                )
            elif not rules.code_matches(pending.code_hash, str(user.id), user.email, code):
                # Counted in this transaction, which commits before the error goes out.
                attempts = await store.count_wrong_code(connection, user.id)
                failure = (
                    failed_precondition("VERIFICATION_CODE_LOCKED", "too many wrong codes; ask for a new one")
                    if attempts >= self.settings.verification_max_attempts
                    else wrong_code
                )
            else:
                await store.delete_verification_code(connection, user.id)
                user = await store.mark_email_verified(connection, user.id)
                await publish(
                    connection,
                    models.outbox,
                    bus_pb2.EmailVerified(user_id=str(user.id), email=user.email),
                    source="users",
                )
        if failure is not None:
            raise failure
        assert user is not None
        return user_proto(user, full=True)

    async def ResendVerification(
        self, request: users_pb2.ResendVerificationRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        email = rules.normalize_email(request.email)
        problem = rules.email_problem(email)
        if problem:
            raise bad_field("email", problem)
        # Throttled per address whether or not it has an account, so the answer tells nothing.
        verdict = await self.codes.take(email)
        if not verdict.allowed:
            raise _too_many_codes(verdict)
        code = ""
        async with self.engine.begin() as connection:
            user = await store.user_by_email(connection, email)
            if user is not None and not user.email_verified:
                code = await self._issue_code(connection, user)
        if code:
            self._announce_code(email, code)
        return empty_pb2.Empty()

    # -- sign-in --------------------------------------------------------------------------------

    async def Login(
        self, request: users_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.AuthTokens:
        email = rules.normalize_email(request.email)
        violations = Violations()
        violations.check(bool(email), "email", "is required")
        violations.check(bool(request.password), "password", "is required")
        violations.raise_if_any()
        ip = rules.client_ip(request_metadata(context), context.peer() or "")
        attempt = await self.logins.attempt(email, ip)
        if not attempt.now.allowed:
            raise _too_many_logins(attempt.now)
        async with self.engine.connect() as connection:
            user = await store.user_by_email(connection, email)
        # Unknown emails are checked against a decoy hash: same cost, same answer.
        if not await self.hasher.verify(request.password, user.password_hash if user else None):
            if not attempt.after_failure.allowed:
                raise _too_many_logins(attempt.after_failure)
            raise unauthenticated("the email or the password is wrong", reason="INVALID_CREDENTIALS")
        assert user is not None
        await self.logins.succeeded(email, ip)
        new_hash = None
        if self.hasher.needs_rehash(user.password_hash):
            new_hash = await self.hasher.hash(request.password)
        async with self.engine.begin() as connection:
            if new_hash is not None:
                await store.set_password_hash(connection, user.id, new_hash)
            return await self._issue_tokens(connection, user, family_id=uuid.uuid4())

    async def RefreshToken(
        self, request: users_pb2.RefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.AuthTokens:
        presented = request.refresh_token.strip()
        if not presented:
            raise bad_field("refresh_token", "is required")
        failure: ServiceError | None = None
        tokens: users_pb2.AuthTokens | None = None
        async with self.engine.begin() as connection:
            row = await store.refresh_token_for_update(connection, rules.hash_refresh_token(presented))
            if row is None:
                failure = unauthenticated("unknown refresh token", reason="INVALID_REFRESH_TOKEN")
            elif row.revoked_at is not None:
                failure = unauthenticated("this refresh token was revoked", reason="REFRESH_TOKEN_REVOKED")
            elif row.rotated_at is not None:
                # A rotated token came back: it leaked, or a client is confused. Either way nothing
                # issued from this login can be trusted any more, the newest token included.
                revoked = await store.revoke_family(connection, row.family_id)
                log.warning(
                    "refresh token reused; family revoked",
                    extra={"user_id": str(row.user_id), "family_id": str(row.family_id), "revoked": revoked},
                )
                failure = unauthenticated(
                    "this refresh token was already used; sign in again", reason="REFRESH_TOKEN_REUSED"
                )
            elif row.expires_at <= datetime.now(UTC):
                failure = unauthenticated("this refresh token has expired", reason="REFRESH_TOKEN_EXPIRED")
            else:
                user = await store.user_by_id(connection, row.user_id)
                if user is None:
                    failure = unauthenticated("unknown refresh token", reason="INVALID_REFRESH_TOKEN")
                else:
                    await store.mark_rotated(connection, row.id)
                    # Role and verification are read afresh: changes reach the next access token.
                    tokens = await self._issue_tokens(connection, user, family_id=row.family_id)
        if failure is not None:
            raise failure
        assert tokens is not None
        return tokens

    async def Logout(
        self, request: users_pb2.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        user_id = _own_user_id(require_principal())
        presented = request.refresh_token.strip()
        if not presented:
            raise bad_field("refresh_token", "is required")
        async with self.engine.begin() as connection:
            row = await store.refresh_token_for_update(connection, rules.hash_refresh_token(presented))
            if row is not None:
                if row.user_id != user_id:
                    raise permission_denied("this refresh token is not yours", reason="NOT_YOUR_TOKEN")
                await store.revoke_family(connection, row.family_id)
        # Unknown or already revoked: the caller is logged out either way.
        return empty_pb2.Empty()

    async def GetJwks(
        self, request: users_pb2.GetJwksRequest, context: grpc.aio.ServicerContext
    ) -> httpbody_pb2.HttpBody:
        return httpbody_pb2.HttpBody(content_type="application/json", data=self.keys.jwks())

    # -- profiles -------------------------------------------------------------------------------

    async def GetCurrentUser(
        self, request: users_pb2.GetCurrentUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        user_id = _own_user_id(require_principal())
        async with self.engine.connect() as connection:
            user = await store.user_by_id(connection, user_id)
        if user is None:
            raise not_found("user", str(user_id))
        return user_proto(user, full=True)

    async def UpdateCurrentUser(
        self, request: users_pb2.UpdateCurrentUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        user_id = _own_user_id(require_principal())
        violations = Violations()
        paths = list(request.update_mask.paths)
        if not paths:
            # AIP-134: no mask means every field the request sets.
            paths = [field for field in rules.UPDATABLE_PROFILE_FIELDS if getattr(request.user, field)]
        updatable = ", ".join(rules.UPDATABLE_PROFILE_FIELDS)
        for path in paths:
            if path not in rules.UPDATABLE_PROFILE_FIELDS:
                violations.add("update_mask", f"{path!r} cannot be changed here; updatable: {updatable}")
        if not paths:
            violations.add("update_mask", "names no field to update")
        violations.raise_if_any()
        changes = rules.normalize_profile_changes({path: getattr(request.user, path) for path in paths})
        if "display_name" in changes:
            changes["display_name"] = changes["display_name"].strip()
        rules.check_profile_changes(changes, violations, prefix="user.")
        violations.raise_if_any()

        async with self.engine.connect() as connection:
            current = await store.user_by_id(connection, user_id)
            if current is None:
                raise not_found("user", str(user_id))
            if changes.get("email") == current.email:
                del changes["email"]
            # Checked before a code is spent on it; the unique index settles races below.
            if "email" in changes and await store.user_by_email(connection, changes["email"]) is not None:
                raise _email_taken()
        email_changed = "email" in changes
        if email_changed:
            verdict = await self.codes.take(changes["email"])
            if not verdict.allowed:
                raise _too_many_codes(verdict)
            # A new address is unverified until its code comes back.
            changes["email_verified"] = False
        code = ""
        async with self.engine.begin() as connection:
            try:
                user = await store.update_profile(connection, user_id, changes)
            except store.EmailTaken:
                raise _email_taken() from None
            if user is None:
                raise not_found("user", str(user_id))
            if email_changed:
                code = await self._issue_code(connection, user)
        if code:
            self._announce_code(user.email, code)
        return user_proto(user, full=True)

    async def GetUser(
        self, request: users_pb2.GetUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        user_id = parse_uuid(request.user_id, "user_id")
        async with self.engine.connect() as connection:
            user = await store.user_by_id(connection, user_id)
        if user is None:
            raise not_found("user", str(user_id))
        caller = current_principal()
        full = caller is not None and (caller.is_admin or caller.is_service or caller.subject == str(user.id))
        return user_proto(user, full=full)

    # -- administration -------------------------------------------------------------------------

    async def ListUsers(
        self, request: users_pb2.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.ListUsersResponse:
        require_role(Role.ADMIN)
        limit = page_size(request.page_size)
        role: str | None = None
        if request.role != users_pb2.ROLE_UNSPECIFIED:
            named = _ROLE_FROM_PROTO.get(request.role)
            if named is None or named is Role.SERVICE:
                raise bad_field("role", "must be ROLE_PARTICIPANT, ROLE_ORGANIZER or ROLE_ADMIN")
            role = named.value
        email_prefix = rules.normalize_email(request.email_prefix)
        filters = {"role": role, "email_prefix": email_prefix}
        after_key = decode_token(request.page_token, filters)
        after = None
        if after_key is not None:
            try:
                after = (datetime.fromisoformat(after_key[0]), uuid.UUID(after_key[1]))
            except (ValueError, IndexError, TypeError):
                raise bad_field("page_token", "is not a page token this API issued") from None
        async with self.engine.connect() as connection:
            rows = await store.list_users(
                connection, role=role, email_prefix=email_prefix, after=after, limit=limit + 1
            )
        page = rows[:limit]
        reply = users_pb2.ListUsersResponse(users=[user_proto(row, full=True) for row in page])
        if len(rows) > limit:
            last = page[-1]
            reply.next_page_token = encode_token([last.created_at.isoformat(), str(last.id)], filters)
        return reply

    async def SetUserRole(
        self, request: users_pb2.SetUserRoleRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        require_role(Role.ADMIN)
        user_id = parse_uuid(request.user_id, "user_id")
        new_role = _ROLE_FROM_PROTO.get(request.role)
        if new_role is None:
            raise bad_field("role", "is required: ROLE_PARTICIPANT, ROLE_ORGANIZER or ROLE_ADMIN")
        if new_role is Role.SERVICE:
            raise invalid_argument(
                [FieldViolation("role", "the service role belongs to services, never to a person")],
                reason="ROLE_NOT_ASSIGNABLE",
            )
        async with self.engine.begin() as connection:
            await store.lock_admin_changes(connection)
            user = await store.user_by_id(connection, user_id, lock=True)
            if user is None:
                raise not_found("user", str(user_id))
            current = Role(user.role)
            other_admins = await store.count_other_admins(connection, user_id) if current is Role.ADMIN else 1
            problem = rules.role_change_problem(current=current, new=new_role, other_admins=other_admins)
            if problem is not None:
                reason, message = problem
                raise failed_precondition(reason, message, resource_name=str(user_id))
            if current is not new_role:
                user = await store.set_role(connection, user_id, new_role.value)
                log.info(
                    "role changed",
                    extra={"user_id": str(user_id), "from": current.value, "to": new_role.value},
                )
        return user_proto(user, full=True)

    # -- the mesh -------------------------------------------------------------------------------

    async def IssueServiceToken(
        self, request: users_pb2.IssueServiceTokenRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.AuthTokens:
        configured = self.settings.service_secret.get_secret_value()
        name = request.service_name
        if not configured:
            log.error("SEATMESH_SERVICE_SECRET is empty: no service can authenticate")
        if not (rules.is_service_name(name) and rules.secret_matches(configured, request.secret)):
            log.warning(
                "service credentials refused", extra={"service_name": name[:64], "peer": context.peer()}
            )
            raise unauthenticated("invalid service credentials", reason="INVALID_SERVICE_CREDENTIALS")
        ttl = self.settings.service_token_ttl_seconds
        token = self.keys.signing_key().sign(
            access_claims(
                subject=f"service:{name}",
                role=Role.SERVICE,
                issuer=self.settings.jwt_issuer,
                audience=self.settings.jwt_audience,
                ttl_seconds=ttl,
                email_verified=True,
            )
        )
        return users_pb2.AuthTokens(access_token=token, expires_in=ttl, token_type="Bearer")

    async def BatchGetUsers(
        self, request: users_pb2.BatchGetUsersRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.BatchGetUsersResponse:
        if len(request.user_ids) > BATCH_GET_LIMIT:
            raise bad_field("user_ids", f"at most {BATCH_GET_LIMIT} ids per call")
        wanted: list[uuid.UUID] = []
        for raw in request.user_ids:
            try:
                wanted.append(uuid.UUID(raw))
            except ValueError:
                continue  # not an id of ours, so unknown: left out like any other
        async with self.engine.connect() as connection:
            rows = await store.users_by_ids(connection, list(dict.fromkeys(wanted)))
        by_id = {row.id: row for row in rows}
        ordered = [by_id[user_id] for user_id in dict.fromkeys(wanted) if user_id in by_id]
        return users_pb2.BatchGetUsersResponse(users=[user_proto(row, full=True) for row in ordered])
