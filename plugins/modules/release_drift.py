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
    is live (C(running_commit)); a check that could not be made (C(unknown)): the release repository O(repo) does not
    exist, or the running commit cannot be read. Unknown is never counted as no drift: it is a finding unless
    O(allow_unknown) names that check, and then it is still listed in RV(unknown)."
  - Reads only. Each finding says what was expected and what was found; the task fails on findings only with
    O(fail_on_drift=true).
  - O(remote) may be a URL with credentials (a CI checkout's C(https://user:token@host/...)); it is never said as
    given. Messages, findings and errors name it without them, and its secrets are masked anywhere in the result.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  action:
    support: full
    description: On the controller itself, an action plugin runs the comparison in Ansible's worker, without starting another Python.
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  repo:
    description:
      - A local clone of the repository, for the release tags' order (newest by creator date).
      - When it does not exist, release tags and protected branches are not compared, which is a finding of kind
        V(unknown) unless O(allow_unknown) has V(repository).
    type: path
    required: true
  remote:
    description:
      - What to compare with (a URL, an scp-like address or a path); defaults to O(repo) itself.
      - Credentials in it are never shown (see above).
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
    description:
      - The commit the environment runs now (its version endpoint's answer), compared with the ledger's live tag.
      - With O(ledger), one of O(running_commit) and O(version_url) says what runs; with neither, the running commit
        is unknown (a finding unless O(allow_unknown) has V(running_commit)).
    type: str
  version_url:
    description:
      - Where the environment says which commit it runs (such as C(http://127.0.0.1:8080/version)), read by the
        module with one C(GET) (5 seconds at most, no redirect followed) and compared with the ledger's live tag.
      - The answer names the commit when it is a 200 whose body is a JSON object with a full commit id as C(commit),
        or only a full commit id (read as M(maestro.conductor.proxy_flip) reads it, whatever the content type). Any
        other answer, or none, leaves the running commit unknown.
    type: str
  allow_unknown:
    description:
      - Checks that may be left undone without a finding, each an explicit choice of the operator. V(repository),
        the release repository O(repo) does not exist; V(running_commit), the running commit cannot be read (or,
        with O(ledger), nothing says what runs).
      - What is allowed is still listed in RV(unknown).
    type: list
    elements: str
    choices: [repository, running_commit]
    default: []
  fail_on_drift:
    description: Fail when there is any finding (V(unknown) ones included).
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
    running_commit: "{{ version.content | maestro.conductor.reported_commit }}"

- name: The same, reading the version endpoint itself; a stopped service is reported, not failed on
  maestro.conductor.release_drift:
    repo: /srv/git/app
    ledger: /var/lib/maestro/ledger/production.jsonl
    environment: production
    version_url: http://127.0.0.1:8080/version
    allow_unknown: [running_commit]
"""

RETURN = r"""
findings:
  description: Each difference found.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(moved), V(recreated), V(deleted), V(branch_not_at_release), V(branch_missing), V(running_commit) or V(unknown).
      type: str
    ref:
      description: The ref concerned; for V(running_commit), the environment; for V(unknown), the repository or the environment.
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
unknown:
  description: Each check that could not be made, one line saying why; those O(allow_unknown) does not name are findings too.
  returned: always
  type: list
  elements: str
checked:
  description: How many recorded tags and protected branches were compared, and whether the running commit was.
  returned: always
  type: dict
  contains:
    tags:
      description: Recorded tags compared.
      type: int
    branches:
      description: Protected branches compared.
      type: int
    running_commit:
      description: Whether a running commit was compared with the ledger's live tag.
      type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_drift import ENTRY, secrets


class _MaskingModule(AnsibleModule):
    """Masks the secrets the URLs carry from the moment the parameters are read: an argument error reports the
    invocation before main() could add them."""

    def _load_params(self):
        super()._load_params()
        self.no_log_values.update(secrets({name: value for name, value in self.params.items() if isinstance(value, str)}))


def main() -> None:
    module_main(_MaskingModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
