"""Subscription plans: monthly character (credit) allowances, after ElevenLabs' public tiers."""

from __future__ import annotations

from dataclasses import dataclass

# Reported as the limit of plans without one: the wire field is a required integer.
UNLIMITED_REPORTED = 2_147_483_647


@dataclass(frozen=True)
class Plan:
    tier: str
    character_limit: int | None  # None: no limit
    voice_limit: int
    professional_voice_limit: int
    can_use_instant_voice_cloning: bool
    can_use_professional_voice_cloning: bool
    status: str


PLANS: dict[str, Plan] = {
    p.tier: p
    for p in (
        Plan("free", 10_000, 3, 0, False, False, "free"),
        Plan("starter", 30_000, 10, 0, True, False, "active"),
        Plan("creator", 100_000, 30, 1, True, True, "active"),
        Plan("pro", 500_000, 160, 1, True, True, "active"),
        Plan("scale", 2_000_000, 660, 1, True, True, "active"),
        Plan("business", 11_000_000, 660, 3, True, True, "active"),
        Plan("enterprise", None, 10_000, 10, True, True, "active"),
    )
}


def get_plan(tier: str) -> Plan:
    try:
        return PLANS[tier]
    except KeyError:
        raise ValueError(f"unknown plan {tier!r}; known: {', '.join(PLANS)}") from None
