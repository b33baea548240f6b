"""The environment ledger: appends, state, prior healthy tag, and the release_ledger / release_tags modules."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger, _lock, _task_ledger
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import release_ledger, release_tags
from tests.conftest import commit, git
from ansible_collections.maestro.conductor.plugins.plugin_utils._controller import run_here
from tests.unit.test_modules import run

C1, C2 = "a" * 40, "b" * 40


def add(path, event, tag, **kw):
    _ledger.append(str(path), _ledger.make_record("prod", event, tag, "tester", **kw))


def test_state_follows_deployments_verdicts_and_quarantines(tmp_path):
    ledger = tmp_path / "prod.jsonl"
    add(ledger, "deployed", "v1.0.0", commit=C1, verdict="green")
    add(ledger, "deployed", "v1.1.0", commit=C2, verdict="green")
    add(ledger, "deployed", "v1.2.0", commit=C1)
    add(ledger, "verdict", "v1.2.0", verdict="red")
    add(ledger, "quarantine", "v1.1.0", detail="leaks memory")
    _ledger.append(str(ledger), _ledger.make_record("staging", "deployed", "v9.0.0", "tester"))
    now = _ledger.state(_ledger.read(str(ledger)), "prod")
    assert (now.live, now.live_commit) == ("v1.2.0", C1)
    assert now.healthy == ["v1.0.0"] and now.quarantined == ["v1.1.0"]
    assert _ledger.prior_healthy(["v1.2.0", "v1.1.0", "v1.0.0"], now) == "v1.0.0"
    add(ledger, "clear", "v1.1.0")
    now = _ledger.state(_ledger.read(str(ledger)), "prod")
    assert _ledger.prior_healthy(["v1.2.0", "v1.1.0", "v1.0.0"], now) == "v1.1.0"


def test_prior_healthy_only_looks_at_older_tags(tmp_path):
    now = _ledger.LedgerState(live="v1.1.0", healthy=["v1.2.0"], quarantined=[])
    with pytest.raises(ConductorError, match="no tag older than the live v1.1.0 has a green verdict without quarantine"):
        _ledger.prior_healthy(["v1.2.0", "v1.1.0", "v1.0.0"], now)
    with pytest.raises(ConductorError, match="records no live tag"):
        _ledger.prior_healthy(["v1.0.0"], _ledger.LedgerState())


def test_a_corrupt_line_is_reported_with_its_number(tmp_path):
    ledger = tmp_path / "prod.jsonl"
    add(ledger, "deployed", "v1.0.0")
    with open(ledger, "ab") as handle:
        handle.write(b'{"event": "quarantine", "tag": "v1.\n')  # a whole line, but no record
    add(ledger, "deployed", "v1.1.0")
    with pytest.raises(ConductorError, match=r"ledger .*prod.jsonl line 2 is corrupt \(not JSON: .*release_ledger state=repaired"):
        _ledger.read(str(ledger))
    assert json.loads(ledger.read_bytes().split(b"\n")[2])["tag"] == "v1.1.0"


def test_a_torn_last_line_is_skipped_with_a_warning_and_moved_aside_by_the_next_append(tmp_path):
    ledger = tmp_path / "prod.jsonl"
    add(ledger, "deployed", "v1.0.0", commit=C1, verdict="green")
    torn = b'{"event":"rollback","tag":"v1.'
    with open(ledger, "ab") as handle:
        handle.write(torn)  # a crash mid-append: no newline after it
    warnings = []
    assert [r["tag"] for r in _ledger.read(str(ledger), warnings)] == ["v1.0.0"]
    assert len(warnings) == 1 and "line 2 is corrupt" in warnings[0] and "a torn last line" in warnings[0]
    # the module reads on, and says so in its result
    out = run_here(_task_ledger.ENTRY, ledger_args(ledger), False, False)
    assert not out.get("failed") and out["live"] == "v1.0.0" and "a torn last line" in out["warnings"][0]
    add(ledger, "deployed", "v1.1.0", commit=C2, verdict="green")
    # the torn bytes never end up between two records: they are kept beside the ledger, as they were
    assert [r["tag"] for r in _ledger.read(str(ledger))] == ["v1.0.0", "v1.1.0"]
    aside = list(tmp_path.glob("prod.jsonl.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == torn + b"\n"


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path):
    ledger = tmp_path / "prod.jsonl"
    ledger.write_bytes(_ledger.json_line(_ledger.make_record("prod", "deployed", "v1.0.0", "t")).rstrip("\n").encode())
    add(ledger, "deployed", "v1.1.0")
    assert [r["tag"] for r in _ledger.read(str(ledger))] == ["v1.0.0", "v1.1.0"] and not list(tmp_path.glob("*.corrupt-*"))


@pytest.mark.parametrize("field, value, problem", [
    ("commit", "abc; rm", "commit 'abc; rm' is invalid"),
    ("verdict", "purple", "verdict 'purple' is not green or red"),
    ("event", "promoted", "event 'promoted' is not one of"),
    ("environment", "prod\n", "environment 'prod\\n' is invalid"),
    ("tag", "v1\n}\nserver {", "tag name"),
    ("from_tag", "../v1", "tag name '../v1' is invalid"),
])
def test_fields_are_validated_when_read(tmp_path, field, value, problem):
    ledger = tmp_path / "prod.jsonl"
    record = {**_ledger.make_record("prod", "rollback", "v1.0.0", "t", commit=C1, verdict="green", from_tag="v1.1.0"), field: value}
    ledger.write_text(json.dumps(record) + "\n" + _ledger.json_line(_ledger.make_record("prod", "deployed", "v1.0.0", "t")))
    with pytest.raises(ConductorError) as caught:
        _ledger.read(str(ledger))
    assert "line 1 is corrupt" in str(caught.value) and problem in str(caught.value)


def test_repair_moves_corrupt_lines_aside_keeping_their_bytes(tmp_path, monkeypatch):
    ledger = tmp_path / "prod.jsonl"
    add(ledger, "deployed", "v1.0.0", commit=C1, verdict="green")
    bad = [b"\xff\xfe not json", json.dumps({"event": "deployed", "tag": "v1\n{", "environment": "prod"}).encode()]
    with open(ledger, "ab") as handle:
        handle.write(bad[0] + b"\n")
    add(ledger, "quarantine", "v1.1.0")
    with open(ledger, "ab") as handle:
        handle.write(bad[1] + b"\n")
    add(ledger, "deployed", "v1.2.0", commit=C2, verdict="green")
    ledger.chmod(0o640)
    original = ledger.read_bytes()
    args = ledger_args(ledger, state="repaired")
    checked = run(release_ledger, {**args, "_ansible_check_mode": True, "_ansible_diff": True}, monkeypatch)
    assert checked.result["changed"] and [c["line"] for c in checked.result["corrupt"]] == [2, 4]
    assert checked.result["aside"].startswith(str(ledger) + ".corrupt-") and "line 2:" in checked.result["diff"]["before"]
    assert ledger.read_bytes() == original and not list(tmp_path.glob("*.corrupt-*"))
    done = run(release_ledger, args, monkeypatch)
    assert done.result["changed"] and [c["line"] for c in done.result["corrupt"]] == [2, 4]
    assert open(done.result["aside"], "rb").read() == bad[0] + b"\n" + bad[1] + b"\n"
    now = _ledger.state(_ledger.read(str(ledger)), "prod")
    assert (now.live, now.quarantined) == ("v1.2.0", ["v1.1.0"]) and (ledger.stat().st_mode & 0o777) == 0o640
    assert run(release_ledger, args, monkeypatch).result["changed"] is False


def test_an_append_waiting_for_a_repair_lands_in_the_repaired_ledger(tmp_path, monkeypatch):
    ledger = tmp_path / "prod.jsonl"
    add(ledger, "deployed", "v1.0.0")
    with open(ledger, "ab") as handle:
        handle.write(b"garbage\n")
    real_write, writers = _ledger.atomic_write, []

    def write_while_another_run_appends(path, data, mode=0o644):
        if not writers:  # the repair holds the ledger's lock: another run opens the ledger and waits for that lock
            writers.append(threading.Thread(target=add, args=(ledger, "verdict", "v9.0.0"), kwargs={"verdict": "green"}))
            writers[0].start()
            time.sleep(0.5)
        real_write(path, data, mode)

    monkeypatch.setattr(_ledger, "atomic_write", write_while_another_run_appends)
    assert [line.number for line in _ledger.repair(str(ledger)).lines] == [2]
    writers[0].join(10)
    # appended to the ledger the path names now, not to the file the repair replaced
    assert [r["tag"] for r in _ledger.read(str(ledger))] == ["v1.0.0", "v9.0.0"]


def test_creating_the_ledger_makes_its_directory_entry_durable(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    ledger = tmp_path / "new" / "prod.jsonl"
    add(ledger, "deployed", "v1.0.0")
    assert str(ledger.parent) in synced and str(tmp_path) in synced and str(ledger) in synced
    synced.clear()
    add(ledger, "deployed", "v1.1.0")
    assert synced == [str(ledger)]


def test_the_record_id_is_checked_again_under_the_append_lock(tmp_path, monkeypatch):
    """Another run appends the same record between this run's read and its write: it is not appended twice."""
    ledger = tmp_path / "prod.jsonl"
    args = ledger_args(ledger, state="append", event="rollback", tag="v1.0.0", actor="run-1", commit=C1, verdict="green",
                       record_id="run-1", quarantine="v1.1.0")
    real = _ledger.read_environment
    calls = []

    def read_then_race(path, environment):
        found = real(path, environment)
        if not calls:
            _ledger.append(path, _ledger.make_record("prod", "rollback", "v1.0.0", "run-1", commit=C1, record_id="run-1"))
        calls.append(path)
        return found

    monkeypatch.setattr(_ledger, "read_environment", read_then_race)
    out = run(release_ledger, args, monkeypatch)
    assert out.result["changed"] is False and "record" not in out.result
    assert [r.get("id") for r in _ledger.read(str(ledger))] == ["run-1"]


