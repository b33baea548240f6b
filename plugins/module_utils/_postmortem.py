# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The post-mortem skeleton of an incident: pre-filled from the environment's ledger, the human parts marked as such.

Plain data in, plain data out; the caller reads the ledger and writes the files. ``build`` makes the JSON document,
``render_markdown`` renders it from that document alone (a human edits the JSON's human parts, the Markdown is rendered
again), ``merge_human`` keeps those edits when the skeleton is rebuilt, and ``action_item_problems`` says why the action
items do not yet allow the freeze to be lifted. Everything that came from a record (tags, reasons, alert annotations,
sink errors) is escaped in the Markdown: it came from outside.
"""

from __future__ import annotations

import copy
import datetime
import re
from dataclasses import dataclass

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import iso, parse_time
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import validate_environment
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_incident_id
from ansible_collections.maestro.conductor.plugins.module_utils._urls import scrub

SCHEMA = "maestro.conductor/postmortem/v1"
SEVERITIES = ("critical", "error", "warning", "info")
HUMAN_PARTS = ("root_cause", "contributing_factors", "action_items")
_GOES_LIVE = ("deployed", "rollback")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")
_URL_RE = re.compile(r"(?P<origin>[A-Za-z][A-Za-z0-9+.-]*://[^/\s\"'<>`?#]+)[^\s\"'<>`]*")
# what people type when they mean "not decided yet"
_PLACEHOLDER_WORDS = {"todo", "tbd", "tbc", "fixme", "xxx", "na", "n/a", "none", "nobody", "someone", "unknown", "action", "owner",
                      "who", "what", "placeholder", "later"}
# inline Markdown that text from outside could start: emphasis, code, links, strikethrough, table cells; and HTML
_MD_ESCAPED = {ch: "\\" + ch for ch in "\\`*_[]|~"}
_MD_ESCAPED.update({"<": "&lt;", ">": "&gt;", "&": "&amp;", "!": "\\!",
                    # a zero-width space after @ keeps @all, @channel and @someone from notifying anyone in chat
                    "@": "@\u200b"})
_HUMAN_MARK = "to be written by a human"


@dataclass
class _Incident:
    id: str
    environment: str
    opened_at: datetime.datetime
    opened_by: str
    severity: str
    reason: dict
    source: dict
    from_: dict
    to: dict


def _text(value: object) -> str:
    """Text from a record, as text, without credentials a URL in it held."""
    if value is None:
        return ""
    return scrub(value if isinstance(value, str) else str(value))


def _time(value: object) -> datetime.datetime | None:
    """A record's time as an aware UTC datetime; None when it is none (a record from outside may say anything)."""
    if not isinstance(value, str) or not _TIME_RE.match(value):
        return None
    try:
        return parse_time(value)
    except ConductorError:
        return None


def _required_time(value: object, what: str) -> datetime.datetime:
    moment = _time(value)
    if moment is None:
        raise ConductorError(f"post-mortem: {what} {value!r} is invalid: expected UTC ISO 8601 such as 2026-11-28T16:25:01.123Z")
    return moment


def _release(value: object, what: str) -> dict:
    """{"tag", "commit"} or {} (no release)."""
    if value in (None, {}):
        return {}
    if not isinstance(value, dict) or not isinstance(value.get("tag", ""), str) or not isinstance(value.get("commit", ""), str):
        raise ConductorError(f"post-mortem: incident {what} must be a mapping of tag and commit (text) or empty, got {value!r}")
    return {"tag": value.get("tag", ""), "commit": value.get("commit", "")} if value.get("tag") else {}


