#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_metrics
short_description: Write a procedure's release metrics for node_exporter's textfile collector or a Pushgateway
version_added: 0.1.0
description:
  - "Writes the metrics of one O(writer) (the watch, a verification, the switch of a deploy or a rollback, a restore drill) for one
    O(environment): to a file for node_exporter's textfile collector (O(textfile_dir)), to a Pushgateway group
    (O(pushgateway_url)), or to both."
  - "Every metric must be in the collection's catalogue (C(plugins/module_utils/_metric_catalogue.py)), of its type and with
    exactly its labels. The writer fills in the C(environment) label; bounded labels take only their listed values, and
    C(source) only the writer's own (its name; for the switch V(deploy) or V(rollback)), so that two writers never write
    the same series. Other label values are one line
    of 1-256 printable characters. Values are finite numbers."
  - "The output is the Prometheus text exposition format 0.0.4 with C(# HELP) and C(# TYPE) for every family, in a stable
    order and without timestamps: clean under C(promtool check metrics)."
  - "Counters are carried across runs. O(increments) are added to the values the writer wrote last time for the same
    environment: read from its file, or from its Pushgateway group, since an AWX execution environment keeps no files.
    Once a counter was incremented (O(increments[].by=0) is enough), every combination of its bounded labels is written,
    at 0 until incremented, so that PromQL's C(increase) sees the first failure. Gauges are what this run gives: a gauge not
    given is no longer written, unless O(keep) names it."
  - "The textfile is C(TEXTFILE_DIR/maestro_WRITER_ENVIRONMENT.prom), replaced atomically with mode 0644 through a temporary
    name that node_exporter does not read. The read, the addition of the increments and the write hold an exclusive lock on
    C(maestro_WRITER_ENVIRONMENT.prom.lock) in the same directory, so two runs of the same writer never lose an increment.
    When nothing changed the file is not rewritten, but its modification time is refreshed, so that
    C(node_textfile_mtime_seconds) shows the writer still runs."
  - "A previous file that is not this writer's own exposition is set aside beside it (C(PATH.corrupt-TIME)), never
    deleted, with a warning; its counters start again from 0, which Prometheus reads as a counter reset."
  - "The Pushgateway group is C(URL/metrics/job/maestro_WRITER/environment/ENVIRONMENT): its grouping key is job and
    environment, never instance. It is replaced (PUT) on every run, also when nothing changed, so that the gateway's
    C(push_time_seconds) shows the writer still runs. Counters are read back from the gateway's C(/api/v1/metrics)."
  - "A Pushgateway that cannot be reached or answers an error does not fail the task: the result says so in
    RV(pushgateway.ok) and RV(pushgateway.error), a warning is shown, and the textfile is written all the same. Redirects
    are not followed."
  - "O(state=absent) removes the writer's textfile and deletes its Pushgateway group (removing an environment deletes its
    group). The lock file stays: removing it could let two runs lock different files."
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
extends_documentation_fragment:
  - maestro.conductor.attributes
attributes:
  action:
    support: full
    description: On the controller itself, an action plugin runs the writer in Ansible's worker, without starting another Python.
  check_mode:
    support: full
    details:
      - Reads the previous textfile and the Pushgateway group and computes the exposition; writes, pushes, deletes and locks nothing.
  diff_mode:
    support: full
    details:
      - One diff per target, the exposition before and after.
  idempotent:
    support: full
    details:
      - The same gauges and no increments change nothing. Every increment is a change.
      - The textfile's modification time is refreshed and the Pushgateway group pushed again on every run, as the writer's heartbeat.
