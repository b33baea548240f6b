"""The daily verification's verdict, report and metrics (plugins/module_utils/_daily.py), on observations as the watch's
observation gathers them with watch_deep."""

from __future__ import annotations

import json

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _daily
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import SPECS
from tests.unit.test_watch import COMMIT, NOW, OTHER, green


def verified(commit: str = COMMIT, **changes) -> dict:
    return {"ok": True, "failed_checks": [], "commit": commit, "seconds": 0.8,
            "checks": [{"name": "artifacts", "ok": True, "detail": "3 artifacts"}, {"name": "tag_object", "ok": True}], **changes}


def deep(**changes) -> dict:
    observed = green(verify=verified(), target_verify=verified(OTHER), started=NOW - 12.5)
    observed.update(changes)
    return observed


def gauges(daily: _daily.Daily) -> dict:
    return {(g["name"], tuple(sorted(g["labels"].items()))): g["value"] for g in daily.gauges}


def test_both_releases_verified_and_every_copy_proven_is_green_with_a_report_and_the_daily_series_only():
    daily = _daily.judge(deep(), NOW)
    assert daily.ok, daily.findings
    report = daily.report
    assert report["kind"] == "maestro.conductor/daily-verification" and report["ok"] and report["seconds"] == 12.5
    assert report["live"]["tag"] == "v2" and report["live"]["verification"]["ok"]
    assert report["rollback"]["tag"] == "v1" and report["rollback"]["verification"]["commit"] == OTHER
    assert report["hosts"] == [{"host": "app1", "live": {"ok": True, "problems": []}, "rollback": {"ok": True, "problems": []},
                                "security": None}]  # not read: watch_security_updates off
    json.dumps(report)  # the report is written as JSON
    values = gauges(daily)
    assert values[("maestro_daily_verify_ok", ())] == 1 and values[("maestro_daily_verify_duration_seconds", ())] == 12.5
    assert values[("maestro_verify_ok", (("source", "daily"),))] == 1
    assert all(values[("maestro_daily_verify_findings", (("check", check),))] == 0 for check in _daily.DAILY_CHECKS)
    # never a series the watch writes (two writers of one series would clash in node_exporter)
    assert not [g for g in daily.gauges if g["name"].startswith(("maestro_watch_", "maestro_artifact_", "maestro_release_"))]
    assert not [g for g in daily.gauges if g["labels"].get("source") not in (None, "daily")]
    for sample in daily.gauges + daily.increments:
        assert set(sample["labels"]) | {"environment"} == set(SPECS[sample["name"]].labels), sample
    assert {"name": "maestro_daily_verify_runs_total", "labels": {"result": "pass"}, "by": 1} in daily.increments
    assert "GREEN" in _daily.render_markdown(report)


@pytest.mark.parametrize("change, check, words", [
    ({"target_verify": verified(OTHER, ok=False, failed_checks=["artifacts"])}, "rollback_verify",
     "strict verification of the rollback target v1 FAILED (failed checks: artifacts)"),
    ({"target_verify": {}}, "rollback_verify", "v1 FAILED (not run)"),
    ({"target_verify": {"failed": True, "msg": "release directory /srv/releases/v1 is missing"}}, "rollback_verify", "is missing"),
    ({"hosts": [{"host": "app1", "live": {"changed": False},
                 "rollback": {"complete": False, "problems": [f"sbom.json has sha256 {'c' * 64}, the verified manifest says {'d' * 64}"]}}]},
     "availability", "sbom.json has sha256"),
    ({"hosts": [{"host": "app1", "live": {"failed": True, "msg": "artifact compose.yaml: sha256 is 9f2c, manifest says 41ab"}}]},
     "hosts", "app1: artifact compose.yaml: sha256 is 9f2c"),
    ({"verify": verified(ok=False, failed_checks=["tag_object"])}, "verify", "FAILED (failed checks: tag_object)"),
])
def test_anything_wrong_or_unknown_is_red_named_in_the_report_and_counted(change, check, words):
    daily = _daily.judge(deep(**change), NOW)
    assert not daily.ok and not daily.report["ok"]
    assert any(f.check == check and words in f.message for f in daily.findings), daily.findings
    assert any(f["check"] == check and words in f["message"] for f in daily.report["findings"])
    assert gauges(daily)[("maestro_daily_verify_ok", ())] == 0
    assert gauges(daily)[("maestro_daily_verify_findings", (("check", check),))] >= 1
    assert {"name": "maestro_daily_verify_runs_total", "labels": {"result": "fail"}, "by": 1} in daily.increments
    assert "RED" in _daily.summary_lines(daily.report)[1]


def security(pending_seconds: float, count: int = 1, **result) -> dict:
    pending = [{"package": "libssl3", "installed": "3.0.11-1", "candidate": "3.0.15-1", "since": "2026-11-20T00:00:00Z"}][:count]
    return {"changed": False, "pending": pending, "count": count, "oldest_pending_seconds": pending_seconds, "reboot_required": False,
            **result}


def with_security(found: dict | None) -> dict:
    observed = deep(security_checked=True, security_pending_limit=7 * 86400)
    observed["hosts"] = [{**observed["hosts"][0], "security": found}]
    return observed