def _incident(incident: object) -> _Incident:
    if not isinstance(incident, dict):
        raise ConductorError(f"post-mortem: the incident must be a mapping, got {type(incident).__name__}")
    environment = validate_environment(incident.get("environment"))
    ident = validate_incident_id(incident.get("id"))
    if not ident.startswith(environment + "-"):
        raise ConductorError(f"post-mortem: incident {ident} does not belong to environment {environment}")
    severity = incident.get("severity", "critical")
    if severity not in SEVERITIES:
        raise ConductorError(f"post-mortem: severity {severity!r} is invalid: expected one of {', '.join(SEVERITIES)}")
    reason, source = incident.get("reason") or {}, incident.get("source") or {}
    if not isinstance(reason, dict):
        raise ConductorError(f"post-mortem: incident reason must be a mapping of text, expected and seen, got {reason!r}")
    if not isinstance(source, dict) or source.get("kind") not in ("alert", "user"):
        raise ConductorError(f"post-mortem: incident source must be a mapping whose kind is alert or user, got {source!r}")
    if source["kind"] == "alert" and not isinstance(source.get("alert"), dict):
        raise ConductorError("post-mortem: an incident opened from an alert needs source.alert, a mapping")
    return _Incident(ident, environment, _required_time(incident.get("opened_at"), "opened_at"), _text(incident.get("opened_by")),
                     severity, {key: _text(reason.get(key)) for key in ("text", "expected", "seen")}, source,
                     _release(incident.get("from"), "from"), _release(incident.get("to"), "to"))


def _archive(archive: object) -> dict:
    """The evidence archive, checked: a digest and per-file hashes that are not what they claim would mislead an auditor."""
    if archive in (None, {}):
        return {}
    if not isinstance(archive, dict):
        raise ConductorError(f"post-mortem: archive must be a mapping of digest, location and files, got {type(archive).__name__}")
    digest, location, files = archive.get("digest"), archive.get("location"), archive.get("files") or []
    if not isinstance(digest, str) or not digest.startswith("sha256:") or not _SHA256_RE.fullmatch(digest[7:]):
        raise ConductorError(f"post-mortem: archive digest {digest!r} is invalid: expected sha256:<64 lowercase hex digits>")
    if not isinstance(location, str) or not location:
        raise ConductorError("post-mortem: archive location is required: the directory that holds the evidence")
    if not isinstance(files, list):
        raise ConductorError("post-mortem: archive files must be a list of {path, sha256, size}")
    kept = []
    for number, entry in enumerate(files, start=1):
        if (not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"]
                or not isinstance(entry.get("sha256"), str) or not _SHA256_RE.fullmatch(entry["sha256"])
                or isinstance(entry.get("size"), bool) or not isinstance(entry.get("size"), int) or entry["size"] < 0):
            raise ConductorError(f"post-mortem: archive file {number} ({entry!r}) is invalid: expected path (text), "
                                 "sha256 (64 lowercase hex digits) and size (bytes, >= 0)")
        kept.append({"path": entry["path"], "sha256": entry["sha256"], "size": entry["size"]})
    return {"digest": digest, "location": location, "files": kept}


