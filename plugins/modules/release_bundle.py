#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_bundle
short_description: Write the manifest, evidence and attestation of a tagged release
version_added: 0.1.0
description:
  - Writes C(release-manifest-TAG.yaml), C(evidence-TAG.json) and C(release-attestation-TAG.jsonld) into
    O(release_dir) for the artifacts it holds and the tag O(tag) of the git repository O(repo).
  - The manifest (format 3) records the tag object id, the peeled commit, the source repository and each artifact's
    path, size and sha256. The attestation is an in-toto Statement v1 that is also JSON-LD, whose subjects
    are every artifact, the manifest and the evidence.
  - For each image archive (C(docker save) output, legacy or OCI layout, plain or gzip-compressed), the manifest also
    records C(images), the id (the config digest) and the repo tags of every image in it, read from the tarball in the
    same pass that hashes it; so a deploy can prove by id that a container runs the released image. Only files that
    start with a tar header (or a gzip-compressed one) are read as archives; an image without repo tags is recorded
    with an empty C(repo_tags). An archive whose image index is inconsistent (a config missing, a blob that does not
    hash to its name) fails the task, naming the archive.
  - With O(signing_key), also writes a detached signature C(release-attestation-TAG.jsonld.sig) made with
    C(ssh-keygen -Y sign), and C(release-attestation-TAG.dsse.json), the same Statement without C(@context) as a
    DSSE envelope (payload type C(application/vnd.in-toto+json), an Ed25519 signature by the same key), which in-toto
    and DSSE tools read. M(maestro.conductor.release_verify) checks both against an allowed-signers file.
  - No URL is recorded with credentials. URLs in the origin, O(repository), O(ci_run), O(generated_by) and O(checks)
    lose a user:password pair, a bare token as user name (V(https://TOKEN@host/...)) and a query or fragment that
    holds a token, password, key or signature (the repository URL loses any query and fragment); a document that
    would still hold a URL with credentials is refused. The diff never shows one either, even one an older release
    recorded.
  - Files are replaced atomically; when one cannot be written, those already written are put back.
  - Running again with the same inputs changes nothing (the same bytes give the same image ids).
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  tag:
    description:
      - The release tag; it must exist in O(repo).
      - Letters, digits, V(.), V(_), V(+) and V(-) only, starting with a letter or digit.
    type: str
    required: true
  release_dir:
    description: Directory that holds the artifacts; the release files are written into it.
    type: path
    required: true
  repo:
    description: Git repository (bare or not) that holds O(tag).
    type: path
    required: true
  artifacts:
    description:
      - Artifact paths relative to O(release_dir). When empty, every regular file in O(release_dir) other
        than the release files of O(tag) is an artifact.
    type: list
    elements: str
    default: []
  repository:
    description:
      - Source repository to record. Defaults to the URL of O(repo)'s C(origin) remote, else its path.
      - Recorded without credentials, query or fragment; an ssh user name (V(ssh://git@host/...)) stays.
    type: str
  generated_by:
    description: Who made the release (a person, or a CI job), recorded in the evidence.
    type: str
    default: maestro.conductor
  ci_run:
    description: Reference to the CI run that built the release, recorded in the evidence (a URL without its credentials).
    type: str
  workflow:
    description:
      - The path, in the repository, of the CI workflow that builds the release (V(.github/workflows/release.yml)). Recorded
        in the evidence's provenance with its sha256, which makes the evidence format 2; the weekly validation checks it
        against the file at the tag's commit.
    type: str
    version_added: 0.5.0
  workflow_file:
    description:
      - The workflow file as the CI ran it (in GitHub Actions, the checkout's copy), hashed for O(workflow). Without it, the
        file at the tag's commit is hashed.
    type: path
    version_added: 0.5.0
  checks:
    description: Checks done before release, recorded in the evidence.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: What was checked.
        type: str
        required: true
      result:
        description: Its outcome.
        type: str
        required: true
        choices: [pass, fail, skip]
      detail:
        description: Free text.
        type: str
  signing_key:
    description:
      - Private Ed25519 key (OpenSSH or PEM, without passphrase) to sign the attestation and its DSSE envelope with.
      - An existing signature is kept when it still signs the attestation with this key; the envelope's Ed25519
        signature is deterministic, so the same Statement and key write the same envelope.
      - Without it, an existing signature or envelope of an attestation that changes is refused rather than left stale.
      - If not given, the C(MAESTRO_SIGNING_KEY) environment variable (the AWX credential type C(maestro release signing key)
        puts the key's file there).
    type: path
  workers:
    description: Threads used to hash artifacts; V(0) means one per CPU core.
    type: int
    default: 0
requirements:
  - GitPython
  - PyYAML
  - jsonschema
  - ssh-keygen (OpenSSH 8.2 or later) when O(signing_key) is set
  - cryptography when O(signing_key) is set (the DSSE envelope)
seealso:
  - module: maestro.conductor.release_verify
"""

EXAMPLES = r"""
- name: Bundle the release of the tag just pushed
  maestro.conductor.release_bundle:
    tag: v2025.10.07
    release_dir: /srv/releases/v2025.10.07
    repo: /srv/git/service.git
    generated_by: "{{ awx_user_name | default('ci') }}"
    ci_run: "{{ ci_run_url }}"
    checks:
      - name: unit tests
        result: pass
    signing_key: /etc/maestro/release_signing_key
"""

RETURN = r"""
files:
  description: Paths of the release files, the signature and the DSSE envelope included when O(signing_key) is set.
  returned: success
  type: list
  elements: str
changed_files:
  description: Names of the release files that were (or, in check mode, would be) written or removed.
  returned: success
  type: list
  elements: str
  sample: ["release-manifest-v1.0.0.yaml", "release-attestation-v1.0.0.jsonld", "release-attestation-v1.0.0.jsonld.sig",
           "release-attestation-v1.0.0.dsse.json"]
commit:
  description: The commit the tag peels to.
  returned: success
  type: str
tag_object:
  description: The tag's object id (the commit itself for a lightweight tag).
  returned: success
  type: str
tag_type:
  description: V(annotated) or V(lightweight).
  returned: success
  type: str
artifacts:
  description: The artifacts recorded, with path, size and sha256, and for an image archive the images it holds.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: Path relative to O(release_dir).
      type: str
    size:
      description: Size in bytes.
      type: int
    sha256:
      description: SHA-256 of the whole file.
      type: str
    images:
      description:
        - Present on image archives only. Each image's C(id) (V(sha256:<64 hex>), what C(docker image inspect) shows)
          and C(repo_tags) (as docker prints them, such as V(busybox:1); sorted, possibly empty).
      type: list
      elements: dict
      returned: for image archives
  sample:
    - {"path": "compose.yaml", "size": 412, "sha256": "3ea59557a81bfbd1a195199e8eaa15a78c7bda244d696c133097c009840772a5"}
    - {"path": "images/web.tar", "size": 4435968, "sha256": "41ab0c3e2b1f6a4bb1f8c35c1e7f42fcd4a3a10e6c8f0b9d7e5c3a1f2e4d6b8a",
       "images": [{"id": "sha256:3321a37ea4cf5c217b49fc94cc94a449a781ca6235f99b052c4eb7cda788ffab",
                   "repo_tags": ["maestro-demo/web:v1.1.0"]}]}
"""

import os

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.maestro.conductor.plugins.module_utils._bundle import BundleRequest, plan_bundle, write_bundle
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "tag": {"type": "str", "required": True},
            "release_dir": {"type": "path", "required": True},
            "repo": {"type": "path", "required": True},
            "artifacts": {"type": "list", "elements": "str", "default": []},
            "repository": {"type": "str"},
            "generated_by": {"type": "str", "default": "maestro.conductor"},
            "ci_run": {"type": "str"},
            "workflow": {"type": "str"},
            "workflow_file": {"type": "path"},
            "checks": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "result": {"type": "str", "required": True, "choices": ["pass", "fail", "skip"]},
                    "detail": {"type": "str"},
                },
            },
            "signing_key": {"type": "path", "fallback": (env_fallback, ["MAESTRO_SIGNING_KEY"])},
            "workers": {"type": "int", "default": 0},
        },
        required_by={"workflow_file": "workflow"},
        supports_check_mode=True,
    )
    params = module.params
    request = BundleRequest(
        release_dir=params["release_dir"], tag=params["tag"], repo=params["repo"], artifacts=params["artifacts"],
        repository=params["repository"] or "", generated_by=params["generated_by"], ci_run=params["ci_run"] or "",
        workflow=params["workflow"] or "", workflow_file=params["workflow_file"] or "", checks=params["checks"],
        signing_key=params["signing_key"] or "", workers=max(params["workers"], 0),
    )
    try:
        plan = plan_bundle(request)
        changed = plan.changed_files
        if changed and not module.check_mode:
            write_bundle(plan, os.path.realpath(params["release_dir"]))
    except ConductorError as exc:
        module.fail_json(msg=str(exc))
    result = {
        "changed": bool(changed),
        "changed_files": changed,
        "files": [os.path.join(params["release_dir"], name) for name in plan.files],
        "commit": plan.manifest["commit"],
        "tag_object": plan.manifest["tag_object"],
        "tag_type": plan.manifest["tag_type"],
        "artifacts": plan.manifest["artifacts"],
    }
    if module._diff:  # pylint: disable=protected-access
        result["diff"] = plan.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
