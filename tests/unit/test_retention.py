"""Retention against the audit window: the release store, the ledger and GitHub Actions (release_retention), and GitHub's
retention setting (ci_retention). GitHub cannot be reached from here: tests/hosted_api.py stands in for it, answering the
documented requests as GitHub does."""

from __future__ import annotations

import json
import re
import time

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _ci_github, _retention
from ansible_collections.maestro.conductor.plugins.modules import ci_retention, release_retention
from tests.hosted_api import ADMIN, READER, HostedApi
from tests.unit.test_modules import run

CHECKS = [{"name": "unit tests", "result": "pass"}]
DAY = 86400


@pytest.fixture
def github():
    api = HostedApi()
    yield api
    api.stop()


def args(release, **more) -> dict:
    return {"releases_root": str(release.dir.parent), "repo": str(release.repo), "window_days": 365, **more}


def hosted(github, **more) -> dict:
    return {"ci_project": "acme/app", "ci_api_url": github.url, "ci_token": ADMIN, **more}


def with_run(release, github, *artifacts: tuple[str, float]) -> int:
    """The release's evidence names a GitHub Actions run that has ``artifacts`` (name, expiry)."""
    run_id = github.add_run("completed", time.time(), head_sha=release.commit, conclusion="success")
    for name, expires in artifacts:
        github.add_artifact(run_id, name, expires)
    release.bundle(checks=CHECKS, ci_run=f"https://github.com/acme/app/actions/runs/{run_id}")
    return run_id


def test_a_release_inside_the_window_must_be_whole_on_the_store(release, monkeypatch):
    done = run(release_retention, args(release), monkeypatch)
    assert done.result["ok"], json.dumps(done.result)
    assert [r["tag"] for r in done.result["releases"]] == ["v1.0.0"]
    assert done.result["releases"][0]["complete"] and done.result["setting"] is None and not done.result["changed"]
    (release.dir / "sbom.json").unlink()
    gone = run(release_retention, args(release), monkeypatch)
    assert not gone.result["ok"] and gone.result["red"] == ["v1.0.0"]
    assert "sbom.json" in " ".join(gone.result["releases"][0]["problems"])
    (release.dir / f"evidence-{release.tag}.json").unlink()
    assert any("evidence-v1.0.0.json" in p for p in run(release_retention, args(release), monkeypatch).result["releases"][0]["problems"])


def test_a_release_the_ledger_says_went_live_inside_the_window_must_be_on_the_store(release, monkeypatch):
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 10 * DAY))
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 800 * DAY))
    records = [{"event": "deployed", "tag": "v0.8.0", "time": old, "environment": "production"},
               {"event": "deployed", "tag": "v0.9.0", "time": recent, "environment": "production"},
               {"event": "verdict", "tag": "v0.7.0", "time": recent, "environment": "production"}]
    done = run(release_retention, args(release, ledger_records=records), monkeypatch)
    assert done.result["red"] == ["v0.9.0"]  # the one that went live inside the window; v0.8.0 left it, v0.7.0 never went live
    problem = next(r for r in done.result["releases"] if r["tag"] == "v0.9.0")["problems"]
    assert problem == [f"the ledger says v0.9.0 went live ({recent}) but the release store has no v0.9.0: its proof is lost; "
                       "restore it from the archive"]


