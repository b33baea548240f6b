#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_validate
short_description: Validate every release inside the audit window, deeply (the weekly validation)
version_added: 0.5.0
description:
  - The runbook's weekly deep validation of the release store. For every release made inside the audit window (its
    manifest's C(created) within O(window_days)), and for every tag of O(keep) whatever its age (the live release and the
    rollback target, even when the store has lost them), it checks and reports, without writing anything to the release.
  - C(verification) - strict M(maestro.conductor.release_verify) - every hash, the signature and the DSSE envelope, the evidence's
    pre-release verdicts, the image ids inside each image archive, the tag object and its commit.
  - C(provenance) - the evidence's builder and CI workflow against O(policy).
  - C(pipeline) - the CI workflow's sha256 that the evidence recorded at release time (evidence format 2) against the file at the
    tag's commit. A release that records none passes unless C(require_workflow) in O(policy).
  - C(ci_run) - with O(ci_project), the CI run the evidence names, as the hosted CI (GitHub Actions) reports it - of that repository,
    at the tag's commit, by the workflow the evidence records, completed with success. Without O(ci_project) it is not checked
    (said in its detail). A hosted CI that cannot be reached makes the check fail, naming it; nothing else depends on it.
  - C(regeneration) - the manifest and the evidence made again from the tag and the artifacts (as M(maestro.conductor.release_bundle)
    makes them, with the digests verification just proved, so nothing is hashed twice) compared with the stored ones. A
    difference is reported by file and field; the stored files are never written.
  - Releases are validated side by side in threads, so hashing and the few processes each needs (git, ssh-keygen) overlap.
  - With O(summary_dir), writes each release's summary page (C(TAG.md) - its manifest, evidence and validation, for people),
    atomically and only when it changed.
  - A release directory of the pattern whose tag is gone is validated too (and fails). A release is outside the window only when both
    its tag's date in git and its manifest's C(created) are older than O(window_days).
  - Never fails on what it finds (RV(ok) and each release's C(problems) say it); it fails only on invalid arguments.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  action:
    support: full
    description: On the controller itself, an action plugin runs the validation in Ansible's worker, without starting another Python.
  check_mode:
    support: full
    details: Validates as usual and writes no summary page.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A summary page is written only when its content changed (the validation's own timings are in the report, not in it).
options:
  releases_root:
    description: The release store, one directory a tag.
    type: path
    required: true
  repo:
    description: The git repository holding the release tags.
    type: path
    required: true
  tags:
    description: The releases to consider. Default - every tag matching O(pattern) that has a release directory.
    type: list
    elements: str
  pattern:
    description: The tag glob, without O(tags).
    type: str
    default: v*
  window_days:
    description: The audit window, in days (C(maestro_audit_window_days)); above 0.
    type: int
    required: true
  keep:
    description: Tags validated whatever their age or presence on the store (the live release, the rollback target).
    type: list
    elements: str
    default: []
  policy:
    description:
      - Who may produce a release. C(builders), the evidence's provenance builders allowed; C(workflows), the CI workflow paths
        allowed (V(.github/workflows/release.yml)); both empty allow any. C(require_workflow) (default false) asks every
        release to record its workflow, without which pipeline integrity cannot be checked.
    type: dict
    default: {}
  allowed_signers:
    description: The allowed-signers file the signatures must verify against.
    type: path
  allow_unsigned:
    description: Accept releases without a signature (shown as a warning in each verification, never as a pass).
    type: bool
    default: false
  summary_dir:
    description: Where each release's summary page goes (C(TAG.md)); none written without it.
    type: path
  workers:
    description: Releases validated at once (0 - twice the CPUs, and two more).
    type: int
    default: 0
  ci_project:
    description: The GitHub repository (V(owner/repo)) whose Actions runs built the releases; '' - the CI run is not checked.
    type: str
    default: ""
  ci_api_url:
    description: The GitHub API (GitHub Enterprise - V(https://HOST/api/v3)).
    type: str
    default: https://api.github.com
  ci_token:
    description: A token that may read the repository's Actions runs (sent only to O(ci_api_url)'s https origin).
    type: str
    default: ""
  ci_web_host:
    description:
      - The host the evidence's run addresses must name (V(https://HOST/OWNER/REPO/actions/runs/ID)). Default - V(github.com) for
        GitHub's API, else the API's own host (GitHub Enterprise).
    type: str
    default: ""
  expected_commits:
    description: The commit a tag must peel to, by tag (the ledger's record of the live release); strict verification checks it.
    type: dict
    default: {}
  validate_certs:
    description: Check the API's TLS certificate.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Validate every release of the last year
  maestro.conductor.release_validate:
    releases_root: /srv/releases
    repo: /srv/git/service.git
    window_days: 365
    keep: [v1.4.2, v1.4.1]
    allowed_signers: /etc/maestro/allowed_signers
    policy:
      builders: [github-actions]
      workflows: [.github/workflows/release.yml]
      require_workflow: true
    summary_dir: /var/lib/maestro/reports/production/releases
  register: weekly
"""

RETURN = r"""
ok:
  description: Whether at least one release was validated and every one passed every check.
  returned: always
  type: bool
releases:
  description:
    - One entry a release, in the order validated - C(tag), C(ok), C(commit), C(created), C(bytes) (the artifacts' size),
      C(seconds), C(checks) (each C(name), C(ok), C(detail)), C(problems) (one line a failed check) and C(verification) (the
      strict verification's checks).
  returned: always
  type: list
  elements: dict
red:
  description: The tags that failed a check (not C(failed), which would fail the task).
  returned: always
  type: list
  elements: str
invalid:
  description:
    - The tags proven bad - a check failed on what it found. A release that failed only for want of what to check with (the
      hosted CI unreachable, a run it no longer has, no workflow recorded where the policy wants one) is in RV(red), not here.
  returned: always
  type: list
  elements: str
outside_window:
  description: The tags considered and left out, made before the audit window.
  returned: always
  type: list
  elements: str
totals:
  description: C(releases), C(passed), C(failed), C(bytes), C(seconds) (the validation's wall clock) and C(bytes_per_second).
  returned: always
  type: dict
summaries:
  description: The summary pages written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_validate import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
