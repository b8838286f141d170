"""Workspace webhooks: stored per user, delivered as signed POSTs by background jobs.

Delivery: ``POST <webhook_url>`` with the event as JSON and the header
``ElevenLabs-Signature: t=<unix seconds>,v0=<hex HMAC-SHA256(secret, f"{t}.{body}")>``, exactly what the
official SDKs' ``webhooks.construct_event`` verifies. Each delivery is one ``webhook.deliver`` job:
retried with backoff on network errors, timeouts, 429 and 5xx (when the webhook's ``retry_enabled``),
given up after ``webhook_max_attempts`` (the job records why; the webhook records the most recent
failure). Each attempt is signed afresh, since receivers refuse signatures older than 30 minutes.

Targets must be ``https://`` on public addresses. Addresses are checked when the webhook is saved and
again, after DNS resolution, on every delivery, and the request goes to the address that was checked
(DNS rebinding cannot swap in an internal one). ``webhook_allow_local_urls`` lets ``http://`` and
private or loopback targets through (tests, LAN setups).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
import string
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.config import Settings
from chorus.errors import BadRequest, NotFound
from chorus.services.accounts import Principal
from chorus.services.jobs import JobContext, JobQueue, PermanentFailure, RetryLater
from chorus.storage.models import Webhook

log = logging.getLogger("chorus.webhooks")

SIGNATURE_HEADER = "ElevenLabs-Signature"
DELIVER_JOB = "webhook.deliver"
# WorkspaceWebhookEventType, and the usage each event shows in WorkspaceWebhookResponseModel.usage.
EVENT_USAGE = {
    "voice_library_removal_notice": "Voice Library Removal Notices",
    "speech_to_text": "Speech to Text",
    "agent_qa": "Agent QA Evaluations",
    "flows": "Flows",
}
MAX_WEBHOOKS_PER_USER = 100
MAX_URL_CHARS = 2048
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 2
# Headers Chorus sets itself; a webhook's custom headers may not replace them.
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "elevenlabs-signature", "user-agent"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_ID_ALPHABET = string.ascii_letters + string.digits


def sign(secret: str, body: str, timestamp: int) -> str:
    """The ``ElevenLabs-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v0={digest}"


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def parse_webhook_metadata(raw: str | None) -> dict[str, Any] | None:
    """``webhook_metadata`` form text -> a JSON object (depth <= 2, <= 16 KB), or None when absent.

    The SDK sends ``json.dumps(value)``: an object arrives as JSON, a string holding JSON arrives
    encoded twice, and an omitted value as ``null``.
    """
    if raw is None or raw.strip() in ("", "null"):
        return None
    if len(raw.encode()) > MAX_METADATA_BYTES * 2:
        raise BadRequest("webhook_metadata must be at most 16 KB.", status="invalid_webhook_metadata")
    try:
        value: Any = json.loads(raw)
        if isinstance(value, str):
            value = json.loads(value)
    except json.JSONDecodeError:
        raise BadRequest(
            "webhook_metadata must be a JSON object.", status="invalid_webhook_metadata"
        ) from None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest("webhook_metadata must be a JSON object.", status="invalid_webhook_metadata")
    if len(json.dumps(value).encode()) > MAX_METADATA_BYTES:
        raise BadRequest("webhook_metadata must be at most 16 KB.", status="invalid_webhook_metadata")
    if _depth(value) > MAX_METADATA_DEPTH:
        raise BadRequest(
            "webhook_metadata may nest at most 2 levels deep.", status="invalid_webhook_metadata"
        )
    return value


# -- where deliveries may go --------------------------------------------------------------------


class TargetRefused(Exception):
    """The URL may not be delivered to (scheme, or an address that is not public)."""


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_webhook_url(url: str, allow_local: bool) -> None:
    """What can be checked without DNS when a webhook is saved (BadRequest when refused)."""
    try:
        _check_url(url, allow_local)
    except TargetRefused as exc:
        raise BadRequest(str(exc), status="invalid_webhook_url") from None


def _check_url(url: str, allow_local: bool) -> None:
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused(f"webhook_url must be at most {MAX_URL_CHARS} characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"webhook_url is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("webhook_url must be an https:// URL.")
    if scheme == "http" and not allow_local:
        raise TargetRefused("webhook_url must be an https:// URL.")
    if port == 0:
        raise TargetRefused("webhook_url has an invalid port.")
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        if not allow_local:
            raise TargetRefused("webhook_url may not point at this server's own network.")
        return
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: checked after resolution, at delivery
    if not allow_local and not _is_public(ip):
        raise TargetRefused("webhook_url may not point at a private, loopback or reserved address.")


@dataclass(frozen=True)
class DeliveryTarget:
    urls: tuple[str, ...]  # one per checked address, each in place of the host name; tried in order
    host_header: str
    sni_hostname: str | None


async def resolve_target(url: str, allow_local: bool) -> DeliveryTarget:
    """Resolve ``url``'s host, refuse it unless every address is allowed, and pin the addresses.

    TargetRefused when refused; OSError when the name does not resolve (worth retrying).
    """
    _check_url(url, allow_local)
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not addresses:
        raise OSError(f"{host} has no address")
    private = [a for a in addresses if not _is_public(a)]
    if private and not allow_local:
        raise TargetRefused(f"{host} resolves to a private, loopback or reserved address ({private[0]}).")
    if scheme == "http" and len(private) != len(addresses):
        raise TargetRefused("http:// webhooks may only point at local addresses; use https://.")
    pinned = []
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""  # basic auth, if any
    for ip in addresses:
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        netloc = userinfo + (f"{literal}:{parts.port}" if parts.port else literal)
        pinned.append(urlunsplit((scheme, netloc, parts.path or "/", parts.query, "")))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    is_name = str(addresses[0]) != host.strip("[]")
    return DeliveryTarget(tuple(pinned), host_header, host if scheme == "https" and is_name else None)


def _retry_after(response: httpx.Response, cap_s: float) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(cap_s, max(0.0, seconds))


def _new_webhook_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(28))


