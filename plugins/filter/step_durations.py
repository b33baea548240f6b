# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: step_durations
short_description: How long each step of a run took, from the time each one ended
version_added: 0.1.0
description:
  - Takes a mapping of step name to the UNIX time the step ended and the time the run started, and gives
    each step's duration in seconds (rounded to milliseconds), in the order the steps ended.
  - Roles mark a step's end with C(now(utc=true).timestamp()); the ledger and drill reports record the result.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: Step name to the time it ended (UNIX seconds, number or numeric string).
    type: dict
    required: true
  start:
    description: When the run started (UNIX seconds).
    type: float
    required: true
"""

EXAMPLES = r"""
- name: Record how long each step took
  ansible.builtin.debug:
    msg: "{{ {'verify': t_verify, 'deploy': t_deploy} | maestro.conductor.step_durations(t_start) }}"
"""

RETURN = r"""
_value:
  description: Step name to seconds, in the order the steps ended.
  type: dict
"""

from ansible.errors import AnsibleFilterError


def step_durations(marks: dict, start: float) -> dict:
    try:
        ends = sorted(((str(name), float(ended)) for name, ended in (marks or {}).items()), key=lambda item: item[1])
        previous = float(start)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"step_durations needs UNIX times, got {marks!r} from {start!r}: {exc}") from exc
    durations = {}
    for name, ended in ends:
        durations[name] = round(max(ended - previous, 0.0), 3)
        previous = ended
    return durations


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"step_durations": step_durations}
