# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_tags: list release tags newest first, resolve one, or the prior healthy one."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils import _git, _ledger, _names
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

SPEC = {
    "argument_spec": {
        "repo": {"type": "path", "required": True},
        "pattern": {"type": "str", "default": "v*"},
        "tag": {"type": "str"},
        "prior_healthy": {"type": "bool", "default": False},
        "live": {"type": "str"},
        "healthy": {"type": "list", "elements": "str", "default": []},
        "quarantined": {"type": "list", "elements": "str", "default": []},
        "limit": {"type": "int", "default": 20},
    },
    "mutually_exclusive": [("tag", "prior_healthy")],
    "required_if": [("prior_healthy", True, ["live"])],
}


def run(params: dict, _check_mode: bool, _diff: bool) -> Outcome:
    if params["tag"] is not None:
        _names.validate_tag_name(params["tag"])
    tags = _git.list_tags(params["repo"], params["pattern"])
    by_name = {info.name: info for info in tags}
    names = [info.name for info in tags]
    chosen = None
    if params["tag"] is not None:
        chosen = by_name.get(params["tag"])
        if chosen is None:
            raise _git.unknown_tag_error(params["tag"], params["repo"], names)
    elif params["prior_healthy"]:
        ledger_now = _ledger.LedgerState(live=_names.validate_tag_name(params["live"]), healthy=params["healthy"],
                                         quarantined=params["quarantined"])
        chosen = by_name[_ledger.prior_healthy(names, ledger_now)]
    shown = tags[:params["limit"]] if params["limit"] > 0 else tags
    result = {"changed": False, "count": len(tags), "tags": [info.as_dict() for info in shown]}
    if chosen is not None:
        result["tag"] = chosen.as_dict()
    return Outcome(result)


ENTRY = Entry(SPEC, run)
