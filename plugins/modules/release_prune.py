#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_prune
short_description: Prune releases by reference, on the release store or on an app host
version_added: 0.5.0
description:
  - Never by count alone. On the release store (O(scope=store)) a release is kept when it is live (the ledger's last deploy or
    rollback), the rollback target (the prior healthy release, worked out here as a rollback would; a live tag gone from git makes it
    unknown, and the prune is refused), inside the audit window (its tag's date or its manifest's C(created), as the weekly validation
    decides), recorded going live inside the window, named by an incident in the ledger (open or archived), run by an app host
    (O(in_use)), or one of the O(keep_newest) newest releases with a green verdict; quarantined and failed releases never count toward
    that number.
  - A ledger that records nothing live while the store holds releases (unreadable, empty, another environment's) is refused.
  - Every release kept says why, every release removed says why nothing holds it.
  - A release that goes leaves its proof behind - the manifest, evidence, attestation, signature and (for the manifest formats that
    have one) the envelope are copied into O(archive_root)C(/TAG) with a C(SHA256SUMS) first, every file fsynced and read back (an
    archive already there is kept when it holds the same bytes and never overwritten when it differs); then the release directory is
    renamed aside and removed. A release whose proof is not all there is not removed, and nothing is (RV(proof_problems) names
    what is missing). A re-run finishes what a crash left; a release directory that is a symbolic link is never followed.
  - With O(tags), only those are pruned (the hosts keep every other release), and a tag that is kept is refused, naming what holds it
    (the rollback target among them).
  - A ledger whose live release is not on the store is refused - nothing is pruned from a store that lost what serves.
  - On an app host (O(scope=host)) the cached copies of releases not in O(keep) are removed, and the images of O(remove) that no
    container uses (running or stopped) and that O(keep_image_ids) do not hold. What a colour's record says it runs is kept,
    whatever O(keep) says. Only directories a tag names are considered; nothing else in the cache is touched.
  - O(state=inspected) changes nothing - on the store it lists what would go (RV(would_remove)); on a host it returns what the host
    runs (RV(in_use)).
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  action:
    support: full
    description: On the controller itself, an action plugin runs it in Ansible's worker, without starting another Python.
  check_mode:
    support: full
    details: Decides and reports as usual, archives and removes nothing.
  diff_mode:
    support: full
    details: On the store, the releases before and after.
  idempotent:
    support: full
    details: A second run finds nothing more to remove.
options:
  scope:
    description: Where to prune.
    type: str
    choices: [store, host]
    default: store
  state:
    description: V(pruned) removes what nothing holds; V(inspected) only says what would go (store) or what runs (host).
    type: str
    choices: [pruned, inspected]
    default: pruned
  environment:
    description: The environment whose ledger records and cached copies are read.
    type: str
    required: true
  releases_root:
    description: The release store, one directory a tag (O(scope=store)).
    type: path
  repo:
    description: The git repository holding the release tags (O(scope=store)).
    type: path
  pattern:
    description: The tag glob.
    type: str
    default: v*
  archive_root:
    description: Where the proof of pruned releases is kept (O(scope=store)); outside the release store.
    type: path
  window_days:
    description: The audit window, in days (O(scope=store)); above 0.
    type: int
  ledger_records:
    description: The environment's ledger records (M(maestro.conductor.release_ledger) C(state=query), C(last=0)).
    type: list
    elements: dict
    default: []
  in_use:
    description:
      - What the app hosts run - tags, each with the hosts that run it; or the registered results of O(state=inspected) looped over the
        hosts (each result's C(item) names its host). A result without C(in_use) (a host that could not be asked) is refused.
    type: raw
    default: {}
  keep_newest:
    description: Keep this many of the newest releases with a green verdict besides the rest (0 - none by count).
    type: int
    default: 3
  tags:
    description: Prune only these; a tag that is kept is refused. Default - every release nothing holds.
    type: list
    elements: str
  cache_root:
    description: The app host's release cache (O(scope=host)), one directory an environment.
    type: path
  keep:
    description: The tags the store keeps (RV(host_plan.keep)); the host keeps their copies (O(scope=host)).
    type: list
    elements: str
    default: []
  remove:
    description: Image ids by tag of the releases not kept (RV(host_plan.remove)); the candidates for removal (O(scope=host)).
    type: dict
    default: {}
  keep_image_ids:
    description: Image ids never removed (RV(host_plan.keep_image_ids)) (O(scope=host)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Say what would go, and why each kept release stays
  maestro.conductor.release_prune:
    environment: production
    releases_root: /srv/releases
    repo: /srv/git/service.git
    archive_root: /srv/evidence-archive
    window_days: 400
    ledger_records: "{{ ledger.records }}"
    state: inspected
"""

RETURN = r"""
kept:
  description: On the store, every release kept, newest first - C(tag) and C(reasons).
  returned: scope=store
  type: list
  elements: dict
removed:
  description: On the store, every release removed (in check mode, that would be) - C(tag), C(reasons), C(image_ids), C(archive).
  returned: scope=store
  type: list
  elements: dict
would_remove:
  description: With O(state=inspected), the releases nothing holds - C(tag), C(reasons), C(image_ids).
  returned: scope=store
  type: list
  elements: dict
proof_problems:
  description: On the store, the releases that would go whose proof is not all there, each with what is missing.
  returned: scope=store
  type: list
  elements: str
leftovers:
  description: Directories a crashed prune renamed aside; removed by this run unless inspected or in check mode.
  returned: scope=store
  type: list
  elements: str
host_plan:
  description: For the app hosts, what O(keep), O(remove) and O(keep_image_ids) take.
  returned: scope=store
  type: dict
  contains:
    keep:
      description: The tags the hosts keep - every release the store keeps, and with O(tags) every release not named.
      type: list
      elements: str
    remove:
      description: The image ids by tag of the releases that go, this run's and those archived before.
      type: dict
    keep_image_ids:
      description: The image ids the kept releases name.
      type: list
      elements: str
in_use:
  description: On a host, the tags its colours run.
  returned: scope=host
  type: list
  elements: str
image_ids_in_use:
  description: On a host, the image ids its containers use (running or stopped).
  returned: scope=host
  type: list
  elements: str
removed_copies:
  description: On a host, the cached copies removed.
  returned: scope=host and state=pruned
  type: list
  elements: str
removed_images:
  description: On a host, the image ids removed.
  returned: scope=host and state=pruned
  type: list
  elements: str
kept_copies:
  description: On a host, the cached copies kept.
  returned: scope=host and state=pruned
  type: list
  elements: str
summary:
  description: On the store, one line a release (kept with why, removed with why nothing holds it); on a host, one line.
  returned: always
  type: raw
gauges:
  description: On the store, the prune's gauges for M(maestro.conductor.release_metrics) (writer V(prune)).
  returned: scope=store
  type: list
  elements: dict
increments:
  description: On the store, the prune's counter increments for M(maestro.conductor.release_metrics).
  returned: scope=store
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_prune import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
