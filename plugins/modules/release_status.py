#!/usr/bin/python
# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_status
short_description: One screen of an environment's release health, from the ledger and the metrics
version_added: 0.3.0
description:
  - What C(make status) shows for each environment. The ledger gives the live tag and commit, since when and how it went
    live, and the last time to green.
  - The metrics writers' textfiles in O(textfile_dir) give the last verification and its duration, the watch's verdict and
    post-GA window, drift by kind, and the pass rate of every verification counted there.
  - With O(prometheus_url), Prometheus gives the pass rate over the last day and the environment's open C(Maestro*) alerts.
  - What cannot be read is shown as unknown, never as fine. Reads only.
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
  environment:
    description: The environment.
    type: str
    required: true
  records:
    description: The environment's ledger records, oldest first, as M(maestro.conductor.release_ledger) returns them.
    type: list
    elements: dict
    default: []
  live:
    description: The live tag, as M(maestro.conductor.release_ledger) returns it.
    type: str
    default: ""
  live_commit:
    description: The live commit, as M(maestro.conductor.release_ledger) returns it.
    type: str
    default: ""
  textfile_dir:
    description: node_exporter's textfile directory the metrics writers write to (empty - not read).
    type: path
  prometheus_url:
    description: Prometheus's URL (empty - the pass rate comes from the textfiles, and open alerts are unknown).
    type: str
"""

EXAMPLES = r"""
- name: Show the environment's status
  maestro.conductor.release_status:
    environment: production
    records: "{{ ledger.records }}"
    live: "{{ ledger.live }}"
    live_commit: "{{ ledger.live_commit }}"
    textfile_dir: /var/lib/prometheus/node-exporter
    prometheus_url: http://127.0.0.1:9090
  register: status
"""

RETURN = r"""
lines:
  description: The screen, one line each.
  returned: always
  type: list
  elements: str
status:
  description:
    - The same as data - C(live), C(commit), C(since), C(how), C(time_to_green), C(verification), C(pass_rate), C(watch),
      C(drift), C(alerts) (null when unknown) and C(unknown) (what could not be read).
  returned: always
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.maestro.conductor.plugins.module_utils import _status
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "environment": {"type": "str", "required": True},
            "records": {"type": "list", "elements": "dict", "default": []},
            "live": {"type": "str", "default": ""},
            "live_commit": {"type": "str", "default": ""},
            "textfile_dir": {"type": "path"},
            "prometheus_url": {"type": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    now = time.time()
    try:
        status = _status.gather(params["environment"], params["records"], params["live"], params["live_commit"],
                                params["textfile_dir"] or "", params["prometheus_url"] or "", now)
    except ConductorError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, lines=_status.lines(status, now), status=status.as_dict())


if __name__ == "__main__":
    main()
