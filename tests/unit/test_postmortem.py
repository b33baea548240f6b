"""The post-mortem skeleton: pre-filled from real ledger records (made by the ledger's own constructors), rendered as
Markdown that text from outside cannot break, with human parts that survive a rebuild and action items judged."""

from __future__ import annotations

import datetime
import json
import re

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _ledger
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._postmortem import (
    SCHEMA, action_item_problems, build, business_days_after, merge_human, render_markdown)

ENV = "demo"
ID = "demo-20261125T162501Z-a3f9"          # a Wednesday
OLD, BAD = "a" * 40, "b" * 40
OPENED = "2026-11-25T16:25:01.000Z"
FIRED = "2026-11-25T16:24:31.123456789Z"   # Alertmanager writes nanoseconds
SECRET = "T0SECRET/B0SECRET/xoxbSECRETTOKEN"
ARCHIVE = {"digest": "sha256:" + "d" * 64, "location": f"/var/lib/maestro/incidents/{ID}/evidence",
           "files": [{"path": "ledger-excerpt.jsonl", "sha256": "e" * 64, "size": 2048},
                     {"path": "release/release-manifest-v1.2.0.yaml", "sha256": "f" * 64, "size": 512}]}
ALERT = {"name": "MaestroVerifyRed", "fingerprint": "4f3c2b1a0e9d8c7b", "starts_at": FIRED,
         "labels": {"alertname": "MaestroVerifyRed", "environment": ENV, "severity": "critical"},
         "annotations": {"summary": "verification of the live release is red"},
         "generator_url": "http://127.0.0.1:9090/graph?g0.expr=maestro_verify_ok"}


def at(time: str, record: dict) -> dict:
    return {**record, "time": time}


def normal(time: str, event: str, tag: str, actor: str = "ci/41", **kwargs) -> dict:
    return at(time, _ledger.make_record(ENV, event, tag, actor, **kwargs))


def inc(time: str, event: str, actor: str = "eda/rulebook", incident: str = ID, **kwargs) -> dict:
    return at(time, _ledger.make_incident_record(ENV, event, incident, actor, **kwargs))


def sinks(*results: tuple[str, bool, str]) -> list[dict]:
    return [{"sink": name, "ok": ok, "error": error, "to": {"mail": "mail: oncall@example.com"}.get(name, name)}
            for name, ok, error in results]


def notified(time: str, phase: str, level: int = 0, results=(("slack", True, ""), ("mail", True, "")), **kwargs) -> dict:
    return inc(time, "incident_notified", data={"phase": phase, "level": level, "sinks": sinks(*results)}, tag="v1.2.0", **kwargs)


def incident(source: dict | None = None, to: dict | None = None, reason: str = "verification of v1.2.0 is red",
             opened_at: str = OPENED, ident: str = ID, opened_by: str = "eda/rulebook") -> dict:
    return {"id": ident, "environment": ENV, "opened_at": opened_at, "opened_by": opened_by, "severity": "critical",
            "reason": {"text": reason, "expected": "sha256 41ab…", "seen": "sha256 9f2c…"},
            "source": source if source is not None else {"kind": "alert", "alert": ALERT},
            "from": {"tag": "v1.2.0", "commit": BAD}, "to": to if to is not None else {"tag": "v1.1.0", "commit": OLD}}


def opened_record(pm_incident: dict, time: str = OPENED) -> dict:
    data = {key: pm_incident[key] for key in ("severity", "reason", "source", "from", "to")}
    return inc(time, "incident_opened", actor=pm_incident["opened_by"], incident=pm_incident["id"], tag="v1.2.0",
               detail=pm_incident["reason"]["text"], data=data, record_id=f"{pm_incident['id']}/opened")


def before() -> list[dict]:
    """v1.1.0 deployed and green, then v1.2.0 deployed: the bad release goes live at 16:00."""
    return [normal("2026-11-24T10:00:00.000Z", "deployed", "v1.1.0", commit=OLD, verdict="green"),
            normal("2026-11-24T10:05:00.000Z", "verdict", "v1.1.0", verdict="green"),
            normal("2026-11-25T16:00:00.000Z", "deployed", "v1.2.0", commit=BAD, verdict="green", from_tag="v1.1.0")]


