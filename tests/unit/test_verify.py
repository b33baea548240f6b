"""release_verify's core against real git repositories and real release directories."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
import yaml

from ansible_collections.maestro.conductor.plugins.module_utils import _dsse, _hashing, _release_format as fmt, _signing, _task_verify, _verify
from ansible_collections.maestro.conductor.plugins.modules import release_verify
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._verify import verify_release
from ansible_collections.maestro.conductor.plugins.plugin_utils._controller import run_here
from tests.conftest import Release, commit, git, make_keypair, snapshot
# images is a fixture: imported so that pytest finds it here
from tests.unit.test_image_archive import images, needs_docker, write_tar  # noqa: F401 pylint: disable=unused-import
from tests.unit.test_modules import run, verify_args


def verify(rel: Release, **kwargs):
    """Verify, and check that verification, passed or failed, modified nothing."""
    kwargs.setdefault("allowed_signers", str(rel.signers))
    before = snapshot(rel.root)
    report = verify_release(str(rel.dir), rel.tag, str(rel.repo), **kwargs)
    assert snapshot(rel.root) == before, "verification modified the release or the repository"
    return report


def failed(report) -> dict[str, str]:
    return {check.name: check.detail for check in report.failed}


def test_a_good_release_passes_every_check_strictly(release):
    report = verify(release, strict=True, expected_commit=release.commit)
    assert report.ok, report.summary()
    names = [check.name for check in report.checks]
    assert names == ["files_present", "manifest", "evidence", "evidence_verdicts", "attestation", "envelope", "artifacts", "images",
                     "unexpected_files", "attestation_subjects", "signature", "tag_commit", "tag_object", "expected_commit"]
    assert report.warned == [] and report.summary()[0].startswith("release v1.0.0 (strict): VERIFIED in ")
    assert check(report, "evidence_verdicts").detail == "1 pre-release check recorded, every one passed: unit tests"
    assert report.commit == release.commit
    assert {a["path"] for a in report.artifacts} == {"compose.yaml", "images/web.tar", "sbom.json"}


def test_verification_changes_nothing_even_when_it_fails(release):
    (release.dir / "images" / "web.tar").write_bytes(b"tampered")
    before = snapshot(release.dir, release.repo)
    report = verify(release, strict=True)
    assert not report.ok
    assert snapshot(release.dir, release.repo) == before


def test_corrupted_artifact_names_the_file_and_both_digests(release):
    path = release.dir / "images" / "web.tar"
    data = bytearray(path.read_bytes())
    recorded = yaml.safe_load(release.manifest().read_text())["artifacts"]
    recorded = next(a["sha256"] for a in recorded if a["path"] == "images/web.tar")
    data[100] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    detail = failed(verify(release))["artifacts"]
    assert f"artifact images/web.tar: sha256 is {actual}, manifest says {recorded}" in detail


def test_truncated_artifact_reports_its_size(release):
    (release.dir / "sbom.json").write_text("{}")
    detail = failed(verify(release))["artifacts"]
    assert "artifact sbom.json: size is 2 bytes, manifest says" in detail


def test_missing_evidence_file(release):
    release.evidence().unlink()
    problems = failed(verify(release))
    assert f"evidence-{release.tag}.json is missing" in problems["files_present"]
    assert "evidence" in problems and "attestation_subjects" in problems


def test_file_not_in_the_manifest_fails_unless_allowed(release):
    (release.dir / "notes.txt").write_text("who put this here?\n")
    assert failed(verify(release))["unexpected_files"] == "notes.txt is not listed in the manifest"
    assert verify(release, allow_extra=["*.txt"]).ok


def test_tag_moved_to_another_commit_after_release(release):
    other = commit(release.repo, "second")
    git(release.repo, "tag", "-f", "-a", "-m", "moved", release.tag, other)
    problems = failed(verify(release, strict=True))
    assert problems["tag_commit"] == f"tag v1.0.0 points at commit {other}, manifest says {release.commit}"
    assert "the tag was moved or re-created" in problems["tag_object"]
    assert "tag_commit" in failed(verify(release))  # the standard mode catches a moved commit too


def test_annotated_tag_recreated_on_the_same_commit_fails_only_strict(release):
    git(release.repo, "tag", "-f", "-a", "-m", "re-created", release.tag, release.commit, date="2026-05-05T00:00:00Z")
    assert verify(release).ok
    assert "the tag was moved or re-created" in failed(verify(release, strict=True))["tag_object"]


def test_lightweight_tag_where_an_annotated_one_was_recorded(release):
    git(release.repo, "tag", "-d", release.tag)
    git(release.repo, "tag", release.tag, release.commit)
    assert verify(release).ok  # same commit: only strict mode looks at the tag object
    detail = failed(verify(release, strict=True))["tag_object"]
    assert detail.startswith(f"tag v1.0.0 is lightweight (object {release.commit}); the manifest recorded an annotated tag")


def test_expected_commit_must_be_the_tags_commit(release):
    head = commit(release.repo, "ahead")
    detail = failed(verify(release, strict=True, expected_commit=head))["expected_commit"]
    assert detail == f"expected commit {head}, tag v1.0.0 points at {release.commit}"


def test_unknown_tag_fails_tag_commit(release):
    git(release.repo, "tag", "-d", release.tag)
    assert failed(verify(release))["tag_commit"] == f"tag v1.0.0 does not exist in repository {release.repo}; it has no tags"
    git(release.repo, "tag", "v1.0.1", release.commit)
    git(release.repo, "tag", "v2.0.0", release.commit)
    detail = failed(verify(release))["tag_commit"]
    assert "; nearest existing tags: " in detail and {"v1.0.1", "v2.0.0"} == set(detail.split(": ")[-1].split(", "))


def _rewrite_manifest(rel: Release, path_value: str) -> None:
    manifest = yaml.safe_load(rel.manifest().read_text())
    manifest["artifacts"][0]["path"] = path_value
    rel.manifest().write_text(yaml.safe_dump(manifest, sort_keys=False))


@pytest.mark.parametrize("bad_path, reason", [
    ("/etc/passwd", "path '/etc/passwd' is absolute"),
    ("../../secret", "path '../../secret' contains '..'"),
    ("images/../../x", "path 'images/../../x' contains '..'"),
])
def test_unsafe_manifest_paths_are_refused(release, bad_path, reason):
    _rewrite_manifest(release, bad_path)
    assert reason in failed(verify(release))["artifacts"]


def test_manifest_path_through_a_symlink_out_of_the_release_dir(release):
    outside = release.root / "outside.txt"
    outside.write_text("not part of the release\n")
    os.symlink(outside, release.dir / "escape.txt")
    _rewrite_manifest(release, "escape.txt")
    assert f"path 'escape.txt' resolves outside the release directory (to {outside})" in failed(verify(release))["artifacts"]
    assert outside.read_text() == "not part of the release\n"


@pytest.mark.parametrize("tag", ["v1;touch /tmp/x", "--upload-pack=x", "../../etc", "", "-v1", "v1..2", "v1.lock", "a/b", "v1 2",
                                 "v1.0.0\n", "v1.0.0\r", "\nv1.0.0"])
def test_bad_tag_names_are_rejected_before_any_command_runs(release, tag, processes):
    with pytest.raises(ConductorError, match="is invalid: expected 1-128 characters"):
        verify_release(str(release.dir), tag, str(release.repo))
    assert processes == []


@pytest.mark.parametrize("suffix", ["\n", " ", "\r\n"])
def test_an_expected_commit_with_anything_after_it_is_rejected(release, suffix):
    with pytest.raises(ConductorError, match="expected commit .* is invalid: expected a full 40- or 64-digit"):
        verify_release(str(release.dir), release.tag, str(release.repo), strict=True, expected_commit=release.commit + suffix)


@pytest.mark.parametrize("content, message", [
    (b"artifacts: [unclosed\n", "is not valid YAML"),
    (b"- just\n- a list\n", "does not match its schema: (top level): ['just', 'a list'] is not of type 'object'"),
    (b"a: &x [1, 2]\nb: *x\n", "aliases are not allowed"),
    (b"\xff\xfe bad bytes", "is not valid UTF-8"),
])
def test_malformed_manifest(release, content, message):
    release.manifest().write_bytes(content)
    assert message in failed(verify(release))["manifest"]


def test_manifest_with_a_wrong_field_names_the_field(release):
    manifest = yaml.safe_load(release.manifest().read_text())
    manifest["artifacts"][1]["sha256"] = "not-a-digest"
    release.manifest().write_text(yaml.safe_dump(manifest))
    assert "artifacts/1/sha256: 'not-a-digest' does not match" in failed(verify(release))["manifest"]


def test_oversized_manifest_is_refused_without_parsing(release):
    with open(release.manifest(), "ab") as handle:
        handle.write(b"#" * (4 * 1024 * 1024 + 1))
    assert "bytes; the limit is 4194304 bytes" in failed(verify(release))["manifest"]


@pytest.mark.parametrize("document", ["evidence", "attestation"])
def test_oversized_json_is_refused_without_parsing(release, document):
    path = getattr(release, document)()
    path.write_bytes(b" " * (4 * 1024 * 1024) + path.read_bytes())
    assert "bytes; the limit is 4194304 bytes" in failed(verify(release))[document]


@pytest.mark.parametrize("document, content", [("manifest", b"[" * 100000), ("evidence", b"[" * 100000), ("attestation", b'{"a":' * 100000)])
def test_deeply_nested_documents_fail_cleanly(release, document, content):
    getattr(release, document)().write_bytes(content)
    assert "is nested too deeply to be a release document" in failed(verify(release))[document]


def test_malformed_evidence_json(release):
    release.evidence().write_text('{"format_version": 1,')
    assert "is not valid JSON" in failed(verify(release))["evidence"]


def test_evidence_swapped_from_another_release_is_caught(release):
    evidence = json.loads(release.evidence().read_text())
    evidence["tag"] = "v0.9.0"
    release.evidence().write_text(json.dumps(evidence))
    problems = failed(verify(release))
    assert "evidence is for tag v0.9.0, not v1.0.0" in problems["evidence"]
    assert f"evidence-{release.tag}.json: attested sha256" in problems["attestation_subjects"]


def test_attestation_subject_missing(release):
    attestation = json.loads(release.attestation().read_text())
    attestation["subject"] = [s for s in attestation["subject"] if s["name"] != "sbom.json"]
    release.attestation().write_text(json.dumps(attestation))
    problems = failed(verify(release, allowed_signers=None))
    assert problems.keys() <= {"attestation_subjects", "envelope"}  # the envelope, signed, still holds the subject
    assert problems["attestation_subjects"] == "sbom.json is not a subject of the attestation"


def test_wrong_signature(release):
    other = make_keypair(release.root / "intruder_key", "intruder")
    sig = release.dir / f"release-attestation-{release.tag}.jsonld.sig"
    sig.unlink()
    subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-f", str(other), "-n", "maestro-release", str(release.attestation())], check=True)
    os.replace(str(release.attestation()) + ".sig", sig)
    assert failed(verify(release))["signature"].startswith("the attestation signature was not made by any key in")


def test_signature_over_a_modified_attestation(release):
    attestation = json.loads(release.attestation().read_text())
    attestation["predicate"]["repository"] = "https://elsewhere.invalid/repo.git"
    release.attestation().write_text(json.dumps(attestation))
    assert "does not verify for releaser@test.invalid" in failed(verify(release))["signature"]


def test_signature_required_when_signers_are_configured(release):
    (release.dir / f"release-attestation-{release.tag}.jsonld.sig").unlink()
    problems = failed(verify(release))
    assert "release-attestation-v1.0.0.jsonld.sig is missing" in problems["files_present"]
    unchecked = verify(release, allowed_signers=None)
    assert unchecked.ok and "signature" in [c.name for c in unchecked.warned]
    assert "  WARN signature: not checked: no allowed_signers given" in unchecked.summary()


# --- strict means signed --------------------------------------------------------------------------------------------


def test_strict_without_signers_fails_naming_the_missing_signers(release):
    report = verify(release, strict=True, allowed_signers=None)
    assert not report.ok and failed(report).keys() == {"signature"}
    assert failed(report)["signature"].startswith("strict verification requires allowed_signers, and none was given "
                                                  "(a signature is present, unchecked)")
    assert verify(release, strict=True, allowed_signers="").failed[0].name == "signature"


def test_strict_unsigned_by_choice_is_a_warning_never_a_pass(release):
    report = verify(release, strict=True, allowed_signers=None, allow_unsigned=True)
    assert report.ok and ("signature", True, True) in [(c.name, c.ok, c.warning) for c in report.warned]
    lines = report.summary()
    assert lines[0].startswith(f"release v1.0.0 (strict): VERIFIED with {len(report.warned)} warning")
    assert "  WARN signature: not checked: allow_unsigned is set (a signature is present, unchecked)" in lines
    assert not any(line.startswith("  PASS signature") for line in lines)
    assert "signature" in report.as_dict()["warned_checks"]


def test_allow_unsigned_does_not_skip_signers_that_are_given(release):
    (release.dir / f"release-attestation-{release.tag}.jsonld.sig").unlink()
    assert "signature" in failed(verify(release, strict=True, allow_unsigned=True))


def test_the_module_fails_strict_without_signers_and_warns_when_allowed(release, monkeypatch):
    args = {"tag": release.tag, "release_dir": str(release.dir), "repo": str(release.repo), "strict": True}
    out = run(release_verify, args, monkeypatch)
    assert out.failed and out.result["failed_checks"] == ["signature"]
    assert "signature: strict verification requires allowed_signers" in out.result["msg"]
    out = run(release_verify, {**args, "allow_unsigned": True}, monkeypatch)
    assert not out.failed and out.result["ok"] and "signature" in out.result["warned_checks"]
    here = run_here(_task_verify.ENTRY, {**args, "allow_unsigned": True}, False, False)  # where the warnings show
    assert "release v1.0.0 signature: not checked: allow_unsigned is set (a signature is present, unchecked)" in here["warnings"]


# --- evidence verdicts and provenance -------------------------------------------------------------------------------


def resign(rel: Release) -> None:
    """Attest the manifest and evidence as they are now and sign that with the release key: only what changed is wrong."""
    attestation = json.loads(rel.attestation().read_text())
    for subject in attestation["subject"]:
        if subject["name"] in (rel.manifest().name, rel.evidence().name):
            subject["digest"]["sha256"] = hashlib.sha256((rel.dir / subject["name"]).read_bytes()).hexdigest()
    sign(rel, attestation)


def sign(rel: Release, attestation: dict) -> None:
    """Write ``attestation`` with its signature and envelope, both made with the release key."""
    data = fmt.dump_json(attestation)
    rel.attestation().write_bytes(data)
    (rel.dir / f"{rel.attestation().name}.sig").write_bytes(_signing.sign(data, str(rel.key), fmt.SIGNATURE_NAMESPACE))
    envelope = rel.dir / fmt.envelope_name(rel.tag)
    if envelope.exists():
        envelope.write_bytes(_dsse.make(fmt.plain_statement(attestation), str(rel.key)))


def edit_json(rel: Release, path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_bytes(fmt.dump_json(document))
    resign(rel)


@pytest.mark.parametrize("result", ["fail", "skip"])
def test_signed_evidence_recording_a_check_that_did_not_pass_fails(release, result):
    release.bundle(checks=[{"name": "unit tests", "result": "pass"},
                           {"name": "integration tests", "result": result, "detail": "3 of 40 failed"}])
    for strict in (True, False):
        report = verify(release, strict=strict)
        assert failed(report) == {"evidence_verdicts": f"check 'integration tests' recorded '{result}', not 'pass': 3 of 40 failed"}


def test_evidence_recording_no_check_is_a_warning(release):
    release.bundle(checks=[])
    report = verify(release, strict=True)
    assert report.ok and [(c.name, c.detail) for c in report.warned] == [("evidence_verdicts", "the evidence records no pre-release check")]


@pytest.mark.parametrize("document, change, detail", [
    ("evidence", lambda d: d["provenance"].update(repository="https://elsewhere.invalid/fork.git"),
     "evidence provenance repository is https://elsewhere.invalid/fork.git, manifest says "),
    ("evidence", lambda d: d["provenance"].update(commit="b" * 40), f"evidence provenance commit is {'b' * 40}, manifest says "),
    ("attestation", lambda d: d["predicate"].update(repository="https://elsewhere.invalid/fork.git"),
     "attestation repository is https://elsewhere.invalid/fork.git, manifest says "),
])
def test_signed_provenance_pointing_elsewhere_fails(release, document, change, detail):
    edit_json(release, getattr(release, document)(), change)
    problems = failed(verify(release, strict=True))
    assert problems.keys() == {document} and problems[document].startswith(detail)


# --- what the release directory holds -------------------------------------------------------------------------------


def test_allow_extra_globs_never_cross_a_slash(release):
    (release.dir / "docs").mkdir()
    (release.dir / "docs" / "notes.txt").write_text("notes\n")
    assert failed(verify(release, allow_extra=["*.txt"]))["unexpected_files"] == "docs/notes.txt is not listed in the manifest"
    assert failed(verify(release, allow_extra=["*/*.txt"])) == {}
    assert failed(verify(release, allow_extra=["docs/*"])) == {}
    assert "unexpected_files" in failed(verify(release, allow_extra=["*"]))


def test_an_empty_directory_is_reported(release):
    (release.dir / "images" / "old").mkdir()
    assert failed(verify(release))["unexpected_files"] == "images/old/ is an empty directory, which no manifest can list"
    assert verify(release, allow_extra=["images/old"]).ok


def test_an_unreadable_directory_fails_naming_it(release, monkeypatch):
    # root reads any directory whatever its mode: the refusal comes from os.scandir, as it would for another user
    denied = str(release.dir / "images")
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == denied:
            raise PermissionError(13, "Permission denied", denied)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    problems = failed(verify(release))
    assert problems["unexpected_files"] == "images/ could not be listed (Permission denied): its files were not checked"


@pytest.mark.parametrize("kind", ["symlink to a file inside", "symlinked directory", "hard link"])
def test_links_inside_the_release_are_refused_even_when_listed(release, kind):
    if kind == "symlink to a file inside":
        (release.dir / "sbom.json").rename(release.dir / "images" / "sbom.json")
        (release.dir / "sbom.json").symlink_to("images/sbom.json")
        expected = "sbom.json is a symbolic link (to images/sbom.json): a release holds regular files only"
    elif kind == "symlinked directory":
        (release.dir / "images").rename(release.dir / "images.real")
        (release.dir / "images").symlink_to("images.real")
        expected = "images is a symbolic link (to images.real): a release holds regular files only"
    else:
        os.link(release.dir / "sbom.json", release.root / "sbom-elsewhere.json")
        expected = "sbom.json has 2 hard links: a release file must have one, so no other name can change it"
    problems = failed(verify(release, allow_extra=["*", "*/*"]))
    assert expected in problems["unexpected_files"].split("; ")


def test_a_named_pipe_is_never_opened(release):
    os.mkfifo(release.dir / "pipe")
    (release.dir / "sbom.json").unlink()
    os.mkfifo(release.dir / "sbom.json")  # opening it would block verification for ever
    problems = failed(verify(release))
    assert problems["unexpected_files"] == "pipe is a named pipe, not a regular file; sbom.json is a named pipe, not a regular file"
    assert "sbom.json is not a regular file" in problems["artifacts"]


# --- errors while reading become failed checks ----------------------------------------------------------------------


def racing(monkeypatch, name: str, change, call: int = 1) -> None:
    """Change ``name`` right after the ``call``-th look at it: a file removed or replaced while verification runs."""
    real, seen = fmt.file_problem, []

    def file_problem(release_dir, relpath):
        problem = real(release_dir, relpath)
        seen.append(relpath)
        if relpath == name and seen.count(name) == call:
            change(os.path.join(release_dir, relpath))
        return problem

    monkeypatch.setattr(fmt, "file_problem", file_problem)


def to_directory(path: str) -> None:
    os.unlink(path)
    os.mkdir(path)


def test_an_artifact_removed_between_listing_and_hashing(release, monkeypatch):
    racing(monkeypatch, "sbom.json", os.unlink)
    problems = failed(verify_release(str(release.dir), release.tag, str(release.repo), allowed_signers=str(release.signers)))
    assert problems["artifacts"] == "artifact sbom.json could not be read: No such file or directory"


def test_an_artifact_replaced_by_a_directory_while_being_checked(release, monkeypatch):
    racing(monkeypatch, "sbom.json", to_directory)
    problems = failed(verify_release(str(release.dir), release.tag, str(release.repo), allowed_signers=str(release.signers)))
    assert "artifact sbom.json: sbom.json could not be read: not a regular file" in problems["artifacts"]


def test_a_signature_replaced_by_a_directory_after_it_was_found(release, monkeypatch):
    racing(monkeypatch, f"{release.attestation().name}.sig", to_directory, call=2)  # the first look is files_present's
    problems = failed(verify_release(str(release.dir), release.tag, str(release.repo), allowed_signers=str(release.signers)))
    assert problems["signature"] == f"{release.attestation().name}.sig could not be read: Is a directory"


@pytest.mark.parametrize("target, error, check_name, detail", [
    ("load_manifest", PermissionError(13, "Permission denied", "{dir}/release-manifest-v1.0.0.yaml"), "manifest",
     "release-manifest-v1.0.0.yaml could not be read: Permission denied"),
    ("load_evidence", IsADirectoryError(21, "Is a directory", "{dir}/evidence-v1.0.0.json"), "evidence",
     "evidence-v1.0.0.json could not be read: Is a directory"),
])
def test_an_os_error_reading_a_release_file_is_a_failed_check(release, monkeypatch, target, error, check_name, detail):
    error.filename = error.filename.format(dir=release.dir)

    def refuse(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(fmt, target, refuse)
    assert failed(verify(release))[check_name].startswith(detail)


def test_an_unexpected_error_from_git_is_a_failed_check(release, monkeypatch):
    def broken(*_args):
        raise RuntimeError("git exploded")

    monkeypatch.setattr(_verify._git, "resolve_tag", broken)  # pylint: disable=protected-access
    assert failed(verify(release, strict=True)) == {"tag_commit": "not checked: RuntimeError: git exploded"}


def test_a_step_without_a_guard_of_its_own_still_ends_in_a_verdict(release, monkeypatch):
    def broken(_self):
        raise KeyError("predicate")

    monkeypatch.setattr(_verify._Verifier, "_verdicts", broken)  # pylint: disable=protected-access
    report = verify(release, strict=True)
    assert not report.ok and failed(report) == {"verification": "not checked: KeyError: 'predicate'"}


def test_hashing_survives_a_file_that_vanished_before_it_was_sized(tmp_path):
    there = tmp_path / "there"
    there.write_bytes(b"x" * 10)
    read = _hashing.map_files([str(there), str(tmp_path / "gone")], os.path.exists, workers=2)
    assert read == {str(there): True, str(tmp_path / "gone"): False}


def test_release_dir_that_does_not_exist(release):
    with pytest.raises(ConductorError, match="release directory .*nowhere does not exist"):
        verify_release(str(release.root / "nowhere"), release.tag, str(release.repo))


def test_no_release_dir_for_an_unknown_tag_names_the_tag_and_the_nearest(release):
    with pytest.raises(ConductorError, match=r"tag v1\.0\.1 does not exist in repository .*nearest existing tags: v1\.0\.0"):
        verify_release(str(release.root / "v1.0.1"), "v1.0.1", str(release.repo))


def test_repository_that_is_not_a_git_repository(release):
    problems = failed(verify_release(str(release.dir), release.tag, str(release.dir)))
    assert problems["tag_commit"] == f"repository {release.dir} is not a git repository"


def test_manifest_for_another_tag(release, tmp_path):
    git(release.repo, "tag", "-a", "-m", "copy", "v1.0.1", release.commit)
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in release.dir.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(release.dir).as_posix().replace("v1.0.0", "v1.0.1")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    problems = failed(verify_release(str(copy), "v1.0.1", str(release.repo)))
    assert "manifest is for tag v1.0.0, not v1.0.1" in problems["manifest"]


def test_bare_repository(release, tmp_path):
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(release.repo), str(bare)], check=True)
    assert verify_release(str(release.dir), release.tag, str(bare), strict=True, allowed_signers=str(release.signers)).ok


def test_hashing_uses_every_worker_count_alike(release):
    one = verify(release, workers=1)
    many = verify(release, workers=4)
    assert one.ok and many.ok
    assert sorted(map(str, one.artifacts)) == sorted(map(str, many.artifacts))


# --- images: the ids inside the image tarballs ----------------------------------------------------------------------


def edit_manifest(rel: Release, change) -> None:
    """Change the manifest, then re-attest and re-sign it, so that only what ``change`` did is wrong."""
    manifest = yaml.safe_load(rel.manifest().read_text())
    change({a["path"]: a for a in manifest["artifacts"]}, manifest)
    rel.manifest().write_bytes(fmt.dump_manifest(manifest))
    attestation = json.loads(rel.attestation().read_text())
    for subject in attestation["subject"]:
        if subject["name"] == rel.manifest().name:
            subject["digest"]["sha256"] = hashlib.sha256(rel.manifest().read_bytes()).hexdigest()
    sign(rel, attestation)


def check(report, name: str):
    return next(c for c in report.checks if c.name == name)


@pytest.fixture
def image_release(release, images) -> Release:
    """The release with a real image archive as images/web.tar, bundled in format 2."""
    (release.dir / "images" / "web.tar").write_bytes(images.legacy.read_bytes())
    release.bundle()
    return release


def test_a_release_without_image_archive_passes_the_images_check(release):
    report = verify(release)
    assert check(report, "images").detail == "no image archive in this release"
    assert report.images == []


@needs_docker
def test_format_2_records_and_proves_the_image_ids(image_release, images):
    report = verify(image_release, strict=True)
    assert report.ok, report.summary()
    assert report.images == [{"artifact": "images/web.tar", "id": images.a_id, "repo_tags": images.a_tags, "recorded": True}]
    detail = check(report, "images").detail
    assert detail.startswith(f"1 image in 1 image archive match the manifest: images/web.tar {images.a_id} (")
    assert report.as_dict()["images"] == report.images


@needs_docker
def test_the_module_returns_the_images(image_release, images, monkeypatch):
    out = run(release_verify, verify_args(image_release), monkeypatch)
    assert not out.failed and out.result["images"] == [
        {"artifact": "images/web.tar", "id": images.a_id, "repo_tags": images.a_tags, "recorded": True}]


@needs_docker
def test_a_record_naming_another_image_fails_naming_both_ids(image_release, images):
    edit_manifest(image_release, lambda artifacts, _m: artifacts["images/web.tar"]["images"][0].update(id=images.b_id))
    report = verify(image_release, strict=True)
    assert failed(report).keys() == {"images"}, report.summary()
    detail = failed(report)["images"]
    assert detail.startswith(f"images/web.tar: the tarball holds {images.a_id} (")
    assert f"the manifest records {images.b_id} (" in detail
    assert [(i["id"], i["recorded"]) for i in report.images] == [(images.a_id, False)]


@needs_docker
def test_a_tarball_swapped_for_another_images_fails_artifacts_and_images(image_release, images):
    (image_release.dir / "images" / "web.tar").write_bytes(images.b.read_bytes())
    problems = failed(verify(image_release))
    assert problems.keys() == {"artifacts", "images"}
    expected = f"images/web.tar: the tarball holds {images.b_id} ({images.b_tags[0]}), the manifest records {images.a_id}"
    assert problems["images"].startswith(expected)


@needs_docker
def test_a_tarball_holding_an_image_the_manifest_does_not_record(image_release, images):
    edit_manifest(image_release, lambda artifacts, _m: artifacts["images/web.tar"].pop("images"))
    detail = failed(verify(image_release))["images"]
    tags = ", ".join(images.a_tags)
    assert detail == f"images/web.tar: the tarball holds {images.a_id} ({tags}), which the manifest does not record"


@needs_docker
def test_repo_tags_must_match_too(image_release, images):
    edit_manifest(image_release, lambda artifacts, _m: artifacts["images/web.tar"]["images"][0].update(repo_tags=["evil/web:v1"]))
    assert "images/web.tar: repo tags differ: the tarball holds" in failed(verify(image_release))["images"]


def test_images_recorded_for_a_file_that_is_no_image_archive(release):
    record = {"id": "sha256:" + "a" * 64, "repo_tags": ["web:v1"]}
    edit_manifest(release, lambda artifacts, _m: artifacts["compose.yaml"].update(images=[record]))
    assert failed(verify(release)) == {
        "images": f"compose.yaml: the manifest records {record['id']} (web:v1), but it is not a readable image archive"}


def test_an_unreadable_archive_is_a_failed_check_naming_the_file(release):
    web = release.dir / "images" / "web.tar"
    data = write_tar(web, {"manifest.json": b"[]", "layer.tar": os.urandom(50000)}).read_bytes()
    web.write_bytes(data[:20000])
    problems = failed(verify(release))
    assert problems["images"] == "image archive images/web.tar: not a readable tar archive: unexpected end of data"
    assert f"artifact images/web.tar: sha256 is {hashlib.sha256(data[:20000]).hexdigest()}" in problems["artifacts"]


@needs_docker
def test_a_format_1_release_verifies_and_reports_ids_read_from_the_tarball(release, images):
    (release.dir / "images" / "web.tar").write_bytes(images.legacy.read_bytes())
    release.bundle(manifest_format=1)
    assert yaml.safe_load(release.manifest().read_text())["format_version"] == 1
    report = verify(release, strict=True)
    assert report.ok, report.summary()
    assert check(report, "manifest").detail == f"{release.manifest().name} is valid (format 1)"
    assert check(report, "images").detail.startswith("format 1 records no image ids: 1 image read from the verified tarballs: ")
    assert report.images == [{"artifact": "images/web.tar", "id": images.a_id, "repo_tags": images.a_tags, "recorded": False}]


def test_an_unknown_manifest_format_is_refused_by_name(release):
    edit_manifest(release, lambda _a, manifest: manifest.update(format_version=99))
    problems = failed(verify(release))
    assert "manifest format_version 99 is not supported: this collection reads formats 1" in problems["manifest"]
    assert problems["images"] == "not checked: the manifest could not be read"


def test_the_signer_is_found_from_the_signature_s_key_in_one_process_and_patterns_are_left_to_ssh_keygen(release, processes):
    """The signature names its key: a plain principal of that key is verified with one ssh-keygen (-Y verify), the check
    itself; a principal written as a pattern, or a key of no principal, is found by ssh-keygen -Y find-principals."""
    data = release.attestation().read_bytes()
    signature = (release.dir / f"release-attestation-{release.tag}.jsonld.sig").read_bytes()
    assert _signing.signature_key(signature) == (release.root / "signing_key.pub").read_text().split()[1]
    assert _signing.signature_key(b"-----BEGIN SSH SIGNATURE-----\nnot base64!\n-----END SSH SIGNATURE-----\n") == ""
    assert _signing.verify(data, signature, str(release.signers), "maestro-release") == "releaser@test.invalid"
    assert [p[1:3] for p in processes if p[0].endswith("ssh-keygen")] == [["-Y", "verify"]]
    processes.clear()
    key = (release.root / "signing_key.pub").read_text().strip()
    release.signers.write_text(f'releaser@*.invalid namespaces="maestro-release" {key}\n')
    assert _signing.verify(data, signature, str(release.signers), "maestro-release") == "releaser@*.invalid"
    assert [p[1:3] for p in processes if p[0].endswith("ssh-keygen")] == [["-Y", "find-principals"], ["-Y", "verify"]]
    # a line for another namespace names no one here, whatever the key: ssh-keygen is asked, and refuses
    release.signers.write_text(f'releaser@test.invalid namespaces="other" {key}\n')
    with pytest.raises(ConductorError, match="not permitted for use in signature namespace"):
        _signing.verify(data, signature, str(release.signers), "maestro-release")
