"""Tampering with a real, signed release and its real repository: every kind must fail strict verification, with the
cause named in the report, and leave every file (and every ref) as it was.

The signed variants ("..., re-signed") stand for a releaser's tool gone wrong, or a key that signed what it should not
have: the signature then verifies, and the check that names the cause must still refuse the release.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml

from ansible_collections.maestro.conductor.plugins.module_utils import _bundle, _dsse, _release_format as fmt, _signing
from ansible_collections.maestro.conductor.plugins.module_utils._verify import verify_release
from tests.conftest import Release, commit, git, make_keypair, snapshot

# --- how a tamperer works ---------------------------------------------------------------------------------------------


def change_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only the digest can tell
    path.write_bytes(bytes(data))


def edit_yaml(rel: Release, change: Callable[[dict], None]) -> None:
    manifest = yaml.safe_load(rel.manifest().read_text())
    change(manifest)
    rel.manifest().write_bytes(fmt.dump_manifest(manifest))


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_bytes(fmt.dump_json(document))


def signature(rel: Release) -> Path:
    return rel.dir / f"{rel.attestation().name}.sig"


def redigest(rel: Release, sign: bool = False, manifest_as_is: bool = False) -> None:
    """Make the manifest and the attestation say what the directory now holds; sign that with the release key only if
    ``sign`` (a tamperer has no key). ``manifest_as_is``: attest the manifest's bytes as they are (not re-dumped)."""
    def artifacts(manifest: dict) -> None:
        for entry in manifest["artifacts"]:
            path = rel.dir / entry["path"]
            if path.is_file():
                entry.update(size=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())

    if not manifest_as_is:
        edit_yaml(rel, artifacts)
    sums = {entry["path"]: entry["sha256"] for entry in yaml.safe_load(rel.manifest().read_text())["artifacts"]}
    for path in (rel.manifest(), rel.evidence()):
        sums[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    edit_json(rel.attestation(), lambda a: [s["digest"].update(sha256=sums.get(s["name"], s["digest"]["sha256"])) for s in a["subject"]])
    if sign:
        signature(rel).write_bytes(_signing.sign(rel.attestation().read_bytes(), str(rel.key), fmt.SIGNATURE_NAMESPACE))
        envelope = rel.dir / fmt.envelope_name(rel.tag)
        if envelope.exists():
            statement = fmt.plain_statement(json.loads(rel.attestation().read_text()))
            envelope.write_bytes(_dsse.make(statement, str(rel.key)))


def another_release(rel: Release, tag: str = "v1.1.0") -> Path:
    """A second release of the same repository, signed by the same key, with files of the same names."""
    git(rel.repo, "tag", "-a", "-m", "second release", tag, commit(rel.repo, "second"), date="2026-02-02T00:00:00Z")
    other = rel.dir.parent / tag
    shutil.copytree(rel.dir, other, ignore=shutil.ignore_patterns("release-*", "evidence-*"))
    (other / "compose.yaml").write_text(f"services: {{web: {{image: 'demo:{tag}'}}}}\n")
    request = _bundle.BundleRequest(release_dir=str(other), tag=tag, repo=str(rel.repo), signing_key=str(rel.key),
                                    checks=[{"name": "unit tests", "result": "pass"}])
    _bundle.write_bundle(_bundle.plan_bundle(request), str(other))
    return other


def release_files_of_another_release(rel: Release) -> None:
    other = another_release(rel)
    for name in os.listdir(other):
        if name.startswith(("release-", "evidence-")):
            shutil.copy(other / name, rel.dir / name.replace("v1.1.0", rel.tag))


def signature_by_another_key(rel: Release) -> None:
    intruder = make_keypair(rel.root / "intruder_key", "intruder")
    signature(rel).write_bytes(_signing.sign(rel.attestation().read_bytes(), str(intruder), fmt.SIGNATURE_NAMESPACE))


def replace_with(rel: Release, relpath: str, make: Callable[[Path], None]) -> None:
    (rel.dir / relpath).unlink()
    make(rel.dir / relpath)


def symlink_to_a_copy_inside(rel: Release) -> None:
    os.replace(rel.dir / "sbom.json", rel.dir / "images" / "sbom.json")
    (rel.dir / "sbom.json").symlink_to("images/sbom.json")


def symlinked_directory(rel: Release) -> None:
    os.replace(rel.dir / "images", rel.root / "images-elsewhere")
    (rel.dir / "images").symlink_to(rel.root / "images-elsewhere")


def symlink_out_of_the_release(rel: Release) -> None:
    outside = rel.root / "sbom-elsewhere.json"
    outside.write_bytes((rel.dir / "sbom.json").read_bytes())
    replace_with(rel, "sbom.json", lambda path: path.symlink_to(outside))


def a_socket(rel: Release) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(rel.dir / "s"))


