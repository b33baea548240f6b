# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.incident_archive: an incident's evidence, copied and captured once, with its SHA256SUMS and digest."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils import _archive
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

SPEC = {
    "argument_spec": {
        "path": {"type": "path", "default": ""},
        "files": {"type": "list", "elements": "dict", "default": []},
        "contents": {"type": "list", "elements": "dict", "default": []},
        "trees": {"type": "list", "elements": "dict", "default": []},
        "compose_projects": {"type": "list", "elements": "str", "default": []},
        "host": {"type": "str", "default": ""},
        "log_lines": {"type": "int", "default": 500},
    },
}


def run(params: dict, check_mode: bool, diff: bool) -> Outcome:
    if params["compose_projects"] and not params["path"]:
        # a read on an app host: its projects' containers and logs, archived by the host that keeps the incident
        captures = _archive.capture_compose(params["host"] or "host", params["compose_projects"], params["log_lines"])
        return Outcome({"changed": False, "captures": captures})
    if not params["path"]:
        raise ConductorError("path is required, unless compose_projects are read")
    archive = _archive.build(params["path"], params["files"], params["contents"], check_mode, trees=params["trees"])
    result = {"changed": archive.created or (check_mode and not archive.digest), "archive": {**archive.as_dict(), "location": archive.path}}
    if diff and result["changed"]:
        result["diff"] = {"before": "", "after": "".join(f"{entry['path']}\n" for entry in archive.files), "after_header": archive.path}
    return Outcome(result, [f"not archived: {reason}" for reason in archive.skipped])


ENTRY = Entry(SPEC, run)
