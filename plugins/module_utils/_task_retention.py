# Copyright: (c) 2026, maestro.conductor maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""maestro.conductor.release_retention (the audit window kept: store, ledger, GitHub Actions) and
maestro.conductor.ci_retention (GitHub Actions' artifact and log retention, read or set)."""

from __future__ import annotations

import functools

from ansible_collections.maestro.conductor.plugins.module_utils import _api, _ci_github, _ci_gitlab, _retention, _weekly
from ansible_collections.maestro.conductor.plugins.module_utils._common import ConductorError
from ansible_collections.maestro.conductor.plugins.module_utils._names import validate_tag_name
from ansible_collections.maestro.conductor.plugins.module_utils._task import Entry, Outcome

_HOSTED = {
    "ci_project": {"type": "str", "default": ""},
    "ci_organization": {"type": "str", "default": ""},
    "ci_api_url": {"type": "str", "default": _ci_github.DEFAULT_API_URL},
    "ci_token": {"type": "str", "default": "", "no_log": True},
    "validate_certs": {"type": "bool", "default": True},
}

CHECK_SPEC = {
    "argument_spec": {
        "releases_root": {"type": "path", "required": True},
        "repo": {"type": "path", "required": True},
        "pattern": {"type": "str", "default": "v*"},
        "window_days": {"type": "int", "required": True},
        "keep": {"type": "list", "elements": "str", "default": []},
        "ledger_records": {"type": "list", "elements": "dict", "default": []},
        "expected_artifacts": {"type": "list", "elements": "str", "default": []},
        "ci_service": {"type": "str", "default": "github", "choices": list(_retention.CI_SERVICES)},
        **_HOSTED,
    },
}

SET_SPEC = {
    # no defaults for the two places: required_one_of and mutually_exclusive count what was given
    "argument_spec": {**_HOSTED, "ci_project": {"type": "str"}, "ci_organization": {"type": "str"}, "days": {"type": "int"},
                      "raise_only": {"type": "bool", "default": False}},
    "mutually_exclusive": [("ci_project", "ci_organization")],
    "required_one_of": [("ci_project", "ci_organization")],
}


def _where(params: dict) -> _ci_github.Retention:
    return _ci_github.retention_at(params["ci_project"] or "", params["ci_organization"] or "")


def _client(params: dict) -> _api.Client:
    return _ci_github.client(params["ci_api_url"], params["ci_token"], params["validate_certs"])


def _read_artifacts(api: _api.Client, project: str, expected: list[str], run_id: int) -> _ci_github.Artifacts:
    return _ci_github.read_artifacts(api, project, run_id, 0, expected)


def _read_pipeline_artifacts(api: _api.Client, project: str, expected: list[str], pipeline_id: int) -> _ci_github.Artifacts:
    return _ci_gitlab.read_pipeline_artifacts(api, project, pipeline_id, expected)


def check(params: dict, _check_mode: bool, _diff: bool) -> Outcome:
    problem = _retention.window_problem(params["window_days"])
    if problem:
        raise ConductorError(problem)
    keep = [validate_tag_name(tag) for tag in params["keep"] if tag]
    tags, dates = _weekly.release_candidates(params["releases_root"], params["repo"], params["pattern"])
    setting = read_artifacts = None
    if params["ci_service"] == "gitlab":
        # GitLab keeps each job's artifacts until its own artifacts_expire_at: what is checked, pipeline by pipeline
        if params["ci_organization"] or not params["ci_project"]:
            raise ConductorError("with ci_service gitlab, name the project (ci_project: its numeric id or path); ci_organization is GitHub's")
        _ci_gitlab.validate_project(params["ci_project"])
        api = _ci_gitlab.client(params["ci_api_url"] if params["ci_api_url"] != _ci_github.DEFAULT_API_URL else None, params["ci_token"],
                                params["validate_certs"])
        read_artifacts = functools.partial(_read_pipeline_artifacts, api, params["ci_project"], params["expected_artifacts"])
    elif params["ci_project"] or params["ci_organization"]:
        # the repository's own setting when a repository is named (it is what keeps its runs' evidence), else the
        # organization's; the artifacts are read only from a repository
        api = _client(params)
        where = _ci_github.retention_at(params["ci_project"]) if params["ci_project"] else _where(params)
        setting = functools.partial(_ci_github.read_retention, api, where)
        if params["ci_project"]:
            read_artifacts = functools.partial(_read_artifacts, api, params["ci_project"], params["expected_artifacts"])
    result = _retention.check(params["releases_root"], tags, dates, params["window_days"], keep=tuple(keep),
                              ledger_records=params["ledger_records"], setting=setting, read_artifacts=read_artifacts,
                              ci_service=params["ci_service"], ci_project=params["ci_project"] or "")
    return Outcome({"changed": False, **result})


def setting(params: dict, check_mode: bool, diff: bool) -> Outcome:
    where, api = _where(params), _client(params)
    before = _ci_github.read_retention(api, where)
    result = {"changed": False, "scope": before.scope, "name": before.name, "days": before.days,
              "maximum_allowed_days": before.maximum_allowed_days}
    days = params["days"]
    if days is None:
        return Outcome(result)
    if isinstance(days, bool) or days < 1:
        raise ConductorError(f"days {days!r} is invalid: expected a whole number of days above 0")
    if days > before.maximum_allowed_days:
        raise ConductorError(f"days {days} is more than GitHub allows for {before.scope} {before.name}: at most "
                             f"{before.maximum_allowed_days} (maximum_allowed_days, set by the organization or enterprise). "
                             "Keep evidence that must outlive that on the release store or in an archive instead")
    if days != before.days and not (params["raise_only"] and before.days > days):
        result.update(changed=True, days=days)
        if not check_mode:
            result["days"] = _ci_github.write_retention(api, where, days).days
    if diff:
        result["diff"] = {"before": {"days": before.days}, "after": {"days": result["days"]}}
    return Outcome(result)


CHECK_ENTRY = Entry(CHECK_SPEC, check)
SET_ENTRY = Entry(SET_SPEC, setting)
