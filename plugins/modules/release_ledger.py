#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_ledger
short_description: Record and query what happened to releases in an environment
version_added: 0.1.0
description:
  - "Keeps an append-only JSON-lines ledger per environment, on the host that serves it: deployments,
    verification verdicts, rollbacks, quarantines, clears and restore drills, each with time, actor, tag,
    commit and step durations."
  - "O(state=query) returns the records and what they add up to now: the live tag, the tags with a green
    verdict, and the quarantined tags."
  - O(state=append) adds one record. Appends are atomic and hold the ledger's lock; the O(record_id) check is made
    under that lock, so two runs never both append the same record.
  - "Every line read must be a ledger record: JSON, a known event, an environment name, tags by the release tag rule,
    commits as full object ids, verdicts green or red. A line that is not fails the task naming its line number; it
    is never skipped, since a skipped line could hide a quarantine. One exception: a torn last line (no newline after
    it: an append that never finished) is skipped with a warning, and the next append moves it into a file beside
    the ledger before writing."
  - "O(state=repaired) moves every line that is no record into a new file beside the ledger (C(PATH.corrupt-TIME)),
    bytes as they were, and rewrites the ledger atomically without them. Check mode names the lines and the file."
  - O(state=quarantined) and O(state=cleared) quarantine a tag (it is never chosen as the prior healthy tag)
    or clear it; doing either twice changes nothing.
  - With O(fence), an appended record is fenced by the run's environment lock (see M(maestro.conductor.release_lock)),
    checked under the ledger's lock right before writing. O(state=repaired) is not fenced.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
  - maestro.conductor.fence
  - maestro.conductor.job
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - O(state=append) adds a record each run unless O(record_id) is set and already recorded.
options:
  path:
    description: The ledger file. Created, with its directory (both made durable), on the first write.
    type: path
    required: true
  environment:
    description: The environment the records belong to, such as V(production).
    type: str
    required: true
  state:
    description: What to do.
    type: str
    choices: [query, append, quarantined, cleared, repaired]
    default: query
  event:
    description:
      - The kind of record, with O(state=append).
      - V(validation) records a scheduled check of the environment (the daily verification), with its O(verdict); its O(tag), the
        live release when there is one, may be omitted, and it never changes a release's verdict.
      - V(prune) records a prune of the release store (what went, in O(detail)); its O(tag) may be omitted and it changes no verdict.
    type: str
    choices: [deployed, verdict, rollback, drill, validation, prune]
  tag:
    description: The release tag the record is about. Required unless O(state=query), O(event=validation) or O(event=prune).
    type: str
  actor:
    description: Who did it, such as the AWX job id or a user name. Required unless O(state=query).
    type: str
  commit:
    description: The commit of O(tag), in full.
    type: str
  verdict:
    description: The verdict, for O(event=verdict), O(event=drill) and O(event=validation) (required there) or with a deployment or rollback.
    type: str
    choices: [green, red]
  from_tag:
    description: For O(event=rollback), the tag that was rolled back from.
    type: str
  durations:
    description: Seconds each step took, by step name.
    type: dict
  detail:
    description: Free text, such as the reason for a quarantine.
    type: str
  record_id:
    description: An identifier for the record; when a record with it exists, nothing is appended.
    type: str
  quarantine:
    description:
      - With O(state=append), a tag to quarantine in the same write as the record (a rollback, and the tag it rolled back
        from), so that both are in the ledger, or neither. Nothing more when the tag is quarantined already.
    type: str
  hosts:
    description:
      - For a switch, one report per app host - C(host), C(colour), C(tag), C(commit), C(image_ids) (the image ids its
        containers run), C(health), C(seconds), C(started), C(reused), C(result) - kept with the record.
    type: list
    elements: dict
  last:
    description: With O(state=query), return only the last this many records (V(0) for all).
    type: int
    default: 50
"""

EXAMPLES = r"""
- name: Record that v2.3.1 went live
  maestro.conductor.release_ledger:
    path: /var/lib/maestro/ledger/production.jsonl
    environment: production
    state: append
    event: deployed
    tag: v2.3.1
    commit: "{{ release_commit }}"
    verdict: green
    actor: "awx-job-{{ awx_job_id | default('manual') }}"
    durations:
      deploy: 8.2
      flip: 0.6

- name: Never pick v2.3.2 again until someone clears it
  maestro.conductor.release_ledger:
    path: /var/lib/maestro/ledger/production.jsonl
    environment: production
    state: quarantined
    tag: v2.3.2
    actor: alice
    detail: 500s on checkout after deploy

- name: Move corrupt lines aside (see what would move with --check)
  maestro.conductor.release_ledger:
    path: /var/lib/maestro/ledger/production.jsonl
    environment: production
    state: repaired

- name: What is live, healthy and quarantined
  maestro.conductor.release_ledger:
    path: /var/lib/maestro/ledger/production.jsonl
    environment: production
  register: ledger
"""

RETURN = r"""
live:
  description: The tag serving traffic according to the ledger (empty when none was recorded).
  returned: unless O(state=repaired)
  type: str
live_commit:
  description: The commit recorded with the live tag.
  returned: unless O(state=repaired)
  type: str
healthy:
  description: Tags whose last verdict is green and that are not quarantined.
  returned: unless O(state=repaired)
  type: list
  elements: str
quarantined:
  description: Tags under quarantine.
  returned: unless O(state=repaired)
  type: list
  elements: str
records:
  description: The environment's records, oldest first (the last O(last) of them).
  returned: unless O(state=repaired)
  type: list
  elements: dict
record:
  description: The record appended (or that would be, in check mode).
  returned: when something was or would be appended
  type: dict
corrupt:
  description: The lines that are no ledger record, moved aside (or that would be, in check mode).
  returned: with O(state=repaired)
  type: list
  elements: dict
  contains:
    line:
      description: Its line number in the ledger.
      type: int
    problem:
      description: What is wrong with it.
      type: str
    text:
      description: Its first 200 bytes.
      type: str
aside:
  description: The file beside the ledger that holds the corrupt lines, bytes as they were (empty when none).
  returned: with O(state=repaired)
  type: str
lost:
  description: On failure because the run no longer holds the lock of O(fence).
  returned: failure
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_ledger import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
