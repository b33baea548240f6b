# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An incident, as the environment's ledger records it: opened (and the environment frozen), notified at each phase,
escalated, acknowledged, closed, unfrozen. Every decision of the procedure is made here, from the ledger's records:
whether a request opens an incident, joins the open one or is refused; whether the rollback may run; which escalation
level is due; whether the freeze may be lifted. The playbook carries the decisions out."""

from __future__ import annotations

import datetime
import json
import os
import secrets
from dataclasses import asdict, dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import iso, parse_time
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_incident_id, validate_tag_name

SEVERITIES = ("critical", "error", "warning", "info")
PHASES = ("opened", "rollback_started", "rolled_back", "rollback_failed", "resolved", "escalated")
SOURCES = ("user", "alert")
_MAX_REASON = 2048
_ALERT_KEYS = ("name", "fingerprint", "starts_at", "labels", "annotations", "generator_url", "status")


def new_id(environment: str, now: datetime.datetime) -> str:
    """ENVIRONMENT-YYYYMMDDTHHMMSSZ-xxxx: sortable by time within an environment, and safe in a path."""
    return validate_incident_id(f"{_ledger.validate_environment(environment)}-{now.astimezone(datetime.timezone.utc):%Y%m%dT%H%M%SZ}-"
                                f"{secrets.token_hex(2)}")


def _text(value: object, what: str, limit: int = _MAX_REASON) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConductorError(f"{what} must be text, got {type(value).__name__}")
    # control characters would reach chat messages, mail headers and Markdown: a newline is kept, the rest become spaces
    cleaned = "".join(ch if ch == "\n" or ch >= " " else " " for ch in value).strip()
    return cleaned[:limit]


@dataclass
class Request:
    """What opens an incident: who (a user, or an alert) and why."""

    environment: str
    reason: str
    actor: str
    severity: str = "critical"
    expected: str = ""
    seen: str = ""
    source: str = "user"
    alert: dict = field(default_factory=dict)
    # a second incident while one is open: only when asked (a human who means it); an alert always joins the open one
    allow_second: bool = False

    def __post_init__(self) -> None:
        _ledger.validate_environment(self.environment)
        if self.severity not in SEVERITIES:
            raise ConductorError(f"severity {self.severity!r} is invalid: expected one of {', '.join(SEVERITIES)}")
        if self.source not in SOURCES:
            raise ConductorError(f"source {self.source!r} is invalid: expected user or alert")
        self.reason = _text(self.reason, "reason")
        self.expected, self.seen = _text(self.expected, "expected"), _text(self.seen, "seen")
        if not isinstance(self.alert, dict):
            raise ConductorError(f"alert must be a mapping, got {type(self.alert).__name__}")
        self.alert = _alert(self.alert) if self.alert else {}
        if self.source == "alert" and not self.alert.get("name"):
            raise ConductorError("an incident opened from an alert needs the alert, with its name (incident_alert.name)")
        if not self.reason:
            self.reason = f"alert {self.alert['name']} fired" if self.alert else ""
        if not self.reason:
            raise ConductorError("reason is required: what is wrong, in a sentence (REASON=\"...\")")

    def source_record(self) -> dict:
        return {"kind": "alert", "alert": self.alert} if self.source == "alert" else {"kind": "user", "user": self.actor}


def _alert(alert: dict) -> dict:
    """The parts of an alert kept in the ledger, as text, bounded."""
    kept = {}
    for key in _ALERT_KEYS:
        value = alert.get(key)
        if isinstance(value, dict):
            kept[key] = {str(k)[:128]: _text(str(v), f"alert {key}", 1024) for k, v in list(value.items())[:64]}
        elif value is not None:
            kept[key] = _text(str(value), f"alert {key}", 1024)
    return kept


@dataclass
class Target:
    """Where the rollback would go, as the procedure found it before opening: a tag and its commit, or why there is none."""

    tag: str = ""
    commit: str = ""
    problem: str = ""


@dataclass
class OpenPlan:
    action: str                     # open | join | refuse
    message: str
    incident: str = ""              # the new one, or the open one joined
    rollback: bool = False          # whether the rollback runs
    why_no_rollback: str = ""
    records: list[dict] = field(default_factory=list)   # what to append (incident_opened, freeze)

    def as_dict(self) -> dict:
        return asdict(self)


def incident_records(records: list[dict], incident: str) -> list[dict]:
    """The incident's own records, and those of the rollback it ran (its actor names the incident)."""
    return [r for r in records if r.get("incident") == incident or r.get("actor") == f"incident/{incident}"]


