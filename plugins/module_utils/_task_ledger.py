# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_ledger: read an environment's ledger, append a record to it, or move corrupt lines aside."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome
from ansible_collections.maestro.conductor.plugins.module_utils._task_lock import FENCE_SPEC, fence_check

SPEC = {
    "argument_spec": {
        "path": {"type": "path", "required": True},
        "environment": {"type": "str", "required": True},
        "state": {"type": "str", "default": "query", "choices": ["query", "append", "quarantined", "cleared", "repaired"]},
        "event": {"type": "str", "choices": ["deployed", "verdict", "rollback", "drill", "validation", "prune"]},
        "tag": {"type": "str"},
        "actor": {"type": "str"},
        "commit": {"type": "str"},
        "verdict": {"type": "str", "choices": ["green", "red"]},
        "from_tag": {"type": "str"},
        "durations": {"type": "dict"},
        "detail": {"type": "str"},
        "record_id": {"type": "str"},
        "hosts": {"type": "list", "elements": "dict"},
        "quarantine": {"type": "str"},
        "last": {"type": "int", "default": 50},
        "fence": FENCE_SPEC,
        "job": _ledger.JOB_SPEC,
    },
    "required_if": [
        ("state", "append", ["event", "actor"]),
        ("state", "quarantined", ["tag", "actor"]),
        ("state", "cleared", ["tag", "actor"]),
    ],
}


def _planned_record(params: dict, now) -> dict | None:
    """The record this call adds, or None when the ledger already says it."""
    action = params["state"]
    if action == "append":
        if not params["tag"] and params["event"] not in _ledger.TAGLESS_EVENTS:
            raise ConductorError(f"state=append of event {params['event']} needs tag: the release the record is about")
        if params["record_id"] and any(r.get("id") == params["record_id"] for r in now["records"]):
            return None
        return _ledger.make_record(params["environment"], params["event"], params["tag"] or "", params["actor"],
                                   commit=params["commit"] or "", verdict=params["verdict"] or "", from_tag=params["from_tag"] or "",
                                   durations=params["durations"], detail=params["detail"] or "", record_id=params["record_id"] or "",
                                   hosts=params["hosts"])
    quarantined = params["tag"] in now["state"].quarantined
    if (action == "quarantined") == quarantined:
        return None
    return _ledger.make_record(params["environment"], "quarantine" if action == "quarantined" else "clear", params["tag"],
                               params["actor"], detail=params["detail"] or "")


def _quarantine(params: dict, record: dict | None, current: _ledger.LedgerState) -> list[dict]:
    """With an appended record, the quarantine of another tag that goes with it (a rollback's tag rolled back from)."""
    if record is None or not params["quarantine"] or params["quarantine"] in current.quarantined:
        return []
    return [_ledger.make_record(params["environment"], "quarantine", params["quarantine"], params["actor"],
                                detail=f"{record['event']} to {record.get('tag') or 'no tag'}")]


def _repair(params: dict, check_mode: bool, diff: bool) -> Outcome:
    repaired = _ledger.repair(params["path"], check_mode)
    result = repaired.as_dict()
    if diff and repaired.lines:
        moved = "".join(f"line {line.number}: {line.raw[:200].decode('utf-8', 'replace')}\n" for line in repaired.lines)
        result["diff"] = {"before": moved, "after": "", "before_header": f"{params['path']} (corrupt lines)",
                          "after_header": f"{params['path']} (they go to {repaired.aside})"}
    return Outcome(result, [f"moved {len(repaired.lines)} corrupt lines of ledger {params['path']} to {repaired.aside}"] if repaired.lines
                   and not check_mode else [])


def run(params: dict, check_mode: bool, diff: bool) -> Outcome:
    environment = _ledger.validate_environment(params["environment"])
    if params["quarantine"] and params["state"] != "append":
        raise ConductorError("quarantine goes with state=append: it is recorded in the same write as the record")
    if params["state"] == "repaired":
        return _repair(params, check_mode, diff)
    records, current = _ledger.read_environment(params["path"], environment)
    record = None if params["state"] == "query" else _planned_record(params, {"records": records, "state": current})
    extra = _quarantine(params, record, current)
    if record is not None:
        record, *extra = _ledger.with_job([record, *extra], params["job"])
    if record is not None and not check_mode:
        # the record id is checked again under the ledger's lock: another run may have written it since the read
        if not _ledger.append(params["path"], record, *extra, fence=fence_check(params["fence"], "writing the ledger")):
            record, extra = None, []
            records, current = _ledger.read_environment(params["path"], environment)
    if record is not None:
        records = records + [record, *extra]
    result = {
        "changed": record is not None,
        **_ledger.summary(_ledger.state(records, environment)),
        "records": records[-params["last"]:] if params["last"] > 0 else records,
    }
    if record is not None:
        result["record"] = record
        if diff:
            result["diff"] = {"before": "", "after": "".join(_ledger.json_line(r) for r in (record, *extra)), "after_header": params["path"]}
    return Outcome(result, current.warnings)


ENTRY = Entry(SPEC, run)
