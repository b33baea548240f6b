# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alertmanager's webhook as an ansible-rulebook event source: one event per alert, each alert once.

ansible-rulebook loads this file by path (``runpy``), so it stands alone: the standard library and aiohttp
(a dependency of ansible-rulebook) only. The pure part (``parse_payload``, ``check_token``, ``Deduplicator``,
``events_from``) needs neither ansible-rulebook nor aiohttp, so unit tests import it directly.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
short_description: Receive Alertmanager's webhook, one event per alert, deduplicated by fingerprint.
description:
  - An HTTP server (loopback by default) for Alertmanager's webhook receiver (payload version 4).
  - A request that is not a valid version 4 payload gets 400 (413 when larger than O(max_body_bytes), 401 without
    the bearer token when one is set) and puts nothing on the queue.
  - Each alert of a valid payload becomes one event. A firing alert is put on the queue once per O(dedup_window)
    seconds, by fingerprint, however often Alertmanager repeats it (repeat_interval, group updates) and however
    many members of an Alertmanager HA pair send it; a resolved alert clears its fingerprint (so the alert firing
    again is a new event) and is itself put on the queue once.
  - The state is this process's memory: ansible-rulebook restarted forgets it.
options:
  host:
    description: The address to listen on. Anything but a loopback address needs O(token).
    type: str
    default: 127.0.0.1
  port:
    description: The TCP port to listen on.
    type: int
    required: true
  path:
    description: The URL path Alertmanager posts to (the webhook_configs url's path).
    type: str
    default: /alerts
  token:
    description:
      - A bearer token every request must carry (C(Authorization: Bearer ...)), compared in constant time, never logged.
      - When empty, the token is read from the environment variable named by O(token_env); empty there too, none is
        required.
    type: str
    default: ""
  token_env:
    description: The environment variable that holds the token when O(token) is empty.
    type: str
    default: MAESTRO_EDA_TOKEN
  dedup_window:
    description: Seconds during which a firing alert (by fingerprint) is put on the queue only once.
    type: int
    default: 3600
  max_body_bytes:
    description: The largest request body accepted.
    type: int
    default: 1048576
"""

EXAMPLES = r"""
- name: Incidents from Alertmanager
  hosts: all
  sources:
    - maestro.conductor.alertmanager:
        host: 127.0.0.1
        port: 19500
        dedup_window: 3600
  rules:
    - name: Print every new alert
      condition: event.alert.status == "firing"
      action:
        print_event:
"""

RETURN = r"""
event:
  description: One per alert; ansible-rulebook adds its own C(meta).
  type: dict
  contains:
    alert:
      description:
        - The alert as the incident procedure records it. C(name) is the C(alertname) label (empty when absent),
          C(status) C(firing) or C(resolved), C(starts_at) Alertmanager's RFC 3339 time.
      type: dict
      sample: {"name": "MaestroVerificationFailed", "status": "firing", "fingerprint": "3f1c9a2b7d4e5f60",
               "starts_at": "2026-11-28T16:25:01.123Z", "labels": {"alertname": "MaestroVerificationFailed",
               "environment": "demo", "severity": "critical"}, "annotations": {"summary": "..."},
               "generator_url": "http://127.0.0.1:19090/graph?g0.expr=..."}
    reason:
      description: The alert's C(summary) annotation, else its C(description), else its name.
      type: str
    ends_at:
      description: Alertmanager's C(endsAt) (for a firing alert, when it would resolve unless sent again).
      type: str
    environment:
      description: The alert's C(environment) label when it is an environment name (letters, digits, '.', '_', '-'); empty otherwise.
      type: str
    incident_b64:
      description:
        - C(alert) and C(reason) as base64 of their JSON, for the incident playbook's C(incident_event_b64). ansible-rulebook
          writes extra vars to a file that ansible-playbook loads as trusted templates; base64 keeps alert text from being rendered.
      type: str
    alertmanager:
      description: The notification the alert came in (C(receiver), C(group_key), C(status), C(external_url),
        C(group_labels), C(truncated_alerts)).
      type: dict
"""

import asyncio
import base64
import hmac
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

try:
    from aiohttp import web
except ImportError:  # the pure part serves unit tests without aiohttp
    web = None

LOG = logging.getLogger("maestro.conductor.alertmanager")

PAYLOAD_VERSION = "4"
STATUSES = ("firing", "resolved")
# Alertmanager writes a fingerprint as 16 lowercase hex digits; other senders may use longer hashes
_FINGERPRINT_RE = re.compile(r"[0-9a-fA-F]{1,64}")
# RFC 3339 as Go writes it: up to nanoseconds, Z or an offset
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
# beyond this many remembered fingerprints the oldest are forgotten first: an alert storm cannot exhaust memory
MAX_REMEMBERED = 100_000


class PayloadError(ValueError):
    """A request that is not Alertmanager's webhook, with the HTTP status to answer it with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Alert:
    name: str
    status: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str
    generator_url: str

    @property
    def reason(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("description") or self.name

    def as_incident_alert(self) -> dict[str, Any]:
        """The alert in the shape the incident procedure records (``incident_alert``)."""
        return {"name": self.name, "status": self.status, "fingerprint": self.fingerprint, "starts_at": self.starts_at,
                "labels": dict(self.labels), "annotations": dict(self.annotations), "generator_url": self.generator_url}


@dataclass(frozen=True)
class Notification:
    receiver: str
    status: str
    group_key: str
    external_url: str
    group_labels: dict[str, str]
    truncated_alerts: int
    alerts: tuple[Alert, ...]


def _string(where: str, value: object, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{where} is {type(value).__name__}: expected a string")
    return value


def _string_map(where: str, value: object) -> dict[str, str]:
    """Labels and annotations: a JSON object of strings (absent or null is empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where} is {type(value).__name__}: expected an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise PayloadError(f"{where}.{key} is {type(item).__name__}: expected a string")
    return dict(value)


def _time(where: str, value: object) -> str:
    text = _string(where, value)
    if not _TIME_RE.fullmatch(text):
        raise PayloadError(f"{where} is {text[:40]!r}: expected an RFC 3339 time such as 2026-11-28T16:25:01.123Z")
    return text


def _status(where: str, value: object) -> str:
    if value not in STATUSES:
        raise PayloadError(f"{where} is {str(value)[:40]!r}: expected firing or resolved")
    return str(value)


def _alert(index: int, value: object) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(value, dict):
        raise PayloadError(f"{where} is {type(value).__name__}: expected an object")
    fingerprint = value.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise PayloadError(f"{where}.fingerprint is {str(fingerprint)[:80]!r}: expected 1-64 hex digits (Alertmanager's fingerprint)")
    labels = _string_map(f"{where}.labels", value.get("labels"))
    return Alert(name=labels.get("alertname", ""), status=_status(f"{where}.status", value.get("status")),
                 fingerprint=fingerprint.lower(), labels=labels,
                 annotations=_string_map(f"{where}.annotations", value.get("annotations")),
                 starts_at=_time(f"{where}.startsAt", value.get("startsAt")),
                 ends_at=_time(f"{where}.endsAt", value.get("endsAt")),
                 generator_url=_string(f"{where}.generatorURL", value.get("generatorURL"), required=False))


def parse_payload(body: bytes, max_bytes: int = 1 << 20) -> Notification:
    """Alertmanager's webhook payload (version 4), checked field by field; PayloadError names the first wrong one."""
    if len(body) > max_bytes:
        raise PayloadError(f"request body is {len(body)} bytes: expected at most {max_bytes}", status=413)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"request body is a JSON {type(data).__name__}: expected an object (Alertmanager's webhook payload)")
    if data.get("version") != PAYLOAD_VERSION:
        raise PayloadError(f"version is {str(data.get('version'))[:20]!r}: expected {PAYLOAD_VERSION!r} (Alertmanager's webhook payload)")
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError(f"alerts is {type(alerts).__name__}: expected a list")
    truncated = data.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise PayloadError(f"truncatedAlerts is {truncated!r}: expected a count")
    return Notification(receiver=_string("receiver", data.get("receiver"), required=False),
                        status=_status("status", data.get("status")),
                        group_key=_string("groupKey", data.get("groupKey"), required=False),
                        external_url=_string("externalURL", data.get("externalURL"), required=False),
                        group_labels=_string_map("groupLabels", data.get("groupLabels")),
                        truncated_alerts=truncated,
                        alerts=tuple(_alert(i, a) for i, a in enumerate(alerts)))


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; empty when there is none."""
    scheme, token = ((header or "").strip().split(None, 1) + ["", ""])[:2]
    return token.strip() if scheme.lower() == "bearer" else ""


def check_token(expected: str, header: str | None) -> bool:
    """True when no token is required or the header carries it; compared in constant time."""
    if not expected:
        return True
    return hmac.compare_digest(bearer_token(header).encode(), expected.encode())


@dataclass
class Deduplicator:
    """Which alerts go on the queue: a firing fingerprint once per window, a resolved one once, clearing it.

    Alertmanager repeats a firing alert every repeat_interval and with every change to its group, and both members
    of an HA pair send it; all carry the alert's fingerprint (a hash of its labels).
    """

    window: float
    clock: Callable[[], float] = time.monotonic
    limit: int = MAX_REMEMBERED
    # fingerprint -> (status, when it was last put on the queue); dicts keep insertion order: oldest first
    _seen: dict[str, tuple[str, float]] = field(default_factory=dict)

    def admit(self, alert: Alert) -> bool:
        now = self.clock()
        self._forget_before(now - self.window)
        last = self._seen.get(alert.fingerprint)
        if last is not None and last[0] == alert.status and now - last[1] < self.window:
            return False
        # re-inserted, so the order stays by time
        self._seen.pop(alert.fingerprint, None)
        self._seen[alert.fingerprint] = (alert.status, now)
        while len(self._seen) > self.limit:
            del self._seen[next(iter(self._seen))]
        return True

    def _forget_before(self, cutoff: float) -> None:
        while self._seen:
            oldest = next(iter(self._seen))
            if self._seen[oldest][1] > cutoff:
                break
            del self._seen[oldest]

    def __len__(self) -> int:
        return len(self._seen)


# the collection's environment name rule: only such a label may name the environment an incident runs for
_ENVIRONMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def event_for(alert: Alert, notification: Notification) -> dict[str, Any]:
    incident_alert = alert.as_incident_alert()
    environment = str(incident_alert.get("labels", {}).get("environment", ""))
    # what the playbook gets of the alert, as base64 of its JSON: ansible-rulebook hands extra vars to ansible-playbook in a
    # file it loads as trusted templates, and alert text ("{{ lookup('pipe', ...) }}" in a label) must stay data
    handed = base64.b64encode(json.dumps({"alert": incident_alert, "reason": alert.reason}, sort_keys=True).encode()).decode()
    return {"alert": incident_alert, "reason": alert.reason, "ends_at": alert.ends_at,
            "environment": environment if _ENVIRONMENT_RE.fullmatch(environment) else "", "incident_b64": handed,
            "alertmanager": {"receiver": notification.receiver, "group_key": notification.group_key,
                             "status": notification.status, "external_url": notification.external_url,
                             "group_labels": dict(notification.group_labels),
                             "truncated_alerts": notification.truncated_alerts}}


def events_from(notification: Notification, dedup: Deduplicator) -> tuple[list[dict[str, Any]], int]:
    """The events to put on the queue, and how many alerts were duplicates."""
    events = [event_for(alert, notification) for alert in notification.alerts if dedup.admit(alert)]
    return events, len(notification.alerts) - len(events)


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    path: str
    # never in a repr, a log line or an error
    token: str = field(repr=False)
    dedup_window: float = 3600
    max_body_bytes: int = 1 << 20


def _int(args: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int:
    value = args.get(name, default)
    if value is None:
        raise ValueError(f"alertmanager source: {name} is required")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"alertmanager source: {name} is {str(value)[:40]!r}: expected a whole number") from None
    if not low <= number <= high:
        raise ValueError(f"alertmanager source: {name} is {number}: expected {low}-{high}")
    return number


def settings_from(args: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    """The source's arguments as ansible-rulebook passes them (templated values may be strings), checked."""
    environ = os.environ if environ is None else environ
    host = str(args.get("host") or "127.0.0.1")
    path = str(args.get("path") or "/alerts")
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise ValueError(f"alertmanager source: path is {path[:80]!r}: expected an absolute URL path such as /alerts")
    token_env = str(args.get("token_env") or "MAESTRO_EDA_TOKEN")
    token = str(args.get("token") or environ.get(token_env) or "")
    if host not in _LOOPBACK and not token:
        raise ValueError(f"alertmanager source: host is {host!r}, not loopback: set a token (token or ${token_env})")
    return Settings(host=host, port=_int(args, "port", None, 1, 65535), path=path, token=token,
                    dedup_window=_int(args, "dedup_window", 3600, 0, 7 * 86400),
                    max_body_bytes=_int(args, "max_body_bytes", 1 << 20, 1024, 64 << 20))


def make_app(settings: Settings, queue: Any, dedup: Deduplicator) -> Any:
    """The aiohttp application: POST settings.path -> events on ``queue``."""

    async def receive(request: Any) -> Any:
        if not check_token(settings.token, request.headers.get("Authorization")):
            LOG.warning("alertmanager source: request from %s refused: no or a wrong bearer token", request.remote)
            return web.json_response({"error": "a bearer token is required"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="maestro.conductor"'})
        try:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise PayloadError(f"request body is larger than {settings.max_body_bytes} bytes: expected at most that", 413) from None
            notification = parse_payload(body, settings.max_body_bytes)
        except PayloadError as exc:
            LOG.warning("alertmanager source: request from %s refused (%d): %s", request.remote, exc.status, exc)
            return web.json_response({"error": str(exc)}, status=exc.status)
        events, duplicates = events_from(notification, dedup)
        for event in events:
            await queue.put(event)
        LOG.info("alertmanager source: %d alerts from %r: %d queued, %d duplicates",
                 len(notification.alerts), notification.receiver, len(events), duplicates)
        return web.json_response({"queued": len(events), "duplicates": duplicates})

    app = web.Application(client_max_size=settings.max_body_bytes)
    app.router.add_post(settings.path, receive)
    return app


async def main(queue: Any, args: dict[str, Any]) -> None:
    """ansible-rulebook's entry point: serve until cancelled."""
    if web is None:
        raise RuntimeError("alertmanager source: aiohttp is missing (it comes with ansible-rulebook)")
    settings = settings_from(args)
    runner = web.AppRunner(make_app(settings, queue, Deduplicator(window=settings.dedup_window)), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        LOG.info("alertmanager source: listening on %s:%d%s", settings.host, settings.port, settings.path)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    # by hand: print the events instead of queueing them (python alertmanager.py PORT)
    import sys

    class _PrintQueue:
        async def put(self, event: dict[str, Any]) -> None:
            print(json.dumps(event), flush=True)

    asyncio.run(main(_PrintQueue(), {"port": sys.argv[1] if len(sys.argv) > 1 else 19500}))
