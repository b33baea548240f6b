#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_verify
short_description: Prove that a release directory is exactly what its tag and manifest say
version_added: 0.1.0
description:
  - Checks a release of O(tag) in one read-only pass and returns a report with one entry per check.
  - "Checks: the release files are present; the manifest, evidence and attestation are valid against their
    schemas and agree with each other (tag, commit, tag object, and the repository and commit of the evidence's
    provenance and of the attestation); every pre-release check the evidence records passed (a V(fail) or V(skip)
    fails verification, naming the check); every listed artifact is present with the recorded size and sha256;
    the images of every image archive, read from the tarball itself, are the ones the manifest records;
    everything in the release directory is a regular file with a single link that the manifest lists (or
    O(allow_extra) allows): symbolic links, hard links, special files, empty and unreadable directories fail;
    the attestation subjects are exactly the artifacts, the manifest and the evidence; the attestation signature;
    the tag exists and peels to the manifest's commit."
  - With O(strict=true), also that the tag object is the one recorded at release (the tag was not moved or
    re-created), and that the tag's commit is O(expected_commit) when given. Strict means signed, so without
    O(allowed_signers) strict verification fails unless O(allow_unsigned=true).
  - A signature that is not checked (no O(allowed_signers)) is reported as a warning, never as a pass; so is
    evidence that records no pre-release check.
  - Fails closed when any check fails; an error while reading a file (removed, replaced or unreadable during
    verification) is a failed check naming the file. Never changes anything and makes no network call.
  - Artifacts are hashed in parallel across cores. An image archive's image ids and repo tags are read in the same
    pass that hashes it, from the tarball alone (docker is never asked). A format 2 manifest records them and they
    must match; for a format 1 manifest, which records none, they are reported as read from the verified tarball.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  tag:
    description:
      - The release tag. Letters, digits, V(.), V(_), V(+) and V(-) only, starting with a letter or digit.
      - Rejected before any command runs when it does not fit.
    type: str
    required: true
  release_dir:
    description: Directory holding the release files of O(tag) and its artifacts.
    type: path
    required: true
  repo:
    description: Git repository (bare or not) that holds O(tag).
    type: path
    required: true
  strict:
    description: Also require the recorded tag object and, when given, O(expected_commit).
    type: bool
    default: false
  expected_commit:
    description:
      - Full commit id the tag must point at, such as a deployed revision or a checkout's HEAD.
      - Checked only when O(strict=true).
    type: str
  allowed_signers:
    description:
      - OpenSSH allowed-signers file. When set, the attestation must carry a valid detached signature
        (C(release-attestation-TAG.jsonld.sig)) by one of its keys.
      - Required with O(strict=true) unless O(allow_unsigned=true). Without it, the signature is not checked and the
        report says so as a warning.
    type: path
  allow_unsigned:
    description:
      - Accept strict verification without O(allowed_signers). The signature is then not checked, and the
        C(signature) check is a warning in the report and in the task's warnings, never a pass.
      - Has no effect when O(allowed_signers) is set.
    type: bool
    default: false
  allow_extra:
    description:
      - Glob patterns (as C(fnmatch), case-sensitive) of files or empty directories that may sit in the release
        directory without being in the manifest, relative to it.
      - Matched one path component at a time, so V(*) never crosses V(/). V(*.txt) allows V(notes.txt) but not
        V(docs/notes.txt); V(docs/*.txt) allows that one.
      - Never allows a symbolic link, a hard link or a special file.
    type: list
    elements: str
    default: []
  workers:
    description: Threads used to hash artifacts; V(0) means one per CPU core.
    type: int
    default: 0
  fail_on_error:
    description:
      - Fail the task when a check fails. With V(false), the task succeeds and RV(ok) says whether the release
        verified, so a playbook can print the report before failing.
    type: bool
    default: true
requirements:
  - GitPython
  - PyYAML
  - jsonschema
  - ssh-keygen (OpenSSH 8.2 or later) when O(allowed_signers) is set
  - cryptography when O(allowed_signers) is set and the release carries a DSSE envelope (format 3)
notes:
  - O(strict=true) is what the rollback, deploy and restore-drill paths run, always with allowed signers.
seealso:
  - module: maestro.conductor.release_bundle
"""

EXAMPLES = r"""
- name: Verify a release, strictly, against the deployed revision
  maestro.conductor.release_verify:
    tag: v2025.10.07
    release_dir: /srv/releases/v2025.10.07
    repo: /srv/git/service.git
    strict: true
    expected_commit: "{{ deployed_revision }}"
    allowed_signers: /etc/maestro/allowed_signers

- name: Verify strictly a release made without a signing key, knowing its signature is not checked
  maestro.conductor.release_verify:
    tag: v2025.10.07
    release_dir: /srv/releases/v2025.10.07
    repo: /srv/git/service.git
    strict: true
    allow_unsigned: true

- name: Verify, keep the report, and decide later
  maestro.conductor.release_verify:
    tag: "{{ tag }}"
    release_dir: "/srv/releases/{{ tag }}"
    repo: /srv/git/service.git
    fail_on_error: false
  register: verification
"""

RETURN = r"""
tag:
  description: The tag verified.
  returned: unless the input was refused before verification began
  type: str
release_dir:
  description: The release directory, with symbolic links resolved.
  returned: unless the input was refused before verification began
  type: str
strict:
  description: Whether strict checks ran.
  returned: unless the input was refused before verification began
  type: bool
ok:
  description: Whether every check passed.
  returned: always
  type: bool
  sample: true
checks:
  description: Every check, in the order run.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name, such as V(artifacts), V(images) or V(tag_object).
      type: str
    ok:
      description: Whether it passed.
      type: bool
    detail:
      description: What was found; for a failure, the file or tag and both the expected and the actual value.
      type: str
    warning:
      description:
        - V(true) for what was not checked by the caller's choice, such as the signature without O(allowed_signers).
          Such a check does not fail the release (RV(checks[].ok) is V(true)) and is shown as C(WARN), never C(PASS).
      type: bool
  sample: [{"name": "artifacts", "ok": false, "warning": false, "detail": "artifact app.tar: sha256 is 9f2c..., manifest says 41ab..."}]
failed_checks:
  description: Names of the checks that failed.
  returned: always
  type: list
  elements: str
  sample: ["artifacts"]
warned_checks:
  description: Names of the checks reported as warnings (not checked, by the caller's choice); each is also a task warning.
  returned: always
  type: list
  elements: str
  sample: ["signature"]
summary:
  description: The report as lines of text, one per check.
  returned: always
  type: list
  elements: str
commit:
  description: The commit the manifest records.
  returned: when the manifest could be read
  type: str
tag_object:
  description: The tag object id the manifest records.
  returned: when the manifest could be read
  type: str
artifacts:
  description: Each hashed artifact with its actual sha256 and whether it matched.
  returned: always
  type: list
  elements: dict
images:
  description:
    - Every image of every image archive of the release; what a deploy proves its containers run, by id.
    - From the manifest's record when the manifest is format 2 and the tarball matched it, else as read from the tarball.
  returned: always
  type: list
  elements: dict
  contains:
    artifact:
      description: The image archive holding it, relative to the release directory.
      type: str
    id:
      description: The image id, V(sha256:<64 hex>) (the config digest, what C(docker image inspect) shows).
      type: str
    repo_tags:
      description: Its repo tags as docker prints them, such as V(maestro-demo/web:v1.1.0); possibly empty.
      type: list
      elements: str
    recorded:
      description:
        - V(true) when the manifest records this image and the tarball matched the record;
          V(false) for a format 1 manifest (which records no image) or a tarball that did not match.
      type: bool
  sample: [{"artifact": "images/web.tar", "id": "sha256:3321a37ea4cf5c217b49fc94cc94a449a781ca6235f99b052c4eb7cda788ffab",
            "repo_tags": ["maestro-demo/web:v1.1.0"], "recorded": true}]
seconds:
  description: How long verification took.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_verify import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
