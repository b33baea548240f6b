# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment ledger: an append-only JSON-lines record of what happened to releases.

Appends hold an exclusive flock and write one whole line with one O_APPEND write,
so concurrent writers never interleave. A line that is no valid record is an error
that names it (a skipped line could hide a quarantine), with one exception: a torn
last line, the trace of an append that never finished, which is skipped with a
warning. ``repair`` moves such lines into a file beside the ledger.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import re
from dataclasses import dataclass, field
from typing import Callable

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError, atomic_write
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_incident_id, validate_object_id, validate_tag_name

LEDGER_VERSION = 1
# an incident's records name it (``incident``), carry the live tag when there is one, and structured ``data``
INCIDENT_EVENTS = ("incident_opened", "incident_notified", "incident_escalated", "incident_acknowledged", "incident_closed",
                   "freeze", "unfreeze")
# validation: a scheduled check of the environment (the daily verification, ...), green or red; it is about the
# environment, so its tag (the live release, when there is one) is optional, and it never changes a release's verdict
EVENTS = ("deployed", "verdict", "rollback", "quarantine", "clear", "drill", "validation", "prune") + INCIDENT_EVENTS
# records of the environment as a whole (a scheduled check, a prune), that may name no tag
TAGLESS_EVENTS = ("validation", "prune")
VERDICTS = ("green", "red")
# events after which the record's tag is the one serving traffic
_GOES_LIVE = ("deployed", "rollback")
_ENV_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_MAX_TEXT = 4096
_MAX_DATA = 16384


def validate_environment(name: object) -> str:
    if not isinstance(name, str) or not _ENV_RE.fullmatch(name):
        raise ConductorError(f"environment {name!r} is invalid: expected 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def iso(moment: datetime.datetime) -> str:
    """A time as the ledger writes it: UTC ISO 8601 with milliseconds and Z."""
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: object) -> datetime.datetime:
    """A ledger time as an aware UTC datetime (a time without a zone is taken as UTC)."""
    try:
        moment = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConductorError(f"ledger time {text!r} is invalid: expected UTC ISO 8601 such as 2026-11-28T16:25:01.123Z") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)).astimezone(datetime.timezone.utc)


def _now() -> str:
    return iso(datetime.datetime.now(datetime.timezone.utc))


def _check_actor(actor: str) -> None:
    if not actor or len(actor) > 256:
        raise ConductorError("ledger actor is required: who did this (an AWX job id, a user name), at most 256 characters")


def _check_record_id(record_id: str) -> str:
    if len(record_id) > 128:
        raise ConductorError("ledger record id is longer than 128 characters")
    return record_id


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
    if tag or event not in TAGLESS_EVENTS:
        validate_tag_name(tag)
    _check_actor(actor)
    if event in ("verdict", "drill", "validation") and verdict not in VERDICTS:
        raise ConductorError(f"a {event} record needs verdict green or red, got {verdict!r}")
    if verdict and verdict not in VERDICTS:
        raise ConductorError(f"verdict {verdict!r} is invalid: expected green or red")
    record = {"v": LEDGER_VERSION, "time": _now(), "environment": environment, "event": event, "actor": actor}
    if tag or event not in TAGLESS_EVENTS:
        record["tag"] = tag
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
        record["id"] = _check_record_id(record_id)
    return record


# who ran it, when a job runner (AWX) did: the job and its template, the workflow it ran in, the schedule that launched it,
# the user who launched it
JOB_FIELDS = {"id": int, "template": str, "workflow_id": int, "workflow": str, "schedule_id": int, "schedule": str, "launched_by": str}
JOB_SPEC = {"type": "dict", "options": {name: {"type": "int" if kind is int else "str"} for name, kind in JOB_FIELDS.items()}}
# each field -> the variable AWX gives every job (awx_<name>; tower_<name> in older releases)
JOB_VARIABLES = {"id": "job_id", "template": "job_template_name", "workflow_id": "workflow_job_id", "workflow": "workflow_job_name",
                 "schedule_id": "schedule_id", "schedule": "schedule_name", "launched_by": "user_name"}
