# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_available: is a release (or a host's copy of it) still complete (a copy re-hashed on request)."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils._availability import copy_available, release_available
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_tag_name
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

SPEC = {
    "argument_spec": {
        "release_dir": {"type": "path", "required": True},
        "tag": {"type": "str", "required": True},
        "artifacts": {"type": "list", "elements": "dict"},
        "digests": {"type": "bool", "default": False},
    },
    "required_if": [("digests", True, ("artifacts",))],
}


def run(params: dict, _check_mode: bool, _diff: bool) -> Outcome:
    try:
        validate_tag_name(params["tag"])
        if params["artifacts"] is None:
            result = release_available(params["release_dir"], params["tag"])
        else:
            result = copy_available(params["release_dir"], params["artifacts"], params["digests"])
    except ConductorError as exc:
        raise ConductorError(f"release {params['tag']!r} in {params['release_dir']}: {exc}") from exc
    return Outcome({"changed": False, **result.as_dict()})


ENTRY = Entry(SPEC, run)