def business_days_after(day: datetime.date, n: int) -> datetime.date:
    """The day ``n`` business days (Monday to Friday) after ``day``; public holidays are not known here."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConductorError(f"post-mortem: business days {n!r} is invalid: expected a whole number >= 0")
    while n:
        day += datetime.timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}h {minutes:02d}m {secs:02d}s" if hours or days else f"{minutes}m {secs:02d}s"
    return f"{days}d {text}" if days else text


def _short(release: dict) -> str:
    """v1.2.0 (commit 0123456789ab), or 'none'."""
    if not release.get("tag"):
        return "none"
    commit = release.get("commit") or ""
    return f"{release['tag']} (commit {commit[:12]})" if commit else release["tag"]


def _index(records: list[dict], test, start: int = 0, stop: int | None = None, last: bool = False) -> int | None:
    span = range(start, len(records) if stop is None else stop)
    for i in (reversed(span) if last else span):
        if test(records[i]):
            return i
    return None


# ---- the timeline: each record in words

def _sink_words(sink: object) -> str:
    if not isinstance(sink, dict):
        return f"{_text(sink)}: unreadable result"
    name, to = _text(sink.get("sink")) or "?", _text(sink.get("to"))
    who = to if to.startswith(name) else f"{name} ({to})" if to else name
    if sink.get("ok"):
        return f"{who}: delivered"
    # a webhook's address is its secret (Slack, Mattermost): an error keeps only the address's origin
    error = _URL_RE.sub(lambda found: found.group("origin") + "/...", _text(sink.get("error")))
    return f"{who}: FAILED" + (f" ({error})" if error else "")


def _notified_words(data: dict) -> str:
    sinks = data.get("sinks") if isinstance(data.get("sinks"), list) else []
    head = f"notified phase {_text(data.get('phase')) or '?'}, level {_text(data.get('level', 0))}"
    if not sinks:
        return f"{head}: no sink configured"
    words = "; ".join(_sink_words(sink) for sink in sinks)
    if not any(isinstance(sink, dict) and sink.get("ok") for sink in sinks):
        return f"{head}: EVERY SINK FAILED: {words}"
    return f"{head}: {words}"


def _record_words(record: dict, incident: str) -> str:
    event, actor, tag = record.get("event"), _text(record.get("actor")) or "?", _text(record.get("tag"))
    commit, verdict, detail = _text(record.get("commit"))[:12], _text(record.get("verdict")), _text(record.get("detail"))
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    at_commit = f" (commit {commit})" if commit else ""
    about = f" ({detail})" if detail else ""
    if event == "deployed":
        text = f"{tag}{at_commit} deployed" + (f" over {_text(record.get('from_tag'))}" if record.get("from_tag") else "")
        text += (f", verdict {verdict}" if verdict else "") + f", by {actor}"
    elif event == "rollback":
        took = (record.get("durations") or {}).get("time_to_green") if isinstance(record.get("durations"), dict) else None
        text = f"rolled back from {_text(record.get('from_tag')) or '?'} to {tag}{at_commit} by {actor}"
        text += f", verdict {verdict}" if verdict else ""
        text += f", the switch took {_duration(took)}" if isinstance(took, (int, float)) else ""
    elif event == "verdict":
        text = f"verdict {verdict} for {tag} by {actor}{about}"
    elif event == "quarantine":
        text = f"{tag} quarantined by {actor}{about}"
    elif event == "clear":
        text = f"quarantine of {tag} cleared by {actor}{about}"
    elif event == "drill":
        text = f"restore drill of {tag}: {verdict}, by {actor}{about}"
    elif event == "incident_opened":
        source = data.get("source") if isinstance(data.get("source"), dict) else {}
        alert = source.get("alert") if isinstance(source.get("alert"), dict) else {}
        by = f"alert {_text(alert.get('name'))} ({actor})" if source.get("kind") == "alert" else actor
        reason = data.get("reason") if isinstance(data.get("reason"), dict) else {}
        text = f"incident opened by {by}, severity {_text(data.get('severity')) or '?'}" + (f", on {tag}" if tag else "")
        text += f": {_text(reason.get('text')) or detail}"
    elif event == "incident_notified":
        text = _notified_words(data) + about
    elif event == "incident_escalated":
        told = data.get("to") if isinstance(data.get("to"), list) else []
        text = f"escalated to level {_text(data.get('level'))}: told {', '.join(_text(t) for t in told) or 'nobody'}{about}"
    elif event == "incident_acknowledged":
        text = f"acknowledged by {actor}{about}"
    elif event == "incident_closed":
        archive = data.get("archive") if isinstance(data.get("archive"), dict) else {}
        text = f"closed by {actor}" + (f"; evidence archive {_text(archive.get('digest'))}" if archive.get("digest") else "") + about
    elif event == "freeze":
        text = f"deploys frozen by {actor}{about}"
    elif event == "unfreeze":
        override = " with a recorded override" if data.get("override") else ""
        why = _text(data.get("reason")) or detail
        text = f"deploys unfrozen by {actor}{override}" + (f": {why}" if why else "")
    else:
        text = f"{_text(event)} by {actor}{about}"
    other = record.get("incident")
    if other and other != incident:
        text = f"incident {_text(other)}: {text}"
    return text


def _timeline(records: list[dict], incident: str, live_idx: int | None) -> list[dict]:
    entries = []
    for i, record in enumerate(records):
        entry = {"time": _text(record.get("time")), "event": _text(record.get("event")), "actor": _text(record.get("actor")),
                 "tag": _text(record.get("tag")), "text": _record_words(record, incident)}
        if record.get("incident"):
            entry["incident"] = _text(record["incident"])
        if i == live_idx:
            entry["text"] += ": the release of this incident goes live"
        entries.append(entry)
    return entries


# ---- the sections

def _detection(inc: _Incident) -> dict:
    opened = iso(inc.opened_at)
    if inc.source["kind"] == "user":
        user = _text(inc.source.get("user")) or inc.opened_by
        return {"kind": "user", "alert": {}, "user": user, "opened_at": opened, "opened_by": inc.opened_by, "seconds_from_alert": None,
                "text": f"Opened by hand by {user} at {opened}."}
    raw = inc.source["alert"]
    fired = _time(raw.get("starts_at"))

    def labels(key: str) -> dict:
        value = raw.get(key)
        return {_text(k): _text(v) for k, v in value.items()} if isinstance(value, dict) else {}

    alert = {"name": _text(raw.get("name")), "fingerprint": _text(raw.get("fingerprint")),
             "fired_at": iso(fired) if fired else _text(raw.get("starts_at")), "labels": labels("labels"),
             "annotations": labels("annotations"), "generator_url": _text(raw.get("generator_url"))}
    delay = (inc.opened_at - fired).total_seconds() if fired else None
    text = f"Alert {alert['name'] or '(unnamed)'} fired at {alert['fired_at'] or 'an unknown time'}; the incident opened at {opened}"
    text += (f", {_duration(delay)} later" if delay is not None and delay >= 0 else "") + f", opened by {inc.opened_by}."
    return {"kind": "alert", "alert": alert, "user": "", "opened_at": opened, "opened_by": inc.opened_by,
            "seconds_from_alert": round(delay, 3) if delay is not None else None, "text": text}


def _impact(inc: _Incident, records: list[dict], live_idx: int | None, off_idx: int | None, now: datetime.datetime,
            failed_requests: int | None) -> dict:
    failed = f"{failed_requests} failed requests" if failed_requests is not None else "unknown (no metrics)"
    impact = {"release": inc.from_, "live_from": "", "live_until": "", "until_now": off_idx is None, "seconds": None,
              "duration": "unknown", "failed_requests": failed_requests, "failed_requests_text": failed}
    if not inc.from_:
        impact["text"] = "No release was recorded live when the incident opened."
        return impact
    start = _time(records[live_idx].get("time")) if live_idx is not None else None
    end = _time(records[off_idx].get("time")) if off_idx is not None else now
    if start is None:
        impact["text"] = f"{_short(inc.from_)} was live; the ledger does not say since when. Failed requests: {failed}."
        return impact
    seconds = max((end - start).total_seconds(), 0.0) if end else None
    impact.update(live_from=iso(start), live_until=iso(end) if end else "", seconds=round(seconds, 3) if seconds is not None else None,
                  duration=_duration(seconds))
    until = f"until {impact['live_until']}" if off_idx is not None else f"and still was at {iso(now)}"
    impact["text"] = f"{_short(inc.from_)} served from {impact['live_from']} {until}: {impact['duration']}. Failed requests: {failed}."
    return impact


def _resolution(inc: _Incident, records: list[dict], opened_idx: int, rollback_idx: int | None, off_idx: int | None,
                closed_idx: int | None) -> dict:
    mine = [r for r in records if r.get("incident") == inc.id]
    failures = [r for r in mine if r.get("event") == "incident_notified"
                and isinstance(r.get("data"), dict) and r["data"].get("phase") == "rollback_failed"]
    acknowledged = next((r for r in mine if r.get("event") == "incident_acknowledged"), {})
    closed = records[closed_idx] if closed_idx is not None else {}
    # the incident's own rollback; failing that, traffic moved off the bad release by someone else after it opened
    moved = rollback_idx if rollback_idx is not None else (off_idx if off_idx is not None and off_idx > opened_idx else None)
    result = {"rolled_back": moved is not None, "by": "", "from": inc.from_, "to": inc.to, "rolled_back_at": "",
              "time_to_green_seconds": None, "time_to_green": "not rolled back", "switch_seconds": None,
              "rollback_failed": bool(failures), "failed_step": "", "why_not": "",
              "acknowledged_at": _text(acknowledged.get("time")), "acknowledged_by": _text(acknowledged.get("actor")),
              "closed_at": _text(closed.get("time")), "closed_by": _text(closed.get("actor"))}
    if failures:
        data = failures[-1]["data"]
        result["failed_step"] = _text(data.get("failed_step")) or _text(failures[-1].get("detail"))
    if moved is not None:
        record = records[moved]
        at = _time(record.get("time"))
        ttg = (at - inc.opened_at).total_seconds() if at else None
        durations = record.get("durations") if isinstance(record.get("durations"), dict) else {}
        switch = durations.get("time_to_green")
        result.update(by=_text(record.get("actor")), to={"tag": _text(record.get("tag")), "commit": _text(record.get("commit"))},
                      rolled_back_at=iso(at) if at else _text(record.get("time")),
                      time_to_green_seconds=round(ttg, 3) if ttg is not None else None, time_to_green=_duration(ttg),
                      switch_seconds=switch if isinstance(switch, (int, float)) and not isinstance(switch, bool) else None)
        text = f"Rolled back from {_short(inc.from_)} to {_short(result['to'])} at {result['rolled_back_at']} by {result['by']}"
        text += f": time to green {result['time_to_green']} after the incident opened"
        if moved != rollback_idx:
            text += " (not by the incident's own rollback" + (f", which failed: {result['failed_step']}" if failures else "") + ")"
        result["text"] = text + "."
    else:
        if failures:
            why = "the rollback failed" + (f": {result['failed_step']}" if result["failed_step"] else "")
        elif not inc.to:
            why = "there was no healthy release to roll back to" + (f" (from {_short(inc.from_)})" if inc.from_ else "")
        elif closed:
            why = "the incident was closed without a rollback"
        else:
            why = f"not yet: the rollback to {_short(inc.to)} is not recorded"
        result["why_not"] = why
        result["text"] = f"Not rolled back: {why}."
    if acknowledged:
        result["text"] += f" Acknowledged by {result['acknowledged_by']} at {result['acknowledged_at']}."
    if closed:
        result["text"] += f" Closed by {result['closed_by']} at {result['closed_at']}."
    return result


def _summary(inc: _Incident, status: str, detection: dict, impact: dict, resolution: dict) -> dict:
    reason = inc.reason
    said = reason["text"] or "no reason given"
    if reason["expected"] or reason["seen"]:
        said += f" (expected {reason['expected'] or '?'}, seen {reason['seen'] or '?'})"
    by = f"alert {detection['alert'].get('name') or '(unnamed)'}" if detection["kind"] == "alert" else detection["user"]
    text = f"A {inc.severity} incident in {inc.environment}, opened {iso(inc.opened_at)} by {by}: {said}."
    if inc.from_:
        text += f" {_short(inc.from_)} served for {impact['duration']}" + (" so far." if impact["until_now"] else ".")
    text += f" {resolution['text']}"
    return {"text": text, "status": status, "severity": inc.severity, "environment": inc.environment, "reason": inc.reason,
            "opened_at": iso(inc.opened_at), "opened_by": inc.opened_by}


def build(incident: dict, records: list[dict], archive: dict, now: str, failed_requests: int | None = None, due_days: int = 5) -> dict:
    """The post-mortem of ``incident`` as a JSON-serialisable dict, pre-filled from the environment's ledger ``records``
    (oldest first), with its human parts (root cause, contributing factors, action items) empty and marked ``human``."""
    inc = _incident(incident)
    moment = _required_time(now, "now")
    if failed_requests is not None and (isinstance(failed_requests, bool) or not isinstance(failed_requests, int) or failed_requests < 0):
        raise ConductorError(f"post-mortem: failed requests {failed_requests!r} is invalid: expected a count >= 0, or none (no metrics)")
    due = business_days_after(inc.opened_at.date(), due_days)
    if not isinstance(records, list):
        raise ConductorError("post-mortem: records must be the environment's ledger records, a list")
    records = [r for r in records if isinstance(r, dict) and r.get("environment") == inc.environment]

    opened_idx = _index(records, lambda r: r.get("event") == "incident_opened" and r.get("incident") == inc.id)
    if opened_idx is None:  # the record may not be read back yet: place the opening by its time
        later = _index(records, lambda r: (_time(r.get("time")) or moment) > inc.opened_at)
        opened_idx = len(records) if later is None else later
    tag = inc.from_.get("tag")
    live_idx = _index(records, lambda r: r.get("event") in _GOES_LIVE and r.get("tag") == tag, stop=opened_idx, last=True) if tag else None
    # the bad release stops serving at the first later deploy or rollback of another tag
    off_idx = (_index(records, lambda r: r.get("event") in _GOES_LIVE and r.get("tag") != tag, start=live_idx + 1)
               if live_idx is not None else None)
    closed_idx = _index(records, lambda r: r.get("event") == "incident_closed" and r.get("incident") == inc.id, start=opened_idx)
    rollback_idx = _index(records, lambda r: r.get("event") == "rollback" and r.get("actor") == f"incident/{inc.id}", start=opened_idx)

    first = live_idx if live_idx is not None else min(opened_idx, len(records))
    last = closed_idx + 1 if closed_idx is not None else len(records)
    status = "closed" if closed_idx is not None else "open"
    detection = _detection(inc)
    impact = _impact(inc, records, live_idx, off_idx, moment, failed_requests)
    resolution = _resolution(inc, records, opened_idx, rollback_idx, off_idx, closed_idx)
    return {
        "schema": SCHEMA,
        "incident": inc.id,
        "environment": inc.environment,
        "generated_at": iso(moment),
        "summary": _summary(inc, status, detection, impact, resolution),
        "impact": impact,
        "detection": detection,
        "timeline": _timeline(records[first:last], inc.id, live_idx - first if live_idx is not None else None),
        "resolution": resolution,
        "archive": _archive(archive),
        "root_cause": {"human": True, "text": ""},
        "contributing_factors": {"human": True, "items": []},
        "action_items": {"human": True, "items": [{"action": "", "owner": "", "due": due.isoformat()}]},
    }


# ---- the human parts

def _is_placeholder(value: object) -> bool:
    if not isinstance(value, str):
        return True
    text = value.strip()
    if re.fullmatch(r"<[^<>]*>|\[[^\[\]]*\]|\{[^{}]*\}", text):  # <owner>, [action], {due}
        return True
    word = text.strip(" .:!?-_*#").lower()
    # "TODO: later", "TBD team": a placeholder word first is still a placeholder
    first = re.split(r"[\s:.,;!?-]+", word, maxsplit=1)[0]
    return not any(ch.isalnum() for ch in word) or word in _PLACEHOLDER_WORDS or first in {"todo", "tbd", "tbc", "fixme", "xxx"}


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value.strip()):
        return False
    try:
        datetime.date.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def action_item_problems(pm: dict) -> list[str]:
    """Why the post-mortem's action items are not filled in ([] when they are): each message names the item and field."""
    if not isinstance(pm, dict):
        return ["the post-mortem is not a JSON object"]
    section = pm.get("action_items")
    items = section.get("items") if isinstance(section, dict) else None
    if not isinstance(items, list):
        return ["action_items.items is missing or not a list: expected a list of {action, owner, due}"]
    if not items:
        return ["there are no action items: at least one is needed, with an action, an owner and a due date (YYYY-MM-DD)"]
    problems = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.append(f"action item {number} is not a mapping of action, owner and due")
            continue
        for field in ("action", "owner"):
            value = item.get(field)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"action item {number}: {field} is empty")
            elif _is_placeholder(value):
                problems.append(f"action item {number}: {field} {value.strip()!r} is a placeholder, not a real {field}")
        if not _is_date(item.get("due")):
            problems.append(f"action item {number}: due {item.get('due')!r} is not a date: expected YYYY-MM-DD")
        elif _opened_day(pm) and datetime.date.fromisoformat(item["due"].strip()) < _opened_day(pm):
            problems.append(f"action item {number}: due {item['due'].strip()} is before the incident opened ({_opened_day(pm)})")
    return problems


