# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_drift: release tags, protected branches and the running commit against the release record."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils import _drift
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome, TaskFailed

SPEC = {
    "argument_spec": {
        "repo": {"type": "path", "required": True},
        "remote": {"type": "str"},
        "pattern": {"type": "str", "default": "v*"},
        "releases_root": {"type": "path"},
        "ledger": {"type": "path"},
        "environment": {"type": "str"},
        "protected_branches": {"type": "list", "elements": "str", "default": []},
        "running_commit": {"type": "str"},
        "version_url": {"type": "str"},
        "allow_unknown": {"type": "list", "elements": "str", "default": [], "choices": ["repository", "running_commit"]},
        "fail_on_drift": {"type": "bool", "default": False},
    },
    "required_by": {"ledger": "environment", "running_commit": "ledger", "version_url": "ledger"},
    "mutually_exclusive": [("running_commit", "version_url")],
}


def secrets(params: dict) -> list[str]:
    """A token in the remote's or the version URL's address is masked wherever the result or an error shows it."""
    return [part for name in ("remote", "version_url") for part in _drift.credential_parts(params.get(name) or "")]


def run(params: dict, _check_mode: bool, _diff: bool) -> Outcome:
    try:
        report = _drift.check(params["repo"], params["remote"], params["pattern"], params["releases_root"], params["ledger"],
                              params["environment"], params["protected_branches"], params["running_commit"] or "",
                              params["version_url"], params["allow_unknown"])
    except ConductorError as exc:
        raise ConductorError(_drift.redact_remote(str(exc), params["remote"] or "")) from None
    findings = report.findings
    result = {"changed": False, "findings": [finding.as_dict() for finding in findings], "drifted": bool(findings),
              "unknown": [finding.message for finding in report.unknown],
              "checked": {"tags": report.tags, "branches": report.branches, "running_commit": report.running_compared}}
    if findings and params["fail_on_drift"]:
        raise TaskFailed(f"{len(findings)} drift finding(s): " + "; ".join(finding.message for finding in findings), **result)
    return Outcome(result)


ENTRY = Entry(SPEC, run, secrets)
