# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: watch_verdict
short_description: The post-GA watch's verdict on one environment, and its metrics
version_added: 0.3.0
description:
  - Given what the watch playbook observed - the ledger (M(maestro.conductor.release_ledger) query), the commit the proxy
    serves, the strict verification of the live release and its duration, the availability
    (M(maestro.conductor.release_available)) of the live release and of the rollback target on the release store, each app
    host's proof of the live colour (M(maestro.conductor.release_stage) C(state=checked)) and its copy of the rollback target,
    the drift (M(maestro.conductor.release_drift)) and, when configured, the CI queue - returns the findings (a check that
    could not be made is one, since unknown is red), the post-GA watch window, and the gauges and increments for
    M(maestro.conductor.release_metrics).
  - The window opens when the live release went live (its deploy or rollback record in the ledger) and lasts O(_input.window_days)
    days; inside it the watch is due every O(_input.close_interval) seconds, after it every O(_input.daily_interval).
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: The observations (see roles/watch/tasks/verdict.yml for how they are gathered).
    type: dict
    required: true
  now:
    description: The time to judge at, in epoch seconds (default now).
    type: float
"""

EXAMPLES = r"""
- name: Judge
  ansible.builtin.set_fact:
    verdict: "{{ observations | maestro.conductor.watch_verdict }}"
"""

RETURN = r"""
_value:
  description:
    - C(ok), C(environment), C(live), C(commit), C(live_since), C(window) (C(open), C(end), C(interval)), C(findings) (each
      C(check) and C(message)), C(gauges), C(increments) and C(summary) (lines for people).
  type: dict
"""

import time

from ansible.errors import AnsibleFilterError

from ansible_collections.maestro.conductor.plugins.module_utils import _daily
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._watch import due, judge


def watch_verdict(observations: dict, now: float | None = None) -> dict:
    try:
        return judge(dict(observations or {}), time.time() if now is None else float(now)).as_dict()
    except ConductorError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def watch_due(observations: dict, last_run: float | None = None, now: float | None = None) -> dict:
    """C(due) and C(reason): whether a scheduled watch runs now, from the ledger and when the watch last ran."""
    try:
        return due(dict(observations or {}), None if last_run is None else float(last_run), time.time() if now is None else float(now))
    except ConductorError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def daily_verdict(observations: dict, now: float | None = None) -> dict:
    """The daily verification's verdict, report and metrics (plugins/module_utils/_daily.py)."""
    try:
        return _daily.judge(dict(observations or {}), time.time() if now is None else float(now)).as_dict()
    except ConductorError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def daily_report_markdown(report: dict) -> str:
    """The daily verification's report for people (Markdown)."""
    return _daily.render_markdown(dict(report or {}))


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"watch_verdict": watch_verdict, "watch_due": watch_due, "daily_verdict": daily_verdict,
                "daily_report_markdown": daily_report_markdown}
