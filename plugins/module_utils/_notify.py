# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incident notifications: one event (maestro.conductor/incident-event/v1) told to every configured sink.

A sink that fails never stops the incident: each one's outcome is reported (sink, ok, error, to) and, when every
configured sink failed, said so. The sinks, per environment, in ``maestro_incident_sinks``:

- webhook: the event itself, as JSON, to a URL (which may carry a token), with extra headers (their values secret).
- slack: a Slack incoming webhook (the URL is the secret): a text and blocks.
- mattermost: a Mattermost incoming webhook (url, api_key secret, channel, username), through community.general.mattermost.
- email: SMTP (host, port, sender, to, secure, username, password secret), through community.general.mail.
- pagerduty: PagerDuty Events API v2 (routing_key secret): trigger at opened, rollback_failed and escalated, resolve at
  resolved, all with the incident's dedup key, so PagerDuty folds them into one alert; other phases are not sent there.
- pagerduty_change: a PagerDuty change event (routing_key secret) when a rollback went live (a rollback is a deploy),
  through community.general.pagerduty_change.

Why this module sends webhook, Slack and PagerDuty alerts itself (checked in community.general 11.4.2 as installed):
its ``slack`` module builds the URL from ``https://hooks.%s/services/%s`` with the domain forced to slack.com or
slack-gov.com (``validate_slack_domain``), and ``pagerduty_alert`` posts to the fixed
``https://events.pagerduty.com/v2/enqueue``: neither can be pointed at a configured endpoint (a proxy, a regional or a
stand-in one). ``mattermost`` (``url`` + ``/hooks/<api_key>``), ``mail`` (``host``, ``port``) and ``pagerduty_change``
(``url``) take one, so the role runs those with the texts built here.

