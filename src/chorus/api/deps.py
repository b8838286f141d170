"""Dependencies: services from app state, authentication, permissions, and concurrency slots."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request

from chorus.services.accounts import Principal
from chorus.services.container import Services


async def get_services(request: Request) -> Services:
    # async, though it awaits nothing: FastAPI runs a plain function dependency in a worker thread, and
    # every request depends on this one.
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


def _secret_from(request: Request) -> str | None:
    key = request.headers.get("xi-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def authenticate(request: Request, services: ServicesDep) -> Principal:
    """Every API route depends on this: 401 without a valid key, 429 past the key's rate."""
    principal = await services.accounts.authenticate(_secret_from(request))
    request.state.principal = principal
    services.rate_limiter.hit(
        principal.key_id, principal.rate_limit_per_minute or services.settings.rate_limit_per_minute
    )
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require(permission: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def check(principal: PrincipalDep) -> Principal:
        principal.require(permission)
        return principal

    return check


async def generation_slot(
    request: Request, principal: PrincipalDep, services: ServicesDep
) -> AsyncIterator[None]:
    """Hold one of the key's concurrency slots until the response (streamed or not) is finished."""
    maximum = principal.max_concurrent_requests or services.settings.max_concurrent_requests
    lease = services.concurrency.acquire(principal.key_id, maximum)
    request.state.concurrency_lease = lease
    try:
        yield
    finally:
        lease.release()
