"""The incident_notify role through ansible-playbook: every sink configured against stand-ins for the hosted services
(tests/notify_api.py: the generic webhook, Slack, Mattermost and PagerDuty cannot be reached from here, so a local server
implements their documented requests and answers) and a real SMTP server (aiosmtpd). Loopback ports 127.0.0.1:19440-19444."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from ansible_collections.maestro.conductor.plugins.module_utils import _notify
from tests.notify_api import SECRETS, SERVICES, notify_stand_ins  # noqa: F401 pylint: disable=unused-import
from tests.servers import wait_for

ROOT = Path(__file__).resolve().parents[2]
NOTIFY_BASE_PORT = 19440
INCIDENT = "demo-20261128T162501Z-a3f9"
PHASES = ("opened", "rollback_started", "rolled_back", "resolved")


def _md_phase(phase: str) -> str:
    """A phase as the Mattermost text shows it: outside text is inert Markdown, so its underscores are escaped."""
    return phase.replace("_", "\\_")


def events() -> list[dict]:
    made = []
    for phase in PHASES:
        made.append(_notify.make_event(
            INCIDENT, "demo", phase, "info" if phase == "resolved" else "critical", f"[demo] incident {phase}: v1.2.0 serves 5xx",
            reason={"text": "MaestroVerifyFailed fired", "expected": "verification green", "seen": "sha256 mismatch on app.tar"},
            source="alert:MaestroVerifyFailed", from_release={"tag": "v1.2.0", "commit": "a" * 40},
            to_release={"tag": "v1.1.0", "commit": "b" * 40},
            archive={"digest": "sha256:" + "c" * 64, "location": f"/var/lib/maestro/incidents/{INCIDENT}/evidence.tar"}
            if phase in ("rolled_back", "resolved") else None))
    return made


def play(tmp_path: Path, sinks: dict, *extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Each phase of one incident through the role, as the incident playbook includes it; the outcome of each phase."""
    (tmp_path / "sinks.json").write_text(json.dumps(sinks))
    results = tmp_path / "outcomes.json"
    tasks = []
    for index, made in enumerate(events()):
        (tmp_path / f"event-{index}.json").write_text(json.dumps(made))
        tasks.append(f"""
    - name: Tell phase {made['phase']}
      ansible.builtin.include_role:
        name: maestro.conductor.incident_notify
      vars:
        incident_notify_event: "{{{{ lookup('ansible.builtin.file', '{tmp_path}/event-{index}.json') | from_json }}}}"
        incident_notify_timeout: 5
    - name: Keep the outcome of phase {made['phase']}
      ansible.builtin.set_fact:
        outcomes: "{{{{ outcomes + [incident_notify_outcome | default({{}})] }}}}"
""")
    playbook = tmp_path / "notify.yml"
    playbook.write_text(f"""
- name: Tell every phase of an incident
  hosts: localhost
  gather_facts: false
  vars:
    maestro_incident_sinks: "{{{{ lookup('ansible.builtin.file', '{tmp_path}/sinks.json') | from_json }}}}"
    outcomes: []
  tasks:{''.join(tasks)}
    - name: Keep the outcomes for the test
      ansible.builtin.copy:
        content: "{{{{ outcomes | to_json }}}}"
        dest: {results}
        mode: "0644"
      check_mode: false
""")
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    # the interpreter ansible-playbook runs on: incident_notify then runs in Ansible's worker, as on the controller
    command = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e",
               json.dumps({"ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python3")}), str(playbook), *extra]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    return done, json.loads(results.read_text()) if results.exists() else []


def assert_no_secret(done: subprocess.CompletedProcess) -> None:
    output = done.stdout + done.stderr
    for secret in SECRETS:
        assert secret not in output


