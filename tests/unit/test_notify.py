"""Incident notifications: the event contract, the sinks' settings, and maestro.conductor.incident_notify against stand-ins
for the hosted services (tests/notify_api.py: Slack, Mattermost and PagerDuty cannot be reached from here). Loopback ports
127.0.0.1:19400-19404 only."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils import basic

from ansible_collections.maestro.conductor.plugins.module_utils import _notify
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import incident_notify
from tests.notify_api import notify_stand_ins  # noqa: F401 pylint: disable=unused-import
from tests.notify_api import PAGERDUTY_KEY, SECRETS, SLACK_SECRET, WEBHOOK_TOKEN
from tests.unit.test_modules import run

NOTIFY_BASE_PORT = 19400
INCIDENT = "demo-20261128T162501Z-a3f9"
GOOD, BAD = "b" * 40, "a" * 40


def event(phase: str = "opened", **changes) -> dict:
    fields = {"reason": {"text": "verification failed", "expected": "sha256 41ab...", "seen": "sha256 9f2c..."},
              "source": "alert:MaestroVerifyFailed", "from_release": {"tag": "v1.2.0", "commit": BAD},
              "to_release": {"tag": "v1.1.0", "commit": GOOD}, "level": 1 if phase == "escalated" else 0}
    fields.update(changes)
    return _notify.make_event(INCIDENT, "demo", phase, "info" if phase == "resolved" else "critical",
                              f"[demo] incident {phase} on v1.2.0", **fields)


def run_module(args: dict, monkeypatch, check_mode: bool = False):
    """incident_notify's main(), as Ansible runs it on a host: arguments in, exit_json or fail_json out."""
    return run(incident_notify, {**args, "_ansible_check_mode": check_mode}, monkeypatch)


def by_sink(result: dict) -> dict:
    return {r["sink"]: r for r in result["results"]}


# ------------------------------------------------------------------------------------------------------------ the event

def test_make_event_follows_the_contract():
    made = event("escalated", level=2)
    assert made["dedup_key"] == f"maestro/demo/{INCIDENT}" and made["event_id"] == f"{INCIDENT}/escalated/2"
    assert made["schema"] == "maestro.conductor/incident-event/v1" and made["time"].endswith("Z")
    assert _notify.validate_event(json.loads(json.dumps(made))) == made


def test_a_long_summary_is_cut_to_1024_characters():
    made = _notify.make_event(INCIDENT, "demo", "opened", "critical", "x" * 5000, reason={"text": "t", "expected": "", "seen": ""},
                              source="user:alice")
    assert len(made["summary"]) == 1024 and made["summary"].endswith("…")


@pytest.mark.parametrize("field, value, message", [
    ("phase", "exploded", "phase 'exploded' is invalid: expected one of opened"),
    ("severity", "fatal", "severity 'fatal' is invalid"),
    ("dedup_key", "maestro/demo/other", f"dedup_key 'maestro/demo/other' is invalid: expected maestro/demo/{INCIDENT}"),
    ("event_id", f"{INCIDENT}/resolved", f"event_id '{INCIDENT}/resolved' is invalid: expected {INCIDENT}/opened"),
    ("environment", "prod", f"incident {INCIDENT} is not of environment prod"),
    ("time", "2026-11-28 16:25:01", "time '2026-11-28 16:25:01' is invalid: expected UTC ISO 8601 with Z"),
    ("to", {"tag": "v1.1.0"}, "to is invalid: expected {} or {tag, commit}"),
    ("from", {"tag": "v1.2.0", "commit": "abc"}, "from.commit 'abc' is invalid"),
    ("archive", {"digest": "md5:00", "location": "/x"}, "archive.digest 'md5:00' is invalid: expected sha256:"),
    ("source", "cron:nightly", "source 'cron:nightly' is invalid: expected alert:<alertname> or user:<name>"),
    ("summary", "", "summary is invalid: expected a non-empty text"),
    ("level", True, "level True is invalid"),
])
def test_an_event_off_the_contract_is_refused_naming_the_field(field, value, message):
    bad = {**event(), field: value}
    with pytest.raises(ConductorError) as caught:
        _notify.validate_event(bad)
    assert message in str(caught.value)


