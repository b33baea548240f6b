#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_available
short_description: Say whether a release is still complete on this host (a copy re-hashed on request)
version_added: 0.3.0
description:
  - The watch's availability check, cheap enough to run every few minutes on a release of gigabytes.
  - Without O(artifacts), O(release_dir) is a release directory on the release store. Its manifest must be readable and valid.
    Every artifact it lists must be a regular single-link file of the listed size.
    The release's own files (manifest, evidence, attestation, signature, envelope) must be present.
    The evidence must record a pre-release check that ran, and name its CI run.
  - With O(artifacts), as M(maestro.conductor.release_verify) or this module returned them, O(release_dir) is a copy such as
    an app host's release cache (C(CACHE_ROOT/ENVIRONMENT/TAG)), which holds the artifacts only.
  - Nothing is hashed unless O(digests) is set, since integrity is what M(maestro.conductor.release_verify) proves. A manifest
    that cannot be read makes the release unavailable, since which files it should hold is then unknown.
  - Never fails on what it finds; it fails only on arguments that are invalid.
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
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  release_dir:
    description: The release directory, or the copy of its artifacts.
    type: path
    required: true
  tag:
    description: The release tag.
    type: str
    required: true
  artifacts:
    description: The artifacts a copy must hold, each with C(path) and C(size) (and C(sha256), returned as given).
    type: list
    elements: dict
  digests:
    description:
      - With O(artifacts), also hash every file of the copy that is whole in size (in parallel) and compare it with its C(sha256),
        which every artifact must then carry. This is the daily verification's deep check of an app host's copy; a copy
        changed to the same size is found only so.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Is the rollback target still whole on the release store?
  maestro.conductor.release_available:
    release_dir: /srv/releases/v1.1.0
    tag: v1.1.0
  register: target

- name: And in each app host's cache?
  maestro.conductor.release_available:
    release_dir: /var/lib/maestro/deploy/releases/production/v1.1.0
    tag: v1.1.0
    artifacts: "{{ target.artifacts }}"

- name: And, re-hashed against the verified manifest, in each app host's cache (the daily verification)
  maestro.conductor.release_available:
    release_dir: /var/lib/maestro/deploy/releases/production/v1.1.0
    tag: v1.1.0
    artifacts: "{{ verified.artifacts }}"
    digests: true
"""

RETURN = r"""
complete:
  description: Whether every artifact is present with its size (and its sha256 with O(digests); for a release directory, the manifest could be read).
  returned: always
  type: bool
problems:
  description: One line for each file that is missing, not a regular file, or of another size (or, with O(digests), of another sha256).
  returned: always
  type: list
  elements: str
evidence_missing:
  description: The release's own files that are missing, and what the evidence lacks. Empty for a copy.
  returned: always
  type: list
  elements: str
artifacts:
  description: The artifacts checked, each with C(path), C(size) and C(sha256).
  returned: always
  type: list
  elements: dict
ci_run:
  description: The CI run the evidence names (empty when it names none, and for a copy).
  returned: always
  type: str
ci_run_id:
  description: The GitHub Actions run id in RV(ci_run), when it is the address of one.
  returned: always
  type: str
ci_pipeline_id:
  description: The GitLab pipeline id in RV(ci_run), when it is the address of one.
  returned: always
  type: str
ci_run_project:
  description: The project that the address in RV(ci_run) names (V(owner/repo), or the GitLab project's path).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_available import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
