#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: incident_archive
short_description: Archive an incident's evidence once, with a SHA256SUMS and a digest of the whole
version_added: 0.4.0
description:
  - "Copies O(files) (never moves them; a link or a special file is not followed, and is named in the warnings) and writes
    O(contents) (captured texts: a verification report, a ledger excerpt, C(docker compose ps) and logs) into the
    directory O(path), with a C(SHA256SUMS) listing every file's sha256 (C(sha256sum -c SHA256SUMS) checks it)."
  - "The archive's digest is the sha256 of its C(SHA256SUMS): any file changed, added or removed changes it."
  - "Written once: it is built beside O(path) and renamed into place, so a run that dies half-way leaves a C(.partial-)
    directory, never a half archive; an archive already at O(path) is returned as it is, unchanged. Nothing in the
    collection ever deletes an archive."
  - A source that is missing is not fatal (what could not be had during an incident is evidence too); it is named in the warnings.
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
  path:
    description:
      - The archive's directory (it must not exist yet, or hold an archive this module wrote).
      - Required unless O(compose_projects) are read.
    type: path
    default: ""
  files:
    description: Files to copy - each C(src) (a path on the host) and C(dest) (a relative path in the archive).
    type: list
    elements: dict
    default: []
  contents:
    description: Texts to write - each C(dest) (a relative path in the archive) and C(content).
    type: list
    elements: dict
    default: []
  trees:
    description: Directories whose regular files are all copied - each C(src) and C(dest) (where they go in the archive).
    type: list
    elements: dict
    default: []
  compose_projects:
    description:
      - Without O(path), read these compose projects on the host instead of archiving - C(docker compose ps --all) and its recent
        logs, in parallel - and return them in RV(captures), for the archive on the host that keeps the incident.
    type: list
    elements: str
    default: []
  host:
    description: With O(compose_projects), the host's name, for the captures' paths.
    type: str
    default: ""
  log_lines:
    description: With O(compose_projects), how many recent log lines of each project.
    type: int
    default: 500
"""

EXAMPLES = r"""
- name: Archive the live release and the verification report
  maestro.conductor.incident_archive:
    path: /var/lib/maestro/incidents/production-20261128T162501Z-a3f9/evidence
    files:
      - {src: /srv/releases/v2.3.1/release-manifest-v2.3.1.yaml, dest: release/release-manifest-v2.3.1.yaml}
    contents:
      - {dest: verification.json, content: "{{ verified | to_nice_json }}"}
  register: archived
"""

RETURN = r"""
captures:
  description: With O(compose_projects), each read as C(dest) and C(content), for O(contents).
  returned: with O(compose_projects)
  type: list
  elements: dict
archive:
  description: The archive.
  returned: with O(path)
  type: dict
  contains:
    location:
      description: Its directory.
      type: str
    digest:
      description: C(sha256:) and the sha256 of its C(SHA256SUMS) (empty in check mode).
      type: str
    files:
      description: Every file, C(path), C(sha256) and C(size).
      type: list
      elements: dict
    skipped:
      description: What could not be archived, and why.
      type: list
      elements: str
    created:
      description: Whether this run wrote it.
      type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_archive import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
