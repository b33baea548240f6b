"""release_bundle's core: what it writes, that re-runs change nothing, and that failures leave nothing half-written."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess

import pytest
import yaml
from pyld import jsonld

from ansible_collections.maestro.conductor.plugins.module_utils import _bundle, _common, _release_format as fmt
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._verify import verify_release
from tests.conftest import git, snapshot
# images is a fixture: imported so that pytest finds it here
from tests.unit.test_image_archive import images, needs_docker, write_tar  # noqa: F401 pylint: disable=unused-import


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


def test_changed_artifact_rewrites_manifest_attestation_and_signature(release):
    (release.dir / "compose.yaml").write_text("services: {web: {image: 'demo:v1.0.0-fixed'}}\n")
    again = plan(release, checks=[{"name": "unit tests", "result": "pass"}])
    assert sorted(again.changed_files) == sorted([
        f"release-manifest-{release.tag}.yaml", f"release-attestation-{release.tag}.jsonld", f"release-attestation-{release.tag}.jsonld.sig"])
    assert {d["after_header"] for d in again.diff()} == {f"release-manifest-{release.tag}.yaml", f"release-attestation-{release.tag}.jsonld"}
    _bundle.write_bundle(again, str(release.dir))
    assert verify_release(str(release.dir), release.tag, str(release.repo), strict=True, allowed_signers=str(release.signers)).ok


def test_a_stale_signature_is_never_left_behind(release):
    (release.dir / "compose.yaml").write_text("changed\n")
    with pytest.raises(ConductorError, match="signs the attestation being replaced"):
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
    assert set(fmt.SCHEMAS) == {"release-manifest-v1", "release-manifest-v2", "evidence-v1", "release-attestation-v1"}
    for stem, schema in fmt.SCHEMAS.items():
        with open(os.path.join(docs, f"{stem}.schema.json"), encoding="utf-8") as handle:
            assert json.load(handle) == schema, f"docs/schemas is stale: run 'make schemas' ({stem})"


def test_manifest_schema_v1_is_the_one_releases_were_made_with():
    v1 = fmt.MANIFEST_SCHEMAS[1]
    assert v1["properties"]["format_version"] == {"const": 1}
    assert set(v1["properties"]["artifacts"]["items"]["properties"]) == {"path", "size", "sha256"}


# --- image ids (manifest format 2) ----------------------------------------------------------------------------------


def test_a_file_that_is_no_image_archive_records_no_images(release):
    manifest = yaml.safe_load(release.manifest().read_text())
    assert manifest["format_version"] == 2
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
    with pytest.raises(ConductorError, match="manifest format 3 is not supported: expected one of 1, 2"):
        plan(release, manifest_format=3)
