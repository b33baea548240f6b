# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: switch_verdict
short_description: What went wrong on the app hosts of a switch's first phase
version_added: 0.2.0
description:
  - Given the plan from P(maestro.conductor.switch_plan#filter) and each app host's result of
    M(maestro.conductor.release_stage), one line per host that is not green - failed, unreachable, or never reported
    (a host that says nothing is red) as C(problems); no problem means every host is green and traffic may move.
  - One report per host (host, colour, tag, commit, image ids, health, seconds, started, reused, result) as C(hosts),
    for the ledger, and one line per host as C(lines), for the summary.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: The plan.
    type: dict
    required: true
  results:
    description: Inventory name to the registered result of that host's stage.
    type: dict
    required: true
  run_id:
    description: This switch's run id, as given to M(maestro.conductor.release_stage); a result with another is ignored.
    type: str
    default: ""
  check_mode:
    description: Whether the switch runs in check mode, where no host has image ids to prove.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Stop here when a host is red
  ansible.builtin.fail:
    msg: "{{ (plan | maestro.conductor.switch_verdict(results)).problems | join('; ') }}"
  when: (plan | maestro.conductor.switch_verdict(results)).problems | length > 0
"""

RETURN = r"""
_value:
  description: C(problems), one line per host that is not green; C(hosts), one report per host; C(lines), one line per host.
  type: dict
"""

from ansible_collections.maestro.conductor.plugins.module_utils._switch_plan import phase_one_verdict


def switch_verdict(plan: dict, results: dict, run_id: str = "", check_mode: bool = False) -> dict:
    return phase_one_verdict(plan or {}, dict(results or {}), run_id, bool(check_mode))


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"switch_verdict": switch_verdict}