def stream() -> list[dict]:
    """The realistic stream: an alert opens the incident, the rollback runs, a sink fails once, level 1 is told,
    someone acknowledges, the incident closes; then life goes on (and another environment shares the file)."""
    return before() + [
        opened_record(incident()),
        inc(OPENED, "freeze", tag="v1.2.0", detail="verification of v1.2.0 is red"),
        notified("2026-11-25T16:25:02.000Z", "opened"),
        notified("2026-11-25T16:25:03.000Z", "rollback_started"),
        normal("2026-11-25T16:25:40.000Z", "rollback", "v1.1.0", actor=f"incident/{ID}", commit=OLD, verdict="green",
               from_tag="v1.2.0", durations={"time_to_green": 12.5}),
        normal("2026-11-25T16:25:40.000Z", "quarantine", "v1.2.0", actor=f"incident/{ID}", detail="rollback to v1.1.0"),
        notified("2026-11-25T16:25:41.000Z", "rolled_back",
                 results=(("slack", True, ""), ("pagerduty", False, f"HTTP 500 from https://hooks.slack.com/services/{SECRET}"))),
        inc("2026-11-25T16:40:01.000Z", "incident_escalated", data={"level": 1, "to": ["bob", "mail: lead@example.com"]}),
        notified("2026-11-25T16:40:02.000Z", "escalated", level=1, results=(("mail", True, ""),)),
        inc("2026-11-25T16:45:00.000Z", "incident_acknowledged", actor="alice"),
        inc("2026-11-25T17:30:00.000Z", "incident_closed", actor="alice",
            data={"archive": {k: ARCHIVE[k] for k in ("digest", "location")}}),
        inc("2026-11-25T17:31:00.000Z", "unfreeze", actor="alice", data={"override": False, "reason": "action items filled in"}),
        normal("2026-11-26T09:00:00.000Z", "deployed", "v1.2.1", commit="c" * 40, verdict="green", from_tag="v1.1.0"),
        at("2026-11-25T16:30:00.000Z", _ledger.make_record("prod", "deployed", "v9.9.9", "ci/1")),
    ]


NOW = "2026-11-25T18:00:00.000Z"


def pipes(line: str) -> int:
    """The cell separators of a Markdown table row: pipes that no backslash escapes."""
    return len(re.findall(r"(?<!\\)\|", line))


def tables_intact(markdown: str) -> None:
    """Every table row has as many cells as its header: text from outside broke no table."""
    width = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        if width is None:
            width = pipes(line)
        assert pipes(line) == width, line


def test_a_realistic_incident_from_an_alert_is_prefilled_from_the_ledger():
    pm = build(incident(), stream(), ARCHIVE, NOW)
    assert pm["schema"] == SCHEMA and pm["incident"] == ID and pm["summary"]["status"] == "closed"
    assert json.loads(json.dumps(pm)) == pm
    # impact: from the deploy of v1.2.0 to the incident's rollback
    assert pm["impact"]["live_from"] == "2026-11-25T16:00:00.000Z"
    assert pm["impact"]["live_until"] == "2026-11-25T16:25:40.000Z"
    assert pm["impact"]["seconds"] == 25 * 60 + 40 and pm["impact"]["duration"] == "25m 40s"
    assert pm["impact"]["failed_requests_text"] == "unknown (no metrics)"
    # detection: the alert, when it fired, and when the incident opened
    assert pm["detection"]["alert"]["name"] == "MaestroVerifyRed"
    assert pm["detection"]["alert"]["fired_at"] == "2026-11-25T16:24:31.123Z"
    assert pm["detection"]["seconds_from_alert"] == 29.877
    # resolution: time to green is the rollback record's time minus the opening
    resolution = pm["resolution"]
    assert (resolution["rolled_back"], resolution["by"], resolution["to"]) == (True, f"incident/{ID}", {"tag": "v1.1.0", "commit": OLD})
    assert resolution["time_to_green_seconds"] == 39.0 and resolution["switch_seconds"] == 12.5
    assert (resolution["acknowledged_by"], resolution["closed_by"]) == ("alice", "alice")
    assert resolution["closed_at"] == "2026-11-25T17:30:00.000Z" and resolution["acknowledged_at"] == "2026-11-25T16:45:00.000Z"
    assert pm["archive"] == ARCHIVE
    assert pm["action_items"] == {"human": True, "items": [{"action": "", "owner": "", "due": "2026-12-02"}]}
    assert pm["root_cause"] == {"human": True, "text": ""} and pm["contributing_factors"] == {"human": True, "items": []}


