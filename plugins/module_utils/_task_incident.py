# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.incident: open, record, escalate, close and unfreeze an incident in the environment's ledger, build
each phase's notification from it, and write its post-mortem skeleton."""

from __future__ import annotations

import datetime
import json
import os

from ansible_collections.maestro.conductor.plugins.module_utils import _archive, _incident, _ledger, _postmortem
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

STATES = ["query", "opened", "notified", "escalated", "acknowledged", "closed", "unfrozen", "reported"]

SPEC = {
    "argument_spec": {
        "path": {"type": "path", "required": True},
        "environment": {"type": "str", "required": True},
        "state": {"type": "str", "default": "query", "choices": STATES},
        "incident": {"type": "str"},
        "actor": {"type": "str"},
        "reason": {"type": "str"},
        "expected": {"type": "str", "default": ""},
        "seen": {"type": "str", "default": ""},
        "severity": {"type": "str", "default": "critical", "choices": list(_incident.SEVERITIES)},
        "source": {"type": "str", "default": "user", "choices": list(_incident.SOURCES)},
        "alert": {"type": "dict"},
        "allow_second": {"type": "bool", "default": False},
        "tag": {"type": "str", "default": ""},
        "target": {"type": "dict"},
        "phase": {"type": "str", "choices": list(_incident.PHASES)},
        "level": {"type": "int", "default": 0},
        "outcome": {"type": "dict"},
        "archive": {"type": "dict"},
        "failed_step": {"type": "str", "default": ""},
        "escalation": {"type": "list", "elements": "dict"},
        "override": {"type": "bool", "default": False},
        "override_reason": {"type": "str", "default": ""},
        "incident_dir": {"type": "path"},
        "failed_requests": {"type": "int"},
        "due_days": {"type": "int", "default": 5},
        "run_output": {"type": "str"},
        "job": _ledger.JOB_SPEC,
    },
    "required_if": [
        ("state", "opened", ["actor", "incident_dir"]),
        ("state", "notified", ["incident", "actor", "phase", "outcome"]),
        ("state", "escalated", ["incident", "actor", "outcome"]),
        ("state", "acknowledged", ["incident", "actor"]),
        ("state", "closed", ["incident", "actor", "incident_dir"]),
        ("state", "unfrozen", ["incident", "actor", "incident_dir"]),
        ("state", "reported", ["incident", "incident_dir"]),
    ],
}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _target(params: dict) -> _incident.Target:
    return _incident.target_from(params["target"], params["tag"])


def _open(params: dict, records: list[dict], check_mode: bool) -> dict:
    request = _incident.Request(environment=params["environment"], reason=params["reason"] or "", actor=params["actor"],
                                severity=params["severity"], expected=params["expected"], seen=params["seen"],
                                source=params["source"], alert=params["alert"] or {}, allow_second=params["allow_second"])
    current = _ledger.state(records, params["environment"])
    plan = _incident.plan_open(records, request, _target(params), _now(), live_commit=current.live_commit)
    plan.records = _ledger.with_job(plan.records, params["job"])
    if plan.action == "open" and not check_mode:
        def still_no_open_incident(now_records: list[dict]) -> None:
            # two alerts (or an alert and a human) at once: the one that writes second sees the first and is refused
            fresh = _ledger.state([r for r in now_records if r.get("environment") == params["environment"]], params["environment"])
            if fresh.open_incidents and (request.source == "alert" or not request.allow_second):
                raise ConductorError(f"incident {fresh.open_incidents[-1]} was opened for {params['environment']} meanwhile: "
                                     "run again to join it")
        try:
            _ledger.append(params["path"], *plan.records, guard=still_no_open_incident)
        except ConductorError as exc:
            if request.source != "alert" or "meanwhile" not in str(exc):
                raise
            # an alert that lost the race to another opening joins the incident that won it
            fresh = _ledger.read_environment(params["path"], params["environment"])[1]
            plan = _incident.OpenPlan("join", f"{exc}: this alert joins it (no second incident, no second automatic rollback)",
                                      incident=fresh.open_incidents[-1] if fresh.open_incidents else "")
            return {"changed": False, "plan": plan.as_dict(), "incident": plan.incident, "records": []}
        os.makedirs(_incident.paths(params["incident_dir"], plan.incident)["dir"], mode=0o750, exist_ok=True)
    return {"changed": plan.action == "open", "plan": plan.as_dict(), "incident": plan.incident,
            "records": plan.records if plan.action == "open" else _incident.incident_records(records, plan.incident)}


