# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules share: an entry is an argument spec and a function from validated parameters to a result.

The module wraps it in AnsibleModule on the host; on the controller itself the module's action plugin calls the same
function in Ansible's worker (plugins/plugin_utils/_controller.py), without starting another Python. Either way the
parameters are validated by the same spec and the result is the same dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError


class TaskFailed(ConductorError):
    """A failed task with the fields its result carries besides the message."""

    def __init__(self, msg: str, **result):
        super().__init__(msg)
        self.result = result


@dataclass
class Outcome:
    """A module's result, and its warnings (AnsibleModule.warn on the host, ``warnings`` in the worker)."""

    result: dict
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Entry:
    spec: dict                                   # AnsibleModule's keyword arguments, supports_check_mode aside
    run: Callable[[dict, bool, bool], Outcome]   # (params, check_mode, diff) -> Outcome; raises ConductorError
    # secrets that option values carry besides the no_log options themselves (a token inside a URL): masked everywhere
    secrets: Optional[Callable[[dict], list]] = None


def module_main(module, entry: Entry) -> None:
    """Run ``entry`` with an AnsibleModule's parameters and exit with its result, or fail naming what went wrong."""
    if entry.secrets:
        module.no_log_values.update(entry.secrets(module.params))
    try:
        outcome = entry.run(module.params, module.check_mode, module._diff)  # pylint: disable=protected-access
    except TaskFailed as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except ConductorError as exc:
        module.fail_json(msg=str(exc))
    for warning in outcome.warnings:
        module.warn(warning)
    module.exit_json(**outcome.result)