def test_a_run_that_lost_the_lock_writes_nothing_to_the_ledger(tmp_path, monkeypatch):
    ledger, lock = tmp_path / "prod.jsonl", str(tmp_path / "prod.lock")
    mine = _lock.acquire(lock, "slow-run", ttl=900, lease=1, owner=_lock.Owner(host="ctl-2", pid=7, started=1, space="x"))
    time.sleep(1.1)
    _lock.acquire(lock, "next-run", ttl=900)
    args = ledger_args(ledger, state="append", event="rollback", tag="v1.0.0", actor="slow-run", commit=C1, verdict="green",
                       fence={"path": lock, "holder": "slow-run", "generation": mine.lock.generation})
    out = run(release_ledger, args, monkeypatch)
    assert out.failed and out.result["lost"] is True and "no longer held by this run (slow-run" in out.result["msg"]
    assert not ledger.exists() or _ledger.read(str(ledger)) == []
    held = run(release_ledger, {**args, "actor": "next-run", "fence": {"path": lock, "holder": "next-run", "generation": mine.lock.generation + 1}},
               monkeypatch)
    assert held.result["changed"] and [r["actor"] for r in _ledger.read(str(ledger))] == ["next-run"]


def _writer(path: str, worker: int) -> None:
    for i in range(200):
        _ledger.append(path, _ledger.make_record("prod", "verdict", f"v{worker}.{i}.0", f"worker-{worker}", verdict="green",
                                                 detail="x" * 3000))


