"""The modules through main(), as Ansible runs them: arguments in, exit_json or fail_json out."""

from __future__ import annotations

import hashlib
import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.maestro.conductor.plugins.modules import release_bundle, release_verify
from tests.conftest import snapshot


class _Exit(Exception):
    def __init__(self, result: dict, failed: bool):
        super().__init__(result)
        self.result = result
        self.failed = failed


def run(module, args: dict, monkeypatch) -> _Exit:
    def exit_json(_self, **result):
        raise _Exit(result, failed=False)

    def fail_json(_self, msg, **result):
        raise _Exit({"msg": msg, **result}, failed=True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    with patch_module_args(args), pytest.raises(_Exit) as caught:
        module.main()
    json.dumps(caught.value.result)  # what a module returns must serialize
    return caught.value


def verify_args(rel, **extra):
    return {"tag": rel.tag, "release_dir": str(rel.dir), "repo": str(rel.repo), "allowed_signers": str(rel.signers), **extra}


def test_verify_passes_and_reports_every_check(release, monkeypatch):
    out = run(release_verify, verify_args(release, strict=True), monkeypatch)
    assert not out.failed and out.result["ok"] and out.result["changed"] is False
    assert out.result["failed_checks"] == []
    assert out.result["summary"][0].startswith("release v1.0.0 (strict): VERIFIED")


def test_verify_fails_closed_naming_the_check_and_file(release, monkeypatch):
    (release.dir / "sbom.json").write_text("{}\n")
    out = run(release_verify, verify_args(release), monkeypatch)
    assert out.failed
    assert out.result["msg"].startswith("release v1.0.0 failed verification: artifacts: artifact sbom.json: size is 3 bytes")
    assert out.result["failed_checks"] == ["artifacts"]


def test_verify_can_report_without_failing(release, monkeypatch):
    (release.dir / "extra").write_text("x")
    out = run(release_verify, verify_args(release, fail_on_error=False), monkeypatch)
    assert not out.failed and out.result["ok"] is False and out.result["failed_checks"] == ["unexpected_files"]


def test_verify_rejects_a_bad_tag_with_a_clear_message(release, monkeypatch):
    out = run(release_verify, verify_args(release, tag="v1;touch /tmp/x"), monkeypatch)
    assert out.failed and out.result["msg"].startswith("tag name 'v1;touch /tmp/x' is invalid")


def test_verify_rejects_a_short_expected_commit(release, monkeypatch):
    out = run(release_verify, verify_args(release, strict=True, expected_commit="abc123"), monkeypatch)
    assert out.failed and "expected commit 'abc123' is invalid: expected a full 40- or 64-digit" in out.result["msg"]


def test_bundle_check_mode_reports_the_change_and_writes_nothing(release, monkeypatch):
    (release.dir / "compose.yaml").write_text("changed\n")
    before = snapshot(release.dir)
    args = {"tag": release.tag, "release_dir": str(release.dir), "repo": str(release.repo), "signing_key": str(release.key),
            "_ansible_check_mode": True, "_ansible_diff": True}
    out = run(release_bundle, args, monkeypatch)
    assert not out.failed and out.result["changed"] is True
    assert f"release-manifest-{release.tag}.yaml" in out.result["changed_files"]
    manifest_diff = next(d for d in out.result["diff"] if d["after_header"] == f"release-manifest-{release.tag}.yaml")
    new_digest = hashlib.sha256(b"changed\n").hexdigest()
    assert new_digest in manifest_diff["after"] and new_digest not in manifest_diff["before"]
    assert snapshot(release.dir) == before


def test_bundle_second_run_is_not_changed(release, monkeypatch):
    args = {"tag": release.tag, "release_dir": str(release.dir), "repo": str(release.repo), "signing_key": str(release.key),
            "checks": [{"name": "unit tests", "result": "pass"}]}
    out = run(release_bundle, args, monkeypatch)
    assert not out.failed and out.result["changed"] is False and out.result["changed_files"] == []
    assert out.result["tag_type"] == "annotated"


def test_bundle_error_is_a_clean_failure(release, monkeypatch):
    out = run(release_bundle, {"tag": "--upload-pack=x", "release_dir": str(release.dir), "repo": str(release.repo)}, monkeypatch)
    assert out.failed and out.result["msg"].startswith("tag name '--upload-pack=x' is invalid")
