"""Every job template of awx/controller/ launched as AWX launches it, and the release workflow run node by node, on a demo of
its own (tests/integration/awx_jobs.py says how, without AWX: it cannot run here). Each job must end as its template says,
hand its outcome on in the runner's final event, and leave its AWX job id and template name in the ledger."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger, _metrics
from tests.integration.awx_jobs import Controller, Job, LaunchRefused
from tests.integration.demo_env import ROOT, Env, make_demo, out, tear_down

TIMES = ROOT / ".cache" / "awx-launch-times.json"  # each launch, timed from outside and by its events: docs/benchmarks.md


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    env = make_demo(Env(tmp_path_factory.mktemp("iawx"), "iawx"))
    try:
        assert env.demo_run.returncode == 0, out(env.demo_run)[-3000:]
        yield env
    finally:
        tear_down(env)


@pytest.fixture(scope="module")
def awx(demo, tmp_path_factory):
    # the inventory's variables (in AWX, the inventory's or a credential's): this demo's directory, ports and proxy
    return Controller(tmp_path_factory.mktemp("awx-jobs"), {k: v for k, v in demo.env().items() if k.startswith("DEMO_")})


def ledger_jobs(demo: Env, job: Job) -> list[dict]:
    return [r for r in demo.ledger() if (r.get("job") or {}).get("id") == job.id]


def nodes(ran: list) -> list[str]:
    return [ident for ident, job in ran]


def assert_green(job: Job, *keys: str) -> None:
    assert job.status == "successful", job.text[-3000:]
    missing = [k for k in keys if k not in job.artifacts]
    assert not missing, f"{job.template}: no {missing} in its artifacts {job.artifacts}"


def test_a_launch_without_a_required_answer_is_refused_as_awx_refuses_it(awx):
    with pytest.raises(LaunchRefused, match="'tag' is required"):
        awx.launch("maestro verify release")
    with pytest.raises(LaunchRefused, match="not a choice"):
        awx.launch("maestro deploy", {"tag": "v1.0.0", "release_switch_force": "yes"})


def test_verify_templates_hand_the_verdict_on(demo, awx):
    job = awx.launch("maestro verify release", {"tag": "v1.1.0"})
    assert_green(job, "verify_release_ok", "verify_release_commit")
    assert job.artifacts["verify_release_ok"] is True and job.artifacts["verify_release_commit"] == demo.commit("v1.1.0")
    strict = awx.launch("maestro verify release strictly", {"tag": "v1.1.0", "expected_commit": demo.commit("v1.0.0")})
    assert strict.status == "failed" and strict.artifacts["verify_release_ok"] is False
    assert "v1.1.0" in strict.text and demo.commit("v1.0.0") in strict.text


def test_the_deploy_template_moves_traffic_and_records_the_awx_job_a_rollback_with_nowhere_to_go_is_red(demo, awx):
    job = awx.launch("maestro deploy", {"tag": "v1.0.0"})
    assert_green(job, "switch_tag", "switch_commit", "switch_ok")
    assert demo.served() == demo.commit("v1.0.0") and job.artifacts["switch_tag"] == "v1.0.0" and job.artifacts["switch_ok"] is True
    assert job.artifacts["switch_colour"] in ("blue", "green") and job.artifacts["switch_time_to_green"] > 0
    records = ledger_jobs(demo, job)
    assert records and {r["job"]["template"] for r in records} == {"maestro deploy"}
    # the survey's default (no tag: the prior healthy one) is red here, with its reason, and nothing moves
    nowhere = awx.launch("maestro rollback")
    assert nowhere.status == "failed" and "no tag older than the live v1.0.0 has a green verdict" in nowhere.text
    assert nowhere.artifacts["switch_ok"] is False and demo.served() == demo.commit("v1.0.0")
    assert nowhere.artifacts["switch_failed_step"] and nowhere.artifacts["switch_colour"] == ""


def test_the_release_workflow_puts_a_verified_release_live_handing_each_outcome_to_the_next_node(demo, awx):
    status, ran = awx.run_workflow("maestro release", {"tag": "v1.1.0"})
    assert status == "successful", [(ident, job and job.text[job.text.find("FAIL") - 200:][:3000]) for ident, job in ran]
    assert nodes(ran) == ["verify", "approve", "deploy", "watch"]
    verify, deploy, watch = ran[0][1], ran[2][1], ran[3][1]
    assert verify.extra_vars["strict"] is True and verify.artifacts["verify_release_ok"] is True
    # AWX's artifact passing: the deploy saw the verification's verdict, the watch both
    assert deploy.extra_vars["verify_release_ok"] is True and deploy.extra_vars["verify_release_commit"] == demo.commit("v1.1.0")
    assert watch.extra_vars["switch_tag"] == "v1.1.0" and watch.artifacts["watch_ok"] is True
    assert demo.served() == demo.commit("v1.1.0")
    record = ledger_jobs(demo, deploy)[-1]
    assert record["event"] == "deployed" and record["tag"] == "v1.1.0"
    assert record["job"] == {"id": deploy.id, "template": "maestro deploy", "workflow_id": deploy.extra_vars["awx_workflow_job_id"],
                             "workflow": "maestro release", "launched_by": "admin"}


def test_a_denied_approval_or_a_failed_verification_puts_nothing_live(demo, awx):
    live = demo.served()
    status, ran = awx.run_workflow("maestro release", {"tag": "v1.0.0"}, approve=False)
    assert status == "failed" and nodes(ran) == ["verify", "approve"] and demo.served() == live
    sbom = demo.root / "releases" / "v1.0.0" / "sbom.spdx.json"
    signed = sbom.read_bytes()
    sbom.write_bytes(signed.replace(b"SPDX", b"SPDx", 1))
    try:
        status, ran = awx.run_workflow("maestro release", {"tag": "v1.0.0"})
    finally:
        sbom.write_bytes(signed)
    assert status == "failed" and nodes(ran) == ["verify"] and demo.served() == live
    assert ran[0][1].artifacts["verify_release_ok"] is False
    assert ran[0][1].artifacts["verify_release_failed_checks"] and "sbom.spdx.json" in ran[0][1].text


def test_a_release_the_watch_finds_red_after_the_deploy_starts_the_incident_which_rolls_back(demo, awx):
    """The failure branch: v1.2.0 verified and deployed, then its files on the release store tampered with (the demo's
    intruder, demo/tamper.yml) before the watch: the watch is red, and the incident node rolls back to the last green."""
    def intrude(node: str) -> None:
        if node == "watch":
            done = demo.playbook("demo/tamper.yml", "-e", "demo_tamper=edit")
            assert done.returncode == 0, out(done)[-2000:]

    try:
        status, ran = awx.run_workflow("maestro release", {"tag": "v1.2.0"}, before=intrude)
    finally:
        demo.playbook("demo/tamper.yml", "-e", "demo_tamper=undo")
    assert nodes(ran) == ["verify", "approve", "deploy", "watch", "incident"], [job and job.text[-1500:] for ident, job in ran]
    watch, incident = ran[3][1], ran[4][1]
    # a failure a link handles is no failed workflow; the watch handed its red verdict on to the incident, which rolled back
    assert status == "successful" and watch.status == "failed" and watch.artifacts["watch_ok"] is False
    assert incident.extra_vars["watch_ok"] is False and incident.extra_vars["watch_findings"]
    assert incident.status == "successful", incident.text[-3000:]
    assert incident.artifacts["maestro_incident_phase"] == "rolled_back" and demo.served() != demo.commit("v1.2.0")
    incident_id = incident.artifacts["maestro_incident"]
    opened = [r for r in ledger_jobs(demo, incident) if r["event"] == "incident_opened"]
    assert opened and opened[0]["incident"] == incident_id and opened[0]["job"]["workflow"] == "maestro release"
    # the rollback the incident ran in a run of its own names the same AWX job
    rolled = [r for r in demo.ledger() if r["event"] == "rollback" and r["actor"] == f"incident/{incident_id}"]
    assert rolled and rolled[-1]["job"]["id"] == incident.id and rolled[-1]["job"]["template"] == "maestro incident"
    evidence = json.loads((demo.root / "incidents" / incident_id / "evidence" / "incident.json").read_text())
    assert any((r.get("job") or {}).get("id") == incident.id for r in evidence.get("records", [])), evidence
    # the incident's own templates close it and lift the freeze
    for name, answers in (("maestro incident acknowledge", {}), ("maestro incident close", {}),
                          ("maestro unfreeze", {"incident_override": "true", "incident_override_reason": "the test goes on"})):
        job = awx.launch(name, {"incident_id": incident_id, **answers})
        assert job.status == "successful", f"{name}: {job.text[-2000:]}"
    assert [r["event"] for r in demo.ledger() if r.get("incident") == incident_id][-1] == "unfreeze"


def test_protecting_tags_reads_the_token_its_credential_injects_and_never_shows_it(awx):
    """GitHub cannot be reached from here: tests/hosted_api.py stands in for its rulesets API."""
    from tests.hosted_api import ADMIN, HostedApi  # pylint: disable=import-outside-toplevel
    github = HostedApi()
    try:
        job = awx.launch("maestro protect tags", {"backend": "github", "project": "acme/app", "api_url": github.url},
                         credentials={"MAESTRO_TAG_PROTECTION_TOKEN": ADMIN})
    finally:
        github.stop()
    assert_green(job, "tag_protection_ok")
    assert job.artifacts["tag_protection_ok"] is True and github.rulesets and ADMIN not in job.stdout
    assert f"Bearer {ADMIN}" in github.credentials


def test_the_other_templates_end_as_their_templates_say(demo, awx):
    """Every template not launched above or in the workflow test: green on the demo, or red with its reason."""
    checks = {
        "maestro restore drill": ("successful", "drill_ok", ""),
        "maestro check drift": ("successful", "drift_ok", ""),
        "maestro watch": ("successful", "watch_ok", ""),
        "maestro daily verification": ("successful", "daily_verify_ok", ""),
        "maestro weekly validation": ("successful", "weekly_validation_ok", ""),
        "maestro retention": ("successful", "retention_ok", ""),
        # the demo has one app host: taking it out of rotation would leave nothing serving
        "maestro security updates": ("failed", "security_updates_ok", "needs another to serve meanwhile"),
        "maestro unlock": ("successful", "", ""),
        "maestro incident escalate": ("successful", "", ""),
        "maestro prune releases": ("successful", "prune_releases_ok", ""),
    }
    for name, (status, key, reason) in checks.items():
        job = awx.launch(name)
        assert job.status == status, f"{name}: {job.text[-3000:]}"
        # the outcome handed on says what the job's status says
        assert not key or job.artifacts.get(key) is (status == "successful"), f"{name}: {key} in {job.artifacts}"
        assert reason in job.text, f"{name}: {job.text[-2000:]}"


def test_a_procedure_that_breaks_before_its_verdict_still_hands_a_red_outcome_on(demo, awx):
    """An error of the procedure itself (here a corrupt line in the ledger it reads first), not a red check: the job fails
    and its next node still reads red, never nothing."""
    ledger = demo.root / "ledger" / f"{demo.environment}.jsonl"
    kept = ledger.read_bytes()
    ledger.write_bytes(b"{not a record\n" + kept)
    try:
        jobs = {name: awx.launch(name) for name in ("maestro watch", "maestro daily verification", "maestro weekly validation",
                                                    "maestro retention")}
    finally:
        ledger.write_bytes(kept)
    for (name, job), key in zip(jobs.items(), ("watch", "daily_verify", "weekly_validation", "retention")):
        assert job.status == "failed" and "is corrupt" in job.text, f"{name}: {job.text[-2000:]}"
        assert job.artifacts.get(f"{key}_ok") is False, f"{name}: {job.artifacts}"
    for name, key in (("maestro watch", "watch_findings"), ("maestro daily verification", "daily_verify_findings")):
        assert "stopped before its verdict" in " ".join(jobs[name].artifacts[key]), jobs[name].artifacts


def test_after_the_window_a_watch_is_due_daily_while_green_and_every_run_while_red(demo, awx, tmp_path):
    """After the post-GA window the watch template (watch_due_only) runs once a day while the last watch was green; a run
    that is not due watched nothing, ends green and hands the green verdict on, saying so. A red last watch is due at every
    run. The demo's record, a month older (its times moved back; the ledger path and the metrics directory, which AWX would
    take from the inventory, are given here as extra variables)."""
    older, metrics = tmp_path / "ledger.jsonl", tmp_path / "metrics"
    month = datetime.timedelta(days=30)
    older.write_text("".join(json.dumps({**r, "time": _ledger.iso(_ledger.parse_time(r["time"]) - month)}) + "\n" for r in demo.ledger()))
    metrics.mkdir()
    where = {"watch_ledger": str(older), "watch_textfile_dir": str(metrics)}
    first = awx.launch("maestro watch", node_vars=where)
    # due: no earlier run on record; it watches (green or red, as the demo stands when it runs) and writes its metrics
    assert "no earlier run is on record" in first.text and "Write the metrics" in first.text, first.text[-2000:]
    assert first.artifacts["watch_ok"] is (first.status == "successful") and first.artifacts["watch_live"] != ""
    textfile = Path(_metrics.textfile_path(str(metrics), "watch", demo.environment))
    written = textfile.read_text()

    def last_watch(ok: int) -> str:  # the last run's verdict as its textfile says it; the time of the run is kept
        text, count = re.subn(r"^(maestro_watch_ok\{[^}]*\}) [01]$", rf"\g<1> {ok}", written, flags=re.M)
        assert count == 1, written
        textfile.write_text(text)
        return text

    green = last_watch(1)
    quiet = awx.launch("maestro watch", node_vars=where)
    assert_green(quiet, "watch_ok")
    assert quiet.artifacts["watch_ok"] is True and quiet.artifacts["watch_live"] == first.artifacts["watch_live"]
    assert "the last run, green, was" in " ".join(quiet.artifacts["watch_findings"]) and "Write the metrics" not in quiet.text
    assert textfile.read_text() == green  # untouched: no metrics written by a run that watched nothing
    last_watch(0)
    again = awx.launch("maestro watch", node_vars=where)
    assert "the last watch was red" in again.text and "Write the metrics" in again.text, again.text[-2000:]
    assert again.artifacts["watch_ok"] is (again.status == "successful")
    assert "not due" not in " ".join(again.artifacts["watch_findings"])


def test_the_rollback_template_goes_to_the_prior_healthy_release_and_every_template_was_launched(demo, awx, tmp_path):
    live = demo.served()
    back = awx.launch("maestro rollback")
    assert_green(back, "switch_tag", "switch_from_tag")
    assert live == demo.commit("v1.1.0") and demo.served() == demo.commit("v1.0.0")
    assert (back.artifacts["switch_tag"], back.artifacts["switch_from_tag"], back.artifacts["switch_ok"]) == ("v1.0.0", "v1.1.0", True)
    launched = {job.template for job in awx.jobs}
    assert launched == set(awx.templates), f"never launched: {set(awx.templates) - launched}"
    # the peer of every launch time: a playbook that does nothing, launched the same way in the same run
    noop = tmp_path / "noop.yml"
    noop.write_text("- name: Nothing\n  hosts: localhost\n  gather_facts: false\n  tasks: []\n")
    awx.templates["(peer) a playbook that does nothing"] = {"name": "(peer) a playbook that does nothing", "playbook": str(noop)}
    assert awx.launch("(peer) a playbook that does nothing").status == "successful"
    TIMES.parent.mkdir(exist_ok=True)
    TIMES.write_text(json.dumps([{"template": j.template, "status": j.status, "seconds": round(j.seconds, 2),
                                  "playbook_seconds": round(j.playbook_seconds, 2)} for j in awx.jobs], indent=1))