def test_an_event_with_a_missing_or_unknown_field_is_refused():
    bad = {**event(), "colour": "blue"}
    del bad["archive"]
    with pytest.raises(ConductorError, match="missing archive; unknown colour"):
        _notify.validate_event(bad)


def test_the_texts_name_the_incident_the_phase_and_every_field():
    made = event("rollback_failed", failed_step="proxy_flip", archive={"digest": "sha256:" + "c" * 64, "location": "/srv/a.tar"})
    assert _notify.subject(made) == f"[maestro] demo: incident {INCIDENT} rollback failed - critical"
    text = _notify.body(made)
    for expected in (INCIDENT, "rollback_failed", "v1.2.0 (aaaaaaaaaaaa)", "v1.1.0 (bbbbbbbbbbbb)", "sha256 41ab...", "sha256 9f2c...",
                     "proxy_flip", "/srv/a.tar (sha256:" + "c" * 64 + ")", "alert:MaestroVerifyFailed", made["time"],
                     made["dedup_key"]):
        assert expected in text
    assert "Failed step:" in text and "| Failed step | proxy\\_flip |" in _notify.markdown(made)
    assert "v1.1.0" in _notify.change_summary(event("rolled_back")) and INCIDENT in _notify.change_summary(event("rolled_back"))


# ------------------------------------------------------------------------------------------------------------ the sinks

@pytest.mark.parametrize("sinks, message", [
    ({"teams": {"url": "https://x.example"}}, "unknown sinks ['teams']: expected any of webhook, slack"),
    ({"slack": {"url": "https://hooks.slack.com/services/T/B/x", "channel": "#a"}}, "slack has unknown keys ['channel']"),
    ({"slack": "https://hooks.slack.com/x"}, "maestro_incident_sinks.slack must be a mapping"),
    ({"mattermost": {"url": "http://chat.example.com", "api_key": "k3y-123"}},
     "mattermost.url: plain http to chat.example.com is refused"),
    ({"pagerduty": {"url": "https://events.pagerduty.com/v2/enqueue"}}, "pagerduty.routing_key is invalid"),
    ({"email": {"to": ["oncall"]}}, "email.to ['oncall'] is invalid: expected a list of mail addresses"),
    ({"email": {"to": ["a@example.com"], "secure": "maybe"}}, "email.secure 'maybe' is invalid: expected one of never, try"),
    ({"email": {"to": ["a@example.com"], "username": "u"}}, "username and password go together"),
    ({"email": {"host": "smtp.example.com", "to": ["a@example.com"], "username": "u", "password": "pw-123"}},
     "email.secure 'try' would send the password unencrypted to smtp.example.com: use always or starttls"),
    ({"webhook": {"url": "https://user:pw@hooks.example.com/x"}}, "webhook.url (not shown: it is a secret) is invalid"),
])
def test_invalid_sinks_are_refused_naming_the_key(sinks, message):
    with pytest.raises(ConductorError) as caught:
        _notify.validate_sinks(sinks)
    assert message in str(caught.value)


def test_a_secret_url_is_never_quoted_in_an_error():
    with pytest.raises(ConductorError) as caught:
        _notify.validate_sinks({"slack": {"url": f"ftp://hooks.example.com/services/T/B/{SLACK_SECRET}"}})
    assert SLACK_SECRET not in str(caught.value) and "slack.url" in str(caught.value)


def test_sinks_are_completed_with_defaults():
    sinks = _notify.validate_sinks({"pagerduty": {"routing_key": PAGERDUTY_KEY}, "email": {"to": "oncall@example.com"}, "slack": None})
    assert sinks["pagerduty"]["url"] == "https://events.pagerduty.com/v2/enqueue"
    assert sinks["email"] == {"host": "localhost", "port": 25, "sender": "maestro@localhost", "to": ["oncall@example.com"],
                              "secure": "try", "username": "", "password": ""}
    assert "slack" not in sinks