def test_the_timeline_runs_from_the_bad_release_going_live_to_the_close_one_line_in_words_each():
    timeline = build(incident(), stream(), ARCHIVE, NOW)["timeline"]
    assert [(e["time"], e["event"]) for e in timeline] == [
        ("2026-11-25T16:00:00.000Z", "deployed"), (OPENED, "incident_opened"), (OPENED, "freeze"),
        ("2026-11-25T16:25:02.000Z", "incident_notified"), ("2026-11-25T16:25:03.000Z", "incident_notified"),
        ("2026-11-25T16:25:40.000Z", "rollback"), ("2026-11-25T16:25:40.000Z", "quarantine"),
        ("2026-11-25T16:25:41.000Z", "incident_notified"), ("2026-11-25T16:40:01.000Z", "incident_escalated"),
        ("2026-11-25T16:40:02.000Z", "incident_notified"), ("2026-11-25T16:45:00.000Z", "incident_acknowledged"),
        ("2026-11-25T17:30:00.000Z", "incident_closed")]
    words = [e["text"] for e in timeline]
    assert words[0] == (f"v1.2.0 (commit {BAD[:12]}) deployed over v1.1.0, verdict green, by ci/41: "
                        "the release of this incident goes live")
    assert words[1] == ("incident opened by alert MaestroVerifyRed (eda/rulebook), severity critical, on v1.2.0: "
                        "verification of v1.2.0 is red")
    assert words[3] == "notified phase opened, level 0: slack: delivered; mail: oncall@example.com: delivered"
    assert words[5] == f"rolled back from v1.2.0 to v1.1.0 (commit {OLD[:12]}) by incident/{ID}, verdict green, the switch took 12.5 s"
    assert words[7] == ("notified phase rolled_back, level 0: slack: delivered; "
                        "pagerduty: FAILED (HTTP 500 from https://hooks.slack.com/...)")
    assert words[8] == "escalated to level 1: told bob, mail: lead@example.com"
    assert words[10] == "acknowledged by alice"
    assert words[11] == f"closed by alice; evidence archive {ARCHIVE['digest']}"


def test_the_markdown_says_what_the_json_says_and_marks_the_human_parts():
    pm = build(incident(), stream(), ARCHIVE, NOW)
    markdown = render_markdown(pm)
    assert markdown.startswith(f"# Post-mortem: incident {ID}\n")
    assert "- Alert: MaestroVerifyRed" in markdown and "- Fired at: 2026-11-25 16:24:31Z" in markdown
    assert "| 2026-11-25 16:25:40Z | rollback | rolled back from v1.2.0 to v1.1.0" in markdown
    assert "- Time to green: 39.0 s (the switch itself: 12.5 s)" in markdown
    assert f"| ledger-excerpt.jsonl | 2048 | {'e' * 64} |" in markdown
    assert f"| release/release-manifest-v1.2.0.yaml | 512 | {'f' * 64} |" in markdown
    for part in ("Root cause", "Contributing factors", "Action items"):
        assert f"## {part} (to be written by a human)" in markdown
    assert "- action item 1: action is empty" in markdown      # the freeze stays until they are written
    assert markdown.index("## Timeline (UTC)") < markdown.index("## Resolution") < markdown.index("## Evidence archive")
    tables_intact(markdown)
    assert render_markdown(json.loads(json.dumps(pm))) == markdown


def test_no_secret_a_sink_error_held_reaches_the_post_mortem():
    pm = build(incident(), stream(), ARCHIVE, NOW)
    assert "SECRET" not in json.dumps(pm) and "SECRET" not in render_markdown(pm)