def delivery_job_id(dedupe_key: str, webhook_id: str) -> str:
    return hashlib.sha256(f"{dedupe_key}:{webhook_id}".encode()).hexdigest()[:32]


class WebhookService:
    """Webhook CRUD for the API, and ``publish`` for services that have an event to send."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, jobs: JobQueue
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._jobs = jobs
        jobs.registry.register(
            DELIVER_JOB,
            self._deliver,
            max_attempts=settings.webhook_max_attempts,
            # The body may hold a transcript of a zero-retention request: not kept once sent.
            keep_payload=False,
        )

    # -- CRUD -----------------------------------------------------------------------------------

    def _check_headers(self, headers: dict[str, str | None] | None) -> dict[str, str] | None:
        if headers is None:
            return None
        cleaned = {k: v for k, v in headers.items() if v is not None}
        if len(cleaned) > 20:
            raise BadRequest("At most 20 request headers are allowed.", status="invalid_request_headers")
        for name, value in cleaned.items():
            if not _HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
                raise BadRequest(f"Request header {name!r} is not allowed.", status="invalid_request_headers")
            if "\r" in value or "\n" in value or len(value) > 4096:
                raise BadRequest(
                    f"Request header {name!r} has an invalid value.", status="invalid_request_headers"
                )
        return cleaned

    async def create(
        self,
        principal: Principal,
        *,
        name: str,
        webhook_url: str,
        request_headers: dict[str, str | None] | None,
    ) -> tuple[Webhook, str]:
        """A new HMAC webhook; returns it with its secret (which the API shows only this once)."""
        check_webhook_url(webhook_url, self._settings.webhook_allow_local_urls)
        headers = self._check_headers(request_headers)
        async with self._sessions() as session, session.begin():
            count = len(
                (await session.execute(select(Webhook.id).where(Webhook.user_id == principal.user_id))).all()
            )
            if count >= MAX_WEBHOOKS_PER_USER:
                raise BadRequest(
                    f"At most {MAX_WEBHOOKS_PER_USER} webhooks are allowed.", status="too_many_webhooks"
                )
            secret = "wsec_" + secrets.token_hex(32)
            row = Webhook(
                id=_new_webhook_id(),
                user_id=principal.user_id,
                name=name,
                webhook_url=webhook_url.strip(),
                auth_type="hmac",
                secret=secret,
                request_headers=headers,
                events=[],
                is_disabled=False,
                is_auto_disabled=False,
                retry_enabled=True,
                most_recent_failure_error_code=None,
                most_recent_failure_timestamp=None,
                created_at_unix=int(time.time()),
            )
            session.add(row)
        return row, secret

    async def list_webhooks(self, principal: Principal) -> list[Webhook]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(Webhook).where(Webhook.user_id == principal.user_id).order_by(Webhook.created_at_unix)
            )
            return list(rows.scalars().all())

    async def get(self, principal: Principal, webhook_id: str) -> Webhook:
        async with self._sessions() as session:
            row = await session.get(Webhook, webhook_id)
        if row is None or row.user_id != principal.user_id:
            raise NotFound(f"Webhook {webhook_id} was not found.", status="webhook_not_found")
        return row

    async def update(
        self,
        principal: Principal,
        webhook_id: str,
        *,
        name: str,
        is_disabled: bool,
        retry_enabled: bool | None = None,
        request_headers: dict[str, str | None] | None = None,
        events: list[str] | None = None,
    ) -> None:
        """PATCH semantics of the spec: ``name`` and ``is_disabled`` always; the rest when given."""
        await self.get(principal, webhook_id)
        values: dict[str, Any] = {"name": name, "is_disabled": is_disabled}
        if not is_disabled:
            values["is_auto_disabled"] = False
        if retry_enabled is not None:
            values["retry_enabled"] = retry_enabled
        if request_headers is not None:
            values["request_headers"] = self._check_headers(request_headers)
        if events is not None:
            unknown = sorted(set(events) - set(EVENT_USAGE))
            if unknown:
                raise BadRequest(f"Unknown webhook event(s): {', '.join(unknown)}.", status="invalid_events")
            values["events"] = sorted(set(events))
        async with self._sessions() as session, session.begin():
            await session.execute(update(Webhook).where(Webhook.id == webhook_id).values(**values))

    async def delete(self, principal: Principal, webhook_id: str) -> None:
        await self.get(principal, webhook_id)
        async with self._sessions() as session, session.begin():
            await session.execute(delete(Webhook).where(Webhook.id == webhook_id))

    # -- publishing -------------------------------------------------------------------------------

    async def resolve_targets(self, user_id: str, event: str, webhook_id: str | None = None) -> list[str]:
        """The webhooks an event goes to: ``webhook_id`` (the user's, enabled), or every enabled webhook
        of the user subscribed to ``event``. BadRequest/NotFound when there is none."""
        async with self._sessions() as session:
            if webhook_id is not None:
                row = await session.get(Webhook, webhook_id)
                if row is None or row.user_id != user_id:
                    raise NotFound(f"Webhook {webhook_id} was not found.", status="webhook_not_found")
                if row.is_disabled or row.is_auto_disabled:
                    raise BadRequest(f"Webhook {webhook_id} is disabled.", status="webhook_disabled")
                return [row.id]
            rows = (await session.execute(select(Webhook).where(Webhook.user_id == user_id))).scalars().all()
        targets = [
            r.id for r in rows if event in (r.events or []) and not (r.is_disabled or r.is_auto_disabled)
        ]
        if not targets:
            usage = EVENT_USAGE.get(event, event)
            raise BadRequest(
                f"No enabled webhook is configured for {usage}: create one with POST /v1/workspace/webhooks "
                f'and subscribe it with PATCH (events: ["{event}"]), or pass webhook_id.',
                status="no_webhook_configured",
            )
        return targets

    async def publish(
        self, user_id: str, webhook_ids: list[str], body: dict[str, Any], *, dedupe_key: str | None = None
    ) -> list[str]:
        """Queue one signed delivery of ``body`` per webhook; returns the delivery job ids.

        With ``dedupe_key`` (e.g. the calling job's id) publishing the same event again, as a retried
        job does, queues nothing new.
        """
        text = json.dumps(body)  # ASCII: the signed text and the bytes sent are the same
        job_ids = []
        for webhook_id in webhook_ids:
            job_ids.append(
                await self._jobs.enqueue(
                    DELIVER_JOB,
                    {"webhook_id": webhook_id, "event": body.get("type"), "body": text},
                    user_id=user_id,
                    job_id=delivery_job_id(dedupe_key, webhook_id) if dedupe_key else None,
                )
            )
        return job_ids

    # -- delivery (a job) -------------------------------------------------------------------------

    async def _record_failure(self, webhook_id: str, status_code: int | None) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Webhook)
                .where(Webhook.id == webhook_id)
                .values(
                    most_recent_failure_error_code=status_code, most_recent_failure_timestamp=int(time.time())
                )
            )

    async def _deliver(self, ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
        async with self._sessions() as session:
            row = await session.get(Webhook, payload["webhook_id"])
        if row is None:
            return {"skipped": "the webhook was deleted"}
        if row.is_disabled or row.is_auto_disabled:
            return {"skipped": "the webhook is disabled"}
        allow_local = self._settings.webhook_allow_local_urls
        transient = RetryLater if row.retry_enabled else PermanentFailure
        try:
            target = await resolve_target(row.webhook_url, allow_local)
        except TargetRefused as exc:
            await self._record_failure(row.id, None)
            raise PermanentFailure(str(exc)) from None
        except OSError as exc:
            await self._record_failure(row.id, None)
            raise transient(f"could not resolve the webhook's host: {exc}") from None
        body: str = payload["body"]
        timestamp = int(time.time())
        headers = {
            **(row.request_headers or {}),
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": "Chorus-Webhooks/1",
            SIGNATURE_HEADER: sign(row.secret, body, timestamp),
        }
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
        try:
            # No redirects (they would bypass the address check) and no proxies from the environment.
            async with httpx.AsyncClient(
                timeout=self._settings.webhook_timeout_s, follow_redirects=False, trust_env=False
            ) as client:
                for index, url in enumerate(target.urls):
                    try:
                        response = await client.post(
                            url, content=body.encode(), headers=headers, extensions=extensions
                        )
                        break
                    except httpx.ConnectError:
                        if index == len(target.urls) - 1:
                            raise  # every address refused the connection
        except httpx.HTTPError as exc:
            await self._record_failure(row.id, None)
            raise transient(f"delivery failed: {type(exc).__name__}: {exc}") from None
        code = response.status_code
        if 200 <= code < 300:
            return {"status_code": code, "attempt": ctx.attempt}
        await self._record_failure(row.id, code)
        if code == 429 or code >= 500:
            if row.retry_enabled:
                raise RetryLater(
                    f"the webhook answered HTTP {code}",
                    _retry_after(response, self._settings.job_retry_max_s),
                )
            raise PermanentFailure(f"the webhook answered HTTP {code} (retries are off)")
        raise PermanentFailure(f"the webhook answered HTTP {code}")