_MAX_ID = 2 ** 63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def validate_job(job: object) -> dict:
    """A record's ``job``: the fields of JOB_FIELDS that are set, id required; {} for none."""
    if not job:
        return {}
    if not isinstance(job, dict):
        raise ConductorError(f"ledger job must be a mapping of {', '.join(JOB_FIELDS)}, got {type(job).__name__}")
    unknown = sorted(set(job) - set(JOB_FIELDS))
    if unknown:
        raise ConductorError(f"ledger job has unknown fields {unknown}: expected {', '.join(JOB_FIELDS)}")
    clean: dict = {}
    for name, kind in JOB_FIELDS.items():
        value = job.get(name)
        if value in (None, ""):
            continue
        if kind is int:
            text = str(value)
            if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= _MAX_ID:
                raise ConductorError(f"ledger job {name} {value!r} is invalid: expected a positive whole number")
            clean[name] = int(text)
        else:
            text = str(value)
            if len(text) > 512 or _CONTROL.search(text):
                raise ConductorError(f"ledger job {name} is invalid: expected at most 512 characters, no control characters")
            clean[name] = text
    if "id" not in clean:
        raise ConductorError("ledger job needs its id: the job runner's job id")
    return clean


def job_variables(job: object) -> dict:
    """The AWX variables that describe ``job`` (for a run that the job starts itself, so that its records name it too)."""
    return {f"awx_{JOB_VARIABLES[name]}": value for name, value in validate_job(job).items()}


def with_job(records: list[dict], job: object) -> list[dict]:
    """``records``, each naming the job that wrote it (when there is one)."""
    clean = validate_job(job)
    return [{**record, "job": clean} if clean else record for record in records]


def make_incident_record(environment: str, event: str, incident: str, actor: str, tag: str = "", detail: str = "",
                         data: dict | None = None, record_id: str = "") -> dict:
    """A validated record of an incident's step; raises ConductorError naming the first bad field."""
    validate_environment(environment)
    if event not in INCIDENT_EVENTS:
        raise ConductorError(f"incident ledger event {event!r} is invalid: expected one of {', '.join(INCIDENT_EVENTS)}")
    validate_incident_id(incident)
    _check_actor(actor)
    record = {"v": LEDGER_VERSION, "time": _now(), "environment": environment, "event": event, "incident": incident, "actor": actor}
    if tag:
        record["tag"] = validate_tag_name(tag)
    if detail:
        record["detail"] = detail[:_MAX_TEXT]
    if data:
        if not isinstance(data, dict):
            raise ConductorError(f"ledger data of {event} must be a mapping, got {type(data).__name__}")
        try:
            size = len(json.dumps(data, sort_keys=True))
        except (TypeError, ValueError) as exc:
            raise ConductorError(f"ledger data of {event} is not JSON: {exc}") from exc
        if size > _MAX_DATA:
            raise ConductorError(f"ledger data of {event} is {size} bytes as JSON: at most {_MAX_DATA}")
        record["data"] = data
    if record_id:
        record["id"] = _check_record_id(record_id)
    return record


def json_line(record: dict) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_for_append(path: str) -> int:
    """The ledger opened for appending and locked; a ledger created here is made durable with its directory entry."""
    directory = os.path.dirname(os.path.abspath(path))
    made = not os.path.isdir(directory)
    os.makedirs(directory, exist_ok=True)
    if made:
        _fsync_dir(os.path.dirname(directory))
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o640)
            _fsync_dir(directory)
        except FileExistsError:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            # a repair replaces the file while we wait for its lock: append to the file the path names now
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _has_record_id(data: bytes, environment: str, record_id: str) -> bool:
    for raw in data.split(b"\n"):
        if record_id.encode("utf-8") in raw:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("id") == record_id and record.get("environment") == environment:
                return True
    return False


def _aside_path(path: str) -> str:
    return f"{path}.corrupt-{datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}"


def _mend_tail(fd: int, path: str, size: int) -> bytes:
    """What an append must write first when the ledger does not end a line: a whole record that lacks only its newline
    gets it; a torn last line (an append that never finished) is moved aside, bytes as they were, and cut off, so that
    it never ends up between records, where it would be corruption."""
    data = os.pread(fd, size, 0)
    start = data.rfind(b"\n") + 1
    tail = data[start:]
    try:
        whole = not _problem(json.loads(tail))
    except ValueError:
        whole = False
    if whole or not tail.strip():
        return b"\n"
    atomic_write(_aside_path(path), tail + b"\n", mode=os.fstat(fd).st_mode & 0o777)
    os.ftruncate(fd, start)
    os.fsync(fd)
    return b""