@pytest.mark.parametrize("scenario, rolled_back, why_not, live_until, ttg", [
    ("rolled back", True, "", "2026-11-25T16:25:40.000Z", "39.0 s"),
    ("rollback failed", False, "the rollback failed: Flip lb1 (lb1): nginx -t failed", NOW, "not rolled back"),
    ("no target", False, "there was no healthy release to roll back to (from v1.2.0", NOW, "not rolled back"),
    ("still running", False, "not yet: the rollback to v1.1.0", NOW, "not rolled back"),
    ("rolled back by hand after a failure", True, "", "2026-11-25T16:50:00.000Z", "24m 59s"),
])
def test_the_resolution_says_whether_traffic_moved_and_why_not(scenario, rolled_back, why_not, live_until, ttg):
    to = {} if scenario == "no target" else None
    records = before() + [opened_record(incident(to=to)), notified("2026-11-25T16:25:02.000Z", "opened")]
    if scenario == "rolled back":
        records.append(stream()[7])
    if "failed" in scenario or "failure" in scenario:
        records.append(notified("2026-11-25T16:26:00.000Z", "rollback_failed", detail="Flip lb1 (lb1): nginx -t failed"))
    if scenario.endswith("by hand after a failure"):
        records.append(normal("2026-11-25T16:50:00.000Z", "rollback", "v1.1.0", actor="alice", commit=OLD, from_tag="v1.2.0"))
    pm = build(incident(to=to), records, {}, NOW)
    resolution = pm["resolution"]
    assert resolution["rolled_back"] is rolled_back and resolution["why_not"].startswith(why_not)
    assert resolution["time_to_green"] == ttg
    assert pm["impact"]["live_until"] == live_until and pm["impact"]["until_now"] is (live_until == NOW)
    assert pm["summary"]["status"] == "open" and pm["archive"] == {}
    markdown = render_markdown(pm)
    assert "No evidence archive is recorded." in markdown
    if not rolled_back:
        assert f"Not rolled back: {why_not}" in pm["summary"]["text"]
        assert f"- Live until: {NOW[:10]} 18:00:00Z (still live when this was generated)" in markdown
    if scenario.endswith("by hand after a failure"):
        assert resolution["by"] == "alice" and "not by the incident's own rollback, which failed: Flip lb1" in resolution["text"]


def test_an_incident_opened_by_hand_names_who_opened_it():
    user = incident(source={"kind": "user", "user": "alice"}, opened_by="alice")
    pm = build(user, before() + [opened_record(user)], {}, NOW, failed_requests=17)
    assert pm["detection"] == {"kind": "user", "alert": {}, "user": "alice", "opened_at": OPENED, "opened_by": "alice",
                               "seconds_from_alert": None, "text": f"Opened by hand by alice at {OPENED}."}
    assert pm["timeline"][1]["text"] == "incident opened by alice, severity critical, on v1.2.0: verification of v1.2.0 is red"
    assert pm["impact"]["failed_requests"] == 17 and pm["impact"]["text"].endswith("Failed requests: 17 failed requests.")
    assert "opened 2026-11-25T16:25:01.000Z by alice:" in pm["summary"]["text"]
    assert "- Alert:" not in render_markdown(pm)


def test_every_sink_failing_is_said_first():
    records = before() + [opened_record(incident()),
                          notified("2026-11-25T16:25:02.000Z", "opened", results=(("slack", False, "timed out"), ("mail", False, "")))]
    words = build(incident(), records, {}, NOW)["timeline"][-1]["text"]
    assert words == ("notified phase opened, level 0: EVERY SINK FAILED: slack: FAILED (timed out); "
                     "mail: oncall@example.com: FAILED")


@pytest.mark.parametrize("day, n, due", [
    (datetime.date(2026, 11, 25), 5, datetime.date(2026, 12, 2)),   # Wednesday -> Wednesday
    (datetime.date(2026, 11, 27), 5, datetime.date(2026, 12, 4)),   # Friday -> Friday, over one weekend
    (datetime.date(2026, 11, 27), 1, datetime.date(2026, 11, 30)),  # Friday -> Monday
    (datetime.date(2026, 11, 28), 5, datetime.date(2026, 12, 4)),   # Saturday -> Friday
    (datetime.date(2026, 11, 29), 1, datetime.date(2026, 11, 30)),  # Sunday -> Monday
    (datetime.date(2026, 11, 23), 10, datetime.date(2026, 12, 7)),  # two weekends
    (datetime.date(2026, 11, 28), 0, datetime.date(2026, 11, 28)),
])
def test_business_days_skip_weekends(day, n, due):
    assert business_days_after(day, n) == due


