"""release_drift on real repositories: moved, deleted and re-created tags, a branch ahead of its release,
an environment running another commit."""

from __future__ import annotations

import pytest

from ansible_collections.maestro.conductor.plugins.module_utils import _drift, _ledger
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import release_drift
from tests.conftest import commit, git
from tests.unit.test_modules import run


def drift(release, monkeypatch, **extra):
    args = {"repo": str(release.repo), "releases_root": str(release.dir.parent), **extra}
    return run(release_drift, args, monkeypatch)


def test_nothing_moved_is_no_finding(release, monkeypatch):
    out = drift(release, monkeypatch, protected_branches=["main"])
    assert out.result["findings"] == [] and out.result["drifted"] is False
    assert out.result["checked"] == {"tags": 1, "branches": 1}


def test_a_moved_tag_is_found_with_what_was_recorded(release, monkeypatch):
    recorded_object = git(release.repo, "rev-parse", "v1.0.0")
    second = commit(release.repo, "second")
    git(release.repo, "tag", "-f", "-a", "-m", "moved", "v1.0.0", second)
    now_object = git(release.repo, "rev-parse", "v1.0.0")
    (finding,) = drift(release, monkeypatch).result["findings"]
    assert finding == {
        "kind": "moved", "ref": "refs/tags/v1.0.0",
        "expected": f"object {recorded_object}, commit {release.commit}", "found": f"object {now_object}, commit {second}",
        "message": f"tag v1.0.0 moved on {release.repo}: recorded object {recorded_object}, commit {release.commit}, "
                   f"now object {now_object}, commit {second}",
    }


def test_a_tag_deleted_and_recreated_on_the_same_commit_is_found(release, monkeypatch):
    git(release.repo, "tag", "-d", "v1.0.0")
    git(release.repo, "tag", "-a", "-m", "again", "v1.0.0", release.commit, date="2026-03-01T00:00:00Z")
    (finding,) = drift(release, monkeypatch).result["findings"]
    assert finding["kind"] == "recreated" and f"same commit {release.commit}" in finding["message"]


def test_a_deleted_tag_is_found(release, monkeypatch):
    git(release.repo, "tag", "-d", "v1.0.0")
    (finding,) = drift(release, monkeypatch).result["findings"]
    assert (finding["kind"], finding["found"]) == ("deleted", "absent")
    assert finding["message"].startswith("tag v1.0.0 (object ") and finding["message"].endswith(f"is gone from {release.repo}")


def test_a_protected_branch_ahead_of_the_latest_release_and_a_missing_one(release, monkeypatch):
    ahead = commit(release.repo, "work after the release")
    findings = drift(release, monkeypatch, protected_branches=["main", "release/1.x"]).result["findings"]
    assert [(f["kind"], f["ref"]) for f in findings] == [("branch_not_at_release", "refs/heads/main"), ("branch_missing", "refs/heads/release/1.x")]
    assert findings[0]["message"] == (f"protected branch main is at {ahead} on {release.repo}, the latest release tag v1.0.0 at {release.commit}")


def test_a_remote_that_differs_from_the_clone(release, monkeypatch, tmp_path):
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--mirror", str(release.repo), str(mirror))
    git(mirror, "tag", "-d", "v1.0.0")
    out = drift(release, monkeypatch, remote=str(mirror))
    assert [f["kind"] for f in out.result["findings"]] == ["deleted"]
    # the local clone is untouched: only the remote drifted
    assert drift(release, monkeypatch).result["findings"] == []


def test_the_environment_running_another_commit_than_the_ledger_says(release, monkeypatch, tmp_path):
    ledger = tmp_path / "prod.jsonl"
    _ledger.append(str(ledger), _ledger.make_record("prod", "deployed", "v1.0.0", "ci", commit=release.commit, verdict="green"))
    same = drift(release, monkeypatch, ledger=str(ledger), environment="prod", running_commit=release.commit)
    assert same.result["findings"] == [] and same.result["checked"]["tags"] == 2  # the manifest and the ledger
    other = "e" * 40
    (finding,) = drift(release, monkeypatch, ledger=str(ledger), environment="prod", running_commit=other).result["findings"]
    assert finding["kind"] == "running_commit"
    assert finding["message"] == f"environment prod runs commit {other}, the ledger says v1.0.0 ({release.commit}) is live"


def test_fail_on_drift_fails_with_every_finding(release, monkeypatch):
    git(release.repo, "tag", "-d", "v1.0.0")
    out = drift(release, monkeypatch, fail_on_drift=True)
    assert out.failed and out.result["msg"].startswith("1 drift finding(s): tag v1.0.0 (object ")
    assert out.result["findings"][0]["kind"] == "deleted"


@pytest.mark.parametrize("extra, message", [
    ({"remote": "--upload-pack=touch /tmp/x"}, "remote '--upload-pack=touch /tmp/x' is invalid"),
    ({"protected_branches": ["main..x"]}, "branch name 'main..x' is invalid"),
    ({"pattern": "-v*"}, "tag pattern '-v*' is invalid"),
    ({"running_commit": "abc", "ledger": "/nonexistent", "environment": "prod"}, "running commit 'abc' is invalid"),
])
def test_bad_input_is_named_and_runs_nothing(release, monkeypatch, processes, extra, message):
    out = drift(release, monkeypatch, **extra)
    assert out.failed and out.result["msg"].startswith(message)
    assert not any(args[:2] == ["git", "ls-remote"] for args in processes)


def test_releases_root_that_does_not_exist(release):
    with pytest.raises(ConductorError, match="releases directory /nonexistent does not exist"):
        _drift.recorded_from_releases("/nonexistent", "v*")


def test_a_remote_that_does_not_answer_is_a_clear_error(release, monkeypatch, tmp_path):
    out = drift(release, monkeypatch, remote=str(tmp_path / "no-such-repo"))
    assert out.failed and out.result["msg"].startswith(f"git ls-remote of {tmp_path / 'no-such-repo'} failed:")
