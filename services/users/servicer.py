"""gRPC handlers of UserService: proto <-> domain (through convert), who may do what, and the order
of the steps; the rules are in domain.py, the SQL in store.py.

Access levels (ACCESS): sign-up, sign-in, JWKS and public profiles are open; BatchGetUsers is for
services only; IssueServiceToken is open at the RPC gate (it checks the service's secret itself)
and refused at the edge by Envoy's RBAC. ListUsers and SetUserRole check for the admin role here.

Throttles count per client address as `runtime.edge` establishes it (the address Envoy vouches
for, else the caller's own peer address), never from a header a caller could set.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
from google.api import httpbody_pb2
from google.protobuf import empty_pb2

from seatmesh.users.v1 import users_pb2
from services.runtime.app import method_access
from services.runtime.auth import (
    Principal,
    Role,
    access_claims,
    current_principal,
    require_principal,
    require_role,
)
from services.runtime.edge import Edge
from services.runtime.errors import ServiceError, bad_field, not_found, parse_uuid, permission_denied
from services.runtime.interceptors import request_metadata
from services.runtime.pagination import PageTokens, page_size
from services.runtime.sealing import Sealer
from services.users import convert, domain
from services.users.domain import CodeChannel, CodeClaim, CodeVerdict, RefreshVerdict, Tokens, User
from services.users.keyring import KeyRing
from services.users.passwords import PasswordHasher
from services.users.settings import UsersSettings
from services.users.store import UserStore, UserTransaction
from services.users.throttles import AddressThrottle, CodeThrottle, LoginThrottle, Verdict

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
# ListUsers pages by (created_at, id).
_LIST_KEY = (datetime, uuid.UUID)


def _user_or_not_found(user: User | None, user_id: uuid.UUID) -> User:
    """`user`, read by its id, or NOT_FOUND when there is no account `user_id` (any more)."""
    if user is None:
        raise not_found("user", str(user_id))
    return user


def _own_user_id(principal: Principal) -> uuid.UUID:
    """The caller's account id; services have none."""
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise permission_denied("only people have an account", reason="USER_REQUIRED") from None