def test_a_friday_incident_is_due_the_next_friday_and_due_days_is_honoured():
    friday = incident(ident="demo-20261127T235959Z-0b1c", opened_at="2026-11-27T23:59:59.000Z")
    assert build(friday, [], {}, NOW)["action_items"]["items"][0]["due"] == "2026-12-04"
    assert build(friday, [], {}, NOW, due_days=2)["action_items"]["items"][0]["due"] == "2026-12-01"


HOSTILE = "a | b\n| c | d |\r\n<script>alert(1)</script> [click](javascript:alert(1)) *bold* `code` &lt;b&gt; \x1b[2J\x00end"


def test_hostile_text_from_outside_breaks_no_table_and_injects_no_markup():
    source = {"kind": "alert", "alert": {**ALERT, "name": "Red|<b>x</b>", "annotations": {"summary": HOSTILE, "x|y": "1\n2"}}}
    evil = incident(source=source, reason=HOSTILE)
    records = before() + [opened_record(evil),
                          notified("2026-11-25T16:25:02.000Z", "opened", results=(("webhook", False, HOSTILE),)),
                          inc("2026-11-25T16:40:01.000Z", "incident_escalated", data={"level": 1, "to": [HOSTILE]})]
    pm = build(evil, records, {}, NOW)
    assert pm["summary"]["reason"]["text"] == HOSTILE               # the JSON keeps the words as they were
    markdown = render_markdown(pm)
    tables_intact(markdown)
    assert "<script>" not in markdown and "<b>" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "[click](javascript" not in markdown and "\\[click\\](javascript" in markdown
    assert "*bold*" not in markdown and "`code`" not in markdown and "&amp;lt;b&amp;gt;" in markdown
    assert not any(line.startswith(("| c", "<script", "2")) for line in markdown.splitlines())
    assert "  - x\\|y: 1 2" in markdown
    assert not [ch for ch in markdown if ord(ch) < 32 and ch != "\n"]       # no terminal escape, no NUL
    rows = [line for line in markdown.splitlines() if line.startswith("| 2026-11-25 16:")]
    assert len(rows) == 4 and all(pipes(row) == 4 for row in rows)


FILLED = {"root_cause": {"human": True, "text": "The v1.2.0 image was built from a dirty tree.\n\nSee *the build log*."},
          "contributing_factors": {"human": True, "items": ["No CI check of the tree", "Alert took 30 s"]},
          "action_items": {"human": True, "items": [{"action": "Fail CI on a dirty tree", "owner": "alice", "due": "2026-12-02"},
                                                    {"action": "Page on verify red", "owner": "bob", "due": "2026-12-09"}]}}


def test_merge_human_keeps_what_a_human_wrote_and_takes_the_rest_from_the_records():
    early = build(incident(), stream()[:9], ARCHIVE, "2026-11-25T16:30:00.000Z")
    edited = {**json.loads(json.dumps(early)), **FILLED, "summary": {"text": "a human edited a machine part"}}
    later = build(incident(), stream(), ARCHIVE, NOW)
    merged = merge_human(edited, later)
    assert {part: merged[part] for part in FILLED} == FILLED
    assert merged["summary"] == later["summary"] and merged["timeline"] == later["timeline"]
    assert merged["summary"]["status"] == "closed" and early["summary"]["status"] == "open"
    markdown = render_markdown(merged)
    assert "The v1.2.0 image was built from a dirty tree.\n\nSee *the build log*." in markdown   # their Markdown, kept
    assert "- No CI check of the tree\n- Alert took 30 s" in markdown
    assert "| 2 | Page on verify red | bob | 2026-12-09 |" in markdown
    assert "Before the freeze can be lifted" not in markdown and action_item_problems(merged) == []


