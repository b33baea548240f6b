# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment ledger: an append-only JSON-lines record of what happened to releases.

Appends hold an exclusive flock and write one whole line with one O_APPEND write,
so concurrent writers never interleave. A line that does not parse is an error
that names it: a skipped line could hide a quarantine.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import re
from dataclasses import dataclass, field

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_object_id, validate_tag_name

LEDGER_VERSION = 1
EVENTS = ("deployed", "verdict", "rollback", "quarantine", "clear", "drill")
VERDICTS = ("green", "red")
# events after which the record's tag is the one serving traffic
_GOES_LIVE = ("deployed", "rollback")
_ENV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MAX_TEXT = 4096


def validate_environment(name: object) -> str:
    if not isinstance(name, str) or not _ENV_RE.match(name):
        raise ConductorError(f"environment {name!r} is invalid: expected 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# what a per-host report may hold, and of which type
_HOST_FIELDS = {"host": str, "colour": str, "tag": str, "commit": str, "image_ids": list, "health": str, "seconds": (int, float),
                "started": bool, "reused": bool, "result": str}


def _host_reports(hosts: list) -> list[dict]:
    """Per-host reports of a switch (host, colour, tag, commit, image ids, health, seconds), checked field by field."""
    reports = []
    for entry in hosts:
        if not isinstance(entry, dict) or not isinstance(entry.get("host"), str):
            raise ConductorError(f"ledger host report {entry!r} is invalid: expected a mapping with at least 'host'")
        unknown = sorted(set(entry) - set(_HOST_FIELDS))
        wrong = sorted(k for k, v in entry.items() if k in _HOST_FIELDS and not isinstance(v, _HOST_FIELDS[k]))
        if unknown or wrong:
            raise ConductorError(f"ledger host report for {entry['host']}: unknown fields {unknown}, fields of the wrong type {wrong}")
        reports.append({k: ([str(i) for i in v] if isinstance(v, list) else (v[:_MAX_TEXT] if isinstance(v, str) else v))
                        for k, v in entry.items()})
    return reports


def make_record(environment: str, event: str, tag: str, actor: str, commit: str = "", verdict: str = "",
                from_tag: str = "", durations: dict | None = None, detail: str = "", record_id: str = "",
                hosts: list | None = None) -> dict:
    """A validated ledger record; raises ConductorError naming the first bad field."""
    validate_environment(environment)
    if event not in EVENTS:
        raise ConductorError(f"ledger event {event!r} is invalid: expected one of {', '.join(EVENTS)}")
    validate_tag_name(tag)
    if not actor or len(actor) > 256:
        raise ConductorError("ledger actor is required: who did this (an AWX job id, a user name), at most 256 characters")
    if event in ("verdict", "drill") and verdict not in VERDICTS:
        raise ConductorError(f"a {event} record needs verdict green or red, got {verdict!r}")
    if verdict and verdict not in VERDICTS:
        raise ConductorError(f"verdict {verdict!r} is invalid: expected green or red")
    record = {"v": LEDGER_VERSION, "time": _now(), "environment": environment, "event": event, "tag": tag, "actor": actor}
    if commit:
        record["commit"] = validate_object_id(commit, "commit")
    if verdict:
        record["verdict"] = verdict
    if from_tag:
        record["from_tag"] = validate_tag_name(from_tag)
    if durations:
        bad = [k for k, v in durations.items() if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0]
        if bad:
            raise ConductorError(f"ledger durations must be seconds (numbers >= 0); not so for: {', '.join(map(str, bad))}")
        record["durations"] = {str(k): round(float(v), 3) for k, v in durations.items()}
    if detail:
        record["detail"] = detail[:_MAX_TEXT]
    if hosts:
        record["hosts"] = _host_reports(hosts)
    if record_id:
        if len(record_id) > 128:
            raise ConductorError("ledger record id is longer than 128 characters")
        record["id"] = record_id
    return record


def json_line(record: dict) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def append(path: str, record: dict, *more: dict) -> None:
    """Append records, one line each, in one write: atomically with respect to other writers, all or none of them."""
    line = "".join(json_line(entry) for entry in (record, *more)).encode("utf-8")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # a torn last line (a crash mid-write elsewhere) stays visible as corrupt; ours starts clean
            line = b"\n" + line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _valid_tags(record: dict) -> bool:
    """A record's tags are names the ledger would have written: a tag read back may end up in a proxy's configuration."""
    try:
        validate_tag_name(record.get("tag"))
        if record.get("from_tag") is not None:
            validate_tag_name(record["from_tag"])
    except ConductorError:
        return False
    return True


def read(path: str) -> list[dict]:
    """Every record in the ledger, oldest first; a missing ledger is an empty one."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return []
    with os.fdopen(fd, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        data = handle.read()
    records = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise ConductorError(f"ledger {path} line {number} is corrupt ({exc}): {raw[:120]!r}") from exc
        if not isinstance(record, dict) or record.get("event") not in EVENTS or not _valid_tags(record):
            raise ConductorError(f"ledger {path} line {number} is not a ledger record (an event, valid tag names): {raw[:120]!r}")
        records.append(record)
    return records


@dataclass
class LedgerState:
    live: str = ""
    live_commit: str = ""
    healthy: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)


def state(records: list[dict], environment: str) -> LedgerState:
    """What the records say now: the live tag, each tag's last verdict, the quarantined tags."""
    result = LedgerState()
    quarantined: dict[str, bool] = {}
    for record in records:
        if record.get("environment") != environment:
            continue
        event, tag = record["event"], record["tag"]
        if event in _GOES_LIVE:
            result.live, result.live_commit = tag, record.get("commit", "")
        if record.get("verdict") in VERDICTS and event in ("verdict", "rollback", "deployed"):
            result.verdicts[tag] = record["verdict"]
        if event == "quarantine":
            quarantined[tag] = True
        elif event == "clear":
            quarantined[tag] = False
    result.quarantined = sorted(tag for tag, on in quarantined.items() if on)
    result.healthy = sorted(tag for tag, verdict in result.verdicts.items() if verdict == "green" and not quarantined.get(tag))
    return result


def read_environment(path: str, environment: str) -> tuple[list[dict], LedgerState]:
    """The environment's records in the ledger at ``path``, and what they say now."""
    environment = validate_environment(environment)
    records = [r for r in read(path) if r.get("environment") == environment]
    return records, state(records, environment)


def summary(current: LedgerState) -> dict:
    """The parts of a state a playbook decides on."""
    return {"live": current.live, "live_commit": current.live_commit, "healthy": current.healthy, "quarantined": current.quarantined}


def prior_healthy(tags_newest_first: list[str], current: LedgerState) -> str:
    """The newest tag older than the live one with a green verdict that is not quarantined."""
    if not current.live:
        raise ConductorError("the ledger records no live tag for this environment: give the tag to roll back to")
    if current.live not in tags_newest_first:
        raise ConductorError(f"the live tag {current.live} is not among the repository's release tags: give the tag to roll back to")
    healthy, quarantined = set(current.healthy), set(current.quarantined)
    older = tags_newest_first[tags_newest_first.index(current.live) + 1:]
    for tag in older:
        if tag in healthy and tag not in quarantined:
            return tag
    raise ConductorError(f"no tag older than the live {current.live} has a green verdict without quarantine "
                         f"(checked {len(older)} older tags): give the tag to roll back to")