Requests: the standard library's (importing ``ansible.module_utils.urls`` costs a quarter of a second, in every task),
with the system's CA bundle and certificate and host name checks, https only (plain http only to this
machine's loopback, as tests do), no redirect followed (it would carry a token-bearing body or URL elsewhere), a timeout,
the sinks of one event in parallel (a slow sink delays no other). No secret is in a result, a payload handed to the role
or an error: errors are built from the sink, the origin and the status, and what a server said back is masked.
"""

from __future__ import annotations

import datetime
import json
import re
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
import ssl
import urllib.request
from urllib.error import HTTPError, URLError

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import validate_environment
from ansible_collections.maestro.conductor.plugins.module_utils._names import TAG_RE, validate_incident_id
from ansible_collections.maestro.conductor.plugins.module_utils._postmortem import inert_markdown
from ansible_collections.maestro.conductor.plugins.module_utils._urls import is_loopback, scrub

SCHEMA = "maestro.conductor/incident-event/v1"
PHASES = ("opened", "rollback_started", "rolled_back", "rollback_failed", "resolved", "escalated")
SEVERITIES = ("critical", "error", "warning", "info")
SINKS = ("webhook", "slack", "mattermost", "email", "pagerduty", "pagerduty_change")
DIRECT = ("webhook", "slack", "pagerduty")  # sent by maestro.conductor.incident_notify itself
HANDED = ("mattermost", "email", "pagerduty_change")  # sent by community.general in the incident_notify role
PAGERDUTY_TRIGGER = ("opened", "rollback_failed", "escalated")
PAGERDUTY_RESOLVE = ("resolved",)
CHANGE_PHASES = ("rolled_back",)
SECURE = ("never", "try", "always", "starttls")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
PAGERDUTY_CHANGE_URL = "https://events.pagerduty.com/v2/change/enqueue"
CONFIG = "maestro_incident_sinks"

_EVENT_KEYS = ("schema", "incident", "environment", "phase", "severity", "summary", "from", "to", "reason", "failed_step",
               "archive", "time", "dedup_key", "event_id", "level", "source")
_SINK_KEYS = {
    "webhook": ("url", "headers"),
    "slack": ("url",),
    "mattermost": ("url", "api_key", "channel", "username"),
    "email": ("host", "port", "sender", "to", "secure", "username", "password"),
    "pagerduty": ("routing_key", "url"),
    "pagerduty_change": ("routing_key", "url"),
}
_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_HOST_RE = re.compile(r"[A-Za-z0-9.:-]+")  # a name, IPv4, or IPv6 without its brackets
_SECRET_RE = re.compile(r"[\x21-\x7e]{1,1024}")  # one line of printable characters: a header can carry it
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
_ADDRESS_RE = re.compile(r"[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}")
_CHANNEL_RE = re.compile(r"[a-z0-9_.@-]{1,64}")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MAX_SUMMARY = 1024
_MAX_TEXT = 2048
_MAX_ANSWER = 65536
_MASK = "********"
_RETRY_STATUSES = (429, 500, 502, 503, 504)
_MAX_RETRY_WAIT = 2.0


# ---------------------------------------------------------------------------------------------------------------- event

def _text(value: object, what: str, limit: int = _MAX_TEXT, required: bool = False) -> str:
    if not isinstance(value, str) or _CONTROL_RE.search(value) or len(value) > limit or (required and not value.strip()):
        raise ConductorError(f"incident event {what} is invalid: expected {'a non-empty' if required else 'a'} text of at most "
                             f"{limit} characters without control characters (tabs and newlines aside)")
    return value


def _release(value: object, what: str) -> dict:
    """A release the event names: {} (none), or its tag and commit (the commit '' when unknown)."""
    if value == {}:
        return {}
    if not isinstance(value, dict) or set(value) != {"tag", "commit"}:
        raise ConductorError(f"incident event {what} is invalid: expected {{}} or {{tag, commit}}")
    tag, commit = value["tag"], value["commit"]
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        raise ConductorError(f"incident event {what}.tag {tag!r} is invalid: expected a release tag")
    if not isinstance(commit, str) or (commit and not _COMMIT_RE.fullmatch(commit)):
        raise ConductorError(f"incident event {what}.commit {commit!r} is invalid: expected a full commit id, or '' when unknown")
    return {"tag": tag, "commit": commit}


def _archive(value: object) -> dict:
    if value == {}:
        return {}
    if not isinstance(value, dict) or set(value) != {"digest", "location"}:
        raise ConductorError("incident event archive is invalid: expected {} or {digest, location}")
    if not isinstance(value["digest"], str) or not _DIGEST_RE.fullmatch(value["digest"]):
        raise ConductorError(f"incident event archive.digest {value['digest']!r} is invalid: expected sha256:<64 hex digits>")
    return {"digest": value["digest"], "location": _text(value["location"], "archive.location", 4096, required=True)}


def validate_event(event: object) -> dict:
    """``event`` if it is an incident event of the contract (every field, nothing else); else ConductorError naming the field."""
    if not isinstance(event, dict):
        raise ConductorError(f"incident event must be a mapping, got {type(event).__name__}")
    missing, unknown = [k for k in _EVENT_KEYS if k not in event], sorted(set(event) - set(_EVENT_KEYS))
    if missing or unknown:
        raise ConductorError(f"incident event is invalid: {'missing ' + ', '.join(missing) if missing else ''}"
                             f"{'; ' if missing and unknown else ''}{'unknown ' + ', '.join(unknown) if unknown else ''} "
                             f"(expected exactly {', '.join(_EVENT_KEYS)})")
    if event["schema"] != SCHEMA:
        raise ConductorError(f"incident event schema {event['schema']!r} is invalid: expected {SCHEMA}")
    environment = validate_environment(event["environment"])
    incident = validate_incident_id(event["incident"])
    if not incident.startswith(environment + "-"):
        raise ConductorError(f"incident event: incident {incident} is not of environment {environment}")
    if event["phase"] not in PHASES:
        raise ConductorError(f"incident event phase {event['phase']!r} is invalid: expected one of {', '.join(PHASES)}")
    if event["severity"] not in SEVERITIES:
        raise ConductorError(f"incident event severity {event['severity']!r} is invalid: expected one of {', '.join(SEVERITIES)}")
    reason = event["reason"]
    if not isinstance(reason, dict) or set(reason) != {"text", "expected", "seen"}:
        raise ConductorError("incident event reason is invalid: expected {text, expected, seen}")
    level = event["level"]
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
        raise ConductorError(f"incident event level {level!r} is invalid: expected the escalation level, 0 to 100")
    if not isinstance(event["time"], str) or not _TIME_RE.fullmatch(event["time"]):
        raise ConductorError(f"incident event time {event['time']!r} is invalid: expected UTC ISO 8601 with Z, "
                             "such as 2026-11-28T16:25:01.123Z")
    dedup_key = f"maestro/{environment}/{incident}"
    if event["dedup_key"] != dedup_key:
        raise ConductorError(f"incident event dedup_key {event['dedup_key']!r} is invalid: expected {dedup_key}")
    event_id = f"{incident}/{event['phase']}" + (f"/{level}" if event["phase"] == "escalated" else "")
    if event["event_id"] != event_id:
        raise ConductorError(f"incident event event_id {event['event_id']!r} is invalid: expected {event_id}")
    source = _text(event["source"], "source", 262)
    if not source.startswith(("alert:", "user:")):
        raise ConductorError(f"incident event source {source!r} is invalid: expected alert:<alertname> or user:<name>")
    return {
        "schema": SCHEMA, "incident": incident, "environment": environment, "phase": event["phase"], "severity": event["severity"],
        "summary": _text(event["summary"], "summary", _MAX_SUMMARY, required=True),
        "from": _release(event["from"], "from"), "to": _release(event["to"], "to"),
        "reason": {key: _text(reason[key], f"reason.{key}") for key in ("text", "expected", "seen")},
        "failed_step": _text(event["failed_step"], "failed_step", 256), "archive": _archive(event["archive"]),
        "time": event["time"], "dedup_key": dedup_key, "event_id": event_id, "level": level, "source": source,
    }


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_event(incident: str, environment: str, phase: str, severity: str, summary: str, *, reason: dict, source: str,
               from_release: dict | None = None, to_release: dict | None = None, failed_step: str = "",
               archive: dict | None = None, time_utc: str = "", level: int = 0) -> dict:
    """A validated incident event; the summary is cut to 1,024 characters, the time defaults to now."""
    if isinstance(summary, str) and len(summary) > _MAX_SUMMARY:
        summary = summary[:_MAX_SUMMARY - 1] + "…"
    return validate_event({
        "schema": SCHEMA, "incident": incident, "environment": environment, "phase": phase, "severity": severity,
        "summary": summary, "from": from_release or {}, "to": to_release or {}, "reason": reason, "failed_step": failed_step,
        "archive": archive or {}, "time": time_utc or utc_now(), "dedup_key": f"maestro/{environment}/{incident}",
        "event_id": f"{incident}/{phase}" + (f"/{level}" if phase == "escalated" else ""), "level": level, "source": source,
    })


# ---------------------------------------------------------------------------------------------------------------- sinks

def _url(value: object, what: str, secret: bool, query: bool = False) -> str:
    """An https URL (plain http only to loopback), with a plain host and no user info; a secret one is never quoted."""
    shown = "(not shown: it is a secret)" if secret else repr(value)
    parts = urllib.parse.urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not _HOST_RE.fullmatch(parts.hostname) \
            or _CONTROL_RE.search(value) or " " in value:
        raise ConductorError(f"{what} {shown} is invalid: expected an https:// URL")
    if parts.username is not None or parts.password is not None or parts.fragment or (parts.query and not query):
        raise ConductorError(f"{what} {shown} is invalid: it must not carry user info, a fragment"
                             f"{'' if query else ' or a query'}{': give a token in headers' if query else ''}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConductorError(f"{what}: plain http to {parts.hostname} is refused: a notification is sent over https only "
                             "(plain http only to this machine, 127.0.0.0/8, ::1 or localhost, as tests do)")
    return value


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _secret(value: object, what: str) -> str:
    if not isinstance(value, str) or not _SECRET_RE.fullmatch(value):
        raise ConductorError(f"{what} is invalid: expected one line of printable characters without spaces (not shown: a secret)")
    return value


def _plain(value: object, what: str, default: str, limit: int = 256) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or _CONTROL_RE.search(value) or "\n" in value or len(value) > limit:
        raise ConductorError(f"{what} {value!r} is invalid: expected one line of at most {limit} characters")
    return value


def validate_sinks(sinks: object) -> dict:
    """``maestro_incident_sinks`` checked and completed with defaults: {sink: settings} for each configured sink.

    A sink is configured when its key is present with a value other than null or {}."""
    if sinks in (None, ""):
        return {}
    if not isinstance(sinks, dict):
        raise ConductorError(f"{CONFIG} must be a mapping of sink name to settings, got {type(sinks).__name__}")
    unknown = sorted(str(name) for name in sinks if name not in SINKS)
    if unknown:
        raise ConductorError(f"{CONFIG} has unknown sinks {unknown}: expected any of {', '.join(SINKS)}")
    checked = {}
    for name in SINKS:
        settings = sinks.get(name)
        if settings in (None, {}):
            continue
        where = f"{CONFIG}.{name}"
        if not isinstance(settings, dict):
            raise ConductorError(f"{where} must be a mapping of settings ({', '.join(_SINK_KEYS[name])})")
        extra = sorted(str(key) for key in settings if key not in _SINK_KEYS[name])
        if extra:
            raise ConductorError(f"{where} has unknown keys {extra}: expected {', '.join(_SINK_KEYS[name])}")
        checked[name] = _CHECKS[name](settings, where)
    return checked


# where an AWX credential (awx/controller/credential_types.yml) puts the sinks' secrets: the job's environment
CREDENTIAL_ENV = {"webhook": ("MAESTRO_INCIDENT_WEBHOOK_URL", "url"), "slack": ("MAESTRO_SLACK_WEBHOOK_URL", "url"),
                  "pagerduty": ("MAESTRO_PAGERDUTY_ROUTING_KEY", "routing_key")}


def with_credentials(sinks: object, environment: dict) -> dict:
    """``maestro_incident_sinks`` with the secrets a credential gave the job (``environment``: CREDENTIAL_ENV's variables):
    each fills its sink's setting, adding the sink when it is not configured; the PagerDuty routing key fills a configured
    pagerduty_change too. What the inventory says otherwise (headers, a URL of its own) is kept."""
    sinks = {} if sinks in (None, "") else sinks
    if not isinstance(sinks, dict):
        return sinks  # validate_sinks names what it is instead
    merged = {name: dict(settings) if isinstance(settings, dict) else settings for name, settings in sinks.items()}
    for sink, (variable, key) in CREDENTIAL_ENV.items():
        value = str(environment.get(variable) or "")
        if not value:
            continue
        targets = [sink] + (["pagerduty_change"] if sink == "pagerduty" and isinstance(merged.get("pagerduty_change"), dict) else [])
        for target in targets:
            current = merged.get(target)
            merged[target] = {**(current if isinstance(current, dict) else {}), key: value}
    return merged


def _webhook(settings: dict, where: str) -> dict:
    headers = settings.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConductorError(f"{where}.headers must be a mapping of header name to value")
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME_RE.fullmatch(name):
            raise ConductorError(f"{where}.headers: header name {name!r} is invalid: expected letters, digits and '-'")
        if not isinstance(value, str) or not value or _CONTROL_RE.search(value) or "\n" in value or len(value) > 4096:
            raise ConductorError(f"{where}.headers.{name} is invalid: expected one line of text (not shown: a secret)")
    return {"url": _url(settings.get("url"), f"{where}.url", secret=True, query=True), "headers": dict(headers)}


def _slack(settings: dict, where: str) -> dict:
    return {"url": _url(settings.get("url"), f"{where}.url", secret=True)}


def _mattermost(settings: dict, where: str) -> dict:
    channel = _plain(settings.get("channel"), f"{where}.channel", "", 64)
    if channel and not _CHANNEL_RE.fullmatch(channel):
        raise ConductorError(f"{where}.channel {channel!r} is invalid: expected a channel name (lower-case letters, digits, "
                             "'_', '.', '-'), or @user")
    return {"url": _url(settings.get("url"), f"{where}.url", secret=False).rstrip("/"),
            "api_key": _secret(settings.get("api_key"), f"{where}.api_key"), "channel": channel,
            "username": _plain(settings.get("username"), f"{where}.username", "maestro", 64)}


def _email(settings: dict, where: str) -> dict:
    host = _plain(settings.get("host"), f"{where}.host", "localhost", 253)
    if not _HOST_RE.fullmatch(host):
        raise ConductorError(f"{where}.host {host!r} is invalid: expected a host name or address")
    port = settings.get("port", 25)
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConductorError(f"{where}.port {port!r} is invalid: expected a port number, 1 to 65535")
    recipients = settings.get("to")
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or not recipients or not all(isinstance(r, str) and _ADDRESS_RE.fullmatch(r) for r in recipients):
        raise ConductorError(f"{where}.to {recipients!r} is invalid: expected a list of mail addresses, such as [oncall@example.com]")
    sender = _plain(settings.get("sender"), f"{where}.sender", "maestro@localhost", 254)
    if not _ADDRESS_RE.fullmatch(sender):
        raise ConductorError(f"{where}.sender {sender!r} is invalid: expected a mail address")
    secure = settings.get("secure", "try")
    if secure not in SECURE:
        raise ConductorError(f"{where}.secure {secure!r} is invalid: expected one of {', '.join(SECURE)}")
    username = _plain(settings.get("username"), f"{where}.username", "", 256)
    password = settings.get("password") or ""
    if password:
        _secret(password, f"{where}.password")
    if bool(username) != bool(password):
        raise ConductorError(f"{where}: username and password go together (give both, or neither)")
    # mail's 'try' and 'never' may send the password in clear: only to this machine
    if password and secure in ("never", "try") and not is_loopback(host):
        raise ConductorError(f"{where}.secure {secure!r} would send the password unencrypted to {host}: use always or starttls")
    return {"host": host, "port": port, "sender": sender, "to": list(recipients), "secure": secure, "username": username,
            "password": password}


def _pagerduty(default_url: str):
    def check(settings: dict, where: str) -> dict:
        return {"routing_key": _secret(settings.get("routing_key"), f"{where}.routing_key"),
                "url": _url(settings.get("url") or default_url, f"{where}.url", secret=False)}
    return check


_CHECKS = {"webhook": _webhook, "slack": _slack, "mattermost": _mattermost, "email": _email,
           "pagerduty": _pagerduty(PAGERDUTY_URL), "pagerduty_change": _pagerduty(PAGERDUTY_CHANGE_URL)}


def sink_secrets(sinks: object) -> list[str]:
    """Every secret ``sinks`` holds, and the parts a server or an error could quote back (a URL's path and query values).

    Never raises: it is called on settings not yet checked, to mask them in any message about them."""
    found: list[str] = []
    if not isinstance(sinks, dict):
        return found
    for name, settings in sinks.items():
        if not isinstance(settings, dict):
            continue
        for key in ("api_key", "password", "routing_key"):
            if isinstance(settings.get(key), str):
                found.append(settings[key])
        headers = settings.get("headers")
        if isinstance(headers, dict):
            found.extend(value for value in headers.values() if isinstance(value, str))
        url = settings.get("url")
        if name in ("webhook", "slack") and isinstance(url, str):
            found.append(url)
            parts = urllib.parse.urlsplit(url)
            # a token-like path (Slack's /services/T.../B.../<secret>), not a word such as /incidents that results hold too
            found.extend(segment for segment in parts.path.split("/") if len(segment) >= 20)
            found.extend(value for _name, value in urllib.parse.parse_qsl(parts.query))
            if len(parts.path) >= 16:
                found.append(parts.path)
    return sorted({secret for secret in found if len(secret) >= 4}, key=len, reverse=True)


def mask(text: str, secrets: list[str]) -> str:
    """``text`` with every secret (longest first), and every credential a URL in it carries, masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, _MASK)
    return scrub(text)


# ---------------------------------------------------------------------------------------------------------------- texts

def _release_text(release: dict) -> str:
    if not release:
        return "none"
    return f"{release['tag']} ({release['commit'][:12]})" if release.get("commit") else release["tag"]


def subject(event: dict) -> str:
    """A mail subject: environment, incident, phase and severity."""
    phase = event["phase"].replace("_", " ") + (f" (level {event['level']})" if event["phase"] == "escalated" else "")
    return f"[maestro] {event['environment']}: incident {event['incident']} {phase} - {event['severity']}"


def _facts(event: dict) -> list[tuple[str, str]]:
    """What every text tells, in the same order."""
    reason = event["reason"]
    facts = [("Incident", event["incident"]), ("Environment", event["environment"]), ("Phase", event["phase"]),
             ("Severity", event["severity"]), ("From", _release_text(event["from"])), ("To", _release_text(event["to"])),
             ("Reason", reason["text"] or "-"), ("Expected", reason["expected"] or "-"), ("Seen", reason["seen"] or "-")]
    if event["failed_step"]:
        facts.append(("Failed step", event["failed_step"]))
    if event["archive"]:
        facts.append(("Archive", f"{event['archive']['location']} ({event['archive']['digest']})"))
    if event["phase"] == "escalated":
        facts.append(("Escalation level", str(event["level"])))
    facts += [("Source", event["source"]), ("Time (UTC)", event["time"]), ("Dedup key", event["dedup_key"])]
    return facts


def body(event: dict) -> str:
    """A plain-text body: the summary, then every field of the event."""
    facts = _facts(event)
    width = max(len(name) for name, _value in facts) + 1
    return event["summary"] + "\n\n" + "\n".join(f"{name + ':':<{width}} {value}" for name, value in facts) + "\n"


def markdown(event: dict) -> str:
    """The Mattermost text (Markdown): a bold summary and a table of the fields."""
    # what comes from outside (a reason, an alert's text) is inert: no mention, link, image, HTML or broken table row
    cells = "\n".join(f"| {name} | {inert_markdown(value)} |" for name, value in _facts(event))
    return f"**{inert_markdown(event['summary'])}**\n\n| | |\n|:--|:--|\n{cells}"


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn: &, < and > are control characters and must be escaped
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(event: dict) -> dict:
    """A Slack incoming-webhook message: ``text`` (the notification's fallback) and blocks (header, summary, fields)."""
    header = f"{event['severity'].upper()} {event['environment']}: incident {event['phase'].replace('_', ' ')}"
    fields = [{"type": "mrkdwn", "text": f"*{name}*\n{_slack_escape(value)[:1900]}"} for name, value in _facts(event)[:10]]
    rest = _facts(event)[10:]
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": header[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(event["summary"])[:3000]}},
        {"type": "section", "fields": fields},
    ]
    if rest:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{name}:* {_slack_escape(value)[:1900]}"}
                                                       for name, value in rest]})
    return {"text": _slack_escape(event["summary"])[:3000], "blocks": blocks}


