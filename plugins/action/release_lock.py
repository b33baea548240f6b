# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_lock: on this controller, its core runs in Ansible's worker; anywhere else, the module runs on the target.

Either way the lock is held for the ``ansible-playbook`` process (the worker's parent: workers are forked from it and
end with each task), so that a run that dies is seen dead. When the lock file is on another host, that host cannot see
this controller's processes: a holder it refuses is checked here, and taken over or removed if its process is gone.
"""

from __future__ import annotations

import os
from dataclasses import asdict

from ansible_collections.maestro.conductor.plugins.module_utils import _lock
from ansible_collections.maestro.conductor.plugins.module_utils._task_lock import ENTRY
from ansible_collections.maestro.conductor.plugins.plugin_utils._controller import ControllerAction, runs_here


def _seconds(value: object) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return -1  # left for the module's own argument check to name


def dead_here(held: object) -> bool:
    """Whether a lock another host refused us names a holder whose process ran on this controller and is gone."""
    if not isinstance(held, dict):
        return False
    try:
        info = _lock.LockInfo(**held)
    except TypeError:
        return False
    return info.is_here() and not info.alive_here()


class ActionModule(ControllerAction):
    MODULE = "maestro.conductor.release_lock"
    ENTRY = ENTRY

    def _module(self, args: dict, task_vars: dict) -> dict:
        if not args.get("owner"):
            args = {**args, "owner": asdict(_lock.owner_of(os.getppid()))}
        if runs_here(self, task_vars) or args.get("dead"):
            return super()._module(args, task_vars)
        wait = _seconds(args.get("wait"))
        result = super()._module({**args, "wait": 0} if wait > 0 else args, task_vars)
        held = result.get("held") if result.get("failed") else None
        if held and dead_here(held):
            return super()._module({**args, "dead": {"holder": held["holder"], "generation": held["generation"]}}, task_vars)
        if held and wait > 0:
            return super()._module(args, task_vars)
        return result
