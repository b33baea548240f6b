"""The attestation as a DSSE envelope: what in-toto's own tools take, and what release_verify refuses."""

from __future__ import annotations

import base64
import copy
import json
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib import exceptions as sslib_exceptions
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from ansible_collections.maestro.conductor.plugins.module_utils import _bundle, _dsse, _release_format as fmt, _signing
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from tests.conftest import Release, make_keypair, snapshot
from tests.unit.test_verify import failed, verify


def read_envelope(rel: Release) -> dict:
    return json.loads(rel.envelope().read_text())


def payload_of(envelope: dict) -> dict:
    return json.loads(base64.b64decode(envelope["payload"]))


def jsonld_statement(rel: Release) -> dict:
    return json.loads(rel.attestation().read_text())


def check(report, name: str):
    return next(c for c in report.checks if c.name == name)


def ssh_fingerprint(public_key_path) -> str:
    return subprocess.run(["ssh-keygen", "-l", "-f", str(public_key_path)], check=True, capture_output=True, text=True).stdout.split()[1]


def test_a_signed_release_carries_the_plain_statement_in_a_dsse_envelope(release):
    envelope = read_envelope(release)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = payload_of(envelope)
    jsonld = jsonld_statement(release)
    assert "@context" in jsonld and "@context" not in statement
    assert statement == {key: value for key, value in jsonld.items() if key != "@context"}
    [signature] = envelope["signatures"]
    assert signature["keyid"] == ssh_fingerprint(release.root / "signing_key.pub")  # what ssh-keygen -l prints
    report = verify(release, strict=True)
    assert report.ok, report.summary()
    assert check(report, "envelope").detail == (f"{release.envelope().name} holds the attestation's Statement, "
                                                "signed by releaser@test.invalid")


def test_in_toto_attestation_parses_the_envelope_statement_with_its_default_parser(release):
    payload = base64.b64decode(read_envelope(release)["payload"])
    parsed = json_format.Parse(payload, statement_pb2.Statement())  # the default: a field it does not know is an error
    Statement.copy_from_pb(parsed).validate()
    assert parsed.predicate_type == fmt.PREDICATE_TYPE
    assert {subject.name for subject in parsed.subject} == {
        "compose.yaml", "images/web.tar", "sbom.json", release.manifest().name, release.evidence().name}
    assert parsed.predicate["tag"] == release.tag
    # why the envelope exists: the same parser refuses the JSON-LD view
    with pytest.raises(json_format.ParseError, match='no field named "@context"'):
        json_format.Parse(release.attestation().read_bytes(), statement_pb2.Statement())


def test_securesystemslib_verifies_the_envelope_with_the_release_key(release):
    envelope = read_envelope(release)
    public = serialization.load_ssh_public_key((release.root / "signing_key.pub").read_bytes())
    key = SSlibKey.from_crypto(public, keyid=envelope["signatures"][0]["keyid"])
    assert key.keytype == "ed25519"
    accepted = Envelope.from_dict(copy.deepcopy(envelope)).verify([key], 1)
    assert list(accepted) == [key.keyid]
    tampered = copy.deepcopy(envelope)
    tampered["payload"] = base64.b64encode(base64.b64decode(tampered["payload"]).replace(b"v1.0.0", b"v6.6.6")).decode()
    with pytest.raises(sslib_exceptions.VerificationError):
        Envelope.from_dict(tampered).verify([key], 1)


def test_pae_is_dsse_v1s_pre_authentication_encoding():
    assert _dsse.pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert _dsse.pae("application/vnd.in-toto+json", b"{}") == Envelope(b"{}", "application/vnd.in-toto+json", {}).pae()
    assert _dsse.pae("t\u00e9", b"") == "DSSEv1 3 t\u00e9 0 ".encode()  # the length of the type counts bytes, not characters


def test_the_envelope_is_the_same_bytes_for_the_same_statement_and_key(release):
    statement = fmt.plain_statement(jsonld_statement(release))
    assert _dsse.make(statement, str(release.key)) == _dsse.make(statement, str(release.key)) == release.envelope().read_bytes()