@pytest.mark.parametrize("days, maximum, expected", [
    (400, 400, None),
    (90, 400, "keeps artifacts and logs 90 days and the audit window is 365 days: set it to 365"),
    (90, 300, "at most 300 days (maximum_allowed_days), and the audit window is 365 days: the evidence cannot live there"),
])
def test_the_hosted_retention_setting_must_cover_the_window(release, github, monkeypatch, days, maximum, expected):
    github.retention["repository/acme/app"] = {"days": days, "maximum_allowed_days": maximum}
    with_run(release, github, ("evidence", time.time() + 500 * DAY))
    done = run(release_retention, args(release, **hosted(github)), monkeypatch)
    assert done.result["setting"] == {"scope": "repository", "name": "acme/app", "days": days, "maximum_allowed_days": maximum}
    if expected is None:
        assert done.result["ok"] and done.result["problems"] == []
    else:
        assert not done.result["ok"] and expected in done.result["problems"][0]
        assert "Keep it on the release store" in done.result["problems"][0] or maximum >= 365
    github.retention["organization/acme"] = {"days": 30, "maximum_allowed_days": 90}
    org = run(release_retention, args(release, **hosted(github, ci_organization="acme", ci_project="")), monkeypatch)
    assert org.result["setting"]["scope"] == "organization" and "organization acme" in org.result["problems"][0]
    assert org.result["releases"][0]["artifacts"] is None  # no repository given: its runs are not read


def test_each_release_s_ci_artifacts_must_outlive_the_window(release, github, monkeypatch):
    github.retention["repository/acme/app"] = {"days": 400, "maximum_allowed_days": 400}
    soon = time.time() + 30 * DAY
    run_id = with_run(release, github, ("evidence", time.time() + 500 * DAY), ("logs", soon))
    done = run(release_retention, args(release, **hosted(github)), monkeypatch)
    [problem] = done.result["releases"][0]["problems"]
    assert problem.startswith(f"CI run {run_id} of v1.0.0: an artifact expires {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(soon))}")
    assert "before v1.0.0 leaves the audit window" in problem and ADMIN not in json.dumps(done.result)
    missing = run(release_retention, args(release, expected_artifacts=["evidence", "sbom"], **hosted(github)), monkeypatch)
    assert any("evidence artifact(s) missing: sbom" in p for p in missing.result["releases"][0]["problems"])
    github.workflow_runs.pop(run_id)
    gone = run(release_retention, args(release, **hosted(github)), monkeypatch)
    assert gone.result["releases"][0]["problems"] == [f"CI run {run_id} of v1.0.0 is gone from GitHub (deleted, or removed by "
                                                      "retention): its logs and artifacts are lost there"]


def test_a_hosted_service_that_cannot_be_asked_is_red_and_named(release, github, monkeypatch):
    with_run(release, github, ("evidence", time.time() + 500 * DAY))
    down = run(release_retention, args(release, **hosted(github, ci_api_url="http://127.0.0.1:9")), monkeypatch)
    assert not down.result["ok"] and "the GitHub Actions retention setting could not be read" in down.result["problems"][0]
    assert "GitHub could not be asked about CI run" in down.result["releases"][0]["problems"][0]
    refused = run(release_retention, args(release, **hosted(github, ci_token="wrong-token")), monkeypatch)
    assert "401" in refused.result["problems"][0] and "wrong-token" not in json.dumps(refused.result)
    assert run(release_retention, args(release, window_days=0), monkeypatch).result["msg"] == \
        "the audit window 0 is invalid: expected a whole number of days above 0"


