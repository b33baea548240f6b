"""Pruning by reference (release_prune, scope=store): what holds a release, what goes, the evidence archived first, and the
refusals. The host side (cached copies and images on an app host's docker) is tested for real in
tests/integration/test_maintenance.py."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil

import pytest
import yaml

from ansible_collections.maestro.conductor.plugins.module_utils import _prune
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.modules import release_prune
from tests.conftest import commit, git, snapshot
from tests.unit.test_modules import run

OLD = "2024-01-01T00:00:00Z"
NOW = "2026-11-20T00:00:00Z"


def add_release(release, tag: str, date: str):
    """Another release of the repository, its tag and manifest made on ``date``."""
    made = dataclasses.replace(release, dir=release.dir.parent / tag, tag=tag, commit=commit(release.repo, tag, date))
    git(release.repo, "tag", "-a", "-m", tag, tag, date=date)
    shutil.copytree(release.dir, made.dir, ignore=lambda _d, names: [n for n in names if release.tag in n])
    made.bundle(checks=[{"name": "unit tests", "result": "pass"}])
    manifest = made.manifest()
    manifest.write_text(re.sub(r"created: .*", f"created: '{date}'", manifest.read_text()))
    return made


def record(event: str, tag: str, verdict: str = "", time: str = NOW, **more) -> dict:
    found = {"v": 1, "time": time, "environment": "production", "event": event, "tag": tag, "actor": "test", **more}
    if verdict:
        found["verdict"] = verdict
    return found


@pytest.fixture
def store(release):
    """v1.0.0 (old) ... v1.5.0; v1.5.0 live, v1.4.0 green, v1.3.0 quarantined, v1.2.0 held by an incident, v1.1.0 green."""
    git(release.repo, "tag", "-d", "v1.0.0")
    git(release.repo, "tag", "-a", "-m", "v1.0.0", "v1.0.0", release.commit, date=OLD)
    manifest = release.manifest()
    manifest.write_text(re.sub(r"created: .*", f"created: '{OLD}'", manifest.read_text()))
    for number in range(1, 6):
        add_release(release, f"v1.{number}.0", OLD.replace("01-01", f"0{number + 1}-01"))
    # each went live the month it was made, long ago; the last two recently (inside the window: kept for that too)
    records = [record("deployed", f"v1.{n}.0", "green", time=OLD.replace("01-01", f"0{n + 1}-02")) for n in range(4)]
    records += [record("deployed", "v1.4.0", "green"), record("deployed", "v1.5.0", "green")]
    records += [record("quarantine", "v1.3.0"), {**record("incident_opened", "v1.2.0"), "incident": "production-20250101T000000Z-ab12"}]
    return release, records


def args(release, records, tmp_path, **more) -> dict:
    return {"environment": "production", "releases_root": str(release.dir.parent), "repo": str(release.repo),
            "archive_root": str(tmp_path / "archive"), "window_days": 365, "ledger_records": records, "keep_newest": 1, **more}


def test_every_kept_release_says_why_and_check_mode_touches_nothing(store, tmp_path, monkeypatch):
    release, records = store
    before = snapshot(release.dir.parent)
    dry = run(release_prune, {**args(release, records, tmp_path), "_ansible_check_mode": True, "_ansible_diff": True}, monkeypatch)
    assert snapshot(release.dir.parent) == before and not (tmp_path / "archive").exists()
    kept = {d["tag"]: d["reasons"] for d in dry.result["kept"]}
    assert kept == {"v1.5.0": ["live: the ledger's last deploy or rollback", "one of the 1 newest healthy releases"],
                    "v1.4.0": ["the rollback target (the prior healthy release)",
                               f"went live inside the audit window ({NOW}): its proof must stay"],
                    "v1.2.0": ["held by incident production-20250101T000000Z-ab12"]}
    going = {d["tag"]: d["reasons"][0] for d in dry.result["removed"]}
    assert sorted(going) == ["v1.0.0", "v1.1.0", "v1.3.0"] and dry.result["changed"]
    assert going["v1.3.0"].endswith("quarantined (not counted among the newest healthy)")
    assert dry.result["diff"]["after"] == "v1.5.0\nv1.4.0\nv1.2.0\n"
    # the newest healthy count skips the quarantined v1.3.0: the fourth is v1.1.0
    four = run(release_prune, {**args(release, records, tmp_path, keep_newest=4), "state": "inspected"}, monkeypatch)
    assert [d["tag"] for d in four.result["kept"]] == ["v1.5.0", "v1.4.0", "v1.2.0", "v1.1.0"]
    assert [d["tag"] for d in four.result["would_remove"]] == ["v1.3.0", "v1.0.0"] and four.result["removed"] == []
    assert snapshot(release.dir.parent) == before


def test_what_goes_leaves_its_proof_in_the_archive_and_a_second_run_finds_nothing(store, tmp_path, monkeypatch):
    release, records = store
    proof = {name: (release.dir.parent / "v1.1.0" / name).read_bytes() for name in _prune.required_proof(str(release.dir.parent / "v1.1.0"), "v1.1.0")}
    done = run(release_prune, args(release, records, tmp_path), monkeypatch)
    assert sorted(d["tag"] for d in done.result["removed"]) == ["v1.0.0", "v1.1.0", "v1.3.0"]
    assert sorted(os.listdir(release.dir.parent)) == ["v1.2.0", "v1.4.0", "v1.5.0"]
    archived = tmp_path / "archive" / "v1.1.0"
    assert {name: (archived / name).read_bytes() for name in proof} == proof and len(proof) >= 4
    sums = (archived / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == len(proof) and all(re.fullmatch(r"[0-9a-f]{64}  \S+", line) for line in sums)
    assert not (archived / "compose.yaml").exists()  # the proof, not the artifacts
    again = run(release_prune, args(release, records, tmp_path), monkeypatch)
    assert not again.result["changed"] and again.result["removed"] == []
    assert sorted(again.result["host_plan"]["remove"]) == ["v1.0.0", "v1.1.0", "v1.3.0"]  # from the archive, for the hosts


def test_a_crash_between_archive_and_removal_is_finished_and_a_different_archive_never_overwritten(store, tmp_path, monkeypatch):
    release, records = store
    root = str(release.dir.parent)
    _prune.archive_proof(os.path.join(root, "v1.1.0"), str(tmp_path / "archive"), "v1.1.0")
    os.rename(os.path.join(root, "v1.0.0"), os.path.join(root, ".pruning-v1.0.0.dead"))  # renamed aside, never removed
    done = run(release_prune, args(release, records, tmp_path, tags=["v1.1.0"]), monkeypatch)
    assert [d["tag"] for d in done.result["removed"]] == ["v1.1.0"] and done.result["leftovers"] == [".pruning-v1.0.0.dead"]
    assert sorted(os.listdir(root)) == ["v1.2.0", "v1.3.0", "v1.4.0", "v1.5.0"]
    (tmp_path / "archive" / "v1.3.0").mkdir()
    (tmp_path / "archive" / "v1.3.0" / "SHA256SUMS").write_text("0" * 64 + "  other\n")
    clash = run(release_prune, args(release, records, tmp_path, tags=["v1.3.0"]), monkeypatch)
    assert clash.failed and "holds other files than" in clash.result["msg"] and os.path.isdir(os.path.join(root, "v1.3.0"))


@pytest.mark.parametrize("asked, message", [
    ("v1.4.0", "refusing to prune v1.4.0: it is kept (the rollback target (the prior healthy release)"),
    ("v1.5.0", "refusing to prune v1.5.0: it is kept (live"),
    ("v1.2.0", "refusing to prune v1.2.0: it is kept (held by incident"),
    ("v9.0.0", "v9.0.0 is not a release on the store"),
    ("v1;rm", "tag name 'v1;rm' is invalid"),
])
def test_a_prune_that_would_remove_what_is_held_is_refused(store, tmp_path, monkeypatch, asked, message):
    release, records = store
    before = snapshot(release.dir.parent)
    refused = run(release_prune, args(release, records, tmp_path, tags=[asked]), monkeypatch)
    assert refused.failed and message in refused.result["msg"] and snapshot(release.dir.parent) == before


def test_a_store_that_lost_the_live_release_or_a_bad_window_prunes_nothing(store, tmp_path, monkeypatch):
    release, records = store
    shutil.rmtree(release.dir.parent / "v1.5.0")
    before = snapshot(release.dir.parent)
    lost = run(release_prune, args(release, records, tmp_path), monkeypatch)
    assert lost.failed and "the ledger says v1.5.0 is live but the release store" in lost.result["msg"]
    for window in (0, -3):
        bad = run(release_prune, args(release, records, tmp_path, window_days=window), monkeypatch)
        assert bad.failed and f"window_days {window} is invalid" in bad.result["msg"]
    inside = run(release_prune, args(release, records, tmp_path, archive_root=str(release.dir.parent / "archive")), monkeypatch)
    assert inside.failed and "hold one another: the archive must be apart from the store" in inside.result["msg"]
    assert snapshot(release.dir.parent) == before
    json.dumps(lost.result)


def test_a_recent_release_is_inside_the_window_whatever_the_count(release, tmp_path, monkeypatch):
    records = [record("deployed", "v1.0.0", "green")]
    done = run(release_prune, {**args(release, records, tmp_path, keep_newest=0), "state": "inspected"}, monkeypatch)
    assert done.result["kept"] == [{"tag": "v1.0.0", "keep": True, "image_ids": [],
                                    "reasons": ["live: the ledger's last deploy or rollback", "inside the audit window (365 days)"]}]
    with pytest.raises(ConductorError, match="keep_newest -1 is invalid"):
        _prune.plan(["v1.0.0"], inside_window=[], window_days=1, keep_newest=-1)


def test_an_empty_ledger_a_live_tag_gone_from_git_or_proof_not_all_there_prunes_nothing(store, tmp_path, monkeypatch):
    release, records = store
    before = snapshot(release.dir.parent)
    empty = run(release_prune, args(release, [], tmp_path), monkeypatch)
    assert empty.failed and "the ledger records no deploy or rollback of production: refusing to prune 6 release(s)" in empty.result["msg"]
    other = run(release_prune, {**args(release, records, tmp_path), "environment": "staging"}, monkeypatch)
    assert other.failed and "records no deploy or rollback of staging" in other.result["msg"]
    git(release.repo, "tag", "-d", "v1.5.0")  # the live tag gone: which release a rollback would choose is unknown
    unknown = run(release_prune, args(release, records, tmp_path), monkeypatch)
    assert unknown.failed and "the live tag v1.5.0 is not among the repository's release tags" in unknown.result["msg"]
    git(release.repo, "tag", "-a", "-m", "v1.5.0", "v1.5.0", "v1.4.0^{commit}")
    (release.dir.parent / "v1.1.0" / "release-attestation-v1.1.0.jsonld.sig").unlink()
    partial = run(release_prune, args(release, records, tmp_path), monkeypatch)
    assert partial.failed and "v1.1.0: release-attestation-v1.1.0.jsonld.sig is missing" in partial.result["msg"]
    listed = run(release_prune, {**args(release, records, tmp_path), "state": "inspected"}, monkeypatch)
    assert listed.result["proof_problems"] == ["v1.1.0: release-attestation-v1.1.0.jsonld.sig is missing"]
    del before[str(release.dir.parent / "v1.1.0" / "release-attestation-v1.1.0.jsonld.sig")]
    assert snapshot(release.dir.parent) == before and not (tmp_path / "archive").exists()


def test_a_release_directory_that_is_a_symbolic_link_is_never_followed(store, tmp_path, monkeypatch):
    release, records = store
    elsewhere = tmp_path / "elsewhere"
    (release.dir.parent / "v1.0.0").rename(elsewhere)
    (release.dir.parent / "v1.0.0").symlink_to(elsewhere)
    refused = run(release_prune, args(release, records, tmp_path, tags=["v1.0.0"]), monkeypatch)
    assert refused.failed and "is a symbolic link" in refused.result["msg"] and (elsewhere / "compose.yaml").exists()
    os.rename(release.dir.parent / "v1.1.0", release.dir.parent / ".pruning-v1.1.0.dead")
    os.symlink(elsewhere, release.dir.parent / ".pruning-v1.0.9.dead")  # a leftover that is a link: the link goes, not its target
    _prune.remove_leftovers(str(release.dir.parent))
    assert not _prune.leftovers(str(release.dir.parent)) and (elsewhere / "compose.yaml").exists()


def test_the_hosts_keep_every_release_not_named_and_get_the_image_ids_of_what_goes(store, tmp_path, monkeypatch):
    release, records = store
    manifest = release.dir.parent / "v1.1.0" / "release-manifest-v1.1.0.yaml"
    document = yaml.safe_load(manifest.read_text())
    image = "sha256:" + "a" * 64
    for entry in document["artifacts"]:
        if entry["path"] == "images/web.tar":
            entry["images"] = [{"id": image, "repo_tags": ["demo:v1.1.0"]}]
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    done = run(release_prune, args(release, records, tmp_path, tags=["v1.1.0"]), monkeypatch)
    plan = done.result["host_plan"]
    assert plan["remove"] == {"v1.1.0": [image]} and done.result["removed"][0]["image_ids"] == [image]
    assert sorted(plan["keep"]) == ["v1.0.0", "v1.2.0", "v1.3.0", "v1.4.0", "v1.5.0"]  # not named: not theirs to drop
    again = run(release_prune, args(release, records, tmp_path, tags=["v1.0.0"]), monkeypatch)
    assert again.result["host_plan"]["remove"] == {"v1.0.0": [], "v1.1.0": [image]}  # the archived manifest still names it


def test_a_colour_that_runs_containers_without_a_record_holds_every_copy(tmp_path):
    """The engine's word (containers in the colour's project) against this tool's record of what it started them from."""
    from ansible_collections.maestro.conductor.plugins.module_utils import _task_prune

    class Engine:  # what `docker container ls` says per compose project
        def __init__(self, projects):
            self.projects = projects

        def containers(self, project):
            return self.projects.get(project, [])

    cache = tmp_path / "cache"
    (cache / "production").mkdir(parents=True)
    (cache / "production" / ".blue.json").write_text('{"tag": "v1.1.0"}')
    assert _task_prune._colours_run(Engine({"production-blue": ["c1"]}), str(cache), "production") == {"v1.1.0": ["the blue colour"]}
    with pytest.raises(ConductorError, match="the green colour has containers but no record of the release"):
        _task_prune._colours_run(Engine({"production-green": ["c2"]}), str(cache), "production")
    (cache / "production" / ".green.json").write_text('["not", "a", "record"]')
    with pytest.raises(ConductorError, match="is not a JSON object: which release it runs is unknown, so nothing is pruned"):
        _task_prune._colours_run(Engine({}), str(cache), "production")