def _opened_day(pm: dict) -> datetime.date | None:
    """The day the incident opened, from the post-mortem's own summary (None when it does not say)."""
    opened = (pm.get("summary") or {}).get("opened_at") if isinstance(pm.get("summary"), dict) else None
    moment = _time(opened)
    return moment.date() if moment else None


def _written(part: object) -> bool:
    """Whether a human wrote anything in a human part (an untouched placeholder is taken from the new skeleton)."""
    if not isinstance(part, dict):
        return part is not None
    if "text" in part and part["text"] not in ("", None):
        return True
    items = part.get("items")
    if not isinstance(items, list):
        return "items" in part
    for item in items:
        if not isinstance(item, dict) or any(item.get(key) not in ("", None) for key in ("action", "owner")) or set(item) - {
                "action", "owner", "due"}:
            return True
    return False


def merge_human(old: dict, new: dict) -> dict:
    """``new`` with the human parts of ``old`` (root cause, contributing factors, action items) where a human wrote them."""
    for which, document in (("old", old), ("new", new)):
        if not isinstance(document, dict) or document.get("schema") != SCHEMA:
            raise ConductorError(f"post-mortem: the {which} document is not a {SCHEMA} document")
    if old.get("incident") != new.get("incident"):
        raise ConductorError(f"post-mortem: the old document is of incident {old.get('incident')!r}, the new one of "
                             f"{new.get('incident')!r}: a human's edits are kept only for the same incident")
    merged = copy.deepcopy(new)
    for part in HUMAN_PARTS:
        if part in old and _written(old[part]):
            kept = copy.deepcopy(old[part])
            merged[part] = {**kept, "human": True} if isinstance(kept, dict) else kept
    return merged


