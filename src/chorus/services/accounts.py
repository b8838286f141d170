"""Users and API keys: creation, lookup by secret, revocation, and the administrator key."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.errors import Forbidden, NotFound, Unauthorized
from chorus.services.permissions import parse_permissions
from chorus.services.plans import get_plan
from chorus.storage.models import ApiKey, User

ADMIN_USER = "admin"
# Every request authenticates, and the key lookup is a database round trip: a key's principal is
# remembered for this long. Changes made through this service (revoking a key) apply at once; changes
# made by another process (``chorus keys revoke`` beside a running server) within this time.
PRINCIPAL_TTL_S = 2.0
_PRINCIPAL_CACHE_SIZE = 4096
LOCAL_KEY = "local cli"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# The key (and its user) for a secret's hash: every request not answered from the cache runs this.
_KEY_BY_HASH = (
    select(ApiKey, User).join(User, ApiKey.user_id == User.id).where(ApiKey.key_hash == bindparam("p_hash"))
)


def new_secret() -> str:
    return "sk_" + secrets.token_hex(24)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's user, the key, and what the key may do."""

    user_id: str
    key_id: str
    key_hint: str
    permissions: frozenset[str] | None  # None: every permission
    is_admin: bool
    rate_limit_per_minute: int | None
    max_concurrent_requests: int | None

    def require(self, permission: str) -> None:
        if self.permissions is not None and permission not in self.permissions:
            raise Forbidden(
                f"The API key you used is missing the permission {permission} to execute this operation.",
                status="missing_permissions",
            )


def _principal(key: ApiKey, user: User) -> Principal:
    """What ``key`` (of ``user``) may do; administrators and ``all`` keys have every permission."""
    permissions = None if (user.is_admin or key.permissions == "all") else frozenset(key.permissions)
    return Principal(
        user_id=user.id,
        key_id=key.id,
        key_hint=key.hint,
        permissions=permissions,
        is_admin=user.is_admin,
        rate_limit_per_minute=key.rate_limit_per_minute,
        max_concurrent_requests=key.max_concurrent_requests,
    )


@dataclass(frozen=True)
class CreatedKey:
    key_id: str
    secret: str
    user_id: str
    user_name: str