def _record(params: dict, records: list[dict], event: str, data: dict, detail: str = "", record_id: str = "") -> dict:
    opened = _incident.opened_record(records, params["incident"])
    record = _ledger.make_incident_record(params["environment"], event, params["incident"], params["actor"],
                                          tag=_ledger.state(records, params["environment"]).live or opened.get("tag", ""),
                                          detail=detail, data=data, record_id=record_id)
    return _ledger.with_job([record], params["job"])[0]


def _sinks(outcome: dict) -> list[dict]:
    sinks = outcome.get("sinks") or []
    if not isinstance(sinks, list):
        raise ConductorError("outcome.sinks must be a list of {sink, ok, error, to}")
    return [{"sink": str(s.get("sink", "")), "ok": bool(s.get("ok")), "error": str(s.get("error", ""))[:500], "to": str(s.get("to", ""))}
            for s in sinks if isinstance(s, dict)]


def _planned(params: dict, records: list[dict]) -> tuple[dict | None, list[str]]:
    """The record a recording state adds (None when the ledger has it already), and why it may not be added."""
    state, incident = params["state"], params["incident"]
    mine = _incident.incident_records(records, incident)
    current = _ledger.state(records, params["environment"])
    if state == "notified":
        data = {"phase": params["phase"], "level": params["level"], "sinks": _sinks(params["outcome"])}
        if params["failed_step"]:
            data["failed_step"] = params["failed_step"][:1000]
        if (params["archive"] or {}).get("digest"):
            data["archive"] = {k: params["archive"].get(k) for k in ("digest", "location") if params["archive"].get(k)}
        return _record(params, records, "incident_notified", data, record_id=f"{incident}/notified/{params['phase']}/{params['level']}"), []
    if state == "escalated":
        # every attempt is recorded; the level stays due until a sink of it took the escalation
        data = {"level": params["level"], "to": [str(t) for t in params["outcome"].get("to") or []], "sinks": _sinks(params["outcome"])}
        return _record(params, records, "incident_escalated", data), []
    if state == "acknowledged":
        if any(r["event"] in ("incident_acknowledged", "incident_closed") for r in mine):
            return None, []
        return _record(params, records, "incident_acknowledged", {}), []
    if state == "closed":
        if incident not in current.open_incidents:
            _incident.opened_record(records, incident)
            return None, []
        archive = params["archive"] or next((r["data"]["archive"] for r in reversed(mine)
                                             if isinstance(r.get("data"), dict) and r["data"].get("archive")), {})
        return _record(params, records, "incident_closed", {"archive": archive}, record_id=f"{incident}/closed"), []
    # unfrozen
    if incident not in current.frozen:
        _incident.opened_record(records, incident)
        return None, []
    problems = _incident.unfreeze_problems(records, incident, _read_postmortem(params), params["override"],
                                           params["override_reason"], _postmortem.action_item_problems)
    if problems:
        return None, problems
    return _record(params, records, "unfreeze", {"override": params["override"], "reason": params["override_reason"]},
                   detail="override: " + params["override_reason"] if params["override"] else "post-mortem action items filled in"), []