def pagerduty_action(event: dict) -> str:
    """trigger, resolve, or '' when the phase is not told to PagerDuty."""
    if event["phase"] in PAGERDUTY_TRIGGER:
        return "trigger"
    return "resolve" if event["phase"] in PAGERDUTY_RESOLVE else ""


def pagerduty_payload(event: dict, routing_key: str) -> dict:
    """An Events API v2 event: a trigger with the incident's fields, or a resolve; the same dedup_key for both."""
    action = pagerduty_action(event)
    message = {"routing_key": routing_key, "event_action": action, "dedup_key": event["dedup_key"]}
    if action == "trigger":
        message["payload"] = {
            "summary": event["summary"][:_MAX_SUMMARY], "source": f"maestro/{event['environment']}", "severity": event["severity"],
            "timestamp": event["time"], "component": event["from"].get("tag", "") or "release", "group": event["environment"],
            "class": event["phase"], "custom_details": dict(_facts(event)),
        }
        message["client"] = "maestro.conductor"
    return message


def change_summary(event: dict) -> str:
    """A PagerDuty change event's summary: the rollback that went live."""
    return (f"{event['environment']}: rolled back {_release_text(event['from'])} to {_release_text(event['to'])} "
            f"(incident {event['incident']})")[:_MAX_SUMMARY]