@dataclass
class UserServiceServicer:
    """Every RPC of UserService (registered with `add_UserServiceServicer_to_server`). It does not
    subclass the generated servicer: that class is untyped, and its only gift, UNIMPLEMENTED for
    missing methods, is not wanted here (a missing RPC fails at registration instead)."""

    settings: UsersSettings
    store: UserStore
    pages: PageTokens
    keys: KeyRing
    hasher: PasswordHasher
    edge: Edge
    logins: LoginThrottle
    # Sign-ups, and codes sent, per client address and in total.
    signups: AddressThrottle
    code_sends: AddressThrottle
    # Codes per email address or phone number.
    codes: CodeThrottle
    # Seal each channel's codes for notifications (convert.SEALING_PURPOSES).
    sealers: Mapping[CodeChannel, Sealer]

    # -- shared steps -----------------------------------------------------------------------------

    def _sign(self, *, subject: str, role: Role, email_verified: bool, ttl_seconds: int) -> str:
        return self.keys.signing_key().sign(
            access_claims(
                subject=subject,
                role=role,
                issuer=self.settings.jwt_issuer,
                audience=self.settings.jwt_audience,
                ttl_seconds=ttl_seconds,
                email_verified=email_verified,
            )
        )

    async def _issue_tokens(self, tx: UserTransaction, user: User, family_id: uuid.UUID) -> Tokens:
        refresh_token = domain.new_refresh_token()
        await tx.insert_refresh_token(
            user_id=user.id,
            family_id=family_id,
            token_hash=domain.hash_refresh_token(refresh_token),
            expires_at=datetime.now(UTC) + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
        )
        ttl = self.settings.access_token_ttl_seconds
        access_token = self._sign(
            subject=str(user.id), role=user.role, email_verified=user.email_verified, ttl_seconds=ttl
        )
        return Tokens(access_token=access_token, expires_in=ttl, refresh_token=refresh_token)

    def _client_address(self, context: grpc.aio.ServicerContext) -> str:
        return self.edge.client_address(request_metadata(context), context.peer() or "")

    async def _issue_code(self, tx: UserTransaction, user: User, channel: CodeChannel, address: str) -> str:
        """A fresh code for `address` (an email address or the user's phone number), stored
        hashed and published sealed; notifications sends it."""
        code = domain.new_verification_code()
        expires_at = datetime.now(UTC) + timedelta(seconds=self.settings.verification_code_ttl_seconds)
        await tx.save_verification_code(
            channel,
            user.id,
            address=address,
            code_hash=domain.hash_verification_code(str(user.id), address, code),
            expires_at=expires_at,
        )
        sealed = self.sealers[channel].seal(code, str(user.id))
        await tx.publish(convert.code_issued(channel, user, address, sealed, expires_at))
        return code

    def _announce_code(self, address: str, code: str) -> None:
        # Only for local development: a real deployment never writes codes to its logs.
        if self.settings.dev_mode:
            log.warning(f"dev mode: the verification code for {address} is {code}")

    @staticmethod
    def _require(verdict: Verdict, refusal: Callable[[float], ServiceError]) -> None:
        if not verdict.allowed:
            raise refusal(verdict.retry_after)

    async def _take_code_send(self, address: str, client_address: str) -> None:
        """One code sent to `address`, within the client's and the platform's allowance."""
        self._require(await self.code_sends.take(client_address), domain.too_many_verification_codes)
        self._require(await self.codes.take(address), domain.too_many_verification_codes)

    async def _judge_code(
        self, tx: UserTransaction, claims: Sequence[CodeClaim], code: str
    ) -> tuple[CodeVerdict, CodeClaim | None]:
        """The verdict on a code entered for the claims' address, and the claim it confirms. Wrong
        guesses are counted in `tx`, which commits before a refusal goes out."""
        max_attempts = self.settings.verification_max_attempts
        judgement = domain.judge_claims(claims, code, now=datetime.now(UTC), max_attempts=max_attempts)
        counts = [await tx.count_wrong_code(claim.channel, claim.user.id) for claim in judgement.mismatched]
        if judgement.verdict is CodeVerdict.MISMATCH:
            return domain.after_mismatch(counts[0], max_attempts), None
        return judgement.verdict, judgement.confirmed

    # -- sign-up ----------------------------------------------------------------------------------

    async def RegisterUser(
        self, request: users_pb2.RegisterUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        registration = domain.validate_registration(
            email=request.email,
            password=request.password,
            display_name=request.display_name,
            phone=request.phone,
            role=convert.registered_role_from_proto(request.role),
        )
        # Counted before anything costs: a duplicate or a race lost uses up an attempt too.
        client_address = self._client_address(context)
        self._require(await self.signups.take(client_address), domain.too_many_signups)
        self._require(await self.code_sends.take(client_address), domain.too_many_signups)
        # Cheap early answer for the common duplicate; the unique index settles races below.
        if await self.store.user_by_email(registration.email) is not None:
            raise domain.email_taken()
        password_hash = await self.hasher.hash(registration.password)
        # The first code is always sent; this only starts the resend cooldown.
        await self.codes.take(registration.email)
        async with self.store.transaction() as tx:
            user = await tx.insert_user(
                email=registration.email,
                password_hash=password_hash,
                display_name=registration.display_name,
                phone=registration.phone,
                role=registration.role,
            )
            await tx.publish(convert.user_registered(user))
            code = await self._issue_code(tx, user, CodeChannel.EMAIL, user.email)
        self._announce_code(user.email, code)
        return convert.user_to_proto(user, full=True)

    async def VerifyEmail(
        self, request: users_pb2.VerifyEmailRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        email, code = domain.validate_code_entry(request.email, request.code)
        async with self.store.transaction() as tx:
            # The account with this address, and any changing to it: the code says which it is for.
            claims = [
                domain.email_claim(
                    user, email, await tx.verification_code_for_update(CodeChannel.EMAIL, user.id)
                )
                for user in await tx.users_claiming_email(email)
            ]
            verdict, confirmed = await self._judge_code(tx, claims, code)
            if confirmed is not None:
                user = confirmed.user
                if email == user.email:
                    user = await tx.mark_email_verified(user.id)
                else:
                    user = await tx.confirm_email_change(user.id, email)
                await tx.publish(convert.email_verified(user))
        if confirmed is None:
            raise domain.code_refusal(verdict, CodeChannel.EMAIL)
        return convert.user_to_proto(user, full=True)

    async def ResendVerification(
        self, request: users_pb2.ResendVerificationRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        email = domain.validate_email(request.email)
        # Throttled per address whether or not it has an account, so the answer tells nothing.
        await self._take_code_send(email, self._client_address(context))
        code = ""
        async with self.store.transaction() as tx:
            user = await tx.user_by_email(email)
            if user is not None and not user.email_verified:
                code = await self._issue_code(tx, user, CodeChannel.EMAIL, user.email)
        if code:
            self._announce_code(email, code)
        return empty_pb2.Empty()

    # -- sign-in ----------------------------------------------------------------------------------

    async def Login(
        self, request: users_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.AuthTokens:
        email = domain.validate_sign_in(request.email, request.password)
        client_address = self._client_address(context)
        attempt = await self.logins.attempt(email, client_address)
        if not attempt.now.allowed:
            raise domain.too_many_login_attempts(attempt.now.retry_after)
        user = await self.store.user_by_email(email)
        # Unknown emails are checked against a decoy hash: same cost, same answer.
        matched = await self.hasher.verify(request.password, user.password_hash if user else None)
        if user is None or not matched:
            if not attempt.after_failure.allowed:
                raise domain.too_many_login_attempts(attempt.after_failure.retry_after)
            raise domain.invalid_credentials()
        await self.logins.succeeded(email, client_address)
        new_hash = None
        if self.hasher.needs_rehash(user.password_hash):
            new_hash = await self.hasher.rehash(request.password)
        async with self.store.transaction() as tx:
            if new_hash is not None:
                await tx.set_password_hash(user.id, new_hash)
            tokens = await self._issue_tokens(tx, user, family_id=uuid.uuid4())
        return convert.tokens_to_proto(tokens)

    async def RefreshToken(
        self, request: users_pb2.RefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.AuthTokens:
        presented = domain.validate_refresh_token(request.refresh_token)
        tokens: Tokens | None = None
        async with self.store.transaction() as tx:
            token = await tx.refresh_token_for_update(domain.hash_refresh_token(presented))
            verdict = domain.judge_refresh_token(token, now=datetime.now(UTC))
            if token is not None and verdict is RefreshVerdict.REUSED:
                # Committed before the refusal goes out.
                revoked = await tx.revoke_family(token.family_id)
                log.warning(
                    "refresh token reused; family revoked",
                    extra={
                        "user_id": str(token.user_id),
                        "family_id": str(token.family_id),
                        "revoked": revoked,
                    },
                )
            elif token is not None and verdict is RefreshVerdict.VALID:
                user = await tx.user_by_id(token.user_id)
                if user is None:
                    verdict = RefreshVerdict.UNKNOWN
                else:
                    await tx.mark_rotated(token.id)
                    # Role and verification are read afresh: changes reach the next access token.
                    tokens = await self._issue_tokens(tx, user, family_id=token.family_id)
        if tokens is None:
            raise domain.refresh_refusal(verdict)
        return convert.tokens_to_proto(tokens)

    async def Logout(
        self, request: users_pb2.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        user_id = _own_user_id(require_principal())
        presented = domain.validate_refresh_token(request.refresh_token)
        async with self.store.transaction() as tx:
            token = await tx.refresh_token_for_update(domain.hash_refresh_token(presented))
            if token is not None:
                if token.user_id != user_id:
                    raise permission_denied("this refresh token is not yours", reason="NOT_YOUR_TOKEN")
                await tx.revoke_family(token.family_id)
        # Unknown or already revoked: the caller is logged out either way.
        return empty_pb2.Empty()

    async def LogoutEverywhere(
        self, request: users_pb2.LogoutEverywhereRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        user_id = _own_user_id(require_principal())
        async with self.store.transaction() as tx:
            ended = await tx.end_every_session(user_id)
        log.info("signed out everywhere", extra={"user_id": str(user_id), "sessions": ended})
        return empty_pb2.Empty()

    async def GetJwks(
        self, request: users_pb2.GetJwksRequest, context: grpc.aio.ServicerContext
    ) -> httpbody_pb2.HttpBody:
        return httpbody_pb2.HttpBody(content_type="application/json", data=self.keys.jwks())

    # -- profiles ---------------------------------------------------------------------------------

    async def GetCurrentUser(
        self, request: users_pb2.GetCurrentUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        user_id = _own_user_id(require_principal())
        user = _user_or_not_found(await self.store.user_by_id(user_id), user_id)
        return convert.user_to_proto(user, full=True)

    async def UpdateCurrentUser(
        self, request: users_pb2.UpdateCurrentUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        user_id = _own_user_id(require_principal())
        changes = domain.validate_profile_update(*convert.profile_update_from_proto(request))
        current = _user_or_not_found(await self.store.user_by_id(user_id), user_id)
        changes = domain.without_unchanged(changes, current)
        if changes.email is not None:
            # Checked before a code is spent on it; confirming the change checks again.
            if await self.store.user_by_email(changes.email) is not None:
                raise domain.email_taken()
            await self._take_code_send(changes.email, self._client_address(context))
        code = ""
        async with self.store.transaction() as tx:
            user = _user_or_not_found(await tx.update_profile(user_id, changes.updates()), user_id)
            if changes.email is not None:
                code = await self._issue_code(tx, user, CodeChannel.EMAIL, changes.email)
        if changes.email is not None:
            self._announce_code(changes.email, code)
        return convert.user_to_proto(user, full=True)

    async def SendPhoneCode(
        self, request: users_pb2.SendPhoneCodeRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        user_id = _own_user_id(require_principal())
        user = _user_or_not_found(await self.store.user_by_id(user_id), user_id)
        domain.check_phone_code_wanted(user)
        await self._take_code_send(user.phone, self._client_address(context))
        async with self.store.transaction() as tx:
            code = await self._issue_code(tx, user, CodeChannel.PHONE, user.phone)
        self._announce_code(user.phone, code)
        return empty_pb2.Empty()

    async def VerifyPhone(
        self, request: users_pb2.VerifyPhoneRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        # VerifyEmail's steps for the account's number: kept apart, because who may claim the code
        # (anyone changing to an address; only the caller's own number) and what it confirms differ.
        user_id = _own_user_id(require_principal())
        code = domain.validate_phone_code(request.code)
        async with self.store.transaction() as tx:
            user = _user_or_not_found(await tx.user_for_update(user_id), user_id)
            pending = await tx.verification_code_for_update(CodeChannel.PHONE, user_id)
            verdict, confirmed = await self._judge_code(tx, [domain.phone_claim(user, pending)], code)
            if confirmed is not None:
                user = await tx.mark_phone_verified(user_id)
        if confirmed is None:
            raise domain.code_refusal(verdict, CodeChannel.PHONE)
        return convert.user_to_proto(user, full=True)

    async def GetUser(
        self, request: users_pb2.GetUserRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        user_id = parse_uuid(request.user_id, "user_id")
        user = _user_or_not_found(await self.store.user_by_id(user_id), user_id)
        caller = current_principal()
        full = caller is not None and (caller.is_admin or caller.is_service or caller.subject == str(user.id))
        return convert.user_to_proto(user, full=full)

    # -- administration ---------------------------------------------------------------------------

    async def ListUsers(
        self, request: users_pb2.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.ListUsersResponse:
        require_role(Role.ADMIN)
        size = page_size(request.page_size)
        wanted = convert.user_filter_from_proto(request)
        filters = wanted.as_filters()
        after = self.pages.decode(request.page_token, filters, _LIST_KEY)
        found = await self.store.list_users(wanted, after=after, limit=size + 1)
        page, next_token = self.pages.page(found, size, filters, lambda user: (user.created_at, user.id))
        return users_pb2.ListUsersResponse(
            users=[convert.user_to_proto(user, full=True) for user in page], next_page_token=next_token
        )

    async def SetUserRole(
        self, request: users_pb2.SetUserRoleRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        require_role(Role.ADMIN)
        user_id = parse_uuid(request.user_id, "user_id")
        new_role = domain.validate_assigned_role(convert.role_from_proto(request.role))
        async with self.store.transaction() as tx:
            await tx.lock_admin_changes()
            user = _user_or_not_found(await tx.user_for_update(user_id), user_id)
            other_admins = await tx.count_other_admins(user_id)
            if domain.approve_role_change(
                user_id=user_id, current=user.role, new=new_role, other_admins=other_admins
            ):
                previous, user = user.role, await tx.set_role(user_id, new_role)
                log.info(
                    "role changed; the account's sessions were ended",
                    extra={"user_id": str(user_id), "from": previous.value, "to": new_role.value},
                )
        return convert.user_to_proto(user, full=True)

    # -- the mesh ---------------------------------------------------------------------------------

    async def IssueServiceToken(
        self, request: users_pb2.IssueServiceTokenRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.AuthTokens:
        configured = self.settings.service_secret.get_secret_value()
        name = request.service_name
        if not (domain.is_service_name(name) and domain.secret_matches(configured, request.secret)):
            log.warning(
                "service credentials refused", extra={"service_name": name[:64], "peer": context.peer()}
            )
            raise domain.invalid_service_credentials()
        ttl = self.settings.service_token_ttl_seconds
        token = self._sign(subject=f"service:{name}", role=Role.SERVICE, email_verified=True, ttl_seconds=ttl)
        return convert.tokens_to_proto(Tokens(access_token=token, expires_in=ttl))

    async def BatchGetUsers(
        self, request: users_pb2.BatchGetUsersRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.BatchGetUsersResponse:
        if len(request.user_ids) > BATCH_GET_LIMIT:
            raise bad_field("user_ids", f"at most {BATCH_GET_LIMIT} ids per call")
        found = await self.store.users_by_ids(convert.user_ids_from_proto(request.user_ids))
        return users_pb2.BatchGetUsersResponse(
            users=[convert.user_to_proto(user, full=True) for user in found]
        )