def opened_record(records: list[dict], incident: str) -> dict:
    """The record that opened ``incident``; ConductorError naming it when the ledger has none."""
    validate_incident_id(incident)
    for record in records:
        if record.get("event") == "incident_opened" and record.get("incident") == incident:
            return record
    raise ConductorError(f"incident {incident} is not in this environment's ledger: see make status or the ledger for its id")


def _human_freeze(records: list[dict], current: _ledger.LedgerState) -> str:
    """An incident a human opened that still freezes the environment ('' when none)."""
    for incident in current.frozen:
        try:
            if opened_record(records, incident).get("data", {}).get("source", {}).get("kind") == "user":
                return incident
        except ConductorError:
            return incident  # a freeze with no opening record: someone froze it; not for an alert to override
    return ""


def plan_open(records: list[dict], request: Request, target: Target, now: datetime.datetime, live_commit: str = "",
              incident_id: str = "") -> OpenPlan:
    """Whether this request opens an incident, joins the open one, or is refused, and whether its rollback runs."""
    current = _ledger.state(records, request.environment)
    if current.open_incidents and (request.source == "alert" or not request.allow_second):
        open_one = current.open_incidents[-1]
        if request.source == "alert":
            return OpenPlan("join", f"incident {open_one} is open for {request.environment}: this alert joins it (no second "
                                    "incident, no second automatic rollback)", incident=open_one)
        opened = opened_record(records, open_one)
        return OpenPlan("refuse", f"incident {open_one} is open for {request.environment} (opened {opened['time']} by "
                                  f"{opened['actor']}: {opened.get('detail', '')}); roll back further with make rollback, close "
                                  f"it with make incident-close INCIDENT={open_one}, or open another with NEW=true",
                        incident=open_one)
    if request.source == "alert":
        human = _human_freeze(records, current)
        if human:
            return OpenPlan("join", f"{request.environment} is frozen by incident {human}, which a human opened: an alert "
                                    "starts no automatic rollback while it is", incident=human)
    incident = incident_id or new_id(request.environment, now)
    why = ""
    if target.problem or not target.tag:
        why = f"no release to roll back to: {target.problem or 'none found'}"
    elif target.tag == current.live:
        why = f"the rollback target {target.tag} is what is live already"
    elif target.commit and live_commit and target.commit == live_commit:
        why = f"the rollback target {target.tag} is the live release's commit {live_commit[:12]}"
    data = {"severity": request.severity,
            "reason": {"text": request.reason, "expected": request.expected, "seen": request.seen},
            "source": request.source_record(),
            "from": {"tag": current.live, "commit": current.live_commit} if current.live else {},
            "to": {"tag": target.tag, "commit": target.commit} if target.tag and not why else {}}
    opened = _ledger.make_incident_record(request.environment, "incident_opened", incident, request.actor, tag=current.live,
                                          detail=request.reason, data=data, record_id=f"{incident}/opened")
    freeze = _ledger.make_incident_record(request.environment, "freeze", incident, request.actor, tag=current.live,
                                          detail=request.reason)
    message = f"incident {incident} opened for {request.environment}; deploys are frozen"
    message += f"; rolling back {current.live or 'nothing live'} to {target.tag}" if not why else f"; no rollback: {why}"
    return OpenPlan("open", message, incident=incident, rollback=not why, why_no_rollback=why, records=[opened, freeze])


def rolled_back_by(records: list[dict], incident: str) -> dict:
    """The rollback record this incident's rollback wrote ({} when none)."""
    for record in reversed(records):
        if record.get("event") == "rollback" and record.get("actor") == f"incident/{incident}":
            return record
    return {}


@dataclass
class Level:
    """One step of an environment's escalation path: who is told, and after how long without an acknowledgement."""

    index: int
    after_minutes: float
    sinks: list[str]
    contacts: list[str]

    def names(self) -> list[str]:
        return self.contacts or self.sinks


