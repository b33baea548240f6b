"""release_bundle's core: what it writes, that re-runs change nothing, and that failures leave nothing half-written."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import subprocess

import pytest
import yaml
from pyld import jsonld

from ansible_collections.maestro.conductor.plugins.module_utils import _bundle, _common, _release_format as fmt, _signing
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._verify import verify_release
from ansible_collections.maestro.conductor.plugins.modules import release_bundle
from tests.conftest import git, snapshot
# images is a fixture: imported so that pytest finds it here
from tests.unit.test_image_archive import images, needs_docker, write_tar  # noqa: F401 pylint: disable=unused-import
from tests.unit.test_modules import run


def plan(rel, **overrides):
    overrides.setdefault("signing_key", str(rel.key))
    return _bundle.plan_bundle(_bundle.BundleRequest(release_dir=str(rel.dir), tag=rel.tag, repo=str(rel.repo), **overrides))


def test_manifest_records_tag_object_commit_repository_and_artifacts(release):
    manifest = yaml.safe_load(release.manifest().read_text())
    tag_object = git(release.repo, "rev-parse", f"refs/tags/{release.tag}")
    assert manifest["tag_object"] == tag_object != release.commit
    assert manifest["tag_type"] == "annotated"
    assert manifest["commit"] == release.commit
    assert manifest["repository"] == str(release.repo)
    web = next(a for a in manifest["artifacts"] if a["path"] == "images/web.tar")
    assert web["size"] == (release.dir / "images" / "web.tar").stat().st_size == 1280000


def test_attestation_is_an_in_toto_statement_and_valid_json_ld(release):
    attestation = json.loads(release.attestation().read_text())
    assert attestation["_type"] == "https://in-toto.io/Statement/v1"
    assert {s["name"] for s in attestation["subject"]} == {
        "compose.yaml", "images/web.tar", "sbom.json", f"release-manifest-{release.tag}.yaml", f"evidence-{release.tag}.json"}
    expanded = jsonld.expand(attestation)  # raises on an invalid JSON-LD document or context
    subjects = expanded[0]["https://in-toto.io/Statement/v1#subject"]
    assert len(subjects) == 5
    predicate = expanded[0]["https://in-toto.io/Statement/v1#predicate"][0]
    assert predicate["https://in-toto.io/Statement/v1#tag"] == [{"@value": release.tag}]
    names = {s["https://in-toto.io/Statement/v1#name"][0]["@value"] for s in subjects}
    assert "images/web.tar" in names


def test_rerun_with_same_inputs_writes_nothing(release):
    before = snapshot(release.dir)
    again = plan(release, checks=[{"name": "unit tests", "result": "pass"}])
    assert again.changed_files == []
    _bundle.write_bundle(again, str(release.dir))
    assert snapshot(release.dir) == before


def test_changed_artifact_rewrites_manifest_attestation_signature_and_envelope(release):
    (release.dir / "compose.yaml").write_text("services: {web: {image: 'demo:v1.0.0-fixed'}}\n")
    again = plan(release, checks=[{"name": "unit tests", "result": "pass"}])
    assert sorted(again.changed_files) == sorted([
        f"release-manifest-{release.tag}.yaml", f"release-attestation-{release.tag}.jsonld", f"release-attestation-{release.tag}.jsonld.sig",
        f"release-attestation-{release.tag}.dsse.json"])
    assert {d["after_header"] for d in again.diff()} == {f"release-manifest-{release.tag}.yaml", f"release-attestation-{release.tag}.jsonld"}
    _bundle.write_bundle(again, str(release.dir))
    assert verify_release(str(release.dir), release.tag, str(release.repo), strict=True, allowed_signers=str(release.signers)).ok


def test_a_stale_signature_or_envelope_is_never_left_behind(release):
    (release.dir / "compose.yaml").write_text("changed\n")
    with pytest.raises(ConductorError, match=f"release-attestation-{release.tag}.jsonld.sig and release-attestation-{release.tag}.dsse.json "
                                             "sign the attestation being replaced: give a signing key"):
        plan(release, signing_key="")
    (release.dir / f"release-attestation-{release.tag}.jsonld.sig").unlink()
    with pytest.raises(ConductorError, match=f"release-attestation-{release.tag}.dsse.json signs the attestation being replaced"):
        plan(release, signing_key="")


def test_failed_write_puts_every_file_back(release, monkeypatch):
    (release.dir / "compose.yaml").write_text("changed\n")
    pending = plan(release)
    assert len(pending.changed_files) >= 2
    before = {name: (release.dir / name).read_bytes() for name in pending.changed_files}
    real_write, calls = _common.atomic_write, []

    def failing_second_write(path, data, mode=0o644):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_write(path, data, mode)

    monkeypatch.setattr(_bundle, "atomic_write", failing_second_write)
    with pytest.raises(ConductorError, match="nothing was changed: .*No space left on device"):
        _bundle.write_bundle(pending, str(release.dir))
    assert {name: (release.dir / name).read_bytes() for name in pending.changed_files} == before
    assert not [p for p in os.listdir(release.dir) if p.startswith(".tmp-")]


def test_explicit_artifact_list(release):
    result = plan(release, artifacts=["sbom.json", "compose.yaml"])
    assert [a["path"] for a in result.manifest["artifacts"]] == ["compose.yaml", "sbom.json"]


@pytest.mark.parametrize("artifact, message", [
    ("../outside", "contains '..'"),
    ("/etc/passwd", "is absolute"),
    ("missing.bin", "artifact missing.bin is missing: expected a regular file inside the release directory"),
    ("release-manifest-v1.0.0.yaml", "is the name of a release file"),
])
def test_bad_artifact_paths(release, artifact, message):
    with pytest.raises(ConductorError, match=message):
        plan(release, artifacts=[artifact])


def test_symlinked_artifact_outside_the_release_dir(release):
    os.symlink("/etc/hostname", release.dir / "host")
    with pytest.raises(ConductorError, match="artifact path 'host' resolves outside the release directory"):
        plan(release)


def test_empty_release_dir(release, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConductorError, match="holds no artifacts"):
        _bundle.plan_bundle(_bundle.BundleRequest(release_dir=str(empty), tag=release.tag, repo=str(release.repo)))


def test_unknown_tag(release):
    with pytest.raises(ConductorError, match="tag v9.9.9 does not exist"):
        _bundle.plan_bundle(_bundle.BundleRequest(release_dir=str(release.dir), tag="v9.9.9", repo=str(release.repo)))


def test_lightweight_tag_is_recorded_as_such(release):
    git(release.repo, "tag", "v1.0.0-light", release.commit)
    result = _bundle.plan_bundle(_bundle.BundleRequest(release_dir=str(release.dir), tag="v1.0.0-light", repo=str(release.repo),
                                                       artifacts=["compose.yaml"]))
    assert result.manifest["tag_type"] == "lightweight"
    assert result.manifest["tag_object"] == result.manifest["commit"] == release.commit


def test_schemas_in_docs_match_the_code():
    docs = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "schemas")
    assert set(fmt.SCHEMAS) == {"release-manifest-v1", "release-manifest-v2", "release-manifest-v3", "evidence-v1", "evidence-v2", "release-attestation-v1",
                                "release-attestation-envelope-v1"}
    for stem, schema in fmt.SCHEMAS.items():
        with open(os.path.join(docs, f"{stem}.schema.json"), encoding="utf-8") as handle:
            assert json.load(handle) == schema, f"docs/schemas is stale: run 'make schemas' ({stem})"


def test_manifest_schema_v1_is_the_one_releases_were_made_with():
    v1 = fmt.MANIFEST_SCHEMAS[1]
    assert v1["properties"]["format_version"] == {"const": 1}
    assert set(v1["properties"]["artifacts"]["items"]["properties"]) == {"path", "size", "sha256"}


def test_manifest_format_3_has_the_fields_of_format_2():
    v2, v3 = fmt.MANIFEST_SCHEMAS[2], fmt.MANIFEST_SCHEMAS[3]
    assert v3["properties"]["format_version"] == {"const": 3}
    assert {**v3, "$id": None, "properties": {**v3["properties"], "format_version": None}} == \
        {**v2, "$id": None, "properties": {**v2["properties"], "format_version": None}}


def test_an_unknown_manifest_format_names_every_format_read():
    with pytest.raises(ConductorError, match=r"manifest format_version 4 is not supported: this collection reads formats 1, 2 and 3 \(m\)"):
        fmt.manifest_schema({"format_version": 4}, "m")


def test_the_envelope_written_matches_its_schema(release):
    envelope = json.loads(release.envelope().read_text())
    fmt.validate_document(envelope, fmt.ENVELOPE_SCHEMA, release.envelope().name, "DSSE envelope")
    assert list(envelope) == ["payloadType", "payload", "signatures"]


# --- image ids (manifest format 2) ----------------------------------------------------------------------------------


def test_a_file_that_is_no_image_archive_records_no_images(release):
    manifest = yaml.safe_load(release.manifest().read_text())
    assert manifest["format_version"] == 3
    assert all("images" not in artifact for artifact in manifest["artifacts"])  # images/web.tar is random bytes


@needs_docker
def test_image_archives_record_their_image_ids_and_repo_tags(release, images):
    (release.dir / "images" / "web.tar").write_bytes(images.legacy.read_bytes())
    (release.dir / "images" / "both.tar.gz").write_bytes(gzip.compress(images.both.read_bytes()))
    release.bundle(checks=[{"name": "unit tests", "result": "pass"}])
    artifacts = {a["path"]: a for a in yaml.safe_load(release.manifest().read_text())["artifacts"]}
    assert artifacts["images/web.tar"]["images"] == [{"id": images.a_id, "repo_tags": images.a_tags}]
    assert artifacts["images/web.tar"]["sha256"] == hashlib.sha256(images.legacy.read_bytes()).hexdigest()
    both = [{"id": images.a_id, "repo_tags": [images.a_tags[0]]}, {"id": images.b_id, "repo_tags": images.b_tags}]
    assert artifacts["images/both.tar.gz"]["images"] == sorted(both, key=lambda image: image["id"])
    assert "images" not in artifacts["compose.yaml"] and "images" not in artifacts["sbom.json"]
    before = snapshot(release.dir)
    assert plan(release, checks=[{"name": "unit tests", "result": "pass"}]).changed_files == []
    assert snapshot(release.dir) == before


@needs_docker
def test_an_image_without_repo_tags_is_recorded_with_none(release, images, tmp_path):
    untagged = tmp_path / "untagged.tar"
    subprocess.run(["docker", "save", "-o", str(untagged), images.a_id], check=True, capture_output=True)
    (release.dir / "images" / "web.tar").write_bytes(untagged.read_bytes())
    web = next(a for a in plan(release).manifest["artifacts"] if a["path"] == "images/web.tar")
    assert web["images"] == [{"id": images.a_id, "repo_tags": []}]


def test_an_inconsistent_image_archive_fails_the_bundle_naming_it(release):
    write_tar(release.dir / "images" / "web.tar", {"manifest.json": b'[{"Config": "' + b"0" * 64 + b'.json", "RepoTags": []}]'})
    with pytest.raises(ConductorError, match=f"image archive {release.dir}/images/web.tar: config {'0' * 64}.json is missing"):
        plan(release)


def test_format_1_can_still_be_written(release):
    old = plan(release, manifest_format=1)
    assert old.manifest["format_version"] == 1
    fmt.validate_document(old.manifest, fmt.MANIFEST_SCHEMAS[1], "manifest", "manifest")
    with pytest.raises(ConductorError, match="manifest format 4 is not supported: expected one of 1, 2, 3"):
        plan(release, manifest_format=4)


def test_bundling_an_older_format_removes_the_envelope_last(release, monkeypatch):
    envelope, manifest = release.envelope().read_bytes(), release.manifest().read_bytes()
    older = plan(release, manifest_format=2)
    assert older.removed == [release.envelope().name] and older.changed_files[-1] == release.envelope().name
    assert release.envelope().name not in {d["after_header"] for d in older.diff()}
    assert release.envelope().read_bytes() == envelope  # planning changes nothing
    real_write = _common.atomic_write

    def fail_on_the_signature(path, data, mode=0o644):
        if path.endswith(".sig"):
            raise OSError(28, "No space left on device")
        real_write(path, data, mode)

    monkeypatch.setattr(_bundle, "atomic_write", fail_on_the_signature)
    with pytest.raises(ConductorError, match="nothing was changed"):
        _bundle.write_bundle(older, str(release.dir))
    assert release.envelope().read_bytes() == envelope and release.manifest().read_bytes() == manifest
    monkeypatch.setattr(_bundle, "atomic_write", real_write)
    assert _bundle.write_bundle(older, str(release.dir))[-1] == release.envelope().name
    assert not release.envelope().exists()


# --- no credential from a URL is recorded ---------------------------------------------------------------------------

TOKEN = "glpat-s3cr3tT0ken"


def _release_bytes(rel) -> bytes:
    """Every release file, and the Statement inside the envelope (base64 would hide a token from a plain search)."""
    data = b"".join(path.read_bytes() for path in sorted(rel.dir.iterdir()) if path.is_file())
    envelope = json.loads(rel.envelope().read_text()) if rel.envelope().exists() else {"payload": ""}
    return data + base64.b64decode(envelope["payload"])


def test_the_origin_url_is_recorded_without_its_credentials(release):
    git(release.repo, "remote", "add", "origin", f"https://ci-bot:{TOKEN}@git.example.com/team/svc.git")
    release.bundle(checks=[{"name": "unit tests", "result": "pass"}])
    assert TOKEN.encode() not in _release_bytes(release)
    assert b"ci-bot" not in _release_bytes(release)
    clean = "https://git.example.com/team/svc.git"
    assert yaml.safe_load(release.manifest().read_text())["repository"] == clean
    assert json.loads(release.evidence().read_text())["provenance"]["repository"] == clean
    assert json.loads(release.attestation().read_text())["predicate"]["repository"] == clean
    assert verify_release(str(release.dir), release.tag, str(release.repo), strict=True, allowed_signers=str(release.signers)).ok


def test_every_recorded_url_is_stripped_of_credentials(release):
    result = plan(release, repository=f"https://oauth2:{TOKEN}@git.example.com/svc.git?private_token={TOKEN}",
                  ci_run=f"https://ci.example.com/run/7?access_token={TOKEN}", generated_by=f"https://bot:{TOKEN}@ci.example.com/job",
                  checks=[{"name": "scan", "result": "pass", "detail": f"report at https://x:{TOKEN}@reports.example.com/1 (ok)"}])
    assert not any(TOKEN.encode() in data for data in result.files.values())
    evidence = json.loads(result.files[f"evidence-{release.tag}.json"])
    assert evidence["provenance"]["repository"] == result.manifest["repository"] == "https://git.example.com/svc.git"
    assert evidence["ci_run"] == "https://ci.example.com/run/7"
    assert evidence["generated_by"] == "https://ci.example.com/job"
    assert evidence["checks"][0]["detail"] == "report at https://reports.example.com/1 (ok)"


def test_a_url_that_still_carries_credentials_is_refused(release):
    before = snapshot(release.dir)
    with pytest.raises(ConductorError) as caught:
        plan(release, builder=f"https://bot:{TOKEN}@ci.example.com/builder")  # not a field the bundle strips: the guard catches it
    assert str(caught.value).startswith(f"evidence-{release.tag}.json would record a URL that carries credentials "
                                        "(https://ci.example.com/builder, credentials left out here)")
    assert TOKEN not in str(caught.value)
    assert snapshot(release.dir) == before


def test_diff_mode_never_shows_a_credential_an_older_release_recorded(release, monkeypatch):
    manifest = release.manifest()
    manifest.write_text(manifest.read_text().replace(f"repository: {release.repo}",
                                                     f"repository: https://ci-bot:{TOKEN}@git.example.com/svc.git"))
    git(release.repo, "remote", "add", "origin", f"https://ci-bot:{TOKEN}@git.example.com/svc.git")
    args = {"tag": release.tag, "release_dir": str(release.dir), "repo": str(release.repo), "signing_key": str(release.key),
            "_ansible_check_mode": True, "_ansible_diff": True}
    out = run(release_bundle, args, monkeypatch)
    assert not out.failed and out.result["changed"] is True
    assert TOKEN not in json.dumps(out.result)
    manifest_diff = next(d for d in out.result["diff"] if d["after_header"] == manifest.name)
    assert "repository: https://git.example.com/svc.git" in manifest_diff["before"]
    assert "repository: https://git.example.com/svc.git" in manifest_diff["after"]


@pytest.mark.parametrize("make", ["hard link", "symbolic link", "empty directory"])
def test_what_strict_verification_refuses_is_refused_before_signing(release, make):
    # bundling it and finding out at rollback time would be the second outage
    elsewhere = release.dir.parent / "elsewhere"
    elsewhere.mkdir()
    if make == "hard link":
        os.link(release.dir / "sbom.json", elsewhere / "sbom.json")
    elif make == "symbolic link":
        (release.dir / "notes.txt").symlink_to(release.dir / "sbom.json")
    else:
        (release.dir / "spare").mkdir()
    with pytest.raises(ConductorError, match="hard links|symbolic link|empty directory"):
        plan(release)


@pytest.mark.parametrize("field, value", [("tag", "v1.0.0\n"), ("commit", "a" * 40 + "\n")])
def test_schema_patterns_refuse_a_trailing_newline(release, field, value):
    # Python's "$" (jsonschema's regex engine) also matches before a final newline
    manifest = yaml.safe_load(release.manifest().read_text())
    manifest[field] = value
    with pytest.raises(ConductorError, match="does not match its schema"):
        fmt.validate_document(manifest, fmt.MANIFEST_SCHEMAS[manifest["format_version"]], "release-manifest.yaml", "manifest")


def test_a_workflow_is_recorded_with_its_digest_in_evidence_format_2_and_the_release_still_verifies(release, tmp_path):
    checks = [{"name": "unit tests", "result": "pass"}]
    release.bundle(checks=checks, workflow="VERSION")  # the file as the tag's commit holds it
    evidence = json.loads(release.evidence().read_text())
    assert evidence["format_version"] == 2
    assert evidence["provenance"]["workflow"] == {"path": "VERSION", "sha256": hashlib.sha256(b"first\n").hexdigest()}
    report = verify_release(str(release.dir), release.tag, str(release.repo), strict=True, allowed_signers=str(release.signers))
    assert report.ok, report.failed_checks
    ran = tmp_path / "release.yml"
    ran.write_bytes(b"on: push\n")
    assert plan(release, checks=checks, workflow="VERSION", workflow_file=str(ran)).changed_files  # another file, another digest
    release.bundle(checks=checks, workflow="VERSION", workflow_file=str(ran))
    assert json.loads(release.evidence().read_text())["provenance"]["workflow"]["sha256"] == hashlib.sha256(b"on: push\n").hexdigest()
    release.bundle(checks=checks)  # no workflow: format 1 again, as collections before it read
    assert json.loads(release.evidence().read_text())["format_version"] == 1


@pytest.mark.parametrize("overrides, message", [
    ({"workflow": ".github/workflows/release.yml"}, "is not in the tag's commit"),
    ({"workflow": "../outside.yml"}, "workflow '../outside.yml' is invalid"),
    ({"workflow": "/etc/passwd"}, "is invalid: expected its path relative"),
    ({"workflow_file": "/etc/hostname"}, "workflow_file needs workflow"),
    ({"workflow": "VERSION", "workflow_file": "/nonexistent/release.yml"}, "could not be read"),
])
def test_a_workflow_that_cannot_be_recorded_is_refused_naming_it(release, overrides, message):
    with pytest.raises(ConductorError, match=message):
        plan(release, **overrides)


def test_the_signing_key_comes_from_the_environment_an_awx_credential_sets(release, monkeypatch):
    """The credential type 'maestro release signing key' writes the key to a file of the job's own and names it in
    MAESTRO_SIGNING_KEY: without signing_key, release_bundle signs with it."""
    (release.dir / "notes.txt").write_text("release notes\n")
    monkeypatch.setenv("MAESTRO_SIGNING_KEY", str(release.key))
    out = run(release_bundle, {"tag": release.tag, "release_dir": str(release.dir), "repo": str(release.repo)}, monkeypatch)
    assert not out.failed and out.result["changed"], out.result
    data = release.attestation().read_bytes()
    signature = (release.dir / f"release-attestation-{release.tag}.jsonld.sig").read_bytes()
    assert _signing.verify(data, signature, str(release.signers), "maestro-release") == "releaser@test.invalid"
