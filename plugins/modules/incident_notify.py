#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: incident_notify
short_description: Tell one incident event to every configured notification sink, never failing because a sink did
version_added: 0.1.0
description:
  - "Takes one incident event (schema C(maestro.conductor/incident-event/v1), one per phase of an incident) and the
    environment's sinks (C(maestro_incident_sinks)), and sends the event to the generic JSON webhook, the Slack incoming
    webhook and PagerDuty Events API v2 itself, in parallel, each with O(timeout), following no redirect."
  - "For Mattermost, mail and PagerDuty change events it returns RV(payloads) - every argument of
    M(community.general.mattermost), M(community.general.mail) and M(community.general.pagerduty_change) but the secret -
    for the P(maestro.conductor.incident_notify#role) role to send; with O(merge), it merges what those tasks did with
    what it sent into one RV(outcome)."
  - "Which sinks a phase goes to: the webhook, Slack, Mattermost and mail every phase; PagerDuty a trigger at V(opened),
    V(rollback_failed) and V(escalated) and a resolve at V(resolved), all with the incident's dedup key, so that PagerDuty
    folds them into one alert; a PagerDuty change event at V(rolled_back) only (a rollback is a deploy)."
  - "community.general's C(slack) and C(pagerduty_alert) modules are not used: they post to fixed hosted URLs (hooks.slack.com,
    events.pagerduty.com) that cannot be pointed at a configured endpoint."
  - "A sink that fails is reported in RV(results) (with a warning) and the task still succeeds: an incident's rollback
    never waits on a chat service. The task fails only on invalid input, naming the field and what was expected."
  - "URLs must be https (plain http only to this machine's loopback). No secret - a webhook URL or its token, a header
    value, an API key, a password, a routing key - is in the result, a payload or an error."
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  check_mode:
    support: full
    details:
      - Nothing is sent; RV(would_send) and RV(payloads) say what would be.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run sends the event again; receivers deduplicate by its C(event_id) and C(dedup_key).
options:
  event:
    description:
      - "The incident event: C(schema), C(incident), C(environment), C(phase), C(severity), C(summary) (at most 1,024
        characters), C(from) and C(to) (C({tag, commit}) or C({})), C(reason) (C({text, expected, seen})), C(failed_step),
        C(archive) (C({digest, location}) or C({})), C(time) (UTC, ISO 8601 with C(Z)), C(dedup_key)
        (C(maestro/ENVIRONMENT/INCIDENT)), C(event_id) (C(INCIDENT/PHASE), plus C(/LEVEL) when escalated), C(level) and
        C(source) (C(alert:NAME) or C(user:NAME)). Every field is required and no other is allowed."
      - Required unless O(merge) is given.
    type: dict
  sinks:
    description:
      - "The environment's sinks, each optional: C(webhook) (C(url), which may carry a token in its query; C(headers), values
        secret), C(slack) (C(url), the incoming-webhook URL, secret), C(mattermost) (C(url), C(api_key) secret, C(channel),
        C(username)), C(email) (C(host), C(port), C(sender), C(to) a list, C(secure) one of never, try, always, starttls,
        C(username), C(password) secret), C(pagerduty) (C(routing_key) secret, C(url) default
        U(https://events.pagerduty.com/v2/enqueue)), C(pagerduty_change) (C(routing_key) secret, C(url) default
        U(https://events.pagerduty.com/v2/change/enqueue))."
      - A password is sent only encrypted (C(secure=always) or C(starttls)) unless the mail host is this machine.
      - Its secrets are masked in everything the module returns.
    type: dict
    default: {}
  only:
    description:
      - Tell only these sinks (an escalation level names its sinks). A sink named here that is not configured is reported
        as a failed outcome. Default, every configured sink.
    type: list
    elements: str
  timeout:
    description: Seconds to wait for each sink's answer (1 to 300).
    type: int
    default: 10
  merge:
    description:
      - Send nothing; return RV(outcome) of every sink of one event from this module's registered result and the role's
        community.general tasks. Give O(sinks) too, so that their secrets are masked in the errors.
    type: dict
    suboptions:
      sent:
        description: The registered result of this module's sending task.
        type: dict
        required: true
      handed:
        description:
          - The registered results of the community.general tasks, by sink (C(mattermost), C(email), C(pagerduty_change)).
            A task that did not run is no outcome.
        type: dict
        default: {}
notes:
  - The P(maestro.conductor.incident_notify#role) role runs this module and the community.general ones, and sets
    C(incident_notify_outcome).
seealso:
  - module: community.general.mattermost
  - module: community.general.mail
  - module: community.general.pagerduty_change
"""

EXAMPLES = r"""
- name: Tell every sink that the incident opened
  maestro.conductor.incident_notify:
    event: "{{ incident_event }}"
    sinks: "{{ maestro_incident_sinks }}"
  register: told

- name: Escalate to level 1 (its sinks only)
  maestro.conductor.incident_notify:
    event: "{{ escalation_event }}"
    sinks: "{{ maestro_incident_sinks }}"
    only: [pagerduty, email]
    timeout: 5

- name: What every sink did, after the role's community.general tasks
  maestro.conductor.incident_notify:
    sinks: "{{ maestro_incident_sinks }}"
    merge:
      sent: "{{ told }}"
      handed:
        mattermost: "{{ told_mattermost }}"
  register: merged
"""

RETURN = r"""
results:
  description: One entry per sink this module sent to (or named in O(only) but not configured), in the order of the sinks.
  returned: unless O(merge)
  type: list
  elements: dict
  contains:
    sink:
      description: The sink, C(webhook), C(slack) or C(pagerduty) (or the unconfigured name).
      type: str
    ok:
      description: Whether the sink took the event.
      type: bool
    status:
      description: The HTTP status of its answer (V(0) when none came).
      type: int
    error:
      description: Why not, short and without a secret (empty when ok).
      type: str
    to:
      description: "Who or what was told, never a secret, such as C(slack) or C(webhook: https://hooks.example.com)."
      type: str
    seconds:
      description: How long it took, retry included (one retry for a 429 or a 5xx answer, after at most 2 seconds).
      type: float
payloads:
  description:
    - By sink, what is (or would be) sent, without a secret. For C(webhook), C(slack), C(pagerduty), C(to) and the request
      C(body). For C(mattermost), C(email) and C(pagerduty_change), C(to) and the arguments of the community.general
      module the role runs (C(url), C(channel), C(username), C(text); C(host), C(port), C(secure), C(sender),
      C(recipients), C(username), C(subject), C(body); C(url), C(summary), C(source), C(user), C(environment), C(revision)).
  returned: unless O(merge)
  type: dict
pending:
  description: The sinks in RV(payloads) that the role sends through community.general.
  returned: unless O(merge)
  type: list
  elements: str
would_send:
  description: Every sink this event goes to, with C(sink) and C(to).
  returned: unless O(merge)
  type: list
  elements: dict
skipped:
  description: Configured sinks this phase does not go to, with why (PagerDuty takes opened, rollback_failed, escalated, resolved).
  returned: unless O(merge)
  type: dict
event_id:
  description: The event's id.
  returned: unless O(merge)
  type: str
outcome:
  description:
    - For the ledger's C(incident_notified) record - C(sinks) (each C(sink), C(ok), C(error), C(to)), C(all_failed) (every sink
      told failed; false when none was told), C(configured) (how many were told). Without O(merge), this module's sinks only.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_notify import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