# ---------------------------------------------------------------------------------------------------------------- plan

def label(name: str, settings: dict) -> str:
    """Who or what a sink tells, never a secret: the role's and the ledger's ``to``."""
    if name == "webhook":
        return f"webhook: {_origin(settings['url'])}"
    if name == "slack":
        return "slack"
    if name == "mattermost":
        return f"mattermost: {_origin(settings['url'])}" + (f" #{settings['channel']}" if settings["channel"] else "")
    if name == "email":
        return "mail: " + ", ".join(settings["to"])
    host = urllib.parse.urlsplit(settings["url"]).netloc
    return f"pagerduty: {host}" if name == "pagerduty" else f"pagerduty change: {host}"


def applies(name: str, event: dict) -> str:
    """Why sink ``name`` is not told this event's phase, or '' when it is."""
    if name == "pagerduty" and not pagerduty_action(event):
        return f"PagerDuty is told {', '.join(PAGERDUTY_TRIGGER + PAGERDUTY_RESOLVE)} only"
    if name == "pagerduty_change" and event["phase"] not in CHANGE_PHASES:
        return "a change event is sent when a rollback went live (rolled_back) only"
    return ""


@dataclass
class Plan:
    """For one event: the sinks told and their settings, those skipped and why, those named in ``only`` but not configured."""

    send: dict
    skipped: dict
    unconfigured: list

    def would_send(self) -> list[dict]:
        return [{"sink": name, "to": label(name, settings)} for name, settings in self.send.items()]


