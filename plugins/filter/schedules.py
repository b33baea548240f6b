# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: schedule_units
short_description: The systemd service and timer of each scheduled job
version_added: 0.5.0
description:
  - Renders one oneshot service and one timer (C(Persistent=true)) a job, named C(maestro-JOB-ENVIRONMENT), after checking every
    value - names, paths, the calendar expression, the extra variables (one JSON argument, systemd's C(%) and C($) escaped).
    roles/schedules then has C(systemd-analyze verify) check them all before any is installed.
author:
  - Maestro Conductor Maintainers (@maestro-conductor)
options:
  _input:
    description: The jobs, each with C(name), C(playbook), C(on_calendar), C(description), and optionally C(randomized_delay) and C(extra_vars).
    type: list
    elements: dict
    required: true
  settings:
    description: C(environment), C(ansible_playbook), C(inventory), C(playbook_dir), C(working_dir) (absolute paths) and C(user).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Render the units
  ansible.builtin.set_fact:
    units: "{{ schedules_jobs | maestro.conductor.schedule_units(settings) }}"
"""

RETURN = r"""
_value:
  description: One entry a job - C(name) (without suffix), C(service) and C(timer) (the unit files' text).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.maestro.conductor.plugins.module_utils import _schedules
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


def schedule_units(jobs: list, settings: dict) -> list[dict]:
    try:
        return [unit.as_dict() for unit in _schedules.units(list(jobs or []), dict(settings or {}))]
    except ConductorError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:  # pylint: disable=too-few-public-methods
    def filters(self):
        return {"schedule_units": schedule_units}
