"""``POST /v1/single-use-token/{token_type}`` (SDK ``tokens.single_use.create``): a token for a browser."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from chorus.api.deps import PrincipalDep, ServicesDep
from chorus.services.tokens import TOKEN_PERMISSIONS, TokenType

router = APIRouter()


@router.post("/v1/single-use-token/{token_type}")
async def create_single_use_token(
    token_type: Annotated[TokenType, Path()], principal: PrincipalDep, services: ServicesDep
) -> dict[str, str]:
    """``{"token": "sutkn_..."}``: valid 15 minutes, for one connection of ``token_type``, as this key."""
    principal.require(TOKEN_PERMISSIONS[token_type])
    issued = await services.tokens.issue(principal, token_type)
    return {"token": issued.token}
