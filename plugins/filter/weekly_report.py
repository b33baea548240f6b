# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: weekly_report
short_description: The weekly validation's verdict, report, metrics and summary
version_added: 0.5.0
description:
  - Given M(maestro.conductor.release_validate)'s result and what the playbook did about the rollback target, returns C(ok), the
    C(report) (kind C(maestro.conductor/weekly-validation), format 1 - totals and throughput, every release's checks, the
    rollback target before and after), C(findings), the C(gauges) and C(increments) for M(maestro.conductor.release_metrics)
    (writer C(weekly)) and C(summary) (lines for people).
  - No release validated is a finding, since unknown is red; so is a rollback target that failed (quarantined).
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: M(maestro.conductor.release_validate)'s registered result.
    type: dict
    required: true
  environment:
    description: The environment.
    type: str
    required: true
  target:
    description: The rollback target before the run ('' when none).
    type: str
    default: ""
  quarantined:
    description: The rollback target the run quarantined because it failed ('' when none).
    type: str
    default: ""
  next_target:
    description: The rollback target after the quarantine ('' when none is left).
    type: str
    default: ""
  live:
    description: The live release ('' when none).
    type: str
    default: ""
  target_error:
    description: Why no rollback target was found, when none was.
    type: str
    default: ""
  started:
    description: When the run started, in epoch seconds.
    type: float
    required: true
  now:
    description: The time of the verdict, in epoch seconds (default now).
    type: float
"""

EXAMPLES = r"""
- name: Judge
  ansible.builtin.set_fact:
    weekly: "{{ validated | maestro.conductor.weekly_report('production', 'v1.4.1', '', '', started) }}"
"""

RETURN = r"""
_value:
  description: C(ok), C(report), C(findings), C(gauges), C(increments) and C(summary).
  type: dict
"""

import time

from ansible.errors import AnsibleFilterError

from ansible_collections.maestro.conductor.plugins.module_utils import _weekly
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._ledger import validate_environment


def weekly_report(validated: dict, environment: str, target: str = "", quarantined: str = "", next_target: str = "",
                  started: float = 0.0, now: float | None = None, live: str = "", target_error: str = "") -> dict:
    try:
        return _weekly.report(validate_environment(environment), dict(validated or {}), str(target or ""), str(quarantined or ""),
                              str(next_target or ""), float(started), time.time() if now is None else float(now), str(live or ""),
                              str(target_error or ""))
    except (ConductorError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"weekly_report: {exc}") from exc


def weekly_report_markdown(report: dict) -> str:
    """The weekly validation's report for people (Markdown)."""
    return _weekly.render_markdown(dict(report or {}))


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"weekly_report": weekly_report, "weekly_report_markdown": weekly_report_markdown}
