# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: run_metrics
short_description: The metrics a procedure writes when it ends
version_added: 0.3.0
description:
  - For M(maestro.conductor.release_metrics) - C(gauges), C(increments) and C(keep) (the gauges kept from the writer's previous
    run when this run gives none) of a verification (V(verify)), a deploy or rollback (V(deploy), V(rollback)) or a restore
    drill (V(drill)).
  - A verification that never reached a verdict is given as failed, never left out.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: The procedure, V(verify), V(deploy), V(rollback) or V(drill).
    type: str
    required: true
  ok:
    description: Whether the procedure ended green.
    type: bool
    required: true
  verified:
    description: For a switch, whether its strict verification passed; omitted when it never got that far.
    type: bool
  seconds:
    description: For V(verify), how long the verification took.
    type: float
  time_to_green:
    description: For a switch or a drill, its time to green in seconds.
    type: float
"""

EXAMPLES = r"""
- name: Write a verification's metrics
  maestro.conductor.release_metrics:
    writer: verify
    environment: production
    textfile_dir: /var/lib/prometheus/node-exporter
    gauges: "{{ ('verify' | maestro.conductor.run_metrics(ok=result.ok, seconds=12.5)).gauges }}"
    increments: "{{ ('verify' | maestro.conductor.run_metrics(ok=result.ok, seconds=12.5)).increments }}"
"""

RETURN = r"""
_value:
  description: C(gauges), C(increments) and C(keep), as M(maestro.conductor.release_metrics) takes them.
  type: dict
"""

import time

from ansible.errors import AnsibleFilterError

from ansible_collections.maestro.conductor.plugins.module_utils import _run_metrics
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


def run_metrics(kind: str, ok: bool, verified: bool | None = None, seconds: float | None = None,
                time_to_green: float | None = None) -> dict:
    now = time.time()
    try:
        if kind == "verify":
            return _run_metrics.verify_metrics(ok, seconds, now)
        if kind in ("deploy", "rollback"):
            return _run_metrics.switch_metrics(kind, ok, verified, time_to_green, now)
        if kind == "drill":
            return _run_metrics.drill_metrics(ok, time_to_green, now)
    except ConductorError as exc:
        raise AnsibleFilterError(f"run_metrics: {exc}") from exc
    raise AnsibleFilterError(f"run_metrics: procedure {kind!r} is invalid: expected verify, deploy, rollback or drill")


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"run_metrics": run_metrics}