@pytest.mark.parametrize("phase, pagerduty, change", [
    ("opened", "trigger", False), ("rollback_started", "", False), ("rolled_back", "", True),
    ("rollback_failed", "trigger", False), ("resolved", "resolve", False), ("escalated", "trigger", False),
])
def test_each_phase_goes_to_the_sinks_that_take_it(phase, pagerduty, change):
    sinks = _notify.validate_sinks({"slack": {"url": "https://hooks.slack.com/services/T/B/x"},
                                    "pagerduty": {"routing_key": PAGERDUTY_KEY}, "pagerduty_change": {"routing_key": PAGERDUTY_KEY}})
    plan = _notify.plan(event(phase), sinks)
    assert "slack" in plan.send
    assert ("pagerduty" in plan.send) == bool(pagerduty) and ("pagerduty_change" in plan.send) == change
    if pagerduty:
        assert _notify.pagerduty_action(event(phase)) == pagerduty


def test_only_limits_the_sinks_and_names_an_unconfigured_one():
    sinks = _notify.validate_sinks({"slack": {"url": "https://hooks.slack.com/services/T/B/x"}})
    plan = _notify.plan(event("escalated"), sinks, ["pagerduty"])
    assert plan.send == {} and plan.unconfigured == ["pagerduty"]
    assert _notify.outcomes(_notify.unconfigured_results(plan))["all_failed"] is True
    with pytest.raises(ConductorError, match=r"only names unknown sinks \['pager'\]"):
        _notify.plan(event(), sinks, ["pager"])


# ------------------------------------------------------------------------------------------------------------ sending

def test_every_sink_is_told_and_nothing_fails(notify_stand_ins, monkeypatch):
    api, smtp = notify_stand_ins
    made = event("opened")
    out = run_module({"event": made, "sinks": api.sinks(smtp)}, monkeypatch)
    assert not out.failed and out.result["changed"] is True
    results = by_sink(out.result)
    assert list(results) == ["webhook", "slack", "pagerduty"]
    assert all(r["ok"] and r["error"] == "" for r in results.values())
    assert [results[s]["status"] for s in results] == [200, 200, 202]
    assert results["webhook"]["to"] == f"webhook: {api.url('webhook')}" and results["slack"]["to"] == "slack"
    # the webhook gets the event itself, with its headers; Slack took the blocks (it answers 400 to bad ones)
    hook = api.received("webhook")[0]
    assert hook.json == made and hook.headers["x-maestro-event-id"] == f"{INCIDENT}/opened"
    assert api.received("slack")[0].json["text"] == made["summary"]
    trigger = api.received("pagerduty")[0].json
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == made["dedup_key"]
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "maestro/demo"
    # mattermost and mail are the role's: their messages come back without a secret
    assert out.result["pending"] == ["mattermost", "email"]
    mail = out.result["payloads"]["email"]
    assert mail["subject"].startswith(f"[maestro] demo: incident {INCIDENT} opened") and "password" not in mail
    assert out.result["payloads"]["mattermost"]["text"].startswith("**\\[demo\\] incident opened")
    assert out.result["left_out"] == {"pagerduty_change": "a change event is sent when a rollback went live (rolled_back) only"}
    assert out.result["outcome"]["all_failed"] is False


def test_pagerduty_folds_trigger_escalation_and_resolve_into_one_alert(notify_stand_ins, monkeypatch):
    api, _smtp = notify_stand_ins
    sinks = {"pagerduty": api.sinks()["pagerduty"]}
    for phase in ("opened", "rollback_started", "rolled_back", "escalated", "resolved"):
        out = run_module({"event": event(phase), "sinks": sinks}, monkeypatch)
        assert not out.failed
    sent = [r.json for r in api.received("pagerduty")]
    assert [s["event_action"] for s in sent] == ["trigger", "trigger", "resolve"]  # rollback_started, rolled_back not sent
    assert {s["dedup_key"] for s in sent} == {f"maestro/demo/{INCIDENT}"}
    assert api.alerts == {f"maestro/demo/{INCIDENT}": {"status": "resolved", "triggers": 2, "summary": "[demo] incident opened on v1.2.0"}}