# --- tampering: each must fail the envelope check, naming the cause, and change nothing -----------------------------


def _reencode(envelope: dict, change) -> dict:
    statement = payload_of(envelope)
    change(statement)
    return {**envelope, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}


def _sign(rel: Release, statement: dict, key=None, payload_type: str = fmt.ENVELOPE_PAYLOAD_TYPE) -> None:
    rel.envelope().write_bytes(_dsse.make(statement, str(key or rel.key), payload_type))


def test_a_changed_payload_no_longer_verifies(release):
    envelope = _reencode(read_envelope(release), lambda s: s["predicate"].update(repository="https://elsewhere.invalid/x.git"))
    release.envelope().write_text(json.dumps(envelope))
    detail = failed(verify(release))["envelope"]
    assert (f"signature 1 of {release.envelope().name} by releaser@test.invalid ({envelope['signatures'][0]['keyid']}) does not verify: "
            "the payload or its type changed after signing") in detail
    assert "they differ at predicate.repository" in detail


def test_a_signature_by_another_key_is_refused(release):
    intruder = make_keypair(release.root / "intruder_key", "intruder")
    _sign(release, payload_of(read_envelope(release)), key=intruder)
    detail = failed(verify(release))["envelope"]
    fingerprint = ssh_fingerprint(release.root / "intruder_key.pub")
    assert detail == (f"signature 1 of {release.envelope().name} ({fingerprint}) was not made by any key in {release.signers} "
                      "allowed for namespace maestro-release")


@pytest.mark.parametrize("payload_type", ["application/json", "application/vnd.in-toto+json; charset=utf-8", ""])
def test_a_changed_payload_type_is_refused(release, payload_type):
    envelope = read_envelope(release)
    release.envelope().write_text(json.dumps({**envelope, "payloadType": payload_type}))
    detail = failed(verify(release))["envelope"]
    assert f"DSSE envelope {release.envelope().name} does not match its schema: payloadType: " in detail
    assert "'application/vnd.in-toto+json' was expected" in detail
    _sign(release, payload_of(envelope), payload_type=payload_type)  # signed as another type: refused all the same
    assert "'application/vnd.in-toto+json' was expected" in failed(verify(release))["envelope"]


def test_a_validly_signed_statement_that_differs_from_the_json_ld_one_is_refused(release):
    statement = payload_of(read_envelope(release))
    statement["predicate"]["commit"] = "0" * 40
    statement["subject"][0]["digest"]["sha256"] = "f" * 64
    _sign(release, statement)
    problems = failed(verify(release, strict=True))
    assert problems == {"envelope": f"the Statement in {release.envelope().name} is not the one in {release.attestation().name} "
                                    "without @context: they differ at subject[0].digest.sha256, predicate.commit"}


def test_the_json_ld_view_inside_the_envelope_is_refused(release):
    _sign(release, jsonld_statement(release))  # with @context: what in-toto's parsers refuse
    assert "they differ at @context" in failed(verify(release))["envelope"]


def test_a_json_ld_attestation_changed_and_re_signed_without_the_envelope_is_caught(release):
    attestation = jsonld_statement(release)
    attestation["predicate"]["repository"] = "https://elsewhere.invalid/x.git"
    data = fmt.dump_json(attestation)
    release.attestation().write_bytes(data)
    (release.dir / f"{release.attestation().name}.sig").write_bytes(_signing.sign(data, str(release.key), fmt.SIGNATURE_NAMESPACE))
    report = verify(release)
    assert "signature" not in failed(report)
    assert "they differ at predicate.repository" in failed(report)["envelope"]


@pytest.mark.parametrize("content, message", [
    (b"{not json", "is not valid JSON"),
    (b'{"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}',
     "does not match its schema: signatures: [] should be non-empty"),
    (b'{"payloadType": "application/vnd.in-toto+json", "payload": "!!!", "signatures": [{"sig": "AA=="}]}',
     "does not match its schema: payload: '!!!' does not match"),
    (b'{"payloadType": "application/vnd.in-toto+json", "payload": "' + base64.b64encode(b"[1, 2]") + b'", "signatures": [{"sig": "AA=="}]}',
     "is a JSON list, expected an in-toto Statement (an object)"),
])
def test_a_malformed_envelope_fails_naming_what_is_wrong(release, content, message):
    release.envelope().write_bytes(content)
    assert message in failed(verify(release))["envelope"]


