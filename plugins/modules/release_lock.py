#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_lock
short_description: Take, renew or give up an environment's lock, with dead holders detected and a generation for fencing
version_added: 0.1.0
description:
  - Keeps two runs (two rollbacks, a rollback and a deploy) from changing the same environment at once.
  - "The lock is a file naming its holder, the controller process it is held for (host name, pid, process start time
    and pid namespace, filled in by the action plugin from the C(ansible-playbook) process), its purpose, its lease and
    its generation, so it lasts across the tasks of a run and no longer than the run."
  - "O(state=present) takes the lock, waiting up to O(wait) seconds while another holder has it, then fails naming
    that holder and how to break its lock. Another holder's lock is taken over (reported in RV(stale) and RV(reason),
    and as a warning) when that holder is dead: on the same controller, its process is gone (a reused pid does not
    count: its start time differs); from anywhere else, its lease ended (O(lease) seconds after its last renewal); or
    its process still runs on this controller but has not renewed the lock for O(ttl) seconds (a hung run)."
  - Taking a lock already held by the same O(holder) changes nothing but renews its lease.
  - "Each acquisition gets a generation (RV(lock.generation)), one more than any before on this lock file (the last one
    is kept in the file C(PATH.guard)). O(state=present) with O(generation) only renews: it fails, with C(lost) set in
    its result, when the lock is no longer held by O(holder) with that generation. The writes of a run that matter
    (M(maestro.conductor.proxy_flip), M(maestro.conductor.release_ledger)) take the same holder and generation as
    their C(fence) option and refuse before writing in that case."
  - "O(state=absent) gives the lock up. With O(holder), that holder's own lock (a lock held by another holder only with
    O(force=true)); with O(holder) and O(generation), only while it is still that generation's, else it is left to
    the run that holds it now, with a warning. Without O(holder) (C(make unlock)), whoever holds it: removed when its
    holder is dead or its lease ended, refused naming a live holder unless O(force=true)."
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
    description:
      - Who holds the lock, unique per run, such as V(awx-job-1234) or a run id. Required with O(state=present).
      - With O(state=absent), the holder giving its own lock up; without it, whoever holds the lock.
    type: str
  state:
    description: Take or renew (V(present)) or give up (V(absent)) the lock.
    type: str
    choices: [present, absent]
    default: present
  ttl:
    description:
      - The time limit, in seconds, for a holder whose process still runs on this controller but no longer renews the
        lock (a hung run). After it the lock is stale and may be taken over. The lease is never longer.
    type: int
    default: 900
  lease:
    description:
      - Seconds after the last renewal at which the lock ends for anyone who cannot see its holder's process (another
        controller). A run renews it at each step; a run that dies elsewhere keeps the environment locked this long.
      - At most O(ttl).
    type: int
    default: 120
  wait:
    description: Seconds to wait for another holder to give the lock up before failing.
    type: int
    default: 0
  purpose:
    description: What the lock is for, shown to whoever finds it taken.
    type: str
    default: ""
  force:
    description:
      - With O(state=absent), remove the lock even when its holder is alive (or another O(holder) than the one named).
        The run that held it then fails at its next fenced write, having written nothing.
    type: bool
    default: false
  generation:
    description:
      - The generation the run's lock was taken with (RV(lock.generation)).
      - With O(state=present), renew only, failing (C(lost) in the result) when the lock is no longer this holder's
        with this generation; with O(state=absent), give it up only while it is still theirs.
    type: int
  ledger:
    description: With O(state=present), the environment ledger (see M(maestro.conductor.release_ledger)) to read once the lock is held.
    type: path
  environment:
    description: The environment whose records O(ledger) returns. Required with O(ledger).
    type: str
  owner:
    description:
      - The process the lock is held for. The action plugin sets it to the C(ansible-playbook) process on the controller;
        without it, no process is recorded and only the lease tells that a holder is gone.
    type: dict
    suboptions:
      host:
        description: The controller's host name.
        type: str
        default: ""
      pid:
        description: The process id.
        type: int
        default: 0
      started:
        description: When the process started, in clock ticks after boot (from C(/proc/PID/stat)).
        type: int
        default: 0
      space:
        description: The controller's boot id and pid namespace, in which O(owner.pid) names that process.
        type: str
        default: ""
  dead:
    description:
      - A holder and generation found dead on the controller itself (its process gone). The action plugin sets it when
        the lock file is on another host, which cannot see the controller's processes; the lock is then taken over
        (O(state=present)) or removed (O(state=absent)) if it still names them.
    type: dict
    suboptions:
      holder:
        description: The holder found dead.
        type: str
        required: true
      generation:
        description: Its generation.
        type: int
        required: true
notes:
  - "A dead holder is told by its process only on Linux controllers (C(/proc)); elsewhere, and when the lock file is on
    another host, the action plugin checks the holder on the controller and the lease covers the rest."
"""

EXAMPLES = r"""
- name: One rollback at a time on this proxy
  maestro.conductor.release_lock:
    path: /var/lib/maestro/production.lock
    holder: "awx-job-{{ awx_job_id | default(run_id) }}"
    purpose: rollback to {{ tag }}
    lease: 120
    wait: 60
  register: locked

- name: Still ours? Renew before the next step (fails with lost=true when another run took the lock)
  maestro.conductor.release_lock:
    path: /var/lib/maestro/production.lock
    holder: "{{ locked.lock.holder }}"
    generation: "{{ locked.lock.generation }}"

- name: Take the lock and read the ledger it guards, in one step
  maestro.conductor.release_lock:
    path: /var/lib/maestro/production.lock
    holder: "{{ run_id }}"
    ledger: /var/lib/maestro/ledger/production.jsonl
    environment: production

- name: Break the lock of a run that died (refused while its holder is alive)
  maestro.conductor.release_lock:
    path: /var/lib/maestro/production.lock
    state: absent
"""

RETURN = r"""
lock:
  description:
    - With O(state=present), the lock as held now; with O(state=absent), the lock given up or found (null when none).
  returned: always
  type: dict
  contains:
    holder:
      description: Who holds it.
      type: str
    host:
      description: The controller its process runs on.
      type: str
    pid:
      description: Its process on that controller (V(0) when none was recorded).
      type: int
    pid_started:
      description: When that process started, in clock ticks after boot.
      type: int
    pid_space:
      description: The controller's boot id and pid namespace.
      type: str
    acquired:
      description: When it was taken, as a UNIX time.
      type: float
    renewed:
      description: When it was last renewed, as a UNIX time.
      type: float
    expires:
      description: When its lease ends unless renewed, as a UNIX time.
      type: float
    lease:
      description: The lease, in seconds.
      type: float
    ttl:
      description: The time limit for a live holder that does not renew, in seconds.
      type: float
    generation:
      description: The acquisition's generation, for fenced writes.
      type: int
    purpose:
      description: What it is for.
      type: str
stale:
  description: The lock of a dead, expired or hung holder that was taken over, if any.
  returned: with O(state=present), unless O(generation) is given
  type: dict
reason:
  description:
    - Why another holder's lock could be taken over or removed (V(its process 4242 on ctl1 is gone), V(its lease ended
      40s ago), V(forced)), or what happened to it.
  returned: unless O(state=present) with O(generation)
  type: str
waited:
  description: Seconds spent waiting for another holder.
  returned: with O(state=present), unless O(generation) is given
  type: float
held:
  description: On failure because another holder has the lock, that lock (as RV(lock)).
  returned: failure
  type: dict
lost:
  description: On failure because the run no longer holds the lock it took (O(generation)).
  returned: failure
  type: bool
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