def test_each_sink_gets_the_phases_in_order(notify_stand_ins, monkeypatch):
    api, _smtp = notify_stand_ins
    sinks = {name: api.sinks()[name] for name in ("webhook", "slack")}
    phases = ("opened", "rollback_started", "rolled_back", "resolved")
    for phase in phases:
        run_module({"event": event(phase), "sinks": sinks}, monkeypatch)
    assert [r.json["event_id"] for r in api.received("webhook")] == [f"{INCIDENT}/{p}" for p in phases]
    assert [r.json["blocks"][0]["text"]["text"] for r in api.received("slack")] == [
        "CRITICAL demo: incident opened", "CRITICAL demo: incident rollback started", "CRITICAL demo: incident rolled back",
        "INFO demo: incident resolved"]


def test_a_sink_down_leaves_the_others_served(notify_stand_ins, monkeypatch):
    api, smtp = notify_stand_ins
    api.refuse("slack")
    out = run_module({"event": event(), "sinks": api.sinks(smtp)}, monkeypatch)
    assert not out.failed
    results = by_sink(out.result)
    assert results["slack"]["ok"] is False and results["slack"]["status"] == 0
    assert results["slack"]["error"].startswith("Slack could not be reached: [Errno 111] Connection refused")
    assert results["webhook"]["ok"] and results["pagerduty"]["ok"]
    assert len(api.received("webhook")) == 1 and len(api.received("pagerduty")) == 1
    assert out.result["outcome"]["all_failed"] is False


def test_every_sink_down_is_said_first(notify_stand_ins, monkeypatch):
    api, _smtp = notify_stand_ins
    sinks = {name: api.sinks()[name] for name in ("webhook", "slack", "pagerduty")}
    for name in ("webhook", "slack", "pagerduty"):
        api.refuse(name)
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda _self, text: warnings.append(text))
    out = run_module({"event": event(), "sinks": sinks}, monkeypatch)
    assert not out.failed
    assert out.result["outcome"]["all_failed"] is True and out.result["outcome"]["configured"] == 3
    assert warnings[0] == "every sink failed: nobody was told (3 tried)"
    assert len(warnings) == 4


def test_a_rate_limit_is_retried_once_then_reported(notify_stand_ins, monkeypatch):
    api, _smtp = notify_stand_ins
    sinks = {"pagerduty": api.sinks()["pagerduty"]}
    throttled = '{"status": "throttle event", "message": "Requests for this service are arriving too quickly"}'
    api.fail("pagerduty", 429, times=1, body=throttled, headers={"Retry-After": "0"})
    out = run_module({"event": event(), "sinks": sinks}, monkeypatch)
    assert by_sink(out.result)["pagerduty"]["ok"] is True
    assert [r.status for r in api.received("pagerduty")] == [429, 202]
    api.fail("pagerduty", 429, times=2, headers={"Retry-After": "0"})
    out = run_module({"event": event(), "sinks": sinks}, monkeypatch)
    result = by_sink(out.result)["pagerduty"]
    assert not out.failed and result["ok"] is False and result["status"] == 429
    assert result["error"] == "429 rate limited: PagerDuty took no event (it asks to retry later)"


def test_an_invalid_event_answer_is_reported_with_pagerdutys_errors(notify_stand_ins, monkeypatch):
    api, _smtp = notify_stand_ins
    sinks = {"pagerduty": {**api.sinks()["pagerduty"], "routing_key": "not-the-key"}}
    out = run_module({"event": event(), "sinks": sinks}, monkeypatch)
    assert by_sink(out.result)["pagerduty"]["error"] == "400 invalid event: 'routing_key' is invalid"