def append(path: str, record: dict, *more: dict, fence: Callable[[], object] | None = None,
           guard: Callable[[list[dict]], object] | None = None) -> bool:
    """Append records, one line each, in one write: atomically with respect to other writers, all or none of them.

    Under the ledger's lock, before writing: nothing is appended (False) when the first record has an id that the
    ledger already holds for its environment, and ``fence`` is called (it raises when the run may not write), and
    ``guard`` with the records as they are then (it raises when what was decided from an earlier read no longer holds).
    """
    line = "".join(json_line(entry) for entry in (record, *more)).encode("utf-8")
    fd = _open_for_append(path)
    try:
        size = os.fstat(fd).st_size
        if record.get("id") and size and _has_record_id(os.pread(fd, size, 0), record.get("environment", ""), record["id"]):
            return False
        if fence is not None:
            fence()
        if guard is not None:
            guard(_parse(os.pread(fd, size, 0)).records if size else [])
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = _mend_tail(fd, path, size) + line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _problem(record: object) -> str:
    """Why a parsed line is no ledger record ('' when it is one): what is read back decides rollbacks, and its tags
    may end up in a proxy's configuration."""
    if not isinstance(record, dict):
        return "not a JSON object"
    try:
        if record.get("event") not in EVENTS:
            return f"event {record.get('event')!r} is not one of {', '.join(EVENTS)}"
        validate_environment(record.get("environment"))
        if record["event"] in INCIDENT_EVENTS:
            validate_incident_id(record.get("incident"))
            if record.get("data") is not None and not isinstance(record["data"], dict):
                return "data is not a JSON object"
            if record.get("tag") is not None:
                validate_tag_name(record["tag"])
        elif record["event"] not in TAGLESS_EVENTS or record.get("tag") is not None:
            validate_tag_name(record.get("tag"))
        if record.get("from_tag") is not None:
            validate_tag_name(record["from_tag"])
        if record.get("commit") is not None:
            validate_object_id(record["commit"], "commit")
        if record.get("verdict") is not None and record["verdict"] not in VERDICTS:
            return f"verdict {record['verdict']!r} is not green or red"
    except ConductorError as exc:
        return str(exc)
    return ""


@dataclass
class Line:
    number: int
    raw: bytes
    problem: str

    def describe(self, path: str) -> str:
        return f"ledger {path} line {self.number} is corrupt ({self.problem}): {self.raw[:120]!r}"


@dataclass
class Loaded:
    """A ledger's records, its lines that are none, and whether the last of those is a torn last line."""

    records: list[dict] = field(default_factory=list)
    corrupt: list[Line] = field(default_factory=list)
    torn: Line | None = None

    def check(self, path: str) -> list[str]:
        """Warnings for a torn last line (a crash mid-append: skipped); ConductorError for corruption anywhere else."""
        if self.corrupt:
            more = f" (and {len(self.corrupt) - 1} more lines)" if len(self.corrupt) > 1 else ""
            raise ConductorError(f"{self.corrupt[0].describe(path)}{more}: move the corrupt lines aside with release_ledger "
                                 "state=repaired (it keeps them, bytes as they were, in a file beside the ledger)")
        if self.torn:
            return [f"{self.torn.describe(path)}: a torn last line (an append that never finished), skipped; the next append, "
                    "or release_ledger state=repaired, moves it into a file beside the ledger"]
        return []


def _parse(data: bytes) -> Loaded:
    loaded = Loaded()
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            record, problem = None, f"not JSON: {exc}"
        else:
            problem = _problem(record)
        if not problem:
            loaded.records.append(record)
        elif number == len(lines):  # no newline after it: the append that wrote it never finished
            loaded.torn = Line(number, raw, problem)
        else:
            loaded.corrupt.append(Line(number, raw, problem))
    return loaded