# ---- Markdown

def inert_markdown(value: object) -> str:
    """Text from outside as one line of inert Markdown (the chat messages use it too)."""
    return _md(value)


def _md(value: object) -> str:
    """Text from outside as one line of inert Markdown: no table cell, link, HTML or emphasis can start from it."""
    text = "" if value is None else (value if isinstance(value, str) else str(value))
    text = "".join(" " if ch in "\r\n\t\v\f\x85\u2028\u2029" or ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    return "".join(_MD_ESCAPED.get(ch, ch) for ch in re.sub(r" {2,}", " ", text).strip())


def _human_block(value: object, indent: str = "") -> str:
    """What a human wrote, kept as Markdown (their words, their markup); ``indent`` keeps a list item's lines inside it."""
    text = "" if value is None else (value if isinstance(value, str) else str(value))
    return ("\n" + indent).join(text.strip().splitlines())


def _table(head: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def _when(value: object) -> str:
    moment = _time(value)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else str(value or "")


def _get(pm: dict, key: str) -> dict:
    value = pm.get(key)
    return value if isinstance(value, dict) else {}


def render_markdown(pm: dict) -> str:
    """The post-mortem as Markdown, from the document alone: render again after a human edited the JSON's human parts."""
    if not isinstance(pm, dict) or pm.get("schema") != SCHEMA:
        raise ConductorError(f"post-mortem: the document is not a {SCHEMA} document")
    summary, impact, detection = _get(pm, "summary"), _get(pm, "impact"), _get(pm, "detection")
    resolution, archive = _get(pm, "resolution"), _get(pm, "archive")
    out = [f"# Post-mortem: incident {_md(pm.get('incident'))}", "",
           "<!-- Generated by maestro.conductor from the ledger. Write the parts marked \"to be written by a human\" in the JSON "
           "document beside this file and render it again: the rest is rebuilt from the records. -->", ""]
    opened = f"{_when(summary.get('opened_at'))} by {summary.get('opened_by', '')}"
    facts = [["Environment", pm.get("environment")], ["Severity", summary.get("severity")], ["Status", summary.get("status")],
             ["Opened", opened], ["Generated", _when(pm.get("generated_at"))]]
    out += _table(["Incident", _md(pm.get("incident"))], facts)
    out += ["", "## Summary", "", _md(summary.get("text")), ""]

    out += ["## Impact", "", _md(impact.get("text")), ""]
    if impact.get("live_from"):
        release = impact.get("release") if isinstance(impact.get("release"), dict) else {}
        still = " (still live when this was generated)" if impact.get("until_now") else ""
        out += [f"- Release: {_md(_short(release))}", f"- Live from: {_md(_when(impact.get('live_from')))}",
                f"- Live until: {_md(_when(impact.get('live_until')))}" + still,
                f"- Time on the bad release: {_md(impact.get('duration'))}"]
    out += [f"- Failed requests: {_md(impact.get('failed_requests_text'))}", ""]

    out += ["## Detection", "", _md(detection.get("text")), ""]
    alert = detection.get("alert") if isinstance(detection.get("alert"), dict) else {}
    if alert:
        out += [f"- Alert: {_md(alert.get('name'))}", f"- Fired at: {_md(_when(alert.get('fired_at')))}",
                f"- Fingerprint: {_md(alert.get('fingerprint'))}"]
        if alert.get("generator_url"):
            out.append(f"- Source: {_md(alert.get('generator_url'))}")
        for key in ("labels", "annotations"):
            pairs = alert.get(key) if isinstance(alert.get(key), dict) else {}
            if pairs:
                out.append(f"- {key.capitalize()}:")
                out += [f"  - {_md(name)}: {_md(value)}" for name, value in sorted(pairs.items())]
        out.append("")

    timeline = pm.get("timeline") if isinstance(pm.get("timeline"), list) else []
    out += ["## Timeline (UTC)", ""]
    out += _table(["Time (UTC)", "Event", "What happened"],
                  [[_when(e.get("time")), e.get("event"), e.get("text")] for e in timeline if isinstance(e, dict)]) if timeline else [
        "The ledger records nothing for this incident yet."]
    out.append("")

    out += ["## Resolution", "", _md(resolution.get("text")), ""]
    for label, key in (("From", "from"), ("To", "to")):
        release = resolution.get(key) if isinstance(resolution.get(key), dict) else {}
        out.append(f"- {label}: {_md(_short(release))}")
    switch = resolution.get("switch_seconds")
    out.append(f"- Time to green: {_md(resolution.get('time_to_green'))}"
               + (f" (the switch itself: {_md(_duration(switch))})" if isinstance(switch, (int, float)) else ""))
    if resolution.get("why_not"):
        out.append(f"- Why not rolled back: {_md(resolution.get('why_not'))}")
    if resolution.get("failed_step"):
        out.append(f"- Failed step: {_md(resolution.get('failed_step'))}")
    out.append("")

    out += ["## Evidence archive", ""]
    if archive:
        out += [f"- Digest: {_md(archive.get('digest'))}", f"- Location: {_md(archive.get('location'))}", ""]
        files = archive.get("files") if isinstance(archive.get("files"), list) else []
        out += _table(["File", "Bytes", "SHA-256"], [[f.get("path"), f.get("size"), f.get("sha256")] for f in files if isinstance(f, dict)])
    else:
        out.append("No evidence archive is recorded.")
    out.append("")

    out += _human_parts(pm)
    return "\n".join(out).rstrip("\n") + "\n"


def _human_parts(pm: dict) -> list[str]:
    cause, factors, actions = _get(pm, "root_cause"), _get(pm, "contributing_factors"), _get(pm, "action_items")
    out = [f"## Root cause ({_HUMAN_MARK})", "", _human_block(cause.get("text")) or f"_Not written yet: {_HUMAN_MARK}._", ""]
    out += [f"## Contributing factors ({_HUMAN_MARK})", ""]
    items = factors.get("items") if isinstance(factors.get("items"), list) else []
    out += [f"- {_human_block(item, '  ')}" for item in items if str(item).strip()] or [f"_None written yet: {_HUMAN_MARK}._"]
    out += ["", f"## Action items ({_HUMAN_MARK})", ""]
    rows = [[str(n), i.get("action"), i.get("owner"), i.get("due")] if isinstance(i, dict) else [str(n), i, "", ""]
            for n, i in enumerate(actions.get("items") if isinstance(actions.get("items"), list) else [], start=1)]
    out += _table(["#", "Action", "Owner", "Due"], rows) if rows else ["_None written yet._"]
    problems = action_item_problems(pm)
    if problems:
        out += ["", "Before the freeze can be lifted:", ""] + [f"- {_md(problem)}" for problem in problems]
    return out + [""]