def test_the_retention_setting_is_set_read_back_and_left_alone_when_it_holds(github, monkeypatch):
    where = {"ci_project": "acme/app", "ci_api_url": github.url, "ci_token": ADMIN}
    read = run(ci_retention, where, monkeypatch)
    assert (read.result["changed"], read.result["days"], read.result["maximum_allowed_days"]) == (False, 90, 400)
    dry = run(ci_retention, {**where, "days": 365, "_ansible_check_mode": True, "_ansible_diff": True}, monkeypatch)
    assert dry.result["changed"] and dry.result["diff"] == {"before": {"days": 90}, "after": {"days": 365}} and not github.writes()
    done = run(ci_retention, {**where, "days": 365}, monkeypatch)
    assert done.result["changed"] and done.result["days"] == 365 and github.retention["repository/acme/app"]["days"] == 365
    assert github.writes() == [("PUT", "/repos/acme/app/actions/permissions/artifact-and-log-retention")]
    again = run(ci_retention, {**where, "days": 365}, monkeypatch)
    assert not again.result["changed"] and len(github.writes()) == 1
    too_long = run(ci_retention, {**where, "days": 500}, monkeypatch)
    assert too_long.failed and "days 500 is more than GitHub allows for repository acme/app: at most 400" in too_long.result["msg"]
    assert len(github.writes()) == 1  # refused before anything was sent
    github.drop_writes = True
    ignored = run(ci_retention, {**where, "days": 200}, monkeypatch)
    assert ignored.failed and "keeps 365 days, not 200" in ignored.result["msg"]
    github.drop_writes, github.retention_held = False, True
    held = run(ci_retention, {**where, "days": 200}, monkeypatch)
    assert held.failed and "409 conflict: an organization or enterprise policy sets the retention of acme/app" in held.result["msg"]
    reader = run(ci_retention, {**where, "ci_token": READER, "days": 200}, monkeypatch)
    assert reader.failed and "Administration permission" in reader.result["msg"] and READER not in reader.result["msg"]
    where.pop("ci_project")
    org = run(ci_retention, {**where, "ci_organization": "acme", "days": 120}, monkeypatch)
    assert org.result["changed"], org.result
    assert (org.result["scope"], org.result["name"]) == ("organization", "acme")
    both = run(ci_retention, {**where, "ci_project": "acme/app", "ci_organization": "acme"}, monkeypatch)
    assert both.failed and "mutually exclusive" in both.result["msg"]


def test_raise_only_never_shortens_a_longer_retention_and_an_unknown_age_is_red(release, github, monkeypatch):
    where = {"ci_project": "acme/app", "ci_api_url": github.url, "ci_token": ADMIN, "raise_only": True}
    github.retention["repository/acme/app"] = {"days": 400, "maximum_allowed_days": 400}
    kept = run(ci_retention, {**where, "days": 90}, monkeypatch)
    assert not kept.result["changed"] and kept.result["days"] == 400 and not github.writes()
    raised = run(ci_retention, {**where, "days": 400 - 1, "raise_only": False}, monkeypatch)
    assert raised.result["changed"] and github.retention["repository/acme/app"]["days"] == 399
    with_run(release, github, ("evidence", time.time() + 500 * DAY))
    manifest = release.manifest()
    manifest.write_text(re.sub(r"created: .*", "created: not a time", manifest.read_text()))
    both = {"ci_project": "acme/app", "ci_organization": "acme", "ci_api_url": github.url, "ci_token": ADMIN}
    unknown = run(release_retention, args(release, **both), monkeypatch)
    assert unknown.result["setting"]["scope"] == "repository"  # a repository named: its own setting is what keeps its runs
    # the manifest's created unreadable: the tag's date in git (2026-01-02) says until when its evidence is needed
    assert unknown.result["releases"][0]["keep_until"] == "2027-01-02T00:00:00Z"
    api = _ci_github.client(github.url, ADMIN)
    neither = _retention.check_release(str(release.dir.parent), "v1.0.0", 365,
                                       lambda run_id: _ci_github.read_artifacts(api, "acme/app", run_id), tag_date="")
    assert any("when v1.0.0 was made is unknown" in p for p in neither.problems), neither