def test_slack_errors_say_what_they_mean(notify_stand_ins, monkeypatch):
    api, _smtp = notify_stand_ins
    out = run_module({"event": event(), "sinks": {"slack": {"url": api.url("slack") + "/services/T0/B0/gone-hook-0000000000"}}},
                     monkeypatch)
    assert by_sink(out.result)["slack"]["error"] == "404 no_service: the webhook is disabled, removed or its URL is wrong"


def test_a_redirect_is_not_followed(notify_stand_ins, monkeypatch):
    api, _smtp = notify_stand_ins
    api.fail("webhook", 302, headers={"Location": f"http://127.0.0.1:19404/steal?token={WEBHOOK_TOKEN}"})
    out = run_module({"event": event(), "sinks": {"webhook": api.sinks()["webhook"]}}, monkeypatch)
    result = by_sink(out.result)["webhook"]
    assert result["ok"] is False and result["status"] == 302
    assert "redirect to http://127.0.0.1:19404, not followed" in result["error"]
    assert len(api.requests) == 1


def test_no_secret_in_the_result_even_when_a_server_quotes_it_back(notify_stand_ins, monkeypatch):
    api, smtp = notify_stand_ins
    quoted = " ".join(SECRETS) + f" {api.webhook_url} {api.slack_url}"
    for name in ("webhook", "slack", "pagerduty"):
        api.fail(name, 400, times=2, body=f"bad request: {quoted}")
    out = run_module({"event": event(), "sinks": api.sinks(smtp)}, monkeypatch)
    assert not out.failed and not any(r["ok"] for r in out.result["results"])
    assert all("********" in r["error"] for r in out.result["results"])
    text = json.dumps(out.result)
    for secret in SECRETS:
        assert secret not in text


def test_a_misconfigured_sink_is_a_failed_sink_and_the_others_are_told_without_quoting_a_secret(notify_stand_ins, monkeypatch):
    api, _smtp = notify_stand_ins
    sinks = {"webhook": {"url": f"http://hooks.example.com/x?token={WEBHOOK_TOKEN}"}, "slack": {"url": api.slack_url}}
    out = run_module({"event": event(), "sinks": sinks}, monkeypatch)
    assert not out.failed
    bad = [r for r in out.result["results"] if r["sink"] == "webhook"]
    assert len(bad) == 1 and not bad[0]["ok"] and "webhook.url: plain http to hooks.example.com is refused" in bad[0]["error"]
    assert [r["ok"] for r in out.result["results"] if r["sink"] == "slack"] == [True]
    assert WEBHOOK_TOKEN not in json.dumps(out.result) and [r.service for r in api.requests] == ["slack"]


def test_check_mode_sends_nothing_and_says_what_would_be_sent(notify_stand_ins, monkeypatch):
    api, smtp = notify_stand_ins
    out = run_module({"event": event("resolved"), "sinks": api.sinks(smtp)}, monkeypatch, check_mode=True)
    assert not out.failed and out.result["changed"] is True and out.result["results"] == []
    assert [w["sink"] for w in out.result["would_send"]] == ["webhook", "slack", "mattermost", "email", "pagerduty"]
    assert out.result["payloads"]["pagerduty"]["body"] == {"event_action": "resolve", "dedup_key": f"maestro/demo/{INCIDENT}"}
    assert api.requests == [] and smtp.messages == []


# ------------------------------------------------------------------------------------------------------------ merging