def escalation_levels(path: object) -> list[Level]:
    """The escalation path, first to last, checked: level 0 is told at every phase; each next one after its minutes."""
    if path in (None, ""):
        return []
    if not isinstance(path, list):
        raise ConductorError("maestro_incident_escalation must be a list of levels, first to last")
    levels, previous = [], -1.0
    for index, entry in enumerate(path):
        if not isinstance(entry, dict):
            raise ConductorError(f"escalation level {index} must be a mapping with sinks (and after_minutes, contacts)")
        unknown = sorted(set(entry) - {"sinks", "after_minutes", "contacts", "name"})
        if unknown:
            raise ConductorError(f"escalation level {index} has unknown keys {unknown}: expected sinks, after_minutes, contacts, name")
        sinks, contacts = entry.get("sinks") or [], entry.get("contacts") or []
        if not isinstance(sinks, list) or not sinks or not all(isinstance(s, str) and s for s in sinks):
            raise ConductorError(f"escalation level {index}: sinks must be a non-empty list of sink names")
        if not isinstance(contacts, list) or not all(isinstance(c, str) for c in contacts):
            raise ConductorError(f"escalation level {index}: contacts must be a list of names")
        after = entry.get("after_minutes", 0 if index == 0 else None)
        if isinstance(after, bool) or not isinstance(after, (int, float)) or after < 0:
            raise ConductorError(f"escalation level {index}: after_minutes must be a number of minutes >= 0")
        if index and after <= previous:
            raise ConductorError(f"escalation level {index}: after_minutes {after} must be later than level {index - 1}'s {previous}")
        previous = float(after)
        levels.append(Level(index, float(after), list(sinks), [c[:256] for c in contacts]))
    return levels


def escalations_due(records: list[dict], environment: str, levels: list[Level], now: datetime.datetime) -> list[dict]:
    """For every open incident not acknowledged: the levels past their time and not told yet, lowest first."""
    current = _ledger.state(records, environment)
    due = []
    for incident in current.open_incidents:
        mine = incident_records(records, incident)
        if any(r["event"] in ("incident_acknowledged", "incident_closed") for r in mine):
            continue
        # a level is told once a sink of it took the escalation: one that reached nobody stays due, and is tried again
        told = {r.get("data", {}).get("level") for r in mine if r["event"] == "incident_escalated"
                and any(sink.get("ok") for sink in r.get("data", {}).get("sinks") or [])}
        opened = parse_time(opened_record(records, incident)["time"])
        minutes = (now - opened).total_seconds() / 60
        for level in levels[1:]:
            if level.index not in told and minutes >= level.after_minutes:
                due.append({"incident": incident, "level": level.index, "sinks": level.sinks, "to": level.names(),
                            "minutes_open": round(minutes, 1)})
    return due


def event(records: list[dict], incident: str, phase: str, now: datetime.datetime, failed_step: str = "",
          archive: dict | None = None, level: int = 0, summary: str = "") -> dict:
    """The notification of one phase, from the ledger: the same fields and dedup key for every sink."""
    if phase not in PHASES:
        raise ConductorError(f"phase {phase!r} is invalid: expected one of {', '.join(PHASES)}")
    opened = opened_record(records, incident)
    data = opened.get("data") or {}
    source = data.get("source") or {}
    rollback = rolled_back_by(records, incident)
    to = data.get("to") or {}
    if rollback:
        to = {"tag": rollback["tag"], "commit": rollback.get("commit", "")}
    reason = data.get("reason") or {"text": opened.get("detail", ""), "expected": "", "seen": ""}
    if not archive:
        # a later phase (the close) names the archive an earlier notification recorded
        archive = next((r["data"]["archive"] for r in reversed(incident_records(records, incident))
                        if isinstance(r.get("data"), dict) and r["data"].get("archive")), {})
    # one line of at most 256 characters, as every sink's event has it (the ledger keeps the longer text)
    failed_step = " ".join(_text(failed_step, "failed step", 4096).split())[:256]
    if not summary:
        summary = _summary(opened, phase, to, failed_step, level)
    return {"schema": "maestro.conductor/incident-event/v1", "incident": incident, "environment": opened["environment"],
            "phase": phase, "severity": data.get("severity", "critical") if phase != "resolved" else "info",
            "summary": summary[:1024], "from": data.get("from") or {}, "to": to, "reason": reason, "failed_step": failed_step,
            "archive": archive or {}, "time": iso(now), "dedup_key": f"maestro/{opened['environment']}/{incident}",
            "event_id": f"{incident}/{phase}" + (f"/{level}" if phase == "escalated" else ""), "level": level,
            "source": f"alert:{source.get('alert', {}).get('name', '')}" if source.get("kind") == "alert" else f"user:{opened['actor']}"}


