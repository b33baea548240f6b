# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_ledger: on this controller, its core runs in Ansible's worker; anywhere else, the module runs on the target."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils._task_ledger import ENTRY
from ansible_collections.maestro.conductor.plugins.plugin_utils._controller import ControllerAction


class ActionModule(ControllerAction):
    MODULE = "maestro.conductor.release_ledger"
    ENTRY = ENTRY
    JOB_OPTION = "job"