def plan(event: dict, sinks: dict, only: list | None = None) -> Plan:
    """Which configured sinks this event goes to: every one, or those in ``only`` (an escalation level's), that take its phase."""
    if only is not None:
        wrong = sorted(str(name) for name in only if name not in SINKS)
        if wrong:
            raise ConductorError(f"only names unknown sinks {wrong}: expected any of {', '.join(SINKS)}")
    wanted = [name for name in SINKS if only is None or name in only]
    send, skipped = {}, {}
    for name in wanted:
        if name not in sinks:
            continue
        why = applies(name, event)
        if why:
            skipped[name] = why
        else:
            send[name] = sinks[name]
    return Plan(send, skipped, [name for name in wanted if only is not None and name not in sinks])


def handed_payloads(event: dict, send: dict) -> dict:
    """What the role hands to community.general for mattermost, mail and pagerduty_change: every argument but the secret."""
    payloads = {}
    if "mattermost" in send:
        settings = send["mattermost"]
        payloads["mattermost"] = {"to": label("mattermost", settings), "url": settings["url"], "channel": settings["channel"],
                                  "username": settings["username"], "text": markdown(event)}
    if "email" in send:
        settings = send["email"]
        payloads["email"] = {"to": label("email", settings), "host": settings["host"], "port": settings["port"],
                             "secure": settings["secure"], "sender": settings["sender"], "recipients": settings["to"],
                             "username": settings["username"], "subject": subject(event), "body": body(event)}
    if "pagerduty_change" in send:
        settings = send["pagerduty_change"]
        payloads["pagerduty_change"] = {"to": label("pagerduty_change", settings), "url": settings["url"],
                                        "summary": change_summary(event), "source": f"maestro/{event['environment']}",
                                        "user": event["source"], "environment": event["environment"],
                                        "revision": event["to"].get("commit") or event["to"].get("tag", "")}
    return payloads


