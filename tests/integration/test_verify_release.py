"""The verify playbook and its make targets, run for real against real git repositories and release directories."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import ansible_runner
import pytest

from tests.conftest import Release, commit, git, make_keypair

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"


@pytest.fixture
def demo_dir(release: Release, tmp_path: Path) -> Path:
    """What the local inventory reads through DEMO_DIR: here, an allowed-signers file holding the release's key."""
    demo = tmp_path / "demo"
    (demo / "keys").mkdir(parents=True)
    shutil.copy(release.signers, demo / "keys" / "allowed_signers")
    return demo


def run_playbook(tmp_path: Path, extravars: dict, demo: Path):
    """Run playbooks/verify_release.yml the way AWX does: through ansible-runner."""
    (tmp_path / "runner").mkdir(exist_ok=True)
    return ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"),
        playbook=str(ROOT / "playbooks" / "verify_release.yml"),
        inventory=str(ROOT / "inventories" / "local" / "hosts.yml"),
        extravars=extravars,
        envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "DEMO_DIR": str(demo)},
        quiet=True,
    )


def report_of(result) -> dict:
    return next(e["event_data"]["res"] for e in result.events
                if e["event"] == "runner_on_ok" and e["event_data"]["task"] == "Verify the release")


def make(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("TAG", "REPO", "RELEASE_DIR", "MAKEFLAGS", "ALLOWED_SIGNERS", "ALLOW_UNSIGNED", "DEMO_DIR", "INVENTORY")}
    full_env.update(env)
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], env=full_env,
                          capture_output=True, text=True, timeout=600, check=False)


def test_playbook_verifies_a_good_release_and_records_stats(release, tmp_path, demo_dir):
    result = run_playbook(tmp_path, {"tag": release.tag, "repo": str(release.repo), "release_dir": str(release.dir),
                                     "allowed_signers": str(release.signers), "strict": True}, demo_dir)
    assert result.rc == 0 and result.status == "successful"
    assert result.stats["ok"] == {"localhost": 5}  # the extra variables checked, the clock, verify, report, stats
    report = report_of(result)
    assert report["ok"] is True and report["commit"] == release.commit
    # what set_stats hands to the next job of an AWX workflow
    stats = next(e["event_data"] for e in result.events if e["event"] == "playbook_on_stats")
    assert stats["artifact_data"] == {"verify_release_tag": release.tag, "verify_release_ok": True, "verify_release_strict": True,
                                      "verify_release_commit": release.commit, "verify_release_failed_checks": []}


def test_playbook_fails_naming_the_failed_checks(release, tmp_path, demo_dir):
    (release.dir / "images" / "web.tar").write_bytes(b"swapped image")
    result = run_playbook(tmp_path, {"tag": release.tag, "repo": str(release.repo), "release_dir": str(release.dir)}, demo_dir)
    assert result.rc != 0 and result.status == "failed"
    failure = next(e for e in result.events if e["event"] == "runner_on_failed")
    assert failure["event_data"]["res"]["msg"] == "release v1.0.0 FAILED verification: artifacts"
    # the failure is handed on too, with what failed
    stats = next(e["event_data"] for e in result.events if e["event"] == "playbook_on_stats")["artifact_data"]
    assert stats["verify_release_ok"] is False and stats["verify_release_failed_checks"] == ["artifacts"]


def test_playbook_strict_without_signers_fails_unless_unsigned_is_allowed(release, tmp_path, demo_dir):
    args = {"tag": release.tag, "repo": str(release.repo), "release_dir": str(release.dir), "strict": True, "maestro_allowed_signers": ""}
    refused = run_playbook(tmp_path, args, demo_dir)
    assert refused.rc != 0
    failure = next(e for e in refused.events if e["event"] == "runner_on_failed")
    assert failure["event_data"]["res"]["msg"] == "release v1.0.0 FAILED verification: signature"
    allowed = run_playbook(tmp_path, {**args, "allow_unsigned": "true"}, demo_dir)
    assert allowed.rc == 0
    report = report_of(allowed)
    assert report["ok"] is True and "signature" in report["warned_checks"]
    assert "  WARN signature: not checked: allow_unsigned is set (a signature is present, unchecked)" in report["summary"]


def test_make_strict_keeps_the_inventory_signers_when_repo_and_release_dir_are_given(release, demo_dir):
    paths = {"TAG": release.tag, "REPO": str(release.repo), "RELEASE_DIR": str(release.dir), "DEMO_DIR": str(demo_dir)}
    strict = make("verify-release-strict", **paths)
    assert strict.returncode == 0, strict.stdout + strict.stderr
    assert "PASS signature: signed by releaser@test.invalid" in strict.stdout
    # the same release, when the inventory's keys are not the ones that signed it
    other = make_keypair(demo_dir / "other_key", "other")
    (demo_dir / "keys" / "allowed_signers").write_text(f'other@test.invalid namespaces="maestro-release" {other.with_suffix(".pub").read_text()}')
    strict = make("verify-release-strict", **paths)
    assert strict.returncode != 0 and "FAIL signature: the attestation signature was not made by any key in" in strict.stdout


