# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_verify: one read-only pass over a release, a report, and a verdict that fails closed."""

from __future__ import annotations

from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome, TaskFailed
from ansible_collections.maestro.conductor.plugins.module_utils._verify import verify_release

SPEC = {
    "argument_spec": {
        "tag": {"type": "str", "required": True},
        "release_dir": {"type": "path", "required": True},
        "repo": {"type": "path", "required": True},
        "strict": {"type": "bool", "default": False},
        "expected_commit": {"type": "str"},
        "allowed_signers": {"type": "path"},
        "allow_unsigned": {"type": "bool", "default": False},
        "allow_extra": {"type": "list", "elements": "str", "default": []},
        "workers": {"type": "int", "default": 0},
        "fail_on_error": {"type": "bool", "default": True},
    },
}


def run(params: dict, _check_mode: bool, _diff: bool) -> Outcome:
    warnings = ["expected_commit is only checked with strict=true; it was ignored"] if params["expected_commit"] and not params["strict"] else []
    if params["workers"] < 0:
        raise TaskFailed(f"workers is {params['workers']}: expected 0 (one per core) or a positive number")
    try:
        report = verify_release(
            params["release_dir"], params["tag"], params["repo"], strict=params["strict"],
            expected_commit=params["expected_commit"], allowed_signers=params["allowed_signers"],
            allow_extra=params["allow_extra"], workers=params["workers"], allow_unsigned=params["allow_unsigned"],
        )
    except ConductorError as exc:
        raise TaskFailed(str(exc), ok=False, checks=[], failed_checks=[], warned_checks=[]) from exc
    result = dict(report.as_dict(), changed=False, summary=report.summary())
    if not report.ok and params["fail_on_error"]:
        failures = "; ".join(f"{check.name}: {check.detail}" for check in report.failed)
        raise TaskFailed(f"release {params['tag']} failed verification: {failures}", **result)
    warnings += [f"release {params['tag']} {check.name}: {check.detail}" for check in report.warned]
    return Outcome(result, warnings)


ENTRY = Entry(SPEC, run)
