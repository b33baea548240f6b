"""The post-GA watch's core: availability without hashing, and the verdict with its metrics (unknown is red)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _availability, _watch
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import SPECS

COMMIT = "a" * 40
OTHER = "b" * 40
NOW = 1_800_000_000.0
LIVE_AT = "2027-01-14T00:00:00Z"  # 1 799 884 800: 1 day and 8 hours before NOW


# --- availability ------------------------------------------------------------------------------------------


def test_a_whole_release_is_available_and_names_its_github_run(release):
    release.bundle(checks=[{"name": "unit tests", "result": "pass"}], ci_run="https://github.com/acme/app/actions/runs/4242/attempts/1")
    found = _availability.release_available(str(release.dir), release.tag)
    assert found.complete and found.problems == [] and found.evidence_missing == []
    assert sorted(a["path"] for a in found.artifacts) == ["compose.yaml", "images/web.tar", "sbom.json"]
    assert found.ci_run_id == "4242"


@pytest.mark.parametrize("ci_run, taken", [
    ("https://github.com/acme/app/actions/runs/4242?check_suite_focus=true", ("4242", "", "acme/app")),
    ("https://gitlab.example/group/sub/app/-/pipelines/77#jobs", ("", "77", "group/sub/app")),
    ("https://github.com/a/b/c/actions/runs/1", ("", "", "")),  # no GitHub run address: GitHub's are OWNER/REPO
    ("https://[unclosed/acme/app/actions/runs/1", ("", "", "")),  # no address at all: named, never looked up
    ("ci#1", ("", "", "")),
])
def test_the_ci_run_the_evidence_names_is_read_from_its_address_path(release, ci_run, taken):
    release.bundle(checks=[{"name": "unit tests", "result": "pass"}], ci_run=ci_run)
    found = _availability.release_available(str(release.dir), release.tag)
    assert (found.ci_run_id, found.ci_pipeline_id, found.ci_run_project) == taken
    assert found.complete and found.evidence_missing == []


def test_a_missing_or_resized_artifact_and_missing_evidence_are_named(release):
    (release.dir / "sbom.json").unlink()
    with open(release.dir / "images" / "web.tar", "ab") as handle:
        handle.write(b"!")
    release.attestation().unlink()
    found = _availability.release_available(str(release.dir), release.tag)
    assert not found.complete
    assert "sbom.json is missing" in found.problems
    assert any(p.startswith("images/web.tar has 1280001 bytes, the manifest says 1280000") for p in found.problems)
    assert "release-attestation-v1.0.0.jsonld" in found.evidence_missing
    assert "evidence names no CI run" in found.evidence_missing


def test_evidence_without_a_check_that_ran_is_incomplete(release):
    release.bundle(checks=[{"name": "unit tests", "result": "skip"}], ci_run="make demo")
    found = _availability.release_available(str(release.dir), release.tag)
    assert found.complete and found.evidence_missing == ["evidence records no pre-release check that ran"]


def test_an_unreadable_manifest_makes_the_release_unavailable_not_empty(release):
    release.manifest().write_text("tag: [unclosed\n")
    found = _availability.release_available(str(release.dir), release.tag)
    assert not found.complete and found.artifacts == []
    assert found.problems[0].startswith("the manifest cannot be read")


def test_a_release_directory_that_is_gone(tmp_path):
    found = _availability.release_available(str(tmp_path / "v9"), "v9")
    assert not found.complete and found.problems == [f"release directory {tmp_path / 'v9'} is missing"]
    assert len(found.evidence_missing) == 5


def test_a_host_copy_is_checked_by_size_and_links_are_not_followed(release, tmp_path):
    artifacts = _availability.release_available(str(release.dir), release.tag).artifacts
    copy = tmp_path / "cache" / "demo" / release.tag
    (copy / "images").mkdir(parents=True)
    for entry in artifacts:
        (copy / entry["path"]).write_bytes((release.dir / entry["path"]).read_bytes())
    assert _availability.copy_available(str(copy), artifacts).complete
    (copy / "sbom.json").unlink()
    os.symlink(release.dir / "sbom.json", copy / "sbom.json")
    found = _availability.copy_available(str(copy), artifacts)
    assert not found.complete and found.problems == ["sbom.json is not a regular single-link file"]
    assert not _availability.copy_available(str(tmp_path / "nowhere"), artifacts).complete
    with pytest.raises(ConductorError, match="no artifacts given"):
        _availability.copy_available(str(copy), [])


def test_a_host_copy_changed_to_the_same_size_is_found_only_by_its_digests(release, tmp_path):
    artifacts = _availability.release_available(str(release.dir), release.tag).artifacts
    copy = tmp_path / "cache" / release.tag
    (copy / "images").mkdir(parents=True)
    for entry in artifacts:
        (copy / entry["path"]).write_bytes((release.dir / entry["path"]).read_bytes())
    assert _availability.copy_available(str(copy), artifacts, digests=True).complete
    original = (copy / "sbom.json").read_bytes()
    (copy / "sbom.json").write_bytes(bytes([original[0] ^ 1]) + original[1:])
    assert _availability.copy_available(str(copy), artifacts).complete  # by size: unnoticed
    found = _availability.copy_available(str(copy), artifacts, digests=True)
    sbom = next(e for e in artifacts if e["path"] == "sbom.json")
    assert not found.complete and len(found.problems) == 1
    assert found.problems[0].startswith("sbom.json has sha256 ") and found.problems[0].endswith(f"the verified manifest says {sbom['sha256']}")
    # a missing file is named once, by size, and not hashed
    (copy / "sbom.json").unlink()
    assert _availability.copy_available(str(copy), artifacts, digests=True).problems == ["sbom.json is missing"]
    with pytest.raises(ConductorError, match="carry no sha256"):
        _availability.copy_available(str(copy), [{**a, "sha256": ""} for a in artifacts], digests=True)


# --- the verdict -------------------------------------------------------------------------------------------


def records(*events: tuple[str, str, str]) -> list[dict]:
    return [{"event": event, "tag": tag, "time": time, "environment": "prod"} for event, tag, time in events]


def proxy(colour: str = "blue", commit: str = COMMIT, name: str = "proxy1", **observation) -> dict:
    """A registered proxy_flip read: the configuration names ``colour``, ``commit`` answers through it, and only that
    colour's servers answer it."""
    answers = {c: [{"url": f"http://app1/{c}", "status": 200, "commit": commit if c == colour else OTHER}] for c in ("blue", "green")}
    return {"item": name, "live_colour": colour, "serving_commit": commit,
            "observation": {"config_colour": colour, "config_loaded": True, "serving_status": 200, "serving_commit": commit,
                            "colour_answers": answers, **observation}}