def direct_payloads(event: dict, send: dict) -> dict:
    """What this module sends (for check mode and -v): the request bodies, without the routing key."""
    payloads = {}
    if "webhook" in send:
        payloads["webhook"] = {"to": label("webhook", send["webhook"]), "body": event}
    if "slack" in send:
        payloads["slack"] = {"to": "slack", "body": slack_payload(event)}
    if "pagerduty" in send:
        message = pagerduty_payload(event, "")
        message.pop("routing_key")
        payloads["pagerduty"] = {"to": label("pagerduty", send["pagerduty"]), "body": message}
    return payloads


# ---------------------------------------------------------------------------------------------------------------- send

@dataclass
class SinkResult:
    sink: str
    ok: bool
    status: int  # the HTTP status of the last answer, 0 when none came
    error: str  # short and secret-free; '' when ok
    to: str
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Answer:
    status: int
    text: str
    retry_after: float | None = None
    unreachable: str = ""


_SLACK_ERRORS = {  # what Slack's incoming webhooks answer, as documented, and what each means for the on-call engineer
    "invalid_payload": "the message was refused as malformed",
    "no_text": "the message has no text",
    "invalid_blocks": "the message's blocks were refused",
    "user_not_found": "the user the webhook posts as is gone",
    "channel_not_found": "the webhook's channel is gone",
    "channel_is_archived": "the webhook's channel is archived",
    "action_prohibited": "an admin restricted posting to the channel",
    "posting_to_general_channel_denied": "only admins may post to that channel",
    "no_service": "the webhook is disabled, removed or its URL is wrong",
    "no_service_id": "the webhook URL is wrong",
    "no_team": "the webhook's workspace is gone or the URL is wrong",
    "team_disabled": "the workspace is disabled",
    "invalid_token": "the webhook URL's token is invalid",
    "rollup_error": "Slack failed to post (try again)",
}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # pylint: disable=too-many-arguments
        return None  # the 3xx answer is then raised as an HTTPError, and reported