class AccountService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        default_plan: str,
        principal_ttl_s: float = PRINCIPAL_TTL_S,
    ) -> None:
        self._sessions = sessions
        self._default_plan = default_plan
        # sha256 of a secret -> (monotonic expiry, its principal): see PRINCIPAL_TTL_S.
        self._principal_ttl_s = principal_ttl_s
        self._principals: dict[str, tuple[float, Principal]] = {}
        self._lookups: dict[str, asyncio.Future[Principal | None]] = {}
        # Bumped whenever keys change (revocation): a lookup that started before then caches nothing.
        self._generation = 0

    async def get_or_create_user(
        self, session: AsyncSession, name: str, plan: str | None = None, is_admin: bool = False
    ) -> User:
        user = (await session.execute(select(User).where(User.name == name))).scalar_one_or_none()
        if user is not None:
            if plan is not None and plan != user.plan:
                user.plan = plan
                user.character_limit = None if user.is_admin else get_plan(plan).character_limit
            return user
        tier = plan or ("enterprise" if is_admin else self._default_plan)
        now = int(time.time())
        user = User(
            id=uuid.uuid4().hex,
            name=name,
            plan=tier,
            character_limit=None if is_admin else get_plan(tier).character_limit,
            character_count=0,
            is_admin=is_admin,
            period_start_unix=now,
            created_at_unix=now,
        )
        session.add(user)
        await session.flush()
        return user

    async def create_key(
        self,
        name: str,
        *,
        user_name: str = "default",
        plan: str | None = None,
        permissions: str | list[str] | None = "all",
        character_limit: int | None = None,
        rate_limit_per_minute: int | None = None,
        max_concurrent_requests: int | None = None,
        secret: str | None = None,
        is_admin: bool = False,
    ) -> CreatedKey:
        stored_permissions = parse_permissions(permissions)
        secret = secret or new_secret()
        async with self._sessions() as session, session.begin():
            user = await self.get_or_create_user(session, user_name, plan, is_admin)
            key = ApiKey(
                id=uuid.uuid4().hex,
                user_id=user.id,
                name=name,
                key_hash=hash_key(secret),
                hint=secret[-4:],
                permissions=stored_permissions,
                character_limit=character_limit,
                character_count=0,
                rate_limit_per_minute=rate_limit_per_minute,
                max_concurrent_requests=max_concurrent_requests,
                is_disabled=False,
                created_at_unix=int(time.time()),
            )
            session.add(key)
        return CreatedKey(key.id, secret, user.id, user.name)

    async def ensure_admin_key(self, secret: str) -> None:
        """Make ``secret`` an administrator key (idempotent across restarts)."""
        self._forget_all()
        async with self._sessions() as session, session.begin():
            existing = (
                await session.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
            ).scalar_one_or_none()
            admin = await self.get_or_create_user(session, ADMIN_USER, is_admin=True)
            if existing is not None:
                existing.permissions = "all"
                existing.character_limit = None
                existing.is_disabled = False
                existing.user_id = admin.id
                return
        await self.create_key(
            "admin (CHORUS_ADMIN_API_KEY)", user_name=ADMIN_USER, secret=secret, is_admin=True
        )

    async def has_any_key(self) -> bool:
        async with self._sessions() as session:
            query = select(ApiKey.id).where(ApiKey.is_disabled.is_(False)).limit(1)
            return (await session.execute(query)).first() is not None

    async def list_keys(self) -> list[tuple[ApiKey, User]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(ApiKey, User).join(User, ApiKey.user_id == User.id).order_by(ApiKey.created_at_unix)
            )
            return [(key, user) for key, user in rows.all()]

    async def revoke_key(self, key_id_or_hint: str) -> ApiKey:
        async with self._sessions() as session, session.begin():
            matches = (
                (
                    await session.execute(
                        select(ApiKey).where((ApiKey.id == key_id_or_hint) | (ApiKey.name == key_id_or_hint))
                    )
                )
                .scalars()
                .all()
            )
            if len(matches) != 1:
                raise NotFound(
                    f"no single key matches {key_id_or_hint!r} ({len(matches)} found)", status="key_not_found"
                )
            key = matches[0]
            await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(is_disabled=True))
            key.is_disabled = True
        self._forget_all()
        return key

    async def authenticate(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthorized(
                "Neither authorization header nor xi-api-key received, please provide one.",
                status="needs_authorization",
            )
        digest = hash_key(secret)
        now = time.monotonic()
        cached = self._principals.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        # Requests arriving together when the entry expires share one lookup instead of one each.
        lookup = self._lookups.get(digest)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup(digest, now))
            self._lookups[digest] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(digest, None))
        principal = await asyncio.shield(lookup)
        if principal is None:
            raise Unauthorized("Invalid API key", status="invalid_api_key")
        return principal

    def _forget_all(self) -> None:
        self._principals.clear()
        self._lookups.clear()
        self._generation += 1

    async def _lookup(self, digest: str, now: float) -> Principal | None:
        generation = self._generation
        async with self._sessions() as session:
            row = (await session.execute(_KEY_BY_HASH, {"p_hash": digest})).first()
        if row is None or row[0].is_disabled:
            self._principals.pop(digest, None)
            return None
        principal = _principal(*row)
        if self._principal_ttl_s > 0 and generation == self._generation:
            if len(self._principals) >= _PRINCIPAL_CACHE_SIZE:
                self._principals.clear()
            self._principals[digest] = (now + self._principal_ttl_s, principal)
        return principal

    async def principal_for_key(self, key_id: str) -> Principal | None:
        """The principal of the enabled key ``key_id`` (None when it does not exist or is disabled): who a
        credential issued by that key, such as a single-use token, acts as."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ApiKey, User).join(User, ApiKey.user_id == User.id).where(ApiKey.id == key_id)
                )
            ).first()
        if row is None or row[0].is_disabled:
            return None
        return _principal(*row)

    async def local_principal(self) -> Principal:
        """The administrator acting locally (the CLI without a server): no secret involved."""
        async with self._sessions() as session, session.begin():
            admin = await self.get_or_create_user(session, ADMIN_USER, is_admin=True)
            key = (
                await session.execute(
                    select(ApiKey).where(ApiKey.user_id == admin.id, ApiKey.name == LOCAL_KEY)
                )
            ).scalar_one_or_none()
            if key is None:
                secret = new_secret()
                key = ApiKey(
                    id=uuid.uuid4().hex, user_id=admin.id, name=LOCAL_KEY, key_hash=hash_key(secret),
                    hint=secret[-4:], permissions="all", character_limit=None, character_count=0,
                    rate_limit_per_minute=None, max_concurrent_requests=None, is_disabled=True,
                    created_at_unix=int(time.time()),
                )  # fmt: skip
                session.add(key)
        # The key row exists only so usage is attributed; it is disabled and its secret was never shown.
        return Principal(admin.id, key.id, key.hint, None, True, None, None)

    async def get_user(self, user_id: str) -> User:
        async with self._sessions() as session:
            user = await session.get(User, user_id)
        if user is None:
            raise NotFound("user not found", status="user_not_found")
        return user
