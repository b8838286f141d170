"""Workspace webhooks and speech to text with ``webhook=true``, delivered to a local receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chorus.api.app import create_app
from chorus.config import Settings
from chorus.services.voices import premade_voice_id
from chorus.testing.asr import word_error_rate
from tests.conftest import ADMIN_KEY, make_settings, speech_wav
from tests.contract.openapi import SPEC_PATH, spec, validate_response

RMS = premade_voice_id("flite", "rms")
SENTENCE = "Please remember to lock the front door before you leave."
FAST_JOBS: dict[str, Any] = {
    "webhook_allow_local_urls": True,
    "job_poll_interval_s": 0.05,
    "job_retry_base_s": 0.05,
    "job_retry_max_s": 0.2,
    "job_shutdown_grace_s": 0.05,
    "webhook_max_attempts": 3,
    "webhook_timeout_s": 5.0,
    "stt_webhook_max_attempts": 2,
}


class Receiver:
    """A local HTTP endpoint that records deliveries and answers with scripted status codes."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.deliveries: list[tuple[dict[str, str], str]] = []
        self.statuses = list(statuses or [])
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                with receiver._changed:
                    receiver.deliveries.append((dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[tuple[dict[str, str], str]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.deliveries) >= count, timeout_s):
                raise AssertionError(f"{len(self.deliveries)} of {count} deliveries arrived")
            return list(self.deliveries)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", **FAST_JOBS)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as test_client:
        yield test_client


def _speech(client: TestClient, text: str = SENTENCE) -> bytes:
    return speech_wav(client, RMS, text)


def _create(client: TestClient, url: str, events: list[str] | None = None, **headers: str) -> tuple[str, str]:
    settings = {"auth_type": "hmac", "name": "receiver", "webhook_url": url}
    if headers:
        settings["request_headers"] = headers  # type: ignore[assignment]
    created = client.post("/v1/workspace/webhooks", json={"settings": settings})
    assert created.status_code == 200, created.text
    body = created.json()
    if events is not None:
        patched = client.patch(
            f"/v1/workspace/webhooks/{body['webhook_id']}",
            json={"name": "receiver", "is_disabled": False, "events": events},
        )
        assert patched.status_code == 200, patched.text
    return body["webhook_id"], body["webhook_secret"]


def _verify(headers: dict[str, str], body: str, secret: str) -> dict[str, Any]:
    signature = {k.lower(): v for k, v in headers.items()}["elevenlabs-signature"]
    parts = dict(part.split("=", 1) for part in signature.split(","))
    assert abs(int(parts["t"]) - time.time()) < 60
    expected = hmac.new(secret.encode(), f"{parts['t']}.{body}".encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v0"], expected)
    return json.loads(body)  # type: ignore[no-any-return]


def _stt(client: TestClient, audio: bytes, **fields: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/speech-to-text",
        data={"model_id": "scribe_v1", **fields},
        files={"file": ("speech.wav", audio, "audio/wav")},
    )


def _credits(client: TestClient) -> int:
    return int(client.get("/v1/user/subscription").json()["character_count"])


def _blob_files(settings: Settings) -> list[Path]:
    folder = settings.data_dir / "blobs" / "stt-webhook"
    return sorted(folder.rglob("*")) if folder.exists() else []


def _job_ids(client: TestClient, kind: str) -> list[str]:
    from sqlalchemy import select

    from chorus.storage.models import Job

    async def ids() -> list[str]:
        async with client.app.state.services.db.sessions() as session:  # type: ignore[attr-defined]
            return list((await session.execute(select(Job.id).where(Job.kind == kind))).scalars())

    return client.portal.call(ids)  # type: ignore[union-attr]


def _job(client: TestClient, job_id: str):  # type: ignore[no-untyped-def]
    return client.portal.call(client.app.state.services.jobs.wait, job_id, 30)  # type: ignore[union-attr,attr-defined]


# -- CRUD ---------------------------------------------------------------------------------------------


def test_create_list_update_delete(client: TestClient) -> None:
    webhook_id, secret = _create(client, "https://hooks.example.com/chorus", Trace="abc")
    assert secret.startswith("wsec_") and len(secret) > 40
    plain = client.get("/v1/workspace/webhooks").json()["webhooks"]
    assert [w["webhook_id"] for w in plain] == [webhook_id]
    assert plain[0]["auth_type"] == "hmac" and plain[0]["usage"] is None and plain[0]["events"] is None
    assert "secret" not in json.dumps(plain)  # shown once, at creation
    patched = client.patch(
        f"/v1/workspace/webhooks/{webhook_id}",
        json={"name": "renamed", "is_disabled": True, "events": ["speech_to_text"], "retry_enabled": False},
    )
    assert patched.json() == {"status": "ok"}
    listed = client.get("/v1/workspace/webhooks", params={"include_usages": "true"}).json()
    hook = listed["webhooks"][0]
    assert hook["name"] == "renamed" and hook["is_disabled"] is True
    assert hook["events"] == ["speech_to_text"] and hook["usage"] == [{"usage_type": "Speech to Text"}]
    # Omitted fields stay as they were.
    client.patch(f"/v1/workspace/webhooks/{webhook_id}", json={"name": "renamed", "is_disabled": False})
    again = client.get("/v1/workspace/webhooks", params={"include_usages": "true"}).json()["webhooks"][0]
    assert again["events"] == ["speech_to_text"] and again["is_disabled"] is False
    if SPEC_PATH.exists():
        assert validate_response("GET", "/v1/workspace/webhooks", listed) == []
        assert validate_response("PATCH", "/v1/workspace/webhooks/{webhook_id}", patched.json()) == []
    deleted = client.delete(f"/v1/workspace/webhooks/{webhook_id}")
    assert deleted.json() == {"status": "ok"}
    assert client.get("/v1/workspace/webhooks").json() == {"webhooks": []}
    assert client.delete(f"/v1/workspace/webhooks/{webhook_id}").status_code == 404
    missing = client.patch("/v1/workspace/webhooks/nope", json={"name": "x", "is_disabled": False})
    assert missing.status_code == 404 and missing.json()["detail"]["status"] == "webhook_not_found"


def test_bad_webhooks_are_refused(client: TestClient) -> None:
    def create(url: str, **extra: Any):  # type: ignore[no-untyped-def]
        settings = {"auth_type": "hmac", "name": "x", "webhook_url": url, **extra}
        return client.post("/v1/workspace/webhooks", json={"settings": settings})

    assert create("https://ok.example.com", auth_type="oauth2").status_code == 422
    assert client.post("/v1/workspace/webhooks", json={"settings": {"name": "x"}}).status_code == 422
    for url in ("ftp://example.com/x", "not a url", "https://"):
        refused = create(url)
        assert refused.status_code == 400 and refused.json()["detail"]["status"] == "invalid_webhook_url", url
    header = create("https://ok.example.com", request_headers={"Content-Type": "text/plain"})
    assert header.status_code == 400 and header.json()["detail"]["status"] == "invalid_request_headers"
    webhook_id, _ = _create(client, "https://ok.example.com")
    bad_event = client.patch(
        f"/v1/workspace/webhooks/{webhook_id}", json={"name": "x", "is_disabled": False, "events": ["nope"]}
    )
    assert bad_event.status_code == 422


def test_production_refuses_http_and_private_targets(tmp_path: Path) -> None:
    strict = make_settings(tmp_path / "strict")  # webhook_allow_local_urls is off by default
    with TestClient(create_app(strict), headers={"xi-api-key": ADMIN_KEY}) as client:
        for url in (
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://[::1]/x",
            "https://169.254.169.254/latest",
            "https://localhost:8443/x",
            "https://[::ffff:192.168.0.1]/x",
        ):
            response = client.post(
                "/v1/workspace/webhooks",
                json={"settings": {"auth_type": "hmac", "name": "x", "webhook_url": url}},
            )
            assert response.status_code == 400, url
        assert _create(client, "https://93.184.215.14/hook")[0]


async def test_delivery_targets_are_checked_after_resolution() -> None:
    from chorus.services.webhooks import TargetRefused, resolve_target

    with pytest.raises(TargetRefused):
        await resolve_target("https://localhost/x", allow_local=False)
    with pytest.raises(TargetRefused):
        await resolve_target("http://93.184.215.14/x", allow_local=True)  # http only to local addresses
    pinned = await resolve_target("http://localhost:8080/a?b=1", allow_local=True)
    assert "http://127.0.0.1:8080/a?b=1" in pinned.urls
    assert set(pinned.urls) <= {"http://127.0.0.1:8080/a?b=1", "http://[::1]:8080/a?b=1"}
    assert pinned.host_header == "localhost:8080" and pinned.sni_hostname is None
    with_auth = await resolve_target("http://u:p@127.0.0.1:9/x", allow_local=True)
    assert with_auth.urls == ("http://u:p@127.0.0.1:9/x",) and with_auth.host_header == "127.0.0.1:9"
    public = await resolve_target("https://93.184.215.14/x", allow_local=False)
    assert public.urls == ("https://93.184.215.14/x",) and public.sni_hostname is None


def test_webhooks_belong_to_their_user(client: TestClient) -> None:
    webhook_id, _ = _create(client, "https://hooks.example.com/a")
    services = client.app.state.services  # type: ignore[attr-defined]
    other = client.portal.call(lambda: services.accounts.create_key("b", user_name="bob"))  # type: ignore[union-attr]
    reader = client.portal.call(  # type: ignore[union-attr]
        lambda: services.accounts.create_key("r", user_name="bob", permissions=["speech_to_text"])
    )
    as_bob = {"xi-api-key": other.secret}
    assert client.get("/v1/workspace/webhooks", headers=as_bob).json() == {"webhooks": []}
    assert client.delete(f"/v1/workspace/webhooks/{webhook_id}", headers=as_bob).status_code == 404
    denied = client.post(
        "/v1/workspace/webhooks",
        headers={"xi-api-key": reader.secret},
        json={"settings": {"auth_type": "hmac", "name": "x", "webhook_url": "https://a.example.com"}},
    )
    assert denied.status_code == 403
    assert client.get("/v1/workspace/webhooks", headers={"xi-api-key": reader.secret}).status_code == 403


# -- delivery ---------------------------------------------------------------------------------------


def _publish(client: TestClient, webhook_id: str, body: dict[str, Any]) -> str:
    services = client.app.state.services  # type: ignore[attr-defined]
    user_id = client.get("/v1/user").json()["user_id"]
    return client.portal.call(services.webhooks.publish, user_id, [webhook_id], body)[0]  # type: ignore[union-attr]


def test_delivery_is_signed_and_retried_on_5xx_and_429(client: TestClient, receiver: Receiver) -> None:
    webhook_id, secret = _create(client, receiver.url, Trace="t-1")
    receiver.statuses = [500, 429, 200]
    job_id = _publish(client, webhook_id, {"type": "ping", "data": {"n": 1}})
    deliveries = receiver.wait_for(3)
    bodies = [_verify(headers, body, secret) for headers, body in deliveries]
    assert bodies == [{"type": "ping", "data": {"n": 1}}] * 3
    assert all(h.get("Trace") == "t-1" and h["Content-Type"] == "application/json" for h, _ in deliveries)
    info = _job(client, job_id)
    assert info.status == "succeeded" and info.attempts == 3 and info.result["status_code"] == 200
    hook = client.get("/v1/workspace/webhooks").json()["webhooks"][0]
    assert hook["most_recent_failure_error_code"] == 429 and hook["most_recent_failure_timestamp"] > 0


def test_delivery_gives_up_and_records_why(client: TestClient, receiver: Receiver) -> None:
    flaky_id, _ = _create(client, receiver.url)
    receiver.statuses = [503, 503, 503, 404]
    gave_up = _job(client, _publish(client, flaky_id, {"type": "a"}))
    assert gave_up.status == "failed" and gave_up.attempts == 3 and "HTTP 503" in gave_up.last_error
    refused = _job(client, _publish(client, flaky_id, {"type": "b"}))  # 4xx: not retried
    assert refused.status == "failed" and refused.attempts == 1 and "HTTP 404" in refused.last_error
    assert len(receiver.wait_for(4)) == 4
    closed = Receiver()
    dead_url = closed.url
    closed.close()  # nothing listens there now: a network error each time
    dead_id, _ = _create(client, dead_url)
    unreachable = _job(client, _publish(client, dead_id, {"type": "c"}))
    assert (
        unreachable.status == "failed"
        and unreachable.attempts == 3
        and "delivery failed" in unreachable.last_error
    )


def test_webhooks_on_postgres(postgres_url: str, tmp_path: Path, receiver: Receiver) -> None:
    settings = make_settings(tmp_path / "pg", database_url=postgres_url, **FAST_JOBS)
    with TestClient(create_app(settings), headers={"xi-api-key": ADMIN_KEY}) as client:
        webhook_id, secret = _create(client, receiver.url, events=["speech_to_text"], Trace="pg")
        receiver.statuses = [502]
        job_id = _publish(client, webhook_id, {"type": "ping"})
        deliveries = receiver.wait_for(2)
        assert [_verify(h, b, secret) for h, b in deliveries] == [{"type": "ping"}] * 2
        assert _job(client, job_id).attempts == 2
        hook = client.get("/v1/workspace/webhooks", params={"include_usages": "true"}).json()["webhooks"][0]
        assert hook["events"] == ["speech_to_text"] and hook["most_recent_failure_error_code"] == 502


# -- speech to text with webhook=true --------------------------------------------------------------


def test_stt_webhook_delivers_transcript_once(
    client: TestClient, receiver: Receiver, settings: Settings
) -> None:
    webhook_id, secret = _create(client, receiver.url, events=["speech_to_text"])
    audio = _speech(client)
    before = _credits(client)
    metadata = {"job": "42", "tags": {"source": "test"}}
    response = _stt(client, audio, webhook="true", webhook_metadata=json.dumps(metadata))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["request_id"] == response.headers["request-id"]
    assert accepted["message"] and accepted["transcription_id"]
    if SPEC_PATH.exists():  # the spec's 202 has only an example; the model is a component
        from jsonschema import Draft202012Validator

        model = spec()["components"]["schemas"]["SpeechToTextWebhookResponseModel"]
        assert list(Draft202012Validator(model).iter_errors(accepted)) == []
    ((headers, body),) = receiver.wait_for(1)
    event = _verify(headers, body, secret)
    assert (
        event["type"] == "speech_to_text_transcription" and abs(event["event_timestamp"] - time.time()) < 120
    )
    data = event["data"]
    assert data["request_id"] == accepted["request_id"] and data["webhook_metadata"] == metadata
    transcript = data["transcription"]
    assert transcript["transcription_id"] == accepted["transcription_id"]
    assert word_error_rate(SENTENCE, transcript["text"]) <= 0.3
    assert any(w["type"] == "spacing" for w in transcript["words"])
    stored = client.get(f"/v1/speech-to-text/transcripts/{accepted['transcription_id']}")
    assert stored.status_code == 200 and stored.json()["text"] == transcript["text"]
    # Charged once, by duration, at acceptance; the audio is gone once the job is done.
    assert _credits(client) - before == max(1, math.ceil(transcript["audio_duration_secs"]))
    assert _job(client, _job_ids(client, "stt.webhook")[0]).status == "succeeded"
    assert _blob_files(settings) == []
    time.sleep(0.3)
    assert len(receiver.deliveries) == 1 and webhook_id


def test_stt_webhook_id_metadata_string_and_zero_retention(client: TestClient, receiver: Receiver) -> None:
    chosen, secret = _create(client, receiver.url)  # not subscribed: named explicitly
    other = Receiver()
    try:
        _create(client, other.url, events=["speech_to_text"])
        audio = _speech(client, "Good morning.")
        # The SDK sends a JSON string argument encoded once more.
        inner = json.dumps({"ticket": 7})
        response = client.post(
            "/v1/speech-to-text",
            params={"enable_logging": "false"},
            data={
                "model_id": "scribe_v1",
                "webhook": "true",
                "webhook_id": chosen,
                "webhook_metadata": json.dumps(inner),
            },
            files={"file": ("s.wav", audio)},
        )
        assert response.status_code == 202, response.text
        ((headers, body),) = receiver.wait_for(1)
        event = _verify(headers, body, secret)
        assert event["data"]["webhook_metadata"] == {"ticket": 7}
        transcription_id = response.json()["transcription_id"]
        assert client.get(f"/v1/speech-to-text/transcripts/{transcription_id}").status_code == 404
        time.sleep(0.3)
        assert other.deliveries == []
        # Zero retention: the delivery job keeps no copy of the transcript once sent.
        delivery = _job_ids(client, "webhook.deliver")
        services = client.app.state.services  # type: ignore[attr-defined]
        from chorus.storage.models import Job

        async def payload() -> Any:
            async with services.db.sessions() as session:
                return (await session.get(Job, delivery[0])).payload

        _job(client, delivery[0])
        assert client.portal.call(payload) == {}  # type: ignore[union-attr]
    finally:
        other.close()


def test_stt_webhook_request_errors(client: TestClient, receiver: Receiver) -> None:
    audio = _speech(client, "Hello there.")
    none_configured = _stt(client, audio, webhook="true")
    assert none_configured.status_code == 400
    assert none_configured.json()["detail"]["status"] == "no_webhook_configured"
    webhook_id, _ = _create(client, receiver.url, events=["speech_to_text"])
    cases = {
        '{"a": {"b": {"c": 1}}}': "invalid_webhook_metadata",
        "[1, 2]": "invalid_webhook_metadata",
        "{not json": "invalid_webhook_metadata",
        json.dumps({"big": "x" * 17_000}): "invalid_webhook_metadata",
    }
    for metadata, status in cases.items():
        bad = _stt(client, audio, webhook="true", webhook_metadata=metadata)
        assert bad.status_code == 400 and bad.json()["detail"]["status"] == status, metadata
    assert _stt(client, audio, webhook="true", webhook_id="missing").status_code == 404
    unasked = _stt(client, audio, webhook_id=webhook_id)
    assert unasked.status_code == 400
    # "null" is the SDK's "absent": the request goes on to the audio checks.
    short = client.post(
        "/v1/speech-to-text",
        data={"model_id": "scribe_v1", "webhook_metadata": "null", "file_format": "pcm_s16le_16"},
        files={"file": ("s.pcm", b"\0" * 800)},
    )
    assert short.status_code == 400 and short.json()["detail"]["status"] == "audio_too_short"
    garbage = _stt(client, b"not audio" * 200, webhook="true")
    assert garbage.status_code == 400 and garbage.json()["detail"]["status"] == "invalid_audio"
    assert _stt(client, audio, webhook="true", model_id="whisper").status_code == 400
    client.patch(f"/v1/workspace/webhooks/{webhook_id}", json={"name": "r", "is_disabled": True})
    assert _stt(client, audio, webhook="true").json()["detail"]["status"] == "no_webhook_configured"
    assert _stt(client, audio, webhook="true", webhook_id=webhook_id).status_code == 400
    time.sleep(0.2)
    assert receiver.deliveries == [] and _job_ids(client, "stt.webhook") == []


def test_stt_webhook_quota_is_checked_at_acceptance(client: TestClient, receiver: Receiver) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    poor = client.portal.call(
        lambda: services.accounts.create_key("poor", user_name="poor", character_limit=1)
    )  # type: ignore[union-attr]
    headers = {"xi-api-key": poor.secret}
    client.post(
        "/v1/workspace/webhooks",
        headers=headers,
        json={"settings": {"auth_type": "hmac", "name": "p", "webhook_url": receiver.url}},
    )
    webhook_id = client.get("/v1/workspace/webhooks", headers=headers).json()["webhooks"][0]["webhook_id"]
    response = client.post(
        "/v1/speech-to-text",
        headers=headers,
        data={"model_id": "scribe_v1", "webhook": "true", "webhook_id": webhook_id},
        files={"file": ("s.wav", _speech(client))},
    )
    assert response.status_code == 401 and response.json()["detail"]["status"] == "quota_exceeded"
    assert _job_ids(client, "stt.webhook") == []


class _BrokenEngine:
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def transcribe(self, *_args: Any, **_kwargs: Any) -> Any:
        self.calls += 1
        raise RuntimeError("the recogniser crashed")


def test_stt_webhook_final_failure_refunds_and_notifies(
    client: TestClient, receiver: Receiver, settings: Settings
) -> None:
    webhook_id, secret = _create(client, receiver.url, events=["speech_to_text"])
    audio = _speech(client, "This will not be transcribed.")
    services = client.app.state.services  # type: ignore[attr-defined]
    broken = _BrokenEngine(services.stt._engine)
    services.stt._engine = broken
    before = _credits(client)
    response = _stt(client, audio, webhook="true", webhook_metadata='{"k": "v"}')
    assert response.status_code == 202
    assert _credits(client) > before  # charged at acceptance
    ((headers, body),) = receiver.wait_for(1)
    data = _verify(headers, body, secret)["data"]
    assert data["status"] == "failed" and "recogniser crashed" in data["error"]
    assert data["transcription"] is None and data["webhook_metadata"] == {"k": "v"}
    assert data["request_id"] == response.json()["request_id"]
    info = _job(client, _job_ids(client, "stt.webhook")[0])
    assert info.status == "failed" and info.attempts == 2 and broken.calls == 2
    assert _credits(client) == before  # refunded once
    assert _blob_files(settings) == []
    assert webhook_id


class _GatedEngine:
    """Holds transcription until the test opens the gate (a job caught mid-run)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        self.gate.wait(30)
        raise RuntimeError("abandoned: this server stopped")  # nobody is waiting for this result


def test_restart_while_running_or_queued_still_delivers(tmp_path: Path, receiver: Receiver) -> None:
    data_dir = tmp_path / "data"
    # First server: the job is caught running, then the server stops.
    first = make_settings(data_dir, **FAST_JOBS)
    with TestClient(create_app(first), headers={"xi-api-key": ADMIN_KEY}) as client:
        _webhook_id, secret = _create(client, receiver.url, events=["speech_to_text"])
        audio = _speech(client)
        services = client.app.state.services  # type: ignore[attr-defined]
        gated = _GatedEngine(services.stt._engine)
        services.stt._engine = gated
        before = _credits(client)
        running = _stt(client, audio, webhook="true").json()
        assert gated.entered.wait(30)
        cost = _credits(client) - before
    gated.gate.set()  # the abandoned thread finishes; its result goes nowhere
    # Second server: it runs nothing (job_workers=0), so its job stays queued when it stops.
    idle = make_settings(data_dir, **{**FAST_JOBS, "job_workers": 0})
    with TestClient(create_app(idle), headers={"xi-api-key": ADMIN_KEY}) as client:
        queued = _stt(client, audio, webhook="true").json()
        assert _credits(client) == before + 2 * cost
    assert receiver.deliveries == []
    # Third server on the same database and blob store: both are delivered, once each.
    with TestClient(create_app(first), headers={"xi-api-key": ADMIN_KEY}) as client:
        deliveries = receiver.wait_for(2)
        events = [_verify(headers, body, secret)["data"] for headers, body in deliveries]
        assert sorted(e["request_id"] for e in events) == sorted(
            [running["request_id"], queued["request_id"]]
        )
        for event in events:
            assert word_error_rate(SENTENCE, event["transcription"]["text"]) <= 0.3
        jobs = [_job(client, job_id) for job_id in _job_ids(client, "stt.webhook")]
        assert sorted((j.status, j.attempts) for j in jobs) == [("succeeded", 1), ("succeeded", 1)]
        assert _credits(client) == before + 2 * cost  # each charged once, nothing refunded
        assert cost == max(1, math.ceil(events[0]["transcription"]["audio_duration_secs"]))
        time.sleep(0.3)
    assert len(receiver.deliveries) == 2
    assert _blob_files(first) == []