def a_device(rel: Release) -> None:
    try:
        os.mknod(rel.dir / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device file needs CAP_MKNOD")


def hostile_manifest(text: str) -> Callable[[Release], None]:
    return lambda rel: rel.manifest().write_text(text)


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
PYTHON_TAG = "!!python/object/apply:os.system ['touch {marker}']\n"


def duplicate_keys(rel: Release) -> None:
    """A second 'commit' key after the real one: PyYAML keeps the last, another reader the first."""
    text = rel.manifest().read_text()
    rel.manifest().write_text(text.replace(f"commit: {rel.commit}\n", f"commit: {rel.commit}\ncommit: '{'0' * 40}'\n"))


def duplicate_json_keys(rel: Release) -> None:
    """A second 'checks' key: json keeps the last (passing) one, another reader the first (failing) one."""
    text = rel.evidence().read_text()
    rel.evidence().write_text(text.replace('  "checks": [', '  "checks": [{"name": "integration tests", "result": "fail"}],\n  "checks": [', 1))


def evidence_verdict(result: str | None) -> Callable[[Release], None]:
    def change(rel: Release) -> None:
        def set_verdict(evidence: dict) -> None:
            if result is None:
                del evidence["checks"][0]["result"]
            else:
                evidence["checks"][0]["result"] = result
        edit_json(rel.evidence(), set_verdict)
    return change


def then(*steps: Callable[[Release], None]) -> Callable[[Release], None]:
    def run(rel: Release) -> None:
        for step in steps:
            step(rel)
    return run


# --- every kind of tampering, and what the report must name -----------------------------------------------------------


@dataclass
class Tamper:
    tamper: Callable[[Release], None]
    expected: dict[str, str]  # check -> text its failure detail must hold


SHA = "sha256 is "
NOT_SIGNED = "does not verify for releaser@test.invalid"
ELSEWHERE = "https://elsewhere.invalid/fork.git"

TAMPERING = {
    # changed bytes, nothing else
    "compose.yaml: one byte changed": Tamper(lambda r: change_a_byte(r.dir / "compose.yaml"), {"artifacts": f"artifact compose.yaml: {SHA}"}),
    "images/web.tar: one byte changed": Tamper(lambda r: change_a_byte(r.dir / "images" / "web.tar"),
                                               {"artifacts": f"artifact images/web.tar: {SHA}"}),
    "sbom.json: one byte changed": Tamper(lambda r: change_a_byte(r.dir / "sbom.json"), {"artifacts": f"artifact sbom.json: {SHA}"}),
    "sbom.json: bytes appended": Tamper(lambda r: r.dir.joinpath("sbom.json").write_text('{"spdxVersion": "SPDX-2.3"}\n\n'),
                                        {"artifacts": "artifact sbom.json: size is 29 bytes, manifest says 28"}),
    "manifest: a value changed": Tamper(lambda r: edit_yaml(r, lambda m: m.update(repository=ELSEWHERE)),
                                        {"attestation_subjects": "release-manifest-v1.0.0.yaml: attested sha256"}),
    "evidence: one byte changed": Tamper(lambda r: r.evidence().write_text(r.evidence().read_text().replace('"pass"', '"fail"')),
                                         {"attestation_subjects": "evidence-v1.0.0.json: attested sha256", "evidence_verdicts": "recorded 'fail'"}),
    "attestation: one byte changed": Tamper(lambda r: edit_json(r.attestation(), lambda a: a["predicate"].update(repository=ELSEWHERE)),
                                            {"signature": NOT_SIGNED}),
    # re-digested without a new signature
    "artifact changed, manifest re-digested": Tamper(
        then(lambda r: change_a_byte(r.dir / "sbom.json"), lambda r: edit_yaml(
            r, lambda m: [a.update(sha256=hashlib.sha256((r.dir / "sbom.json").read_bytes()).hexdigest()) for a in m["artifacts"]
                          if a["path"] == "sbom.json"])),
        {"attestation_subjects": "release-manifest-v1.0.0.yaml: attested sha256"}),
    "artifact changed, manifest and attestation re-digested, not re-signed": Tamper(
        then(lambda r: change_a_byte(r.dir / "images" / "web.tar"), redigest), {"signature": NOT_SIGNED}),
    "evidence verdict made 'fail', re-attested, not re-signed": Tamper(
        then(evidence_verdict("fail"), redigest), {"signature": NOT_SIGNED, "evidence_verdicts": "check 'unit tests' recorded 'fail'"}),
    "provenance pointed elsewhere, re-attested, not re-signed": Tamper(
        then(lambda r: edit_json(r.evidence(), lambda e: e["provenance"].update(repository=ELSEWHERE)), redigest),
        {"signature": NOT_SIGNED, "evidence": f"evidence provenance repository is {ELSEWHERE}"}),
    # another release's signature or files
    "signature of another release by the same key": Tamper(
        lambda r: signature(r).write_bytes((another_release(r) / "release-attestation-v1.1.0.jsonld.sig").read_bytes()),
        {"signature": NOT_SIGNED}),
    "signature by another key": Tamper(signature_by_another_key, {"signature": "was not made by any key in"}),
    "signature removed": Tamper(lambda r: signature(r).unlink(), {"files_present": "release-attestation-v1.0.0.jsonld.sig is missing"}),
    "release files of another release, renamed": Tamper(release_files_of_another_release, {
        "manifest": "manifest is for tag v1.1.0, not v1.0.0", "evidence": "evidence is for tag v1.1.0, not v1.0.0",
        "attestation": "attestation is for tag v1.1.0, not v1.0.0"}),
    "an artifact of another release": Tamper(lambda r: shutil.copy(another_release(r) / "compose.yaml", r.dir / "compose.yaml"),
                                             {"artifacts": "artifact compose.yaml: sha256 is"}),
    # the tag
    "tag moved to another commit": Tamper(lambda r: git(r.repo, "tag", "-f", "-a", "-m", "moved", r.tag, commit(r.repo, "moved")),
                                          {"tag_commit": "tag v1.0.0 points at commit", "tag_object": "the tag was moved or re-created"}),
    "tag re-created on the same commit": Tamper(
        lambda r: git(r.repo, "tag", "-f", "-a", "-m", "again", r.tag, r.commit, date="2026-03-03T00:00:00Z"),
        {"tag_object": "the tag was moved or re-created"}),
    "lightweight tag in place of the annotated one": Tamper(
        then(lambda r: git(r.repo, "tag", "-d", r.tag), lambda r: git(r.repo, "tag", r.tag, r.commit)),
        {"tag_object": "tag v1.0.0 is lightweight"}),
    "tag deleted": Tamper(lambda r: git(r.repo, "tag", "-d", r.tag), {"tag_commit": "tag v1.0.0 does not exist"}),
    # duplicate entries
    "duplicate manifest entry": Tamper(lambda r: edit_yaml(r, lambda m: m["artifacts"].append(dict(m["artifacts"][0]))),
                                       {"attestation_subjects": "release-manifest-v1.0.0.yaml: attested sha256"}),
    "duplicate manifest entry, re-signed": Tamper(
        then(lambda r: edit_yaml(r, lambda m: m["artifacts"].append(dict(m["artifacts"][0]))), lambda r: redigest(r, sign=True)),
        {"artifacts": "compose.yaml is listed twice"}),
    "manifest entry naming a release file, re-signed": Tamper(
        then(lambda r: edit_yaml(r, lambda m: m["artifacts"].append(
            {"path": r.evidence().name, "size": 1, "sha256": "0" * 64})), lambda r: redigest(r, sign=True)),
        {"artifacts": "evidence-v1.0.0.json is listed twice or collides with a release file"}),
    "duplicate attestation subject, re-signed": Tamper(
        then(lambda r: edit_json(r.attestation(), lambda a: a["subject"].append(a["subject"][0])), lambda r: redigest(r, sign=True)),
        {"attestation_subjects": "appears twice"}),
    # what else the directory holds
    "an unlisted file": Tamper(lambda r: r.dir.joinpath("extra.sh").write_text("#!/bin/sh\n"),
                               {"unexpected_files": "extra.sh is not listed in the manifest"}),
    "an empty directory": Tamper(lambda r: r.dir.joinpath("images", "layers").mkdir(),
                                 {"unexpected_files": "images/layers/ is an empty directory"}),
    "a named pipe beside the artifacts": Tamper(lambda r: os.mkfifo(r.dir / "images" / "pipe"),
                                                {"unexpected_files": "images/pipe is a named pipe, not a regular file"}),
    "a named pipe in place of an artifact": Tamper(lambda r: replace_with(r, "sbom.json", os.mkfifo),
                                                   {"artifacts": "sbom.json is not a regular file"}),
    "a named pipe in place of the manifest": Tamper(lambda r: replace_with(r, r.manifest().name, os.mkfifo),
                                                    {"manifest": "release-manifest-v1.0.0.yaml is not a regular file"}),
    "a socket": Tamper(a_socket, {"unexpected_files": "s is a socket, not a regular file"}),
    "a device": Tamper(a_device, {"unexpected_files": "null is a character device, not a regular file"}),
    "a symlink to a copy inside": Tamper(symlink_to_a_copy_inside, {"unexpected_files": "sbom.json is a symbolic link (to images/sbom.json)"}),
    "a symlink out of the release": Tamper(symlink_out_of_the_release, {"artifacts": "path 'sbom.json' resolves outside the release"}),
    "a symlinked directory": Tamper(symlinked_directory, {"unexpected_files": "images is a symbolic link"}),
    "a hard link to an artifact from outside": Tamper(lambda r: os.link(r.dir / "images" / "web.tar", r.root / "web.tar"),
                                                      {"unexpected_files": "images/web.tar has 2 hard links"}),
    # hostile documents
    "YAML alias bomb": Tamper(hostile_manifest(ALIAS_BOMB), {"manifest": "aliases are not allowed"}),
    "YAML python tag": Tamper(lambda r: r.manifest().write_text(PYTHON_TAG.format(marker=r.root / "pwned")),
                              {"manifest": "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"}),
    "YAML with two documents": Tamper(lambda r: r.manifest().write_text(r.manifest().read_text() + "---\ntag: v9\n"),
                                      {"manifest": "expected a single document in the stream"}),
    "YAML duplicate keys": Tamper(duplicate_keys, {"manifest": "duplicate key 'commit'"}),
    "JSON duplicate keys": Tamper(duplicate_json_keys, {"evidence": "duplicate key 'checks'"}),
    "evidence verdict unknown": Tamper(evidence_verdict("unknown"), {"evidence": "checks/0/result: 'unknown' is not one of"}),
    "evidence verdict missing": Tamper(evidence_verdict(None), {"evidence": "checks/0: 'result' is a required property"}),
    # signed by the release key, and still wrong
    "evidence with a failed verdict, signed": Tamper(
        lambda r: r.bundle(checks=[{"name": "unit tests", "result": "pass"}, {"name": "smoke", "result": "fail", "detail": "HTTP 500"}]),
        {"evidence_verdicts": "check 'smoke' recorded 'fail', not 'pass': HTTP 500"}),
    "provenance repository elsewhere, re-signed": Tamper(
        then(lambda r: edit_json(r.evidence(), lambda e: e["provenance"].update(repository=ELSEWHERE)), lambda r: redigest(r, sign=True)),
        {"evidence": f"evidence provenance repository is {ELSEWHERE}, manifest says"}),
    "provenance commit elsewhere, re-signed": Tamper(
        then(lambda r: edit_json(r.evidence(), lambda e: e["provenance"].update(commit="0" * 40)), lambda r: redigest(r, sign=True)),
        {"evidence": f"evidence provenance commit is {'0' * 40}, manifest says"}),
    "attestation repository elsewhere, re-signed": Tamper(
        then(lambda r: edit_json(r.attestation(), lambda a: a["predicate"].update(repository=ELSEWHERE)), lambda r: redigest(r, sign=True)),
        {"attestation": f"attestation repository is {ELSEWHERE}, manifest says"}),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_fails_strict_verification_naming_the_cause_and_changes_nothing(release, kind):
    case = TAMPERING[kind]
    case.tamper(release)
    before = snapshot(release.root)
    report = verify_release(str(release.dir), release.tag, str(release.repo), strict=True, allowed_signers=str(release.signers))
    assert snapshot(release.root) == before, "verification modified the release or the repository"
    problems = {check.name: check.detail for check in report.failed}
    assert not report.ok and problems, report.summary()
    for name, text in case.expected.items():
        assert text in problems.get(name, ""), f"{name} should name {text!r}:\n" + "\n".join(report.summary())
    assert not (release.root / "pwned").exists()


def test_the_untampered_release_verifies(release):
    """The control: the same release, untouched, passes every check the suite expects to fail."""
    report = verify_release(str(release.dir), release.tag, str(release.repo), strict=True, allowed_signers=str(release.signers))
    assert report.ok and not report.warned, report.summary()


@pytest.mark.parametrize("tamper", [duplicate_keys, duplicate_json_keys], ids=["YAML", "JSON"])
def test_a_signed_document_with_duplicate_keys_is_refused(release, tamper):
    tamper(release)
    redigest(release, sign=True, manifest_as_is=True)
    report = verify_release(str(release.dir), release.tag, str(release.repo), strict=True, allowed_signers=str(release.signers))
    assert not report.ok and "duplicate" in " ".join(check.detail for check in report.failed)
