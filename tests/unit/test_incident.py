"""The incident's decisions (plugins/module_utils/_incident.py), its ledger records, the freeze and the evidence archive."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _archive, _incident, _ledger, _switch_plan
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError

C1, C2 = "1" * 40, "2" * 40
NOW = datetime.datetime(2026, 11, 27, 16, 25, 1, tzinfo=datetime.timezone.utc)  # a Friday


def history(env: str = "prod") -> list[dict]:
    return [_ledger.make_record(env, "deployed", "v1.1.0", "alice", commit=C1, verdict="green"),
            _ledger.make_record(env, "deployed", "v1.2.0", "alice", commit=C2, verdict="green")]


def user(reason: str = "checkout answers 500", **kw) -> _incident.Request:
    return _incident.Request(environment="prod", reason=reason, actor="bob", **kw)


def alert(name: str = "MaestroVerificationFailed") -> _incident.Request:
    return _incident.Request(environment="prod", reason="", actor="alert", source="alert",
                             alert={"name": name, "fingerprint": "abc", "labels": {"environment": "prod"}})


def opened(records: list[dict], request: _incident.Request, target=None) -> tuple[list[dict], _incident.OpenPlan]:
    plan = _incident.plan_open(records, request, target or _incident.Target("v1.1.0", C1), NOW, live_commit=C2)
    return records + plan.records, plan


def test_a_new_incident_freezes_deploys_and_plans_the_rollback_to_the_target():
    records, plan = opened(history(), user())
    assert plan.action == "open" and plan.rollback and plan.incident.startswith("prod-20261127T162501Z-")
    assert [r["event"] for r in plan.records] == ["incident_opened", "freeze"]
    state = _ledger.state(records, "prod")
    assert state.open_incidents == [plan.incident] and state.frozen == {plan.incident: "checkout answers 500"}
    data = plan.records[0]["data"]
    assert data["from"] == {"tag": "v1.2.0", "commit": C2} and data["to"] == {"tag": "v1.1.0", "commit": C1}
    assert data["source"] == {"kind": "user", "user": "bob"}


def test_a_deploy_is_refused_while_frozen_naming_the_incident_and_a_rollback_is_not():
    records, plan = opened(history(), user())
    summary = _ledger.summary(_ledger.state(records, "prod"))
    refusal = _switch_plan.freeze_refusal("deploy", summary)
    assert plan.incident in refusal and "checkout answers 500" in refusal and "make unfreeze" in refusal
    assert _switch_plan.freeze_refusal("rollback", summary) == ""
    with pytest.raises(ConductorError, match=plan.incident):
        _switch_plan.plan_switch("deploy", "prod", "v1.3.0", {"ok": True, "tag": "v1.3.0", "commit": C1}, summary,
                                 [{"name": "p", "observation": {}}], [{"name": "a", "endpoints": {"blue": "x:1", "green": "x:2"}}])


def test_an_alert_joins_the_open_incident_and_a_human_second_one_is_refused_unless_asked():
    records, first = opened(history(), user())
    unused, joined = opened(records, alert())
    assert joined.action == "join" and joined.incident == first.incident and not joined.records and not joined.rollback
    unused, refused = opened(records, user("another thing"))
    assert refused.action == "refuse" and first.incident in refused.message and "NEW=true" in refused.message
    unused, second = opened(records, user("another thing", allow_second=True))
    assert second.action == "open" and second.incident != first.incident


def test_an_alert_opens_nothing_while_a_human_froze_the_environment_even_after_close():
    records, first = opened(history(), user())
    records.append(_ledger.make_incident_record("prod", "incident_closed", first.incident, "bob"))
    unused, plan = opened(records, alert())
    assert plan.action == "join" and "a human opened" in plan.message
    records.append(_ledger.make_incident_record("prod", "unfreeze", first.incident, "bob", data={"override": False, "reason": ""}))
    unused, plan = opened(records, alert())
    assert plan.action == "open" and plan.rollback


@pytest.mark.parametrize("target, why", [
    (_incident.Target(problem="no tag older than the live v1.2.0 has a green verdict"), "no release to roll back to: no tag older"),
    (_incident.Target(), "none found"),
    (_incident.Target("v1.2.0", C2), "is what is live already"),
    (_incident.Target("v1.2.1", C2), "is the live release's commit"),
])
def test_no_rollback_without_a_target_or_to_what_is_live_but_the_incident_opens_and_freezes(target, why):
    records, plan = opened(history(), user(), target)
    assert plan.action == "open" and not plan.rollback and why in plan.why_no_rollback
    assert plan.records[0]["data"]["to"] == {}
    assert _ledger.state(records, "prod").frozen


def test_alert_requests_are_checked_and_kept_as_text():
    with pytest.raises(ConductorError, match="alert, with its name"):
        _incident.Request(environment="prod", reason="x", actor="alert", source="alert", alert={})
    with pytest.raises(ConductorError, match="reason is required"):
        _incident.Request(environment="prod", reason="  ", actor="bob")
    with pytest.raises(ConductorError, match="severity"):
        user(severity="sev1")
    request = _incident.Request(environment="prod", reason="bad\x1b[31m\r\nthing", actor="alert", source="alert",
                                alert={"name": "X", "labels": {"a": 1}, "unknown": "dropped"})
    assert request.reason == "bad [31m \nthing" and request.alert == {"name": "X", "labels": {"a": "1"}}


def test_the_incident_records_are_validated_in_the_ledger(tmp_path):
    path = str(tmp_path / "ledger.jsonl")
    records, plan = opened(history(), user())
    _ledger.append(path, *records)
    assert _ledger.read(path)[-1]["event"] == "freeze"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"v": 1, "time": "x", "environment": "prod", "event": "freeze", "incident": "../../etc", "actor": "x"}) + "\n")
    with pytest.raises(ConductorError, match="incident id"):
        _ledger.read(path)
    with pytest.raises(ConductorError, match="incident ledger event"):
        _ledger.make_incident_record("prod", "deployed", plan.incident, "bob")
    with pytest.raises(ConductorError, match="at most"):
        _ledger.make_incident_record("prod", "incident_notified", plan.incident, "bob", data={"x": "y" * 20000})


def test_the_guard_refuses_an_open_that_another_run_beat(tmp_path):
    path = str(tmp_path / "ledger.jsonl")
    _ledger.append(path, *history())
    unused, first = opened(history(), user())
    unused, second = opened(history(), alert())
    _ledger.append(path, *first.records)

    def guard(now_records):
        if _ledger.state(now_records, "prod").open_incidents:
            raise ConductorError("opened meanwhile")

    with pytest.raises(ConductorError, match="meanwhile"):
        _ledger.append(path, *second.records, guard=guard)
    assert _ledger.state(_ledger.read(path), "prod").open_incidents == [first.incident]


def test_each_phase_event_has_the_same_dedup_key_and_names_from_and_to():
    records, plan = opened(history(), user())
    records.append(_ledger.make_record("prod", "rollback", "v1.1.0", f"incident/{plan.incident}", commit=C1, verdict="green",
                                       from_tag="v1.2.0"))
    events = [_incident.event(records, plan.incident, phase, NOW, archive={"digest": "sha256:ab", "location": "/x"})
              for phase in ("opened", "rollback_started", "rolled_back", "resolved")]
    assert {e["dedup_key"] for e in events} == {f"maestro/prod/{plan.incident}"}
    assert len({e["event_id"] for e in events}) == 4
    assert events[2]["to"] == {"tag": "v1.1.0", "commit": C1} and events[2]["from"] == {"tag": "v1.2.0", "commit": C2}
    assert events[0]["reason"]["text"] == "checkout answers 500" and events[0]["source"] == "user:bob"
    assert events[3]["severity"] == "info" and events[0]["time"] == "2026-11-27T16:25:01.000Z"
    failed = _incident.event(records, plan.incident, "rollback_failed", NOW, failed_step="Stage the release (app1): unhealthy")
    assert "FAILED at Stage the release" in failed["summary"]


def test_escalation_levels_are_due_once_each_until_acknowledged():
    levels = _incident.escalation_levels([{"sinks": ["slack"]}, {"sinks": ["pagerduty"], "after_minutes": 10, "contacts": ["on-call"]},
                                          {"sinks": ["email"], "after_minutes": 30}])
    records, plan = opened(history(), user())
    start = _ledger.parse_time(plan.records[0]["time"])
    later = start + datetime.timedelta(minutes=12)
    due = _incident.escalations_due(records, "prod", levels, later)
    assert [(d["level"], d["to"]) for d in due] == [(1, ["on-call"])]
    # an attempt that reached nobody leaves the level due; one a sink took does not
    records.append(_ledger.make_incident_record("prod", "incident_escalated", plan.incident, "x", data={
        "level": 1, "to": ["on-call"], "sinks": [{"sink": "pagerduty", "ok": False, "error": "refused"}]}))
    assert [d["level"] for d in _incident.escalations_due(records, "prod", levels, later)] == [1]
    records.append(_ledger.make_incident_record("prod", "incident_escalated", plan.incident, "x", data={
        "level": 1, "to": ["on-call"], "sinks": [{"sink": "pagerduty", "ok": True, "error": ""}]}))
    assert _incident.escalations_due(records, "prod", levels, later) == []
    assert [d["level"] for d in _incident.escalations_due(records, "prod", levels, start + datetime.timedelta(minutes=31))] == [2]
    records.append(_ledger.make_incident_record("prod", "incident_acknowledged", plan.incident, "bob"))
    assert _incident.escalations_due(records, "prod", levels, start + datetime.timedelta(minutes=31)) == []


@pytest.mark.parametrize("path, message", [
    ({"sinks": ["x"]}, "must be a list"),
    ([{"sinks": []}], "non-empty list"),
    ([{"sinks": ["a"]}, {"sinks": ["b"]}], "after_minutes must be a number"),
    ([{"sinks": ["a"]}, {"sinks": ["b"], "after_minutes": 0}], "must be later"),
    ([{"sinks": ["a"], "pager": 1}], "unknown keys"),
])
def test_a_bad_escalation_path_is_named(path, message):
    with pytest.raises(ConductorError, match=message):
        _incident.escalation_levels(path)


def test_the_freeze_stays_until_the_action_items_are_filled_in_or_an_override_is_given():
    records, plan = opened(history(), user())

    def problems(postmortem: dict) -> list[str]:
        return [] if postmortem.get("ok") else ["action item 1: owner is empty"]

    assert "does not exist yet" in _incident.unfreeze_problems(records, plan.incident, None, False, "", problems)[0]
    assert _incident.unfreeze_problems(records, plan.incident, {}, False, "", problems) == ["action item 1: owner is empty"]
    assert _incident.unfreeze_problems(records, plan.incident, {"ok": True}, False, "", problems) == []
    assert "needs its reason" in _incident.unfreeze_problems(records, plan.incident, None, True, " ", problems)[0]
    # a freeze with no incident behind it (a line written by hand) is lifted only by an override
    with pytest.raises(ConductorError, match="not in this environment's ledger"):
        _incident.unfreeze_problems(records, "prod-20261127T000000Z-dead", {"ok": True}, False, "", problems)
    assert _incident.unfreeze_problems(records, "prod-20261127T000000Z-dead", None, True, "stray freeze", problems) == []
    assert _incident.unfreeze_problems(records, plan.incident, None, True, "customer deadline", problems) == []


def test_the_rollback_verdict_needs_the_run_the_record_and_every_proxy():
    records, plan = opened(history(), user())
    good_record = _ledger.make_record("prod", "rollback", "v1.1.0", f"incident/{plan.incident}", commit=C1, verdict="green")
    ok_run, proxy = {"rc": 0, "stdout": "{}"}, {"item": "p1", "observation": {"serving_commit": C1, "config_exact": True}}
    assert _incident.rollback_verdict(ok_run, [proxy], records + [good_record], plan.incident)["phase"] == "rolled_back"
    lying = {"item": "p1", "observation": {"serving_commit": C2, "config_exact": True}}
    verdict = _incident.rollback_verdict(ok_run, [lying], records + [good_record], plan.incident)
    assert verdict["phase"] == "rollback_failed" and "p1 serves commit " + C2 in verdict["failed_step"]
    unloaded = {"item": "p1", "observation": {"serving_commit": C1, "config_exact": True, "config_loaded": False}}
    assert "not the one it loaded" in _incident.rollback_verdict(ok_run, [unloaded], records + [good_record], plan.incident)["failed_step"]
    assert "without its green rollback record" in _incident.rollback_verdict(ok_run, [proxy], records, plan.incident)["failed_step"]
    output = json.dumps({"plays": [{"tasks": [{"task": {"name": "Stage the release"}, "hosts": {"app1": {"failed": True, "msg": "unhealthy"}}}]}]})
    failed = _incident.rollback_verdict({"rc": 2, "stdout": "warning\n" + output}, [], records, plan.incident)
    assert failed["failed_step"] == "Stage the release (app1): unhealthy"


def test_the_rollback_command_is_an_argument_list_with_validated_values():
    argv = _incident.rollback_argv("/venv/bin/ansible-playbook", ["/inv/hosts.yml"], "/c/playbooks/rollback.yml", "v1.1.0",
                                   "prod-20261127T162501Z-ab12")
    assert argv[:3] == ["/venv/bin/ansible-playbook", "-i", "/inv/hosts.yml"]
    assert json.loads(argv[-1]) == {"tag": "v1.1.0", "release_switch_actor": "incident/prod-20261127T162501Z-ab12"}
    with pytest.raises(ConductorError, match="tag name"):
        _incident.rollback_argv("ap", [], "rb.yml", "v1; rm -rf /", "prod-20261127T162501Z-ab12")


def test_the_summary_says_first_when_nobody_was_notified():
    failed = [{"phase": "opened", "configured": 2, "all_failed": True, "sinks": [{"sink": "slack", "ok": False, "error": "refused"}]}]
    lines = _incident.summary_lines("i", {"message": "m", "rollback": True}, {"ok": True, "to": {"tag": "v1", "commit": C1}}, failed, {}, {})
    assert lines[0].startswith("NOBODY WAS NOTIFIED: every sink failed") and "slack: refused" in lines[0]
    assert _incident.summary_lines("i", {"message": "m"}, {}, [], {}, {})[0].startswith("NOBODY WAS NOTIFIED: no notification sink")


def test_the_archive_copies_hashes_and_is_written_once(tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    (release / "image.tar").write_bytes(os.urandom(3 << 20))
    (release / "manifest.yaml").write_text("tag: v1\n")
    os.symlink("/etc/passwd", release / "link")
    where = str(tmp_path / "incidents" / "i" / "evidence")
    files = [{"src": str(release / name), "dest": f"release/{name}"} for name in ("image.tar", "manifest.yaml", "link", "missing")]
    archive = _archive.build(where, files, [{"dest": "verification.json", "content": "{}"}])
    assert archive.created and [f["path"] for f in archive.files] == ["release/image.tar", "release/manifest.yaml", "verification.json"]
    assert len(archive.skipped) == 2 and all("not archived" in s or "could not" in s for s in archive.skipped)
    assert (release / "image.tar").exists()  # copied, never moved
    assert archive.files[0]["sha256"] == hashlib.sha256((release / "image.tar").read_bytes()).hexdigest()
    assert subprocess.run(["sha256sum", "--strict", "-c", _archive.SUMS], cwd=where, capture_output=True, check=False).returncode == 0
    assert _archive.verify(where, archive.digest) == []
    again = _archive.build(where, files[:1], [])
    assert not again.created and again.digest == archive.digest
    os.chmod(os.path.join(where, "verification.json"), 0o640)
    with open(os.path.join(where, "verification.json"), "w", encoding="utf-8") as handle:
        handle.write('{"ok": true}')
    assert any("verification.json: sha256 is" in p for p in _archive.verify(where, archive.digest))
    assert any("digest is" in p for p in _archive.verify(where, "sha256:" + "0" * 64))


def test_the_archive_refuses_bad_names_and_a_foreign_directory(tmp_path):
    with pytest.raises(ConductorError, match="invalid"):
        _archive.build(str(tmp_path / "a"), [], [{"dest": "../escape", "content": "x"}])
    with pytest.raises(ConductorError, match="named twice"):
        _archive.build(str(tmp_path / "a"), [], [{"dest": "x", "content": "1"}, {"dest": "x", "content": "2"}])
    (tmp_path / "b").mkdir()
    with pytest.raises(ConductorError, match="holds no SHA256SUMS"):
        _archive.build(str(tmp_path / "b"), [], [{"dest": "x", "content": "1"}])
    assert _archive.build(str(tmp_path / "c"), [], [{"dest": "x", "content": "1"}], check_mode=True).files[0]["path"] == "x"
    assert not (tmp_path / "c").exists()


def test_while_frozen_a_rollback_goes_only_to_a_healthy_release():
    records, plan = opened(history(), user())
    records.append(_ledger.make_record("prod", "rollback", "v1.1.0", f"incident/{plan.incident}", commit=C1, verdict="green",
                                       from_tag="v1.2.0"))
    records.append(_ledger.make_record("prod", "quarantine", "v1.2.0", f"incident/{plan.incident}"))
    summary = _ledger.summary(_ledger.state(records, "prod"))
    for tag in ("v1.2.0", "v9.0.0"):  # the quarantined bad release, a newer one never verified green
        refusal = _switch_plan.freeze_refusal("rollback", summary, tag)
        assert f"{tag} has no green verdict" in refusal and plan.incident in refusal
    assert _switch_plan.freeze_refusal("rollback", summary, "v1.1.0") == ""  # what is live, and healthy
    assert _switch_plan.freeze_refusal("rollback", summary, "") == ""  # the prior healthy tag
    assert _switch_plan.freeze_refusal("rollback", {**summary, "frozen": []}, "v9.0.0") == ""


def test_the_target_is_the_tag_asked_for_or_what_the_prior_healthy_lookup_found():
    assert _incident.target_from({"skipped": True}, "v1.1.0") == _incident.Target("v1.1.0")
    found = {"tag": {"name": "v1.1.0", "commit": C1}}
    assert _incident.target_from(found) == _incident.Target("v1.1.0", C1)
    failed = {"failed": True, "msg": "no tag older than the live v1.2.0 has a green verdict"}
    assert _incident.target_from(failed).problem == failed["msg"]
    assert _incident.target_from(None).problem and _incident.target_from({}).problem
    with pytest.raises(ConductorError, match="tag name"):
        _incident.target_from(found, "v1;rm")
