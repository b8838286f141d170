"""Workspace webhooks: ``/v1/workspace/webhooks`` (list, create, update, delete)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from chorus.api.deps import PrincipalDep, ServicesDep, require
from chorus.services.accounts import Principal
from chorus.services.webhooks import EVENT_USAGE
from chorus.storage.models import Webhook

router = APIRouter()
Writer = Annotated[Principal, Depends(require("webhooks_write"))]
EventType = Literal["voice_library_removal_notice", "speech_to_text", "agent_qa", "flows"]


async def _reader(principal: PrincipalDep) -> Principal:
    """Listing needs ``webhooks_write`` or ``workspace_read``."""
    if principal.permissions is not None and "workspace_read" in principal.permissions:
        return principal
    principal.require("webhooks_write")
    return principal


Reader = Annotated[Principal, Depends(_reader)]


class WebhookHMACSettings(BaseModel):
    auth_type: Literal["hmac"]
    name: str = Field(min_length=1, max_length=200)
    webhook_url: str = Field(min_length=1)
    request_headers: dict[str, str | None] | None = None


class CreateWebhookBody(BaseModel):
    settings: WebhookHMACSettings


class UpdateWebhookBody(BaseModel):
    is_disabled: bool
    name: str = Field(min_length=1, max_length=200)
    retry_enabled: bool | None = None
    request_headers: dict[str, str | None] | None = None
    events: list[EventType] | None = None


def _describe(row: Webhook, include_usages: bool) -> dict[str, Any]:
    """``WorkspaceWebhookResponseModel``; ``events`` and ``usage`` only when usages are asked for."""
    events = list(row.events or [])
    return {
        "name": row.name,
        "webhook_id": row.id,
        "webhook_url": row.webhook_url,
        "is_disabled": row.is_disabled,
        "is_auto_disabled": row.is_auto_disabled,
        "created_at_unix": row.created_at_unix,
        "auth_type": row.auth_type,
        "usage": [{"usage_type": EVENT_USAGE[e]} for e in events if e in EVENT_USAGE]
        if include_usages
        else None,
        "events": events if include_usages else None,
        "most_recent_failure_error_code": row.most_recent_failure_error_code,
        "most_recent_failure_timestamp": row.most_recent_failure_timestamp,
    }


@router.get("/v1/workspace/webhooks")
async def list_webhooks(
    services: ServicesDep, principal: Reader, include_usages: Annotated[bool, Query()] = False
) -> dict[str, Any]:
    rows = await services.webhooks.list_webhooks(principal)
    return {"webhooks": [_describe(row, include_usages) for row in rows]}


@router.post("/v1/workspace/webhooks")
async def create_webhook(body: CreateWebhookBody, services: ServicesDep, principal: Writer) -> dict[str, Any]:
    row, secret = await services.webhooks.create(
        principal,
        name=body.settings.name,
        webhook_url=body.settings.webhook_url,
        request_headers=body.settings.request_headers,
    )
    # The only time the secret is shown.
    return {"webhook_id": row.id, "webhook_secret": secret}


@router.patch("/v1/workspace/webhooks/{webhook_id}")
async def update_webhook(
    webhook_id: str, body: UpdateWebhookBody, services: ServicesDep, principal: Writer
) -> dict[str, str]:
    await services.webhooks.update(
        principal,
        webhook_id,
        name=body.name,
        is_disabled=body.is_disabled,
        retry_enabled=body.retry_enabled,
        request_headers=body.request_headers,
        events=list(body.events) if body.events is not None else None,
    )
    return {"status": "ok"}


@router.delete("/v1/workspace/webhooks/{webhook_id}")
async def delete_webhook(webhook_id: str, services: ServicesDep, principal: Writer) -> dict[str, str]:
    await services.webhooks.delete(principal, webhook_id)
    return {"status": "ok"}
