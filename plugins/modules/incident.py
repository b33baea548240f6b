#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: incident
short_description: Open, record, escalate, close and unfreeze an incident in the environment's ledger
version_added: 0.4.0
description:
  - "An incident lives in the environment's ledger (see M(maestro.conductor.release_ledger)): opened with its reason and
    who or what opened it, the environment frozen (deploys refused, rollbacks allowed), each notification with every sink's
    outcome, escalations, the acknowledgement, the close and the lifting of the freeze."
  - "O(state=opened) decides from the ledger whether the request opens an incident, joins the one open (an alert always
    does: one incident, one automatic rollback) or is refused (a human's second incident, unless O(allow_second)). An alert
    never opens one while a human's incident freezes the environment. Whether the rollback runs is decided too: not
    without a target (O(target) failed), not when the target is what is live. The opening and the freeze are one write,
    made under the ledger's lock after checking again that no incident was opened meanwhile."
  - "With O(phase), the result carries the phase's notification event (one schema for every sink, with a dedup key that
    is the same for every phase of the incident)."
  - "O(state=reported) writes the post-mortem skeleton (C(postmortem.json) and C(postmortem.md) in the incident's directory)
    pre-filled from the ledger and the archive; what a human wrote in its human parts is kept when it is written again."
  - "O(state=unfrozen) lifts the freeze only when the post-mortem exists and its action items are filled in (an action, an
    owner and a due date each), or with O(override) and O(override_reason), which are recorded."
  - "With O(escalation), the result lists the escalation levels due: open incidents not acknowledged, past a level's
    C(after_minutes) and not told yet."
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
  - maestro.conductor.job
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - O(state=opened) opens a new incident each time no incident is open.
      - O(state=reported) writes the post-mortem again (the human parts kept).
options:
  path:
    description: The environment's ledger.
    type: path
    required: true
  environment:
    description: The environment, such as V(production).
    type: str
    required: true
  state:
    description: What to do.
    type: str
    choices: [query, opened, notified, escalated, acknowledged, closed, unfrozen, reported]
    default: query
  incident:
    description: The incident's id (C(ENVIRONMENT-YYYYMMDDTHHMMSSZ-xxxx)). Required unless O(state=opened) or O(state=query).
    type: str
  actor:
    description: Who does this (a user name, C(alert), an AWX job).
    type: str
  reason:
    description: What is wrong, for O(state=opened). From an alert, its summary; the alert's name when empty.
    type: str
  expected:
    description: What was expected (for the notifications and the post-mortem).
    type: str
    default: ""
  seen:
    description: What was seen instead.
    type: str
    default: ""
  severity:
    description: The incident's severity.
    type: str
    choices: [critical, error, warning, info]
    default: critical
  source:
    description: Who opened it, V(user) or V(alert).
    type: str
    choices: [user, alert]
    default: user
  alert:
    description: With O(source=alert), the alert (C(name), C(fingerprint), C(starts_at), C(labels), C(annotations), C(generator_url)).
    type: dict
  allow_second:
    description: Open a second incident while one is open (a human's explicit choice; never for an alert).
    type: bool
    default: false
  tag:
    description: With O(state=opened), the tag to roll back to; empty for the prior healthy tag (O(target)).
    type: str
    default: ""
  target:
    description:
      - With O(state=opened) and no O(tag), the prior healthy tag as M(maestro.conductor.release_tags) found it (its registered
        result, C(tag.name) and C(tag.commit)), or failed to (its C(msg) says why there is no target).
    type: dict
  phase:
    description: The phase whose notification event to return, and to record with O(state=notified).
    type: str
    choices: [opened, rollback_started, rolled_back, rollback_failed, resolved, escalated]
  level:
    description: The escalation level notified.
    type: int
    default: 0
  outcome:
    description: With O(state=notified) or O(state=escalated), what the notification did - C(sinks) (each C(sink), C(ok), C(error), C(to)) and C(to).
    type: dict
  archive:
    description: The evidence archive (C(digest), C(location)), as M(maestro.conductor.incident_archive) returns it.
    type: dict
  failed_step:
    description: The step that failed, for the notification of a failed rollback.
    type: str
    default: ""
  escalation:
    description: The environment's escalation path, first level to last - each C(sinks), C(after_minutes), C(contacts).
    type: list
    elements: dict
  override:
    description: With O(state=unfrozen), lift the freeze without the post-mortem's action items (recorded, with O(override_reason)).
    type: bool
    default: false
  override_reason:
    description: Why the freeze is lifted without the action items.
    type: str
    default: ""
  incident_dir:
    description: Where incidents keep their archive and post-mortem (one directory each, named by the id).
    type: path
  failed_requests:
    description: Requests that failed while the bad release served, for the post-mortem's impact (when metrics tell).
    type: int
  due_days:
    description: The action items' default due date, in business days after the incident opened.
    type: int
    default: 5
  run_output:
    description: With O(state=reported), the rollback run's own output (JSON), kept as C(rollback-run.json) in the incident's directory.
    type: str
"""

EXAMPLES = r"""
- name: Open an incident (and freeze deploys)
  maestro.conductor.incident:
    path: /var/lib/maestro/ledger/production.jsonl
    environment: production
    state: opened
    actor: alice
    reason: checkout answers 500
    target: "{{ prior_healthy }}"
    incident_dir: /var/lib/maestro/incidents
    phase: opened
  register: opened

- name: Lift the freeze once the post-mortem's action items are in
  maestro.conductor.incident:
    path: /var/lib/maestro/ledger/production.jsonl
    environment: production
    state: unfrozen
    incident: production-20261128T162501Z-a3f9
    actor: alice
    incident_dir: /var/lib/maestro/incidents
"""

RETURN = r"""
incident:
  description: The incident's id (the new one, the one joined, or the one named).
  returned: always
  type: str
  sample: production-20261128T162501Z-a3f9
plan:
  description: With O(state=opened) - C(action) (open, join, refuse), C(message), C(rollback), C(why_no_rollback).
  returned: with O(state=opened)
  type: dict
event:
  description: The notification of O(phase) (schema C(maestro.conductor/incident-event/v1)).
  returned: with O(phase)
  type: dict
records:
  description: The incident's ledger records, oldest first.
  returned: always
  type: list
  elements: dict
record:
  description: The record appended (or that would be, in check mode).
  returned: when one was appended
  type: dict
open_incidents:
  description: The environment's incidents not closed.
  returned: always
  type: list
  elements: str
frozen:
  description: The incidents that freeze the environment, each C(incident) and C(reason).
  returned: always
  type: list
  elements: dict
live:
  description: The live tag, according to the ledger.
  returned: always
  type: str
due:
  description: With O(escalation), the escalations due - C(incident), C(level), C(sinks), C(to), C(minutes_open).
  returned: with O(escalation)
  type: list
  elements: dict
postmortem:
  description: With O(state=reported), the files written - C(json) and C(markdown).
  returned: with O(state=reported)
  type: dict
problems:
  description: With O(state=reported), what the post-mortem's action items still lack.
  returned: with O(state=reported)
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_incident import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
