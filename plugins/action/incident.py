# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""incident: on this controller, its core runs in Ansible's worker; anywhere else, the module runs on the target."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils._task_incident import ENTRY
from ansible_collections.maestro.conductor.plugins.plugin_utils._controller import ControllerAction


class ActionModule(ControllerAction):
    MODULE = "maestro.conductor.incident"
    ENTRY = ENTRY
    JOB_OPTION = "job"