def _read_postmortem(params: dict) -> dict | None:
    where = _incident.paths(params["incident_dir"], params["incident"])["postmortem_json"]
    try:
        with open(where, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConductorError(f"post-mortem {where} is not JSON: {exc}") from exc


def _report(params: dict, records: list[dict], check_mode: bool) -> dict:
    """The post-mortem skeleton, pre-filled from the ledger and the archive; what a human wrote in it is kept."""
    opened = _incident.opened_record(records, params["incident"])
    data = opened.get("data") or {}
    where = _incident.paths(params["incident_dir"], params["incident"])
    archive = dict(params["archive"] or {})
    if not archive.get("files") and os.path.isfile(os.path.join(where["archive"], _archive.SUMS)):
        archive = {**_archive.read(where["archive"]).as_dict(), "location": where["archive"]}
    incident = {"id": params["incident"], "environment": params["environment"], "opened_at": opened["time"],
                "opened_by": opened["actor"], "severity": data.get("severity", "critical"), "reason": data.get("reason") or {},
                "source": data.get("source") or {}, "from": data.get("from") or {}, "to": data.get("to") or {}}
    built = _postmortem.build(incident, records, {"digest": archive["digest"], "location": archive.get("location", ""),
                                                  "files": archive.get("files") or []} if archive.get("digest") else {},
                              _ledger.iso(_now()), failed_requests=params["failed_requests"], due_days=params["due_days"])
    old = _read_postmortem(params)
    if old is not None:
        built = _postmortem.merge_human(old, built)
    if not check_mode:
        os.makedirs(where["dir"], mode=0o750, exist_ok=True)
        if params["run_output"]:
            atomic_write(os.path.join(where["dir"], "rollback-run.json"), params["run_output"].encode("utf-8"), mode=0o640)
        atomic_write(where["postmortem_json"], (json.dumps(built, indent=2, sort_keys=True) + "\n").encode("utf-8"), mode=0o640)
        atomic_write(where["postmortem_md"], _postmortem.render_markdown(built).encode("utf-8"), mode=0o640)
    return {"changed": True, "postmortem": {"json": where["postmortem_json"], "markdown": where["postmortem_md"]},
            "problems": _postmortem.action_item_problems(built)}


def run(params: dict, check_mode: bool, diff: bool) -> Outcome:
    environment = _ledger.validate_environment(params["environment"])
    records, current = _ledger.read_environment(params["path"], environment)
    state = params["state"]
    result: dict = {"changed": False}
    if state == "opened":
        result.update(_open(params, records, check_mode))
        if result["plan"]["action"] == "open":
            records = records + result["plan"]["records"]
    elif state == "reported":
        result.update(_report(params, records, check_mode))
    elif state != "query":
        record, problems = _planned(params, records)
        if problems:
            raise ConductorError(f"the freeze of {params['incident']} stays: " + "; ".join(problems)
                                 + f" (post-mortem: {_incident.paths(params['incident_dir'], params['incident'])['postmortem_json']};"
                                   " or OVERRIDE=true OVERRIDE_REASON=\"...\", which is recorded)")
        if record is not None:
            if not check_mode:
                _ledger.append(params["path"], record)
            records = records + [record]
            result.update(changed=True, record=record)
            if diff:
                result["diff"] = {"before": "", "after": _ledger.json_line(record), "after_header": params["path"]}
    after = _ledger.state(records, environment)
    incident = params["incident"] or result.get("incident", "")
    result.update(open_incidents=after.open_incidents, frozen=[{"incident": k, "reason": v} for k, v in after.frozen.items()],
                  live=after.live, incident=incident)
    if incident and (state != "opened" or result["plan"]["action"] != "refuse"):
        mine = _incident.incident_records(records, incident) if incident else []
        result["records"] = mine
        if params["phase"] and mine:
            result["event"] = _incident.event(records, incident, params["phase"], _now(), failed_step=params["failed_step"],
                                              archive={k: params["archive"].get(k) for k in ("digest", "location")}
                                              if (params["archive"] or {}).get("digest") else None,
                                              level=params["level"])
    if params["escalation"] is not None:
        result["due"] = _incident.escalations_due(records, environment, _incident.escalation_levels(params["escalation"]), _now())
    return Outcome(result, current.warnings)


ENTRY = Entry(SPEC, run)