def _summary(opened: dict, phase: str, to: dict, failed_step: str, level: int) -> str:
    env, live = opened["environment"], (opened.get("data") or {}).get("from", {}).get("tag") or "nothing live"
    reason = opened.get("detail", "")
    return {
        "opened": f"[{env}] incident opened on {live}: {reason}",
        "rollback_started": f"[{env}] rolling back {live} to {to.get('tag') or '?'}",
        "rolled_back": f"[{env}] rolled back {live} to {to.get('tag') or '?'}: traffic confirmed on it",
        "rollback_failed": f"[{env}] rollback of {live} FAILED" + (f" at {failed_step}" if failed_step else "") + f": {reason}",
        "resolved": f"[{env}] incident resolved ({live} -> {to.get('tag') or 'no rollback'})",
        "escalated": f"[{env}] incident not acknowledged: escalated to level {level}: {reason}",
    }[phase]


def unfreeze_problems(records: list[dict], incident: str, postmortem: dict | None, override: bool, override_reason: str,
                      item_problems) -> list[str]:
    """Why the freeze may not be lifted ([] when it may): the post-mortem must exist with its action items filled in,
    unless an override with its reason is recorded. ``item_problems`` judges a post-mortem's action items."""
    if override:
        return [] if _text(override_reason, "override reason") else ["an override needs its reason (OVERRIDE_REASON=...): it is recorded"]
    opened_record(records, incident)  # a freeze with no incident behind it is lifted only by an override
    if postmortem is None:
        return [f"the post-mortem of {incident} does not exist yet: it is written when the incident runs"]
    return list(item_problems(postmortem))


def failed_step(output: str) -> str:
    """The first failed task of a run printed by ansible.posix's json callback, with its message ('' when none is found)."""
    try:
        start = output.index("{")
        data = json.loads(output[start:])
    except ValueError:
        return ""
    for play in data.get("plays") or []:
        for task in play.get("tasks") or []:
            for host, result in (task.get("hosts") or {}).items():
                if isinstance(result, dict) and (result.get("failed") or result.get("unreachable")):
                    name = (task.get("task") or {}).get("name") or "a task"
                    return f"{name} ({host}): {str(result.get('msg', ''))[:500]}"
    return ""


def paths(incident_dir: str, incident: str) -> dict:
    base = os.path.join(incident_dir, validate_incident_id(incident))
    return {"dir": base, "archive": os.path.join(base, "evidence"), "postmortem_json": os.path.join(base, "postmortem.json"),
            "postmortem_md": os.path.join(base, "postmortem.md")}


def target_from(tags_result: dict | None, requested: str = "") -> Target:
    """The rollback target from release_tags' prior-healthy answer (or the tag asked for)."""
    if requested:
        return Target(tag=validate_tag_name(requested))
    if not tags_result:
        return Target(problem="no prior healthy tag was looked up")
    if tags_result.get("failed"):
        return Target(problem=str(tags_result.get("msg") or "the prior healthy tag could not be found"))
    tag = tags_result.get("tag") or {}
    return Target(tag=tag.get("name", ""), commit=tag.get("commit", ""), problem="" if tag.get("name") else "none found")


def rollback_argv(ansible_playbook: str, inventories: list, playbook: str, tag: str, incident: str, check: bool = False,
                  job: dict | None = None) -> list[str]:
    """The rollback's own ansible-playbook run: the incident's inventories, the target tag, the incident as its actor, and
    the AWX job the incident runs in (so that the rollback's records name it too)."""
    validate_incident_id(incident)
    argv = [ansible_playbook]
    for source in inventories or []:
        argv += ["-i", str(source)]
    extra = {"tag": validate_tag_name(tag), "release_switch_actor": f"incident/{incident}", **_ledger.job_variables(job)}
    argv += [playbook, "-e", json.dumps(extra)]
    return argv + (["--check", "--diff"] if check else [])