def test_an_oversized_envelope_is_refused_without_parsing(release):
    release.envelope().write_bytes(b" " * (fmt.MAX_ENVELOPE_BYTES + 1))
    assert f"bytes; the limit is {fmt.MAX_ENVELOPE_BYTES} bytes" in failed(verify(release))["envelope"]


def test_the_keyid_is_only_a_hint_and_one_good_signature_is_enough(release):
    envelope = read_envelope(release)
    intruder = make_keypair(release.root / "intruder_key", "intruder")
    other = json.loads(_dsse.make(payload_of(envelope), str(intruder)))
    good = {**envelope["signatures"][0], "keyid": "SHA256:not-the-key-that-signed"}
    release.envelope().write_text(json.dumps({**envelope, "signatures": [other["signatures"][0], good]}))
    assert check(verify(release), "envelope").detail.endswith("signed by releaser@test.invalid")


def test_url_safe_unpadded_base64_is_read_as_dsse_allows(release):
    envelope = read_envelope(release)

    def url_safe(text: str) -> str:
        return base64.urlsafe_b64encode(base64.b64decode(text)).decode().rstrip("=")

    envelope["payload"] = url_safe(envelope["payload"])
    envelope["signatures"][0]["sig"] = url_safe(envelope["signatures"][0]["sig"])
    release.envelope().write_text(json.dumps(envelope))
    assert verify(release, strict=True).ok


# --- when an envelope is required -----------------------------------------------------------------------------------


def test_a_missing_envelope_fails_when_the_format_says_a_signed_release_has_one(release):
    release.envelope().unlink()
    expected = f"{release.envelope().name} is missing: a signed format 3 release carries its Statement as a DSSE envelope"
    assert failed(verify(release, strict=True))["envelope"] == expected
    assert failed(verify(release))["envelope"] == expected  # allowed signers given: the release must be signed, both ways
    assert "envelope" not in failed(verify(release, allowed_signers=None))  # standard mode without signers checks no signature


@pytest.mark.parametrize("manifest_format", [1, 2])
def test_releases_signed_the_old_way_keep_verifying(release, manifest_format):
    plan = release.bundle(manifest_format=manifest_format)
    assert plan.removed == [release.envelope().name]  # it would no longer match, and older collections do not know it
    assert not release.envelope().exists()
    report = verify(release, strict=True)
    assert report.ok, report.summary()
    assert check(report, "envelope").detail == f"none: format {manifest_format} releases carry none"
    assert check(report, "signature").detail == "signed by releaser@test.invalid"


def test_an_unsigned_release_has_no_envelope(release):
    release.envelope().unlink()
    (release.dir / f"{release.attestation().name}.sig").unlink()
    report = verify(release, allowed_signers=None)
    assert check(report, "envelope").ok and check(report, "envelope").detail == "none: the release is unsigned"


def test_a_signing_key_that_is_not_ed25519_is_refused_by_name(release):
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(release.root / "ecdsa_key")], check=True)
    before = snapshot(release.dir)
    with pytest.raises(ConductorError, match=r"signing key .*ecdsa_key is an ecdsa-sha2-nistp256 key, expected ssh-ed25519: "
                                             r"the DSSE envelope is signed with Ed25519"):
        _bundle.plan_bundle(_bundle.BundleRequest(release_dir=str(release.dir), tag=release.tag, repo=str(release.repo),
                                                  signing_key=str(release.root / "ecdsa_key")))
    assert snapshot(release.dir) == before


# --- allowed signers: the envelope accepts exactly the keys ssh-keygen accepts ----------------------------------------