def load(path: str) -> Loaded:
    """Every record in the ledger, oldest first, and the lines that are none; a missing ledger is an empty one."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return Loaded()
    with os.fdopen(fd, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        return _parse(handle.read())


def read(path: str, warnings: list[str] | None = None) -> list[dict]:
    """Every record in the ledger, oldest first; a line that is no record fails naming it, but for a torn last line,
    which is skipped (and added to ``warnings``)."""
    loaded = load(path)
    found = loaded.check(path)
    if warnings is not None:
        warnings.extend(found)
    return loaded.records


@dataclass
class Repair:
    path: str
    aside: str = ""
    lines: list[Line] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"changed": bool(self.lines), "aside": self.aside,
                "corrupt": [{"line": line.number, "problem": line.problem, "text": line.raw[:200].decode("utf-8", "replace")}
                            for line in self.lines]}


def repair(path: str, check_mode: bool = False) -> Repair:
    """Move every line that is no ledger record into a file beside the ledger, bytes as they were (one a line)."""
    if not os.path.exists(path):
        return Repair(path)
    fd = _open_for_append(path) if not check_mode else os.open(path, os.O_RDONLY)
    try:
        if check_mode:
            fcntl.flock(fd, fcntl.LOCK_SH)
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        loaded = _parse(data)
        bad = loaded.corrupt + ([loaded.torn] if loaded.torn else [])
        result = Repair(path, lines=sorted(bad, key=lambda line: line.number))
        if not bad:
            return result
        result.aside = _aside_path(path)
        if check_mode:
            return result
        numbers = {line.number for line in bad}
        kept = [raw for number, raw in enumerate(data.split(b"\n"), start=1) if raw.strip() and number not in numbers]
        mode = os.fstat(fd).st_mode & 0o777
        # the lines set aside are safe on disk before the ledger stops holding them
        atomic_write(result.aside, b"".join(line.raw + b"\n" for line in result.lines), mode=mode)
        atomic_write(path, b"".join(raw + b"\n" for raw in kept), mode=mode)
        return result
    finally:
        os.close(fd)


@dataclass
class LedgerState:
    live: str = ""
    live_commit: str = ""
    healthy: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)
    # incidents not closed, and those whose freeze was not lifted, oldest first, with their reasons
    open_incidents: list[str] = field(default_factory=list)
    frozen: dict[str, str] = field(default_factory=dict)
    # what reading the ledger found but skipped (a torn last line)
    warnings: list[str] = field(default_factory=list)


def state(records: list[dict], environment: str) -> LedgerState:
    """What the records say now: the live tag, each tag's last verdict, the quarantined tags."""
    result = LedgerState()
    quarantined: dict[str, bool] = {}
    opened: dict[str, bool] = {}
    for record in records:
        if record.get("environment") != environment:
            continue
        event, tag = record["event"], record.get("tag", "")
        if event in INCIDENT_EVENTS:
            _incident_state(record, opened, result.frozen)
            continue
        if event in _GOES_LIVE:
            result.live, result.live_commit = tag, record.get("commit", "")
        if record.get("verdict") in VERDICTS and event in ("verdict", "rollback", "deployed"):
            result.verdicts[tag] = record["verdict"]
        if event == "quarantine":
            quarantined[tag] = True
        elif event == "clear":
            quarantined[tag] = False
    result.quarantined = sorted(tag for tag, on in quarantined.items() if on)
    result.open_incidents = [incident for incident, on in opened.items() if on]
    result.healthy = sorted(tag for tag, verdict in result.verdicts.items() if verdict == "green" and not quarantined.get(tag))
    return result


def _incident_state(record: dict, opened: dict[str, bool], frozen: dict[str, str]) -> None:
    event, incident = record["event"], record["incident"]
    if event == "incident_opened":
        opened[incident] = True
    elif event == "incident_closed":
        opened[incident] = False
    elif event == "freeze":
        frozen[incident] = record.get("detail", "")
    elif event == "unfreeze":
        frozen.pop(incident, None)


def read_environment(path: str, environment: str) -> tuple[list[dict], LedgerState]:
    """The environment's records in the ledger at ``path``, and what they say now."""
    environment = validate_environment(environment)
    warnings: list[str] = []
    records = [r for r in read(path, warnings) if r.get("environment") == environment]
    current = state(records, environment)
    current.warnings = warnings
    return records, current


def summary(current: LedgerState) -> dict:
    """The parts of a state a playbook decides on."""
    return {"live": current.live, "live_commit": current.live_commit, "healthy": current.healthy, "quarantined": current.quarantined,
            "open_incidents": current.open_incidents, "frozen": [{"incident": k, "reason": v} for k, v in current.frozen.items()]}


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


def went_live(records: list[dict], since: float) -> dict[str, str]:
    """The tags the records show going live (deployed, rolled back to) at or after ``since`` (epoch seconds), each with its
    latest time; a record whose time cannot be read counts as inside: unknown is kept, never let go."""
    live: dict[str, str] = {}
    for record in records:
        if not isinstance(record, dict) or record.get("event") not in _GOES_LIVE or not record.get("tag"):
            continue
        try:
            inside = parse_time(record.get("time")).timestamp() >= since
        except ConductorError:
            inside = True
        if inside:
            live[str(record["tag"])] = str(record.get("time") or "")
    return live