def rollback_verdict(rollback: dict, served: list[dict], records: list[dict], incident: str) -> dict:
    """How the rollback ended: rolled_back only when its run succeeded, the ledger holds its green rollback record, and
    every proxy now serves that record's commit from a configuration that says so; rollback_failed otherwise, naming
    the step. The proof on the hosts (image ids, files) is the switch's; this is the second look, from outside it."""
    record = rolled_back_by(records, incident)
    to = {"tag": record.get("tag", ""), "commit": record.get("commit", "")} if record else {}

    def failed(step: str) -> dict:
        return {"ok": False, "phase": "rollback_failed", "failed_step": step[:1000], "to": to}

    if rollback.get("rc") != 0:
        step = failed_step(rollback.get("stdout") or "") or (
            f"the rollback's run ended with rc {rollback.get('rc')}: {str(rollback.get('stderr') or rollback.get('msg') or '')[-500:]}")
        return failed(step)
    if not record or record.get("verdict") != "green":
        return failed("the rollback's run ended without its green rollback record in the ledger")
    for proxy in served:
        name = proxy.get("item", "?")
        observation = proxy.get("observation") or {}
        if proxy.get("failed"):
            return failed(f"reading proxy {name} after the rollback: {proxy.get('msg', 'failed')}")
        if observation.get("serving_commit") != record.get("commit"):
            return failed(f"proxy {name} serves commit {observation.get('serving_commit') or 'unknown'}, the rollback proved "
                          f"{record.get('commit')} ({record.get('tag')})")
        if observation.get("config_loaded") is False:
            return failed(f"proxy {name}: its configuration on disk is not the one it loaded, so what serves now may change "
                          "at its next reload")
        if observation.get("config_problem") or observation.get("config_exact") is False:
            return failed(f"proxy {name}: {observation.get('config_problem') or 'its configuration lists servers of more than the live colour'}")
    return {"ok": True, "phase": "rolled_back", "failed_step": "", "to": to}


def summary_lines(incident: str, plan: dict, outcome: dict, notifications: list[dict], archive: dict, postmortem: dict) -> list[str]:
    """The incident's summary, as an on-call engineer reads it: a notification that reached nobody first."""
    lines = []
    configured = [n for n in notifications if n.get("configured")]
    if not configured:
        lines.append("NOBODY WAS NOTIFIED: no notification sink is configured (maestro_incident_sinks)")
    elif all(n.get("all_failed") for n in configured):
        errors = sorted({f"{s.get('sink')}: {s.get('error')}" for n in configured for s in n.get("sinks") or []})
        lines.append("NOBODY WAS NOTIFIED: every sink failed at every phase: " + "; ".join(errors))
    else:
        failed = sorted({f"{n.get('phase')}: {s.get('sink')}" for n in configured for s in n.get("sinks") or [] if not s.get("ok")})
        if failed:
            lines.append("some notifications failed: " + ", ".join(failed))
    lines.append(f"incident {incident}: {plan.get('message', '')}")
    if plan.get("rollback"):
        if outcome.get("ok"):
            lines.append(f"rolled back to {outcome.get('to', {}).get('tag')}: every proxy serves its commit "
                         f"{str(outcome.get('to', {}).get('commit', ''))[:12]}, proven on the app hosts by the switch")
        else:
            lines.append(f"ROLLBACK FAILED at {outcome.get('failed_step') or 'an unknown step'}")
    else:
        lines.append(f"no rollback: {plan.get('why_no_rollback', '')}")
    if archive.get("digest"):
        lines.append(f"evidence: {archive.get('location', '?')} ({len(archive.get('files') or [])} files, digest {archive['digest']})"
                     + (f"; not archived: {'; '.join(archive['skipped'])}" if archive.get("skipped") else ""))
    else:
        lines.append(f"EVIDENCE NOT ARCHIVED: {archive.get('msg') or 'the archive could not be written'}")
    lines.append(f"post-mortem: {postmortem.get('markdown', '?')} (fill in its human parts in {postmortem.get('json', '?')})")
    lines.append(f"deploys stay frozen: make incident-close INCIDENT={incident}, then make unfreeze INCIDENT={incident} once the "
                 "post-mortem's action items are filled in")
    return lines