def green(**changes) -> dict:
    """What the watch playbook observes of a healthy environment: v2 live on blue, v1 the rollback target."""
    available = {"complete": True, "problems": [], "evidence_missing": [], "artifacts": [{"path": "a", "size": 1}]}
    observed = {
        "environment": "prod",
        "ledger": {"live": "v2", "live_commit": COMMIT,
                   "records": records(("deployed", "v1", "2027-01-01T00:00:00Z"), ("deployed", "v2", LIVE_AT),
                                      ("verdict", "v2", "2027-01-14T00:05:00Z"))},
        "proxies": [proxy()],
        "target": {"tag": "v1"},
        "verify": {"ok": True, "failed_checks": [], "commit": COMMIT},
        "verify_seconds": 1.25,
        "store": {"live": dict(available), "rollback": dict(available)},
        "hosts": [{"host": "app1", "live": {"changed": False}, "rollback": dict(available)}],
        "drift": {"findings": [], "drifted": False, "unknown": []},
    }
    observed.update(changes)
    return observed


def gauges(verdict: _watch.Verdict) -> dict:
    return {(g["name"], tuple(sorted(g["labels"].items()))): g["value"] for g in verdict.gauges}


def test_a_healthy_environment_is_green_and_every_metric_is_in_the_catalogue():
    verdict = _watch.judge(green(), NOW)
    assert verdict.ok, verdict.findings
    values = gauges(verdict)
    assert values[("maestro_verify_ok", (("source", "watch"),))] == 1
    assert values[("maestro_verify_duration_seconds", (("source", "watch"),))] == 1.25
    assert values[("maestro_release_info", (("commit", COMMIT), ("tag", "v2")))] == 1
    assert values[("maestro_watch_window_open", ())] == 1 and values[("maestro_watch_interval_seconds", ())] == 300
    assert values[("maestro_watch_window_end_timestamp_seconds", ())] == 1_799_884_800 + 7 * 86400
    assert all(values[("maestro_artifact_available", (("artifact", a),))] == 1
               for a in ("live_release_store", "live_app_hosts", "rollback_release_store", "rollback_app_hosts"))
    assert values[("maestro_release_drift", (("kind", "unknown"),))] == 0
    assert verdict.increments == [{"name": "maestro_verify_runs_total", "labels": {"source": "watch", "result": "pass"}, "by": 1},
                                  {"name": "maestro_watch_runs_total", "labels": {"result": "pass"}, "by": 1}]
    for sample in verdict.gauges + verdict.increments:
        spec = SPECS[sample["name"]]
        assert set(sample["labels"]) | {"environment"} == set(spec.labels), sample


