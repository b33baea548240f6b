# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's core, run in Ansible's worker when the module would only run it on this same machine anyway.

A module task costs a new Python on the target (and, on first use in a run, building its payload): about half a second
here, on every step of a rollback. When the target is this controller - the local connection, no privilege change,
no async, no task environment, the very Python Ansible runs on - the action plugin calls the module's core
(``plugins/module_utils/_task*.py``) here, after validating the arguments with the module's own spec. Anywhere else
the module runs on the target as usual. The code, the checks and the result are the same either way.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, TaskFailed
from ansible_collections.maestro.conductor.plugins.plugin_utils._awx import job_of

_LOCAL = ("local", "ansible.builtin.local")
_PR_SET_PDEATHSIG = 1


def runs_here(action: ActionBase, task_vars: dict) -> bool:
    """Whether the module would run on this machine, as this user, with this Python, in this environment."""
    task, connection = action._task, action._connection  # pylint: disable=protected-access
    environment = [entry for entry in task.environment or [] if entry]  # the play's keyword gives [{}] when it sets none
    if connection.transport not in _LOCAL or action._play_context.become or task.async_val or environment:  # pylint: disable=protected-access
        return False
    host_vars = task_vars.get("ansible_delegated_vars", {}).get(task.delegate_to, {}) if task.delegate_to else task_vars
    interpreter = action._templar.template(host_vars.get("ansible_python_interpreter", ""))  # pylint: disable=protected-access
    # the same path, not the same binary: a venv's python links to its base, whose libraries differ
    return bool(interpreter) and os.path.normpath(str(interpreter)) == os.path.normpath(sys.executable)


def die_with_parent() -> None:
    """Have this worker killed when the ansible-playbook that forked it dies (Linux's PR_SET_PDEATHSIG).

    A run killed with SIGKILL leaves its lock to be taken over at once (its process is gone); a worker of that run still
    in the middle of a flip or a record must not go on writing beside the next run. Elsewhere this does nothing, and the
    lock's lease and fence are what is left."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        parent = os.getppid()
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def run_here(entry: Entry, args: dict, check_mode: bool, diff: bool) -> dict:
    """The module's result, from its core called here with the arguments its spec validates.

    As AnsibleModule does on the target, every value of a no_log option is masked wherever it appears in the result."""
    spec = dict(entry.spec)
    validator = ArgumentSpecValidator(spec.pop("argument_spec"), **spec)
    validated = validator.validate(dict(args))
    secrets = set(validated._no_log_values) | set(entry.secrets(args) if entry.secrets else [])  # pylint: disable=protected-access
    if validated.error_messages:
        return remove_values({"failed": True, "msg": "; ".join(validated.error_messages)}, secrets)
    try:
        outcome = entry.run(validated.validated_parameters, check_mode, diff)
    except TaskFailed as exc:
        return remove_values({**exc.result, "failed": True, "msg": str(exc)}, secrets)
    except ConductorError as exc:
        return remove_values({"failed": True, "msg": str(exc)}, secrets)
    result = dict(outcome.result)
    if outcome.warnings:
        result["warnings"] = list(outcome.warnings)
    return remove_values(result, secrets)


class ControllerAction(ActionBase):
    """The action of a module whose core runs here when its target is this controller (``runs_here``)."""

    MODULE = ""
    ENTRY: Entry
    # the option that records the AWX job the task runs in (the ledger's writers); the task's own value wins
    JOB_OPTION = ""

    def run(self, tmp=None, task_vars=None):
        die_with_parent()
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        if self.JOB_OPTION and self.JOB_OPTION not in args:
            job = job_of(task_vars or {})
            if job:
                args[self.JOB_OPTION] = job
        return {**result, **self._module(args, task_vars or {})}

    def _module(self, args: dict, task_vars: dict) -> dict:
        """The module's result for ``args``: its core here when the target is this controller, else the module there."""
        if runs_here(self, task_vars):
            return run_here(self.ENTRY, args, bool(self._task.check_mode), bool(self._task.diff))
        return self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars)
