#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_drift
short_description: Find release tags that moved, vanished or were re-created, and branches and environments that drifted
version_added: 0.1.0
description:
  - Compares what was recorded at release time (each release's tag object id and peeled commit, from the manifests
    under O(releases_root), or the commit each tag was deployed at, from the O(ledger)) with what O(remote) says now,
    in one C(git ls-remote) with peeled entries.
  - "Findings: a tag C(moved) (it peels to another commit), C(deleted), or C(recreated) (same commit, another tag
    object); a protected branch whose HEAD is not the latest release tag's commit (C(branch_not_at_release)) or that
    does not exist (C(branch_missing)); an environment running a commit other than the one of the tag the ledger says
    is live (C(running_commit))."
  - Reads only. Each finding says what was expected and what was found; the task fails on findings only with
    O(fail_on_drift=true).
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
  repo:
    description: A local clone of the repository, for the release tags' order (newest by creator date).
    type: path
    required: true
  remote:
    description: What to compare with (a URL, an scp-like address or a path); defaults to O(repo) itself.
    type: str
  pattern:
    description: Glob of the release tags.
    type: str
    default: v*
  releases_root:
    description: The directory holding one release directory per tag; their manifests are the record.
    type: path
  ledger:
    description: The environment's ledger; the commit each tag was deployed at is the record, and its live tag is
      what O(running_commit) is compared with.
    type: path
  environment:
    description: The environment whose ledger records are read. Required with O(ledger).
    type: str
  protected_branches:
    description: Branches whose HEAD must be the latest release tag's commit.
    type: list
    elements: str
    default: []
  running_commit:
    description: The commit the environment runs now (its version endpoint's answer), compared with the ledger's live tag.
    type: str
  fail_on_drift:
    description: Fail when there is any finding.
    type: bool
    default: false
requirements:
  - git
  - GitPython
"""

EXAMPLES = r"""
- name: Alert on moved or deleted release tags and on main drifting from the latest release
  maestro.conductor.release_drift:
    repo: /srv/git/app
    remote: git@git.example.com:platform/app.git
    releases_root: /srv/releases
    protected_branches: [main]
    fail_on_drift: true

- name: Does production run what the ledger says?
  maestro.conductor.release_drift:
    repo: /srv/git/app
    ledger: /var/lib/maestro/ledger/production.jsonl
    environment: production
    running_commit: "{{ (version.content | from_json).commit }}"
"""

RETURN = r"""
findings:
  description: Each difference found.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(moved), V(recreated), V(deleted), V(branch_not_at_release), V(branch_missing) or V(running_commit).
      type: str
    ref:
      description: The ref (or, for V(running_commit), the environment) concerned.
      type: str
    expected:
      description: What was recorded.
      type: str
    found:
      description: What there is now.
      type: str
    message:
      description: One line saying it.
      type: str
drifted:
  description: Whether there is any finding.
  returned: always
  type: bool
checked:
  description: How many recorded tags and protected branches were compared.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils import _drift, _git, _ledger, _names
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "repo": {"type": "path", "required": True},
            "remote": {"type": "str"},
            "pattern": {"type": "str", "default": "v*"},
            "releases_root": {"type": "path"},
            "ledger": {"type": "path"},
            "environment": {"type": "str"},
            "protected_branches": {"type": "list", "elements": "str", "default": []},
            "running_commit": {"type": "str"},
            "fail_on_drift": {"type": "bool", "default": False},
        },
        required_by={"ledger": "environment", "running_commit": "ledger"},
        supports_check_mode=True,
    )
    params = module.params
    try:
        remote = _drift.validate_remote(params["remote"] or params["repo"])
        branches = [_drift.validate_branch(branch) for branch in params["protected_branches"]]
        running = _names.validate_object_id(params["running_commit"], "running commit") if params["running_commit"] else ""
        recorded = _drift.recorded_from_releases(params["releases_root"], params["pattern"]) if params["releases_root"] else []
        live = _ledger.LedgerState()
        if params["ledger"]:
            recorded += _drift.recorded_from_ledger(params["ledger"], params["environment"], params["pattern"])
            live = _ledger.read_environment(params["ledger"], params["environment"])[1]
        tags = _git.list_tags(params["repo"], params["pattern"]) if branches else []
        refs = _drift.ls_remote(remote)
        findings = (_drift.tag_findings(recorded, refs, remote)
                    + _drift.branch_findings(branches, refs, tags[0] if tags else None, remote)
                    + _drift.running_findings(params["environment"] or "", running, live))
    except ConductorError as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": False, "findings": [finding.as_dict() for finding in findings], "drifted": bool(findings),
              "checked": {"tags": len(recorded), "branches": len(branches)}}
    if findings and params["fail_on_drift"]:
        module.fail_json(msg=f"{len(findings)} drift finding(s): " + "; ".join(finding.message for finding in findings), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
