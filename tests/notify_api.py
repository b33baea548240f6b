"""Stand-ins for the hosted notification services, on loopback, and a real SMTP server (aiosmtpd).

Slack, Mattermost and PagerDuty cannot be reached from the machines these tests run on, so the incident notifications
are tested against these servers. Each service has its own port (as each has its own host) and implements the documented
requests and answers the sinks use:

- a generic JSON webhook, ``POST /hooks/incident?token=...``: the query token (401 without it), an ``X-Api-Key`` header
  (403 without it), ``Content-Type: application/json`` (415 otherwise) and a JSON body (400 otherwise); 200 ``{"ok": true}``.
- Slack incoming webhooks, ``POST /services/T.../B.../<secret>``: 200 ``ok``; 400 ``invalid_payload`` (no JSON),
  ``no_text`` (neither text nor blocks), ``invalid_blocks`` (a block without type, a header over 150 characters, a
  section with more than 10 fields); 404 ``no_service`` for a URL that is no webhook. Answers are text, as Slack's are.
- Mattermost incoming webhooks, ``POST /hooks/<key>``: 200 ``ok``; 400 with Mattermost's error object for an unknown key
  (``web.incoming_webhook.invalid.app_error``) or a message without text or attachments (``web.incoming_webhook.text.app_error``).
- PagerDuty Events API v2, ``POST /v2/enqueue``: 202 ``{"status": "success", "message": "Event processed", "dedup_key"}``;
  400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`` when routing_key or
  event_action is missing or invalid, when a trigger lacks payload.summary, payload.source or a payload.severity of
  critical, error, warning or info, or an acknowledge or resolve lacks its dedup_key. Alerts are kept by dedup key, as
  PagerDuty folds them: a trigger with the key of an open alert adds to it, a resolve resolves it.
- PagerDuty change events, ``POST /v2/change/enqueue``: 202 ``{"status": "success", "message": "Change event processed"}``;
  400 for an empty body (what community.general.pagerduty_change probes in check mode), an unknown routing key or a
  missing payload.summary.

Every request is recorded in order, with its headers and body. ``fail(service, status, ...)`` makes a service answer an
error the next N times (a 429 with a Retry-After, a 503, ...); ``refuse(service)`` closes its port, so connections are
refused, until ``restore(service)``. The SMTP server accepts AUTH PLAIN/LOGIN with ``SMTP_USER``/``SMTP_PASSWORD``
without TLS (loopback only) and keeps each message parsed.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import threading
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

WEBHOOK_TOKEN = "whtok-5a1c9e0f2b7d4c83"
WEBHOOK_HEADER = "whkey-0d9b37e2a41f6c58"
SLACK_SECRET = "xoxsecret7Hq2LmZ9vT4wR8kP"
MATTERMOST_KEY = "mmkey3q8z1x7c5v9b2n4m6k0"
PAGERDUTY_KEY = "R0UT1NGKEY0000000000000000000a1b"
PAGERDUTY_CHANGE_KEY = "R0UT1NGKEYCHANGE0000000000000c2d"
SMTP_USER, SMTP_PASSWORD = "maestro", "smtp-pass-8c2e5b1a"
SECRETS = (WEBHOOK_TOKEN, WEBHOOK_HEADER, SLACK_SECRET, MATTERMOST_KEY, PAGERDUTY_KEY, PAGERDUTY_CHANGE_KEY, SMTP_PASSWORD)
SERVICES = ("webhook", "slack", "mattermost", "pagerduty")
SLACK_PATH = f"/services/T0MAESTRO1/B0INCIDENT2/{SLACK_SECRET}"
_SEVERITIES = ("critical", "error", "warning", "info")


@dataclass
class Received:
    service: str
    method: str
    path: str
    headers: dict
    raw: bytes
    status: int = 0  # what the stand-in answered

    @property
    def json(self):
        return json.loads(self.raw)


@dataclass
class _Failure:
    status: int
    body: str
    headers: dict = field(default_factory=dict)


def _invalid(*errors: str) -> tuple[int, dict]:
    return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}


class NotifyApi:
    """The hosted services, one HTTP server each on 127.0.0.1:``base_port`` + 0..3 (webhook, slack, mattermost, pagerduty)."""

    def __init__(self, base_port: int, webhook_key: bool = True):
        """``webhook_key``: the webhook wants the X-Api-Key header besides its URL token (a sink configured by URL alone,
        as the local inventory's DEMO_INCIDENT_WEBHOOK is, has only the token)."""
        self.webhook_key = webhook_key
        self.ports = {name: base_port + index for index, name in enumerate(SERVICES)}
        self.requests: list[Received] = []
        self.alerts: dict[str, dict] = {}  # PagerDuty, by dedup key: {"status": triggered|resolved, "triggers": n}
        self.changes: list[dict] = []
        self._failures: dict[str, list[_Failure]] = {name: [] for name in SERVICES}
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        for name in SERVICES:
            self._start(name)

    # ------------------------------------------------------------------------------------------------- control

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def webhook_url(self) -> str:
        return f"{self.url('webhook')}/hooks/incident?token={WEBHOOK_TOKEN}"

    @property
    def slack_url(self) -> str:
        return self.url("slack") + SLACK_PATH

    def sinks(self, smtp: "SmtpServer | None" = None, **overrides) -> dict:
        """Every sink configured against these stand-ins (and ``smtp``), as maestro_incident_sinks."""
        sinks = {
            "webhook": {"url": self.webhook_url, "headers": {"X-Api-Key": WEBHOOK_HEADER}},
            "slack": {"url": self.slack_url},
            "mattermost": {"url": self.url("mattermost"), "api_key": MATTERMOST_KEY, "channel": "incidents", "username": "maestro"},
            "pagerduty": {"routing_key": PAGERDUTY_KEY, "url": f"{self.url('pagerduty')}/v2/enqueue"},
            "pagerduty_change": {"routing_key": PAGERDUTY_CHANGE_KEY, "url": f"{self.url('pagerduty')}/v2/change/enqueue"},
        }
        if smtp is not None:
            sinks["email"] = {"host": "127.0.0.1", "port": smtp.port, "sender": "maestro@example.com",
                              "to": ["oncall@example.com", "lead@example.com"], "secure": "never",
                              "username": SMTP_USER, "password": SMTP_PASSWORD}
        sinks.update(overrides)
        return sinks

    def fail(self, service: str, status: int, times: int = 1, body: str = "", headers: dict | None = None) -> None:
        """Answer ``status`` (with ``body`` and ``headers``) to the next ``times`` requests to ``service``."""
        with self.lock:
            self._failures[service].extend(_Failure(status, body, dict(headers or {})) for _time in range(times))

    def refuse(self, service: str) -> None:
        """Close ``service``'s port: connections to it are refused until ``restore``."""
        server = self._servers.pop(service)
        server.shutdown()
        server.server_close()

    def restore(self, service: str) -> None:
        if service not in self._servers:
            self._start(service)

    def received(self, service: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.service == service]

    def stop(self) -> None:
        for name in list(self._servers):
            self.refuse(name)

    # ------------------------------------------------------------------------------------------------- serving

    def _start(self, service: str) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                received = Received(service, self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                with api.lock:
                    api.requests.append(received)
                    failure = api._failures[service].pop(0) if api._failures[service] else None
                    if failure:
                        status, body, headers = failure.status, failure.body, failure.headers
                    else:
                        status, body = api._route(received)
                        headers = {}
                received.status = status
                data = (json.dumps(body) if isinstance(body, (dict, list)) else str(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if isinstance(body, (dict, list)) else "text/html")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815 - http.server's names

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.ports[service]), Handler)
        self._servers[service] = server
        # a short poll: shutdown() waits up to one poll, and every test stops the servers
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def _route(self, request: Received) -> tuple[int, object]:
        if request.method != "POST":
            return 405, "method not allowed"
        return getattr(self, f"_{request.service}")(request)

    @staticmethod
    def _body(request: Received):
        try:
            return json.loads(request.raw)
        except ValueError:
            return None

    def _webhook(self, request: Received) -> tuple[int, object]:
        parts = urllib.parse.urlsplit(request.path)
        if parts.path != "/hooks/incident":
            return 404, {"error": "not found"}
        if dict(urllib.parse.parse_qsl(parts.query)).get("token") != WEBHOOK_TOKEN:
            return 401, {"error": "token missing or wrong"}
        if self.webhook_key and request.headers.get("x-api-key") != WEBHOOK_HEADER:
            return 403, {"error": "X-Api-Key missing or wrong"}
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return 415, {"error": "expected application/json"}
        if not isinstance(self._body(request), dict):
            return 400, {"error": "expected a JSON object"}
        return 200, {"ok": True}

    def _slack(self, request: Received) -> tuple[int, object]:
        if request.path != SLACK_PATH:
            return 404, "no_service"
        message = self._body(request)
        if not isinstance(message, dict):
            return 400, "invalid_payload"
        if not message.get("text") and not message.get("blocks"):
            return 400, "no_text"
        blocks = message.get("blocks", [])
        if not isinstance(blocks, list) or not all(isinstance(b, dict) and b.get("type") for b in blocks):
            return 400, "invalid_blocks"
        for block in blocks:
            if block["type"] == "header" and len(block.get("text", {}).get("text", "")) > 150:
                return 400, "invalid_blocks"
            if block["type"] == "section" and (not (block.get("text") or block.get("fields")) or len(block.get("fields", [])) > 10):
                return 400, "invalid_blocks"
        return 200, "ok"

    def _mattermost(self, request: Received) -> tuple[int, object]:
        if request.path != f"/hooks/{MATTERMOST_KEY}":
            return 400, {"id": "web.incoming_webhook.invalid.app_error", "message": "Invalid webhook.", "detailed_error": "",
                         "request_id": f"r{next(self._ids)}", "status_code": 400}
        message = self._body(request)
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachments")):
            return 400, {"id": "web.incoming_webhook.text.app_error", "message": "No text specified.", "detailed_error": "",
                         "request_id": f"r{next(self._ids)}", "status_code": 400}
        return 200, "ok"

    def _pagerduty(self, request: Received) -> tuple[int, object]:
        path = urllib.parse.urlsplit(request.path).path
        if path not in ("/v2/enqueue", "/v2/change/enqueue"):
            return 404, {"status": "not found"}
        event = self._body(request)
        if not isinstance(event, dict):
            return _invalid("Event object must be a JSON object")
        key = event.get("routing_key")
        if not key:
            return _invalid("'routing_key' is missing or blank")
        payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
        if path == "/v2/change/enqueue":
            if key != PAGERDUTY_CHANGE_KEY:
                return _invalid("'routing_key' is invalid")
            if not payload.get("summary"):
                return _invalid("'payload.summary' is missing or blank")
            self.changes.append(event)
            return 202, {"status": "success", "message": "Change event processed"}
        if key != PAGERDUTY_KEY:
            return _invalid("'routing_key' is invalid")
        action, dedup_key = event.get("event_action"), event.get("dedup_key") or f"generated-{next(self._ids)}"
        if action not in ("trigger", "acknowledge", "resolve"):
            return _invalid("'event_action' is missing or invalid")
        if action == "trigger":
            errors = [f"'payload.{name}' is missing or blank" for name in ("summary", "source") if not payload.get(name)]
            if payload.get("severity") not in _SEVERITIES:
                errors.append("'payload.severity' is missing or invalid")
            if errors:
                return _invalid(*errors)
            alert = self.alerts.get(dedup_key)
            if alert is None or alert["status"] == "resolved":
                self.alerts[dedup_key] = {"status": "triggered", "triggers": 1, "summary": payload["summary"]}
            else:
                alert["triggers"] += 1
        else:
            if not event.get("dedup_key"):
                return _invalid("'dedup_key' is missing or blank")
            if dedup_key in self.alerts:
                self.alerts[dedup_key]["status"] = "resolved" if action == "resolve" else "acknowledged"
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


class _Mailbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode()):
            self.logins.append(SMTP_USER)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1:``port``; AUTH without TLS, as only loopback reaches it."""

    def __init__(self, port: int):
        self.port = port
        self.mailbox = _Mailbox()
        self.controller: Controller | None = None
        self.restore()

    @property
    def messages(self) -> list:
        return self.mailbox.messages

    def restore(self) -> None:
        if self.controller is None:
            self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, authenticator=self.mailbox.authenticate,
                                         auth_require_tls=False)
            self.controller.start()

    def stop(self) -> None:
        """Stop serving: connections are refused (``restore`` serves again)."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    refuse = stop


@contextmanager
def stand_ins(base_port: int):
    """The hosted services on ``base_port`` + 0..3 and the SMTP server on ``base_port`` + 4, stopped afterwards."""
    api = NotifyApi(base_port)
    try:
        smtp = SmtpServer(base_port + 4)
    except BaseException:
        api.stop()
        raise
    try:
        yield api, smtp
    finally:
        api.stop()
        smtp.stop()


@pytest.fixture
def notify_stand_ins(request):
    """(NotifyApi, SmtpServer) on the test module's NOTIFY_BASE_PORT (each module its own range)."""
    with stand_ins(getattr(request.module, "NOTIFY_BASE_PORT", 19400)) as servers:
        yield servers