def _opener(url: str, context: ssl.SSLContext) -> urllib.request.OpenerDirector:
    """No redirect followed, and no proxy on the way to loopback (it would see a plain-http token)."""
    handlers = [_NoRedirect(), urllib.request.HTTPSHandler(context=context)]
    if is_loopback(urllib.parse.urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def _post(url: str, payload: dict, headers: dict, timeout: float, context: ssl.SSLContext) -> _Answer:
    """POST ``payload`` as JSON to ``url``; the answer's status and text, or why there was none."""
    data = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "maestro.conductor", **headers})
    try:
        with _opener(url, context).open(request, timeout=timeout) as response:
            return _Answer(response.status, response.read(_MAX_ANSWER).decode("utf-8", "replace"))
    except HTTPError as exc:
        try:
            return _error_answer(url, exc)
        finally:
            exc.close()
    except (URLError, OSError, ValueError) as exc:
        return _Answer(0, "", unreachable=str(getattr(exc, "reason", exc)))


def _error_answer(url: str, exc: HTTPError) -> _Answer:
    if 300 <= exc.code < 400:
        location = exc.headers.get("Location") if exc.headers else ""
        where = _origin(urllib.parse.urljoin(url, location)) if location else "nowhere"
        return _Answer(exc.code, f"redirect to {where}, not followed (give the final URL)")
    try:
        text = exc.read(_MAX_ANSWER).decode("utf-8", "replace")
    except Exception:  # pylint: disable=broad-except
        text = ""  # without a readable body, the status alone is the error
    retry = exc.headers.get("Retry-After") if exc.headers else None
    return _Answer(exc.code, text, float(retry) if retry and retry.strip().isdigit() else None)


def _post_retrying(url: str, payload: dict, headers: dict, timeout: float, context: ssl.SSLContext) -> _Answer:
    """One retry for a rate limit or a server error, after a wait of at most two seconds (the incident does not wait longer)."""
    answer = _post(url, payload, headers, timeout, context)
    if answer.status in _RETRY_STATUSES and (answer.retry_after is None or answer.retry_after <= _MAX_RETRY_WAIT):
        time.sleep(0.5 if answer.retry_after is None else answer.retry_after)
        answer = _post(url, payload, headers, timeout, context)
    return answer


def _short(text: str, secrets: list[str], limit: int = 300) -> str:
    return mask(" ".join(text.split()), secrets)[:limit]


