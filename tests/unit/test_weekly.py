"""The weekly deep validation (plugins/module_utils/_weekly.py and maestro.conductor.release_validate), on real signed
releases in real git repositories (tests/conftest.py)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import re
import time

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _git, _weekly
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._metric_catalogue import SPECS
from ansible_collections.maestro.conductor.plugins.modules import release_validate
from tests.hosted_api import READER, HostedApi
from tests.unit.test_modules import run

CHECKS = [{"name": "unit tests", "result": "pass"}]


def validated(release, policy=None, **kwargs) -> _weekly.ReleaseResult:
    return _weekly.validate(str(release.dir.parent), [release.tag], str(release.repo), policy, allowed_signers=str(release.signers),
                            **kwargs)[0]


def check(result: _weekly.ReleaseResult, name: str) -> _weekly.Check:
    return next(c for c in result.checks if c.name == name)


def test_a_sound_release_passes_every_check_and_its_summary_says_what_it_holds(release):
    result = validated(release)
    assert result.ok and [c.name for c in result.checks] == list(_weekly.CHECKS), result.problems
    assert result.commit == release.commit and result.bytes == sum(
        (release.dir / p).stat().st_size for p in ("compose.yaml", "images/web.tar", "sbom.json"))
    assert check(result, "regeneration").detail.startswith("the manifest and the evidence made again")
    page = _weekly.release_summary(result)
    assert page.startswith("# Release v1.0.0") and "**VALID**" in page and release.commit in page and "images/web.tar" in page
    assert "| unit tests | pass |" in page
    assert _weekly.totals([result], 2.0)["bytes_per_second"] == result.bytes // 2


def test_a_changed_artifact_fails_verification_and_regeneration_and_the_store_is_left_as_it_was(release):
    sbom = release.dir / "sbom.json"
    sbom.write_bytes(sbom.read_bytes().replace(b"2.3", b"2.4"))  # the same size
    before = {p: p.read_bytes() for p in release.dir.rglob("*") if p.is_file()}
    result = validated(release)
    assert not result.ok
    assert "strict verification FAILED: artifacts: artifact sbom.json: sha256 is" in check(result, "verification").detail
    assert "release-manifest-v1.0.0.yaml (artifacts)" in check(result, "regeneration").detail
    assert {p: p.read_bytes() for p in release.dir.rglob("*") if p.is_file()} == before
    assert "**INVALID**" in _weekly.release_summary(result)


def test_the_policy_names_the_builder_or_workflow_it_does_not_allow(release):
    result = validated(release, {"builders": ["github-actions"], "workflows": [".github/workflows/release.yml"]})
    detail = check(result, "provenance").detail
    assert not result.ok and "builder 'maestro.conductor.release_bundle' is not one the policy allows" in detail
    assert "workflow '(none recorded)' is not one the policy allows" in detail
    assert validated(release, {"builders": ["maestro.conductor.release_bundle"]}).ok


def test_pipeline_integrity_compares_the_recorded_workflow_with_the_file_at_the_tags_commit(release, tmp_path):
    assert check(validated(release), "pipeline").ok  # format 1: nothing recorded, not required
    required = validated(release, {"require_workflow": True})
    assert not required.ok and "records no CI workflow" in check(required, "pipeline").detail
    release.bundle(checks=CHECKS, workflow="VERSION")
    assert validated(release, {"require_workflow": True, "workflows": ["VERSION"]}).ok
    # the CI ran another workflow than the one the tag's commit holds: recorded at release time, found now
    ran = tmp_path / "ran.yml"
    ran.write_bytes(b"first, with a step the commit never had\n")
    release.bundle(checks=CHECKS, workflow="VERSION", workflow_file=str(ran))
    result = validated(release)
    detail = check(result, "pipeline").detail
    assert not result.ok and check(result, "verification").ok
    assert f"VERSION at the tag's commit has sha256 {hashlib.sha256(b'first' + bytes([10])).hexdigest()}" in detail
    assert "was not built by the workflow its commit holds" in detail


def test_the_audit_window_keeps_the_live_release_and_a_missing_one_is_red(release):
    root = str(release.dir.parent)
    now = time.time()
    assert _weekly.in_window(root, [release.tag], 1, now) == ([release.tag], [])
    later = now + 400 * 86400
    dates = {info.name: info.date for info in _git.list_tags(str(release.repo))}
    # out only when both the tag's date in git and the manifest's say so; either unknown keeps it in
    assert _weekly.in_window(root, [release.tag], 365, later, tag_dates=dates) == ([], [release.tag])
    assert _weekly.in_window(root, [release.tag], 365, later) == ([release.tag], [])  # the tag's date unknown: kept in
    assert _weekly.in_window(root, [release.tag], 365, later, keep=(release.tag,), tag_dates=dates) == ([release.tag], [])
    # a manifest backdated after a tamper does not take the release out while its tag says it is recent
    manifest = release.manifest()
    manifest.write_text(re.sub(r"created: .*", "created: '2001-01-01T00:00:00Z'", manifest.read_text()))
    assert _weekly.in_window(root, [release.tag], 365, now, tag_dates=dates) == ([release.tag], [])
    with pytest.raises(ConductorError, match="window_days 0 is invalid"):
        _weekly.in_window(root, [release.tag], 0, now)
    gone = _weekly.validate(root, ["v9.9.9"], str(release.repo), allowed_signers=str(release.signers))[0]
    assert not gone.ok and "could not run: tag v9.9.9 does not exist" in check(gone, "verification").detail
    assert [c.ok for c in gone.checks] == [False] * len(_weekly.CHECKS)


@pytest.mark.parametrize("policy, message", [
    ({"builders": "ci"}, "policy builders must be a list"),
    ({"workflow": []}, "unknown field(s) workflow"),
    ({"require_workflow": "yes"}, "require_workflow must be true or false"),
])
def test_a_bad_policy_is_refused_naming_the_field(policy, message):
    with pytest.raises(ConductorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _weekly.policy_from(policy)


def test_the_module_finds_the_tags_writes_each_summary_once_and_check_mode_writes_nothing(release, tmp_path, monkeypatch):
    summaries = tmp_path / "reports" / "releases"
    args = {"releases_root": str(release.dir.parent), "repo": str(release.repo), "window_days": 30,
            "allowed_signers": str(release.signers), "summary_dir": str(summaries)}
    dry = run(release_validate, {**args, "_ansible_check_mode": True}, monkeypatch)
    assert dry.result["changed"] and dry.result["ok"] and not summaries.exists()
    first = run(release_validate, args, monkeypatch)
    assert first.result["changed"] and first.result["summaries"] == [str(summaries / "v1.0.0.md")]
    assert [r["tag"] for r in first.result["releases"]] == ["v1.0.0"] and first.result["totals"]["passed"] == 1
    assert first.result["totals"]["bytes"] > 1_000_000 and first.result["totals"]["bytes_per_second"] > 0
    again = run(release_validate, args, monkeypatch)
    assert not again.result["changed"] and again.result["summaries"] == []
    kept = run(release_validate, {**args, "keep": ["v1.0.0", "v0.9.0"]}, monkeypatch)
    assert not kept.result["ok"] and kept.result["red"] == ["v0.9.0"]
    json.dumps(kept.result)
    bad = run(release_validate, {**args, "window_days": 0}, monkeypatch)
    assert bad.failed and "window_days 0 is invalid" in bad.result["msg"]
    # the lost release has its page too, saying so
    assert sorted(os.listdir(summaries)) == ["v0.9.0.md", "v1.0.0.md"]
    assert "The manifest cannot be read" in (summaries / "v0.9.0.md").read_text()


def test_the_report_counts_names_each_problem_and_the_quarantine_and_only_catalogued_metrics():
    validated = {"releases": [{"tag": "v2", "ok": True, "problems": [], "bytes": 10},
                              {"tag": "v1", "ok": False, "problems": ["verification: strict verification FAILED: artifacts: x"], "bytes": 5}],
                 "totals": {"releases": 2, "passed": 1, "failed": 1, "bytes": 15, "seconds": 0.5, "bytes_per_second": 30},
                 "outside_window": ["v0"], "failed": ["v1"]}
    weekly = _weekly.report("prod", validated, "v1", "v1", "", 1_800_000_000.0, 1_800_000_012.5)
    assert not weekly["ok"] and weekly["report"]["seconds"] == 12.5
    assert weekly["findings"] == ["v1: verification: strict verification FAILED: artifacts: x",
                                  "the rollback target v1 failed and is quarantined; the rollback target is now NONE: no healthy "
                                  "release is left to roll back to"]
    assert weekly["report"]["rollback_target"] == {"before": "v1", "quarantined": "v1", "after": ""}
    gauges = {(g["name"], tuple(g["labels"].items())): g["value"] for g in weekly["gauges"]}
    assert gauges[("maestro_weekly_validation_releases", (("result", "fail"),))] == 1
    for sample in weekly["gauges"] + weekly["increments"]:
        assert set(sample["labels"]) | {"environment"} == set(SPECS[sample["name"]].labels), sample
    markdown = _weekly.render_markdown(weekly["report"])
    assert "**RED**" in markdown and "[v1](releases/v1.md)" in markdown and "Outside the audit window (not validated): v0." in markdown
    moved = _weekly.report("prod", validated, "v1", "v1", "v0", 1.0, 2.0)
    assert "the new rollback target v0 was not validated in this run" in moved["findings"][-1]
    validated["releases"].append({"tag": "v0", "ok": False, "problems": ["provenance: x"], "bytes": 1})
    assert _weekly.report("prod", validated, "v1", "v1", "v0", 1.0, 2.0)["findings"][-1] == "the new rollback target v0 is not valid either"
    empty = _weekly.report("prod", {"releases": [], "totals": {}}, "", "", "", 1.0, 2.0)
    assert not empty["ok"] and "no release was validated" in empty["findings"][0]


def test_the_ci_run_is_the_one_the_hosted_ci_says_built_the_release(release, monkeypatch):
    """GitHub Actions cannot be reached from here: tests/hosted_api.py stands in for it, answering as GitHub documents."""
    github = HostedApi()
    try:
        now = time.time()
        good = github.add_run("completed", now, head_sha=release.commit, path="VERSION", conclusion="success")
        args = {"releases_root": str(release.dir.parent), "repo": str(release.repo), "window_days": 30,
                "allowed_signers": str(release.signers), "ci_project": "acme/app", "ci_api_url": github.url, "ci_token": READER,
                "ci_web_host": "github.com"}

        def ci_run(run_url: str) -> dict:
            release.bundle(checks=CHECKS, workflow="VERSION", ci_run=run_url)
            done = run(release_validate, args, monkeypatch)
            assert READER not in json.dumps(done.result)
            return next(c for c in done.result["releases"][0]["checks"] if c["name"] == "ci_run")

        assert ci_run(f"https://github.com/acme/app/actions/runs/{good}")["ok"]
        other = github.add_run("completed", now, head_sha="b" * 40, path=".github/workflows/ci.yml", conclusion="failure")
        found = ci_run(f"https://github.com/acme/app/actions/runs/{other}")
        assert not found["ok"] and f"it built commit {'b' * 40}, the tag's commit is {release.commit}" in found["detail"]
        assert "it ran workflow .github/workflows/ci.yml, the evidence records VERSION" in found["detail"]
        assert "concluded failure" in found["detail"]
        assert "is not on acme/app" in ci_run("https://github.com/acme/app/actions/runs/123")["detail"]
        assert "is of github.com/alice/tools, not of github.com/acme/app" in ci_run(f"https://github.com/alice/tools/actions/runs/{good}")["detail"]
        assert "is of evil.example/acme/app" in ci_run(f"https://evil.example/acme/app/actions/runs/{good}")["detail"]
        assert "is no GitHub Actions run address" in ci_run("make bench")["detail"]
    finally:
        github.stop()
    # the hosted CI down: the check is red and says which, the others go on
    release.bundle(checks=CHECKS, workflow="VERSION", ci_run=f"https://github.com/acme/app/actions/runs/{good}")
    down = run(release_validate, {**args, "ci_api_url": "http://127.0.0.1:9"}, monkeypatch)
    checks = {c["name"]: c for c in down.result["releases"][0]["checks"]}
    assert not checks["ci_run"]["ok"] and "could not be read from the hosted CI" in checks["ci_run"]["detail"]
    assert checks["verification"]["ok"]
    # red, but not proven bad: a hosted CI that is down never gets a release quarantined
    assert down.result["red"] == ["v1.0.0"] and down.result["invalid"] == []
    typo = run(release_validate, {**args, "ci_project": "acme"}, monkeypatch)
    assert typo.failed and "acme" in typo.result["msg"]


def test_a_release_directory_whose_tag_is_gone_is_validated_and_red(release, monkeypatch):
    shutil.copytree(release.dir, release.dir.parent / "v2.0.0")
    done = run(release_validate, {"releases_root": str(release.dir.parent), "repo": str(release.repo), "window_days": 30,
                                  "allowed_signers": str(release.signers)}, monkeypatch)
    assert [r["tag"] for r in done.result["releases"]] == ["v1.0.0", "v2.0.0"]
    assert done.result["red"] == ["v2.0.0"] and "tag v2.0.0 does not exist" in done.result["releases"][1]["problems"][0]