def test_after_the_window_the_watch_falls_back_to_daily_while_green():
    verdict = _watch.judge(green(window_days=1), NOW)
    assert not verdict.window_open and verdict.interval == 86400 and verdict.ok
    # red, it is due at every close interval (due()): the stale alerts expect that of it
    red = _watch.judge(green(window_days=1, drift={}), NOW)
    assert not red.ok and red.interval == 300 and gauges(red)[("maestro_watch_interval_seconds", ())] == 300
    assert "next watch due within 300 s" in _watch.summary_lines(red)[0]


def test_a_rollback_opens_a_window_too():
    observed = green()
    observed["ledger"]["records"].append({"event": "rollback", "tag": "v2", "time": "2027-01-15T07:00:00Z"})
    assert _watch.judge(observed, NOW).live_since == 1_799_996_400


@pytest.mark.parametrize("change, check, words", [
    ({"verify": {"ok": False, "failed_checks": ["artifacts"]}}, "verify", "strict verification of the live v2 FAILED (failed checks: artifacts)"),
    ({"verify": {"failed": True, "msg": "no such directory"}}, "verify", "FAILED (no such directory)"),
    ({"verify": {}}, "verify", "FAILED (it did not run to a verdict)"),
    ({"proxies": [proxy("green", OTHER)]}, "served", f"proxy proxy1 serves commit {OTHER}, the ledger's live v2 is {COMMIT}"),
    ({"proxies": [proxy(), proxy("blue", OTHER, "proxy2")]}, "served", f"proxy proxy2 serves commit {OTHER}"),
    ({"proxies": [proxy(config_unknown=["127.0.0.1:28123"])]}, "served", "sends traffic to 127.0.0.1:28123, which is no app host"),
    ({"proxies": [proxy(config_colour="green")]}, "served", "its configuration says green, but it serves commit"),
    ({"proxies": [proxy(config_loaded=False, config_colour="green")]}, "served", "was written after it last loaded one"),
    ({"proxies": [{"item": "proxy1", "failed": True, "msg": "connection refused"}]}, "served", "proxy1 serves is unknown: connection refused"),
    ({"ledger": {"live": "v2", "live_commit": "", "records": records(("deployed", "v2", LIVE_AT))}}, "served", "names no commit"),
    ({"verify": {"ok": True, "failed_checks": [], "commit": OTHER}}, "served", f"verification found {OTHER}"),
    ({"proxies": []}, "served", "no proxy was observed"),
    ({"hosts": []}, "hosts", "no app host was checked"),
    ({"hosts": [{"host": "app1", "live": {"failed": True, "msg": "image ids differ"}}]}, "hosts", "app1: image ids differ"),
    ({"hosts": [{"host": "app1", "live": None}]}, "hosts", "app1: never reported"),
    ({"hosts": [{"host": "app1", "live": {"skipped": True}}]}, "hosts", "app1: not checked"),
    ({"target": {"tag": "", "error": "no tag older than the live v2 has a green verdict"}}, "rollback_target", "no tag older"),
    ({"drift": {}}, "drift", "drift could not be checked"),
    ({"drift": {"findings": [{"kind": "moved", "message": "tag v2 moved"}]}}, "drift", "tag v2 moved"),
    ({"ledger": {"live": "", "records": []}}, "live", "records no live release for environment prod"),
])
def test_anything_wrong_or_unknown_is_red_and_named(change, check, words):
    verdict = _watch.judge(green(**change), NOW)
    assert not verdict.ok
    assert any(f.check == check and words in f.message for f in verdict.findings), verdict.findings
    assert gauges(verdict)[("maestro_watch_ok", ())] == 0
    assert {"name": "maestro_watch_runs_total", "labels": {"result": "fail"}, "by": 1} in verdict.increments