def test_security_updates_pending_are_reported_measured_and_red_past_the_limit_or_unknown():
    fresh = _daily.judge(with_security(security(3600)), NOW)
    assert fresh.ok and fresh.report["hosts"][0]["security"]["packages"] == ["libssl3 3.0.11-1 -> 3.0.15-1 (since 2026-11-20T00:00:00Z)"]
    assert gauges(fresh)[("maestro_security_updates_pending", (("host", "app1"),))] == 1
    assert gauges(fresh)[("maestro_security_updates_oldest_pending_seconds", (("host", "app1"),))] == 3600
    assert "libssl3" in _daily.render_markdown(fresh.report)
    old = _daily.judge(with_security(security(8 * 86400)), NOW)
    assert not old.ok and [f.message for f in old.findings] == [
        "app1: 1 security update(s) pending, the oldest for 8.0 days (the limit is 7)"]
    assert gauges(old)[("maestro_daily_verify_findings", (("check", "security"),))] == 1
    for unknown in (None, {"failed": True, "msg": "no security origin among the apt sources under /etc/apt"}, {"unreachable": True},
                    {"changed": False}):
        daily = _daily.judge(with_security(unknown), NOW)
        assert not daily.ok and daily.findings[0].check == "security" and "are unknown" in daily.findings[0].message
        assert ("maestro_security_updates_pending", (("host", "app1"),)) not in gauges(daily)  # unknown is never written as 0
    for limit in (0, -5, "7d"):
        with pytest.raises(ConductorError, match="security_pending_limit .* is invalid"):
            _daily.judge({**with_security(security(60)), "security_pending_limit": limit}, NOW)


def test_with_no_rollback_target_the_verification_is_red_and_says_why():
    daily = _daily.judge(deep(target={"tag": "", "error": "no tag older than the live v2 has a green verdict"}, target_verify={}), NOW)
    assert not daily.ok and [f.check for f in daily.findings] == ["rollback_target"]
    assert daily.report["rollback"] == {"tag": "", "error": "no tag older than the live v2 has a green verdict",
                                        "verification": {"ran": False, "ok": False, "failed_checks": [], "checks": [], "seconds": None,
                                                         "error": "no release"}}
    assert "no tag older" in _daily.render_markdown(daily.report)


def test_with_nothing_live_it_is_red_and_writes_no_verification_series():
    daily = _daily.judge(deep(ledger={"live": "", "records": []}, target={"tag": ""}), NOW)
    assert not daily.ok and daily.report["live"]["tag"] == ""
    assert not [g for g in daily.gauges if g["name"].startswith("maestro_verify_")]


def test_the_markdown_renders_text_from_the_release_as_written():
    hostile = "x | y ](javascript:alert(1)) <img src=x> `rm -rf` # heading\nsecond line"
    daily = _daily.judge(deep(hosts=[{"host": "app1", "live": {"failed": True, "msg": hostile}}]), NOW)
    markdown = _daily.render_markdown(daily.report)
    row = next(line for line in markdown.splitlines() if line.startswith("| app1"))
    # every character that would make markup is escaped: the row shows the text, four cells, no link, no HTML
    assert row.count(" | ") == 3 and "&lt;img" in row and "\\](" in row and "\\`rm" in row
    assert "second line" in row  # one line per cell


def dependabot(**severities) -> dict:
    alerts = [{"number": n + 1, "severity": severity, "package": f"pkg{n}", "ecosystem": "pip", "advisory": f"GHSA-{n}",
               "summary": "an advisory", "created_at": "2026-11-20T10:00:00Z"}
              for n, severity in enumerate(s for s, count in severities.items() for _copy in range(count))]
    counted = {s: severities.get(s, 0) for s in ("critical", "high", "medium", "low")}
    return {"open": len(alerts), "severities": counted, "alerts": alerts, "complete": True}


def test_open_dependabot_alerts_are_reported_measured_and_red_for_the_severities_named_or_unknown():
    low = _daily.judge(deep(dependabot_checked=True, ci={"dependabot": dependabot(medium=2, low=1)}), NOW)
    assert low.ok and low.report["dependabot"]["open"] == 3
    assert gauges(low)[("maestro_dependabot_alerts_open", (("severity", "medium"),))] == 2
    assert gauges(low)[("maestro_dependabot_alerts_open", (("severity", "critical"),))] == 0
    assert "| open | 3 (0 critical, 0 high, 2 medium, 1 low) |" in _daily.render_markdown(low.report)
    high = _daily.judge(deep(dependabot_checked=True, ci={"dependabot": dependabot(high=1, low=1)}), NOW)
    assert not high.ok and [f.message for f in high.findings] == ["open Dependabot alerts: 1 high: #1 pkg0 (high, GHSA-0)"]
    stricter = _daily.judge(deep(dependabot_checked=True, dependabot_red_severities=["critical", "high", "medium", "low"],
                                 ci={"dependabot": dependabot(low=1)}), NOW)
    assert not stricter.ok and "1 low" in stricter.findings[0].message
    for unknown in ({}, {"dependabot": {"error": "GitHub API GET ...: 403 the token may not read"}}, {"failed": True, "msg": "down"}):
        daily = _daily.judge(deep(dependabot_checked=True, ci=unknown), NOW)
        assert not daily.ok and "Dependabot alerts are unknown" in daily.findings[0].message
        assert not any(name == "maestro_dependabot_alerts_open" for name, _labels in gauges(daily))  # unknown is never 0
    assert _daily.judge(deep(ci={"dependabot": dependabot(critical=4)}), NOW).ok  # not read: not judged
    with pytest.raises(ConductorError, match="dependabot_red_severities .* is invalid"):
        _daily.judge(deep(dependabot_checked=True, dependabot_red_severities=["severe"], ci={"dependabot": dependabot()}), NOW)