@pytest.mark.parametrize("options, accepted", [
    ("", True),
    ('namespaces="maestro-release"', True),
    ('namespaces="git,maestro-*"', True),
    ('namespaces="git"', False),
    ('namespaces="*,!maestro-release"', False),
    ('valid-after="20000101"', True),
    ('valid-after="29990101Z"', False),
    ('valid-before="20000101"', False),
    ('valid-before="299901011200Z",namespaces="maestro-release"', True),
    ("cert-authority", False),
])
def test_allowed_signers_options_are_honoured_as_ssh_keygen_does(release, options, accepted):
    public = (release.root / "signing_key.pub").read_text().split()
    release.signers.write_text(f"# the release key\n\n\"releaser@test.invalid,ops@test.invalid\" {options} {public[0]} {public[1]} note\n")
    report = verify(release)
    assert check(report, "signature").ok is accepted, report.summary()  # ssh-keygen -Y verify's verdict
    assert check(report, "envelope").ok is accepted, report.summary()
    if accepted:
        assert check(report, "envelope").detail.endswith("signed by releaser@test.invalid,ops@test.invalid")
    else:
        assert failed(report)["envelope"] == (f"{release.signers} holds no Ed25519 key allowed for namespace maestro-release: "
                                              f"{release.envelope().name} cannot be verified")


def test_allowed_signers_lines_that_cannot_be_read_are_left_out(tmp_path):
    make_keypair(tmp_path / "k", "k")
    public = (tmp_path / "k.pub").read_text().split()
    signers = tmp_path / "allowed_signers"
    signers.write_text("\n".join([
        f"a@x {public[0]} {public[1]}",
        f"b@x {public[0]} not-base64!",
        f"c@x unknown-option {public[0]} {public[1]}",
        f"d@x {public[0]}",
        f"  # e@x {public[0]} {public[1]}",
        f'f@x namespaces="maestro-release" {public[0]} {public[1]} with a comment',
    ]) + "\n")
    found = _signing.allowed_signers(str(signers), "maestro-release")
    assert [signer.principals for signer in found] == ["a@x", "f@x"]
    # base64 that is no key: listed, but it verifies nothing, and the envelope check says so instead of failing oddly
    signers.write_text(f"g@x {public[0]} {base64.b64encode(b'no key').decode()}\n")
    envelope = tmp_path / "envelope.json"
    envelope.write_bytes(_dsse.make({"_type": fmt.STATEMENT_TYPE}, str(tmp_path / "k")))
    opened = _dsse.open_envelope(str(envelope), "envelope.json", str(signers), "maestro-release")
    assert opened.problems == [f"{signers} holds no Ed25519 key allowed for namespace maestro-release: envelope.json cannot be verified"]
    assert found[0].fingerprint == ssh_fingerprint(tmp_path / "k.pub")
    with pytest.raises(ConductorError, match="allowed signers file .*nowhere does not exist or is not a file"):
        _signing.allowed_signers(str(tmp_path / "nowhere"), "maestro-release")


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\r", "\u2028"])
def test_allowed_signers_lines_end_at_newline_only_as_ssh_keygen_reads_them(tmp_path, separator):
    # ssh-keygen reads one line here: a key limited to namespace git; splitting at the separator would add a key for any namespace
    key = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C3okWi0dh2l9GKJl"
    path = tmp_path / "allowed_signers"
    path.write_text(f'a@x namespaces="git" ssh-ed25519 {key} comment{separator}b@x ssh-ed25519 {key}\n')
    assert _signing.allowed_signers(str(path), fmt.SIGNATURE_NAMESPACE) == []


def test_a_payload_with_duplicate_keys_is_refused(release):
    envelope = read_envelope(release)
    payload = base64.b64decode(envelope["payload"]).decode()
    doubled = payload.replace('"subject":', '"subject": [], "subject":', 1)
    assert doubled != payload
    envelope["payload"] = base64.b64encode(doubled.encode()).decode()
    release.envelope().write_text(json.dumps(envelope))
    report = verify(release)
    assert not report.ok and "duplicate key 'subject'" in check(report, "envelope").detail


def test_the_attestation_context_is_the_one_the_format_defines(release):
    attestation = json.loads(release.attestation().read_text())
    attestation["@context"] = {"@vocab": "https://in-toto.io/Statement/v1#", "subject": None}
    release.attestation().write_text(json.dumps(attestation))
    report = verify(release)
    assert not report.ok and "@context" in check(report, "attestation").detail