options:
  writer:
    description: The procedure whose metrics these are. Each writer has its own textfile and its own Pushgateway group.
    type: str
    required: true
    choices: [watch, verify, switch, drill, daily, weekly, retention, prune, security]
  environment:
    description: The environment the metrics are about; the writer puts it in every series' C(environment) label.
    type: str
    required: true
  gauges:
    description:
      - The gauges of this run. A gauge the writer wrote before and that is not given here is no longer written, unless
        O(keep) names it.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The metric's name in the catalogue, such as V(maestro_verify_ok).
        type: str
        required: true
      labels:
        description: "Every label of the metric but C(environment), such as V({source: watch})."
        type: dict
        default: {}
      value:
        description: The value, a finite number (V(true) and V(false) are 1 and 0).
        type: float
        required: true
  keep:
    description:
      - Gauges whose series from the writer's previous run stay when this run does not give them, such as
        V(maestro_time_to_green_seconds) for a switch that failed and so has no time to green (the last one stays the last one).
    type: list
    elements: str
    default: []
  increments:
    description:
      - Increments of counters. Two increments of the same series are added together.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The counter's name in the catalogue, such as V(maestro_verify_runs_total).
        type: str
        required: true
      labels:
        description: "Every label of the counter but C(environment), such as V({source: watch, result: pass})."
        type: dict
        default: {}
      by:
        description: How much to add, at least 0. V(0) only makes sure the counter is written.
        type: float
        default: 1
  textfile_dir:
    description:
      - The directory node_exporter's textfile collector reads (its C(--collector.textfile.directory); Debian's package uses
        C(/var/lib/prometheus/node-exporter)). It must exist and be writable; it is not created.
      - At least one of O(textfile_dir) and O(pushgateway_url) is required.
    type: path
  pushgateway_url:
    description:
      - The Pushgateway's URL, such as V(http://pushgateway.example.com:9091) (a path prefix is kept). http or https,
        without credentials, query or fragment; with O(pushgateway_password), https unless the host is this machine's loopback.
    type: str
  pushgateway_username:
    description: The user for the Pushgateway's basic authentication.
    type: str
  pushgateway_password:
    description: The password for the Pushgateway's basic authentication. Never shown in a result or a message.
    type: str
  timeout:
    description:
      - Seconds to wait for the Pushgateway to answer, and for another run of the same writer to release the textfile's lock.
    type: int
    default: 10
  state:
    description: V(present) writes the metrics; V(absent) removes the writer's textfile and deletes its Pushgateway group.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - name: node_exporter's textfile collector
    description: How node_exporter reads C(*.prom) files from a directory.
    link: https://github.com/prometheus/node_exporter#textfile-collector
  - name: Pushgateway
    description: Grouping keys, PUT and DELETE of a group.
    link: https://github.com/prometheus/pushgateway#api
"""

EXAMPLES = r"""
- name: The watch's verdict for production, for node_exporter and for a Pushgateway
  maestro.conductor.release_metrics:
    writer: watch
    environment: production
    textfile_dir: /var/lib/prometheus/node-exporter
    pushgateway_url: https://pushgateway.example.com
    pushgateway_username: maestro
    pushgateway_password: "{{ vault_pushgateway_password }}"
    gauges:
      - name: maestro_verify_ok
        labels: {source: watch}
        value: "{{ verify_result.ok }}"
      - name: maestro_verify_duration_seconds
        labels: {source: watch}
        value: "{{ verify_seconds }}"
      - name: maestro_release_info
        labels: {tag: "{{ live_tag }}", commit: "{{ live_commit }}"}
        value: 1
    increments:
      - name: maestro_verify_runs_total
        labels: {source: watch, result: "{{ 'pass' if verify_result.ok else 'fail' }}"}
        by: 1

- name: A rollback, counted
  maestro.conductor.release_metrics:
    writer: switch
    environment: production
    textfile_dir: /var/lib/prometheus/node-exporter
    gauges:
      - name: maestro_time_to_green_seconds
        value: "{{ time_to_green }}"
    increments:
      - name: maestro_rollbacks_total
        labels: {result: pass}

- name: The staging environment is gone; so are its metrics
  maestro.conductor.release_metrics:
    writer: watch
    environment: staging
    textfile_dir: /var/lib/prometheus/node-exporter
    pushgateway_url: https://pushgateway.example.com
    state: absent
"""

RETURN = r"""
path:
  description: The textfile.
  returned: when O(textfile_dir) is given
  type: str
  sample: /var/lib/prometheus/node-exporter/maestro_watch_production.prom
text:
  description:
    - The exposition written (or that would be, in check mode); the textfile's when O(textfile_dir) is given, else the one pushed.
    - Empty with O(state=absent).
  returned: always
  type: str
  sample: |
    # HELP maestro_verify_ok 1 when the last verification passed, else 0.
    # TYPE maestro_verify_ok gauge
    maestro_verify_ok{environment="production",source="watch"} 1
aside:
  description: Where a previous textfile that was not this writer's own exposition was set aside (or would be, in check mode).
  returned: when a previous textfile was set aside
  type: str
  sample: /var/lib/prometheus/node-exporter/maestro_watch_production.prom.corrupt-20261128T124711123456Z
pushgateway:
  description: What happened at the Pushgateway.
  returned: when O(pushgateway_url) is given
  type: dict
  contains:
    ok:
      description: Whether the gateway was read and written (or would be, in check mode) without an error.
      type: bool
      sample: true
    error:
      description: What went wrong (empty when RV(pushgateway.ok)); the same text is shown as a warning.
      type: str
      sample: "pushgateway GET http://127.0.0.1:9091/api/v1/metrics: could not be reached: [Errno 111] Connection refused"
    url:
      description: The writer's group.
      type: str
      sample: https://pushgateway.example.com/metrics/job/maestro_watch/environment/production
    changed:
      description: Whether the group's metrics changed (or would, in check mode).
      type: bool
      sample: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils._task import module_main
from ansible_collections.maestro.conductor.plugins.module_utils._task_metrics import ENTRY


def main() -> None:
    module_main(AnsibleModule(supports_check_mode=True, **ENTRY.spec), ENTRY)


if __name__ == "__main__":
    main()
