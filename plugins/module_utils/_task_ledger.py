# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_ledger: read an environment's ledger, or append a record to it."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

SPEC = {
    "argument_spec": {
        "path": {"type": "path", "required": True},
        "environment": {"type": "str", "required": True},
        "state": {"type": "str", "default": "query", "choices": ["query", "append", "quarantined", "cleared"]},
        "event": {"type": "str", "choices": ["deployed", "verdict", "rollback", "drill"]},
        "tag": {"type": "str"},
        "actor": {"type": "str"},
        "commit": {"type": "str"},
        "verdict": {"type": "str", "choices": ["green", "red"]},
        "from_tag": {"type": "str"},
        "durations": {"type": "dict"},
        "detail": {"type": "str"},
        "record_id": {"type": "str"},
        "hosts": {"type": "list", "elements": "dict"},
        "last": {"type": "int", "default": 50},
    },
    "required_if": [
        ("state", "append", ["event", "tag", "actor"]),
        ("state", "quarantined", ["tag", "actor"]),
        ("state", "cleared", ["tag", "actor"]),
    ],
}


def _planned_record(params: dict, now) -> dict | None:
    """The record this call adds, or None when the ledger already says it."""
    action = params["state"]
    if action == "append":
        if params["record_id"] and any(r.get("id") == params["record_id"] for r in now["records"]):
            return None
        return _ledger.make_record(params["environment"], params["event"], params["tag"], params["actor"],
                                   commit=params["commit"] or "", verdict=params["verdict"] or "", from_tag=params["from_tag"] or "",
                                   durations=params["durations"], detail=params["detail"] or "", record_id=params["record_id"] or "",
                                   hosts=params["hosts"])
    quarantined = params["tag"] in now["state"].quarantined
    if (action == "quarantined") == quarantined:
        return None
    return _ledger.make_record(params["environment"], "quarantine" if action == "quarantined" else "clear", params["tag"],
                               params["actor"], detail=params["detail"] or "")


def run(params: dict, check_mode: bool, diff: bool) -> Outcome:
    environment = _ledger.validate_environment(params["environment"])
    records, current = _ledger.read_environment(params["path"], environment)
    record = None if params["state"] == "query" else _planned_record(params, {"records": records, "state": current})
    if record is not None and not check_mode:
        _ledger.append(params["path"], record)
    if record is not None:
        records = records + [record]
    result = {
        "changed": record is not None,
        **_ledger.summary(_ledger.state(records, environment)),
        "records": records[-params["last"]:] if params["last"] > 0 else records,
    }
    if record is not None:
        result["record"] = record
        if diff:
            result["diff"] = {"before": "", "after": _ledger.json_line(record), "after_header": params["path"]}
    return Outcome(result)


ENTRY = Entry(SPEC, run)
