#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_retention
short_description: Check that everything the audit window needs is still kept
version_added: 0.5.0
description:
  - The runbook's "ensure artifact retention >= audit window", checked without changing anything.
  - Every release inside the audit window (its tag's date in git or its manifest's C(created) within O(window_days), as the weekly
    validation decides), every tag of O(keep), and every release that O(ledger_records) say went live inside the window must be
    complete on the release store - manifest, evidence, attestation, signature, envelope and every artifact by its size.
  - A release the ledger says went live inside the window that the store does not hold is red and named.
  - With O(ci_project) or O(ci_organization) - GitHub Actions' artifact and log retention (the repository's or the organization's
    setting) must be at least the window. A window longer than the service's C(maximum_allowed_days) is red with where the evidence
    must live instead.
  - With O(ci_project) - each release's CI run (from its evidence) must still be on GitHub with its artifacts (every name of
    O(expected_artifacts) among them), none expired and none expiring before the release leaves the window.
  - With O(ci_service=gitlab) and O(ci_project) - each release's GitLab pipeline (from its evidence, C(.../-/pipelines/ID)) must
    still be on GitLab with its job artifacts (every name of O(expected_artifacts) a job's), none expired and none whose
    C(artifacts_expire_at) comes before the release leaves the window. GitLab has no retention setting to check here.
  - A run or pipeline is looked up by its id under O(ci_project), whatever project its address names (ids are global, and
    a renamed project's runs move with it); one not found there whose address names another project is said to be so.
  - A hosted service that cannot be reached, or refuses, makes the check red and says which.
  - Never fails on what it finds (RV(ok), RV(red) and RV(problems) say it); it fails only on invalid arguments.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  action:
    support: full
    description: On the controller itself, an action plugin runs the check in Ansible's worker, without starting another Python.
  check_mode:
    support: full
    details: It only reads.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  releases_root:
    description: The release store, one directory a tag.
    type: path
    required: true
  repo:
    description: The git repository holding the release tags.
    type: path
    required: true
  pattern:
    description: The tag glob.
    type: str
    default: v*
  window_days:
    description: The audit window, in days (C(maestro_audit_window_days)); above 0.
    type: int
    required: true
  keep:
    description: Tags checked whatever their age (the live release, the rollback target).
    type: list
    elements: str
    default: []
  ledger_records:
    description: The environment's ledger records (M(maestro.conductor.release_ledger) C(state=query) with C(last=0)).
    type: list
    elements: dict
    default: []
  expected_artifacts:
    description: Artifact names every release's CI run must still have (the evidence bundle's upload).
    type: list
    elements: str
    default: []
  ci_service:
    description: The hosted CI that built the releases.
    type: str
    choices: [github, gitlab]
    default: github
  ci_project:
    description:
      - The GitHub repository (V(owner/repo)); its retention setting and its runs' artifacts are checked.
      - With O(ci_service=gitlab), the GitLab project (its numeric id or path); its pipelines' job artifacts are checked.
    type: str
    default: ""
  ci_organization:
    description: Read the retention setting of this organization instead of the repository's (the runs are not checked without O(ci_project)).
    type: str
    default: ""
  ci_api_url:
    description:
      - The GitHub API (GitHub Enterprise - V(https://HOST/api/v3)).
      - With O(ci_service=gitlab), the GitLab API (V(https://HOST/api/v4)); when left at GitHub's, GitLab.com's.
    type: str
    default: https://api.github.com
  ci_token:
    description:
      - A token that may read the retention setting (a repository's - the Administration permission, read; an organization's - the
        admin:org scope or the Actions policies permission) and the runs' artifacts. Sent only to O(ci_api_url)'s https origin.
    type: str
    default: ""
  validate_certs:
    description: Check the API's TLS certificate.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check the audit window is kept on the store and on GitHub
  maestro.conductor.release_retention:
    releases_root: /srv/releases
    repo: /srv/git/service.git
    window_days: 400
    keep: [v1.4.2, v1.4.1]
    ledger_records: "{{ ledger.records }}"
    ci_project: acme/service
    ci_token: "{{ lookup('ansible.builtin.env', 'MAESTRO_CI_TOKEN') }}"
  register: retention
"""

RETURN = r"""
ok:
  description: Whether every release checked is kept and the hosted setting (when checked) covers the window.
  returned: always
  type: bool
window_days:
  description: The audit window checked.
  returned: always
  type: int
releases:
  description:
    - One entry a release checked - C(tag), C(ok), C(created), C(keep_until) (when it leaves the window), C(complete) (on the store),
      C(problems) and C(artifacts) (its CI run's, as GitHub lists them, or null).
  returned: always
  type: list
  elements: dict
red:
  description: The tags with a problem (not C(failed), which would fail the task).
  returned: always
  type: list
  elements: str
problems:
  description: What the hosted retention setting cannot keep, or why it could not be read.
  returned: always
  type: list
  elements: str
setting:
  description: The GitHub Actions setting read - C(scope), C(name), C(days), C(maximum_allowed_days); null when not checked.
  returned: always
  type: dict
outside_window:
  description: The releases on the store made before the window.
  returned: always
  type: list
  elements: str
summary:
  description: The check in lines - the verdict, the hosted setting, one line a problem.
  returned: always
  type: list
  elements: str
gauges:
  description: The check's gauges for M(maestro.conductor.release_metrics) (writer V(retention)).
  returned: always
  type: list
  elements: dict
increments:
  description: The check's counter increments for M(maestro.conductor.release_metrics).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_retention import CHECK_ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **CHECK_ENTRY.spec), CHECK_ENTRY)


if __name__ == "__main__":
    main()