@pytest.mark.parametrize("change", [{"proxies": [proxy(), proxy("blue", OTHER, "proxy2")]},
                                    {"hosts": [{"host": "app1", "live": {"failed": True, "msg": "image ids differ"}}]}])
def test_a_release_not_proven_serving_everywhere_is_not_named_as_the_live_one(change):
    verdict = _watch.judge(green(**change), NOW)
    assert not verdict.ok and not [g for g in verdict.gauges if g["name"] == "maestro_release_info"]


def test_a_failed_verification_is_counted_and_the_release_not_named_as_serving():
    verdict = _watch.judge(green(verify={"ok": False, "failed_checks": ["artifacts"]}), NOW)
    values = gauges(verdict)
    assert values[("maestro_verify_ok", (("source", "watch"),))] == 0
    assert not [g for g in verdict.gauges if g["name"] in ("maestro_release_info", "maestro_verify_last_success_timestamp_seconds")]
    assert {"name": "maestro_verify_runs_total", "labels": {"source": "watch", "result": "fail"}, "by": 1} in verdict.increments


def test_drift_is_counted_by_kind_and_unknown_is_counted_too():
    drift = {"findings": [{"kind": "moved", "message": "m"}, {"kind": "branch_missing", "message": "b"},
                          {"kind": "unknown", "message": "u"}]}
    values = gauges(_watch.judge(green(drift=drift), NOW))
    assert values[("maestro_release_drift", (("kind", "tag_moved"),))] == 1
    assert values[("maestro_release_drift", (("kind", "branch"),))] == 1
    assert values[("maestro_release_drift", (("kind", "unknown"),))] == 1
    assert values[("maestro_release_drift", (("kind", "running"),))] == 0


def test_missing_evidence_is_counted():
    observed = green()
    observed["store"]["live"] = {**observed["store"]["live"], "evidence_missing": ["evidence names no CI run"]}
    verdict = _watch.judge(observed, NOW)
    assert gauges(verdict)[("maestro_evidence_missing_files", ())] == 1 and not verdict.ok


def test_ci_figures_are_written_and_a_partial_read_is_red():
    ci = {"queued_workflow_runs": 130, "stuck_workflow_runs": 3, "queued_jobs": 12, "complete": False,
          "artifacts": {"available": False, "expired": 1, "earliest_expiry_epoch": NOW + 3600, "reasons": ["1 expired"]}}
    verdict = _watch.judge(green(ci_configured=True, ci=ci), NOW)
    values = gauges(verdict)
    assert values[("maestro_ci_queued_workflow_runs", ())] == 130 and values[("maestro_ci_stuck_workflow_runs", ())] == 3
    assert values[("maestro_artifact_available", (("artifact", "ci_artifacts"),))] == 0
    assert values[("maestro_artifact_expiry_timestamp_seconds", (("artifact", "ci_artifacts"),))] == NOW + 3600
    assert {f.check for f in verdict.findings} == {"ci", "availability"}
    failed = _watch.judge(green(ci_configured=True, ci={"failed": True, "msg": "401: the token was rejected"}), NOW)
    assert [f.message for f in failed.findings] == ["the CI queue could not be read: 401: the token was rejected"]


