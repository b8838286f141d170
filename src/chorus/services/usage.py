"""Usage statistics (``GET /v1/usage/character-stats``) from the usage events written with each charge."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.errors import BadRequest
from chorus.services.accounts import Principal
from chorus.storage.models import UsageEvent

INTERVALS = ("hour", "day", "week", "month", "cumulative")
BREAKDOWNS = {"none": None, "voice": "voice_id", "model": "model_id", "api_keys": "api_key_id",
              "product_type": "product", "user": "user_id"}  # fmt: skip
METRICS = ("credits", "tts_characters", "request_count")
MAX_BUCKETS = 10_000


def _bucket_start(moment: dt.datetime, interval: str, bucket_seconds: int | None) -> dt.datetime:
    if bucket_seconds:
        epoch = int(moment.timestamp())
        return dt.datetime.fromtimestamp(epoch - epoch % bucket_seconds, dt.UTC)
    if interval == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "week":
        return day - dt.timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_bucket(start: dt.datetime, interval: str, bucket_seconds: int | None) -> dt.datetime:
    if bucket_seconds:
        return start + dt.timedelta(seconds=bucket_seconds)
    if interval == "hour":
        return start + dt.timedelta(hours=1)
    if interval == "week":
        return start + dt.timedelta(weeks=1)
    if interval == "month":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + dt.timedelta(days=1)


class UsageService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def character_stats(
        self,
        principal: Principal,
        *,
        start_ms: int,
        end_ms: int,
        include_workspace: bool = False,
        breakdown_type: str = "none",
        aggregation_interval: str = "day",
        aggregation_bucket_size: int | None = None,
        metric: str = "credits",
    ) -> dict[str, object]:
        if end_ms < start_ms:
            raise BadRequest("end_unix must not be before start_unix.", status="invalid_time_range")
        if aggregation_interval not in INTERVALS:
            raise BadRequest(f"aggregation_interval must be one of {', '.join(INTERVALS)}.")
        if breakdown_type not in BREAKDOWNS:
            raise BadRequest(f"breakdown_type must be one of {', '.join(BREAKDOWNS)}.")
        if metric not in METRICS:
            raise BadRequest(f"metric must be one of {', '.join(METRICS)} on this server.")
        if aggregation_bucket_size is not None and aggregation_bucket_size < 60:
            raise BadRequest("aggregation_bucket_size must be at least 60 seconds.")
        query = select(UsageEvent).where(
            UsageEvent.created_at >= start_ms / 1000, UsageEvent.created_at <= end_ms / 1000
        )
        if not (include_workspace and principal.is_admin):
            query = query.where(UsageEvent.user_id == principal.user_id)
        async with self._sessions() as session:
            events = list((await session.execute(query)).scalars())

        start = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC)
        end = dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC)
        if aggregation_interval == "cumulative" and not aggregation_bucket_size:
            buckets = [start]
        else:
            buckets, cursor = [], _bucket_start(start, aggregation_interval, aggregation_bucket_size)
            while cursor <= end:
                if len(buckets) == MAX_BUCKETS:
                    raise BadRequest(
                        f"The window holds more than {MAX_BUCKETS} {aggregation_interval} buckets; "
                        "use a shorter window or a larger aggregation interval.",
                        status="too_many_buckets",
                    )
                buckets.append(cursor)
                cursor = _next_bucket(cursor, aggregation_interval, aggregation_bucket_size)
        index = {b: i for i, b in enumerate(buckets)}
        column = BREAKDOWNS[breakdown_type]
        series: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(buckets))
        for event in events:
            moment = dt.datetime.fromtimestamp(event.created_at, dt.UTC)
            slot = (
                0
                if len(buckets) == 1
                else index.get(_bucket_start(moment, aggregation_interval, aggregation_bucket_size))
            )
            if slot is None:
                continue
            key = "All" if column is None else str(getattr(event, column) or "unknown")
            value = {"credits": event.credits, "tts_characters": event.characters, "request_count": 1}[metric]
            series[key][slot] += float(value)
        if not series:
            series["All"] = [0.0] * len(buckets)
        return {"time": [int(b.timestamp() * 1000) for b in buckets], "usage": dict(series)}