def test_make_strict_without_signers_fails_and_allow_unsigned_warns(release, tmp_path):
    inventory = tmp_path / "inventory.yml"
    # an inventory of a team that does not sign its releases: no maestro_allowed_signers
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                         "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
                         f"  vars:\n    maestro_repo: {release.repo}\n    maestro_releases_root: {release.dir.parent}\n"
                         "  children:\n    release_store:\n      hosts:\n        localhost:\n")
    paths = {"TAG": release.tag, "REPO": str(release.repo), "RELEASE_DIR": str(release.dir), "INVENTORY": str(inventory)}
    refused = make("verify-release-strict", **paths)
    assert refused.returncode != 0, refused.stdout
    assert "FAIL signature: strict verification requires allowed_signers, and none was given" in refused.stdout, refused.stdout
    allowed = make("verify-release-strict", **paths, ALLOW_UNSIGNED="true")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "release v1.0.0 (strict): VERIFIED with" in allowed.stdout and "WARN signature: not checked: allow_unsigned is set" in allowed.stdout


def test_make_strict_refuses_signed_evidence_of_a_failed_check(release, demo_dir):
    """The issue's trigger: a release made with release_bundle and the signing key, whose evidence records a failure."""
    release.bundle(checks=[{"name": "unit tests", "result": "pass"}, {"name": "integration tests", "result": "fail"}])
    strict = make("verify-release-strict", TAG=release.tag, REPO=str(release.repo), RELEASE_DIR=str(release.dir), DEMO_DIR=str(demo_dir))
    assert strict.returncode != 0
    shown = strict.stdout.replace("''", "'")  # the report's lines, as the YAML result format quotes them
    assert "FAIL evidence_verdicts: check 'integration tests' recorded 'fail', not 'pass'" in shown, strict.stdout
    assert "release v1.0.0 FAILED verification: evidence_verdicts" in strict.stdout + strict.stderr


def test_make_verify_release_and_strict(release, demo_dir):
    paths = {"TAG": release.tag, "REPO": str(release.repo), "RELEASE_DIR": str(release.dir), "DEMO_DIR": str(demo_dir)}
    done = make("verify-release", **paths)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "release v1.0.0 (standard): VERIFIED" in done.stdout
    strict = make("verify-release-strict", **paths, EXPECTED_COMMIT=release.commit, ALLOWED_SIGNERS=str(release.signers))
    assert strict.returncode == 0, strict.stdout + strict.stderr
    assert "release v1.0.0 (strict): VERIFIED" in strict.stdout and "PASS signature: signed by releaser@test.invalid" in strict.stdout


def test_make_strict_catches_a_moved_tag_that_standard_mode_accepts(release, demo_dir):
    git(release.repo, "tag", "-f", "-a", "-m", "re-created", release.tag, release.commit, date="2026-06-01T00:00:00Z")
    paths = {"TAG": release.tag, "REPO": str(release.repo), "RELEASE_DIR": str(release.dir), "DEMO_DIR": str(demo_dir)}
    assert make("verify-release", **paths).returncode == 0
    strict = make("verify-release-strict", **paths)
    assert strict.returncode != 0
    assert "FAIL tag_object: tag v1.0.0 object is" in strict.stdout
    assert "release v1.0.0 FAILED verification: tag_object" in strict.stdout + strict.stderr


def test_make_strict_with_a_head_that_moved_past_the_tag(release, demo_dir):
    head = commit(release.repo, "unreleased work")
    strict = make("verify-release-strict", TAG=release.tag, REPO=str(release.repo), RELEASE_DIR=str(release.dir), EXPECTED_COMMIT=head,
                  DEMO_DIR=str(demo_dir))
    assert strict.returncode != 0 and "FAILED verification: expected_commit" in strict.stdout + strict.stderr


@pytest.mark.parametrize("tag", ["v1;touch {marker}", "$(touch {marker})", "`touch {marker}`", "--upload-pack=touch {marker}", "../../etc"])
def test_make_never_lets_a_tag_reach_a_shell(release, tmp_path, tag):
    marker = tmp_path / "pwned"
    done = make("verify-release-strict", TAG=tag.format(marker=marker), REPO=str(release.repo), RELEASE_DIR=str(release.dir))
    assert done.returncode != 0
    assert "tag must be a release tag name" in done.stdout + done.stderr
    assert not marker.exists()


def test_make_without_tag_says_what_is_missing():
    done = make("verify-release")
    assert done.returncode == 2 and "TAG is required: make verify-release TAG=v1.2.3" in done.stderr


MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))


def test_every_module_renders_in_ansible_doc():
    assert len(MODULES) >= 8
    for module in MODULES:
        done = subprocess.run([str(BIN / "ansible-doc"), f"maestro.conductor.{module}"], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}, check=False)
        assert done.returncode == 0, done.stderr
        assert f"maestro.conductor.{module}" in done.stdout and "EXAMPLES" in done.stdout


def test_collection_builds_and_installs_from_the_tarball(tmp_path):
    built = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    tarball = tmp_path / "maestro-conductor-0.1.0.tar.gz"
    installed = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", str(tmp_path / "cols"),
                                str(tarball)], capture_output=True, text=True, check=False)
    assert installed.returncode == 0, installed.stderr
    module_dir = tmp_path / "cols" / "ansible_collections" / "maestro" / "conductor" / "plugins" / "modules"
    # every module of the source, and the roles and playbooks
    assert sorted(p.stem for p in module_dir.glob("*.py")) == MODULES
    installed_root = module_dir.parents[1]
    assert {p.name for p in (installed_root / "roles").iterdir()} == {p.name for p in (ROOT / "roles").iterdir()}
    assert (installed_root / "playbooks" / "rollback.yml").is_file() and (installed_root / "playbooks" / "restore_drill.yml").is_file()
    assert not (tmp_path / "cols" / "ansible_collections" / "maestro" / "conductor" / ".venv").exists()
