"""User, subscription and usage."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from chorus.api.deps import ServicesDep, require
from chorus.services.accounts import Principal
from chorus.services.plans import UNLIMITED_REPORTED, get_plan
from chorus.storage.models import User

router = APIRouter()
UserReader = Annotated[Principal, Depends(require("user_read"))]

MONTH_SECONDS = 30 * 24 * 3600


def _subscription(user: User, voice_slots_used: int) -> dict[str, Any]:
    plan = get_plan(user.plan)
    limit = user.character_limit
    return {
        "tier": user.plan,
        "character_count": user.character_count,
        "character_limit": UNLIMITED_REPORTED if limit is None else limit,
        "max_character_limit_extension": 0,
        "max_credit_limit_extension": 0,
        "can_extend_character_limit": False,
        "allowed_to_extend_character_limit": False,
        "next_character_count_reset_unix": user.period_start_unix + MONTH_SECONDS,
        "voice_slots_used": voice_slots_used,
        "professional_voice_slots_used": 0,
        "professional_voice_slots_used_in_workspace": 0,
        "voice_limit": plan.voice_limit,
        "max_voice_add_edits": None,
        "voice_add_edit_counter": 0,
        "professional_voice_limit": plan.professional_voice_limit,
        "can_extend_voice_limit": False,
        "can_use_instant_voice_cloning": plan.can_use_instant_voice_cloning,
        "can_use_professional_voice_cloning": plan.can_use_professional_voice_cloning,
        "currency": "usd",
        "current_overage": {"amount": "0", "currency": "usd"},
        "status": plan.status,
        "billing_period": "monthly_period",
        "character_refresh_period": "monthly_period",
    }


async def _voice_slots(services: ServicesDep, principal: Principal) -> int:
    return sum(1 for v in await services.voices.visible(principal) if v.owner_user_id == principal.user_id)


@router.get("/v1/user")
async def get_user(services: ServicesDep, principal: UserReader) -> dict[str, Any]:
    user = await services.accounts.get_user(principal.user_id)
    return {
        "user_id": user.id,
        # Newer SDKs (JS 2.7x) require it; each Chorus user is its own workspace.
        "workspace_id": user.id,
        "subscription": _subscription(user, await _voice_slots(services, principal)),
        "is_new_user": False,
        "can_use_delayed_payment_methods": False,
        "is_onboarding_completed": True,
        "is_onboarding_checklist_completed": True,
        "show_compliance_terms": False,
        "first_name": user.name,
        "is_api_key_hashed": True,
        "xi_api_key_preview": f"sk_...{principal.key_hint}",
        "referral_link_code": None,
        "partnerstack_partner_default_link": None,
        "created_at": user.created_at_unix,
        "seat_type": "workspace_admin" if user.is_admin else "workspace_member",
    }


@router.get("/v1/user/subscription")
async def get_subscription(services: ServicesDep, principal: UserReader) -> dict[str, Any]:
    user = await services.accounts.get_user(principal.user_id)
    return {
        **_subscription(user, await _voice_slots(services, principal)),
        "next_invoice": None,
        "open_invoices": [],
        "has_open_invoices": False,
        "pending_change": None,
        "has_used_starter_coupon_on_account": False,
        "has_used_creator_coupon_on_account": False,
    }


@router.get("/v1/usage/character-stats")
async def character_stats(
    services: ServicesDep,
    principal: UserReader,
    start_unix: Annotated[int, Query()],
    end_unix: Annotated[int, Query()],
    include_workspace_metrics: bool = False,
    breakdown_type: str = "none",
    aggregation_interval: Literal["hour", "day", "week", "month", "cumulative"] = "day",
    aggregation_bucket_size: int | None = None,
    metric: str = "credits",
) -> dict[str, Any]:
    return await services.usage.character_stats(
        principal,
        start_ms=start_unix,
        end_ms=end_unix,
        include_workspace=include_workspace_metrics,
        breakdown_type=breakdown_type,
        aggregation_interval=aggregation_interval,
        aggregation_bucket_size=aggregation_bucket_size,
        metric=metric,
    )