@pytest.mark.parametrize("change, words", [
    ({"environment": "bad env"}, "environment 'bad env' is invalid"),
    ({"window_days": 0}, "window_days 0 is invalid"),
    ({"close_interval": "5m"}, "close_interval '5m' is invalid"),
])
def test_bad_settings_are_refused(change, words):
    with pytest.raises(ConductorError, match=words):
        _watch.judge(green(**change), NOW)


def test_the_summary_says_green_or_lists_every_finding():
    assert _watch.judge(green(), NOW).as_dict()["summary"][1].startswith("GREEN")
    red = _watch.judge(green(drift={}, verify={}), NOW).as_dict()
    assert red["summary"][1] == "RED: 2 finding(s)" and len(red["summary"]) == 4


# --- the schedule --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window_days, last, last_ok, expected, words", [
    (7, NOW - 60, False, True, "inside the post-GA window (until 2027-01-21T00:00:00Z): every 300 s"),
    (1, NOW - 3600, True, False, "runs daily; the last run, green, was 3600 s ago"),
    (1, NOW - 3600, False, True, "the last watch was red: every 300 s until it is green"),
    (1, NOW - 3600, None, True, "the last watch was of unknown verdict: every 300 s"),
    (1, 1_799_884_800 + 86400 - 100, True, True, "the post-GA window has just closed: the first daily run"),
    (1, NOW + 86400, True, True, "recorded 86400 s in the future: the clock moved"),
    (1, NOW - 86400 + 300, True, True, "the post-GA window has just closed"),
    (1, None, True, True, "no earlier run is on record"),
])
def test_a_scheduled_watch_runs_at_its_close_interval_inside_the_window_then_daily_while_green(
        window_days, last, last_ok, expected, words):
    decided = _watch.due(green(window_days=window_days, **({} if last_ok is None else {"last_ok": last_ok})), last, NOW)
    assert decided["due"] is expected and words in decided["reason"]


@pytest.mark.parametrize("ago, expected", [(86400 - 300, True), (86400 - 301, False), (3 * 86400, True)])
def test_after_the_window_a_green_watch_is_due_again_a_day_less_one_close_interval_after_it_ran(ago, expected):
    """The schedule fires every close interval: a run one interval early is on time, one more second early is not."""
    ledger = {"live": "v2", "records": records(("deployed", "v2", "2027-01-01T00:00:00Z"))}  # its 1-day window long closed
    decided = _watch.due(green(window_days=1, ledger=ledger, last_ok=True), NOW - ago, NOW)
    assert decided["due"] is expected, decided


def test_a_release_gone_live_since_the_last_watch_makes_it_due():
    """A run that is not due hands the last verdict on: that verdict must never stand for a release gone live after it."""
    back = _watch.parse_time("2027-01-14T12:00:00Z")  # v1 back live (a rollback), its 1-day window closes 24 h later
    ledger = {"live": "v1", "records": records(("deployed", "v2", LIVE_AT), ("rollback", "v1", "2027-01-14T12:00:00Z"))}
    later = back + 3 * 86400
    before = _watch.due(green(window_days=1, ledger=ledger, last_ok=True), back - 60, later)
    assert before["due"] and "the first daily run" in before["reason"]
    assert not _watch.due(green(window_days=1, ledger=ledger, last_ok=True), later - 3600, later)["due"]


def test_an_unknown_live_release_is_always_due():
    assert _watch.due(green(ledger={"live": "", "records": []}), NOW - 10, NOW)["due"]


def test_a_release_made_before_the_envelope_existed_misses_no_evidence(release):
    """As verification reads it: a format 2 release carries no DSSE envelope, and lacks nothing for it."""
    release.bundle(checks=[{"name": "unit tests", "result": "pass"}], ci_run="ci#1", manifest_format=2)
    release.envelope().unlink(missing_ok=True)
    found = _availability.release_available(str(release.dir), release.tag)
    assert found.complete and found.evidence_missing == []
    release.bundle(checks=[{"name": "unit tests", "result": "pass"}], ci_run="ci#1")
    release.envelope().unlink()
    assert _availability.release_available(str(release.dir), release.tag).evidence_missing == [release.envelope().name]