def test_concurrent_appends_never_interleave(tmp_path):
    path = str(tmp_path / "prod.jsonl")
    procs = [multiprocessing.Process(target=_writer, args=(path, w)) for w in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    records = _ledger.read(path)
    assert len(records) == 800
    assert {(r["actor"], r["tag"]) for r in records} == {(f"worker-{w}", f"v{w}.{i}.0") for w in range(4) for i in range(200)}


@pytest.mark.parametrize("kwargs, message", [
    ({"event": "promoted"}, "ledger event 'promoted' is invalid"),
    ({"tag": "v1;rm -rf /"}, "tag name 'v1;rm -rf /' is invalid"),
    ({"environment": "../prod"}, "environment '../prod' is invalid"),
    ({"event": "verdict"}, "a verdict record needs verdict green or red"),
    ({"commit": "abc"}, "commit 'abc' is invalid"),
    ({"durations": {"deploy": -1}}, "not so for: deploy"),
    ({"actor": ""}, "ledger actor is required"),
])
def test_bad_records_are_refused(kwargs, message):
    args = {"environment": "prod", "event": "deployed", "tag": "v1.0.0", "actor": "tester", **kwargs}
    with pytest.raises(ConductorError, match=message.replace("(", r"\(").replace("[", r"\[")):
        _ledger.make_record(**args)


def ledger_args(path, **extra):
    return {"path": str(path), "environment": "prod", **extra}


def test_module_quarantine_is_idempotent_and_check_mode_writes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "ledger" / "prod.jsonl"
    checked = run(release_ledger, ledger_args(path, state="quarantined", tag="v1.0.0", actor="alice", _ansible_check_mode=True), monkeypatch)
    assert checked.result["changed"] is True and checked.result["quarantined"] == ["v1.0.0"] and not path.exists()
    first = run(release_ledger, ledger_args(path, state="quarantined", tag="v1.0.0", actor="alice"), monkeypatch)
    again = run(release_ledger, ledger_args(path, state="quarantined", tag="v1.0.0", actor="alice"), monkeypatch)
    assert first.result["changed"] is True and again.result["changed"] is False
    cleared = run(release_ledger, ledger_args(path, state="cleared", tag="v1.0.0", actor="bob"), monkeypatch)
    assert cleared.result["changed"] is True and cleared.result["quarantined"] == []
    assert [r["event"] for r in _ledger.read(str(path))] == ["quarantine", "clear"]


def test_module_append_with_record_id_appends_once(tmp_path, monkeypatch):
    path = tmp_path / "prod.jsonl"
    args = ledger_args(path, state="append", event="deployed", tag="v1.0.0", actor="awx-job-42", commit=C1, verdict="green",
                       durations={"deploy": 3.5}, record_id="job-42-deploy", _ansible_diff=True)
    first = run(release_ledger, args, monkeypatch)
    assert first.result["changed"] and first.result["live"] == "v1.0.0" and first.result["healthy"] == ["v1.0.0"]
    assert json.loads(first.result["diff"]["after"])["durations"] == {"deploy": 3.5}
    assert run(release_ledger, args, monkeypatch).result["changed"] is False
    assert len(_ledger.read(str(path))) == 1


def test_a_validation_is_recorded_with_or_without_a_live_tag_and_never_changes_a_verdict(tmp_path, monkeypatch):
    path = tmp_path / "prod.jsonl"
    run(release_ledger, ledger_args(path, state="append", event="deployed", tag="v1.0.0", actor="alice", commit=C1, verdict="green"),
        monkeypatch)
    red = run(release_ledger, ledger_args(path, state="append", event="validation", tag="v1.0.0", actor="daily-verify", verdict="red",
                                          detail="strict verification of the rollback target v0.9.0 FAILED"), monkeypatch)
    assert red.result["changed"] and red.result["healthy"] == ["v1.0.0"] and red.result["live"] == "v1.0.0"
    untagged = run(release_ledger, ledger_args(path, state="append", event="validation", actor="daily-verify", verdict="red"), monkeypatch)
    assert untagged.result["changed"]
    records = _ledger.read(str(path))
    assert [(r["event"], r.get("tag"), r.get("verdict")) for r in records] == [
        ("deployed", "v1.0.0", "green"), ("validation", "v1.0.0", "red"), ("validation", None, "red")]
    with pytest.raises(ConductorError, match="a validation record needs verdict green or red"):
        _ledger.make_record("prod", "validation", "", "daily-verify")
    refused = run(release_ledger, ledger_args(path, state="append", event="deployed", actor="alice"), monkeypatch)
    assert refused.failed and "needs tag" in refused.result["msg"]


def test_module_fails_on_a_corrupt_ledger(tmp_path, monkeypatch):
    path = tmp_path / "prod.jsonl"
    path.write_text("not json\n")
    out = run(release_ledger, ledger_args(path), monkeypatch)
    assert out.failed and "line 1 is corrupt" in out.result["msg"]


def test_release_tags_module_resolves_prior_healthy_and_unknown_tags(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    for i, name in enumerate(["v1.0.0", "v1.1.0", "v1.2.0"]):
        commit(repo, name, date=f"2026-0{i + 1}-01T00:00:00Z")
        git(repo, "tag", "-a", "-m", name, name, date=f"2026-0{i + 1}-01T00:00:00Z")
    listed = run(release_tags, {"repo": str(repo), "limit": 2}, monkeypatch)
    assert listed.result["count"] == 3 and [t["name"] for t in listed.result["tags"]] == ["v1.2.0", "v1.1.0"]
    prior = run(release_tags, {"repo": str(repo), "prior_healthy": True, "live": "v1.2.0",
                               "healthy": ["v1.0.0", "v1.1.0", "v1.2.0"], "quarantined": ["v1.1.0"]}, monkeypatch)
    assert prior.result["tag"]["name"] == "v1.0.0" and prior.result["tag"]["kind"] == "annotated"
    unknown = run(release_tags, {"repo": str(repo), "tag": "v1.3.0"}, monkeypatch)
    assert unknown.failed and "tag v1.3.0 does not exist" in unknown.result["msg"] and "nearest existing tags: v1." in unknown.result["msg"]
    bad = run(release_tags, {"repo": str(repo), "tag": "$(reboot)"}, monkeypatch)
    assert bad.failed and bad.result["msg"].startswith("tag name '$(reboot)' is invalid")


def test_a_rollback_and_its_quarantine_are_one_write(tmp_path, monkeypatch):
    path = tmp_path / "ledger.jsonl"
    args = {"path": str(path), "environment": "prod", "state": "append", "event": "rollback", "tag": "v1.1.0", "actor": "me",
            "commit": "a" * 40, "verdict": "green", "from_tag": "v1.2.0", "quarantine": "v1.2.0"}
    out = run(release_ledger, args, monkeypatch)
    assert not out.failed and out.result["quarantined"] == ["v1.2.0"] and out.result["live"] == "v1.1.0"
    lines = path.read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["rollback", "quarantine"]
    bad = run(release_ledger, {**args, "state": "quarantined"}, monkeypatch)
    assert bad.failed and "quarantine goes with state=append" in bad.result["msg"]


def test_a_record_whose_tag_is_no_tag_name_is_refused_when_read(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_text(json.dumps({"event": "deployed", "tag": "v1\nserver { listen 1; }", "environment": "prod"}) + "\n")
    with pytest.raises(ConductorError, match="line 1 is corrupt \\(tag name 'v1\\\\nserver"):
        _ledger.read(str(path))


# ---------------------------------------------------------------------------------------------- the AWX job of a record

def test_a_record_written_from_an_awx_job_names_the_job_its_template_and_workflow(tmp_path):
    from ansible_collections.maestro.conductor.plugins.plugin_utils._awx import job_of  # pylint: disable=import-outside-toplevel
    awx_vars = {"awx_job_id": 4321, "awx_job_template_name": "maestro deploy", "awx_workflow_job_id": "4320",
                "awx_workflow_job_name": "maestro release", "awx_user_name": "alice", "awx_job_launch_type": "workflow"}
    job = job_of(awx_vars)
    args = {"path": str(tmp_path / "l.jsonl"), "environment": "prod", "state": "append", "event": "deployed", "tag": "v1.0.0",
            "actor": "awx-job-4321", "job": job}
    done = run_here(_task_ledger.ENTRY, args, check_mode=False, diff=False)
    assert not done.get("failed"), done
    assert _ledger.read(args["path"])[-1]["job"] == {"id": 4321, "template": "maestro deploy", "workflow_id": 4320,
                                                     "workflow": "maestro release", "launched_by": "alice"}
    # tower_* (older AWX) read the same; outside AWX no job at all, and the record has none
    assert job_of({"tower_job_id": 7, "tower_job_template_name": "t"}) == {"id": 7, "template": "t"}
    assert job_of({"awx_job_template_name": "no id"}) == {}
    plain = run_here(_task_ledger.ENTRY, {**args, "job": None, "tag": "v1.0.1"}, check_mode=False, diff=False)
    assert not plain.get("failed") and "job" not in _ledger.read(args["path"])[-1]


@pytest.mark.parametrize("job, message", [
    ({"template": "x"}, "needs its id"),
    ({"id": "12; rm -rf /"}, "positive whole number"),
    ({"id": 0}, "positive whole number"),
    ({"id": True}, "positive whole number"),
    ({"id": 3, "cmd": "x"}, "unknown fields"),
    ({"id": 2 ** 63}, "positive whole number"),
    ({"id": "\u00b2"}, "positive whole number"),
    ({"id": 4, "template": "a\u2028b\x1b[31m"}, "no control characters"),
    ({"id": 4, "workflow": "w" * 513}, "at most 512"),
    ("42", "must be a mapping"),
])
def test_a_malformed_job_is_refused_naming_the_field(job, message):
    with pytest.raises(ConductorError, match=message):
        _ledger.validate_job(job)


def test_a_run_the_job_starts_itself_gets_the_jobs_variables_back():
    from ansible_collections.maestro.conductor.plugins.module_utils import _incident  # pylint: disable=import-outside-toplevel
    from ansible_collections.maestro.conductor.plugins.plugin_utils._awx import job_of  # pylint: disable=import-outside-toplevel
    job = {"id": 88, "template": "maestro incident", "schedule_id": 3, "schedule": "nightly", "launched_by": "bob"}
    argv = _incident.rollback_argv("ansible-playbook", ["inv.yml"], "rollback.yml", "v1.1.0", "demo-20261129T010203Z-ab12", job=job)
    extra = json.loads(argv[argv.index("-e") + 1])
    assert extra["release_switch_actor"] == "incident/demo-20261129T010203Z-ab12" and job_of(extra) == job
    plain = _incident.rollback_argv("ansible-playbook", [], "rollback.yml", "v1.1.0", "demo-20261129T010203Z-ab12")
    assert not [k for k in json.loads(plain[plain.index("-e") + 1]) if k.startswith("awx_")]
    with pytest.raises(ConductorError, match="positive whole number"):
        _incident.rollback_argv("ansible-playbook", [], "rollback.yml", "v1.1.0", "demo-20261129T010203Z-ab12", job={"id": "1 -e x"})