def test_an_untouched_skeleton_takes_the_new_due_date_and_another_incident_is_refused():
    old = build(incident(), stream(), ARCHIVE, NOW)
    assert merge_human(old, build(incident(), stream(), ARCHIVE, NOW, due_days=3))["action_items"]["items"][0]["due"] == "2026-11-30"
    other = build(incident(ident="demo-20261125T170000Z-ffff"), [], {}, NOW)
    with pytest.raises(ConductorError, match=f"old document is of incident '{ID}', the new one of 'demo-20261125T170000Z-ffff'"):
        merge_human(old, other)
    with pytest.raises(ConductorError, match="the old document is not a maestro.conductor/postmortem/v1 document"):
        merge_human({"incident": ID}, old)


@pytest.mark.parametrize("items, problems", [
    (None, ["action_items.items is missing or not a list: expected a list of {action, owner, due}"]),
    ([], ["there are no action items: at least one is needed, with an action, an owner and a due date (YYYY-MM-DD)"]),
    ([{"action": "", "owner": "", "due": "2026-12-02"}], ["action item 1: action is empty", "action item 1: owner is empty"]),
    ([FILLED["action_items"]["items"][0], {"action": "TODO", "owner": "<owner>", "due": "next week"}],
     ["action item 2: action 'TODO' is a placeholder, not a real action",
      "action item 2: owner '<owner>' is a placeholder, not a real owner",
      "action item 2: due 'next week' is not a date: expected YYYY-MM-DD"]),
    ([{"action": "Fix it", "owner": "tbd.", "due": "2026-02-30"}, "write tests"],
     ["action item 1: owner 'tbd.' is a placeholder, not a real owner",
      "action item 1: due '2026-02-30' is not a date: expected YYYY-MM-DD",
      "action item 2 is not a mapping of action, owner and due"]),
    ([{"action": "...", "owner": 7, "due": None}],
     ["action item 1: action '...' is a placeholder, not a real action", "action item 1: owner is empty",
      "action item 1: due None is not a date: expected YYYY-MM-DD"]),
    (FILLED["action_items"]["items"], []),
])
def test_action_item_problems_name_the_item_and_field(items, problems):
    pm = build(incident(), stream(), ARCHIVE, NOW)
    pm["action_items"] = {"human": True} if items is None else {"human": True, "items": items}
    assert action_item_problems(pm) == problems
    tables_intact(render_markdown(pm))


@pytest.mark.parametrize("change, message", [
    ({"id": "prod-20261125T162501Z-a3f9"}, "incident prod-20261125T162501Z-a3f9 does not belong to environment demo"),
    ({"id": "demo-1"}, "incident id 'demo-1' is invalid"),
    ({"severity": "sev1"}, "severity 'sev1' is invalid: expected one of critical, error, warning, info"),
    ({"opened_at": "yesterday"}, "opened_at 'yesterday' is invalid: expected UTC ISO 8601"),
    ({"source": {"kind": "pager"}}, "incident source must be a mapping whose kind is alert or user"),
    ({"from": "v1.2.0"}, "incident from must be a mapping of tag and commit"),
])
def test_a_bad_incident_is_refused_naming_the_field(change, message):
    with pytest.raises(ConductorError, match=re.escape(message)):
        build({**incident(), **change}, [], {}, NOW)


@pytest.mark.parametrize("kwargs, message", [
    ({"archive": {**ARCHIVE, "digest": "sha256:xyz"}}, "archive digest 'sha256:xyz' is invalid: expected sha256:<64 lowercase hex digits>"),
    ({"archive": {**ARCHIVE, "files": [{"path": "a", "sha256": "e" * 64, "size": -1}]}}, "archive file 1 ("),
    ({"now": "2026-11-25"}, "now '2026-11-25' is invalid"),
    ({"failed_requests": -3}, "failed requests -3 is invalid: expected a count >= 0"),
    ({"due_days": -1}, "business days -1 is invalid"),
])
def test_bad_inputs_are_refused_naming_them(kwargs, message):
    arguments = {"archive": ARCHIVE, "now": NOW, **kwargs}
    with pytest.raises(ConductorError, match=re.escape(message)):
        build(incident(), stream(), **arguments)