def test_a_ci_run_is_looked_up_under_the_configured_repository_whatever_its_address_names(release, github, monkeypatch):
    """Run ids are global and a renamed repository's runs move with it: the id is asked of acme/app. One not there, whose
    address names another repository, is gone, and the problem says where the evidence put it."""
    github.retention["repository/acme/app"] = {"days": 400, "maximum_allowed_days": 400}
    run_id = with_run(release, github, ("evidence", time.time() + 500 * DAY))
    release.bundle(checks=CHECKS, ci_run=f"https://github.com/acme/old-name/actions/runs/{run_id}")
    renamed = run(release_retention, args(release, **hosted(github)), monkeypatch)
    assert renamed.result["ok"], renamed.result["releases"]
    assert f"/repos/acme/app/actions/runs/{run_id}/artifacts" in " ".join(path for _method, path in github.requests)
    release.bundle(checks=CHECKS, ci_run=f"https://github.com/other/app/actions/runs/{run_id + 1000}")
    foreign = run(release_retention, args(release, **hosted(github)), monkeypatch)
    assert foreign.result["red"] == ["v1.0.0"] and foreign.result["releases"][0]["problems"] == [
        f"CI run {run_id + 1000} of v1.0.0 is gone from GitHub (the evidence names it under other/app: a run of another "
        "project, or of this one before a rename): its logs and artifacts are lost there"]


def iso_in(days: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + days * DAY))


def test_gitlab_pipelines_job_artifacts_must_outlive_the_window(release, github, monkeypatch):
    """GitLab cannot be reached from here either: the stand-in answers its pipeline and pipeline jobs endpoints (paged)."""
    jobs = [("evidence", iso_in(500), True), ("sbom", None, True), ("lint", iso_in(1), False)]
    jobs += [(f"test {n}", iso_in(600), True) for n in range(30)]
    pipeline = github.add_pipeline(jobs)
    release.bundle(checks=CHECKS, ci_run=f"https://gitlab.example/acme/app/-/pipelines/{pipeline}")
    gitlab = {"ci_service": "gitlab", "ci_project": "acme/app", "ci_api_url": github.url + "/api/v4", "ci_token": READER}
    done = run(release_retention, args(release, expected_artifacts=["evidence", "sbom", "test 29"], **gitlab), monkeypatch)
    assert done.result["ok"], json.dumps(done.result["releases"])[:1500]
    assert done.result["releases"][0]["artifacts"]["count"] == 32  # two pages; the job without an archive is no artifact
    assert done.result["setting"] is None  # GitLab has no retention setting here: each job's expiry is what counts
    github.pipelines[pipeline][0]["artifacts_expire_at"] = iso_in(30)
    soon = run(release_retention, args(release, **gitlab), monkeypatch)
    [problem] = soon.result["releases"][0]["problems"]
    assert problem.startswith(f"pipeline {pipeline} of v1.0.0: an artifact expires") and "before v1.0.0 leaves the audit window" in problem
    github.pipelines[pipeline][1]["artifacts_expire_at"] = iso_in(-1)
    expired = run(release_retention, args(release, **gitlab), monkeypatch)
    assert f"pipeline {pipeline} of v1.0.0: 1 artifact(s) expired" in expired.result["releases"][0]["problems"]
    github.pipelines.pop(pipeline)
    gone = run(release_retention, args(release, **gitlab), monkeypatch)
    assert gone.result["releases"][0]["problems"] == [f"pipeline {pipeline} of v1.0.0 is gone from GitLab (deleted, or removed by "
                                                      "retention): its logs and artifacts are lost there"]
    refused = run(release_retention, args(release, **{**gitlab, "ci_token": "wrong-token"}), monkeypatch)
    assert "GitLab could not be asked about pipeline" in refused.result["releases"][0]["problems"][0]
    assert "401 the token was rejected" in refused.result["releases"][0]["problems"][0] and "wrong-token" not in json.dumps(refused.result)
    github_evidence = run(release_retention, args(release, **{**gitlab, "ci_service": "github"}), monkeypatch)
    assert "names no GitHub Actions run (https://gitlab.example/acme/app/-/pipelines/" in json.dumps(github_evidence.result)
    assert run(release_retention, args(release, **{**gitlab, "ci_organization": "acme"}), monkeypatch).failed
    invalid = run(release_retention, args(release, **{**gitlab, "ci_project": "../x"}), monkeypatch)
    assert "GitLab expects the project's numeric id or its path" in invalid.result["msg"]