def _judge(name: str, url: str, answer: _Answer, secrets: list[str]) -> tuple[bool, str]:
    """Whether ``answer`` means the sink took the event, and if not why, said without a secret."""
    where = _origin(url) if name != "slack" else "Slack"
    if answer.unreachable:
        return False, _short(f"{where} could not be reached: {answer.unreachable}", secrets)
    if 300 <= answer.status < 400:
        return False, _short(f"{answer.status} {answer.text}", secrets)
    said = answer.text.strip()
    if name == "slack":
        if answer.status == 200:
            return True, ""
        hint = _SLACK_ERRORS.get(said, "unexpected answer")
        return False, _short(f"{answer.status} {said or '(no text)'}: {hint}", secrets)
    if name == "pagerduty":
        try:
            data = json.loads(said) if said else {}
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        if answer.status == 202 and data.get("status") == "success":
            return True, ""
        if answer.status == 429:
            return False, "429 rate limited: PagerDuty took no event (it asks to retry later)"
        errors = data.get("errors") if isinstance(data.get("errors"), list) else []
        detail = "; ".join(str(item) for item in errors) or str(data.get("message") or said or "no detail")
        return False, _short(f"{answer.status} {data.get('status') or 'error'}: {detail}", secrets)
    if 200 <= answer.status < 300:
        return True, ""
    return False, _short(f"{answer.status} from {where}: {said or '(no text)'}", secrets)


def _send_one(name: str, settings: dict, event: dict, timeout: float, secrets: list[str], context) -> SinkResult:
    started = time.monotonic()
    if name == "webhook":
        headers = {"X-Maestro-Event-Id": event["event_id"], **settings["headers"]}
        answer = _post_retrying(settings["url"], event, headers, timeout, context)
    elif name == "slack":
        answer = _post_retrying(settings["url"], slack_payload(event), {}, timeout, context)
    else:
        answer = _post_retrying(settings["url"], pagerduty_payload(event, settings["routing_key"]), {}, timeout, context)
    ok, error = _judge(name, settings["url"], answer, secrets)
    return SinkResult(name, ok, answer.status, error, label(name, settings), round(time.monotonic() - started, 3))


def send_direct(event: dict, send_to: dict, timeout: float = 10.0, secrets: list[str] | None = None) -> list[SinkResult]:
    """Send ``event`` to each of the direct sinks in ``send_to`` ({name: settings}), in parallel; one result a sink, in order.

    ``secrets`` (default, those of ``send_to``) are masked in every error: give every sink's, as a server may quote any."""
    names = [name for name in DIRECT if name in send_to]
    if not names:
        return []
    secrets = sink_secrets(send_to) if secrets is None else secrets
    try:
        context = ssl.create_default_context()  # one CA bundle load for every sink
    except (ssl.SSLError, OSError) as exc:
        reason = _short(f"no TLS context could be made: {exc}", secrets)
        return [SinkResult(name, False, 0, reason, label(name, send_to[name]), 0.0) for name in names]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = [pool.submit(_send_one, name, send_to[name], event, timeout, secrets, context) for name in names]
        return [future.result() for future in futures]


# ---------------------------------------------------------------------------------------------------------------- outcome

def unconfigured_results(plan_: Plan) -> list[SinkResult]:
    """A sink an escalation level names that is not configured: told nobody, so a failure to report."""
    return [SinkResult(name, False, 0, f"not configured in {CONFIG}", name, 0.0) for name in plan_.unconfigured]


def task_error(result: dict, secrets: list[str] | None = None) -> str:
    """Why a community.general task failed, short and secret-free (a module that crashed: its exception's last line)."""
    message = str(result.get("msg") or "failed")
    if message.startswith("MODULE FAILURE"):
        trace = str(result.get("exception") or result.get("module_stderr") or "")
        lines = [line.strip() for line in trace.splitlines() if line.strip()]
        message = lines[-1] if lines else message
    return _short(message, secrets or [])


def handed_results(payloads: dict, handed: dict, secrets: list[str] | None = None) -> list[dict]:
    """The outcomes of the community.general tasks for the sinks in ``payloads``, from their registered results by sink.

    A task that did not run (check mode, or skipped) is not an outcome."""
    results = []
    for name in HANDED:
        if name not in payloads:
            continue
        registered = handed.get(name) if isinstance(handed, dict) else None
        if not isinstance(registered, dict) or not registered or registered.get("skipped"):
            continue
        failed = bool(registered.get("failed"))
        results.append({"sink": name, "ok": not failed, "error": task_error(registered, secrets) if failed else "",
                        "to": str(payloads[name].get("to") or name)})
    return results


def outcomes(*groups) -> dict:
    """Per-sink results (each with sink, ok, error, to) merged into the ledger's ``sinks`` list, in the order given, and
    whether every sink told failed (``all_failed``; False when none was told)."""
    sinks = []
    for group in groups:
        for item in group:
            item = item.as_dict() if isinstance(item, SinkResult) else item
            sinks.append({"sink": str(item["sink"]), "ok": bool(item["ok"]), "error": str(item.get("error") or ""),
                          "to": str(item.get("to") or item["sink"])})
    return {"sinks": sinks, "all_failed": bool(sinks) and not any(sink["ok"] for sink in sinks), "configured": len(sinks)}
