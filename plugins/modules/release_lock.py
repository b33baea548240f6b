#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_lock
short_description: Take or give up a named lock with a holder and a time limit
version_added: 0.1.0
description:
  - Keeps two runs (two rollbacks, a rollback and a deploy) from changing the same environment at once.
  - The lock is a file naming its holder, host, purpose and expiry, so it lasts across the tasks of a run.
  - "O(state=present) takes the lock, waiting up to O(wait) seconds while another holder has it, then fails
    naming that holder. A lock past its time limit is stale: it is taken over and reported in RV(stale)."
  - Taking a lock already held by the same O(holder) changes nothing.
  - O(state=absent) gives it up; a lock held by another holder is only removed with O(force=true).
  - "With O(ledger), taking the lock also reads the environment's ledger and returns what it says (RV(ledger)):
    a read for update, so the run decides on a state that no other run can change until it gives the lock up.
    When the ledger cannot be read, the lock just taken is given up again."
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
  path:
    description: The lock file.
    type: path
    required: true
  holder:
    description: Who holds the lock, unique per run, such as V(awx-job-1234) or a run id.
    type: str
    required: true
  state:
    description: Take (V(present)) or give up (V(absent)) the lock.
    type: str
    choices: [present, absent]
    default: present
  ttl:
    description: Seconds after which the lock is stale and may be taken over.
    type: int
    default: 900
  wait:
    description: Seconds to wait for another holder to give the lock up before failing.
    type: int
    default: 0
  purpose:
    description: What the lock is for, shown to whoever finds it taken.
    type: str
    default: ""
  force:
    description: With O(state=absent), remove the lock even when another holder has it.
    type: bool
    default: false
  ledger:
    description: With O(state=present), the environment ledger (see M(maestro.conductor.release_ledger)) to read once the lock is held.
    type: path
  environment:
    description: The environment whose records O(ledger) returns. Required with O(ledger).
    type: str
"""

EXAMPLES = r"""
- name: One rollback at a time on this proxy
  maestro.conductor.release_lock:
    path: /var/lib/maestro/production.lock
    holder: "awx-job-{{ awx_job_id | default(run_id) }}"
    purpose: rollback to {{ tag }}
    ttl: 900
    wait: 60

- name: Take the lock and read the ledger it guards, in one step
  maestro.conductor.release_lock:
    path: /var/lib/maestro/production.lock
    holder: "{{ run_id }}"
    ledger: /var/lib/maestro/ledger/production.jsonl
    environment: production
  register: locked
"""

RETURN = r"""
lock:
  description: The lock as held now (holder, host, acquired and expires as UNIX times, purpose).
  returned: with O(state=present)
  type: dict
stale:
  description: The expired lock that was taken over, if any.
  returned: with O(state=present)
  type: dict
waited:
  description: Seconds spent waiting for another holder.
  returned: with O(state=present)
  type: float
ledger:
  description: With O(ledger), what the environment's records say once the lock is held.
  returned: with O(state=present) and O(ledger)
  type: dict
  contains:
    live:
      description: The tag serving traffic according to the ledger (empty when none).
      type: str
    live_commit:
      description: Its commit.
      type: str
    healthy:
      description: Tags with a green verdict and no quarantine.
      type: list
      elements: str
    quarantined:
      description: Tags quarantined and not cleared.
      type: list
      elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_lock import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