def test_every_sink_gets_every_phase_in_order(notify_stand_ins, tmp_path):
    api, smtp = notify_stand_ins
    checked, nothing = play(tmp_path, api.sinks(smtp), "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert api.requests == [] and smtp.messages == []
    assert nothing == [{"sinks": [], "all_failed": False, "configured": 0}] * 4  # nobody was told

    done, outcomes = play(tmp_path, api.sinks(smtp), "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_no_secret(done)
    ids = [f"{INCIDENT}/{phase}" for phase in PHASES]
    assert [r.json["event_id"] for r in api.received("webhook")] == ids
    assert [r.json["blocks"][0]["text"]["text"] for r in api.received("slack")] == [
        "CRITICAL demo: incident opened", "CRITICAL demo: incident rollback started", "CRITICAL demo: incident rolled back",
        "INFO demo: incident resolved"]
    mattermost = [r.json for r in api.received("mattermost")]
    assert [m["channel"] for m in mattermost] == ["incidents"] * 4 and all(INCIDENT in m["text"] for m in mattermost)
    assert [m["text"].splitlines()[0] for m in mattermost] == [f"**\\[demo\\] incident {_md_phase(p)}: v1.2.0 serves 5xx**" for p in PHASES]
    # PagerDuty: a trigger at opened, a resolve at resolved, one dedup key; a change event when the rollback went live
    alerts = [r.json for r in api.received("pagerduty") if r.path == "/v2/enqueue"]
    dedup_key = f"maestro/demo/{INCIDENT}"
    assert [(a["event_action"], a["dedup_key"]) for a in alerts] == [("trigger", dedup_key), ("resolve", dedup_key)]
    assert api.alerts[f"maestro/demo/{INCIDENT}"]["status"] == "resolved"
    assert len(api.changes) == 1 and api.changes[0]["payload"]["summary"] == (
        f"demo: rolled back v1.2.0 (aaaaaaaaaaaa) to v1.1.0 (bbbbbbbbbbbb) (incident {INCIDENT})")
    assert api.changes[0]["payload"]["custom_details"] == {"user": "alert:MaestroVerifyFailed", "revision": "b" * 40,
                                                           "environment": "demo"}
    # the real SMTP server: one mail a phase, to both recipients, naming the incident and the phase
    wait_for("the four mails", lambda: len(smtp.messages) == 4, 5, 0.02)
    assert smtp.mailbox.logins == ["maestro"] * 4
    assert [m["Subject"] for m in smtp.messages] == [
        f"[maestro] demo: incident {INCIDENT} opened - critical", f"[maestro] demo: incident {INCIDENT} rollback started - critical",
        f"[maestro] demo: incident {INCIDENT} rolled back - critical", f"[maestro] demo: incident {INCIDENT} resolved - info"]
    for message, phase in zip(smtp.messages, PHASES):
        text = message.get_body(("plain",)).get_content()
        fields = {name: value.strip() for name, _colon, value in (line.partition(":") for line in text.splitlines()[2:] if line)}
        assert fields["Incident"] == INCIDENT and fields["Phase"] == phase and fields["From"] == "v1.2.0 (aaaaaaaaaaaa)"
        assert fields["Expected"] == "verification green" and fields["Seen"] == "sha256 mismatch on app.tar"
        assert message["X-Maestro-Event-Id"] == f"{INCIDENT}/{phase}"
    assert smtp.mailbox.envelopes[0][0] == "maestro@example.com"  # mail hands over the recipients as a set: in any order
    assert sorted(smtp.mailbox.envelopes[0][1]) == ["lead@example.com", "oncall@example.com"]
    assert smtp.messages[0]["To"] == "oncall@example.com, lead@example.com"
    # the outcome of each phase, for the ledger
    assert [o["configured"] for o in outcomes] == [5, 4, 5, 5]
    assert all(o["all_failed"] is False and all(s["ok"] and s["error"] == "" for s in o["sinks"]) for o in outcomes)
    assert [s["sink"] for s in outcomes[2]["sinks"]] == ["webhook", "slack", "mattermost", "email", "pagerduty_change"]
    assert {s["sink"]: s["to"] for s in outcomes[0]["sinks"]} == {
        "webhook": f"webhook: {api.url('webhook')}", "slack": "slack", "mattermost": f"mattermost: {api.url('mattermost')} #incidents",
        "email": "mail: oncall@example.com, lead@example.com", "pagerduty": f"pagerduty: 127.0.0.1:{api.ports['pagerduty']}"}


def test_a_sink_down_leaves_the_others_served_and_the_play_green(notify_stand_ins, tmp_path):
    api, smtp = notify_stand_ins
    api.refuse("mattermost")
    api.fail("slack", 404, times=4, body="no_service")
    done, outcomes = play(tmp_path, api.sinks(smtp))
    assert done.returncode == 0, done.stdout + done.stderr
    assert_no_secret(done)
    assert len(api.received("webhook")) == 4 and len(api.received("slack")) == 4 and len(api.changes) == 1
    wait_for("the four mails", lambda: len(smtp.messages) == 4, 5, 0.02)
    first = {s["sink"]: s for s in outcomes[0]["sinks"]}
    assert first["mattermost"]["ok"] is False and "Connection refused" in first["mattermost"]["error"]
    assert first["slack"] == {"sink": "slack", "ok": False, "error": "404 no_service: the webhook is disabled, removed or its URL is wrong",
                              "to": "slack"}
    assert first["webhook"]["ok"] and first["email"]["ok"] and first["pagerduty"]["ok"]
    assert all(o["all_failed"] is False for o in outcomes)
    assert "incident notification to slack (slack) failed: 404 no_service" in done.stderr + done.stdout


def test_every_sink_down_is_reported_and_the_play_goes_on(notify_stand_ins, tmp_path):
    api, smtp = notify_stand_ins
    sinks = api.sinks(smtp)
    for service in SERVICES:
        api.refuse(service)
    smtp.refuse()
    done, outcomes = play(tmp_path, sinks)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_no_secret(done)
    assert [o["all_failed"] for o in outcomes] == [True] * 4 and [o["configured"] for o in outcomes] == [5, 4, 5, 5]
    assert {s["sink"] for s in outcomes[2]["sinks"]} == {"webhook", "slack", "mattermost", "email", "pagerduty_change"}
    assert "every sink failed: nobody was told (5 tried)" in done.stderr + done.stdout