def test_merge_adds_the_roles_sinks_and_says_when_all_failed(monkeypatch):
    sinks = {"mattermost": {"url": "https://chat.example.com", "api_key": "mm-secret-key-1"},
             "email": {"to": ["oncall@example.com"]}, "pagerduty_change": {"routing_key": PAGERDUTY_KEY}}
    sent = {"results": [{"sink": "slack", "ok": False, "status": 0, "error": "Slack could not be reached", "to": "slack", "seconds": 0.1}],
            "payloads": {"mattermost": {"to": "mattermost: https://chat.example.com"}, "email": {"to": "mail: oncall@example.com"},
                         "pagerduty_change": {"to": "pagerduty change: events.pagerduty.com"}}}
    handed = {
        "mattermost": {"failed": True, "msg": "Failed to send mattermost message to https://chat.example.com/hooks/mm-secret-key-1"},
        "email": {"failed": True, "msg": "MODULE FAILURE\nSee stdout/stderr for the exact error",
                  "module_stderr": "Traceback (most recent call last):\n  ...\nConnectionRefusedError: [Errno 111] Connection refused\n"},
        "pagerduty_change": {"skipped": True, "changed": False},  # check mode: no outcome
    }
    out = run_module({"sinks": sinks, "merge": {"sent": sent, "handed": handed}}, monkeypatch)
    outcome = out.result["outcome"]
    assert outcome["all_failed"] is True and outcome["configured"] == 3
    assert [s["sink"] for s in outcome["sinks"]] == ["slack", "mattermost", "email"]
    assert outcome["sinks"][2] == {"sink": "email", "ok": False, "error": "ConnectionRefusedError: [Errno 111] Connection refused",
                                   "to": "mail: oncall@example.com"}
    assert "mm-secret-key-1" not in json.dumps(out.result)
    handed["mattermost"] = {"changed": False, "msg": "OK"}
    outcome = run_module({"sinks": sinks, "merge": {"sent": sent, "handed": handed}}, monkeypatch).result["outcome"]
    assert outcome["all_failed"] is False and outcome["sinks"][1] == {"sink": "mattermost", "ok": True, "error": "",
                                                                      "to": "mattermost: https://chat.example.com"}


def test_chat_text_from_outside_is_inert():
    hostile = event()
    hostile["reason"] = {"text": "@channel see ![x](http://evil.invalid/p.png) <b>| row", "expected": "", "seen": ""}
    text = _notify.markdown(hostile)
    assert "@channel" not in text and "![x](" not in text and "<b>" not in text
    assert all(line.count("|") - line.count("\\|") == 3 for line in text.splitlines() if line.startswith("| ") and "---" not in line)


def test_an_awx_credential_s_secrets_fill_the_sinks_and_add_the_ones_not_configured():
    """awx/controller/credential_types.yml puts the sinks' secrets in the job's environment; the inventory keeps the rest."""
    configured = {"webhook": {"url": "https://hooks.example/old", "headers": {"X-Team": "ops"}}, "pagerduty_change": {"url": "http://127.0.0.1:1/"},
                  "email": {"host": "127.0.0.1", "port": 25, "to": ["ops@example.invalid"]}}
    merged = _notify.with_credentials(configured, {"MAESTRO_INCIDENT_WEBHOOK_URL": "https://hooks.example/secret",
                                                   "MAESTRO_PAGERDUTY_ROUTING_KEY": "R0UT1NG"})
    assert merged["webhook"] == {"url": "https://hooks.example/secret", "headers": {"X-Team": "ops"}}
    assert merged["pagerduty"] == {"routing_key": "R0UT1NG"} and merged["pagerduty_change"]["routing_key"] == "R0UT1NG"
    assert "slack" not in merged and merged["email"] == configured["email"]
    assert configured["webhook"]["url"] == "https://hooks.example/old"  # the inventory's own mapping is never changed
    assert _notify.with_credentials(None, {"MAESTRO_SLACK_WEBHOOK_URL": "https://hooks.slack.example/T"}) == {
        "slack": {"url": "https://hooks.slack.example/T"}}
    assert _notify.with_credentials(configured, {}) == configured
    assert _notify.with_credentials(["webhook"], {"MAESTRO_SLACK_WEBHOOK_URL": "x"}) == ["webhook"]  # validate_sinks names it
    assert "pagerduty" in _notify.validate_sinks(merged)
