"""Incident response by hand, end to end, on the demo: `make demo` in its own directory and ports, the broken v1.2.0 put
live again, then playbooks/incident.yml (as make incident runs it). Then the same procedure from an alert, with no human,
on the same demo (tests/integration/alert_path.py): the release tampered on the release store, the watch red, the
verification alerts firing in a real Prometheus, a real Alertmanager posting them (again and again: repeat_interval 2 s)
to a real ansible-rulebook running the collection's rulebook and event source, the incident procedure rolling back to the
last green release.

The notification sinks are real clients against stand-ins: the webhook, Slack, Mattermost and PagerDuty endpoints are a
local server implementing those services' documented requests and answers (tests/notify_api.py: the hosted services
cannot be reached from here), and mail goes to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import ansible_runner
import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _archive
from tests.integration.alert_path import AlertPath
from tests.integration.demo_env import ROOT, Env, make_demo, out, tear_down
from tests.notify_api import PAGERDUTY_KEY, SLACK_PATH, WEBHOOK_TOKEN, stand_ins
from tests.servers import wait_for

NOTIFY_BASE_PORT = 19410  # 19410-19414: this module's stand-ins and SMTP server
ALERT_BASE_PORT = 19520  # 19520-19529: Prometheus, Pushgateway, Alertmanager, node_exporter, relay, rulebook, stand-ins
INCIDENT_ALERTS = ("MaestroVerificationFailed", "MaestroServingUnproven")  # what a tampered live release fires


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    env = make_demo(Env(tmp_path_factory.mktemp("iincident"), "iincident"))
    with stand_ins(NOTIFY_BASE_PORT) as (api, smtp):
        env.api, env.smtp = api, smtp
        try:
            assert env.demo_run.returncode == 0, out(env.demo_run)[-3000:]
            yield env
        finally:
            tear_down(env)


def incident(env: Env, sinks: dict | None = None, **variables) -> subprocess.CompletedProcess:
    extra = {"incident_reason": "checkout answers 500", "incident_expected": "200 from /checkout",
             "incident_seen": "500 on 38% of requests", **variables}
    if sinks is not None:
        extra["maestro_incident_sinks"] = sinks
    return env.playbook("playbooks/incident.yml", "-e", json.dumps(extra))


def manage(env: Env, playbook: str, incident_id: str, **variables) -> subprocess.CompletedProcess:
    return env.playbook(f"playbooks/{playbook}.yml", "-e", json.dumps({"incident_id": incident_id, **variables}))


def deploy(env: Env, tag: str, **variables) -> subprocess.CompletedProcess:
    return env.playbook("playbooks/deploy.yml", "-e", json.dumps({"tag": tag, **variables}))


def opened(env: Env) -> list[dict]:
    return [r for r in env.ledger() if r["event"] == "incident_opened"]


def finish(env: Env, incident_id: str) -> None:
    """Close the incident and lift its freeze (an override, recorded), so that the next test starts unfrozen."""
    assert manage(env, "incident_close", incident_id).returncode == 0
    done = manage(env, "unfreeze", incident_id, incident_override=True, incident_override_reason="the test goes on")
    assert done.returncode == 0, out(done)[-2000:]


def broken_live(env: Env) -> None:
    done = deploy(env, "v1.2.0")
    assert done.returncode == 0, out(done)[-2000:]
    assert env.served() == env.commit("v1.2.0")


def test_an_incident_freezes_archives_rolls_back_notifies_and_writes_the_post_mortem(demo, tmp_path):
    api, smtp = demo.api, demo.smtp
    # a deploy is a change PagerDuty hears of, through the incident's change-event sink
    done = deploy(demo, "v1.2.0", maestro_incident_sinks=api.sinks(smtp))
    assert done.returncode == 0, out(done)[-2000:]
    assert "v1.2.0" in json.dumps(api.changes[-1]) and "deploy" in json.dumps(api.changes[-1])
    # first a dry run, through make with a reason that holds a template: nothing opened, nothing rendered
    count, dirs = len(opened(demo)), set((demo.root / "incidents").iterdir()) if (demo.root / "incidents").exists() else set()
    pwned = tmp_path / "pwned"
    reason = "the page shows {{ lookup('pipe', 'touch " + str(pwned) + "') }} literally"
    dry = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "incident"], capture_output=True, text=True, check=False,
                         env=demo.env(REASON=reason, PLAYBOOK_ARGS="--check --diff"))
    assert dry.returncode == 0, out(dry)[-3000:]
    assert "check mode: incident" in out(dry) and "rolling back v1.2.0 to v1.1.0" in out(dry)
    assert not pwned.exists() and len(opened(demo)) == count
    assert (set((demo.root / "incidents").iterdir()) if (demo.root / "incidents").exists() else set()) == dirs
    assert demo.served() == demo.commit("v1.2.0")
    started = len(api.requests)
    done = incident(demo, api.sinks(smtp))
    text = out(done)
    assert done.returncode == 0, text[-4000:]
    # traffic is back on the last green release, and the rollback was the incident's
    assert demo.served() == demo.commit("v1.1.0")
    record = opened(demo)[-1]
    incident_id = record["incident"]
    rollback = [r for r in demo.ledger() if r["event"] == "rollback"][-1]
    assert rollback["actor"] == f"incident/{incident_id}" and rollback["tag"] == "v1.1.0" and rollback["from_tag"] == "v1.2.0"
    assert record["data"]["reason"] == {"text": "checkout answers 500", "expected": "200 from /checkout", "seen": "500 on 38% of requests"}

    # the archive: the live release copied (still on the release store), its hashes verify, its digest is the one notified
    base = demo.root / "incidents" / incident_id
    evidence = base / "evidence"
    assert (evidence / "release" / "v1.2.0" / "image.tar").read_bytes() == (demo.root / "releases" / "v1.2.0" / "image.tar").read_bytes()
    assert subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=evidence, capture_output=True, check=False).returncode == 0
    notified = [r for r in demo.ledger() if r["event"] == "incident_notified" and r["incident"] == incident_id]
    digest = notified[0]["data"]["archive"]["digest"]
    assert _archive.verify(str(evidence), digest) == []
    for name in ("verification.json", "ledger.jsonl", "incident.json", "proxies/localhost/upstream.conf",
                 f"hosts/localhost/{demo.environment}-blue-ps.txt", f"hosts/localhost/{demo.environment}-green-logs.txt"):
        assert (evidence / name).is_file(), name

    # every sink, every phase, in order, with one dedup key
    hooks = [r.json for r in api.requests[started:] if r.service == "webhook"]
    assert [h["phase"] for h in hooks] == ["opened", "rollback_started", "rolled_back"]
    assert {h["dedup_key"] for h in hooks} == {f"maestro/{demo.environment}/{incident_id}"}
    assert hooks[0]["archive"]["digest"] == digest and hooks[2]["to"] == {"tag": "v1.1.0", "commit": demo.commit("v1.1.0")}
    assert [n["data"]["phase"] for n in notified] == ["opened", "rollback_started", "rolled_back"]
    assert all(s["ok"] for n in notified for s in n["data"]["sinks"]), notified
    assert {s["sink"] for s in notified[0]["data"]["sinks"]} >= {"webhook", "slack", "mattermost", "email", "pagerduty"}
    assert len([r for r in api.requests[started:] if r.service == "slack"]) == 3
    assert len([r for r in api.requests[started:] if r.service == "mattermost"]) == 3
    assert api.alerts[f"maestro/{demo.environment}/{incident_id}"]["status"] == "triggered"
    assert len(api.changes) >= 1 and "v1.1.0" in json.dumps(api.changes[-1])
    wait_for("three mails", lambda: len(smtp.messages) >= 3, 5, 0.02)
    subjects = [m["Subject"] for m in smtp.messages if incident_id in m["Subject"]]
    assert [s.split(incident_id)[1].split(" - ")[0].strip() for s in subjects] == ["opened", "rollback started", "rolled back"]

    # no secret anywhere: output, ledger, archive, post-mortem
    secrets = [WEBHOOK_TOKEN, PAGERDUTY_KEY, SLACK_PATH.rsplit("/", 1)[-1]]
    written = text + (demo.root / "ledger" / f"{demo.environment}.jsonl").read_text() + "".join(
        p.read_text(errors="replace") for p in base.rglob("*") if p.is_file() and p.suffix in (".json", ".md", ".txt", ".jsonl"))
    assert not [s for s in secrets if s in written]

    # the post-mortem, pre-filled, its human parts marked
    postmortem = json.loads((base / "postmortem.json").read_text())
    markdown = (base / "postmortem.md").read_text()
    assert incident_id in markdown and "checkout answers 500" in markdown and digest in markdown and "v1.1.0" in markdown
    assert "to be written by a human" in markdown.lower()

    # frozen: a deploy is refused, naming the incident; traffic stays
    refused = deploy(demo, "v1.2.0")
    assert refused.returncode != 0 and f"deploys are frozen by incident {incident_id}" in out(refused)
    assert demo.served() == demo.commit("v1.1.0")

    # closing resolves the notifications (PagerDuty by the same dedup key)
    closed = manage(demo, "incident_close", incident_id, maestro_incident_sinks=api.sinks(smtp))
    assert closed.returncode == 0, out(closed)[-2000:]
    assert api.alerts[f"maestro/{demo.environment}/{incident_id}"]["status"] == "resolved"
    assert [r.json["phase"] for r in api.requests if r.service == "webhook"][-1] == "resolved"
    # the freeze stays until the action items are filled in
    stays = manage(demo, "unfreeze", incident_id)
    assert stays.returncode != 0 and "action item" in out(stays)
    postmortem = json.loads((base / "postmortem.json").read_text())
    postmortem["action_items"]["items"] = [{"action": "add a checkout smoke test to the release gate", "owner": "alice",
                                            "due": "2026-12-04"}]
    (base / "postmortem.json").write_text(json.dumps(postmortem))
    lifted = manage(demo, "unfreeze", incident_id)
    assert lifted.returncode == 0, out(lifted)[-2000:]
    assert "deploys are not frozen" in out(lifted)


def test_no_prior_healthy_tag_leaves_traffic_as_it_is_frozen_and_notified(demo, tmp_path):
    # v1.1.0 is live; v1.0.0 never had a verdict here and v1.2.0 is quarantined: nothing to roll back to
    assert demo.served() == demo.commit("v1.1.0")
    before = demo.containers()
    started = len(demo.api.requests)
    # launched as AWX launches a job: through ansible-runner, whose job events the archive keeps
    runner = ansible_runner.run(private_data_dir=str(tmp_path), playbook=str(ROOT / "playbooks" / "incident.yml"),
                                inventory=str(ROOT / "inventories" / "local" / "hosts.yml"), quiet=True,
                                envvars={k: v for k, v in demo.env().items() if k.startswith(("DEMO_", "ANSIBLE_"))},
                                extravars={"incident_reason": "checkout answers 500", "maestro_incident_sinks": demo.api.sinks()})
    assert runner.rc != 0
    text = " ".join(runner.stdout.read().split())
    assert "no rollback: no release to roll back to" in text and "stays frozen" in text
    assert demo.served() == demo.commit("v1.1.0") and demo.containers() == before
    assert [r.json["phase"] for r in demo.api.requests[started:] if r.service == "webhook"] == ["opened"]
    incident_id = opened(demo)[-1]["incident"]
    assert not [r for r in demo.ledger() if r.get("actor") == f"incident/{incident_id}"]
    events = list((demo.root / "incidents" / incident_id / "evidence" / "job_events").glob("*.json"))
    assert events and any("Open the incident and freeze deploys" in e.read_text() for e in events)
    finish(demo, incident_id)


def test_a_sink_that_fails_never_stops_the_rollback_a_second_incident_is_refused_and_every_sink_down_is_said_first(demo):
    broken_live(demo)
    demo.api.refuse("slack")
    try:
        done = incident(demo, demo.api.sinks())
    finally:
        demo.api.restore("slack")
    assert done.returncode == 0, out(done)[-3000:]
    assert demo.served() == demo.commit("v1.1.0")
    incident_id = opened(demo)[-1]["incident"]
    sinks = [s for r in demo.ledger() if r["event"] == "incident_notified" and r["incident"] == incident_id for s in r["data"]["sinks"]]
    assert {s["sink"] for s in sinks if not s["ok"]} == {"slack"} and any(s["ok"] for s in sinks)
    assert "some notifications failed" in out(done)
    # while it is open, a human's second incident is refused, naming it, and an alert joins it
    count = len(opened(demo))
    second = incident(demo, incident_reason="something else")
    assert second.returncode != 0 and f"incident {incident_id} is open" in out(second)
    alert = {"name": "MaestroVerificationFailed", "fingerprint": "f00d", "labels": {"environment": demo.environment}}
    joined = incident(demo, incident_source="alert", incident_alert=alert, incident_reason="")
    assert joined.returncode == 0 and "this alert joins it" in out(joined)
    assert len(opened(demo)) == count and demo.served() == demo.commit("v1.1.0")
    finish(demo, incident_id)

    broken_live(demo)
    dead = {"webhook": {"url": "http://127.0.0.1:9/hook"}, "slack": {"url": "http://127.0.0.1:9/services/T/B/x"}}
    done = incident(demo, dead)
    assert done.returncode == 0, out(done)[-3000:]
    assert demo.served() == demo.commit("v1.1.0")
    text = out(done)
    summary = text[text.index("Summarise the incident"):]
    assert summary.index("NOBODY WAS NOTIFIED: every sink failed") < summary.index("rolled back to v1.1.0")
    finish(demo, opened(demo)[-1]["incident"])


def test_an_incident_nobody_acknowledges_is_escalated_once_per_level(demo):
    broken_live(demo)
    api = demo.api
    path = [{"sinks": ["webhook"], "contacts": ["#ops"]}, {"sinks": ["slack"], "after_minutes": 0.01, "contacts": ["primary on-call"]}]
    settings = {"maestro_incident_sinks": api.sinks(), "maestro_incident_escalation": path}
    slack_before = len([r for r in api.requests if r.service == "slack"])
    done = incident(demo, **settings)
    assert done.returncode == 0, out(done)[-3000:]
    incident_id = opened(demo)[-1]["incident"]
    # level 0 only at every phase
    assert len([r for r in api.requests if r.service == "slack"]) == slack_before
    escalated = demo.playbook("playbooks/incident_escalate.yml", "-e", json.dumps(settings))
    assert escalated.returncode == 0, out(escalated)[-3000:]
    told = [r.json for r in api.requests if r.service == "slack"][slack_before:]
    assert len(told) == 1 and incident_id in json.dumps(told[0]) and "level 1" in json.dumps(told[0])
    records = [r for r in demo.ledger() if r["event"] == "incident_escalated" and r["incident"] == incident_id]
    assert [(r["data"]["level"], r["data"]["to"]) for r in records] == [(1, ["primary on-call"])]
    again = demo.playbook("playbooks/incident_escalate.yml", "-e", json.dumps(settings))
    assert again.returncode == 0 and len([r for r in api.requests if r.service == "slack"]) == slack_before + 1
    assert "nothing to escalate" in out(again)
    assert manage(demo, "incident_ack", incident_id).returncode == 0
    closed = manage(demo, "incident_close", incident_id, **settings)
    assert closed.returncode == 0
    markdown = (demo.root / "incidents" / incident_id / "postmortem.md").read_text()
    assert "primary on-call" in markdown and "acknowledged" in markdown.lower()
    finish(demo, incident_id)


def test_a_rollback_that_fails_is_told_recorded_and_leaves_traffic_where_it_was(demo):
    broken_live(demo)
    compose = demo.root / "releases" / "v1.1.0" / "compose.yaml"
    signed = compose.read_bytes()
    compose.write_bytes(signed + b"# edited after it was signed\n")
    started = len(demo.api.requests)
    try:
        done = incident(demo, demo.api.sinks(), incident_tag="v1.1.0")
    finally:
        compose.write_bytes(signed)
    text = out(done)
    assert done.returncode != 0 and "ROLLBACK FAILED at" in text
    assert demo.served() == demo.commit("v1.2.0")
    incident_id = opened(demo)[-1]["incident"]
    hooks = [r.json for r in demo.api.requests[started:] if r.service == "webhook"]
    assert [h["phase"] for h in hooks] == ["opened", "rollback_started", "rollback_failed"]
    assert hooks[-1]["failed_step"] and len(hooks[-1]["failed_step"]) <= 256 and "\n" not in hooks[-1]["failed_step"]
    assert demo.api.alerts[f"maestro/{demo.environment}/{incident_id}"]["status"] == "triggered"
    base = demo.root / "incidents" / incident_id
    assert (base / "rollback-run.json").stat().st_size > 0
    assert "rollback failed" in (base / "postmortem.md").read_text().lower()
    finish(demo, incident_id)


# ---------------------------------------------------------------------------------------------- from an alert, no human

@pytest.fixture(scope="module")
def path(demo):
    """The monitoring stack and the rulebook beside this module's demo (the by-hand tests above have finished with it)."""
    stack = AlertPath(demo, ALERT_BASE_PORT, own_demo=False)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def test_an_alert_rolls_back_once_notifies_archives_and_names_the_alert_in_the_post_mortem(path):
    env = path.env
    before = len(path.incidents())
    path.deploy("v1.2.0")
    path.tamper("edit")
    watched = path.watch()
    assert "FAILED" in out(watched), out(watched)[-2000:]
    wait_for("the verification alerts firing in Prometheus", lambda: all(path.alerts(name) for name in INCIDENT_ALERTS), 60)
    # Alertmanager -> the relay -> ansible-rulebook -> playbooks/incident.yml -> traffic back on the last green release
    good = env.commit("v1.1.0")
    wait_for("traffic back on v1.1.0", lambda: path.served() == good, 180, 0.1)
    wait_for("the incident's last notification", lambda: any(r.service == "webhook" and r.json["phase"] == "rolled_back"
                                                             for r in path.api.requests), 60)
    incidents = path.incidents()[before:]
    assert len(incidents) == 1, incidents
    record = incidents[0]
    # the tampered release fires both; whichever Alertmanager's groups deliver first opens the incident, the other joins it
    alertname = record["data"]["source"]["alert"]["name"]
    assert record["data"]["source"]["kind"] == "alert" and alertname in INCIDENT_ALERTS, record["data"]["source"]
    assert record["data"]["from"]["tag"] == "v1.2.0" and record["data"]["to"]["tag"] == "v1.1.0"
    incident_id = record["incident"]
    rollbacks = [r for r in env.ledger() if r["event"] == "rollback" and r["actor"] == f"incident/{incident_id}"]
    assert len(rollbacks) == 1 and rollbacks[0]["verdict"] == "green"

    # every phase told, in order, with one dedup key
    told = [r for r in path.api.requests if r.service == "webhook"]
    assert [r.status for r in told] == [200, 200, 200], [(r.status, r.raw[:200]) for r in told]
    hooks = [r.json for r in told]
    assert [h["phase"] for h in hooks] == ["opened", "rollback_started", "rolled_back"]
    assert {h["dedup_key"] for h in hooks} == {f"maestro/{env.environment}/{incident_id}"}
    assert hooks[0]["source"] == f"alert:{alertname}"

    # the archive verifies against the digest the notifications carried, and holds the tampered release as it was
    evidence = env.root / "incidents" / incident_id / "evidence"
    assert _archive.verify(str(evidence), hooks[0]["archive"]["digest"]) == []
    verification = json.loads((evidence / "verification.json").read_text())
    assert verification.get("ok") is False
    assert (evidence / "release" / "v1.2.0" / "sbom.spdx.json").read_bytes() == (env.root / "releases" / "v1.2.0" / "sbom.spdx.json").read_bytes()
    postmortem = env.root / "incidents" / incident_id / "postmortem.md"
    wait_for("the post-mortem", postmortem.exists, 60)
    markdown = postmortem.read_text()
    assert alertname in markdown

    # an alert storm: Alertmanager kept re-sending while the incident ran; the HA pair's copy arrives too. One incident.
    wait_for("Alertmanager re-sending the firing alert", lambda: len(path.relay.firing(alertname)) >= 3, 30)
    copy = [body for _at, body in path.relay.received if body.get("status") == "firing"][-1]
    request = urllib.request.Request(f"http://127.0.0.1:{path.ports['source']}/alerts", data=json.dumps(copy).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["duplicates"] >= 1
    time.sleep(5)
    assert len(path.incidents()) == before + 1
    assert len([r for r in env.ledger() if r["event"] == "rollback" and r["actor"] == f"incident/{incident_id}"]) == 1

    # deploys stay frozen, named; the watch is green again and the alert resolves
    refused = env.playbook("playbooks/deploy.yml", "-e", json.dumps({"tag": "v1.2.0"}))
    assert refused.returncode != 0 and f"frozen by incident {incident_id}" in out(refused)
    path.tamper("undo")
    path.watch()
    wait_for("the verification alerts resolved", lambda: not any(path.alerts(name) for name in INCIDENT_ALERTS), 60)


def test_an_alert_while_a_human_froze_the_environment_changes_nothing(path):
    """The human's incident closed but its freeze not lifted: an alert opens nothing and rolls nothing back."""
    env = path.env
    path.finish_incidents()
    human = env.playbook("playbooks/incident.yml", "-e", json.dumps({"incident_reason": "a human is on it", "incident_tag": "v1.1.0"}))
    # v1.1.0 is live already: the human's incident opens and freezes, with no rollback (red)
    assert human.returncode != 0 and "is what is live already" in out(human), out(human)[-3000:]
    count = len(path.incidents())
    # closed, its freeze still on: the humans are in charge until they lift it
    closed = env.playbook("playbooks/incident_close.yml", "-e", json.dumps({"incident_id": path.incidents()[-1]["incident"]}))
    assert closed.returncode == 0, out(closed)[-2000:]
    refused = env.playbook("playbooks/deploy.yml", "-e", json.dumps({"tag": "v1.2.0"}))
    assert refused.returncode != 0 and "a human is on it" in out(refused)
    # an alert arrives, as Alertmanager would send it
    alert = {"version": "4", "status": "firing", "receiver": "maestro", "groupKey": "{}:{}", "groupLabels": {},
             "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://127.0.0.1", "truncatedAlerts": 0,
             "alerts": [{"status": "firing", "labels": {"alertname": "MaestroServingUnproven", "environment": env.environment},
                         "annotations": {"summary": "what serves is not proven"}, "startsAt": "2026-11-28T16:00:00Z",
                         "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://127.0.0.1", "fingerprint": "0123456789abcdef"}]}
    before = env.served()
    request = urllib.request.Request(f"http://127.0.0.1:{path.ports['source']}/alerts", data=json.dumps(alert).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["queued"] == 1
    wait_for("the rulebook to run the playbook for it", lambda: "a human opened" in path.rulebook_said(), 90)
    assert len(path.incidents()) == count and env.served() == before
