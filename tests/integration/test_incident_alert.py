"""Incident response from an alert, with no human, end to end on real parts (tests/integration/alert_path.py): the demo's
broken release live and tampered on the release store, the watch red, MaestroVerificationFailed firing in a real
Prometheus, a real Alertmanager posting it (again and again: repeat_interval 2 s) to a real ansible-rulebook running the
collection's rulebook and event source, the incident procedure rolling back to the last green release. The webhook sink
is a stand-in for a hosted service (tests/notify_api.py)."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _archive
from tests.integration.alert_path import AlertPath, wait_for
from tests.integration.demo_env import out

BASE_PORT = 19520  # 19520-19529: this module's Prometheus, Pushgateway, Alertmanager, node_exporter, relay, rulebook, stand-ins


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    stack = AlertPath(tmp_path_factory.mktemp("ialert"), "ialert", BASE_PORT)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def test_an_alert_rolls_back_once_notifies_archives_and_names_the_alert_in_the_post_mortem(path):
    env = path.env
    path.deploy("v1.2.0")
    path.tamper("edit")
    watched = path.watch()
    assert "FAILED" in out(watched), out(watched)[-2000:]
    wait_for("the verification alert firing in Prometheus", lambda: path.alerts("MaestroVerificationFailed"), 60)
    # Alertmanager -> the relay -> ansible-rulebook -> playbooks/incident.yml -> traffic back on the last green release
    good = env.commit("v1.1.0")
    wait_for("traffic back on v1.1.0", lambda: path.served() == good, 180, 0.1)
    wait_for("the incident's last notification", lambda: any(r.service == "webhook" and r.json["phase"] == "rolled_back"
                                                             for r in path.api.requests), 60)
    incidents = path.incidents()
    assert len(incidents) == 1, incidents
    record = incidents[0]
    assert record["data"]["source"]["kind"] == "alert" and record["data"]["source"]["alert"]["name"] == "MaestroVerificationFailed"
    assert record["data"]["from"]["tag"] == "v1.2.0" and record["data"]["to"]["tag"] == "v1.1.0"
    incident_id = record["incident"]
    rollbacks = [r for r in env.ledger() if r["event"] == "rollback" and r["actor"] == f"incident/{incident_id}"]
    assert len(rollbacks) == 1 and rollbacks[0]["verdict"] == "green"

    # every phase told, in order, with one dedup key
    hooks = [r.json for r in path.api.requests if r.service == "webhook"]
    assert [h["phase"] for h in hooks] == ["opened", "rollback_started", "rolled_back"]
    assert {h["dedup_key"] for h in hooks} == {f"maestro/{env.environment}/{incident_id}"}
    assert hooks[0]["source"] == "alert:MaestroVerificationFailed"

    # the archive verifies against the digest the notifications carried, and holds the tampered release as it was
    evidence = env.root / "incidents" / incident_id / "evidence"
    assert _archive.verify(str(evidence), hooks[0]["archive"]["digest"]) == []
    verification = json.loads((evidence / "verification.json").read_text())
    assert verification.get("ok") is False
    assert (evidence / "release" / "v1.2.0" / "sbom.spdx.json").read_bytes() == (env.root / "releases" / "v1.2.0" / "sbom.spdx.json").read_bytes()
    postmortem = env.root / "incidents" / incident_id / "postmortem.md"
    wait_for("the post-mortem", postmortem.exists, 60)
    markdown = postmortem.read_text()
    assert "MaestroVerificationFailed" in markdown

    # an alert storm: Alertmanager kept re-sending while the incident ran; the HA pair's copy arrives too. One incident.
    wait_for("Alertmanager re-sending the firing alert", lambda: len(path.relay.firing("MaestroVerificationFailed")) >= 3, 30)
    copy = [body for _at, body in path.relay.received if body.get("status") == "firing"][-1]
    request = urllib.request.Request(f"http://127.0.0.1:{path.ports['source']}/alerts", data=json.dumps(copy).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["duplicates"] >= 1
    time.sleep(5)
    assert len(path.incidents()) == 1
    assert len([r for r in env.ledger() if r["event"] == "rollback" and r["actor"].startswith("incident/")]) == 1

    # deploys stay frozen, named; the watch is green again and the alert resolves
    refused = env.playbook("playbooks/deploy.yml", "-e", json.dumps({"tag": "v1.2.0"}))
    assert refused.returncode != 0 and f"frozen by incident {incident_id}" in out(refused)
    path.tamper("undo")
    path.watch()
    wait_for("the verification alert resolved", lambda: not path.alerts("MaestroVerificationFailed"), 60)


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
    wait_for("the rulebook to run the playbook for it", lambda: "a human opened" in path.rulebook_log.read_text(errors="replace"), 90)
    assert len(path.incidents()) == count and env.served() == before
